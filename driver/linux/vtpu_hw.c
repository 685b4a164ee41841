// SPDX-License-Identifier: GPL-2.0
/*
 * vtpu_hw.c - the register layer: identity, soft reset, the command ring,
 * the error registers and the interrupt handler (docs/registers.md).
 *
 * Interrupts.  The hard handler acknowledges INT_STATUS (the line is
 * level-triggered for INTx; MSI-X sends one message per rising edge) and
 * wakes the thread, which reads FENCE and STATUS and completes jobs
 * (vtpu_jobs_process()).  Acknowledging before the thread looks at the
 * device means an event after the look raises the line again.
 */
#include <linux/delay.h>
#include <linux/interrupt.h>
#include <linux/iopoll.h>

#include "vtpu_drv.h"

/* Ring entries and records are stored in CPU order: little endian only. */
#ifdef __BIG_ENDIAN
#error "vtpu: the command formats are little endian"
#endif

#define VTPU_RESET_TIMEOUT_US (5 * USEC_PER_SEC)
#define VTPU_INT_USED (VTPU_FMASK(INT, FENCE) | VTPU_FMASK(INT, ERROR))

u64 vtpu_rd64(struct vtpu_device *vdev, u32 lo)
{
	u32 l = vtpu_rd(vdev, lo);	/* LO first: counters latch HI on it */

	return l | (u64)vtpu_rd(vdev, lo + 4) << 32;
}

int vtpu_hw_probe(struct vtpu_device *vdev)
{
	struct device *dev = &vdev->pdev->dev;
	u32 v, g;
	int i;

	v = vtpu_rd(vdev, VTPU_A_ID);
	if (v != VTPU_ID_MAGIC) {
		dev_err(dev, "no vtpu at BAR0 (ID 0x%08x)\n", v);
		return -ENODEV;
	}
	vdev->version = vtpu_rd(vdev, VTPU_A_VERSION);
	if (VTPU_FEX(vdev->version, VERSION, MAJOR) != VTPU_VERSION_MAJOR) {
		dev_err(dev, "register interface %u.%u, driver speaks %u.x\n",
			VTPU_FEX(vdev->version, VERSION, MAJOR),
			VTPU_FEX(vdev->version, VERSION, MINOR),
			VTPU_VERSION_MAJOR);
		return -ENODEV;
	}
	/* A register that holds a value tells a device from a dead bus. */
	vtpu_wr(vdev, VTPU_A_SCRATCH, 0x5a5aa5a5);
	if (vtpu_rd(vdev, VTPU_A_SCRATCH) != 0x5a5aa5a5) {
		dev_err(dev, "SCRATCH does not hold its value\n");
		return -ENODEV;
	}
	vtpu_wr(vdev, VTPU_A_SCRATCH, 0);

	vdev->caps = vtpu_rd(vdev, VTPU_A_CAPS);
	g = vtpu_rd(vdev, VTPU_A_GEN);
	for (i = 0; i < 4; i++) {
		char c = (char)(g >> (8 * i));

		vdev->gen[i] = (c >= 0x20 && c < 0x7f) ? c : 0;
	}
	vdev->gen[4] = 0;
	vdev->num_tcs = vtpu_rd(vdev, VTPU_A_NUM_TCS);
	vdev->num_sems = vtpu_rd(vdev, VTPU_A_NUM_SEMS);
	vdev->hbm_size = vtpu_rd64(vdev, VTPU_A_HBM_SIZE_LO);
	vdev->vmem_size = vtpu_rd(vdev, VTPU_A_VMEM_SIZE);
	vdev->smem_size = vtpu_rd(vdev, VTPU_A_SMEM_SIZE);
	vdev->imem_size = vtpu_rd(vdev, VTPU_A_IMEM_SIZE);
	vdev->mxu = vtpu_rd(vdev, VTPU_A_MXU);
	v = vtpu_rd(vdev, VTPU_A_LIMITS);

	if (!(vdev->caps & VTPU_FMASK(CAPS, LAUNCH_RESULT))) {
		dev_err(dev, "the device has no launch result records\n");
		return -ENODEV;
	}
	if (VTPU_FEX(v, LIMITS, PROG_SLOTS) < VTPU_NUM_SLOTS ||
	    VTPU_FEX(v, LIMITS, RING_MAX_LOG2) < ilog2(VTPU_RING_ENTRIES)) {
		dev_err(dev, "LIMITS 0x%08x: too few slots or ring entries\n", v);
		return -ENODEV;
	}
	if (!vdev->num_tcs || vdev->num_tcs > 8 || !vdev->hbm_size) {
		dev_err(dev, "%u TCs, %llu bytes of HBM: not supported\n",
			vdev->num_tcs, vdev->hbm_size);
		return -ENODEV;
	}
	return 0;
}

