/*
 * module-image.h - what of a kernel module file goes to the device.
 *
 * A module built with -g is mostly DWARF (kernels.elf: 370 KB of 476
 * KB), which nothing on the device reads: its reports name functions from
 * .symtab, and gdb reads the file itself.  Uploading it costs a copy into
 * the staging buffer, one into HBM and the device's private copy, a page
 * fault per 4 KiB of each (docs/vtpu-run.md, "Where the time goes").
 * Plain C, host and Linux user space alike.
 */
#ifndef VTPU_MODULE_IMAGE_H
#define VTPU_MODULE_IMAGE_H

#include <stddef.h>

/*
 * A copy of the ELF32 little-endian image `elf` without the bytes of its
 * .debug_* sections (not loaded ones only): their section headers stay,
 * with size 0, every other offset moves by a multiple of 16 so every
 * alignment up to 16 holds.  Returns the malloc'd image and its length in
 * *outlen, or NULL when there is nothing to drop or anything looks
 * unusual (a range outside the file, overlapping the headers or a
 * segment, a section aligned to more than 16): then upload `elf` as it
 * is, and let the runtime judge it.
 */
void *vtpu_module_strip_debug(const void *elf, size_t len, size_t *outlen);

#endif /* VTPU_MODULE_IMAGE_H */
