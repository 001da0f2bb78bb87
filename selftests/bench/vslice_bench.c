// SPDX-License-Identifier: GPL-2.0
/*
 * vslice_bench - migration and lifecycle figures for `make bench`.
 *
 * Not a test: it never fails on a slow figure.  It drives the device as
 * QEMU 10 (v2 data fds, 1 MiB read()s) and QEMU 7.2 (the v1 region, mmap'd
 * data section or 8-byte preads) do, times each path against a plain
 * memcpy() of the same bytes in the same VM, and prints every figure as
 *
 *	bench <metric> <value> <unit>
 *
 * then "sweep <path> <bytes> <MBps>" lines (throughput against transfer
 * size, for the plot), "target <metric> PASS|MISS ..." lines and a
 * readable table.  MB is 10^6 bytes.  See Documentation/benchmarks.rst for
 * the definition of every figure.
 *
 * Needs root, vslice.ko loaded with vram_mb >= 8192 (64 instances of
 * 128 MiB for the latency figures; they SKIP otherwise) and ~2 GiB free
 * memory for the 512 MiB point (--max-mib lowers it).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "../vslice_lib.h"

#define PG		4096ULL
#define MIB		(1024ULL * 1024)
#define CHUNK		MIB		/* QEMU's VFIO buffer */
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* v1 header fields */
#define F_STATE		offsetof(struct vslice_v1_mig_info, device_state)
#define F_PENDING	offsetof(struct vslice_v1_mig_info, pending_bytes)
#define F_DATA_OFFSET	offsetof(struct vslice_v1_mig_info, data_offset)
#define F_DATA_SIZE	offsetof(struct vslice_v1_mig_info, data_size)

/* Fixed stream overhead: HW section (16 + 376 + 64, format 1.1) and END (16 + 24). */
#define FIXED_STATE	(16 + 376 + 64 + 16 + 24)

#define RING_IOVA	0x100000ULL
#define RING_ENTRIES	4096u
#define DMA_IOVA	0x40000000ULL
#define COPY_PIN_PARAM	"/sys/module/vslice/parameters/copy_pin"
#define TRACEFS		"/sys/kernel/tracing"
#define TRACEFS_DBG	"/sys/kernel/debug/tracing"

static int opt_max_mib = 512;
static int opt_pread8_mib = 4;
static bool opt_quick;

/* ------------------------------------------------------------------ */
/* output                                                              */
/* ------------------------------------------------------------------ */

struct fig {
	char name[48];
	double val;
	char unit[12];
	char target[48];	/* "" if none */
	int verdict;		/* -1 none, 0 MISS, 1 PASS */
};

static struct fig figs[128];
static int nfigs;

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stdout, "bench_error ");
	vfprintf(stdout, fmt, ap);
	fprintf(stdout, "\n");
	va_end(ap);
	fflush(stdout);
	vs_remove_all();
	exit(1);
}

static struct fig *fig_find(const char *name)
{
	int i;

	for (i = 0; i < nfigs; i++)
		if (!strcmp(figs[i].name, name))
			return &figs[i];
	return NULL;
}

static void emit(const char *name, double val, const char *unit)
{
	struct fig *f = fig_find(name);

	if (!f) {
		if (nfigs == (int)ARRAY_SIZE(figs))
			die("too many figures");
		f = &figs[nfigs++];
	}
	snprintf(f->name, sizeof(f->name), "%s", name);
	snprintf(f->unit, sizeof(f->unit), "%s", unit);
	f->val = val;
	f->verdict = -1;
	f->target[0] = 0;
	if (val == floor(val) && fabs(val) < 1e15)
		printf("bench %s %.0f %s\n", name, val, unit);
	else
		printf("bench %s %.3f %s\n", name, val, unit);
	fflush(stdout);
}

static double fig(const char *name)
{
	struct fig *f = fig_find(name);

	return f ? f->val : NAN;
}

/* A target: val <= limit (le) or val >= limit (!le). */
static void check_target(const char *name, bool le, double limit, const char *what)
{
	struct fig *f = fig_find(name);
	bool ok;

	if (!f || isnan(f->val) || isnan(limit))
		return;
	ok = le ? f->val <= limit : f->val >= limit;
	f->verdict = ok;
	snprintf(f->target, sizeof(f->target), "%s %.4g%s", le ? "<=" : ">=",
		 limit, what);
	printf("target %s %s %.4g %s %.4g%s\n", name, ok ? "PASS" : "MISS",
	       f->val, le ? "<=" : ">=", limit, what);
}

static void put_sweep(const char *path, uint64_t bytes, double mbps)
{
	printf("sweep %s %llu %.3f\n", path, (unsigned long long)bytes, mbps);
	fflush(stdout);
}

