/*
 * snapshot.c - a chip's state as a byte stream and back
 * (vtpu-snapshot.h; docs/qemu.md, "Migration and snapshots").
 *
 * The stream, all integers little-endian:
 *
 *   "VTPUSNAP"  u32 version  u32 flags (VTPU_SNAP_HBM: HBM follows)
 *   sections:   u32 tag  u64 length  payload[length]
 *
 * in this order: CONF (the configuration: gen, then u32 count and one u64
 * per VTPU_CONFIG_KEYS key), PROG (program slots as ELF images), RUN_
 * (the run in progress), per TC TCST (registers, units, semaphores,
 * counters), SMEM and VMEM (pages), VSHR (VMEM_SHARED pages), HBM_ (with
 * VTPU_SNAP_HBM), and END_.  A page list is (u64 index, 4096 bytes)
 * pairs in increasing index order ended by index UINT64_MAX; pages not
 * listed are zero.  A tag whose first byte is a lower-case letter is
 * optional: a reader that does not know it skips it; any other unknown
 * tag fails the load.  Versioning: a change to a section's payload
 * bumps VTPU_SNAP_VERSION; new state that older engines may ignore goes
 * into a new optional section without a bump.
 *
 * Loading trusts nothing: every length is checked against what the
 * configuration allows before anything is read into memory, page
 * indices against the memory's size, and programs go through the same
 * ELF loader as any other.  Host byte order is little-endian (interp.c
 * requires it), so register files are copied as they are.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "mxu.h"
#include "vpu.h"

#define MAGIC "VTPUSNAP"
#define PAGE 4096u
#define PAGE_END UINT64_MAX

#define TAG(a, b, c, d)                                                        \
    ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 |               \
     (uint32_t)(d) << 24)
#define T_CONF TAG('C', 'O', 'N', 'F')
#define T_PROG TAG('P', 'R', 'O', 'G')
#define T_RUN TAG('R', 'U', 'N', '_')
#define T_TCST TAG('T', 'C', 'S', 'T')
#define T_SMEM TAG('S', 'M', 'E', 'M')
#define T_VMEM TAG('V', 'M', 'E', 'M')
#define T_VSHR TAG('V', 'S', 'H', 'R')
#define T_HBM TAG('H', 'B', 'M', '_')
#define T_END TAG('E', 'N', 'D', '_')

/* The configuration keys that must match: what the state's shape
 * depends on.  The checks and the watchdog may differ (restore with
 * race=on to look for the bug). */
static bool key_must_match(unsigned key)
{
    return key != VTPU_CFG_INSN_BUDGET && key != VTPU_CFG_RACE &&
           key != VTPU_CFG_POISON && key != VTPU_CFG_BOUNDS;
}

static uint64_t cfg_get(const vtpu_config *c, unsigned key)
{
    switch (key) {
#define GET_(id, k, field, type, help)                                         \
    case VTPU_CFG_##id:                                                        \
        return c->field;
        VTPU_CONFIG_KEYS(GET_)
#undef GET_
    }
    return 0;
}

static void cfg_put(vtpu_config *c, unsigned key, uint64_t v)
{
    switch (key) {
#define PUT_(id, k, field, type, help)                                         \
    case VTPU_CFG_##id:                                                        \
        c->field = (__typeof__(c->field))v;                                    \
        break;
        VTPU_CONFIG_KEYS(PUT_)
#undef PUT_
    }
}

/* ------------------------------------------------------------------ */
/* Writing: each section is built in memory, then written whole         */
/* ------------------------------------------------------------------ */

typedef struct wr {
    vtpu_snap_write_fn fn;
    void *opaque;
    GByteArray *sec;
    bool failed;
} wr;

static void put(wr *w, const void *p, size_t n)
{
    g_byte_array_append(w->sec, p, (guint)n);
}

static void put32(wr *w, uint32_t v)
{
    put(w, &v, 4);
}

static void put64(wr *w, uint64_t v)
{
    put(w, &v, 8);
}

static void out(wr *w, const void *p, size_t n)
{
    if (!w->failed && n && w->fn(w->opaque, p, n))
        w->failed = true;
}

