/*
 * vtpu-pci.c - the vtpu chip as a QEMU PCI device ("-device vtpu").
 *
 * The glue between QEMU and the engine's host interface (hw/vtpu/include/dev.h):
 *   BAR0   registers: every access goes to vtpu_dev_reg_read/write.
 *   BAR2   HBM aperture (64-bit, prefetchable): a RAM alias straight onto
 *          the engine's HBM at APERTURE_BASE, so guest loads and stores
 *          run at memory speed; the part of the window past the end of
 *          HBM falls through to an I/O region that logs and reads 0.
 *   BAR4   MSI-X table and PBA (one vector).
 *   DMA    the engine's worker thread copies through pci_dma_rw(), only
 *          with bus mastering enabled and only to RAM (never to MMIO: that
 *          would take the BQL from the worker and can deadlock unrealize).
 *   IRQ    the engine reports level changes from its worker thread; a
 *          bottom half applies them under the BQL (INTx level, or one
 *          MSI-X message per rising edge).
 *   OUTPUT what kernels print goes into the engine's bounded buffer (TC
 *          threads never wait) and a bottom half moves it to the
 *          chardev= backend without blocking, waiting for G_IO_OUT when
 *          the backend is full; no chardev: counted and dropped.
 *   HBM    the engine's own lazily backed mapping of hbm-size bytes, or
 *          a QEMU memory backend (memdev=).  A system reset scrubs it.
 *   MIGRATION  HBM is RAM to QEMU's migration (registered with
 *          vmstate_register_ram); everything else - registers, the
 *          launch in progress, programs, every TC's registers, units,
 *          semaphores, SMEM and VMEM - is the engine's own stream
 *          (vtpu_dev_save/load) inside this device's section.  When the
 *          VM stops, the device pauses: no command starts, a running
 *          launch's TCs stop at an instruction boundary; when it runs,
 *          the device goes on (a loaded launch continues mid-run).
 *   SLICE  ici=<vtpu-ici object>,chip=N: the chip is chip N of that
 *          object's fabric from realize to unrealize (vtpu-ici.c).
 * docs/qemu.md describes the properties and how QEMU is built with this.
 */
#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/main-loop.h"
#include "qemu/module.h"
#include "qemu/rcu.h"
#include "qemu/units.h"
#include "qapi/error.h"
#include "chardev/char-fe.h"
#include "exec/cpu-common.h"
#include "exec/memory.h"
#include "hw/pci/pci.h"
#include "hw/pci/msix.h"
#include "hw/qdev-properties.h"
#include "hw/qdev-properties-system.h"
#include "migration/qemu-file-types.h"
#include "migration/blocker.h"
#include "migration/vmstate.h"
#include "qemu/error-report.h"
#include "sysemu/runstate.h"
#include "monitor/monitor.h"
#include "sysemu/dma.h"
#include "sysemu/hostmem.h"
#include "trace.h"

#include "dev.h"
#include "gdbstub.h"
#include "vtpu.h"
#include "vtpu-debug.h"
#include "vtpu-ici.h"

#define TYPE_VTPU_PCI "vtpu"
OBJECT_DECLARE_SIMPLE_TYPE(VTPUPCIState, VTPU_PCI)

#define VTPU_BAR_MSIX 4
#define VTPU_MSIX_VECTORS 1
/*
 * HBM when neither hbm-size nor memdev says otherwise: what a guest can
 * make QEMU commit must be what the user granted, and the generations'
 * HBM (95 GiB for v5p) exceeds many hosts.  docs/qemu.md.
 */
#define VTPU_DEFAULT_HBM (4 * GiB)
#define VTPU_OUTPUT_BUFFER (64 * KiB)
/* How long stopping the VM waits for a running launch's TCs to reach an
 * instruction boundary (they poll every 16K instructions; only a TC held
 * by the debugger takes longer). */
#define VTPU_PAUSE_TIMEOUT_MS 10000
#define VTPU_NO_CHIP UINT32_MAX /* chip= not given */

/* The engine's configuration keys are string properties of the same
 * name, cfg[VTPU_CFG_*] (VTPU_CONFIG_KEYS in vtpu.h: one table). */
#define VTPU_NCFG VTPU_CFG__COUNT

struct VTPUPCIState {
    PCIDevice parent_obj;

    /* properties */
    char *gen;
    char *cfg[VTPU_NCFG]; /* NULL = the generation preset's value */
    uint64_t aperture_size;
    bool use_msix;
    bool irq_direct;       /* deliver on the worker when the BQL is free */
    uint32_t worker_spin;  /* us the worker polls for the next doorbell */
    char *gdb;             /* "[tcp:][HOST:]PORT": serve gdb for the TCs */
    bool gdb_launch_break; /* every launch starts stopped for gdb */
    char *dma_order;       /* eager | on-wait | random[:SEED] */
    char *trace_file;      /* timeline trace (Chrome JSON) */
    bool tag_output;       /* "[TC n (i,j)] " before kernel output */
    CharBackend chr;       /* chardev=: kernel output */
    uint64_t output_rate;  /* bytes/s into the output buffer */
    HostMemoryBackend *hostmem; /* memdev=: HBM */
    bool reset_scrub;      /* system reset zeroes HBM (memdev too) */
    VTPUICIState *ici;     /* ici=: the slice's fabric */
    uint32_t chip_index;   /* chip=: our index in it */
    bool in_slice;         /* attached to ici */
    Error *migration_blocker; /* while in_slice */

    vtpu_chip *chip;
    vtpu_dev *dev;
    vtpu_gdb *gdbstub;     /* docs/debugging.md, "Debugging kernels" */
    uint64_t hbm_size;

    MemoryRegion regs;     /* BAR0 */
    MemoryRegion bar2;     /* BAR2 container */
    MemoryRegion hbm;      /* all of HBM as RAM; only mapped via window */
    MemoryRegion window;   /* alias of hbm at APERTURE_BASE, in bar2 */
    MemoryRegion hole;     /* bar2 past the end of HBM */
    uint64_t window_base;

    QEMUBH *irq_bh;
    int irq_raises;        /* rising edges since the BH last ran (atomic) */
    uint64_t irq_sent;     /* deliveries that carried a raise (BQL) */
    uint64_t irq_deferred; /* set_irq calls left to irq_bh: BQL busy */
    bool delivering;       /* in vtpu_irq_deliver() (BQL held) */
    QEMUBH *out_bh;        /* drains kernel output into chr */
    guint out_watch;       /* waiting for chr to take more */
    VMChangeStateEntry *vm_state; /* pause/resume with the VM */
    bool hbm_registered;   /* HBM is migrated as RAM */
};

