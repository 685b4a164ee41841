/*
 * config.c - chip configuration: generation presets and overrides.
 *
 * The presets carry the public per-TensorCore numbers (docs/architecture.md); every
 * size can be overridden on its own, with the names the QEMU device uses
 * for its properties.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define GiB (1ull << 30)

typedef struct preset {
    const char *gen;
    uint32_t tcs;
    uint64_t hbm;
    uint64_t vmem;
    uint32_t mxu_dim, mxu_count;
} preset;

static const preset presets[] = {
    /* gen    TCs  HBM        VMEM/TC     MXU   MXUs/TC */
    {"v4", 2, 32 * GiB, 16 * MiB, 128, 4},
    {"v5e", 1, 16 * GiB, 128 * MiB, 128, 4},
    {"v5p", 2, 95 * GiB, 64 * MiB, 128, 4},
    {"v6e", 1, 32 * GiB, 128 * MiB, 256, 2},
};

#define DEFAULT_GEN "v5p"

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int vtpu_config_preset(vtpu_config *cfg, const char *gen, char *err,
                       size_t errlen)
{
    if (!gen || !*gen)
        gen = DEFAULT_GEN;
    for (size_t i = 0; i < sizeof(presets) / sizeof(presets[0]); i++) {
        const preset *p = &presets[i];
        if (strcmp(p->gen, gen) != 0)
            continue;
        memset(cfg, 0, sizeof(*cfg));
        snprintf(cfg->gen, sizeof(cfg->gen), "%s", p->gen);
        cfg->num_tcs = p->tcs;
        cfg->hbm_size = p->hbm;
        cfg->vmem_size = (uint32_t)p->vmem;
        cfg->smem_size = 1 * MiB;
        cfg->imem_size = 1 * MiB;
        cfg->num_sems = 256;
        cfg->mxu_dim = p->mxu_dim;
        cfg->mxu_count = p->mxu_count;
        cfg->insn_budget = 0;
        cfg->vmem_shared_size = 1 * MiB;
        return 0;
    }
    seterr(err, errlen,
           "unknown generation '%s' (known: v4, v5e, v5p, v6e)", gen);
    return -1;
}

/* Parse "123", "0x10", "64K", "16M", "2G", "1T" (binary units). */
static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    if (!s || !*s || *s == '-' || isspace((unsigned char)*s))
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s)
        return -1;
    unsigned shift = 0;
    switch (toupper((unsigned char)*end)) {
    case 0:
        break;
    case 'K':
        shift = 10;
        break;
    case 'M':
        shift = 20;
        break;
    case 'G':
        shift = 30;
        break;
    case 'T':
        shift = 40;
        break;
    default:
        return -1;
    }
    if (*end) {
        end++;
        if (toupper((unsigned char)*end) == 'I') /* "KiB", "MiB" */
            end++;
        if (toupper((unsigned char)*end) == 'B')
            end++;
        if (*end)
            return -1;
    }
    if (shift && v > (UINT64_MAX >> shift))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

typedef enum { F_U32, F_U64 } field_type;

typedef struct field {
    const char *key;
    size_t off;
    field_type type;
    const char *help;
} field;

#define FLD(id, k, m, t, h) [VTPU_CFG_##id] = {k, offsetof(vtpu_config, m), F_##t, h},
static const field fields[VTPU_CFG__COUNT] = {VTPU_CONFIG_KEYS(FLD)};
#undef FLD

int vtpu_config_set(vtpu_config *cfg, const char *key, const char *value,
                    char *err, size_t errlen)
{
    if (!key || !value) {
        seterr(err, errlen, "missing key or value");
        return -1;
    }
    if (strcmp(key, "gen") == 0)
        return vtpu_config_preset(cfg, value, err, errlen);
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        const field *f = &fields[i];
        if (strcmp(f->key, key) != 0)
            continue;
        uint64_t v;
        if (!strcmp(value, "on") || !strcmp(value, "true"))
            value = "1";
        else if (!strcmp(value, "off") || !strcmp(value, "false"))
            value = "0";
        else if (i == VTPU_CFG_BOUNDS && !strcmp(value, "padded"))
            value = "1";
        else if (i == VTPU_CFG_BOUNDS && !strcmp(value, "logical"))
            value = "2";
        if (parse_size(value, &v)) {
            seterr(err, errlen,
                   "%s: '%s' is not a size (a number, optionally with "
                   "K, M, G or T)",
                   key, value);
            return -1;
        }
        if (f->type == F_U32) {
            if (v > UINT32_MAX) {
                seterr(err, errlen, "%s: %s is too large", key, value);
                return -1;
            }
            *(uint32_t *)((char *)cfg + f->off) = (uint32_t)v;
        } else {
            *(uint64_t *)((char *)cfg + f->off) = v;
        }
        return 0;
    }
    char known[256] = "gen";
    for (size_t i = 0; i < VTPU_CFG__COUNT; i++) {
        size_t n = strlen(known);
        snprintf(known + n, sizeof(known) - n, ", %s", fields[i].key);
    }
    seterr(err, errlen, "unknown option '%s' (known: %s)", key, known);
    return -1;
}

static int check_range(const char *name, uint64_t v, uint64_t lo,
                       uint64_t hi, uint64_t align, char *err, size_t errlen)
{
    if (v < lo || v > hi) {
        seterr(err, errlen,
               "%s = %llu is out of range [%llu, %llu]", name,
               (unsigned long long)v, (unsigned long long)lo,
               (unsigned long long)hi);
        return -1;
    }
    if (align && v % align) {
        seterr(err, errlen, "%s = %llu is not a multiple of %llu", name,
               (unsigned long long)v, (unsigned long long)align);
        return -1;
    }
    return 0;
}

int vtpu_config_validate(const vtpu_config *cfg, char *err, size_t errlen)
{
    if (check_range("cores", cfg->num_tcs, 1, VTPU_MAX_TCS, 0, err, errlen) ||
        check_range("hbm-size", cfg->hbm_size, 1 * MiB, 1ull << 40, 4 * KiB,
                    err, errlen) ||
        check_range("vmem-size", cfg->vmem_size, 64 * KiB,
                    VTPU_VMEM_PRIVATE_MAX, 4 * KiB, err, errlen) ||
        check_range("vmem-shared", cfg->vmem_shared_size, 0,
                    VTPU_VMEM_SHARED_MAX, 4 * KiB, err, errlen) ||
        check_range("smem-size", cfg->smem_size, 16 * KiB, VTPU_SMEM_MAX,
                    4 * KiB, err, errlen) ||
        check_range("imem-size", cfg->imem_size, 4 * KiB, VTPU_IMEM_MAX,
                    4 * KiB, err, errlen) ||
        check_range("sems", cfg->num_sems, 1, VTPU_MAX_SEMS, 0, err, errlen) ||
        check_range("mxu-count", cfg->mxu_count, 1, 8, 0, err, errlen) ||
        check_range("bounds", cfg->bounds, 0, VTPU_BOUNDS_LOGICAL, 0, err,
                    errlen))
        return -1;
    if (cfg->mxu_dim != 128 && cfg->mxu_dim != 256) {
        seterr(err, errlen, "mxu-size = %u: must be 128 or 256",
               cfg->mxu_dim);
        return -1;
    }
    return 0;
}

const char *vtpu_config_help(unsigned i, const char **help)
{
    if (i >= sizeof(fields) / sizeof(fields[0]))
        return NULL;
    if (help)
        *help = fields[i].help;
    return fields[i].key;
}
