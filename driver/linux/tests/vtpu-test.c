// SPDX-License-Identifier: GPL-2.0
/*
 * vtpu-test - exercises vtpu.ko through its uAPI (uapi/vtpu_accel.h) from
 * inside the Linux guest; tests/system/test_linux_driver.py runs it.
 *
 *   vtpu-test [-d /dev/accel/accelN] COMMAND [ARGS]
 *     info                  the device's parameters
 *     basic DMA_PROBE_ELF   params, BOs (mmap, BO_RW, zeroing), module
 *                           load (refused and accepted), launches, exit
 *                           codes, CHECK_EXIT, a pipeline of jobs, unload
 *     hello HELLO_ELF       a kernel that prints (console) and exits 7
 *     isolation DMA_PROBE_ELF  launches granted BO A reading and writing
 *                           another file's BO B fail with a DMA fault
 *                           naming B's address; B is untouched
 *     hang                  a kernel that never ends, recovered by the job
 *                           timeout while other files' jobs complete
 *     errors                the documented error codes of each ioctl
 *     no-slice              a collective SUBMIT on a chip in no slice: the
 *                           device refuses it (-EIO, BAD_FLAGS), the
 *                           device goes on
 *     collective            accel0 and accel1, the two chips of a slice: a
 *                           collective SUBMIT on both runs, also when
 *                           accel1's comes after accel0's has waited past
 *                           the job timeout; on accel0 alone it waits
 *                           until the job timeout plus the collective wait
 *                           resets the device (-ETIMEDOUT); both work
 *                           afterwards
 *     latency N             submit-to-completion time of N empty jobs
 *     hold-job              (unplug test) map a BO, start an endless job,
 *                           print "HOLD READY", wait for it: expects the
 *                           device to be removed meanwhile
 *     hold-open FILE        (rmmod test) keep the device open until FILE
 *                           exists, check it still works, close
 *     spin-exit             queue an endless job and exit at once
 *     bo MIB                create a MIB MiB BO: the time its zeroing takes
 *
 * Prints "ok - ..." / "not ok - ..." lines and a last line
 * "vtpu-test COMMAND: PASS" (exit 0) or "... FAIL" (exit 1).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tiny_elf.h"
#include "vtpu_accel.h"

/* Error codes of the device (hw/vtpu/abi/vtpu-regs.h, vtpu-faults.h). */
#define E_BAD_FLAGS 2
#define E_FAULT 11
#define E_EXIT_CODE 12
#define FAULT_DMA 5
#define ESPACE_HBM 1

static const char *dev_path;
static char dev_node[64];	/* what open_dev() opened */
static int failures;

static void check(int cond, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void check(int cond, const char *fmt, ...)
{
	va_list ap;

	printf("%s - ", cond ? "ok" : "not ok");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!cond)
		failures++;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ioctl returning 0 or -errno */
static int xioctl(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg) ? -errno : 0;
}

static int open_dev(void)
{
	char p[64];
	int fd, i;

	if (dev_path) {
		snprintf(dev_node, sizeof(dev_node), "%s", dev_path);
		return open(dev_path, O_RDWR | O_CLOEXEC);
	}
	for (i = 0; i < 16; i++) {
		snprintf(p, sizeof(p), "/dev/accel/accel%d", i);
		fd = open(p, O_RDWR | O_CLOEXEC);
		if (fd >= 0) {
			snprintf(dev_node, sizeof(dev_node), "%s", p);
			return fd;
		}
	}
	return -1;
}

static int must_open(void)
{
	int fd = open_dev();

	if (fd < 0) {
		printf("not ok - open %s: %s\n",
		       dev_path ? dev_path : "/dev/accel/accel*",
		       strerror(errno));
		exit(1);
	}
	return fd;
}

static uint64_t param(int fd, uint32_t p)
{
	struct drm_vtpu_get_param a = { .param = p };

	if (xioctl(fd, DRM_IOCTL_VTPU_GET_PARAM, &a))
		return ~0ull;
	return a.value;
}

struct bo {
	uint32_t handle;
	uint64_t hbm, size, mmap_offset;
	uint32_t flags;
};

static int bo_create(int fd, uint64_t size, uint32_t flags, struct bo *bo)
{
	struct drm_vtpu_bo_create c = { .size = size, .flags = flags };
	struct drm_vtpu_bo_info i = { 0 };
	int ret = xioctl(fd, DRM_IOCTL_VTPU_BO_CREATE, &c);

	if (ret)
		return ret;
	i.handle = c.handle;
	ret = xioctl(fd, DRM_IOCTL_VTPU_BO_INFO, &i);
	if (ret)
		return ret;
	bo->handle = c.handle;
	bo->hbm = i.hbm_offset;
	bo->size = i.size;
	bo->flags = i.flags;
	bo->mmap_offset = i.mmap_offset;
	return c.hbm_offset == i.hbm_offset ? 0 : -EPROTO;
}

static int bo_close(int fd, uint32_t handle)
{
	struct drm_gem_close c = { .handle = handle };

	return xioctl(fd, DRM_IOCTL_GEM_CLOSE, &c);
}

static int bo_rw(int fd, uint32_t handle, uint64_t off, void *buf,
		 uint64_t len, int write)
{
	struct drm_vtpu_bo_rw a = {
		.handle = handle, .write = write, .offset = off, .size = len,
		.user_ptr = (uintptr_t)buf,
	};

	return xioctl(fd, DRM_IOCTL_VTPU_BO_RW, &a);
}

static void *bo_map(int fd, const struct bo *bo)
{
	void *p = mmap(NULL, bo->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		       bo->mmap_offset);

	return p == MAP_FAILED ? NULL : p;
}

/* Load an ELF image; returns the slot or -errno (message in err). */
static int load(int fd, const void *img, size_t len, char *err, size_t errlen)
{
	struct drm_vtpu_module_load a = {
		.image_ptr = (uintptr_t)img, .image_size = len,
	};
	int ret = xioctl(fd, DRM_IOCTL_VTPU_MODULE_LOAD, &a);

	if (err)
		snprintf(err, errlen, "%s", a.error);
	return ret ? ret : (int)a.slot;
}

