/*
 * string.c - memset and memcpy for TC programs, a word at a time.
 *
 * picolibc's (built for size) go a byte at a time, 4 instructions a byte:
 * clearing the runtime's per-operand state alone was 15 000 of the
 * 21 000 instructions a 3-operand launch's start-up took
 * (docs/execution.md, "Launch cost").  Linked before the C library, these
 * take the place of its.
 */
#include <stddef.h>
#include <stdint.h>

typedef uint32_t __attribute__((may_alias)) word;

/* GCC must not turn the loops below back into calls to themselves. */
#define NO_LIBCALL __attribute__((optimize("no-tree-loop-distribute-patterns")))

NO_LIBCALL void *memset(void *dst, int c, size_t n)
{
    uint8_t *d = dst, b = (uint8_t)c;

    while (n && ((uintptr_t)d & 3)) {
        *d++ = b;
        n--;
    }
    word w = b * 0x01010101u, *dw = (word *)d;
    for (; n >= 16; n -= 16, dw += 4) {
        dw[0] = w;
        dw[1] = w;
        dw[2] = w;
        dw[3] = w;
    }
    for (; n >= 4; n -= 4)
        *dw++ = w;
    d = (uint8_t *)dw;
    while (n--)
        *d++ = b;
    return dst;
}

NO_LIBCALL void *memcpy(void *restrict dst, const void *restrict src,
                        size_t n)
{
    uint8_t *d = dst;
    const uint8_t *s = src;

    if (!(((uintptr_t)d ^ (uintptr_t)s) & 3)) {
        while (n && ((uintptr_t)d & 3)) {
            *d++ = *s++;
            n--;
        }
        word *dw = (word *)d;
        const word *sw = (const word *)s;
        for (; n >= 16; n -= 16, dw += 4, sw += 4) {
            word a = sw[0], b = sw[1], c = sw[2], e = sw[3];
            dw[0] = a;
            dw[1] = b;
            dw[2] = c;
            dw[3] = e;
        }
        for (; n >= 4; n -= 4)
            *dw++ = *sw++;
        d = (uint8_t *)dw;
        s = (const uint8_t *)sw;
    }
    while (n--)
        *d++ = *s++;
    return dst;
}
