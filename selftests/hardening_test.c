// SPDX-License-Identifier: GPL-2.0
/*
 * vslice hardening: fault sweeps over a real migration stream, hostile
 * device states, and races between the entry points of the device.
 *
 * Fault sweeps (fixture "sweep", variants v2 and v1).  A 128 MiB source
 * with ~260 KiB of VRAM written and a busy ring (a full ring quiesced as
 * soon as it is under way: most commands pending, often one checkpointed
 * mid-command) is saved: a real stream of ~267 KiB.  Damaged copies of it
 * are fed to a destination through the v2 resume fd (variant v2) or the
 * v1 region - data section writes and data_size writes, leaving RESUMING
 * by a device_state write (variant v1):
 *   - one bit flipped at 300 offsets spread evenly over the stream, in
 *     every byte of the stream header and of END, in every field of every
 *     section header and in every 8th byte of the device state;
 *   - truncated at every section boundary and at 40 random offsets;
 *   - garbage appended, in the last write and in a write of its own;
 *   - a section duplicated (each one raw; the HW section also renumbered
 *     with END fixed up, which leaves only the "second HW" rule to catch
 *     it; a renumbered VRAM run is a consistent stream and must load).
 * Every damaged stream must be refused - by a write, with the errno the
 * decoder documents for that spot (mdev/stream.h), or by leaving RESUMING
 * (-ENODATA when truncated) - and never load silently.  After each case
 * the destination is still RESUMING (never the v1 error state), recovers
 * with VFIO_DEVICE_RESET, answers its registers, and loads the good stream
 * byte-exact: a fresh save of the destination reproduces the good stream
 * bit for bit (VRAM pages, written set and device state).
 *
 * Hostile device states (sweep.*.hostile_device_state): the HW section
 * rewritten with boundary values and sealed again, so that only the
 * driver's own checks stand between it and the device; loaded ones run.
 *
 * Races (fixture "race"): removal while the device is open and busy (the
 * request path; the data fd outlives the instance), closing the device
 * under a save and a resume in flight, VFIO_DEVICE_RESET from another
 * thread during save and resume, VFIO_IOMMU_UNMAP_DMA under engine DMA
 * and under a migration, every instance the budget allows (8 x 128 MiB)
 * migrating at once through pipes, 100 racing creates and removes.
 *
 * After every test: no hang (harness timeouts), pinned_pages 0 (debugfs)
 * while instances exist, no instance and no debugfs directory left, the
 * budget back, memory back near its baseline (see MEM_TOL_* below) and no
 * new bad line in the kernel log.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/pci_regs.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "vslice_lib.h"

#define PG		4096ULL
#define DEBUGFS_DIR	"/sys/kernel/debug/vslice"

/* v1 header fields */
#define F_STATE		offsetof(struct vslice_v1_mig_info, device_state)
#define F_DATA_OFFSET	offsetof(struct vslice_v1_mig_info, data_offset)
#define F_DATA_SIZE	offsetof(struct vslice_v1_mig_info, data_size)

#define HDR_LEN		sizeof(struct vslice_stream_hdr)	/* 40 */
#define SEC_LEN		sizeof(struct vslice_stream_sec)	/* 16 */
#define END_LEN		(SEC_LEN + sizeof(struct vslice_stream_end))

static __u64 xrnd(__u64 *s)
{
	__u64 x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

/* One access to device memory (a BAR2 mapping). */
static __u32 peek32(const void *p)
{
	return __atomic_load_n((const __u32 *)p, __ATOMIC_RELAXED);
}

static void poke32(void *p, __u32 v)
{
	__atomic_store_n((__u32 *)p, v, __ATOMIC_RELAXED);
}

static const char *ename(int e)
{
	switch (e < 0 ? -e : e) {
	case 0:			return "0";
	case EINVAL:		return "EINVAL";
	case EBADMSG:		return "EBADMSG";
	case ENODATA:		return "ENODATA";
	case EOPNOTSUPP:	return "EOPNOTSUPP";
	case EPROTONOSUPPORT:	return "EPROTONOSUPPORT";
	case ENODEV:		return "ENODEV";
	case EIO:		return "EIO";
	default:		return "other";
	}
}

/* ------------------------------------------------------------------ */
/* byte buffers and streams                                            */
/* ------------------------------------------------------------------ */

/* Where the sections of a stream start; off[nsec] is the stream's end. */
#define MAX_SECS	256

struct layout {
	unsigned int nsec;
	size_t off[MAX_SECS + 1];
	__u32 type[MAX_SECS];
};

/* 0 if @s is header + sections + END, exactly. */
static int layout_parse(const __u8 *s, size_t len, struct layout *l)
{
	size_t off = HDR_LEN;

	l->nsec = 0;
	while (off + SEC_LEN <= len && l->nsec < MAX_SECS) {
		struct vslice_stream_sec sec;

		memcpy(&sec, s + off, sizeof(sec));
		l->off[l->nsec] = off;
		l->type[l->nsec] = le32toh(sec.type);
		l->nsec++;
		off += SEC_LEN + le32toh(sec.len);
		if (le32toh(sec.type) == VSLICE_SEC_END)
			break;
	}
	l->off[l->nsec] = off;
	if (!l->nsec || l->type[l->nsec - 1] != VSLICE_SEC_END || off != len)
		return -EINVAL;
	return 0;
}

/* The payload of the first section of @type in @s, or NULL. */
static const void *stream_find(const struct vs_buf *s, __u32 type)
{
	struct layout l;
	unsigned int i;

	if (layout_parse(s->p, s->len, &l))
		return NULL;
	for (i = 0; i < l.nsec; i++)
		if (l.type[i] == type)
			return s->p + l.off[i] + SEC_LEN;
	return NULL;
}

/*
 * Make @s consistent again after sections were added or moved: every
 * section before END renumbered in order, END's nr_sections, total_bytes,
 * stream_crc, seq and crc recomputed.  Payload CRCs are left alone.
 */
static int stream_fixup(__u8 *s, size_t len)
{
	struct vslice_stream_end end;
	struct vslice_stream_sec sec;
	struct layout l;
	__u32 crc = ~0u;
	unsigned int i;

	if (layout_parse(s, len, &l))
		return -EINVAL;
	crc = vs_crc32c_update(crc, s, HDR_LEN);
	for (i = 0; i + 1 < l.nsec; i++) {
		memcpy(&sec, s + l.off[i], sizeof(sec));
		sec.seq = htole32(i);
		memcpy(s + l.off[i], &sec, sizeof(sec));
		crc = vs_crc32c_update(crc, &sec, sizeof(sec));
	}
	memset(&end, 0, sizeof(end));
	end.nr_sections = htole32(l.nsec - 1);
	end.total_bytes = htole64(l.off[l.nsec - 1]);
	end.stream_crc = htole32(crc ^ ~0u);
	sec.type = htole32(VSLICE_SEC_END);
	sec.len = htole32(sizeof(end));
	sec.crc = htole32(vs_crc32c(&end, sizeof(end)));
	sec.seq = htole32(l.nsec - 1);
	memcpy(s + l.off[l.nsec - 1], &sec, sizeof(sec));
	memcpy(s + l.off[l.nsec - 1] + SEC_LEN, &end, sizeof(end));
	return 0;
}

/* ------------------------------------------------------------------ */
/* an instance with both migration protocols                           */
/* ------------------------------------------------------------------ */

struct dev {
	struct vs_inst in;
	__u64 v1_off;		/* file offset of the v1 region */
	__u64 v1_data;		/* its data section (region offset) */
	__u64 v1_data_size;
	bool have_v1;
	bool precopy;
};

static int v1_find(struct dev *d)
{
	struct vfio_device_info di = { .argsz = sizeof(di) };
	struct vfio_region_info_cap_sparse_mmap *sp;
	struct vfio_region_info_cap_type *ty;
	union {
		struct vfio_region_info info;
		__u8 raw[512];
	} u;
	unsigned int i;

	if (ioctl(d->in.device, VFIO_DEVICE_GET_INFO, &di))
		return -errno;
	for (i = VFIO_PCI_NUM_REGIONS; i < di.num_regions; i++) {
		if (vs_region_info(d->in.device, i, &u.info, sizeof(u)))
			continue;
		ty = vs_region_cap(&u.info, VFIO_REGION_INFO_CAP_TYPE);
		if (!ty || ty->type != VSLICE_V1_REGION_TYPE ||
		    ty->subtype != VSLICE_V1_REGION_SUBTYPE)
			continue;
		sp = vs_region_cap(&u.info, VFIO_REGION_INFO_CAP_SPARSE_MMAP);
		if (!sp || sp->nr_areas != 1)
			return -EINVAL;
		d->v1_off = u.info.offset;
		d->v1_data = sp->areas[0].offset;
		d->v1_data_size = sp->areas[0].size;
		d->have_v1 = true;
		return 0;
	}
	return -ENOENT;
}

static int dev_create(struct dev *d, const char *type)
{
	__u64 flags = 0;
	int ret;

	memset(d, 0, sizeof(*d));
	ret = vs_create(&d->in, type);
	if (ret)
		return ret;
	ret = vs_open(&d->in);
	if (ret)
		return ret;
	ret = vs_mig_flags(d->in.device, &flags);
	if (ret)
		return ret;
	/* the kernel decides; a device that disagrees fails the setup */
	d->precopy = vs_kernel_has_precopy();
	if (d->precopy != !!(flags & VFIO_MIGRATION_PRE_COPY))
		return -EPROTO;
	v1_find(d);
	return 0;
}

static void dev_destroy(struct dev *d)
{
	if (d->in.uuid[0])
		vs_remove(&d->in);
	memset(d, 0, sizeof(*d));
	d->in.device = -1;
}

static int v1_rw(struct dev *d, __u64 pos, void *v, size_t n, bool write)
{
	ssize_t r;

	if (write)
		r = pwrite(d->in.device, v, n, d->v1_off + pos);
	else
		r = pread(d->in.device, v, n, d->v1_off + pos);
	if (r < 0)
		return -errno;
	return r == (ssize_t)n ? 0 : -EIO;
}

static int v1_set_state(struct dev *d, __u32 st)
{
	return v1_rw(d, F_STATE, &st, sizeof(st), true);
}

static __u32 v1_state(struct dev *d)
{
	__u32 st = ~0u;

	v1_rw(d, F_STATE, &st, sizeof(st), false);
	return st;
}

/*
 * A destination being loaded: begin (enter RESUMING), feed (writes of
 * random sizes up to @max_piece: v2 write()s, or v1 records of data
 * section writes + a data_size write), end (RESUMING -> STOP).
 */
struct loader {
	struct dev *d;
	bool v1;
	int fd;
	__u64 rng;
	size_t max_piece;
};

static int ld_begin(struct loader *l)
{
	int ret;

	l->fd = -1;
	if (l->v1)
		return v1_set_state(l->d, VSLICE_V1_STATE_RESUMING);
	ret = vs_mig_set_state(l->d->in.device, ST_STOP, NULL);
	if (ret)
		return ret;
	ret = vs_mig_set_state(l->d->in.device, ST_RESUMING, &l->fd);
	if (!ret && l->fd < 0)
		ret = -EBADF;
	return ret;
}

static int ld_feed(struct loader *l, const __u8 *p, size_t len)
{
	size_t off = 0;

	while (off < len) {
		size_t n = 1 + xrnd(&l->rng) % l->max_piece;
		__u64 data_offset = 0, size;
		ssize_t w;
		int ret;

		if (n > len - off)
			n = len - off;
		if (!l->v1) {
			w = write(l->fd, p + off, n);
			if (w < 0)
				return -errno;
			if ((size_t)w != n)
				return -EIO;
			off += n;
			continue;
		}
		if (n > l->d->v1_data_size)
			n = l->d->v1_data_size;
		ret = v1_rw(l->d, F_DATA_OFFSET, &data_offset,
			    sizeof(data_offset), false);
		if (ret)
			return ret;
		ret = v1_rw(l->d, data_offset, (void *)(p + off), n, true);
		if (ret)
			return ret;
		size = n;
		ret = v1_rw(l->d, F_DATA_SIZE, &size, sizeof(size), true);
		if (ret)
			return ret;
		off += n;
	}
	return 0;
}

static int ld_end(struct loader *l)
{
	if (l->v1)
		return v1_set_state(l->d, VSLICE_V1_STATE_STOP);
	return vs_mig_set_state(l->d->in.device, ST_STOP, NULL);
}

static bool ld_resuming(struct loader *l)
{
	if (l->v1)
		return v1_state(l->d) == VSLICE_V1_STATE_RESUMING;
	return vs_mig_get_state(l->d->in.device) == ST_RESUMING;
}

/* Load a whole stream into @d and stop there: 0 or the first -errno. */
static int load_all(struct dev *d, bool v1, const __u8 *p, size_t len,
		    __u64 seed, size_t max_piece)
{
	struct loader l = { .d = d, .v1 = v1, .rng = seed | 1,
			    .max_piece = max_piece };
	int ret;

	ret = ld_begin(&l);
	if (!ret)
		ret = ld_feed(&l, p, len);
	if (!ret)
		ret = ld_end(&l);
	if (l.fd >= 0)
		close(l.fd);
	return ret;
}

/* A fresh stop-copy save of @d (which is STOP), back to STOP. */
static int save_fresh(struct dev *d, struct vs_buf *out)
{
	int fd, ret;

	out->len = 0;
	ret = vs_mig_set_state(d->in.device, ST_STOP_COPY, &fd);
	if (ret)
		return ret;
	ret = vs_buf_read_fd(fd, out, NULL);
	close(fd);
	if (ret)
		return ret;
	return vs_mig_set_state(d->in.device, ST_STOP, NULL);
}

/* ------------------------------------------------------------------ */
/* the command engine                                                  */
/* ------------------------------------------------------------------ */

#define RING_ENTRIES	1024u
#define SRC_OFF		(64 * 1024)	/* source data in the DMA buffer */

struct eng {
	__u8 *mem;
	__u64 iova;
	size_t size;
};

static int eng_setup(struct vs_inst *in, struct eng *e, __u64 iova,
		     size_t size, __u32 seed)
{
	__u64 r = seed | 1;
	size_t i;

	e->iova = iova;
	e->size = size;
	e->mem = vs_dma_map(in, iova, size);
	if (!e->mem)
		return -ENOMEM;
	for (i = SRC_OFF; i + 8 <= size; i += 8)
		*(__u64 *)(e->mem + i) = xrnd(&r);
	vs_wr32(in, VSLICE_REG_IRQ_MASK, VSLICE_IRQ_ALL);
	vs_ring_setup(in, iova, RING_ENTRIES);
	return vs_rd32(in, VSLICE_REG_CONTROL) == VSLICE_CTRL_ENABLE ? 0 :
									-EIO;
}

static int eng_submit(struct vs_inst *in, struct eng *e,
		      const struct vslice_cmd *cmds, __u32 n)
{
	__u32 tail = vs_rd32(in, VSLICE_REG_RING_TAIL);
	__u32 head = vs_rd32(in, VSLICE_REG_RING_HEAD);
	__u32 used = (tail - head) & (RING_ENTRIES - 1), i;

	if (tail >= RING_ENTRIES || head >= RING_ENTRIES ||
	    n > RING_ENTRIES - 1 - used)
		return -ENOSPC;
	for (i = 0; i < n; i++)
		memcpy(e->mem + ((tail + i) % RING_ENTRIES) * VSLICE_CMD_SIZE,
		       &cmds[i], sizeof(cmds[i]));
	__sync_synchronize();
	vs_wr32(in, VSLICE_REG_RING_TAIL, (tail + n) % RING_ENTRIES);
	vs_wr32(in, VSLICE_REG_DOORBELL, 1);
	return 0;
}

/*
 * @n commands on VRAM [base, base + span): fills of 4..32 KiB, copies of
 * up to 16 KiB from the source area, and every 4th a 128 KiB copy (two
 * engine steps, so a quiesce can checkpoint it mid-command).
 */
static void eng_batch(struct eng *e, struct vslice_cmd *c, __u32 n,
		      __u64 base, __u64 span, __u64 *rng)
{
	__u64 src = e->iova + SRC_OFF, srclen = e->size - SRC_OFF;
	__u32 i;

	for (i = 0; i < n; i++) {
		__u64 r = xrnd(rng), len;

		memset(&c[i], 0, sizeof(c[i]));
		if (i % 4 == 3 && span > 128 * 1024 && srclen > 128 * 1024) {
			len = 128 * 1024;
			c[i].opcode = htole32(VSLICE_CMD_COPY_TO_VRAM);
			c[i].vram_off = htole64(base + (r % (span - len)) / 4 * 4);
			c[i].iova = htole64(src + (r >> 24) % (srclen - len));
		} else if (i % 3) {
			len = (1 + r % 8) * 4096;
			c[i].opcode = htole32(VSLICE_CMD_FILL);
			c[i].pattern = htole32((__u32)(r >> 32));
			c[i].vram_off = htole64(base + ((r >> 8) % (span - len)) /
						4 * 4);
		} else {
			len = 1 + r % (16 * 1024);
			c[i].opcode = htole32(VSLICE_CMD_COPY_TO_VRAM);
			c[i].vram_off = htole64(base + (r >> 8) % (span - len));
			c[i].iova = htole64(src + (r >> 24) % (srclen - len));
		}
		c[i].len = htole64(len);
	}
}

static int eng_busy(struct vs_inst *in, struct eng *e, __u32 n, __u64 base,
		    __u64 span, __u64 seed)
{
	struct vslice_cmd *c = calloc(n, sizeof(*c));
	__u64 rng = seed | 1;
	int ret;

	if (!c)
		return -ENOMEM;
	eng_batch(e, c, n, base, span, &rng);
	ret = eng_submit(in, e, c, n);
	free(c);
	return ret;
}

/* Clear a halt (ENABLE off and on) so that the ring runs again. */
static void eng_rearm(struct vs_inst *in)
{
	vs_wr32(in, VSLICE_REG_CONTROL, 0);
	vs_wr32(in, VSLICE_REG_CONTROL, VSLICE_CTRL_ENABLE);
	vs_wr32(in, VSLICE_REG_DOORBELL, 1);
}

static int wait_quiet(struct vs_inst *in, int ms)
{
	int i;

	for (i = 0; i < ms; i++) {
		__u32 st = vs_rd32(in, VSLICE_REG_STATUS);

		if ((st & VSLICE_STATUS_HALTED) ||
		    (!(st & VSLICE_STATUS_BUSY) &&
		     vs_rd32(in, VSLICE_REG_RING_HEAD) ==
		     vs_rd32(in, VSLICE_REG_RING_TAIL)))
			return 0;
		sleep_us(1000);
	}
	return -ETIMEDOUT;
}

/*
 * Run the ring dry: each halt (ERR_DMA: the buffer was unmapped under a
 * command) is cleared and the command retried.  Returns the halts seen,
 * or -1 on a timeout or another error.
 */
static long drain_ring(struct vs_inst *in)
{
	long halts = 0;
	int i;

	for (i = 0; i < 500; i++) {
		if (wait_quiet(in, 60000))
			return -1;
		if (!(vs_rd32(in, VSLICE_REG_STATUS) & VSLICE_STATUS_HALTED))
			return halts;
		if (vs_rd32(in, VSLICE_REG_ERROR) != VSLICE_ERR_DMA)
			return -1;
		halts++;
		eng_rearm(in);
	}
	return -1;
}

/* Write @len bytes of a pattern into VRAM through the BAR2 region. */
static int vram_pattern(struct vs_inst *in, __u64 off, size_t len,
			__u64 seed)
{
	__u8 *b = malloc(len);
	__u64 r = seed | 1;
	size_t i;
	ssize_t n;

	if (!b)
		return -ENOMEM;
	for (i = 0; i + 8 <= len; i += 8) {
		__u64 x = xrnd(&r);

		memcpy(b + i, &x, 8);
	}
	for (; i < len; i++)
		b[i] = xrnd(&r);
	n = vs_region_rw(in, VFIO_PCI_BAR2_REGION_INDEX, off, b, len, true);
	free(b);
	return n == (ssize_t)len ? 0 : -EIO;
}

/* ------------------------------------------------------------------ */
/* health: leaks, pins, kernel log                                     */
/* ------------------------------------------------------------------ */

/*
 * Tolerances for memory after a test, against the baseline taken before
 * it, both after dropping the page cache and reclaimable slab:
 *  - free memory may drop by 4 MiB.  "Free" is MemFree plus the pages on
 *    the per-CPU free lists (/proc/zoneinfo; freed pages park there, up
 *    to ~10 MiB measured, and MemFree does not count them) plus the test
 *    program's own RssAnon (its heap and thread stacks are not the
 *    driver's).  Measured over these tests: -1.3 MiB at worst.  What a
 *    leak would cost is far more: an instance's page array and engine
 *    buffer (~330 KiB) plus its VRAM (the sweeps ~270 KiB, the races
 *    1-3 MiB per instance), a channel's unit buffer (a 512 KiB kmalloc)
 *    and bounce buffer; the tests create hundreds of channels and 100
 *    instances, so a leak per object is far beyond 4 MiB.
 *  - unreclaimable slab may grow by 1 MiB (measured: +216 KiB at worst;
 *    slabs keep partly used pages, kernfs nodes of 100 mdevs come and go).
 *  - VmallocUsed may grow by 512 KiB (measured: +64 KiB at worst): every
 *    v1 region state is a 1 MiB vmalloc, so a single leaked one shows.
 */
#define MEM_TOL_FREE_KB		(4 * 1024)
#define MEM_TOL_SUNRECL_KB	1024
#define MEM_TOL_VMALLOC_KB	512

struct mem {
	long memfree, slab, sunreclaim, vmalloc;
	long pcp;	/* kB on the per-CPU free lists (/proc/zoneinfo) */
	long rss;	/* kB of this process's own anonymous memory */
};

struct health {
	struct mem mem;
	int bad_lines;
	long avail;
};

static int mem_read(struct mem *m)
{
	char line[256];
	FILE *f = fopen("/proc/meminfo", "r");
	long v;

	if (!f)
		return -errno;
	memset(m, 0, sizeof(*m));
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "MemFree: %ld", &v) == 1)
			m->memfree = v;
		else if (sscanf(line, "Slab: %ld", &v) == 1)
			m->slab = v;
		else if (sscanf(line, "SUnreclaim: %ld", &v) == 1)
			m->sunreclaim = v;
		else if (sscanf(line, "VmallocUsed: %ld", &v) == 1)
			m->vmalloc = v;
	}
	fclose(f);
	/* pages on the per-CPU lists are free too, but not in MemFree */
	f = fopen("/proc/zoneinfo", "r");
	if (f) {
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, " count: %ld", &v) == 1)
				m->pcp += v * (PG / 1024);
		fclose(f);
	}
	/* and what the test program itself holds is not the kernel's */
	malloc_trim(0);
	f = fopen("/proc/self/status", "r");
	if (f) {
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "RssAnon: %ld", &v) == 1)
				m->rss = v;
		fclose(f);
	}
	return 0;
}