static int load_file(int fd, const char *path)
{
	char err[256];
	FILE *f = fopen(path, "rb");
	long n;
	void *buf;
	int ret;

	if (!f)
		return -errno;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(n);
	if (!buf || fread(buf, 1, n, f) != (size_t)n) {
		fclose(f);
		free(buf);
		return -EIO;
	}
	fclose(f);
	ret = load(fd, buf, n, err, sizeof(err));
	if (ret < 0)
		printf("# load %s: %s (%s)\n", path, strerror(-ret), err);
	free(buf);
	return ret;
}

static int load_tiny(int fd, const uint32_t *words, size_t n)
{
	uint8_t img[TINY_ELF_SIZE(16)];
	size_t len = tiny_elf(img, words, n);

	return load(fd, img, len, NULL, 0);
}

static const uint32_t prog_exit_a2[] = TINY_EXIT_A2;
static const uint32_t prog_spin[] = TINY_SPIN;

static int submit(int fd, uint32_t slot, uint32_t tcs, const uint32_t *args,
		  const uint32_t *bos, uint32_t nbos, uint32_t flags,
		  uint64_t *seqno)
{
	struct drm_vtpu_submit s = {
		.slot = slot, .num_tcs = tcs, .bo_handles = (uintptr_t)bos,
		.num_bos = nbos, .flags = flags,
	};
	int ret;

	if (args)
		memcpy(s.args, args, sizeof(s.args));
	ret = xioctl(fd, DRM_IOCTL_VTPU_SUBMIT, &s);
	*seqno = s.seqno;
	return ret;
}

static int wait_job(int fd, uint64_t seqno, int64_t timeout_ns,
		    struct drm_vtpu_wait *w)
{
	memset(w, 0, sizeof(*w));
	w->seqno = seqno;
	w->timeout_ns = timeout_ns;
	return xioctl(fd, DRM_IOCTL_VTPU_WAIT, w);
}

static int job_error(int fd, uint64_t seqno, struct drm_vtpu_job_error *e)
{
	memset(e, 0, sizeof(*e));
	e->seqno = seqno;
	return xioctl(fd, DRM_IOCTL_VTPU_JOB_ERROR, e);
}

#define SEC 1000000000ll

/* Submit exit(a2 = code) on `slot` with no BO, wait: the exit code. */
static int run_exit(int fd, uint32_t slot, uint32_t code, int *status)
{
	uint32_t args[4] = { code };
	struct drm_vtpu_wait w;
	uint64_t seq;
	int ret = submit(fd, slot, 1, args, NULL, 0, 0, &seq);

	if (!ret)
		ret = wait_job(fd, seq, 30 * SEC, &w);
	if (ret)
		return ret;
	*status = w.status;
	return w.exit_code;
}

/* ------------------------------------------------------------------ */

static int cmd_info(void)
{
	static const char *const names[] = {
		"uapi_version", "device_version", "gen", "num_tcs", "num_sems",
		"hbm_size", "vmem_size", "smem_size", "imem_size", "mxu",
		"hbm_free", "job_timeout_ms", "aperture_size",
		"collective_wait_ms",
	};
	int fd = must_open();
	uint64_t v;
	unsigned int i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		v = param(fd, i);
		if (i == DRM_VTPU_PARAM_GEN)
			printf("PARAM %s %.4s\n", names[i], (char *)&v);
		else
			printf("PARAM %s %" PRIu64 "\n", names[i], v);
	}
	check(param(fd, DRM_VTPU_PARAM_UAPI_VERSION) == DRM_VTPU_UAPI_VERSION,
	      "uAPI version %d", DRM_VTPU_UAPI_VERSION);
	close(fd);
	return 0;
}

static void fill_pattern(uint8_t *p, size_t n, unsigned int seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 7 + seed);
}

