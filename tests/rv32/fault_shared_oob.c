/*
 * fault_shared_oob.c - a VLD whose rows run past the end of VMEM_SHARED
 * (1 MiB by default): an out-of-bounds fault naming VMEM_SHARED.
 */
#include <stdint.h>

#include "vtpu-map.h"
#include "vtpu/xtpu.h"

int main(void)
{
    VLD(1, VTPU_VMEM_SHARED_BASE + (1u << 20) - 3 * 512);
    return 0;
}
