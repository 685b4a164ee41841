/*
 * vtpu-launch.h - the kernel launch ABI: what a host puts in HBM to launch
 * a grid, what a kernel module declares about its kernels, and what the TC
 * runtime reports back.
 *
 * Shared by the TC firmware (firmware/runtime, riscv64-unknown-elf-gcc),
 * the host runtime (driver/) and the tests, so it is freestanding: it
 * includes only <stdint.h>, every field has a fixed width, and the layout
 * (little-endian, no implicit padding) is pinned by static asserts.
 * docs/kernels.md, "Launch ABI", documents every field.
 *
 * A launch:
 *   1. the host writes a vtpu_launch (below) into HBM, at an 8-aligned
 *      offset, plus the operand arrays it names;
 *   2. it runs the kernel module's ELF on the TCs with run argument 0 (a2)
 *      = the low 32 bits of that offset and argument 1 (a3) = the high 32
 *      bits (a0 = TC index, a1 = TCs started, as for every program);
 *   3. every TC exits with 0, or with a VTPU_LERR_* code after printing a
 *      one-line reason on stderr; if the launch asks for it, each TC also
 *      writes a vtpu_launch_status record into HBM.
 */
#ifndef VTPU_LAUNCH_H
#define VTPU_LAUNCH_H

#include <stdint.h>

/* ------------------------------------------------------------------ */
/* Limits and enumerations                                              */
/* ------------------------------------------------------------------ */

#define VTPU_MAX_GRID_DIMS 4    /* grid rank */
#define VTPU_MAX_OPERANDS 16    /* operands of one kernel */
#define VTPU_MAX_BUFFERS 4      /* block buffers of one operand (Buffered) */
#define VTPU_MAX_RANK 4         /* rank of an operand array / block */
#define VTPU_INLINE_SCALARS 16  /* scalar-prefetch values carried inline */
#define VTPU_KERNEL_NAME_LEN 32 /* bytes, including the terminating NUL */

/* Element types of operand arrays.  0 in a kernel's spec means "any". */
enum vtpu_dtype {
    VTPU_DT_ANY = 0,
    VTPU_F32 = 1,
    VTPU_I32 = 2,
    VTPU_U32 = 3,
    VTPU_BF16 = 4,
    VTPU_I16 = 5,
    VTPU_I8 = 6,
    VTPU_U8 = 7,
    VTPU_DT__COUNT
};

/* Bytes per element; 0 for an invalid type. */
static inline uint32_t vtpu_dtype_size(uint32_t dt)
{
    static const uint8_t sz[VTPU_DT__COUNT] = {0, 4, 4, 4, 2, 2, 1, 1};
    return dt < VTPU_DT__COUNT ? sz[dt] : 0;
}

/* Grid dimension semantics (Pallas' "parallel" / "arbitrary"). */
enum vtpu_dim_semantics {
    VTPU_ARBITRARY = 0, /* sequential: steps may depend on earlier ones */
    VTPU_PARALLEL = 1,  /* independent: may be split across TCs */
};

/* Where an operand's blocks live while the body runs. */
enum vtpu_mem_space {
    VTPU_MS_VMEM = 0, /* blocks DMA'd into VMEM (the default) */
    VTPU_MS_SMEM = 1, /* blocks DMA'd into SMEM (scalar loads) */
    VTPU_MS_ANY = 2,  /* stays in HBM; the body copies what it needs */
};

/* What the pipeline does with an operand's blocks. */
enum vtpu_role {
    VTPU_ROLE_NONE = 0,  /* ends a kernel's operand list */
    VTPU_ROLE_IN = 1,    /* read: copied HBM -> local before use */
    VTPU_ROLE_OUT = 2,   /* written: copied local -> HBM after use */
    VTPU_ROLE_INOUT = 3, /* both (an aliased input/output) */
};

/* ------------------------------------------------------------------ */
/* The launch descriptor (host -> TCs, in HBM)                          */
/* ------------------------------------------------------------------ */

#define VTPU_LAUNCH_MAGIC 0x4c555456u /* "VTUL" in memory order */
#define VTPU_LAUNCH_VERSION 2 /* 2: 512-byte status records, 96-byte mailbox */