static int cmd_basic(const char *probe_elf)
{
	int fd = must_open(), slot, xslot, ret, st, i, ok;
	uint64_t hbm_free0, hbm_free, aper, seq, seqs[64];
	static uint8_t buf[65536], buf2[65536];
	struct drm_vtpu_job_error e;
	struct drm_vtpu_wait w;
	struct bo a, b, big, bm;
	uint32_t args[4], bos[2];
	uint8_t *ma, *mb;
	char err[256];
	size_t n;

	check(param(fd, DRM_VTPU_PARAM_UAPI_VERSION) == 1, "uAPI version 1");
	check(param(fd, DRM_VTPU_PARAM_NUM_TCS) >= 1, "%" PRIu64 " TCs",
	      param(fd, DRM_VTPU_PARAM_NUM_TCS));
	hbm_free0 = param(fd, DRM_VTPU_PARAM_HBM_FREE);
	aper = param(fd, DRM_VTPU_PARAM_APERTURE_SIZE);
	check(hbm_free0 > (1 << 20) && aper >= (1 << 20),
	      "HBM free %" PRIu64 ", aperture %" PRIu64, hbm_free0, aper);

	/* BOs: zeroed, mappable in the aperture, BO_RW both ways */
	ret = bo_create(fd, sizeof(buf), 0, &a);
	check(!ret && a.size == sizeof(buf) && !(a.hbm % 4096),
	      "BO A: %d, %" PRIu64 " bytes at HBM 0x%" PRIx64, ret, a.size,
	      a.hbm);
	ret = bo_create(fd, sizeof(buf) - 100, 0, &b);
	check(!ret && b.size == sizeof(buf) && b.hbm != a.hbm,
	      "BO B (size rounded up): %d, %" PRIu64 " bytes at 0x%" PRIx64,
	      ret, b.size, b.hbm);
	hbm_free = param(fd, DRM_VTPU_PARAM_HBM_FREE);
	check(hbm_free == hbm_free0 - 2 * sizeof(buf),
	      "HBM_FREE went down by the two BOs (%" PRIu64 ")",
	      hbm_free0 - hbm_free);
	check(a.flags & DRM_VTPU_BO_MAPPABLE && b.flags & DRM_VTPU_BO_MAPPABLE,
	      "A and B are mappable");
	ma = bo_map(fd, &a);
	mb = bo_map(fd, &b);
	check(ma && mb, "mmap A and B");
	if (!ma || !mb)
		goto out;
	for (ok = 1, i = 0; i < (int)sizeof(buf); i++)
		ok &= ma[i] == 0 && mb[i] == 0;
	check(ok, "new BOs read zero through the aperture");
	fill_pattern(buf, sizeof(buf), 3);
	memcpy(ma, buf, sizeof(buf));
	memset(buf2, 0xee, sizeof(buf2));
	ret = bo_rw(fd, a.handle, 0, buf2, sizeof(buf2), 0);
	check(!ret && !memcmp(buf, buf2, sizeof(buf)),
	      "mmap write, BO_RW read back: %d", ret);
	fill_pattern(buf, sizeof(buf), 11);
	ret = bo_rw(fd, b.handle, 0, buf, sizeof(buf), 1);
	check(!ret && !memcmp(mb, buf, sizeof(buf)),
	      "BO_RW write, mmap read back: %d", ret);
	ret = bo_rw(fd, b.handle, 100, buf2, 1000, 0);
	check(!ret && !memcmp(buf + 100, buf2, 1000),
	      "BO_RW at an offset: %d", ret);

	/* a BO beyond the aperture cannot be mapped */
	ret = bo_create(fd, aper + 4096, 0, &big);
	check(!ret && !(big.flags & DRM_VTPU_BO_MAPPABLE),
	      "a BO larger than the aperture: %d, MAPPABLE clear", ret);
	if (!ret) {
		check(mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) ==
		      MAP_FAILED, "and mmap of it fails");
		fill_pattern(buf, sizeof(buf), 5);
		ret = bo_rw(fd, big.handle, big.size - sizeof(buf), buf,
			    sizeof(buf), 1);
		memset(buf2, 0, sizeof(buf2));
		ret = ret ? ret : bo_rw(fd, big.handle, big.size - sizeof(buf),
					buf2, sizeof(buf2), 0);
		check(!ret && !memcmp(buf, buf2, sizeof(buf)),
		      "BO_RW reaches its end: %d", ret);
		bo_close(fd, big.handle);
	}
	ret = bo_create(fd, aper + 4096, DRM_VTPU_BO_CREATE_MAPPABLE, &bm);
	check(ret == -ENOSPC, "MAPPABLE BO larger than the aperture: %s",
	      strerror(-ret));

	/* module loading */
	memset(buf, 0x5a, 256);
	ret = load(fd, buf, 256, err, sizeof(err));
	check(ret == -ENOEXEC && err[0], "garbage ELF refused: %s [%s]",
	      strerror(-ret), err);
	slot = load_file(fd, probe_elf);
	check(slot >= 0 && slot < 16, "load %s: slot %d", probe_elf, slot);
	xslot = load_tiny(fd, prog_exit_a2, 3);
	check(xslot >= 0 && xslot != slot, "load exit(a2): slot %d", xslot);
	if (slot < 0 || xslot < 0)
		goto out;

	/* dma_probe: B[i] = A[i] + 1 for 4096 bytes */
	fill_pattern(ma, 4096, 77);
	memset(mb, 0, 4096);
	args[0] = (uint32_t)a.hbm;
	args[1] = 4096;
	args[2] = (uint32_t)b.hbm;
	args[3] = 0;
	bos[0] = a.handle;
	bos[1] = b.handle;
	ret = submit(fd, slot, 0, args, bos, 2, DRM_VTPU_SUBMIT_CHECK_EXIT,
		     &seq);
	check(!ret && seq >= 1, "submit dma_probe: %d, seqno %" PRIu64, ret,
	      seq);
	ret = wait_job(fd, seq, 30 * SEC, &w);
	check(!ret && w.status == 0 && w.exit_code == 0 && w.instret[0] > 0,
	      "wait: %d, status %d, exit %d, TC0 %" PRIu64 " instructions",
	      ret, w.status, w.exit_code, (uint64_t)w.instret[0]);
	for (ok = 1, i = 0; i < 4096; i++)
		ok &= mb[i] == (uint8_t)(ma[i] + 1);
	check(ok, "the kernel read A and wrote A+1 into B");
	ret = job_error(fd, seq, &e);
	check(!ret && e.code == 0, "JOB_ERROR of a good job: code %u", e.code);

	/* exit codes, CHECK_EXIT */
	ret = run_exit(fd, xslot, 42, &st);
	check(ret == 42 && st == 0, "exit(42): exit code %d, status %d", ret,
	      st);
	args[0] = 3;
	ret = submit(fd, xslot, 1, args, NULL, 0, DRM_VTPU_SUBMIT_CHECK_EXIT,
		     &seq);
	ret = ret ? ret : wait_job(fd, seq, 30 * SEC, &w);
	check(!ret && w.status == -EIO && w.exit_code == 3,
	      "exit(3) with CHECK_EXIT: status %d, exit %d", w.status,
	      w.exit_code);
	ret = job_error(fd, seq, &e);
	check(!ret && e.code == E_EXIT_CODE && e.message[0],
	      "JOB_ERROR: code %u: %s", e.code, e.message);
	ret = run_exit(fd, xslot, 8, &st);
	check(ret == 8 && st == 0, "the next job runs after the error: %d",
	      ret);

	/* a pipeline: many jobs in flight, completed in order */
	for (ok = 1, i = 0; i < 64; i++) {
		args[0] = i;
		ok &= !submit(fd, xslot, 1, args, NULL, 0, 0, &seqs[i]);
	}
	check(ok, "64 jobs queued");
	for (ok = 1, i = 63; i >= 0; i--) {
		ret = wait_job(fd, seqs[i], 30 * SEC, &w);
		ok &= !ret && w.status == 0 && w.exit_code == i;
	}
	check(ok, "64 jobs completed with their exit codes");

	/* unload */
	args[0] = 1;
	check(!xioctl(fd, DRM_IOCTL_VTPU_MODULE_UNLOAD,
		      &(struct drm_vtpu_module_unload){ .slot = xslot }),
	      "unload slot %d", xslot);
	ret = submit(fd, xslot, 1, args, NULL, 0, 0, &seq);
	check(ret == -EINVAL, "launch of an unloaded slot: %s",
	      strerror(-ret));
	ret = xioctl(fd, DRM_IOCTL_VTPU_MODULE_UNLOAD,
		     &(struct drm_vtpu_module_unload){ .slot = xslot });
	check(ret == -EINVAL, "unload twice: %s", strerror(-ret));

	/* freeing BOs gives their HBM back */
	n = a.size;
	munmap(ma, n);
	munmap(mb, b.size);
	bo_close(fd, a.handle);
	bo_close(fd, b.handle);
	hbm_free = param(fd, DRM_VTPU_PARAM_HBM_FREE);
	/* the slot's image is still held */
	check(hbm_free + 4096 * 8 >= hbm_free0 && hbm_free < hbm_free0,
	      "HBM free after closing the BOs: %" PRIu64 " of %" PRIu64,
	      hbm_free, hbm_free0);
