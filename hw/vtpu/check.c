/*
 * check.c - the framework of the opt-in checks (check.h): which checks a
 * chip has, the checking copy of the program, and the hooks the engine
 * calls, which walk each access once and hand its contiguous pieces to
 * the race detector (race.c) and the poison check (poison.c).  Also what
 * both need to report: where a pointer points, addresses, grid points.
 *
 * A check that is off has a NULL pointer here, and every hook tests it
 * before doing that check's work: poison alone never touches race state,
 * and race alone never touches poison state.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "fpu.h"
#include "vpu.h"

/* Reports may be cut short; the return value is not needed. */
#define fmt(...) ((void)g_snprintf(__VA_ARGS__))

struct vtpu_check {
    vtpu_chip *chip;
    vtpu_race *race;     /* NULL: no race detection */
    vtpu_poison *poison; /* NULL: no poison check */
    vtpu_bounds *bounds; /* NULL: no buffer bounds check */
    vtpu_padding *padding; /* NULL: buffer bounds not 'logical' */
    bool scalar;         /* scalar SMEM accesses go through MEMCHK */
    vtpu_insn *code;     /* the checking copy of the program */
};

/* ------------------------------------------------------------------ */
/* Setup                                                                */
/* ------------------------------------------------------------------ */

static vtpu_check *check_new(vtpu_chip *chip, vtpu_poison *poison);

/*
 * chip->check for the settings in chip->cfg.  The poison check, if it
 * stays on, keeps its shadow: it knows what the host, DMAs and stores
 * wrote before (HBM filled by the host, then the bounds check switched,
 * must not turn into "never written").  The others start afresh (a new
 * race detector has no history, which loses reports but makes none up).
 */
static void reconfigure(vtpu_chip *chip)
{
    vtpu_check *old = chip->check;
    vtpu_poison *keep = NULL;

    if (old && chip->cfg.poison) {
        keep = old->poison;
        old->poison = NULL;
    }
    vtpu_check_free(old);
    chip->check = check_new(chip, keep);
}

void vtpu_chip_set_bounds(vtpu_chip *chip, unsigned mode)
{
    chip->cfg.bounds = mode > VTPU_BOUNDS_LOGICAL ? VTPU_BOUNDS_PADDED : mode;
    reconfigure(chip);
}

int vtpu_chip_set_checks(vtpu_chip *chip, bool race, bool poison, char *err,
                         size_t errlen)
{
    if (race && chip->fabric && chip->nchips > VTPU_RACE_MAX_CHIPS) {
        if (err && errlen)
            fmt(err, errlen,
                "race detection supports slices of at most %u chips, this "
                "one has %u",
                VTPU_RACE_MAX_CHIPS, chip->nchips);
        return -1;
    }
    chip->cfg.race = race;
    chip->cfg.poison = poison;
    reconfigure(chip);
    if ((race && !(chip->check && chip->check->race)) ||
        (poison && !(chip->check && chip->check->poison))) {
        if (err && errlen)
            fmt(err, errlen, "cannot reserve shadow memory for the checks");
        chip->cfg.race = chip->cfg.poison = 0;
        vtpu_check_free(chip->check);
        chip->check = vtpu_check_new(chip); /* bounds, if it is on */
        return -1;
    }
    return 0;
}

/* The fabric's race domain, made on first use (fabric.c keeps it). */
static void attach(vtpu_chip *chip, vtpu_check *ck)
{
    if (ck && ck->race) {
        vtpu_race_dom *d = vtpu_fabric_race_dom(chip->fabric);
        if (d)
            vtpu_race_attach(ck->race, d, chip->chip_id);
    }
}

vtpu_check *vtpu_check_new(vtpu_chip *chip)
{
    return check_new(chip, NULL);
}

