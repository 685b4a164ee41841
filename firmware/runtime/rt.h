/*
 * rt.h - state shared by the files of the TC runtime (not for kernels).
 *
 * The runtime runs one launch per program run: main.c reads the launch
 * descriptor, setup.c validates it against the kernel table and lays out
 * VMEM/SMEM/semaphores, pipeline.c walks this TC's grid points moving
 * blocks around the body, copy.c serves the body's async copies, and
 * fail.c ends a launch (error line, status record, exit code).
 */
#ifndef VTPU_RT_H
#define VTPU_RT_H

#include <stdint.h>

#include <vtpu/kernel.h>

/* Local buffers are aligned to a VMEM row (one sublane of 128 words). */
#define RT_VMEM_ALIGN 512u
#define RT_SMEM_ALIGN 8u

/* Semaphore the runtime uses for its own one-off copies (descriptor,
 * scalars, status) before the kernel's semaphore count is known. */
#define RT_SEM_BOOT 0u

/*
 * One of the two buffers of a blocked operand, with the block it holds
 * (or is about to hold): index, byte offset of its origin in the array
 * (distinct blocks have distinct offsets, so "did the block change" is one
 * comparison; a window of element dimensions that starts before the array
 * gets a unique key with bit 63 set instead), whether it sticks out of the
 * array, and the copies of a complete block into and out of it, prepared so
 * that a copy only patches the HBM address.  `pend` is what its semaphore will
 * be signalled by for copies started and not yet waited for.
 */
typedef struct rt_buf {
    vtpu_dma_desc din;  /* HBM -> buffer */
    vtpu_dma_desc dout; /* buffer -> HBM */
    uint64_t off;
    int32_t bidx[4];
    uint32_t addr; /* TC address of the buffer */
    uint32_t pend;
    uint32_t sem;
    uint32_t edge;
} rt_buf;

/*
 * The block of one grid step in the deep pipeline (pipeline.c, operands
 * with other than two buffers): its index, offset and edge flag in
 * `blk` (whose copy templates are unused), the ring buffer it goes to,
 * whether it differs from the step before's, and whether its buffer has
 * been given it (copy started for an input).
 */
typedef struct rt_slot {
    rt_buf blk;
    uint8_t buf, fresh, issued, pad;
} rt_slot;

/* Grid points the deep pipeline looks ahead: steps s .. s + 3. */
#define RT_WINDOW 4u

/*
 * A blocked operand (memory space VMEM or SMEM): everything the grid loop
 * needs, hot fields first.  The body uses buffer `cur`; the next grid
 * point's block goes to `nxt` and, when it differs, the two swap.
 */
typedef struct rt_op {
    rt_buf *cur, *nxt;
    vtpu_index_map_fn map; /* NULL: the block is always (0, ..., 0) */
    uint64_t hbm;          /* the array */
    uint32_t bytes;        /* of a complete block */
    uint8_t changed;       /* the next grid point uses another block */
    uint8_t is_in, is_out; /* role bits */
    uint8_t rank;
    uint8_t big;           /* 4 GiB array or element dims: slow locate */
    uint8_t index;         /* operand index */
    uint8_t local_space;   /* VTPU_DMA_VMEM or VTPU_DMA_SMEM */
    uint32_t nfull[4];     /* complete blocks per dimension */
    uint32_t bstride32[4]; /* bytes from block i to block i+1 (not big) */
    uint32_t copies_in;    /* complete-block copies started (status) */
    uint32_t copies_out;
    vtpu_operand_info *info; /* public geometry */
    uint32_t nblk[4];    /* blocks per dimension (the last may be partial) */
    uint64_t bstride[4]; /* bytes from block i to block i+1, per dim */
    uint64_t hstride[4]; /* bytes from element i to i+1, per dim */
    uint32_t zero;       /* a zeroed buffer as large as a block, or 0 */
    uint8_t elem;        /* bit d: dimension d is element-indexed */
    uint64_t kstride[4]; /* element operands: strides of the keys that
                            tell windows starting before the array apart */
    uint8_t padded;      /* bit d: dimension d has padding (ext) */
    int32_t plo[4];      /* padding before, per dimension (pl.Element) */
    uint32_t phi[4];     /* ... after */
    uint8_t nbuf;        /* block buffers (Buffered(n)), 1..4 */
    uint8_t ring;        /* deep pipeline: next buffer to hand out */
    uint8_t cur_i;       /* deep pipeline: the current block's buffer */
    rt_buf *bufs;        /* nbuf buffers: b, or from the heap when nbuf > 2 */
    rt_slot *q;          /* deep pipeline: RT_WINDOW slots, step & 3 */
    rt_buf b[2];
} rt_op;