out:
	close(fd);
	return 0;
}

static int cmd_hello(const char *elf)
{
	int fd = must_open(), slot, ret, st;

	slot = load_file(fd, elf);
	check(slot >= 0, "load %s: slot %d", elf, slot);
	if (slot < 0)
		return 0;
	ret = run_exit(fd, slot, 0, &st);
	check(ret == 7 && st == 0, "hello: exit code %d, status %d", ret, st);
	close(fd);
	return 0;
}

static int cmd_isolation(const char *probe_elf)
{
	int x = must_open(), y = must_open(), slot, ret;
	static uint8_t secret[4096], got[4096], zero[4096];
	struct drm_vtpu_job_error e;
	struct drm_vtpu_wait w;
	uint32_t args[4], bos[1];
	struct bo a, b;
	char hex[32];
	uint64_t seq;

	/* file Y owns B and puts a secret in it; file X owns A */
	check(!bo_create(y, 4096, 0, &b) && !bo_create(x, 8192, 0, &a),
	      "A (file X) at 0x%" PRIx64 ", B (file Y) at 0x%" PRIx64, a.hbm,
	      b.hbm);
	fill_pattern(secret, sizeof(secret), 99);
	check(!bo_rw(y, b.handle, 0, secret, sizeof(secret), 1),
	      "secret written into B");
	slot = load_file(x, probe_elf);
	check(slot >= 0, "X loads dma_probe: slot %d", slot);
	if (slot < 0)
		return 0;
	bos[0] = a.handle;
	snprintf(hex, sizeof(hex), "0x%" PRIx64, b.hbm);

	/* read B, granted A */
	args[0] = (uint32_t)b.hbm;
	args[1] = 256;
	args[2] = (uint32_t)a.hbm;
	args[3] = 0;
	ret = submit(x, slot, 1, args, bos, 1, 0, &seq);
	ret = ret ? ret : wait_job(x, seq, 30 * SEC, &w);
	check(!ret && w.status == -EIO, "X reads B: job status %d (%s)",
	      w.status, strerror(-w.status));
	ret = job_error(x, seq, &e);
	check(!ret && e.code == E_FAULT && e.kind == FAULT_DMA &&
	      e.space == ESPACE_HBM && e.addr == b.hbm,
	      "DMA fault: code %u kind %u space %u addr 0x%" PRIx64
	      " len %" PRIu64, e.code, e.kind, e.space, (uint64_t)e.addr,
	      (uint64_t)e.len);
	check(strstr(e.message, hex) != NULL, "the message names %s: %s", hex,
	      e.message);
	check(!bo_rw(x, a.handle, 0, got, sizeof(got), 0) &&
	      !memcmp(got, zero, sizeof(got)), "nothing of B reached A");

	/* write B, granted A */
	args[0] = (uint32_t)a.hbm;
	args[2] = (uint32_t)b.hbm;
	ret = submit(x, slot, 1, args, bos, 1, 0, &seq);
	ret = ret ? ret : wait_job(x, seq, 30 * SEC, &w);
	check(!ret && w.status == -EIO, "X writes B: job status %d",
	      w.status);
	ret = job_error(x, seq, &e);
	check(!ret && e.code == E_FAULT && e.kind == FAULT_DMA &&
	      e.addr == b.hbm, "DMA fault at 0x%" PRIx64 ": %s",
	      (uint64_t)e.addr, e.message);
	check(!bo_rw(y, b.handle, 0, got, sizeof(got), 0) &&
	      !memcmp(got, secret, sizeof(got)), "B still holds the secret");

	/* a launch that names no BO reaches no BO */
	args[0] = (uint32_t)b.hbm;
	args[2] = (uint32_t)a.hbm;
	ret = submit(x, slot, 1, args, NULL, 0, 0, &seq);
	ret = ret ? ret : wait_job(x, seq, 30 * SEC, &w);
	check(!ret && w.status == -EIO && !job_error(x, seq, &e) &&
	      e.code == E_FAULT && e.addr == b.hbm,
	      "a launch with no BO reading B: status %d, fault at 0x%" PRIx64,
	      w.status, (uint64_t)e.addr);

	/* inside its own BO the same kernel works */
	args[0] = (uint32_t)a.hbm;
	args[2] = (uint32_t)a.hbm + 4096;
	ret = submit(x, slot, 1, args, bos, 1, DRM_VTPU_SUBMIT_CHECK_EXIT,
		     &seq);
	ret = ret ? ret : wait_job(x, seq, 30 * SEC, &w);
	check(!ret && w.status == 0, "X copies inside A: status %d",
	      w.status);

	/* Y's handle means nothing in X */
	bos[0] = b.handle + 100;
	ret = submit(x, slot, 1, args, bos, 1, 0, &seq);
	check(ret == -ENOENT, "an unknown handle: %s", strerror(-ret));
	/* Y cannot launch X's slot */
	ret = submit(y, slot, 1, args, NULL, 0, 0, &seq);
	check(ret == -EINVAL, "another file's slot: %s", strerror(-ret));
	close(x);
	close(y);
	return 0;
}

