/*
 * vtpu-faults.h - the error taxonomy of the chip, one table for the
 * engine (vtpu.h's vtpu_error_kind), the register interface (ERR_KIND,
 * vtpu-regs.h) and the drivers that print it.  Freestanding C: only
 * <stdint.h>.
 */
#ifndef VTPU_FAULTS_H
#define VTPU_FAULTS_H

#include <stdint.h>

/* clang-format off */
/*
 * ERR_KIND for VTPU_E_FAULT: the engine's error taxonomy, one table:
 * X(NAME, value, description).  vtpu.h's vtpu_error_kind (VTPU_ERR_*) is
 * made from it too.
 */
#define VTPU_FAULTS(X)                                                       \
    X(NONE, 0, "no error")                                                   \
    X(ILLEGAL_INSN, 1, "illegal instruction")                                \
    X(MISALIGNED, 2, "misaligned access")                                    \
    X(OOB, 3, "out-of-bounds access")                                        \
    X(SCALAR_VMEM, 4, "scalar access to VMEM")                               \
    X(DMA, 5, "bad DMA")                                                     \
    X(MXU, 6, "MXU misuse")                                                  \
    X(SEM, 7, "bad semaphore operation")                                     \
    X(SEM_NONZERO, 8, "semaphore non-zero at exit")                          \
    X(DEADLOCK, 9, "deadlock")                                               \
    X(WATCHDOG, 10, "watchdog: instruction budget exhausted")                \
    X(EBREAK, 11, "breakpoint (ebreak) with no debugger attached")           \
    X(ECALL, 12, "bad ecall")                                                \
    X(NO_PROGRAM, 13, "no program loaded")                                   \
    X(RACE, 14, "data race")          /* device property race=on */          \
    X(UNINIT, 15, "uninitialised read") /* poison=on */                    \
    X(BOUNDS, 16, "access leaves its buffer") /* bounds=on */

enum {
#define VTPU_FAULT_ENUM_(name, v, desc) VTPU_FAULT_##name = (v),
    VTPU_FAULTS(VTPU_FAULT_ENUM_)
#undef VTPU_FAULT_ENUM_
    VTPU_FAULT__COUNT = 17
};

static inline const char *vtpu_fault_name(uint32_t kind)
{
    switch (kind) {
#define VTPU_FAULT_CASE_(name, v, desc) case (v): return desc;
    VTPU_FAULTS(VTPU_FAULT_CASE_)
#undef VTPU_FAULT_CASE_
    }
    return "unknown fault";
}
/* clang-format on */

#endif /* VTPU_FAULTS_H */