/* `poison`: the poison check's state to keep, or NULL for a new one. */
static vtpu_check *check_new(vtpu_chip *chip, vtpu_poison *poison)
{
    const vtpu_config *cfg = &chip->cfg;
    vtpu_check *ck;

    if (!cfg->race && !cfg->poison && !cfg->bounds)
        return NULL;
    ck = g_new0(vtpu_check, 1);
    ck->chip = chip;
    if (cfg->bounds)
        ck->bounds = vtpu_bounds_new(chip);
    if (cfg->bounds == VTPU_BOUNDS_LOGICAL)
        ck->padding = vtpu_padding_new(chip, ck->bounds);
    if (cfg->poison)
        ck->poison = poison ? poison : vtpu_poison_new(chip);
    if (cfg->race)
        ck->race = vtpu_race_new(chip); /* NULL: out of address space */
    if (chip->fabric)
        attach(chip, ck);
    return ck;
}

void vtpu_check_attach(vtpu_chip *chip)
{
    attach(chip, chip->check);
}

void vtpu_check_detach(vtpu_chip *chip)
{
    vtpu_check *ck = chip->check;

    if (ck && ck->race)
        vtpu_race_detach(ck->race);
}

void vtpu_check_free(vtpu_check *ck)
{
    if (!ck)
        return;
    vtpu_race_free(ck->race);
    vtpu_poison_free(ck->poison);
    vtpu_padding_free(ck->padding);
    vtpu_bounds_free(ck->bounds);
    g_free(ck->code);
    g_free(ck);
}

/* The copy of the program whose loads/stores go through MEMCHK. */
static void build_code(vtpu_check *ck, const vtpu_program *prog)
{
    const void *const *h = vtpu_interp_handlers();
    static const int ops[] = {VTPU_OP_LB,  VTPU_OP_LH, VTPU_OP_LW, VTPU_OP_LBU,
                              VTPU_OP_LHU, VTPU_OP_SB, VTPU_OP_SH, VTPU_OP_SW,
                              VTPU_OP_FLW, VTPU_OP_FSW};

    g_free(ck->code);
    ck->code = g_memdup2(prog->code, sizeof(vtpu_insn) * prog->code_words);
    for (uint32_t i = 0; i < prog->code_words; i++) {
        for (unsigned k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
            if (ck->code[i].h == h[ops[k]]) {
                /* rs3 is unused by loads and stores: the real op. */
                ck->code[i].rs3 = (uint8_t)ops[k];
                ck->code[i].h = h[VTPU_OP_MEMCHK];
                break;
            }
        }
    }
}

void vtpu_check_run_begin(vtpu_chip *chip, unsigned ntcs)
{
    vtpu_check *ck = chip->check;

    if (ck->poison && !chip->resuming) {
        vtpu_poison_run_begin(ck->poison, ntcs);
    } else if (ck->poison) {
        /* a run resumed from a snapshot: its memory counts as written
         * (the shadow does not travel; vtpu-snapshot.h) */
        for (unsigned t = 0; t < ntcs; t++) {
            vtpu_mem_ref s = {VTPU_SPACE_SMEM, t, 0};
            vtpu_mem_ref v = {VTPU_SPACE_VMEM, t, 0};
            vtpu_poison_write(ck->poison, &s, chip->tcs[t]->smem_size);
            vtpu_poison_write(ck->poison, &v, chip->tcs[t]->vmem_size);
        }
        vtpu_mem_ref sh = {VTPU_SPACE_VMEM, VTPU_SHARED_OWNER, 0};
        vtpu_poison_write(ck->poison, &sh, chip->cfg.vmem_shared_size);
    }
    if (ck->race)
        vtpu_race_run_begin(ck->race, ntcs);
    if (ck->bounds)
        vtpu_bounds_run_begin(ck->bounds, ntcs);
    if (ck->padding)
        vtpu_padding_run_begin(ck->padding, ntcs);
    /* A debugger's patched copy wins; scalar accesses then go unchecked
     * (and, for poison, all of SMEM counts as written).  The bounds
     * check alone needs no scalar accesses. */
    ck->scalar = !chip->gdb && (ck->race || ck->poison);
    if (ck->scalar)
        build_code(ck, chip->prog);
    for (unsigned t = 0; t < ntcs && ck->poison && !ck->scalar; t++) {
        vtpu_mem_ref r = {VTPU_SPACE_SMEM, t, 0};
        vtpu_poison_write(ck->poison, &r, chip->tcs[t]->smem_size);
    }
    for (unsigned t = 0; t < ntcs; t++) {
        vtpu_tc *tc = chip->tcs[t];
        tc->check = ck;
        if (ck->scalar)
            tc->code = ck->code;
    }
}

