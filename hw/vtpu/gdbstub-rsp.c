/*
 * gdbstub-rsp.c - the gdb stub's server: the GDB remote serial protocol on
 * TCP, registers, memory map and target description, and the public API
 * of gdbstub.h (run control is gdbstub.c; docs/debugging.md).
 *
 * One connection at a time, on the stub's own thread.  While gdb has the
 * target stopped the thread reads packets and answers them under the lock;
 * while the target runs it polls the connection (Ctrl-C) and the TCs'
 * events every few milliseconds.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gdbstub-priv.h"

/* ------------------------------------------------------------------ */
/* Protocol I/O                                                         */
/* ------------------------------------------------------------------ */

static const char hexd[] = "0123456789abcdef";

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void send_all(vtpu_gdb *g, const char *buf, size_t len)
{
    while (len && g->cfd >= 0) {
        ssize_t k = send(g->cfd, buf, len, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            close(g->cfd);
            g->cfd = -1;
            return;
        }
        buf += k;
        len -= (size_t)k;
    }
}

static void put_packet(vtpu_gdb *g, const char *data)
{
    size_t len = strlen(data);
    char *buf = g_malloc(len + 5);
    unsigned sum = 0;

    buf[0] = '$';
    for (size_t i = 0; i < len; i++) {
        sum += (uint8_t)data[i];
        buf[1 + i] = data[i];
    }
    buf[1 + len] = '#';
    buf[2 + len] = hexd[(sum >> 4) & 15];
    buf[3 + len] = hexd[sum & 15];
    send_all(g, buf, len + 4);
    g_free(buf);
}

/*
 * Next byte from the connection, waiting at most `ms` (negative:
 * forever, while not quitting).  -1 on hang-up, -2 on timeout.
 */
static int get_byte(vtpu_gdb *g, int ms)
{
    if (g->in_pos == g->in_len) {
        struct pollfd p = {.fd = g->cfd, .events = POLLIN};
        for (;;) {
            if (g->cfd < 0 || atomic_load(&g->quit))
                return -1;
            int k = poll(&p, 1, ms < 0 ? 100 : ms);
            if (k < 0 && errno == EINTR)
                continue;
            if (k < 0)
                return -1;
            if (k > 0)
                break;
            if (ms >= 0)
                return -2;
        }
        ssize_t k = recv(g->cfd, g->in, sizeof(g->in), 0);
        if (k <= 0)
            return -1;
        g->in_len = (size_t)k;
        g->in_pos = 0;
    }
    return g->in[g->in_pos++];
}

/*
 * Read one packet into g->pkt (NUL-terminated).  Returns its length, 0x03
 * handling: -3 for an interrupt byte outside a packet; -1 on hang-up.
 * Packets with a bad checksum or too long are NAKed and skipped.
 */
static int get_packet(vtpu_gdb *g)
{
    for (;;) {
        int c = get_byte(g, -1);
        if (c < 0)
            return -1;
        if (c == 0x03)
            return -3;
        if (c != '$')
            continue; /* acks and noise */
        size_t len = 0;
        unsigned sum = 0;
        bool overflow = false;
        for (;;) {
            c = get_byte(g, 2000);
            if (c < 0)
                return c == -1 ? -1 : 0; /* stalled packet: drop */
            if (c == '#')
                break;
            if (c == '$') { /* restart: the previous one was cut short */
                len = 0;
                sum = 0;
                overflow = false;
                continue;
            }
            sum += (unsigned)c;
            if (len < MAX_PACKET)
                g->pkt[len++] = (char)c;
            else
                overflow = true;
        }
        int h1 = get_byte(g, 2000), h2 = h1 < 0 ? -1 : get_byte(g, 2000);
        if (h1 == -1 || h2 == -1)
            return -1;
        if (hexval(h1) < 0 || hexval(h2) < 0 || overflow ||
            (unsigned)(hexval(h1) << 4 | hexval(h2)) != (sum & 0xff)) {
            send_all(g, "-", 1);
            continue;
        }
        send_all(g, "+", 1);
        g->pkt[len] = 0;
        return (int)len;
    }
}

/* Parse hex digits at *p (at least one); advances *p. */
static bool parse_hex(const char **p, uint64_t *v)
{
    const char *s = *p;
    uint64_t r = 0;
    int n = 0;

    while (hexval(*s) >= 0 && n < 16) {
        r = r << 4 | (uint64_t)hexval(*s++);
        n++;
    }
    if (!n || hexval(*s) >= 0)
        return false;
    *p = s;
    *v = r;
    return true;
}

static void hex_encode(char *out, const void *data, size_t len)
{
    const uint8_t *b = data;
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hexd[b[i] >> 4];
        out[2 * i + 1] = hexd[b[i] & 15];
    }
    out[2 * len] = 0;
}

