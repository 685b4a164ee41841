/*
 * fuzz_cmd.c - libFuzzer target: the host interface and command
 * processor (hw/vtpu/dev.c, cmd.c) driven through dev.h the way a guest
 * drives the device, over a fake host memory that changes under the
 * device while it works.  docs/fuzzing.md.
 *
 * One chip (2 TCs, 1 MiB HBM, small memories, a small instruction budget)
 * and a synchronous vtpu_dev serve every input, so a doorbell write
 * executes the ring before it returns.  Each input starts from a device
 * reset (registers, program slots), zeroed HBM and zeroed host RAM, so a
 * run depends on its input alone (a new chip per input would spend most
 * of the time in page faults).  The input is read from both ends:
 *
 *   front: operations, one byte each (modulo OP__COUNT) and its operands:
 *          register reads and writes of any size and offset, ring set-up,
 *          ring entries (structured, or 64 raw bytes) and doorbells, host
 *          RAM writes, BAR2 accesses and APERTURE_BASE moves, an embedded
 *          RV32 program placed into HBM (or host RAM) and LOAD_PROG +
 *          LAUNCH of it, ERR_ACK, soft and device reset, TC status;
 *          at most MAX_OPS of them, and the input ends after
 *          MAX_LAUNCHES launches.
 *   back:  what the DMA callbacks do each time the device calls them:
 *          flip bytes of host RAM (the ring included), of HBM around the
 *          placed program, or of HBM through BAR2, before or after the
 *          transfer: a guest rewriting what the device fetches (the
 *          double-fetch pattern).
 *
 * After every operation the device must be coherent: a defined STATUS
 * state, an ERR_CODE exactly when in ERROR, HEAD inside the ring, an
 * ERR_MSG that is a string, the interrupt line equal to
 * INT_STATUS & INT_ENABLE and to what set_irq last said, and nothing left
 * runnable (synchronous mode runs all it may).
 * VTPU_FUZZ_VERBOSE=1 prints the operations and the device's log.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dev.h"
#include "fuzz-blobs.h"

#define CHECK(c)                                                               \
    do {                                                                       \
        if (!(c)) {                                                            \
            fprintf(stderr, "fuzz_cmd: %s:%d: check failed: %s\n", __FILE__,   \
                    __LINE__, #c);                                             \
            abort();                                                           \
        }                                                                      \
    } while (0)

#define RAM_BASE 0x80000000ull /* bus address of the fake host RAM */
#define RAM_SIZE (64u << 10)
#define RESULT_OFF (RAM_SIZE - 128) /* launch result records in RAM */
#define HBM_SIZE (1u << 20)
#define APERTURE (64u << 10)
#define MAX_OPS 256    /* operations per input */
#define MAX_LAUNCHES 8 /* launches after which an input ends early */

enum {
    OP_REG_WRITE,
    OP_REG_READ,
    OP_RING_SETUP,
    OP_CMD,
    OP_RAW_ENTRY,
    OP_DOORBELL,
    OP_RAM_WRITE,
    OP_APERTURE,
    OP_APERTURE_BASE,
    OP_PLACE_ELF,
    OP_LOAD_LAUNCH,
    OP_ERR_ACK,
    OP_RESET,
    OP_TC_STATUS,
    OP__COUNT
};

typedef struct fuzz {
    const uint8_t *data;
    size_t front, back; /* unread: data[front .. back) */
    vtpu_chip *chip;
    vtpu_dev *dev;
    uint8_t *hbm;
    uint8_t ram[RAM_SIZE];
    int irq;            /* last level set_irq reported */
    uint32_t ring_off;  /* ring position in RAM */
    uint32_t ring_size; /* entries, as the fuzzer set it */
    uint32_t tail;      /* next entry the fuzzer writes */
    uint64_t elf_off;   /* the placed program: HBM offset, length */
    uint32_t elf_len;
    bool launched; /* a LAUNCH ran in this input */
    int verbose;
} fuzz;

/* ---- reading the input ---- */