void vtpu_check_run_start(vtpu_chip *chip, unsigned ntcs)
{
    vtpu_check *ck = chip->check;

    if (ck->race)
        vtpu_race_run_start(ck->race, ntcs);
}

/* ------------------------------------------------------------------ */
/* Accesses                                                             */
/* ------------------------------------------------------------------ */

int vtpu_check_vmem(vtpu_tc *tc, uint32_t addr, int32_t stride,
                    const uint32_t *mask, const uint32_t *vreg, bool store)
{
    vtpu_check *ck = tc->check;

    if (ck->bounds &&
        vtpu_bounds_vmem(ck->bounds, tc, addr, stride, mask, store))
        return -1;
    if (ck->padding &&
        vtpu_padding_vmem(ck->padding, tc, addr, stride, mask, store))
        return -1;
    if (!ck->race && !ck->poison)
        return 0;

    /* A dense unmasked access is one range (and one report). */
    unsigned rows = !mask && stride == 512 ? 1 : 8, lanes = 1024 / rows;

    uint8_t *vbase;
    uint32_t win, vsize;
    vtpu_vmem_window(tc, addr, &vbase, &win, &vsize);
    unsigned owner = win == VTPU_VMEM_BASE ? tc->id : VTPU_SHARED_OWNER;

    for (unsigned s = 0; s < rows; s++) {
        int64_t off = (int64_t)addr + (int64_t)s * stride - win;
        const uint32_t *m = mask ? mask + s * 128 : NULL;
        for (unsigned l = 0; l < lanes;) {
            /* a run of active lanes [l, e) */
            unsigned e = l;
            if (m) {
                while (l < 128 && !m[l])
                    l++;
                e = l;
                while (e < 128 && m[e] && off + 4 * (int64_t)e >= 0 &&
                       off + 4 * (int64_t)e + 4 <= vsize)
                    e++;
                if (e == l) {
                    l++;
                    continue;
                }
            } else {
                e = lanes;
            }
            vtpu_mem_ref r = {VTPU_SPACE_VMEM, owner,
                              (uint64_t)(off + 4 * (int64_t)l)};
            uint64_t len = 4u * (e - l);
            if (ck->race &&
                vtpu_race_access(ck->race, tc, false, &r, len, store))
                return -1;
            /* Loads of poison are not reported: kernels load whole tiles
             * of partly filled blocks; the poison is caught where it is
             * used (MXU, DMA out), see poison.c. */
            if (ck->poison && store)
                vtpu_poison_store(ck->poison, tc, &r, vreg + s * 128 + l,
                                  e - l);
            else if (ck->poison)
                vtpu_poison_vload(ck->poison, tc, &r, e - l);
            l = e;
        }
    }
    return 0;
}

int vtpu_check_smem(vtpu_tc *tc, uint32_t addr, unsigned size, bool store,
                    bool frame)
{
    vtpu_check *ck = tc->check;
    uint32_t off = addr - VTPU_SMEM_BASE;

    if (off >= tc->smem_size || size > tc->smem_size - off)
        return 0;
    vtpu_mem_ref r = {VTPU_SPACE_SMEM, tc->id, off};
    if (ck->race && vtpu_race_access(ck->race, tc, false, &r, size, store))
        return -1;
    if (ck->poison && store)
        vtpu_poison_write(ck->poison, &r, size);
    else if (ck->poison && !frame &&
             vtpu_poison_scalar(ck->poison, tc, &r, size))
        return -1;
    return 0;
}