/* ------------------------------------------------------------------ */
/* Engine callbacks (any thread)                                        */
/* ------------------------------------------------------------------ */

/* True if [addr, addr+len) is RAM in the device's bus-master view. */
static bool vtpu_dma_is_ram(PCIDevice *pdev, uint64_t addr, uint64_t len,
                            bool is_write)
{
    AddressSpace *as = pci_get_address_space(pdev);

    if (addr + len < addr) {
        return false;
    }
    RCU_READ_LOCK_GUARD();
    while (len) {
        hwaddr xlat, l = len;
        MemoryRegion *mr = address_space_translate(as, addr, &xlat, &l,
                                                   is_write,
                                                   MEMTXATTRS_UNSPECIFIED);
        if (l == 0 || !memory_access_is_direct(mr, is_write)) {
            return false;
        }
        addr += l;
        len -= l;
    }
    return true;
}

static int vtpu_dma(VTPUPCIState *s, uint64_t addr, void *buf, size_t len,
                    DMADirection dir)
{
    PCIDevice *pdev = PCI_DEVICE(s);
    bool is_write = dir == DMA_DIRECTION_FROM_DEVICE;
    MemTxResult res;

    if (!(pci_get_word(pdev->config + PCI_COMMAND) & PCI_COMMAND_MASTER)) {
        trace_vtpu_ub_dma_no_bus_master(is_write, addr, len);
        qemu_log_mask(LOG_GUEST_ERROR,
                      "vtpu: DMA at 0x%" PRIx64 " with bus mastering off\n",
                      addr);
        return -1;
    }
    if (!vtpu_dma_is_ram(pdev, addr, len, is_write)) {
        trace_vtpu_err_dma(is_write, addr, len, MEMTX_DECODE_ERROR);
        qemu_log_mask(LOG_GUEST_ERROR,
                      "vtpu: DMA %s 0x%" PRIx64 "+0x%zx: not RAM\n",
                      is_write ? "to" : "from", addr, len);
        return -1;
    }
    if (is_write) {
        trace_vtpu_dma_write(addr, len);
    } else {
        trace_vtpu_dma_read(addr, len);
    }
    res = pci_dma_rw(pdev, addr, buf, len, dir, MEMTXATTRS_UNSPECIFIED);
    if (res != MEMTX_OK) {
        trace_vtpu_err_dma(is_write, addr, len, res);
        return -1;
    }
    return 0;
}

static int vtpu_dma_read_cb(void *opaque, uint64_t addr, void *buf,
                            size_t len)
{
    return vtpu_dma(opaque, addr, buf, len, DMA_DIRECTION_TO_DEVICE);
}

static int vtpu_dma_write_cb(void *opaque, uint64_t addr, const void *buf,
                             size_t len)
{
    return vtpu_dma(opaque, addr, (void *)buf, len,
                    DMA_DIRECTION_FROM_DEVICE);
}

/* Added to QEMU 7.2's softmmu/cpus.c by hw/qemu/build-qemu.sh
 * (patch_bql_trylock): the BQL if it is free, else false at once. */
bool qemu_mutex_trylock_iothread(void);

static void vtpu_irq_deliver(VTPUPCIState *s);

/*
 * Never waits for the BQL (an MMIO caller may hold it while it waits for
 * the device, dev.h).  An MMIO caller already holds it: deliver here.
 * The worker takes it if it is free and delivers at once: one thread
 * less between the completion and the vCPU (docs/qemu.md, "Interrupt
 * delivery").  Only when it is busy does the main loop's bottom half
 * deliver.  Calls are serialised by the device, so deliveries stay in
 * order; a bottom half that runs after a direct delivery finds nothing
 * new (no raise counted, the level already set).
 */
static void vtpu_set_irq_cb(void *opaque, int level)
{
    VTPUPCIState *s = opaque;

    if (level) {
        qatomic_inc(&s->irq_raises);
    }
    if (qemu_mutex_iothread_locked()) {
        vtpu_irq_deliver(s);
    } else if (s->irq_direct && qemu_mutex_trylock_iothread()) {
        vtpu_irq_deliver(s);
        qemu_mutex_unlock_iothread();
    } else {
        qatomic_inc(&s->irq_deferred);
        trace_vtpu_irq_deferred();
        qemu_bh_schedule(s->irq_bh);
    }
}

static void vtpu_log_cb(void *opaque, vtpu_log_class cls, const char *msg)
{
    switch (cls) {
    case VTPU_LOG_TRACE:
        trace_vtpu_event(msg);
        break;
    case VTPU_LOG_CMD_ERROR:
        trace_vtpu_err_cmd(msg);
        break;
    case VTPU_LOG_GUEST_ERROR:
    default:
        trace_vtpu_ub_reg(msg);
        qemu_log_mask(LOG_GUEST_ERROR, "vtpu: %s\n", msg);
        break;
    }
}

/*
 * The engine's command worker calls pci_dma_rw() without the BQL; the
 * memory API reads the flat view under RCU, and synchronize_rcu() only
 * waits for registered readers, so the worker registers itself.
 */
static void vtpu_thread_begin_cb(void *opaque)
{
    rcu_register_thread();
}

static void vtpu_thread_end_cb(void *opaque)
{
    rcu_unregister_thread();
}

/* A TC printed into an empty buffer: come and drain (any thread). */
static void vtpu_output_ready_cb(void *opaque)
{
    VTPUPCIState *s = opaque;

    qemu_bh_schedule(s->out_bh);
}

static gboolean vtpu_out_writable(void *do_not_use, GIOCondition cond,
                                  void *opaque)
{
    VTPUPCIState *s = opaque;

    s->out_watch = 0;
    qemu_bh_schedule(s->out_bh);
    return G_SOURCE_REMOVE;
}

