/*
 * timeline.c - the engine's opt-in debugging aids (vtpu-debug.h): the
 * per-chip switch block, the timeline trace (Chrome trace-event JSON),
 * the per-TC counters and tagged kernel output.
 *
 * chip->dbg is NULL while every aid is off, so the engine's hooks are one
 * predictable branch at DMA issue, semaphore operations, output and the
 * ends of a run.  The trace is written as events complete, under one
 * lock; viewers sort by timestamp, so order in the file does not matter.
 *
 * Grid steps come from the TC runtime's progress mailbox
 * (vtpu-launch.h), read from SMEM at the TC's DMA and semaphore
 * operations: no instruction is instrumented.  The runtime changes the
 * step before the step waits for its blocks and, under a trace, marks
 * each step's start with a sem.read (VTPU_MB_HOST_STEP_SYNC, set here at
 * run start), so a step's slice holds its own body.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "vtpu-launch.h"

#define DMA_TID 100 /* tid of TC n's DMA engine: DMA_TID + n */

typedef struct dbg_tc {
    int64_t run_t0;  /* trace clock at the start of the run */
    int64_t kern_t0; /* first seen in the GRID phase, or -1 */
    int64_t step_t0;
    int64_t step;   /* step in progress, -1 = none */
    char point[48]; /* its grid point, "(i, j)" */
    char kname[VTPU_KERNEL_NAME_LEN];
    bool mid_line[3]; /* output tags: fd 1/2 is inside a line */
} dbg_tc;

struct vtpu_dbg {
    vtpu_dma_order order;
    uint64_t seed;
    bool tag;
    FILE *trace;     /* NULL: no trace */
    vtpu_mutex lock; /* the trace file, dma_id */
    bool any;        /* an event has been written (commas) */
    int64_t base;    /* trace clock at open: ts 0 */
    uint64_t dma_id;
    unsigned runs;
    dbg_tc tc[VTPU_MAX_TCS];
};

int64_t vtpu_dbg_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ------------------------------------------------------------------ */
/* The switch block                                                     */
/* ------------------------------------------------------------------ */

static vtpu_dbg *get_dbg(vtpu_chip *chip)
{
    if (!chip->dbg) {
        chip->dbg = g_new0(vtpu_dbg, 1);
        vtpu_mutex_init(&chip->dbg->lock);
    }
    return chip->dbg;
}

/*
 * The file is valid JSON whenever no TC runs: when it is opened and when
 * each TC's run ends, the closing trailer is written and the file position
 * steps back over it, so the next event overwrites it.  A QEMU that exits
 * without finalizing the device leaves a complete trace too.
 */
#define TRAILER "\n]}\n"

static void put_trailer(FILE *f)
{
    fputs(TRAILER, f);
    fseek(f, -(long)strlen(TRAILER), SEEK_CUR);
}

static void trace_close(vtpu_dbg *d)
{
    if (!d->trace)
        return;
    fclose(d->trace);
    d->trace = NULL;
}

void vtpu_dbg_free(vtpu_chip *chip)
{
    vtpu_dbg *d = chip->dbg;

    for (unsigned i = 0; i < VTPU_MAX_TCS; i++) {
        if (chip->tcs[i]) {
            vtpu_dmaq_free(chip->tcs[i]->dmaq);
            chip->tcs[i]->dmaq = NULL;
        }
    }
    if (!d)
        return;
    trace_close(d);
    vtpu_mutex_clear(&d->lock);
    g_free(d);
    chip->dbg = NULL;
}

/* Everything off again: back to the no-cost path. */
static void maybe_drop(vtpu_chip *chip)
{
    vtpu_dbg *d = chip->dbg;
    if (d && d->order == VTPU_DMA_EAGER && !d->tag && !d->trace)
        vtpu_dbg_free(chip);
}

