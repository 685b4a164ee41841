/*
 * lazymem.c - memory the host backs only where it is touched: HBM, VMEM,
 * SMEM and the check shadows.  Anonymous private mappings with
 * MAP_NORESERVE, so a 95 GiB HBM costs nothing until written, and
 * "zero it" is dropping the pages (fast at any size, and the host gets
 * the memory back).
 */
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

void *vtpu_map_lazy(uint64_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void vtpu_unmap_lazy(void *p, uint64_t size)
{
    if (p)
        munmap(p, size);
}

void vtpu_zero_lazy(void *p, uint64_t size)
{
    if (p && madvise(p, size, MADV_DONTNEED) != 0)
        memset(p, 0, size);
}
