/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note OR MIT */
/*
 * vtpu_accel.h - the user-space interface of the vtpu DRM accel driver
 * (driver/linux/vtpu.ko, /dev/accel/accelN).  docs/linux.md documents
 * every ioctl and its errors.
 *
 * Model.  HBM is device memory; user space owns it through GEM buffer
 * objects (BOs), each a range of HBM with a fixed HBM offset, zeroed when
 * created.  Kernels address HBM by offset, so a BO's offset is part of
 * its info.  A process loads kernel modules (ELF images) into program
 * slots it then owns, and submits launches: a slot, TCs, the four run
 * arguments and the list of BOs the launch may touch.  The device refuses
 * any DMA of that launch outside those BOs (docs/registers.md,
 * "Isolation"), so one process's kernel cannot reach another's buffers.
 * A submitted launch is a job with a sequence number; it completes with a
 * dma_fence signalled from the device's interrupt, and WAIT blocks on it
 * with a timeout.  A job running past the driver's job timeout is
 * stopped by resetting the device: that job fails with -ETIMEDOUT, other
 * jobs are resubmitted, program slots are reloaded.
 *
 * Every struct is 64-bit aligned with explicit padding; pad fields must
 * be zero (-EINVAL otherwise) so they can become fields later.  Pointers
 * are __u64.  Version: DRM_VTPU_PARAM_UAPI_VERSION.
 */
#ifndef _UAPI_VTPU_ACCEL_H_
#define _UAPI_VTPU_ACCEL_H_

#if defined(__KERNEL__)
#include <linux/types.h>
#include <drm/drm.h>
#else
#include <linux/types.h>
#include <drm/drm.h>
#endif