/* Which memory a host pointer into chip memory belongs to. */
static bool resolve(vtpu_chip *chip, const uint8_t *p, vtpu_mem_ref *r)
{
    if (p >= chip->hbm && p < chip->hbm + chip->cfg.hbm_size) {
        *r = (vtpu_mem_ref){VTPU_SPACE_HBM, 0, (uint64_t)(p - chip->hbm)};
        return true;
    }
    if (chip->vmem_shared && p >= chip->vmem_shared &&
        p < chip->vmem_shared + chip->cfg.vmem_shared_size) {
        *r = (vtpu_mem_ref){VTPU_SPACE_VMEM, VTPU_SHARED_OWNER,
                            (uint64_t)(p - chip->vmem_shared)};
        return true;
    }
    for (unsigned t = 0; t < chip->cfg.num_tcs; t++) {
        vtpu_tc *tc = chip->tcs[t];
        if (p >= tc->vmem && p < tc->vmem + tc->vmem_size) {
            *r = (vtpu_mem_ref){VTPU_SPACE_VMEM, t, (uint64_t)(p - tc->vmem)};
            return true;
        }
        if (p >= tc->smem && p < tc->smem + tc->smem_size) {
            *r = (vtpu_mem_ref){VTPU_SPACE_SMEM, t, (uint64_t)(p - tc->smem)};
            return true;
        }
    }
    return false;
}

/* One side of a DMA: every contiguous run of count[0] bytes, in the
 * memory of ck's chip (tc's, or a remote DMA's destination); `race`:
 * tc's DMA has an epoch (vtpu_race_dma_start). */
static int dma_side(vtpu_check *ck, vtpu_tc *tc, bool race, const uint8_t *base,
                    const int64_t *stride, const uint64_t *count,
                    unsigned ndims, bool write)
{
    uint64_t c1 = ndims > 1 ? count[1] : 1, c2 = ndims > 2 ? count[2] : 1;
    uint64_t c3 = ndims > 3 ? count[3] : 1;
    vtpu_mem_ref r0;

    if (!resolve(ck->chip, base, &r0))
        return 0;
    for (uint64_t i3 = 0; i3 < c3; i3++)
        for (uint64_t i2 = 0; i2 < c2; i2++)
            for (uint64_t i1 = 0; i1 < c1; i1++) {
                int64_t o = (int64_t)i3 * (ndims > 3 ? stride[3] : 0) +
                            (int64_t)i2 * (ndims > 2 ? stride[2] : 0) +
                            (int64_t)i1 * (ndims > 1 ? stride[1] : 0);
                vtpu_mem_ref r = r0;
                r.off = (uint64_t)((int64_t)r0.off + o);
                if (race && ck->race &&
                    vtpu_race_access(ck->race, tc, true, &r, count[0], write))
                    return -1;
                if (ck->poison) {
                    if (write)
                        vtpu_poison_write(ck->poison, &r, count[0]);
                    else if (vtpu_poison_read(ck->poison, tc, &r, count[0],
                                              "DMA issued by"))
                        return -1;
                }
            }
    return 0;
}

/* Both sides of a DMA against the runtime's buffers (bounds.c). */
static int dma_bounds(vtpu_check *ck, vtpu_tc *tc, const vtpu_dma_plan *p)
{
    vtpu_mem_ref r;

    if (resolve(ck->chip, p->src, &r) &&
        vtpu_bounds_dma_side(ck->bounds, tc, &r, p->src_stride, p->count,
                             p->ndims, false))
        return -1;
    if (resolve(ck->chip, p->dst, &r) &&
        vtpu_bounds_dma_side(ck->bounds, tc, &r, p->dst_stride, p->count,
                             p->ndims, true))
        return -1;
    vtpu_mem_ref src;
    if (ck->padding && resolve(ck->chip, p->dst, &r) &&
        resolve(ck->chip, p->src, &src))
        vtpu_padding_dma(ck->padding, tc, &src, &r, p->dst_stride, p->count,
                         p->ndims);
    return 0;
}