/*
 * Drop the page cache and reclaimable slab, then shrink every slab cache:
 * that frees empty slabs and, on KASAN kernels, the objects KASAN keeps in
 * quarantine after kfree() (megabytes of "SUnreclaim" otherwise).
 */
static void drop_vm_caches(void)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;

	sync();
	vs_sysfs_write("/proc/sys/vm/drop_caches", "3");
	d = opendir("/sys/kernel/slab");
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || de->d_type == DT_LNK)
			continue;
		snprintf(path, sizeof(path), "/sys/kernel/slab/%s/shrink",
			 de->d_name);
		vs_sysfs_write(path, "1");
	}
	closedir(d);
}

static void health_base(struct health *h)
{
	drop_vm_caches();
	sleep_us(200000);
	drop_vm_caches();
	mem_read(&h->mem);
	h->bad_lines = vs_dmesg_bad_lines();
	h->avail = vs_type_attr_long(VS_TYPE_128, "available_instances");
}

/* pinned_pages of an instance from debugfs, or -1 if not readable. */
static long debugfs_pinned(const char *uuid)
{
	char path[PATH_MAX], buf[4096], *p;

	snprintf(path, sizeof(path), DEBUGFS_DIR "/%s/status", uuid);
	if (vs_sysfs_read(path, buf, sizeof(buf)))
		return -1;
	p = strstr(buf, "pinned_pages:");
	return p ? strtol(p + strlen("pinned_pages:"), NULL, 10) : -1;
}

/*
 * Instance directories under /sys/kernel/debug/vslice (everything but the
 * module's own fault/ directory), or -1 if it cannot be read.
 */
static int debugfs_entries(void)
{
	struct dirent *de;
	int n = 0;
	DIR *d = opendir(DEBUGFS_DIR);

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && strcmp(de->d_name, "fault"))
			n++;
	closedir(d);
	return n;
}

/* Sum of pinned_pages over every live instance (debugfs), or -1. */
static long pinned_total(void)
{
	struct dirent *de;
	long sum = 0, v;
	DIR *d = opendir(DEBUGFS_DIR);

	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		v = debugfs_pinned(de->d_name);
		if (v > 0)
			sum += v;
	}
	closedir(d);
	return sum;
}

/*
 * Reads every instance's debugfs status in a loop while a test races:
 * the status file takes state_mutex, the channel lock and dev_lock.
 */
struct dfs_reader {
	bool stop;		/* __atomic */
	unsigned long reads;
};

static void *dfs_reader_thread(void *arg)
{
	struct dfs_reader *r = arg;

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		if (pinned_total() < 0)
			return NULL;	/* no debugfs */
		r->reads++;
		sleep_us(500);
	}
	return NULL;
}

/*
 * Everything is gone and back: no instance, no debugfs directory, the
 * whole budget, memory near @base, no new bad kernel log line.
 */
static void health_check(struct __test_metadata *_metadata,
			 const struct health *base, const char *what)
{
	struct mem m = { 0 };
	long dfree = 0, dsun = 0, dvm = 0, dslab = 0;
	int i, ents;

	vs_remove_all();
	EXPECT_EQ(0, vs_count_instances());
	ents = debugfs_entries();
	if (ents >= 0)
		EXPECT_EQ(0, ents) TH_LOG("%s: debugfs directories left", what);
	EXPECT_EQ(base->avail,
		  vs_type_attr_long(VS_TYPE_128, "available_instances"));

	for (i = 0; i < 15; i++) {
		drop_vm_caches();
		mem_read(&m);
		dfree = (base->mem.memfree + base->mem.pcp + base->mem.rss) -
			(m.memfree + m.pcp + m.rss);
		dslab = m.slab - base->mem.slab;
		dsun = m.sunreclaim - base->mem.sunreclaim;
		dvm = m.vmalloc - base->mem.vmalloc;
		if (dfree <= MEM_TOL_FREE_KB && dsun <= MEM_TOL_SUNRECL_KB &&
		    dvm <= MEM_TOL_VMALLOC_KB)
			break;
		sleep_us(200000);
	}
	ksft_print_msg("%s: free %+ld kB = MemFree %+ld + per-CPU lists %+ld + own RssAnon %+ld\n",
		       what, -dfree, m.memfree - base->mem.memfree,
		       m.pcp - base->mem.pcp, m.rss - base->mem.rss);
	ksft_print_msg("%s: Slab %+ld kB (SUnreclaim %+ld), VmallocUsed %+ld kB\n",
		       what, dslab, dsun, dvm);
	EXPECT_GE(MEM_TOL_FREE_KB, dfree) TH_LOG("%s: MemFree", what);
	EXPECT_GE(MEM_TOL_SUNRECL_KB, dsun) TH_LOG("%s: SUnreclaim", what);
	EXPECT_GE(MEM_TOL_VMALLOC_KB, dvm) TH_LOG("%s: VmallocUsed", what);
	EXPECT_EQ(base->bad_lines, vs_dmesg_bad_lines())
		TH_LOG("%s: new bad lines in the kernel log", what);
}