#if defined(__cplusplus)
extern "C" {
#endif

#define DRM_VTPU_UAPI_VERSION 1

#define DRM_VTPU_GET_PARAM 0x00
#define DRM_VTPU_BO_CREATE 0x01
#define DRM_VTPU_BO_INFO 0x02
#define DRM_VTPU_BO_RW 0x03
#define DRM_VTPU_MODULE_LOAD 0x04
#define DRM_VTPU_MODULE_UNLOAD 0x05
#define DRM_VTPU_SUBMIT 0x06
#define DRM_VTPU_WAIT 0x07
#define DRM_VTPU_JOB_ERROR 0x08

/* DRM_VTPU_GET_PARAM: one device parameter. */
enum drm_vtpu_param {
	DRM_VTPU_PARAM_UAPI_VERSION = 0, /* DRM_VTPU_UAPI_VERSION */
	DRM_VTPU_PARAM_DEVICE_VERSION = 1, /* the VERSION register */
	DRM_VTPU_PARAM_GEN = 2,		/* GEN register: 4 ASCII bytes */
	DRM_VTPU_PARAM_NUM_TCS = 3,
	DRM_VTPU_PARAM_NUM_SEMS = 4,
	DRM_VTPU_PARAM_HBM_SIZE = 5,	/* bytes */
	DRM_VTPU_PARAM_VMEM_SIZE = 6,	/* bytes per TC */
	DRM_VTPU_PARAM_SMEM_SIZE = 7,
	DRM_VTPU_PARAM_IMEM_SIZE = 8,
	DRM_VTPU_PARAM_MXU = 9,		/* MXU register */
	DRM_VTPU_PARAM_HBM_FREE = 10,	/* bytes of HBM not in any BO */
	DRM_VTPU_PARAM_JOB_TIMEOUT_MS = 11,
	DRM_VTPU_PARAM_APERTURE_SIZE = 12, /* mappable HBM: [0, value) */
	/*
	 * The time a collective launch may wait for the other chips of its
	 * slice, on top of JOB_TIMEOUT_MS (ms).  A driver that refuses this
	 * parameter (-EINVAL) has no DRM_VTPU_SUBMIT_COLLECTIVE.
	 */
	DRM_VTPU_PARAM_COLLECTIVE_WAIT_MS = 13,
};

struct drm_vtpu_get_param {
	__u32 param;	/* in: enum drm_vtpu_param */
	__u32 pad;
	__u64 value;	/* out */
};

/*
 * DRM_VTPU_BO_CREATE: a BO of `size` bytes of HBM, zeroed.  BOs go to the
 * lowest free HBM, so they are mappable while the aperture has room;
 * DRM_VTPU_BO_CREATE_MAPPABLE makes that a requirement (-ENOSPC if not).
 */
struct drm_vtpu_bo_create {
	__u64 size;	/* in: bytes (> 0; rounded up to the page size) */
	__u32 flags;	/* in: DRM_VTPU_BO_CREATE_* */
	__u32 handle;	/* out: GEM handle */
	__u64 hbm_offset; /* out: where the BO lies in HBM */
};

/* DRM_VTPU_BO_INFO: where a BO is, and its mmap offset. */
struct drm_vtpu_bo_info {
	__u32 handle;	/* in */
	__u32 flags;	/* out: DRM_VTPU_BO_MAPPABLE if mmap works */
	__u64 size;	/* out */
	__u64 hbm_offset; /* out */
	__u64 mmap_offset; /* out: for mmap() on the device file */
};

#define DRM_VTPU_BO_CREATE_MAPPABLE 0x1 /* must lie in the aperture */

#define DRM_VTPU_BO_MAPPABLE 0x1 /* inside the BAR2 aperture */

/*
 * DRM_VTPU_BO_RW: copy between user memory and a BO through the device's
 * DMA (COPY_H2D/D2H), for BOs the aperture cannot reach and for bulk
 * copies.  Synchronous.
 */
struct drm_vtpu_bo_rw {
	__u32 handle;	/* in */
	__u32 write;	/* in: 1 = user -> BO, 0 = BO -> user */
	__u64 offset;	/* in: byte offset in the BO */
	__u64 size;	/* in: bytes */
	__u64 user_ptr;	/* in */
};

/*
 * DRM_VTPU_MODULE_LOAD: load an ELF image (a TC program or kernel module)
 * into a free program slot owned by this file until MODULE_UNLOAD or
 * close.  The device checks the image; a refusal is -ENOEXEC with the
 * device's reason in `error` (NUL-terminated).
 */
struct drm_vtpu_module_load {
	__u64 image_ptr;	/* in: user pointer to the ELF image */
	__u64 image_size;	/* in: bytes (<= 64 MiB) */
	__u32 slot;		/* out: program slot */
	__u32 pad;
	char error[256];	/* out: why the device refused it */
};

struct drm_vtpu_module_unload {
	__u32 slot;	/* in: a slot this file loaded */
	__u32 pad;
};

/*
 * DRM_VTPU_SUBMIT: launch the program in `slot` (this file's) on
 * `num_tcs` TCs (0 = all) with run arguments a2..a5 = args[0..3].  The
 * launch may touch only the BOs in bo_handles (the device enforces it).
 */
#define DRM_VTPU_MAX_BOS 64
struct drm_vtpu_submit {
	__u32 slot;		/* in */
	__u32 num_tcs;		/* in */
	__u32 args[4];		/* in */
	__u64 bo_handles;	/* in: user pointer to __u32[num_bos] */
	__u32 num_bos;		/* in: <= DRM_VTPU_MAX_BOS */
	__u32 flags;		/* in: DRM_VTPU_SUBMIT_* */
	__u64 seqno;		/* out: the job */
};

#define DRM_VTPU_SUBMIT_CHECK_EXIT 0x1 /* non-zero exit code fails the job */
/*
 * A collective launch of the slice the chip belongs to (several vtpus
 * joined by a vtpu-ici fabric): the device resets its TCs, then waits
 * until every chip of the slice has launched (each device's own SUBMIT
 * with this flag), then all run together.  Submit on every device before
 * waiting for any.  On a chip in no slice the device refuses it: WAIT
 * status -EIO, JOB_ERROR code VTPU_E_BAD_FLAGS.  The job may take
 * JOB_TIMEOUT_MS + COLLECTIVE_WAIT_MS before the driver resets the
 * device.  Older drivers refuse the flag (-EINVAL).
 */
#define DRM_VTPU_SUBMIT_COLLECTIVE 0x2

/*
 * DRM_VTPU_WAIT: wait for job `seqno` of this file to complete, at most
 * timeout_ns (0: poll; < 0: no limit but the job timeout).  Returns 0
 * when it completed (status says how), -ETIME when it is still running.
 * Sequence numbers are per file, from 1; a file keeps the records of its
 * 4096 most recent completed jobs (older ones: -ENOENT).
 */
struct drm_vtpu_wait {
	__u64 seqno;		/* in */
	__s64 timeout_ns;	/* in: relative */
	/*
	 * out: 0 ok, -EIO device error (JOB_ERROR says which), -ETIMEDOUT
	 * job timeout (device reset), -ECANCELED canceled by a reset caused
	 * by another job (its program slot was unloaded meanwhile), -ENODEV
	 * the device was removed
	 */
	__s32 status;
	__s32 exit_code;	/* out: first non-zero exit code of any TC */
	__s32 tc_exit[8];	/* out: per TC */
	__u64 instret[8];	/* out: instructions per TC */
};

/* DRM_VTPU_JOB_ERROR: the device's error record of a failed job. */
struct drm_vtpu_job_error {
	__u64 seqno;	/* in */
	__u32 code;	/* out: VTPU_E_* (vtpu-regs.h), 0 if none */
	__u32 kind;	/* out: VTPU_FAULT_* for VTPU_E_FAULT */
	__u32 tc;	/* out: 0xffffffff if none */
	__u32 pc;
	__u32 space;	/* out: VTPU_ESPACE_* */
	__u32 value;
	__u64 addr;
	__u64 len;
	/* out: the device's ERR_MSG or the driver's, cut to 255 bytes */
	char message[256];
	__u64 message_ptr;	/* in: user buffer for the whole message, or 0 */
	__u32 message_size;	/* in: its size (bytes); the copy ends in NUL */
	__u32 message_len;	/* out: the whole message's size with its NUL */
};

#define DRM_IOCTL_VTPU_GET_PARAM                                             \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_VTPU_GET_PARAM,                       \
		 struct drm_vtpu_get_param)