int vtpu_dma_order_parse(const char *s, vtpu_dma_order *order, uint64_t *seed,
                         char *err, size_t errlen)
{
    *seed = 1;
    if (!strcmp(s, "eager")) {
        *order = VTPU_DMA_EAGER;
        return 0;
    }
    if (!strcmp(s, "on-wait")) {
        *order = VTPU_DMA_ON_WAIT;
        return 0;
    }
    if (!strncmp(s, "random", 6) && (!s[6] || s[6] == ':')) {
        *order = VTPU_DMA_RANDOM;
        if (s[6] == ':') {
            char *end;
            *seed = g_ascii_strtoull(s + 7, &end, 0);
            if (end == s + 7 || *end) {
                if (err && errlen)
                    snprintf(err, errlen, "'%s': seed is not a number", s);
                return -1;
            }
        }
        return 0;
    }
    if (err && errlen)
        snprintf(err, errlen,
                 "'%s': expected eager, on-wait, random or random:SEED", s);
    return -1;
}

void vtpu_chip_set_dma_order(vtpu_chip *chip, vtpu_dma_order order,
                             uint64_t seed)
{
    vtpu_dbg *d = get_dbg(chip);
    d->order = order;
    d->seed = seed;
    maybe_drop(chip);
}

void vtpu_chip_set_output_tags(vtpu_chip *chip, bool on)
{
    get_dbg(chip)->tag = on;
    maybe_drop(chip);
}

int vtpu_chip_set_trace(vtpu_chip *chip, const char *path, char *err,
                        size_t errlen)
{
    vtpu_dbg *d = get_dbg(chip);

    trace_close(d);
    if (path) {
        d->trace = fopen(path, "w");
        if (!d->trace) {
            if (err && errlen)
                snprintf(err, errlen, "%s: %s", path, g_strerror(errno));
            maybe_drop(chip);
            return -1;
        }
        fputs("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n", d->trace);
        put_trailer(d->trace);
        d->any = false;
        d->base = vtpu_dbg_now();
        d->runs = 0;
    }
    maybe_drop(chip);
    return 0;
}

int vtpu_chip_tc_stats(vtpu_chip *chip, unsigned tc, vtpu_tc_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!chip || tc >= chip->cfg.num_tcs || !chip->tcs[tc])
        return -1;
    *out = chip->tcs[tc]->cnt;
    out->instret = __atomic_load_n(&chip->tcs[tc]->instret, __ATOMIC_RELAXED);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Trace events                                                         */
/* ------------------------------------------------------------------ */

