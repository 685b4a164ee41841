#!/usr/bin/env python3
"""test_migrate.py - the bare-metal demo saved mid-workload and restored in
a new QEMU (docs/qemu.md, "Migration and snapshots").

    tests/system/test_migrate.py [--qemu PATH] [--build DIR] [unittest args]

vtpu-demo boots with a QMP socket.  While it runs, the test polls `info
vtpu` until a launch is in progress (state BUSY), stops the VM there and
migrates it into a file (`migrate "exec:cat > FILE"`), checks that the
source stopped with the launch still in progress, and kills it.  A new
QEMU started with `-incoming "exec:cat FILE"` finishes the demo: the two
consoles together must hold every row of the demo, each matching its
reference, and the demo's exit status 0.  Then the same through savevm /
loadvm on a qcow2 image within one QEMU.  Every QEMU has a time limit and
is killed (its process group) however the test ends.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import guestvm  # noqa: E402

TIMEOUT = 180


class VM:
    """A guest program in QEMU: console collected on a thread, QMP."""

    def __init__(self, tmp, name, extra=()):
        self.qmp_path = os.path.join(tmp, name + ".qmp")
        self.p = guestvm.start(
            "vtpu-demo", "vtpu,gen=v4,hbm-size=256M",
            ["-qmp", "unix:%s,server=on,wait=off" % self.qmp_path] +
            list(extra))
        self.out = b""
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()
        self.deadline = time.monotonic() + TIMEOUT
        self.sock = None
        for _ in range(500):
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(self.qmp_path)
                self.sock = s
                break
            except OSError:
                s.close()
                if self.p.poll() is not None:
                    break
                time.sleep(0.01)
        if not self.sock:
            raise AssertionError("no QMP socket: " + self.text())
        self.sock.settimeout(60)
        self.f = self.sock.makefile("rwb")
        self._recv()  # greeting
        self.qmp("qmp_capabilities")

    def _read(self):
        for chunk in iter(lambda: self.p.stdout.read1(4096), b""):
            self.out += chunk

    def text(self):
        return self.out.decode("utf-8", "replace").replace("\r\n", "\n")

    def _recv(self):
        while True:
            line = self.f.readline()
            if not line:
                raise AssertionError("QMP closed: " + self.text())
            msg = json.loads(line)
            if "event" not in msg:
                return msg

    def qmp(self, cmd, **args):
        m = {"execute": cmd}
        if args:
            m["arguments"] = args
        self.f.write(json.dumps(m).encode() + b"\n")
        self.f.flush()
        ans = self._recv()
        if "error" in ans:
            raise AssertionError("QMP %s: %s" % (cmd, ans["error"]))
        return ans.get("return")

    def hmp(self, line):
        return self.qmp("human-monitor-command", **{"command-line": line})

    def go_on(self):
        """After an incoming migration or -loadvm: run.  A VM stopped
        before it was saved comes back stopped (QEMU's global state)."""
        end = time.monotonic() + 60
        while time.monotonic() < end and self.p.poll() is None:
            st = self.qmp("query-status")["status"]
            if st == "paused":
                self.qmp("cont")
            elif st not in ("inmigrate", "restore-vm", "prelaunch"):
                return st
            time.sleep(0.02)
        return None

    def qcow2(self, path, node):
        """A qcow2 image at `path`, made through QMP (blockdev-create: this
        QEMU is built without qemu-img), attached as block node `node`."""
        open(path, "wb").close()
        self.qmp("blockdev-add", driver="file", filename=path,
                 **{"node-name": node + "-file"})
        self.qmp("blockdev-create", **{"job-id": "mk-" + node, "options": {
            "driver": "qcow2", "file": node + "-file", "size": 16 << 20}})
        end = time.monotonic() + 30
        while True:
            jobs = {j["id"]: j for j in self.qmp("query-jobs")}
            j = jobs.get("mk-" + node)
            if j and j["status"] == "concluded":
                if j.get("error"):
                    raise AssertionError("blockdev-create: " + j["error"])
                break
            if time.monotonic() > end:
                raise AssertionError("blockdev-create did not end")
            time.sleep(0.01)
        self.qmp("job-dismiss", id="mk-" + node)
        self.qmp("blockdev-add", driver="qcow2", file=node + "-file",
                 **{"node-name": node})

    def wait_exit(self):
        try:
            rc = self.p.wait(max(1, self.deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            rc = None
        self.t.join(5)
        return rc

    def kill(self):
        guestvm.kill(self.p)
        self.t.join(5)
        if self.sock:
            self.f.close()
            self.sock.close()
            self.sock = None
        self.p.stdout.close()


def rows(text):
    out = {}
    for line in text.splitlines():
        m = re.match(r"(add_sin_f32|matmul_f32|sort_f32)\s.*\s(\S+)"
                     r"(?: \(.*\))?$", line)
        if m:
            out[m.group(1)] = line
    return out


class Migrate(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="vtpu-migrate-")
        self.vms = []

    def tearDown(self):
        for vm in self.vms:
            vm.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def vm(self, name, extra=()):
        v = VM(self.tmp, name, extra)
        self.vms.append(v)
        return v

    def stop_in_a_launch(self, vm):
        """Stop the VM while a launch runs (polling `info vtpu`); returns
        whether it was caught mid-launch."""
        end = time.monotonic() + 60
        while time.monotonic() < end and vm.p.poll() is None:
            if "generation v4" in vm.text():
                info = vm.hmp("info vtpu")
                if "state BUSY" in info and re.search(
                        r"TC \d: running", info):
                    vm.qmp("stop")
                    return "state BUSY" in vm.hmp("info vtpu")
            else:
                time.sleep(0.005)
        vm.qmp("stop")
        return False

    def check_demo(self, text, rc):
        self.assertEqual(rc, 0, "exit %s, console:\n%s" % (rc, text))
        self.assertIn("vtpu-demo: all rows matched", text)
        r = rows(text)
        self.assertTrue(r["add_sin_f32"].endswith(" yes"), text)
        self.assertTrue(r["matmul_f32"].endswith(" yes"), text)
        sort = r["sort_f32"]
        self.assertTrue(sort.endswith(" yes") or " skipped " in sort, sort)

    def test_migrate_to_file_mid_kernel(self):
        state = os.path.join(self.tmp, "vm.state")
        src = self.vm("src")
        mid = self.stop_in_a_launch(src)
        before = src.text()
        src.qmp("migrate", uri="exec:cat > " + state)
        while src.qmp("query-migrate").get("status") not in (
                "completed", "failed"):
            time.sleep(0.02)
        self.assertEqual(src.qmp("query-migrate")["status"], "completed",
                         src.text())
        info = src.hmp("info vtpu")
        src.kill()
        sys.stderr.write("[saved %s, %d bytes] " % (
            "mid-launch" if mid else "between launches",
            os.path.getsize(state)))
        if mid:
            self.assertIn("state BUSY", info)

        dst = self.vm("dst", ["-incoming", "exec:cat " + state])
        dst.go_on()
        rc = dst.wait_exit()
        after = dst.text()
        self.assertNotIn("vtpu-demo: all rows matched", before)
        self.check_demo(before + after, rc)

    def test_savevm_loadvm(self):
        img = os.path.join(self.tmp, "snap.qcow2")
        vm = self.vm("savevm")
        vm.qcow2(img, "snap")
        mid = self.stop_in_a_launch(vm)
        before = vm.text()
        out = vm.hmp("savevm mid")
        self.assertNotIn("rror", out, out)
        self.assertIn("mid", vm.hmp("info snapshots"))
        vm.kill()
        sys.stderr.write("[savevm %s] " % (
            "mid-launch" if mid else "between launches"))
        # a new QEMU, restored from the image, finishes the demo
        vm2 = self.vm("loadvm", [
            "-blockdev", "driver=file,filename=%s,node-name=f" % img,
            "-blockdev", "driver=qcow2,file=f,node-name=snap",
            "-loadvm", "mid"])
        vm2.go_on()
        rc = vm2.wait_exit()
        self.check_demo(before + vm2.text(), rc)

if __name__ == "__main__":
    guestvm.main()
