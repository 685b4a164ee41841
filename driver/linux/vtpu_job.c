// SPDX-License-Identifier: GPL-2.0
/*
 * vtpu_job.c - jobs on the command ring: fences, errors, timeouts, reset
 * recovery, program slots, and the SUBMIT/WAIT/JOB_ERROR/MODULE_* ioctls.
 *
 * A job is a few commands followed by a FENCE with interrupt whose value
 * (hw_seq) is unique; the device runs commands one at a time in ring
 * order, so the pending list (ring order) completes from its head as the
 * FENCE register passes each job's value.
 *
 * Errors.  The device stops on a failing command with ERR_INDEX naming its
 * ring entry; the job owning that entry gets the error record and -EIO,
 * its remaining commands (before its FENCE) become NOPs, and ERR_ACK SKIP
 * lets the device go on with its FENCE and the jobs behind it.
 *
 * Timeouts.  The first pending job is the one executing; it began when the
 * job before it completed (head_since).  When it runs past job_timeout_ms
 * the device is reset (CONTROL.RESET stops the TCs); that job fails with
 * -ETIMEDOUT, the ring is restarted with FENCE restored, every loaded
 * program slot is reloaded from its image (kept in HBM), and the other
 * pending jobs, none of which had started, are queued again in order.
 * Only a launch whose slot was unloaded or reloaded meanwhile is canceled
 * (-ECANCELED): running it again would run another program.
 *
 * Collective launches (VTPU_LAUNCH_F_COLLECTIVE) wait on the device, at
 * their slice's launch rendezvous, until every chip of the slice has
 * launched; the device shows no difference between that wait and the
 * run.  The wait lasts until user space has submitted to every device
 * and each of them has finished the jobs queued before its collective
 * one, which is not the job's fault; so a collective job gets
 * collective_wait_ms on top of job_timeout_ms (docs/linux.md,
 * "Collective launches").  A vtpu-ici launch-timeout shorter than that
 * makes the device fail a lone collective launch itself (a DEADLOCK
 * fault, -EIO), without a reset.
 */
#include <linux/delay.h>
#include <linux/moduleparam.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include <drm/drm_drv.h>
#include <drm/drm_print.h>

#include "vtpu_drv.h"

unsigned int vtpu_job_timeout_ms = 5000;
module_param_named(job_timeout_ms, vtpu_job_timeout_ms, uint, 0644);
MODULE_PARM_DESC(job_timeout_ms,
		 "a job running longer is stopped by a device reset (ms, 0 = never)");

unsigned int vtpu_collective_wait_ms = 25000;
module_param_named(collective_wait_ms, vtpu_collective_wait_ms, uint, 0644);
MODULE_PARM_DESC(collective_wait_ms,
		 "time a collective launch may wait for the other chips of its slice, on top of job_timeout_ms (ms)");

#define VTPU_RING_MASK (VTPU_RING_ENTRIES - 1)

/* Fence values wrap: a is at or after b. */
static bool vtpu_seq_reached(u32 a, u32 b)
{
	return (s32)(a - b) >= 0;
}

static const char *vtpu_fence_driver_name(struct dma_fence *f)
{
	return VTPU_DRIVER_NAME;
}

static const char *vtpu_fence_timeline_name(struct dma_fence *f)
{
	return "vtpu-ring";
}

static void vtpu_fence_release(struct dma_fence *f)
{
	struct vtpu_job *job = container_of(f, struct vtpu_job, fence);
	struct vtpu_device *vdev = job->vdev;

	kfree(job->err);
	atomic_dec(&vdev->live_jobs);
	dma_fence_free(f);
	drm_dev_put(&vdev->drm);
}

static const struct dma_fence_ops vtpu_fence_ops = {
	.get_driver_name = vtpu_fence_driver_name,
	.get_timeline_name = vtpu_fence_timeline_name,
	.release = vtpu_fence_release,
};

static struct vtpu_job *vtpu_job_alloc(struct vtpu_device *vdev,
				       enum vtpu_job_kind kind, u64 context,
				       u64 seqno)
{
	struct vtpu_job *job;

	/* the fence first: dma_fence_free() frees the job */
	BUILD_BUG_ON(offsetof(struct vtpu_job, fence) != 0);
	job = kzalloc(sizeof(*job), GFP_KERNEL);
	if (!job)
		return NULL;
	dma_fence_init(&job->fence, &vtpu_fence_ops, &vdev->fence_lock,
		       context, seqno);
	job->vdev = vdev;
	job->kind = kind;
	job->seqno = seqno;
	INIT_LIST_HEAD(&job->node);
	drm_dev_get(&vdev->drm);
	atomic_inc(&vdev->live_jobs);
	return job;
}

