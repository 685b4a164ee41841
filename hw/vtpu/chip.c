/*
 * chip.c - a chip's lifetime, its memories and host access to them.
 *
 * HBM and VMEM are anonymous mappings with MAP_NORESERVE: the kernel backs
 * a page only when it is first touched, so a 95 GiB HBM costs nothing until
 * a program uses it, and dropping pages (madvise) returns them to zero.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "internal.h"

static void tc_free(vtpu_tc *tc)
{
    if (!tc)
        return;
    vtpu_unmap_lazy_huge(tc->vmem, tc->vmem_size);
    if (tc->smem) /* its dirty map is the mapping's start */
        vtpu_unmap_lazy_huge(tc->smem - VTPU_SMEM_MAP,
                             VTPU_SMEM_MAP + (uint64_t)tc->smem_size);
    vtpu_dirty_free(tc->vmem_dirty, tc->vmem_size);
    g_free(tc->rgather);
    vtpu_cond_clear(&tc->wake);
    free(tc->sems);
    if (tc->vpu)
        vtpu_vpu_free(tc->vpu);
    if (tc->mxu)
        vtpu_mxu_free(tc->mxu);
    free(tc);
}

static vtpu_tc *tc_new(vtpu_chip *chip, unsigned id)
{
    const vtpu_config *cfg = &chip->cfg;
    vtpu_tc *tc;
    if (posix_memalign((void **)&tc, 64, sizeof(*tc)))
        return NULL;
    memset(tc, 0, sizeof(*tc));
    tc->chip = chip;
    tc->id = id;
    tc->smem_size = cfg->smem_size;
    tc->vmem_size = cfg->vmem_size;
    tc->imem_size = cfg->imem_size;
    /* SMEM's dirty map sits just before it, at a constant distance the
     * interpreter's stores reach without another register (interp.c) */
    uint8_t *sm = vtpu_map_lazy_huge(VTPU_SMEM_MAP + (uint64_t)cfg->smem_size);
    tc->smem = sm ? sm + VTPU_SMEM_MAP : NULL;
    tc->smem_dirty = sm;
    tc->vmem = vtpu_map_lazy_huge(cfg->vmem_size);
    tc->vmem_dirty = vtpu_dirty_new(cfg->vmem_size);
    vtpu_cond_init(&tc->wake);
    tc->sems = calloc(cfg->num_sems, sizeof(uint32_t));
    tc->vpu = vtpu_vpu_new();
    tc->mxu = vtpu_mxu_new(cfg);
    if (!tc->smem || !tc->vmem || !tc->sems || !tc->vpu || !tc->mxu ||
        !tc->smem_dirty || !tc->vmem_dirty) {
        tc_free(tc);
        return NULL;
    }
    tc->budget = UINT64_MAX;
    return tc;
}

vtpu_chip *vtpu_chip_new(const vtpu_config *cfg, char *err, size_t errlen)
{
    return vtpu_chip_new_ext(cfg, NULL, err, errlen);
}

vtpu_chip *vtpu_chip_new_ext(const vtpu_config *cfg, void *hbm, char *err,
                             size_t errlen)
{
    if (vtpu_config_validate(cfg, err, errlen))
        return NULL;
    vtpu_chip *chip = calloc(1, sizeof(*chip));
    if (!chip)
        goto oom;
    chip->cfg = *cfg;
    vtpu_mutex_init(&chip->out_lock);
    vtpu_mutex_init(&chip->pool_lock);
    vtpu_cond_init(&chip->pool_done);
    vtpu_mutex_init(&chip->q_lock);
    vtpu_cond_init(&chip->q_cond);
    chip->hbm_external = hbm != NULL;
    chip->hbm = hbm ? hbm : vtpu_map_lazy(cfg->hbm_size);
    chip->hbm_dirty = vtpu_dirty_new(cfg->hbm_size);
    if (!chip->hbm || !chip->hbm_dirty)
        goto oom;
    if (cfg->vmem_shared_size) {
        chip->vmem_shared = vtpu_map_lazy(cfg->vmem_shared_size);
        chip->vmem_shared_dirty = vtpu_dirty_new(cfg->vmem_shared_size);
        if (!chip->vmem_shared || !chip->vmem_shared_dirty)
            goto oom;
    }
    for (unsigned i = 0; i < cfg->num_tcs; i++) {
        chip->tcs[i] = tc_new(chip, i);
        if (!chip->tcs[i])
            goto oom;
    }
    chip->sync = vtpu_sync_new(chip);
    if (!chip->sync)
        goto oom;
    chip->nchips = 1; /* a lone chip until a fabric takes it */
    chip->mesh = 1u | 1u << 10 | 1u << 20;
    chip->check = vtpu_check_new(chip); /* NULL unless race/poison is on */
    return chip;
oom:
    if (err && errlen)
        snprintf(err, errlen,
                 "out of host memory creating a chip with %llu bytes of HBM "
                 "and %u TCs",
                 (unsigned long long)cfg->hbm_size, cfg->num_tcs);
    vtpu_chip_free(chip);
    return NULL;
}

