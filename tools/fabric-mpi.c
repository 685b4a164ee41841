/*
 * fabric-mpi.c - the ICI fabric over MPI (fabric-mpi.h; the protocol is
 * in docs/multichip.md, "MPI").
 *
 * Threads of a rank: the TCs of its chips send (vtpu_fabric_transport,
 * MPI_Send on `fcomm`); one progress thread receives everything sent on
 * `fcomm` (MPI_Improbe/MPI_Mrecv from any source), checks it and applies
 * it with vtpu_fabric_deliver_*; the last local chip to reach a
 * collective launch's rendezvous runs the launch barrier (MPI_Ibarrier on
 * `bcomm`); the main thread uses MPI_COMM_WORLD for the end of the run
 * and the gathering of outputs.  Three communicators, so that no thread
 * can receive what another waits for.
 *
 * Messages on fcomm (all fields little-endian, fixed offsets; the hosts
 * of one job are alike):
 *   tag TAG_ICI   a remote DMA (header + data) or a remote signal: per
 *                 (source rank, destination rank) pair in send order
 *                 (MPI's non-overtaking rule, one tag), hence per
 *                 (source chip, destination chip)
 *   tag TAG_CTL   control: STOP (a chip faulted), END (a rank's chips
 *                 are done sending), QUERY/STATE (rank 0's deadlock
 *                 waves), DEADLOCK (the report)
 * Every message received is copied, then checked (size, magic, kind,
 * the source chip belongs to the sending rank, the destination chip is
 * ours, lengths) before any field is used; the engine checks the
 * destination again, and a race clock (sent only by a rank running with
 * --race, fabric-msg.h) against the slice's agent space.  The data of a large
 * DMA (a message of its own after its header) is received straight into the
 * chip's memory, once the header has passed every check and the data message's
 * length is known to be the announced one (vtpu_fabric_dma_landing).
 */
#define _GNU_SOURCE
#include <mpi.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "fabric-mpi.h"
#include "fabric-msg.h"

enum { TAG_ICI = 1, TAG_CTL = 2, TAG_GATHER = 3 };
enum { C_STOP = 1, C_END = 2, C_QUERY = 3, C_STATE = 4, C_DEADLOCK = 5 };

#define MAGIC 0x4d505456u /* "VTPM" */
/* ICI messages: fabric-msg.h */
#define ICI_HDR VTPU_MSG_HDR
/* CTL header: magic kind a b c(u64) d(u64) e(u64) textlen */
#define CTL_HDR 44u
#define CTL_TEXT 4096u
/* A remote DMA of at least this many bytes goes as two messages, the
 * header and then the data straight from the source into the
 * destination (the receiver checks the header, then receives the data
 * where it goes); smaller ones as one, the data copied behind the
 * header, then from the receive buffer into the destination: two more
 * copies, cheaper than a second message below a few tens of KiB. */
#define SPLIT_BYTES (32u << 10)

typedef struct mpi_ctx {
    int rank, nranks;
    MPI_Comm fcomm, bcomm;
    unsigned n;   /* chips of the slice */
    unsigned *lo; /* [nranks + 1]: rank r has chips [lo[r], lo[r+1]) */
    vtpu_fabric *f;
    pthread_t progress;
    /* [nranks]: held across the one or two messages of a remote
     * operation to that rank, so that another thread's message cannot
     * come between a header and its data */
    pthread_mutex_t *send_lock;
    bool running;        /* the progress thread */
    atomic_bool stopped; /* a fault somewhere: drop what TCs send */
    atomic_bool started; /* the launch barrier passed */
    /* the launch barrier: 0 not entered, 1 passed, 2 given up (req
     * pending; c_finish completes it with every rank) */
    atomic_int barrier;
    MPI_Request barrier_req;
    atomic_bool deadlocked;    /* rank 0 reported a deadlock to every rank */
    atomic_bool finishing;     /* our END is out: no more waves */
    atomic_ullong sent, recvd; /* TAG_ICI messages */
    pthread_mutex_t lock;
    char why[1200]; /* the first fault elsewhere, "" = none */
    unsigned ends;  /* END messages received */
    /* rank 0's deadlock waves */
    uint64_t wave;
    unsigned replies;
    bool wave_ok, prev_ok;
    uint64_t wsent, wrecvd, psent, precvd;
    double next_wave;
    bool reported;
    char *report; /* being assembled */
    size_t report_len;
} mpi_ctx;