u32 vtpu_hw_state(struct vtpu_device *vdev)
{
	return VTPU_FEX(vtpu_rd(vdev, VTPU_A_STATUS), STATUS, STATE);
}

/*
 * CONTROL.RESET, then wait for DISABLED: a launch's TCs are stopped, every
 * register returns to its reset value and the program slots are emptied
 * (HBM keeps its contents).
 */
int vtpu_hw_reset(struct vtpu_device *vdev)
{
	u32 st;
	int ret;

	vtpu_wr(vdev, VTPU_A_CONTROL, VTPU_FMASK(CONTROL, RESET));
	ret = readl_poll_timeout(vdev->regs + VTPU_A_STATUS, st,
				 VTPU_FEX(st, STATUS, STATE) ==
					 VTPU_STATE_DISABLED,
				 100, VTPU_RESET_TIMEOUT_US);
	if (ret)
		drm_err(&vdev->drm, "soft reset did not complete (STATUS 0x%x)\n",
			st);
	return ret;
}

/* Program and enable an empty ring (the device is freshly reset). */
void vtpu_hw_ring_start(struct vtpu_device *vdev)
{
	memset(vdev->ring, 0, VTPU_RING_ENTRIES * sizeof(*vdev->ring));
	vdev->tail = 0;
	vdev->done = 0;
	vtpu_wr(vdev, VTPU_A_APERTURE_BASE_LO, 0);
	vtpu_wr(vdev, VTPU_A_APERTURE_BASE_HI, 0);
	vtpu_wr(vdev, VTPU_A_RING_BASE_LO, lower_32_bits(vdev->ring_dma));
	vtpu_wr(vdev, VTPU_A_RING_BASE_HI, upper_32_bits(vdev->ring_dma));
	vtpu_wr(vdev, VTPU_A_RING_SIZE, VTPU_RING_ENTRIES);
	vtpu_wr(vdev, VTPU_A_INT_STATUS, VTPU_INT_ALL);
	vtpu_wr(vdev, VTPU_A_INT_ENABLE, VTPU_INT_USED);
	vtpu_wr(vdev, VTPU_A_CONTROL, VTPU_FMASK(CONTROL, ENABLE));
	if (vtpu_hw_state(vdev) != VTPU_STATE_IDLE)
		drm_err(&vdev->drm, "the ring did not start (state %u, error %u)\n",
			vtpu_hw_state(vdev), vtpu_rd(vdev, VTPU_A_ERR_CODE));
}

/*
 * Entries a job may use: everything the device has not consumed for sure
 * (up to the end of the last completed job) is taken, one entry stays free
 * (full and empty differ) and VTPU_RING_RESERVE are kept for recovery.
 */
u32 vtpu_hw_ring_free(struct vtpu_device *vdev)
{
	u32 used = (vdev->tail - vdev->done) & (VTPU_RING_ENTRIES - 1);
	u32 max = VTPU_RING_ENTRIES - 1 - VTPU_RING_RESERVE;

	return used < max ? max - used : 0;
}

/* Write one entry at the tail; the device sees it at vtpu_hw_ring_kick(). */
void vtpu_hw_ring_put(struct vtpu_device *vdev, const struct vtpu_cmd *cmd)
{
	vdev->ring[vdev->tail] = *cmd;
	vdev->tail = (vdev->tail + 1) & (VTPU_RING_ENTRIES - 1);
}

/* The doorbell; writel() orders the entries' stores before it. */
void vtpu_hw_ring_kick(struct vtpu_device *vdev)
{
	vtpu_wr(vdev, VTPU_A_RING_TAIL, vdev->tail);
}