int vtpu_check_dma(vtpu_tc *tc, const vtpu_dma_plan *p)
{
    vtpu_check *ck = tc->check;
    int rc = 0;

    if (ck->bounds && p->ndims && dma_bounds(ck, tc, p))
        return -1;
    if (!ck->race && !ck->poison)
        return 0;

    if (ck->race)
        vtpu_race_dma_start(ck->race, tc, p->sem_tc, p->sem, p->bytes);
    if (p->ndims) {
        rc = dma_side(ck, tc, true, p->src, p->src_stride, p->count, p->ndims,
                      false);
        /* an adding DMA reads what it adds to */
        if (!rc && p->add)
            rc = dma_side(ck, tc, true, p->dst, p->dst_stride, p->count,
                          p->ndims, false);
        if (!rc)
            rc = dma_side(ck, tc, true, p->dst, p->dst_stride, p->count,
                          p->ndims, true);
    }
    if (ck->race)
        vtpu_race_dma_end(ck->race, tc);
    return rc;
}

int vtpu_check_remote_dma(vtpu_tc *tc, vtpu_dma_plan *p)
{
    vtpu_check *cs = tc->check; /* the issuer's run */
    vtpu_check *cd = p->rchip ? p->rchip->check : NULL;
    vtpu_race *rs = cs ? cs->race : NULL;
    vtpu_mem_ref r;
    int rc = 0;

    if (cs && cs->bounds && p->ndims && resolve(cs->chip, p->src, &r) &&
        vtpu_bounds_dma_side(cs->bounds, tc, &r, p->src_stride, p->count,
                             p->ndims, false))
        return -1;
    if (cs && cs->bounds && p->ndims &&
        vtpu_bounds_remote_dst(cs->bounds, tc, &p->rm, p->dst_chip))
        return -1;
    if (rs) {
        vtpu_race_remote_start(rs, tc, cd ? cd->race : NULL, p->dst_chip,
                               p->sem_tc, p->sem, p->send_sem, p->bytes);
        if (!p->rchip) /* another process's: the clock goes with it */
            p->race_ep = vtpu_race_remote_keep(rs, tc);
    }
    if (p->ndims && cs && (rs || cs->poison))
        rc = dma_side(cs, tc, true, p->src, p->src_stride, p->count, p->ndims,
                      false);
    /* the destination chip's shadow, with the same epoch and clock */
    if (!rc && p->ndims && cd && ((rs && cd->race) || cd->poison))
        rc = dma_side(cd, tc, rs != NULL, p->dst, p->dst_stride, p->count,
                      p->ndims, true);
    if (rs)
        vtpu_race_dma_end(rs, tc);
    return rc;
}

uint32_t *vtpu_check_remote_clock(vtpu_tc *tc, const vtpu_dma_plan *p,
                                  vtpu_race_clock *rc)
{
    vtpu_check *ck = tc->check;

    return ck && ck->race ? vtpu_race_remote_take(ck->race, tc, p->race_ep, rc)
                          : NULL;
}

bool vtpu_check_signal_remote(vtpu_tc *tc, uint32_t chip, uint32_t dst_tc,
                              uint32_t sem, uint32_t n, vtpu_race_clock *rc)
{
    vtpu_check *ck = tc->check;

    if (!ck->race)
        return false;
    vtpu_fabric *f = tc->chip->fabric;
    vtpu_chip *dst = f ? vtpu_fabric_get(f, chip, NULL) : NULL;
    vtpu_race *rd = dst && dst->check ? dst->check->race : NULL;
    bool far = f && !dst; /* another process's: the clock goes with it */
    if (far)
        vtpu_race_signal_clock(ck->race, tc, rc); /* before the tick */
    vtpu_race_signal_remote(ck->race, tc, rd, dst_tc, sem, n);
    if (dst)
        vtpu_fabric_put(f, dst);
    return far;
}

void vtpu_check_written(vtpu_chip *chip, const uint8_t *p, uint64_t len)
{
    vtpu_check *ck = chip->check;
    vtpu_mem_ref r;

    if (ck && ck->poison && resolve(chip, p, &r))
        vtpu_poison_write(ck->poison, &r, len);
}

void vtpu_check_delivered(vtpu_chip *chip, uint32_t tc, uint32_t sem,
                          uint32_t n)
{
    vtpu_check *ck = chip->check;

    if (ck && ck->race)
        vtpu_race_delivered(ck->race, tc, sem, n);
}