/* vtpu_launch.flags */
#define VTPU_LAUNCH_F_STATUS 0x1u /* write status records at status_hbm */
/* Debugging checks of the TC runtime (docs/debugging.md): */
#define VTPU_LAUNCH_F_SHUFFLE 0x2u /* walk each TC's points of the parallel
                                      dimensions in a seeded random order */
#define VTPU_LAUNCH_F_REVISIT 0x4u /* fail when an output block that was
                                      written back comes back later */
#define VTPU_LAUNCH_SEED_SHIFT 16  /* flags bits 31:16: the shuffle seed */
#define VTPU_LAUNCH_F_KNOWN                                                  \
    (VTPU_LAUNCH_F_STATUS | VTPU_LAUNCH_F_SHUFFLE | VTPU_LAUNCH_F_REVISIT |  \
     0xffff0000u)

/*
 * vtpu_launch.grid[d]: an extent, or (top bit set) the index of the
 * scalar-prefetch value that gives it at launch (Pallas: a grid given by
 * scalars).  Static extents are therefore below 2^31.  The TC runtime
 * (and the host runtime, before it runs anything) reads the value, which
 * must be 0 .. 2^31 - 1; 0 means no grid points (nothing runs, outputs
 * stay as they are); the product of the extents stays below 2^32.
 */
#define VTPU_GRID_SCALAR_BIT 0x80000000u
#define VTPU_GRID_SCALAR(i) (VTPU_GRID_SCALAR_BIT | (uint32_t)(i))
#define VTPU_GRID_IS_SCALAR(g) (((g) & VTPU_GRID_SCALAR_BIT) != 0)
#define VTPU_GRID_SCALAR_INDEX(g) ((g) & ~VTPU_GRID_SCALAR_BIT)

/* Why a grid extent cannot be resolved (vtpu_grid_extent). */
enum vtpu_grid_err {
    VTPU_GRID_OK = 0,
    VTPU_GRID_ZERO = 1,     /* a static extent of 0 */
    VTPU_GRID_NO_SCALAR = 2, /* names a scalar past num_scalars */
    VTPU_GRID_NEGATIVE = 3, /* the scalar is negative */
};

/* The extent of grid dimension value g (VTPU_GRID_SCALAR or a number)
 * given the launch's scalars; one definition for the TC runtime and the
 * host runtime, so both refuse the same launches. */
static inline enum vtpu_grid_err vtpu_grid_extent(uint32_t g,
                                                  const int32_t *scalars,
                                                  uint32_t num_scalars,
                                                  uint32_t *out)
{
    if (!VTPU_GRID_IS_SCALAR(g)) {
        *out = g;
        return g ? VTPU_GRID_OK : VTPU_GRID_ZERO;
    }
    uint32_t i = VTPU_GRID_SCALAR_INDEX(g);
    if (i >= num_scalars)
        return VTPU_GRID_NO_SCALAR;
    if (scalars[i] < 0)
        return VTPU_GRID_NEGATIVE;
    *out = (uint32_t)scalars[i];
    return VTPU_GRID_OK;
}

/* One operand array in HBM: dense, row-major (C order). */
typedef struct vtpu_launch_operand {
    uint64_t hbm;      /*  0: HBM byte offset of element (0, ..., 0) */
    uint32_t shape[4]; /*  8: dims, outermost first; entries >= rank: 0 */
    uint8_t dtype;     /* 24: enum vtpu_dtype */
    uint8_t rank;      /* 25: 1..4 */
    uint16_t flags;    /* 26: reserved, 0 */
    uint32_t reserved; /* 28: reserved, 0 */
} vtpu_launch_operand;

