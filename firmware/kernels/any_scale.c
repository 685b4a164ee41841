/*
 * any_scale.c - scale_any: o = x * 2 + 1 over (rows, 128) f32 arrays left
 * in HBM (memory space ANY), with the body doing its own double-buffered
 * DMA, as a Pallas kernel with pltpu.make_async_copy would.
 *
 * Grid (P,) parallel: program p handles rows [p * per, (p + 1) * per),
 * per = ceil(rows / P), in chunks of CHUNK rows.  While chunk c is being
 * computed, chunk c+1 is already on its way in and chunk c-1 on its way
 * out; each of the four scratch buffers has its own semaphore.
 */
#include <vtpu/kernel.h>

#define CHUNK 32 /* rows per chunk */
#define ROW_BYTES (128 * 4)
#define CHUNK_BYTES (CHUNK * ROW_BYTES)
#define VREG_BYTES (8 * ROW_BYTES)

enum { SEM_IN0, SEM_IN1, SEM_OUT0, SEM_OUT1, NUM_SEMS };

VTPU_BODY(scale_any_body, k)
{
    const vtpu_operand_info *x = &k->op[0], *o = &k->op[1];
    if (x->rank != 2 || x->shape[1] != 128 || o->shape[0] != x->shape[0] ||
        o->shape[1] != 128)
        vtpu_fail(k, "scale_any takes x and o of the same shape (rows, 128)");

    uint32_t rows = x->shape[0], np = vtpu_num_programs(k, 0);
    uint32_t per = (rows + np - 1) / np;
    uint32_t r0 = (uint32_t)vtpu_program_id(k, 0) * per;
    uint32_t r1 = r0 + per < rows ? r0 + per : rows;
    if (r0 >= r1)
        return;
    uint32_t nchunks = (r1 - r0 + CHUNK - 1) / CHUNK;

    uint32_t in_buf[2], out_buf[2];
    for (unsigned i = 0; i < 2; i++) {
        in_buf[i] = k->scratch_vmem + i * CHUNK_BYTES;
        out_buf[i] = k->scratch_vmem + (2 + i) * CHUNK_BYTES;
    }
    vtpu_copy cin[2], cout[2];
    int out_busy[2] = {0, 0};

    uint32_t start[2] = {r0, 0}, size[2];
    size[0] = r1 - r0 < CHUNK ? r1 - r0 : CHUNK;
    size[1] = 128;
    vtpu_copy_in(&cin[0], k, 0, start, size, in_buf[0], SEM_IN0);
    vtpu_copy_start(&cin[0]);

    for (uint32_t c = 0; c < nchunks; c++) {
        unsigned cur = c & 1, nxt = cur ^ 1;
        uint32_t row = r0 + c * CHUNK;
        uint32_t n = r1 - row < CHUNK ? r1 - row : CHUNK;

        if (c + 1 < nchunks) { /* prefetch the next chunk */
            uint32_t nrow = row + CHUNK;
            uint32_t ns[2] = {nrow, 0};
            uint32_t nsz[2] = {r1 - nrow < CHUNK ? r1 - nrow : CHUNK, 128};
            vtpu_copy_in(&cin[nxt], k, 0, ns, nsz, in_buf[nxt], SEM_IN0 + nxt);
            vtpu_copy_start(&cin[nxt]);
        }
        vtpu_copy_wait(&cin[cur]);
        if (out_busy[cur]) /* out_buf[cur] is still being written back */
            vtpu_copy_wait(&cout[cur]);

        VBCAST_F32(5, 2.0f);
        VBCAST_F32(6, 1.0f);
        for (uint32_t r = 0; r < n; r += 8) {
            VLD(1, in_buf[cur] + r * ROW_BYTES);
            VMULADD_F32(2, 1, 5, 6);
            VST(2, out_buf[cur] + r * ROW_BYTES);
        }

        uint32_t os[2] = {row, 0}, osz[2] = {n, 128};
        vtpu_copy_out(&cout[cur], k, 1, os, osz, out_buf[cur], SEM_OUT0 + cur);
        vtpu_copy_start(&cout[cur]);
        out_busy[cur] = 1;
    }
    for (unsigned i = 0; i < 2; i++)
        if (out_busy[i])
            vtpu_copy_wait(&cout[i]);
}

VTPU_KERNEL(scale_any, scale_any_body,
            .operands = {VTPU_ANY(VTPU_ROLE_IN, VTPU_F32, 2),
                         VTPU_ANY_OUT_LIKE(0, VTPU_F32, 2)},
            .scratch_vmem = 4 * CHUNK_BYTES, .num_sems = NUM_SEMS);

