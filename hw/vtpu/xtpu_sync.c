/*
 * xtpu_sync.c - the custom-3 opcode (0x7B) of Xtpu: DMA start, semaphores
 * and the barrier (docs/isa.md, "custom-3").
 *
 * R-type, except sem.signal.tc which needs three sources and is R4-type
 * (funct2 = 0, rs3 in bits 31:27).  funct3 selects the instruction; every
 * field an instruction does not use must be zero, so that later additions
 * can use it without changing what existing code means.
 *
 *   funct3  name           operands                  format
 *   0       dma.start      rs1 = descriptor address  R, rd = rs2 = 0
 *   1       sem.signal     rs1 = sem, rs2 = n        R, rd = 0
 *   2       sem.signal.tc  rs1 = TC, rs2 = sem, rs3 = n   R4, rd = 0
 *   3       sem.wait       rs1 = sem, rs2 = n        R, rd = 0
 *   4       sem.read       rd <- sem[rs1]            R, rs2 = 0
 *   5       barrier        -                         R, rd = rs1 = rs2 = 0
 *   6       sem.signal.remote  rs1 = chip, rs2 = sem | tc << 16,
 *                          rs3 = n                   R4, rd = 0
 */
#include "check.h"
#include "internal.h"
#include "xtpu-encoding.h"


bool vtpu_xtpu_sync_valid(uint32_t raw)
{
    unsigned funct7 = XTPU_FUNCT7(raw);

    if (XTPU_OPCODE(raw) != XTPU_OPC_SYNC)
        return false;
    switch (XTPU_FUNCT3(raw)) {
    case XTPU_DMA_START:
        return funct7 == 0 && XTPU_RS2(raw) == 0 && XTPU_RD(raw) == 0;
    case XTPU_SEM_SIGNAL:
    case XTPU_SEM_WAIT:
        return funct7 == 0 && XTPU_RD(raw) == 0;
    case XTPU_SEM_SIGNAL_TC:
    case XTPU_SEM_SIGNAL_REMOTE:
        return XTPU_FUNCT2(raw) == 0 && XTPU_RD(raw) == 0;
    case XTPU_SEM_READ:
        return funct7 == 0 && XTPU_RS2(raw) == 0;
    case XTPU_BARRIER:
        return funct7 == 0 && XTPU_RD(raw) == 0 && XTPU_RS1(raw) == 0 &&
               XTPU_RS2(raw) == 0;
    default:
        return false;
    }
}

/*
 * Debugging aids before a semaphore operation or the barrier (sem < 0):
 * grid-step marks for the trace, and completing deferred DMAs that the
 * operation may observe (dmaq.c).  A sem.wait of `wait` units that may
 * block also completes every queued remote DMA first (the deadlock test
 * must not see a receiver blocked on data sitting in our queue; once the
 * value is >= wait it stays so, as only this TC subtracts).  Only called
 * when chip->dbg is set.
 */
static int __attribute__((noinline))
dbg_sync(vtpu_tc *tc, int64_t sem, uint32_t wait)
{
    vtpu_dbg_sync_point(tc);
    if (!tc->dmaq)
        return 0;
    bool may_block = false;
    if (wait && sem >= 0 && (uint64_t)sem < tc->chip->cfg.num_sems) {
        uint32_t v;
        may_block = vtpu_sem_read(tc, (uint32_t)sem, &v) == 0 && v < wait;
    }
    return vtpu_dmaq_sync(tc, sem, sem < 0 || may_block);
}

int vtpu_xtpu_sync_exec(vtpu_tc *tc, const vtpu_insn *insn)
{
    uint32_t raw = (uint32_t)insn->imm;
    uint32_t a = tc->x[insn->rs1], b = tc->x[insn->rs2];

    switch (XTPU_FUNCT3(raw)) {
    case XTPU_DMA_START:
        return vtpu_dma_start(tc, a);
    case XTPU_SEM_SIGNAL:
        tc->cnt.sem_ops++;
        if (VTPU_UNLIKELY(tc->check))
            vtpu_check_signal(tc, tc->id, a, b); /* happens-before */
        return vtpu_sem_signal(tc, tc->id, a, b);
    case XTPU_SEM_SIGNAL_TC:
        tc->cnt.sem_ops++;
        if (VTPU_UNLIKELY(tc->check))
            vtpu_check_signal(tc, a, b, tc->x[XTPU_RS3(raw)]);
        /* rs3 is not an R-type field, so it is taken from the raw word. */
        return vtpu_sem_signal(tc, a, b, tc->x[XTPU_RS3(raw)]);
    case XTPU_SEM_SIGNAL_REMOTE:
        tc->cnt.sem_ops++;
        return vtpu_sem_signal_remote(tc, a, b, tc->x[XTPU_RS3(raw)]);
    case XTPU_SEM_WAIT: {
        tc->cnt.sem_ops++;
        if (VTPU_UNLIKELY(tc->chip->dbg) && dbg_sync(tc, a, b))
            return -1;
        int rc = vtpu_sem_wait(tc, a, b);
        if (VTPU_UNLIKELY(tc->check) && rc == 0)
            vtpu_check_wait(tc, a, b);
        return rc;
    }
    case XTPU_SEM_READ: {
        uint32_t v;
        tc->cnt.sem_ops++;
        if (VTPU_UNLIKELY(tc->chip->dbg) && dbg_sync(tc, a, 0))
            return -1;
        if (vtpu_sem_read(tc, a, &v))
            return -1;
        /* rd may be 0 here, or the decoder's x0 sink (32): both harmless
         * to skip or write, but x0 itself must never change. */
        if (insn->rd != 0)
            tc->x[insn->rd] = v;
        return 0;
    }
    case XTPU_BARRIER:
        if (VTPU_UNLIKELY(tc->chip->dbg) && dbg_sync(tc, -1, 0))
            return -1;
        if (VTPU_UNLIKELY(tc->check)) {
            vtpu_check_barrier_arrive(tc);
            if (vtpu_barrier(tc))
                return -1;
            vtpu_check_barrier_leave(tc);
            return 0;
        }
        return vtpu_barrier(tc);
    default:
        /* The decoder only lets valid encodings through to here. */
        return vtpu_tc_fault(tc, VTPU_ERR_ILLEGAL_INSN, VTPU_SPACE_NONE, 0, 0,
                             "custom-3 instruction 0x%08x", raw);
    }
}