/* pinned_pages of @in is 0 (debugfs), when debugfs can be read. */
static void expect_unpinned(struct __test_metadata *_metadata,
			    struct vs_inst *in)
{
	long v = debugfs_pinned(in->uuid);

	if (v >= 0)
		EXPECT_EQ(0, v) TH_LOG("pinned_pages of %s", in->uuid);
}

/* ------------------------------------------------------------------ */
/* the source of the sweeps: a real stream with a busy ring            */
/* ------------------------------------------------------------------ */

#define SRC_DMA_IOVA	0x40000000ULL
#define SRC_DMA_SIZE	VS_MIB
#define SRC_RUN_OFF	(1 * VS_MIB)	/* 16 pages written through BAR2 */
#define SRC_BUSY_OFF	(8 * VS_MIB)	/* 160 KiB the ring works on */
#define SRC_BUSY_SPAN	(160 * 1024)

/*
 * @a: 16 contiguous pages, 8 lone pages, the last page, scratch
 * registers, then a full ring (1023 commands) on a 160 KiB span, quiesced
 * (RUNNING -> STOP) as soon as it is under way, so that most commands are
 * still pending.  Saves a stop-copy stream into @s.  @a stays STOP.
 */
static void make_source(struct __test_metadata *_metadata, struct dev *a,
			struct eng *e, struct vs_buf *s)
{
	const struct vslice_stream_hw *hw;
	struct vfio_region_info bar2;
	__u32 head, tail, i;
	int fd;

	ASSERT_EQ(0, vs_region_info(a->in.device, VFIO_PCI_BAR2_REGION_INDEX,
				    &bar2, sizeof(bar2)));
	ASSERT_EQ(0, vram_pattern(&a->in, SRC_RUN_OFF, 16 * PG, 1));
	for (i = 0; i < 8; i++)
		ASSERT_EQ(0, vram_pattern(&a->in, (3 + 7 * i) * VS_MIB +
					  i * PG, PG, 2 + i));
	ASSERT_EQ(0, vram_pattern(&a->in, bar2.size - PG, PG, 99));
	for (i = 0; i < VSLICE_NR_SCRATCH; i++)
		vs_wr32(&a->in, VSLICE_REG_SCRATCH(i), 0x5eed0000 + i);
	ASSERT_EQ(0, eng_setup(&a->in, e, SRC_DMA_IOVA, SRC_DMA_SIZE, 7));
	ASSERT_EQ(0, eng_busy(&a->in, e, RING_ENTRIES - 1, SRC_BUSY_OFF,
			      SRC_BUSY_SPAN, 0xb05e));
	/* let the engine get going, so that it stops mid-ring */
	for (i = 0; i < 100000; i++)
		if (vs_rd32(&a->in, VSLICE_REG_RING_HEAD) >= 24)
			break;
	ASSERT_EQ(0, vs_mig_set_state(a->in.device, ST_STOP, NULL));
	head = vs_rd32(&a->in, VSLICE_REG_RING_HEAD);
	tail = vs_rd32(&a->in, VSLICE_REG_RING_TAIL);
	ASSERT_EQ(0, vs_mig_set_state(a->in.device, ST_STOP_COPY, &fd));
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, vs_buf_read_fd(fd, s, NULL));
	close(fd);
	ASSERT_EQ(0, vs_mig_set_state(a->in.device, ST_STOP, NULL));
	hw = stream_find(s, VSLICE_SEC_HW);
	ASSERT_NE(NULL, hw);
	ksft_print_msg("source stream: %zu bytes; ring stopped at head %u, tail %u (%u pending)\n",
		       s->len, head, tail, (tail - head) % RING_ENTRIES);
	ksft_print_msg("  the command in flight checkpointed at byte %llu\n",
		       (unsigned long long)le64toh(hw->cmd_progress));
}

/* ------------------------------------------------------------------ */
/* fault sweeps                                                        */
/* ------------------------------------------------------------------ */

/*
 * The sweeps below make the driver log ~1,700 refused streams, which can
 * push older lines out of the kernel's log buffer before vm-run reads it:
 * check what programs before this one left, while it is still there.
 */
TEST(kernel_log_clean_before_the_sweeps)
{
	EXPECT_EQ(0, vs_dmesg_bad_lines());
}

/* Errnos mdev/stream.h documents for a refused stream. */
static bool documented(int e)
{
	return e == -EINVAL || e == -EBADMSG || e == -EPROTONOSUPPORT ||
	       e == -EOPNOTSUPP || e == -ENODATA;
}

#define SHOW_MAX	8	/* details printed per kind of failure */

struct sweep {
	struct dev a, b;
	struct eng e;
	bool v1;
	struct vs_buf good;
	struct vs_buf resave;
	struct layout lay;
	__u64 rng;
	/* tallies */
	unsigned long cases, by_write, by_leave;
	unsigned long silent, bad_errno, not_resuming, no_recovery, no_reload;
	unsigned long hist[6];	/* EINVAL EBADMSG ENODATA EOPNOTSUPP EPROTO.. other */
	double t0;
	struct health base;
};

static void tally(struct sweep *sw, int e)
{
	static const int order[] = {
		EINVAL, EBADMSG, ENODATA, EOPNOTSUPP, EPROTONOSUPPORT
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(order) && order[i] != -e; i++)
		;
	sw->hist[i]++;
}

static void sw_setup(struct __test_metadata *_metadata, struct sweep *sw,
		     bool v1)
{
	int ret;

	memset(sw, 0, sizeof(*sw));
	sw->a.in.device = -1;
	sw->b.in.device = -1;
	sw->v1 = v1;
	sw->rng = 0x8a5cd789635d2dffULL;
	if (access(VS_PARENT_DIR, F_OK))
		SKIP(return, "vslice is not loaded (%s missing)", VS_PARENT_DIR);
	vs_remove_all();
	health_base(&sw->base);
	ret = dev_create(&sw->a, VS_TYPE_128);
	ASSERT_EQ(0, ret);
	ASSERT_EQ(0, dev_create(&sw->b, VS_TYPE_128));
	if (v1)
		ASSERT_TRUE(sw->b.have_v1) TH_LOG("no v1 migration region");
	make_source(_metadata, &sw->a, &sw->e, &sw->good);
	ASSERT_LE(100 * 1024, sw->good.len);
	ASSERT_GE(300 * 1024, sw->good.len);
	ASSERT_EQ(0, layout_parse(sw->good.p, sw->good.len, &sw->lay));
	ASSERT_LE(4u, sw->lay.nsec);

	/* the good stream loads, and a fresh save of B reproduces it */
	ASSERT_EQ(0, load_all(&sw->b, v1, sw->good.p, sw->good.len, 1,
			      64 * 1024));
	ASSERT_EQ(0, save_fresh(&sw->b, &sw->resave));
	ASSERT_EQ(sw->good.len, sw->resave.len);
	ASSERT_EQ(0, memcmp(sw->good.p, sw->resave.p, sw->good.len))
		TH_LOG("a fresh save of the destination differs from the stream it loaded");
	ASSERT_EQ(0, vs_dev_reset(sw->b.in.device));
	sw->t0 = now_s();
}

static void sw_teardown(struct sweep *sw)
{
	if (sw->e.mem)
		munmap(sw->e.mem, sw->e.size);
	sw->e.mem = NULL;
	vs_buf_free(&sw->good);
	vs_buf_free(&sw->resave);
	dev_destroy(&sw->a);
	dev_destroy(&sw->b);
}

/*
 * After a refused stream: B recovers with a reset, answers its registers,
 * and then loads the good stream byte-exact.  Returns false if not.
 */
static bool sweep_recover(struct sweep *sw, struct loader *l,
			  const char *label)
{
	struct vs_inst *in = &sw->b.in;
	bool ok = true;
	char c = 0;
	__u32 st;

	if (vs_dev_reset(in->device)) {
		ok = false;
	} else {
		st = sw->v1 ? v1_state(&sw->b) : vs_mig_get_state(in->device);
		if (st != (sw->v1 ? VSLICE_V1_STATE_RUNNING : ST_RUNNING))
			ok = false;
	}
	if (l->fd >= 0) {
		if (write(l->fd, &c, 1) != -1 || errno != ENODEV)
			ok = false;
		close(l->fd);
		l->fd = -1;
	}
	vs_wr32(in, VSLICE_REG_SCRATCH(3), 0xfeed1234);
	if (vs_rd32(in, VSLICE_REG_ID) != VSLICE_ID_MAGIC ||
	    vs_rd32(in, VSLICE_REG_SCRATCH(3)) != 0xfeed1234)
		ok = false;
	if (!ok) {
		if (sw->no_recovery++ < SHOW_MAX)
			ksft_print_msg("%s: the destination did not recover\n",
				       label);
		return false;
	}

	if (load_all(&sw->b, sw->v1, sw->good.p, sw->good.len,
		     xrnd(&sw->rng), 64 * 1024) ||
	    save_fresh(&sw->b, &sw->resave) ||
	    sw->resave.len != sw->good.len ||
	    memcmp(sw->resave.p, sw->good.p, sw->good.len)) {
		if (sw->no_reload++ < SHOW_MAX)
			ksft_print_msg("%s: the good stream did not load byte-exact afterwards\n",
				       label);
		ok = false;
	}
	if (vs_dev_reset(in->device))
		ok = false;
	return ok;
}

/*
 * Feed one damaged stream to B.  @want: the exact errno expected (0 =
 * any documented one); @want_at_leave: it must come from leaving
 * RESUMING (truncation), not from a write.
 */
static void sweep_case(struct __test_metadata *_metadata, struct sweep *sw,
		       const __u8 *p, size_t len, int want,
		       bool want_at_leave, const char *label)
{
	struct loader l = { .d = &sw->b, .v1 = sw->v1, .fd = -1,
			    .rng = xrnd(&sw->rng) | 1 };
	int wr, lv, e;

	/* QEMU 10 writes <= 1 MiB, often ~32 KiB; QEMU 7.2 records <= 1 MiB */
	l.max_piece = (xrnd(&sw->rng) % 4) ? 40 * 1024 : 300 * 1024;
	sw->cases++;
	ASSERT_EQ(0, ld_begin(&l)) TH_LOG("%s: cannot enter RESUMING", label);
	wr = ld_feed(&l, p, len);
	lv = wr ? 0 : ld_end(&l);
	e = wr ? wr : lv;
	if (!e) {
		if (sw->silent++ < SHOW_MAX)
			ksft_print_msg("%s: LOADED SILENTLY\n", label);
	} else {
		tally(sw, e);
		if (wr)
			sw->by_write++;
		else
			sw->by_leave++;
		/* truncation shows when leaving; everything else in a write */
		if (!documented(e) || (want && e != want) ||
		    (want && want_at_leave != !wr)) {
			if (sw->bad_errno++ < SHOW_MAX)
				ksft_print_msg("%s: refused with %s (%d) by %s, want %s%s\n",
					       label, ename(e), e,
					       wr ? "a write" : "leaving RESUMING",
					       want ? ename(want) : "a documented errno",
					       want_at_leave ? " when leaving RESUMING" : "");
		}
		if (!ld_resuming(&l)) {
			if (sw->not_resuming++ < SHOW_MAX)
				ksft_print_msg("%s: not RESUMING after the refusal\n",
					       label);
		}
	}
	sweep_recover(sw, &l, label);
}

static void sweep_report(struct __test_metadata *_metadata,
			 struct sweep *sw, const char *what)
{
	ksft_print_msg("%s (%s): %lu cases, %.1f s: %lu refused by a write, %lu on leaving\n",
		       what, sw->v1 ? "v1 region" : "v2 data fd", sw->cases,
		       now_s() - sw->t0, sw->by_write, sw->by_leave);
	ksft_print_msg("  EINVAL %lu EBADMSG %lu ENODATA %lu EOPNOTSUPP %lu EPROTO %lu other %lu\n",
		       sw->hist[0], sw->hist[1], sw->hist[2], sw->hist[3],
		       sw->hist[4], sw->hist[5]);
	EXPECT_EQ(0ul, sw->silent) TH_LOG("damaged streams loaded silently");
	EXPECT_EQ(0ul, sw->bad_errno) TH_LOG("refused with the wrong errno");
	EXPECT_EQ(0ul, sw->not_resuming)
		TH_LOG("left RESUMING (or the v1 error state) after a refusal");
	EXPECT_EQ(0ul, sw->no_recovery) TH_LOG("no recovery by reset");
	EXPECT_EQ(0ul, sw->no_reload) TH_LOG("the good stream did not reload");
	/* hundreds of channels later: nothing left behind */
	sw_teardown(sw);
	health_check(_metadata, &sw->base, what);
}

/*
 * The errno a flipped bit at @off must produce, by the decoder's check
 * order (mdev/stream.h); 0 where several are right (a section's len may
 * flip into another valid length).
 */
