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

/* Whole huge pages: a mapping that is one only gets them if it can. */
#define HUGE_ROUND(size) (((size) + (2ull << 20) - 1) & ~((2ull << 20) - 1))

void *vtpu_map_lazy_huge(uint64_t size)
{
    size = HUGE_ROUND(size);
    void *p = vtpu_map_lazy(size);
#ifdef MADV_HUGEPAGE
    /* Advice only: without transparent huge pages it is the same. */
    if (p)
        madvise(p, size, MADV_HUGEPAGE);
#endif
    return p;
}

void vtpu_unmap_lazy_huge(void *p, uint64_t size)
{
    vtpu_unmap_lazy(p, HUGE_ROUND(size));
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