static void vtpu_job_set_msg(struct vtpu_job *job, const char *msg)
{
	if (!job->err)
		job->err = kzalloc(sizeof(*job->err), GFP_KERNEL);
	if (!job->err)
		return;
	job->err->tc = VTPU_ERR_NONE32;
	job->err->index = VTPU_ERR_NONE32;
	strscpy(job->err->msg, msg, sizeof(job->err->msg));
}

/*
 * Signal a job that left the pending list and move it to `done`, where
 * vtpu_jobs_release() drops what it holds.  Under vdev->lock.
 */
static void vtpu_job_finish(struct vtpu_job *job, int status,
			    struct list_head *done)
{
	if (!job->status)
		job->status = status;
	if (job->dma && (!job->status || job->status == -EIO))
		job->result = job->dma->result;
	if (job->status)
		dma_fence_set_error(&job->fence, job->status);
	dma_fence_signal(&job->fence);
	list_move_tail(&job->node, done);
}

/* Drop what finished jobs hold, outside vdev->lock. */
static void vtpu_jobs_release(struct vtpu_device *vdev, struct list_head *done)
{
	struct vtpu_job *job, *tmp;
	u32 i;

	list_for_each_entry_safe(job, tmp, done, node) {
		list_del_init(&job->node);
		for (i = 0; i < job->nbos; i++)
			drm_gem_object_put(job->bos[i]);
		kvfree(job->bos);
		job->bos = NULL;
		job->nbos = 0;
		if (job->dma)
			dma_pool_free(vdev->job_pool, job->dma, job->dma_addr);
		job->dma = NULL;
		dma_fence_put(&job->fence);	/* the pending list's */
	}
}

/* A job that was never queued: drop what it holds and the job. */
static void vtpu_job_discard(struct vtpu_device *vdev, struct vtpu_job *job)
{
	LIST_HEAD(done);

	list_add(&job->node, &done);
	vtpu_jobs_release(vdev, &done);	/* puts the caller's reference */
}

/*
 * How long a job may run, in jiffies (0: for ever).  The driver's own
 * commands get a second more per 64 MiB they move: they end, but a big
 * FILL takes its time.  A collective launch gets collective_wait_ms more
 * for its wait at the slice's launch rendezvous.
 */
static unsigned long vtpu_job_timeout(const struct vtpu_job *job)
{
	unsigned int ms = READ_ONCE(vtpu_job_timeout_ms);
	unsigned long t;

	if (!ms)
		return 0;
	t = msecs_to_jiffies(ms);
	if (job->kind == VTPU_JOB_INTERNAL)
		t += (job->bytes >> 26) * HZ;
	if (job->collective)
		t += msecs_to_jiffies(READ_ONCE(vtpu_collective_wait_ms));
	return t;
}

/* (Re)start the timer for the first pending job. */
static void vtpu_tdr_arm(struct vtpu_device *vdev)
{
	struct vtpu_job *job;
	unsigned long t;

	job = list_first_entry_or_null(&vdev->pending, struct vtpu_job, node);
	t = job ? vtpu_job_timeout(job) : 0;
	if (t)
		mod_delayed_work(vdev->wq, &vdev->tdr, t);
}

/* Write a job's commands at the tail (no doorbell). */
static void vtpu_job_emit(struct vtpu_device *vdev, struct vtpu_job *job)
{
	u32 i;

	job->ring_start = vdev->tail;
	for (i = 0; i < job->ncmds; i++)
		vtpu_hw_ring_put(vdev, &job->cmds[i]);
}

static bool vtpu_ring_has_room(struct vtpu_device *vdev, u32 n)
{
	return READ_ONCE(vdev->dead) || vtpu_hw_ring_free(vdev) >= n;
}

/*
 * Queue a job: its commands, then a FENCE with interrupt.  A launch is
 * checked against its slot here, under the lock, so that no load of
 * another file's program can slip in between.
 */
