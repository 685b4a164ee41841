/*
 * syscalls.c - picolibc glue for programs on a vtpu TensorCore.
 *
 * Output goes through the write(64) ecall and exit through exit(93), with
 * Linux's RISC-V numbering, so the same ELF prints the same under vtpu-run
 * --bare and under qemu-riscv32.  stdout is line-buffered to keep the
 * number of ecalls (and interleaving between TCs) low; stderr is not
 * buffered.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

static long vtpu_syscall3(long n, long a0, long a1, long a2)
{
    register long r_a0 __asm__("a0") = a0;
    register long r_a1 __asm__("a1") = a1;
    register long r_a2 __asm__("a2") = a2;
    register long r_a7 __asm__("a7") = n;
    __asm__ volatile("ecall"
                     : "+r"(r_a0)
                     : "r"(r_a1), "r"(r_a2), "r"(r_a7)
                     : "memory");
    return r_a0;
}

ssize_t write(int fd, const void *buf, size_t len)
{
    return vtpu_syscall3(64, fd, (long)buf, (long)len);
}

void _exit(int code)
{
    for (;;)
        vtpu_syscall3(93, code, 0, 0);
}

static char out_buf[256];
static size_t out_len;

static int out_flush(FILE *f)
{
    (void)f;
    if (out_len)
        write(1, out_buf, out_len);
    out_len = 0;
    return 0;
}

static int out_put(char c, FILE *f)
{
    out_buf[out_len++] = c;
    if (c == '\n' || out_len == sizeof(out_buf))
        out_flush(f);
    return (unsigned char)c;
}

static int err_put(char c, FILE *f)
{
    (void)f;
    out_flush(f);
    write(2, &c, 1);
    return (unsigned char)c;
}

static FILE out_file = FDEV_SETUP_STREAM(out_put, NULL, out_flush,
                                         _FDEV_SETUP_WRITE);
static FILE err_file = FDEV_SETUP_STREAM(err_put, NULL, NULL,
                                         _FDEV_SETUP_WRITE);
FILE *const stdout = &out_file;
FILE *const stderr = &err_file;
FILE *const stdin = NULL;

/* Flush stdout when the program exits normally. */
static void flush_at_exit(void) __attribute__((destructor));
static void flush_at_exit(void)
{
    out_flush(stdout);
}

unsigned long vtpu_entry_arg(unsigned i)
{
    extern unsigned long __vtpu_entry_args[4];
    return i < 4 ? __vtpu_entry_args[i] : 0;
}

unsigned long vtpu_smem_top(void)
{
    extern unsigned long __vtpu_entry_sp;
    return __vtpu_entry_sp;
}