static int cmd_hang(void)
{
	int x = must_open(), y = must_open(), spin, ex, ey, ret;
	uint64_t tmo = param(x, DRM_VTPU_PARAM_JOB_TIMEOUT_MS);
	struct drm_vtpu_job_error e;
	struct drm_vtpu_wait w;
	uint64_t h, g, k;
	uint32_t args[4] = { 0 };
	double t0, dt;
	int st;

	check(tmo > 0 && tmo < 60000, "job timeout %" PRIu64 " ms", tmo);
	ex = load_tiny(x, prog_exit_a2, 3);
	spin = load_tiny(x, prog_spin, 1);
	ey = load_tiny(y, prog_exit_a2, 3);
	check(ex >= 0 && spin >= 0 && ey >= 0, "slots: exit %d, spin %d, Y %d",
	      ex, spin, ey);
	if (ex < 0 || spin < 0 || ey < 0)
		return 0;
	t0 = now_s();
	ret = submit(x, spin, 0, NULL, NULL, 0, 0, &h);
	args[0] = 7;
	ret = ret ? ret : submit(y, ey, 1, args, NULL, 0, 0, &g);
	args[0] = 5;
	ret = ret ? ret : submit(x, ex, 1, args, NULL, 0, 0, &k);
	/* poll before printing: the console may be slow */
	st = wait_job(y, g, 0, &w);
	check(!ret, "X: endless job, then Y and X queue one each: %d", ret);
	check(st == -ETIME, "Y's job waits behind it (poll: %s)",
	      strerror(-st));
	ret = wait_job(x, h, (int64_t)(4 * tmo) * 1000000, &w);
	dt = now_s() - t0;
	check(!ret && w.status == -ETIMEDOUT,
	      "the endless job fails with %s after %.2f s", strerror(-w.status),
	      dt);
	check(dt > tmo / 1000.0 * 0.9 && dt < tmo / 1000.0 * 2 + 1,
	      "... about the job timeout (%.2f s for %" PRIu64 " ms)", dt, tmo);
	ret = job_error(x, h, &e);
	check(!ret && strstr(e.message, "timed out"), "JOB_ERROR: %s",
	      e.message);
	ret = wait_job(y, g, 30 * SEC, &w);
	check(!ret && w.status == 0 && w.exit_code == 7,
	      "Y's job completes after the reset: status %d, exit %d",
	      w.status, w.exit_code);
	ret = wait_job(x, k, 30 * SEC, &w);
	check(!ret && w.status == 0 && w.exit_code == 5,
	      "X's queued job completes too: status %d, exit %d", w.status,
	      w.exit_code);
	ret = run_exit(x, ex, 9, &st);
	check(ret == 9 && st == 0, "X's slot was reloaded: exit %d", ret);
	ret = run_exit(y, ey, 10, &st);
	check(ret == 10 && st == 0, "Y's slot was reloaded: exit %d", ret);
	close(x);
	close(y);
	return 0;
}