static void note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("# ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	fflush(stdout);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static double mbps(uint64_t bytes, uint64_t ns)
{
	return ns ? (double)bytes * 1e3 / (double)ns : NAN;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double median_us(uint64_t *ns, int n)
{
	qsort(ns, n, sizeof(*ns), cmp_u64);
	if (n % 2)
		return ns[n / 2] / 1e3;
	return (ns[n / 2 - 1] + ns[n / 2]) / 2e3;
}

static void *big_alloc(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	if (p == MAP_FAILED)
		die("cannot allocate %zu MiB: %s", len >> 20, strerror(errno));
	return p;
}

/* ------------------------------------------------------------------ */
/* instances                                                           */
/* ------------------------------------------------------------------ */

/**
 * struct dev - one open instance with its v1 region
 * @in:		the instance
 * @vram:	BAR2 size
 * @v1_off:	file offset of the v1 region
 * @v1_size:	its size
 * @map_off:	the sparse mmap area, region-relative
 * @map_size:	its size
 * @map:	the mapping
 */
struct dev {
	struct vs_inst in;
	uint64_t vram;
	uint64_t v1_off;
	uint64_t v1_size;
	uint64_t map_off;
	uint64_t map_size;
	uint8_t *map;
};

static const char *type_for(uint64_t bytes)
{
	if (bytes <= 128 * MIB)
		return VS_TYPE_128;
	if (bytes <= 256 * MIB)
		return VS_TYPE_256;
	return VS_TYPE_512;
}

static void dev_v1_setup(struct dev *d)
{
	struct vfio_region_info_cap_sparse_mmap *sp;
	struct vfio_region_info *info;
	size_t argsz = 256;
	int ret;

	info = calloc(1, 4096);
	if (!info)
		die("oom");
	ret = vs_region_info(d->in.device, VFIO_PCI_NUM_REGIONS, info, argsz);
	if (ret)
		die("v1 region info: %d", ret);
	if (info->argsz > argsz) {
		argsz = info->argsz;
		ret = vs_region_info(d->in.device, VFIO_PCI_NUM_REGIONS, info,
				     argsz);
		if (ret)
			die("v1 region info: %d", ret);
	}
	d->v1_off = info->offset;
	d->v1_size = info->size;
	sp = vs_region_cap(info, VFIO_REGION_INFO_CAP_SPARSE_MMAP);
	if (!sp || !sp->nr_areas)
		die("v1 region has no sparse mmap area");
	d->map_off = sp->areas[0].offset;
	d->map_size = sp->areas[0].size;
	d->map = mmap(NULL, d->map_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      d->in.device, d->v1_off + d->map_off);
	if (d->map == MAP_FAILED)
		die("v1 mmap: %s", strerror(errno));
	free(info);
}

static void dev_create(struct dev *d, const char *type, bool open)
{
	uint64_t size;
	int ret;

	memset(d, 0, sizeof(*d));
	ret = vs_create(&d->in, type);
	if (ret)
		die("create %s: %s", type, strerror(-ret));
	if (!open)
		return;
	ret = vs_open(&d->in);
	if (ret)
		die("open %s: %s", d->in.uuid, strerror(-ret));
	if (vs_region_offset(d->in.device, VFIO_PCI_BAR2_REGION_INDEX, &size,
			     &d->vram))
		die("BAR2 info");
	dev_v1_setup(d);
}

static void dev_remove(struct dev *d)
{
	if (d->map)
		munmap(d->map, d->map_size);
	d->map = NULL;
	vs_remove(&d->in);
}

/* Pseudo-random page contents, stamped with the page index. */
static void fill_pattern(uint8_t *buf, size_t len, uint64_t first_page,
			 uint64_t seed)
{
	uint64_t *w = (uint64_t *)buf, x = seed | 1;
	size_t i;

	for (i = 0; i < len / 8; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		w[i] = x;
	}
	for (i = 0; i < len / PG; i++)
		w[i * PG / 8] = first_page + i;
}

/* Write the first @bytes of VRAM through the BAR2 region. */
static uint64_t vram_write(struct dev *d, uint64_t bytes, uint64_t seed)
{
	uint8_t *buf = malloc(CHUNK);
	uint64_t off, t0 = now_ns();

	if (!buf)
		die("oom");
	for (off = 0; off < bytes; off += CHUNK) {
		size_t n = bytes - off < CHUNK ? bytes - off : CHUNK;

		fill_pattern(buf, n, off / PG, seed + off);
		if (vs_region_rw(&d->in, VFIO_PCI_BAR2_REGION_INDEX, off, buf,
				 n, true) != (ssize_t)n)
			die("VRAM write at %llu", (unsigned long long)off);
	}
	free(buf);
	return now_ns() - t0;
}

/* Compare 64 pages spread over the first @bytes of two instances. */
static void vram_compare(struct dev *a, struct dev *b, uint64_t bytes,
			 const char *what)
{
	uint8_t pa[PG], pb[PG];
	uint64_t pages = bytes / PG, i;

	for (i = 0; i < 64; i++) {
		uint64_t off = (pages * i / 64) * PG;

		if (vs_region_rw(&a->in, VFIO_PCI_BAR2_REGION_INDEX, off, pa,
				 PG, false) != PG ||
		    vs_region_rw(&b->in, VFIO_PCI_BAR2_REGION_INDEX, off, pb,
				 PG, false) != PG)
			die("%s: VRAM read", what);
		if (memcmp(pa, pb, PG))
			die("%s: VRAM differs at page %llu", what,
			    (unsigned long long)(off / PG));
	}
}

/* ------------------------------------------------------------------ */
/* v2                                                                  */
/* ------------------------------------------------------------------ */

union feat_buf {
	struct vfio_device_feature f;
	__u64 raw[(sizeof(struct vfio_device_feature) + 16) / 8];
};

static void mig_must(struct dev *d, __u32 state, int *data_fd)
{
	int ret = vs_mig_set_state(d->in.device, state, data_fd);

	if (ret)
		die("MIG_DEVICE_STATE %u: %s", state, strerror(-ret));
	if (data_fd && (state == ST_STOP_COPY || state == ST_RESUMING ||
			state == ST_PRE_COPY) && *data_fd < 0)
		die("MIG_DEVICE_STATE %u: no data fd", state);
}

static int mig_data_size(struct dev *d, uint64_t *len)
{
	union feat_buf b = { 0 };

	b.f.argsz = sizeof(b.f) + sizeof(__u64);
	b.f.flags = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIG_DATA_SIZE;
	if (ioctl(d->in.device, VFIO_DEVICE_FEATURE, &b))
		return -errno;
	memcpy(len, b.f.data, sizeof(*len));
	return 0;
}

static int precopy_info(int fd, uint64_t *initial, uint64_t *dirty)
{
	struct {
		__u32 argsz, flags;
		__u64 initial, dirty;
	} info = { .argsz = sizeof(info) };

	if (ioctl(fd, VFIO_MIG_GET_PRECOPY_INFO, &info))
		return -errno;
	*initial = info.initial;
	*dirty = info.dirty;
	return 0;
}

static bool have_precopy(struct dev *d)
{
	union feat_buf b = { 0 };
	struct vfio_device_feature_migration *m = (void *)b.f.data;

	b.f.argsz = sizeof(b.f) + sizeof(*m);
	b.f.flags = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIGRATION;
	if (ioctl(d->in.device, VFIO_DEVICE_FEATURE, &b))
		return false;
	return m->flags & 4;	/* VFIO_MIGRATION_PRE_COPY */
}

/*
 * Read a save fd to its (temporary) end with 1 MiB read()s; only the
 * read() calls are timed.  Appends to @store (if any) at *@len.  Returns
 * 0 at EOF, -ENOMSG at a pre-copy temporary end.
 */
static int fd_drain(int fd, uint8_t *buf, uint8_t *store, uint64_t cap,
		    uint64_t *len, uint64_t *ns)
{
	for (;;) {
		uint64_t t0 = now_ns();
		ssize_t n = read(fd, buf, CHUNK);

		*ns += now_ns() - t0;
		if (n < 0)
			return -errno;
		if (!n)
			return 0;
		if (store) {
			if (*len + n > cap)
				die("stream larger than %llu bytes",
				    (unsigned long long)cap);
			memcpy(store + *len, buf, n);
		}
		*len += n;
	}
}

/* A whole v2 stop-copy from RUNNING; the instance returns to RUNNING. */
static uint64_t save_v2(struct dev *d, uint8_t *store, uint64_t cap,
			uint64_t *ns)
{
	uint8_t *buf = malloc(CHUNK);
	uint64_t len = 0;
	int fd, ret;

	if (!buf)
		die("oom");
	*ns = 0;
	mig_must(d, ST_STOP_COPY, &fd);
	ret = fd_drain(fd, buf, store, cap, &len, ns);
	if (ret)
		die("stop-copy read: %s", strerror(-ret));
	close(fd);
	mig_must(d, ST_STOP, NULL);
	mig_must(d, ST_RUNNING, NULL);
	free(buf);
	return len;
}

/* A v2 resume of @len bytes in @piece writes; ends RUNNING. */
static uint64_t resume_v2(struct dev *d, const uint8_t *store, uint64_t len,
			  size_t piece)
{
	uint64_t off, t0;
	int fd, ret;

	mig_must(d, ST_RESUMING, &fd);
	t0 = now_ns();
	for (off = 0; off < len; ) {
		size_t n = len - off < piece ? len - off : piece;
		ssize_t w = write(fd, store + off, n);

		if (w != (ssize_t)n)
			die("resume write at %llu: %s", (unsigned long long)off,
			    w < 0 ? strerror(errno) : "short");
		off += n;
	}
	ret = vs_mig_set_state(d->in.device, ST_STOP, NULL);
	t0 = now_ns() - t0;
	if (ret)
		die("RESUMING -> STOP: %s", strerror(-ret));
	close(fd);
	mig_must(d, ST_RUNNING, NULL);
	return t0;
}

/* ------------------------------------------------------------------ */
/* v1                                                                  */
/* ------------------------------------------------------------------ */

static uint64_t v1_rd(struct dev *d, uint64_t field, size_t w)
{
	uint64_t v = 0;

	if (pread(d->in.device, &v, w, d->v1_off + field) != (ssize_t)w)
		die("v1 read of field %llu: %s", (unsigned long long)field,
		    strerror(errno));
	return v;
}

static void v1_wr(struct dev *d, uint64_t field, uint64_t v, size_t w)
{
	if (pwrite(d->in.device, &v, w, d->v1_off + field) != (ssize_t)w)
		die("v1 write of field %llu = %llu: %s",
		    (unsigned long long)field, (unsigned long long)v,
		    strerror(errno));
}

/* QEMU 7.2's read-modify-write of device_state. */
static void v1_state(struct dev *d, uint32_t mask, uint32_t value)
{
	uint32_t s = v1_rd(d, F_STATE, 4);

	v1_wr(d, F_STATE, (s & mask) | value, 4);
}

/* QEMU's slow path: naturally aligned 8/4/2/1-byte preads. */
static void v1_pread_slow(struct dev *d, uint8_t *dst, uint64_t off,
			  uint64_t size)
{
	while (size) {
		uint64_t pos = d->v1_off + off;
		size_t w = 1;

		if (size >= 8 && !(pos & 7))
			w = 8;
		else if (size >= 4 && !(pos & 3))
			w = 4;
		else if (size >= 2 && !(pos & 1))
			w = 2;
		if (pread(d->in.device, dst, w, pos) != (ssize_t)w)
			die("v1 slow read: %s", strerror(errno));
		dst += w;
		off += w;
		size -= w;
	}
}

static void v1_pwrite_slow(struct dev *d, const uint8_t *src, uint64_t off,
			   uint64_t size)
{
	while (size) {
		uint64_t pos = d->v1_off + off;
		size_t w = 1;

		if (size >= 8 && !(pos & 7))
			w = 8;
		else if (size >= 4 && !(pos & 3))
			w = 4;
		else if (size >= 2 && !(pos & 1))
			w = 2;
		if (pwrite(d->in.device, src, w, pos) != (ssize_t)w)
			die("v1 slow write: %s", strerror(errno));
		src += w;
		off += w;
		size -= w;
	}
}

/*
 * A v1 stop-and-copy as QEMU 7.2 does it from a running VM:
 * device_state 1 -> 3 (save_setup) -> 2 (VM stop), then the complete loop
 * (pending_bytes, data_offset, data_size, the bytes) and -> 0, then back
 * to 1.  The loop is timed, including QEMU's copy of the bytes out of the
 * mapping; appending to @store is not.
 */
static uint64_t save_v1(struct dev *d, bool slow, uint8_t *store,
			uint64_t cap, uint64_t *ns)
{
	uint8_t *buf = malloc(CHUNK);
	uint64_t len = 0, t0, t = 0;

	if (!buf)
		die("oom");
	v1_state(d, 7, VSLICE_V1_STATE_SAVING);		/* 1 -> 3 */
	v1_state(d, ~1u, 0);				/* 3 -> 2 */
	for (;;) {
		uint64_t pending, off, size, done, n;

		t0 = now_ns();
		pending = v1_rd(d, F_PENDING, 8);
		if (!pending) {
			t += now_ns() - t0;
			break;
		}
		off = v1_rd(d, F_DATA_OFFSET, 8);
		size = v1_rd(d, F_DATA_SIZE, 8);
		if (!size) {
			t += now_ns() - t0;
			break;
		}
		if (size > d->map_size || off < d->map_off ||
		    off + size > d->map_off + d->map_size)
			die("v1 data_offset %llu size %llu",
			    (unsigned long long)off, (unsigned long long)size);
		if (store && len + size > cap)
			die("v1 stream too large");
		/*
		 * qemu_put_buffer() copies the record out of the mapping
		 * into QEMUFile's own buffer as it goes, a piece at a time:
		 * here 1 MiB pieces into one reused buffer (a section may
		 * be up to 32 MiB).
		 */
		for (done = 0; done < size; done += n) {
			n = size - done < CHUNK ? size - done : CHUNK;
			if (slow)
				v1_pread_slow(d, buf, off + done, n);
			else
				memcpy(buf, d->map + (off - d->map_off) + done,
				       n);
			t += now_ns() - t0;
			if (store)
				memcpy(store + len + done, buf, n);
			t0 = now_ns();
		}
		t += now_ns() - t0;
		len += size;
	}
	v1_state(d, ~2u, 0);				/* 2 -> 0 */
	v1_state(d, ~7u, VSLICE_V1_STATE_RUNNING);	/* 0 -> 1 */
	free(buf);
	*ns = t;
	return len;
}

/* A v1 resume: device_state -> 4, records of <= 1 MiB, -> 1. */
static uint64_t resume_v1(struct dev *d, bool slow, const uint8_t *store,
			  uint64_t len)
{
	uint64_t off = 0, t0 = now_ns();

	v1_state(d, ~7u, VSLICE_V1_STATE_RESUMING);
	while (off < len) {
		uint64_t n = len - off < d->map_size ? len - off : d->map_size;
		uint64_t doff = v1_rd(d, F_DATA_OFFSET, 8);

		if (doff != d->map_off)
			die("v1 resume data_offset %llu",
			    (unsigned long long)doff);
		if (slow)
			v1_pwrite_slow(d, store + off, doff, n);
		else
			memcpy(d->map, store + off, n);
		v1_wr(d, F_DATA_SIZE, n, 8);
		off += n;
	}
	v1_state(d, ~7u, VSLICE_V1_STATE_RUNNING);
	return now_ns() - t0;
}

/* ------------------------------------------------------------------ */
/* engine                                                              */
/* ------------------------------------------------------------------ */

static void *ring_map;

static void dma_map_buf(struct dev *d, uint64_t iova, void *buf, size_t len)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)buf,
		.iova = iova,
		.size = len,
	};

	if (ioctl(d->in.container, VFIO_IOMMU_MAP_DMA, &map))
		die("MAP_DMA %zu bytes: %s", len, strerror(errno));
}