static int flip_errno(const struct layout *lay, size_t off)
{
	unsigned int i;
	size_t in;

	if (off < HDR_LEN)
		return off < 8 ? -EINVAL : -EBADMSG;	/* magic, then hdr_crc */
	for (i = 0; i < lay->nsec; i++) {
		if (off >= lay->off[i + 1])
			continue;
		in = off - lay->off[i];
		if (in >= SEC_LEN)
			return -EBADMSG;		/* payload: its crc */
		switch (in / 4) {
		case 0:
			return -EINVAL;			/* type */
		case 1:
			return 0;			/* len */
		case 2:
			return -EBADMSG;		/* crc */
		default:
			return -EINVAL;			/* seq */
		}
	}
	return 0;
}

#define N_FLIPS		300

FIXTURE(sweep) {
	struct sweep sw;
};

FIXTURE_VARIANT(sweep) {
	bool v1;
};

FIXTURE_VARIANT_ADD(sweep, v2) { .v1 = false };
FIXTURE_VARIANT_ADD(sweep, v1) { .v1 = true };

FIXTURE_SETUP(sweep)
{
	sw_setup(_metadata, &self->sw, variant->v1);
}

FIXTURE_TEARDOWN(sweep)
{
	sw_teardown(&self->sw);
}

static void flip_one(struct __test_metadata *_metadata, struct sweep *sw,
		     __u8 *bad, size_t off, unsigned int bit, const char *why)
{
	char label[128];

	snprintf(label, sizeof(label), "bit %u of byte %zu (%s)", bit, off,
		 why);
	bad[off] ^= 1u << bit;
	sweep_case(_metadata, sw, bad, sw->good.len,
		   flip_errno(&sw->lay, off), false, label);
	bad[off] ^= 1u << bit;
}

TEST_F_TIMEOUT(sweep, bit_flips, 300)
{
	struct sweep *sw = &self->sw;
	const struct layout *lay = &sw->lay;
	size_t len = sw->good.len, off;
	unsigned int i, f;
	__u8 *bad = malloc(len);

	ASSERT_NE(NULL, bad);
	memcpy(bad, sw->good.p, len);
	/* evenly over the whole stream */
	for (i = 0; i < N_FLIPS; i++)
		flip_one(_metadata, sw, bad, (size_t)i * len / N_FLIPS, i % 8,
			 "spread");
	/* every byte of the stream header */
	for (off = 0; off < HDR_LEN; off++)
		flip_one(_metadata, sw, bad, off, (off * 3) % 8, "header");
	/* every field of every section header, END's included */
	for (i = 0; i < lay->nsec; i++)
		for (f = 0; f < 4; f++)
			flip_one(_metadata, sw, bad,
				 lay->off[i] + 4 * f + (i + f) % 4,
				 (i * 5 + f) % 8, "section header");
	/* every 8th byte of the device state (HW section payload) */
	for (i = 0; i < lay->nsec; i++) {
		if (lay->type[i] != VSLICE_SEC_HW)
			continue;
		for (off = lay->off[i] + SEC_LEN; off < lay->off[i + 1];
		     off += 8)
			flip_one(_metadata, sw, bad, off, (off / 8) % 8,
				 "device state");
	}
	/* every byte of END */
	for (off = len - END_LEN; off < len; off++)
		flip_one(_metadata, sw, bad, off, (off * 5) % 8, "END");
	free(bad);
	sweep_report(_metadata, sw, "bit flips");
}

TEST_F_TIMEOUT(sweep, truncations, 300)
{
	struct sweep *sw = &self->sw;
	size_t len = sw->good.len, cut;
	char label[96];
	unsigned int i;

	/* nothing at all, inside the header, and the last byte missing */
	sweep_case(_metadata, sw, sw->good.p, 0, -ENODATA, true, "empty");
	sweep_case(_metadata, sw, sw->good.p, HDR_LEN - 1, -ENODATA, true,
		   "cut inside the header");
	sweep_case(_metadata, sw, sw->good.p, len - 1, -ENODATA, true,
		   "last byte missing");
	/* every section boundary: after the header, before every section */
	for (i = 0; i < sw->lay.nsec; i++) {
		cut = sw->lay.off[i];
		snprintf(label, sizeof(label), "cut at %zu (before section %u)",
			 cut, i);
		sweep_case(_metadata, sw, sw->good.p, cut, -ENODATA, true,
			   label);
	}
	for (i = 0; i < 40; i++) {
		cut = 1 + xrnd(&sw->rng) % (len - 1);
		snprintf(label, sizeof(label), "cut at %zu (random)", cut);
		sweep_case(_metadata, sw, sw->good.p, cut, -ENODATA, true,
			   label);
	}
	sweep_report(_metadata, sw, "truncations");
}

TEST_F_TIMEOUT(sweep, garbage_appended, 300)
{
	static const size_t lens[] = { 1, 3, 16, 40, 4096, 100000 };
	struct sweep *sw = &self->sw;
	size_t len = sw->good.len, i, j;
	struct loader l;
	char label[96];
	struct vs_buf bad = { 0 };
	int e;

	for (i = 0; i < ARRAY_SIZE(lens) + 4; i++) {
		bad.len = 0;
		ASSERT_EQ(0, vs_buf_put(&bad, sw->good.p, len));
		if (i < ARRAY_SIZE(lens)) {
			ASSERT_EQ(0, vs_buf_reserve(&bad, lens[i]));
			for (j = 0; j < lens[i]; j++)
				bad.p[len + j] = xrnd(&sw->rng);
			bad.len += lens[i];
			snprintf(label, sizeof(label), "%zu random bytes", lens[i]);
		} else if (i == ARRAY_SIZE(lens)) {
			ASSERT_EQ(0, vs_buf_reserve(&bad, 64));
			memset(bad.p + len, 0, 64);
			bad.len += 64;
			snprintf(label, sizeof(label), "64 zero bytes");
		} else if (i == ARRAY_SIZE(lens) + 1) {
			ASSERT_EQ(0, vs_buf_put(&bad, sw->good.p, HDR_LEN));
			snprintf(label, sizeof(label), "a second header");
		} else if (i == ARRAY_SIZE(lens) + 2) {
			ASSERT_EQ(0, vs_buf_put(&bad,
						sw->good.p + len - END_LEN,
						END_LEN));
			snprintf(label, sizeof(label), "a second END");
		} else {
			ASSERT_EQ(0, vs_buf_put(&bad, sw->good.p, len));
			snprintf(label, sizeof(label), "the whole stream again");
		}
		/* in the same writes as the stream */
		sweep_case(_metadata, sw, bad.p, bad.len, -EINVAL, false,
			   label);

		/* the stream whole, then the garbage in a write of its own */
		memset(&l, 0, sizeof(l));
		l.d = &sw->b;
		l.v1 = sw->v1;
		l.rng = xrnd(&sw->rng) | 1;
		l.max_piece = 64 * 1024;
		sw->cases++;
		ASSERT_EQ(0, ld_begin(&l));
		ASSERT_EQ(0, ld_feed(&l, sw->good.p, len));
		l.max_piece = bad.len;	/* one write (v1: one record) */
		e = ld_feed(&l, bad.p + len, bad.len - len);
		if (e) {
			tally(sw, e);
			sw->by_write++;
		}
		if (e != -EINVAL && sw->bad_errno++ < SHOW_MAX)
			ksft_print_msg("%s in a write of its own: %s (%d)\n",
				       label, ename(e), e);
		if (!ld_resuming(&l) && sw->not_resuming++ < SHOW_MAX)
			ksft_print_msg("%s in a write of its own: not RESUMING\n",
				       label);
		if (!e && sw->silent++ < SHOW_MAX)
			ksft_print_msg("%s: accepted\n", label);
		/* the sticky error also refuses leaving RESUMING */
		EXPECT_EQ(-EINVAL, ld_end(&l));
		sweep_recover(sw, &l, label);
	}
	vs_buf_free(&bad);
	sweep_report(_metadata, sw, "garbage appended");
}

/* @s with section @i (or the header, i = -1) repeated right after itself. */
static void dup_section(struct vs_buf *out, const struct vs_buf *s,
			const struct layout *lay, int i)
{
	size_t a = i < 0 ? 0 : lay->off[i];
	size_t b = i < 0 ? HDR_LEN : lay->off[i + 1];

	out->len = 0;
	vs_buf_put(out, s->p, b);
	vs_buf_put(out, s->p + a, b - a);
	vs_buf_put(out, s->p + b, s->len - b);
}

TEST_F_TIMEOUT(sweep, duplicated_sections, 300)
{
	struct sweep *sw = &self->sw;
	const struct layout *lay = &sw->lay;
	struct vs_buf bad = { 0 };
	char label[96];
	int i, hw = -1, vram = -1;

	for (i = -1; i < (int)lay->nsec; i++) {
		dup_section(&bad, &sw->good, lay, i);
		ASSERT_EQ(sw->good.len + (i < 0 ? HDR_LEN :
			  lay->off[i + 1] - lay->off[i]), bad.len);
		snprintf(label, sizeof(label), "%s %d repeated",
			 i < 0 ? "header" : "section", i);
		/* seq out of order; a second END is bytes after END */
		sweep_case(_metadata, sw, bad.p, bad.len, -EINVAL, false,
			   label);
		if (i >= 0 && lay->type[i] == VSLICE_SEC_HW)
			hw = i;
		if (i >= 0 && lay->type[i] == VSLICE_SEC_VRAM && vram < 0)
			vram = i;
	}
	ASSERT_LE(0, hw);
	ASSERT_LE(0, vram);

	/* a second HW section, numbered and summed right: still refused */
	dup_section(&bad, &sw->good, lay, hw);
	ASSERT_EQ(0, stream_fixup(bad.p, bad.len));
	sweep_case(_metadata, sw, bad.p, bad.len, -EINVAL, false,
		   "HW repeated, renumbered, END fixed up");

	/*
	 * The control: a VRAM run repeated the same way is a consistent
	 * stream that says the same thing twice; it loads, byte-exact.
	 */
	dup_section(&bad, &sw->good, lay, vram);
	ASSERT_EQ(0, stream_fixup(bad.p, bad.len));
	ASSERT_EQ(0, load_all(&sw->b, sw->v1, bad.p, bad.len, 5, 64 * 1024));
	ASSERT_EQ(0, save_fresh(&sw->b, &sw->resave));
	EXPECT_EQ(sw->good.len, sw->resave.len);
	EXPECT_EQ(0, memcmp(sw->good.p, sw->resave.p, sw->good.len));
	ASSERT_EQ(0, vs_dev_reset(sw->b.in.device));

	vs_buf_free(&bad);
	sweep_report(_metadata, sw, "duplicated sections");
}

/*
 * What the destination shows of itself: every VRAM byte (BAR2, read
 * through the region), every BAR0 register word and the config space.
 */
struct devsnap {
	__u8 *vram;
	size_t vram_len;
	__u32 *regs;
	size_t nregs;
	__u8 cfg[256];
};

static int snap_take(struct dev *d, struct devsnap *sn)
{
	struct vfio_region_info bar0, bar2;
	size_t i;

	if (vs_region_info(d->in.device, VFIO_PCI_BAR0_REGION_INDEX, &bar0,
			   sizeof(bar0)) ||
	    vs_region_info(d->in.device, VFIO_PCI_BAR2_REGION_INDEX, &bar2,
			   sizeof(bar2)))
		return -EIO;
	sn->vram_len = bar2.size;
	sn->vram = malloc(sn->vram_len);
	sn->nregs = bar0.size / 4;
	sn->regs = calloc(sn->nregs, 4);
	if (!sn->vram || !sn->regs)
		return -ENOMEM;
	if (vs_vram_rw(&d->in, 0, sn->vram, sn->vram_len, false) !=
	    (ssize_t)sn->vram_len)
		return -EIO;
	for (i = 0; i < sn->nregs; i++)
		sn->regs[i] = vs_rd32(&d->in, i * 4);
	return vs_cfg_read(&d->in, 0, sn->cfg, sizeof(sn->cfg));
}

static void snap_free(struct devsnap *sn)
{
	free(sn->vram);
	free(sn->regs);
	memset(sn, 0, sizeof(*sn));
}

/* Where @b differs from @a first, as text in @out; false if nowhere. */
static bool snap_differs(const struct devsnap *a, const struct devsnap *b,
			 char *out, size_t len)
{
	size_t i;

	if (a->vram_len != b->vram_len || a->nregs != b->nregs) {
		snprintf(out, len, "sizes differ");
		return true;
	}
	for (i = 0; i < a->vram_len; i += PG) {
		if (memcmp(a->vram + i, b->vram + i, PG)) {
			snprintf(out, len, "VRAM page %zu (0x%zx)", (size_t)(i / PG), i);
			return true;
		}
	}
	for (i = 0; i < a->nregs; i++) {
		if (a->regs[i] != b->regs[i]) {
			snprintf(out, len, "BAR0 register 0x%03zx: 0x%08x -> 0x%08x",
				 i * 4, a->regs[i], b->regs[i]);
			return true;
		}
	}
	for (i = 0; i < sizeof(a->cfg); i++) {
		if (a->cfg[i] != b->cfg[i]) {
			snprintf(out, len, "config byte 0x%02zx: 0x%02x -> 0x%02x",
				 i, a->cfg[i], b->cfg[i]);
			return true;
		}
	}
	return false;
}

/*
 * Give B a state of its own that the good stream would replace: VRAM
 * patterns over the pages the stream carries and beyond (the first 12 MiB,
 * which hold its runs, lone pages and ring span, and the last page), and
 * registers and COMMAND bits other than the source's.
 */