typedef struct vtpu_launch {
    uint32_t magic;       /*   0: VTPU_LAUNCH_MAGIC */
    uint16_t version;     /*   4: VTPU_LAUNCH_VERSION */
    uint16_t size;        /*   6: sizeof(vtpu_launch) */
    uint32_t kernel;      /*   8: index into the module's kernel table */
    uint32_t flags;       /*  12: VTPU_LAUNCH_F_* */
    uint8_t grid_rank;    /*  16: 0..4 (0: one step) */
    uint8_t num_operands; /*  17: must equal the kernel's */
    uint8_t semantics[4]; /*  18: enum vtpu_dim_semantics, per grid dim */
    uint16_t num_sems;    /*  22: semaphores per TC; 0 = unchecked */
    uint32_t grid[4];     /*  24: grid extents, >= 1, or VTPU_GRID_SCALAR(i);
                                  entries >= rank: 0 */
    uint32_t num_scalars; /*  40: scalar-prefetch values (int32) */
    uint32_t vmem_size;   /*  44: VMEM bytes per TC; 0 = unchecked */
    uint64_t scalars_hbm; /*  48: where they are if > 16, else 0 */
    uint64_t status_hbm;  /*  56: status records (VTPU_LAUNCH_F_STATUS) */
    int32_t scalars[VTPU_INLINE_SCALARS];            /*  64 */
    vtpu_launch_operand operands[VTPU_MAX_OPERANDS]; /* 128 */
} vtpu_launch;                                       /* 640 bytes */

/* ------------------------------------------------------------------ */
/* Status record (TC -> host, in HBM, one per TC)                       */
/* ------------------------------------------------------------------ */

#define VTPU_STATUS_MAGIC 0x54535456u /* "VTST" */

/* TC t writes its record at status_hbm + t * sizeof(vtpu_launch_status). */
typedef struct vtpu_launch_status {
    uint32_t magic;      /*   0: VTPU_STATUS_MAGIC */
    uint32_t code;       /*   4: 0 or VTPU_LERR_* (= the TC's exit code) */
    uint32_t tc;         /*   8: this TC */
    uint32_t steps;      /*  12: grid steps this TC ran the body for */
    uint32_t blocks_in;  /*  16: block copies HBM -> local */
    uint32_t blocks_out; /*  20: block copies local -> HBM */
    uint64_t bytes_in;   /*  24: bytes of those copies (padding excluded) */
    uint64_t bytes_out;  /*  32 */
    uint64_t loop_insns; /*  40: instructions in the grid loop (body too) */
    char message[456];   /*  48: the error line, NUL-terminated; "" if ok.
                                 Every line the runtime makes fits; a
                                 vtpu_fail() text too long for it ends in
                                 "..." here (the TC's stderr has it all) */
    uint32_t max_prefetch; /* 504: most block copies in (HBM -> local) for
                                   later steps in flight when a body
                                   started: at most the sum of (buffers
                                   - 1) over the inputs */
    uint32_t reserved;   /* 508: 0 */
} vtpu_launch_status;    /* 512 bytes */

/* Exit codes / status codes of the TC runtime.  A kernel's own exit codes
 * should stay below VTPU_LERR_BASE. */
enum vtpu_launch_err {
    VTPU_LAUNCH_OK = 0,
    VTPU_LERR_BASE = 64,
    VTPU_LERR_MAGIC = 64,       /* descriptor magic, version or size wrong */
    VTPU_LERR_FLAGS = 65,       /* reserved field or flag not zero */
    VTPU_LERR_KERNEL = 66,      /* kernel index outside the module's table */
    VTPU_LERR_TABLE = 67,       /* the module's kernel table is malformed */
    VTPU_LERR_GRID = 68,        /* grid rank > 4, zero extent, > 2^32 steps */
    VTPU_LERR_SEMANTICS = 69,   /* dimension semantics not 0 or 1 */
    VTPU_LERR_OPERANDS = 70,    /* operand count differs from the kernel's */
    VTPU_LERR_DTYPE = 71,       /* unknown dtype, or not the kernel's */
    VTPU_LERR_RANK = 72,        /* rank 0 or > 4, or not the block's rank */
    VTPU_LERR_SHAPE = 73,       /* zero dimension, array too large */
    VTPU_LERR_BLOCK = 74,       /* block shape unusable for this array */
    VTPU_LERR_SCALARS = 75,     /* too few or too many scalar values */
    VTPU_LERR_VMEM = 76,        /* blocks + scratch do not fit in VMEM */
    VTPU_LERR_SMEM = 77,        /* ... in the runtime's SMEM heap */
    VTPU_LERR_SEMS = 78,        /* not enough semaphores */
    VTPU_LERR_INDEX = 79,       /* an index map returned a block outside */
    VTPU_LERR_COPY = 80,        /* an async copy outside its operand */
    VTPU_LERR_KERNEL_FAIL = 81, /* the body called vtpu_fail() */
    VTPU_LERR_REVISIT = 82,     /* an output block came back (F_REVISIT) */
    VTPU_LERR__END
};

