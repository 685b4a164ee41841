/*
 * host_platform.h - the driver's platform on the host: a vtpu chip and its
 * host interface (hw/vtpu/include/dev.h) linked into the process.
 *
 * "Host memory" as the device sees it is an arena of this process: bus
 * addresses run from VTPU_HOST_BUS_BASE (above 4 GiB, so the HI halves of
 * address registers are exercised) to the end of the arena, and the
 * device's DMA callbacks bounds-check every access against it, so a bad
 * bus address in a command is a DMA fault as on a real bus, never a stray
 * pointer.  The arena is reserved lazily: untouched pages cost nothing.
 *
 * Host-only code: GLib is fine here.
 */
#ifndef VTPU_HOST_PLATFORM_H
#define VTPU_HOST_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dev.h"
#include "vtpu.h"
#include "vtpu_platform.h"

#define VTPU_HOST_BUS_BASE 0x100000000ull

typedef struct vtpu_host vtpu_host;

typedef struct vtpu_host_opts {
    uint64_t arena_size;    /* bytes of DMA-able memory; 0 = 256 MiB */
    bool synchronous;       /* the device executes inside the doorbell */
    uint64_t aperture_size; /* BAR2 bytes; 0 = the device's default */
    /*
     * Back HBM with 2 MiB pages where the host kernel has transparent huge
     * pages (MADV_HUGEPAGE): one page fault per 2 MiB touched instead of
     * 512.  Page faults are what a one-launch process like vtpu-run spends
     * most of its time on (docs/vtpu-run.md, "Where the time goes"); the
     * price is that touching one byte commits 2 MiB.  HBM is then the
     * platform's mapping (vtpu_chip_new_ext), unmapped by vtpu_host_free.
     * The DMA arena (the runtime's staging buffer) gets the same advice.
     */
    bool hbm_hugepages;
} vtpu_host_opts;

/*
 * Create a chip from `cfg`, its host interface and the platform around
 * them.  `opts` may be NULL.  Returns NULL with a message in `err`.
 */
vtpu_host *vtpu_host_new(const vtpu_config *cfg, const vtpu_host_opts *opts,
                         char *err, size_t errlen);
void vtpu_host_free(vtpu_host *h);

/* The platform to hand to vtpu_drv_probe(); valid until vtpu_host_free. */
const vtpu_platform *vtpu_host_platform(vtpu_host *h);
vtpu_chip *vtpu_host_chip(vtpu_host *h);
vtpu_dev *vtpu_host_dev(vtpu_host *h);

/* CPU pointer to [bus, bus+len) of the arena, or NULL if outside it. */
void *vtpu_host_bus_to_cpu(vtpu_host *h, uint64_t bus, uint64_t len);

/* Rising edges of the interrupt line so far. */
unsigned vtpu_host_irq_count(vtpu_host *h);
/* Device log lines of class VTPU_LOG_GUEST_ERROR so far. */
unsigned vtpu_host_guest_errors(vtpu_host *h);

#endif /* VTPU_HOST_PLATFORM_H */