static int vtpu_job_push(struct vtpu_device *vdev, struct vtpu_job *job)
{
	struct vtpu_slot *slot;
	int ret;

	mutex_lock(&vdev->lock);
	for (;;) {
		if (vdev->dead) {
			ret = -ENODEV;
			goto out;
		}
		if (vtpu_hw_ring_free(vdev) >= job->ncmds + 1)
			break;
		mutex_unlock(&vdev->lock);
		ret = wait_event_interruptible_timeout(vdev->ring_wq,
						       vtpu_ring_has_room(vdev, job->ncmds + 1),
						       HZ);
		if (ret < 0)
			return ret;
		mutex_lock(&vdev->lock);
	}
	if (job->kind == VTPU_JOB_LAUNCH) {
		slot = &vdev->slots[job->slot];
		if (slot->state != VTPU_SLOT_LOADED || slot->owner != job->owner) {
			ret = -EINVAL;
			goto out;
		}
		job->slot_gen = slot->gen;
		if (!job->nbos) {
			job->dma->ranges.count = 1;
			job->dma->ranges.range[0].off = slot->image->start;
			job->dma->ranges.range[0].len = slot->image->size;
		}
		vdev->count.launches++;
	}
	job->hw_seq = ++vdev->hw_seq;
	vtpu_cmd_init(&job->cmds[job->ncmds], VTPU_OP_FENCE, VTPU_FENCE_F_IRQ);
	job->cmds[job->ncmds].arg = job->hw_seq;
	job->ncmds++;
	vtpu_job_emit(vdev, job);
	dma_fence_get(&job->fence);
	if (list_empty(&vdev->pending)) {
		vdev->head_since = jiffies;
		list_add_tail(&job->node, &vdev->pending);
		vtpu_tdr_arm(vdev);
	} else {
		list_add_tail(&job->node, &vdev->pending);
	}
	vdev->count.jobs++;
	vtpu_hw_ring_kick(vdev);
	ret = 0;
out:
	mutex_unlock(&vdev->lock);
	return ret;
}

/* The job owning ring entry `index`, or NULL. */
static struct vtpu_job *vtpu_job_at(struct vtpu_device *vdev, u32 index)
{
	struct vtpu_job *job;

	list_for_each_entry(job, &vdev->pending, node)
		if (((index - job->ring_start) & VTPU_RING_MASK) < job->ncmds)
			return job;
	return NULL;
}

/* The device stopped on an error: charge it to its job, then SKIP. */
static void vtpu_handle_error(struct vtpu_device *vdev, struct list_head *done)
{
	struct vtpu_err_rec *e = &vdev->last_err;
	struct vtpu_job *job = NULL;
	char *line;
	u32 i, fence_at;

	vtpu_hw_read_error(vdev, e);
	vdev->count.errors++;
	if (e->index != VTPU_ERR_NONE32)
		job = vtpu_job_at(vdev, e->index);
	line = kmalloc(VTPU_ERR_LINE_MAX, GFP_KERNEL);
	if (line)
		vtpu_format_error(e, line, VTPU_ERR_LINE_MAX);
	/* what user programs and images do wrong is theirs, not a driver error */
	if (job && (job->kind == VTPU_JOB_LAUNCH || e->code == VTPU_E_BAD_ELF))
		drm_dbg_driver(&vdev->drm, "job %llu: %s\n", job->seqno,
			       line ?: vtpu_err_name(e->code));
	else
		drm_err(&vdev->drm, "%s job: %s\n", job ? "driver" : "no",
			line ?: vtpu_err_name(e->code));
	kfree(line);

	if (job) {
		if (!job->status) {
			job->status = -EIO;
			kfree(job->err);
			job->err = kmemdup(e, sizeof(*e), GFP_KERNEL);
		}
		/* nothing more of this job runs: NOPs up to its FENCE */
		fence_at = (job->ring_start + job->ncmds - 1) & VTPU_RING_MASK;
		for (i = (e->index + 1) & VTPU_RING_MASK; i != fence_at;
		     i = (i + 1) & VTPU_RING_MASK)
			vtpu_cmd_init(&vdev->ring[i], VTPU_OP_NOP, 0);
	}
	vtpu_wr(vdev, VTPU_A_ERR_ACK, VTPU_ACK_SKIP);
	vtpu_wr(vdev, VTPU_A_INT_STATUS, VTPU_FMASK(INT, ERROR));
	/* a FENCE cannot fail as queued; if it did, its job ends here */
	if (job && e->index == fence_at) {
		vdev->done = (fence_at + 1) & VTPU_RING_MASK;
		vdev->done_seq = job->hw_seq;
		vtpu_job_finish(job, -EIO, done);
	}
}

/* Complete what the device has done.  Under vdev->lock. */
static void vtpu_process_locked(struct vtpu_device *vdev,
				struct list_head *done)
{
	struct vtpu_job *job, *tmp;
	bool progress = false;
	u32 fence;

	if (vtpu_hw_state(vdev) == VTPU_STATE_ERROR)
		vtpu_handle_error(vdev, done);
	fence = vtpu_rd(vdev, VTPU_A_FENCE);
	list_for_each_entry_safe(job, tmp, &vdev->pending, node) {
		if (!vtpu_seq_reached(fence, job->hw_seq))
			break;
		vdev->done = (job->ring_start + job->ncmds) & VTPU_RING_MASK;
		vdev->done_seq = job->hw_seq;
		vtpu_job_finish(job, 0, done);
		progress = true;
	}
	if (progress) {
		vdev->head_since = jiffies;
		vtpu_tdr_arm(vdev);
		wake_up_all(&vdev->ring_wq);
	}
}