#define DRM_IOCTL_VTPU_BO_CREATE                                             \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_VTPU_BO_CREATE,                       \
		 struct drm_vtpu_bo_create)
#define DRM_IOCTL_VTPU_BO_INFO                                               \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_VTPU_BO_INFO, struct drm_vtpu_bo_info)
#define DRM_IOCTL_VTPU_BO_RW                                                 \
	DRM_IOW(DRM_COMMAND_BASE + DRM_VTPU_BO_RW, struct drm_vtpu_bo_rw)
#define DRM_IOCTL_VTPU_MODULE_LOAD                                           \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_VTPU_MODULE_LOAD,                     \
		 struct drm_vtpu_module_load)
#define DRM_IOCTL_VTPU_MODULE_UNLOAD                                         \
	DRM_IOW(DRM_COMMAND_BASE + DRM_VTPU_MODULE_UNLOAD,                    \
		struct drm_vtpu_module_unload)
#define DRM_IOCTL_VTPU_SUBMIT                                                \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_VTPU_SUBMIT, struct drm_vtpu_submit)
#define DRM_IOCTL_VTPU_WAIT                                                  \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_VTPU_WAIT, struct drm_vtpu_wait)
#define DRM_IOCTL_VTPU_JOB_ERROR                                             \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_VTPU_JOB_ERROR,                       \
		 struct drm_vtpu_job_error)

#if defined(__cplusplus)
}
#endif

#endif /* _UAPI_VTPU_ACCEL_H_ */