/* Under the BQL: move what the TCs printed to the chardev, never waiting. */
static void vtpu_out_bh(void *opaque)
{
    VTPUPCIState *s = opaque;
    const uint8_t *p;
    size_t n;

    if (!s->dev || s->out_watch) {
        return;
    }
    while ((n = vtpu_dev_output_peek(s->dev, &p)) > 0) {
        int w = qemu_chr_fe_write(&s->chr, p, (int)MIN(n, 4 * KiB));
        if (w > 0) {
            vtpu_dev_output_consume(s->dev, w);
        }
        if (w < (int)MIN(n, 4 * KiB)) {
            /* Full (or an error): come back when it takes more. */
            s->out_watch = qemu_chr_fe_add_watch(&s->chr, G_IO_OUT | G_IO_HUP,
                                                 vtpu_out_writable, s);
            if (!s->out_watch && w <= 0) {
                /* No watch possible: drop rather than spin. */
                vtpu_dev_output_consume(s->dev, n);
            }
            return;
        }
    }
}

/* No more output: the BH and the chardev watch go (BQL held). */
static void vtpu_out_stop(VTPUPCIState *s)
{
    if (s->out_watch) {
        g_source_remove(s->out_watch);
        s->out_watch = 0;
    }
    if (s->out_bh) {
        qemu_bh_delete(s->out_bh);
        s->out_bh = NULL;
    }
}

static const vtpu_dev_ops vtpu_ops = {
    .dma_read = vtpu_dma_read_cb,
    .dma_write = vtpu_dma_write_cb,
    .set_irq = vtpu_set_irq_cb,
    .log = vtpu_log_cb,
    .thread_begin = vtpu_thread_begin_cb,
    .thread_end = vtpu_thread_end_cb,
    .output_ready = vtpu_output_ready_cb,
};

/* Under the BQL: set INTx / send MSI-X for what the device reported. */
static void vtpu_irq_deliver_locked(VTPUPCIState *s);

/*
 * The MSI-X message is a memory write the guest aims: at the device's own
 * BAR0 it would re-enter the device from inside set_irq (whose caller
 * holds the device's irq_lock: a deadlock).  `delivering` makes
 * vtpu_regs_read/write refuse that access.
 */
static void vtpu_irq_deliver(VTPUPCIState *s)
{
    s->delivering = true;
    vtpu_irq_deliver_locked(s);
    s->delivering = false;
}

static void vtpu_irq_deliver_locked(VTPUPCIState *s)
{
    PCIDevice *pdev = PCI_DEVICE(s);
    int raises = qatomic_xchg(&s->irq_raises, 0);
    int level;

    if (!s->dev) {
        return;
    }
    if (raises) {
        s->irq_sent++;
    }
    level = vtpu_dev_irq_level(s->dev);
    if (msix_enabled(pdev)) {
        pci_set_irq(pdev, 0);
        if (raises || level) {
            /* level && !raises: a raise coalesced with an earlier BH run
             * already notified; MSI-X is edge-like, notify only on news. */
            if (raises) {
                trace_vtpu_irq(level, 1);
                msix_notify(pdev, 0);
                vtpu_dev_irq_delivered(s->dev);
            }
        }
    } else {
        trace_vtpu_irq(level, 0);
        /*
         * A fall and the next rise can both happen before this BH runs;
         * the line would then look unchanged, and an edge-latching
         * interrupt controller (QEMU 7.2's PLIC) would miss the new
         * interrupt.  Pulse the line low so every raise is an edge.
         */
        if (raises && level) {
            pci_set_irq(pdev, 0);
        }
        pci_set_irq(pdev, level);
        if (raises && level) {
            vtpu_dev_irq_delivered(s->dev);
        }
    }
}

static void vtpu_irq_bh(void *opaque)
{
    vtpu_irq_deliver(opaque);
}

/* ------------------------------------------------------------------ */
/* BAR0 and BAR2                                                        */
/* ------------------------------------------------------------------ */

/*
 * Point the RAM window of BAR2 at APERTURE_BASE.  Called after every
 * BAR0 access and after reset, which are the only ways the base changes
 * (a soft reset completes on the worker; the next register access -
 * a driver polls STATUS after a reset - brings the window along).
 */
static void vtpu_sync_window(VTPUPCIState *s)
{
    uint64_t base = vtpu_dev_aperture_base(s->dev);
    uint64_t len;

    if (base == s->window_base) {
        return;
    }
    trace_vtpu_aperture_base(base);
    s->window_base = base;
    len = base < s->hbm_size ? MIN(s->aperture_size, s->hbm_size - base) : 0;
    memory_region_transaction_begin();
    if (len) {
        memory_region_set_alias_offset(&s->window, base);
        memory_region_set_size(&s->window, len);
    }
    memory_region_set_enabled(&s->window, len != 0);
    memory_region_transaction_commit();
}

/* A register access made by the device's own interrupt message. */
static bool vtpu_regs_reentered(VTPUPCIState *s, hwaddr off)
{
    if (!s->delivering) {
        return false;
    }
    trace_vtpu_ub_reg("MSI-X message addressed to the device's own registers");
    qemu_log_mask(LOG_GUEST_ERROR, "vtpu: the MSI-X message targets the "
                  "device's own BAR0 (offset 0x%" HWADDR_PRIx "): dropped\n",
                  off);
    return true;
}

static uint64_t vtpu_regs_read(void *opaque, hwaddr off, unsigned size)
{
    VTPUPCIState *s = opaque;
    uint64_t val;

    if (!s->dev || vtpu_regs_reentered(s, off)) {
        return 0;
    }
    val = vtpu_dev_reg_read(s->dev, off, size);
    trace_vtpu_mmio_read(off, size, val);
    vtpu_sync_window(s);
    return val;
}

static void vtpu_regs_write(void *opaque, hwaddr off, uint64_t val,
                            unsigned size)
{
    VTPUPCIState *s = opaque;

    if (!s->dev || vtpu_regs_reentered(s, off)) {
        return;
    }
    trace_vtpu_mmio_write(off, size, val);
    vtpu_dev_reg_write(s->dev, off, val, size);
    vtpu_sync_window(s);
}

/* Every size and alignment reaches the engine, which logs what it refuses. */
static const MemoryRegionOps vtpu_regs_ops = {
    .read = vtpu_regs_read,
    .write = vtpu_regs_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = { .min_access_size = 1, .max_access_size = 8, .unaligned = true },
    .impl = { .min_access_size = 1, .max_access_size = 8, .unaligned = true },
};

static uint64_t vtpu_hole_read(void *opaque, hwaddr off, unsigned size)
{
    VTPUPCIState *s = opaque;

    return s->dev ? vtpu_dev_aperture_read(s->dev, off, size) : 0;
}