void vtpu_jobs_process(struct vtpu_device *vdev)
{
	LIST_HEAD(done);

	mutex_lock(&vdev->lock);
	if (!vdev->dead)
		vtpu_process_locked(vdev, &done);
	mutex_unlock(&vdev->lock);
	vtpu_jobs_release(vdev, &done);
}

/* Every pending job ends with `status`; the device takes no more. */
static void vtpu_kill_locked(struct vtpu_device *vdev, int status,
			     struct list_head *done)
{
	struct vtpu_job *job, *tmp;

	vdev->dead = true;
	list_for_each_entry_safe(job, tmp, &vdev->pending, node) {
		vtpu_job_set_msg(job, status == -ENODEV ?
				 "the device was removed" :
				 "the device failed to reset");
		vtpu_job_finish(job, status, done);
	}
	wake_up_all(&vdev->ring_wq);
}

/*
 * Unplug: stop the device (a running launch too) and end every job, so
 * that no ioctl waits on it any more.
 */
void vtpu_jobs_kill(struct vtpu_device *vdev, int status)
{
	LIST_HEAD(done);

	mutex_lock(&vdev->lock);
	if (pci_device_is_present(vdev->pdev))
		vtpu_hw_reset(vdev);
	vtpu_kill_locked(vdev, status, &done);
	mutex_unlock(&vdev->lock);
	vtpu_jobs_release(vdev, &done);
	cancel_delayed_work_sync(&vdev->tdr);
}

/*
 * After a reset: the ring from empty, FENCE back at `fence` (so values
 * already handed out compare right), the slots reloaded, the pending jobs
 * queued again.  The ring has room: pending jobs never take the
 * VTPU_RING_RESERVE entries used here.
 */
static void vtpu_ring_restart(struct vtpu_device *vdev, u32 fence,
			      struct list_head *done)
{
	struct vtpu_job *job, *tmp;
	struct vtpu_slot *slot;
	struct vtpu_cmd c;
	u32 i;

	vtpu_hw_ring_start(vdev);
	vtpu_cmd_init(&c, VTPU_OP_FENCE, 0);
	c.arg = fence;
	vtpu_hw_ring_put(vdev, &c);
	for (i = 0; i < VTPU_NUM_SLOTS; i++) {
		slot = &vdev->slots[i];
		if (slot->state != VTPU_SLOT_LOADED)
			continue;
		vtpu_cmd_init(&c, VTPU_OP_LOAD_PROG, 0);
		c.arg = i;
		c.src = slot->image->start;
		c.len = slot->image_len;
		vtpu_hw_ring_put(vdev, &c);
	}
	vdev->done = vdev->tail;
	vdev->done_seq = fence;
	list_for_each_entry_safe(job, tmp, &vdev->pending, node) {
		slot = &vdev->slots[job->slot];
		if (job->kind == VTPU_JOB_LAUNCH &&
		    (slot->state != VTPU_SLOT_LOADED ||
		     slot->gen != job->slot_gen)) {
			vtpu_job_set_msg(job, "canceled by a device reset: the slot changed");
			vdev->count.canceled++;
			vtpu_job_finish(job, -ECANCELED, done);
			continue;
		}
		vtpu_job_emit(vdev, job);
	}
	vtpu_hw_ring_kick(vdev);
	vdev->head_since = jiffies;
	vtpu_tdr_arm(vdev);
	wake_up_all(&vdev->ring_wq);
}

/* The first pending job ran too long: reset the device, fail that job. */
static void vtpu_recover(struct vtpu_device *vdev, struct vtpu_job *guilty,
			 struct list_head *done)
{
	unsigned int ms = jiffies_to_msecs(vtpu_job_timeout(guilty));
	char msg[160];

	vdev->count.timeouts++;
	drm_warn(&vdev->drm, "%s job %llu ran past %u ms: resetting the device\n",
		 guilty->kind != VTPU_JOB_LAUNCH ? "driver" :
		 guilty->collective ? "collective launch" : "launch",
		 guilty->seqno, ms);
	if (vtpu_hw_reset(vdev)) {
		drm_err(&vdev->drm, "the device does not reset: giving up on it\n");
		vtpu_kill_locked(vdev, -EIO, done);
		return;
	}
	vdev->count.resets++;
	if (guilty->collective)
		snprintf(msg, sizeof(msg),
			 "collective job timed out after %u ms (waiting for the other chips of its slice, or running); the device was reset",
			 ms);
	else
		snprintf(msg, sizeof(msg),
			 "job timed out after %u ms; the device was reset", ms);
	vtpu_job_set_msg(guilty, msg);
	vtpu_job_finish(guilty, -ETIMEDOUT, done);
	vtpu_ring_restart(vdev, guilty->hw_seq, done);
}

