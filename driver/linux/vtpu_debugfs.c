// SPDX-License-Identifier: GPL-2.0
/*
 * vtpu_debugfs.c - /sys/kernel/debug/accel/<minor>/: "state" (the device
 * and the ring, counters, slots, the last error) and "hbm" (the
 * allocator's ranges).
 */
#include <linux/seq_file.h>
#include <linux/slab.h>

#include <drm/drm_debugfs.h>
#include <drm/drm_drv.h>
#include <drm/drm_print.h>

#include "vtpu_drv.h"

static const char *const vtpu_state_names[] = {
	[VTPU_STATE_DISABLED] = "DISABLED",
	[VTPU_STATE_IDLE] = "IDLE",
	[VTPU_STATE_BUSY] = "BUSY",
	[VTPU_STATE_ERROR] = "ERROR",
	[VTPU_STATE_RESETTING] = "RESETTING",
};

static void vtpu_show_hw(struct seq_file *m, struct vtpu_device *vdev)
{
	u32 st = vtpu_hw_state(vdev);

	seq_printf(m, "state: %s\n", st < ARRAY_SIZE(vtpu_state_names) ?
		   vtpu_state_names[st] : "?");
	seq_printf(m, "ring: %u entries at %pad, head %u, tail %u\n",
		   VTPU_RING_ENTRIES, &vdev->ring_dma,
		   vtpu_rd(vdev, VTPU_A_RING_HEAD),
		   vtpu_rd(vdev, VTPU_A_RING_TAIL));
	seq_printf(m, "fence: %u\n", vtpu_rd(vdev, VTPU_A_FENCE));
	seq_printf(m, "int_status: 0x%x, int_enable: 0x%x\n",
		   vtpu_rd(vdev, VTPU_A_INT_STATUS),
		   vtpu_rd(vdev, VTPU_A_INT_ENABLE));
	seq_printf(m, "device commands: %u\n", vtpu_rd(vdev, VTPU_A_CMD_COUNT));
	seq_printf(m, "device launches: %u\n",
		   vtpu_rd(vdev, VTPU_A_LAUNCH_COUNT));
	seq_printf(m, "device bytes_in: %llu\n",
		   vtpu_rd64(vdev, VTPU_A_BYTES_IN_LO));
	seq_printf(m, "device bytes_out: %llu\n",
		   vtpu_rd64(vdev, VTPU_A_BYTES_OUT_LO));
	seq_printf(m, "device errors: %u\n", vtpu_rd(vdev, VTPU_A_ERR_COUNT));
}

static int vtpu_state_show(struct seq_file *m, void *unused)
{
	struct drm_debugfs_entry *entry = m->private;
	struct vtpu_device *vdev = to_vtpu(entry->dev);
	const struct vtpu_counters *c = &vdev->count;
	struct vtpu_job *job;
	u32 i, pending = 0;
	char *line;
	int idx;

	mutex_lock(&vdev->lock);
	seq_printf(m, "device: vtpu %s, %u TC(s), irq %d (%s)\n", vdev->gen,
		   vdev->num_tcs, vdev->irq, vdev->msix ? "MSI-X" : "INTx");
	if (!vdev->dead && drm_dev_enter(&vdev->drm, &idx)) {
		vtpu_show_hw(m, vdev);
		drm_dev_exit(idx);
	} else {
		seq_puts(m, "state: gone\n");
	}
	list_for_each_entry(job, &vdev->pending, node)
		pending++;
	seq_printf(m, "driver: tail %u, done %u, hw_seq %u, done_seq %u\n",
		   vdev->tail, vdev->done, vdev->hw_seq, vdev->done_seq);
	seq_printf(m, "pending jobs: %u\n", pending);
	seq_printf(m, "jobs: %llu\nlaunches: %llu\nerrors: %llu\n", c->jobs,
		   c->launches, c->errors);
	seq_printf(m, "timeouts: %llu\nresets: %llu\ncanceled: %llu\n",
		   c->timeouts, c->resets, c->canceled);
	seq_printf(m, "interrupts: %llu\n", READ_ONCE(c->irqs));
	seq_printf(m, "live jobs: %d\nlive bos: %d\n",
		   atomic_read(&vdev->live_jobs), atomic_read(&vdev->live_bos));
	seq_printf(m, "job timeout: %u ms\n", READ_ONCE(vtpu_job_timeout_ms));
	seq_printf(m, "collective wait: %u ms\n",
		   READ_ONCE(vtpu_collective_wait_ms));
	for (i = 0; i < VTPU_NUM_SLOTS; i++) {
		const struct vtpu_slot *s = &vdev->slots[i];

		if (s->state == VTPU_SLOT_LOADED)
			seq_printf(m, "slot %u: %llu bytes at HBM 0x%llx, gen %u\n",
				   i, s->image_len, s->image->start, s->gen);
	}
	line = vdev->last_err.code ? kmalloc(VTPU_ERR_LINE_MAX, GFP_KERNEL) :
				     NULL;
	if (line) {
		vtpu_format_error(&vdev->last_err, line, VTPU_ERR_LINE_MAX);
		seq_printf(m, "last error: %s\n", line);
		kfree(line);
	} else if (vdev->last_err.code) {
		seq_printf(m, "last error: %s\n",
			   vtpu_err_name(vdev->last_err.code));
	} else {
		seq_puts(m, "last error: none\n");
	}
	mutex_unlock(&vdev->lock);
	return 0;
}

static int vtpu_hbm_show(struct seq_file *m, void *unused)
{
	struct drm_debugfs_entry *entry = m->private;
	struct vtpu_device *vdev = to_vtpu(entry->dev);
	struct drm_printer p = drm_seq_file_printer(m);

	mutex_lock(&vdev->mm_lock);
	drm_printf(&p, "size %llu, free %llu, mappable below 0x%llx\n",
		   vdev->hbm_size, vdev->hbm_free, vdev->aper_size);
	drm_mm_print(&vdev->mm, &p);
	mutex_unlock(&vdev->mm_lock);
	return 0;
}

void vtpu_debugfs_init(struct vtpu_device *vdev)
{
	drm_debugfs_add_file(&vdev->drm, "state", vtpu_state_show, NULL);
	drm_debugfs_add_file(&vdev->drm, "hbm", vtpu_hbm_show, NULL);
}