static int cmd_errors(void)
{
	int fd = must_open(), ret, slot;
	struct drm_vtpu_get_param gp = { .param = 999 };
	struct drm_vtpu_bo_create bc = { .size = 0 };
	struct drm_vtpu_bo_info bi = { .handle = 12345 };
	struct drm_vtpu_module_load ml = { 0 };
	struct drm_vtpu_submit sb = { 0 };
	struct drm_vtpu_wait w;
	struct drm_vtpu_job_error e;
	uint32_t handles[65] = { 0 };
	uint8_t b[16];
	struct bo bo;
	uint64_t seq;

	check(xioctl(fd, DRM_IOCTL_VTPU_GET_PARAM, &gp) == -EINVAL,
	      "GET_PARAM unknown: EINVAL");
	gp.param = 0;
	gp.pad = 1;
	check(xioctl(fd, DRM_IOCTL_VTPU_GET_PARAM, &gp) == -EINVAL,
	      "GET_PARAM pad: EINVAL");
	check(xioctl(fd, DRM_IOCTL_VTPU_BO_CREATE, &bc) == -EINVAL,
	      "BO_CREATE size 0: EINVAL");
	bc.size = 4096;
	bc.flags = 0x80;
	check(xioctl(fd, DRM_IOCTL_VTPU_BO_CREATE, &bc) == -EINVAL,
	      "BO_CREATE flags: EINVAL");
	bc.flags = 0;
	bc.size = 1ull << 62;
	check(xioctl(fd, DRM_IOCTL_VTPU_BO_CREATE, &bc) == -ENOSPC,
	      "BO_CREATE larger than HBM: ENOSPC");
	check(xioctl(fd, DRM_IOCTL_VTPU_BO_INFO, &bi) == -ENOENT,
	      "BO_INFO bad handle: ENOENT");
	check(!bo_create(fd, 4096, 0, &bo), "a BO");
	check(bo_rw(fd, bo.handle, 4000, b, 100, 0) == -EINVAL,
	      "BO_RW past the end: EINVAL");
	check(bo_rw(fd, bo.handle, 0, NULL, 16, 0) == -EFAULT,
	      "BO_RW bad pointer: EFAULT");
	check(bo_rw(fd, 9999, 0, b, 16, 0) == -ENOENT,
	      "BO_RW bad handle: ENOENT");
	check(xioctl(fd, DRM_IOCTL_VTPU_MODULE_LOAD, &ml) == -EINVAL,
	      "MODULE_LOAD size 0: EINVAL");
	ml.image_size = (64 << 20) + 1;
	check(xioctl(fd, DRM_IOCTL_VTPU_MODULE_LOAD, &ml) == -E2BIG,
	      "MODULE_LOAD > 64 MiB: E2BIG");
	ml.image_size = 100;
	ml.image_ptr = 8;
	check(xioctl(fd, DRM_IOCTL_VTPU_MODULE_LOAD, &ml) == -EFAULT,
	      "MODULE_LOAD bad pointer: EFAULT");
	slot = load_tiny(fd, prog_exit_a2, 3);
	check(slot >= 0, "a module");
	sb.slot = 16;
	check(xioctl(fd, DRM_IOCTL_VTPU_SUBMIT, &sb) == -EINVAL,
	      "SUBMIT slot 16: EINVAL");
	sb.slot = slot;
	sb.num_tcs = 99;
	check(xioctl(fd, DRM_IOCTL_VTPU_SUBMIT, &sb) == -EINVAL,
	      "SUBMIT too many TCs: EINVAL");
	sb.num_tcs = 1;
	sb.flags = 0x10;
	check(xioctl(fd, DRM_IOCTL_VTPU_SUBMIT, &sb) == -EINVAL,
	      "SUBMIT flags: EINVAL");
	sb.flags = ~(uint32_t)(DRM_VTPU_SUBMIT_CHECK_EXIT |
			       DRM_VTPU_SUBMIT_COLLECTIVE);
	check(xioctl(fd, DRM_IOCTL_VTPU_SUBMIT, &sb) == -EINVAL,
	      "SUBMIT every unknown flag: EINVAL");
	sb.flags = 0;
	sb.num_bos = 65;
	sb.bo_handles = (uintptr_t)handles;
	check(xioctl(fd, DRM_IOCTL_VTPU_SUBMIT, &sb) == -EINVAL,
	      "SUBMIT 65 BOs: EINVAL");
	sb.num_bos = 1;
	sb.bo_handles = 8;
	check(xioctl(fd, DRM_IOCTL_VTPU_SUBMIT, &sb) == -EFAULT,
	      "SUBMIT bad handle array: EFAULT");
	check(wait_job(fd, 777, 0, &w) == -ENOENT, "WAIT unknown: ENOENT");
	check(job_error(fd, 777, &e) == -ENOENT, "JOB_ERROR unknown: ENOENT");
	/* JOB_ERROR of a running job */
	slot = load_tiny(fd, prog_spin, 1);
	ret = submit(fd, slot, 1, NULL, NULL, 0, 0, &seq);
	check(!ret && job_error(fd, seq, &e) == -EBUSY,
	      "JOB_ERROR of a running job: EBUSY");
	check(wait_job(fd, seq, 1000000, &w) == -ETIME,
	      "WAIT 1 ms on it: ETIME");
	ret = wait_job(fd, seq, 60 * SEC, &w);
	check(!ret && w.status == -ETIMEDOUT, "... until the job timeout: %s",
	      strerror(-w.status));
	close(fd);
	return 0;
}

/*
 * DRM_VTPU_SUBMIT_COLLECTIVE reaches the ring entry: a chip in no slice
 * refuses VTPU_LAUNCH_F_COLLECTIVE.  Then a plain launch works.
 */
static int cmd_no_slice(void)
{
	int fd = must_open(), slot, ret, st;
	struct drm_vtpu_job_error e;
	struct drm_vtpu_wait w;
	uint32_t args[4] = { 6 };
	uint64_t seq;

	memset(&e, 0, sizeof(e));
	check(param(fd, DRM_VTPU_PARAM_COLLECTIVE_WAIT_MS) > 0,
	      "collective wait %" PRIu64 " ms",
	      param(fd, DRM_VTPU_PARAM_COLLECTIVE_WAIT_MS));
	slot = load_tiny(fd, prog_exit_a2, 3);
	check(slot >= 0, "a module");
	ret = submit(fd, slot, 1, args, NULL, 0, DRM_VTPU_SUBMIT_COLLECTIVE,
		     &seq);
	if (!ret)
		ret = wait_job(fd, seq, 30 * SEC, &w);
	check(!ret && w.status == -EIO, "collective launch: status %d (%s)",
	      ret ? ret : w.status, strerror(-(ret ? ret : w.status)));
	ret = job_error(fd, seq, &e);
	check(!ret && e.code == E_BAD_FLAGS &&
	      strstr(e.message, "collective launch on a chip in no slice"),
	      "refused by the device: code %u: %s", e.code, e.message);
	ret = run_exit(fd, slot, 6, &st);
	check(ret == 6 && st == 0, "a plain launch afterwards: exit %d", ret);
	close(fd);
	return 0;
}

/* Open /dev/accel/accelN, a tiny program loaded that exits with a2. */
static int open_chip(int n, int *slot)
{
	char node[32];
	int fd;

	snprintf(node, sizeof(node), "/dev/accel/accel%d", n);
	fd = open(node, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		printf("not ok - open %s: %s\n", node, strerror(errno));
		exit(1);
	}
	*slot = load_tiny(fd, prog_exit_a2, 3);
	check(*slot >= 0, "%s: a module", node);
	return fd;
}

