/*
 * vtpu-regs.h - the host interface of a vtpu chip: register map, register
 * fields, command formats, error codes.
 *
 * The ONE header shared by the device model (hw/vtpu/dev.c, the QEMU
 * device) and the driver (driver/, which also builds for the bare-metal
 * guest), so it is freestanding C99 that needs only <stdint.h>.
 * docs/registers.md documents every register, command and error code; keep
 * the two in step.
 *
 * Conventions:
 *   - BAR0 holds 32-bit registers; only aligned 32-bit (and 64-bit, split
 *     into LO then HI) accesses are defined.  64-bit values are LO/HI pairs.
 *   - BAR2 is the HBM aperture: a window of VTPU_R_APERTURE_SIZE bytes onto
 *     HBM starting at the HBM offset in APERTURE_BASE.
 *   - Commands and the launch result record in host memory are little
 *     endian; the device decodes them byte by byte.
 */
#ifndef VTPU_REGS_H
#define VTPU_REGS_H

#include <stdint.h>

#include "vtpu-faults.h"

/* The layout below is aligned by hand to show fields under registers. */
/* clang-format off */

/* ------------------------------------------------------------------ */
/* Declaring registers and fields                                       */
/* ------------------------------------------------------------------ */

/*
 * VTPU_REG(NAME, offset) declares VTPU_A_NAME (byte offset in BAR0) and
 * VTPU_R_NAME (index of the 32-bit register).  VTPU_FIELD(REG, F, shift,
 * len) declares VTPU_F_REG_F_SHIFT and _LEN; VTPU_FMASK/VTPU_FEX/VTPU_FDP
 * build masks, extract and deposit from those.  Enumerators keep the
 * names visible to a debugger; masks are computed, not enumerated, because
 * an enum constant must fit in an int and a 32-bit mask need not.
 */