static int b_own_state(struct dev *b, __u64 seed)
{
	struct vfio_region_info bar2;
	__u16 cmd = 0x0002;	/* MEMORY, not MASTER */
	unsigned int i;
	int ret;

	ret = vs_region_info(b->in.device, VFIO_PCI_BAR2_REGION_INDEX, &bar2,
			     sizeof(bar2));
	if (!ret)
		ret = vram_pattern(&b->in, 0, 12 * VS_MIB, seed);
	if (!ret)
		ret = vram_pattern(&b->in, bar2.size - 2 * PG, 2 * PG, seed + 1);
	if (ret)
		return ret;
	for (i = 0; i < VSLICE_NR_SCRATCH; i++)
		vs_wr32(&b->in, VSLICE_REG_SCRATCH(i), 0xb0b00000 + i + seed);
	vs_wr32(&b->in, VSLICE_REG_RING_BASE_LO, 0x7000);
	vs_wr32(&b->in, VSLICE_REG_RING_SIZE, 64);
	vs_wr32(&b->in, VSLICE_REG_IRQ_MASK, 0x5);
	return vs_cfg_write(&b->in, PCI_COMMAND, &cmd, sizeof(cmd));
}

/*
 * A refused stream leaves the destination exactly as it was: B gets a
 * state of its own (b_own_state()), is snapshotted whole (all of its
 * VRAM through BAR2, every BAR0 register, config space), and is fed one
 * damaged stream per kind of damage, each refused where the decoder
 * finds it: the stream header (hdr_crc, first write), a VRAM section in
 * the middle (its crc, after valid sections were received), the stream
 * cut before END (only leaving RESUMING can tell) and END's stream_crc
 * (every section valid; only the whole-stream checksum is wrong).  After
 * each refusal B must still be RESUMING and read back identical to the
 * snapshot, byte for byte; then it recovers as in every sweep (reset, the
 * good stream loads byte-exact), which proves it usable.
 */
TEST_F_TIMEOUT(sweep, refused_stream_leaves_device_unchanged, 300)
{
	struct sweep *sw = &self->sw;
	const struct layout *lay = &sw->lay;
	size_t len = sw->good.len, cut = 0;
	unsigned int i, mid = 0, nvram = 0, k;
	struct vslice_stream_end end;
	struct vslice_stream_sec sec;
	__u8 *bad = malloc(len);
	static const char *const what[] = {
		"header crc", "mid-stream VRAM section crc",
		"truncated before END", "END stream_crc",
	};
	static const int want[] = { -EBADMSG, -EBADMSG, -ENODATA, -EBADMSG };
	unsigned long unchanged = 0;

	ASSERT_NE(NULL, bad);
	for (i = 0; i < lay->nsec; i++)
		if (lay->type[i] == VSLICE_SEC_VRAM)
			nvram++;
	ASSERT_LE(3u, nvram) TH_LOG("the stream has too few VRAM sections");
	for (i = 0, k = 0; i < lay->nsec; i++)
		if (lay->type[i] == VSLICE_SEC_VRAM && ++k == nvram / 2 + 1)
			mid = i;

	for (k = 0; k < ARRAY_SIZE(what); k++) {
		struct loader l = { .d = &sw->b, .v1 = sw->v1, .fd = -1,
				    .rng = xrnd(&sw->rng) | 1,
				    .max_piece = 40 * 1024 };
		struct devsnap before = { 0 }, after = { 0 };
		char diff[160];
		int wr, lv;

		memcpy(bad, sw->good.p, len);
		cut = len;
		switch (k) {
		case 0:
			bad[HDR_LEN - 2] ^= 0x10;
			break;
		case 1:
			bad[lay->off[mid] + SEC_LEN + 40 + 2 * PG] ^= 0x04;
			break;
		case 2:
			cut = lay->off[lay->nsec - 1];
			break;
		case 3:
			/* a wrong stream_crc under a valid END section crc */
			memcpy(&end, bad + len - sizeof(end), sizeof(end));
			end.stream_crc ^= htole32(0x100);
			memcpy(bad + len - sizeof(end), &end, sizeof(end));
			memcpy(&sec, bad + len - END_LEN, sizeof(sec));
			sec.crc = htole32(vs_crc32c(&end, sizeof(end)));
			memcpy(bad + len - END_LEN, &sec, sizeof(sec));
			break;
		}
		ASSERT_EQ(0, b_own_state(&sw->b, 0x1000 * (k + 1)));
		ASSERT_EQ(0, snap_take(&sw->b, &before));

		sw->cases++;
		ASSERT_EQ(0, ld_begin(&l)) TH_LOG("%s: cannot enter RESUMING",
						  what[k]);
		wr = ld_feed(&l, bad, cut);
		lv = wr ? 0 : ld_end(&l);
		if (wr || lv) {
			tally(sw, wr ? wr : lv);
			if (wr)
				sw->by_write++;
			else
				sw->by_leave++;
		}
		EXPECT_EQ(want[k], wr ? wr : lv) {
			TH_LOG("%s: refused with %s by %s", what[k],
			       ename(wr ? wr : lv), wr ? "a write" : "leaving");
		}
		EXPECT_TRUE(ld_resuming(&l)) TH_LOG("%s: not RESUMING", what[k]);

		ASSERT_EQ(0, snap_take(&sw->b, &after));
		if (snap_differs(&before, &after, diff, sizeof(diff))) {
			ksft_print_msg("%s: the refused stream changed the device: %s\n",
				       what[k], diff);
		} else {
			unchanged++;
		}
		snap_free(&before);
		snap_free(&after);
		EXPECT_TRUE(sweep_recover(sw, &l, what[k]))
			TH_LOG("%s: not usable afterwards", what[k]);
	}
	free(bad);
	ksft_print_msg("%lu of %zu refused streams left the device as it was\n",
		       unchanged, ARRAY_SIZE(what));
	EXPECT_EQ(ARRAY_SIZE(what), unchanged);
	sweep_report(_metadata, sw, "refused streams, device unchanged");
}

/*
 * Device states no checksum can catch: the HW section rewritten with
 * hostile values and sealed again (its crc and END recomputed), as a
 * buggy or malicious source would send them.  Each must be refused with
 * -EINVAL or load; a loaded one then runs - B has A's guest memory at the
 * same IOVA, so the engine really fetches and executes from the ring the
 * state points at - and must stay sane: registers answer, the engine
 * halts or runs, and VFIO_DEVICE_RESET brings B back.
 */
struct hw_field {
	const char *name;
	size_t off;
	unsigned int size;
	__u64 vals[10];
	unsigned int nvals;
};

#define HWF(f, size, ...) { #f, offsetof(struct vslice_stream_hw, f),	\
	size, { __VA_ARGS__ },						\
	sizeof((__u64[]){ __VA_ARGS__ }) / sizeof(__u64) }

#define PLF(f, size, ...) { "plane." #f,				\
	sizeof(struct vslice_stream_hw) +				\
	offsetof(struct vslice_stream_plane, f), size, { __VA_ARGS__ },	\
	sizeof((__u64[]){ __VA_ARGS__ }) / sizeof(__u64) }

static const struct hw_field hw_fields[] = {
	HWF(ring_base, 8, 0, 1, 0xfff, SRC_DMA_IOVA + 8, SRC_DMA_IOVA + 4096,
	    0xfffffffffffff000ULL, ~0ULL),
	HWF(ring_size, 4, 0, 1, 2, 3, 4096, 4097, 8192, 0x80000000, ~0u),
	HWF(ring_head, 4, 0, 1, 1023, 1024, 4095, 4096, ~0u),
	HWF(ring_tail, 4, 0, 1, 1023, 1024, 4095, 4096, ~0u),
	HWF(control, 4, 0, 1, 2, 3, ~0u),
	HWF(status, 4, 0, 1, 2, 3, 4),
	HWF(irq_status, 4, 0, 1, 2, 3, 4, ~0u),
	HWF(irq_mask, 4, 0, 3, 4, ~0u),
	HWF(error, 4, 0, 1, 6, 8, 9, ~0u),
	HWF(error_head, 4, 0, 1, 4095, 4096, ~0u),
	HWF(cmd_count, 4, 0, ~0u),
	HWF(fence, 8, 0, ~0ULL),
	HWF(cmd_progress, 8, 0, 1, 3, 4, 65536, 1ULL << 40, ~0ULL),
	HWF(irq_type, 4, 0, 1, 2, 3, ~0u),
	HWF(reserved, 4, 1, ~0u),
	HWF(scratch, 4, 0, ~0u),
	/* config space: command, status, BARs, MSI control, a random byte */
	HWF(cfg, 4, 0x0407, 0x0007),
	{ "cfg[0x10]", 0x10, 4, { 0xffffffff, 0xf0000000, 0x1 }, 3 },
	{ "cfg[0x18]", 0x18, 4, { 0xffffffff, 0x0, 0x8 }, 3 },
	{ "cfg[0x2c]", 0x2c, 4, { 0xdeadbeef }, 1 },
	{ "cfg[0x40]", 0x40, 4, { 0x00810005, 0xffffffff, 0 }, 3 },
	{ "cfg[0x44]", 0x44, 4, { 0xfee00000, 0xffffffff, 1 }, 3 },
	{ "cfg[random]", 0, 1, { 0 }, 0 },
	/* the scanout plane after struct vslice_stream_hw (format 1.1) */
	PLF(active_format, 4, 0, VSLICE_PLANE_FMT_XRGB8888, 0x36314752, ~0u),
	PLF(active_offset, 8, 0, 4096, 3, 1ULL << 40, ~0ULL),
	PLF(active_width, 4, 0, 1, 4096, 4097, ~0u),
	PLF(active_height, 4, 0, 1, 4097),
	PLF(active_stride, 4, 0, 3, 4, 16384, ~0u),
	PLF(error, 4, 0, 6, 7, ~0u),
	PLF(control, 4, 0, 1, ~0u),
	PLF(offset, 8, 0, ~0ULL),
	PLF(reserved, 4, 1, ~0u),
};

static void hw_poke(__u8 *hw, const struct hw_field *f, __u64 v, __u64 *rng)
{
	size_t off = f->off;

	if (!f->nvals) {		/* a random byte of config space */
		off = xrnd(rng) % 256;
		hw[off] = xrnd(rng);
		return;
	}
	v = htole64(v);
	memcpy(hw + off, &v, f->size);
}

/* The HW section's crc and END again, after its payload was changed. */
static void hw_reseal(__u8 *s, size_t len, const struct layout *lay,
		      unsigned int hw)
{
	struct vslice_stream_sec sec;
	size_t off = lay->off[hw];

	memcpy(&sec, s + off, sizeof(sec));
	sec.crc = htole32(vs_crc32c(s + off + SEC_LEN, le32toh(sec.len)));
	memcpy(s + off, &sec, sizeof(sec));
	stream_fixup(s, len);
}

TEST_F_TIMEOUT(sweep, hostile_device_state, 300)
{
	struct sweep *sw = &self->sw;
	const struct layout *lay = &sw->lay;
	unsigned long loaded = 0, refused = 0, other = 0, halted = 0;
	unsigned int hw = lay->nsec, i, k;
	__u8 *bad = malloc(sw->good.len), *mem;
	char label[160];
	__u64 rng = 0x5ca1ab1e;
	int ret;

	ASSERT_NE(NULL, bad);
	for (i = 0; i < lay->nsec; i++)
		if (lay->type[i] == VSLICE_SEC_HW)
			hw = i;
	ASSERT_GT(lay->nsec, hw);
	/* B gets A's guest memory: ring and sources at the same IOVA */
	mem = vs_dma_map(&sw->b.in, sw->e.iova, sw->e.size);
	ASSERT_NE(NULL, mem);
	memcpy(mem, sw->e.mem, sw->e.size);

	for (k = 0; k < 200; k++) {
		__u8 *st;
		int n = 1 + xrnd(&rng) % 3, j;
		struct loader l = { .d = &sw->b, .v1 = sw->v1, .fd = -1,
				    .rng = xrnd(&rng) | 1,
				    .max_piece = 64 * 1024 };

		memcpy(bad, sw->good.p, sw->good.len);
		st = bad + lay->off[hw] + SEC_LEN;
		label[0] = 0;
		for (j = 0; j < n; j++) {
			const struct hw_field *f =
				&hw_fields[xrnd(&rng) % ARRAY_SIZE(hw_fields)];
			__u64 v = f->nvals ? f->vals[xrnd(&rng) % f->nvals] : 0;

			hw_poke(st, f, v, &rng);
			snprintf(label + strlen(label),
				 sizeof(label) - strlen(label), "%s=%#llx ",
				 f->name, (unsigned long long)v);
		}
		hw_reseal(bad, sw->good.len, lay, hw);
		sw->cases++;
		ret = ld_begin(&l);
		ASSERT_EQ(0, ret);
		ret = ld_feed(&l, bad, sw->good.len);
		if (!ret)
			ret = ld_end(&l);
		if (l.fd >= 0) {
			close(l.fd);
			l.fd = -1;
		}
		if (ret == -EINVAL) {
			refused++;
			tally(sw, ret);
			sw->by_write++;
		} else if (ret) {
			if (other++ < SHOW_MAX)
				ksft_print_msg("%s: %s (%d)\n", label,
					       ename(ret), ret);
		} else {
			/* loaded: run it for a moment */
			loaded++;
			if (sw->v1)
				ret = v1_set_state(&sw->b,
						   VSLICE_V1_STATE_RUNNING);
			else
				ret = vs_mig_set_state(sw->b.in.device,
						       ST_RUNNING, NULL);
			EXPECT_EQ(0, ret) TH_LOG("%s: cannot run", label);
			vs_wr32(&sw->b.in, VSLICE_REG_DOORBELL, 1);
			wait_quiet(&sw->b.in, 50);
			if (vs_rd32(&sw->b.in, VSLICE_REG_STATUS) &
			    VSLICE_STATUS_HALTED)
				halted++;
		}
		if (vs_rd32(&sw->b.in, VSLICE_REG_ID) != VSLICE_ID_MAGIC &&
		    sw->no_recovery++ < SHOW_MAX)
			ksft_print_msg("%s: registers do not answer\n", label);
		if (vs_dev_reset(sw->b.in.device) ||
		    vs_mig_get_state(sw->b.in.device) != ST_RUNNING ||
		    vs_rd32(&sw->b.in, VSLICE_REG_CONTROL) != 0) {
			if (sw->no_recovery++ < SHOW_MAX)
				ksft_print_msg("%s: no recovery by reset\n",
					       label);
		}
	}
	ksft_print_msg("hostile states: %lu refused, %lu loaded (%lu halted at once), %lu other\n",
		       refused, loaded, halted, other);
	EXPECT_EQ(0ul, other);
	EXPECT_LT(0ul, refused);
	EXPECT_LT(0ul, loaded);
	/* and the good stream still loads byte-exact */
	EXPECT_EQ(0, load_all(&sw->b, sw->v1, sw->good.p, sw->good.len, 9,
			      64 * 1024));
	EXPECT_EQ(0, save_fresh(&sw->b, &sw->resave));
	EXPECT_EQ(sw->good.len, sw->resave.len);
	EXPECT_EQ(0, memcmp(sw->good.p, sw->resave.p, sw->good.len));
	vs_dma_unmap(&sw->b.in, sw->e.iova, sw->e.size, mem);
	free(bad);
	sweep_report(_metadata, sw, "hostile device states");
}