/*
 * accumulate_any: o += x over (rows, c) arrays of one 4-byte dtype left
 * in HBM, with adding DMAs (pltpu.async_copy(..., add=True)): program p
 * copies its rows of x into VMEM in chunks and adds each chunk into o
 * (vtpu_copy_start_add).  o is an input/output operand.  A dtype that
 * cannot be added (bf16, i16, i8, u8) is a `bad DMA` fault at the add.
 */
#define ACC_CHUNK (32u << 10) /* bytes of x per chunk */

VTPU_BODY(accumulate_any_body, k)
{
    const vtpu_operand_info *x = &k->op[0], *o = &k->op[1];
    if (x->rank != 2 || o->rank != 2 || o->shape[0] != x->shape[0] ||
        o->shape[1] != x->shape[1] || o->dtype != x->dtype)
        vtpu_fail(k, "accumulate_any takes x and o of one shape and dtype");

    uint32_t rows = x->shape[0], np = vtpu_num_programs(k, 0);
    uint32_t row_bytes = x->shape[1] * x->itemsize;
    uint32_t per = (rows + np - 1) / np;
    uint32_t r0 = (uint32_t)vtpu_program_id(k, 0) * per;
    uint32_t r1 = r0 + per < rows ? r0 + per : rows;
    uint32_t chunk = row_bytes ? ACC_CHUNK / row_bytes : 0;
    if (!chunk)
        vtpu_fail(k, "accumulate_any: rows longer than its 32 KiB chunk");
    for (uint32_t row = r0; row < r1; row += chunk) {
        uint32_t n = r1 - row < chunk ? r1 - row : chunk;
        uint32_t start[2] = {row, 0}, size[2] = {n, x->shape[1]};
        vtpu_copy c;
        vtpu_copy_in(&c, k, 0, start, size, k->scratch_vmem, SEM_IN0);
        vtpu_copy_start(&c);
        vtpu_copy_wait(&c);
        vtpu_copy_out(&c, k, 1, start, size, k->scratch_vmem, SEM_OUT0);
        vtpu_copy_start_add(&c); /* o[rows] += the chunk */
        vtpu_copy_wait(&c);
    }
}

VTPU_KERNEL(accumulate_any, accumulate_any_body,
            .operands = {VTPU_ANY(VTPU_ROLE_IN, VTPU_DT_ANY, 2),
                         VTPU_ANY(VTPU_ROLE_INOUT, VTPU_DT_ANY, 2)},
            .scratch_vmem = ACC_CHUNK, .num_sems = NUM_SEMS);

/*
 * scale_nested: the same o = x * 2 + 1 with the copies left to a nested
 * pipeline (vtpu_emit_pipeline, pltpu.emit_pipeline): program p runs a
 * pipeline of its own over rows [p * per, (p + 1) * per) of x and o
 * (per = ceil(rows / P) rounded up to 8), (8, 128) blocks, x three
 * buffers deep.  The arrays' last row block may be partial.
 */
VTPU_INDEX_MAP(nested_rows, g, s, b)
{
    b[0] = g[0];
    b[1] = 0;
}

VTPU_BODY(scale_nested_inner, k)
{
    VLD(1, vtpu_ref(k, 0));
    VBCAST_F32(2, 2.0f);
    VMUL_F32(1, 1, 2);
    VBCAST_F32(2, 1.0f);
    VADD_F32(1, 1, 2);
    VST(1, vtpu_ref(k, 1));
}

VTPU_BODY(scale_nested_body, k)
{
    const vtpu_operand_info *x = &k->op[0], *o = &k->op[1];
    if (x->rank != 2 || x->shape[1] != 128 || o->shape[0] != x->shape[0] ||
        o->shape[1] != 128)
        vtpu_fail(k, "scale_nested takes x and o of one shape (rows, 128)");
    uint32_t rows = x->shape[0], np = vtpu_num_programs(k, 0);
    uint32_t per = ((rows + np - 1) / np + 7) & ~7u;
    uint32_t r0 = (uint32_t)vtpu_program_id(k, 0) * per;
    if (r0 >= rows)
        return;
    uint32_t n = rows - r0 < per ? rows - r0 : per;

    static const vtpu_operand_spec in =
        VTPU_IN_BUF(3, VTPU_F32, nested_rows, 8, 128);
    static const vtpu_operand_spec out =
        VTPU_OUT(VTPU_F32, nested_rows, 8, 128);
    vtpu_pipeline p = {
        .grid_rank = 1,
        .num_operands = 2,
        .grid = {(n + 7) / 8},
        .body = scale_nested_inner,
        .src = {0, 1},
        .row_start = {r0, r0},
        .rows = {n, n},
    };
    p.operands[0] = in;
    p.operands[1] = out;
    vtpu_emit_pipeline(k, &p);
}