static void vtpu_hole_write(void *opaque, hwaddr off, uint64_t val,
                            unsigned size)
{
    VTPUPCIState *s = opaque;

    if (s->dev) {
        vtpu_dev_aperture_write(s->dev, off, val, size);
    }
}

static const MemoryRegionOps vtpu_hole_ops = {
    .read = vtpu_hole_read,
    .write = vtpu_hole_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = { .min_access_size = 1, .max_access_size = 8 },
    .impl = { .min_access_size = 1, .max_access_size = 8 },
};

/* ------------------------------------------------------------------ */
/* Life cycle                                                           */
/* ------------------------------------------------------------------ */

static bool vtpu_make_chip(VTPUPCIState *s, Error **errp)
{
    char err[256];
    vtpu_config cfg;
    void *hbm = NULL;

    if (vtpu_config_preset(&cfg, s->gen, err, sizeof(err))) {
        error_setg(errp, "vtpu: property 'gen': %s", err);
        return false;
    }
    for (unsigned i = 0; i < VTPU_NCFG; i++) {
        const char *key = vtpu_config_help(i, NULL);
        if (s->cfg[i] &&
            vtpu_config_set(&cfg, key, s->cfg[i], err, sizeof(err))) {
            error_setg(errp, "vtpu: property '%s': %s", key, err);
            return false;
        }
    }
    if (s->hostmem) {
        MemoryRegion *mr = host_memory_backend_get_memory(s->hostmem);
        uint64_t size = memory_region_size(mr);

        if (host_memory_backend_is_mapped(s->hostmem)) {
            error_setg(errp, "vtpu: property 'memdev': memory backend '%s' "
                       "is already in use",
                       object_get_canonical_path_component(OBJECT(s->hostmem)));
            return false;
        }
        if (s->cfg[VTPU_CFG_HBM_SIZE] && cfg.hbm_size != size) {
            error_setg(errp, "vtpu: property 'hbm-size' (0x%" PRIx64 ") "
                       "differs from the size of memdev (0x%" PRIx64 "); "
                       "leave hbm-size out with memdev", cfg.hbm_size, size);
            return false;
        }
        cfg.hbm_size = size;
        hbm = memory_region_get_ram_ptr(mr);
    } else if (!s->cfg[VTPU_CFG_HBM_SIZE] && cfg.hbm_size > VTPU_DEFAULT_HBM) {
        /* Only what the user grants: docs/qemu.md, "Host memory". */
        cfg.hbm_size = VTPU_DEFAULT_HBM;
    }
    if (vtpu_config_validate(&cfg, err, sizeof(err))) {
        error_setg(errp, "vtpu: bad configuration: %s", err);
        return false;
    }
    if (cfg.hbm_size % qemu_real_host_page_size()) {
        error_setg(errp, "vtpu: %s: 0x%" PRIx64
                   " is not a multiple of the host page size",
                   s->hostmem ? "memdev size" : "property 'hbm-size'",
                   cfg.hbm_size);
        return false;
    }
    s->chip = vtpu_chip_new_ext(&cfg, hbm, err, sizeof(err));
    if (!s->chip) {
        error_setg(errp, "vtpu: cannot create the chip: %s", err);
        return false;
    }
    s->hbm_size = cfg.hbm_size;
    if (s->hostmem) {
        host_memory_backend_set_mapped(s->hostmem, true);
    }
    return true;
}

/* The MemoryRegion holding HBM: the memdev's, or ours over the engine's. */
static MemoryRegion *vtpu_hbm_mr(VTPUPCIState *s)
{
    return s->hostmem ? host_memory_backend_get_memory(s->hostmem) : &s->hbm;
}

/*
 * System reset: nothing of the previous guest survives in the device.
 * Pages are dropped, not written (fast for any size, and the host gets
 * the memory back); for a memdev, QEMU's discard does the same for
 * anonymous, shared and file memory, and zeroing is the fallback.
 */
static void vtpu_scrub(VTPUPCIState *s)
{
    vtpu_chip_scrub(s->chip);
    if (s->hostmem && s->reset_scrub) {
        MemoryRegion *mr = vtpu_hbm_mr(s);
        if (ram_block_discard_range(mr->ram_block, 0, s->hbm_size)) {
            memset(memory_region_get_ram_ptr(mr), 0, s->hbm_size);
        }
        memory_region_set_dirty(mr, 0, s->hbm_size); /* for migration */
    }
}

/*
 * The window and the hole are subregions of bar2, all owned by the
 * device: each subregion holds a reference to the owner, so as long as
 * they stay in bar2 the device can never be finalized (the chip and its
 * HBM would leak on hot-unplug and DEVICE_DELETED would never come).
 * Take them out when the device goes; flat views still using them keep
 * their own references until RCU frees them.
 */
static void vtpu_unmap_bar2(VTPUPCIState *s)
{
    if (s->window.container) {
        memory_region_del_subregion(&s->bar2, &s->window);
    }
    if (s->hole.container) {
        memory_region_del_subregion(&s->bar2, &s->hole);
    }
}

static void vtpu_vm_state_change(void *opaque, bool running, RunState state);
static void vtpu_hbm_written(void *opaque, uint64_t off, uint64_t len);

static void vtpu_unregister_migration(VTPUPCIState *s)
{
    if (s->vm_state) {
        qemu_del_vm_change_state_handler(s->vm_state);
        s->vm_state = NULL;
    }
    if (s->hbm_registered) {
        vmstate_unregister_ram(vtpu_hbm_mr(s), DEVICE(s));
        s->hbm_registered = false;
    }
}

/*
 * ici=, chip=: become chip `chip` of the slice (docs/qemu.md, "Several
 * chips: vtpu-ici").  The fabric checks the index and that every chip
 * is configured alike.
 */
