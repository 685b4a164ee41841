"""guestvm.py - boot a bare-metal guest program (guest/) in
qemu-system-riscv64 with a vtpu, for the system tests.

Every QEMU gets its own process group and is killed (SIGKILL to the
group) however the test ends.  Command-line options shared by the test
scripts: --qemu PATH, --build DIR, --guest-dir DIR (default BUILD/guest).
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
QEMU = os.environ.get("VTPU_QEMU",
                      os.path.join(ROOT, "build/qemu/qemu-system-riscv64"))
BUILD = os.path.join(ROOT, "build")
GUEST_DIR = None  # default: BUILD/guest
PANIC = 120  # GUEST_EXIT_PANIC (guest/platform/guest.h)


def elf_path(program):
    elf = os.path.join(GUEST_DIR or os.path.join(BUILD, "guest"),
                       program + ".elf")
    if not os.path.exists(elf):
        raise unittest.SkipTest("%s not built" % elf)
    return elf


def qemu_cmd(program, device="vtpu,gen=v4", extra=()):
    return [QEMU, "-M", "virt", "-m", "256M", "-smp", "1",
            "-display", "none", "-monitor", "none", "-serial", "stdio",
            "-bios", "none", "-kernel", elf_path(program),
            "-device", device] + list(extra)


def start(program, device="vtpu,gen=v4", extra=()):
    """Start QEMU with the console on a pipe; the caller must kill()."""
    return subprocess.Popen(qemu_cmd(program, device, extra),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)


def kill(p):
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    p.wait()


def boot(program, device="vtpu,gen=v4", timeout=120, extra=()):
    """Boot <program>.elf to its end; returns (exit code, console text).
    Exit code None means the time limit was hit."""
    p = start(program, device, extra)
    try:
        out, _ = p.communicate(timeout=timeout)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        rc = None
        kill(p)
        out, _ = p.communicate()
    finally:
        kill(p)
        p.stdout.close()
    return rc, out.decode("utf-8", "replace").replace("\r\n", "\n")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    """Parse the shared options, then run the calling script's tests."""
    global QEMU, BUILD, GUEST_DIR
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--qemu", default=QEMU)
    ap.add_argument("--build", default=BUILD)
    ap.add_argument("--guest-dir", default=None)
    args, rest = ap.parse_known_args()
    QEMU = os.path.abspath(args.qemu)
    BUILD = os.path.abspath(args.build)
    GUEST_DIR = args.guest_dir and os.path.abspath(args.guest_dir)
    if not os.access(QEMU, os.X_OK):
        sys.exit("%s: no QEMU at %s (make qemu)" % (sys.argv[0], QEMU))
    unittest.main(module="__main__", argv=[sys.argv[0]] + rest, verbosity=2)
