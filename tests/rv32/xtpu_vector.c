/*
 * xtpu_vector.c - the vector unit seen from a program, through the
 * intrinsics of vtpu/xtpu.h.  Self-checking: every result is extracted
 * element by element and compared with a reference computed by scalar code
 * on the TC itself.  Prints what failed and exits 1, or exits 0.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <vtpu/xtpu.h>

/* The scalar references must round like the vector unit (no fused
 * multiply-add contraction). */
#pragma GCC optimize("fp-contract=off")

#define NE 1024
#define VM(off) (VTPU_VMEM_BASE + (off))

static int failures;

static uint32_t fbits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bitsf(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static int report(const char *what, unsigned i, uint32_t got, uint32_t want)
{
    if (failures < 40)
        printf("FAIL %s: element %u (sublane %u, lane %u): got 0x%08lx "
               "(%g), want 0x%08lx (%g)\n",
               what, i, i / 128, i % 128, (unsigned long)got,
               (double)bitsf(got), (unsigned long)want, (double)bitsf(want));
    failures++;
    return 1;
}

/* Compare vreg v with want(i) for every element: exactly (NaN == NaN). */
#define CHECK(v, what, want_fn)                                              \
    do {                                                                     \
        for (unsigned i_ = 0; i_ < NE; i_++) {                               \
            uint32_t g_ = VEXT_I32(v, i_), w_ = (want_fn)(i_);               \
            if (g_ != w_ && !(isnan(bitsf(g_)) && isnan(bitsf(w_))) &&       \
                report(what, i_, g_, w_))                                    \
                break;                                                       \
        }                                                                    \
    } while (0)

/* Compare within `ulps` (f32 results of transcendental functions, whose
 * scalar reference is picolibc's, itself not exact). */
#define CHECK_ULPS(v, what, want_fn, ulps)                                   \
    do {                                                                     \
        for (unsigned i_ = 0; i_ < NE; i_++) {                               \
            uint32_t g_ = VEXT_I32(v, i_), w_ = (want_fn)(i_);               \
            int32_t d_ = (int32_t)(g_ - w_);                                 \
            if ((d_ > (ulps) || d_ < -(ulps)) &&                             \
                report(what, i_, g_, w_))                                    \
                break;                                                       \
        }                                                                    \
    } while (0)

/* ---- the inputs, built identically in vregs and in scalar code ---- */

static uint32_t hash(uint32_t i)
{
    uint32_t h = i * 2654435761u;
    return h ^ (h >> 13);
}

static float in_a(uint32_t i) /* v1 */
{
    return (float)i * 0.37f - 150.0f;
}

static float in_b(uint32_t i) /* v2 */
{
    return (float)(int32_t)(hash(i) & 0xFFFF) * 0.00390625f - 128.0f;
}

static void build_inputs(void)
{
    VIOTA(LINEAR, 1, 0);
    VCVT_I32_F32(1, 1);
    VBCAST_F32(3, 0.37f);
    VMUL_F32(1, 1, 3);
    VBCAST_F32(3, 150.0f);
    VSUB_F32(1, 1, 3); /* v1 = a */

    VIOTA(LINEAR, 2, 0);
    VBCAST_I32(3, 2654435761u);
    VMUL_I32(2, 2, 3);
    VBCAST_I32(3, 13);
    VSRL(4, 2, 3);
    VXOR(2, 2, 4); /* v2 = hash */
    VMOV(9, 2);    /* v9 = hash, kept */
    VBCAST_I32(3, 0xFFFF);
    VAND(2, 2, 3);
    VCVT_I32_F32(2, 2);
    VBCAST_F32(3, 0.00390625f);
    VMUL_F32(2, 2, 3);
    VBCAST_F32(3, 128.0f);
    VSUB_F32(2, 2, 3); /* v2 = b */
}

/* ---- references ---- */

static uint32_t r_a(uint32_t i) { return fbits(in_a(i)); }
static uint32_t r_b(uint32_t i) { return fbits(in_b(i)); }
static uint32_t r_add(uint32_t i) { return fbits(in_a(i) + in_b(i)); }
static uint32_t r_sub(uint32_t i) { return fbits(in_a(i) - in_b(i)); }
static uint32_t r_mul(uint32_t i) { return fbits(in_a(i) * in_b(i)); }
static uint32_t r_div(uint32_t i) { return fbits(in_a(i) / in_b(i)); }
static uint32_t r_min(uint32_t i)
{
    return fbits(in_a(i) < in_b(i) ? in_a(i) : in_b(i));
}
static uint32_t r_max(uint32_t i)
{
    return fbits(in_a(i) > in_b(i) ? in_a(i) : in_b(i));
}
static uint32_t r_muladd(uint32_t i)
{
    float p = in_a(i) * in_b(i);
    return fbits(p + in_a(i));
}
static uint32_t r_hash(uint32_t i) { return hash(i); }
static uint32_t r_ishl(uint32_t i) { return hash(i) << (i & 31); }
static uint32_t r_isra(uint32_t i)
{
    return (uint32_t)((int32_t)hash(i) >> (i & 31));
}
static uint32_t r_imax(uint32_t i)
{
    int32_t x = (int32_t)hash(i), y = (int32_t)i - 512;
    return (uint32_t)(x > y ? x : y);
}
static uint32_t r_cvt(uint32_t i) { return (uint32_t)(int32_t)in_a(i); }
static uint32_t r_floor(uint32_t i) { return fbits(floorf(in_a(i) * 0.1f)); }
static uint32_t r_round(uint32_t i)
{
    return fbits(rintf(in_b(i) * 0.5f)); /* ties to even */
}
static uint32_t r_sqrt(uint32_t i) { return fbits(sqrtf(fabsf(in_a(i)))); }
static uint32_t r_sel(uint32_t i)
{
    return in_a(i) < in_b(i) ? fbits(in_b(i)) : hash(i);
}
static uint32_t r_exp(uint32_t i) { return fbits(expf(in_b(i) * 0.5f)); }
static uint32_t r_log(uint32_t i) { return fbits(logf(fabsf(in_a(i)))); }
static uint32_t r_sin(uint32_t i) { return fbits(sinf(in_a(i))); }
static uint32_t r_cos(uint32_t i) { return fbits(cosf(in_b(i))); }
static uint32_t r_tanh(uint32_t i) { return fbits(tanhf(in_b(i) * 0.1f)); }
static uint32_t r_logistic(uint32_t i)
{
    return fbits(1.0f / (1.0f + expf(-(in_b(i) * 0.1f))));
}
static uint32_t r_rsqrt(uint32_t i)
{
    return fbits((float)(1.0 / sqrt((double)fabsf(in_a(i)))));
}
static uint32_t r_pow(uint32_t i)
{
    return fbits(powf(fabsf(in_a(i)) * 0.01f, in_b(i) * 0.05f));
}

/* bf16 with round to nearest even (inputs here are finite) */
static uint32_t bf16(float f)
{
    uint32_t u = fbits(f);
    return (u + 0x7FFF + ((u >> 16) & 1)) >> 16;
}
static uint32_t r_pack(uint32_t w) /* packed word w of (a, b) */
{
    uint32_t e = 2 * w;
    float lo = e < NE ? in_a(e) : in_b(e - NE);
    float hi = e + 1 < NE ? in_a(e + 1) : in_b(e + 1 - NE);
    return bf16(lo) | bf16(hi) << 16;
}
static uint32_t r_unpack_hi(uint32_t i) { return bf16(in_b(i)) << 16; }

static uint32_t r_rot_lanes(uint32_t i) /* roll by 5 along lanes */
{
    return fbits(in_a((i & ~127u) | ((i - 5) & 127)));
}
static uint32_t r_rot_sub(uint32_t i) /* roll by -3 along sublanes */
{
    return fbits(in_a((((i >> 7) + 3) & 7) << 7 | (i & 127)));
}
static uint32_t r_xpose8(uint32_t i)
{
    uint32_t s = i / 128, l = i % 128;
    return fbits(in_a((l % 8) * 128 + (l / 8) * 8 + s));
}

static float tree_sum(const float *x, unsigned n)
{
    float w[128];
    for (unsigned j = 0; j < n; j++)
        w[j] = x[j];
    for (unsigned h = n / 2; h >= 1; h /= 2)
        for (unsigned j = 0; j < h; j++)
            w[j] = w[j] + w[j + h];
    return w[0];
}
static uint32_t r_sum_lanes(uint32_t i)
{
    float x[128];
    for (unsigned l = 0; l < 128; l++)
        x[l] = in_b((i & ~127u) + l);
    return fbits(tree_sum(x, 128));
}
static uint32_t r_max_sub(uint32_t i)
{
    int32_t m = (int32_t)hash(i % 128);
    for (unsigned s = 1; s < 8; s++) {
        int32_t v = (int32_t)hash(s * 128 + i % 128);
        m = v > m ? v : m;
    }
    return (uint32_t)m;
}

/* strided store / load: VMEM row s of the block at 0x1000 + s * 1024 */
static uint32_t r_strided(uint32_t i) { return fbits(in_a(i)); }

static uint32_t r_masked(uint32_t i) /* in_b where a < b, else a */
{
    return in_a(i) < in_b(i) ? fbits(in_b(i)) : fbits(in_a(i));
}

static uint32_t r_insert(uint32_t i)
{
    return i == 777 ? 0x12345678u : fbits(in_a(i));
}

int main(void)
{
    build_inputs();
    CHECK(1, "iota/cvt/mul/sub (a)", r_a);
    CHECK(2, "hash/and/cvt (b)", r_b);
    CHECK(9, "i32 mul/srl/xor", r_hash);

    VADD_F32(10, 1, 2);
    CHECK(10, "vadd.f32", r_add);
    VSUB_F32(10, 1, 2);
    CHECK(10, "vsub.f32", r_sub);
    VMUL_F32(10, 1, 2);
    CHECK(10, "vmul.f32", r_mul);
    VDIV_F32(10, 1, 2);
    CHECK(10, "vdiv.f32", r_div);
    VMIN_F32(10, 1, 2);
    CHECK(10, "vmin.f32", r_min);
    VMAX_F32(10, 1, 2);
    CHECK(10, "vmax.f32", r_max);
    VMULADD_F32(10, 1, 2, 1);
    CHECK(10, "vmuladd.f32", r_muladd);

    VIOTA(LINEAR, 11, 0);
    VSLL(10, 9, 11); /* shift amounts i & 31 */
    CHECK(10, "vsll", r_ishl);
    VSRA(10, 9, 11);
    CHECK(10, "vsra", r_isra);
    VIOTA(LINEAR, 11, -512);
    VMAX_I32(10, 9, 11);
    CHECK(10, "vmax.i32", r_imax);
    VCVT_F32_I32(10, 1);
    CHECK(10, "vcvt i32<-f32", r_cvt);
    VBCAST_F32(12, 0.1f);
    VMUL_F32(10, 1, 12);
    VFLOOR(10, 10);
    CHECK(10, "vfloor", r_floor);
    VBCAST_F32(12, 0.5f);
    VMUL_F32(10, 2, 12);
    VROUND(10, 10);
    CHECK(10, "vround", r_round);
    VABS_F32(13, 1);
    VSQRT(10, 13);
    CHECK(10, "vsqrt", r_sqrt);

    /* compares, masks, select */
    VCMP_F32(LT, 3, 1, 2);
    VSEL(10, 3, 2, 9);
    CHECK(10, "vcmp.lt + vsel", r_sel);
    {
        uint32_t n = MCOUNT(3), want = 0;
        for (unsigned i = 0; i < NE; i++)
            want += in_a(i) < in_b(i);
        if (n != want) {
            printf("FAIL mcount: got %lu want %lu\n", (unsigned long)n,
                   (unsigned long)want);
            failures++;
        }
        MNOT(4, 3);
        MOR(5, 3, 4);
        if (MCOUNT(5) != NE) {
            printf("FAIL mnot/mor: count %lu\n", (unsigned long)MCOUNT(5));
            failures++;
        }
    }

    /* transcendentals against picolibc (not correctly rounded itself) */
    VBCAST_F32(12, 0.5f);
    VMUL_F32(10, 2, 12);
    VEXP(10, 10);
    CHECK_ULPS(10, "vexp", r_exp, 2);
    VLOG(10, 13);
    CHECK_ULPS(10, "vlog", r_log, 2);
    VSIN(10, 1);
    CHECK_ULPS(10, "vsin", r_sin, 2);
    VCOS(10, 2);
    CHECK_ULPS(10, "vcos", r_cos, 2);
    VBCAST_F32(12, 0.1f);
    VMUL_F32(14, 2, 12);
    VTANH(10, 14);
    CHECK_ULPS(10, "vtanh", r_tanh, 2);
    VLOGISTIC(10, 14);
    CHECK_ULPS(10, "vlogistic", r_logistic, 2);
    VRSQRT(10, 13);
    CHECK_ULPS(10, "vrsqrt", r_rsqrt, 1);
    VBCAST_F32(12, 0.01f);
    VMUL_F32(15, 13, 12);
    VBCAST_F32(12, 0.05f);
    VMUL_F32(16, 2, 12);
    VPOW(10, 15, 16);
    CHECK_ULPS(10, "vpow", r_pow, 2);

    /* bf16 */
    VPACK_BF16(10, 1, 2);
    CHECK(10, "vpack.bf16", r_pack);
    VUNPACK_BF16(10, 10, 1);
    CHECK(10, "vunpack.bf16 hi", r_unpack_hi);

    /* cross-lane */
    VROT_LANES(10, 1, 5);
    CHECK(10, "vrot lanes", r_rot_lanes);
    VROT_SUBLANES(10, 1, -3);
    CHECK(10, "vrot sublanes", r_rot_sub);
    VXPOSE8(10, 1);
    CHECK(10, "vxpose8", r_xpose8);
    VRED_LANES(SUM_F32, 10, 2);
    CHECK(10, "vred lanes sum.f32", r_sum_lanes);
    VRED_SUBLANES(MAX_I32, 10, 9);
    CHECK(10, "vred sublanes max.i32", r_max_sub);

    /* VMEM: strided store and load, masked store, insert/extract */
    VSTS(1, VM(0x1000), 1024);
    VLDS(10, VM(0x1000), 1024);
    CHECK(10, "vst/vld stride 1024", r_strided);
    VST(1, VM(0x8000));
    VSTM(2, VM(0x8000), XTPU_DENSE_STRIDE, 3); /* b where a < b */
    VLD(10, VM(0x8000));
    CHECK(10, "vst.m", r_masked);
    VLDS(10, VM(0x1000), 1024);
    VINS_I32(10, 777, 0x12345678u);
    CHECK(10, "vins", r_insert);
    {
        float f = VEXT_F32(1, 1000);
        if (fbits(f) != fbits(in_a(1000))) {
            printf("FAIL vext.f32: %g\n", (double)f);
            failures++;
        }
    }

    if (failures) {
        printf("xtpu_vector: %d failures\n", failures);
        return 1;
    }
    printf("xtpu_vector: all checks passed\n");
    return 0;
}