/* One event object (the text between braces); caller holds no lock. */
static void emit(vtpu_dbg *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void emit(vtpu_dbg *d, const char *fmt, ...)
{
    va_list ap;

    vtpu_mutex_lock(&d->lock);
    if (d->trace) {
        fputs(d->any ? ",\n{" : "{", d->trace);
        va_start(ap, fmt);
        vfprintf(d->trace, fmt, ap);
        va_end(ap);
        fputc('}', d->trace);
        d->any = true;
    }
    vtpu_mutex_unlock(&d->lock);
}

/* Microseconds since the trace was opened, as the format wants. */
static double us(const vtpu_dbg *d, int64_t t)
{
    return (double)(t - d->base) / 1000.0;
}

/* A complete slice on `tid`, t0..t1; `args` is JSON object members. */
static void slice(vtpu_dbg *d, unsigned tid, const char *cat, const char *name,
                  int64_t t0, int64_t t1, const char *args)
{
    emit(d,
         "\"name\":\"%s\",\"cat\":\"%s\",\"ph\":\"X\",\"ts\":%.3f,"
         "\"dur\":%.3f,\"pid\":0,\"tid\":%u,\"args\":{%s}",
         name, cat, us(d, t0), (double)(t1 - t0) / 1000.0, tid, args);
}

static void thread_name(vtpu_dbg *d, unsigned tid, const char *name)
{
    emit(d,
         "\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":0,\"tid\":%u,"
         "\"args\":{\"name\":\"%s\"}",
         tid, name);
    emit(d,
         "\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":0,\"tid\":%u,"
         "\"args\":{\"sort_index\":%u}",
         tid, tid);
}

/* "(i, j)": the grid point the mailbox shows, or "" outside a grid. */
static void grid_point(const vtpu_mailbox_view *v, char *buf, size_t len)
{
    size_t pos = 0;

    buf[0] = 0;
    if (!v->has_point || v->mb.phase != VTPU_MB_GRID)
        return;
    for (unsigned i = 0; i < v->rank && pos + 16 < len; i++)
        pos += (size_t)snprintf(buf + pos, len - pos, "%s%d", i ? "," : "(",
                                v->point[i]);
    if (v->rank && pos + 2 < len)
        snprintf(buf + pos, len - pos, ")");
}

static void end_step(vtpu_dbg *d, vtpu_tc *tc, dbg_tc *s, int64_t now)
{
    char name[32], args[96];

    if (s->step < 0)
        return;
    snprintf(name, sizeof(name), "step %" PRId64, s->step);
    snprintf(args, sizeof(args), "\"point\":\"%s\"", s->point);
    slice(d, tc->id, "grid", name, s->step_t0, now, args);
    emit(d,
         "\"name\":\"TC %u work\",\"ph\":\"C\",\"ts\":%.3f,\"pid\":0,"
         "\"args\":{\"vec_alu\":%" PRIu64 ",\"vec_ldst\":%" PRIu64
         ",\"mxu_matmul\":%" PRIu64 ",\"mxu_push\":%" PRIu64
         ",\"mxu_pop\":%" PRIu64 "}",
         tc->id, us(d, now), tc->cnt.vec_alu, tc->cnt.vec_ldst,
         tc->cnt.mxu_matmul, tc->cnt.mxu_push, tc->cnt.mxu_pop);
    s->step = -1;
}

static void end_kernel(vtpu_dbg *d, vtpu_tc *tc, dbg_tc *s, int64_t now)
{
    char name[VTPU_KERNEL_NAME_LEN + 8];

    end_step(d, tc, s, now);
    if (s->kern_t0 < 0)
        return;
    snprintf(name, sizeof(name), "kernel %s", s->kname);
    slice(d, tc->id, "kernel", name, s->kern_t0, now, "");
    s->kern_t0 = -1;
}

void vtpu_dbg_sync_point(vtpu_tc *tc)
{
    vtpu_dbg *d = tc->chip->dbg;
    dbg_tc *s = &d->tc[tc->id];
    vtpu_mailbox_view v;
    uint32_t step;
    int64_t now;

    if (!d->trace || !vtpu_mailbox_read(tc, &v))
        return;
    if (v.mb.phase != VTPU_MB_GRID) {
        if (s->kern_t0 >= 0)
            end_kernel(d, tc, s, vtpu_dbg_now());
        return;
    }
    if (!v.has_point)
        return;
    step = v.step;
    if (s->kern_t0 >= 0 && s->step == (int64_t)step)
        return;
    now = vtpu_dbg_now();
    if (s->kern_t0 < 0) {
        s->kern_t0 = now;
        memcpy(s->kname, v.mb.name, sizeof(s->kname));
        s->kname[sizeof(s->kname) - 1] = 0;
        for (char *c = s->kname; *c; c++)
            if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20)
                *c = '?';
    }
    end_step(d, tc, s, now);
    s->step = step;
    s->step_t0 = now;
    grid_point(&v, s->point, sizeof(s->point));
}

