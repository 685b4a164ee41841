/*
 * vtpu-run-linux.c - vtpu-run for Linux user space: the kernel mode of
 * vtpu-run (run-kernel.c, docs/vtpu-run.md) on the VM's vtpu through the
 * kernel driver (/dev/accel/accel0) and the runtime's Linux backend
 * (driver/linux/user/vtpu_rt_linux.h).  Plain C and libc (getopt_long),
 * built statically for riscv64 Linux (make linux-user).
 *
 *   vtpu-run MODULE.elf KERNEL [--grid N[,N...]] [--dims S[,S...]]
 *            [--scalar V,...] [--scalar-file S.npy] IN.npy... -o OUT.npy...
 *            [--out-shape ...]
 *            [--device /dev/accel/accelN] [-q]
 *
 * The same files, options, summary line, messages and exit statuses as
 * the host's vtpu-run in kernel mode.  The host's options that shape or
 * instrument the in-process chip (--bare, --gen, --cores, --set, --race,
 * --poison, --gdb, --trace, ...) do not apply to a real device and are
 * refused (exit 2).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "run-kernel.h"
#include "vtpu_rt_linux.h"

/* Repeatable options collect into NULL-terminated lists. */
typedef struct list {
    char **v;
    unsigned n;
} list;

static void push(list *l, char *s)
{
    l->v = realloc(l->v, (l->n + 2) * sizeof(*l->v));
    if (!l->v)
        die(EXIT_FAULT, "out of memory");
    l->v[l->n++] = s;
    l->v[l->n] = NULL;
}

static const char usage[] =
    "Usage:\n"
    "  vtpu-run MODULE.elf KERNEL [OPTION...] IN.npy... -o OUT.npy...\n"
    "\n"
    "Runs one launch of KERNEL from the kernel module MODULE.elf on the vtpu\n"
    "through the Linux driver (/dev/accel/accel0) and the runtime.  Input\n"
    "files go to the kernel's input (and in/out) operands in order, -o files\n"
    "to its output (and in/out) operands in order; an output's shape is the\n"
    "one the kernel declares, else --out-shape must give it.  Prints one\n"
    "summary line (kernel, grid, TCs, launch time, bytes moved).  Exit\n"
    "status: 0; 1 for a file that cannot be read or written; 2 for usage\n"
    "errors; 125 if the launch failed; 126 if the module could not be\n"
    "loaded.  docs/vtpu-run.md has the details.\n"
    "\n"
    "Options:\n"
    "  -o, --output=FILE        the .npy file for the next output operand\n"
    "                           (repeatable, in operand order)\n"
    "  --grid=N[,N...]          grid extents (default: one step)\n"
    "  --dims=S[,S...]          parallel or arbitrary per grid dimension\n"
    "                           (default: all arbitrary)\n"
    "  --scalar=V[,V...]        scalar-prefetch values, int32 (repeatable)\n"
    "  --scalar-file=FILE.npy   more of them, after the --scalar ones: a 1-D\n"
    "                           int32/uint32 .npy file\n"
    "  --out-shape=[DT:]N[,N...]  shape (and dtype) of the next output;\n"
    "                           'auto' keeps the declared one (repeatable)\n"
    "  --grid-order=ORDER       lexicographic (default) or shuffle[:SEED]\n"
    "  --check-revisit          fail when an output block comes back after\n"
    "                           it was written back\n"
    "  -q, --quiet              do not print the summary line\n"
    "  --device=PATH            the device node (default: $VTPU_ACCEL or\n"
    "                           " VTPU_LINUX_DEFAULT_NODE ")\n"
    "  -h, --help               this text\n";

enum {
    OPT_GRID = 256,
    OPT_DIMS,
    OPT_SCALAR,
    OPT_SCALAR_FILE,
    OPT_OUT_SHAPE,
    OPT_GRID_ORDER,
    OPT_CHECK_REVISIT,
    OPT_DEVICE,
    OPT_HOST_ONLY, /* the host's options: refused */
};