static void dma_unmap_buf(struct dev *d, uint64_t iova, size_t len)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap),
		.iova = iova,
		.size = len,
	};

	if (ioctl(d->in.container, VFIO_IOMMU_UNMAP_DMA, &unmap))
		die("UNMAP_DMA: %s", strerror(errno));
}

static void ring_init(struct dev *d)
{
	ring_map = vs_dma_map(&d->in, RING_IOVA, RING_ENTRIES * 32);
	if (!ring_map)
		die("ring map");
	vs_ring_setup(&d->in, RING_IOVA, RING_ENTRIES);
}

static void ring_fini(struct dev *d)
{
	vs_wr32(&d->in, VSLICE_REG_CONTROL, 0);
	vs_dma_unmap(&d->in, RING_IOVA, RING_ENTRIES * 32, ring_map);
	ring_map = NULL;
}

static struct vslice_cmd mkcmd(uint32_t op, uint32_t pattern,
			       uint64_t vram_off, uint64_t iova, uint64_t len)
{
	struct vslice_cmd c = {
		.opcode = op,
		.pattern = pattern,
		.vram_off = vram_off,
		.iova = iova,
		.len = len,
	};

	return c;
}

/* Poll RING_HEAD until the engine is idle; die on a halt. */
static void ring_wait(struct dev *d)
{
	struct timespec ts = { 0, 50000 };
	uint64_t t0 = now_ns();

	for (;;) {
		uint32_t st = vs_rd32(&d->in, VSLICE_REG_STATUS);

		if (st & VSLICE_STATUS_HALTED)
			die("engine halted, error %u",
			    vs_rd32(&d->in, VSLICE_REG_ERROR));
		if (!(st & VSLICE_STATUS_BUSY) &&
		    vs_rd32(&d->in, VSLICE_REG_RING_HEAD) ==
		    vs_rd32(&d->in, VSLICE_REG_RING_TAIL))
			return;
		if (now_ns() - t0 > 120ULL * 1000000000ULL)
			die("engine did not go idle");
		nanosleep(&ts, NULL);
	}
}

static void ring_run(struct dev *d, const struct vslice_cmd *cmd)
{
	vs_ring_push(&d->in, ring_map, RING_ENTRIES, cmd);
}

static int write_param(const char *path, const char *val)
{
	return vs_sysfs_write(path, val);
}

/* ------------------------------------------------------------------ */
/* ftrace: vfio_pin_pages / vfio_unpin_pages durations                  */
/* ------------------------------------------------------------------ */

static const char *tracefs(void)
{
	if (!access(TRACEFS "/current_tracer", W_OK))
		return TRACEFS;
	if (!access(TRACEFS_DBG "/current_tracer", W_OK))
		return TRACEFS_DBG;
	return NULL;
}

