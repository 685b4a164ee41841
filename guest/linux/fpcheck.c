/* fpcheck - a hard-float user program for the Linux guest's self-check.
 *
 * Computes sums with double and float arithmetic (add, multiply, divide,
 * sqrt, conversions) and prints them with 17 significant digits; the
 * system test (tests/system/test_linux.py) compares the line with the
 * same computation done on the host.  A kernel that does not enable the
 * F/D extensions for user space kills this with SIGILL (the
 * CONFIG_RISCV_ISA_FALLBACK trap, docs/linux.md). */
#include <math.h>
#include <stdio.h>

int main(void)
{
    volatile double n = 1000; /* volatile: computed at run time */
    double s = 0, q = 0;
    float f = 0;
    for (int i = 1; i <= (int)n; i++) {
        double x = i;
        s += 1.0 / (x * x);
        q += sqrt(x);
        f += (float)x * 0.5f;
    }
    printf("fpcheck %.17g %.17g %.9g\n", s, q, (double)f);
    return 0;
}
