/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The device's ABI headers (hw/vtpu/abi/) are freestanding C99 and
 * include <stdint.h>; in the kernel the fixed-width types come from
 * <linux/types.h>.  Only the vtpu module sees this directory.
 */
#ifndef _VTPU_COMPAT_STDINT_H_
#define _VTPU_COMPAT_STDINT_H_

#include <linux/types.h>
#include <linux/limits.h>

#ifndef UINT32_MAX
#define UINT32_MAX U32_MAX
#endif

#endif