void vtpu_tdr_work(struct work_struct *work)
{
	struct vtpu_device *vdev = container_of(to_delayed_work(work),
						struct vtpu_device, tdr);
	struct vtpu_job *job;
	unsigned long deadline, t;
	LIST_HEAD(done);

	mutex_lock(&vdev->lock);
	if (vdev->dead)
		goto out;
	vtpu_process_locked(vdev, &done);
	job = list_first_entry_or_null(&vdev->pending, struct vtpu_job, node);
	t = job ? vtpu_job_timeout(job) : 0;
	if (!t)
		goto out;
	deadline = vdev->head_since + t;
	if (time_before(jiffies, deadline)) {
		mod_delayed_work(vdev->wq, &vdev->tdr, deadline - jiffies);
		goto out;
	}
	vtpu_recover(vdev, job, &done);
out:
	mutex_unlock(&vdev->lock);
	vtpu_jobs_release(vdev, &done);
}

int vtpu_jobs_init(struct vtpu_device *vdev)
{
	INIT_LIST_HEAD(&vdev->pending);
	init_waitqueue_head(&vdev->ring_wq);
	spin_lock_init(&vdev->fence_lock);
	INIT_DELAYED_WORK(&vdev->tdr, vtpu_tdr_work);
	vdev->fence_context = dma_fence_context_alloc(1);
	vdev->job_pool = dma_pool_create("vtpu-job", &vdev->pdev->dev,
					 sizeof(struct vtpu_job_dma), 64, 0);
	if (!vdev->job_pool)
		return -ENOMEM;
	vdev->wq = alloc_ordered_workqueue("vtpu-tdr", 0);
	if (!vdev->wq) {
		dma_pool_destroy(vdev->job_pool);
		return -ENOMEM;
	}
	return 0;
}

void vtpu_jobs_fini(struct vtpu_device *vdev)
{
	cancel_delayed_work_sync(&vdev->tdr);
	destroy_workqueue(vdev->wq);
	dma_pool_destroy(vdev->job_pool);
}

/*
 * One driver command, synchronously.  The wait cannot be interrupted: the
 * command may move data into the caller's buffers until it completes (the
 * job timeout bounds it).
 */
static struct vtpu_job *vtpu_cmd_job(struct vtpu_device *vdev,
				     const struct vtpu_cmd *cmd)
{
	struct vtpu_job *job;

	job = vtpu_job_alloc(vdev, VTPU_JOB_INTERNAL, vdev->fence_context,
			     atomic64_inc_return(&vdev->internal_seq));
	if (!job)
		return NULL;
	job->cmds[0] = *cmd;
	job->ncmds = 1;
	job->bytes = cmd->len;	/* 0 for commands that move nothing */
	return job;
}

int vtpu_run_cmd(struct vtpu_device *vdev, const struct vtpu_cmd *cmd,
		 struct vtpu_err_rec *err)
{
	struct vtpu_job *job = vtpu_cmd_job(vdev, cmd);
	int ret;