static int cmd_collective(void)
{
	uint64_t tmo, cwait, seq[2];
	struct drm_vtpu_job_error e;
	struct drm_vtpu_wait w;
	uint32_t args[4] = { 0 };
	int fd[2], slot[2], ret, i, st;
	double t0, t;

	for (i = 0; i < 2; i++)
		fd[i] = open_chip(i, &slot[i]);
	tmo = param(fd[0], DRM_VTPU_PARAM_JOB_TIMEOUT_MS);
	cwait = param(fd[0], DRM_VTPU_PARAM_COLLECTIVE_WAIT_MS);
	printf("job timeout %" PRIu64 " ms, collective wait %" PRIu64 " ms\n",
	       tmo, cwait);

	/* on both: they meet at the rendezvous and run */
	for (i = 0; i < 2; i++) {
		args[0] = 20 + i;
		ret = submit(fd[i], slot[i], 0, args, NULL, 0,
			     DRM_VTPU_SUBMIT_COLLECTIVE, &seq[i]);
		check(!ret, "collective SUBMIT on accel%d: %s", i,
		      strerror(-ret));
	}
	for (i = 0; i < 2; i++) {
		ret = wait_job(fd[i], seq[i], 30 * SEC, &w);
		check(!ret && w.status == 0 && w.exit_code == 20 + i,
		      "accel%d's collective job ran: ret %d, status %d, exit %d",
		      i, ret, w.status, w.exit_code);
	}

	/*
	 * accel1 comes late: after accel0's job has waited past the job
	 * timeout, within the collective wait.  Both run.
	 */
	args[0] = 24;
	t0 = now_s();
	ret = submit(fd[0], slot[0], 0, args, NULL, 0,
		     DRM_VTPU_SUBMIT_COLLECTIVE, &seq[0]);
	check(!ret, "collective SUBMIT on accel0, accel1 to follow");
	usleep((tmo + cwait / 2) * 1000);
	args[0] = 25;
	ret = submit(fd[1], slot[1], 0, args, NULL, 0,
		     DRM_VTPU_SUBMIT_COLLECTIVE, &seq[1]);
	check(!ret, "collective SUBMIT on accel1 after %.0f ms",
	      (now_s() - t0) * 1000);
	for (i = 0; i < 2; i++) {
		ret = wait_job(fd[i], seq[i], 30 * SEC, &w);
		check(!ret && w.status == 0 && w.exit_code == 24 + i,
		      "accel%d's collective job ran, the late partner's wait within the collective wait: status %d, exit %d",
		      i, w.status, w.exit_code);
	}

	/* on accel0 alone: nobody comes; the driver's timeout ends it */
	t0 = now_s();
	ret = submit(fd[0], slot[0], 0, args, NULL, 0,
		     DRM_VTPU_SUBMIT_COLLECTIVE, &seq[0]);
	if (!ret)
		ret = wait_job(fd[0], seq[0], 120 * SEC, &w);
	t = now_s() - t0;
	check(!ret && w.status == -ETIMEDOUT,
	      "a collective job on one chip of two: %s after %.2f s",
	      strerror(-(ret ? ret : w.status)), t);
	check(t * 1000 >= tmo + cwait && t * 1000 < tmo + cwait + 5000,
	      "... after the job timeout plus the collective wait (%" PRIu64
	      " ms): %.0f ms", tmo + cwait, t * 1000);
	memset(&e, 0, sizeof(e));
	ret = job_error(fd[0], seq[0], &e);
	check(!ret && strstr(e.message, "collective job timed out after"),
	      "JOB_ERROR: %s", e.message);

	/* both go on, plain and collective */
	for (i = 0; i < 2; i++) {
		ret = run_exit(fd[i], slot[i], 30 + i, &st);
		check(ret == 30 + i && st == 0,
		      "accel%d: a plain launch afterwards: exit %d", i, ret);
	}
	for (i = 0; i < 2; i++) {
		args[0] = 40 + i;
		ret = submit(fd[i], slot[i], 0, args, NULL, 0,
			     DRM_VTPU_SUBMIT_COLLECTIVE, &seq[i]);
		check(!ret, "collective SUBMIT on accel%d again", i);
	}
	for (i = 0; i < 2; i++) {
		ret = wait_job(fd[i], seq[i], 30 * SEC, &w);
		check(!ret && w.status == 0 && w.exit_code == 40 + i,
		      "accel%d's collective job ran again: status %d, exit %d",
		      i, w.status, w.exit_code);
	}
	close(fd[0]);
	close(fd[1]);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int cmd_latency(int n)
{
	int fd = must_open(), slot, i, ok = 1;
	double *t = calloc(n, sizeof(*t)), t0, sum = 0;
	uint64_t *seqs = calloc(n, sizeof(*seqs));
	struct drm_vtpu_wait w;
	uint32_t args[4] = { 0 };

	slot = load_tiny(fd, prog_exit_a2, 3);
	if (slot < 0 || !t || !seqs) {
		check(0, "set up");
		return 0;
	}
	for (i = 0; i < n; i++) {
		t0 = now_s();
		ok &= !submit(fd, slot, 1, args, NULL, 0, 0, &seqs[i]);
		ok &= !wait_job(fd, seqs[i], 30 * SEC, &w) && !w.status;
		t[i] = now_s() - t0;
		sum += t[i];
	}
	qsort(t, n, sizeof(*t), cmp_double);
	check(ok, "%d jobs, one at a time", n);
	printf("LATENCY submit-to-completion us: min %.0f median %.0f mean %.0f max %.0f\n",
	       t[0] * 1e6, t[n / 2] * 1e6, sum / n * 1e6, t[n - 1] * 1e6);
	t0 = now_s();
	for (i = 0; i < n; i++)
		ok &= !submit(fd, slot, 1, args, NULL, 0, 0, &seqs[i]);
	for (i = 0; i < n; i++)
		ok &= !wait_job(fd, seqs[i], 30 * SEC, &w) && !w.status;
	t0 = now_s() - t0;
	check(ok, "%d jobs queued, then waited for", n);
	printf("THROUGHPUT %.0f jobs/s pipelined\n", n / t0);
	free(t);
	free(seqs);
	close(fd);
	return 0;
}

static sigjmp_buf bus_jmp;

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(bus_jmp, 1);
}

