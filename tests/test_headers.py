#!/usr/bin/env python3
"""The public kernel headers, with the RISC-V cross compiler.

1. Self-contained: every public header (firmware/include/vtpu/*.h and the
   ABI headers they pull in) compiles as the only #include of a
   translation unit, together with the uses its documentation promises
   (kernel.h: an operand spec with a NULL index map, as docs/kernels.md
   shows; the others: their types and macros). A header that leans on
   another one being included first (NULL without <stddef.h>) fails here.
2. Documented: the intrinsics table of docs/isa.md ("Intrinsics") and the
   intrinsic macros of xtpu.h are the same set with the same operands,
   in the same order; a call of each, written from the table (operands
   by their documented names), compiles against xtpu.h alone.
3. The example of that section compiles against xtpu.h alone.

Every compile is `-c` (not -fsyntax-only), so the asm operand
constraints of the intrinsics are checked too.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

FAILURES = []


def check(name, cond, detail=''):
    print(f"{'ok  ' if cond else 'FAIL'} {name}"
          f"{': ' + detail if detail and not cond else ''}")
    if not cond:
        FAILURES.append(name)


# What each header's documentation says it offers, used with only that
# header included.
USES = {
    'vtpu/kernel.h': r'''
VTPU_INDEX_MAP(rows, g, s, b) { b[0] = g[0] + s[0]; b[1] = 0; }
VTPU_BODY(body, k)
{
    VLD(1, vtpu_ref(k, 0));
    VST(1, vtpu_ref(k, 1));
    if (vtpu_smem_ref(k, 2) == NULL || vtpu_num_programs(k, 0) == 0)
        vtpu_fail(k, "never");
    vtpu_copy c;
    uint32_t start[1] = {0}, size[1] = {8};
    vtpu_copy_in(&c, k, 3, start, size, k->scratch_vmem, 0);
    vtpu_copy_start(&c);
    vtpu_copy_wait(&c);
    vtpu_prng_seed_grid(k, vtpu_program_index(k) + 7u);
    VRAND(2);
}
VTPU_KERNEL(hdr_kernel, body,
            .operands = {VTPU_IN(VTPU_F32, rows, 8, 128),
                         VTPU_OUT_LIKE(0, VTPU_F32, rows, 8, 128),
                         VTPU_SMEM_IN(VTPU_I32, NULL, VTPU_FULL),
                         VTPU_ANY(VTPU_ROLE_IN, VTPU_F32, 1),
                         VTPU_ANY_OUT_LIKE(3, VTPU_DT_ANY, 1)},
            .scratch_vmem = 4096, .num_sems = 1, .num_scalars = 1);
''',
    'vtpu/sync.h': r'''
int f(void *buf)
{
    vtpu_dma_desc d;
    vtpu_dma_1d(&d, vtpu_smem(buf), vtpu_hbm(0), 64, 3);
    vtpu_dma_start(&d);
    vtpu_sem_wait(3, vtpu_dma_bytes(&d));
    vtpu_barrier();
    return (int)(vtpu_tc_id() + vtpu_num_tcs() + vtpu_sem_read(3));
}
''',
    'vtpu/xtpu.h': r'''
float f(uint32_t x)
{
    VLD(1, x);
    VADD_F32(2, 1, 1);
    VST(2, x);
    return VEXT_F32(2, 0);
}
''',
    'vtpu-launch.h': r'''
vtpu_launch L = {.magic = VTPU_LAUNCH_MAGIC, .size = sizeof(vtpu_launch)};
vtpu_operand_spec S = {.role = VTPU_ROLE_OUT, .shape_like = VTPU_LIKE(0)};
const char *n(void) { return vtpu_launch_err_name(VTPU_LERR_SMEM); }
''',
    'vtpu-map.h': r'''
unsigned v[] = {VTPU_SMEM_BASE, VTPU_VMEM_BASE, VTPU_VREG_BYTES};
''',
    'xtpu-encoding.h': r'''
unsigned v[] = {XTPU_OPC_VALU, XTPU_OPC_MXU, XTPU_MXU_PUSH};
''',
}


def compile_tu(cc, cflags, src, tmp, name):
    path = os.path.join(tmp, name + '.c')
    with open(path, 'w') as f:
        f.write(src)
    p = subprocess.run([cc] + cflags + ['-c', path, '-o',
                                        os.path.join(tmp, name + '.o')],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=120)
    return p.returncode, p.stdout.decode()


def xtpu_intrinsics(text):
    """{name: [params]} of the intrinsic macros of xtpu.h (XTPU_* are
    the header's own helpers)."""
    out = {}
    for m in re.finditer(r'^#define ([A-Z][A-Z0-9_]*)\(([^)]*)\)', text,
                         re.M):
        if not m.group(1).startswith('XTPU_'):
            out[m.group(1)] = [p.strip() for p in m.group(2).split(',')]
    return out


def isa_section(text):
    m = re.search(r'^## Intrinsics\n(.*?)^## ', text, re.M | re.S)
    return m.group(1) if m else ''


def isa_intrinsics(section):
    """{name: [params]} from the table rows "| `NAME(a, b)` | ... |"."""
    out = {}
    for m in re.finditer(r'^\| `([A-Z][A-Z0-9_]*)\(([^)]*)\)` \|', section,
                         re.M):
        params = [p.strip() for p in m.group(2).split(',') if p.strip()]
        if m.group(1) in out:
            check(f'isa.md lists {m.group(1)} once', False, 'listed twice')
        out[m.group(1)] = params
    return out


# A value for each documented operand name, for the generated calls.
ARG = {'vd': '3', 'vs': '4', 'va': '5', 'vb': '6', 'vc': '7', 'md': '1',
       'ma': '2', 'mb': '3', 'm': '4', 'acc': '8', 'cb': '0', 'mxu': '0',
       'part': '1', 'cond': 'LT', 'kind': 'LANE', 'op': 'SUM_F32',
       'addr': 'addr', 'stride': 'stride', 'x': 'xv', 'f': 'fv',
       'idx': 'idx', 'k': 'kv', 'base': 'xv', 'prec': 'HIGH',
       'seed': 'xv', 'stream': 'idx'}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--cc', required=True)
    ap.add_argument('--include', action='append', required=True)
    ap.add_argument('--xtpu', required=True)
    ap.add_argument('--isa', required=True)
    ap.add_argument('headers', nargs='+',
                    help='header names as kernels include them')
    a = ap.parse_args()
    cflags = ['-march=rv32imf', '-mabi=ilp32f', '-O2', '-std=gnu11',
              '-Wall', '-Wextra', '-Werror', '-ffreestanding',
              '-Wno-unused-function']
    cflags += ['-I' + d for d in a.include]
    # Every header of <vtpu/...>, even one added after this list was made.
    vdir = os.path.join(a.include[0], 'vtpu')
    for h in sorted(os.listdir(vdir)):
        if h.endswith('.h') and 'vtpu/' + h not in a.headers:
            a.headers.append('vtpu/' + h)

    with tempfile.TemporaryDirectory(prefix='vtpu-headers-') as tmp:
        # 1. Each header alone, with its documented uses.
        for i, h in enumerate(a.headers):
            src = f'#include <{h}>\n' + USES.get(h, 'int dummy_;\n')
            rc, out = compile_tu(a.cc, cflags, src, tmp, f'alone{i}')
            check(f'{h} compiles alone, with its documented uses', rc == 0,
                  out.strip())
            # Included twice: guarded.
            rc, out = compile_tu(a.cc, cflags, f'#include <{h}>\n' * 2 +
                                 'int dummy_;\n', tmp, f'twice{i}')
            check(f'{h} can be included twice', rc == 0, out.strip())

        # 2. isa.md's table against xtpu.h.
        with open(a.xtpu) as f:
            hdr = xtpu_intrinsics(f.read())
        with open(a.isa) as f:
            sec = isa_section(f.read())
        doc = isa_intrinsics(sec)
        check('xtpu.h defines intrinsics', len(hdr) > 90, str(len(hdr)))
        missing = sorted(set(hdr) - set(doc))
        stale = sorted(set(doc) - set(hdr))
        check('every intrinsic of xtpu.h is in isa.md\'s table',
              not missing, 'missing: ' + ', '.join(missing))
        check('every intrinsic in isa.md\'s table is in xtpu.h', not stale,
              'not in xtpu.h: ' + ', '.join(stale))
        differ = [f'{n}: xtpu.h ({", ".join(hdr[n])}) vs isa.md '
                  f'({", ".join(doc[n])})'
                  for n in sorted(set(hdr) & set(doc)) if hdr[n] != doc[n]]
        check('isa.md gives every intrinsic\'s operands as xtpu.h does',
              not differ, '; '.join(differ))
        unknown = sorted({p for ps in doc.values() for p in ps} - set(ARG))
        check('isa.md uses only the documented operand names', not unknown,
              ', '.join(unknown))

        calls = []
        for n, ps in sorted(doc.items()):
            args = ', '.join(ARG.get(p, '0') for p in ps)
            call = f'{n}({args})'
            calls.append(f'    sink += (uint32_t)({call});' if n.startswith(
                ('VEXT', 'MCOUNT')) else f'    {call};')
        src = ('#include <vtpu/xtpu.h>\n'
               'uint32_t calls(uint32_t addr, int32_t stride, uint32_t xv,\n'
               '               float fv, uint32_t idx, uint32_t kv)\n'
               '{\n    uint32_t sink = 0;\n' + '\n'.join(calls) +
               '\n    return sink;\n}\n')
        rc, out = compile_tu(a.cc, cflags, src, tmp, 'calls')
        check(f'a call of each of the {len(doc)} documented intrinsics '
              'compiles', rc == 0, out.strip()[:2000])

        # 3. The section's example.
        ex = re.search(r'```c\n(#include <vtpu/xtpu.h>\n.*?)```', sec, re.S)
        check('isa.md\'s intrinsics example found', ex is not None)
        if ex:
            body = ex.group(1).replace('#include <vtpu/xtpu.h>\n', '')
            src = ('#include <vtpu/xtpu.h>\n'
                   'float example(uint32_t x, uint32_t y, uint32_t b,\n'
                   '              uint32_t o)\n{\n' + body +
                   '    return o00;\n}\n')
            rc, out = compile_tu(a.cc, cflags, src, tmp, 'example')
            check('isa.md\'s intrinsics example compiles', rc == 0,
                  out.strip())
    if FAILURES:
        sys.exit(f'FAIL: {len(FAILURES)} check(s): {", ".join(FAILURES)}')
    print('all checks passed')


if __name__ == '__main__':
    main()