	if (!job)
		return -ENOMEM;
	ret = vtpu_job_push(vdev, job);
	if (!ret) {
		dma_fence_wait(&job->fence, false);
		smp_rmb();	/* the outcome was written before the signal */
		ret = job->status;
		if (ret && err) {
			if (job->err)
				*err = *job->err;
			else
				memset(err, 0, sizeof(*err));
		}
	}
	dma_fence_put(&job->fence);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Per-file jobs                                                        */
/* ------------------------------------------------------------------ */

/* Forget the oldest completed jobs beyond VTPU_JOB_RECORDS. */
static void vtpu_file_retire(struct vtpu_file *vfile)
{
	struct vtpu_job *job;
	unsigned long idx;

	xa_for_each(&vfile->jobs, idx, job) {
		if (vfile->njobs <= VTPU_JOB_RECORDS)
			break;
		if (!dma_fence_is_signaled(&job->fence))
			continue;
		xa_erase(&vfile->jobs, idx);
		vfile->njobs--;
		dma_fence_put(&job->fence);
	}
}

void vtpu_file_jobs_fini(struct vtpu_file *vfile)
{
	struct vtpu_job *job;
	unsigned long idx;

	xa_for_each(&vfile->jobs, idx, job)
		dma_fence_put(&job->fence);
	xa_destroy(&vfile->jobs);
}

/*
 * The HBM a launch may touch: its BOs.  A launch that names none is
 * granted its own program image (vtpu_job_push() fills that in): the
 * range must not be empty, and the image holds nothing but what this
 * file loaded (MODULE_LOAD zeroes it first).
 */
static int vtpu_job_grant(struct vtpu_job *job, struct drm_file *file,
			  u64 handles, u32 count)
{
	struct vtpu_hbm_ranges *r = &job->dma->ranges;
	struct vtpu_bo *bo;
	u32 i;
	int ret;

	if (count) {
		ret = drm_gem_objects_lookup(file, u64_to_user_ptr(handles),
					     count, &job->bos);
		if (ret)
			return ret;
	}
	job->nbos = count;
	r->count = count;
	r->rsvd = 0;
	for (i = 0; i < count; i++) {
		bo = to_vtpu_bo(job->bos[i]);
		r->range[i].off = bo->node.start;
		r->range[i].len = bo->node.size;
	}
	return 0;
}

int vtpu_ioctl_submit(struct drm_device *dev, void *data,
		      struct drm_file *file)
{
	struct vtpu_device *vdev = to_vtpu(dev);
	struct vtpu_file *vfile = file->driver_priv;
	struct drm_vtpu_submit *args = data;
	struct vtpu_job *job;
	struct vtpu_cmd *c;
	u32 flags;
	u64 seqno;
	int ret;

	if (args->flags & ~(DRM_VTPU_SUBMIT_CHECK_EXIT |
			    DRM_VTPU_SUBMIT_COLLECTIVE))
		return -EINVAL;
	if (args->slot >= VTPU_NUM_SLOTS || args->num_tcs > vdev->num_tcs)
		return -EINVAL;
	if (args->num_bos > DRM_VTPU_MAX_BOS)
		return -EINVAL;

	mutex_lock(&vfile->lock);
	seqno = ++vfile->next_seqno;
	mutex_unlock(&vfile->lock);
	job = vtpu_job_alloc(vdev, VTPU_JOB_LAUNCH, vfile->fence_context,
			     seqno);
	if (!job)
		return -ENOMEM;
	job->owner = vfile;
	job->slot = args->slot;
	job->dma = dma_pool_zalloc(vdev->job_pool, GFP_KERNEL, &job->dma_addr);
	if (!job->dma) {
		ret = -ENOMEM;
		goto fail;
	}
	ret = vtpu_job_grant(job, file, args->bo_handles, args->num_bos);
	if (ret)
		goto fail;

	flags = VTPU_LAUNCH_F_RESULT | VTPU_LAUNCH_F_RANGES;
	if (args->flags & DRM_VTPU_SUBMIT_CHECK_EXIT)
		flags |= VTPU_LAUNCH_F_CHECK_EXIT;
	if (args->flags & DRM_VTPU_SUBMIT_COLLECTIVE) {
		flags |= VTPU_LAUNCH_F_COLLECTIVE;
		job->collective = true;
	}
	c = &job->cmds[0];
	vtpu_cmd_init(c, VTPU_OP_LAUNCH, flags);
	c->arg = VTPU_FDP(VTPU_FDP(0, LAUNCH, SLOT, args->slot), LAUNCH, TCS,
			  args->num_tcs);
	memcpy(c->args, args->args, sizeof(c->args));
	c->addr = job->dma_addr + offsetof(struct vtpu_job_dma, result);
	c->ranges = job->dma_addr + offsetof(struct vtpu_job_dma, ranges);
	job->ncmds = 1;

	ret = vtpu_job_push(vdev, job);
	if (ret)
		goto fail;

	mutex_lock(&vfile->lock);
	ret = xa_err(xa_store(&vfile->jobs, seqno, job, GFP_KERNEL));
	if (!ret) {
		vfile->njobs++;
		vtpu_file_retire(vfile);
	}
	mutex_unlock(&vfile->lock);
	if (ret) {
		/* queued but untracked: it runs, nobody can wait for it */
		dma_fence_put(&job->fence);
		return ret;
	}
	args->seqno = seqno;
	return 0;

fail:
	vtpu_job_discard(vdev, job);
	return ret;
}

/* A reference to job `seqno` of this file, or NULL. */
static struct vtpu_job *vtpu_file_job(struct vtpu_file *vfile, u64 seqno)
{
	struct vtpu_job *job;