static bool vtpu_join_slice(VTPUPCIState *s, Error **errp)
{
    if (!s->ici) {
        if (s->chip_index != VTPU_NO_CHIP) {
            error_setg(errp, "vtpu: property 'chip' (%u) needs ici=<id of a "
                       "vtpu-ici object>", s->chip_index);
            return false;
        }
        return true; /* a lone chip */
    }
    if (s->chip_index == VTPU_NO_CHIP) {
        error_setg(errp, "vtpu: property 'ici' needs chip=<index of this "
                   "chip in the slice>");
        return false;
    }
    if (!vtpu_ici_attach(s->ici, s->chip_index, s->chip, errp)) {
        return false;
    }
    s->in_slice = true;
    /* The chips' state would have to travel together (docs/qemu.md). */
    error_setg(&s->migration_blocker,
               "a vtpu in a vtpu-ici slice cannot migrate yet");
    if (migrate_add_blocker(s->migration_blocker, errp) < 0) {
        error_free(s->migration_blocker);
        s->migration_blocker = NULL;
        vtpu_ici_detach(s->ici, s->chip_index);
        s->in_slice = false;
        return false;
    }
    return true;
}

/* No run of the chip may be in progress (vtpu_dev_free stopped it). */
static void vtpu_leave_slice(VTPUPCIState *s)
{
    if (s->migration_blocker) {
        migrate_del_blocker(s->migration_blocker);
        error_free(s->migration_blocker);
        s->migration_blocker = NULL;
    }
    if (s->in_slice) {
        vtpu_ici_detach(s->ici, s->chip_index);
        s->in_slice = false;
    }
}

static void vtpu_realize(PCIDevice *pdev, Error **errp)
{
    VTPUPCIState *s = VTPU_PCI(pdev);
    vtpu_dev_opts opts = {
        .aperture_size = s->aperture_size,
        .output_buffer = VTPU_OUTPUT_BUFFER,
        .output_rate = s->output_rate,
        .output_discard = !qemu_chr_fe_backend_connected(&s->chr),
        .spin_ns = MIN(s->worker_spin, VTPU_DEV_SPIN_MAX / 1000) * 1000,
    };
    char err[256];
    uint64_t win;

    if (!vtpu_make_chip(s, errp)) {
        return;
    }
    if (!s->output_rate) {
        error_setg(errp, "vtpu: property 'output-rate' must be > 0");
        return;
    }
    if (!vtpu_join_slice(s, errp)) {
        return;
    }
    s->irq_bh = qemu_bh_new(vtpu_irq_bh, s);
    s->out_bh = qemu_bh_new(vtpu_out_bh, s);
    s->dev = vtpu_dev_new(s->chip, &vtpu_ops, s, &opts, err, sizeof(err));
    if (!s->dev) {
        error_setg(errp, "vtpu: property 'aperture-size': %s", err);
        goto fail;
    }
    if (s->dma_order) { /* debugging aids: vtpu-debug.h */
        vtpu_dma_order order;
        uint64_t seed;
        if (vtpu_dma_order_parse(s->dma_order, &order, &seed, err,
                                 sizeof(err))) {
            error_setg(errp, "vtpu: property 'dma-order': %s", err);
            goto fail;
        }
        vtpu_chip_set_dma_order(s->chip, order, seed);
    }
    if (s->trace_file &&
        vtpu_chip_set_trace(s->chip, s->trace_file, err, sizeof(err))) {
        error_setg(errp, "vtpu: property 'trace-file': %s", err);
        goto fail;
    }
    vtpu_chip_set_output_tags(s->chip, s->tag_output);
    if (s->gdb) {
        s->gdbstub = vtpu_gdb_start(s->chip, s->gdb,
                                    s->gdb_launch_break ?
                                    VTPU_GDB_STOP_AT_START : 0,
                                    err, sizeof(err));
        if (!s->gdbstub) {
            error_setg(errp, "vtpu: property 'gdb': %s", err);
            goto fail;
        }
    }
    trace_vtpu_realize(vtpu_chip_config(s->chip)->gen,
                       vtpu_chip_config(s->chip)->num_tcs, s->hbm_size,
                       s->aperture_size);

    pci_config_set_interrupt_pin(pdev->config, 1);

    memory_region_init_io(&s->regs, OBJECT(s), &vtpu_regs_ops, s, "vtpu-regs",
                          VTPU_BAR0_SIZE);
    pci_register_bar(pdev, VTPU_BAR_REGS, PCI_BASE_ADDRESS_SPACE_MEMORY,
                     &s->regs);

    memory_region_init(&s->bar2, OBJECT(s), "vtpu-aperture", s->aperture_size);
    if (!s->hostmem) {
        memory_region_init_ram_ptr(&s->hbm, OBJECT(s), "vtpu-hbm",
                                   s->hbm_size, vtpu_chip_hbm_ptr(s->chip));
    }
    win = MIN(s->aperture_size, s->hbm_size);
    memory_region_init_alias(&s->window, OBJECT(s), "vtpu-aperture-window",
                             vtpu_hbm_mr(s), 0, win);
    memory_region_init_io(&s->hole, OBJECT(s), &vtpu_hole_ops, s,
                          "vtpu-aperture-hole", s->aperture_size);
    memory_region_add_subregion_overlap(&s->bar2, 0, &s->hole, 0);
    memory_region_add_subregion_overlap(&s->bar2, 0, &s->window, 1);
    s->window_base = 0;
    pci_register_bar(pdev, VTPU_BAR_APERTURE,
                     PCI_BASE_ADDRESS_SPACE_MEMORY |
                     PCI_BASE_ADDRESS_MEM_TYPE_64 |
                     PCI_BASE_ADDRESS_MEM_PREFETCH,
                     &s->bar2);

    /* HBM travels as RAM (the block is named after the device's path,
     * the same on both ends of a migration). */
    vmstate_register_ram(vtpu_hbm_mr(s), DEVICE(s));
    s->hbm_registered = true;
    s->vm_state = qemu_add_vm_change_state_handler(vtpu_vm_state_change, s);

    if (s->use_msix) {
        Error *local = NULL;
        int ret = msix_init_exclusive_bar(pdev, VTPU_MSIX_VECTORS,
                                          VTPU_BAR_MSIX, &local);
        if (ret == -ENOTSUP) {
            /* The machine has no working MSI: INTx only. */
            error_free(local);
        } else if (ret) {
            error_propagate(errp, local);
            goto fail;
        } else {
            msix_vector_use(pdev, 0);
        }
    }
    return;

fail:
    vtpu_unregister_migration(s);
    vtpu_unmap_bar2(s);
    if (s->dev) {
        vtpu_dev_free(s->dev);
        s->dev = NULL;
    }
    vtpu_leave_slice(s);
    vtpu_gdb_free(s->gdbstub);
    s->gdbstub = NULL;
    qemu_bh_delete(s->irq_bh);
    s->irq_bh = NULL;
    vtpu_out_stop(s);
    /* The chip goes in finalize, with the memory regions that map it. */
}