/* Write @val to a tracefs file; O_TRUNC resets lists such as filters. */
static int trace_set(const char *t, const char *file, const char *val)
{
	char path[PATH_MAX];
	size_t len = strlen(val), done = 0;
	int fd, ret = 0;

	snprintf(path, sizeof(path), "%s/%s", t, file);
	fd = open(path, O_WRONLY | O_TRUNC);
	if (fd < 0)
		return -errno;
	while (done < len) {
		ssize_t n = write(fd, val + done, len - done);

		if (n <= 0) {
			ret = n < 0 ? -errno : -EIO;
			break;
		}
		done += n;
	}
	close(fd);
	return ret;
}

static bool trace_start(void)
{
	const char *t = tracefs();
	int ret;

	if (!t) {
		note("no tracefs");
		return false;
	}
	trace_set(t, "tracing_on", "0");
	ret = trace_set(t, "set_ftrace_filter",
			"vfio_pin_pages vfio_unpin_pages");
	if (!ret)
		ret = trace_set(t, "current_tracer", "function_graph");
	if (ret) {
		note("function_graph on vfio_pin_pages: %s", strerror(-ret));
		return false;
	}
	trace_set(t, "buffer_size_kb", "8192");
	trace_set(t, "trace", "");
	trace_set(t, "tracing_on", "1");
	return true;
}

/* Sum of durations (ns) and calls of both functions in the trace. */
static void trace_stop(double *pin_ns, int *pins, double *unpin_ns,
		       int *unpins)
{
	const char *t = tracefs();
	char path[PATH_MAX], line[512];
	FILE *f;

	*pin_ns = *unpin_ns = 0;
	*pins = *unpins = 0;
	if (!t)
		return;
	trace_set(t, "tracing_on", "0");
	snprintf(path, sizeof(path), "%s/trace", t);
	f = fopen(path, "r");
	if (f) {
		while (fgets(line, sizeof(line), f)) {
			char *bar = strchr(line, '|'), *tok, *save = NULL;
			double us = NAN, prev = NAN;

			if (!bar)
				continue;
			*bar = 0;
			for (tok = strtok_r(line, " \t", &save); tok;
			     tok = strtok_r(NULL, " \t", &save)) {
				if (!strcmp(tok, "us"))
					us = prev;
				prev = strtod(tok, NULL);
			}
			if (isnan(us))
				continue;
			if (strstr(bar + 1, "vfio_unpin_pages")) {
				*unpin_ns += us * 1e3;
				(*unpins)++;
			} else if (strstr(bar + 1, "vfio_pin_pages")) {
				*pin_ns += us * 1e3;
				(*pins)++;
			}
		}
		fclose(f);
	}
	trace_set(t, "current_tracer", "nop");
	trace_set(t, "set_ftrace_filter", "");
	trace_set(t, "buffer_size_kb", "1408");
}

/* ------------------------------------------------------------------ */
/* the benchmarks                                                      */
/* ------------------------------------------------------------------ */

/* memcpy of @bytes from @src into a reused 1 MiB buffer. */
static uint64_t memcpy_ns(const uint8_t *src, uint64_t bytes)
{
	uint8_t *dst = big_alloc(CHUNK);
	uint64_t off, t0;

	t0 = now_ns();
	for (off = 0; off < bytes; off += CHUNK)
		memcpy(dst, src + off, bytes - off < CHUNK ? bytes - off : CHUNK);
	t0 = now_ns() - t0;
	munmap(dst, CHUNK);
	return t0;
}

/*
 * The kernel's own single copy: read() of a tmpfs file (page cache ->
 * user, copy_to_iter) into a reused 1 MiB buffer.  A stop-copy read does
 * the same copy plus framing, so this is its ceiling in this VM.
 */
static uint64_t tmpfs_read_ns(const uint8_t *src, uint64_t bytes)
{
	char path[] = "/tmp/vslice_bench.XXXXXX";
	uint8_t *buf = big_alloc(CHUNK);
	uint64_t off, t0;
	int fd = mkstemp(path);

	if (fd < 0)
		die("mkstemp: %s", strerror(errno));
	unlink(path);
	for (off = 0; off < bytes; ) {
		ssize_t n = write(fd, src + off, bytes - off);

		if (n <= 0)
			die("tmpfs write: %s", strerror(errno));
		off += n;
	}
	t0 = now_ns();
	for (off = 0; off < bytes; ) {
		ssize_t n = pread(fd, buf, CHUNK, off);

		if (n <= 0)
			die("tmpfs read: %s", strerror(errno));
		off += n;
	}
	t0 = now_ns() - t0;
	close(fd);
	munmap(buf, CHUNK);
	return t0;
}

/* Up to REPS samples of one figure; its median. */
#define REPS	3

struct acc {
	double v[REPS];
	int n;
};

static void acc_add(struct acc *a, double x)
{
	if (a->n < REPS)
		a->v[a->n++] = x;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double acc_med(struct acc *a)
{
	double v[REPS];

	if (!a->n)
		return NAN;
	memcpy(v, a->v, sizeof(v));
	qsort(v, a->n, sizeof(v[0]), cmp_dbl);
	return a->n % 2 ? v[a->n / 2] : (v[a->n / 2 - 1] + v[a->n / 2]) / 2;
}

enum {
	P_MEMCPY, P_TMPFS, P_SAVE_V2, P_SAVE_V1, P_RESUME_V2, P_RESUME_V1,
	P_ENGINE, P_NR
};

static const char *const path_name[P_NR] = {
	"memcpy", "tmpfs_read", "stopcopy_v2_fd", "stopcopy_v1_mmap",
	"resume_v2_fd", "resume_v1_mmap", "engine_copy",
};

/*
 * One point of the throughput sweep: @bytes of VRAM written, then REPS
 * rounds of every path.  Each path's sample is paired with a memcpy() of
 * the same bytes run right before it, and its ratio is taken against that
 * one: load from elsewhere on the host then hits both alike.  Figures are
 * medians over the rounds.  @headline: also emit the named metrics.
 */
static void bench_size(uint64_t bytes, bool headline)
{
	const char *type = type_for(bytes);
	uint64_t cap = bytes + bytes / 64 + 64 * 1024;
	uint64_t len = 0, len1, ns, reported = 0;
	uint8_t *store = big_alloc(cap);
	struct acc mb[P_NR] = { 0 }, ratio[P_NR] = { 0 };
	struct dev src, dst;
	char name[80];
	int rep, p;

	note("size %llu MiB (%s)", (unsigned long long)(bytes >> 20), type);
	fill_pattern(store, bytes, 0, 42);

/* a memcpy right before each sample */
#define PAIR(path, nbytes, expr) do {					\
		double m_ = mbps(bytes, memcpy_ns(store, bytes)), v_;	\
		int p_ = (path);					\
		acc_add(&mb[P_MEMCPY], m_);				\
		ns = (expr);						\
		v_ = mbps((nbytes), ns);				\
		acc_add(&mb[p_], v_);					\
		acc_add(&ratio[p_], v_ / m_);				\
	} while (0)

	for (rep = 0; rep < REPS; rep++)
		PAIR(P_TMPFS, bytes, tmpfs_read_ns(store, bytes));

	dev_create(&src, type, true);
	ns = vram_write(&src, bytes, 7);
	if (headline) {
		emit("vram_pwrite_MBps", mbps(bytes, ns), "MB/s");
		if (!mig_data_size(&src, &reported))
			emit("stopcopy_reported_bytes", reported, "bytes");
	}
	dev_create(&dst, type, true);
	ring_init(&src);

	for (rep = 0; rep < REPS; rep++) {
		/* v2 data fd, captured for the resume runs */
		PAIR(P_SAVE_V2, len, (len = save_v2(&src, store, cap, &ns), ns));
		/* v1, mmap'd data section */
		PAIR(P_SAVE_V1, len1, (len1 = save_v1(&src, false, NULL, 0, &ns), ns));
		if (len1 != len)
			die("v1 stream %llu bytes, v2 %llu",
			    (unsigned long long)len1, (unsigned long long)len);
		/* resume: v2 fd (1 MiB writes), then the v1 section */
		PAIR(P_RESUME_V2, len, resume_v2(&dst, store, len, CHUNK));
		vram_compare(&src, &dst, bytes, "resume v2");
		PAIR(P_RESUME_V1, len, resume_v1(&dst, false, store, len));
		vram_compare(&src, &dst, bytes, "resume v1");
		/* engine COPY_FROM_VRAM into pinned pages of the store */
		dma_map_buf(&src, DMA_IOVA, store, bytes);
		PAIR(P_ENGINE, bytes, ({
			struct vslice_cmd c = mkcmd(VSLICE_CMD_COPY_FROM_VRAM,
						    0, 0, DMA_IOVA, bytes);
			uint64_t t0 = now_ns();

			ring_run(&src, &c);
			ring_wait(&src);
			now_ns() - t0;
		}));
		dma_unmap_buf(&src, DMA_IOVA, bytes);
	}
#undef PAIR
	ring_fini(&src);
	dev_remove(&dst);
	dev_remove(&src);
	munmap(store, cap);

	for (p = 0; p < P_NR; p++)
		put_sweep(path_name[p], p >= P_SAVE_V2 && p <= P_RESUME_V1 ?
		      len : bytes, acc_med(&mb[p]));
	if (!headline)
		return;
	emit("memcpy_MBps", acc_med(&mb[P_MEMCPY]), "MB/s");
	emit("memcpy_bytes", bytes, "bytes");
	for (p = P_TMPFS; p < P_NR; p++) {
		snprintf(name, sizeof(name), "%s_MBps", path_name[p]);
		emit(name, acc_med(&mb[p]), "MB/s");
		snprintf(name, sizeof(name), "%s_ratio", path_name[p]);
		emit(name, acc_med(&ratio[p]), "x");
	}
	/* against this VM's own one-copy read() ceiling */
	emit("stopcopy_v2_fd_vs_tmpfs", acc_med(&mb[P_SAVE_V2]) /
	     acc_med(&mb[P_TMPFS]), "x");
	emit("stopcopy_v1_mmap_vs_tmpfs", acc_med(&mb[P_SAVE_V1]) /
	     acc_med(&mb[P_TMPFS]), "x");
	emit("stopcopy_actual_bytes", len, "bytes");
	if (reported)
		emit("stopcopy_reported_ratio", (double)reported / len, "x");
}