	mutex_lock(&vfile->lock);
	job = xa_load(&vfile->jobs, seqno);
	if (job)
		dma_fence_get(&job->fence);
	mutex_unlock(&vfile->lock);
	return job;
}

int vtpu_ioctl_wait(struct drm_device *dev, void *data, struct drm_file *file)
{
	struct vtpu_file *vfile = file->driver_priv;
	struct drm_vtpu_wait *args = data;
	struct vtpu_job *job;
	long timeout, ret;
	u64 j;

	job = vtpu_file_job(vfile, args->seqno);
	if (!job)
		return -ENOENT;
	if (!args->timeout_ns) {
		ret = dma_fence_is_signaled(&job->fence);
	} else {
		timeout = MAX_SCHEDULE_TIMEOUT;
		if (args->timeout_ns > 0) {
			j = nsecs_to_jiffies64(args->timeout_ns) + 1;
			if (j < MAX_SCHEDULE_TIMEOUT)
				timeout = j;
		}
		ret = dma_fence_wait_timeout(&job->fence, true, timeout);
	}
	if (ret > 0) {
		smp_rmb();	/* the outcome was written before the signal */
		args->status = job->status;
		args->exit_code = job->result.exit_code;
		BUILD_BUG_ON(sizeof(args->tc_exit) != sizeof(job->result.tc_exit));
		BUILD_BUG_ON(sizeof(args->instret) != sizeof(job->result.instret));
		memcpy(args->tc_exit, job->result.tc_exit, sizeof(args->tc_exit));
		memcpy(args->instret, job->result.instret, sizeof(args->instret));
		ret = 0;
	} else if (!ret) {
		ret = -ETIME;
	}
	dma_fence_put(&job->fence);
	return ret;
}

/*
 * The whole message: into message[] cut to fit, and when user space gives
 * a buffer (message_ptr, message_size), the whole of it there (cut to that
 * size, NUL-terminated); message_len says how big it is in any case.
 */
static int vtpu_job_error_message(struct drm_vtpu_job_error *args,
				  const struct vtpu_err_rec *e, u64 uptr,
				  u32 usize)
{
	char *line;
	size_t n;
	int ret = 0;

	line = kmalloc(VTPU_ERR_LINE_MAX, GFP_KERNEL);
	if (!line)
		return -ENOMEM;
	if (e->code)
		vtpu_format_error(e, line, VTPU_ERR_LINE_MAX);
	else
		strscpy(line, e->msg, VTPU_ERR_LINE_MAX);
	n = strlen(line) + 1;
	args->message_len = n;
	strscpy(args->message, line, sizeof(args->message));
	if (uptr && usize) {
		n = min_t(size_t, n, usize);
		line[n - 1] = 0;
		if (copy_to_user(u64_to_user_ptr(uptr), line, n))
			ret = -EFAULT;
	}
	kfree(line);
	return ret;
}

int vtpu_ioctl_job_error(struct drm_device *dev, void *data,
			 struct drm_file *file)
{
	struct vtpu_file *vfile = file->driver_priv;
	struct drm_vtpu_job_error *args = data;
	struct vtpu_err_rec *e;
	struct vtpu_job *job;
	u64 seqno = args->seqno;
	u64 uptr = args->message_ptr;
	u32 usize = args->message_size;
	int ret = 0;

	job = vtpu_file_job(vfile, seqno);
	if (!job)
		return -ENOENT;
	memset(args, 0, sizeof(*args));
	args->seqno = seqno;
	args->message_ptr = uptr;
	args->message_size = usize;
	args->tc = VTPU_ERR_NONE32;
	if (!dma_fence_is_signaled(&job->fence)) {
		ret = -EBUSY;
		goto out;
	}
	smp_rmb();	/* the outcome was written before the signal */
	e = job->err;
	if (e) {
		args->code = e->code;
		args->kind = e->kind;
		args->tc = e->tc;
		args->pc = e->pc;
		args->space = e->space;
		args->value = e->value;
		args->addr = e->addr;
		args->len = e->len;
		ret = vtpu_job_error_message(args, e, uptr, usize);
	}
out:
	dma_fence_put(&job->fence);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Program slots                                                        */
/* ------------------------------------------------------------------ */

/* Empty a slot (vdev->lock); returns its image for vtpu_hbm_free(). */
static struct drm_mm_node *vtpu_slot_clear(struct vtpu_slot *slot)
{
	struct drm_mm_node *image = slot->image;