static void vtpu_exit(PCIDevice *pdev)
{
    VTPUPCIState *s = VTPU_PCI(pdev);

    vtpu_unregister_migration(s);
    /* Stops a running launch and joins the worker: no DMA or set_irq
     * after this.  BAR accesses racing with unplug see dev == NULL. */
    if (s->dev) {
        vtpu_dev_free(s->dev);
        s->dev = NULL;
    }
    /* After the worker too: the chip runs no more. */
    vtpu_leave_slice(s);
    /* After the worker: no run can be calling into the stub now. */
    vtpu_gdb_free(s->gdbstub);
    s->gdbstub = NULL;
    if (s->irq_bh) {
        qemu_bh_delete(s->irq_bh);
        s->irq_bh = NULL;
    }
    vtpu_out_stop(s);
    if (msix_present(pdev)) {
        msix_uninit_exclusive_bar(pdev);
    }
    pci_set_irq(pdev, 0);
    /* The BARs are already unregistered (pci_qdev_unrealize). */
    vtpu_unmap_bar2(s);
}

/* HBM is freed only when no flat view can reference BAR2 any more. */
static void vtpu_finalize(Object *obj)
{
    VTPUPCIState *s = VTPU_PCI(obj);

    if (s->chip) {
        vtpu_chip_free(s->chip);
        s->chip = NULL;
        if (s->hostmem) {
            host_memory_backend_set_mapped(s->hostmem, false);
        }
    }
}

static void vtpu_reset(DeviceState *ds)
{
    VTPUPCIState *s = VTPU_PCI(ds);

    trace_vtpu_reset();
    if (s->dev) {
        vtpu_dev_reset(s->dev); /* stops any launch; the ring is off now */
        vtpu_scrub(s);
        /* the scrub dropped HBM's pages behind QEMU's dirty log: tell it
         * now (a migration in progress sends them again), not at the
         * next stop */
        if (s->hbm_registered) {
            vtpu_chip_hbm_dirty_take(s->chip, vtpu_hbm_written, s);
        }
        vtpu_sync_window(s);
    }
}

