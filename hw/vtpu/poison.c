/*
 * poison.c - reads of never-written memory (check.h).
 *
 * With the check on, VMEM reads as the f32 NaN 0x7fc0dead in every word
 * nothing wrote in this run, and SMEM past the program's image (.data,
 * the zeroed .bss, heap and stack) starts filled with the same bytes, so
 * a kernel that uses such memory computes visibly wrong values even
 * where the check cannot see the use.  (VMEM is poisoned lazily: a vector
 * load writes the NaN into the never-written words it reads, which is
 * the same as filling all of VMEM at the start without touching every
 * page of it.)  The check itself keeps one "written" byte per granule: per
 * 4-byte word of VMEM (every VMEM access is whole aligned words), per
 * byte of SMEM and HBM; set by vector stores, scalar SMEM stores, DMA
 * writes and, for HBM, host writes through vtpu_hbm_write() and the
 * command processor (copy, fill).  HBM the host never wrote is not filled
 * (it is lazily allocated; filling it would commit all of it), but reads
 * of it are reported the same.
 *
 * Where it is reported.  Kernels routinely load whole tiles of a block
 * that is only partly filled (an edge block, a row shorter than 128
 * lanes) and mask the padding away, so a vector load of never-written
 * words is not an error by itself; like Valgrind, the check waits for a
 * use.  Poison travels by value: a vector store of the exact poison word
 * 0x7fc0dead leaves its granule unwritten (copied poison), so what counts
 * as a use is
 *   - a DMA that reads a granule never written (the data leaves VMEM/SMEM
 *     or HBM: an output written back, a buffer forwarded);
 *   - an MXU push or matmul whose operand vreg holds the poison word
 *     (vreg data loaded from never-written VMEM, not yet overwritten);
 *   - a scalar load of never-written SMEM: the heap (the TC runtime's
 *     buffers, scratch SMEM) and the stack, which the program's image
 *     does not define (.data and .bss count as written; elf.c finds
 *     their end at __heap_start), when none of its bytes was written and
 *     it is not addressed off sp.  Compiled code copies structs with
 *     unset padding and spills temporaries through its frame (sp-based
 *     loads), so those loads are not uses; the frame is still filled
 *     with poison at run start, so a value read from it unset is
 *     visibly wrong rather than a silent 0.
 * Arithmetic on a poisoned lane yields a NaN that need not keep the
 * payload, so poison that went through the VPU is seen only as NaNs in
 * the output.  A real value equal to the
 * poison word would be reported falsely; it is a NaN with a payload that
 * no vtpu instruction produces.
 *
 * HBM written by a guest through the QEMU device's BAR2 window bypasses
 * the engine and is not seen: under QEMU, upload through the command
 * ring (the driver's copy path does) when using this check.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"

/* Reports may be cut short; the return value is not needed. */
#define fmt(...) ((void)g_snprintf(__VA_ARGS__))

#define POISON_WORD 0x7fc0deadu

/* Where poison came from, per TC: the first vector load that read
 * never-written VMEM, and the last vector store of the poison word. */
typedef struct poison_event {
    bool valid;
    uint32_t pc;
    vtpu_grid_pt grid;
    uint64_t off, len; /* VMEM offsets */
} poison_event;

struct vtpu_poison {
    vtpu_chip *chip;
    /* [VTPU_SHARED_OWNER]: VMEM_SHARED (vmem_shared_size / 4) */
    poison_event first_load[VTPU_MAX_TCS + 1], last_store[VTPU_MAX_TCS + 1];
    uint8_t *hbm;                    /* hbm_size bytes */
    uint8_t *vmem[VTPU_MAX_TCS + 1]; /* vmem_size / 4 */
    uint8_t *smem[VTPU_MAX_TCS]; /* smem_size */
};