static bool hex_decode(void *data, const char *in, size_t len)
{
    uint8_t *b = data;
    for (size_t i = 0; i < len; i++) {
        int h = hexval(in[2 * i]), l = h < 0 ? -1 : hexval(in[2 * i + 1]);
        if (h < 0 || l < 0)
            return false;
        b[i] = (uint8_t)(h << 4 | l);
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* Registers and memory                                                 */
/* ------------------------------------------------------------------ */

static vtpu_tc *cur_tc(vtpu_gdb *g)
{
    return g->chip->tcs[g->cur_g];
}

/* Register `n` of tc as target bytes into buf; its size, or 0. */
static size_t reg_read(vtpu_tc *tc, unsigned n, uint8_t *buf)
{
    uint32_t v;

    if (n < 32)
        v = n ? tc->x[n] : 0;
    else if (n == 32)
        v = tc->pc;
    else if (n < 65)
        v = tc->f[n - 33];
    else if (n == 66)
        v = tc->fflags;
    else if (n == 67)
        v = tc->frm;
    else if (n == 68)
        v = tc->frm << 5 | tc->fflags;
    else if (n >= REG_V0 && n < REG_M0) {
        memcpy(buf, tc->vpu->v[n - REG_V0].u, VTPU_VREG_BYTES);
        return VTPU_VREG_BYTES;
    } else if (n >= REG_M0 && n < REG_END) {
        for (unsigned e = 0; e < VTPU_VREG_ELEMS; e++)
            buf[e] = tc->vpu->m[n - REG_M0][e] ? 1 : 0;
        return VTPU_VREG_ELEMS;
    } else
        return 0;
    memcpy(buf, &v, 4);
    return 4;
}

static size_t reg_write(vtpu_tc *tc, unsigned n, const uint8_t *buf)
{
    uint32_t v;

    if (n < REG_V0)
        memcpy(&v, buf, 4);
    if (n < 32) {
        if (n)
            tc->x[n] = v;
    } else if (n == 32)
        tc->pc = v;
    else if (n < 65)
        tc->f[n - 33] = v;
    else if (n == 66)
        tc->fflags = v & 0x1f;
    else if (n == 67)
        tc->frm = v & 7;
    else if (n == 68) {
        tc->fflags = v & 0x1f;
        tc->frm = (v >> 5) & 7;
    } else if (n >= REG_V0 && n < REG_M0) {
        memcpy(tc->vpu->v[n - REG_V0].u, buf, VTPU_VREG_BYTES);
        tc->units_dirty = true;
        return VTPU_VREG_BYTES;
    } else if (n >= REG_M0 && n < REG_END) {
        for (unsigned e = 0; e < VTPU_VREG_ELEMS; e++)
            tc->vpu->m[n - REG_M0][e] = buf[e] ? ~0u : 0;
        tc->units_dirty = true;
        return VTPU_VREG_ELEMS;
    } else
        return 0;
    return 4;
}

/* The registers in 'g' order: x0-x31, pc, f0-f31, fflags, frm, fcsr. */
static unsigned g_regnum(unsigned i)
{
    return i < 65 ? i : i + 1;
}

/* Debugger address -> (space, offset); false if unmapped. */
static bool mem_access(vtpu_gdb *g, uint32_t addr, size_t len, void *buf,
                       bool write)
{
    vtpu_chip *chip = g->chip;
    vtpu_tc *tc = cur_tc(g);
    uint64_t end = (uint64_t)addr + len;

    if (addr >= VTPU_IMEM_BASE && end <= VTPU_SMEM_BASE) {
        const vtpu_program *p = tc->prog ? tc->prog : chip->prog;
        uint64_t off = addr - VTPU_IMEM_BASE;
        if (write || !p || off + len > (uint64_t)p->code_words * 4)
            return false;
        memcpy(buf, (const uint8_t *)p->text + off, len);
        return true;
    }
    if (addr >= VTPU_SMEM_BASE && end <= VTPU_VMEM_BASE) {
        uint64_t off = addr - VTPU_SMEM_BASE;
        if (off + len > tc->smem_size)
            return false;
        if (write) {
            memcpy(tc->smem + off, buf, len);
            vtpu_dirty_mark(tc->smem_dirty, off, len);
        }
        else
            memcpy(buf, tc->smem + off, len);
        return true;
    }
    if (addr >= VTPU_VMEM_SHARED_BASE && end <= HBM_WINDOW) {
        uint64_t off = addr - VTPU_VMEM_SHARED_BASE;
        if (off + len > chip->cfg.vmem_shared_size)
            return false;
        if (write) {
            memcpy(chip->vmem_shared + off, buf, len);
            vtpu_dirty_mark(chip->vmem_shared_dirty, off, len);
        }
        else
            memcpy(buf, chip->vmem_shared + off, len);
        return true;
    }
    if (addr >= VTPU_VMEM_BASE && end <= HBM_WINDOW) {
        uint64_t off = addr - VTPU_VMEM_BASE;
        if (off + len > tc->vmem_size)
            return false;
        if (write) {
            memcpy(tc->vmem + off, buf, len);
            vtpu_dirty_mark(tc->vmem_dirty, off, len);
        }
        else
            memcpy(buf, tc->vmem + off, len);
        return true;
    }
    if (addr >= HBM_WINDOW && end <= 0x100000000ull) {
        uint64_t off = g->hbm_base + (addr - HBM_WINDOW);
        return (write ? vtpu_hbm_write(chip, off, buf, len)
                      : vtpu_hbm_read(chip, off, buf, len)) == 0;
    }
    return false;
}

/* ------------------------------------------------------------------ */
/* Target description                                                   */
/* ------------------------------------------------------------------ */

static GString *target_xml(void)
{
    GString *s = g_string_new("<?xml version=\"1.0\"?>\n"
                              "<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n"
                              "<target version=\"1.0\">\n"
                              "<architecture>riscv:rv32</architecture>\n"
                              "<feature name=\"org.gnu.gdb.riscv.cpu\">\n");
    static const char *const abi[32] = {
        "zero", "ra", "sp", "gp", "tp",  "t0",  "t1", "t2", "fp", "s1", "a0",
        "a1",   "a2", "a3", "a4", "a5",  "a6",  "a7", "s2", "s3", "s4", "s5",
        "s6",   "s7", "s8", "s9", "s10", "s11", "t3", "t4", "t5", "t6"};
    for (unsigned i = 0; i < 32; i++)
        g_string_append_printf(
            s, "<reg name=\"%s\" bitsize=\"32\" type=\"%s\" regnum=\"%u\"/>\n",
            abi[i],
            i == 1               ? "code_ptr"
            : (i == 2 || i == 8) ? "data_ptr"
                                 : "int",
            i);
    g_string_append(s, "<reg name=\"pc\" bitsize=\"32\" type=\"code_ptr\" "
                       "regnum=\"32\"/>\n</feature>\n"
                       "<feature name=\"org.gnu.gdb.riscv.fpu\">\n");
    static const char *const fabi[32] = {
        "ft0", "ft1", "ft2",  "ft3",  "ft4", "ft5", "ft6",  "ft7",
        "fs0", "fs1", "fa0",  "fa1",  "fa2", "fa3", "fa4",  "fa5",
        "fa6", "fa7", "fs2",  "fs3",  "fs4", "fs5", "fs6",  "fs7",
        "fs8", "fs9", "fs10", "fs11", "ft8", "ft9", "ft10", "ft11"};
    for (unsigned i = 0; i < 32; i++)
        g_string_append_printf(s,
                               "<reg name=\"%s\" bitsize=\"32\" "
                               "type=\"ieee_single\" regnum=\"%u\"/>\n",
                               fabi[i], 33 + i);
    g_string_append(
        s, "<reg name=\"fflags\" bitsize=\"32\" type=\"int\" regnum=\"66\"/>\n"
           "<reg name=\"frm\" bitsize=\"32\" type=\"int\" regnum=\"67\"/>\n"
           "<reg name=\"fcsr\" bitsize=\"32\" type=\"int\" regnum=\"68\"/>\n"
           "</feature>\n<feature name=\"org.vtpu.xtpu\">\n");
    g_string_append_printf(
        s,
        "<vector id=\"xtpu_f32\" type=\"ieee_single\" count=\"%u\"/>\n"
        "<vector id=\"xtpu_i32\" type=\"int32\" count=\"%u\"/>\n"
        "<vector id=\"xtpu_u32\" type=\"uint32\" count=\"%u\"/>\n"
        "<union id=\"xtpu_vreg\"><field name=\"f\" type=\"xtpu_f32\"/>"
        "<field name=\"i\" type=\"xtpu_i32\"/>"
        "<field name=\"u\" type=\"xtpu_u32\"/></union>\n"
        "<vector id=\"xtpu_mask\" type=\"bool\" count=\"%u\"/>\n",
        VTPU_VREG_ELEMS, VTPU_VREG_ELEMS, VTPU_VREG_ELEMS, VTPU_VREG_ELEMS);
    for (unsigned i = 0; i < VTPU_NUM_VREGS; i++)
        g_string_append_printf(s,
                               "<reg name=\"v%u\" bitsize=\"%u\" "
                               "type=\"xtpu_vreg\" regnum=\"%u\" "
                               "group=\"vector\"/>\n",
                               i, VTPU_VREG_BYTES * 8, REG_V0 + i);
    for (unsigned i = 0; i < VTPU_NUM_MASKS; i++)
        g_string_append_printf(s,
                               "<reg name=\"m%u\" bitsize=\"%u\" "
                               "type=\"xtpu_mask\" regnum=\"%u\" "
                               "group=\"vector\"/>\n",
                               i, VTPU_VREG_ELEMS * 8, REG_M0 + i);
    g_string_append(s, "</feature>\n</target>\n");
    return s;
}

/* ------------------------------------------------------------------ */
/* Packets                                                              */
/* ------------------------------------------------------------------ */

/* Lock held: report TC i stopped with `sig` (and its watchpoint hit). */
static void stop_reply(vtpu_gdb *g, unsigned i, int sig, bool watch)
{
    static const char *const kinds[] = {"watch", "rwatch", "awatch"};
    const watchpoint *w = &g->t[i].watch;
    char buf[80];

    if (watch)
        snprintf(buf, sizeof(buf), "T%02xthread:%x;%s:%x;", sig & 0xff, i + 1,
                 kinds[w->type - 2], w->addr);
    else
        snprintf(buf, sizeof(buf), "T%02xthread:%x;", sig & 0xff, i + 1);
    g->cur_g = i;
    g->gdb_running = false;
    put_packet(g, buf);
}

/* Lock held: report the first pending event, or TC `dflt` with `sig`. */
static void report_stop(vtpu_gdb *g, unsigned dflt, int sig)
{
    int e = vtpu_gdbs_first_event(g);

    if (e >= 0) {
        g->t[e].ev_seq = 0;
        stop_reply(g, (unsigned)e, g->t[e].ev_sig, g->t[e].ev == EV_WATCH);
    } else {
        stop_reply(g, dflt, sig, false);
    }
}

static unsigned nthreads(const vtpu_gdb *g)
{
    return g->run_active ? g->ntcs : g->chip->cfg.num_tcs;
}

/* Lock held: resume per TC (act[i], sig[i]) unless an event is pending. */
static void resume(vtpu_gdb *g, const resume_act *act, const int *sig)
{
    vtpu_gdbs_drop_stale_events(g);
    if (vtpu_gdbs_first_event(g) >= 0) {
        report_stop(g, g->cur_g, SIG_TRAP);
        return;
    }
    g->pausing = false;
    atomic_fetch_and(&g->chip->stop, ~VTPU_STOP_PAUSE);
    for (unsigned i = 0; i < g->ntcs && g->run_active; i++) {
        gdb_tc *t = &g->t[i];
        if (t->state == T_HALT && act[i] != A_STAY) {
            t->act = act[i];
            t->act_sig = sig[i];
            t->ev = EV_NONE;
            t->state = T_RUN;
        } else if (t->state == T_RUN && t->mode == M_STEP && act[i] != A_STEP) {
            t->mode = M_STEPOVER; /* blocked mid-step: finish quietly */
        }
    }
    vtpu_cond_broadcast(&g->cond);
    g->gdb_running = true;
}

/* 'c', 's', 'C', 'S' and vCont: parse into per-TC actions and resume. */
static void handle_resume(vtpu_gdb *g, const char *p, int cur_c)
{
    resume_act act[VTPU_MAX_TCS] = {0};
    int sig[VTPU_MAX_TCS] = {0};
    bool set[VTPU_MAX_TCS] = {0};
    unsigned n = VTPU_MAX_TCS;

    if (*p == 'c' || *p == 'C' || *p == 's' || *p == 'S') {
        uint64_t s = 0;
        bool step = *p == 's' || *p == 'S';
        if ((*p == 'C' || *p == 'S') && p[1]) {
            const char *q = p + 1;
            if (!parse_hex(&q, &s) && *q != ';') {
                put_packet(g, "E01");
                return;
            }
        }
        unsigned who = cur_c >= 0 ? (unsigned)cur_c : g->cur_g;
        for (unsigned i = 0; i < n; i++) {
            act[i] = step ? (i == who ? A_STEP : A_STAY) : A_CONT;
            sig[i] = i == who ? (int)s : 0;
        }
        resume(g, act, sig);
        return;
    }
    /* vCont;ACTION[:TID]... : the first action naming a thread wins */
    p += 5;
    while (*p == ';') {
        p++;
        char a = *p++;
        uint64_t s = 0, tid = 0;
        bool all = true;
        if (a == 'C' || a == 'S') {
            if (!parse_hex(&p, &s) && *p != ':' && *p != ';') {
                put_packet(g, "E01");
                return;
            }
        } else if (a != 'c' && a != 's' && a != 't') {
            put_packet(g, "E01");
            return;
        }
        if (*p == ':') {
            p++;
            if (p[0] == '-' && p[1] == '1') {
                p += 2;
            } else if (parse_hex(&p, &tid)) {
                all = false;
            } else {
                put_packet(g, "E01");
                return;
            }
        }
        for (unsigned i = 0; i < n; i++) {
            if (set[i] || (!all && tid != i + 1))
                continue;
            set[i] = true;
            act[i] = a == 's' || a == 'S' ? A_STEP : a == 't' ? A_STAY : A_CONT;
            sig[i] = (int)s;
        }
    }
    if (*p) {
        put_packet(g, "E01");
        return;
    }
    resume(g, act, sig);
}

static void monitor_out(vtpu_gdb *g, const char *text)
{
    size_t len = strlen(text);
    char *buf = g_malloc(2 * len + 2);
    buf[0] = 'O';
    hex_encode(buf + 1, text, len);
    put_packet(g, buf);
    g_free(buf);
}

static void handle_monitor(vtpu_gdb *g, const char *hex)
{
    size_t len = strlen(hex) / 2;
    char *cmd = g_malloc0(len + 1);
    char msg[512];

    if (strlen(hex) % 2 || !hex_decode(cmd, hex, len)) {
        put_packet(g, "E01");
        g_free(cmd);
        return;
    }
    g_strstrip(cmd);
    if (!strcmp(cmd, "help") || !cmd[0]) {
        monitor_out(g, "vtpu monitor commands:\n"
                       "  hbm-base [OFFSET]     HBM offset seen at 0x40000000\n"
                       "  launch-break on|off   stop at the start of each run\n"
                       "  fault                 the selected TC's fault\n"
                       "  tcs                   state of every TC\n");
    } else if (!strncmp(cmd, "hbm-base", 8)) {
        const char *a = cmd + 8;
        while (*a == ' ')
            a++;
        if (*a) {
            char *end;
            unsigned long long v = strtoull(a, &end, 0);
            if (*end || v >= g->chip->cfg.hbm_size) {
                monitor_out(g, "hbm-base: not an offset inside HBM\n");
                put_packet(g, "E01");
                g_free(cmd);
                return;
            }
            g->hbm_base = v;
        }
        snprintf(msg, sizeof(msg), "HBM offset 0x%llx is at 0x%08x\n",
                 (unsigned long long)g->hbm_base, HBM_WINDOW);
        monitor_out(g, msg);
    } else if (!strcmp(cmd, "launch-break on") ||
               !strcmp(cmd, "launch-break off")) {
        g->launch_break = cmd[14] == 'n';
    } else if (!strcmp(cmd, "fault")) {
        vtpu_tc *tc = cur_tc(g);
        if (tc->err.kind == VTPU_ERR_NONE) {
            snprintf(msg, sizeof(msg), "TC %u has not faulted\n", tc->id);
        } else {
            vtpu_error e = tc->err;
            uint32_t off = 0;
            const char *sym =
                tc->prog ? vtpu_program_symbol(tc->prog, e.pc, &off) : NULL;
            if (sym && !e.symbol[0]) {
                snprintf(e.symbol, sizeof(e.symbol), "%s", sym);
                e.sym_offset = off;
            }
            vtpu_error_format(&e, msg, sizeof(msg) - 1);
            strcat(msg, "\n");
        }
        monitor_out(g, msg);
    } else if (!strcmp(cmd, "tcs")) {
        static const char *const names[] = {"idle", "running", "stopped",
                                            "finished"};
        GString *s = g_string_new(NULL);
        for (unsigned i = 0; i < nthreads(g); i++) {
            vtpu_tc *tc = g->chip->tcs[i];
            g_string_append_printf(s, "TC %u: %s, pc 0x%08x, %llu insns\n", i,
                                   names[g->t[i].state], tc->pc,
                                   (unsigned long long)tc->instret);
        }
        monitor_out(g, s->str);
        g_string_free(s, TRUE);
    } else {
        monitor_out(g, "unknown monitor command (try 'monitor help')\n");
        put_packet(g, "E01");
        g_free(cmd);
        return;
    }
    put_packet(g, "OK");
    g_free(cmd);
}

static void handle_query(vtpu_gdb *g, const char *p)
{
    if (!strncmp(p, "qSupported", 10)) {
        put_packet(g, "PacketSize=10000;qXfer:features:read+;"
                      "vContSupported+");
    } else if (!strcmp(p, "qAttached")) {
        put_packet(g, "1");
    } else if (!strcmp(p, "qC")) {
        char buf[16];
        snprintf(buf, sizeof(buf), "QC%x", g->cur_g + 1);
        put_packet(g, buf);
    } else if (!strcmp(p, "qfThreadInfo")) {
        GString *s = g_string_new("m");
        for (unsigned i = 0; i < nthreads(g); i++)
            g_string_append_printf(s, "%s%x", i ? "," : "", i + 1);
        put_packet(g, s->str);
        g_string_free(s, TRUE);
    } else if (!strcmp(p, "qsThreadInfo")) {
        put_packet(g, "l");
    } else if (!strncmp(p, "qThreadExtraInfo,", 17)) {
        const char *q = p + 17;
        uint64_t tid;
        if (!parse_hex(&q, &tid) || !tid || tid > nthreads(g)) {
            put_packet(g, "E01");
            return;
        }
        static const char *const st[] = {"idle", "running", "stopped",
                                         "finished"};
        char text[48], hex[100];
        unsigned id = (unsigned)tid - 1;
        bool waits = g->run_active && g->t[id].state == T_RUN &&
                     vtpu_sync_tc_blocked(g->chip, id);
        snprintf(text, sizeof(text), "TC %u (%s)", id,
                 waits ? "waiting" : st[g->t[id].state]);
        hex_encode(hex, text, strlen(text));
        put_packet(g, hex);
    } else if (!strncmp(p, "qXfer:features:read:target.xml:", 31)) {
        const char *q = p + 31;
        uint64_t off, len;
        if (!parse_hex(&q, &off) || *q++ != ',' || !parse_hex(&q, &len) || *q) {
            put_packet(g, "E01");
            return;
        }
        GString *x = target_xml();
        if (len > MAX_PACKET - 8)
            len = MAX_PACKET - 8;
        if (off >= x->len) {
            put_packet(g, "l");
        } else {
            size_t n = x->len - off < len ? x->len - off : len;
            char *buf = g_malloc(n + 2);
            buf[0] = off + n < x->len ? 'm' : 'l';
            memcpy(buf + 1, x->str + off, n);
            buf[n + 1] = 0;
            put_packet(g, buf);
            g_free(buf);
        }
        g_string_free(x, TRUE);
    } else if (!strncmp(p, "qXfer:", 6)) {
        put_packet(g, "E00");
    } else if (!strncmp(p, "qRcmd,", 6)) {
        handle_monitor(g, p + 6);
    } else if (!strncmp(p, "qSymbol", 7)) {
        put_packet(g, "OK");
    } else {
        put_packet(g, "");
    }
}

/* Lock held: clear breakpoints, let everything run, forget the debugger. */
static void detach(vtpu_gdb *g)
{
    uint32_t bps[MAX_BPS];
    unsigned nbp = g->nbp;

    memcpy(bps, g->bp, sizeof(bps));
    g->nbp = 0;
    if (g->nwp) {
        g->nwp = 0;
        vtpu_gdbs_refresh_everything(g);
    }
    g->connected = false;
    g->pausing = false;
    g->gdb_running = false;
    atomic_fetch_and(&g->chip->stop, ~VTPU_STOP_PAUSE);
    for (unsigned b = 0; b < nbp && g->run_active; b++)
        vtpu_gdbs_refresh_all_tcs(g, bps[b]);
    for (unsigned i = 0; i < g->ntcs && g->run_active; i++) {
        gdb_tc *t = &g->t[i];
        t->ev_seq = 0;
        if (t->state == T_HALT) {
            t->act = A_CONT;
            /* a fault takes its course: the signal goes with it */
            t->act_sig = t->ev == EV_FAULT ? t->ev_sig : 0;
            t->state = T_RUN;
        }
    }
    vtpu_cond_broadcast(&g->cond);
}

static void kill_run(vtpu_gdb *g)
{
    if (g->run_active) {
        g->killed = true;
        atomic_fetch_or(&g->chip->stop, VTPU_STOP_END);
        vtpu_sync_stop_all(g->chip);
    }
    g->pausing = false;
    vtpu_cond_broadcast(&g->cond);
}

/* Z2/Z3/Z4 (write, read, access watchpoints) and their z removals. */
static void handle_watch(vtpu_gdb *g, const char *p)
{
    const char *q = p + 3;
    uint64_t a, len;
    int type = p[1] - '0';
    bool ins = p[0] == 'Z';

    /* SMEM and VMEM only: what scalar and vector accesses reach */
    if (!parse_hex(&q, &a) || *q++ != ',' || !parse_hex(&q, &len) || *q ||
        !len || len > 0x10000 || a >= HBM_WINDOW || a + len > HBM_WINDOW ||
        a < VTPU_SMEM_BASE) {
        put_packet(g, "E01");
        return;
    }
    unsigned before = g->nwp;
    watchpoint w = {(uint32_t)a, (uint32_t)len, type};
    if (ins) {
        if (g->nwp == MAX_WPS) {
            put_packet(g, "E01");
            return;
        }
        g->wp[g->nwp++] = w;
    } else {
        for (unsigned i = 0; i < g->nwp; i++)
            if (!memcmp(&g->wp[i], &w, sizeof(w))) {
                g->wp[i] = g->wp[--g->nwp];
                break;
            }
    }
    if (!before != !g->nwp)
        vtpu_gdbs_refresh_everything(
            g); /* memory accesses become traps, or not */
    put_packet(g, "OK");
}

/* One packet while gdb has the target stopped.  false: end the session. */
static bool handle_packet(vtpu_gdb *g, char *p, int *cur_c)
{
    vtpu_tc *tc = cur_tc(g);
    char *out = g->out;
    const char *q = p + 1;
    uint64_t a, l;

    switch (p[0]) {
    case '?':
        report_stop(g, g->cur_g, SIG_TRAP);
        return true;
    case 'q':
        handle_query(g, p);
        return true;
    case 'Q':
        put_packet(g, "");
        return true;
    case 'H': {
        uint64_t tid = 0;
        bool any =
            (q[1] == '-' && q[2] == '1' && !q[3]) || (q[1] == '0' && !q[2]);
        if ((q[0] != 'g' && q[0] != 'c') ||
            (!any && (q = p + 2, !parse_hex(&q, &tid) || *q || !tid ||
                                     tid > nthreads(g)))) {
            put_packet(g, "E01");
            return true;
        }
        if (p[1] == 'g' && !any)
            g->cur_g = (unsigned)tid - 1;
        if (p[1] == 'c')
            *cur_c = any ? -1 : (int)tid - 1;
        put_packet(g, "OK");
        return true;
    }
    case 'T': {
        uint64_t tid;
        put_packet(g, parse_hex(&q, &tid) && !*q && tid && tid <= nthreads(g)
                          ? "OK"
                          : "E01");
        return true;
    }
    case 'g': {
        uint8_t buf[4];
        for (unsigned i = 0; i < NREGS_G; i++) {
            reg_read(tc, g_regnum(i), buf);
            hex_encode(out + 8 * i, buf, 4);
        }
        put_packet(g, out);
        return true;
    }
    case 'G': {
        uint8_t buf[4 * NREGS_G];
        if (strlen(q) != 8 * NREGS_G || !hex_decode(buf, q, sizeof(buf))) {
            put_packet(g, "E01");
            return true;
        }
        for (unsigned i = 0; i < NREGS_G; i++)
            reg_write(tc, g_regnum(i), buf + 4 * i);
        put_packet(g, "OK");
        return true;
    }
    case 'p': {
        static uint8_t buf[VTPU_VREG_BYTES];
        size_t n;
        if (!parse_hex(&q, &a) || *q || a > REG_END ||
            !(n = reg_read(tc, (unsigned)a, buf))) {
            put_packet(g, "E01");
            return true;
        }
        hex_encode(out, buf, n);
        put_packet(g, out);
        return true;
    }
    case 'P': {
        static uint8_t buf[VTPU_VREG_BYTES];
        uint8_t probe[VTPU_VREG_BYTES];
        size_t n;
        if (!parse_hex(&q, &a) || *q++ != '=' || a > REG_END ||
            !(n = reg_read(tc, (unsigned)a, probe)) || strlen(q) != 2 * n ||
            !hex_decode(buf, q, n)) {
            put_packet(g, "E01");
            return true;
        }
        reg_write(tc, (unsigned)a, buf);
        put_packet(g, "OK");
        return true;
    }
    case 'm': {
        static uint8_t buf[VTPU_VREG_BYTES];
        if (!parse_hex(&q, &a) || *q++ != ',' || !parse_hex(&q, &l) || *q ||
            a > UINT32_MAX) {
            put_packet(g, "E01");
            return true;
        }
        if (l > sizeof(buf))
            l = sizeof(buf); /* a short read; gdb asks for the rest */
        if (!l || !mem_access(g, (uint32_t)a, l, buf, false)) {
            put_packet(g, l ? "E01" : "");
            return true;
        }
        hex_encode(out, buf, l);
        put_packet(g, out);
        return true;
    }
    case 'M': {
        static uint8_t buf[MAX_PACKET / 2];
        if (!parse_hex(&q, &a) || *q++ != ',' || !parse_hex(&q, &l) ||
            *q++ != ':' || a > UINT32_MAX || l > sizeof(buf) ||
            strlen(q) != 2 * l || !hex_decode(buf, q, l) ||
            (l && !mem_access(g, (uint32_t)a, l, buf, true))) {
            put_packet(g, "E01");
            return true;
        }
        put_packet(g, "OK");
        return true;
    }
    case 'Z':
    case 'z': {
        uint64_t kind;
        bool ins = p[0] == 'Z';
        if (p[1] >= '2' && p[1] <= '4' && p[2] == ',') {
            handle_watch(g, p);
            return true;
        }
        if ((p[1] != '0' && p[1] != '1') || p[2] != ',') {
            put_packet(g, "");
            return true;
        }
        q = p + 3;
        if (!parse_hex(&q, &a) || *q++ != ',' || !parse_hex(&q, &kind) ||
            (*q && *q != ';') || (a & 3) || a < VTPU_IMEM_BASE ||
            a >= VTPU_IMEM_BASE + VTPU_IMEM_MAX) {
            put_packet(g, "E01");
            return true;
        }
        uint32_t pc = (uint32_t)a;
        if (ins && !vtpu_gdbs_bp_has(g, pc)) {
            if (g->nbp == MAX_BPS) {
                put_packet(g, "E01");
                return true;
            }
            g->bp[g->nbp++] = pc;
        } else if (!ins) {
            for (unsigned i = 0; i < g->nbp; i++)
                if (g->bp[i] == pc)
                    g->bp[i--] = g->bp[--g->nbp];
        }
        if (g->run_active)
            vtpu_gdbs_refresh_all_tcs(g, pc);
        put_packet(g, "OK");
        return true;
    }
    case 'c':
    case 'C':
    case 's':
    case 'S':
        handle_resume(g, p, *cur_c);
        return true;
    case 'v':
        if (!strcmp(p, "vCont?")) {
            put_packet(g, "vCont;c;C;s;S;t");
        } else if (!strncmp(p, "vCont;", 6)) {
            handle_resume(g, p, *cur_c);
        } else if (!strncmp(p, "vKill", 5)) {
            kill_run(g);
            put_packet(g, "OK");
            return false;
        } else {
            put_packet(g, "");
        }
        return true;
    case 'k':
        kill_run(g);
        return false;
    case 'D':
        put_packet(g, "OK");
        return false;
    default:
        put_packet(g, "");
        return true;
    }
}

/* ------------------------------------------------------------------ */
/* The server thread                                                    */
/* ------------------------------------------------------------------ */

/* Lock held, gdb_running: has something happened that gdb must hear? */
static bool check_events(vtpu_gdb *g)
{
    if (g->run_over) {
        char buf[16];
        g->run_over = false;
        g->gdb_running = false;
        if (g->exit_status < 0)
            snprintf(buf, sizeof(buf), "X%02x", -g->exit_status & 0xff);
        else
            snprintf(buf, sizeof(buf), "W%02x", g->exit_status);
        put_packet(g, buf);
        return true;
    }
    if (g->run_active && vtpu_gdbs_first_event(g) >= 0) {
        vtpu_gdbs_stop_all(g);
        report_stop(g, g->cur_g, SIG_TRAP);
        return true;
    }
    return false;
}

static void session(vtpu_gdb *g)
{
    int cur_c = -1;
    bool go = true;

    vtpu_mutex_lock(&g->lock);
    g->connected = true;
    g->gdb_running = false;
    g->run_over = false;
    vtpu_gdbs_stop_all(g);
    vtpu_cond_broadcast(&g->cond);
    vtpu_mutex_unlock(&g->lock);

    while (go && !atomic_load(&g->quit) && g->cfd >= 0) {
        vtpu_mutex_lock(&g->lock);
        bool running = g->gdb_running;
        if (running && check_events(g))
            running = false;
        vtpu_mutex_unlock(&g->lock);

        if (running) {
            int c = get_byte(g, 5);
            if (c == -1)
                break;
            if (c == 0x03) {
                vtpu_mutex_lock(&g->lock);
                if (g->gdb_running) {
                    vtpu_gdbs_stop_all(g);
                    report_stop(g, g->cur_g, SIG_INT);
                }
                vtpu_mutex_unlock(&g->lock);
            } else if (c == '$') {
                g->in_pos--; /* a packet while running: read it below */
                vtpu_mutex_lock(&g->lock);
                vtpu_gdbs_stop_all(g);
                g->gdb_running = false;
                vtpu_mutex_unlock(&g->lock);
            }
            continue;
        }
        int n = get_packet(g);
        if (n == -1)
            break;
        if (n < 0)
            continue; /* Ctrl-C while stopped */
        vtpu_mutex_lock(&g->lock);
        /* '?' for the first run: answer once its TCs wait at the entry */
        if (g->pkt[0] == '?' && (g->flags & VTPU_GDB_STOP_AT_START) &&
            (g->run_active || !g->runs)) {
            gint64 end = g_get_monotonic_time() + 10 * G_TIME_SPAN_SECOND;
            while ((!g->run_active || !vtpu_gdbs_quiescent(g)) &&
                   g_get_monotonic_time() < end && !atomic_load(&g->quit))
                vtpu_cond_wait_until(&g->cond, &g->lock,
                                     g_get_monotonic_time() +
                                         5 * G_TIME_SPAN_MILLISECOND);
        }
        go = handle_packet(g, g->pkt, &cur_c);
        vtpu_mutex_unlock(&g->lock);
    }
    vtpu_mutex_lock(&g->lock);
    if (!g->killed)
        detach(g);
    g->connected = false;
    g->gdb_running = false;
    vtpu_cond_broadcast(&g->cond);
    vtpu_mutex_unlock(&g->lock);
}

static gpointer server_main(gpointer opaque)
{
    vtpu_gdb *g = opaque;
    struct pollfd p = {.fd = g->lfd, .events = POLLIN};

    while (!atomic_load(&g->quit)) {
        if (poll(&p, 1, 100) <= 0)
            continue;
        int fd = accept(g->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        g->cfd = fd;
        g->in_len = g->in_pos = 0;
        session(g);
        if (g->cfd >= 0)
            close(g->cfd);
        g->cfd = -1;
    }
    return NULL;
}

vtpu_gdb *vtpu_gdb_start(vtpu_chip *chip, const char *where, unsigned flags,
                         char *err, size_t errlen)
{
    char host[64] = "127.0.0.1";
    const char *port_s = where ? where : "";
    struct sockaddr_in sa = {.sin_family = AF_INET};

    if (!strncmp(port_s, "tcp:", 4))
        port_s += 4;
    const char *colon = strrchr(port_s, ':');
    if (colon) {
        size_t hl = (size_t)(colon - port_s);
        if (hl >= sizeof(host)) {
            snprintf(err, errlen, "gdb: host name too long in '%s'", where);
            return NULL;
        }
        if (hl) {
            memcpy(host, port_s, hl);
            host[hl] = 0;
            if (!strcmp(host, "localhost"))
                strcpy(host, "127.0.0.1");
        }
        port_s = colon + 1;
    }
    char *end;
    long port = strtol(port_s, &end, 10);
    if (!*port_s || *end || port < 0 || port > 65535 ||
        inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        snprintf(err, errlen,
                 "gdb: '%s' is not [tcp:][HOST:]PORT (HOST a dotted IPv4 "
                 "address)",
                 where ? where : "");
        return NULL;
    }
    if (chip->gdb) {
        snprintf(err, errlen, "gdb: the chip already has a stub");
        return NULL;
    }
    sa.sin_port = htons((uint16_t)port);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0) {
        snprintf(err, errlen, "gdb: cannot listen on %s:%ld: %s", host, port,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    socklen_t sl = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &sl);

    vtpu_gdb *g = g_new0(vtpu_gdb, 1);
    g->chip = chip;
    g->flags = flags;
    g->lfd = fd;
    g->cfd = -1;
    g->port = ntohs(sa.sin_port);
    g->handlers = vtpu_interp_handlers();
    g->h_debug = g->handlers[VTPU_OP_DEBUG];
    static const int mem_ops[] = {
        VTPU_OP_LB, VTPU_OP_LH, VTPU_OP_LW,  VTPU_OP_LBU, VTPU_OP_LHU,
        VTPU_OP_SB, VTPU_OP_SH, VTPU_OP_SW,  VTPU_OP_FLW, VTPU_OP_FSW,
        VTPU_OP_XTPU /* last: is_access() looks at the word */};
    for (unsigned i = 0; i < sizeof(mem_ops) / sizeof(mem_ops[0]); i++)
        g->h_mem[g->nh_mem++] = g->handlers[mem_ops[i]];
    vtpu_mutex_init(&g->lock);
    vtpu_cond_init(&g->cond);
    for (unsigned i = 0; i < VTPU_MAX_TCS; i++)
        g->t[i].step_idx = g->t[i].exec_idx = -1;
    chip->gdb = g;
    g->thread = g_thread_new("vtpu-gdb", server_main, g);
    return g;
}

int vtpu_gdb_port(const vtpu_gdb *g)
{
    return g->port;
}

int vtpu_gdb_wait_attach(vtpu_gdb *g, int timeout_ms)
{
    gint64 end =
        g_get_monotonic_time() + (gint64)timeout_ms * G_TIME_SPAN_MILLISECOND;
    int rc = 0;

    vtpu_mutex_lock(&g->lock);
    while (!g->connected) {
        gint64 now = g_get_monotonic_time();
        if (timeout_ms >= 0 && now >= end) {
            rc = -1;
            break;
        }
        vtpu_cond_wait_until(&g->cond, &g->lock,
                             now + 100 * G_TIME_SPAN_MILLISECOND);
    }
    vtpu_mutex_unlock(&g->lock);
    return rc;
}

bool vtpu_gdb_killed(const vtpu_gdb *g)
{
    return g->killed;
}

void vtpu_gdb_free(vtpu_gdb *g)
{
    if (!g)
        return;
    if (g->flags & VTPU_GDB_ONE_RUN) {
        /* let gdb hear the end of the run and hang up */
        gint64 end = g_get_monotonic_time() + 3 * G_TIME_SPAN_SECOND;
        vtpu_mutex_lock(&g->lock);
        while (g->connected && g_get_monotonic_time() < end)
            vtpu_cond_wait_until(&g->cond, &g->lock,
                                 g_get_monotonic_time() +
                                     20 * G_TIME_SPAN_MILLISECOND);
        vtpu_mutex_unlock(&g->lock);
    }
    atomic_store(&g->quit, 1);
    g_thread_join(g->thread);
    close(g->lfd);
    g->chip->gdb = NULL;
    for (unsigned i = 0; i < VTPU_MAX_TCS; i++)
        g_free(g->t[i].code);
    vtpu_mutex_clear(&g->lock);
    vtpu_cond_clear(&g->cond);
    g_free(g);
}