typedef struct rt_state {
    vtpu_launch launch; /* copy of the descriptor, in SMEM */
    vtpu_launch_status status;
    vtpu_kctx ctx; /* what the body sees */
    vtpu_operand_info info[VTPU_MAX_OPERANDS];
    rt_op *op; /* blocked operands only, nblocked (SMEM heap) */
    uint32_t nblocked;
    vtpu_body_fn body;
    uint64_t desc_hbm; /* where the descriptor came from */
    uint32_t tc, ntcs;
    uint32_t steps;   /* grid points this TC runs */
    int32_t start[4]; /* this TC's first grid point */
    int32_t next[4];  /* the grid point the index maps run for (mailbox) */
    uint32_t grid_rank;
    uint32_t rt_sem;      /* the runtime's semaphore for one-off copies */
    uint32_t vmem_top;    /* bytes of VMEM allocated (from its base) */
    uintptr_t smem_top;   /* next free byte of the SMEM heap */
    uintptr_t tail_top;   /* next free byte after the stack (SMEM tail) */
    uintptr_t tail_end;   /* end of the SMEM tail: the scalars start */
    uint8_t status_ok;    /* the descriptor's status fields can be used */
    uint8_t shared_error; /* an error every TC finds the same way */
    uint8_t shuffle;      /* VTPU_LAUNCH_F_SHUFFLE (checks.c) */
    uint8_t revisit;      /* VTPU_LAUNCH_F_REVISIT (checks.c) */
    uint8_t step_sync;    /* VTPU_MB_HOST_STEP_SYNC: mark step starts */
    uint8_t deep;         /* an operand has other than 2 buffers */
    uint32_t ahead;       /* deep pipeline: steps looked ahead, 1..3 */
    int32_t window[RT_WINDOW][4]; /* deep pipeline: grid points, step & 3 */
    const vtpu_operand_pad *pads; /* the kernel's padding, NULL = none */
    vtpu_region *regions; /* the buffers the body may touch (SMEM heap) */
    uint32_t nregions;
    uint32_t inflight; /* input copies started for the next step */
    uint32_t sem_top;  /* semaphores in use: the next free one */
    struct rt_state *parent, *child; /* nested pipelines (nested.c) */
    uint32_t depth;                  /* 0 = the launch's; parent's + 1 */
} rt_state;

extern rt_state vtpu_rt;
/* main.c: this TC's progress mailbox (vtpu-launch.h), at the start of
 * SMEM; volatile so that each update is a store a host can see. */
extern volatile vtpu_mailbox vtpu_rt_mailbox;

/* main.c */
void rt_dma_wait_copy(vtpu_dma_ref dst, vtpu_dma_ref src, uint32_t bytes,
                      uint32_t sem);

/* setup.c: validate the launch and lay out memories; fails on error. */
void rt_setup(rt_state *st);
/* setup.c: a nested pipeline's operands and grid (nested.c), laid out
 * above the outer pipeline's memories; fails like a launch. */
void rt_setup_nested(rt_state *sub, const vtpu_kernel_entry *e, unsigned nops);
/* setup.c: this TC's share of the grid (st->start, st->steps). */
void rt_split(rt_state *st);
/* coremap.c: a per-core kernel runs one step on every TC (after
 * rt_split()); fails a launch with a grid or a blocked operand. */
void rt_core_map(rt_state *st);
/* setup.c: `bytes` of the SMEM heap (fails the launch when full). */
uintptr_t rt_smem_alloc(rt_state *st, uint32_t bytes);

/* checks.c: the launch's debugging checks, after rt_split(); they cost
 * the grid loop one predictable branch each when off. */
void rt_checks_setup(rt_state *st);
/* checks.c: grid point of step s in the shuffled order. */
void rt_shuffle_point(rt_state *st, uint32_t s, int32_t *out);
/* checks.c: output operand o leaves block c (after grid point `from`)
 * for block n (at grid point `to`): fails if n was written back before. */
void rt_revisit(rt_state *st, rt_op *o, const rt_buf *c, const rt_buf *n,
                const int32_t *from, const int32_t *to);

/* pipeline.c: run the body over this TC's grid points. */
void rt_pipeline(rt_state *st);
/* pipeline.c: wait for every block copy still in flight. */
void rt_drain(rt_state *st);

/* fail.c: end the launch with `code` (VTPU_LERR_*) and a message. */
void rt_fail(rt_state *st, uint32_t code, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));
/* fail.c: write this TC's status record (if the launch asked for one). */
void rt_write_status(rt_state *st, uint32_t code, const char *msg);
/* fail.c: "(1, 0, 3)" for n indices into buf; returns buf. */
const char *rt_fmt_idx(char *buf, unsigned len, const int32_t *v, unsigned n);
/* fail.c: "f32", "bf16", ... */
const char *rt_dtype_name(uint32_t dt);

/* firmware/bare/syscalls.c: run arguments a2..a5. */
unsigned long vtpu_entry_arg(unsigned i);
/* firmware/bare/syscalls.c: sp at entry, the end of SMEM. */
unsigned long vtpu_smem_top(void);

#endif /* VTPU_RT_H */
