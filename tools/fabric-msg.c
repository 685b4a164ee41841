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

void vtpu_msg_encode_dma(uint8_t h[VTPU_MSG_HDR], unsigned src_chip,
                         unsigned src_tc, unsigned dst_chip,
                         const vtpu_remote_dma *d, bool split)
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
}

void vtpu_msg_encode_signal(uint8_t h[VTPU_MSG_HDR], unsigned src_chip,
                            unsigned src_tc, unsigned dst_chip, unsigned dst_tc,
                            uint32_t sem, uint32_t n)
{
    head(h, VTPU_MSG_SIGNAL, src_chip, src_tc, dst_chip);
    put32(h + 20, dst_tc);
    put32(h + 24, sem);
    put32(h + 28, n);
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
    if (m->kind == VTPU_MSG_SIGNAL) {
        if (len != VTPU_MSG_HDR) {
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
    if (split > 1 || (split && len != VTPU_MSG_HDR) ||
        (!split && (uint64_t)d->bytes != len - VTPU_MSG_HDR)) {
        snprintf(err, errlen,
                 "remote DMA from chip %u TC %u: %u bytes announced, %zu "
                 "carried (split %u)",
                 m->src_chip, m->src_tc, d->bytes, len - VTPU_MSG_HDR, split);
        return -1;
    }
    m->split = split;
    d->data = split ? NULL : b + VTPU_MSG_HDR;
    return 0;
}
