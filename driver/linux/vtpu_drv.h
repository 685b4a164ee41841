/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vtpu_drv.h - the vtpu DRM accel driver's shared state (docs/linux.md).
 *
 * Layers: vtpu_hw.c drives the registers and the command ring, vtpu_job.c
 * turns ring commands into jobs with fences, timeouts and recovery,
 * vtpu_gem.c owns HBM (buffer objects, program images), vtpu_drv.c is the
 * PCI and DRM glue and the ioctls that are neither.
 *
 * Locking, outermost first:
 *   vfile->lock    a file's job table;
 *   vdev->lock     the ring, the pending jobs, the program slots and every
 *                  register access after probe (the threaded interrupt
 *                  handler, the timeout work and recovery take it);
 *   vdev->mm_lock  the HBM allocator (taken under vdev->lock, never the
 *                  other way round);
 *   vdev->fence_lock  the dma_fences' spinlock.
 * BO references are dropped outside vdev->lock (freeing a BO takes
 * mm_lock).
 */
#ifndef _VTPU_DRV_H_
#define _VTPU_DRV_H_

#include <linux/dma-fence.h>
#include <linux/dmapool.h>
#include <linux/io.h>
#include <linux/kref.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/sizes.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>

#include <drm/drm_device.h>
#include <drm/drm_file.h>
#include <drm/drm_gem.h>
#include <drm/drm_mm.h>

#include "vtpu-regs.h"
#include "vtpu_accel.h"

#define VTPU_DRIVER_NAME "vtpu"
#define VTPU_RING_ENTRIES 256u
#define VTPU_NUM_SLOTS 16u
/* Entries kept free for recovery: a fence and a reload per slot. */
#define VTPU_RING_RESERVE (VTPU_NUM_SLOTS + 1)
#define VTPU_JOB_MAX_CMDS 2u
#define VTPU_BOUNCE_SIZE SZ_1M
/* Completed jobs a file keeps for WAIT and JOB_ERROR. */
#define VTPU_JOB_RECORDS 4096u

extern unsigned int vtpu_job_timeout_ms;
extern unsigned int vtpu_collective_wait_ms;

/* The error record the device showed while stopped on a command. */
struct vtpu_err_rec {
	u32 code;
	u32 index;
	u32 opcode;
	u32 kind;
	u32 tc;
	u32 pc;
	u32 space;
	u32 value;
	u64 addr;
	u64 len;
	char msg[VTPU_ERR_MSG_MAX];	/* the device's whole ERR_MSG */
};

/* Room for a vtpu_format_error() line: the fields and the whole ERR_MSG. */
#define VTPU_ERR_LINE_MAX (VTPU_ERR_MSG_MAX + 256)

enum vtpu_slot_state {
	VTPU_SLOT_FREE = 0,
	VTPU_SLOT_LOADED,	/* the device has it, or a queued LOAD_PROG will */
};

/* A program slot: the image stays in HBM so a reset can reload it. */
struct vtpu_slot {
	enum vtpu_slot_state state;
	struct vtpu_file *owner;
	u32 gen;		/* bumped on every load and unload */
	struct drm_mm_node *image;	/* the ELF image in HBM */
	u64 image_len;
};

struct vtpu_counters {
	u64 jobs;
	u64 launches;
	u64 errors;
	u64 timeouts;
	u64 resets;
	u64 canceled;
	u64 irqs;
};

struct vtpu_device {
	struct drm_device drm;
	struct pci_dev *pdev;
	void __iomem *regs;
	phys_addr_t aper_phys;	/* BAR2: HBM [0, aper_size) */
	u64 aper_size;
	int irq;
	bool msix;

	/* identity (read at probe) */
	u32 version;
	u32 caps;
	char gen[5];
	u32 num_tcs;
	u32 num_sems;
	u64 hbm_size;
	u32 vmem_size;
	u32 smem_size;
	u32 imem_size;
	u32 mxu;

	/* HBM */
	struct mutex mm_lock;
	struct drm_mm mm;
	u64 hbm_free;

	/* the ring and the jobs on it (vdev->lock) */
	struct mutex lock;	/* see the top of this file */
	struct vtpu_cmd *ring;
	dma_addr_t ring_dma;
	u32 tail;		/* next entry the driver writes */
	u32 done;		/* entry after the last completed job */
	u32 hw_seq;		/* fence value of the last queued job */
	u32 done_seq;		/* fence value of the last completed job */
	struct list_head pending;	/* queued jobs, in ring order */
	unsigned long head_since;	/* jiffies: the first pending job began */
	bool dead;		/* unplugged or wedged: no more commands */
	struct vtpu_slot slots[VTPU_NUM_SLOTS];
	struct vtpu_err_rec last_err;
	struct vtpu_counters count;
	wait_queue_head_t ring_wq;	/* room in the ring */

	spinlock_t fence_lock;	/* the dma_fences' lock */
	u64 fence_context;	/* the driver's own jobs */
	atomic64_t internal_seq;
	struct dma_pool *job_pool;	/* vtpu_job_dma blocks */
	struct delayed_work tdr;	/* job timeout */
	struct workqueue_struct *wq;
	atomic_t live_jobs;
	atomic_t live_bos;

	struct mutex bounce_lock;	/* one copy at a time */
	void *bounce;
	dma_addr_t bounce_dma;
};

#define to_vtpu(d) container_of(d, struct vtpu_device, drm)

/* A process's view: its jobs and program slots. */
struct vtpu_file {
	struct vtpu_device *vdev;
	struct mutex lock;	/* jobs, next_seqno, njobs */
	struct xarray jobs;	/* seqno -> struct vtpu_job (a reference) */
	u64 next_seqno;
	u32 njobs;
	u64 fence_context;
};