/* Short name of a VTPU_LERR_* code, "unknown" for anything else. */
static inline const char *vtpu_launch_err_name(uint32_t code)
{
    static const char *const names[] = {
        "bad descriptor header",
        "reserved field not zero",
        "unknown kernel",
        "malformed kernel table",
        "bad grid",
        "bad dimension semantics",
        "operand count mismatch",
        "bad dtype",
        "bad rank",
        "bad shape",
        "bad block shape",
        "bad scalar prefetch",
        "VMEM overflow",
        "SMEM overflow",
        "not enough semaphores",
        "block index out of range",
        "async copy out of range",
        "kernel failed",
        "output block revisited",
    };
    _Static_assert(sizeof(names) / sizeof(names[0]) ==
                       VTPU_LERR__END - VTPU_LERR_BASE,
                   "one name per error code");
    if (code == VTPU_LAUNCH_OK)
        return "ok";
    if (code >= VTPU_LERR_BASE && code < VTPU_LERR__END)
        return names[code - VTPU_LERR_BASE];
    return "unknown";
}

/* ------------------------------------------------------------------ */
/* The kernel table (in the module ELF, section .vtpu.kernels)          */
/* ------------------------------------------------------------------ */

/*
 * A kernel module is an RV32 ELF linked with firmware/vtpu.ld and the TC
 * runtime.  Each kernel is one vtpu_kernel_entry in the section
 * ".vtpu.kernels" (in SMEM; symbols __vtpu_kernels_start/_end bound it,
 * and each entry is also the global symbol vtpu_kernel_<name>).  The
 * launch's `kernel` field is an entry's index in that section, so a host
 * finds a kernel by name by reading the section (entries are
 * sizeof(vtpu_kernel_entry) apart).  Code addresses are TC addresses
 * (IMEM), meaningful only to the TC.
 */
#define VTPU_KERNEL_MAGIC 0x4b4e5456u /* "VTNK" */
#define VTPU_KERNEL_ABI 1

/* Block dimension meaning "the whole array extent". */
#define VTPU_FULL 0u

/*
 * What a kernel declares about an operand's array.  shape_like and
 * dtype_like say that the array has the shape (dtype) of another operand
 * of the same launch: VTPU_LIKE(i) = operand i, 0 = not declared.  Hosts
 * use them to size outputs (vtpu-run); the TC runtime checks every
 * launch against them (VTPU_LERR_SHAPE / VTPU_LERR_DTYPE).
 */
#define VTPU_LIKE(i) ((uint8_t)((i) + 1))
#define VTPU_LIKE_NONE 0

/*
 * vtpu_operand_spec.block[d] with this bit set (pl.Element): the index map
 * gives dimension d as the element offset of the block's first element,
 * not as a block index, so blocks may overlap (halos) or start anywhere.
 * The offset may be negative or run past the array, as long as the block
 * overlaps it: elements outside the array read as zeros (inputs) and are
 * not written (outputs).  The low bits are the block's extent (>= 1).
 */
#define VTPU_BLOCK_ELEMENT 0x80000000u

typedef struct vtpu_operand_spec {
    uint8_t role;       /*  0: enum vtpu_role; 0 ends the list */
    uint8_t space;      /*  1: enum vtpu_mem_space */
    uint8_t dtype;      /*  2: enum vtpu_dtype; 0 = any */
    uint8_t rank;       /*  3: block rank = array rank; 0 = any (ANY only) */
    uint32_t block[4];  /*  4: block shape in elements; VTPU_FULL;
                                | VTPU_BLOCK_ELEMENT: element-indexed */
    uint32_t index_map; /* 20: TC address of the index map, 0 = zeros */
    uint8_t shape_like; /* 24: VTPU_LIKE(i): the shape of operand i; 0 */
    uint8_t dtype_like; /* 25: VTPU_LIKE(i): the dtype of operand i; 0 */
    uint8_t buffers;    /* 26: block buffers, 1..VTPU_MAX_BUFFERS; 0 = 2
                                (pl.Buffered(n); VMEM/SMEM only) */
    uint8_t reserved;   /* 27: 0 */
} vtpu_operand_spec;    /* 28 bytes */