static bool avail(const fuzz *f, size_t n)
{
    return f->back - f->front >= n;
}

static uint64_t take(fuzz *f, unsigned n) /* n <= 8 bytes, little endian */
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n && f->front < f->back; i++)
        v |= (uint64_t)f->data[f->front++] << (8 * i);
    return v;
}

static int take_back(fuzz *f) /* a byte from the end, -1 when none */
{
    return f->back > f->front ? f->data[--f->back] : -1;
}

static void say(const fuzz *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void say(const fuzz *f, const char *fmt, ...)
{
    va_list ap;
    if (!f->verbose)
        return;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* ---- the fake host ---- */

/*
 * A guest changing memory while the device works: up to three flips per
 * DMA callback, from the back of the input.  Byte layout: [n] (bits 0-1:
 * how many, bit 7: after the transfer instead of before) then per flip
 * [where] [off lo] [off hi] [value].
 */
static void flip(fuzz *f, int n);

static int flips_begin(fuzz *f)
{
    int n = take_back(f);
    if (n >= 0 && !(n & 0x80))
        flip(f, n);
    return n;
}

static void flips_end(fuzz *f, int n)
{
    if (n >= 0 && (n & 0x80))
        flip(f, n);
}

static void flip(fuzz *f, int n)
{
    for (int i = 0; i < (n & 3); i++) {
        int where = take_back(f), lo = take_back(f), hi = take_back(f),
            v = take_back(f);
        if (v < 0)
            return;
        uint32_t off = (uint32_t)(lo | hi << 8);
        switch (where % 4) {
        case 0: /* host RAM: ring entries, data, results */
            f->ram[off % RAM_SIZE] = (uint8_t)v;
            break;
        case 1: /* the ring itself */
            f->ram[(f->ring_off + off % (f->ring_size * 64 + 64)) % RAM_SIZE] =
                (uint8_t)v;
            break;
        case 2: /* HBM in and around the placed program */
            f->hbm[(f->elf_off + off) % HBM_SIZE] = (uint8_t)v;
            break;
        case 3: /* HBM through BAR2, as a vCPU would */
            vtpu_dev_aperture_write(f->dev, off, (uint64_t)v, 1);
            break;
        }
    }
}

static bool in_ram(uint64_t addr, size_t len)
{
    return addr >= RAM_BASE && addr - RAM_BASE <= RAM_SIZE &&
           len <= RAM_SIZE - (addr - RAM_BASE);
}

static int host_read(void *opaque, uint64_t addr, void *buf, size_t len)
{
    fuzz *f = opaque;
    int rc = -1, n = flips_begin(f);
    if (in_ram(addr, len)) {
        memcpy(buf, f->ram + (addr - RAM_BASE), len);
        rc = 0;
    }
    flips_end(f, n);
    return rc;
}

static int host_write(void *opaque, uint64_t addr, const void *buf, size_t len)
{
    fuzz *f = opaque;
    int rc = -1, n = flips_begin(f);
    if (in_ram(addr, len)) {
        memcpy(f->ram + (addr - RAM_BASE), buf, len);
        rc = 0;
    }
    flips_end(f, n);
    return rc;
}

static void host_irq(void *opaque, int level)
{
    fuzz *f = opaque;
    CHECK(level == 0 || level == 1);
    CHECK(level != f->irq); /* called on changes only */
    f->irq = level;
}

static void host_log(void *opaque, vtpu_log_class cls, const char *msg)
{
    const fuzz *f = opaque;
    CHECK(cls <= VTPU_LOG_GUEST_ERROR && msg && !strchr(msg, '\n'));
    say(f, "  log %d: %s", cls, msg);
}

static void tc_output(void *opaque, unsigned tc, int fd, const char *buf,
                      size_t len)
{
    const fuzz *f = opaque;
    say(f, "  TC %u fd %d: %.*s", tc, fd, (int)len, buf);
}

/* ---- operations ---- */

static uint32_t reg(fuzz *f, uint32_t off)
{
    return (uint32_t)vtpu_dev_reg_read(f->dev, off, 4);
}

static void wreg(fuzz *f, uint32_t off, uint32_t val)
{
    vtpu_dev_reg_write(f->dev, off, val, 4);
}

/* An address or length operand: host RAM, HBM, the placed program or raw. */
static uint64_t operand(fuzz *f, bool len)
{
    unsigned sel = (unsigned)take(f, 1) % 4;
    switch (sel) {
    case 0:
        return len ? take(f, 2) : RAM_BASE + take(f, 2);
    case 1:
        return len ? take(f, 1) * 4 : take(f, 2) << 4; /* HBM offset */
    case 2:
        return len ? f->elf_len : f->elf_off;
    default:
        return take(f, 8);
    }
}

/* Put a ring entry at TAIL; ring the doorbell unless `hold`. */
static void put_entry(fuzz *f, const uint8_t *e, bool hold)
{
    uint32_t size = f->ring_size ? f->ring_size : 1;
    uint64_t at = (uint64_t)f->ring_off + (uint64_t)f->tail * VTPU_CMD_SIZE;
    if (at + VTPU_CMD_SIZE <= RAM_SIZE)
        memcpy(f->ram + at, e, VTPU_CMD_SIZE);
    f->tail = (f->tail + 1) % size;
    if (!hold)
        wreg(f, VTPU_A_RING_TAIL, f->tail);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
    put_le32(p, (uint32_t)v);
    put_le32(p + 4, (uint32_t)(v >> 32));
}

static void make_entry(uint8_t *e, uint32_t op, uint32_t flags, uint32_t arg,
                       uint64_t src, uint64_t dst, uint64_t len,
                       const uint32_t *args, uint64_t addr)
{
    memset(e, 0, VTPU_CMD_SIZE);
    put_le32(e + VTPU_CMD_OFF_HDR, op | flags << 8);
    put_le32(e + VTPU_CMD_OFF_ARG, arg);
    put_le64(e + VTPU_CMD_OFF_SRC, src);
    put_le64(e + VTPU_CMD_OFF_DST, dst);
    put_le64(e + VTPU_CMD_OFF_LEN, len);
    for (unsigned i = 0; args && i < 4; i++)
        put_le32(e + VTPU_CMD_OFF_ARGS + 4 * i, args[i]);
    put_le64(e + VTPU_CMD_OFF_ADDR, addr);
}

static void op_cmd(fuzz *f)
{
    uint8_t e[VTPU_CMD_SIZE];
    uint32_t code = (uint32_t)take(f, 1);
    uint32_t fl = (uint32_t)take(f, 1);
    /* Mostly well-formed headers; bit 7 of each byte asks for raw, bit 6
     * of the flags to hold the doorbell (several entries, one write). */
    uint32_t op = code & 0x80 ? code & 0x7f : 1 + code % (VTPU_OP__COUNT - 1);
    uint32_t flags = fl & 0x80 ? fl : fl & 3;
    bool hold = (fl & 0xc0) == 0x40;
    uint32_t arg = (uint32_t)take(f, 4);
    uint64_t src = operand(f, false), dst = operand(f, false);
    uint64_t len = operand(f, true);
    uint32_t args[4] = {(uint32_t)take(f, 2) << 4, 0, 0, 0};
    uint64_t addr = take(f, 1) & 1 ? RAM_BASE + RESULT_OFF : operand(f, false);
    make_entry(e, op, flags, arg, src, dst, len, args, addr);
    say(f, "cmd op %u flags 0x%x arg 0x%x src 0x%llx dst 0x%llx len 0x%llx", op,
        flags, arg, (unsigned long long)src, (unsigned long long)dst,
        (unsigned long long)len);
    put_entry(f, e, hold);
}

static void op_ring_setup(fuzz *f)
{
    uint32_t b = (uint32_t)take(f, 1);
    f->ring_size = 2u << (b & 3); /* 2..16 entries */
    f->ring_off = (uint32_t)(take(f, 1) * 64) % RAM_SIZE;
    f->tail = 0;
    say(f, "ring %u entries at RAM 0x%x", f->ring_size, f->ring_off);
    wreg(f, VTPU_A_CONTROL, 0);
    wreg(f, VTPU_A_RING_BASE_LO, (uint32_t)(RAM_BASE + f->ring_off));
    wreg(f, VTPU_A_RING_BASE_HI, (uint32_t)((RAM_BASE + f->ring_off) >> 32));
    wreg(f, VTPU_A_RING_SIZE, b & 0x80 ? (uint32_t)take(f, 4) : f->ring_size);
    wreg(f, VTPU_A_INT_ENABLE, VTPU_INT_ALL);
    wreg(f, VTPU_A_CONTROL, VTPU_FMASK(CONTROL, ENABLE));
}

static void op_place_elf(fuzz *f)
{
    const fuzz_blob *b = &fuzz_blobs[take(f, 1) % fuzz_nblobs];
    uint32_t where = (uint32_t)take(f, 2);
    if (where & 1 && b->len <= RAM_SIZE) { /* into host RAM, for H2D */
        uint32_t off = (where >> 1) % (RAM_SIZE - (uint32_t)b->len + 1);
        memcpy(f->ram + off, b->data, b->len);
        say(f, "%s at RAM 0x%x", b->name, off);
        return;
    }
    f->elf_off = ((uint64_t)where << 4) % (HBM_SIZE - b->len + 1);
    f->elf_len = (uint32_t)b->len;
    memcpy(f->hbm + f->elf_off, b->data, b->len); /* as through BAR2 */
    say(f, "%s at HBM 0x%llx", b->name, (unsigned long long)f->elf_off);
}

static void op_load_launch(fuzz *f)
{
    uint8_t e[VTPU_CMD_SIZE];
    uint32_t slot = (uint32_t)take(f, 1) % (VTPU_MAX_PROGRAMS + 1);
    uint32_t tcs = (uint32_t)take(f, 1) % 4;
    uint32_t flags = (uint32_t)take(f, 1) & 3;
    uint32_t args[4] = {(uint32_t)take(f, 2) << 4, 0, 0, 0};
    say(f, "load+launch slot %u tcs %u flags %u", slot, tcs, flags);
    make_entry(e, VTPU_OP_LOAD_PROG, 0, slot, f->elf_off, 0, f->elf_len, NULL,
               0);
    put_entry(f, e, true);
    make_entry(e, VTPU_OP_LAUNCH, flags, slot | tcs << 8, 0, 0, 0, args,
               RAM_BASE + RESULT_OFF);
    put_entry(f, e, false);
}

static void op_tc_status(fuzz *f)
{
    /* The mailbox is in SMEM, which the program wrote: guest data.
     * Before any launch of this input, it is the last input's. */
    if (!f->launched)
        return;
    for (unsigned tc = 0; tc < 3; tc++) {
        vtpu_dev_tc_info info;
        char line[512];
        if (vtpu_dev_tc_status(f->dev, tc, &info)) {
            CHECK(tc >= 2);
            continue;
        }
        int n = vtpu_dev_tc_info_format(&info, line, sizeof(line));
        CHECK(n >= 0 && memchr(line, 0, sizeof(line)));
        CHECK(!info.has_mailbox ||
              memchr(info.kernel_name, 0, sizeof(info.kernel_name)));
        say(f, "TC %u: %s", tc, line);
    }
}

static void step(fuzz *f)
{
    unsigned op = (unsigned)take(f, 1) % OP__COUNT;
    static const unsigned sizes[8] = {4, 8, 4, 8, 4, 1, 2, 3};
    uint8_t raw[VTPU_CMD_SIZE];

    switch (op) {
    case OP_REG_WRITE: {
        unsigned sz = sizes[take(f, 1) % 8];
        uint32_t off = (uint32_t)take(f, 2) % (VTPU_BAR0_SIZE + 8);
        uint64_t v = take(f, sz == 8 ? 8 : 4);
        say(f, "write reg 0x%x = 0x%llx (%u)", off, (unsigned long long)v, sz);
        vtpu_dev_reg_write(f->dev, off, v, sz);
        break;
    }
    case OP_REG_READ: {
        unsigned sz = sizes[take(f, 1) % 8];
        uint32_t off = (uint32_t)take(f, 2) % (VTPU_BAR0_SIZE + 8);
        uint64_t v = vtpu_dev_reg_read(f->dev, off, sz);
        if (sz != 4 && sz != 8)
            CHECK(v == 0);
        break;
    }
    case OP_RING_SETUP:
        op_ring_setup(f);
        break;
    case OP_CMD:
        op_cmd(f);
        break;
    case OP_RAW_ENTRY:
        memset(raw, 0, sizeof(raw));
        for (unsigned i = 0; i < sizeof(raw) && avail(f, 1); i++)
            raw[i] = (uint8_t)take(f, 1);
        say(f, "raw entry, opcode 0x%02x", raw[0]);
        put_entry(f, raw, false);
        break;
    case OP_DOORBELL: {
        uint32_t b = (uint32_t)take(f, 1);
        uint32_t t = b & 0x80 ? b & 0x7f : f->tail; /* a bad TAIL too */
        say(f, "doorbell %u", t);
        wreg(f, VTPU_A_RING_TAIL, t);
        break;
    }
    case OP_RAM_WRITE: {
        uint32_t off = (uint32_t)take(f, 2) % RAM_SIZE;
        uint32_t n = 1 + (uint32_t)take(f, 1) % 64;
        for (uint32_t i = 0; i < n && avail(f, 1); i++)
            f->ram[(off + i) % RAM_SIZE] = (uint8_t)take(f, 1);
        break;
    }
    case OP_APERTURE: {
        uint32_t b = (uint32_t)take(f, 1);
        unsigned sz = sizes[b % 8];
        uint64_t off = take(f, 3) % (APERTURE + 16);
        if (b & 0x80) {
            (void)vtpu_dev_aperture_read(f->dev, off, sz);
        } else {
            vtpu_dev_aperture_write(f->dev, off, take(f, sz < 8 ? sz : 8), sz);
        }
        break;
    }
    case OP_APERTURE_BASE: {
        uint64_t base = take(f, 1) & 1 ? take(f, 8) : take(f, 1) << 12;
        say(f, "aperture base 0x%llx", (unsigned long long)base);
        vtpu_dev_reg_write(f->dev, VTPU_A_APERTURE_BASE_LO, base, 8);
        break;
    }
    case OP_PLACE_ELF:
        op_place_elf(f);
        break;
    case OP_LOAD_LAUNCH:
        op_load_launch(f);
        break;
    case OP_ERR_ACK: {
        uint32_t a = (uint32_t)take(f, 1);
        say(f, "ERR_ACK %u (error %u)", a & 3, reg(f, VTPU_A_ERR_CODE));
        wreg(f, VTPU_A_ERR_ACK, a & 0x80 ? a : a & 3);
        break;
    }
    case OP_RESET:
        if (take(f, 1) & 1) {
            say(f, "soft reset");
            wreg(f, VTPU_A_CONTROL, VTPU_FMASK(CONTROL, RESET));
        } else {
            say(f, "device reset");
            vtpu_dev_reset(f->dev);
        }
        f->tail = 0;
        break;
    case OP_TC_STATUS:
        op_tc_status(f);
        break;
    }
}

/* What must hold between operations (file comment). */
static void check_coherent(fuzz *f)
{
    uint32_t st = VTPU_FEX(reg(f, VTPU_A_STATUS), STATUS, STATE);
    uint32_t code = reg(f, VTPU_A_ERR_CODE);
    uint32_t size = reg(f, VTPU_A_RING_SIZE);
    uint32_t head = reg(f, VTPU_A_RING_HEAD);
    uint32_t pending = reg(f, VTPU_A_INT_STATUS) & reg(f, VTPU_A_INT_ENABLE);
    char msg[VTPU_ERR_MSG_MAX];

    CHECK(st <= VTPU_STATE_ERROR); /* RESETTING ends within the call */
    CHECK((st == VTPU_STATE_ERROR) == (code != VTPU_E_NONE));
    CHECK(code < VTPU_E__COUNT);
    CHECK(head == 0 || head < size);
    CHECK(vtpu_dev_irq_level(f->dev) == ((pending & VTPU_INT_ALL) != 0));
    CHECK(f->irq == vtpu_dev_irq_level(f->dev));
    CHECK(vtpu_dev_wait_idle(f->dev, 0) == 0);
    for (unsigned i = 0; i < sizeof(msg); i += 4)
        put_le32((uint8_t *)msg + i, reg(f, VTPU_A_ERR_MSG + i));
    CHECK(memchr(msg, 0, sizeof(msg)) != NULL);
    CHECK(code || !msg[0]);
}

/* The chip and device, made once (file comment). */
static void setup(fuzz *f)
{
    vtpu_config cfg;
    char err[256];

    CHECK(vtpu_config_preset(&cfg, "v5e", NULL, 0) == 0);
    CHECK(vtpu_config_set(&cfg, "cores", "2", NULL, 0) == 0);
    CHECK(vtpu_config_set(&cfg, "hbm-size", "1M", NULL, 0) == 0);
    CHECK(vtpu_config_set(&cfg, "vmem-size", "256K", NULL, 0) == 0);
    CHECK(vtpu_config_set(&cfg, "smem-size", "256K", NULL, 0) == 0);
    CHECK(vtpu_config_set(&cfg, "imem-size", "64K", NULL, 0) == 0);
    CHECK(vtpu_config_set(&cfg, "sems", "16", NULL, 0) == 0);
    CHECK(vtpu_config_set(&cfg, "mxu-count", "1", NULL, 0) == 0);
    CHECK(vtpu_config_set(&cfg, "insn-budget", "20000", NULL, 0) == 0);
    f->verbose = getenv("VTPU_FUZZ_VERBOSE") != NULL;
    f->chip = vtpu_chip_new(&cfg, err, sizeof(err));
    CHECK(f->chip);
    vtpu_chip_set_output(f->chip, tc_output, f);
    f->hbm = vtpu_chip_hbm_ptr(f->chip);
    vtpu_dev_ops ops = {.dma_read = host_read,
                        .dma_write = host_write,
                        .set_irq = host_irq,
                        .log = host_log};
    vtpu_dev_opts opts = {.synchronous = true, .aperture_size = APERTURE};
    f->dev = vtpu_dev_new(f->chip, &ops, f, &opts, err, sizeof(err));
    CHECK(f->dev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fuzz f;

    if (!f.dev)
        setup(&f);
    f.data = NULL; /* no flips during the reset */
    f.front = f.back = 0;
    vtpu_dev_reset(f.dev);
    CHECK(f.irq == 0);
    memset(f.hbm, 0, HBM_SIZE);
    memset(f.ram, 0, sizeof(f.ram));
    f.ring_off = f.ring_size = f.tail = 0;
    f.elf_off = f.elf_len = 0;
    f.launched = false;
    f.data = data;
    f.back = size;
    check_coherent(&f);

    /* Launches dominate the time (TC threads, semaphore waits): an
     * input that RETRYs one over and over ends after a few. */
    unsigned launches = 0;
    for (unsigned n = 0; n < MAX_OPS && avail(&f, 1); n++) {
        uint32_t before = reg(&f, VTPU_A_LAUNCH_COUNT);
        step(&f);
        check_coherent(&f);
        uint32_t after = reg(&f, VTPU_A_LAUNCH_COUNT);
        launches += after > before ? after - before : after;
        f.launched |= after != 0;
        if (launches >= MAX_LAUNCHES)
            break;
    }
    return 0;
}