int vtpu_check_delivered_dma(vtpu_chip *chip, unsigned src_chip,
                             const vtpu_remote_dma *d, uint8_t *mem,
                             int64_t off, char *err, size_t errlen)
{
    vtpu_check *ck = chip->check;
    vtpu_race *rd = ck ? ck->race : NULL;
    int rc = 0;

    if (!rd || !d->race || !d->bytes)
        return 0;
    uint32_t *vc = vtpu_race_far_dma(rd, src_chip, d->race);
    /* the runs in apply_dma's order (fabric.c) */
    uint32_t run = d->shape[0];
    uint32_t c1 = d->ndims > 1 ? d->shape[1] : 1;
    uint32_t c2 = d->ndims > 2 ? d->shape[2] : 1;
    uint32_t c3 = d->ndims > 3 ? d->shape[3] : 1;
    for (uint32_t i3 = 0; i3 < c3 && !rc; i3++)
        for (uint32_t i2 = 0; i2 < c2 && !rc; i2++)
            for (uint32_t i1 = 0; i1 < c1 && !rc; i1++) {
                int64_t o =
                    off + (int64_t)i1 * (d->ndims > 1 ? d->dst_stride[0] : 0) +
                    (int64_t)i2 * (d->ndims > 2 ? d->dst_stride[1] : 0) +
                    (int64_t)i3 * (d->ndims > 3 ? d->dst_stride[2] : 0);
                vtpu_mem_ref r;
                if (resolve(chip, mem + o, &r))
                    rc = vtpu_race_far_write(rd, src_chip, d->race, vc,
                                             d->src_pc, &r, run, err, errlen);
            }
    g_free(vc);
    return rc;
}

void vtpu_check_delivered_race(vtpu_chip *chip, uint32_t tc, uint32_t sem,
                               uint32_t n, const vtpu_race_clock *rc)
{
    vtpu_check *ck = chip->check;

    if (ck && ck->race)
        vtpu_race_delivered_clock(ck->race, tc, sem, n, rc);
}

int vtpu_check_mxu_input(vtpu_tc *tc, unsigned v)
{
    vtpu_check *ck = tc->check;

    return ck->poison ? vtpu_poison_mxu(ck->poison, tc, v, tc->vpu->v[v].u) : 0;
}

void vtpu_check_host_write(vtpu_chip *chip, uint64_t off, uint64_t len)
{
    vtpu_check *ck = chip->check;

    if (ck && ck->poison) {
        vtpu_mem_ref r = {VTPU_SPACE_HBM, 0, off};
        vtpu_poison_write(ck->poison, &r, len);
    }
}

/* ------------------------------------------------------------------ */
/* Synchronisation: only the race detector orders anything              */
/* ------------------------------------------------------------------ */

void vtpu_check_signal(vtpu_tc *tc, uint32_t target_tc, uint32_t sem,
                       uint32_t n)
{
    vtpu_check *ck = tc->check;

    if (ck->race)
        vtpu_race_signal(ck->race, tc, target_tc, sem, n);
}

void vtpu_check_wait(vtpu_tc *tc, uint32_t sem, uint32_t n)
{
    vtpu_check *ck = tc->check;

    if (ck->race)
        vtpu_race_wait(ck->race, tc, sem, n);
}

void vtpu_check_barrier_arrive(vtpu_tc *tc)
{
    vtpu_check *ck = tc->check;

    if (ck->race)
        vtpu_race_barrier_arrive(ck->race, tc);
}

void vtpu_check_barrier_leave(vtpu_tc *tc)
{
    vtpu_check *ck = tc->check;

    if (ck->race)
        vtpu_race_barrier_leave(ck->race, tc);
}

/* ------------------------------------------------------------------ */
/* Reports                                                              */
/* ------------------------------------------------------------------ */