VTPU_KERNEL(scale_nested, scale_nested_body,
            .operands = {VTPU_ANY(VTPU_ROLE_IN, VTPU_F32, 2),
                         VTPU_ANY_OUT_LIKE(0, VTPU_F32, 2)});

/*
 * scale_nested_dyn: a nested pipeline with a dynamic grid.  o (in/out,
 * aliased) := x * 2 + 1 on the first s0 row blocks and s1 column blocks
 * of (8, 128) (clipped to the array), o unchanged elsewhere: the nested
 * grid is (VTPU_GRID_SCALAR(0), VTPU_GRID_SCALAR(1)), so its extents are
 * the launch's scalars 0 and 1 (0 runs nothing).  x and o are ANY
 * operands of any shape (R, C); one outer step.
 */
VTPU_INDEX_MAP(nested_tiles, g, s, b)
{
    b[0] = g[0];
    b[1] = g[1];
}

VTPU_BODY(scale_nested_dyn_body, k)
{
    static const vtpu_operand_spec in = VTPU_IN(VTPU_F32, nested_tiles, 8, 128);
    static const vtpu_operand_spec out =
        VTPU_OUT(VTPU_F32, nested_tiles, 8, 128);
    vtpu_pipeline p = {
        .grid_rank = 2,
        .num_operands = 2,
        .grid = {VTPU_GRID_SCALAR(0), VTPU_GRID_SCALAR(1)},
        .body = scale_nested_inner,
        .src = {0, 1},
    };
    p.operands[0] = in;
    p.operands[1] = out;
    vtpu_emit_pipeline(k, &p);
}

VTPU_KERNEL(scale_nested_dyn, scale_nested_dyn_body,
            .operands = {VTPU_ANY(VTPU_ROLE_IN, VTPU_F32, 2),
                         VTPU_ANY_EX(VTPU_ROLE_INOUT, VTPU_F32, 2, VTPU_LIKE(0),
                                     VTPU_LIKE_NONE)},
            .num_scalars = 2);

/*
 * scale_nested2: o = x * 2 + 1 through two levels of nested pipelines
 * (an emit_pipeline inside an emit_pipeline body).  The body runs a
 * pipeline over chunks of 64 rows whose operands are ANY (the arrays
 * themselves, as a BlockSpec with memory_space=ANY passes them); each
 * chunk's body runs the (8, 128) block pipeline over its rows,
 * x.at[64i:64i+64].  x, o (R, 128) f32.
 */
#define NEST2_CHUNK 64u

VTPU_BODY(scale_nested2_chunk, k)
{
    uint32_t rows = k->op[0].shape[0];
    uint32_t r0 = (uint32_t)vtpu_program_id(k, 0) * NEST2_CHUNK;
    uint32_t n = rows - r0 < NEST2_CHUNK ? rows - r0 : NEST2_CHUNK;
    vtpu_pipeline p = {
        .grid_rank = 1,
        .num_operands = 2,
        .grid = {(n + 7) / 8},
        .body = scale_nested_inner,
        .src = {0, 1},
        .row_start = {r0, r0},
        .rows = {n, n},
    };
    p.operands[0] = (vtpu_operand_spec)VTPU_IN(VTPU_F32, nested_rows, 8, 128);
    p.operands[1] = (vtpu_operand_spec)VTPU_OUT(VTPU_F32, nested_rows, 8, 128);
    vtpu_emit_pipeline(k, &p);
}

VTPU_BODY(scale_nested2_body, k)
{
    const vtpu_operand_info *x = &k->op[0];
    if (x->rank != 2 || x->shape[1] != 128)
        vtpu_fail(k, "scale_nested2 takes x of shape (rows, 128)");
    vtpu_pipeline p = {
        .grid_rank = 1,
        .num_operands = 2,
        .grid = {(x->shape[0] + NEST2_CHUNK - 1) / NEST2_CHUNK},
        .body = scale_nested2_chunk,
        .src = {0, 1},
    };
    p.operands[0] = (vtpu_operand_spec)VTPU_ANY(VTPU_ROLE_IN, VTPU_F32, 2);
    p.operands[1] = (vtpu_operand_spec)VTPU_ANY(VTPU_ROLE_OUT, VTPU_F32, 2);
    vtpu_emit_pipeline(k, &p);
}

VTPU_KERNEL(scale_nested2, scale_nested2_body,
            .operands = {VTPU_ANY(VTPU_ROLE_IN, VTPU_F32, 2),
                         VTPU_ANY_OUT_LIKE(0, VTPU_F32, 2)});
