/*
 * outbuf.h - a bounded, rate-limited, never-blocking byte stream for what
 * programs on the TensorCores print (the write ecall), between a producer
 * that must never wait (a TC thread, running guest code) and a consumer
 * that may be slow or never read at all (a QEMU chardev nobody drains).
 *
 * The producer side escapes every byte that is not printable ASCII,
 * newline or tab as "\xNN" (a guest cannot send terminal escape
 * sequences to the user's terminal), takes what the rate limit and the
 * free space allow and counts the rest as dropped.  Memory is fixed at
 * creation.  Thread-safe: any number of producers, one consumer.
 */
#ifndef VTPU_OUTBUF_H
#define VTPU_OUTBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct vtpu_outbuf vtpu_outbuf;

/*
 * Called (from the producer's thread, without the buffer's lock) when the
 * buffer turns from empty to non-empty: the consumer should come and read.
 * Must not block or call back into the buffer's producer side.
 */
typedef void (*vtpu_outbuf_notify_fn)(void *opaque);

/*
 * `capacity` bytes of buffer (>= 64); `rate` bytes per second the
 * producers may add on average and `burst` at once (rate 0: no limit);
 * `discard`: nobody reads, every byte is counted and dropped at once.
 * NULL if out of memory.
 */
vtpu_outbuf *vtpu_outbuf_new(size_t capacity, uint64_t rate, uint64_t burst,
                             bool discard);
void vtpu_outbuf_free(vtpu_outbuf *b);
void vtpu_outbuf_set_notify(vtpu_outbuf *b, vtpu_outbuf_notify_fn fn,
                            void *opaque);

/* Producer: add `len` bytes (escaped).  Never blocks; returns the escaped
 * bytes accepted (the rest were dropped). */
size_t vtpu_outbuf_put(vtpu_outbuf *b, const char *buf, size_t len);

/* Consumer: the oldest contiguous unread bytes (*p, return value; 0 when
 * empty).  They stay valid and unchanged until consumed. */
size_t vtpu_outbuf_peek(vtpu_outbuf *b, const uint8_t **p);
/* Consumer: `n` bytes (at most what peek returned) have been delivered. */
void vtpu_outbuf_consume(vtpu_outbuf *b, size_t n);

typedef struct vtpu_outbuf_stats {
    uint64_t accepted; /* escaped bytes taken into the buffer */
    uint64_t dropped;  /* escaped bytes refused: full, rate, or discard */
    uint64_t pending;  /* bytes in the buffer, not yet consumed */
} vtpu_outbuf_stats;

void vtpu_outbuf_stats_get(vtpu_outbuf *b, vtpu_outbuf_stats *s);

/* Escape `len` bytes of `in` into `out` (room for 4 * len bytes);
 * returns the bytes written.  Exposed for tests. */
size_t vtpu_outbuf_escape(const char *in, size_t len, char *out);

#endif /* VTPU_OUTBUF_H */
