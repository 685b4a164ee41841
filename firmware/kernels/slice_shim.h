/* TEMPORARY: the slice API of firmware/include/vtpu/sync.h until the
 * engine branch lands (deleted at merge). */
#ifndef SLICE_SHIM_H
#define SLICE_SHIM_H
#include <vtpu/sync.h>
static inline uint32_t shim_csr_mesh(void)
{
    uint32_t v;
    __asm__ volatile("csrr %0, 0xcc4" : "=r"(v));
    return v;
}
static inline uint32_t shim_csr_coord(void)
{
    uint32_t v;
    __asm__ volatile("csrr %0, 0xcc5" : "=r"(v));
    return v;
}
static inline void vtpu_mesh_shape(uint32_t d[3])
{
    uint32_t v = shim_csr_mesh();
    d[0] = v & 1023, d[1] = v >> 10 & 1023, d[2] = v >> 20 & 1023;
}
static inline void vtpu_mesh_coords(uint32_t d[3])
{
    uint32_t v = shim_csr_coord();
    d[0] = v & 1023, d[1] = v >> 10 & 1023, d[2] = v >> 20 & 1023;
}
static inline uint32_t vtpu_mesh_neighbor(int axis, int delta)
{
    uint32_t d[3], c[3];
    vtpu_mesh_shape(d);
    vtpu_mesh_coords(c);
    c[axis] = (uint32_t)(((int)c[axis] + delta) % (int)d[axis] + (int)d[axis]) % d[axis];
    return c[0] + d[0] * (c[1] + d[1] * c[2]);
}
static inline void vtpu_dma_set_remote(vtpu_dma_desc *d, uint32_t chip, uint32_t send_sem)
{
    d->flags = 1u | send_sem << 16;
    d->reserved = chip;
}
static inline void vtpu_sem_signal_remote(uint32_t chip, uint32_t tc, uint32_t sem, uint32_t n)
{
    uint32_t b = sem | (tc & 0xff) << 16;
    __asm__ volatile(".insn r4 0x7b, 6, 0, x0, %0, %1, %2" ::"r"(chip), "r"(b), "r"(n) : "memory");
}
#endif
