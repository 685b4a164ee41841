/*
 * hello.c - the smallest end-to-end check: text through the write ecall
 * (buffered and unbuffered, stdout and stderr) and a non-zero exit code,
 * identical under vtpu-run --bare and qemu-riscv32.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
    static const char raw[] = "raw write(1) without stdio\n";

    printf("hello from a vtpu TensorCore\n");
    printf("%d + %d = %d, %s, %c, %x, %5.2f\n", 2, 3, 2 + 3, "str", 'c',
           0xbeefu, 3.25);
    fflush(stdout);
    if (write(1, raw, strlen(raw)) != (ssize_t)strlen(raw))
        return 1;
    /* Bad file descriptor: -1 with errno-style -9 from the ecall. */
    printf("write to fd 7 returns %d\n", (int)write(7, raw, 3));
    printf("a long line: ");
    for (int i = 0; i < 100; i++)
        printf("%d,", i);
    printf("\n");
    return 7;
}