void vtpu_dbg_run_begin(vtpu_chip *chip, unsigned ntcs)
{
    vtpu_dbg *d = chip->dbg;
    int64_t now = vtpu_dbg_now();

    for (unsigned t = 0; t < ntcs; t++) {
        vtpu_tc *tc = chip->tcs[t];
        dbg_tc *s = &d->tc[t];

        vtpu_dmaq_free(tc->dmaq);
        tc->dmaq = d->order == VTPU_DMA_EAGER
                       ? NULL
                       : vtpu_dmaq_new(d->order == VTPU_DMA_RANDOM, d->seed, t);
        memset(s, 0, sizeof(*s));
        /* Ask the TC runtime to mark each step's start with a sync point
         * (VTPU_MB_HOST_STEP_SYNC), so that a step that waits for
         * nothing still starts its own slice. */
        uint32_t magic;
        if (d->trace && tc->smem_size >= sizeof(vtpu_mailbox)) {
            memcpy(&magic, tc->smem, sizeof(magic));
            if (magic == VTPU_MAILBOX_MAGIC) {
                tc->smem[offsetof(vtpu_mailbox, host_flags)] |=
                    VTPU_MB_HOST_STEP_SYNC;
                vtpu_dirty_mark(tc->smem_dirty,
                                offsetof(vtpu_mailbox, host_flags), 1);
            }
        }
        s->run_t0 = now;
        s->kern_t0 = -1;
        s->step = -1;
        if (d->trace && d->runs == 0) {
            char name[24];
            snprintf(name, sizeof(name), "TC %u", t);
            thread_name(d, t, name);
            snprintf(name, sizeof(name), "TC %u DMA", t);
            thread_name(d, DMA_TID + t, name);
        }
    }
    if (d->trace && d->runs == 0)
        emit(d, "\"name\":\"process_name\",\"ph\":\"M\",\"pid\":0,"
                "\"args\":{\"name\":\"vtpu chip\"}");
    d->runs++;
}

void vtpu_dbg_tc_end(vtpu_tc *tc)
{
    vtpu_dbg *d = tc->chip->dbg;
    dbg_tc *s = &d->tc[tc->id];
    char args[96];

    /* An exiting TC's DMAs still complete (and then count for the
     * semaphores-at-exit check); a stopped or faulted run drops them. */
    if (tc->dmaq && tc->state == VTPU_TC_EXITED)
        vtpu_dmaq_sync(tc, -1, true);
    if (!d->trace)
        return;
    int64_t now = vtpu_dbg_now();
    end_kernel(d, tc, s, now);
    snprintf(args, sizeof(args),
             "\"instructions\":%" PRIu64 ",\"state\":\"%s\",\"exit\":%d",
             tc->instret,
             tc->state == VTPU_TC_EXITED    ? "exited"
             : tc->state == VTPU_TC_FAULTED ? "faulted"
                                            : "stopped",
             tc->exit_code);
    slice(d, tc->id, "run", "run", s->run_t0, now, args);
    vtpu_mutex_lock(&d->lock);
    put_trailer(d->trace);
    fflush(d->trace);
    vtpu_mutex_unlock(&d->lock);
}

static const char *space_name(unsigned sp)
{
    switch (sp) {
    case VTPU_SPACE_HBM:
        return "hbm";
    case VTPU_SPACE_VMEM:
        return "vmem";
    default:
        return "smem";
    }
}

void vtpu_dbg_dma(vtpu_tc *tc, const vtpu_dma_plan *p, int64_t t0)
{
    vtpu_dbg *d = tc->chip->dbg;
    uint64_t id;
    int64_t now;
    const char *what = p->add ? "dma add" : "dma"; /* VTPU_DMA_ADD */

    if (!d->trace)
        return;
    vtpu_dbg_sync_point(tc);
    now = vtpu_dbg_now();
    vtpu_mutex_lock(&d->lock);
    id = ++d->dma_id;
    vtpu_mutex_unlock(&d->lock);
    /* Async slices: DMAs of one engine overlap when deferred. */
    emit(d,
         "\"name\":\"%s %s->%s\",\"cat\":\"dma\",\"ph\":\"b\",\"id\":%" PRIu64
         ",\"ts\":%.3f,\"pid\":0,\"tid\":%u,\"args\":{\"bytes\":%u,"
         "\"sem\":%u,\"sem_tc\":%u}",
         what, space_name(p->src_space), space_name(p->dst_space), id,
         us(d, t0), DMA_TID + tc->id, p->bytes, p->sem, p->sem_tc);
    emit(d,
         "\"name\":\"%s %s->%s\",\"cat\":\"dma\",\"ph\":\"e\",\"id\":%" PRIu64
         ",\"ts\":%.3f,\"pid\":0,\"tid\":%u",
         what, space_name(p->src_space), space_name(p->dst_space), id,
         us(d, now), DMA_TID + tc->id);
}