/* v1 8-byte slow path: small sizes only, it is syscall bound. */
static void bench_pread8(void)
{
	uint64_t sizes[] = { 256 * 1024, 1 * MIB, 4 * MIB, 16 * MIB };
	uint64_t cap, len, ns, t0;
	struct dev src, dst;
	uint8_t *store;
	unsigned int i;
	double mc = fig("memcpy_MBps"), floor_ns;
	uint64_t v;
	bool last;
	int k;

	dev_create(&src, VS_TYPE_128, true);

	/*
	 * The floor: one 8-byte pread of the data section with nothing to
	 * fill, i.e. what each access of the slow path costs at the least.
	 */
	t0 = now_ns();
	for (k = 0; k < 20000; k++)
		if (pread(src.in.device, &v, 8, src.v1_off + src.map_off) != 8)
			die("v1 data pread: %s", strerror(errno));
	floor_ns = (now_ns() - t0) / 20000.0;
	emit("v1_pread_floor_ns", floor_ns, "ns");
	emit("v1_pread8_ceiling_MBps", 8e3 / floor_ns, "MB/s");

	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		uint64_t bytes = sizes[i];

		if (bytes > (uint64_t)opt_pread8_mib * MIB)
			break;
		cap = bytes + bytes / 64 + 64 * 1024;
		store = big_alloc(cap);
		vram_write(&src, bytes, 11);
		/* the named figures: the largest size only */
		last = i + 1 == ARRAY_SIZE(sizes) ||
		       sizes[i + 1] > (uint64_t)opt_pread8_mib * MIB;
		len = save_v1(&src, true, store, cap, &ns);
		put_sweep("stopcopy_v1_pread8", len, mbps(len, ns));
		if (last) {
			emit("stopcopy_v1_pread8_MBps", mbps(len, ns), "MB/s");
			emit("stopcopy_v1_pread8_bytes", len, "bytes");
			emit("stopcopy_v1_pread8_ratio", mbps(len, ns) / mc,
			     "x");
		}

		dev_create(&dst, VS_TYPE_128, true);
		ns = resume_v1(&dst, true, store, len);
		vram_compare(&src, &dst, bytes, "resume v1 pwrite8");
		put_sweep("resume_v1_pwrite8", len, mbps(len, ns));
		if (last)
			emit("resume_v1_pwrite8_MBps", mbps(len, ns), "MB/s");
		dev_remove(&dst);
		munmap(store, cap);
	}
	dev_remove(&src);
}

/* A never-written instance's whole stream. */
static void bench_untouched(void)
{
	uint64_t ns, len;
	struct dev d;

	dev_create(&d, VS_TYPE_512, true);
	len = save_v2(&d, NULL, 0, &ns);
	emit("stream_untouched_bytes", len, "bytes");
	dev_remove(&d);
}

/* Engine dirtying @n scattered pages (one FILL each) in round @round. */
static void dirty_pages(struct dev *d, uint64_t npages, unsigned int n,
			unsigned int round)
{
	unsigned int j;

	for (j = 0; j < n; j++) {
		uint64_t page = ((uint64_t)j * npages / n +
				 (uint64_t)round * 7) % npages;
		struct vslice_cmd c = mkcmd(VSLICE_CMD_FILL,
					    0x01010101u * (round + 1),
					    page * PG, 0, PG);

		ring_run(d, &c);
		if ((j + 1) % (RING_ENTRIES / 2) == 0)
			ring_wait(d);
	}
	ring_wait(d);
}

/*
 * Pre-copy on a fully written 128 MiB instance:
 *  - idle: read the first pass, switch to stop-copy, count what is left;
 *  - busy: QEMU's loop (query pending, stop when it fits the downtime
 *    budget, else read a pass) while the engine dirties N pages a round.
 */
static void bench_precopy(void)
{
	const unsigned int n_dirty = opt_quick ? 256 : 1024;
	uint64_t vram = 128 * MIB, npages = vram / PG;
	uint64_t len, ns, ini = 0, dirty = 0, reported = 0, threshold;
	uint64_t pending = 0;
	uint8_t *buf = malloc(CHUNK);
	double bw = fig("stopcopy_v2_fd_MBps");
	unsigned int round;
	struct dev d;
	int fd, ret;

	dev_create(&d, VS_TYPE_128, true);
	if (!have_precopy(&d)) {
		note("no PRE_COPY on this kernel: pre-copy figures skipped");
		dev_remove(&d);
		free(buf);
		return;
	}
	vram_write(&d, vram, 3);

	/* idle */
	mig_must(&d, ST_PRE_COPY, &fd);
	if (!precopy_info(fd, &ini, &dirty))
		emit("precopy_reported_initial_bytes", ini, "bytes");
	len = 0;
	ns = 0;
	ret = fd_drain(fd, buf, NULL, 0, &len, &ns);
	if (ret != -ENOMSG)
		die("pre-copy first pass ended with %d", ret);
	emit("precopy_actual_initial_bytes", len, "bytes");
	if (!mig_data_size(&d, &reported))
		emit("precopy_idle_reported_stopcopy_bytes", reported, "bytes");
	mig_must(&d, ST_STOP_COPY, NULL);
	len = 0;
	ret = fd_drain(fd, buf, NULL, 0, &len, &ns);
	if (ret)
		die("idle stop-copy: %d", ret);
	close(fd);
	emit("stopcopy_idle_converged_bytes", len, "bytes");
	emit("stopcopy_idle_vram_bytes", vram, "bytes");
	mig_must(&d, ST_STOP, NULL);
	mig_must(&d, ST_RUNNING, NULL);

	/* busy: the engine dirties n_dirty pages per round */
	if (isnan(bw))
		bw = 100;
	threshold = bw * 1e6 * 0.300;	/* QEMU's default 300 ms downtime */
	ring_init(&d);
	mig_must(&d, ST_PRE_COPY, &fd);
	for (round = 0; round < 30; round++) {
		if (precopy_info(fd, &ini, &dirty))
			die("PRECOPY_INFO");
		pending = ini + dirty;
		if (round && pending <= threshold)
			break;
		len = 0;
		ret = fd_drain(fd, buf, NULL, 0, &len, &ns);
		if (ret != -ENOMSG)
			die("pre-copy round %u ended with %d", round, ret);
		if (round == 1)
			emit("precopy_round2_bytes", len, "bytes");
		dirty_pages(&d, npages, n_dirty, round);
	}
	emit("precopy_rounds", round, "rounds");
	emit("precopy_dirty_pages_per_round", n_dirty, "pages");
	emit("precopy_threshold_bytes", threshold, "bytes");
	emit("precopy_converged_pending_bytes", pending, "bytes");
	mig_must(&d, ST_STOP_COPY, NULL);
	len = 0;
	ret = fd_drain(fd, buf, NULL, 0, &len, &ns);
	if (ret)
		die("busy stop-copy: %d", ret);
	close(fd);
	emit("precopy_final_stopcopy_bytes", len, "bytes");
	mig_must(&d, ST_STOP, NULL);
	mig_must(&d, ST_RUNNING, NULL);
	ring_fini(&d);
	dev_remove(&d);
	free(buf);
}

