/*
 * sort.c - bitonic sort along the last axis, with argsort indices and
 * value arrays carried along (docs/kernels.md, "Kernel library: sort").
 *
 *   sort_{f32,i32,bf16}      keys in; sorted keys, idx (i32) out
 *   sort_{f32,i32,bf16}_v1   keys, v in; sorted keys, idx, v out
 *   sort_{f32,i32,bf16}_v2   keys, v, w in; sorted keys, idx, v, w out
 *   topk_{f32,i32}           keys in; the K largest and their idx out,
 *                            (rows, K) (flag bit 0: the K smallest)
 *
 * Operands are ANY arrays of rank 1 (n,) or 2 (rows, n); value arrays are
 * any 4-byte dtype of the keys' shape.  Scalar 0 (optional) holds flags:
 * bit 0 descending.  The sort is always stable: equal keys keep their
 * order (the network compares (key, index) pairs; with keys alone the two
 * ends of an in-vreg compare-exchange of equal keys would both take the
 * same element, and an asymmetric compare costs as much).  Grid (P,)
 * parallel: program p sorts rows [p * per, (p + 1) * per), per =
 * ceil(rows / P).
 *
 * How: rows are copied into VMEM scratch padded to N = the next power of
 * two (pads carry a key above every real one), keys are mapped to i32
 * whose signed order is the wanted order (f32: IEEE totalOrder, NaN made
 * the canonical quiet NaN so it sorts last; descending: bitwise not), the
 * network runs on (key, index) pairs, then keys are mapped back.  Rows
 * shorter than a vreg share vregs (rows are N-aligned, so the masks of
 * one row pattern serve all of them).  Compare-exchange at distance j:
 *   j >= 1024: two vregs j/1024 apart, loaded, min/max by select;
 *   j < 1024:  inside a vreg, the partner by a lane (j < 128) or sublane
 *              rotation in both directions and a select.
 * The phases inside vregs run on each vreg while it stays in registers:
 * all levels up to 512 at once (local_sort), then for each larger level
 * the phases across vregs followed by its ten inside (merge_tail).
 */
#include <vtpu/kernel.h>

#define CAP 131072u /* elements per scratch array: longest row */
#define CAPB (CAP * 4u)
#define VB 4096u /* bytes of one vreg */
#define VE 1024u /* elements of one vreg */

#define F_DESC 1

enum { KEY_F32, KEY_I32, KEY_BF16 };

typedef struct sort_job {
    uint32_t keys, idx, val[2], stage; /* scratch VMEM addresses */
    uint32_t nv, N, nvec;
} sort_job;

/* ------------------------------------------------------------------ */
/* The network                                                           */
/* ------------------------------------------------------------------ */

/* m0 = (v1, v2) < (v5, v6): keys, then indices (a strict total order). */
static inline void less(void)
{
    VCMP_I32(LT, 0, 1, 5);
    VCMP_I32(EQ, 1, 1, 5);
    VCMP_I32(LT, 2, 2, 6);
    MAND(1, 1, 2);
    MOR(0, 0, 1);
}

/* Compare-exchange of vregs a and b (b = a + distance): a gets the
 * smaller pair unless `down`. */
static void xchg_vregs(const sort_job *s, uint32_t ca, uint32_t cb, int down)
{
    uint32_t oa = ca * VB, ob = cb * VB;
    VLD(1, s->keys + oa);
    VLD(5, s->keys + ob);
    VLD(2, s->idx + oa);
    VLD(6, s->idx + ob);
    less();
    if (down)
        MNOT(0, 0);
    VSEL(9, 0, 1, 5);
    VSEL(10, 0, 5, 1);
    VST(9, s->keys + oa);
    VST(10, s->keys + ob);
    VSEL(9, 0, 2, 6);
    VSEL(10, 0, 6, 2);
    VST(9, s->idx + oa);
    VST(10, s->idx + ob);
    for (uint32_t v = 0; v < s->nv; v++) {
        VLD(3, s->val[v] + oa);
        VLD(7, s->val[v] + ob);
        VSEL(9, 0, 3, 7);
        VSEL(10, 0, 7, 3);
        VST(9, s->val[v] + oa);
        VST(10, s->val[v] + ob);
    }
}

