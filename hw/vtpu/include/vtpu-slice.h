/*
 * vtpu-slice.h - several chips joined by ICI links (docs/multichip.md).
 *
 * Three layers, each usable alone:
 *   vtpu_topology  the shape of a slice: parse "2x4", "v5p-64", ...;
 *                  chip ids <-> coordinates; dimension-order routes
 *   vtpu_fabric    joins chips: remote DMA and remote semaphore signals
 *                  between them, one sync domain (deadlock detection over
 *                  the whole slice), the launch rendezvous of collective
 *                  runs, a transport hook for chips in other processes
 *   vtpu_slice     convenience: N local chips on one fabric, loaded and
 *                  run together
 *
 * Pure C, no QEMU.  Thread-safety: the fabric is shared by the chips' run
 * threads; attach/detach/set_transport must not race with runs.
 */
#ifndef VTPU_SLICE_H
#define VTPU_SLICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vtpu.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Topology                                                             */
/* ------------------------------------------------------------------ */

#define VTPU_TOPO_MAX_DIM 1023u /* a coordinate packs in 10 bits */
#define VTPU_SLICE_MAX_CHIPS 4096u

typedef struct vtpu_topology {
    uint32_t ndims;   /* 1..3 */
    uint32_t dims[3]; /* chips along x, y, z; unused axes 1 */
    bool wrap[3];     /* the axis is a ring (torus link from last to 0) */
} vtpu_topology;

/*
 * Parse a slice shape:
 *   "8"          a ring of 8 chips
 *   "2x4"        a 2-D torus; "4x4x4" a 3-D torus (x first)
 *   "mesh:2x4"   the same without wrap-around links
 *   "torus:2x4"  explicit torus (the default)
 *   "v4-32", "v5p-64", "v5e-16", "v6e-16"   a public slice shape of that
 *                generation (table in docs/multichip.md); for v4/v5p the
 *                number is TensorCores (2 per chip), for v5e/v6e chips
 * An axis of length 1 or 2 never wraps (a ring of 2 is one link pair; the
 * "wrap" link would join the same two chips again).  Returns 0, or -1
 * with a message naming the offending part in err.
 */
int vtpu_topology_parse(const char *spec, vtpu_topology *t, char *err,
                        size_t errlen);
unsigned vtpu_topology_size(const vtpu_topology *t);
/* Chip id = x + X * (y + Y * z). */
void vtpu_topology_coords(const vtpu_topology *t, unsigned chip, uint32_t c[3]);
unsigned vtpu_topology_chip(const vtpu_topology *t, const uint32_t c[3]);
/* "4x4x4" / "mesh:2x4" (parseable back); like snprintf. */
int vtpu_topology_format(const vtpu_topology *t, char *buf, size_t len);
/* x | y << 10 | z << 20 (VTPU_CSR_MESH / VTPU_CSR_COORD packing). */
uint32_t vtpu_topology_pack(const uint32_t v[3]);

/*
 * Links.  Each chip has two directed links per axis of length > 1: id
 * chip * 6 + axis * 2 + (0 = towards +1, 1 = towards -1).  A mesh's edge
 * chips simply never use their outward link.
 */
#define VTPU_LINKS_PER_CHIP 6u
static inline unsigned vtpu_topology_num_links(const vtpu_topology *t,
                                               unsigned nchips)
{
    (void)t;
    return nchips * VTPU_LINKS_PER_CHIP;
}
/*
 * Dimension-order route from `from` to `to`: x first, then y, then z;
 * on a wrapped axis the shorter way round (ties: the + direction).
 * Stores up to `max` link ids in `links` and returns the hop count
 * (which may exceed max; 0 when from == to).
 */
unsigned vtpu_topology_route(const vtpu_topology *t, unsigned from, unsigned to,
                             unsigned *links, unsigned max);

/* ------------------------------------------------------------------ */
/* Fabric                                                               */
/* ------------------------------------------------------------------ */

typedef struct vtpu_fabric vtpu_fabric;

/*
 * Link model: used only by counters and the trace (results never depend
 * on it).  Time of a transfer of B bytes over h hops:
 *   hops * hop_latency_ns + B / link_gbps (GB/s of one link direction).
 * Defaults: 1000 ns per hop, 45 GB/s per link direction (docs/multichip.md).
 */
