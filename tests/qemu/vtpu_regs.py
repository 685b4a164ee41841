"""vtpu_regs.py - the register map and command constants, read from
hw/vtpu/abi/vtpu-regs.h (the one definition) when the tests start.

    regs.REG["RING_TAIL"]   byte offset of a register (VTPU_REG)
    regs.FIELD["INT", "ERROR"]  (shift, length) of a field (VTPU_FIELD)
    regs.OP["LAUNCH"], regs.ERR["BAD_ELF"], regs.FAULT["DMA"]  X-macro tables
    regs.CONST["VTPU_STATE_IDLE"], regs.CONST["VTPU_ID_MAGIC"]  enums, #defines

A header the parser does not understand fails loudly: the tests never run
on offsets that were copied by hand.
"""

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
HEADER = os.path.join(ROOT, "hw", "vtpu", "abi", "vtpu-regs.h")
if not os.path.exists(HEADER):  # before the ABI folder existed
    HEADER = os.path.join(ROOT, "hw", "vtpu", "vtpu-regs.h")


def _num(text):
    text = text.strip().rstrip("u").rstrip("U")
    return int(text, 0)


def _parse(path):
    src = open(path).read()
    reg = {name: _num(off) for name, off in
           re.findall(r"VTPU_REG\((\w+),\s*(0x[0-9a-fA-F]+)\)", src)}
    field = {(r, f): (int(sh), int(ln)) for r, f, sh, ln in
             re.findall(r"VTPU_FIELD\((\w+),\s*(\w+),\s*(\d+),\s*(\d+)\)",
                        src)}
    const = {}
    for name, val in re.findall(
            r"^\s*(VTPU_\w+)\s*=\s*(0x[0-9a-fA-F]+u?|\d+u?)\s*,", src, re.M):
        const[name] = _num(val)
    for name, val in re.findall(
            r"^#define\s+(VTPU_\w+)\s+\(?(0x[0-9a-fA-F]+u?|\d+u?)\)?",
            src, re.M):
        const[name] = _num(val)

    def table(macro, has_desc):
        m = re.search(r"#define %s\(X\)(.*?)\n\n" % macro, src, re.S)
        if not m:
            raise RuntimeError("%s: no %s table" % (path, macro))
        pat = (r"X\((\w+),\s*(0x[0-9a-fA-F]+|\d+),\s*\"" if has_desc
               else r"X\((\w+),\s*(0x[0-9a-fA-F]+|\d+)\)")
        return {n: _num(v) for n, v in re.findall(pat, m.group(1))}

    op = table("VTPU_OPCODES", False)
    err = table("VTPU_ERRORS", True)
    faults = os.path.join(os.path.dirname(path), "vtpu-faults.h")
    src = open(faults).read()
    fault = table("VTPU_FAULTS", True)
    for must in ("ID", "CONTROL", "STATUS", "RING_TAIL", "ERR_MSG"):
        if must not in reg:
            raise RuntimeError("%s: register %s not found" % (path, must))
    if len(op) < 8 or len(err) < 16:
        raise RuntimeError("%s: opcode/error tables not understood" % path)
    if len(fault) < 16:
        raise RuntimeError("%s: fault table not understood" % faults)
    return reg, field, const, op, err, fault


REG, FIELD, CONST, OP, ERR, FAULT = _parse(HEADER)


def fmask(reg, field):
    shift, length = FIELD[reg, field]
    return ((1 << length) - 1) << shift
