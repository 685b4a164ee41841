/*
 * interp.c - the scalar core's interpreter loop, CSRs and ecalls
 * (docs/scalar-core.md).
 *
 * Dispatch is direct-threaded: each pre-decoded vtpu_insn holds the
 * address of its handler label (GNU labels-as-values), and every handler
 * ends by jumping through the next instruction's.  `ip` points into the
 * program's vtpu_insn array; the RISC-V pc is derived from it only when
 * leaving the loop or calling out.  The watchdog and the chip's stop flag
 * are looked at only when a branch or jump is taken (one compare against
 * a precomputed threshold) and after ecalls, never per instruction.
 */
#include <stdio.h>

#include "check.h"
#include "fpu.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the scalar core assumes a little-endian host (as RISC-V is)"
#endif

/* The stop flag is polled every this many instructions (at branches). */
#define STOP_POLL_INSNS (1u << 14)

/* Linux errno values returned by write(), as qemu-user would. */
#define RV_EBADF 9
#define RV_EFAULT 14

static inline uint32_t ld32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline uint16_t ld16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static inline void st32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static inline void st16(uint8_t *p, uint16_t v)
{
    memcpy(p, &v, 2);
}

/* ------------------------------------------------------------------ */
/* Slow paths (out of line: the loop stays small)                       */
/* ------------------------------------------------------------------ */

/*
 * A load/store that missed the fast check (off < smem_size rounded down
 * to 4, naturally aligned).  Returns true if it is in fact fine (a byte
 * or half in the last partial word of an odd-sized SMEM), else records
 * the fault.  tc->pc is set.
 */
static __attribute__((noinline, cold)) bool mem_slow(vtpu_tc *tc, uint32_t addr,
                                                     unsigned size, bool store)
{
    const char *what = store ? "store" : "load";
    uint32_t off = addr - VTPU_SMEM_BASE;

    if (addr - VTPU_VMEM_BASE < VTPU_VMEM_MAX) {
        vtpu_tc_fault(tc, VTPU_ERR_SCALAR_VMEM, VTPU_SPACE_VMEM, addr, size,
                      "scalar %s; only vector loads/stores and DMA reach "
                      "VMEM",
                      what);
        return false;
    }
    if (off >= tc->smem_size || size > tc->smem_size - off) {
        vtpu_space sp = VTPU_SPACE_NONE;
        if (addr - VTPU_SMEM_BASE < VTPU_SMEM_MAX)
            sp = VTPU_SPACE_SMEM;
        else if (addr - VTPU_IMEM_BASE < VTPU_IMEM_MAX)
            sp = VTPU_SPACE_IMEM;
        char past[320]; /* 31-char name, 4-D point: ~200 */
        if (!store && vtpu_mailbox_scalar_past(tc, addr, past, sizeof(past)))
            vtpu_tc_fault(tc, VTPU_ERR_OOB, sp, addr, size, "%s", past);
        else
            vtpu_tc_fault(tc, VTPU_ERR_OOB, sp, addr, size,
                          "scalar %s outside SMEM (%u bytes at 0x%08x)%s", what,
                          tc->smem_size, VTPU_SMEM_BASE,
                          sp == VTPU_SPACE_IMEM ? "; IMEM is not data memory"
                                                : "");
        return false;
    }
    if (addr & (size - 1)) {
        vtpu_tc_fault(tc, VTPU_ERR_MISALIGNED, VTPU_SPACE_SMEM, addr, size,
                      "%u-byte %s needs %u-byte alignment", size, what, size);
        return false;
    }
    return true;
}

/* A jump/branch target or fetch address that is not an instruction. */
static __attribute__((noinline, cold)) void fetch_fault(vtpu_tc *tc,
                                                        uint32_t target)
{
    if (target & 3)
        vtpu_tc_fault(tc, VTPU_ERR_MISALIGNED, VTPU_SPACE_IMEM, target, 4,
                      "jump target is not 4-byte aligned (no C extension)");
    else
        vtpu_tc_fault(tc, VTPU_ERR_OOB, VTPU_SPACE_IMEM, target, 4,
                      "instruction fetch outside the program (%u bytes at "
                      "0x%08x)",
                      tc->prog->code_words * 4, VTPU_IMEM_BASE);
}

