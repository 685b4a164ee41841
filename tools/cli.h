/*
 * cli.h - what the parts of vtpu-run share: exit statuses, the fatal
 * error line and integer parsing.
 */
#ifndef VTPU_CLI_H
#define VTPU_CLI_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Exit statuses (docs/vtpu-run.md); a bare program's own exit code
 * otherwise. */
#define EXIT_FILE 1    /* kernel mode: a file cannot be read or written */
#define EXIT_USAGE 2   /* bad options or arguments */
#define EXIT_FAULT 125 /* the run or launch failed */
#define EXIT_LOAD 126  /* the program or module cannot be loaded */

/* Print "vtpu-run: MESSAGE" on stderr and exit with `code`. */
static inline void die(int code, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 2, 3)));

static inline void die(int code, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "vtpu-run: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(code);
}

/* A 32-bit value, signed or unsigned, decimal or 0x hex.  0 or -1. */
static inline int parse_u32(const char *s, uint32_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 0);
    if (errno || end == s || *end || v < INT32_MIN || v > UINT32_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

#endif /* VTPU_CLI_H */