typedef struct vtpu_fabric_params {
    uint32_t hop_latency_ns;
    double link_gbps;
    /*
     * Not a link property: how long a collective run waits at the launch
     * rendezvous for the other local chips before it fails (error kind
     * DEADLOCK, "collective launch: ..."); 0 (the default) = until they
     * come or the run is stopped.
     */
    uint32_t launch_timeout_ms;
} vtpu_fabric_params;

/*
 * Race detection's happens-before information for a message to another
 * process (docs/debugging.md, "Across chips"), present only when the
 * issuing chip runs with race detection (vtpu_config.race): `vc`, the
 * vector clock the operation carries (n entries, exactly the fabric's
 * agent space, vtpu_fabric_race_agents(); the same on every process of
 * one topology), and for a DMA its own epoch (its agent, a DMA lane of
 * the source chip, << 22 | its clock; 0 for a signal); `tc` the issuing
 * TC, for reports; `nchips` the sender's chip count (two counts can
 * give one agent-space size, not one numbering).  Valid during the
 * transport call only (copy it to keep it).  The receiver checks it (the
 * chip count, lengths, the agent belongs to the source chip, every clock
 * in range) like the rest of a message.
 */
#define VTPU_RACE_MAX_AGENTS 1024u
typedef struct vtpu_race_clock {
    uint32_t epoch;
    uint32_t n;
    uint32_t tc;
    uint32_t nchips; /* of the sender's slice: the receiver's must match */
    const uint32_t *vc;
} vtpu_race_clock;

/*
 * A remote DMA as it travels: the source bytes gathered contiguously in
 * the source's row-major order (dim 0 fastest, then 1, 2, 3), and where
 * they go on the destination chip.
 */
typedef struct vtpu_remote_dma {
    uint8_t dst_space; /* VTPU_SPACE_HBM / _VMEM / _SMEM */
    uint8_t dst_tc;    /* TC of the destination chip (0 for HBM) */
    uint8_t ndims;     /* 1..4 */
    uint8_t sem_tc;    /* TC of the receive semaphore (destination chip) */
    uint32_t sem;      /* receive semaphore; signalled by `bytes` */
    uint64_t dst;      /* destination address (TC address / HBM offset) */
    int64_t dst_stride[3];
    uint32_t shape[4];   /* run bytes, counts of dims 1..3 */
    uint32_t bytes;      /* product of shape[0..ndims) */
    uint32_t src_pc;     /* of the dma.start, for reports */
    const uint8_t *data; /* `bytes` bytes */
    /* the issuer's race information; NULL (the default) = none: the
     * receiver orders the DMA after everything local */
    const vtpu_race_clock *race;
} vtpu_remote_dma;

/*
 * A transport carries messages to chips that are not local (not attached
 * in this process).  Both calls run on the issuing TC's thread, without
 * engine locks held; they may block (the TC waits).  Return 0 once the
 * message is accepted: the data may be reused (the send semaphore is
 * signalled then), and the receiver applies it with vtpu_fabric_deliver_*
 * in order per (source chip, destination chip) pair.  Non-zero makes the
 * issuing TC fault with `err` (VTPU_ERR_DMA / VTPU_ERR_SEM).
 */
typedef struct vtpu_fabric_transport {
    int (*remote_dma)(void *opaque, unsigned src_chip, unsigned src_tc,
                      unsigned dst_chip, const vtpu_remote_dma *d, char *err,
                      size_t errlen);
    int (*remote_signal)(void *opaque, unsigned src_chip, unsigned src_tc,
                         unsigned dst_chip, unsigned dst_tc, uint32_t sem,
                         uint32_t n, char *err, size_t errlen);
    /*
     * Optional (NULL = none): called once per collective launch, on the
     * thread of the last local chip to reach the rendezvous, before any
     * local chip starts; it returns when every other process's chips have
     * reached theirs (an MPI barrier).  Non-zero aborts the launch.
     */
    int (*launch_barrier)(void *opaque);
    /*
     * Optional (NULL = none): remote_signal with the issuer's race
     * information (NULL when its race detection is off).  When set, the
     * engine calls it for every remote signal instead of remote_signal.
     * A remote DMA's race information travels in d->race.
     */
    int (*remote_signal_race)(void *opaque, unsigned src_chip, unsigned src_tc,
                              unsigned dst_chip, unsigned dst_tc, uint32_t sem,
                              uint32_t n, const vtpu_race_clock *race,
                              char *err, size_t errlen);
} vtpu_fabric_transport;