	slot->state = VTPU_SLOT_FREE;
	slot->owner = NULL;
	slot->image = NULL;
	slot->image_len = 0;
	slot->gen++;
	return image;
}

static void vtpu_image_free(struct vtpu_device *vdev, struct drm_mm_node *n)
{
	if (!n)
		return;
	vtpu_hbm_free(vdev, n);
	kfree(n);
}

int vtpu_ioctl_module_load(struct drm_device *dev, void *data,
			   struct drm_file *file)
{
	struct vtpu_device *vdev = to_vtpu(dev);
	struct vtpu_file *vfile = file->driver_priv;
	struct drm_vtpu_module_load *args = data;
	struct drm_mm_node *image;
	struct vtpu_err_rec *err;
	struct vtpu_slot *slot;
	struct vtpu_cmd c;
	u64 len = args->image_size;
	u32 i, gen;
	int ret;

	memset(args->error, 0, sizeof(args->error));
	args->slot = 0;
	if (args->pad || !len)
		return -EINVAL;
	if (len > VTPU_LOAD_PROG_MAX_LEN)
		return -E2BIG;
	image = kzalloc(sizeof(*image), GFP_KERNEL);
	err = kzalloc(sizeof(*err), GFP_KERNEL);
	if (!image || !err) {
		kfree(image);
		kfree(err);
		return -ENOMEM;
	}
	ret = vtpu_hbm_alloc(vdev, image, len, false, true);
	if (ret) {
		kfree(image);
		goto out;
	}
	/* zeroed first: the image's pages may be a launch's grant */
	ret = vtpu_hbm_zero(vdev, image);
	if (!ret)
		ret = vtpu_hbm_write_user(vdev, image->start,
					  u64_to_user_ptr(args->image_ptr),
					  len);
	if (ret)
		goto free_image;

	mutex_lock(&vdev->lock);
	for (i = 0; i < VTPU_NUM_SLOTS; i++)
		if (vdev->slots[i].state == VTPU_SLOT_FREE)
			break;
	if (i == VTPU_NUM_SLOTS) {
		mutex_unlock(&vdev->lock);
		ret = -ENOSPC;
		goto free_image;
	}
	slot = &vdev->slots[i];
	slot->state = VTPU_SLOT_LOADED;
	slot->owner = vfile;
	slot->image = image;
	slot->image_len = len;
	gen = ++slot->gen;
	mutex_unlock(&vdev->lock);

	vtpu_cmd_init(&c, VTPU_OP_LOAD_PROG, 0);
	c.arg = i;
	c.src = image->start;
	c.len = len;
	ret = vtpu_run_cmd(vdev, &c, err);
	if (!ret) {
		args->slot = i;
		goto out;
	}
	/* refused: the slot is free again (unless it was unloaded meanwhile) */
	mutex_lock(&vdev->lock);
	image = NULL;
	if (slot->owner == vfile && slot->gen == gen)
		image = vtpu_slot_clear(slot);
	mutex_unlock(&vdev->lock);
	vtpu_image_free(vdev, image);
	if (ret == -EIO && err->code == VTPU_E_BAD_ELF) {
		strscpy(args->error, err->msg[0] ? err->msg : "ELF image rejected",
			sizeof(args->error));
		ret = -ENOEXEC;
	} else if (ret == -EIO) {
		vtpu_format_error(err, args->error, sizeof(args->error));
	}
	goto out;

free_image:
	vtpu_image_free(vdev, image);
out:
	kfree(err);
	return ret;
}

int vtpu_ioctl_module_unload(struct drm_device *dev, void *data,
			     struct drm_file *file)
{
	struct vtpu_device *vdev = to_vtpu(dev);
	struct vtpu_file *vfile = file->driver_priv;
	struct drm_vtpu_module_unload *args = data;
	struct drm_mm_node *image = NULL;
	struct vtpu_slot *slot;
	int ret = -EINVAL;

	if (args->pad || args->slot >= VTPU_NUM_SLOTS)
		return -EINVAL;
	mutex_lock(&vdev->lock);
	slot = &vdev->slots[args->slot];
	if (slot->state == VTPU_SLOT_LOADED && slot->owner == vfile) {
		image = vtpu_slot_clear(slot);
		ret = 0;
	}
	mutex_unlock(&vdev->lock);
	vtpu_image_free(vdev, image);
	return ret;
}

/* The file is closing: its slots become free. */
void vtpu_slots_release(struct vtpu_file *vfile)
{
	struct vtpu_device *vdev = vfile->vdev;
	struct drm_mm_node *images[VTPU_NUM_SLOTS];
	u32 i, n = 0;

	mutex_lock(&vdev->lock);
	for (i = 0; i < VTPU_NUM_SLOTS; i++)
		if (vdev->slots[i].owner == vfile)
			images[n++] = vtpu_slot_clear(&vdev->slots[i]);
	mutex_unlock(&vdev->lock);
	for (i = 0; i < n; i++)
		vtpu_image_free(vdev, images[i]);
}