vtpu_poison *vtpu_poison_new(vtpu_chip *chip)
{
    vtpu_poison *p = g_new0(vtpu_poison, 1);
    const vtpu_config *cfg = &chip->cfg;

    p->chip = chip;
    p->hbm = vtpu_map_lazy(cfg->hbm_size);
    for (unsigned t = 0; t < cfg->num_tcs; t++) {
        p->vmem[t] = vtpu_map_lazy(cfg->vmem_size / 4);
        p->smem[t] = vtpu_map_lazy(cfg->smem_size);
    }
    if (cfg->vmem_shared_size)
        p->vmem[VTPU_SHARED_OWNER] = vtpu_map_lazy(cfg->vmem_shared_size / 4);
    return p;
}

void vtpu_poison_free(vtpu_poison *p)
{
    if (!p)
        return;
    const vtpu_config *cfg = &p->chip->cfg;
    vtpu_unmap_lazy(p->hbm, cfg->hbm_size);
    for (unsigned t = 0; t < cfg->num_tcs; t++) {
        vtpu_unmap_lazy(p->vmem[t], cfg->vmem_size / 4);
        vtpu_unmap_lazy(p->smem[t], cfg->smem_size);
    }
    if (p->vmem[VTPU_SHARED_OWNER])
        vtpu_unmap_lazy(p->vmem[VTPU_SHARED_OWNER], cfg->vmem_shared_size / 4);
    g_free(p);
}

static void fill_poison(uint8_t *m, uint64_t n)
{
    for (uint64_t i = 0; i + 4 <= n; i += 4)
        memcpy(m + i, &(uint32_t){POISON_WORD}, 4);
}

void vtpu_poison_run_begin(vtpu_poison *p, unsigned ntcs)
{
    vtpu_chip *chip = p->chip;
    /* What C defines (.data, the zeroed .bss) is written; the heap (the
     * runtime's buffers and scratch SMEM) and the stack are not. */
    uint32_t img = chip->prog ? chip->prog->smem_defined : 0;

    for (unsigned t = 0; t < ntcs; t++) {
        vtpu_tc *tc = chip->tcs[t];
        if (!p->vmem[t] || !p->smem[t])
            continue;
        uint32_t from = (img + 3) & ~3u;
        if (from < tc->smem_size) {
            fill_poison(tc->smem + from, tc->smem_size - from);
            vtpu_dirty_mark(tc->smem_dirty, from, tc->smem_size - from);
        }
        vtpu_zero_lazy(p->vmem[t], tc->vmem_size / 4);
        p->first_load[t].valid = p->last_store[t].valid = false;
        vtpu_zero_lazy(p->smem[t], tc->smem_size);
        memset(p->smem[t], 1, img < tc->smem_size ? img : tc->smem_size);
    }
    if (p->vmem[VTPU_SHARED_OWNER]) {
        vtpu_zero_lazy(p->vmem[VTPU_SHARED_OWNER],
                       chip->cfg.vmem_shared_size / 4);
        p->first_load[VTPU_SHARED_OWNER].valid = false;
        p->last_store[VTPU_SHARED_OWNER].valid = false;
    }
}

static void note(poison_event *e, vtpu_tc *tc, const vtpu_mem_ref *r,
                 uint64_t len)
{
    e->valid = true;
    e->pc = tc->pc;
    e->grid.rank = (int8_t)vtpu_mailbox_point(tc, e->grid.pt);
    e->off = r->off;
    e->len = len;
}

/* "vld at pc 0x... (sym+0x..), grid (2) read never-written VMEM
 * 0x20001000..": one event. */
static void event_fmt(vtpu_poison *p, unsigned tc, const poison_event *e,
                      const char *what, char *buf, size_t len)
{
    char grid[64], region[256] = "";
    uint32_t off = 0;
    const char *sym = vtpu_program_symbol(p->chip->prog, e->pc, &off);
    vtpu_mem_ref r = {VTPU_SPACE_VMEM, tc, e->off};

    vtpu_check_grid_fmt(&e->grid, grid, sizeof(grid));
    if (vtpu_regions_describe(p->chip, &r, e->len, region + 2,
                              sizeof(region) - 3)) {
        memcpy(region, " (", 2);
        strcat(region, ")");
    }
    fmt(buf, len, "%s at pc 0x%08x (%s+0x%x)%s%s, VMEM 0x%llx..0x%llx%s", what,
        e->pc, sym ? sym : "?", off, *grid ? ", " : "", grid,
        (unsigned long long)(VTPU_VMEM_BASE + e->off),
        (unsigned long long)(VTPU_VMEM_BASE + e->off + e->len - 1), region);
}

