/*
 * slice.c - N chips of one process on one fabric, loaded and run
 * together (vtpu-slice.h).  A run is a collective run of every chip:
 * one host thread per chip (chip 0 on the caller), each chip's TCs 1..
 * on that chip's own TC threads as for a lone chip.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

struct vtpu_slice {
    vtpu_topology topo;
    vtpu_fabric *fabric;
    unsigned n;
    vtpu_chip **chips;
};

vtpu_slice *vtpu_slice_new(const vtpu_config *cfg, const char *topology,
                           char *err, size_t errlen)
{
    vtpu_topology t;

    if (vtpu_topology_parse(topology ? topology : "1", &t, err, errlen))
        return NULL;
    vtpu_slice *s = g_new0(vtpu_slice, 1);
    s->topo = t;
    s->fabric = vtpu_fabric_new(&t, err, errlen);
    if (!s->fabric) {
        g_free(s);
        return NULL;
    }
    s->n = vtpu_topology_size(&t);
    s->chips = g_new0(vtpu_chip *, s->n);
    for (unsigned i = 0; i < s->n; i++) {
        char e[256];
        s->chips[i] = vtpu_chip_new(cfg, e, sizeof(e));
        if (!s->chips[i] ||
            vtpu_fabric_attach(s->fabric, i, s->chips[i], e, sizeof(e))) {
            snprintf(err, errlen, "slice: chip %u: %s", i, e);
            vtpu_slice_free(s);
            return NULL;
        }
    }
    return s;
}

void vtpu_slice_free(vtpu_slice *s)
{
    if (!s)
        return;
    vtpu_fabric_free(s->fabric); /* detaches */
    for (unsigned i = 0; i < s->n; i++)
        vtpu_chip_free(s->chips[i]);
    g_free(s->chips);
    g_free(s);
}

unsigned vtpu_slice_size(const vtpu_slice *s)
{
    return s->n;
}

vtpu_chip *vtpu_slice_chip(vtpu_slice *s, unsigned i)
{
    return i < s->n ? s->chips[i] : NULL;
}

const vtpu_topology *vtpu_slice_topology(const vtpu_slice *s)
{
    return &s->topo;
}

vtpu_fabric *vtpu_slice_fabric(vtpu_slice *s)
{
    return s->fabric;
}

int vtpu_slice_load_elf(vtpu_slice *s, const void *elf, size_t len, char *err,
                        size_t errlen)
{
    for (unsigned i = 0; i < s->n; i++) {
        char e[256];
        if (vtpu_chip_load_elf(s->chips[i], elf, len, e, sizeof(e))) {
            snprintf(err, errlen, "slice: chip %u: %s", i, e);
            return -1;
        }
    }
    return 0;
}

typedef struct chip_job {
    vtpu_chip *chip;
    const vtpu_run_opts *opts;
    vtpu_run_result *res;
    int rc;
} chip_job;

static gpointer chip_thread(gpointer opaque)
{
    chip_job *j = opaque;

    j->rc = vtpu_chip_run(j->chip, j->opts, j->res);
    return NULL;
}

int vtpu_slice_run(vtpu_slice *s, const vtpu_run_opts *opts,
                   vtpu_run_result *res, vtpu_error *first)
{
    vtpu_run_opts o = opts ? *opts : (vtpu_run_opts){0};
    chip_job *jobs = g_new0(chip_job, s->n);
    GThread **th = g_new0(GThread *, s->n);
    vtpu_run_result *r = res ? res : g_new0(vtpu_run_result, s->n);
    int rc = 0;

    o.collective = true;
    vtpu_fabric_reset_fault(s->fabric);
    for (unsigned i = 0; i < s->n; i++)
        jobs[i] = (chip_job){s->chips[i], &o, &r[i], 0};
    for (unsigned i = 1; i < s->n; i++) {
        char name[24];
        snprintf(name, sizeof(name), "vtpu-chip%u", i);
        th[i] = g_thread_try_new(name, chip_thread, &jobs[i], NULL);
        if (!th[i]) /* run it here: the rendezvous would wait for it */
            chip_thread(&jobs[i]);
    }
    chip_thread(&jobs[0]);
    for (unsigned i = 1; i < s->n; i++)
        if (th[i])
            g_thread_join(th[i]);

    /* the chip that faulted first; else the first chip with an error
     * (an exit check, a run that could not start) */
    int fc = vtpu_fabric_first_fault(s->fabric);
    if (fc >= 0 && jobs[fc].rc == 0)
        fc = -1;
    for (unsigned i = 0; i < s->n && fc < 0; i++)
            if (jobs[i].rc)
                fc = (int)i;
    for (unsigned i = 0; i < s->n; i++)
        if (jobs[i].rc)
            rc = -1;
    if (first) {
        if (fc >= 0 && jobs[fc].rc) {
            *first = r[fc].error;
            first->chip = fc;
        } else {
            memset(first, 0, sizeof(*first));
            first->tc = first->chip = -1;
        }
    }
    if (!res)
        g_free(r);
    g_free(th);
    g_free(jobs);
    return rc;
}