typedef struct vtpu_kernel_entry {
    uint32_t magic;                  /*  0: VTPU_KERNEL_MAGIC */
    uint16_t abi;                    /*  4: VTPU_KERNEL_ABI */
    uint16_t size;                   /*  6: sizeof(vtpu_kernel_entry) */
    char name[VTPU_KERNEL_NAME_LEN]; /* 8: NUL-terminated */
    uint32_t body;                   /* 40: TC address of the body */
    uint32_t scratch_vmem;           /* 44: bytes of scratch VMEM */
    uint32_t scratch_smem;           /* 48: bytes of scratch SMEM */
    uint16_t num_sems;               /* 52: semaphores for the body (0..n-1) */
    uint16_t num_scalars;            /* 54: minimum scalar-prefetch values */
    vtpu_operand_spec operands[VTPU_MAX_OPERANDS]; /* 56 */
    uint32_t flags;                                /* 504: VTPU_KERNEL_F_* */
    uint32_t ext; /* 508: TC address (SMEM) of the kernel's
                          vtpu_kernel_ext, 0 = none (was reserved, 0) */
} vtpu_kernel_entry;                               /* 512 bytes */

/*
 * vtpu_kernel_entry.flags.  CORE_MAP: a per-core kernel (Pallas'
 * pl.core_map over a TensorCore mesh): no grid pipeline; every TC of
 * the launch calls the body exactly once, with k->tc its core id and
 * k->num_tcs the mesh size.  Operands must be memory space ANY and the
 * grid rank 0; TCs meet in the body with semaphores (sem.signal.tc) or
 * the barrier and share data through HBM or VMEM_SHARED
 * (docs/kernels.md, "Per-core kernels").
 */
#define VTPU_KERNEL_F_CORE_MAP 0x1u

/*
 * The kernel extension record: what a kernel declares beyond the 512
 * bytes of its entry, reached through vtpu_kernel_entry.ext (a word that
 * was reserved and always 0, so modules built before it declare no
 * extension and the entry's abi stays 1).  The record has its own magic,
 * version and size, so it can grow without touching the entry; a
 * runtime refuses a record it does not know (VTPU_LERR_TABLE) rather
 * than ignore what it declares.  It lives in the module's SMEM image
 * (read-only data), within the image.
 *
 * Padding of element-indexed dimensions (pl.Element(n, padding=(lo, hi))):
 * pad[i].lo[d] / pad[i].hi[d] pad dimension d of operand i's array
 * virtually by lo elements before and hi after; the index map returns
 * offsets into the padded array, 0 .. lo + shape + hi - n, and the
 * window must still overlap the array.  Padding reads as zeros and is
 * never written.  Only element-indexed dimensions (VTPU_BLOCK_ELEMENT)
 * of blocked operands may have padding; every other entry is 0.
 * docs/kernels.md, "Element-indexed dimensions".
 */
#define VTPU_KEXT_MAGIC 0x584b5456u /* "VTKX" */
#define VTPU_KEXT_VERSION 1
#define VTPU_KEXT_F_PAD 0x1u /* pad[] is valid */
#define VTPU_KEXT_F_KNOWN VTPU_KEXT_F_PAD
#define VTPU_MAX_PAD 0x40000000u /* lo, hi below 2^30 */

typedef struct vtpu_operand_pad {
    uint32_t lo[4]; /*  0: elements before, per dimension */
    uint32_t hi[4]; /* 16: elements after */
} vtpu_operand_pad; /* 32 bytes */

typedef struct vtpu_kernel_ext {
    uint32_t magic;    /*  0: VTPU_KEXT_MAGIC */
    uint16_t version;  /*  4: VTPU_KEXT_VERSION */
    uint16_t size;     /*  6: sizeof(vtpu_kernel_ext) */
    uint32_t flags;    /*  8: VTPU_KEXT_F_* */
    uint32_t reserved; /* 12: 0 */
    vtpu_operand_pad pad[VTPU_MAX_OPERANDS]; /* 16 */
} vtpu_kernel_ext;     /* 528 bytes */

/* ------------------------------------------------------------------ */
/* The progress mailbox (TC -> debuggers and the host, in SMEM)         */
/* ------------------------------------------------------------------ */

