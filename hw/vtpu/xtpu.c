/*
 * xtpu.c - decode and dispatch of the Xtpu custom extension (docs/isa.md).
 *
 * custom-0 (element-wise ALU) runs in vpu.c, custom-2 (MXU) in mxu.c, and
 * custom-3 (DMA, semaphores, barrier) in xtpu_sync.c.  custom-1 is decoded
 * here because it is where the scalar core meets the vector unit: VMEM
 * addresses and strides, indices and scalar values come from x/f
 * registers, and VMEM bounds and alignment are checked here.
 *
 * vtpu_xtpu_valid() runs once per instruction word when a program is
 * loaded, so vtpu_xtpu_exec() only meets encodings that it accepted and
 * does not check register-field ranges again.
 */
#include <string.h>

#include "check.h"
#include "mxu.h"
#include "vpu.h"

#define S VTPU_SUBLANES
#define L VTPU_LANES
#define ROW_BYTES (L * 4)

static bool vxfer_valid(uint32_t raw)
{
    unsigned f3 = XTPU_FUNCT3(raw), rd = XTPU_RD(raw);
    unsigned rs1 = XTPU_RS1(raw), rs2 = XTPU_RS2(raw);
    const unsigned M = VTPU_NUM_MASKS;

    switch (XTPU_FUNCT7(raw)) {
    case XTPU_VLD:
    case XTPU_VST:
    case XTPU_VROTL:
    case XTPU_VROTS:
        return f3 == 0;
    case XTPU_VLD_M:
    case XTPU_VST_M:
        return true;
    case XTPU_VBCAST:
        return f3 <= 1 && rs2 == 0;
    case XTPU_VIOTA:
        return f3 <= XTPU_IOTA_LINEAR && rs2 == 0;
    case XTPU_VEXT:
    case XTPU_VINS:
        return f3 <= 1;
    case XTPU_VREDL:
    case XTPU_VREDS:
        return f3 != 3 && f3 != 7 && rs2 == 0;
    case XTPU_VXPOSE:
        if (f3 == XTPU_XPOSE_128)
            return rd <= VTPU_NUM_VREGS - 16 && rs1 <= VTPU_NUM_VREGS - 16 &&
                   rs2 == 0;
        return f3 == XTPU_XPOSE_8 && rs2 == 0;
    case XTPU_MLOGIC:
        if (rd >= M || rs1 >= M || rs2 >= M || f3 > XTPU_M_CLR)
            return false;
        if (f3 == XTPU_M_NOT)
            return rs2 == 0;
        if (f3 >= XTPU_M_SET)
            return rs1 == 0 && rs2 == 0;
        return true;
    case XTPU_MFROMV:
        return f3 == 0 && rd < M && rs2 == 0;
    case XTPU_MTOV:
        return f3 <= XTPU_MTOV_F32 && rs1 < M && rs2 == 0;
    case XTPU_MCOUNT:
        return f3 == 0 && rs1 < M && rs2 == 0;
    case XTPU_PRNG_SEED:
        return f3 == 0 && rd == 0;
    case XTPU_VRAND:
        return f3 == 0 && rs1 == 0 && rs2 == 0;
    default:
        return false;
    }
}

static bool mxu_valid(uint32_t raw)
{
    unsigned f3 = XTPU_FUNCT3(raw);

    if (f3 == XTPU_F3_R4)
        return true; /* all four multiply-adds */
    switch (XTPU_FUNCT7(raw)) {
    case XTPU_MXU_PUSH:
        return f3 <= XTPU_DT_I8;
    case XTPU_MXU_MATMUL:
        return f3 <= XTPU_PREC_DEFAULT;
    case XTPU_MXU_POP:
        return f3 == 0;
    case XTPU_MXU_CLR:
        return f3 >= XTPU_CLR_STAGING && f3 <= XTPU_CLR_ALL &&
               XTPU_RD(raw) == 0 && XTPU_RS1(raw) == 0;
    default:
        return false;
    }
}

bool vtpu_xtpu_valid(uint32_t raw)
{
    switch (XTPU_OPCODE(raw)) {
    case XTPU_OPC_VALU:
        return vtpu_vpu_alu_valid(raw);
    case XTPU_OPC_VXFER:
        return vxfer_valid(raw);
    case XTPU_OPC_MXU:
        return mxu_valid(raw);
    case XTPU_OPC_SYNC:
        return vtpu_xtpu_sync_valid(raw);
    default:
        return false;
    }
}

