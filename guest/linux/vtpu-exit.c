/* vtpu-exit - power the guest off so that QEMU exits with a status.
 *
 *   vtpu-exit [STATUS]      (0..255, default 0)
 *   poweroff, halt          (links to it: status 0, options ignored)
 *   reboot                  (a link to it: QEMU resets the machine)
 *
 * Waits until the console has sent what is queued for it (tcdrain: the
 * kernel's UART driver sends from an interrupt, so text written just
 * before would otherwise be lost when QEMU exits), syncs, then writes to
 * QEMU virt's sifive_test device at 0x100000 through /dev/mem:
 * 0x5555 (pass: QEMU exits 0) or (STATUS << 16) | 0x3333 (fail: QEMU
 * exits STATUS).  Falls back to reboot(RB_POWER_OFF) (the kernel's
 * syscon-poweroff: QEMU exits 0) if /dev/mem cannot be used.
 * Static, built by guest/linux/build-linux.sh; used by guest/linux/init. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/reboot.h>
#include <termios.h>
#include <unistd.h>

#define SIFIVE_TEST_BASE 0x100000UL
#define FINISHER_FAIL 0x3333u
#define FINISHER_PASS 0x5555u
#define FINISHER_RESET 0x7777u

int main(int argc, char **argv)
{
    const char *name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1
                                              : argv[0];
    int reset = strcmp(name, "reboot") == 0;
    unsigned long status = 0;
    if (strcmp(name, "vtpu-exit") == 0 && argc > 1)
        status = strtoul(argv[1], NULL, 0);
    if (status > 255)
        status = 255;

    fflush(NULL);
    tcdrain(STDOUT_FILENO);
    tcdrain(STDERR_FILENO);
    int con = open("/dev/console", O_RDWR | O_NOCTTY);
    if (con >= 0) {
        tcdrain(con);
        close(con);
    }
    sync();

    int fd = open("/dev/mem", O_RDWR | O_SYNC);
    if (fd >= 0) {
        volatile uint32_t *reg = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                                      MAP_SHARED, fd, SIFIVE_TEST_BASE);
        if (reg != MAP_FAILED) {
            *reg = reset    ? FINISHER_RESET
                   : status ? ((uint32_t)status << 16) | FINISHER_FAIL
                            : FINISHER_PASS;
            /* QEMU exits (or resets) on the store: not reached, unless
             * there is no such device; then the syscall below. */
            sleep(1);
        } else {
            perror("vtpu-exit: mmap /dev/mem");
        }
    } else {
        perror("vtpu-exit: /dev/mem");
    }
    reboot(reset ? RB_AUTOBOOT : RB_POWER_OFF);
    perror("vtpu-exit: reboot");
    return 1;
}