/* v<dst> = partner of every element of v<src> at distance j inside the
 * vreg: m4 (lower half of each pair) takes the element j above. */
#define PARTNER(dst, src, j)                                                   \
    do {                                                                       \
        if ((j) < 128) {                                                       \
            VROT_LANES(9, src, 128 - (j));                                     \
            VROT_LANES(10, src, (j));                                          \
        } else {                                                               \
            VROT_SUBLANES(9, src, 8 - (j) / 128);                              \
            VROT_SUBLANES(10, src, (j) / 128);                                 \
        }                                                                      \
        VSEL(dst, 4, 9, 10);                                                   \
    } while (0)

/* v16 + b = lower-element masks of distance 2^b (b = 0..9) as 0/~0 words,
 * for merge_tail(). */
static void lower_masks(void)
{
    VIOTA(LINEAR, 12, 0);
    VBCAST_I32(15, 0);
#define LOWER(b)                                                               \
    VBCAST_I32(13, 1u << (b));                                                 \
    VAND(14, 12, 13);                                                          \
    VCMP_I32(EQ, 4, 14, 15);                                                   \
    MTOV(16 + (b), 4);
    /* clang-format off */
    LOWER(0) LOWER(1) LOWER(2) LOWER(3) LOWER(4)
    LOWER(5) LOWER(6) LOWER(7) LOWER(8) LOWER(9)
    /* clang-format on */
#undef LOWER
}

/* m4 = lower-element mask of distance j (lower_masks() first). */
static inline void lower_mask(uint32_t j)
{
    /* clang-format off */
    switch (j) {
    case 1: MFROMV(4, 16); break;
    case 2: MFROMV(4, 17); break;
    case 4: MFROMV(4, 18); break;
    case 8: MFROMV(4, 19); break;
    case 16: MFROMV(4, 20); break;
    case 32: MFROMV(4, 21); break;
    case 64: MFROMV(4, 22); break;
    case 128: MFROMV(4, 23); break;
    case 256: MFROMV(4, 24); break;
    default: MFROMV(4, 25); break;
    }
    /* clang-format on */
}

/* v<r> = the element each position keeps: own when m3 says so for this
 * direction, else the partner v<p>. */
#define TAKE(r, p, down)                                                       \
    do {                                                                       \
        if (down)                                                              \
            VSEL(r, 3, r, p);                                                  \
        else                                                                   \
            VSEL(r, 3, p, r);                                                  \
    } while (0)

/*
 * The phases j = 512 .. 1 of a merge level k >= 1024, whose direction is
 * the same across a vreg: each vreg is loaded once and goes through all
 * ten phases in registers.  m3 = (own < partner) xor lower, which is
 * "take the partner" for an ascending vreg and "keep own" for a
 * descending one.
 */
static void merge_tail(const sort_job *s, uint32_t k)
{
    for (uint32_t c = 0; c < s->nvec; c++) {
        uint32_t o = c * VB;
        int down = k < s->N && ((c * VE) & k);
        VLD(1, s->keys + o);
        VLD(2, s->idx + o);
        if (s->nv > 0)
            VLD(3, s->val[0] + o);
        if (s->nv > 1)
            VLD(4, s->val[1] + o);
        for (uint32_t j = VE / 2; j > 0; j >>= 1) {
            lower_mask(j);
            PARTNER(5, 1, j);
            PARTNER(6, 2, j);
            less();
            MXOR(3, 0, 4);
            TAKE(1, 5, down);
            TAKE(2, 6, down);
            if (s->nv > 0) {
                PARTNER(7, 3, j);
                TAKE(3, 7, down);
            }
            if (s->nv > 1) {
                PARTNER(7, 4, j);
                TAKE(4, 7, down);
            }
        }
        VST(1, s->keys + o);
        VST(2, s->idx + o);
        if (s->nv > 0)
            VST(3, s->val[0] + o);
        if (s->nv > 1)
            VST(4, s->val[1] + o);
    }
}