static const struct option opts[] = {
    {"output", required_argument, NULL, 'o'},
    {"grid", required_argument, NULL, OPT_GRID},
    {"dims", required_argument, NULL, OPT_DIMS},
    {"scalar", required_argument, NULL, OPT_SCALAR},
    {"scalar-file", required_argument, NULL, OPT_SCALAR_FILE},
    {"out-shape", required_argument, NULL, OPT_OUT_SHAPE},
    {"grid-order", required_argument, NULL, OPT_GRID_ORDER},
    {"check-revisit", no_argument, NULL, OPT_CHECK_REVISIT},
    {"quiet", no_argument, NULL, 'q'},
    {"device", required_argument, NULL, OPT_DEVICE},
    {"help", no_argument, NULL, 'h'},
    /* the host's vtpu-run only */
    {"bare", required_argument, NULL, OPT_HOST_ONLY},
    {"gen", required_argument, NULL, OPT_HOST_ONLY},
    {"cores", required_argument, NULL, OPT_HOST_ONLY},
    {"set", required_argument, NULL, OPT_HOST_ONLY},
    {"insn-budget", required_argument, NULL, OPT_HOST_ONLY},
    {"race", no_argument, NULL, OPT_HOST_ONLY},
    {"poison", no_argument, NULL, OPT_HOST_ONLY},
    {"arg", required_argument, NULL, OPT_HOST_ONLY},
    {"gdb", required_argument, NULL, OPT_HOST_ONLY},
    {"dma-order", required_argument, NULL, OPT_HOST_ONLY},
    {"trace", required_argument, NULL, OPT_HOST_ONLY},
    {"stats", no_argument, NULL, OPT_HOST_ONLY},
    {"tag-output", no_argument, NULL, OPT_HOST_ONLY},
    {"verbose", no_argument, NULL, OPT_HOST_ONLY},
    {"help-props", no_argument, NULL, OPT_HOST_ONLY},
    {NULL, 0, NULL, 0},
};

typedef struct linux_dev {
    const char *node;
    vtpu_rt rt;
} linux_dev;

static vtpu_rt *linux_open(void *ctx)
{
    linux_dev *d = ctx;
    if (vtpu_rt_open_linux(&d->rt, d->node))
        die(EXIT_FAULT, "%s", vtpu_rt_error(&d->rt));
    return &d->rt;
}

static void linux_close(void *ctx)
{
    linux_dev *d = ctx;
    vtpu_rt_fini(&d->rt);
}

int main(int argc, char **argv)
{
    list outputs = {0}, scalars = {0}, shapes = {0};
    run_kernel_args ka = {0};
    static linux_dev dev; /* the runtime is big: not on the stack */
    int c, idx;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:qhg:c:a:v", opts, &idx)) != -1) {
        switch (c) {
        case 'o':
            push(&outputs, optarg);
            break;
        case OPT_GRID:
            ka.grid = optarg;
            break;
        case OPT_DIMS:
            ka.dims = optarg;
            break;
        case OPT_SCALAR:
            push(&scalars, optarg);
            break;
        case OPT_SCALAR_FILE:
            ka.scalar_file = optarg;
            break;
        case OPT_OUT_SHAPE:
            push(&shapes, optarg);
            break;
        case OPT_GRID_ORDER:
            ka.grid_order = optarg;
            break;
        case OPT_CHECK_REVISIT:
            ka.check_revisit = true;
            break;
        case 'q':
            ka.quiet = true;
            break;
        case OPT_DEVICE:
            dev.node = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        case 'g':
        case 'c':
        case 'a':
        case 'v':
        case OPT_HOST_ONLY: {
            char opt[32];
            if (c == OPT_HOST_ONLY)
                snprintf(opt, sizeof(opt), "--%s", opts[idx].name);
            else
                snprintf(opt, sizeof(opt), "-%c", c);
            die(EXIT_USAGE,
                "%s: an option of the host's vtpu-run (the in-process chip); "
                "in Linux the device is the VM's vtpu (try --help)",
                opt);
        }
        case ':':
            die(EXIT_USAGE, "Missing argument for %s (try --help)",
                argv[optind - 1]);
        default:
            die(EXIT_USAGE, "Unknown option %s (try --help)",
                argv[optind - 1]);
        }
    }
    int nargs = argc - optind;
    if (nargs < 2)
        die(EXIT_USAGE, "nothing to run: give MODULE.elf KERNEL (try --help)");
    ka.module = argv[optind];
    ka.kernel = argv[optind + 1];
    ka.inputs = argv + optind + 2;
    ka.ninputs = (unsigned)nargs - 2;
    ka.outputs = outputs.v;
    ka.scalars = scalars.v;
    ka.out_shapes = shapes.v;
    run_kernel_dev d = {&dev, linux_open, NULL, linux_close, NULL};
    return run_kernel(&ka, &d);
}