#define VTPU_REG(name, off)                                                  \
    enum { VTPU_A_##name = (off), VTPU_R_##name = (off) / 4 };
#define VTPU_FIELD(reg, field, shift, len)                                   \
    enum {                                                                   \
        VTPU_F_##reg##_##field##_SHIFT = (shift),                            \
        VTPU_F_##reg##_##field##_LEN = (len)                                 \
    };

#define VTPU_FMASK(reg, field)                                               \
    ((UINT32_MAX >> (32 - VTPU_F_##reg##_##field##_LEN))                    \
     << VTPU_F_##reg##_##field##_SHIFT)
#define VTPU_FEX(val, reg, field)                                            \
    (((uint32_t)(val) & VTPU_FMASK(reg, field)) >>                           \
     VTPU_F_##reg##_##field##_SHIFT)
#define VTPU_FDP(val, reg, field, fv)                                        \
    (((uint32_t)(val) & ~VTPU_FMASK(reg, field)) |                           \
     (((uint32_t)(fv) << VTPU_F_##reg##_##field##_SHIFT) &                   \
      VTPU_FMASK(reg, field)))

/* ------------------------------------------------------------------ */
/* PCI identity (for the QEMU device; docs/registers.md explains)       */
/* ------------------------------------------------------------------ */

/* 1af4:10f0..10ff is QEMU's range for experimental devices that need no
 * registration (docs/specs/pci-ids.rst); an official id is needed before
 * this device leaves the lab. */
#define VTPU_PCI_VENDOR_ID 0x1af4
#define VTPU_PCI_DEVICE_ID 0x10f7
#define VTPU_PCI_CLASS 0x1200 /* processing accelerator */
#define VTPU_PCI_SUBSYS_VENDOR_ID 0x1af4
#define VTPU_PCI_SUBSYS_ID 0x1100
#define VTPU_BAR_REGS 0     /* BAR0: registers */
#define VTPU_BAR_APERTURE 2 /* BAR2: HBM aperture */
#define VTPU_BAR0_SIZE 0x1000u

/* ------------------------------------------------------------------ */
/* Identity and capabilities (read-only)                                */
/* ------------------------------------------------------------------ */

#define VTPU_ID_MAGIC 0x55505456u /* "VTPU" as little-endian bytes */
#define VTPU_VERSION_MAJOR 1      /* incompatible changes bump this */
#define VTPU_VERSION_MINOR 0      /* compatible additions bump this */

VTPU_REG(ID, 0x000)
VTPU_REG(VERSION, 0x004)
    VTPU_FIELD(VERSION, MINOR, 0, 16)
    VTPU_FIELD(VERSION, MAJOR, 16, 16)
VTPU_REG(CAPS, 0x008)
    VTPU_FIELD(CAPS, FENCE_WB, 0, 1)      /* fence write-back to host */
    VTPU_FIELD(CAPS, LAUNCH_RESULT, 1, 1) /* launch result record */
    VTPU_FIELD(CAPS, APERTURE, 2, 1)      /* BAR2 HBM aperture */
    VTPU_FIELD(CAPS, ERR_MSG, 3, 1)       /* ERR_MSG text */
    VTPU_FIELD(CAPS, OUT_COUNTERS, 4, 1)  /* OUT_BYTES/OUT_DROPPED */
    VTPU_FIELD(CAPS, LATENCY, 5, 1)       /* LAT_* probes */
VTPU_REG(GEN, 0x00c)         /* generation name, 4 ASCII bytes, NUL-padded */
VTPU_REG(NUM_TCS, 0x010)
VTPU_REG(NUM_SEMS, 0x014)    /* semaphores per TC */
VTPU_REG(HBM_SIZE_LO, 0x018)
VTPU_REG(HBM_SIZE_HI, 0x01c)
VTPU_REG(VMEM_SIZE, 0x020)   /* bytes per TC */
VTPU_REG(SMEM_SIZE, 0x024)
VTPU_REG(IMEM_SIZE, 0x028)
VTPU_REG(VREG_SHAPE, 0x02c)
    VTPU_FIELD(VREG_SHAPE, SUBLANES, 0, 8)
    VTPU_FIELD(VREG_SHAPE, LANES, 8, 16)
    VTPU_FIELD(VREG_SHAPE, BITS, 24, 8)
VTPU_REG(VREG_COUNT, 0x030)
    VTPU_FIELD(VREG_COUNT, VREGS, 0, 8)
    VTPU_FIELD(VREG_COUNT, MASKS, 8, 8)
VTPU_REG(MXU, 0x034)
    VTPU_FIELD(MXU, DIM, 0, 16)
    VTPU_FIELD(MXU, COUNT, 16, 8)
VTPU_REG(LIMITS, 0x038)
    VTPU_FIELD(LIMITS, PROG_SLOTS, 0, 8)
    VTPU_FIELD(LIMITS, RING_MAX_LOG2, 8, 8)
VTPU_REG(APERTURE_SIZE, 0x03c) /* bytes of BAR2, a power of two */

/* ------------------------------------------------------------------ */
/* Control and status                                                   */
/* ------------------------------------------------------------------ */

VTPU_REG(SCRATCH, 0x040)      /* read/write, no effect: for probing */
VTPU_REG(CONTROL, 0x044)
    VTPU_FIELD(CONTROL, ENABLE, 0, 1) /* 1: fetch and execute commands */
    VTPU_FIELD(CONTROL, RESET, 31, 1) /* write 1: soft reset; reads 0 */
VTPU_REG(STATUS, 0x048)
    VTPU_FIELD(STATUS, STATE, 0, 4)
VTPU_REG(ERR_ACK, 0x04c)      /* write-only: how to leave the ERROR state */
    VTPU_FIELD(ERR_ACK, ACTION, 0, 2)

/* STATUS.STATE */
enum {
    VTPU_STATE_DISABLED = 0,  /* CONTROL.ENABLE = 0 */
    VTPU_STATE_IDLE = 1,      /* enabled, HEAD == TAIL */
    VTPU_STATE_BUSY = 2,      /* enabled, commands pending or executing */
    VTPU_STATE_ERROR = 3,     /* stopped at a failed command: see ERR_* */
    VTPU_STATE_RESETTING = 4, /* soft reset waits for a command to stop */
};

/* ERR_ACK.ACTION */
enum {
    VTPU_ACK_SKIP = 1,  /* HEAD = failed command + 1, continue */
    VTPU_ACK_ABORT = 2, /* HEAD = TAIL: drop every pending command */
    VTPU_ACK_RETRY = 3, /* execute the failed command again */
};

/* ------------------------------------------------------------------ */
/* Command ring                                                         */
/* ------------------------------------------------------------------ */

#define VTPU_CMD_SIZE 64u         /* bytes per ring entry */
#define VTPU_RING_MIN_ENTRIES 2u
#define VTPU_RING_MAX_LOG2 16     /* at most 65536 entries */
#define VTPU_RING_ALIGN 64u       /* RING_BASE alignment */

VTPU_REG(RING_BASE_LO, 0x050) /* host bus address; set while disabled */
VTPU_REG(RING_BASE_HI, 0x054)
VTPU_REG(RING_SIZE, 0x058)    /* entries: power of two, set while disabled */
VTPU_REG(RING_HEAD, 0x05c)    /* device-owned: next command to execute */
VTPU_REG(RING_TAIL, 0x060)    /* driver-owned doorbell: one past the last */
VTPU_REG(FENCE, 0x064)        /* value of the last completed FENCE */

/* ------------------------------------------------------------------ */
/* Interrupts: level = (INT_STATUS & INT_ENABLE) != 0                   */
/* ------------------------------------------------------------------ */

VTPU_REG(INT_STATUS, 0x068)   /* write 1 to clear */
VTPU_REG(INT_ENABLE, 0x06c)
    VTPU_FIELD(INT, FENCE, 0, 1)    /* a FENCE with VTPU_FENCE_F_IRQ done */
    VTPU_FIELD(INT, ERROR, 1, 1)    /* the device entered ERROR state */
    VTPU_FIELD(INT, IDLE, 2, 1)     /* the ring drained (HEAD == TAIL) */
    VTPU_FIELD(INT, PROGRESS, 3, 1) /* HEAD advanced (ring space freed) */
#define VTPU_INT_ALL 0xfu

VTPU_REG(LAST_EXIT, 0x070)    /* exit code of the last LAUNCH */

/* ------------------------------------------------------------------ */
/* Error status and detail (valid while STATUS.STATE == ERROR)          */
/* ------------------------------------------------------------------ */

VTPU_REG(ERR_CODE, 0x080)     /* VTPU_E_*, 0 when no error */
VTPU_REG(ERR_INDEX, 0x084)    /* ring index of the failed command */
VTPU_REG(ERR_OPCODE, 0x088)   /* its opcode */
VTPU_REG(ERR_KIND, 0x08c)     /* VTPU_FAULT_* for VTPU_E_FAULT */
VTPU_REG(ERR_TC, 0x090)       /* TC involved, VTPU_ERR_NONE32 if none */
VTPU_REG(ERR_PC, 0x094)
VTPU_REG(ERR_SPACE, 0x098)    /* VTPU_ESPACE_* of ERR_ADDR */
VTPU_REG(ERR_VALUE, 0x09c)    /* per code: bad opcode, slot, exit code... */
VTPU_REG(ERR_ADDR_LO, 0x0a0)
VTPU_REG(ERR_ADDR_HI, 0x0a4)
VTPU_REG(ERR_LEN_LO, 0x0a8)
VTPU_REG(ERR_LEN_HI, 0x0ac)
VTPU_REG(ERR_COUNT, 0x0b0)    /* errors since reset */

#define VTPU_ERR_NONE32 0xffffffffu /* "no index" / "no TC" */

/* ------------------------------------------------------------------ */
/* HBM aperture                                                         */
/* ------------------------------------------------------------------ */

#define VTPU_APERTURE_ALIGN 0x1000u
VTPU_REG(APERTURE_BASE_LO, 0x0c0) /* HBM offset of BAR2 byte 0 */
VTPU_REG(APERTURE_BASE_HI, 0x0c4)

/* ------------------------------------------------------------------ */
/* Counters (since reset; read LO first: it latches HI)                 */
/* ------------------------------------------------------------------ */

VTPU_REG(CMD_COUNT, 0x100)    /* commands completed */
VTPU_REG(LAUNCH_COUNT, 0x104) /* launches completed */
VTPU_REG(BYTES_IN_LO, 0x108)  /* host -> HBM bytes */
VTPU_REG(BYTES_IN_HI, 0x10c)
VTPU_REG(BYTES_OUT_LO, 0x110) /* HBM -> host bytes */
VTPU_REG(BYTES_OUT_HI, 0x114)
/*
 * Per-TC counters of the current or last launch (vtpu_tc_stats in
 * hw/vtpu/include/vtpu-debug.h): write TC_STAT_SEL = TC << 8 | VTPU_TSTAT_*, then
 * read TC_STAT_LO, HI.  Exact once the launch has completed; reset when
 * the next launch starts.  An unknown TC or counter reads 0.
 */
VTPU_REG(TC_STAT_SEL, 0x118)
VTPU_FIELD(TC_STAT_SEL, COUNTER, 0, 8)
VTPU_FIELD(TC_STAT_SEL, TC, 8, 4)
VTPU_REG(TC_STAT_LO, 0x120)
VTPU_REG(TC_STAT_HI, 0x124)
/*
 * TC output (what programs print with the write ecall) when the device
 * buffers it for its embedder (QEMU: the chardev= property): bytes taken
 * into the buffer and bytes dropped because it was full, over the rate
 * limit or had no reader; both after escaping (docs/registers.md).
 */
VTPU_REG(OUT_BYTES_LO, 0x128)
VTPU_REG(OUT_BYTES_HI, 0x12c)
VTPU_REG(OUT_DROPPED_LO, 0x130)
VTPU_REG(OUT_DROPPED_HI, 0x134)
/*
 * Latency probes: where the device's share of a round trip went, in ns of
 * the host's monotonic clock, saturating at 0xffffffff (docs/registers.md,
 * "Latency probes").  "The doorbell" is the RING_TAIL write that found the
 * device idle; LAT_WAKE/LAT_BUSY describe the busy period it started.
 */
VTPU_REG(LAT_WAKE, 0x138)    /* doorbell -> the worker starts its command */
VTPU_REG(LAT_BUSY, 0x13c)    /* doorbell -> the last command done */
VTPU_REG(LAT_EXEC, 0x140)    /* the last command: fetch -> done */
VTPU_REG(LAT_RUN, 0x144)     /* the last LAUNCH: engine run start -> end */
VTPU_REG(LAT_IRQ, 0x148)     /* last command done -> interrupt raised */
VTPU_REG(LAT_DELIVER, 0x14c) /* interrupt raised -> embedder delivered it */
enum vtpu_tc_stat { /* the order of vtpu_tc_stats' fields */
    VTPU_TSTAT_INSTRET = 0,
    VTPU_TSTAT_VEC_ALU,
    VTPU_TSTAT_VEC_LDST,
    VTPU_TSTAT_VEC_XLANE,
    VTPU_TSTAT_VEC_MASK,
    VTPU_TSTAT_MXU_PUSH,
    VTPU_TSTAT_MXU_MATMUL,
    VTPU_TSTAT_MXU_POP,
    VTPU_TSTAT_MXU_CLEAR,
    VTPU_TSTAT_DMA_STARTS,
    VTPU_TSTAT_DMA_BYTES_IN,
    VTPU_TSTAT_DMA_BYTES_OUT,
    VTPU_TSTAT_DMA_BYTES_LOCAL,
    VTPU_TSTAT_DMA_BYTES_HBM,
    VTPU_TSTAT_SEM_OPS,
    VTPU_TSTAT_SEM_WAIT_NS,
    VTPU_TSTAT_BARRIER_NS,
    VTPU_TSTAT_ICI_BYTES_SENT, /* slices: remote DMA bytes sent, */
    VTPU_TSTAT_ICI_BYTES_RECV, /* ... received, */
    VTPU_TSTAT_ICI_NS,         /* ... modelled ICI time (docs/multichip.md) */
    VTPU_TSTAT__COUNT
};
VTPU_REG(TC_INSTRET_LO, 0x200) /* TC t: LO at 0x200 + 8 t, HI at + 4 */
VTPU_REG(TC_INSTRET_HI, 0x204)
#define VTPU_TC_COUNTER_STRIDE 8u
#define VTPU_A_TC_INSTRET_LO_N(t) (VTPU_A_TC_INSTRET_LO + 8u * (t))

/* ERR_MSG: NUL-terminated ASCII text explaining the current error, in a
 * window of VTPU_ERR_MSG_MAX bytes (0x400..0xfff), long enough for every
 * message the device makes: nothing is cut.  Readers of interface 1.0
 * read the first VTPU_ERR_MSG_SIZE bytes (the Linux uAPI's message[256])
 * and see the start of a longer message. */
VTPU_REG(ERR_MSG, 0x400)
#define VTPU_ERR_MSG_SIZE 256u
#define VTPU_ERR_MSG_MAX 3072u
_Static_assert(0x400 + VTPU_ERR_MSG_MAX <= VTPU_BAR0_SIZE, "ERR_MSG in BAR0");

/* ------------------------------------------------------------------ */
/* Commands: 64-byte ring entries                                       */
/* ------------------------------------------------------------------ */

/*
 * The opcodes, one table: X(NAME, value).  0 is not a command: a zeroed
 * (never written) entry is caught.
 *   COPY_H2D host -> HBM; COPY_D2H HBM -> host; COPY_D2D HBM -> HBM,
 *   overlap allowed; FILL HBM := 32-bit pattern; LOAD_PROG ELF image in
 *   HBM -> program slot; LAUNCH run a program slot on N TCs; FENCE
 *   FENCE := value [+ write-back, irq].
 */
#define VTPU_OPCODES(X)                                                      \
    X(NOP, 0x01) X(COPY_H2D, 0x02) X(COPY_D2H, 0x03) X(COPY_D2D, 0x04)     \
    X(FILL, 0x05) X(LOAD_PROG, 0x06) X(LAUNCH, 0x07) X(FENCE, 0x08)

enum {
#define VTPU_OP_ENUM_(name, v) VTPU_OP_##name = (v),
    VTPU_OPCODES(VTPU_OP_ENUM_)
#undef VTPU_OP_ENUM_
    VTPU_OP__COUNT = 0x09
};

/* "COPY_H2D", ...; "unknown opcode" for anything else. */
static inline const char *vtpu_op_name(uint32_t op)
{
    switch (op) {
#define VTPU_OP_CASE_(name, v) case (v): return #name;
    VTPU_OPCODES(VTPU_OP_CASE_)
#undef VTPU_OP_CASE_
    }
    return "unknown opcode";
}

/* hdr = OPCODE | FLAGS << 8; bits 16..31 reserved (must be 0). */
VTPU_FIELD(CMD, OPCODE, 0, 8)
VTPU_FIELD(CMD, FLAGS, 8, 8)
VTPU_FIELD(CMD, RSVD, 16, 16)

/* FLAGS per opcode */
#define VTPU_FENCE_F_IRQ 0x01u        /* set INT_STATUS.FENCE */
#define VTPU_FENCE_F_WRITEBACK 0x02u  /* write value (4 bytes) to addr */
#define VTPU_LAUNCH_F_RESULT 0x01u    /* write vtpu_launch_result to addr */
#define VTPU_LAUNCH_F_CHECK_EXIT 0x02u /* non-zero exit code = error */
#define VTPU_LAUNCH_F_RANGES 0x04u     /* ranges = host bus address of a
                                          vtpu_hbm_ranges table: the launch's
                                          DMAs may touch only those HBM
                                          ranges (docs/registers.md,
                                          "Isolation") */
#define VTPU_LAUNCH_F_COLLECTIVE 0x08u /* a collective run of the slice the
                                          chip belongs to: starts when every
                                          chip of it has launched
                                          (docs/multichip.md); refused on a
                                          chip in no slice */

/* LAUNCH arg */
VTPU_FIELD(LAUNCH, SLOT, 0, 8)
VTPU_FIELD(LAUNCH, TCS, 8, 8) /* 0 = every TC of the chip */

/*
 * One ring entry.  Fields unused by an opcode are ignored.
 *   NOP        -
 *   COPY_H2D   src = host bus address, dst = HBM offset, len
 *   COPY_D2H   src = HBM offset, dst = host bus address, len
 *   COPY_D2D   src, dst = HBM offsets, len
 *   FILL       dst = HBM offset, len (multiple of 4, dst 4-aligned),
 *              arg = 32-bit pattern
 *   LOAD_PROG  arg = slot, src = HBM offset of the ELF image, len
 *   LAUNCH     arg = SLOT | TCS << 8, args[] = a2..a5 at entry,
 *              addr = host bus address of a vtpu_launch_result (F_RESULT),
 *              ranges = host bus address of a vtpu_hbm_ranges (F_RANGES)
 *   FENCE      arg = value, addr = host bus address (F_WRITEBACK)
 */
typedef struct vtpu_cmd {
    uint32_t hdr;
    uint32_t arg;
    uint64_t src;
    uint64_t dst;
    uint64_t len;
    uint32_t args[4];
    uint64_t addr;
    uint64_t ranges;
} vtpu_cmd;

/* Byte offsets inside a ring entry (the device decodes by offset). */
enum {
    VTPU_CMD_OFF_HDR = 0,
    VTPU_CMD_OFF_ARG = 4,
    VTPU_CMD_OFF_SRC = 8,
    VTPU_CMD_OFF_DST = 16,
    VTPU_CMD_OFF_LEN = 24,
    VTPU_CMD_OFF_ARGS = 32,
    VTPU_CMD_OFF_ADDR = 48,
    VTPU_CMD_OFF_RANGES = 56,
};

/*
 * The HBM a launch may touch (VTPU_LAUNCH_F_RANGES), in host memory:
 * `count` ranges, 1..VTPU_MAX_HBM_RANGES, each non-empty and inside HBM.
 * The device copies the table when the LAUNCH executes; a TC DMA whose
 * HBM extent is not inside one of them faults (VTPU_FAULT_DMA).
 */
#define VTPU_MAX_HBM_RANGES 64
typedef struct vtpu_hbm_range_rec {
    uint64_t off, len;
} vtpu_hbm_range_rec;
typedef struct vtpu_hbm_ranges {
    uint32_t count;
    uint32_t rsvd; /* 0 */
    vtpu_hbm_range_rec range[VTPU_MAX_HBM_RANGES]; /* count used */
} vtpu_hbm_ranges;

#define VTPU_LOAD_PROG_MAX_LEN (64u << 20) /* largest ELF image accepted */

/* Written to host memory by LAUNCH with VTPU_LAUNCH_F_RESULT, also when
 * the launch faulted (then status = VTPU_E_FAULT). */
typedef struct vtpu_launch_result {
    uint32_t status;    /* VTPU_E_* of this launch */
    int32_t exit_code;  /* first non-zero exit code of any TC, else 0 */
    uint32_t num_tcs;   /* TCs started */
    uint32_t rsvd;
    int32_t tc_exit[8]; /* per TC */
    uint64_t instret[8];
} vtpu_launch_result;

/* ------------------------------------------------------------------ */
/* Error codes (ERR_CODE)                                               */
/* ------------------------------------------------------------------ */

/* X(NAME, value, description): ERR_CODE values, one table. */
#define VTPU_ERRORS(X)                                                       \
    X(NONE, 0, "no error")                                                   \
    X(BAD_OPCODE, 1, "unknown opcode")           /* VALUE = opcode */        \
    X(BAD_FLAGS, 2, "unknown flags or reserved bits set") /* VALUE = hdr */ \
    X(BAD_LENGTH, 3, "bad length") /* 0, too large, not a multiple of 4 */   \
    X(BAD_ALIGN, 4, "misaligned address") /* FILL destination */             \
    X(HBM_RANGE, 5, "address range outside HBM")  /* ADDR/LEN */             \
    X(HOST_DMA, 6, "host memory not accessible (DMA fault)") /* ADDR/LEN */  \
    X(BAD_SLOT, 7, "program slot out of range")   /* VALUE = slot */         \
    X(NO_PROGRAM, 8, "no program loaded in that slot") /* VALUE = slot */    \
    X(BAD_ELF, 9, "ELF image rejected")           /* ERR_MSG says why */     \
    X(BAD_TCS, 10, "more TCs than the chip has")  /* VALUE = count */        \
    X(FAULT, 11, "kernel fault") /* KIND, TC, PC, SPACE, ADDR */             \
    X(EXIT_CODE, 12, "kernel exited with a non-zero code") /* F_CHECK_EXIT */\
    X(RING_CONFIG, 13, "bad ring configuration") /* RING_BASE/RING_SIZE */   \
    X(RING_POINTER, 14, "ring tail out of range") /* VALUE = TAIL */         \
    X(RING_FETCH, 15, "cannot fetch the command from the ring") /* ADDR */\
    X(BAD_RANGES, 16, "bad HBM range table") /* F_RANGES; VALUE = index */

enum {
#define VTPU_E_ENUM_(name, v, desc) VTPU_E_##name = (v),
    VTPU_ERRORS(VTPU_E_ENUM_)
#undef VTPU_E_ENUM_
    VTPU_E__COUNT = 17
};

static inline const char *vtpu_err_name(uint32_t code)
{
    switch (code) {
#define VTPU_E_CASE_(name, v, desc) case (v): return desc;
    VTPU_ERRORS(VTPU_E_CASE_)
#undef VTPU_E_CASE_
    }
    return "unknown error";
}

/* ERR_KIND for VTPU_E_FAULT: VTPU_FAULT_* of vtpu-faults.h. */

/* ERR_SPACE: where ERR_ADDR points (values of vtpu.h vtpu_space, plus
 * host memory and the ring). */
enum {
    VTPU_ESPACE_NONE = 0,
    VTPU_ESPACE_HBM = 1,
    VTPU_ESPACE_VMEM = 2,
    VTPU_ESPACE_SMEM = 3,
    VTPU_ESPACE_IMEM = 4,
    VTPU_ESPACE_SEM = 5,
    VTPU_ESPACE_HOST = 16,
};

/* "HBM", "VMEM", ...; NULL for none or an unknown value. */
static inline const char *vtpu_espace_name(uint32_t space)
{
    switch (space) {
    case VTPU_ESPACE_HBM: return "HBM";
    case VTPU_ESPACE_VMEM: return "VMEM";
    case VTPU_ESPACE_SMEM: return "SMEM";
    case VTPU_ESPACE_IMEM: return "IMEM";
    case VTPU_ESPACE_SEM: return "semaphore";
    case VTPU_ESPACE_HOST: return "host";
    }
    return 0;
}

/* clang-format on */

#endif /* VTPU_REGS_H */