/* ------------------------------------------------------------------ */
/* VMEM loads and stores                                                 */
/* ------------------------------------------------------------------ */

/*
 * Sublane s of a vector access covers [addr + s * stride, + 512).  A row
 * entirely inside VMEM is copied whole; a row that is not is an error,
 * except in the masked forms, where only its active elements must be
 * inside (masked-off elements are neither accessed nor checked).
 */
static int vmem_access(vtpu_tc *tc, uint32_t raw, bool store)
{
    unsigned f7 = XTPU_FUNCT7(raw), vr = XTPU_RD(raw);
    bool masked = f7 == XTPU_VLD_M || f7 == XTPU_VST_M;
    const char *name = store ? (masked ? "vst.m" : "vst")
                             : (masked ? "vld.m" : "vld");
    uint32_t addr = tc->x[XTPU_RS1(raw)];
    int32_t stride = (int32_t)tc->x[XTPU_RS2(raw)];
    const uint32_t *m = masked ? tc->vpu->m[XTPU_FUNCT3(raw)] : NULL;
    uint32_t *v = tc->vpu->v[vr].u;

    if (VTPU_UNLIKELY(((addr | (uint32_t)stride) & 3) != 0))
        return vtpu_tc_fault(tc, VTPU_ERR_MISALIGNED, VTPU_SPACE_VMEM, addr,
                             4, "%s v%u: address 0x%08x, sublane stride %d: "
                             "both must be multiples of 4",
                             name, vr, addr, stride);

    /* The whole access is in the TC's VMEM or in VMEM_SHARED, by its
     * base address. */
    uint8_t *vmem;
    uint32_t win, vsize;
    vtpu_vmem_window(tc, addr, &vmem, &win, &vsize);
    const char *wname = win == VTPU_VMEM_BASE ? "VMEM" : "VMEM_SHARED";

    /* Check every row first, so that a faulting access changes nothing. */
    bool partial = false;
    for (unsigned s = 0; s < S; s++) {
        int64_t ta = (int64_t)addr + (int64_t)s * stride; /* TC address */
        int64_t off = ta - win;
        if (VTPU_LIKELY(off >= 0 && off + ROW_BYTES <= vsize))
            continue;
        if (!m)
            return vtpu_tc_fault(
                tc, VTPU_ERR_OOB, VTPU_SPACE_VMEM, (uint32_t)ta, ROW_BYTES,
                "%s v%u: sublane %u at 0x%08x (+%u bytes) is outside %s "
                "[0x%08x, 0x%08x) (base 0x%08x, stride %d)",
                name, vr, s, (uint32_t)ta, ROW_BYTES, wname, win, win + vsize,
                addr, stride);
        for (unsigned l = 0; l < L; l++) {
            int64_t eo = off + 4 * (int64_t)l;
            if (m[s * L + l] && (eo < 0 || eo + 4 > vsize))
                return vtpu_tc_fault(
                    tc, VTPU_ERR_OOB, VTPU_SPACE_VMEM, (uint32_t)(ta + 4 * l),
                    4,
                    "%s v%u: sublane %u lane %u at 0x%08x is outside %s "
                    "[0x%08x, 0x%08x) (base 0x%08x, stride %d)",
                    name, vr, s, l, (uint32_t)(ta + 4 * l), wname, win,
                    win + vsize, addr, stride);
        }
        partial = true;
    }

    if (VTPU_UNLIKELY(tc->check) &&
        vtpu_check_vmem(tc, addr, stride, m, v, store))
        return -1; /* a race or an uninitialised read (check.h) */
    if (store) { /* dirty.c: the pages of the rows (stride may be < 0) */
        int64_t first = (int64_t)addr - win, last = first;
        int64_t span = (int64_t)(S - 1) * stride;
        if (span < 0)
            first += span;
        else
            last += span;
        if (first < 0)
            first = 0; /* masked rows partly outside write nothing there */
        if (last + ROW_BYTES > (int64_t)vsize)
            last = (int64_t)vsize - ROW_BYTES;
        if (last >= first)
            vtpu_dirty_mark(win == VTPU_VMEM_BASE ? tc->vmem_dirty
                                                  : tc->chip->vmem_shared_dirty,
                            (uint64_t)first,
                            (uint64_t)(last - first) + ROW_BYTES);
    }

    if (!m && stride == ROW_BYTES) { /* a dense tile: one 4 KiB copy */
        uint8_t *mem = vmem + ((int64_t)addr - win);
        if (store)
            vtpu_bulk_copy(mem, v, S * ROW_BYTES);
        else
            vtpu_bulk_copy(v, mem, S * ROW_BYTES);
        return 0;
    }
    for (unsigned s = 0; s < S; s++) {
        int64_t off = (int64_t)addr + (int64_t)s * stride - win;
        uint32_t *row = v + s * L;
        const uint32_t *mr = m ? m + s * L : NULL;

        if (!mr) {
            uint8_t *mem = vmem + off;
            if (store)
                vtpu_bulk_copy(mem, row, ROW_BYTES);
            else
                vtpu_bulk_copy(row, mem, ROW_BYTES);
        } else if (!partial || (off >= 0 && off + ROW_BYTES <= vsize)) {
            uint8_t *mem = vmem + off;
            uint32_t w[L];
            vtpu_bulk_copy(w, mem, ROW_BYTES);
            if (store) {
                for (unsigned l = 0; l < L; l++)
                    w[l] = (row[l] & mr[l]) | (w[l] & ~mr[l]);
                vtpu_bulk_copy(mem, w, ROW_BYTES);
            } else {
                for (unsigned l = 0; l < L; l++)
                    row[l] = (w[l] & mr[l]) | (row[l] & ~mr[l]);
            }
        } else {
            /* row partly outside VMEM: its active elements are inside */
            for (unsigned l = 0; l < L; l++) {
                if (!mr[l])
                    continue;
                uint8_t *mem = vmem + off + 4 * l;
                if (store)
                    memcpy(mem, &row[l], 4);
                else
                    memcpy(&row[l], mem, 4);
            }
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* execution                                                             */
/* ------------------------------------------------------------------ */

static inline void set_x(vtpu_tc *tc, unsigned rd, uint32_t v)
{
    if (rd != 0)
        tc->x[rd] = v;
}

static int vxfer_exec(vtpu_tc *tc, uint32_t raw)
{
    vtpu_vpu *p = tc->vpu;
    unsigned f3 = XTPU_FUNCT3(raw), rd = XTPU_RD(raw);
    unsigned rs1 = XTPU_RS1(raw), rs2 = XTPU_RS2(raw);

    switch (XTPU_FUNCT7(raw)) {
    case XTPU_VLD:
    case XTPU_VLD_M:
        return vmem_access(tc, raw, false);
    case XTPU_VST:
    case XTPU_VST_M:
        return vmem_access(tc, raw, true);
    case XTPU_VBCAST:
        vtpu_vpu_bcast(p, rd, f3 ? tc->f[rs1] : tc->x[rs1]);
        return 0;
    case XTPU_VIOTA:
        vtpu_vpu_iota(p, rd, f3, tc->x[rs1]);
        return 0;
    case XTPU_VEXT: {
        uint32_t v = p->v[rs1].u[tc->x[rs2] % VTPU_VREG_ELEMS];
        if (f3)
            tc->f[rd] = v;
        else
            set_x(tc, rd, v);
        return 0;
    }
    case XTPU_VINS:
        p->v[rd].u[tc->x[rs2] % VTPU_VREG_ELEMS] =
            f3 ? tc->f[rs1] : tc->x[rs1];
        return 0;
    case XTPU_VROTL:
        vtpu_vpu_rot_lanes(p, rd, rs1, tc->x[rs2]);
        return 0;
    case XTPU_VROTS:
        vtpu_vpu_rot_sublanes(p, rd, rs1, tc->x[rs2]);
        return 0;
    case XTPU_VREDL:
    case XTPU_VREDS:
        vtpu_vpu_reduce(p, rd, rs1, f3, XTPU_FUNCT7(raw) == XTPU_VREDL);
        return 0;
    case XTPU_VXPOSE:
        vtpu_vpu_transpose(p, rd, rs1, f3);
        return 0;
    case XTPU_MLOGIC:
        vtpu_vpu_mask_logic(p, f3, rd, rs1, rs2);
        return 0;
    case XTPU_MFROMV:
        vtpu_vpu_mask_from_vreg(p, rd, rs1);
        return 0;
    case XTPU_MTOV:
        vtpu_vpu_mask_to_vreg(p, rd, rs1, f3);
        return 0;
    case XTPU_PRNG_SEED:
        vtpu_prng_seed(&p->prng, tc->x[rs1], tc->x[rs2]);
        return 0;
    case XTPU_VRAND:
        vtpu_prng_draw(&p->prng, p->v[rd].u);
        return 0;
    default: /* XTPU_MCOUNT */
        set_x(tc, rd, vtpu_vpu_mask_count(p, rs1));
        return 0;
    }
}

static int mxu_exec(vtpu_tc *tc, uint32_t raw)
{
    unsigned f3 = XTPU_FUNCT3(raw), rd = XTPU_RD(raw);
    unsigned rs1 = XTPU_RS1(raw), rs2 = XTPU_RS2(raw);

    if (f3 == XTPU_F3_R4) {
        vtpu_vpu_muladd(tc->vpu, XTPU_FUNCT2(raw), rd, rs1, rs2,
                        XTPU_RS3(raw));
        return 0;
    }
    switch (XTPU_FUNCT7(raw)) {
    case XTPU_MXU_PUSH:
        if (VTPU_UNLIKELY(tc->check) && vtpu_check_mxu_input(tc, rs1))
            return -1; /* poisoned operand (check.h) */
        return vtpu_mxu_push(tc, rd, f3, rs2, rs1);
    case XTPU_MXU_MATMUL:
        if (VTPU_UNLIKELY(tc->check) && vtpu_check_mxu_input(tc, rs1))
            return -1;
        return vtpu_mxu_matmul(tc, rs2, f3, rd, rs1);
    case XTPU_MXU_POP:
        return vtpu_mxu_pop(tc, rs2, rs1, rd);
    default: /* XTPU_MXU_CLR */
        return vtpu_mxu_clear(tc, rs2, f3);
    }
}

/* The per-TC counter (vtpu_tc_stats) a custom-1 or custom-2 op counts in. */
static uint64_t *op_counter(vtpu_tc *tc, uint32_t raw)
{
    if (XTPU_OPCODE(raw) == XTPU_OPC_MXU) {
        if (XTPU_FUNCT3(raw) == XTPU_F3_R4)
            return &tc->cnt.vec_alu;
        switch (XTPU_FUNCT7(raw)) {
        case XTPU_MXU_PUSH:
            return &tc->cnt.mxu_push;
        case XTPU_MXU_MATMUL:
            return &tc->cnt.mxu_matmul;
        case XTPU_MXU_POP:
            return &tc->cnt.mxu_pop;
        default:
            return &tc->cnt.mxu_clear;
        }
    }
    switch (XTPU_FUNCT7(raw)) {
    case XTPU_VLD:
    case XTPU_VST:
    case XTPU_VLD_M:
    case XTPU_VST_M:
        return &tc->cnt.vec_ldst;
    case XTPU_MLOGIC:
    case XTPU_MFROMV:
    case XTPU_MTOV:
    case XTPU_MCOUNT:
        return &tc->cnt.vec_mask;
    default:
        return &tc->cnt.vec_xlane;
    }
}

int vtpu_xtpu_exec(vtpu_tc *tc, const vtpu_insn *insn)
{
    uint32_t raw = (uint32_t)insn->imm;

    switch (XTPU_OPCODE(raw)) {
    case XTPU_OPC_VALU:
        tc->units_dirty = true; /* chip.c: reset the units after the run */
        tc->cnt.vec_alu++;
        vtpu_vpu_alu(tc->vpu, raw);
        return 0;
    case XTPU_OPC_VXFER:
        tc->units_dirty = true;
        (*op_counter(tc, raw))++;
        return vxfer_exec(tc, raw);
    case XTPU_OPC_MXU:
        tc->units_dirty = true;
        (*op_counter(tc, raw))++;
        return mxu_exec(tc, raw);
    default:
        return vtpu_xtpu_sync_exec(tc, insn);
    }
}