/* Write the section built in w->sec under `tag` and start a new one. */
static void flush_section(wr *w, uint32_t tag)
{
    uint64_t len = w->sec->len;

    out(w, &tag, 4);
    out(w, &len, 8);
    out(w, w->sec->data, w->sec->len);
    g_byte_array_set_size(w->sec, 0);
}

static bool page_zero(const uint8_t *p, size_t n)
{
    return p[0] == 0 && !memcmp(p, p + 1, n - 1);
}

static void put_page(wr *w, const uint8_t *mem, uint64_t size, uint64_t i)
{
    uint64_t off = i * PAGE;
    size_t n = size - off < PAGE ? (size_t)(size - off) : PAGE;

    if (page_zero(mem + off, n))
        return;
    put64(w, i);
    put(w, mem + off, n);
    if (n < PAGE) {
        static const uint8_t zeros[PAGE];
        put(w, zeros, PAGE - n);
    }
}

/*
 * The non-zero pages of mem (size bytes).  `dirty`: the memory's map
 * (dirty.c); a clean page is known to be zero.  NULL: every page is
 * looked at (SMEM: its clean pages hold a program image).
 */
static void put_pages(wr *w, const uint8_t *mem, uint64_t size,
                      const uint8_t *dirty)
{
    uint64_t n = VTPU_DIRTY_PAGES(size);

    for (uint64_t i = 0; i < n; i++)
        if (!dirty || dirty[i])
            put_page(w, mem, size, i);
    put64(w, PAGE_END);
}

/*
 * HBM may be GiBs of which a run touched little: on Linux, the pages
 * the process never touched are neither present nor swapped in
 * /proc/self/pagemap, and are zero.  Elsewhere, every page is looked at.
 */
static void put_hbm(wr *w, const uint8_t *hbm, uint64_t size)
{
    uint64_t n = (size + PAGE - 1) / PAGE;
    int fd = sysconf(_SC_PAGESIZE) == PAGE ? open("/proc/self/pagemap",
                                                  O_RDONLY | O_CLOEXEC)
                                           : -1;
    uint64_t ent[512];

    for (uint64_t i = 0; i < n;) {
        uint64_t k = n - i < 512 ? n - i : 512;
        bool all = fd < 0;
        if (!all) {
            off_t at = (off_t)(((uintptr_t)hbm / PAGE + i) * 8);
            all = pread(fd, ent, k * 8, at) != (ssize_t)(k * 8);
        }
        for (uint64_t j = 0; j < k; j++)
            if (all || (ent[j] >> 62)) /* present or swapped */
                put_page(w, hbm, size, i + j);
        i += k;
    }
    if (fd >= 0)
        close(fd);
    put64(w, PAGE_END);
}

static void put_tc(wr *w, vtpu_tc *tc)
{
    const vtpu_config *cfg = &tc->chip->cfg;
    uint64_t stats[sizeof(vtpu_tc_stats) / 8];

    put32(w, tc->id);
    put32(w, (uint32_t)tc->state);
    put32(w, (uint32_t)tc->exit_code);
    put32(w, tc->ntcs);
    put32(w, tc->pc);
    put64(w, tc->instret);
    put(w, tc->x, 32 * 4);
    put(w, tc->f, 32 * 4);
    put32(w, tc->fflags);
    put32(w, tc->frm);
    memcpy(stats, &tc->cnt, sizeof(stats));
    put(w, stats, sizeof(stats));
    put(w, tc->sems, cfg->num_sems * 4);
    put(w, tc->vpu->v, sizeof(tc->vpu->v));
    put(w, tc->vpu->m, sizeof(tc->vpu->m));
    put(w, tc->vpu->prng.key, 8);
    put64(w, tc->vpu->prng.draw);
    size_t mx = vtpu_mxu_state_size(tc->mxu);
    uint8_t *blob = g_malloc(mx);
    vtpu_mxu_state_get(tc->mxu, blob);
    put(w, blob, mx);
    g_free(blob);
}