/* RUNNING -> STOP_COPY -> STOP -> RESUMING -> RUNNING on one instance. */
static uint64_t arc_cycle(struct dev *d, uint8_t *buf)
{
	uint64_t t0 = now_ns(), len = 0, ns = 0;
	int fd, ret;

	mig_must(d, ST_STOP_COPY, &fd);
	ret = fd_drain(fd, buf, buf + CHUNK, CHUNK, &len, &ns);
	if (ret)
		die("cycle save: %d", ret);
	close(fd);
	mig_must(d, ST_STOP, NULL);
	mig_must(d, ST_RESUMING, &fd);
	if (write(fd, buf + CHUNK, len) != (ssize_t)len)
		die("cycle resume write: %s", strerror(errno));
	close(fd);
	mig_must(d, ST_RUNNING, NULL);
	return now_ns() - t0;
}

/*
 * Latency with K live (open, one page written) 128 MiB instances: the
 * migration arc cycle on one instance (the same one every time, so that
 * only the number of instances changes), the same cycle round robin over
 * all K, and create/remove of one more instance.  SCALE_PASSES passes
 * over K = 1, 16, 64, every figure the median of all its samples, so that
 * load drifting in and out (other VMs on the host) hits every K alike.
 */
#define SCALE_PASSES	6
#define SCALE_ITERS	8

static void scale_open(struct dev *d, int i)
{
	uint8_t page[PG];

	if (d->in.device >= 0 && d->map)
		return;
	if (vs_open(&d->in))
		die("open %s", d->in.uuid);
	dev_v1_setup(d);
	fill_pattern(page, PG, i, i + 1);
	if (vs_region_rw(&d->in, VFIO_PCI_BAR2_REGION_INDEX, 0, page, PG,
			 true) != PG)
		die("VRAM write");
}

static void bench_scale(void)
{
	enum { S_CREATE, S_REMOVE, S_CYCLE, S_RR, S_NR };
	static const char *const fmt[S_NR] = {
		"create_us_%d", "remove_us_%d", "arc_cycle_us_%d",
		"arc_cycle_rr_us_%d",
	};
	static const int ks[] = { 1, 16, 64 };
	const int nk = ARRAY_SIZE(ks);
	const int iters = opt_quick ? 6 : SCALE_ITERS;
	const int passes = opt_quick ? 1 : SCALE_PASSES;
	long avail = vs_type_attr_long(VS_TYPE_128, "available_instances");
	uint64_t (*samples)[S_NR][SCALE_PASSES * SCALE_ITERS];
	uint8_t *buf = big_alloc(2 * CHUNK);
	struct dev *devs = calloc(64, sizeof(*devs));
	int live = 0, pass, k, j, s, n;
	char name[64];

	samples = calloc(nk, sizeof(*samples));
	if (!devs || !samples)
		die("oom");
	if (avail < 64) {
		note("only %ld 128m instances fit (load with vram_mb=8192): scale figures skipped",
		     avail);
		goto out;
	}
	for (pass = 0; pass < passes; pass++) {
		for (k = 0; k < nk; k++) {
			uint64_t *sm;

			while (live > ks[k] - 1)
				dev_remove(&devs[--live]);
			while (live < ks[k] - 1)
				dev_create(&devs[live++], VS_TYPE_128, false);

			/* create/remove of the K-th instance */
			for (j = -2; j < iters; j++) {	/* 2 warm-ups */
				struct vs_inst in;
				uint64_t t0 = now_ns();
				int ret = vs_create(&in, VS_TYPE_128);
				uint64_t t1 = now_ns();

				if (ret)
					die("create: %s", strerror(-ret));
				ret = vs_remove_uuid(in.uuid);
				if (ret)
					die("remove: %s", strerror(-ret));
				if (j < 0)
					continue;
				n = pass * iters + j;
				samples[k][S_CREATE][n] = t1 - t0;
				samples[k][S_REMOVE][n] = now_ns() - t1;
			}

			/* arc cycles with K live, open instances */
			dev_create(&devs[live++], VS_TYPE_128, false);
			for (j = 0; j < live; j++)
				scale_open(&devs[j], j);
			arc_cycle(&devs[0], buf);	/* warm-up */
			for (j = 0; j < iters; j++) {
				n = pass * iters + j;
				sm = samples[k][S_CYCLE];
				sm[n] = arc_cycle(&devs[0], buf);
				sm = samples[k][S_RR];
				sm[n] = arc_cycle(&devs[(j + 1) % live], buf);
			}
		}
	}
	for (k = 0; k < nk; k++) {
		for (s = 0; s < S_NR; s++) {
			snprintf(name, sizeof(name), fmt[s], ks[k]);
			emit(name, median_us(samples[k][s], passes * iters),
			     "us");
		}
	}
out:
	while (live > 0)
		dev_remove(&devs[--live]);
	free(samples);
	free(devs);
	munmap(buf, 2 * CHUNK);
}

/*
 * N instances of one parent saved at once, each data fd read by its own
 * thread (QEMU 10's multifd device state transfer): every instance has
 * PAR_MIB written, all enter STOP_COPY, then the threads start together
 * and read to EOF in 1 MiB read()s.  The figure is the aggregate: all
 * bytes over the wall time from the start to the last EOF.  A lock shared
 * by the instances would hold _2 and _4 near _1.
 */
#define PAR_MIB		64
#define PAR_MAX		4

struct par_arg {
	int fd;
	uint64_t bytes;
	pthread_barrier_t *go;
	int err;
};

static void *par_reader(void *p)
{
	struct par_arg *a = p;
	uint8_t *buf = big_alloc(CHUNK);
	ssize_t n;

	pthread_barrier_wait(a->go);
	while ((n = read(a->fd, buf, CHUNK)) > 0)
		a->bytes += n;
	if (n < 0)
		a->err = errno;
	munmap(buf, CHUNK);
	return NULL;
}