void vtpu_chip_free(vtpu_chip *chip)
{
    if (!chip)
        return;
    if (chip->fabric) /* the embedder forgot: never leave it dangling */
        vtpu_fabric_detach(chip->fabric, chip->chip_id);
    vtpu_chip_join_threads(chip); /* run.c */
    if (chip->sync)
        vtpu_sync_free(chip->sync);
    vtpu_check_free(chip->check);
    vtpu_dbg_free(chip);
    vtpu_chip_unload_programs(chip); /* looks at the TCs: before them */
    for (unsigned i = 0; i < VTPU_MAX_TCS; i++)
        tc_free(chip->tcs[i]);
    if (!chip->hbm_external)
        vtpu_unmap_lazy(chip->hbm, chip->cfg.hbm_size);
    if (chip->vmem_shared)
        vtpu_unmap_lazy(chip->vmem_shared, chip->cfg.vmem_shared_size);
    vtpu_dirty_free(chip->vmem_shared_dirty, chip->cfg.vmem_shared_size);
    vtpu_dirty_free(chip->hbm_dirty, chip->cfg.hbm_size);
    vtpu_mutex_clear(&chip->out_lock);
    vtpu_mutex_clear(&chip->pool_lock);
    vtpu_cond_clear(&chip->pool_done);
    vtpu_mutex_clear(&chip->q_lock);
    vtpu_cond_clear(&chip->q_cond);
    free(chip);
}

const vtpu_config *vtpu_chip_config(const vtpu_chip *chip)
{
    return &chip->cfg;
}

void vtpu_chip_set_output(vtpu_chip *chip, vtpu_output_fn fn, void *opaque)
{
    chip->out_fn = fn;
    chip->out_opaque = opaque;
}

void vtpu_chip_output(vtpu_chip *chip, unsigned tc, int fd, const char *buf,
                      size_t len)
{
    char *tagged = NULL; /* timeline.c: "[TC n (i,j)] " line prefixes */

    if (VTPU_UNLIKELY(chip->dbg) &&
        (tagged = vtpu_dbg_tag(chip, tc, fd, buf, &len)))
        buf = tagged;
    if (chip->out_fn) {
        chip->out_fn(chip->out_opaque, tc, fd, buf, len);
    } else {
        FILE *f = fd == 2 ? stderr : stdout;
        vtpu_mutex_lock(&chip->out_lock);
        fwrite(buf, 1, len, f);
        fflush(f);
        vtpu_mutex_unlock(&chip->out_lock);
    }
    g_free(tagged);
}

void vtpu_tc_power_on(vtpu_tc *tc)
{
    /* Dropped pages: the host gets them back, and they are zero */
    vtpu_zero_lazy(tc->vmem, tc->vmem_size);
    vtpu_zero_lazy(tc->smem, tc->smem_size);
    memset(tc->vmem_dirty, 0, VTPU_DIRTY_PAGES(tc->vmem_size));
    memset(tc->smem_dirty, 0, VTPU_DIRTY_PAGES(tc->smem_size));
    tc->smem_serial = 0;
    memset(tc->sems, 0, tc->chip->cfg.num_sems * sizeof(uint32_t));
    tc->state = VTPU_TC_IDLE;
    tc->instret = 0;
    tc->pc = VTPU_IMEM_BASE;
    memset(&tc->cnt, 0, sizeof(tc->cnt));
}

void vtpu_chip_scrub(vtpu_chip *chip)
{
    if (!chip->hbm_external) {
        vtpu_zero_lazy(chip->hbm, chip->cfg.hbm_size);
        vtpu_dirty_all(chip->hbm_dirty, chip->cfg.hbm_size);
    }
    if (chip->vmem_shared) {
        vtpu_zero_lazy(chip->vmem_shared, chip->cfg.vmem_shared_size);
        memset(chip->vmem_shared_dirty, 0,
               VTPU_DIRTY_PAGES(chip->cfg.vmem_shared_size));
    }
    for (unsigned i = 0; i < chip->cfg.num_tcs; i++)
        vtpu_tc_power_on(chip->tcs[i]);
    vtpu_chip_unload_programs(chip);
    if (chip->check) { /* fresh shadows: nothing of the old guest's state */
        vtpu_check_free(chip->check);
        chip->check = vtpu_check_new(chip);
    }
}