/*
 * Every TC running the TC runtime keeps a vtpu_mailbox at the start of
 * its SMEM (the linker script puts section ".vtpu.mailbox" first), so a
 * host that can read SMEM (the device's `info vtpu`, a debugger) sees what
 * the TC is doing without the TC doing anything per grid step: the
 * runtime fills the fixed fields at each phase change and points
 * `point_addr` / `step_addr` at the grid point and step counter its grid
 * loop keeps anyway.  Programs without the runtime have no mailbox; the
 * magic tells them apart.  Reads while the TC runs may be torn (a grid
 * point half updated): good for a progress display, nothing more.
 */
#define VTPU_MAILBOX_ADDR 0x10000000u  /* VTPU_SMEM_BASE */
#define VTPU_MAILBOX_MAGIC 0x424d5456u /* "VTMB" */

enum vtpu_mailbox_phase {
    VTPU_MB_START = 0, /* started, descriptor not read yet */
    VTPU_MB_SETUP = 1, /* checking the descriptor, laying out memories */
    VTPU_MB_GRID = 2,  /* walking its grid points */
    VTPU_MB_DONE = 3,  /* finished its grid points */
    VTPU_MB_FAILED = 4 /* ended the launch with a VTPU_LERR_* code */
};

/* vtpu_mailbox.rt_flags: what the runtime publishes beyond the base. */
#define VTPU_MB_RT_REGIONS 0x1u /* regions_addr/num_regions are valid */
/* vtpu_mailbox.host_flags: what a host (the engine) asks of the runtime;
 * written into SMEM after the TC's reset, before its first instruction. */
#define VTPU_MB_HOST_STEP_SYNC 0x1u /* mark each grid step's start with a
                                       sem.read, so a trace sees it */

typedef struct vtpu_mailbox {
    uint32_t magic;      /*  0: VTPU_MAILBOX_MAGIC */
    uint32_t phase;      /*  4: enum vtpu_mailbox_phase */
    uint32_t kernel;     /*  8: kernel index; UINT32_MAX before SETUP */
    uint32_t code;       /* 12: VTPU_LERR_* once FAILED, else 0 */
    uint32_t point_addr; /* 16: SMEM address of the current grid point,
                                int32[4]; 0 before GRID */
    uint32_t step_addr;  /* 20: SMEM address of the step (u32, 0-based);
                                it changes when a step begins, before the
                                step waits for its blocks */
    uint32_t num_steps;  /* 24: grid points this TC runs */
    uint8_t grid_rank;   /* 28 */
    uint8_t rt_flags;    /* 29: VTPU_MB_RT_* */
    uint8_t host_flags;  /* 30: VTPU_MB_HOST_* */
    uint8_t size8;       /* 31: sizeof(vtpu_mailbox) / 8 (12); 0 from
                                runtimes whose mailbox was 64 bytes */
    char name[VTPU_KERNEL_NAME_LEN]; /* 32: the kernel's; "" before GRID */
    uint32_t regions_addr; /* 64: SMEM address of vtpu_region[num_regions] */
    uint32_t num_regions;  /* 68 */
    /* From GRID on, when size8 >= 12 (0 before): */
    uint32_t scalars_addr;   /* 72: SMEM address of the scalar-prefetch
                                    values (they end where SMEM ends) */
    uint32_t num_scalars;    /* 76: how many */
    uint32_t kernel_addr;    /* 80: SMEM address of the kernel's entry */
    uint32_t map_point_addr; /* 84: SMEM address of the grid point the
                                    index maps run for (int32[4]): the
                                    next one, while the body runs */
    uint32_t regions_gen;    /* 88: changes whenever the region table
                                    does (nested pipelines publish theirs
                                    on entry, the caller's on return):
                                    a reader that copied the table
                                    copies it again; 0 from runtimes
                                    whose table was fixed */
    uint32_t reserved2;      /* 92 */
} vtpu_mailbox;              /* 96 bytes */

/*
 * The buffers a launch's body may touch (VTPU_MB_RT_REGIONS): each
 * blocked operand's two block buffers and zero-padding block, the scratch
 * areas, and every operand's array in HBM.  Fixed from the GRID phase on,
 * except while a nested pipeline (vtpu_emit_pipeline) runs: then the
 * mailbox points at a table of the caller's regions followed by the
 * nested pipeline's buffers (`nest` = its depth), and regions_gen
 * changes on entry and on return.
 * A checker (the engine's bounds check, docs/debugging.md) reports a
 * vector access or DMA that starts in one region and leaves it.
 */
