/*
 * linux-user.h - what the Linux user-space programs of guest/linux-user
 * share (linux-user.c): where the kernel modules are installed, a
 * monotonic clock, reading files.
 */
#ifndef GUEST_LINUX_USER_H
#define GUEST_LINUX_USER_H

#include <stddef.h>
#include <stdint.h>

/* Where the initramfs puts the kernel modules (guest/linux/extra-files.txt). */
#define LU_SHARE "/usr/share/vtpu"
#define LU_KERNELS_ELF LU_SHARE "/kernels.elf"   /* the kernel library */
#define LU_SELFTEST_ELF LU_SHARE "/selftest.elf" /* kernels that fail */

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t lu_now_ns(void);
/* A whole file, malloc'd (NULL on failure, errno set). */
void *lu_read_file(const char *path, size_t *len);
/* The first line of the file named by the format, without its newline,
 * into buf ("" if it cannot be read). */
void lu_read_line(const char *fmt, const char *arg, char *buf, size_t len);

#endif /* GUEST_LINUX_USER_H */