int vtpu_chip_save(vtpu_chip *chip, unsigned flags, vtpu_snap_write_fn fn,
                   void *opaque, char *err, size_t errlen)
{
    const vtpu_config *cfg = &chip->cfg;
    wr w = {fn, opaque, g_byte_array_new(), false};
    uint32_t v32;

    if (!vtpu_chip_is_quiet(chip)) {
        snprintf(err, errlen,
                 "the chip is running: quiesce it before saving (or save "
                 "from a pause callback)");
        g_byte_array_free(w.sec, TRUE);
        return -1;
    }
    bool active = vtpu_chip_run_active(chip) || chip->resume_pending;
    if (active && chip->fabric) {
        snprintf(err, errlen,
                 "chip %u of a slice is in a run: its state is tied to the "
                 "other chips' (saved between runs only; docs/multichip.md)",
                 chip->chip_id);
        g_byte_array_free(w.sec, TRUE);
        return -1;
    }

    out(&w, MAGIC, 8);
    v32 = VTPU_SNAP_VERSION;
    out(&w, &v32, 4);
    v32 = flags & VTPU_SNAP_HBM;
    out(&w, &v32, 4);

    put(&w, cfg->gen, sizeof(cfg->gen));
    put32(&w, VTPU_CFG__COUNT);
    for (unsigned k = 0; k < VTPU_CFG__COUNT; k++)
        put64(&w, cfg_get(cfg, k));
    flush_section(&w, T_CONF);

    uint32_t sel = UINT32_MAX, nprog = 0;
    for (unsigned i = 0; i < VTPU_MAX_PROGRAMS; i++) {
        nprog += chip->slots[i] != NULL;
        if (chip->slots[i] && chip->slots[i] == chip->prog)
            sel = i;
    }
    put32(&w, sel);
    put32(&w, nprog);
    for (unsigned i = 0; i < VTPU_MAX_PROGRAMS; i++) {
        const vtpu_program *p = chip->slots[i];
        if (!p)
            continue;
        put32(&w, i);
        put32(&w, p->elf_len);
        put(&w, p->elf, p->elf_len);
    }
    flush_section(&w, T_PROG);

    put32(&w, active);
    put32(&w, active ? chip->run_ntcs : 0);
    put32(&w, chip->num_grants);
    for (uint32_t i = 0; i < chip->num_grants; i++) {
        put64(&w, chip->grants[i].off);
        put64(&w, chip->grants[i].len);
    }
    flush_section(&w, T_RUN);

    for (unsigned t = 0; t < cfg->num_tcs; t++) {
        vtpu_tc *tc = chip->tcs[t];
        put_tc(&w, tc);
        flush_section(&w, T_TCST);
        put32(&w, t);
        put_pages(&w, tc->smem, tc->smem_size, NULL);
        flush_section(&w, T_SMEM);
        put32(&w, t);
        put_pages(&w, tc->vmem, tc->vmem_size, tc->vmem_dirty);
        flush_section(&w, T_VMEM);
    }
    if (chip->vmem_shared) {
        put_pages(&w, chip->vmem_shared, cfg->vmem_shared_size,
                  chip->vmem_shared_dirty);
        flush_section(&w, T_VSHR);
    }
    if (flags & VTPU_SNAP_HBM) {
        put_hbm(&w, chip->hbm, cfg->hbm_size);
        flush_section(&w, T_HBM);
    }
    flush_section(&w, T_END);
    g_byte_array_free(w.sec, TRUE);
    if (w.failed) {
        snprintf(err, errlen, "cannot write the snapshot");
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Reading: streamed, every read bounded by the section's length        */
/* ------------------------------------------------------------------ */

typedef struct rd {
    vtpu_snap_read_fn fn;
    void *opaque;
    uint64_t left; /* of the current section */
    const char *what;
    char *err;
    size_t errlen;
    bool failed;
} rd;

static int fail(rd *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(rd *r, const char *fmt, ...)
{
    if (!r->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->err, r->errlen, fmt, ap);
        va_end(ap);
    }
    r->failed = true;
    return -1;
}

static int get(rd *r, void *p, size_t n)
{
    if (r->failed)
        return -1;
    if (n > r->left)
        return fail(r, "section %s is shorter than its contents", r->what);
    if (n && r->fn(r->opaque, p, n))
        return fail(r, "the snapshot ends inside section %s (truncated?)",
                    r->what);
    r->left -= n;
    return 0;
}

static uint32_t get32(rd *r)
{
    uint32_t v = 0;
    get(r, &v, 4);
    return v;
}

static uint64_t get64(rd *r)
{
    uint64_t v = 0;
    get(r, &v, 8);
    return v;
}

/* Skip n bytes of an optional section. */
static void skip(rd *r, uint64_t n)
{
    uint8_t buf[4096];
    while (n && !r->failed) {
        size_t k = n < sizeof(buf) ? (size_t)n : sizeof(buf);
        get(r, buf, k);
        n -= k;
    }
}

static const char *tag_name(uint32_t tag, char buf[5])
{
    for (int i = 0; i < 4; i++) {
        char c = (char)(tag >> (8 * i));
        buf[i] = c >= 0x20 && c < 0x7f ? c : '?';
    }
    buf[4] = 0;
    return buf;
}

/* The next section's header; 0 or -1.  r->left becomes its length. */
static int next_section(rd *r, uint32_t *tag, uint64_t *len)
{
    r->left = 12;
    r->what = "header";
    if (get(r, tag, 4) || get(r, len, 8))
        return -1;
    r->left = *len;
    return 0;
}

/* Read a page list into mem (size bytes, zero beforehand); dirty: the
 * map to mark (or NULL). */
static int get_pages(rd *r, uint8_t *mem, uint64_t size, uint8_t *dirty)
{
    uint64_t n = VTPU_DIRTY_PAGES(size), prev = 0;
    bool first = true;

    for (;;) {
        uint64_t i = get64(r);
        if (r->failed)
            return -1;
        if (i == PAGE_END)
            return 0;
        if (i >= n || (!first && i <= prev))
            return fail(r, "section %s: page %llu is out of order or past "
                           "the end (%llu pages)",
                        r->what, (unsigned long long)i, (unsigned long long)n);
        uint64_t off = i * PAGE;
        size_t k = size - off < PAGE ? (size_t)(size - off) : PAGE;
        if (get(r, mem + off, k))
            return -1;
        if (k < PAGE)
            skip(r, PAGE - k);
        if (dirty)
            dirty[i] = 1;
        first = false;
        prev = i;
    }
}

/* The largest section the configuration allows (a bound, not exact). */
static uint64_t max_pages_len(uint64_t size)
{
    return 8 + VTPU_DIRTY_PAGES(size) * (8 + PAGE) + 8;
}

static int get_tc(rd *r, vtpu_chip *chip, bool *seen)
{
    const vtpu_config *cfg = &chip->cfg;
    uint32_t id = get32(r);
    if (r->failed)
        return -1;
    if (id >= cfg->num_tcs || seen[id])
        return fail(r, "TC state for TC %u: the chip has %u TCs%s", id,
                    cfg->num_tcs, id < cfg->num_tcs ? " (given twice)" : "");
    seen[id] = true;
    vtpu_tc *tc = chip->tcs[id];
    uint32_t state = get32(r);
    int32_t code = (int32_t)get32(r);
    uint32_t ntcs = get32(r);
    uint32_t pc = get32(r);
    uint64_t instret = get64(r);
    if (r->failed)
        return -1;
    if (state > VTPU_TC_STOPPED)
        return fail(r, "TC %u: state %u is not a TC state", id, state);
    if (ntcs > cfg->num_tcs)
        return fail(r, "TC %u: ran on %u TCs, the chip has %u", id, ntcs,
                    cfg->num_tcs);
    get(r, tc->x, 32 * 4);
    tc->x[0] = 0;
    get(r, tc->f, 32 * 4);
    uint32_t fflags = get32(r), frm = get32(r);
    if (fflags > 0x1f || frm > 7)
        return fail(r, "TC %u: fflags 0x%x / frm %u out of range", id, fflags,
                    frm);
    uint64_t stats[sizeof(vtpu_tc_stats) / 8];
    get(r, stats, sizeof(stats));
    get(r, tc->sems, cfg->num_sems * 4);
    get(r, tc->vpu->v, sizeof(tc->vpu->v));
    get(r, tc->vpu->m, sizeof(tc->vpu->m));
    get(r, tc->vpu->prng.key, 8);
    tc->vpu->prng.draw = get64(r);
    size_t mx = vtpu_mxu_state_size(tc->mxu);
    uint8_t *blob = g_malloc(mx);
    char why[256];
    if (!get(r, blob, mx) && vtpu_mxu_state_set(tc->mxu, blob, why,
                                                sizeof(why)))
        fail(r, "TC %u: %s", id, why);
    g_free(blob);
    if (r->failed)
        return -1;
    /* masks are all-ones or zero per element: keep them so */
    for (unsigned i = 0; i < VTPU_NUM_MASKS; i++)
        for (unsigned e = 0; e < VTPU_N; e++)
            tc->vpu->m[i][e] = tc->vpu->m[i][e] ? ~0u : 0;
    tc->state = (vtpu_tc_state)state;
    tc->exit_code = code;
    tc->ntcs = ntcs;
    tc->pc = pc;
    tc->instret = instret;
    tc->fflags = fflags;
    tc->frm = frm;
    memcpy(&tc->cnt, stats, sizeof(stats));
    tc->cnt.instret = instret;
    tc->budget = cfg->insn_budget ? cfg->insn_budget : UINT64_MAX;
    tc->units_dirty = true;
    memset(&tc->err, 0, sizeof(tc->err));
    return 0;
}

/* Back to power-on for the parts a load writes (HBM only if asked). */
static void clear_chip(vtpu_chip *chip, bool hbm)
{
    vtpu_chip_unload_programs(chip);
    for (unsigned t = 0; t < chip->cfg.num_tcs; t++) {
        vtpu_tc *tc = chip->tcs[t];
        vtpu_tc_power_on(tc); /* memories, semaphores, state, counters */
        vtpu_vpu_reset(tc->vpu);
        vtpu_mxu_reset(tc->mxu);
        memset(tc->x, 0, sizeof(tc->x));
        memset(tc->f, 0, sizeof(tc->f));
        tc->fflags = tc->frm = 0;
        tc->units_dirty = false;
    }
    if (chip->vmem_shared) {
        vtpu_zero_lazy(chip->vmem_shared, chip->cfg.vmem_shared_size);
        memset(chip->vmem_shared_dirty, 0,
               VTPU_DIRTY_PAGES(chip->cfg.vmem_shared_size));
    }
    if (hbm) {
        if (chip->hbm_external)
            memset(chip->hbm, 0, chip->cfg.hbm_size);
        else
            vtpu_zero_lazy(chip->hbm, chip->cfg.hbm_size);
        vtpu_dirty_all(chip->hbm_dirty, chip->cfg.hbm_size);
    }
    chip->num_grants = 0;
    chip->resume_pending = false;
    chip->run_ntcs = 0;
}

static int get_conf(rd *r, vtpu_chip *chip)
{
    const vtpu_config *cfg = &chip->cfg;
    char gen[sizeof(cfg->gen)];

    get(r, gen, sizeof(gen));
    uint32_t n = get32(r);
    if (r->failed)
        return -1;
    if (n != VTPU_CFG__COUNT)
        return fail(r, "the snapshot's configuration has %u keys, this "
                       "engine's %u: saved by another version of vtpu",
                    n, (unsigned)VTPU_CFG__COUNT);
    for (unsigned k = 0; k < n; k++) {
        uint64_t v = get64(r);
        if (r->failed)
            return -1;
        if (key_must_match(k) && v != cfg_get(cfg, k))
            return fail(r, "configuration mismatch: the snapshot is of a "
                           "chip with %s=%llu, this chip has %s=%llu",
                        vtpu_config_help(k, NULL), (unsigned long long)v,
                        vtpu_config_help(k, NULL),
                        (unsigned long long)cfg_get(cfg, k));
    }
    return r->left ? fail(r, "section CONF is longer than its contents") : 0;
}

static int get_prog(rd *r, vtpu_chip *chip)
{
    uint32_t sel = get32(r), n = get32(r);
    char why[256];

    if (r->failed)
        return -1;
    if (n > VTPU_MAX_PROGRAMS || (sel != UINT32_MAX && sel >= VTPU_MAX_PROGRAMS))
        return fail(r, "program slots: %u programs, slot %u selected (at most "
                       "%u slots)",
                    n, sel, VTPU_MAX_PROGRAMS);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t slot = get32(r), len = get32(r);
        if (r->failed)
            return -1;
        /* an image bigger than IMEM + SMEM + headers cannot load */
        uint64_t max = (uint64_t)chip->cfg.imem_size + chip->cfg.smem_size +
                       (1u << 20);
        if (slot >= VTPU_MAX_PROGRAMS || chip->slots[slot] || len > max ||
            len > r->left)
            return fail(r, "program %u: slot %u, %u bytes: bad or repeated "
                           "slot, or an impossible size",
                        i, slot, len);
        uint8_t *elf = g_malloc(len ? len : 1);
        if (!get(r, elf, len) &&
            vtpu_chip_load_elf_slot(chip, slot, elf, len, why, sizeof(why)))
            fail(r, "program in slot %u: %s", slot, why);
        g_free(elf);
        if (r->failed)
            return -1;
    }
    if (sel != UINT32_MAX && vtpu_chip_select_program(chip, sel))
        return fail(r, "program slot %u is selected but empty", sel);
    return r->left ? fail(r, "section PROG is longer than its contents") : 0;
}

static int get_run(rd *r, vtpu_chip *chip)
{
    uint32_t active = get32(r), ntcs = get32(r), ng = get32(r);

    if (r->failed)
        return -1;
    if (active > 1 || ntcs > chip->cfg.num_tcs || (active && !ntcs) ||
        ng > VTPU_RUN_MAX_HBM_RANGES)
        return fail(r, "run in progress: %u TCs, %u HBM ranges: impossible",
                    ntcs, ng);
    if (active && !chip->prog)
        return fail(r, "a run in progress without a program");
    for (uint32_t i = 0; i < ng; i++) {
        uint64_t off = get64(r), len = get64(r), hbm = chip->cfg.hbm_size;
        /* as the command processor checks a launch's ranges (cmd.c) */
        if (!r->failed && (!len || off > hbm || len > hbm - off))
            return fail(r, "run in progress: HBM range %u (0x%llx + 0x%llx) "
                           "is empty or outside HBM",
                        i, (unsigned long long)off, (unsigned long long)len);
        chip->grants[i].off = off;
        chip->grants[i].len = len;
    }
    chip->num_grants = ng;
    chip->resume_pending = active;
    chip->run_ntcs = ntcs;
    return r->left ? fail(r, "section RUN_ is longer than its contents") : 0;
}

static int load(rd *r, vtpu_chip *chip, unsigned flags)
{
    const vtpu_config *cfg = &chip->cfg;
    char magic[8], tn[5];
    bool seen_tc[VTPU_MAX_TCS] = {0}, seen_hbm = false;
    uint32_t tag;
    uint64_t len;

    r->left = 16;
    r->what = "header";
    get(r, magic, 8);
    uint32_t version = get32(r), sflags = get32(r);
    if (r->failed)
        return fail(r, "not a vtpu snapshot: too short");
    if (memcmp(magic, MAGIC, 8))
        return fail(r, "not a vtpu snapshot (bad magic)");
    if (version < VTPU_SNAP_VERSION_MIN || version > VTPU_SNAP_VERSION)
        return fail(r, "snapshot format version %u: this engine reads "
                       "versions %u..%u",
                    version, VTPU_SNAP_VERSION_MIN, VTPU_SNAP_VERSION);
    if (sflags & ~VTPU_SNAP_HBM)
        return fail(r, "snapshot flags 0x%x: unknown bits", sflags);
    if ((sflags & VTPU_SNAP_HBM) != (flags & VTPU_SNAP_HBM))
        return fail(r, (flags & VTPU_SNAP_HBM)
                           ? "the snapshot does not hold HBM"
                           : "the snapshot holds HBM, which this load does "
                             "not take");

    if (next_section(r, &tag, &len))
        return -1;
    r->what = "CONF";
    if (tag != T_CONF || len > 4096)
        return fail(r, "the snapshot does not start with its configuration");
    if (get_conf(r, chip))
        return -1;
    clear_chip(chip, flags & VTPU_SNAP_HBM);

    for (;;) {
        if (next_section(r, &tag, &len))
            return -1;
        r->what = tag_name(tag, tn);
        uint64_t max = 0;
        switch (tag) {
        case T_PROG:
            max = 8 + VTPU_MAX_PROGRAMS *
                          (8 + (uint64_t)cfg->imem_size + cfg->smem_size +
                           (1u << 20));
            break;
        case T_RUN:
            max = 12 + 16 * VTPU_RUN_MAX_HBM_RANGES;
            break;
        case T_TCST:
            max = 1 << 24; /* registers, units: a few MiB at most */
            break;
        case T_SMEM:
            max = 4 + max_pages_len(cfg->smem_size);
            break;
        case T_VMEM:
            max = 4 + max_pages_len(cfg->vmem_size);
            break;
        case T_VSHR:
            max = max_pages_len(cfg->vmem_shared_size);
            break;
        case T_HBM:
            max = max_pages_len(cfg->hbm_size);
            break;
        case T_END:
            break;
        default:
            if ((tag & 0xff) >= 'a' && (tag & 0xff) <= 'z') {
                skip(r, len); /* optional, of a newer engine */
                if (r->failed)
                    return -1;
                continue;
            }
            return fail(r, "unknown section %s", r->what);
        }
        if (len > max)
            return fail(r, "section %s of %llu bytes: at most %llu fit this "
                           "chip",
                        r->what, (unsigned long long)len,
                        (unsigned long long)max);
        if (tag == T_END)
            break;
        uint32_t id;
        switch (tag) {
        case T_PROG:
            get_prog(r, chip);
            break;
        case T_RUN:
            get_run(r, chip);
            break;
        case T_TCST:
            get_tc(r, chip, seen_tc);
            break;
        case T_SMEM:
        case T_VMEM:
            id = get32(r);
            if (r->failed)
                return -1;
            if (id >= cfg->num_tcs)
                return fail(r, "section %s for TC %u: the chip has %u TCs",
                            r->what, id, cfg->num_tcs);
            if (tag == T_SMEM)
                get_pages(r, chip->tcs[id]->smem, cfg->smem_size,
                          chip->tcs[id]->smem_dirty);
            else
                get_pages(r, chip->tcs[id]->vmem, cfg->vmem_size,
                          chip->tcs[id]->vmem_dirty);
            break;
        case T_VSHR:
            if (!chip->vmem_shared)
                return fail(r, "VMEM_SHARED pages for a chip without it");
            get_pages(r, chip->vmem_shared, cfg->vmem_shared_size,
                      chip->vmem_shared_dirty);
            break;
        case T_HBM:
            if (!(flags & VTPU_SNAP_HBM))
                return fail(r, "unexpected HBM section");
            get_pages(r, chip->hbm, cfg->hbm_size, chip->hbm_dirty);
            if (chip->check)
                vtpu_check_host_write(chip, 0, cfg->hbm_size);
            seen_hbm = true;
            break;
        }
        if (r->failed)
            return -1;
        if (r->left)
            return fail(r, "section %s has %llu bytes more than its contents",
                        r->what, (unsigned long long)r->left);
    }
    for (unsigned t = 0; t < cfg->num_tcs; t++)
        if (!seen_tc[t])
            return fail(r, "the snapshot has no state for TC %u", t);
    if ((flags & VTPU_SNAP_HBM) && !seen_hbm)
        return fail(r, "the snapshot has no HBM section");
    /* a run in progress: every TC of it is where a run can go on */
    for (unsigned t = 0; chip->resume_pending && t < chip->run_ntcs; t++) {
        vtpu_tc *tc = chip->tcs[t];
        if (tc->state != VTPU_TC_RUNNING && tc->state != VTPU_TC_BLOCKED &&
            tc->state != VTPU_TC_EXITED)
            return fail(r, "TC %u is %s in a run in progress", t,
                        vtpu_tc_state_name((vtpu_tc_run_state)tc->state));
        if (tc->ntcs != chip->run_ntcs)
            return fail(r, "TC %u ran on %u TCs, the run has %u", t, tc->ntcs,
                        chip->run_ntcs);
    }
    return 0;
}

int vtpu_chip_load(vtpu_chip *chip, unsigned flags, vtpu_snap_read_fn fn,
                   void *opaque, char *err, size_t errlen)
{
    char dummy[8];
    rd r = {.fn = fn,
            .opaque = opaque,
            .err = err && errlen ? err : dummy,
            .errlen = err && errlen ? errlen : sizeof(dummy)};

    if (vtpu_chip_run_active(chip)) {
        snprintf(r.err, r.errlen, "cannot load into a chip that is running");
        return -1;
    }
    if (load(&r, chip, flags)) {
        clear_chip(chip, flags & VTPU_SNAP_HBM);
        return -1;
    }
    if (chip->fabric && chip->resume_pending) {
        snprintf(r.err, r.errlen,
                 "the snapshot holds a run in progress; chip %u is in a "
                 "slice, whose runs cannot be resumed chip by chip",
                 chip->chip_id);
        clear_chip(chip, flags & VTPU_SNAP_HBM);
        return -1;
    }
    return 0;
}

bool vtpu_chip_run_pending(const vtpu_chip *chip)
{
    return chip->resume_pending;
}

/* ------------------------------------------------------------------ */
/* Files                                                                */
/* ------------------------------------------------------------------ */

static int file_write(void *opaque, const void *buf, size_t len)
{
    return fwrite(buf, 1, len, opaque) != len;
}

static int file_read(void *opaque, void *buf, size_t len)
{
    return fread(buf, 1, len, opaque) != len;
}

int vtpu_chip_save_file(vtpu_chip *chip, unsigned flags, const char *path,
                        char *err, size_t errlen)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    int rc = vtpu_chip_save(chip, flags, file_write, f, err, errlen);
    if (fclose(f) && !rc) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        rc = -1;
    } else if (rc) {
        size_t n = strlen(err);
        snprintf(err + n, errlen - n, " (%s)", path);
    }
    return rc;
}

