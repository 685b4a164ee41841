/*
 * gdbstub.h - a GDB remote serial protocol server for a chip's TensorCores
 * (docs/debugging.md, "Debugging kernels").
 *
 * One stub serves one chip on one TCP port: each TC of a run is a thread
 * (thread id = TC index + 1), all-stop across TCs, RV32IMF registers plus
 * the vector registers and masks through a target description, memory
 * through the debugger address map below, breakpoints, single-step,
 * continue, Ctrl-C, kill and detach.  Faults and ebreak stop in the
 * debugger instead of ending the run while a debugger is attached.
 *
 * Debugger address map (32-bit, what gdb's `x`, `p` and `set` reach; the
 * memories are those of the selected thread's TC):
 *
 *   0x0010_0000  IMEM   the loaded program's code (read-only)
 *   0x1000_0000  SMEM   read/write
 *   0x2000_0000  VMEM   read/write
 *   0x4000_0000  HBM    read/write: 3 GiB window onto HBM starting at
 *                       HBM offset `hbm-base` (0; `monitor hbm-base OFF`)
 *
 * Costs nothing while no debugger is attached: breakpoints and steps are
 * traps patched into a private copy of the pre-decoded program of each TC,
 * pauses ride on the chip's stop flag (seen on taken branches).
 *
 * Threads: the server runs on a thread of its own; the engine's TC threads
 * call into the stub (internal.h hooks).  None of these functions may be
 * called while a run of the chip is in progress, except where noted.
 */
#ifndef VTPU_GDBSTUB_H
#define VTPU_GDBSTUB_H

#include <stdbool.h>
#include <stddef.h>

#include "vtpu.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vtpu_gdb vtpu_gdb;

enum {
    /* Every run starts with its TCs stopped at the entry while a debugger
     * is connected (else only while the debugger has the chip stopped). */
    VTPU_GDB_STOP_AT_START = 1,
    /* The embedder runs once: the end of a run is reported to gdb as the
     * end of the process (W/X packet).  Without it (the QEMU device) the
     * stub waits for the next run. */
    VTPU_GDB_ONE_RUN = 2,
};

/*
 * Start serving `chip` on TCP `where`: "PORT", ":PORT", "tcp::PORT",
 * "HOST:PORT" or "tcp:HOST:PORT" (HOST defaults to 127.0.0.1; PORT 0
 * picks a free port, see vtpu_gdb_port()).  `flags`: VTPU_GDB_*.
 * Returns NULL with a message in err if the address is bad or the port
 * cannot be bound.  At most one stub per chip.
 */
vtpu_gdb *vtpu_gdb_start(vtpu_chip *chip, const char *where, unsigned flags,
                         char *err, size_t errlen);

/* The TCP port served. */
int vtpu_gdb_port(const vtpu_gdb *g);

/*
 * Wait until a debugger has connected: 0, or -1 after `timeout_ms`
 * milliseconds (negative: forever).
 */
int vtpu_gdb_wait_attach(vtpu_gdb *g, int timeout_ms);

/* True if the debugger killed the last run (its result is then partial). */
bool vtpu_gdb_killed(const vtpu_gdb *g);

/*
 * Stop serving: with VTPU_GDB_ONE_RUN first waits (a few seconds at most)
 * for the debugger to hang up after the end of the run was reported, then
 * closes the connection and frees the stub.  NULL is ignored.
 */
void vtpu_gdb_free(vtpu_gdb *g);

#ifdef __cplusplus
}
#endif

#endif /* VTPU_GDBSTUB_H */