/* ------------------------------------------------------------------ */
/* races                                                               */
/* ------------------------------------------------------------------ */

FIXTURE(race) {
	struct health base;
};

FIXTURE_SETUP(race)
{
	if (access(VS_PARENT_DIR, F_OK))
		SKIP(return, "vslice is not loaded (%s missing)", VS_PARENT_DIR);
	vs_remove_all();
	health_base(&self->base);
}

FIXTURE_TEARDOWN(race)
{
	/*
	 * Teardown runs in the test's process: after a failed assertion its
	 * devices may still be open or mapped, and removing them would wait
	 * for ourselves.  The next setup, in a new process, cleans up then.
	 */
	if (!_metadata->exit_code)
		vs_remove_all();
}

/* A small known content and a save of it, for the "still works" checks. */
static void migrate_check(struct __test_metadata *_metadata, struct dev *a,
			  struct dev *b, bool v1)
{
	struct vs_buf s = { 0 }, sa = { 0 }, sb = { 0 };
	int i;

	ASSERT_EQ(0, vs_dev_reset(a->in.device));
	ASSERT_EQ(0, vs_dev_reset(b->in.device));
	for (i = 0; i < 6; i++)
		ASSERT_EQ(0, vram_pattern(&a->in, i * 3 * VS_MIB, 3 * PG, i));
	vs_wr32(&a->in, VSLICE_REG_SCRATCH(0), 0x600d);
	ASSERT_EQ(0, vs_mig_set_state(a->in.device, ST_STOP, NULL));
	ASSERT_EQ(0, save_fresh(a, &s));
	ASSERT_EQ(0, load_all(b, v1, s.p, s.len, 3, 32 * 1024));
	ASSERT_EQ(0, save_fresh(a, &sa));
	ASSERT_EQ(0, save_fresh(b, &sb));
	EXPECT_EQ(sa.len, sb.len);
	EXPECT_EQ(0, memcmp(sa.p, sb.p, sa.len < sb.len ? sa.len : sb.len));
	EXPECT_EQ(0x600du, vs_rd32(&b->in, VSLICE_REG_SCRATCH(0)));
	ASSERT_EQ(0, vs_mig_set_state(a->in.device, ST_RUNNING, NULL));
	ASSERT_EQ(0, vs_mig_set_state(b->in.device, ST_RUNNING, NULL));
	vs_buf_free(&s);
	vs_buf_free(&sa);
	vs_buf_free(&sb);
}

/* ---- removal while open: the request path ---- */

struct remover {
	char uuid[40];
	int ret;		/* __atomic; 1 while the removal is pending */
	double took;
};

static void *remove_thread(void *arg)
{
	struct remover *r = arg;
	double t0 = now_s();
	int ret = vs_remove_uuid(r->uuid);

	r->took = now_s() - t0;
	__atomic_store_n(&r->ret, ret, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * The instance is open and as busy as it gets - a save or resume session
 * with its fd, BAR2 and v1 mappings, DMA mapped with copies running -
 * when it is removed.  The removal waits (the vfio core calls our request
 * op) until the user lets go: munmap, then close.  The data fd outlives
 * the instance: every call on it fails cleanly.
 */
TEST_F_TIMEOUT(race, remove_while_open, 120)
{
	static const char *const sessions[] = {
		"pre-copy", "stop-copy", "resuming"
	};
	struct dev d;
	unsigned int round;

	for (round = 0; round < ARRAY_SIZE(sessions); round++) {
		struct remover r = { .ret = 1 };
		struct vfio_region_info bar2;
		struct eng e = { 0 };
		struct vslice_cmd c[32];
		void *vram_map, *v1_map = NULL;
		__u64 rng = 1 + round;
		pthread_t th;
		char b[64];
		int fd = -1, ret;
		__u32 i;

		ASSERT_EQ(0, dev_create(&d, VS_TYPE_128));
		ASSERT_EQ(0, vs_region_info(d.in.device,
					    VFIO_PCI_BAR2_REGION_INDEX, &bar2,
					    sizeof(bar2)));
		vram_map = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE,
				MAP_SHARED, d.in.device, bar2.offset);
		ASSERT_NE(MAP_FAILED, vram_map);
		memset(vram_map, 0x5a, 1 << 20);
		EXPECT_EQ(0x5a5a5a5au, peek32(vram_map));
		if (d.have_v1) {
			v1_map = mmap(NULL, d.v1_data_size,
				      PROT_READ | PROT_WRITE, MAP_SHARED,
				      d.in.device, d.v1_off + d.v1_data);
			ASSERT_NE(MAP_FAILED, v1_map);
			memset(v1_map, 1, 4096);
		}
		ASSERT_EQ(0, eng_setup(&d.in, &e, SRC_DMA_IOVA, 4 << 20, 3));
		/* long copies out of VRAM into pinned guest pages */
		for (i = 0; i < 32; i++) {
			memset(&c[i], 0, sizeof(c[i]));
			c[i].opcode = htole32(VSLICE_CMD_COPY_FROM_VRAM);
			c[i].vram_off = htole64(xrnd(&rng) % (8 * VS_MIB));
			c[i].iova = htole64(SRC_DMA_IOVA + SRC_OFF);
			c[i].len = htole64((4 << 20) - SRC_OFF);
		}
		ASSERT_EQ(0, eng_submit(&d.in, &e, c, 32));

		if (round == 0 && d.precopy) {
			ASSERT_EQ(0, vs_mig_set_state(d.in.device, ST_PRE_COPY, &fd));
			ASSERT_LT(0, read(fd, b, sizeof(b)));
		} else if (round <= 1) {
			ASSERT_EQ(0, vs_mig_set_state(d.in.device, ST_STOP_COPY, &fd));
			ASSERT_LT(0, read(fd, b, sizeof(b)));
		} else {
			ASSERT_EQ(0, vs_mig_set_state(d.in.device, ST_STOP, NULL));
			ASSERT_EQ(0, vs_mig_set_state(d.in.device, ST_RESUMING, &fd));
			ASSERT_EQ(16, write(fd, "VSLSMIGM\1\0\0\0\1\0\0\0", 16));
		}
		ASSERT_LE(0, fd);

		snprintf(r.uuid, sizeof(r.uuid), "%s", d.in.uuid);
		ASSERT_EQ(0, pthread_create(&th, NULL, remove_thread, &r));
		sleep_us(500000);
		EXPECT_EQ(1, __atomic_load_n(&r.ret, __ATOMIC_ACQUIRE))
			TH_LOG("removal did not wait for the open device");
		/* still fully alive meanwhile */
		EXPECT_EQ(VSLICE_ID_MAGIC, vs_rd32(&d.in, VSLICE_REG_ID));
		poke32(vram_map, 0xa5a5a5a5);
		EXPECT_EQ(0xa5a5a5a5u, peek32(vram_map));

		/* let go: the mappings hold the device file, then close */
		munmap(vram_map, 1 << 20);
		if (v1_map)
			munmap(v1_map, d.v1_data_size);
		sleep_us(100000);
		EXPECT_EQ(1, __atomic_load_n(&r.ret, __ATOMIC_ACQUIRE));
		vs_close(&d.in);
		pthread_join(th, NULL);
		EXPECT_EQ(0, r.ret);
		ksft_print_msg("%s: removal waited %.2f s for the close\n",
			       sessions[round], r.took);
		EXPECT_EQ(0, vs_count_instances());

		/*
		 * The instance is gone, its data fd is not: clean errors.
		 * New instances in PRE_COPY most likely reuse the freed
		 * instance's memory; a save fd that still looked at its
		 * instance would now see their state (PRE_COPY) and answer
		 * -ENODEV instead of -EINVAL (not in pre-copy).
		 */
		if (round <= 1) {
			struct dev n[4];
			int nfd[4], k;

			for (k = 0; k < 4; k++) {
				ASSERT_EQ(0, dev_create(&n[k], VS_TYPE_128));
				nfd[k] = -1;
				if (n[k].precopy)
					vs_mig_set_state(n[k].in.device,
							 ST_PRE_COPY, &nfd[k]);
			}
			EXPECT_EQ(-1, read(fd, b, sizeof(b)));
			EXPECT_EQ(ENODEV, errno);
			ret = vs_mig_precopy_info(fd, NULL, NULL);
			if (d.precopy)
				EXPECT_EQ(-EINVAL, ret)
					TH_LOG("PRECOPY_INFO, instance removed: %d (%s)",
					       ret, ret == -ENODEV ?
					       "it read another instance's state: use after free" :
					       "?");
			for (k = 0; k < 4; k++) {
				if (nfd[k] >= 0)
					close(nfd[k]);
				dev_destroy(&n[k]);
			}
		} else {
			EXPECT_EQ(-1, write(fd, b, 1));
			EXPECT_EQ(ENODEV, errno);
		}
		close(fd);
		/* the engine buffer's mapping is the process's own memory */
		munmap(e.mem, e.size);
		memset(&d, 0, sizeof(d));
	}
	health_check(_metadata, &self->base, "remove_while_open");
}

/* ---- closing the device under a save or a resume in flight ---- */

struct pump {
	int fd;
	const struct vs_buf *src;	/* resume: the stream to write, looped */
	int err;		/* the error that ended the pump */
	size_t bytes;
};

static void *save_pump(void *arg)
{
	struct pump *p = arg;
	char b[4096];
	ssize_t n;

	for (;;) {
		n = read(p->fd, b, sizeof(b));
		if (n > 0) {
			p->bytes += n;
			continue;
		}
		if (n < 0 && errno == ENOMSG)
			continue;
		p->err = n < 0 ? -errno : 0;
		return NULL;
	}
}

static void *resume_pump(void *arg)
{
	struct pump *p = arg;
	size_t off = 0;
	ssize_t n;

	for (;;) {
		size_t len = p->src->len - off < 1024 ? p->src->len - off : 1024;

		n = write(p->fd, p->src->p + off, len);
		if (n < 0) {
			p->err = -errno;
			return NULL;
		}
		p->bytes += n;
		off = (off + n) % p->src->len;
	}
}

TEST_F_TIMEOUT(race, close_mid_stream, 180)
{
	struct dev a, b;
	struct vs_buf s = { 0 };
	unsigned long enodev = 0, other = 0;
	__u64 rng = 42;
	int round;

	ASSERT_EQ(0, dev_create(&a, VS_TYPE_128));
	ASSERT_EQ(0, dev_create(&b, VS_TYPE_128));
	ASSERT_EQ(0, vram_pattern(&a.in, 0, 2 << 20, 5));
	ASSERT_EQ(0, vs_mig_set_state(a.in.device, ST_STOP, NULL));
	ASSERT_EQ(0, save_fresh(&a, &s));
	ASSERT_EQ(0, vs_mig_set_state(a.in.device, ST_RUNNING, NULL));

	for (round = 0; round < 16; round++) {
		bool save = round % 2 == 0;
		struct dev *d = save ? &a : &b;
		struct pump p = { .src = &s };
		pthread_t th;

		if (save) {
			ASSERT_EQ(0, vram_pattern(&a.in, 0, 2 << 20, round));
			ASSERT_EQ(0, vs_mig_set_state(a.in.device, d->precopy && round % 4 ?
					     ST_PRE_COPY : ST_STOP_COPY, &p.fd));
		} else {
			ASSERT_EQ(0, vs_mig_set_state(b.in.device, ST_STOP, NULL));
			ASSERT_EQ(0, vs_mig_set_state(b.in.device, ST_RESUMING, &p.fd));
		}
		ASSERT_LE(0, p.fd);
		ASSERT_EQ(0, pthread_create(&th, NULL,
					    save ? save_pump : resume_pump, &p));
		sleep_us(xrnd(&rng) % 20000);
		vs_close(&d->in);
		pthread_join(th, NULL);
		if (p.err == -ENODEV)
			enodev++;
		else
			other++;
		/* a save may have hit EOF first; a resume only ENODEV/EINVAL */
		if (save) {
			EXPECT_TRUE(p.err == -ENODEV || p.err == 0)
				TH_LOG("save pump: %d", p.err);
		} else {
			EXPECT_TRUE(p.err == -ENODEV || p.err == -EINVAL)
				TH_LOG("resume pump: %d", p.err);
		}
		close(p.fd);
		ASSERT_EQ(0, vs_open(&d->in));
		EXPECT_EQ(ST_RUNNING, vs_mig_get_state(d->in.device));
		if (d->have_v1)
			EXPECT_EQ(VSLICE_V1_STATE_RUNNING, v1_state(d));
	}
	ksft_print_msg("close mid-stream: %lu of 16 pumps cut off (ENODEV), %lu ended first\n",
		       enodev, other);
	migrate_check(_metadata, &a, &b, false);
	migrate_check(_metadata, &a, &b, b.have_v1);
	expect_unpinned(_metadata, &a.in);
	expect_unpinned(_metadata, &b.in);
	vs_buf_free(&s);
	dev_destroy(&a);
	dev_destroy(&b);
	health_check(_metadata, &self->base, "close_mid_stream");
}

/* ---- VFIO_DEVICE_RESET from another thread ---- */

struct resetter {
	struct dev *d[2];
	bool stop;		/* __atomic */
	unsigned long resets;
	__u64 rng;
};

static void *reset_thread(void *arg)
{
	struct resetter *r = arg;

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		sleep_us(xrnd(&r->rng) % 3000);
		if (!vs_dev_reset(r->d[xrnd(&r->rng) % 2]->in.device))
			r->resets++;
	}
	return NULL;
}