static int cmd_hold_job(void)
{
	int fd = must_open(), spin, ret, i;
	struct stat sb;
	struct drm_vtpu_wait w;
	volatile uint8_t *m;
	volatile int faulted = 0;
	struct bo bo;
	uint64_t seq;

	check(!bo_create(fd, 65536, 0, &bo), "a BO");
	m = bo_map(fd, &bo);
	check(m != NULL, "mapped");
	if (!m)
		return 0;
	m[10] = 42;
	spin = load_tiny(fd, prog_spin, 1);
	ret = submit(fd, spin, 0, NULL, NULL, 0, 0, &seq);
	check(spin >= 0 && !ret, "an endless job is running");
	printf("HOLD READY\n");
	fflush(stdout);
	ret = wait_job(fd, seq, -1, &w);
	check(ret == -ENODEV || (!ret && w.status == -ENODEV),
	      "the wait ends when the device goes: %s, status %s",
	      strerror(-ret), strerror(-w.status));
	ret = xioctl(fd, DRM_IOCTL_VTPU_GET_PARAM,
		     &(struct drm_vtpu_get_param){ .param = 0 });
	check(ret == -ENODEV, "GET_PARAM after unplug: %s", strerror(-ret));
	ret = xioctl(fd, DRM_IOCTL_VTPU_BO_CREATE,
		     &(struct drm_vtpu_bo_create){ .size = 4096 });
	check(ret == -ENODEV, "BO_CREATE after unplug: %s", strerror(-ret));
	ret = submit(fd, spin, 0, NULL, NULL, 0, 0, &seq);
	check(ret == -ENODEV, "SUBMIT after unplug: %s", strerror(-ret));
	/* remove() has zapped the mappings once the node is gone */
	for (i = 0; i < 50 && !stat(dev_node, &sb); i++)
		usleep(100000);
	check(i < 50, "%s is gone", dev_node);
	signal(SIGBUS, on_sigbus);
	if (!sigsetjmp(bus_jmp, 1))
		printf("# read %d\n", m[10]);
	else
		faulted = 1;
	check(faulted, "the old mapping of the aperture gives SIGBUS");
	ret = bo_close(fd, bo.handle);
	check(ret == -ENODEV, "GEM_CLOSE after unplug: %s", strerror(-ret));
	check(close(fd) == 0, "close");
	return 0;
}

static int cmd_hold_open(const char *file)
{
	int fd = must_open(), slot, st, ret, i;
	struct stat sb;
	struct bo bo;
	uint8_t *m;

	check(!bo_create(fd, 65536, 0, &bo), "a BO");
	m = bo_map(fd, &bo);
	slot = load_tiny(fd, prog_exit_a2, 3);
	check(m && slot >= 0, "mapped, module loaded");
	printf("HOLD READY\n");
	fflush(stdout);
	for (i = 0; i < 600 && stat(file, &sb); i++)
		usleep(100000);
	check(i < 600, "%s appeared", file);
	ret = run_exit(fd, slot, 33, &st);
	check(ret == 33 && st == 0, "the device still works: exit %d", ret);
	if (m) {
		m[0] = 1;
		munmap(m, bo.size);
	}
	check(close(fd) == 0, "close");
	return 0;
}

static int cmd_spin_exit(void)
{
	int fd = must_open(), spin, ret;
	uint64_t seq;

	spin = load_tiny(fd, prog_spin, 1);
	ret = submit(fd, spin, 0, NULL, NULL, 0, 0, &seq);
	check(spin >= 0 && !ret, "an endless job queued");
	return 0;	/* exit closes the file with the job running */
}

/* A big BO: how long creating (zeroing) it takes; its end reads 0. */
static int cmd_bo(uint64_t mib)
{
	int fd = must_open(), ret, ok = 1, i;
	static uint8_t buf[4096];
	struct bo bo;
	double t0;

	t0 = now_s();
	ret = bo_create(fd, mib << 20, 0, &bo);
	t0 = now_s() - t0;
	check(!ret, "a %" PRIu64 " MiB BO in %.3f s (%.0f MiB/s)", mib, t0,
	      mib / t0);
	if (ret)
		return 0;
	ret = bo_rw(fd, bo.handle, bo.size - sizeof(buf), buf, sizeof(buf), 0);
	for (i = 0; i < (int)sizeof(buf); i++)
		ok &= !buf[i];
	check(!ret && ok, "its last page reads zero");
	close(fd);
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: vtpu-test [-d DEV] info|basic ELF|hello ELF|"
		"isolation ELF|hang|errors|no-slice|collective|latency N|"
		"hold-job|hold-open FILE|spin-exit|bo MIB\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *cmd;
	int i = 1;

	if (argc > 2 && !strcmp(argv[1], "-d")) {
		dev_path = argv[2];
		i = 3;
	}
	if (i >= argc)
		return usage();
	cmd = argv[i++];
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(cmd, "info"))
		cmd_info();
	else if (!strcmp(cmd, "basic") && i < argc)
		cmd_basic(argv[i]);
	else if (!strcmp(cmd, "hello") && i < argc)
		cmd_hello(argv[i]);
	else if (!strcmp(cmd, "isolation") && i < argc)
		cmd_isolation(argv[i]);
	else if (!strcmp(cmd, "hang"))
		cmd_hang();
	else if (!strcmp(cmd, "errors"))
		cmd_errors();
	else if (!strcmp(cmd, "no-slice"))
		cmd_no_slice();
	else if (!strcmp(cmd, "collective"))
		cmd_collective();
	else if (!strcmp(cmd, "latency") && i < argc)
		cmd_latency(atoi(argv[i]) > 0 ? atoi(argv[i]) : 100);
	else if (!strcmp(cmd, "hold-job"))
		cmd_hold_job();
	else if (!strcmp(cmd, "hold-open") && i < argc)
		cmd_hold_open(argv[i]);
	else if (!strcmp(cmd, "spin-exit"))
		cmd_spin_exit();
	else if (!strcmp(cmd, "bo") && i < argc)
		cmd_bo(strtoull(argv[i], NULL, 0));
	else
		return usage();
	printf("vtpu-test %s: %s\n", cmd, failures ? "FAIL" : "PASS");
	return failures ? 1 : 0;
}