int vtpu_chip_load_file(vtpu_chip *chip, unsigned flags, const char *path,
                        char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    int rc = vtpu_chip_load(chip, flags, file_read, f, err, errlen);
    fclose(f);
    return rc;
}

int vtpu_snap_file_config(const char *path, vtpu_config *cfg, char *err,
                          size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char magic[8];
    uint32_t version, flags, tag, n;
    uint64_t len;

    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    int rc = -1;
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, MAGIC, 8)) {
        snprintf(err, errlen, "%s: not a vtpu snapshot (bad magic)", path);
    } else if (fread(&version, 4, 1, f) != 1 || fread(&flags, 4, 1, f) != 1 ||
               version < VTPU_SNAP_VERSION_MIN ||
               version > VTPU_SNAP_VERSION) {
        snprintf(err, errlen,
                 "%s: snapshot format version %u: this engine reads "
                 "versions %u..%u",
                 path, version, VTPU_SNAP_VERSION_MIN, VTPU_SNAP_VERSION);
    } else if (fread(&tag, 4, 1, f) != 1 || fread(&len, 8, 1, f) != 1 ||
               tag != T_CONF || fread(cfg->gen, sizeof(cfg->gen), 1, f) != 1 ||
               fread(&n, 4, 1, f) != 1 || n != VTPU_CFG__COUNT) {
        snprintf(err, errlen, "%s: bad or foreign configuration section",
                 path);
    } else {
        rc = 0;
        cfg->gen[sizeof(cfg->gen) - 1] = 0;
        for (unsigned k = 0; k < n && !rc; k++) {
            uint64_t v;
            if (fread(&v, 8, 1, f) != 1) {
                snprintf(err, errlen, "%s: truncated", path);
                rc = -1;
            }
            cfg_put(cfg, k, v);
        }
        if (!rc && vtpu_config_validate(cfg, err, errlen))
            rc = -1;
    }
    fclose(f);
    return rc;
}