/* v26..v31, v11..v13 = "descending block" masks of merge levels k = 2^b
 * (b = 1..9) as 0/~0 words, for local_sort(); lower_masks() too. */
static void local_masks(void)
{
    lower_masks();
    VIOTA(LINEAR, 0, 0);
    VBCAST_I32(15, 0);
#define DIRM(b, v)                                                             \
    VBCAST_I32(8, 1u << (b));                                                  \
    VAND(14, 0, 8);                                                            \
    VCMP_I32(NE, 5, 14, 15);                                                   \
    MTOV(v, 5);
    /* clang-format off */
    DIRM(1, 26) DIRM(2, 27) DIRM(3, 28) DIRM(4, 29) DIRM(5, 30) DIRM(6, 31)
    DIRM(7, 11) DIRM(8, 12) DIRM(9, 13)
    /* clang-format on */
#undef DIRM
}

/* m5 = descending-block mask of merge level k (2..512) */
static inline void dir_mask(uint32_t k)
{
    /* clang-format off */
    switch (k) {
    case 2: MFROMV(5, 26); break;
    case 4: MFROMV(5, 27); break;
    case 8: MFROMV(5, 28); break;
    case 16: MFROMV(5, 29); break;
    case 32: MFROMV(5, 30); break;
    case 64: MFROMV(5, 31); break;
    case 128: MFROMV(5, 11); break;
    case 256: MFROMV(5, 12); break;
    default: MFROMV(5, 13); break;
    }
    /* clang-format on */
}

/*
 * Merge levels k = 2 .. kmax (<= 512: inside a vreg) for every vreg, each
 * vreg loaded once: after it, every run of kmax elements is sorted, in
 * alternating directions (all ascending when kmax == N).  m3 = (own <
 * partner) xor lower xor descending-block = "take the partner".
 */
static void local_sort(const sort_job *s, uint32_t kmax)
{
    local_masks();
    for (uint32_t c = 0; c < s->nvec; c++) {
        uint32_t o = c * VB;
        VLD(1, s->keys + o);
        VLD(2, s->idx + o);
        if (s->nv > 0)
            VLD(3, s->val[0] + o);
        if (s->nv > 1)
            VLD(4, s->val[1] + o);
        for (uint32_t k = 2; k <= kmax; k <<= 1) {
            for (uint32_t j = k >> 1; j > 0; j >>= 1) {
                lower_mask(j);
                PARTNER(5, 1, j);
                PARTNER(6, 2, j);
                less();
                MXOR(3, 0, 4);
                if (k < s->N) {
                    dir_mask(k);
                    MXOR(3, 3, 5);
                }
                TAKE(1, 5, 0);
                TAKE(2, 6, 0);
                if (s->nv > 0) {
                    PARTNER(7, 3, j);
                    TAKE(3, 7, 0);
                }
                if (s->nv > 1) {
                    PARTNER(7, 4, j);
                    TAKE(4, 7, 0);
                }
            }
        }
        VST(1, s->keys + o);
        VST(2, s->idx + o);
        if (s->nv > 0)
            VST(3, s->val[0] + o);
        if (s->nv > 1)
            VST(4, s->val[1] + o);
    }
}

/* Levels up to 512 inside each vreg, then for each larger level the
 * phases across vregs (j >= 1024) and the ten inside them. */
static void network(const sort_job *s)
{
    uint32_t N = s->N, kl = N < VE / 2 ? N : VE / 2;
    if (N < 2)
        return;
    local_sort(s, kl);
    for (uint32_t k = 2 * kl; k <= N; k <<= 1) {
        for (uint32_t j = k >> 1; j >= VE; j >>= 1) {
            uint32_t jv = j / VE;
            for (uint32_t c = 0; c < s->nvec; c++)
                if (!(c & jv))
                    xchg_vregs(s, c, c + jv, k < N && ((c * VE) & k));
        }
        lower_masks();
        merge_tail(s, k);
    }
}