/*
 * prog is about to be freed: the TCs whose clean SMEM pages hold its
 * image come to count them as holding zeros instead, the pages where the
 * image is not zero marked for the next reset (dirty.c).
 */
static void forget_image(vtpu_chip *chip, const vtpu_program *prog)
{
    if (!prog)
        return;
    for (unsigned i = 0; i < chip->cfg.num_tcs; i++) {
        vtpu_tc *tc = chip->tcs[i];
        if (!tc || tc->smem_serial != prog->serial)
            continue;
        vtpu_dirty_rebase(tc->smem_size, tc->smem_dirty, prog->smem_image,
                          prog->smem_image_used, NULL, 0);
        tc->smem_serial = 0;
    }
}

int vtpu_chip_load_elf_slot(vtpu_chip *chip, unsigned slot, const void *elf,
                            size_t len, char *err, size_t errlen)
{
    if (slot >= VTPU_MAX_PROGRAMS) {
        if (err && errlen)
            snprintf(err, errlen, "program slot %u out of range (0..%u)",
                     slot, VTPU_MAX_PROGRAMS - 1);
        return -1;
    }
    vtpu_program *prog =
        vtpu_program_from_elf(&chip->cfg, elf, len, err, errlen);
    if (!prog)
        return -1;
    /* kept for snapshots, which carry programs as their ELF images */
    prog->elf = g_memdup2(elf, len);
    prog->elf_len = (uint32_t)len;
    if (len > UINT32_MAX) {
        vtpu_program_free(prog);
        if (err && errlen)
            snprintf(err, errlen, "ELF image of %zu bytes is too large", len);
        return -1;
    }
    prog->serial = ++chip->prog_serial;
    if (chip->slots[slot] && chip->prog == chip->slots[slot])
        chip->prog = prog;
    forget_image(chip, chip->slots[slot]);
    vtpu_program_free(chip->slots[slot]);
    chip->slots[slot] = prog;
    return 0;
}

int vtpu_chip_load_elf(vtpu_chip *chip, const void *elf, size_t len,
                       char *err, size_t errlen)
{
    if (vtpu_chip_load_elf_slot(chip, 0, elf, len, err, errlen))
        return -1;
    chip->prog = chip->slots[0];
    return 0;
}

int vtpu_chip_select_program(vtpu_chip *chip, unsigned slot)
{
    if (!vtpu_chip_has_program(chip, slot))
        return -1;
    chip->prog = chip->slots[slot];
    return 0;
}

bool vtpu_chip_has_program(const vtpu_chip *chip, unsigned slot)
{
    return slot < VTPU_MAX_PROGRAMS && chip->slots[slot];
}

void vtpu_chip_unload_programs(vtpu_chip *chip)
{
    chip->prog = NULL;
    chip->resume_pending = false; /* a loaded run cannot go on without */
    for (unsigned i = 0; i < VTPU_MAX_PROGRAMS; i++) {
        forget_image(chip, chip->slots[i]);
        vtpu_program_free(chip->slots[i]);
        chip->slots[i] = NULL;
    }
}

void vtpu_tc_reset(vtpu_tc *tc, unsigned ntcs)
{
    const vtpu_program *prog = tc->chip->prog;
    memset(tc->x, 0, sizeof(tc->x));
    memset(tc->f, 0, sizeof(tc->f));
    tc->fflags = 0;
    tc->frm = 0;
    tc->instret = 0;
    tc->budget = tc->chip->cfg.insn_budget ? tc->chip->cfg.insn_budget
                                           : UINT64_MAX;
    tc->prog = prog;
    tc->pc = prog ? prog->entry : VTPU_IMEM_BASE;
    tc->ntcs = ntcs;
    tc->state = VTPU_TC_IDLE;
    tc->exit_code = 0;
    memset(&tc->err, 0, sizeof(tc->err));

    /* SMEM = image + zeros, VMEM = zeros: only the pages written since
     * the last reset are rewritten (dirty.c), plus, when the program
     * changed, those where the two images differ. */
    uint32_t img = prog ? prog->smem_image_used : 0;
    const uint8_t *image = prog ? prog->smem_image : NULL;
    uint64_t serial = prog ? prog->serial : 0;
    if (tc->smem_serial != serial) {
        /* forget_image() keeps smem_serial naming a loaded program */
        const vtpu_program *old = NULL;
        for (unsigned i = 0; i < VTPU_MAX_PROGRAMS && tc->smem_serial; i++)
            if (tc->chip->slots[i] &&
                tc->chip->slots[i]->serial == tc->smem_serial)
                old = tc->chip->slots[i];
        if (tc->smem_serial && !old) /* cannot happen; be safe */
            vtpu_dirty_all(tc->smem_dirty, tc->smem_size);
        else
            vtpu_dirty_rebase(tc->smem_size, tc->smem_dirty,
                              old ? old->smem_image : NULL,
                              old ? old->smem_image_used : 0, image, img);
        tc->smem_serial = serial;
    }
    vtpu_dirty_restore(tc->smem, tc->smem_size, tc->smem_dirty, image, img);
    vtpu_dirty_restore(tc->vmem, tc->vmem_size, tc->vmem_dirty, NULL, 0);
    memset(tc->sems, 0, tc->chip->cfg.num_sems * sizeof(uint32_t));
    if (tc->units_dirty) {
        vtpu_vpu_reset(tc->vpu);
        vtpu_mxu_reset(tc->mxu);
        tc->units_dirty = false;
    }
    tc->check = NULL; /* run.c: vtpu_check_run_begin() sets it */
}