void vtpu_dbg_remote_dma(vtpu_tc *tc, unsigned dst_chip, uint32_t bytes,
                         uint32_t sem, int64_t t0)
{
    vtpu_dbg *d = tc->chip->dbg;
    uint64_t id;

    if (!d->trace)
        return;
    vtpu_dbg_sync_point(tc);
    int64_t now = vtpu_dbg_now();
    vtpu_mutex_lock(&d->lock);
    id = ++d->dma_id;
    vtpu_mutex_unlock(&d->lock);
    emit(d,
         "\"name\":\"ici dma chip %u->%u\",\"cat\":\"ici\",\"ph\":\"b\","
         "\"id\":%" PRIu64 ",\"ts\":%.3f,\"pid\":0,\"tid\":%u,\"args\":{"
         "\"bytes\":%u,\"sem\":%u,\"dst_chip\":%u}",
         tc->chip->chip_id, dst_chip, id, us(d, t0), DMA_TID + tc->id, bytes,
         sem, dst_chip);
    emit(d,
         "\"name\":\"ici dma chip %u->%u\",\"cat\":\"ici\",\"ph\":\"e\","
         "\"id\":%" PRIu64 ",\"ts\":%.3f,\"pid\":0,\"tid\":%u",
         tc->chip->chip_id, dst_chip, id, us(d, now), DMA_TID + tc->id);
}

void vtpu_dbg_wait(vtpu_tc *tc, int64_t sem, uint32_t n, int64_t t0)
{
    vtpu_dbg *d = tc->chip->dbg;
    char args[64];

    if (!d->trace)
        return;
    if (sem < 0) {
        slice(d, tc->id, "sync", "barrier", t0, vtpu_dbg_now(), "");
        return;
    }
    snprintf(args, sizeof(args), "\"sem\":%" PRId64 ",\"n\":%u", sem, n);
    slice(d, tc->id, "sync", "sem.wait", t0, vtpu_dbg_now(), args);
}

/* ------------------------------------------------------------------ */
/* Output tags                                                          */
/* ------------------------------------------------------------------ */

char *vtpu_dbg_tag(vtpu_chip *chip, unsigned tc, int fd, const char *buf,
                   size_t *len)
{
    vtpu_dbg *d = chip->dbg;
    char tag[80], point[48];
    GString *out;

    if (!d->tag || tc >= VTPU_MAX_TCS || !chip->tcs[tc])
        return NULL;
    vtpu_mailbox_view v;
    if (vtpu_mailbox_read(chip->tcs[tc], &v))
        grid_point(&v, point, sizeof(point));
    else
        point[0] = 0;
    snprintf(tag, sizeof(tag), "[TC %u%s%s] ", tc, point[0] ? " " : "", point);
    bool *mid = &d->tc[tc].mid_line[fd == 2 ? 2 : 1];
    out = g_string_sized_new(*len + sizeof(tag));
    for (size_t i = 0; i < *len; i++) {
        if (!*mid)
            g_string_append(out, tag);
        g_string_append_c(out, buf[i]);
        *mid = buf[i] != '\n';
    }
    *len = out->len;
    return g_string_free(out, FALSE);
}