static double par_round(struct dev *devs, int n)
{
	struct par_arg args[PAR_MAX] = { 0 };
	pthread_t th[PAR_MAX];
	pthread_barrier_t go;
	uint64_t t0, total = 0;
	int i;

	for (i = 0; i < n; i++)
		mig_must(&devs[i], ST_STOP_COPY, &args[i].fd);
	pthread_barrier_init(&go, NULL, n + 1);
	for (i = 0; i < n; i++) {
		args[i].go = &go;
		if (pthread_create(&th[i], NULL, par_reader, &args[i]))
			die("pthread_create");
	}
	pthread_barrier_wait(&go);
	t0 = now_ns();
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	t0 = now_ns() - t0;
	pthread_barrier_destroy(&go);
	for (i = 0; i < n; i++) {
		if (args[i].err)
			die("parallel stop-copy read: %s",
			    strerror(args[i].err));
		close(args[i].fd);
		mig_must(&devs[i], ST_STOP, NULL);
		mig_must(&devs[i], ST_RUNNING, NULL);
		total += args[i].bytes;
	}
	return mbps(total, t0);
}

static void bench_parallel(void)
{
	static const int ns[] = { 1, 2, PAR_MAX };
	struct dev devs[PAR_MAX];
	char name[64];
	unsigned int k;
	int i, rep;

	for (i = 0; i < PAR_MAX; i++) {
		dev_create(&devs[i], VS_TYPE_128, true);
		vram_write(&devs[i], PAR_MIB * MIB, 100 + i);
	}
	par_round(devs, PAR_MAX);	/* warm-up */
	for (k = 0; k < ARRAY_SIZE(ns); k++) {
		struct acc a = { 0 };

		for (rep = 0; rep < REPS; rep++)
			acc_add(&a, par_round(devs, ns[k]));
		snprintf(name, sizeof(name), "stopcopy_parallel_MBps_%d",
			 ns[k]);
		emit(name, acc_med(&a), "MB/s");
	}
	emit("stopcopy_parallel_scaling_2",
	     fig("stopcopy_parallel_MBps_2") / fig("stopcopy_parallel_MBps_1"),
	     "x");
	for (i = 0; i < PAR_MAX; i++)
		dev_remove(&devs[i]);
}

/* Engine copy: pinned pages vs vfio_dma_rw, and the pin cost per page. */
static void bench_engine(void)
{
	uint64_t bytes = 64 * MIB, t0, ns;
	uint8_t *buf = big_alloc(bytes);
	double pin_ns, unpin_ns;
	int pins, unpins;
	struct vslice_cmd c;
	char saved[8] = "Y";
	struct dev d;
	bool traced;

	dev_create(&d, VS_TYPE_128, true);
	vram_write(&d, bytes, 5);
	ring_init(&d);
	dma_map_buf(&d, DMA_IOVA, buf, bytes);
	c = mkcmd(VSLICE_CMD_COPY_FROM_VRAM, 0, 0, DMA_IOVA, bytes);
	vs_sysfs_read(COPY_PIN_PARAM, saved, sizeof(saved));

	/* Untimed: fault the buffer in, so neither mode pays for that. */
	ring_run(&d, &c);
	ring_wait(&d);

	write_param(COPY_PIN_PARAM, "0");
	t0 = now_ns();
	ring_run(&d, &c);
	ring_wait(&d);
	ns = now_ns() - t0;
	emit("engine_copy_rw_64M_MBps", mbps(bytes, ns), "MB/s");
	write_param(COPY_PIN_PARAM, "1");

	t0 = now_ns();
	ring_run(&d, &c);
	ring_wait(&d);
	ns = now_ns() - t0;
	emit("engine_copy_pin_64M_MBps", mbps(bytes, ns), "MB/s");

	c = mkcmd(VSLICE_CMD_COPY_TO_VRAM, 0, 0, DMA_IOVA, bytes);
	t0 = now_ns();
	ring_run(&d, &c);
	ring_wait(&d);
	ns = now_ns() - t0;
	emit("engine_copy_to_vram_64M_MBps", mbps(bytes, ns), "MB/s");

	/* pin + unpin per page, from the function_graph tracer */
	traced = trace_start();
	c = mkcmd(VSLICE_CMD_COPY_FROM_VRAM, 0, 0, DMA_IOVA, bytes);
	ring_run(&d, &c);
	ring_wait(&d);
	if (traced) {
		trace_stop(&pin_ns, &pins, &unpin_ns, &unpins);
		if (pins && unpins) {
			double pages = bytes / PG;

			emit("pin_ns_per_page", (pin_ns + unpin_ns) / pages,
			     "ns");
			emit("pin_only_ns_per_page", pin_ns / pages, "ns");
			emit("pin_calls", pins, "calls");
		} else {
			note("function_graph trace had no vfio_pin_pages calls");
		}
	} else {
		note("no function_graph tracer: pin_ns_per_page skipped");
	}
	write_param(COPY_PIN_PARAM, saved[0] == 'N' ? "0" : "1");

	dma_unmap_buf(&d, DMA_IOVA, bytes);
	ring_fini(&d);
	dev_remove(&d);
	munmap(buf, bytes);
}