/*
 * Zicsr.  Returns 0, or -1 after recording an illegal-instruction fault.
 * `instret` is the count of instructions retired before this one; cycle
 * and time read the same counter (the core has no other notion of time).
 */
static __attribute__((noinline)) int csr_op(vtpu_tc *tc, const vtpu_insn *in,
                                            uint64_t instret)
{
    unsigned f3 = in->rs3, csr = (unsigned)in->imm & 0xfff;
    uint32_t src = (f3 & 4) ? in->rs1 : tc->x[in->rs1];
    bool writes = (f3 & 3) == 1 || in->rs1 != 0;
    uint32_t old;

    switch (csr) {
    case 0x001:
    case 0x002:
    case 0x003:
        vtpu_fpu_fold(&tc->fflags);
        old = csr == 1   ? tc->fflags
              : csr == 2 ? tc->frm
                         : (tc->frm << 5) | tc->fflags;
        break;
    case 0xc00: /* cycle */
    case 0xc01: /* time */
    case 0xc02: /* instret */
        old = (uint32_t)instret;
        break;
    case 0xc80:
    case 0xc81:
    case 0xc82:
        old = (uint32_t)(instret >> 32);
        break;
    case VTPU_CSR_TCID:
        old = tc->id;
        break;
    case VTPU_CSR_NTCS:
        old = tc->ntcs;
        break;
    case VTPU_CSR_CHIPID:
        old = tc->chip->chip_id;
        break;
    case VTPU_CSR_NCHIPS:
        old = tc->chip->nchips;
        break;
    case VTPU_CSR_MESH:
        old = tc->chip->mesh;
        break;
    case VTPU_CSR_COORD:
        old = tc->chip->coord;
        break;
    default:
        vtpu_tc_fault(tc, VTPU_ERR_ILLEGAL_INSN, VTPU_SPACE_NONE, 0, 0,
                      "unknown CSR 0x%03x", csr);
        return -1;
    }
    if (writes) {
        uint32_t v = (f3 & 3) == 1   ? src
                     : (f3 & 3) == 2 ? old | src
                                     : old & ~src;
        if ((csr >> 10) == 3) {
            vtpu_tc_fault(tc, VTPU_ERR_ILLEGAL_INSN, VTPU_SPACE_NONE, 0, 0,
                          "write to read-only CSR 0x%03x", csr);
            return -1;
        }
        if (csr == 1)
            tc->fflags = v & 0x1f;
        else if (csr == 2)
            tc->frm = v & 7;
        else {
            tc->fflags = v & 0x1f;
            tc->frm = (v >> 5) & 7;
        }
    }
    tc->x[in->rd] = old;
    return 0;
}

/*
 * ecall.  Returns 0 to continue, 1 if the TC exited, -1 on a fault.
 * tc->pc is the ecall's.
 */
static __attribute__((noinline)) int ecall(vtpu_tc *tc)
{
    uint32_t nr = tc->x[17], a0 = tc->x[10], a1 = tc->x[11], a2 = tc->x[12];

    switch (nr) {
    case VTPU_SYS_WRITE: {
        uint32_t off = a1 - VTPU_SMEM_BASE;
        int32_t ret = (int32_t)a2;
        if (a0 != 1 && a0 != 2)
            ret = -RV_EBADF;
        else if (a2 && (off >= tc->smem_size || a2 > tc->smem_size - off))
            ret = -RV_EFAULT; /* like Linux: the buffer is not ours */
        else if (a2)
            vtpu_chip_output(tc->chip, tc->id, (int)a0,
                             (const char *)tc->smem + off, a2);
        tc->x[10] = (uint32_t)ret;
        return 0;
    }
    case VTPU_SYS_EXIT:
    case VTPU_SYS_EXIT_GROUP:
        tc->exit_code = (int)a0;
        tc->state = VTPU_TC_EXITED;
        return 1;
    default:
        vtpu_tc_fault(tc, VTPU_ERR_ECALL, VTPU_SPACE_NONE, 0, 0,
                      "unknown ecall service %u (a7)", nr);
        return -1;
    }
}

static uint32_t mulhu32(uint32_t a, uint32_t b)
{
    return (uint32_t)(((uint64_t)a * b) >> 32);
}

static uint32_t mulh32(uint32_t a, uint32_t b)
{
    return (uint32_t)((uint64_t)((int64_t)(int32_t)a * (int32_t)b) >> 32);
}

