#!/usr/bin/env python3
"""Run an RV32 program with `vtpu-run --bare` and check what it did.

With --qemu, the same ELF also runs under qemu-riscv32 (user mode, an
independent RISC-V implementation) and stdout plus exit code must be
identical.  With --expect FILE, the exit status and regular expressions
that stdout/stderr must match come from FILE ("status: N", "stderr: RE",
"stdout: RE" lines).  Otherwise the program must exit 0 (it checks itself).
Every child has a time limit, so a hung program fails instead of hanging.
"""
import argparse
import re
import shlex
import subprocess
import sys

TIMEOUT = 240


def run(cmd):
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        sys.exit(f"FAIL: timed out after {TIMEOUT}s: {' '.join(cmd)}")
    return p.returncode, p.stdout, p.stderr


def check_expect(path, rc, out, err):
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            key, _, val = line.partition(':')
            val = val.strip()
            if key == 'status':
                if rc != int(val):
                    sys.stdout.buffer.write(out)
                    sys.exit(f"FAIL: exit status {rc}, expected {val}")
            elif key in ('stderr', 'stdout'):
                text = (err if key == 'stderr' else out).decode(errors='replace')
                if not re.search(val, text):
                    sys.exit(f"FAIL: {key} does not match /{val}/:\n{text}")
            else:
                sys.exit(f"bad line in {path}: {line}")
    sys.stdout.write("report and status as expected\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--vtpu-run', required=True)
    ap.add_argument('--elf', required=True)
    ap.add_argument('--qemu')
    ap.add_argument('--args-file')
    ap.add_argument('--expect')
    a = ap.parse_args()

    extra = []
    if a.args_file:
        with open(a.args_file) as f:
            extra = shlex.split(f.read())
    rc, out, err = run([a.vtpu_run, '--bare', a.elf] + extra)
    sys.stdout.write(f"vtpu-run exit {rc}, {len(out)} bytes of stdout\n")
    sys.stderr.buffer.write(err)
    if a.qemu:
        qrc, qout, qerr = run([a.qemu, a.elf])
        if out != qout:
            sys.stdout.write("FAIL: stdout differs from qemu-riscv32\n")
            ol, ql = out.decode(errors='replace').splitlines(), \
                qout.decode(errors='replace').splitlines()
            for i in range(max(len(ol), len(ql))):
                o = ol[i] if i < len(ol) else '<missing>'
                q = ql[i] if i < len(ql) else '<missing>'
                if o != q:
                    sys.stdout.write(f"line {i + 1}:\n  vtpu: {o}\n  qemu: {q}\n")
                    break
            sys.exit(1)
        if rc != qrc:
            sys.exit(f"FAIL: exit code {rc} differs from qemu-riscv32's {qrc}")
        sys.stdout.write(f"matches qemu-riscv32 ({len(out.splitlines())} lines, exit {rc})\n")
    elif a.expect:
        check_expect(a.expect, rc, out, err)
    elif rc != 0:
        sys.stdout.buffer.write(out)
        sys.exit(f"FAIL: exit code {rc}")
    else:
        sys.stdout.buffer.write(out[-2000:])


if __name__ == '__main__':
    main()