struct mig_loop {
	struct dev *d;
	const struct vs_buf *src;	/* resume side: the stream */
	bool saver;
	bool v1;
	bool *stop;
	unsigned long sessions, complete, failed;
	__u64 rng;
};

static void *mig_loop_thread(void *arg)
{
	struct mig_loop *m = arg;
	struct vs_buf s = { 0 };
	int fd, ret;

	while (!__atomic_load_n(m->stop, __ATOMIC_ACQUIRE)) {
		m->sessions++;
		if (m->saver) {
			vram_pattern(&m->d->in, (xrnd(&m->rng) % 32) * VS_MIB,
				     64 * 1024, m->sessions);
			s.len = 0;
			ret = vs_mig_set_state(m->d->in.device, m->d->precopy ?
				      ST_PRE_COPY : ST_STOP_COPY, &fd);
			if (ret) {
				m->failed++;
				vs_mig_set_state(m->d->in.device, ST_RUNNING, NULL);
				continue;
			}
			ret = vs_buf_read_fd(fd, &s, NULL);
			if (ret == -ENOMSG) {
				ret = vs_mig_set_state(m->d->in.device,
						       ST_STOP_COPY, NULL);
				if (!ret)
					ret = vs_buf_read_fd(fd, &s, NULL);
			}
			close(fd);
			if (ret)
				m->failed++;
			else
				m->complete++;
			vs_mig_set_state(m->d->in.device, ST_RUNNING, NULL);
		} else {
			ret = load_all(m->d, m->v1, m->src->p, m->src->len,
				       xrnd(&m->rng), 16 * 1024);
			if (ret)
				m->failed++;
			else
				m->complete++;
			if (m->v1)
				v1_set_state(m->d, VSLICE_V1_STATE_RUNNING);
			else
				vs_mig_set_state(m->d->in.device, ST_RUNNING, NULL);
		}
	}
	vs_buf_free(&s);
	return NULL;
}

TEST_F_TIMEOUT(race, reset_during_save_and_resume, 120)
{
	struct dev a, b;
	struct vs_buf s = { 0 };
	bool stop = false;
	struct resetter r = { .d = { &a, &b }, .rng = 77 };
	struct mig_loop ms = { .d = &a, .saver = true, .stop = &stop,
			       .rng = 5 };
	struct mig_loop mr = { .d = &b, .src = &s, .stop = &stop, .rng = 6 };
	struct dfs_reader dr = { 0 };
	pthread_t t1, t2, t3, t4;
	int pass;

	ASSERT_EQ(0, dev_create(&a, VS_TYPE_128));
	ASSERT_EQ(0, dev_create(&b, VS_TYPE_128));
	ASSERT_EQ(0, vram_pattern(&a.in, 0, 1 << 20, 9));
	ASSERT_EQ(0, vs_mig_set_state(a.in.device, ST_STOP, NULL));
	ASSERT_EQ(0, save_fresh(&a, &s));
	ASSERT_EQ(0, vs_mig_set_state(a.in.device, ST_RUNNING, NULL));

	/* pass 0 resumes through the v2 fd, pass 1 through the v1 region */
	ASSERT_EQ(0, pthread_create(&t4, NULL, dfs_reader_thread, &dr));
	for (pass = 0; pass < 2; pass++) {
		mr.v1 = pass && b.have_v1;
		__atomic_store_n(&stop, false, __ATOMIC_RELEASE);
		ASSERT_EQ(0, pthread_create(&t1, NULL, mig_loop_thread, &ms));
		ASSERT_EQ(0, pthread_create(&t2, NULL, mig_loop_thread, &mr));
		ASSERT_EQ(0, pthread_create(&t3, NULL, reset_thread, &r));
		sleep_us(4000000);
		__atomic_store_n(&stop, true, __ATOMIC_RELEASE);
		pthread_join(t1, NULL);
		pthread_join(t2, NULL);
		r.stop = true;
		pthread_join(t3, NULL);
		r.stop = false;
		ksft_print_msg("%s resume: %lu resets so far; saves %lu (%lu complete, %lu cut)\n",
			       mr.v1 ? "v1" : "v2", r.resets, ms.sessions,
			       ms.complete, ms.failed);
		ksft_print_msg("%s resume: loads %lu (%lu complete, %lu cut)\n",
			       mr.v1 ? "v1" : "v2", mr.sessions, mr.complete,
			       mr.failed);
	}
	__atomic_store_n(&dr.stop, true, __ATOMIC_RELEASE);
	pthread_join(t4, NULL);
	ksft_print_msg("debugfs status read %lu times meanwhile\n", dr.reads);
	EXPECT_LT(0ul, r.resets);
	EXPECT_LT(0ul, ms.sessions);
	EXPECT_LT(0ul, mr.sessions);

	migrate_check(_metadata, &a, &b, false);
	migrate_check(_metadata, &a, &b, b.have_v1);
	vs_buf_free(&s);
	dev_destroy(&a);
	dev_destroy(&b);
	health_check(_metadata, &self->base, "reset_during_save_and_resume");
}

/* ---- VFIO_IOMMU_UNMAP_DMA under engine DMA and under a migration ---- */

struct unmapper {
	struct vs_inst *in;
	void *mem;		/* the process memory behind the mapping */
	__u64 iova;
	size_t size;
	bool stop;		/* __atomic */
	unsigned long unmaps, failed;
	__u64 rng;
};

/*
 * Unmap and map again a guest buffer the engine copies into (one thread
 * only: two concurrent unmaps that both find pinned pages can deadlock
 * inside type1 itself, see the top of mdev/engine.c).
 */
static void *unmap_thread(void *arg)
{
	struct unmapper *u = arg;

	while (!__atomic_load_n(&u->stop, __ATOMIC_ACQUIRE)) {
		sleep_us(xrnd(&u->rng) % 5000);
		if (vs_dma_unmap(u->in, u->iova, u->size, u->mem)) {
			u->failed++;
			continue;
		}
		u->unmaps++;
		u->mem = vs_dma_map(u->in, u->iova, u->size);
		if (!u->mem) {
			u->failed++;
			return NULL;
		}
	}
	return NULL;
}

#define UNMAP_IOVA	0x80000000ULL
#define UNMAP_SIZE	(4 * VS_MIB)

/* Copies out of VRAM into the buffer at UNMAP_IOVA, fills, fences. */
static int busy_dma(struct vs_inst *in, struct eng *e, __u32 n, __u64 *rng)
{
	struct vslice_cmd *c = calloc(n, sizeof(*c));
	__u32 i;
	int ret;

	if (!c)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		__u64 r = xrnd(rng);

		if (i % 2) {
			c[i].opcode = htole32(VSLICE_CMD_COPY_FROM_VRAM);
			c[i].vram_off = htole64(r % (2 * VS_MIB));
			c[i].iova = htole64(UNMAP_IOVA + (r >> 32) % VS_MIB);
			c[i].len = htole64(1 + r % (3 * VS_MIB));
		} else {
			c[i].opcode = htole32(VSLICE_CMD_FILL);
			c[i].pattern = htole32(r >> 7);
			c[i].vram_off = htole64((r % (2 * VS_MIB)) & ~3ull);
			c[i].len = htole64(64 * 1024);
		}
	}
	ret = eng_submit(in, e, c, n);
	free(c);
	return ret;
}

TEST_F_TIMEOUT(race, dma_unmap_under_engine_and_migration, 240)
{
	struct dev a, b;
	struct eng e = { 0 };
	struct unmapper u = { .iova = UNMAP_IOVA, .size = UNMAP_SIZE,
			      .rng = 13 };
	struct vs_buf s = { 0 }, sa = { 0 }, sb = { 0 };
	long halts = 0, h;
	__u64 rng = 99;
	pthread_t th;
	int round, fd, ret;

	ASSERT_EQ(0, dev_create(&a, VS_TYPE_128));
	ASSERT_EQ(0, dev_create(&b, VS_TYPE_128));
	ASSERT_EQ(0, eng_setup(&a.in, &e, SRC_DMA_IOVA, 1 << 20, 1));
	u.mem = vs_dma_map(&a.in, UNMAP_IOVA, UNMAP_SIZE);
	ASSERT_NE(NULL, u.mem);
	u.in = &a.in;

	/*
	 * 1. under engine DMA only: unmaps while a batch runs (a command
	 * that loses its buffer halts the engine with ERR_DMA: clear it and
	 * go on), then the ring drains once the buffer stays mapped.
	 */
	for (round = 0; round < 8; round++) {
		double t0 = now_s();

		ASSERT_EQ(0, busy_dma(&a.in, &e, 24, &rng));
		__atomic_store_n(&u.stop, false, __ATOMIC_RELEASE);
		ASSERT_EQ(0, pthread_create(&th, NULL, unmap_thread, &u));
		while (now_s() - t0 < 0.3) {
			if (!wait_quiet(&a.in, 10) &&
			    (vs_rd32(&a.in, VSLICE_REG_STATUS) &
			     VSLICE_STATUS_HALTED)) {
				EXPECT_EQ(VSLICE_ERR_DMA,
					  vs_rd32(&a.in, VSLICE_REG_ERROR));
				halts++;
				eng_rearm(&a.in);
			}
		}
		__atomic_store_n(&u.stop, true, __ATOMIC_RELEASE);
		pthread_join(th, NULL);
		ASSERT_NE(NULL, u.mem);
		h = drain_ring(&a.in);
		ASSERT_LE(0, h) TH_LOG("the ring did not drain (error %u)",
				       vs_rd32(&a.in, VSLICE_REG_ERROR));
		halts += h;
		expect_unpinned(_metadata, &a.in);
	}
	ksft_print_msg("engine: %lu unmaps (%lu failed) under 8 batches, %ld halts with ERR_DMA\n",
		       u.unmaps, u.failed, halts);
	EXPECT_LT(0ul, u.unmaps);
	EXPECT_EQ(0ul, u.failed);

	/* 2. under a migration: pre-copy with the engine busy, then stop-copy */
	for (round = 0; round < 3; round++) {
		__u32 next = a.precopy ? ST_PRE_COPY : ST_STOP_COPY;

		ASSERT_LE(0, drain_ring(&a.in));
		ASSERT_EQ(0, busy_dma(&a.in, &e, 48, &rng));
		__atomic_store_n(&u.stop, false, __ATOMIC_RELEASE);
		ASSERT_EQ(0, pthread_create(&th, NULL, unmap_thread, &u));
		s.len = 0;
		ASSERT_EQ(0, vs_mig_set_state(a.in.device, next, &fd));
		ASSERT_LE(0, fd);
		ret = vs_buf_read_fd(fd, &s, NULL);
		if (ret == -ENOMSG) {
			sleep_us(20000);
			ret = vs_buf_read_fd(fd, &s, NULL);
			EXPECT_EQ(-ENOMSG, ret);
			ASSERT_EQ(0, vs_mig_set_state(a.in.device, ST_STOP_COPY, NULL));
			ret = vs_buf_read_fd(fd, &s, NULL);
		}
		EXPECT_EQ(0, ret);
		close(fd);
		ASSERT_EQ(0, vs_mig_set_state(a.in.device, ST_STOP, NULL));
		/* the unmaps go on while A is stopped, pins or not */
		sleep_us(20000);
		__atomic_store_n(&u.stop, true, __ATOMIC_RELEASE);
		pthread_join(th, NULL);
		expect_unpinned(_metadata, &a.in);

		/* B gets exactly what A froze with */
		ASSERT_EQ(0, load_all(&b, round == 1 && b.have_v1, s.p, s.len,
				      round, 32 * 1024));
		ASSERT_EQ(0, save_fresh(&a, &sa));
		ASSERT_EQ(0, save_fresh(&b, &sb));
		EXPECT_EQ(sa.len, sb.len);
		EXPECT_EQ(0, memcmp(sa.p, sb.p,
				    sa.len < sb.len ? sa.len : sb.len))
			TH_LOG("round %d: B differs from A", round);
		ksft_print_msg("migration round %d: %zu-byte stream, %lu unmaps so far\n",
			       round, s.len, u.unmaps);
		ASSERT_EQ(0, vs_mig_set_state(a.in.device, ST_RUNNING, NULL));
		ASSERT_EQ(0, vs_mig_set_state(b.in.device, ST_RUNNING, NULL));
		ASSERT_LE(0, drain_ring(&a.in));
		ASSERT_EQ(0, wait_quiet(&b.in, 60000));
		/* B's ring is A's guest memory, which B does not have */
		expect_unpinned(_metadata, &b.in);
	}
	expect_unpinned(_metadata, &a.in);
	vs_buf_free(&s);
	vs_buf_free(&sa);
	vs_buf_free(&sb);
	munmap(e.mem, e.size);
	if (u.mem)
		munmap(u.mem, u.size);
	dev_destroy(&a);
	dev_destroy(&b);
	health_check(_metadata, &self->base, "dma_unmap");
}