/* Where the never-written bytes at `at` came from, as far as known: the
 * vector store that put the poison word there, if one did, and (`both`)
 * the first load of never-written VMEM, or else that. */
static void origin_fmt(vtpu_poison *p, const vtpu_mem_ref *at, uint64_t n,
                       bool both, char *buf, size_t len)
{
    char a[800], b[800];

    buf[0] = 0;
    if (at->space != VTPU_SPACE_VMEM || at->tc >= VTPU_MAX_TCS)
        return;
    const poison_event *st = &p->last_store[at->tc],
                       *ld = &p->first_load[at->tc];
    a[0] = b[0] = 0;
    if (st->valid && st->off < at->off + n && at->off < st->off + st->len)
        event_fmt(p, at->tc, st,
                  "the poison word was stored there by a vector store", a,
                  sizeof(a));
    if (ld->valid && (both || !*a))
        event_fmt(p, at->tc, ld,
                  "the first load of never-written VMEM was a vector load", b,
                  sizeof(b));
    if (!*a)
        fmt(a, sizeof(a), "no store wrote them");
    fmt(buf, len, "%s%s%s", a, *b ? "; " : "", b);
}

static uint8_t *map_of(vtpu_poison *p, const vtpu_mem_ref *r, unsigned *gran)
{
    *gran = 1;
    switch (r->space) {
    case VTPU_SPACE_HBM:
        return p->hbm;
    case VTPU_SPACE_VMEM:
        *gran = 4;
        return p->vmem[r->tc];
    default:
        return p->smem[r->tc];
    }
}

void vtpu_poison_write(vtpu_poison *p, const vtpu_mem_ref *r, uint64_t len)
{
    unsigned g;
    uint8_t *m = map_of(p, r, &g);
    if (!m || !len)
        return;
    uint64_t a = r->off / g, b = (r->off + len + g - 1) / g;
    memset(m + a, 1, b - a);
}

int vtpu_poison_read(vtpu_poison *p, vtpu_tc *tc, const vtpu_mem_ref *r,
                     uint64_t len, const char *who)
{
    unsigned g;
    uint8_t *m = map_of(p, r, &g);
    if (!m || !len)
        return 0;
    uint64_t a = r->off / g, b = (r->off + len + g - 1) / g;
    const uint8_t *z = memchr(m + a, 0, b - a);
    if (!z)
        return 0;
    uint64_t i = (uint64_t)(z - m);
    uint64_t j = i;
    while (j < b && !m[j])
        j++;

    vtpu_mem_ref at = *r;
    at.off = i * g;
    uint64_t n = (j - i) * g;
    uint64_t addr = vtpu_check_addr(&at);
    char sp[40], grid[64], now[512], what[256], origin[1700], brief[900],
        detail[1536], full[3072];
    bool dma = strncmp(who, "DMA", 3) == 0;

    vtpu_check_space_on(p->chip, &at, sp, sizeof(sp));
    vtpu_check_grid(tc, grid, sizeof(grid));
    vtpu_check_where(tc, now, sizeof(now));
    what[0] = 0;
    if (vtpu_regions_describe(p->chip, &at, n, what + 2, sizeof(what) - 2))
        memcpy(what, ": ", 2);
    origin_fmt(p, &at, n, true, origin, sizeof(origin));
    origin_fmt(p, &at, n, false, brief, sizeof(brief));
    fmt(detail, sizeof(detail),
        "%s reads %s 0x%llx (%llu bytes)%s, never written%s%s%s%s",
        dma ? "DMA issued by this TC" : "scalar load", sp,
        (unsigned long long)addr, (unsigned long long)n, what,
        *grid ? " at " : "", grid, *brief ? "; " : "", brief);
    fmt(full, sizeof(full),
        "vtpu: UNINITIALISED READ of %s 0x%llx..0x%llx (%llu bytes)%s\n"
        "  by %s %s\n"
        "  nothing (host, store or DMA) wrote these bytes in this run%s\n"
        "%s%s%s",
        sp, (unsigned long long)addr, (unsigned long long)(addr + n - 1),
        (unsigned long long)n, what, who, now,
        at.space == VTPU_SPACE_HBM ? " (or ever, for HBM)" : "",
        *origin ? "  " : "", origin, *origin ? "\n" : "");
    return vtpu_check_report(tc, VTPU_ERR_UNINIT, &at, n, detail, full);
}