/* A fabric for `t`'s chips (none attached yet); NULL + err if t is bad. */
vtpu_fabric *vtpu_fabric_new(const vtpu_topology *t, char *err, size_t errlen);
/* No run may be in progress on an attached chip; detaches every chip. */
void vtpu_fabric_free(vtpu_fabric *f);
const vtpu_topology *vtpu_fabric_topology(const vtpu_fabric *f);
/* Not during runs (TCs read the link model without a lock). */
void vtpu_fabric_set_params(vtpu_fabric *f, const vtpu_fabric_params *p);
void vtpu_fabric_get_params(const vtpu_fabric *f, vtpu_fabric_params *p);
/* launch_timeout_ms alone: any time, also while runs wait for it. */
void vtpu_fabric_set_launch_timeout(vtpu_fabric *f, uint32_t ms);
/*
 * Make `chip` the fabric's chip `chip_index` (local).  Its config must
 * equal the first attached chip's (every chip of a slice is alike), the
 * index must be free and in range, the chip in no other fabric and not
 * running.  0 or -1 + err.
 */
int vtpu_fabric_attach(vtpu_fabric *f, unsigned chip_index, vtpu_chip *chip,
                       char *err, size_t errlen);
/* Not during a run of that chip.  Unknown index: nothing. */
void vtpu_fabric_detach(vtpu_fabric *f, unsigned chip_index);
/* True if chip_index is attached in this process. */
bool vtpu_fabric_is_local(const vtpu_fabric *f, unsigned chip_index);
vtpu_chip *vtpu_fabric_chip(const vtpu_fabric *f, unsigned chip_index);
/* Messages to non-local chips go through ops (copied); NULL = none (such
 * messages then fault the issuing TC). */
void vtpu_fabric_set_transport(vtpu_fabric *f, const vtpu_fabric_transport *ops,
                               void *opaque);

/*
 * The receiving side of a transport: apply a message from another process
 * to local chip dst_chip.  The message is validated again (destination
 * range, TC, semaphore, HBM grants of the destination's run); 0, or -1 +
 * err (nothing was written).  Any thread; wakes waiters.
 */
int vtpu_fabric_deliver_dma(vtpu_fabric *f, unsigned src_chip,
                            unsigned dst_chip, const vtpu_remote_dma *d,
                            char *err, size_t errlen);
int vtpu_fabric_deliver_signal(vtpu_fabric *f, unsigned src_chip,
                               unsigned src_tc, unsigned dst_chip,
                               unsigned dst_tc, uint32_t sem, uint32_t n,
                               char *err, size_t errlen);
/* The same with the sender's race information (NULL: none, as above);
 * a malformed one is refused (-1 + err) and nothing is signalled.  A
 * DMA's is d->race.  With it, and race detection on at the destination,
 * a delivered DMA's writes are checked against the destination's
 * accesses and recorded as the sender's; a DATA RACE found there is
 * written to the chip's output and refused (-1, err "DATA RACE: ..."). */
int vtpu_fabric_deliver_signal_race(vtpu_fabric *f, unsigned src_chip,
                                    unsigned src_tc, unsigned dst_chip,
                                    unsigned dst_tc, uint32_t sem, uint32_t n,
                                    const vtpu_race_clock *race, char *err,
                                    size_t errlen);
/* Entries of a race clock on this fabric (its race agent space: a
 * function of the chip count alone). */
unsigned vtpu_fabric_race_agents(const vtpu_fabric *f);
/*
 * The same DMA delivery in two steps, for a transport that receives the
 * data straight into the destination (no buffer, no second copy).
 * vtpu_fabric_dma_landing() validates d as vtpu_fabric_deliver_dma() does
 * (d->data is not used) and writes nothing: 0, or -1 + err.  When d's
 * destination is one contiguous run of d->bytes (d->bytes > 0), l->at is
 * its first byte and the destination chip is held (it cannot be detached)
 * until vtpu_fabric_dma_landed(), which the caller must then call exactly
 * once; else l->at is NULL and nothing is held (take the data into a
 * buffer and call vtpu_fabric_deliver_dma()).  The caller writes exactly
 * d->bytes at l->at, or nothing, then calls vtpu_fabric_dma_landed() with
 * the same d: `written`, it validates again, marks those bytes written
 * (dirty map, checks) and signals the receive semaphore, as
 * vtpu_fabric_deliver_dma() does after its copy; not `written` (the data
 * could not be taken), it only lets the chip go.  0 or -1 + err.
 */
