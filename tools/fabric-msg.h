/*
 * fabric-msg.h - the bytes of the ICI messages the MPI transport sends
 * between ranks (docs/multichip.md, "MPI"): encoding, and decoding with
 * every check a message from elsewhere needs before any field is used.
 * No MPI here, so the parser is unit-tested and fuzzed alone
 * (tests/test_fabric_msg.c).
 *
 * Layout (little-endian, fixed offsets; 96-byte header):
 *    0 u32 magic "VTPM"   4 u32 kind (1 DMA, 2 signal)
 *    8 u32 src_chip      12 u32 src_tc      16 u32 dst_chip
 *   DMA:    20 u8 dst_space, dst_tc, ndims, sem_tc   24 u32 sem
 *           28 u64 dst   36 i64 dst_stride[3]   60 u32 shape[4]
 *           76 u32 bytes 80 u32 src_pc   84 u32 split (1: the data is
 *           the next message, else it follows the header here)
 *   signal: 20 u32 dst_tc  24 u32 sem  28 u32 n
 *   both:   88 u16 nclock (0: no race information), 90 u16 the sender's
 *           chip count (0 without)  92 u32 epoch
 * A message with race information (vtpu_race_clock: the sender runs with
 * race detection) has its clock, nclock u32 entries, right after the
 * header, then (a DMA that is not split) the data; epoch is the DMA's
 * (0 for a signal and when nclock is 0).  The decoder bounds nclock by
 * VTPU_RACE_MAX_AGENTS and the length by it; the engine checks it is
 * exactly the slice's agent space and the epoch is one of the source
 * chip's DMAs (vtpu_fabric_deliver_*).
 */
#ifndef VTPU_FABRIC_MSG_H
#define VTPU_FABRIC_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "vtpu-slice.h"

/* Fields of a message, little-endian like every host this runs on
 * (memcpy: a message buffer has no alignment). */
static inline void put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static inline void put64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

static inline uint32_t get32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline uint64_t get64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

#define VTPU_MSG_MAGIC 0x4d505456u /* "VTPM" */
#define VTPU_MSG_HDR 96u

enum { VTPU_MSG_DMA = 1, VTPU_MSG_SIGNAL = 2 };

/* Points into itself (dma.race, race.vc): not to be copied. */
typedef struct vtpu_ici_msg {
    uint32_t kind;
    uint32_t src_chip, src_tc, dst_chip;
    bool split;              /* DMA: the data comes in the next message */
    vtpu_remote_dma dma;     /* DMA; .data points into the message (not
                                split) or is NULL (split); .race is &race
                                or NULL */
    uint32_t dst_tc, sem, n; /* signal */
    /* race information (race.n == 0: none), the clock copied out of the
     * message into vc */
    vtpu_race_clock race;
    uint32_t vc[VTPU_RACE_MAX_AGENTS];
} vtpu_ici_msg;

/* Bytes the race information rc (NULL: none) takes after the header. */
static inline size_t vtpu_msg_race_bytes(const vtpu_race_clock *rc)
{
    return rc ? (size_t)rc->n * 4 : 0;
}

/* A DMA's header into hdr, and d->race's clock after it (the buffer has
 * VTPU_MSG_HDR + vtpu_msg_race_bytes(d->race) bytes; split: the data
 * goes as its own message; else the caller puts d->bytes of data right
 * after those). */
void vtpu_msg_encode_dma(uint8_t *hdr, unsigned src_chip, unsigned src_tc,
                         unsigned dst_chip, const vtpu_remote_dma *d,
                         bool split);
void vtpu_msg_encode_signal(uint8_t hdr[VTPU_MSG_HDR], unsigned src_chip,
                            unsigned src_tc, unsigned dst_chip, unsigned dst_tc,
                            uint32_t sem, uint32_t n);
/* The same with race information rc (NULL: none) after the header (the
 * buffer has VTPU_MSG_HDR + vtpu_msg_race_bytes(rc) bytes). */
void vtpu_msg_encode_signal_race(uint8_t *hdr, unsigned src_chip,
                                 unsigned src_tc, unsigned dst_chip,
                                 unsigned dst_tc, uint32_t sem, uint32_t n,
                                 const vtpu_race_clock *rc);

/*
 * Decode the message buf[0, len) (the receiver's own copy) of a slice of
 * `nchips`: the length against the header, magic, kind, chips in range,
 * a DMA's byte count against what came (a split one: nothing but the
 * header and its clock), the race clock's length (bounded; copied into
 * m->vc).  0, or -1 with the reason in err.  The destination range,
 * TCs and semaphores are the engine's to check (vtpu_fabric_deliver_*).
 */
int vtpu_msg_decode(const uint8_t *buf, size_t len, unsigned nchips,
                    vtpu_ici_msg *m, char *err, size_t errlen);

#endif /* VTPU_FABRIC_MSG_H */