/* ---- every instance migrating at once ---- */

#define NPAIRS		4	/* 8 x 128 MiB: the whole default budget */

struct pair_mig {
	struct dev a, b;
	struct eng e;
	int pipe[2];
	bool v1;		/* the restorer uses the v1 region */
	int save_err, load_err;
	size_t bytes;
	unsigned int passes, max_passes;
	int id;
};

static void *pair_saver(void *arg)
{
	struct pair_mig *p = arg;
	struct vs_inst *in = &p->a.in;
	char *b = malloc(1 << 20);
	int fd = -1, ret = 0;
	ssize_t n;
	bool stopcopy = !p->a.precopy;

	if (!b) {
		p->save_err = -ENOMEM;
		goto out;
	}
	ret = vs_mig_set_state(in->device, stopcopy ? ST_STOP_COPY : ST_PRE_COPY, &fd);
	if (ret)
		goto out;
	for (;;) {
		n = read(fd, b, 1 << 20);
		if (n > 0) {
			if (write(p->pipe[1], b, n) != n) {
				ret = -EPIPE;
				break;
			}
			p->bytes += n;
			continue;
		}
		if (n == 0)
			break;
		if (errno != ENOMSG) {
			ret = -errno;
			break;
		}
		/*
		 * A pass is over.  The "guest" keeps its ring busy (a few
		 * hundred more commands), a few more passes, then stop with
		 * the ring still full of work.
		 */
		eng_busy(in, &p->e, 256, (2 + p->id) * VS_MIB, VS_MIB,
			 p->bytes + p->passes);
		if (++p->passes < p->max_passes) {
			sleep_us(10000);
			continue;
		}
		ret = vs_mig_set_state(in->device, ST_STOP_COPY, NULL);
		if (ret)
			break;
	}
	if (!ret)
		ret = vs_mig_set_state(in->device, ST_STOP, NULL);
out:
	p->save_err = ret;
	if (fd >= 0)
		close(fd);
	close(p->pipe[1]);
	free(b);
	return NULL;
}

static void *pair_restorer(void *arg)
{
	struct pair_mig *p = arg;
	struct loader l = { .d = &p->b, .v1 = p->v1, .rng = 17,
			    .max_piece = 32 * 1024 };
	__u8 *b = malloc(256 * 1024);
	ssize_t n;
	int ret;

	if (!b) {
		p->load_err = -ENOMEM;
		return NULL;
	}
	ret = ld_begin(&l);
	while (!ret) {
		n = read(p->pipe[0], b, 256 * 1024);
		if (n <= 0) {
			ret = n < 0 ? -errno : 0;
			break;
		}
		ret = ld_feed(&l, b, n);
	}
	if (!ret)
		ret = ld_end(&l);
	if (l.fd >= 0)
		close(l.fd);
	/* drain, so the saver never blocks on a full pipe */
	while (read(p->pipe[0], b, 256 * 1024) > 0)
		;
	close(p->pipe[0]);
	p->load_err = ret;
	free(b);
	return NULL;
}

TEST_F_TIMEOUT(race, all_instances_migrate_at_once, 300)
{
	struct pair_mig *pm = calloc(NPAIRS, sizeof(*pm));
	pthread_t ts[NPAIRS], tr[NPAIRS], tdfs;
	struct dfs_reader dr = { 0 };
	struct vs_buf sa = { 0 }, sb = { 0 };
	size_t total = 0;
	int i, round;
	double t0;

	ASSERT_NE(NULL, pm);
	for (i = 0; i < NPAIRS; i++) {
		ASSERT_EQ(0, dev_create(&pm[i].a, VS_TYPE_128));
		ASSERT_EQ(0, dev_create(&pm[i].b, VS_TYPE_128));
		ASSERT_EQ(0, vram_pattern(&pm[i].a.in, 0, 1 << 20, 100 + i));
		ASSERT_EQ(0, vram_pattern(&pm[i].a.in, 64 * VS_MIB, 1 << 20,
					  200 + i));
		ASSERT_EQ(0, eng_setup(&pm[i].a.in, &pm[i].e, SRC_DMA_IOVA,
				       1 << 20, i));
	}
	/* the budget is full */
	EXPECT_EQ(0, vs_type_attr_long(VS_TYPE_128, "available_instances"));
	ASSERT_EQ(0, pthread_create(&tdfs, NULL, dfs_reader_thread, &dr));

	for (round = 0; round < 3; round++) {
		/* a full ring for every source, then all migrate at once */
		for (i = 0; i < NPAIRS; i++) {
			struct pair_mig *p = &pm[i];

			p->id = i;
			p->v1 = (i + round) % 2 && p->b.have_v1;
			p->bytes = 0;
			p->passes = 0;
			p->max_passes = 1 + round;
			ASSERT_EQ(0, pipe(p->pipe));
			ASSERT_EQ(0, eng_busy(&p->a.in, &p->e, 512,
					      (2 + i) * VS_MIB, VS_MIB,
					      300 + 10 * round + i));
		}
		t0 = now_s();
		for (i = 0; i < NPAIRS; i++) {
			ASSERT_EQ(0, pthread_create(&tr[i], NULL, pair_restorer,
						    &pm[i]));
			ASSERT_EQ(0, pthread_create(&ts[i], NULL, pair_saver,
						    &pm[i]));
		}
		for (i = 0; i < NPAIRS; i++) {
			pthread_join(ts[i], NULL);
			pthread_join(tr[i], NULL);
		}
		ksft_print_msg("round %d: %d migrations at once (8 instances, 8 threads): %.1f s\n",
			       round, NPAIRS, now_s() - t0);

		for (i = 0; i < NPAIRS; i++) {
			struct pair_mig *p = &pm[i];
			__u32 head = vs_rd32(&p->a.in, VSLICE_REG_RING_HEAD);
			__u32 tail = vs_rd32(&p->a.in, VSLICE_REG_RING_TAIL);

			EXPECT_EQ(0, p->save_err) TH_LOG("pair %d save", i);
			EXPECT_EQ(0, p->load_err) TH_LOG("pair %d load", i);
			EXPECT_EQ(ST_STOP, vs_mig_get_state(p->a.in.device));
			EXPECT_EQ(ST_STOP, vs_mig_get_state(p->b.in.device));
			/* B holds exactly what A stopped with */
			ASSERT_EQ(0, save_fresh(&p->a, &sa));
			ASSERT_EQ(0, save_fresh(&p->b, &sb));
			EXPECT_EQ(sa.len, sb.len);
			EXPECT_EQ(0, memcmp(sa.p, sb.p, sa.len < sb.len ?
					    sa.len : sb.len))
				TH_LOG("round %d pair %d: B differs from A",
				       round, i);
			total += p->bytes;
			ksft_print_msg("  pair %d (%s restore): %zu bytes, %u pre-copy passes\n",
				       i, p->v1 ? "v1" : "v2", p->bytes,
				       p->passes);
			ksft_print_msg("  pair %d: stopped, %u commands pending; state %zu bytes\n",
				       i, (tail - head) % RING_ENTRIES, sa.len);
			/* both run on: A its ring, B A's ring without A's memory */
			EXPECT_EQ(0, vs_mig_set_state(p->a.in.device, ST_RUNNING, NULL));
			EXPECT_EQ(0, vs_mig_set_state(p->b.in.device, ST_RUNNING, NULL));
		}
		for (i = 0; i < NPAIRS; i++) {
			EXPECT_EQ(0, wait_quiet(&pm[i].a.in, 120000));
			EXPECT_EQ(0, wait_quiet(&pm[i].b.in, 120000));
			expect_unpinned(_metadata, &pm[i].a.in);
			expect_unpinned(_metadata, &pm[i].b.in);
		}
	}
	__atomic_store_n(&dr.stop, true, __ATOMIC_RELEASE);
	pthread_join(tdfs, NULL);
	ksft_print_msg("debugfs status read %lu times meanwhile\n", dr.reads);
	EXPECT_GE(0, pinned_total());
	for (i = 0; i < NPAIRS; i++) {
		munmap(pm[i].e.mem, pm[i].e.size);
		dev_destroy(&pm[i].a);
		dev_destroy(&pm[i].b);
	}
	vs_buf_free(&sa);
	vs_buf_free(&sb);
	free(pm);
	ksft_print_msg("%zu bytes streamed in total\n", total);
	health_check(_metadata, &self->base, "all_instances_migrate_at_once");
}

/* ---- 100 racing creates and removes ---- */

#define STORM_THREADS	4
#define STORM_EACH	25	/* 4 x 25 = 100 create + remove */

struct storm {
	char live[STORM_THREADS][40];	/* published UUIDs, under lock */
	pthread_mutex_t lock;
	bool stop;			/* __atomic */
	unsigned long created, refused, removed_own, removed_other,
		      opened, bad;
	__u64 rng;
};

struct storm_arg {
	struct storm *s;
	int id;
};

static void *storm_worker(void *arg)
{
	struct storm_arg *sa = arg;
	struct storm *s = sa->s;
	__u64 rng = 1000 + sa->id;
	int i, ret;

	for (i = 0; i < STORM_EACH; i++) {
		struct vs_inst in;
		const char *type = (xrnd(&rng) % 8) ? VS_TYPE_128 :
						       VS_TYPE_256;

		ret = vs_create(&in, type);
		if (ret) {
			/* the budget is shared: refusals are fine */
			__atomic_add_fetch(ret == -ENOSPC || ret == -EUSERS ||
					   ret == -EDQUOT ? &s->refused :
					   &s->bad, 1, __ATOMIC_RELAXED);
			continue;
		}
		__atomic_add_fetch(&s->created, 1, __ATOMIC_RELAXED);
		pthread_mutex_lock(&s->lock);
		snprintf(s->live[sa->id], 40, "%s", in.uuid);
		pthread_mutex_unlock(&s->lock);
		if (i % 3 == 0 && !vs_open(&in)) {
			/* the chaos thread may be removing it meanwhile */
			if (vs_rd32(&in, VSLICE_REG_ID) == VSLICE_ID_MAGIC)
				__atomic_add_fetch(&s->opened, 1,
						   __ATOMIC_RELAXED);
			vs_mig_set_state(in.device, ST_STOP_COPY, NULL);
			sleep_us(xrnd(&rng) % 2000);
			vs_close(&in);
		}
		pthread_mutex_lock(&s->lock);
		s->live[sa->id][0] = 0;
		pthread_mutex_unlock(&s->lock);
		ret = vs_remove_uuid(in.uuid);
		if (!ret)
			__atomic_add_fetch(&s->removed_own, 1,
					   __ATOMIC_RELAXED);
		else if (ret != -ENOENT && ret != -ENODEV)
			__atomic_add_fetch(&s->bad, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* Removes whichever instance a worker has just created. */
static void *storm_chaos(void *arg)
{
	struct storm *s = arg;
	char uuid[40];
	int ret;

	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		pthread_mutex_lock(&s->lock);
		snprintf(uuid, sizeof(uuid), "%s",
			 s->live[xrnd(&s->rng) % STORM_THREADS]);
		pthread_mutex_unlock(&s->lock);
		if (!uuid[0]) {
			sleep_us(200);
			continue;
		}
		ret = vs_remove_uuid(uuid);
		if (!ret)
			__atomic_add_fetch(&s->removed_other, 1,
					   __ATOMIC_RELAXED);
		else if (ret != -ENOENT && ret != -ENODEV)
			__atomic_add_fetch(&s->bad, 1, __ATOMIC_RELAXED);
		sleep_us(xrnd(&s->rng) % 3000);
	}
	return NULL;
}

TEST_F_TIMEOUT(race, create_remove_storm, 240)
{
	struct storm s = { .rng = 3 };
	struct storm_arg args[STORM_THREADS];
	pthread_t tw[STORM_THREADS], tc;
	double t0 = now_s();
	int i;

	pthread_mutex_init(&s.lock, NULL);
	ASSERT_EQ(0, pthread_create(&tc, NULL, storm_chaos, &s));
	for (i = 0; i < STORM_THREADS; i++) {
		args[i].s = &s;
		args[i].id = i;
		ASSERT_EQ(0, pthread_create(&tw[i], NULL, storm_worker,
					    &args[i]));
	}
	for (i = 0; i < STORM_THREADS; i++)
		pthread_join(tw[i], NULL);
	__atomic_store_n(&s.stop, true, __ATOMIC_RELEASE);
	pthread_join(tc, NULL);
	ksft_print_msg("storm: %d attempts in %.1f s: %lu created (%lu refused by the budget)\n",
		       STORM_THREADS * STORM_EACH, now_s() - t0, s.created,
		       s.refused);
	ksft_print_msg("storm: %lu removed by the creator, %lu by the racer, %lu opened\n",
		       s.removed_own, s.removed_other, s.opened);
	EXPECT_EQ(0ul, s.bad);
	EXPECT_EQ((unsigned long)STORM_THREADS * STORM_EACH,
		  s.created + s.refused + s.bad);
	/*
	 * A remove that loses the race to another one may still return
	 * success (mdev's remove_store when device_remove_file_self() fails),
	 * so count the removals as at least one per instance.
	 */
	EXPECT_LE(s.created, s.removed_own + s.removed_other);
	EXPECT_EQ(0, vs_count_instances());
	pthread_mutex_destroy(&s.lock);
	health_check(_metadata, &self->base, "create_remove_storm");
}

TEST_HARNESS_MAIN