static Property vtpu_properties[] = {
    DEFINE_PROP_STRING("gen", VTPUPCIState, gen),
    /* cores, hbm-size, ..., race, poison: one string property per key */
#define VTPU_CFG_PROP(id, key, field, type, help) \
    DEFINE_PROP_STRING(key, VTPUPCIState, cfg[VTPU_CFG_##id]),
    VTPU_CONFIG_KEYS(VTPU_CFG_PROP)
#undef VTPU_CFG_PROP
    DEFINE_PROP_SIZE("aperture-size", VTPUPCIState, aperture_size, 16 * MiB),
    DEFINE_PROP_BOOL("msix", VTPUPCIState, use_msix, true),
    DEFINE_PROP_BOOL("x-irq-direct", VTPUPCIState, irq_direct, true),
    DEFINE_PROP_UINT32("x-worker-spin", VTPUPCIState, worker_spin, 0),
    DEFINE_PROP_STRING("gdb", VTPUPCIState, gdb),
    DEFINE_PROP_STRING("dma-order", VTPUPCIState, dma_order),
    DEFINE_PROP_STRING("trace-file", VTPUPCIState, trace_file),
    DEFINE_PROP_BOOL("tag-output", VTPUPCIState, tag_output, false),
    DEFINE_PROP_BOOL("gdb-launch-break", VTPUPCIState, gdb_launch_break,
                     false),
    DEFINE_PROP_CHR("chardev", VTPUPCIState, chr),
    DEFINE_PROP_SIZE("output-rate", VTPUPCIState, output_rate, 1 * MiB),
    DEFINE_PROP_LINK("memdev", VTPUPCIState, hostmem, TYPE_MEMORY_BACKEND,
                     HostMemoryBackend *),
    DEFINE_PROP_BOOL("reset-scrub", VTPUPCIState, reset_scrub, true),
    DEFINE_PROP_LINK("ici", VTPUPCIState, ici, TYPE_VTPU_ICI,
                     VTPUICIState *),
    DEFINE_PROP_UINT32("chip", VTPUPCIState, chip_index, VTPU_NO_CHIP),
    DEFINE_PROP_END_OF_LIST(),
};

/* ------------------------------------------------------------------ */
/* info vtpu (HMP)                                                      */
/* ------------------------------------------------------------------ */

static const char *const vtpu_state_names[] = {
    "DISABLED", "IDLE", "BUSY", "ERROR", "RESETTING",
};

static int vtpu_info_one(Object *obj, void *opaque)
{
    Monitor *mon = opaque;
    VTPUPCIState *s = (VTPUPCIState *)object_dynamic_cast(obj, TYPE_VTPU_PCI);
    const vtpu_config *cfg;
    uint32_t st, err;
    char msg[VTPU_ERR_MSG_MAX];
    g_autofree char *path = NULL;

    if (!s || !s->dev) {
        return 0;
    }
    cfg = vtpu_chip_config(s->chip);
    path = object_get_canonical_path(obj);
    /* Peek, not read: a monitor must not move the counters' HI latch
     * under a driver reading LO then HI, nor log or kick anything. */
#define R(name) ((uint32_t)vtpu_dev_reg_peek(s->dev, VTPU_A_##name, 4))
#define R64(name) vtpu_dev_reg_peek(s->dev, VTPU_A_##name##_LO, 8)
    st = VTPU_FEX(R(STATUS), STATUS, STATE);
    monitor_printf(mon, "%s: gen %s, %u TC(s), HBM 0x%" PRIx64
                   ", BAR2 window at HBM 0x%" PRIx64 "\n", path, cfg->gen,
                   cfg->num_tcs, cfg->hbm_size, R64(APERTURE_BASE));
    if (s->in_slice) {
        char topo[64];
        unsigned n;

        vtpu_ici_describe(s->ici, topo, sizeof(topo), &n);
        monitor_printf(mon, "  slice: chip %u of %u, topology %s "
                       "(vtpu-ici '%s')\n", s->chip_index, n, topo,
                       object_get_canonical_path_component(OBJECT(s->ici)));
    }
    monitor_printf(mon, "  state %s, ring base 0x%" PRIx64 " size %u head %u"
                   " tail %u, fence %u, last exit %d\n",
                   st < ARRAY_SIZE(vtpu_state_names) ? vtpu_state_names[st]
                                                     : "?",
                   R64(RING_BASE), R(RING_SIZE), R(RING_HEAD), R(RING_TAIL),
                   R(FENCE), (int32_t)R(LAST_EXIT));
    monitor_printf(mon, "  interrupts: status 0x%x enable 0x%x line %d\n",
                   R(INT_STATUS), R(INT_ENABLE), vtpu_dev_irq_level(s->dev));
    monitor_printf(mon, "  interrupt delivery: %" PRIu64 " raises, %" PRIu64
                   " of them deferred to the main loop (BQL busy)\n",
                   s->irq_sent, qatomic_read(&s->irq_deferred));
    monitor_printf(mon, "  last round trip (us): wake %.1f, busy %.1f, exec "
                   "%.1f, run %.1f, irq %.1f, deliver %.1f\n",
                   R(LAT_WAKE) / 1e3, R(LAT_BUSY) / 1e3, R(LAT_EXEC) / 1e3,
                   R(LAT_RUN) / 1e3, R(LAT_IRQ) / 1e3, R(LAT_DELIVER) / 1e3);
    monitor_printf(mon, "  counters: %u commands, %u launches, %" PRIu64
                   " bytes in, %" PRIu64 " bytes out\n", R(CMD_COUNT),
                   R(LAUNCH_COUNT), R64(BYTES_IN), R64(BYTES_OUT));
    monitor_printf(mon, "  kernel output: %" PRIu64 " bytes, %" PRIu64
                   " dropped, %s\n", R64(OUT_BYTES), R64(OUT_DROPPED),
                   qemu_chr_fe_backend_connected(&s->chr) ?
                   "to chardev" : "no chardev (dropped)");
    /* State, pc, kernel and grid point from the engine and the TC
     * runtime's mailbox; the counter register sums every launch. */
    for (unsigned t = 0; t < cfg->num_tcs; t++) {
        vtpu_dev_tc_info ti;
        char line[256];

        vtpu_dev_tc_status(s->dev, t, &ti);
        vtpu_dev_tc_info_format(&ti, line, sizeof(line));
        monitor_printf(mon, "  TC %u: %s\n", t, line);
        monitor_printf(mon, "        %" PRIu64 " instructions retired since "
                       "reset\n",
                       vtpu_dev_reg_peek(s->dev, VTPU_A_TC_INSTRET_LO_N(t),
                                         8));
    }
    err = R(ERR_CODE);
    if (err) {
        for (unsigned i = 0; i < sizeof(msg); i += 4) {
            stl_le_p(msg + i, vtpu_dev_reg_peek(s->dev, VTPU_A_ERR_MSG + i, 4));
        }
        msg[sizeof(msg) - 1] = 0;
        monitor_printf(mon, "  error %u at ring index %d (opcode 0x%x), "
                       "%u error(s) since reset: %s\n", err,
                       (int32_t)R(ERR_INDEX), R(ERR_OPCODE), R(ERR_COUNT),
                       msg);
    } else {
        monitor_printf(mon, "  no error (%u since reset)\n", R(ERR_COUNT));
    }
#undef R
#undef R64
    return 0;
}

static void hmp_info_vtpu(Monitor *mon, const QDict *qdict)
{
    object_child_foreach_recursive(object_get_root(), vtpu_info_one, mon);
}

/* ------------------------------------------------------------------ */
/* Migration and snapshots (docs/qemu.md)                               */
/* ------------------------------------------------------------------ */

/* A range of HBM the engine wrote (vtpu_chip_hbm_dirty_take). */
static void vtpu_hbm_written(void *opaque, uint64_t off, uint64_t len)
{
    VTPUPCIState *s = opaque;

    memory_region_set_dirty(vtpu_hbm_mr(s), off, len);
}

/*
 * The VM stops (migration's last pass, savevm, stop): the device stops
 * too, its running launch quiesced at an instruction boundary; and the
 * engine wrote HBM behind QEMU's dirty tracking (TC DMAs, the command
 * processor's copies and fills, reset scrubs), so the pages it wrote go
 * again in the last pass.  The VM runs: the device goes on.
 */
static void vtpu_vm_state_change(void *opaque, bool running, RunState state)
{
    VTPUPCIState *s = opaque;

    if (!s->dev) {
        return;
    }
    if (running) {
        trace_vtpu_event("resumed with the VM");
        vtpu_dev_resume(s->dev);
        return;
    }
    if (vtpu_dev_pause(s->dev, VTPU_PAUSE_TIMEOUT_MS)) {
        warn_report("vtpu: a running kernel did not stop within %d ms (a TC "
                    "held by the debugger?); saving the VM will fail",
                    VTPU_PAUSE_TIMEOUT_MS);
    }
    trace_vtpu_event("paused with the VM");
    if (s->hbm_registered) {
        vtpu_chip_hbm_dirty_take(s->chip, vtpu_hbm_written, s);
    }
}

static int vtpu_file_write(void *opaque, const void *buf, size_t len)
{
    qemu_put_buffer(opaque, buf, len);
    return qemu_file_get_error(opaque) != 0;
}

static int vtpu_file_read(void *opaque, void *buf, size_t len)
{
    return qemu_get_buffer(opaque, buf, len) != len;
}

static int vtpu_engine_put(QEMUFile *f, void *pv, size_t size,
                           const VMStateField *field, JSONWriter *vmdesc)
{
    VTPUPCIState *s = pv;
    char err[512];

    if (vtpu_dev_save(s->dev, vtpu_file_write, f, err, sizeof(err))) {
        error_report("vtpu: cannot save the device state: %s", err);
        return -EINVAL;
    }
    return 0;
}

static int vtpu_engine_get(QEMUFile *f, void *pv, size_t size,
                           const VMStateField *field)
{
    VTPUPCIState *s = pv;
    char err[512];

    if (vtpu_dev_load(s->dev, vtpu_file_read, f, err, sizeof(err))) {
        error_report("vtpu: cannot load the device state: %s", err);
        return -EINVAL;
    }
    return 0;
}

/* The engine's own versioned stream (vtpu_dev_save, vtpu-snapshot.h). */
static const VMStateInfo vtpu_engine_info = {
    .name = "vtpu-engine",
    .get = vtpu_engine_get,
    .put = vtpu_engine_put,
};

static int vtpu_pre_save(void *opaque)
{
    VTPUPCIState *s = opaque;

    /* The VM is stopped, so normally paused already (idempotent). */
    if (vtpu_dev_pause(s->dev, VTPU_PAUSE_TIMEOUT_MS)) {
        error_report("vtpu: cannot save: a running kernel did not stop at "
                     "an instruction boundary within %d ms",
                     VTPU_PAUSE_TIMEOUT_MS);
        return -EBUSY;
    }
    return 0;
}

static int vtpu_pre_load(void *opaque)
{
    VTPUPCIState *s = opaque;

    /* The destination's device never ran (or loadvm stopped the VM);
     * what it executes stops here, and it resumes with the VM. */
    vtpu_dev_pause(s->dev, VTPU_PAUSE_TIMEOUT_MS);
    return 0;
}

static int vtpu_post_load(void *opaque, int version_id)
{
    VTPUPCIState *s = opaque;

    s->window_base = UINT64_MAX; /* re-map BAR2's window */
    vtpu_sync_window(s);
    return 0;
}

/*
 * Version 1.  The engine stream inside has versions of its own (the
 * device part and the chip format, vtpu-snapshot.h), checked on load;
 * docs/qemu.md, "Format versions".
 */
static const VMStateDescription vmstate_vtpu = {
    .name = "vtpu",
    .version_id = 1,
    .minimum_version_id = 1,
    .pre_save = vtpu_pre_save,
    .pre_load = vtpu_pre_load,
    .post_load = vtpu_post_load,
    .fields = (VMStateField[]) {
        VMSTATE_PCI_DEVICE(parent_obj, VTPUPCIState),
        VMSTATE_MSIX(parent_obj, VTPUPCIState),
        {
            .name = "engine",
            .info = &vtpu_engine_info,
            .flags = VMS_SINGLE,
            .offset = 0,
            .size = 0,
        },
        VMSTATE_END_OF_LIST()
    },
};

static void vtpu_class_init(ObjectClass *oc, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(oc);
    PCIDeviceClass *k = PCI_DEVICE_CLASS(oc);
    const char *key, *help;

    k->realize = vtpu_realize;
    k->exit = vtpu_exit;
    k->vendor_id = VTPU_PCI_VENDOR_ID;
    k->device_id = VTPU_PCI_DEVICE_ID;
    k->subsystem_vendor_id = VTPU_PCI_SUBSYS_VENDOR_ID;
    k->subsystem_id = VTPU_PCI_SUBSYS_ID;
    k->class_id = VTPU_PCI_CLASS;
    k->revision = VTPU_VERSION_MAJOR;
    dc->desc = "vtpu TPU-like accelerator (docs/qemu.md)";
    dc->reset = vtpu_reset;
    dc->vmsd = &vmstate_vtpu;
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);
    device_class_set_props(dc, vtpu_properties);

    object_class_property_set_description(oc, "gen",
        "generation preset: v4, v5e, v5p (default), v6e; the other "
        "chip properties default to its values");
    for (unsigned i = 0; (key = vtpu_config_help(i, &help)); i++) {
        if (object_class_property_find(oc, key)) {
            object_class_property_set_description(oc, key, help);
        }
    }
    object_class_property_set_description(oc, "aperture-size",
        "bytes of the BAR2 HBM window: a power of two, 4 KiB..2 GiB");
    object_class_property_set_description(oc, "msix",
        "offer one MSI-X vector (BAR4) besides INTx");
    object_class_property_set_description(oc, "x-irq-direct",
        "deliver a completion interrupt on the device's worker thread when "
        "the BQL is free (default on; off: always through a main-loop "
        "bottom half, the baseline of make bench-guest)");
    object_class_property_set_description(oc, "x-worker-spin",
        "microseconds the device's worker polls for the next doorbell "
        "after the ring drained, before it sleeps (default 0, at most "
        "1000): no wake-up latency, for host CPU time");
    object_class_property_set_description(oc, "gdb",
        "serve the GDB remote protocol for the TensorCores on "
        "[tcp:][HOST:]PORT (docs/debugging.md)");
    object_class_property_set_description(oc, "gdb-launch-break",
        "with gdb: every launch starts stopped at its entry");
    object_class_property_set_description(oc, "dma-order",
        "when TC DMAs copy: eager (default), on-wait, random[:SEED] "
        "(docs/debugging.md)");
    object_class_property_set_description(oc, "trace-file",
        "write a timeline trace (Chrome/Perfetto JSON) of every launch");
    object_class_property_set_description(oc, "tag-output",
        "prefix kernel output lines with [TC n (grid point)]");
    object_class_property_set_description(oc, "chardev",
        "character device for what kernels print (escaped, never "
        "blocks a TC); without one it is counted and dropped");
    object_class_property_set_description(oc, "output-rate",
        "bytes per second of kernel output kept; the rest is dropped "
        "and counted (default 1M)");
    object_class_property_set_description(oc, "memdev",
        "memory backend holding HBM (size = its size); default: "
        "hbm-size bytes (4 GiB unless set) of lazily backed memory");
    object_class_property_set_description(oc, "reset-scrub",
        "with memdev: system reset zeroes HBM (default on; off keeps a "
        "shared backend's contents)");
    object_class_property_set_description(oc, "ici",
        "id of a vtpu-ici object: this chip joins that slice (with chip=)");
    object_class_property_set_description(oc, "chip",
        "with ici=: this chip's index in the slice, 0..chips-1 (required "
        "with ici=; the default 4294967295 means not set)");
}

static const TypeInfo vtpu_info = {
    .name = TYPE_VTPU_PCI,
    .parent = TYPE_PCI_DEVICE,
    .instance_size = sizeof(VTPUPCIState),
    .instance_finalize = vtpu_finalize,
    .class_init = vtpu_class_init,
    .interfaces = (InterfaceInfo[]) {
        { INTERFACE_PCIE_DEVICE },
        { INTERFACE_CONVENTIONAL_PCI_DEVICE },
        { },
    },
};

static void vtpu_register_types(void)
{
    type_register_static(&vtpu_info);
    monitor_register_hmp("vtpu", true, hmp_info_vtpu);
}

type_init(vtpu_register_types)