/* ------------------------------------------------------------------ */
/* Keys in and out                                                       */
/* ------------------------------------------------------------------ */

/* Constants of the key passes: v20 canonical NaN, v21 31, v22 INT32_MAX
 * (also the pad key), v23 n, v24 N - 1. */
static void key_consts(uint32_t n, uint32_t N)
{
    VBCAST_I32(20, 0x7fc00000u);
    VBCAST_I32(21, 31);
    VBCAST_I32(22, 0x7fffffffu);
    VBCAST_I32(23, n);
    VBCAST_I32(24, N - 1);
}

/* v1 (raw key bits of vreg c) -> sortable i32 in keys, index in idx. */
static void key_in(const sort_job *s, int kt, int desc, uint32_t n, uint32_t c)
{
    if (kt != KEY_I32) {
        VCMP_F32(NE, 0, 1, 1); /* NaN */
        VSEL(1, 0, 20, 1);
        VSRA(2, 1, 21);
        VAND(2, 2, 22);
        VXOR(1, 1, 2);
    }
    if (desc)
        VNOT(1, 1);
    VIOTA(LINEAR, 2, (c * VE) & (s->N - 1));
    if (s->N < VE)
        VAND(2, 2, 24);
    if (n != s->N) {
        VCMP_I32(GE, 0, 2, 23);
        VSEL(1, 0, 22, 1);
    }
    VST(1, s->keys + c * VB);
    VST(2, s->idx + c * VB);
}

/* keys of vreg c -> v1 holding the original key bits. */
static void key_out(int kt, int desc, uint32_t addr)
{
    VLD(1, addr);
    if (desc)
        VNOT(1, 1);
    if (kt != KEY_I32) {
        VSRA(2, 1, 21);
        VAND(2, 2, 22);
        VXOR(1, 1, 2);
    }
}

/* ------------------------------------------------------------------ */
/* The body                                                              */
/* ------------------------------------------------------------------ */

static void zero_vregs(uint32_t addr, uint32_t from, uint32_t to)
{
    VBCAST_I32(0, 0);
    for (uint32_t c = from; c < to; c++)
        VST(0, addr + c * VB);
}

/* Copy rows [r0, r0 + cnt) of operand op between HBM and a local buffer
 * whose rows are `pitch` bytes apart. */
static void rows_copy(const vtpu_kctx *k, unsigned op, uint32_t r0,
                      uint32_t cnt, uint32_t local, uint32_t pitch, int out)
{
    const vtpu_operand_info *o = &k->op[op];
    uint32_t start[2], size[2];
    vtpu_copy c;
    if (o->rank == 1) {
        start[0] = 0;
        size[0] = o->shape[0];
    } else {
        start[0] = r0;
        start[1] = 0;
        size[0] = cnt;
        size[1] = o->shape[1];
    }
    if (out)
        vtpu_copy_out(&c, k, op, start, size, local, 0);
    else
        vtpu_copy_in(&c, k, op, start, size, local, 0);
    if (o->rank == 2) {
        if (out)
            c.desc.src_stride[0] = pitch;
        else
            c.desc.dst_stride[0] = pitch;
    }
    vtpu_copy_start(&c);
    vtpu_copy_wait(&c);
}

/* topk: outputs hold the first K (<= n) columns of the sorted rows, and
 * the order is descending unless flag bit 0 asks for the smallest. */
