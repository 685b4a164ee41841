/*
 * fabric-msg.c - the ICI messages of the MPI transport (fabric-msg.h).
 */
#include <stdio.h>
#include <string.h>

#include "fabric-msg.h"

static void head(uint8_t *h, uint32_t kind, unsigned src_chip, unsigned src_tc,
                 unsigned dst_chip)
{
    memset(h, 0, VTPU_MSG_HDR);
    put32(h, VTPU_MSG_MAGIC);
    put32(h + 4, kind);
    put32(h + 8, src_chip);
    put32(h + 12, src_tc);
    put32(h + 16, dst_chip);
}

/* The race information after the header (nothing if rc is NULL). */
static void put_race(uint8_t *h, const vtpu_race_clock *rc)
{
    if (!rc)
        return;
    put32(h + 88, (rc->n & 0xffff) | rc->nchips << 16);
    put32(h + 92, rc->epoch);
    for (uint32_t i = 0; i < rc->n; i++)
        put32(h + VTPU_MSG_HDR + 4 * i, rc->vc[i]);
}

void vtpu_msg_encode_dma(uint8_t *h, unsigned src_chip, unsigned src_tc,
                         unsigned dst_chip, const vtpu_remote_dma *d,
                         bool split)
{
    head(h, VTPU_MSG_DMA, src_chip, src_tc, dst_chip);
    h[20] = d->dst_space;
    h[21] = d->dst_tc;
    h[22] = d->ndims;
    h[23] = d->sem_tc;
    put32(h + 24, d->sem);
    put64(h + 28, d->dst);
    for (unsigned i = 0; i < 3; i++)
        put64(h + 36 + 8 * i, (uint64_t)d->dst_stride[i]);
    for (unsigned i = 0; i < 4; i++)
        put32(h + 60 + 4 * i, d->shape[i]);
    put32(h + 76, d->bytes);
    put32(h + 80, d->src_pc);
    put32(h + 84, split);
    put_race(h, d->race);
}

void vtpu_msg_encode_signal(uint8_t h[VTPU_MSG_HDR], unsigned src_chip,
                            unsigned src_tc, unsigned dst_chip, unsigned dst_tc,
                            uint32_t sem, uint32_t n)
{
    vtpu_msg_encode_signal_race(h, src_chip, src_tc, dst_chip, dst_tc, sem, n,
                                NULL);
}

void vtpu_msg_encode_signal_race(uint8_t *h, unsigned src_chip, unsigned src_tc,
                                 unsigned dst_chip, unsigned dst_tc,
                                 uint32_t sem, uint32_t n,
                                 const vtpu_race_clock *rc)
{
    head(h, VTPU_MSG_SIGNAL, src_chip, src_tc, dst_chip);
    put32(h + 20, dst_tc);
    put32(h + 24, sem);
    put32(h + 28, n);
    put_race(h, rc);
}

int vtpu_msg_decode(const uint8_t *b, size_t len, unsigned nchips,
                    vtpu_ici_msg *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof(*m));
    if (len < VTPU_MSG_HDR || get32(b) != VTPU_MSG_MAGIC) {
        snprintf(err, errlen, "a %zu-byte message that is no ICI message", len);
        return -1;
    }
    m->kind = get32(b + 4);
    m->src_chip = get32(b + 8);
    m->src_tc = get32(b + 12);
    m->dst_chip = get32(b + 16);
    if (m->src_chip >= nchips || m->dst_chip >= nchips) {
        snprintf(err, errlen,
                 "source chip %u or destination chip %u: the slice has %u",
                 m->src_chip, m->dst_chip, nchips);
        return -1;
    }
    if (m->src_tc >= VTPU_MAX_TCS) {
        snprintf(err, errlen, "from chip %u: source TC %u", m->src_chip,
                 m->src_tc);
        return -1;
    }
    /* race information: bounded, within the message, then copied */
    uint32_t nclock = get32(b + 88) & 0xffff, rchips = get32(b + 88) >> 16;
    uint32_t epoch = get32(b + 92);
    if (nclock > VTPU_RACE_MAX_AGENTS || (!nclock && (epoch || rchips)) ||
        (size_t)nclock * 4 > len - VTPU_MSG_HDR) {
        snprintf(err, errlen,
                 "from chip %u: a race clock of %u agents (at most %u), "
                 "epoch 0x%x, %u chips, in a %zu-byte message",
                 m->src_chip, nclock, VTPU_RACE_MAX_AGENTS, epoch, rchips, len);
        return -1;
    }
    size_t rbytes = (size_t)nclock * 4;
    if (nclock) {
        memcpy(m->vc, b + VTPU_MSG_HDR, rbytes);
        m->race = (vtpu_race_clock){epoch, nclock, m->src_tc, rchips, m->vc};
    }
    if (m->kind == VTPU_MSG_SIGNAL) {
        if (len != VTPU_MSG_HDR + rbytes) {
            snprintf(err, errlen, "from chip %u: a %zu-byte signal",
                     m->src_chip, len);
            return -1;
        }
        m->dst_tc = get32(b + 20);
        m->sem = get32(b + 24);
        m->n = get32(b + 28);
        return 0;
    }
    if (m->kind != VTPU_MSG_DMA) {
        snprintf(err, errlen, "from chip %u: unknown message kind %u",
                 m->src_chip, m->kind);
        return -1;
    }
    vtpu_remote_dma *d = &m->dma;
    d->dst_space = b[20];
    d->dst_tc = b[21];
    d->ndims = b[22];
    d->sem_tc = b[23];
    d->sem = get32(b + 24);
    d->dst = get64(b + 28);
    for (unsigned i = 0; i < 3; i++)
        d->dst_stride[i] = (int64_t)get64(b + 36 + 8 * i);
    for (unsigned i = 0; i < 4; i++)
        d->shape[i] = get32(b + 60 + 4 * i);
    d->bytes = get32(b + 76);
    d->src_pc = get32(b + 80);
    uint32_t split = get32(b + 84);
    size_t carried = len - VTPU_MSG_HDR - rbytes;
    if (split > 1 || (split && carried) ||
        (!split && (uint64_t)d->bytes != carried)) {
        snprintf(err, errlen,
                 "remote DMA from chip %u TC %u: %u bytes announced, %zu "
                 "carried (split %u)",
                 m->src_chip, m->src_tc, d->bytes, carried, split);
        return -1;
    }
    m->split = split;
    d->data = split ? NULL : b + VTPU_MSG_HDR + rbytes;
    d->race = nclock ? &m->race : NULL;
    return 0;
}