typedef struct vtpu_dma_landing {
    uint8_t *at;     /* where the bytes go, or NULL */
    vtpu_chip *chip; /* the destination, held while at is set */
} vtpu_dma_landing;
int vtpu_fabric_dma_landing(vtpu_fabric *f, unsigned src_chip,
                            unsigned dst_chip, const vtpu_remote_dma *d,
                            vtpu_dma_landing *l, char *err, size_t errlen);
int vtpu_fabric_dma_landed(vtpu_fabric *f, unsigned src_chip,
                           const vtpu_remote_dma *d, vtpu_dma_landing *l,
                           bool written, char *err, size_t errlen);

/*
 * For a transport's slice-wide deadlock test (the engine's own is off
 * while some chips are elsewhere; docs/multichip.md, "MPI").  The state
 * of the local chips' current runs, in one snapshot under the slice
 * lock: RUNNING (some TC executes, or a deadlock is being reported),
 * BLOCKED (none executes and at least one waits on a semaphore or the
 * barrier; desc, if not NULL, gets every blocked chip's waits as the
 * engine's deadlock report words them), DONE (every TC has ended, or no
 * run).  Only local messages or delivered ones can wake a BLOCKED set.
 */
enum {
    VTPU_FABRIC_LOCAL_RUNNING = 0,
    VTPU_FABRIC_LOCAL_BLOCKED = 1,
    VTPU_FABRIC_LOCAL_DONE = 2,
};
int vtpu_fabric_local_state(vtpu_fabric *f, char *desc, size_t len);
/* A deadlock found by the transport: every local chip with a blocked TC
 * faults (VTPU_ERR_DEADLOCK, on its first blocked TC) with `report`. */
void vtpu_fabric_report_deadlock(vtpu_fabric *f, const char *report);
/* The local chip whose fault stopped the others (the first in time
 * since the fabric was made or the last vtpu_slice_run), -1 if none. */
int vtpu_fabric_first_fault(vtpu_fabric *f);
/* Stop every local chip's run (VTPU_STOP_END, as when a chip of the
 * fabric faults): for a fault in another process.  Any thread. */
void vtpu_fabric_stop_local(vtpu_fabric *f);

/* Counters: bytes that crossed link `link` (vtpu_topology_route ids)
 * since the fabric was made or the counters were cleared. */
uint64_t vtpu_fabric_link_bytes(const vtpu_fabric *f, unsigned link);
void vtpu_fabric_clear_counters(vtpu_fabric *f);

/* ------------------------------------------------------------------ */
/* Slices: every chip local                                             */
/* ------------------------------------------------------------------ */

typedef struct vtpu_slice vtpu_slice;

/* `topology`: a vtpu_topology_parse() spec; NULL = a lone chip ("1"). */
vtpu_slice *vtpu_slice_new(const vtpu_config *cfg, const char *topology,
                           char *err, size_t errlen);
void vtpu_slice_free(vtpu_slice *s);
unsigned vtpu_slice_size(const vtpu_slice *s);
vtpu_chip *vtpu_slice_chip(vtpu_slice *s, unsigned i);
const vtpu_topology *vtpu_slice_topology(const vtpu_slice *s);
vtpu_fabric *vtpu_slice_fabric(vtpu_slice *s);
/* Load the same ELF on every chip. */
int vtpu_slice_load_elf(vtpu_slice *s, const void *elf, size_t len, char *err,
                        size_t errlen);
/*
 * Run every chip's program (a collective run, opts the same for every
 * chip; opts->collective is implied): reset, start together, wait for
 * all.  res: an array of vtpu_slice_size() results (may be NULL).  A fault
 * on any chip stops the whole slice; *first (may be NULL) gets the fault
 * reported (error.chip names the chip; kind NONE if none).  Returns 0 if
 * every chip ran cleanly, else -1.
 */
int vtpu_slice_run(vtpu_slice *s, const vtpu_run_opts *opts,
                   vtpu_run_result *res, vtpu_error *first);

#ifdef __cplusplus
}
#endif

#endif /* VTPU_SLICE_H */