struct vtpu_bo {
	struct drm_gem_object base;
	struct drm_mm_node node;
	bool mappable;
};

#define to_vtpu_bo(obj) container_of(obj, struct vtpu_bo, base)

/* Device memory of a launch: its HBM grant and its result record. */
struct vtpu_job_dma {
	struct vtpu_hbm_ranges ranges;
	struct vtpu_launch_result result;
};

enum vtpu_job_kind {
	VTPU_JOB_INTERNAL,	/* a driver command (fill, copy, load) */
	VTPU_JOB_LAUNCH,
};

/*
 * A job: up to VTPU_JOB_MAX_CMDS commands followed by a FENCE with
 * interrupt.  Its lifetime is its fence's reference count (the fence comes
 * first: dma_fence_free() frees the job).  Everything but the result is
 * released when it completes.
 */
struct vtpu_job {
	struct dma_fence fence;
	struct vtpu_device *vdev;
	struct list_head node;	/* vdev->pending, then a completion list */
	enum vtpu_job_kind kind;
	const struct vtpu_file *owner;	/* a launch's file: compared only */
	u64 seqno;		/* the file's (launch) or the driver's */
	u32 hw_seq;		/* the FENCE value that completes it */
	u32 ring_start;		/* ring index of its first command */
	u32 ncmds;		/* commands, the FENCE included */
	struct vtpu_cmd cmds[VTPU_JOB_MAX_CMDS + 1];
	u64 bytes;		/* what a driver command moves */
	u32 slot;
	u32 slot_gen;
	bool collective;	/* VTPU_LAUNCH_F_COLLECTIVE: waits for its slice */
	struct drm_gem_object **bos;
	u32 nbos;
	struct vtpu_job_dma *dma;
	dma_addr_t dma_addr;

	/* the outcome, valid once the fence is signalled */
	int status;		/* 0, -EIO, -ETIMEDOUT, -ECANCELED, -ENODEV */
	struct vtpu_launch_result result;
	struct vtpu_err_rec *err;
};

/* vtpu_hw.c: registers and ring */
static inline u32 vtpu_rd(struct vtpu_device *vdev, u32 off)
{
	return readl(vdev->regs + off);
}

static inline void vtpu_wr(struct vtpu_device *vdev, u32 off, u32 val)
{
	writel(val, vdev->regs + off);
}

u64 vtpu_rd64(struct vtpu_device *vdev, u32 lo);
int vtpu_hw_probe(struct vtpu_device *vdev);
int vtpu_hw_reset(struct vtpu_device *vdev);
void vtpu_hw_ring_start(struct vtpu_device *vdev);
u32 vtpu_hw_ring_free(struct vtpu_device *vdev);
void vtpu_hw_ring_put(struct vtpu_device *vdev, const struct vtpu_cmd *cmd);
void vtpu_hw_ring_kick(struct vtpu_device *vdev);
u32 vtpu_hw_state(struct vtpu_device *vdev);
void vtpu_hw_read_error(struct vtpu_device *vdev, struct vtpu_err_rec *e);
int vtpu_format_error(const struct vtpu_err_rec *e, char *buf, size_t len);
irqreturn_t vtpu_irq(int irq, void *arg);
irqreturn_t vtpu_irq_thread(int irq, void *arg);
void vtpu_cmd_init(struct vtpu_cmd *c, u32 op, u32 flags);

/* vtpu_job.c: jobs, fences, timeouts, recovery */
int vtpu_jobs_init(struct vtpu_device *vdev);
void vtpu_jobs_fini(struct vtpu_device *vdev);
void vtpu_jobs_process(struct vtpu_device *vdev);
void vtpu_jobs_kill(struct vtpu_device *vdev, int status);
void vtpu_tdr_work(struct work_struct *work);
int vtpu_run_cmd(struct vtpu_device *vdev, const struct vtpu_cmd *cmd,
		 struct vtpu_err_rec *err);
void vtpu_file_jobs_fini(struct vtpu_file *vfile);
int vtpu_ioctl_submit(struct drm_device *dev, void *data,
		      struct drm_file *file);
int vtpu_ioctl_wait(struct drm_device *dev, void *data, struct drm_file *file);
int vtpu_ioctl_job_error(struct drm_device *dev, void *data,
			 struct drm_file *file);
int vtpu_ioctl_module_load(struct drm_device *dev, void *data,
			   struct drm_file *file);
int vtpu_ioctl_module_unload(struct drm_device *dev, void *data,
			     struct drm_file *file);
void vtpu_slots_release(struct vtpu_file *vfile);

/* vtpu_gem.c: HBM and buffer objects */
int vtpu_hbm_init(struct vtpu_device *vdev);
int vtpu_hbm_alloc(struct vtpu_device *vdev, struct drm_mm_node *node,
		   u64 size, bool mappable, bool high);
void vtpu_hbm_free(struct vtpu_device *vdev, struct drm_mm_node *node);
int vtpu_hbm_zero(struct vtpu_device *vdev, const struct drm_mm_node *node);
int vtpu_hbm_write_user(struct vtpu_device *vdev, u64 hbm,
			const void __user *src, u64 len);
struct vtpu_bo *vtpu_bo_create(struct vtpu_device *vdev, u64 size, u32 flags);
int vtpu_ioctl_bo_create(struct drm_device *dev, void *data,
			 struct drm_file *file);
int vtpu_ioctl_bo_info(struct drm_device *dev, void *data,
		       struct drm_file *file);
int vtpu_ioctl_bo_rw(struct drm_device *dev, void *data,
		     struct drm_file *file);

/* vtpu_debugfs.c */
void vtpu_debugfs_init(struct vtpu_device *vdev);

#endif /* _VTPU_DRV_H_ */