static mpi_ctx g_mpi; /* MPI is one per process */
static slice_comm g_comm;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

double fabric_mpi_timeout(void)
{
    const char *e = getenv("VTPU_MPI_TIMEOUT");
    double t = e ? atof(e) : 0;
    return t > 0 ? t : 600;
}

bool fabric_mpi_launched(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") ||
           getenv("PMI_RANK");
}

static unsigned owner(const mpi_ctx *m, unsigned chip)
{
    unsigned lo = 0, hi = (unsigned)m->nranks;
    while (hi - lo > 1) { /* the last r with m->lo[r] <= chip */
        unsigned mid = (lo + hi) / 2;
        if (m->lo[mid] <= chip)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* A control message to `to` (text may be NULL). */
static void send_ctl(mpi_ctx *m, int to, uint32_t kind, uint32_t a, uint32_t b,
                     uint64_t c, uint64_t d, uint64_t e, const char *text)
{
    uint8_t buf[CTL_HDR + CTL_TEXT];
    size_t tl = text ? strnlen(text, CTL_TEXT) : 0;
    put32(buf, MAGIC);
    put32(buf + 4, kind);
    put32(buf + 8, a);
    put32(buf + 12, b);
    put64(buf + 16, c);
    put64(buf + 24, d);
    put64(buf + 32, e);
    put32(buf + 40, (uint32_t)tl);
    if (tl)
        memcpy(buf + CTL_HDR, text, tl);
    MPI_Send(buf, (int)(CTL_HDR + tl), MPI_BYTE, to, TAG_CTL, m->fcomm);
}

/* ---- sending: the transport (TC threads) ---- */

/*
 * Wait for a send of ours to complete.  MPI_Wait would poll without a
 * pause; a large message is moved by the receiving rank (a single-copy
 * get) or by both ranks' progress (fragments through shared memory),
 * and the cores are shared with every rank's TCs and progress threads,
 * so after a few tests the waiting TC sleeps between tests (any
 * thread's MPI calls progress any request: the progress thread's keep
 * this one moving meanwhile).  Measured on 2 cores: the launch times
 * spread far less than with MPI_Send's spinning (docs/multichip.md,
 * "Speed").
 */
static int wait_send(MPI_Request *req)
{
    for (unsigned i = 0;; i++) {
        int done = 0;
        int rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS || done)
            return rc;
        if (i >= 16)
            usleep(50);
    }
}

static int t_remote_dma(void *opaque, unsigned src_chip, unsigned src_tc,
                        unsigned dst_chip, const vtpu_remote_dma *d, char *err,
                        size_t errlen)
{
    mpi_ctx *m = opaque;
    if (atomic_load(&m->stopped))
        return 0; /* the run is ending everywhere: nobody will look */
    if (dst_chip >= m->n) {
        snprintf(err, errlen, "remote DMA to chip %u: the slice has %u",
                 dst_chip, m->n);
        return -1;
    }
    size_t rb = vtpu_msg_race_bytes(d->race); /* the clock, --race */
    if ((uint64_t)d->bytes + ICI_HDR + rb > (uint64_t)INT32_MAX) {
        snprintf(err, errlen,
                 "remote DMA of %u bytes: more than the MPI transport's "
                 "2 GiB per message",
                 d->bytes);
        return -1;
    }
    bool split = d->bytes >= SPLIT_BYTES;
    size_t hl = ICI_HDR + rb; /* the header message: header and clock */
    uint8_t *buf = malloc(hl + (split ? 0 : (size_t)d->bytes));
    if (!buf) {
        snprintf(err, errlen, "remote DMA of %u bytes: out of memory",
                 d->bytes);
        return -1;
    }
    vtpu_msg_encode_dma(buf, src_chip, src_tc, dst_chip, d, split);
    if (!split && d->bytes)
        memcpy(buf + hl, d->data, d->bytes);
    int to = (int)owner(m, dst_chip);
    atomic_fetch_add(&m->sent, 1);
    pthread_mutex_lock(&m->send_lock[to]);
    int rc = MPI_Send(buf, (int)(hl + (split ? 0 : d->bytes)), MPI_BYTE, to,
                      TAG_ICI, m->fcomm);
    if (rc == MPI_SUCCESS && split) {
        MPI_Request req;
        rc = MPI_Isend(d->data, (int)d->bytes, MPI_BYTE, to, TAG_ICI, m->fcomm,
                       &req);
        if (rc == MPI_SUCCESS)
            rc = wait_send(&req);
    }
    pthread_mutex_unlock(&m->send_lock[to]);
    free(buf);
    if (rc != MPI_SUCCESS) {
        snprintf(err, errlen, "remote DMA to chip %u: MPI_Send failed (%d)",
                 dst_chip, rc);
        return -1;
    }
    return 0;
}

static int t_remote_signal(void *opaque, unsigned src_chip, unsigned src_tc,
                           unsigned dst_chip, unsigned dst_tc, uint32_t sem,
                           uint32_t n, const vtpu_race_clock *race, char *err,
                           size_t errlen)
{
    mpi_ctx *m = opaque;
    /* header and (--race) the clock */
    uint8_t buf[ICI_HDR + 4 * VTPU_RACE_MAX_AGENTS];
    size_t len = ICI_HDR + vtpu_msg_race_bytes(race);
    if (atomic_load(&m->stopped))
        return 0;
    if (dst_chip >= m->n || len > sizeof(buf)) {
        snprintf(err, errlen, "remote signal to chip %u: the slice has %u",
                 dst_chip, m->n);
        return -1;
    }
    vtpu_msg_encode_signal_race(buf, src_chip, src_tc, dst_chip, dst_tc, sem, n,
                                race);
    int to = (int)owner(m, dst_chip);
    atomic_fetch_add(&m->sent, 1);
    pthread_mutex_lock(&m->send_lock[to]);
    int rc = MPI_Send(buf, (int)len, MPI_BYTE, to, TAG_ICI, m->fcomm);
    pthread_mutex_unlock(&m->send_lock[to]);
    if (rc != MPI_SUCCESS) {
        snprintf(err, errlen, "remote signal to chip %u: MPI_Send failed",
                 dst_chip);
        return -1;
    }
    return 0;
}

/* Every rank's chips have arrived: an MPI barrier that ends when the run
 * is stopped (a fault elsewhere) or the time limit runs out. */
static int t_launch_barrier(void *opaque)
{
    mpi_ctx *m = opaque;
    MPI_Request *req = &m->barrier_req;
    int done = 0;
    double until = now_s() + fabric_mpi_timeout();

    MPI_Ibarrier(m->bcomm, req);
    while (!done) {
        MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (done)
            break;
        if (atomic_load(&m->stopped) || now_s() > until) {
            if (!atomic_load(&m->stopped))
                fprintf(stderr,
                        "vtpu-run: rank %d: the launch barrier timed out "
                        "after %.0f s (a rank never launched)\n",
                        m->rank, fabric_mpi_timeout());
            atomic_store(&m->barrier, 2);
            return -1;
        }
        usleep(100);
    }
    atomic_store(&m->barrier, 1);
    atomic_store(&m->started, true);
    return 0;
}

/* ---- receiving: the progress thread ---- */

/* Stop everything here because of `why` (the first reason is kept). */
static void stop_here(mpi_ctx *m, const char *why)
{
    pthread_mutex_lock(&m->lock);
    if (!m->why[0])
        snprintf(m->why, sizeof(m->why), "%s", why);
    pthread_mutex_unlock(&m->lock);
    atomic_store(&m->stopped, true);
    vtpu_fabric_stop_local(m->f);
}

/* Tell every other rank to stop (and ourselves). */
static void broadcast_stop(mpi_ctx *m, unsigned chip, const char *msg)
{
    char text[CTL_TEXT];
    snprintf(text, sizeof(text), "%s", msg);
    atomic_store(&m->stopped, true);
    for (int r = 0; r < m->nranks; r++)
        if (r != m->rank)
            send_ctl(m, r, C_STOP, chip, (uint32_t)m->rank, 0, 0, 0, text);
}

/* The progress thread's receive buffers, kept between messages (no
 * page faults for every large message). */
typedef struct rxbuf {
    uint8_t *p;
    size_t cap;
} rxbuf;

static uint8_t *rx_reserve(rxbuf *b, size_t n)
{
    if (n > b->cap) {
        free(b->p);
        b->cap = n > 2 * b->cap ? n : 2 * b->cap;
        b->p = malloc(b->cap);
        if (!b->p)
            die(EXIT_FAULT, "out of memory receiving %zu bytes", n);
    }
    return b->p;
}

/*
 * The data message that follows a split DMA's header from `src`: the
 * next TAG_ICI message from that rank (its sender held the lock for
 * that pair across both).  Received straight into `at` (the validated
 * destination, vtpu_fabric_dma_landing) when it is exactly `bytes`
 * long, else into the buffer `data` (at NULL: a destination of several
 * runs, or a message to drop).  The bytes' address, or NULL + err if
 * the message is not `bytes` long (nothing is written at `at` then).
 */
static const uint8_t *recv_data(mpi_ctx *m, int src, uint32_t bytes,
                                uint8_t *at, rxbuf *data, char *err,
                                size_t errlen)
{
    MPI_Message msg;
    MPI_Status status;
    int count = 0;
    MPI_Mprobe(src, TAG_ICI, m->fcomm, &msg, &status);
    MPI_Get_count(&status, MPI_BYTE, &count);
    uint8_t *p = at && (uint64_t)count == bytes
                     ? at
                     : rx_reserve(data, (size_t)count + 1);
    MPI_Mrecv(p, count, MPI_BYTE, &msg, MPI_STATUS_IGNORE);
    if ((uint64_t)count != bytes) {
        snprintf(err, errlen, "%u bytes announced, %d came", bytes, count);
        return NULL;
    }
    return p;
}

/* Why the run stops: the destination refused remote DMA `msg`. */
static void dma_rejected(char *why, size_t len, const mpi_ctx *m,
                         const vtpu_ici_msg *msg, const char *err)
{
    snprintf(why, len,
             "chip %u: remote DMA from chip %u TC %u (pc 0x%x) rejected on "
             "rank %d: %s",
             msg->dst_chip, msg->src_chip, msg->src_tc, msg->dma.src_pc,
             m->rank, err);
}

/* A remote DMA or signal from rank `src` in buf[0, len) (our copy). */
static void handle_ici(mpi_ctx *m, int src, const uint8_t *buf, size_t len,
                       rxbuf *data)
{
    char err[512], why[1024];
    vtpu_ici_msg msg;
    vtpu_dma_landing land = {0};
    bool in_place = false;

    atomic_fetch_add(&m->recvd, 1);
    if (vtpu_msg_decode(buf, len, m->n, &msg, err, sizeof(err))) {
        snprintf(why, sizeof(why), "rank %d: bad message from rank %d: %s",
                 m->rank, src, err);
        goto fail;
    }
    if (owner(m, msg.src_chip) != (unsigned)src ||
        owner(m, msg.dst_chip) != (unsigned)m->rank) {
        snprintf(why, sizeof(why),
                 "rank %d: bad message from rank %d: chip %u to chip %u is "
                 "not from one of its chips to one of ours",
                 m->rank, src, msg.src_chip, msg.dst_chip);
        goto fail;
    }
    if (msg.kind == VTPU_MSG_DMA && msg.split) {
        /* The destination is checked from the header; a valid one of
         * one run takes the data straight from the sender's memory (one
         * copy, as in one process). */
        int bad = !atomic_load(&m->stopped) &&
                  vtpu_fabric_dma_landing(m->f, msg.src_chip, msg.dst_chip,
                                          &msg.dma, &land, err, sizeof(err));
        char derr[128];
        /* the data: the next TAG_ICI message from that rank, taken now
         * even when stopping or refused, so none is left behind */
        msg.dma.data =
            recv_data(m, src, msg.dma.bytes, land.at, data, derr, sizeof(derr));
        in_place = land.at && msg.dma.data == land.at;
        if (land.at && !in_place) /* nothing came there: let it go */
            vtpu_fabric_dma_landed(m->f, msg.src_chip, &msg.dma, &land, false,
                                   err, sizeof(err));
        if (!msg.dma.data) {
            snprintf(why, sizeof(why),
                     "rank %d: bad message from rank %d: remote DMA from "
                     "chip %u: %s",
                     m->rank, src, msg.src_chip, derr);
            goto fail;
        }
        if (bad) {
            dma_rejected(why, sizeof(why), m, &msg, err);
            goto fail;
        }
    }
    /* the run is ending: drop it (what landed in place is not signalled) */
    bool drop = atomic_load(&m->stopped);
    if (in_place) {
        if (vtpu_fabric_dma_landed(m->f, msg.src_chip, &msg.dma, &land, !drop,
                                   err, sizeof(err))) {
            dma_rejected(why, sizeof(why), m, &msg, err);
            goto fail;
        }
        return;
    }
    if (drop)
        return;
    if (msg.kind == VTPU_MSG_DMA) {
        if (vtpu_fabric_deliver_dma(m->f, msg.src_chip, msg.dst_chip, &msg.dma,
                                    err, sizeof(err))) {
            dma_rejected(why, sizeof(why), m, &msg, err);
            goto fail;
        }
    } else if (vtpu_fabric_deliver_signal_race(
                   m->f, msg.src_chip, msg.src_tc, msg.dst_chip, msg.dst_tc,
                   msg.sem, msg.n, msg.race.n ? &msg.race : NULL, err,
                   sizeof(err))) {
        snprintf(why, sizeof(why),
                 "chip %u: remote signal from chip %u TC %u rejected on rank "
                 "%d: %s",
                 msg.dst_chip, msg.src_chip, msg.src_tc, m->rank, err);
        goto fail;
    }
    return;
fail:
    fprintf(stderr, "vtpu-run: %s\n", why);
    stop_here(m, why);
    broadcast_stop(m, msg.dst_chip < m->n ? msg.dst_chip : 0, why);
}

/* Rank 0: one more STATE of the current wave. */
static void wave_reply(mpi_ctx *m, int from, uint32_t state, uint64_t wave,
                       uint64_t sent, uint64_t recvd, const char *text,
                       size_t tl)
{
    if (wave != m->wave || m->reported)
        return; /* an old wave's */
    m->replies++;
    m->wsent += sent;
    m->wrecvd += recvd;
    if (state == VTPU_FABRIC_LOCAL_RUNNING)
        m->wave_ok = false;
    if (state == VTPU_FABRIC_LOCAL_BLOCKED && tl) {
        char head[64];
        int hl = snprintf(head, sizeof(head),
                          "%srank %d: ", m->report_len ? " || " : "", from);
        m->report = realloc(m->report, m->report_len + (size_t)hl + tl + 1);
        if (!m->report)
            die(EXIT_FAULT, "out of memory");
        memcpy(m->report + m->report_len, head, (size_t)hl);
        memcpy(m->report + m->report_len + hl, text, tl);
        m->report_len += (size_t)hl + tl;
        m->report[m->report_len] = 0;
    }
    if (m->replies < (unsigned)m->nranks)
        return;
    /* Mattern's four counters: two waves in a row with nobody running,
     * nothing in flight and the same counts: nothing can move again. */
    bool quiet = m->wave_ok && m->report_len && m->wsent == m->wrecvd;
    if (quiet && m->prev_ok && m->wsent == m->psent && m->wrecvd == m->precvd) {
        char text[CTL_TEXT];
        snprintf(text, sizeof(text),
                 "deadlock across ranks (every chip waits, no message in "
                 "flight): %s",
                 m->report);
        m->reported = true;
        for (int r = 0; r < m->nranks; r++)
            send_ctl(m, r, C_DEADLOCK, 0, 0, 0, 0, 0, text);
    }
    m->prev_ok = quiet;
    m->psent = m->wsent;
    m->precvd = m->wrecvd;
}

static void start_wave(mpi_ctx *m)
{
    /* under the lock c_finish sets `finishing` with: every QUERY goes
     * out before our END */
    pthread_mutex_lock(&m->lock);
    if (atomic_load(&m->finishing)) {
        pthread_mutex_unlock(&m->lock);
        return;
    }
    m->wave++;
    m->replies = 0;
    m->wave_ok = true;
    m->wsent = m->wrecvd = 0;
    m->report_len = 0;
    if (m->report)
        m->report[0] = 0;
    for (int r = 0; r < m->nranks; r++)
        send_ctl(m, r, C_QUERY, 0, 0, m->wave, 0, 0, NULL);
    pthread_mutex_unlock(&m->lock);
}

static void handle_ctl(mpi_ctx *m, int src, const uint8_t *buf, size_t len)
{
    if (len < CTL_HDR || get32(buf) != MAGIC ||
        get32(buf + 40) > len - CTL_HDR) {
        char why[256];
        snprintf(why, sizeof(why),
                 "rank %d: bad control message (%zu bytes) from rank %d",
                 m->rank, len, src);
        fprintf(stderr, "vtpu-run: %s\n", why);
        stop_here(m, why);
        return;
    }
    uint32_t kind = get32(buf + 4), a = get32(buf + 8), b = get32(buf + 12);
    uint64_t c = get64(buf + 16), d = get64(buf + 24), e = get64(buf + 32);
    size_t tl = get32(buf + 40);
    char text[CTL_TEXT + 1];
    memcpy(text, buf + CTL_HDR, tl);
    text[tl] = 0;

    switch (kind) {
    case C_STOP: {
        char why[CTL_TEXT + 128];
        snprintf(why, sizeof(why), "chip %u's fault on rank %u: %s", a, b,
                 text);
        stop_here(m, why);
        break;
    }
    case C_END:
        m->ends++;
        break;
    case C_QUERY: {
        char desc[CTL_TEXT];
        /* not started: the chips may still be on their way */
        int st = atomic_load(&m->started)
                     ? vtpu_fabric_local_state(m->f, desc, sizeof(desc))
                     : VTPU_FABRIC_LOCAL_RUNNING;
        if (st != VTPU_FABRIC_LOCAL_BLOCKED)
            desc[0] = 0;
        send_ctl(m, src, C_STATE, (uint32_t)st, (uint32_t)m->rank, c,
                 atomic_load(&m->sent), atomic_load(&m->recvd), desc);
        break;
    }
    case C_STATE:
        if (m->rank == 0)
            wave_reply(m, (int)b, a, c, d, e, text, tl);
        break;
    case C_DEADLOCK:
        /* every rank gets the report: the faults it causes need no
         * STOP of their own */
        atomic_store(&m->deadlocked, true);
        vtpu_fabric_report_deadlock(m->f, text);
        break;
    default:
        break;
    }
}

static void *progress_main(void *opaque)
{
    mpi_ctx *m = opaque;
    unsigned idle = 0;
    rxbuf rx = {0}, rxd = {0};

    /* until every rank's END, and on rank 0 every answer to its last
     * wave (a rank answers a QUERY before it can have our END) */
    while (m->ends < (unsigned)m->nranks ||
           (m->rank == 0 && m->wave && m->replies < (unsigned)m->nranks)) {
        int flag = 0;
        MPI_Message msg;
        MPI_Status status;
        MPI_Improbe(MPI_ANY_SOURCE, MPI_ANY_TAG, m->fcomm, &flag, &msg,
                    &status);
        if (!flag) {
            /* rank 0 runs a deadlock wave every 200 ms while the run is
             * on and nothing has stopped it */
            if (m->rank == 0 && atomic_load(&m->started) &&
                !atomic_load(&m->stopped) && !m->reported &&
                !atomic_load(&m->finishing) && now_s() > m->next_wave &&
                (m->wave == 0 || m->replies == (unsigned)m->nranks)) {
                start_wave(m);
                m->next_wave = now_s() + 0.2;
            }
            /* spin briefly after traffic, then sleep: two cores are
             * shared by every rank's TCs and this thread */
            if (++idle > 64)
                usleep(idle > 4096 ? 500 : 20);
            continue;
        }
        idle = 0;
        int count = 0;
        MPI_Get_count(&status, MPI_BYTE, &count);
        uint8_t *buf = rx_reserve(&rx, (size_t)count + 1);
        MPI_Mrecv(buf, count, MPI_BYTE, &msg, MPI_STATUS_IGNORE);
        if (status.MPI_TAG == TAG_ICI)
            handle_ici(m, status.MPI_SOURCE, buf, (size_t)count, &rxd);
        else if (status.MPI_TAG == TAG_CTL)
            handle_ctl(m, status.MPI_SOURCE, buf, (size_t)count);
    }
    free(rx.p);
    free(rxd.p);
    return NULL;
}

/* ---- slice_comm ---- */

static void c_chips(void *ctx, unsigned n, unsigned *lo, unsigned *hi)
{
    mpi_ctx *m = ctx;
    if ((unsigned)m->nranks > n)
        die(EXIT_USAGE,
            "rank %d: %d ranks for a slice of %u chips: at most one rank "
            "per chip",
            m->rank, m->nranks, n);
    m->n = n;
    m->lo = calloc((size_t)m->nranks + 1, sizeof(*m->lo));
    if (!m->lo)
        die(EXIT_FAULT, "out of memory");
    for (int r = 0; r <= m->nranks; r++)
        m->lo[r] = (unsigned)((uint64_t)r * n / (unsigned)m->nranks);
    *lo = m->lo[m->rank];
    *hi = m->lo[m->rank + 1];
}

static int c_attach(void *ctx, vtpu_fabric *f, char *err, size_t errlen)
{
    mpi_ctx *m = ctx;
    vtpu_fabric_transport t = {
        .remote_dma = t_remote_dma,
        .remote_signal_race = t_remote_signal,
        .launch_barrier = t_launch_barrier,
    };
    m->f = f;
    vtpu_fabric_set_transport(f, &t, m);
    if (pthread_create(&m->progress, NULL, progress_main, m)) {
        snprintf(err, errlen, "rank %d: cannot start the progress thread",
                 m->rank);
        return -1;
    }
    m->running = true;
    return 0;
}

static void c_fault(void *ctx, unsigned chip, const char *msg)
{
    mpi_ctx *m = ctx;
    char text[CTL_TEXT];
    /* stopped by another rank: that rank has told everyone */
    pthread_mutex_lock(&m->lock);
    bool elsewhere = m->why[0] != 0;
    pthread_mutex_unlock(&m->lock);
    if (elsewhere || atomic_load(&m->deadlocked))
        return;
    snprintf(text, sizeof(text), "%s", msg);
    broadcast_stop(m, chip, text);
}

static int c_finish(void *ctx, bool ok, char *why, size_t len)
{
    mpi_ctx *m = ctx;
    int all = ok;

    /* our TCs have sent everything: END goes after it on every pair; a
     * rank may leave once it has every END, so rank 0 starts no wave
     * after its own END */
    pthread_mutex_lock(&m->lock);
    atomic_store(&m->finishing, true);
    pthread_mutex_unlock(&m->lock);
    for (int r = 0; r < m->nranks; r++)
        send_ctl(m, r, C_END, (uint32_t)m->rank, 0, 0, 0, 0, NULL);
    if (m->running)
        pthread_join(m->progress, NULL);
    m->running = false;
    vtpu_fabric_set_transport(m->f, NULL, NULL);
    MPI_Allreduce(MPI_IN_PLACE, &all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    /* A launch barrier some rank gave up on (a fault stopped it) is
     * completed now by every rank, so that MPI_Finalize finds no
     * collective half done: the ranks that never entered it enter it,
     * the ones that gave up wait for their request. */
    int bs = atomic_load(&m->barrier), worst = bs;
    MPI_Allreduce(MPI_IN_PLACE, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (worst == 2) {
        /* a nonblocking collective matches only nonblocking ones */
        if (bs == 0)
            MPI_Ibarrier(m->bcomm, &m->barrier_req);
        if (bs != 1)
            MPI_Wait(&m->barrier_req, MPI_STATUS_IGNORE);
    }
    pthread_mutex_lock(&m->lock);
    snprintf(why, len, "%s", m->why);
    if (!all && !m->why[0] && ok)
        snprintf(why, len, "a failure on another rank");
    pthread_mutex_unlock(&m->lock);
    return all ? 0 : -1;
}

static int c_gather(void *ctx, void *buf, uint64_t chip_bytes, unsigned nchips)
{
    mpi_ctx *m = ctx;
    const uint64_t chunk = 1ull << 30;
    (void)nchips;

    for (int r = 1; r < m->nranks; r++) {
        uint8_t *p = (uint8_t *)buf + chip_bytes * m->lo[r];
        uint64_t n = chip_bytes * (m->lo[r + 1] - m->lo[r]);
        if (m->rank != 0 && m->rank != r)
            continue;
        for (uint64_t o = 0; o < n; o += chunk) {
            int c = (int)(n - o < chunk ? n - o : chunk);
            int rc = m->rank == 0 ? MPI_Recv(p + o, c, MPI_BYTE, r, TAG_GATHER,
                                             MPI_COMM_WORLD, MPI_STATUS_IGNORE)
                                  : MPI_Send(p + o, c, MPI_BYTE, 0, TAG_GATHER,
                                             MPI_COMM_WORLD);
            if (rc != MPI_SUCCESS)
                return -1;
        }
    }
    return 0;
}

static bool c_all_ok(void *ctx, bool ok)
{
    int v = ok;
    (void)ctx;
    MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    return v != 0;
}

static double c_min_all(void *ctx, double v)
{
    (void)ctx;
    MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_DOUBLE, MPI_MIN, MPI_COMM_WORLD);
    return v;
}

void fabric_mpi_exit(int status)
{
    fflush(NULL);
    MPI_Finalize();
    exit(status);
}

static void c_end(void *ctx, int status)
{
    (void)ctx;
    fabric_mpi_exit(status);
}

const slice_comm *fabric_mpi_init(int *argc, char ***argv)
{
    int provided = 0;
    mpi_ctx *m = &g_mpi;

    /* Shared memory (Open MPI's vader): messages up to 128 KiB (headers,
     * signals, small DMAs) go eagerly (copied into the receiver's FIFO,
     * MPI_Send returns at once) instead of by rendezvous, which waits
     * for the receiving progress thread; larger ones by rendezvous (one
     * copy with CMA).  The user's own settings win. */
    setenv("OMPI_MCA_btl_vader_eager_limit", "131072", 0);
    setenv("OMPI_MCA_btl_vader_max_send_size", "131072", 0);
    /* A thread waiting in MPI (a TC testing its send until the receiver
     * has taken the data, the progress thread probing) polls; yielding the
     * core between polls lets the thread it waits for run (the TCs and
     * progress threads of every rank share the host's cores).  Open MPI
     * does this by itself only when a node is oversubscribed. */
    setenv("OMPI_MCA_mpi_yield_when_idle", "1", 0);
    if (MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided) !=
        MPI_SUCCESS)
        die(EXIT_FAULT, "MPI_Init_thread failed");
    if (provided < MPI_THREAD_MULTIPLE) {
        fprintf(stderr,
                "vtpu-run: MPI gives thread level %d, the fabric needs "
                "MPI_THREAD_MULTIPLE (TC threads send while a progress "
                "thread receives)\n",
                provided);
        MPI_Abort(MPI_COMM_WORLD, EXIT_FAULT);
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &m->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &m->nranks);
    MPI_Comm_dup(MPI_COMM_WORLD, &m->fcomm);
    MPI_Comm_dup(MPI_COMM_WORLD, &m->bcomm);
    pthread_mutex_init(&m->lock, NULL);
    m->send_lock = calloc((size_t)m->nranks, sizeof(*m->send_lock));
    if (!m->send_lock)
        die(EXIT_FAULT, "out of memory");
    for (int r = 0; r < m->nranks; r++)
        pthread_mutex_init(&m->send_lock[r], NULL);
    atomic_init(&m->stopped, false);
    atomic_init(&m->started, false);
    atomic_init(&m->barrier, 0);
    atomic_init(&m->deadlocked, false);
    atomic_init(&m->finishing, false);
    atomic_init(&m->sent, 0);
    atomic_init(&m->recvd, 0);
    g_comm = (slice_comm){
        .rank = (unsigned)m->rank,
        .nranks = (unsigned)m->nranks,
        .ctx = m,
        .chips = c_chips,
        .attach = c_attach,
        .fault = c_fault,
        .finish = c_finish,
        .gather = c_gather,
        .all_ok = c_all_ok,
        .min_all = c_min_all,
        .end = c_end,
    };
    return &g_comm;
}
