/* poison_mxu.c - poison_uninit.c's bug, caught at the MXU. */
#define TO_MXU 1
#include "poison_uninit.c"