int vtpu_poison_scalar(vtpu_poison *p, vtpu_tc *tc, const vtpu_mem_ref *r,
                       unsigned len)
{
    const uint8_t *m = p->smem[r->tc];
    if (!m)
        return 0;
    for (unsigned i = 0; i < len; i++)
        if (m[r->off + i])
            return 0;
    return vtpu_poison_read(p, tc, r, len, "scalar load by");
}

void vtpu_poison_store(vtpu_poison *p, vtpu_tc *tc, const vtpu_mem_ref *r,
                       const uint32_t *words, unsigned n)
{
    unsigned g;
    uint8_t *m = map_of(p, r, &g);
    if (!m)
        return;
    m += r->off / 4; /* VMEM: one granule per word */
    bool any = false;
    for (unsigned i = 0; i < n; i++) {
        m[i] = words[i] != POISON_WORD;
        any |= !m[i];
    }
    if (any && tc)
        note(&p->last_store[r->tc], tc, r, 4ull * n);
}

int vtpu_poison_mxu(vtpu_poison *p, vtpu_tc *tc, unsigned v,
                    const uint32_t *words)
{
    unsigned i = 0;
    while (i < 1024 && words[i] != POISON_WORD)
        i++;
    if (i == 1024)
        return 0;

    char grid[64], now[512], full[2048], first[800] = "";
    vtpu_check_grid(tc, grid, sizeof(grid));
    vtpu_check_where(tc, now, sizeof(now));
    if (p->first_load[tc->id].valid)
        event_fmt(p, tc->id, &p->first_load[tc->id],
                  "the first load of never-written VMEM was a vector load",
                  first, sizeof(first));
    fmt(full, sizeof(full),
        "vtpu: UNINITIALISED MXU INPUT: v%u sublane %u lane %u holds the "
        "poison word 0x%08x\n"
        "  MXU operand of %s\n"
        "  the vreg was loaded from VMEM nothing wrote in this run\n"
        "%s%s%s",
        v, i / 128, i % 128, POISON_WORD, now, *first ? "  " : "", first,
        *first ? "\n" : "");
    vtpu_chip_output(p->chip, tc->id, 2, full, strlen(full));
    return vtpu_tc_fault(tc, VTPU_ERR_UNINIT, VTPU_SPACE_NONE, 0, 0,
                         "MXU operand v%u (sublane %u, lane %u) holds poison "
                         "0x%08x loaded from never-written VMEM%s%s%s%s",
                         v, i / 128, i % 128, POISON_WORD, *grid ? " at " : "",
                         grid, *first ? "; " : "", first);
}

void vtpu_poison_vload(vtpu_poison *p, vtpu_tc *tc, const vtpu_mem_ref *r,
                       unsigned n)
{
    const uint8_t *m = p->vmem[r->tc];
    if (!m)
        return;
    m += r->off / 4;
    uint8_t *mem = r->tc == VTPU_SHARED_OWNER ? p->chip->vmem_shared : tc->vmem;
    for (unsigned i = 0; i < n; i++)
        if (!m[i]) {
            memcpy(mem + r->off + 4 * i, &(uint32_t){POISON_WORD}, 4);
            if (!p->first_load[r->tc].valid)
                note(&p->first_load[r->tc], tc, r, 4ull * n);
        }
}
