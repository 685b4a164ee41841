/*
 * vtpu_rt_linux.h - the runtime's Linux backend: vtpu_rt (vtpu_rt.h) over
 * the vtpu DRM accel driver's uAPI (driver/linux/uapi/vtpu_accel.h,
 * /dev/accel/accelN), for Linux user space.
 *
 * How the runtime's operations map onto the uAPI:
 *   - HBM allocations are buffer objects (BO_CREATE; GEM_CLOSE frees;
 *     up to 64 KiB with DRM_VTPU_BO_CREATE_MAPPABLE when the aperture has
 *     room, so descriptor blocks stay mappable).
 *     The runtime works with HBM offsets, so the backend keeps a table
 *     offset -> BO.  A few small freed BOs are kept for reuse (the
 *     runtime allocates a descriptor block per launch); they stay this
 *     process's and are released by vtpu_rt_fini.
 *   - Writes, reads and fills go through an mmap of the BO when BO_INFO
 *     says it is mappable (inside the BAR2 aperture), else through BO_RW.
 *     A range must lie in this process's BOs (it may span several).
 *   - Modules are loaded with MODULE_LOAD into a slot the kernel picks
 *     (per file); unloading is MODULE_UNLOAD.
 *   - A launch is SUBMIT with the BOs of every range the runtime lists
 *     (descriptor block, operands): the device refuses any DMA outside
 *     them.  Then WAIT; a failed job's report comes from JOB_ERROR and is
 *     worded as the ring backend words device errors.
 *   - vtpu_rt_run_start / _finish: SUBMIT, then later WAIT for that job.
 *     A collective launch (vtpu_rt_launch.collective) is SUBMIT with
 *     DRM_VTPU_SUBMIT_COLLECTIVE; it runs when every chip of the slice
 *     has launched, so start it on every device (one vtpu_rt each) before
 *     finishing any.  Refused before the ioctl when the driver is too old
 *     to have it (no GET_PARAM COLLECTIVE_WAIT_MS).
 *
 * Unlike the portable runtime this file uses libc (open, ioctl, mmap,
 * malloc).  Not thread-safe: one thread per vtpu_rt; processes are
 * independent (each has its own file, BOs and slots).
 */
#ifndef VTPU_RT_LINUX_H
#define VTPU_RT_LINUX_H

#include <stddef.h>
#include <stdint.h>

#include "vtpu_rt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The device node used when none is given: $VTPU_ACCEL, else this. */
#define VTPU_LINUX_DEFAULT_NODE "/dev/accel/accel0"

/*
 * Open the device node `path` (NULL: $VTPU_ACCEL or /dev/accel/accel0),
 * check its uAPI version, read its parameters and bring the runtime up
 * over it.  VTPU_RT_ESYS when the node cannot be opened or is not a vtpu
 * (vtpu_rt_error says why), VTPU_DRV_EVERSION for another uAPI version.
 * vtpu_rt_fini closes the file, which frees every BO and slot.
 */
int vtpu_rt_open_linux(vtpu_rt *rt, const char *path);

/* The device file of a runtime opened with vtpu_rt_open_linux (-1 for
 * another backend): for direct uAPI calls beside the runtime. */
int vtpu_rt_linux_fd(const vtpu_rt *rt);

/* The GEM handle of the BO that holds HBM offset `hbm` (0 if none of this
 * runtime's). */
uint32_t vtpu_rt_linux_handle(const vtpu_rt *rt, uint64_t hbm);

/* A DRM_VTPU_PARAM_* value as read at open (0 for one the driver does
 * not have). */
uint64_t vtpu_rt_linux_param(const vtpu_rt *rt, unsigned param);

/* How long a launch is waited for (default 0: until it ends; the
 * driver's job timeout, DRM_VTPU_PARAM_JOB_TIMEOUT_MS, stops one that
 * never does).  A launch still running after `ns` is VTPU_DRV_ETIMEDOUT
 * (it keeps running until the driver's timeout). */
void vtpu_rt_linux_set_wait_timeout(vtpu_rt *rt, uint64_t ns);

/*
 * One line about a failed job from its DRM_VTPU_JOB_ERROR record, worded
 * as the ring backend words device errors ("TC 0 faulted at pc
 * 0x00100004: breakpoint ... [device: ...]"), from the whole message
 * when the ioctl was given a buffer for it (message_ptr), else from the
 * record's message[], cut at 255 bytes.  Returns what snprintf returns.
 */
struct drm_vtpu_job_error;
int vtpu_linux_format_job_error(const struct drm_vtpu_job_error *je,
                                char *buf, size_t len);

/* Counters of what the backend did (for tests and benchmarks). */
typedef struct vtpu_rt_linux_stats {
    uint64_t bo_created, bo_closed, bo_reused; /* BO_CREATE, GEM_CLOSE,
                                                  allocations from the cache */
    uint64_t mmap_bytes, rw_bytes; /* bytes copied by mmap, by BO_RW */
    uint64_t submits, waits;
} vtpu_rt_linux_stats;
const vtpu_rt_linux_stats *vtpu_rt_linux_get_stats(const vtpu_rt *rt);

#ifdef __cplusplus
}
#endif

#endif /* VTPU_RT_LINUX_H */