/* Overflow-safe range check of [off, off+len) against size. */
static bool in_range(uint64_t off, uint64_t len, uint64_t size)
{
    return off <= size && len <= size - off;
}

void *vtpu_chip_hbm_ptr(vtpu_chip *chip)
{
    return chip->hbm;
}

void vtpu_chip_hbm_dirty_take(vtpu_chip *chip,
                              void (*fn)(void *opaque, uint64_t off,
                                         uint64_t len),
                              void *opaque)
{
    uint64_t size = chip->cfg.hbm_size, n = VTPU_DIRTY_PAGES(size);
    uint8_t *m = chip->hbm_dirty;

    for (uint64_t i = 0; i < n;) {
        if (!m[i]) {
            i++;
            continue;
        }
        uint64_t j = i;
        while (j < n && m[j])
            m[j++] = 0;
        uint64_t off = i << VTPU_DIRTY_SHIFT;
        uint64_t end = j << VTPU_DIRTY_SHIFT;
        fn(opaque, off, (end < size ? end : size) - off);
        i = j;
    }
}

int vtpu_hbm_read(vtpu_chip *chip, uint64_t off, void *buf, size_t len)
{
    if (!in_range(off, len, chip->cfg.hbm_size))
        return -1;
    memcpy(buf, chip->hbm + off, len);
    return 0;
}

int vtpu_hbm_write(vtpu_chip *chip, uint64_t off, const void *buf,
                   size_t len)
{
    if (!in_range(off, len, chip->cfg.hbm_size))
        return -1;
    memcpy(chip->hbm + off, buf, len);
    vtpu_dirty_mark(chip->hbm_dirty, off, len);
    if (VTPU_UNLIKELY(chip->check))
        vtpu_check_host_write(chip, off, len); /* written, for poison */
    return 0;
}

static uint8_t *tc_space(vtpu_chip *chip, unsigned tcid, vtpu_space space,
                         uint32_t *size)
{
    if (tcid >= chip->cfg.num_tcs)
        return NULL;
    vtpu_tc *tc = chip->tcs[tcid];
    switch (space) {
    case VTPU_SPACE_VMEM:
        *size = tc->vmem_size;
        return tc->vmem;
    case VTPU_SPACE_SMEM:
        *size = tc->smem_size;
        return tc->smem;
    case VTPU_SPACE_IMEM:
        if (!chip->prog)
            return NULL;
        *size = chip->prog->code_words * 4;
        return (uint8_t *)chip->prog->text;
    default:
        return NULL;
    }
}

int vtpu_mem_read(vtpu_chip *chip, unsigned tc, vtpu_space space,
                  uint32_t off, void *buf, size_t len)
{
    uint32_t size;
    uint8_t *p = tc_space(chip, tc, space, &size);
    if (!p || !in_range(off, len, size))
        return -1;
    memcpy(buf, p + off, len);
    return 0;
}

int vtpu_mem_write(vtpu_chip *chip, unsigned tc, vtpu_space space,
                   uint32_t off, const void *buf, size_t len)
{
    uint32_t size;
    /* IMEM holds pre-decoded code: it changes only by loading a program. */
    if (space == VTPU_SPACE_IMEM)
        return -1;
    uint8_t *p = tc_space(chip, tc, space, &size);
    if (!p || !in_range(off, len, size))
        return -1;
    memcpy(p + off, buf, len);
    vtpu_tc_mark_written(chip->tcs[tc], space, off, len);
    return 0;
}

void vtpu_tc_mark_written(vtpu_tc *tc, vtpu_space space, uint64_t off,
                          uint64_t len)
{
    if (space == VTPU_SPACE_SMEM)
        vtpu_dirty_mark(tc->smem_dirty, off, len);
    else if (space == VTPU_SPACE_VMEM)
        vtpu_dirty_mark(tc->vmem_dirty, off, len);
}
