/*
 * vtpu_platform.h - what the vtpu driver needs from the system it runs on.
 *
 * The driver (vtpu_drv.c) is portable C over these hooks, in the manner of
 * Arm's Ethos-U driver: the register/protocol layer never touches a bus,
 * an allocator or a clock itself.  Two platforms implement them: the
 * bare-metal riscv64 guest under QEMU (guest/) and the host, with the
 * device model linked in-process (host_platform.c).
 *
 * Every hook is called from the thread that called the driver; the driver
 * is not thread-safe (its caller serialises).  Freestanding: this header
 * needs only <stddef.h> and <stdint.h>.
 */
#ifndef VTPU_PLATFORM_H
#define VTPU_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

typedef struct vtpu_platform {
    void *ctx; /* passed to every hook */

    /*
     * 32-bit MMIO access to BAR `bar` (VTPU_BAR_REGS or VTPU_BAR_APERTURE)
     * at byte offset `off`.  Ordering, as Linux's readl/writel: write32 is
     * ordered after every earlier store to DMA memory (so a doorbell write
     * publishes the ring entries written before it), and read32 is
     * ordered before every later load from DMA memory.  Required.
     */
    uint32_t (*read32)(void *ctx, unsigned bar, uint32_t off);
    void (*write32)(void *ctx, unsigned bar, uint32_t off, uint32_t val);

    /*
     * Memory the device can reach by DMA (cache-coherent), at least
     * `size` bytes aligned to `align` (a power of two) both in the CPU
     * view and in the bus address stored in *bus.  Returns NULL when out
     * of such memory.  Required.
     */
    void *(*dma_alloc)(void *ctx, size_t size, size_t align, uint64_t *bus);
    /* Free what dma_alloc returned (`size` as allocated).  Required. */
    void (*dma_free)(void *ctx, void *cpu, size_t size);

    /*
     * Wait until the device's interrupt line is asserted or `timeout_ns`
     * passed.  Returns 1 if the line is asserted (possibly already on
     * entry: the line is level-triggered and stays up until the driver
     * clears INT_STATUS), 0 on timeout.  Optional: NULL makes the driver
     * poll the registers.
     */
    int (*irq_wait)(void *ctx, uint64_t timeout_ns);

    /* Monotonic time in nanoseconds, for timeouts.  Required. */
    uint64_t (*now_ns)(void *ctx);

    /* One line of diagnostics (no newline).  Optional. */
    void (*log)(void *ctx, const char *msg);
} vtpu_platform;

#endif /* VTPU_PLATFORM_H */