static void sort_body(const vtpu_kctx *k, int kt, uint32_t nv, int topk)
{
    const vtpu_operand_info *x = &k->op[0];
    uint32_t rank = x->rank;
    if (rank < 1 || rank > 2)
        vtpu_fail(k, "sort: keys must be (n,) or (rows, n)");
    uint32_t rows = rank == 2 ? x->shape[0] : 1, n = x->shape[rank - 1];
    uint32_t kout = k->op[k->num_operands - 1].shape[rank - 1];
    for (unsigned i = 1; i < k->num_operands; i++) {
        const vtpu_operand_info *o = &k->op[i];
        uint32_t want = topk ? kout : n;
        if (o->rank != rank || (rank == 2 && o->shape[0] != x->shape[0]) ||
            o->shape[rank - 1] != want || want > n || want == 0)
            vtpu_fail(k, topk ? "top_k: outputs must be (rows, K), K <= n"
                              : "sort: every operand must have the keys' "
                                "shape");
        if (i != 1 + nv && o->itemsize != 4)
            vtpu_fail(k, "sort: values and indices must be 4-byte types");
    }
    if (k->op[2 + nv].dtype != VTPU_I32)
        vtpu_fail(k, "sort: indices are i32");
    if (n > CAP)
        vtpu_fail(k, "sort: rows longer than 131072");
    if (kt == KEY_BF16 && (n & 1))
        vtpu_fail(k, "sort_bf16: n must be even (whole words in VMEM)");

    uint32_t flags = k->num_scalars ? (uint32_t)vtpu_scalar(k, 0) : 0;
    int desc = topk ? !(flags & F_DESC) : flags & F_DESC;
    uint32_t N = 1;
    while (N < n)
        N <<= 1;

    sort_job s;
    s.keys = k->scratch_vmem;
    s.idx = s.keys + CAPB;
    s.val[0] = s.idx + CAPB;
    s.val[1] = s.val[0] + CAPB;
    s.stage = s.keys + (2 + nv) * CAPB;
    s.nv = nv;
    s.N = N;

    uint32_t np = vtpu_num_programs(k, 0);
    uint32_t per = (rows + np - 1) / np;
    uint32_t r0 = (uint32_t)vtpu_program_id(k, 0) * per;
    uint32_t r1 = r0 + per < rows ? r0 + per : rows;
    uint32_t chunk = CAP / N;

    key_consts(n, N);
    for (uint32_t r = r0; r < r1; r += chunk) {
        uint32_t cnt = r1 - r < chunk ? r1 - r : chunk;
        uint32_t total = cnt * N;
        s.nvec = (total + VE - 1) / VE;

        /* Rows that only fill part of the last vreg, pads of values. */
        uint32_t zfrom = n != N ? 0 : total / VE;
        for (uint32_t v = 0; v < nv; v++)
            zero_vregs(s.val[v], zfrom, s.nvec);
        for (uint32_t v = 0; v < nv; v++)
            rows_copy(k, 1 + v, r, cnt, s.val[v], N * 4, 0);

        if (kt == KEY_BF16) {
            uint32_t ns = (total + 2 * VE - 1) / (2 * VE);
            zero_vregs(s.stage, total / (2 * VE), ns);
            rows_copy(k, 0, r, cnt, s.stage, N * 2, 0);
            key_consts(n, N);
            for (uint32_t c = 0; c < ns; c++) {
                VLD(11, s.stage + c * VB);
                VUNPACK_BF16(1, 11, 0);
                key_in(&s, kt, desc, n, 2 * c);
                if (2 * c + 1 < s.nvec) {
                    VUNPACK_BF16(1, 11, 1);
                    key_in(&s, kt, desc, n, 2 * c + 1);
                }
            }
        } else {
            zero_vregs(s.keys, total / VE, s.nvec);
            rows_copy(k, 0, r, cnt, s.keys, N * 4, 0);
            key_consts(n, N);
            for (uint32_t c = 0; c < s.nvec; c++) {
                VLD(1, s.keys + c * VB);
                key_in(&s, kt, desc, n, c);
            }
        }

        network(&s);

        key_consts(n, N);
        if (kt == KEY_BF16) {
            for (uint32_t c = 0; c < s.nvec; c += 2) {
                key_out(kt, desc, s.keys + c * VB);
                VMOV(3, 1);
                if (c + 1 < s.nvec)
                    key_out(kt, desc, s.keys + (c + 1) * VB);
                VPACK_BF16(4, 3, 1);
                VST(4, s.stage + c / 2 * VB);
            }
            rows_copy(k, 1 + nv, r, cnt, s.stage, N * 2, 1);
        } else {
            for (uint32_t c = 0; c < s.nvec; c++) {
                key_out(kt, desc, s.keys + c * VB);
                VST(1, s.keys + c * VB);
            }
            rows_copy(k, 1 + nv, r, cnt, s.keys, N * 4, 1);
        }
        rows_copy(k, 2 + nv, r, cnt, s.idx, N * 4, 1);
        for (uint32_t v = 0; v < nv; v++)
            rows_copy(k, 3 + nv + v, r, cnt, s.val[v], N * 4, 1);
    }
}

