/*
 * coremark_like.c - a CoreMark-shaped integer workload (written for vtpu,
 * not CoreMark's code): linked-list search, reversal and merge sort;
 * small matrix multiply/accumulate with 16-bit inputs; a number-parsing
 * state machine; all folded into CRC-16s that are printed per iteration,
 * so vtpu and qemu-riscv32 must agree on every intermediate.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define ITERS 40
#define LIST_N 400
#define MAT_N 24
#define TEXT_N 2048

static uint16_t crc16_byte(uint8_t b, uint16_t crc)
{
    for (int i = 0; i < 8; i++) {
        unsigned x = (b ^ crc) & 1;
        b >>= 1;
        crc >>= 1;
        if (x)
            crc ^= 0xa001;
    }
    return crc;
}

static uint16_t crc16_u32(uint32_t v, uint16_t crc)
{
    for (int i = 0; i < 4; i++)
        crc = crc16_byte((uint8_t)(v >> (8 * i)), crc);
    return crc;
}

static uint32_t seed = 0x1f2e3d4c;

static uint32_t rng(void)
{
    seed = seed * 1664525u + 1013904223u;
    return seed;
}

/* ---- lists ---- */

typedef struct node {
    struct node *next;
    int16_t key, val;
} node;

static node pool[LIST_N];

static node *list_build(void)
{
    node *head = NULL;
    for (int i = LIST_N - 1; i >= 0; i--) {
        pool[i].key = (int16_t)(rng() >> 17);
        pool[i].val = (int16_t)i;
        pool[i].next = head;
        head = &pool[i];
    }
    return head;
}

static node *list_reverse(node *l)
{
    node *prev = NULL;
    while (l) {
        node *n = l->next;
        l->next = prev;
        prev = l;
        l = n;
    }
    return prev;
}

static const node *list_find(const node *l, int16_t key)
{
    while (l && l->key != key)
        l = l->next;
    return l;
}

/* Bottom-up merge sort of a singly linked list by key. */
static node *list_sort(node *list)
{
    for (int k = 1;; k *= 2) {
        node *p = list, *tail = NULL;
        int merges = 0;
        list = NULL;
        while (p) {
            node *q = p;
            int psize = 0, qsize = k;
            merges++;
            for (int i = 0; i < k && q; i++) {
                psize++;
                q = q->next;
            }
            while (psize > 0 || (qsize > 0 && q)) {
                node *e;
                if (psize == 0) {
                    e = q, q = q->next, qsize--;
                } else if (qsize == 0 || !q || p->key <= q->key) {
                    e = p, p = p->next, psize--;
                } else {
                    e = q, q = q->next, qsize--;
                }
                if (tail)
                    tail->next = e;
                else
                    list = e;
                tail = e;
            }
            p = q;
        }
        tail->next = NULL;
        if (merges <= 1)
            return list;
    }
}

static uint16_t bench_list(uint16_t crc)
{
    node *l = list_build();
    for (int i = 0; i < 40; i++) {
        const node *f = list_find(l, (int16_t)(rng() >> 17));
        crc = crc16_u32(f ? (uint32_t)f->val : 0xffffu, crc);
        crc = crc16_u32((uint32_t)pool[rng() % LIST_N].key, crc);
    }
    l = list_reverse(l);
    crc = crc16_u32((uint32_t)l->val, crc);
    l = list_sort(l);
    for (const node *p = l; p; p = p->next)
        crc = crc16_u32((uint32_t)(p->key ^ p->val), crc);
    return crc;
}

/* ---- matrices ---- */

static int16_t ma[MAT_N][MAT_N], mb[MAT_N][MAT_N];
static int32_t mc[MAT_N][MAT_N];

static uint16_t bench_matrix(uint16_t crc)
{
    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++) {
            ma[i][j] = (int16_t)(rng() >> 20) - 2048;
            mb[i][j] = (int16_t)(rng() >> 22) - 512;
        }
    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++) {
            int32_t s = 0;
            for (int k = 0; k < MAT_N; k++)
                s += ma[i][k] * mb[k][j];
            mc[i][j] = s;
        }
    int16_t c = (int16_t)(rng() >> 24);
    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++) {
            mc[i][j] += ma[i][j] * c;
            mc[i][j] = (mc[i][j] >> 3) ^ (mc[i][j] << 2);
        }
    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++)
            crc = crc16_u32((uint32_t)mc[i][j], crc);
    return crc;
}

/* ---- state machine ---- */

enum { S_START, S_INT, S_FRAC, S_EXP, S_EXP_SIGN, S_EXP_DIGIT, S_BAD };

static char text[TEXT_N + 1];

static uint16_t bench_state(uint16_t crc)
{
    static const char pieces[][8] = {"123",  "-4.5", "6e7", "+",   "1.2e-3",
                                     "abc",  "9",    ".5",  "7E+2", "--1"};
    unsigned len = 0;
    while (len < TEXT_N - 10) {
        const char *p = pieces[rng() % 10];
        size_t n = strlen(p);
        memcpy(text + len, p, n);
        len += (unsigned)n;
        text[len++] = ',';
    }
    text[len] = 0;
    unsigned counts[7] = {0};
    int state = S_START;
    for (unsigned i = 0; i <= len; i++) {
        char ch = text[i];
        if (ch == ',' || ch == 0) {
            counts[state]++;
            state = S_START;
            continue;
        }
        int digit = ch >= '0' && ch <= '9';
        switch (state) {
        case S_START:
            state = digit ? S_INT
                    : (ch == '+' || ch == '-') ? S_INT
                    : ch == '.' ? S_FRAC
                                : S_BAD;
            break;
        case S_INT:
            state = digit ? S_INT : ch == '.' ? S_FRAC
                    : (ch == 'e' || ch == 'E') ? S_EXP
                                              : S_BAD;
            break;
        case S_FRAC:
            state = digit ? S_FRAC : (ch == 'e' || ch == 'E') ? S_EXP : S_BAD;
            break;
        case S_EXP:
            state = digit ? S_EXP_DIGIT
                    : (ch == '+' || ch == '-') ? S_EXP_SIGN
                                               : S_BAD;
            break;
        case S_EXP_SIGN:
        case S_EXP_DIGIT:
            state = digit ? S_EXP_DIGIT : S_BAD;
            break;
        default:
            break;
        }
    }
    for (int s = 0; s < 7; s++)
        crc = crc16_u32(counts[s], crc);
    return crc;
}

int main(void)
{
    uint16_t total = 0;
    for (int it = 0; it < ITERS; it++) {
        uint16_t cl = bench_list(0), cm = bench_matrix(0), cs = bench_state(0);
        total = crc16_u32(((uint32_t)cl << 16) | cm, total);
        total = crc16_u32(cs, total);
        printf("iter %2d: list %04x matrix %04x state %04x\n", it, cl, cm, cs);
    }
    printf("total crc %04x\n", total);
    return total & 0x3f;
}
