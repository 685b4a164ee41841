/*
 * outbuf.c - the bounded TC output stream (outbuf.h).
 *
 * A ring of `cap` bytes under a mutex held only for memcpy-sized work,
 * and a token bucket for the rate: tokens accrue at `rate` per second up
 * to `burst`; each accepted byte costs one.  Nothing here waits for the
 * consumer, so a TC printing in a loop while nobody reads only loses
 * output; it never stops the TC, the device's worker or a reset.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "outbuf.h"

#define CHUNK 256 /* input bytes escaped per lock round */

struct vtpu_outbuf {
    pthread_mutex_t lock;
    uint8_t *data;
    size_t cap;
    size_t head; /* next byte to read */
    size_t len;  /* bytes unread */
    bool discard;
    uint64_t rate, burst;
    double tokens;
    uint64_t last_ns;
    uint64_t accepted, dropped;
    vtpu_outbuf_notify_fn notify;
    void *notify_opaque;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

size_t vtpu_outbuf_escape(const char *in, size_t len, char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if ((c >= 0x20 && c < 0x7f && c != '\\') || c == '\n' || c == '\t') {
            out[o++] = (char)c;
        } else if (c == '\\') {
            out[o++] = '\\';
            out[o++] = '\\';
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    return o;
}

vtpu_outbuf *vtpu_outbuf_new(size_t capacity, uint64_t rate, uint64_t burst,
                             bool discard)
{
    vtpu_outbuf *b = calloc(1, sizeof(*b));

    if (!b)
        return NULL;
    if (capacity < 64)
        capacity = 64;
    b->data = discard ? NULL : malloc(capacity);
    if (!discard && !b->data) {
        free(b);
        return NULL;
    }
    pthread_mutex_init(&b->lock, NULL);
    b->cap = capacity;
    b->discard = discard;
    b->rate = rate;
    b->burst = burst ? burst : capacity;
    b->tokens = (double)b->burst;
    b->last_ns = now_ns();
    return b;
}

void vtpu_outbuf_free(vtpu_outbuf *b)
{
    if (!b)
        return;
    pthread_mutex_destroy(&b->lock);
    free(b->data);
    free(b);
}

void vtpu_outbuf_set_notify(vtpu_outbuf *b, vtpu_outbuf_notify_fn fn,
                            void *opaque)
{
    pthread_mutex_lock(&b->lock);
    b->notify = fn;
    b->notify_opaque = opaque;
    pthread_mutex_unlock(&b->lock);
}

/* Bytes the rate limit allows now (lock held). */
static size_t allowance(vtpu_outbuf *b)
{
    if (!b->rate)
        return SIZE_MAX;
    uint64_t t = now_ns();
    double add = (double)(t - b->last_ns) * (double)b->rate / 1e9;
    b->last_ns = t;
    b->tokens += add;
    if (b->tokens > (double)b->burst)
        b->tokens = (double)b->burst;
    return (size_t)b->tokens;
}

/* Append up to n escaped bytes (lock held); returns how many went in. */
static size_t append(vtpu_outbuf *b, const char *esc, size_t n)
{
    size_t room = b->cap - b->len, allow = allowance(b);
    size_t take = n < room ? n : room;

    if (take > allow)
        take = allow;
    for (size_t done = 0; done < take;) {
        size_t at = (b->head + b->len) % b->cap;
        size_t run = b->cap - at < take - done ? b->cap - at : take - done;
        memcpy(b->data + at, esc + done, run);
        b->len += run;
        done += run;
    }
    if (b->rate)
        b->tokens -= (double)take;
    b->accepted += take;
    b->dropped += n - take;
    return take;
}

size_t vtpu_outbuf_put(vtpu_outbuf *b, const char *buf, size_t len)
{
    char esc[4 * CHUNK];
    size_t total = 0;
    bool wake = false;
    vtpu_outbuf_notify_fn fn;
    void *opaque;

    for (size_t off = 0; off < len; off += CHUNK) {
        size_t n = len - off < CHUNK ? len - off : CHUNK;
        size_t e = vtpu_outbuf_escape(buf + off, n, esc);
        pthread_mutex_lock(&b->lock);
        if (b->discard) {
            b->dropped += e;
        } else {
            bool was_empty = b->len == 0;
            size_t took = append(b, esc, e);
            total += took;
            wake |= was_empty && took;
        }
        pthread_mutex_unlock(&b->lock);
    }
    if (wake) {
        pthread_mutex_lock(&b->lock);
        fn = b->notify;
        opaque = b->notify_opaque;
        pthread_mutex_unlock(&b->lock);
        if (fn)
            fn(opaque);
    }
    return total;
}

size_t vtpu_outbuf_peek(vtpu_outbuf *b, const uint8_t **p)
{
    size_t n;

    pthread_mutex_lock(&b->lock);
    n = b->len;
    if (n && b->head + n > b->cap)
        n = b->cap - b->head;
    *p = b->data ? b->data + b->head : NULL;
    pthread_mutex_unlock(&b->lock);
    return n;
}

void vtpu_outbuf_consume(vtpu_outbuf *b, size_t n)
{
    pthread_mutex_lock(&b->lock);
    if (n > b->len)
        n = b->len;
    b->head = b->len == n ? 0 : (b->head + n) % b->cap;
    b->len -= n;
    pthread_mutex_unlock(&b->lock);
}

void vtpu_outbuf_stats_get(vtpu_outbuf *b, vtpu_outbuf_stats *s)
{
    pthread_mutex_lock(&b->lock);
    s->accepted = b->accepted;
    s->dropped = b->dropped;
    s->pending = b->len;
    pthread_mutex_unlock(&b->lock);
}