#define VTPU_REGION_HBM 1  /* = VTPU_DMA_HBM */
#define VTPU_REGION_VMEM 2 /* = VTPU_DMA_VMEM */
#define VTPU_REGION_SMEM 3 /* = VTPU_DMA_SMEM */
#define VTPU_REGION_SCRATCH 0xffu /* vtpu_region.operand of scratch */

enum vtpu_region_kind {
    VTPU_RK_BUF0 = 0,    /* an operand's block buffer 0 */
    VTPU_RK_BUF1 = 1,    /* ... buffer 1 */
    VTPU_RK_ZERO = 2,    /* ... zero padding of edge blocks (runtime's) */
    VTPU_RK_ARRAY = 3,   /* an operand's whole array in HBM */
    VTPU_RK_SCRATCH = 4, /* scratch_vmem / scratch_smem */
    VTPU_RK_BUF2 = 5,    /* an operand's block buffer 2 (Buffered(3+)) */
    VTPU_RK_BUF3 = 6,    /* ... buffer 3 (Buffered(4)) */
};

typedef struct vtpu_region {
    uint64_t addr;     /*  0: TC address (VMEM, SMEM) or HBM offset */
    uint64_t bytes;    /*  8: the extent (VMEM: up to the next buffer) */
    uint32_t used;     /* 16: bytes the block or scratch fills (<= bytes;
                                0 for arrays) */
    uint8_t space;     /* 20: VTPU_REGION_HBM / _VMEM / _SMEM */
    uint8_t operand;   /* 21: operand index, VTPU_REGION_SCRATCH */
    uint8_t kind;      /* 22: enum vtpu_region_kind */
    uint8_t rank;      /* 23: of shape; 0 for scratch */
    uint32_t shape[4]; /* 24: the block's (buffers) or array's shape */
    uint8_t itemsize;  /* 40: bytes per element; 0 for scratch */
    uint8_t nest;      /* 41: 0 = the launch's pipeline; n = the buffer
                                of a nested pipeline n deep, `operand`
                                then indexes its operands */
    uint8_t reserved[6]; /* 42 */
} vtpu_region;         /* 48 bytes, dense row-major elements */
/* The launch's regions, plus (1 + VTPU_MAX_BUFFERS) per operand of two
 * levels of nested pipelines; a runtime whose table would be larger
 * publishes the caller's table unchanged (its buffers go unchecked). */
#define VTPU_MAX_REGIONS                                                       \
    (2 + (2 + VTPU_MAX_BUFFERS) * VTPU_MAX_OPERANDS +                          \
     2 * (1 + VTPU_MAX_BUFFERS) * VTPU_MAX_OPERANDS)
#define VTPU_MAX_NEST 3 /* nested pipelines inside nested pipelines */

static inline const char *vtpu_mailbox_phase_name(uint32_t phase)
{
    static const char *const names[] = {"starting", "setting up", "running",
                                        "done", "failed"};
    return phase < sizeof(names) / sizeof(names[0]) ? names[phase] : "?";
}

/* ------------------------------------------------------------------ */
/* Layout checks                                                        */
/* ------------------------------------------------------------------ */