void vtpu_cmd_init(struct vtpu_cmd *c, u32 op, u32 flags)
{
	memset(c, 0, sizeof(*c));
	c->hdr = VTPU_FDP(VTPU_FDP(0, CMD, OPCODE, op), CMD, FLAGS, flags);
}

void vtpu_hw_read_error(struct vtpu_device *vdev, struct vtpu_err_rec *e)
{
	u32 i, b, w;

	e->code = vtpu_rd(vdev, VTPU_A_ERR_CODE);
	e->index = vtpu_rd(vdev, VTPU_A_ERR_INDEX);
	e->opcode = vtpu_rd(vdev, VTPU_A_ERR_OPCODE);
	e->kind = vtpu_rd(vdev, VTPU_A_ERR_KIND);
	e->tc = vtpu_rd(vdev, VTPU_A_ERR_TC);
	e->pc = vtpu_rd(vdev, VTPU_A_ERR_PC);
	e->space = vtpu_rd(vdev, VTPU_A_ERR_SPACE);
	e->value = vtpu_rd(vdev, VTPU_A_ERR_VALUE);
	e->addr = vtpu_rd64(vdev, VTPU_A_ERR_ADDR_LO);
	e->len = vtpu_rd64(vdev, VTPU_A_ERR_LEN_LO);
	memset(e->msg, 0, sizeof(e->msg));
	if (!(vdev->caps & VTPU_FMASK(CAPS, ERR_MSG)))
		return;
	for (i = 0; i < VTPU_ERR_MSG_MAX; i += 4) {
		w = vtpu_rd(vdev, VTPU_A_ERR_MSG + i);
		for (b = 0; b < 4; b++) {
			char c = (char)(w >> (8 * b));

			if (!c)
				goto out;
			/* printable ASCII only: it goes to logs and users */
			e->msg[i + b] = (c >= 0x20 && c < 0x7f) ? c : '?';
		}
	}
out:
	e->msg[VTPU_ERR_MSG_MAX - 1] = 0;
}

/* One line: what failed, where, and the device's own explanation. */
int vtpu_format_error(const struct vtpu_err_rec *e, char *buf, size_t len)
{
	const char *space = vtpu_espace_name(e->space);
	int n;

	if (e->index == VTPU_ERR_NONE32)
		n = scnprintf(buf, len, "ring error: ");
	else
		n = scnprintf(buf, len, "%s failed: ", vtpu_op_name(e->opcode));
	if (e->code == VTPU_E_FAULT) {
		if (e->tc != VTPU_ERR_NONE32)
			n += scnprintf(buf + n, len - n,
				       "TC %u faulted at pc 0x%08x: ", e->tc,
				       e->pc);
		n += scnprintf(buf + n, len - n, "%s", vtpu_fault_name(e->kind));
	} else {
		n += scnprintf(buf + n, len - n, "%s", vtpu_err_name(e->code));
		if (e->code == VTPU_E_EXIT_CODE && e->tc != VTPU_ERR_NONE32)
			n += scnprintf(buf + n, len - n, ": TC %u exited with %d",
				       e->tc, (s32)e->value);
	}
	if (space) {
		n += scnprintf(buf + n, len - n, ", %s address 0x%llx", space,
			       e->addr);
		if (e->len)
			n += scnprintf(buf + n, len - n, " (%llu bytes)", e->len);
	}
	if (e->msg[0])
		n += scnprintf(buf + n, len - n, " [device: %s]", e->msg);
	return n;
}

irqreturn_t vtpu_irq(int irq, void *arg)
{
	struct vtpu_device *vdev = arg;
	u32 st = vtpu_rd(vdev, VTPU_A_INT_STATUS);

	/* all ones: the device is gone (surprise removal) */
	if (st == ~0u || !(st & VTPU_INT_USED))
		return IRQ_NONE;
	vtpu_wr(vdev, VTPU_A_INT_STATUS, st & VTPU_INT_USED);
	WRITE_ONCE(vdev->count.irqs, vdev->count.irqs + 1);
	return IRQ_WAKE_THREAD;
}

irqreturn_t vtpu_irq_thread(int irq, void *arg)
{
	vtpu_jobs_process(arg);
	return IRQ_HANDLED;
}