/* ------------------------------------------------------------------ */
/* The kernels                                                           */
/* ------------------------------------------------------------------ */

#define IN_ VTPU_ROLE_IN
#define OUT_ VTPU_ROLE_OUT
#define ANY_(role, dt) VTPU_ANY(role, dt, 0)
/* an output of the keys' shape (operand 0), with the dtype of operand i */
#define KEYS_LIKE_(dt) VTPU_ANY_OUT_LIKE(0, dt, 0)
#define VALS_LIKE_(i)                                                          \
    VTPU_ANY_EX(OUT_, VTPU_DT_ANY, 0, VTPU_LIKE(0), VTPU_LIKE(i))
#define SCRATCH(nv, kt) ((2 + (nv)) * CAPB + ((kt) == KEY_BF16 ? CAPB / 2 : 0))

#define SORT_KERNELS(name, kt, DT)                                             \
    VTPU_BODY(name##_body, k)                                                  \
    {                                                                          \
        sort_body(k, kt, 0, 0);                                                \
    }                                                                          \
    VTPU_KERNEL(                                                               \
        name, name##_body,                                                     \
        .operands = {ANY_(IN_, DT), KEYS_LIKE_(DT), KEYS_LIKE_(VTPU_I32)},     \
        .scratch_vmem = SCRATCH(0, kt), .num_sems = 1);                        \
    VTPU_BODY(name##_v1_body, k)                                               \
    {                                                                          \
        sort_body(k, kt, 1, 0);                                                \
    }                                                                          \
    VTPU_KERNEL(name##_v1, name##_v1_body,                                     \
                .operands = {ANY_(IN_, DT), ANY_(IN_, VTPU_DT_ANY),            \
                             KEYS_LIKE_(DT), KEYS_LIKE_(VTPU_I32),             \
                             VALS_LIKE_(1)},                                   \
                .scratch_vmem = SCRATCH(1, kt), .num_sems = 1);                \
    VTPU_BODY(name##_v2_body, k)                                               \
    {                                                                          \
        sort_body(k, kt, 2, 0);                                                \
    }                                                                          \
    VTPU_KERNEL(name##_v2, name##_v2_body,                                     \
                .operands = {ANY_(IN_, DT), ANY_(IN_, VTPU_DT_ANY),            \
                             ANY_(IN_, VTPU_DT_ANY), KEYS_LIKE_(DT),           \
                             KEYS_LIKE_(VTPU_I32), VALS_LIKE_(1),              \
                             VALS_LIKE_(2)},                                   \
                .scratch_vmem = SCRATCH(2, kt), .num_sems = 1)

SORT_KERNELS(sort_f32, KEY_F32, VTPU_F32);
SORT_KERNELS(sort_i32, KEY_I32, VTPU_I32);
SORT_KERNELS(sort_bf16, KEY_BF16, VTPU_BF16);

/* top_k: the K largest (flag bit 0: smallest) of every row, in order,
 * with their indices; ties keep the lower index first. */
#define TOPK_KERNEL(name, kt, DT)                                              \
    VTPU_BODY(name##_body, k)                                                  \
    {                                                                          \
        sort_body(k, kt, 0, 1);                                                \
    }                                                                          \
    VTPU_KERNEL(                                                               \
        name, name##_body,                                                     \
        .operands = {ANY_(IN_, DT), ANY_(OUT_, DT), ANY_(OUT_, VTPU_I32)},     \
        .scratch_vmem = SCRATCH(0, kt), .num_sems = 1)

TOPK_KERNEL(topk_f32, KEY_F32, VTPU_F32);
TOPK_KERNEL(topk_i32, KEY_I32, VTPU_I32);