#define VTPU_LAUNCH_OFF_(t, f) __builtin_offsetof(t, f)
_Static_assert(sizeof(vtpu_launch_operand) == 32, "launch operand size");
_Static_assert(VTPU_LAUNCH_OFF_(vtpu_launch_operand, shape) == 8, "layout");
_Static_assert(VTPU_LAUNCH_OFF_(vtpu_launch_operand, dtype) == 24, "layout");
_Static_assert(sizeof(vtpu_launch) == 640, "launch descriptor size");
_Static_assert(VTPU_LAUNCH_OFF_(vtpu_launch, kernel) == 8, "layout");
_Static_assert(VTPU_LAUNCH_OFF_(vtpu_launch, grid_rank) == 16, "layout");
_Static_assert(VTPU_LAUNCH_OFF_(vtpu_launch, semantics) == 18, "layout");
_Static_assert(VTPU_LAUNCH_OFF_(vtpu_launch, num_sems) == 22, "layout");
_Static_assert(VTPU_LAUNCH_OFF_(vtpu_launch, grid) == 24, "layout");
_Static_assert(VTPU_LAUNCH_OFF_(vtpu_launch, num_scalars) == 40, "layout");
_Static_assert(VTPU_LAUNCH_OFF_(vtpu_launch, scalars_hbm) == 48, "layout");
_Static_assert(VTPU_LAUNCH_OFF_(vtpu_launch, status_hbm) == 56, "layout");
_Static_assert(VTPU_LAUNCH_OFF_(vtpu_launch, scalars) == 64, "layout");
_Static_assert(VTPU_LAUNCH_OFF_(vtpu_launch, operands) == 128, "layout");
_Static_assert(sizeof(vtpu_launch_status) == 512, "status record size");
_Static_assert(VTPU_LAUNCH_OFF_(vtpu_launch_status, bytes_in) == 24, "layout");
_Static_assert(VTPU_LAUNCH_OFF_(vtpu_launch_status, message) == 48, "layout");
_Static_assert(sizeof(vtpu_operand_spec) == 28, "operand spec size");
_Static_assert(VTPU_LAUNCH_OFF_(vtpu_operand_spec, index_map) == 20, "layout");
_Static_assert(VTPU_LAUNCH_OFF_(vtpu_operand_spec, shape_like) == 24, "layout");
_Static_assert(VTPU_LAUNCH_OFF_(vtpu_operand_spec, dtype_like) == 25, "layout");
_Static_assert(VTPU_LAUNCH_OFF_(vtpu_operand_spec, buffers) == 26, "layout");
_Static_assert(VTPU_LAUNCH_OFF_(vtpu_operand_spec, reserved) == 27, "layout");
_Static_assert(VTPU_LAUNCH_OFF_(vtpu_launch_status, max_prefetch) == 504,
               "layout");
_Static_assert(sizeof(vtpu_kernel_entry) == 512, "kernel entry size");
_Static_assert(VTPU_LAUNCH_OFF_(vtpu_kernel_entry, body) == 40, "layout");
_Static_assert(VTPU_LAUNCH_OFF_(vtpu_kernel_entry, operands) == 56, "layout");
_Static_assert(VTPU_LAUNCH_OFF_(vtpu_kernel_entry, ext) == 508, "layout");
_Static_assert(sizeof(vtpu_operand_pad) == 32, "pad size");
_Static_assert(sizeof(vtpu_kernel_ext) == 528, "kernel ext size");
_Static_assert(VTPU_LAUNCH_OFF_(vtpu_kernel_ext, pad) == 16, "layout");
_Static_assert(sizeof(vtpu_mailbox) == 96, "mailbox size");
_Static_assert(VTPU_LAUNCH_OFF_(vtpu_mailbox, rt_flags) == 29, "layout");
_Static_assert(VTPU_LAUNCH_OFF_(vtpu_mailbox, size8) == 31, "layout");
_Static_assert(VTPU_LAUNCH_OFF_(vtpu_mailbox, regions_addr) == 64, "layout");
_Static_assert(VTPU_LAUNCH_OFF_(vtpu_mailbox, scalars_addr) == 72, "layout");
_Static_assert(VTPU_LAUNCH_OFF_(vtpu_mailbox, num_scalars) == 76, "layout");
_Static_assert(VTPU_LAUNCH_OFF_(vtpu_mailbox, map_point_addr) == 84, "layout");
_Static_assert(sizeof(vtpu_region) == 48, "region size");
_Static_assert(VTPU_LAUNCH_OFF_(vtpu_region, itemsize) == 40, "layout");
_Static_assert(VTPU_LAUNCH_OFF_(vtpu_region, space) == 20, "layout");
_Static_assert(VTPU_LAUNCH_OFF_(vtpu_region, nest) == 41, "layout");
_Static_assert(VTPU_LAUNCH_OFF_(vtpu_mailbox, regions_gen) == 88, "layout");
_Static_assert(VTPU_LAUNCH_OFF_(vtpu_mailbox, point_addr) == 16, "layout");
_Static_assert(VTPU_LAUNCH_OFF_(vtpu_mailbox, grid_rank) == 28, "layout");
_Static_assert(VTPU_LAUNCH_OFF_(vtpu_mailbox, name) == 32, "layout");

#endif /* VTPU_LAUNCH_H */