uint64_t vtpu_check_addr(const vtpu_mem_ref *r)
{
    switch (r->space) {
    case VTPU_SPACE_VMEM:
        return (r->tc == VTPU_SHARED_OWNER ? VTPU_VMEM_SHARED_BASE
                                           : VTPU_VMEM_BASE) +
               r->off;
    case VTPU_SPACE_SMEM:
        return VTPU_SMEM_BASE + r->off;
    default:
        return r->off;
    }
}

const char *vtpu_check_space(const vtpu_mem_ref *r, char *buf, size_t len)
{
    if (r->space == VTPU_SPACE_HBM)
        fmt(buf, len, "HBM");
    else if (r->space == VTPU_SPACE_VMEM && r->tc == VTPU_SHARED_OWNER)
        fmt(buf, len, "VMEM_SHARED");
    else
        fmt(buf, len, "%s of TC %u", vtpu_space_name(r->space), r->tc);
    return buf;
}

const char *vtpu_check_space_of(unsigned chip_id, const vtpu_mem_ref *r,
                                char *buf, size_t len)
{
    if (r->space == VTPU_SPACE_HBM ||
        (r->space == VTPU_SPACE_VMEM && r->tc == VTPU_SHARED_OWNER))
        fmt(buf, len, "%s of chip %u",
            r->space == VTPU_SPACE_HBM ? "HBM" : "VMEM_SHARED", chip_id);
    else
        fmt(buf, len, "%s of chip %u TC %u", vtpu_space_name(r->space), chip_id,
            r->tc);
    return buf;
}

const char *vtpu_check_space_on(const vtpu_chip *chip, const vtpu_mem_ref *r,
                                char *buf, size_t len)
{
    if (!chip->fabric)
        return vtpu_check_space(r, buf, len);
    return vtpu_check_space_of(chip->chip_id, r, buf, len);
}

void vtpu_check_grid_get(vtpu_tc *tc, vtpu_grid_pt *g)
{
    vtpu_mailbox_view v;

    g->rank = -1;
    if (!vtpu_mailbox_read(tc, &v) || v.mb.phase != VTPU_MB_GRID ||
        !v.has_point)
        return;
    _Static_assert(sizeof(g->pt) == sizeof(v.point), "grid point size");
    memcpy(g->pt, v.point, sizeof(g->pt));
    g->rank = (int8_t)v.rank;
}

void vtpu_check_grid_fmt(const vtpu_grid_pt *g, char *buf, size_t len)
{
    buf[0] = 0;
    if (g->rank < 0)
        return;
    size_t pos = (size_t)snprintf(buf, len, "grid (");
    for (int i = 0; i < g->rank && pos < len; i++)
        pos += (size_t)snprintf(buf + pos, len - pos, "%s%d", i ? "," : "",
                                g->pt[i]);
    if (pos < len)
        fmt(buf + pos, len - pos, ")");
}

void vtpu_check_grid(vtpu_tc *tc, char *buf, size_t len)
{
    vtpu_grid_pt g;
    vtpu_check_grid_get(tc, &g);
    vtpu_check_grid_fmt(&g, buf, len);
}

void vtpu_check_where(vtpu_tc *tc, char *buf, size_t len)
{
    char grid[64];
    uint32_t off = 0;
    const char *sym = vtpu_program_symbol(tc->chip->prog, tc->pc, &off);

    char ch[24] = "";

    vtpu_check_grid(tc, grid, sizeof(grid));
    if (tc->chip->fabric) /* a slice: which chip */
        fmt(ch, sizeof(ch), "chip %u ", tc->chip->chip_id);
    fmt(buf, len, "%sTC %u at pc 0x%08x %s+0x%x%s%s", ch, tc->id, tc->pc,
        sym ? sym : "?", off, *grid ? ", " : "", grid);
}

int vtpu_check_report(vtpu_tc *tc, vtpu_error_kind kind, const vtpu_mem_ref *at,
                      uint64_t len, const char *detail, const char *full)
{
    vtpu_chip_output(tc->chip, tc->id, 2, full, strlen(full));
    return vtpu_tc_fault(tc, kind, at->space, vtpu_check_addr(at), len, "%s",
                         detail);
}