static uint32_t mulhsu32(uint32_t a, uint32_t b)
{
    return (uint32_t)((uint64_t)((int64_t)(int32_t)a * (int64_t)b) >> 32);
}

/* ------------------------------------------------------------------ */
/* The loop                                                             */
/* ------------------------------------------------------------------ */

/*
 * With tc == NULL, returns the handler table; otherwise runs tc and
 * returns NULL.  One function so that the table can hold its labels.
 * Never inlined or cloned: a copy would have label addresses of its own,
 * and decode.c's table must point into the copy that runs.
 */
#if defined(__clang__)
#define VTPU_NOCLONE /* clang does not clone functions with labels taken */
#else
#define VTPU_NOCLONE __attribute__((noclone))
#endif
static __attribute__((noinline)) VTPU_NOCLONE const void *const *
interp(vtpu_tc *tc)
{
#define VTPU_OP_LABEL(name) [VTPU_OP_##name] = &&op_##name,
    static const void *const handlers[VTPU_OP__COUNT] = {
        VTPU_SCALAR_OPS(VTPU_OP_LABEL)};
#undef VTPU_OP_LABEL

    if (!tc)
        return handlers;

    const vtpu_program *prog = tc->prog;
    const vtpu_insn *const code = tc->code ? tc->code : prog->code;
    const uint32_t n = prog->code_words;
    uint32_t *const x = tc->x;
    uint32_t *const f = tc->f;
    uint8_t *const smem = tc->smem;
    /* Fast-path bound: an aligned access at off < lim is inside SMEM. */
    const uint32_t lim = tc->smem_size & ~3u;
    const uint64_t budget = tc->budget;
    uint64_t icount = tc->instret;
    uint64_t check_at;
    uint32_t entry_off;
    const vtpu_insn *ip;
    /* The last word of the program runs here when it may fall through. */
    vtpu_insn tail[2];
    const uint32_t tail_pc = VTPU_IMEM_BASE + 4 * (n - 1);
    uint32_t saved_fp = vtpu_fpu_enter();

/* pc of the instruction at ip (only off the hot path). */
#define PC_OF(p)                                                               \
    ((p) == tail ? tail_pc : VTPU_IMEM_BASE + 4u * (uint32_t)((p)-code))
/* Make tc consistent before calling out or leaving. */
#define SYNC()                                                                 \
    do {                                                                       \
        tc->pc = PC_OF(ip);                                                    \
        tc->instret = icount;                                                  \
    } while (0)
#define DISPATCH() goto * ip->h
#define NEXT()                                                                 \
    do {                                                                       \
        icount++;                                                              \
        ip++;                                                                  \
        DISPATCH();                                                            \
    } while (0)
/* Taken branch/jump: the only place the watchdog and stop are polled.  The
 * check runs before the instruction has any effect, so `poll` can redo it. */
#define POLL()                                                                 \
    do {                                                                       \
        if (VTPU_UNLIKELY(icount >= check_at))                                 \
            goto poll;                                                         \
    } while (0)
#define JUMP_TO(target)                                                        \
    do {                                                                       \
        icount++;                                                              \
        ip = (target);                                                         \
        DISPATCH();                                                            \
    } while (0)
#define RS1 x[ip->rs1]
#define RS2 x[ip->rs2]
#define RD x[ip->rd]
#define IMM ((uint32_t)ip->imm)
/* Effective address of a load/store of `size` bytes, checked. */
#define MEM_ADDR(size, store)                                                  \
    uint32_t addr = RS1 + IMM, off = addr - VTPU_SMEM_BASE;                    \
    if (VTPU_UNLIKELY(off >= lim || (addr & ((size)-1)))) {                    \
        SYNC();                                                                \
        if (!mem_slow(tc, addr, size, store))                                  \
            goto leave;                                                        \
    }
/* A store to SMEM at off: its page needs a reset after the run (a signed
 * index: the map is below smem, and an unsigned one would wrap). */
#define STORED()                                                               \
    __atomic_store_n(&smem[(ptrdiff_t)(off >> VTPU_DIRTY_SHIFT) -              \
                           (ptrdiff_t)VTPU_SMEM_MAP],                          \
                     1, __ATOMIC_RELAXED)
/* Rounding mode of an FP instruction; invalid -> illegal instruction. */
#define FP_RM(var)                                                             \
    unsigned var = (unsigned)ip->imm;                                          \
    if (var == VTPU_RM_DYN)                                                    \
        var = tc->frm;                                                         \
    if (VTPU_UNLIKELY(var > VTPU_RM_RMM))                                      \
        goto bad_rm;

    /* Also where a debugger resumes us, at a tc->pc it may have changed. */
enter:
    entry_off = tc->pc - VTPU_IMEM_BASE;
    if ((entry_off & 3) || entry_off / 4 >= n) {
        fetch_fault(tc, tc->pc);
        goto leave;
    }
    ip = code + entry_off / 4;
    /* fall into poll: look at stop, set the first threshold, dispatch */
poll:
    SYNC();
    int stop = atomic_load_explicit(&tc->chip->stop, memory_order_relaxed);
    if (stop) {
        /* A quiesce request parks the TC outside the loop (run.c). */
        if (!tc->chip->gdb || (stop & VTPU_STOP_QUIESCE))
            goto leave;
        vtpu_fpu_fold(&tc->fflags);
        int r = vtpu_gdb_pause(tc);
        (void)vtpu_fpu_enter();
        if (r < 0)
            goto leave;
        goto enter;
    }
    if (icount >= budget) {
        if (icount >= tc->pause_at) { /* a save point (run.c) */
            vtpu_tc_pause_point(tc);
            goto leave;
        }
        vtpu_tc_fault(tc, VTPU_ERR_WATCHDOG, VTPU_SPACE_NONE, 0, 0,
                      "%llu instructions executed", (unsigned long long)icount);
        goto leave;
    }
    check_at =
        icount + STOP_POLL_INSNS < budget ? icount + STOP_POLL_INSNS : budget;
    DISPATCH(); /* redo the branch, now below the threshold */

    /* The handlers: labels and macros clang-format cannot lay out. */
    /* clang-format off */
    /* ---- RV32I ---- */
op_LI:
    RD = IMM;
    NEXT();
op_JAL: {
    POLL();
    uint32_t link = VTPU_IMEM_BASE + 4u * (uint32_t)(ip - code) + 4;
    x[ip->rd] = link;
    JUMP_TO(ip + ip->imm);
}
op_JAL_BAD:
    SYNC();
    fetch_fault(tc, tc->pc + IMM);
    goto leave;
op_JALR: {
    uint32_t t = (RS1 + IMM) & ~1u, off = t - VTPU_IMEM_BASE;
    if (VTPU_UNLIKELY((off & 3) || off / 4 >= n)) {
        SYNC();
        fetch_fault(tc, t);
        goto leave;
    }
    POLL();
    RD = VTPU_IMEM_BASE + 4u * (uint32_t)(ip - code) + 4;
    JUMP_TO(code + off / 4);
}
#define BRANCH(name, cond)                                                    \
    op_##name:                                                                \
    if (cond) {                                                               \
        POLL();                                                               \
        JUMP_TO(ip + ip->imm);                                                \
    }                                                                         \
    NEXT();
    BRANCH(BEQ, RS1 == RS2)
    BRANCH(BNE, RS1 != RS2)
    BRANCH(BLT, (int32_t)RS1 < (int32_t)RS2)
    BRANCH(BGE, (int32_t)RS1 >= (int32_t)RS2)
    BRANCH(BLTU, RS1 < RS2)
    BRANCH(BGEU, RS1 >= RS2)
#undef BRANCH
op_BR_SLOW: {
    uint32_t a = RS1, b = RS2, pc = PC_OF(ip);
    bool taken;
    switch (ip->rs3) {
    case 0:
        taken = a == b;
        break;
    case 1:
        taken = a != b;
        break;
    case 4:
        taken = (int32_t)a < (int32_t)b;
        break;
    case 5:
        taken = (int32_t)a >= (int32_t)b;
        break;
    case 6:
        taken = a < b;
        break;
    default:
        taken = a >= b;
        break;
    }
    uint32_t t = taken ? pc + IMM : pc + 4, off = t - VTPU_IMEM_BASE;
    if ((off & 3) || off / 4 >= n) {
        if (taken) {
            SYNC();
            fetch_fault(tc, t);
            goto leave;
        }
        icount++; /* the branch retired; the fetch after it fails */
        tc->pc = t;
        tc->instret = icount;
        fetch_fault(tc, t);
        goto leave;
    }
    if (taken)
        POLL();
    JUMP_TO(code + off / 4);
}
op_TAIL:
    vtpu_decode_one(IMM, n - 1, n, &tail[0]);
    tail[1] = (vtpu_insn){.h = handlers[VTPU_OP_FALLOFF]};
    ip = tail;
    DISPATCH();
op_FALLOFF:
    tc->pc = tail_pc + 4;
    tc->instret = icount;
    fetch_fault(tc, tc->pc);
    goto leave;
op_ILLEGAL:
    SYNC();
    vtpu_tc_fault(tc, VTPU_ERR_ILLEGAL_INSN, VTPU_SPACE_NONE, 0, 0,
                  "word 0x%08x is not an RV32IMF or Xtpu instruction", IMM);
    goto leave;

op_LB: {
    MEM_ADDR(1, false);
    RD = (uint32_t)(int32_t)(int8_t)smem[off];
    NEXT();
}
op_LBU: {
    MEM_ADDR(1, false);
    RD = smem[off];
    NEXT();
}
op_LH: {
    MEM_ADDR(2, false);
    RD = (uint32_t)(int32_t)(int16_t)ld16(smem + off);
    NEXT();
}
op_LHU: {
    MEM_ADDR(2, false);
    RD = ld16(smem + off);
    NEXT();
}
op_LW: {
    MEM_ADDR(4, false);
    RD = ld32(smem + off);
    NEXT();
}
op_SB: {
    MEM_ADDR(1, true);
    smem[off] = (uint8_t)RS2;
    STORED();
    NEXT();
}
op_SH: {
    MEM_ADDR(2, true);
    st16(smem + off, (uint16_t)RS2);
    STORED();
    NEXT();
}
op_SW: {
    MEM_ADDR(4, true);
    st32(smem + off, RS2);
    STORED();
    NEXT();
}

op_ADDI:
    RD = RS1 + IMM;
    NEXT();
op_SLTI:
    RD = (int32_t)RS1 < ip->imm;
    NEXT();
op_SLTIU:
    RD = RS1 < IMM;
    NEXT();
op_XORI:
    RD = RS1 ^ IMM;
    NEXT();
op_ORI:
    RD = RS1 | IMM;
    NEXT();
op_ANDI:
    RD = RS1 & IMM;
    NEXT();
op_SLLI:
    RD = RS1 << ip->imm;
    NEXT();
op_SRLI:
    RD = RS1 >> ip->imm;
    NEXT();
op_SRAI:
    RD = (uint32_t)((int32_t)RS1 >> ip->imm);
    NEXT();
op_ADD:
    RD = RS1 + RS2;
    NEXT();
op_SUB:
    RD = RS1 - RS2;
    NEXT();
op_SLL:
    RD = RS1 << (RS2 & 31);
    NEXT();
op_SLT:
    RD = (int32_t)RS1 < (int32_t)RS2;
    NEXT();
op_SLTU:
    RD = RS1 < RS2;
    NEXT();
op_XOR:
    RD = RS1 ^ RS2;
    NEXT();
op_SRL:
    RD = RS1 >> (RS2 & 31);
    NEXT();
op_SRA:
    RD = (uint32_t)((int32_t)RS1 >> (RS2 & 31));
    NEXT();
op_OR:
    RD = RS1 | RS2;
    NEXT();
op_AND:
    RD = RS1 & RS2;
    NEXT();

    /* ---- M ---- */
op_MUL:
    RD = RS1 * RS2;
    NEXT();
op_MULH:
    RD = mulh32(RS1, RS2);
    NEXT();
op_MULHSU:
    RD = mulhsu32(RS1, RS2);
    NEXT();
op_MULHU:
    RD = mulhu32(RS1, RS2);
    NEXT();
op_DIV: {
    int32_t a = (int32_t)RS1, b = (int32_t)RS2;
    if (VTPU_UNLIKELY(b == 0))
        RD = UINT32_MAX;
    else if (VTPU_UNLIKELY(a == INT32_MIN && b == -1))
        RD = (uint32_t)INT32_MIN;
    else
        RD = (uint32_t)(a / b);
    NEXT();
}
op_DIVU: {
    uint32_t a = RS1, b = RS2;
    RD = VTPU_UNLIKELY(b == 0) ? UINT32_MAX : a / b;
    NEXT();
}
op_REM: {
    int32_t a = (int32_t)RS1, b = (int32_t)RS2;
    if (VTPU_UNLIKELY(b == 0))
        RD = (uint32_t)a;
    else if (VTPU_UNLIKELY(a == INT32_MIN && b == -1))
        RD = 0;
    else
        RD = (uint32_t)(a % b);
    NEXT();
}
op_REMU: {
    uint32_t a = RS1, b = RS2;
    RD = VTPU_UNLIKELY(b == 0) ? a : a % b;
    NEXT();
}

    /* ---- system ---- */
op_NOP:
    NEXT();
op_ECALL: {
    SYNC();
    /* The output callback may use the FPU: keep its flags out of ours. */
    vtpu_fpu_fold(&tc->fflags);
    int r = ecall(tc);
    (void)vtpu_fpu_enter();
    if (r < 0)
        goto leave;
    icount++;
    if (r > 0) {
        tc->instret = icount;
        goto leave;
    }
    ip++;
    if (atomic_load_explicit(&tc->chip->stop, memory_order_relaxed))
        goto poll;
    DISPATCH();
}
op_EBREAK:
    SYNC();
    vtpu_tc_fault(tc, VTPU_ERR_EBREAK, VTPU_SPACE_NONE, 0, 0,
                  "ebreak with no debugger attached");
    goto leave;
op_CSR:
    SYNC();
    if (csr_op(tc, ip, icount) < 0)
        goto leave;
    NEXT();

    /* ---- F ---- */
op_FLW: {
    MEM_ADDR(4, false);
    f[ip->rd] = ld32(smem + off);
    NEXT();
}
op_FSW: {
    MEM_ADDR(4, true);
    st32(smem + off, f[ip->rs2]);
    STORED();
    NEXT();
}
#define FP_BINOP(name, rne, any)                                              \
    op_##name:                                                                \
    {                                                                         \
        FP_RM(rm);                                                            \
        uint32_t a = f[ip->rs1], b = f[ip->rs2];                              \
        f[ip->rd] = VTPU_LIKELY(rm == VTPU_RM_RNE)                            \
                        ? rne(a, b, &tc->fflags)                              \
                        : any(a, b, rm, &tc->fflags);                         \
        NEXT();                                                               \
    }
    FP_BINOP(FADD, vtpu_f32_add_rne, vtpu_f32_add)
    FP_BINOP(FSUB, vtpu_f32_sub_rne, vtpu_f32_sub)
    FP_BINOP(FMUL, vtpu_f32_mul_rne, vtpu_f32_mul)
    FP_BINOP(FDIV, vtpu_f32_div_rne, vtpu_f32_div)
#undef FP_BINOP
op_FSQRT: {
    FP_RM(rm);
    f[ip->rd] = vtpu_f32_sqrt(f[ip->rs1], rm, &tc->fflags);
    NEXT();
}
#define FP_FMA(name, np, nc)                                                  \
    op_##name:                                                                \
    {                                                                         \
        FP_RM(rm);                                                            \
        f[ip->rd] = vtpu_f32_fma(f[ip->rs1], f[ip->rs2], f[ip->rs3], np, nc,  \
                                 rm, &tc->fflags);                            \
        NEXT();                                                               \
    }
    FP_FMA(FMADD, false, false)
    FP_FMA(FMSUB, false, true)
    FP_FMA(FNMSUB, true, false)
    FP_FMA(FNMADD, true, true)
#undef FP_FMA
op_FCVT_W_S: {
    FP_RM(rm);
    RD = vtpu_f32_to_i32(f[ip->rs1], rm, &tc->fflags);
    NEXT();
}
op_FCVT_WU_S: {
    FP_RM(rm);
    RD = vtpu_f32_to_u32(f[ip->rs1], rm, &tc->fflags);
    NEXT();
}
op_FCVT_S_W: {
    FP_RM(rm);
    f[ip->rd] = vtpu_f32_from_i32((int32_t)RS1, rm, &tc->fflags);
    NEXT();
}
op_FCVT_S_WU: {
    FP_RM(rm);
    f[ip->rd] = vtpu_f32_from_u32(RS1, rm, &tc->fflags);
    NEXT();
}
op_FSGNJ:
    f[ip->rd] = (f[ip->rs1] & 0x7fffffffu) | (f[ip->rs2] & 0x80000000u);
    NEXT();
op_FSGNJN:
    f[ip->rd] = (f[ip->rs1] & 0x7fffffffu) | (~f[ip->rs2] & 0x80000000u);
    NEXT();
op_FSGNJX:
    f[ip->rd] = f[ip->rs1] ^ (f[ip->rs2] & 0x80000000u);
    NEXT();
op_FMIN:
    f[ip->rd] = vtpu_f32_min(f[ip->rs1], f[ip->rs2], &tc->fflags);
    NEXT();
op_FMAX:
    f[ip->rd] = vtpu_f32_max(f[ip->rs1], f[ip->rs2], &tc->fflags);
    NEXT();
op_FEQ:
    RD = vtpu_f32_eq(f[ip->rs1], f[ip->rs2], &tc->fflags);
    NEXT();
op_FLT:
    RD = vtpu_f32_lt(f[ip->rs1], f[ip->rs2], &tc->fflags);
    NEXT();
op_FLE:
    RD = vtpu_f32_le(f[ip->rs1], f[ip->rs2], &tc->fflags);
    NEXT();
op_FCLASS:
    RD = vtpu_f32_class(f[ip->rs1]);
    NEXT();
op_FMV_X_W:
    RD = f[ip->rs1];
    NEXT();
op_FMV_W_X:
    f[ip->rd] = RS1;
    NEXT();
bad_rm:
    SYNC();
    vtpu_tc_fault(tc, VTPU_ERR_ILLEGAL_INSN, VTPU_SPACE_NONE, 0, 0,
                  "floating-point instruction with rounding mode %s (frm %u)",
                  ip->imm == VTPU_RM_DYN ? "dynamic" : "reserved", tc->frm);
    goto leave;

    /* ---- Xtpu ---- */
op_XTPU: {
    SYNC();
    /* Vector code shares this thread's FPU: keep its flags out of ours. */
    vtpu_fpu_fold(&tc->fflags);
    int r = vtpu_xtpu_exec(tc, ip);
    (void)vtpu_fpu_enter(); /* back to our clean state, flags dropped */
    if (r)
        goto leave;
    NEXT();
}

    /* ---- checks (check.h): only in check.c's copy of the program ---- */
op_MEMCHK: {
    /* rs3 = the real load/store; size and direction from it. */
    static const uint8_t sz[VTPU_OP__COUNT] = {
        [VTPU_OP_LB] = 1, [VTPU_OP_LBU] = 1, [VTPU_OP_SB] = 0x81,
        [VTPU_OP_LH] = 2, [VTPU_OP_LHU] = 2, [VTPU_OP_SH] = 0x82,
        [VTPU_OP_LW] = 4, [VTPU_OP_FLW] = 4, [VTPU_OP_SW] = 0x84,
        [VTPU_OP_FSW] = 0x84};
    uint8_t k = sz[ip->rs3];
    SYNC();
    /* rs1 == sp: the compiler's own frame (spills, struct copies). */
    if (vtpu_check_smem(tc, RS1 + IMM, k & 0x7f, k & 0x80, ip->rs1 == 2))
        goto leave;
    goto *handlers[ip->rs3];
}

    /* ---- debugger (gdbstub.c) ---- */
op_DEBUG: {
    SYNC();
    vtpu_fpu_fold(&tc->fflags);
    int r = vtpu_gdb_trap(tc);
    (void)vtpu_fpu_enter();
    if (r < 0)
        goto leave;
    goto enter;
}

    /* clang-format on */
leave:
    tc->instret = icount;
    vtpu_fpu_leave(saved_fp, &tc->fflags);
    return NULL;

#undef PC_OF
#undef SYNC
#undef DISPATCH
#undef NEXT
#undef POLL
#undef JUMP_TO
#undef RS1
#undef RS2
#undef RD
#undef IMM
#undef MEM_ADDR
#undef FP_RM
}

const void *const *vtpu_interp_handlers(void)
{
    return interp(NULL);
}

void vtpu_tc_execute(vtpu_tc *tc)
{
    interp(tc);
}