/* GET_BITMAP over a 1 GiB mapping (never touched: nothing is pinned). */
static void bench_dirty_bitmap(void)
{
	const uint64_t size = 1024 * MIB;
	uint64_t *bitmap = calloc(size / PG / 64, 8);
	uint64_t samples[16];
	struct dev d;
	void *buf;
	int i, ret;

	buf = mmap(NULL, size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (buf == MAP_FAILED || !bitmap)
		die("1 GiB reservation");
	dev_create(&d, VS_TYPE_128, true);
	dma_map_buf(&d, DMA_IOVA, buf, size);
	ret = vs_dirty_start(&d.in);
	if (ret) {
		note("DIRTY_PAGES start: %s: dirty_bitmap_1GiB_us skipped",
		     strerror(-ret));
		goto out;
	}
	for (i = 0; i < 16; i++) {
		uint64_t t0 = now_ns();

		ret = vs_dirty_bitmap(&d.in, DMA_IOVA, size, bitmap);
		samples[i] = now_ns() - t0;
		if (ret)
			die("GET_BITMAP: %s", strerror(-ret));
	}
	emit("dirty_bitmap_1GiB_us", median_us(samples, 16), "us");
	vs_dirty_stop(&d.in);
out:
	dma_unmap_buf(&d, DMA_IOVA, size);
	dev_remove(&d);
	munmap(buf, size);
	free(bitmap);
}

/*
 * Under scripts/bench --perf the program runs inside `perf record -D -1
 * --control fifo:CTL,ACK`: recording starts disabled and is enabled here
 * for the timed loop only, so that the profile shows just the path, not
 * the setup.  VSLICE_BENCH_PERF_CTL / _ACK name the two fifos.
 */
static int perf_ctl = -1, perf_ack = -1;

static void perf_cmd(const char *cmd)
{
	char ack[8];

	if (perf_ctl < 0)
		return;
	if (write(perf_ctl, cmd, strlen(cmd)) != (ssize_t)strlen(cmd) ||
	    read(perf_ack, ack, sizeof(ack)) <= 0)
		die("perf control fifo: %s", strerror(errno));
}

/* Returns when the loop should end. */
static uint64_t perf_attach(int secs)
{
	const char *ctl = getenv("VSLICE_BENCH_PERF_CTL");
	const char *ack = getenv("VSLICE_BENCH_PERF_ACK");

	if (ctl && ack && *ctl && *ack) {
		perf_ctl = open(ctl, O_WRONLY);
		perf_ack = open(ack, O_RDONLY);
		if (perf_ctl < 0 || perf_ack < 0)
			die("perf fifos: %s", strerror(errno));
		perf_cmd("enable\n");
	}
	return now_ns() + (uint64_t)secs * 1000000000ULL;
}

static void perf_detach(void)
{
	perf_cmd("disable\n");
	if (perf_ctl >= 0) {
		close(perf_ctl);
		close(perf_ack);
	}
	perf_ctl = -1;
	perf_ack = -1;
}

/*
 * --profile: repeat one path for @secs seconds on @mib MiB, for a
 * profiler attached from outside (scripts/bench --perf).
 */
static void run_profile(const char *path, int mib, int secs)
{
	uint64_t bytes = (uint64_t)mib * MIB, cap = bytes + bytes / 64 + 65536;
	uint64_t end, len = bytes, total = 0, busy = 0, ns;
	uint8_t *store = big_alloc(cap);
	struct dev src = { 0 }, dst = { 0 };
	bool dev = strcmp(path, "memcpy") && strcmp(path, "tmpfs_read");
	char name[80];

	fill_pattern(store, bytes, 0, 42);
	if (dev) {
		dev_create(&src, type_for(bytes), true);
		vram_write(&src, bytes, 7);
		len = save_v2(&src, store, cap, &ns);
		dev_create(&dst, type_for(bytes), true);
		if (!strcmp(path, "engine_copy")) {
			ring_init(&src);
			dma_map_buf(&src, DMA_IOVA, store, bytes);
			len = bytes;
		}
	}
	end = perf_attach(secs);
	while (now_ns() < end) {
		if (!strcmp(path, "memcpy")) {
			ns = memcpy_ns(store, bytes);
		} else if (!strcmp(path, "tmpfs_read")) {
			ns = tmpfs_read_ns(store, bytes);
		} else if (!strcmp(path, "stopcopy_v2_fd")) {
			save_v2(&src, NULL, 0, &ns);
		} else if (!strcmp(path, "stopcopy_v1_mmap")) {
			save_v1(&src, false, NULL, 0, &ns);
		} else if (!strcmp(path, "resume_v2_fd")) {
			ns = resume_v2(&dst, store, len, CHUNK);
		} else if (!strcmp(path, "resume_v1_mmap")) {
			ns = resume_v1(&dst, false, store, len);
		} else if (!strcmp(path, "engine_copy")) {
			struct vslice_cmd c = mkcmd(VSLICE_CMD_COPY_FROM_VRAM,
						    0, 0, DMA_IOVA, bytes);
			uint64_t t0 = now_ns();

			ring_run(&src, &c);
			ring_wait(&src);
			ns = now_ns() - t0;
		} else {
			die("unknown profile path %s", path);
		}
		total += len;
		busy += ns;
	}
	snprintf(name, sizeof(name), "profile_%s_MBps", path);
	emit(name, mbps(total, busy), "MB/s");
	perf_detach();
	if (dev) {
		if (!strcmp(path, "engine_copy")) {
			dma_unmap_buf(&src, DMA_IOVA, bytes);
			ring_fini(&src);
		}
		dev_remove(&dst);
		dev_remove(&src);
	}
	munmap(store, cap);
}

static void targets(void)
{
	double vram = fig("stopcopy_idle_vram_bytes");

	printf("\n");
	check_target("stopcopy_v2_fd_ratio", false, 0.70, " of memcpy");
	check_target("stopcopy_v1_mmap_ratio", false, 0.70, " of memcpy");
	check_target("stopcopy_v1_pread8_ratio", false, 0.30, " of memcpy");
	check_target("stopcopy_v2_fd_vs_tmpfs", false, 0.80, " of tmpfs_read");
	check_target("stopcopy_v1_mmap_vs_tmpfs", false, 0.80,
		     " of tmpfs_read");
	check_target("stream_untouched_bytes", true, 65536, " B");
	check_target("stopcopy_idle_converged_bytes", true,
		     0.01 * vram + FIXED_STATE, " B");
	check_target("arc_cycle_us_64", true, 1.5 * fig("arc_cycle_us_1"),
		     " us (1.5x 1 instance)");
	check_target("create_us_64", true, 1.5 * fig("create_us_1"),
		     " us (1.5x 1 instance)");
	check_target("remove_us_64", true, 1.5 * fig("remove_us_1"),
		     " us (1.5x 1 instance)");
}

static void table(void)
{
	int i;

	printf("\n%-40s %16s %-6s %-34s %s\n", "metric", "value", "unit",
	       "target", "");
	for (i = 0; i < nfigs; i++) {
		struct fig *f = &figs[i];
		char v[32];

		if (f->val == floor(f->val) && fabs(f->val) < 1e15)
			snprintf(v, sizeof(v), "%.0f", f->val);
		else
			snprintf(v, sizeof(v), "%.3f", f->val);
		printf("%-40s %16s %-6s %-34s %s\n", f->name, v, f->unit,
		       f->target, f->verdict < 0 ? "" :
		       f->verdict ? "PASS" : "MISS");
	}
}

static void print_usage(void)
{
	printf("usage: vslice_bench [--max-mib N] [--pread8-mib N] [--quick] [--only LIST]\n"
	       "  --max-mib N     largest transfer size (default 512; 128/256/512 or a power of 2)\n"
	       "  --pread8-mib N  largest size for the v1 8-byte slow path (default 4)\n"
	       "  --quick         small sizes and fewer samples (a smoke run)\n"
	       "  --only LIST     comma list of: sweep,pread8,untouched,precopy,parallel,\n"
	       "                  scale,engine,bitmap\n"
	       "  --profile PATH  only repeat PATH (memcpy tmpfs_read stopcopy_v2_fd stopcopy_v1_mmap\n"
	       "                  resume_v2_fd resume_v1_mmap engine_copy) for --secs S on --max-mib\n");
}

static bool want(const char *only, const char *what)
{
	char buf[256], *tok, *save = NULL;

	if (!only)
		return true;
	snprintf(buf, sizeof(buf), "%s", only);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save))
		if (!strcmp(tok, what))
			return true;
	return false;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "max-mib", required_argument, NULL, 'm' },
		{ "pread8-mib", required_argument, NULL, 'p' },
		{ "quick", no_argument, NULL, 'q' },
		{ "only", required_argument, NULL, 'o' },
		{ "profile", required_argument, NULL, 'P' },
		{ "secs", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	static const uint64_t sizes[] = { 1, 4, 16, 64, 256, 512 };
	const char *only = NULL, *prof = NULL;
	int secs = 10;
	uint64_t t0 = now_ns(), biggest = 0;
	unsigned int i;
	int c;

	while ((c = getopt_long(argc, argv, "m:p:qo:P:s:h", lo, NULL)) != -1) {
		switch (c) {
		case 'm':
			opt_max_mib = atoi(optarg);
			break;
		case 'p':
			opt_pread8_mib = atoi(optarg);
			break;
		case 'q':
			opt_quick = true;
			break;
		case 'o':
			only = optarg;
			break;
		case 'P':
			prof = optarg;
			break;
		case 's':
			secs = atoi(optarg);
			break;
		default:
			print_usage();
			return c == 'h' ? 0 : 2;
		}
	}
	if (opt_quick && opt_max_mib > 64)
		opt_max_mib = 64;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (access(VS_PARENT_DIR, F_OK))
		die("vslice is not loaded (%s missing)", VS_PARENT_DIR);
	vs_remove_all();
	if (prof) {
		run_profile(prof, opt_max_mib, secs);
		vs_remove_all();
		return 0;
	}

	for (i = 0; i < ARRAY_SIZE(sizes); i++)
		if (sizes[i] <= (uint64_t)opt_max_mib)
			biggest = sizes[i];
	note("largest transfer %llu MiB, v1 8-byte path up to %d MiB",
	     (unsigned long long)biggest, opt_pread8_mib);

	if (want(only, "sweep")) {
		/* headline first: it sets memcpy_MBps for the ratios */
		bench_size(biggest * MIB, true);
		for (i = 0; i < ARRAY_SIZE(sizes); i++)
			if (sizes[i] < biggest)
				bench_size(sizes[i] * MIB, false);
	}
	if (want(only, "pread8"))
		bench_pread8();
	if (want(only, "untouched"))
		bench_untouched();
	if (want(only, "precopy"))
		bench_precopy();
	if (want(only, "engine"))
		bench_engine();
	if (want(only, "bitmap"))
		bench_dirty_bitmap();
	if (want(only, "parallel"))
		bench_parallel();
	if (want(only, "scale"))
		bench_scale();

	emit("bench_runtime_s", (now_ns() - t0) / 1e9, "s");
	targets();
	table();
	vs_remove_all();
	return 0;
}
