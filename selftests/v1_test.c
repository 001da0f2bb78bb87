// SPDX-License-Identifier: GPL-2.0
/*
 * vslice v1 migration region, driven exactly as QEMU 7.2 drives it (see
 * the contract in qemu-clients.md): region discovery by looping the
 * indexes for type 3/1, read-modify-write of device_state with QEMU's
 * mask/value pairs, the save iteration (pending_bytes, data_offset,
 * data_size, data) and the load record (data_offset, data, data_size),
 * through the sparse mmap or through QEMU's slow path of naturally aligned
 * 8/4/2/1-byte accesses.  Also: bad offsets, widths and values with their
 * exact errnos, cancel, injected failures, a corrupted stream, and
 * cross-protocol migration v1 <-> v2 with random write splits.
 *
 * Instances are saved from A and restored into B; VRAM is compared through
 * the BAR2 region.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "vslice_lib.h"

#define PG		4096ULL

#define F_STATE		offsetof(struct vslice_v1_mig_info, device_state)
#define F_RESERVED	offsetof(struct vslice_v1_mig_info, reserved)
#define F_PENDING	offsetof(struct vslice_v1_mig_info, pending_bytes)
#define F_DATA_OFFSET	offsetof(struct vslice_v1_mig_info, data_offset)
#define F_DATA_SIZE	offsetof(struct vslice_v1_mig_info, data_size)

#define V1_RUNNING	VSLICE_V1_STATE_RUNNING
#define V1_SAVING	VSLICE_V1_STATE_SAVING
#define V1_RESUMING	VSLICE_V1_STATE_RESUMING
#define V1_MASK		VSLICE_V1_STATE_MASK
#define V1_ERROR	VSLICE_V1_STATE_ERROR

static inline __u64 min64(__u64 a, __u64 b)
{
	return a < b ? a : b;
}

/* ------------------------------------------------------------------ */
/* the region as QEMU 7.2 sets it up                                   */
/* ------------------------------------------------------------------ */

/**
 * struct v1dev - one instance and its v1 region
 * @in:		the instance
 * @index:	region index
 * @off:	file offset of the region
 * @size:	region size
 * @flags:	region flags
 * @argsz1:	argsz the kernel asked for after QEMU's first 32-byte query
 * @mmap_off:	the sparse mmap area (region-relative), size 0 if none
 * @mmap_size:	its size
 * @map:	QEMU's mapping of the area, or NULL on the slow path
 * @vram_size:	BAR2 size
 */
struct v1dev {
	struct vs_inst in;
	unsigned int index;
	__u64 off;
	__u64 size;
	__u32 flags;
	__u32 argsz1;
	__u64 mmap_off;
	__u64 mmap_size;
	void *map;
	__u64 vram_size;
};

/*
 * vfio_get_region_info(): start with argsz 32, grow to what the kernel
 * asks for.  Returns the info (caller frees) or NULL with errno set.
 */
static struct vfio_region_info *qemu_region_info(int device,
						 unsigned int index,
						 __u32 *first_argsz)
{
	size_t argsz = sizeof(struct vfio_region_info);
	struct vfio_region_info *info;

	info = calloc(1, argsz);
	for (;;) {
		if (!info)
			return NULL;
		info->argsz = argsz;
		info->index = index;
		if (ioctl(device, VFIO_DEVICE_GET_REGION_INFO, info)) {
			free(info);
			return NULL;
		}
		if (first_argsz && argsz == sizeof(*info))
			*first_argsz = info->argsz;
		if (info->argsz <= argsz)
			return info;
		argsz = info->argsz;
		free(info);
		info = calloc(1, argsz);
	}
}

/*
 * vfio_get_dev_region_info(): loop 0..num_regions-1 for a TYPE cap 3/1,
 * then vfio_region_setup() with its sparse mmap areas.
 */
static int qemu_find_v1(struct v1dev *d)
{
	struct vfio_device_info dinfo = { .argsz = sizeof(dinfo) };
	struct vfio_region_info_cap_sparse_mmap *sparse;
	struct vfio_region_info_cap_type *type;
	struct vfio_region_info *info;
	unsigned int i;

	if (ioctl(d->in.device, VFIO_DEVICE_GET_INFO, &dinfo))
		return -errno;
	for (i = 0; i < dinfo.num_regions; i++) {
		__u32 argsz1 = 0;

		info = qemu_region_info(d->in.device, i, &argsz1);
		if (!info)
			continue;
		type = vs_region_cap(info, VFIO_REGION_INFO_CAP_TYPE);
		if (!type || type->type != VSLICE_V1_REGION_TYPE ||
		    type->subtype != VSLICE_V1_REGION_SUBTYPE) {
			free(info);
			continue;
		}
		d->index = i;
		d->off = info->offset;
		d->size = info->size;
		d->flags = info->flags;
		d->argsz1 = argsz1;
		sparse = vs_region_cap(info, VFIO_REGION_INFO_CAP_SPARSE_MMAP);
		if (sparse && sparse->nr_areas == 1) {
			d->mmap_off = sparse->areas[0].offset;
			d->mmap_size = sparse->areas[0].size;
		}
		free(info);
		return 0;
	}
	return -ENOENT;
}

/* vfio_region_mmap() of the sparse area. */
static int qemu_mmap(struct v1dev *d)
{
	void *p;

	p = mmap(NULL, d->mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 d->in.device, d->off + d->mmap_off);
	if (p == MAP_FAILED)
		return -errno;
	d->map = p;
	return 0;
}

static void v1_unmap(struct v1dev *d)
{
	if (d->map)
		munmap(d->map, d->mmap_size);
	d->map = NULL;
}

static int v1_open(struct v1dev *d, bool use_mmap)
{
	struct vfio_region_info bar2;
	int ret;

	ret = vs_open(&d->in);
	if (ret)
		return ret;
	ret = qemu_find_v1(d);
	if (ret)
		return ret;
	ret = vs_region_info(d->in.device, VFIO_PCI_BAR2_REGION_INDEX, &bar2,
			     sizeof(bar2));
	if (ret)
		return ret;
	d->vram_size = bar2.size;
	return use_mmap ? qemu_mmap(d) : 0;
}

static void v1_close(struct v1dev *d)
{
	v1_unmap(d);
	vs_close(&d->in);
}

static int v1_create(struct v1dev *d, bool use_mmap)
{
	int ret;

	memset(d, 0, sizeof(*d));
	ret = vs_create(&d->in, VS_TYPE_128);
	if (ret)
		return ret;
	return v1_open(d, use_mmap);
}

static void v1_destroy(struct v1dev *d)
{
	v1_unmap(d);
	if (d->in.uuid[0])
		vs_remove(&d->in);
}

/* ------------------------------------------------------------------ */
/* raw header access: 0 or -errno                                      */
/* ------------------------------------------------------------------ */

static int v1_pread(struct v1dev *d, __u64 pos, void *buf, size_t len)
{
	ssize_t n = pread(d->in.device, buf, len, d->off + pos);

	if (n < 0)
		return -errno;
	return n == (ssize_t)len ? 0 : -EIO;
}

static int v1_pwrite(struct v1dev *d, __u64 pos, const void *buf, size_t len)
{
	ssize_t n = pwrite(d->in.device, buf, len, d->off + pos);

	if (n < 0)
		return -errno;
	return n == (ssize_t)len ? 0 : -EIO;
}

static int rd32(struct v1dev *d, __u64 pos, __u32 *v)
{
	return v1_pread(d, pos, v, sizeof(*v));
}

static int rd64(struct v1dev *d, __u64 pos, __u64 *v)
{
	return v1_pread(d, pos, v, sizeof(*v));
}

static int wr32(struct v1dev *d, __u64 pos, __u32 v)
{
	return v1_pwrite(d, pos, &v, sizeof(v));
}

static int wr64(struct v1dev *d, __u64 pos, __u64 v)
{
	return v1_pwrite(d, pos, &v, sizeof(v));
}

/* Asserting readers for the common case. */
static __u32 state_of(struct __test_metadata *_metadata, struct v1dev *d)
{
	__u32 v = ~0u;

	ASSERT_EQ(0, rd32(d, F_STATE, &v));
	return v;
}

static __u64 pending_of(struct __test_metadata *_metadata, struct v1dev *d)
{
	__u64 v = ~0ull;

	ASSERT_EQ(0, rd64(d, F_PENDING, &v));
	return v;
}

/*
 * vfio_mig_rw(): QEMU's slow path, naturally aligned 8/4/2/1-byte
 * accesses.  0 or -errno.
 */
static int qemu_mig_rw(struct v1dev *d, void *buf, size_t count, __u64 pos,
		       bool write)
{
	__u8 *p = buf;
	int ret;

	while (count) {
		size_t n;

		if (count >= 8 && !(pos % 8))
			n = 8;
		else if (count >= 4 && !(pos % 4))
			n = 4;
		else if (count >= 2 && !(pos % 2))
			n = 2;
		else
			n = 1;
		ret = write ? v1_pwrite(d, pos, p, n) : v1_pread(d, pos, p, n);
		if (ret)
			return ret;
		count -= n;
		pos += n;
		p += n;
	}
	return 0;
}

/* The mask/value pairs QEMU 7.2 uses (see the table in qemu-clients.md). */
struct qemu_rmw {
	__u32 mask;
	__u32 value;
};

static const struct qemu_rmw q_vm_start = { ~V1_MASK, V1_RUNNING };
static const struct qemu_rmw q_vm_stop = { ~V1_RUNNING, 0 };
static const struct qemu_rmw q_vm_stop_savevm = { ~V1_RUNNING, V1_SAVING };
static const struct qemu_rmw q_save_setup = { V1_MASK, V1_SAVING };
static const struct qemu_rmw q_switchover = { ~V1_RUNNING, 0 };
static const struct qemu_rmw q_complete_1 = { ~V1_RUNNING, V1_SAVING };
static const struct qemu_rmw q_complete_2 = { ~V1_SAVING, 0 };
static const struct qemu_rmw q_load_setup = { ~V1_MASK, V1_RESUMING };
static const struct qemu_rmw q_mig_failed = {
	~(V1_SAVING | V1_RESUMING), V1_RUNNING
};

/*
 * vfio_migration_set_state(): read, (state & mask) | value, write; on a
 * failed write re-read, and report whether QEMU would hw_error() (the
 * re-read fails or shows 110b).
 */
static int qemu_set_state(struct v1dev *d, struct qemu_rmw rmw,
			  bool *hw_error)
{
	__u32 st;
	int ret;

	if (hw_error)
		*hw_error = false;
	ret = rd32(d, F_STATE, &st);
	if (ret)
		return ret;
	st = (st & rmw.mask) | rmw.value;
	/* VFIO_DEVICE_STATE_VALID() */
	if ((st & V1_RESUMING) && (st & V1_MASK) != V1_RESUMING)
		return -EINVAL;
	ret = wr32(d, F_STATE, st);
	if (ret) {
		__u32 again;

		if (hw_error)
			*hw_error = rd32(d, F_STATE, &again) ||
				    (again & V1_MASK) == V1_ERROR;
	}
	return ret;
}

/* ------------------------------------------------------------------ */
/* the migration stream as QEMU 7.2 carries it: records                */
/* ------------------------------------------------------------------ */

struct stream {
	__u8 *buf;
	size_t len;
	size_t cap;
	size_t *rec;
	size_t nrec;
	size_t rec_cap;
};

static void stream_put(struct stream *s, const void *p, size_t n)
{
	if (s->len + n > s->cap) {
		s->cap = (s->len + n) * 2;
		s->buf = realloc(s->buf, s->cap);
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
}

static void stream_record(struct stream *s, size_t n)
{
	if (s->nrec == s->rec_cap) {
		s->rec_cap = s->rec_cap ? s->rec_cap * 2 : 64;
		s->rec = realloc(s->rec, s->rec_cap * sizeof(*s->rec));
	}
	s->rec[s->nrec++] = n;
}

static void stream_free(struct stream *s)
{
	free(s->buf);
	free(s->rec);
	memset(s, 0, sizeof(*s));
}

/* get_data_section_size() for our single sparse area. */
static void *qemu_section(struct v1dev *d, __u64 off, __u64 size, __u64 *sec)
{
	if (!d->map) {
		*sec = min64(size, d->size - off);
		return NULL;
	}
	if (off >= d->mmap_off && off < d->mmap_off + d->mmap_size) {
		*sec = min64(size, d->mmap_off + d->mmap_size - off);
		return (__u8 *)d->map + (off - d->mmap_off);
	}
	*sec = off < d->mmap_off ? min64(size, d->mmap_off - off) : size;
	return NULL;
}

/*
 * vfio_save_buffer(): R data_offset, R data_size, then the bytes.  Appends
 * one record (also when empty) and returns data_size, or -errno.
 */
static long long qemu_save_buffer(struct __test_metadata *_metadata,
				  struct v1dev *d, struct stream *s)
{
	__u64 data_offset = 0, data_size = 0, sz, off;
	void *tmp;
	int ret;

	ret = rd64(d, F_DATA_OFFSET, &data_offset);
	if (ret)
		return ret;
	ret = rd64(d, F_DATA_SIZE, &data_size);
	if (ret)
		return ret;
	/* QEMU 7.2 loops forever otherwise */
	ASSERT_LE(data_offset + data_size, d->size);
	ASSERT_NE(0ULL, data_offset);

	stream_record(s, data_size);
	for (sz = data_size, off = data_offset; sz; ) {
		__u64 sec;
		void *p = qemu_section(d, off, sz, &sec);

		ASSERT_NE(0ULL, sec);
		if (p) {
			stream_put(s, p, sec);
		} else {
			tmp = malloc(sec);
			ASSERT_NE(NULL, tmp);
			ret = qemu_mig_rw(d, tmp, sec, off, false);
			if (!ret)
				stream_put(s, tmp, sec);
			free(tmp);
			if (ret)
				return ret;
		}
		sz -= sec;
		off += sec;
	}
	return data_size;
}

/*
 * One pass of QEMU's migration thread in pre-copy: save_live_pending
 * (R pending_bytes), then vfio_save_iterate (R pending again when the
 * cached value is 0; a DATA record otherwise).  Returns the pending value
 * it acted on; 0 means "no data: go to complete".
 */
static __u64 qemu_precopy_pass(struct __test_metadata *_metadata,
			       struct v1dev *d, struct stream *s)
{
	__u64 pending = pending_of(_metadata, d);
	long long n;

	if (!pending)
		pending = pending_of(_metadata, d);
	if (!pending)
		return 0;
	n = qemu_save_buffer(_metadata, d, s);
	ASSERT_LE(0, n);
	return pending;
}

/*
 * vfio_save_complete_precopy(): ~1/2 (unchanged), loop while pending,
 * END_OF_STATE, ~2/0.  Returns 0 or -errno.
 */
static int qemu_complete(struct __test_metadata *_metadata, struct v1dev *d,
			 struct stream *s)
{
	bool hw_error;
	long long n;
	__u64 pending;
	int ret;

	ret = qemu_set_state(d, q_complete_1, &hw_error);
	EXPECT_FALSE(hw_error);
	if (ret)
		return ret;
	pending = pending_of(_metadata, d);
	while (pending > 0) {
		n = qemu_save_buffer(_metadata, d, s);
		if (n < 0)
			return n;
		if (!n)
			break;
		pending = pending_of(_metadata, d);
	}
	EXPECT_EQ(0ULL, pending);
	ret = qemu_set_state(d, q_complete_2, &hw_error);
	EXPECT_FALSE(hw_error);
	return ret;
}

/*
 * vfio_load_buffer(): per record R data_offset, the bytes, W data_size;
 * split when data_offset + size exceeds the region.  Returns 0 or the
 * errno of the first failing access; *bad_rec is the failing record.
 */
static int qemu_load(struct __test_metadata *_metadata, struct v1dev *d,
		     const struct stream *s, size_t *bad_rec)
{
	size_t r, pos = 0;
	int ret;

	for (r = 0; r < s->nrec; r++) {
		__u64 data_size = s->rec[r];

		if (bad_rec)
			*bad_rec = r;
		if (!data_size)
			continue;	/* QEMU skips empty DATA records */
		do {
			__u64 data_offset = 0, size, report, sec;

			ret = rd64(d, F_DATA_OFFSET, &data_offset);
			if (ret)
				return ret;
			ASSERT_LT(data_offset, d->size);
			if (data_offset + data_size > d->size) {
				size = d->size - data_offset;
				data_size -= size;
			} else {
				size = data_size;
				data_size = 0;
			}
			report = size;
			while (size) {
				void *p = qemu_section(d, data_offset, size,
						       &sec);

				ASSERT_NE(0ULL, sec);
				if (p) {
					memcpy(p, s->buf + pos, sec);
				} else {
					ret = qemu_mig_rw(d, s->buf + pos, sec,
							  data_offset, true);
					if (ret)
						return ret;
				}
				pos += sec;
				size -= sec;
				data_offset += sec;
			}
			ret = wr64(d, F_DATA_SIZE, report);
			if (ret)
				return ret;
		} while (data_size);
	}
	ASSERT_EQ(s->len, pos);
	return 0;
}

/* ------------------------------------------------------------------ */
/* VRAM through BAR2                                                   */
/* ------------------------------------------------------------------ */

static void page_pattern(__u8 *buf, __u64 page, __u32 seed)
{
	__u32 x = (__u32)page * 2654435761u ^ seed, i;

	for (i = 0; i < PG; i += 4) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		memcpy(buf + i, &x, 4);
	}
}

static void vram_write_page(struct __test_metadata *_metadata,
			    struct v1dev *d, __u64 page, __u32 seed)
{
	__u8 buf[PG];

	page_pattern(buf, page, seed);
	ASSERT_EQ((ssize_t)PG, vs_region_rw(&d->in, VFIO_PCI_BAR2_REGION_INDEX,
					    page * PG, buf, PG, true));
}

/* A contiguous MiB, scattered pages up to the end, a partial page. */
static unsigned int vram_populate(struct __test_metadata *_metadata,
				  struct v1dev *d, __u32 seed)
{
	__u64 npages = d->vram_size / PG, p;
	unsigned int n = 0;
	__u32 tail = 0x5a5a5a5a;

	for (p = 0; p < 256; p++, n++)
		vram_write_page(_metadata, d, p, seed);
	for (p = 300; p < npages; p += 97, n++)
		vram_write_page(_metadata, d, p, seed);
	/* 4 bytes in an otherwise unwritten page */
	ASSERT_EQ(4, vs_region_rw(&d->in, VFIO_PCI_BAR2_REGION_INDEX,
				  290 * PG + 12, &tail, 4, true));
	return n + 1;
}

/* Byte-compare all of VRAM (every page, written or not). */
static void vram_compare(struct __test_metadata *_metadata, struct v1dev *a,
			 struct v1dev *b)
{
	const size_t chunk = VS_MIB;
	__u8 *x = malloc(chunk), *y = malloc(chunk);
	__u64 off;

	ASSERT_NE(NULL, x);
	ASSERT_NE(NULL, y);
	ASSERT_EQ(a->vram_size, b->vram_size);
	for (off = 0; off < a->vram_size; off += chunk) {
		ASSERT_EQ((ssize_t)chunk,
			  vs_region_rw(&a->in, VFIO_PCI_BAR2_REGION_INDEX, off,
				       x, chunk, false));
		ASSERT_EQ((ssize_t)chunk,
			  vs_region_rw(&b->in, VFIO_PCI_BAR2_REGION_INDEX, off,
				       y, chunk, false));
		if (memcmp(x, y, chunk)) {
			size_t i = 0;

			while (x[i] == y[i])
				i++;
			TH_LOG("VRAM differs at 0x%llx: %02x != %02x",
			       (unsigned long long)(off + i), x[i], y[i]);
			ASSERT_EQ(0, 1);
		}
	}
	free(x);
	free(y);
}

static void scratch_set(struct v1dev *d, __u32 seed)
{
	unsigned int i;

	for (i = 0; i < VSLICE_NR_SCRATCH; i++)
		vs_wr32(&d->in, VSLICE_REG_SCRATCH(i), seed + i * 0x1111);
}

static void scratch_check(struct __test_metadata *_metadata, struct v1dev *d,
			  __u32 seed)
{
	unsigned int i;

	for (i = 0; i < VSLICE_NR_SCRATCH; i++)
		EXPECT_EQ(seed + i * 0x1111,
			  vs_rd32(&d->in, VSLICE_REG_SCRATCH(i)));
}

/* ------------------------------------------------------------------ */
/* v2, for the cross-protocol tests                                    */
/* ------------------------------------------------------------------ */

static bool v2_supported(struct v1dev *d)
{
	struct vfio_device_feature_migration mig = { 0 };

	return !vs_feature(d->in.device, VFIO_DEVICE_FEATURE_GET |
			   VFIO_DEVICE_FEATURE_MIGRATION, &mig, sizeof(mig)) &&
	       (mig.flags & VFIO_MIGRATION_STOP_COPY);
}

/* SET MIG_DEVICE_STATE; *fd gets the data fd when the arc opens one. */
static int v2_set(struct v1dev *d, __u32 state, int *fd)
{
	struct vfio_device_feature_mig_state m = {
		.device_state = state,
		.data_fd = -1,
	};
	int ret;

	ret = vs_feature(d->in.device, VFIO_DEVICE_FEATURE_SET |
			 VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &m, sizeof(m));
	if (fd)
		*fd = ret ? -1 : m.data_fd;
	else if (!ret && m.data_fd >= 0)
		close(m.data_fd);
	return ret;
}

/* xorshift64: reproducible random splits */
static __u64 rnd(__u64 *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* ------------------------------------------------------------------ */
/* fault injection                                                     */
/* ------------------------------------------------------------------ */

static int fail_arc(int state)
{
	return vs_fault_set("fail_arc", state);
}

/* ------------------------------------------------------------------ */
/* fixtures                                                            */
/* ------------------------------------------------------------------ */

FIXTURE(v1) {
	struct v1dev a;
	struct v1dev b;
};

FIXTURE_VARIANT(v1) {
	bool use_mmap;
};

FIXTURE_VARIANT_ADD(v1, mmap) {
	.use_mmap = true,
};

FIXTURE_VARIANT_ADD(v1, slow_path) {
	.use_mmap = false,
};

FIXTURE_SETUP(v1)
{
	if (access(VS_PARENT_DIR, F_OK))
		SKIP(return, "vslice is not loaded (%s missing)", VS_PARENT_DIR);
	vs_remove_all();
	ASSERT_EQ(0, v1_create(&self->a, variant->use_mmap));
	ASSERT_EQ(0, v1_create(&self->b, variant->use_mmap));
}

FIXTURE_TEARDOWN(v1)
{
	if (vs_fault_have("fail_arc"))
		fail_arc(-1);
	v1_destroy(&self->a);
	v1_destroy(&self->b);
	vs_remove_all();
}

/* ------------------------------------------------------------------ */
/* discovery and layout                                                */
/* ------------------------------------------------------------------ */

TEST_F(v1, region_found_like_qemu)
{
	struct v1dev *d = &self->a;
	struct vfio_region_info *info;

	EXPECT_EQ((unsigned int)VFIO_PCI_NUM_REGIONS, d->index);
	EXPECT_EQ((__u64)d->index << 40, d->off);
	EXPECT_EQ((__u32)VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE |
		  VFIO_REGION_INFO_FLAG_MMAP | VFIO_REGION_INFO_FLAG_CAPS,
		  d->flags);
	/* 32 first, then the size the kernel asked for */
	EXPECT_GT(d->argsz1, sizeof(struct vfio_region_info));
	EXPECT_GT(d->size, 0ULL);

	/* The first 32-byte query carries no caps but says so. */
	info = calloc(1, sizeof(*info));
	ASSERT_NE(NULL, info);
	ASSERT_EQ(0, vs_region_info(d->in.device, d->index, info,
				    sizeof(*info)));
	EXPECT_EQ(d->argsz1, info->argsz);
	EXPECT_EQ(0ULL, info->cap_offset);
	EXPECT_TRUE(!!(info->flags & VFIO_REGION_INFO_FLAG_CAPS));
	free(info);
}

TEST_F(v1, sparse_mmap_covers_only_the_data_section)
{
	struct v1dev *d = &self->a;
	__u64 data_offset = 0;

	ASSERT_NE(0ULL, d->mmap_size);
	EXPECT_EQ(0ULL, d->mmap_off % PG);
	EXPECT_EQ(0ULL, d->mmap_size % PG);
	/* the 32-byte header stays trapped */
	EXPECT_GE(d->mmap_off, sizeof(struct vslice_v1_mig_info));
	EXPECT_LE(d->mmap_off + d->mmap_size, d->size);
	ASSERT_EQ(0, rd64(d, F_DATA_OFFSET, &data_offset));
	EXPECT_EQ(d->mmap_off, data_offset);
	/* whole region = header page + data section */
	EXPECT_EQ(d->size, d->mmap_off + d->mmap_size);
	/* big enough to be worth mapping */
	EXPECT_GE(d->mmap_size, VS_MIB);
}

TEST_F(v1, header_reads_at_rest)
{
	struct v1dev *d = &self->a;
	__u64 v64 = ~0ull;
	__u32 v32 = ~0u;

	EXPECT_EQ(V1_RUNNING, state_of(_metadata, d));
	ASSERT_EQ(0, rd32(d, F_RESERVED, &v32));
	EXPECT_EQ(0ULL, v32);
	EXPECT_EQ(0ULL, pending_of(_metadata, d));
	ASSERT_EQ(0, rd64(d, F_DATA_SIZE, &v64));
	EXPECT_EQ(0ULL, v64);
	ASSERT_EQ(0, rd64(d, F_DATA_OFFSET, &v64));
	EXPECT_EQ(d->mmap_off, v64);
}

TEST_F(v1, bad_header_accesses_are_einval)
{
	static const struct {
		__u64 pos;
		size_t len;
	} bad[] = {
		{ F_STATE, 8 }, { F_STATE, 2 }, { F_STATE, 1 }, { 1, 4 },
		{ 2, 2 }, { F_RESERVED, 8 }, { F_PENDING, 4 },
		{ F_PENDING + 4, 4 }, { F_PENDING, 16 }, { F_DATA_OFFSET, 4 },
		{ F_DATA_SIZE, 4 }, { F_DATA_SIZE + 4, 4 }, { F_DATA_SIZE, 1 },
		{ 32, 4 }, { 32, 8 }, { 40, 8 }, { 0, 32 }, { PG - 8, 8 },
		{ PG - 4, 8 },	/* straddles header page and data section */
	};
	struct v1dev *d = &self->a;
	__u8 buf[64] = { 0 };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		EXPECT_EQ(-EINVAL, v1_pread(d, bad[i].pos, buf, bad[i].len))
			TH_LOG("read %zu @%llu", bad[i].len,
			       (unsigned long long)bad[i].pos);
		EXPECT_EQ(-EINVAL, v1_pwrite(d, bad[i].pos, buf, bad[i].len))
			TH_LOG("write %zu @%llu", bad[i].len,
			       (unsigned long long)bad[i].pos);
	}
	/* read-only fields */
	EXPECT_EQ(-EINVAL, wr32(d, F_RESERVED, 0));
	EXPECT_EQ(-EINVAL, wr64(d, F_PENDING, 0));
	EXPECT_EQ(-EINVAL, wr64(d, F_DATA_OFFSET, d->mmap_off));
	/* data_size is writable only while RESUMING */
	EXPECT_EQ(-EINVAL, wr64(d, F_DATA_SIZE, 0));
	EXPECT_EQ(-EINVAL, wr64(d, F_DATA_SIZE, 16));

	/* beyond the region, and wrapping offsets */
	EXPECT_EQ(-EINVAL, v1_pread(d, d->size, buf, 1));
	EXPECT_EQ(-EINVAL, v1_pread(d, d->size - 4, buf, 8));
	EXPECT_EQ(-EINVAL, v1_pwrite(d, d->size - 1, buf, 2));
	EXPECT_EQ(-EINVAL, v1_pread(d, (1ull << 40) - 8, buf, 8));
	EXPECT_EQ(-EINVAL, v1_pwrite(d, (1ull << 40) - 8, buf, 16));

	/* nothing changed */
	EXPECT_EQ(V1_RUNNING, state_of(_metadata, d));
	EXPECT_EQ(0ULL, pending_of(_metadata, d));
}

TEST_F(v1, invalid_device_states_are_einval_and_change_nothing)
{
	static const __u32 bad[] = {
		V1_RUNNING | V1_RESUMING,		/* 101 */
		V1_MASK,				/* 111 */
		V1_ERROR,				/* 110 */
		8, 9, 0x10 | V1_RUNNING, 0x80000000u, 0x80000001u, ~0u,
	};
	static const __u32 from[] = { V1_RUNNING, 0, V1_RUNNING | V1_SAVING };
	struct v1dev *d = &self->a;
	unsigned int i, j;

	for (j = 0; j < ARRAY_SIZE(from); j++) {
		ASSERT_EQ(0, wr32(d, F_STATE, from[j]));
		for (i = 0; i < ARRAY_SIZE(bad); i++) {
			EXPECT_EQ(-EINVAL, wr32(d, F_STATE, bad[i]))
				TH_LOG("0x%x from 0x%x", bad[i], from[j]);
			EXPECT_EQ(from[j], state_of(_metadata, d));
		}
	}
	ASSERT_EQ(0, wr32(d, F_STATE, V1_RUNNING));
}

TEST_F(v1, unreachable_transitions_are_einval)
{
	struct v1dev *d = &self->a;

	/* stop-copy cannot go back to pre-copy */
	ASSERT_EQ(0, wr32(d, F_STATE, V1_SAVING));
	EXPECT_EQ(-EINVAL, wr32(d, F_STATE, V1_RUNNING | V1_SAVING));
	EXPECT_EQ(V1_SAVING, state_of(_metadata, d));
	ASSERT_EQ(0, wr32(d, F_STATE, V1_RUNNING));

	/* resuming cannot go to pre-copy */
	ASSERT_EQ(0, wr32(d, F_STATE, V1_RESUMING));
	EXPECT_EQ(-EINVAL, wr32(d, F_STATE, V1_RUNNING | V1_SAVING));
	EXPECT_EQ(V1_RESUMING, state_of(_metadata, d));
	ASSERT_EQ(0, ioctl(d->in.device, VFIO_DEVICE_RESET));
	EXPECT_EQ(V1_RUNNING, state_of(_metadata, d));
}

TEST_F(v1, mmap_only_the_data_section)
{
	struct v1dev *d = &self->a;
	__u8 buf[16];
	void *p;

	/* the header page */
	p = mmap(NULL, PG, PROT_READ, MAP_SHARED, d->in.device, d->off);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	/* header page plus data */
	p = mmap(NULL, 2 * PG, PROT_READ, MAP_SHARED, d->in.device, d->off);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	/* past the end */
	p = mmap(NULL, 2 * PG, PROT_READ, MAP_SHARED, d->in.device,
		 d->off + d->size - PG);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	p = mmap(NULL, PG, PROT_READ, MAP_SHARED, d->in.device,
		 d->off + d->size);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	/* private mappings are refused */
	p = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, d->in.device,
		 d->off + d->mmap_off);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);

	/* the last data page alone, and coherence with pwrite/pread */
	p = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, d->in.device,
		 d->off + d->size - PG);
	ASSERT_NE(MAP_FAILED, p);
	memcpy(p, "written by mmap", 16);
	ASSERT_EQ(0, v1_pread(d, d->size - PG, buf, 16));
	EXPECT_EQ(0, memcmp(buf, "written by mmap", 16));
	ASSERT_EQ(0, v1_pwrite(d, d->size - PG + 100, "by pwrite", 10));
	EXPECT_EQ(0, memcmp((char *)p + 100, "by pwrite", 10));
	munmap(p, PG);

	/* the full area, twice: same memory */
	if (!d->map)
		ASSERT_EQ(0, qemu_mmap(d));
	p = mmap(NULL, d->mmap_size, PROT_READ, MAP_SHARED, d->in.device,
		 d->off + d->mmap_off);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(0, memcmp((char *)p + d->mmap_size - PG + 100,
			    "by pwrite", 10));
	((char *)d->map)[0] = 0x42;
	EXPECT_EQ(0x42, ((char *)p)[0]);
	munmap(p, d->mmap_size);
}

TEST_F(v1, data_section_slow_path_8421)
{
	struct v1dev *d = &self->a;
	size_t len = 3 * PG + 13, i;
	__u8 *in = malloc(len), *out = malloc(len);
	__u64 start = d->mmap_off + 3;	/* odd: every access width occurs */

	ASSERT_NE(NULL, in);
	ASSERT_NE(NULL, out);
	for (i = 0; i < len; i++)
		in[i] = i * 7 + 1;
	ASSERT_EQ(0, qemu_mig_rw(d, in, len, start, true));
	memset(out, 0, len);
	ASSERT_EQ(0, qemu_mig_rw(d, out, len, start, false));
	EXPECT_EQ(0, memcmp(in, out, len));
	/* one big access sees the same bytes */
	memset(out, 0, len);
	ASSERT_EQ(0, v1_pread(d, start, out, len));
	EXPECT_EQ(0, memcmp(in, out, len));
	/* the whole section in one access, and not one byte more */
	free(out);
	out = malloc(d->mmap_size);
	ASSERT_NE(NULL, out);
	EXPECT_EQ(0, v1_pread(d, d->mmap_off, out, d->mmap_size));
	EXPECT_EQ(-EINVAL, v1_pread(d, d->mmap_off, out, d->mmap_size + 1));
	free(in);
	free(out);
}

/* ------------------------------------------------------------------ */
/* QEMU 7.2's state table                                              */
/* ------------------------------------------------------------------ */

TEST_F(v1, qemu_state_table)
{
	struct v1dev *d = &self->a;
	bool hw_error;

	/* VM start (written although unchanged), stop, cont */
	ASSERT_EQ(0, qemu_set_state(d, q_vm_start, &hw_error));
	EXPECT_EQ(V1_RUNNING, state_of(_metadata, d));
	ASSERT_EQ(0, qemu_set_state(d, q_vm_stop, &hw_error));
	EXPECT_EQ(0ULL, state_of(_metadata, d));
	ASSERT_EQ(0, qemu_set_state(d, q_vm_start, &hw_error));
	EXPECT_EQ(V1_RUNNING, state_of(_metadata, d));

	/* migrate, then fail: 3 -> 1 */
	ASSERT_EQ(0, qemu_set_state(d, q_save_setup, &hw_error));
	EXPECT_EQ(V1_RUNNING | V1_SAVING, state_of(_metadata, d));
	ASSERT_EQ(0, qemu_set_state(d, q_mig_failed, &hw_error));
	EXPECT_EQ(V1_RUNNING, state_of(_metadata, d));

	/* migrate, switch over, fail: 2 -> 1 */
	ASSERT_EQ(0, qemu_set_state(d, q_save_setup, &hw_error));
	ASSERT_EQ(0, qemu_set_state(d, q_switchover, &hw_error));
	EXPECT_EQ(V1_SAVING, state_of(_metadata, d));
	ASSERT_EQ(0, qemu_set_state(d, q_complete_1, &hw_error));
	EXPECT_EQ(V1_SAVING, state_of(_metadata, d));
	ASSERT_EQ(0, qemu_set_state(d, q_mig_failed, &hw_error));
	EXPECT_EQ(V1_RUNNING, state_of(_metadata, d));

	/* paused VM: save_setup takes 0 -> 2; complete ends in 0 */
	ASSERT_EQ(0, qemu_set_state(d, q_vm_stop, &hw_error));
	ASSERT_EQ(0, qemu_set_state(d, q_save_setup, &hw_error));
	EXPECT_EQ(V1_SAVING, state_of(_metadata, d));
	ASSERT_EQ(0, qemu_set_state(d, q_complete_1, &hw_error));
	ASSERT_EQ(0, qemu_set_state(d, q_complete_2, &hw_error));
	EXPECT_EQ(0ULL, state_of(_metadata, d));
	ASSERT_EQ(0, qemu_set_state(d, q_vm_start, &hw_error));

	/* savevm: the stop itself enters 2 */
	ASSERT_EQ(0, qemu_set_state(d, q_vm_stop_savevm, &hw_error));
	EXPECT_EQ(V1_SAVING, state_of(_metadata, d));
	ASSERT_EQ(0, qemu_set_state(d, q_save_setup, &hw_error));
	EXPECT_EQ(V1_SAVING, state_of(_metadata, d));
	ASSERT_EQ(0, qemu_set_state(d, q_mig_failed, &hw_error));
	EXPECT_EQ(V1_RUNNING, state_of(_metadata, d));

	/* destination: load_setup, then a stop/cont of a -S guest */
	ASSERT_EQ(0, qemu_set_state(d, q_load_setup, &hw_error));
	EXPECT_EQ(V1_RESUMING, state_of(_metadata, d));
	ASSERT_EQ(0, qemu_set_state(d, q_load_setup, &hw_error));
	EXPECT_EQ(V1_RESUMING, state_of(_metadata, d));
	EXPECT_EQ(0ULL, pending_of(_metadata, d));
	ASSERT_EQ(0, ioctl(d->in.device, VFIO_DEVICE_RESET));
	EXPECT_EQ(V1_RUNNING, state_of(_metadata, d));
	EXPECT_FALSE(hw_error);
}

/* ------------------------------------------------------------------ */
/* save and load                                                       */
/* ------------------------------------------------------------------ */

/*
 * The full QEMU 7.2 sequence: source A pre-copies while its VRAM is
 * dirtied, stops, completes; destination B loads record by record and
 * starts.  VRAM and registers arrive byte-exact.
 */
TEST_F_TIMEOUT(v1, qemu_save_and_load, 600)
{
	struct v1dev *a = &self->a, *b = &self->b;
	struct stream s = { 0 };
	__u64 p0, p, prev, p1, p2;
	unsigned int written, i;
	bool hw_error;

	written = vram_populate(_metadata, a, 0x1234);
	scratch_set(a, 0xc0de0000);

	/* both QEMUs start their VM; destination enters 4 first */
	ASSERT_EQ(0, qemu_set_state(a, q_vm_start, &hw_error));
	ASSERT_EQ(0, qemu_set_state(b, q_vm_start, &hw_error));
	ASSERT_EQ(0, qemu_set_state(b, q_load_setup, &hw_error));
	ASSERT_EQ(V1_RESUMING, state_of(_metadata, b));

	/* save_setup: 1 -> 3 */
	ASSERT_EQ(0, qemu_set_state(a, q_save_setup, &hw_error));
	ASSERT_EQ(V1_RUNNING | V1_SAVING, state_of(_metadata, a));

	/* pending counts everything written, idempotently */
	p0 = pending_of(_metadata, a);
	EXPECT_GE(p0, (__u64)written * PG);
	EXPECT_EQ(p0, pending_of(_metadata, a));
	EXPECT_EQ(p0, pending_of(_metadata, a));

	/* iterate: pending shrinks toward 0 as data is read */
	prev = p0;
	for (i = 0; (p = qemu_precopy_pass(_metadata, a, &s)); i++) {
		EXPECT_LE(p, prev);
		prev = p;
		ASSERT_LT(i, 10000U);
	}
	EXPECT_GT(s.len, (__u64)written * PG);
	EXPECT_EQ(0ULL, pending_of(_metadata, a));

	/* the guest dirties VRAM during pre-copy: pending grows again */
	for (i = 0; i < 40; i++)
		vram_write_page(_metadata, a, 5000 + i, 0x777);
	for (i = 0; i < 10; i++)
		vram_write_page(_metadata, a, i * 3, 0x888);
	p1 = pending_of(_metadata, a);
	EXPECT_GE(p1, 50 * PG);
	prev = p1;
	while ((p = qemu_precopy_pass(_metadata, a, &s))) {
		EXPECT_LE(p, prev);
		prev = p;
	}
	EXPECT_EQ(0ULL, pending_of(_metadata, a));

	/* more dirt, left for stop-copy */
	for (i = 0; i < 20; i++)
		vram_write_page(_metadata, a, 7000 + i * 2, 0x999);
	scratch_set(a, 0xfeed0000);
	p2 = pending_of(_metadata, a);
	EXPECT_GE(p2, 20 * PG);

	/* switchover: 3 -> 2, complete, 2 -> 0 */
	ASSERT_EQ(0, qemu_set_state(a, q_switchover, &hw_error));
	ASSERT_EQ(V1_SAVING, state_of(_metadata, a));
	/* stop-copy pending also covers device state and END */
	EXPECT_GT(pending_of(_metadata, a), p2);
	ASSERT_EQ(0, qemu_complete(_metadata, a, &s));
	EXPECT_EQ(0ULL, state_of(_metadata, a));
	EXPECT_EQ(0ULL, pending_of(_metadata, a));

	/* destination loads, then starts: 4 -> 1 */
	ASSERT_EQ(0, qemu_load(_metadata, b, &s, NULL));
	ASSERT_EQ(0, qemu_set_state(b, q_vm_start, &hw_error));
	EXPECT_FALSE(hw_error);
	EXPECT_EQ(V1_RUNNING, state_of(_metadata, b));

	vram_compare(_metadata, a, b);
	scratch_check(_metadata, b, 0xfeed0000);
	TH_LOG("%u pages; pending %llu at setup, %llu dirtied, %llu at stop",
	       written, (unsigned long long)p0, (unsigned long long)p1,
	       (unsigned long long)p2);
	TH_LOG("stream %zu bytes in %zu records", s.len, s.nrec);

	/* quit: destination 1 -> 0; the source can resume its guest too */
	ASSERT_EQ(0, qemu_set_state(b, q_vm_stop, &hw_error));
	ASSERT_EQ(0, qemu_set_state(a, q_vm_start, &hw_error));
	EXPECT_EQ(V1_RUNNING, state_of(_metadata, a));
	stream_free(&s);
}

/* Every plane register a guest can read, in register order. */
static void plane_regs(struct v1dev *d, __u32 *r)
{
	__u32 reg;

	for (reg = VSLICE_REG_PLANE_CONTROL;
	     reg <= VSLICE_REG_PLANE_ACTIVE_STRIDE; reg += 4)
		r[(reg - VSLICE_REG_PLANE_CONTROL) / 4] = vs_rd32(&d->in, reg);
}

#define NR_PLANE_REGS \
	((VSLICE_REG_PLANE_ACTIVE_STRIDE - VSLICE_REG_PLANE_CONTROL) / 4 + 1)

/*
 * The scanout plane through QEMU 7.2's v1 protocol: the destination ends
 * with every plane register of the source (active plane, shadows,
 * PLANE_ERROR, GENERATION), replacing the plane it had.
 */
TEST_F_TIMEOUT(v1, plane_survives_qemu_save_and_load, 300)
{
	struct v1dev *a = &self->a, *b = &self->b;
	__u32 want[NR_PLANE_REGS], got[NR_PLANE_REGS];
	struct stream s = { 0 };
	bool hw_error;
	unsigned int i;

	/* source: a 800x600 plane at 4 MiB, other shadows, a refused commit */
	vs_wr32(&a->in, VSLICE_REG_PLANE_FORMAT, VSLICE_PLANE_FMT_XRGB8888);
	vs_wr32(&a->in, VSLICE_REG_PLANE_OFFSET_LO, 4 << 20);
	vs_wr32(&a->in, VSLICE_REG_PLANE_WIDTH, 800);
	vs_wr32(&a->in, VSLICE_REG_PLANE_HEIGHT, 600);
	vs_wr32(&a->in, VSLICE_REG_PLANE_STRIDE, 3200);
	vs_wr32(&a->in, VSLICE_REG_PLANE_CONTROL, VSLICE_PLANE_CTRL_ENABLE);
	ASSERT_EQ(0, vs_rd32(&a->in, VSLICE_REG_PLANE_ERROR));
	vs_wr32(&a->in, VSLICE_REG_PLANE_OFFSET_LO, 100);
	vs_wr32(&a->in, VSLICE_REG_PLANE_CONTROL, VSLICE_PLANE_CTRL_ENABLE);
	ASSERT_EQ(VSLICE_PLANE_ERR_ALIGN,
		  vs_rd32(&a->in, VSLICE_REG_PLANE_ERROR));
	plane_regs(a, want);
	/* destination: another plane */
	vs_wr32(&b->in, VSLICE_REG_PLANE_FORMAT, VSLICE_PLANE_FMT_XBGR8888);
	vs_wr32(&b->in, VSLICE_REG_PLANE_WIDTH, 16);
	vs_wr32(&b->in, VSLICE_REG_PLANE_HEIGHT, 16);
	vs_wr32(&b->in, VSLICE_REG_PLANE_STRIDE, 64);
	vs_wr32(&b->in, VSLICE_REG_PLANE_CONTROL, VSLICE_PLANE_CTRL_ENABLE);
	ASSERT_EQ(VSLICE_PLANE_FMT_XBGR8888,
		  vs_rd32(&b->in, VSLICE_REG_PLANE_ACTIVE_FORMAT));

	ASSERT_EQ(0, qemu_set_state(a, q_vm_start, &hw_error));
	ASSERT_EQ(0, qemu_set_state(b, q_vm_start, &hw_error));
	ASSERT_EQ(0, qemu_set_state(b, q_load_setup, &hw_error));
	ASSERT_EQ(0, qemu_set_state(a, q_save_setup, &hw_error));
	for (i = 0; qemu_precopy_pass(_metadata, a, &s); i++)
		ASSERT_LT(i, 10000U);
	ASSERT_EQ(0, qemu_set_state(a, q_switchover, &hw_error));
	ASSERT_EQ(0, qemu_complete(_metadata, a, &s));
	ASSERT_EQ(0, qemu_load(_metadata, b, &s, NULL));
	ASSERT_EQ(0, qemu_set_state(b, q_vm_start, &hw_error));
	EXPECT_FALSE(hw_error);

	plane_regs(b, got);
	for (i = 0; i < NR_PLANE_REGS; i++)
		if (want[i] != got[i])
			TH_LOG("plane did not migrate: reg 0x%03x: source %#x, destination %#x",
			       VSLICE_REG_PLANE_CONTROL + 4 * i, want[i], got[i]);
	EXPECT_EQ(0, memcmp(want, got, sizeof(want)));
	EXPECT_EQ(VSLICE_PLANE_FMT_XRGB8888, got[(VSLICE_REG_PLANE_ACTIVE_FORMAT -
						  VSLICE_REG_PLANE_CONTROL) / 4]);
	stream_free(&s);
}

/*
 * savevm / a paused source: no pre-copy, QEMU reads pending_bytes before
 * it ever read data_offset; repeated data_offset/data_size reads in one
 * iteration return the same buffer; pending reaches 0 once END is read.
 */
TEST_F_TIMEOUT(v1, stop_copy_iteration_rules, 300)
{
	struct v1dev *a = &self->a, *b = &self->b;
	__u64 p, p_again, off1, off2, sz1, sz2, sz3;
	struct stream s = { 0 };
	__u8 *first = NULL;
	bool hw_error;

	vram_populate(_metadata, a, 0xabcd);
	ASSERT_EQ(0, qemu_set_state(a, q_vm_stop_savevm, &hw_error));
	ASSERT_EQ(V1_SAVING, state_of(_metadata, a));

	/* data_size before data_offset: no buffer yet */
	ASSERT_EQ(0, rd64(a, F_DATA_SIZE, &sz1));
	EXPECT_EQ(0ULL, sz1);

	p = pending_of(_metadata, a);
	ASSERT_GT(p, 0ULL);
	EXPECT_EQ(p, pending_of(_metadata, a));

	ASSERT_EQ(0, rd64(a, F_DATA_OFFSET, &off1));
	ASSERT_EQ(0, rd64(a, F_DATA_SIZE, &sz1));
	ASSERT_GT(sz1, 0ULL);
	ASSERT_LE(off1 + sz1, a->size);
	first = malloc(sz1);
	ASSERT_NE(NULL, first);
	ASSERT_EQ(0, v1_pread(a, off1, first, sz1));

	/* same iteration: same buffer, nothing consumed */
	ASSERT_EQ(0, rd64(a, F_DATA_OFFSET, &off2));
	ASSERT_EQ(0, rd64(a, F_DATA_SIZE, &sz2));
	EXPECT_EQ(off1, off2);
	EXPECT_EQ(sz1, sz2);
	ASSERT_EQ(0, rd64(a, F_DATA_SIZE, &sz3));
	EXPECT_EQ(sz1, sz3);
	stream_record(&s, sz1);
	stream_put(&s, first, sz1);
	{
		__u8 *again = malloc(sz1);

		ASSERT_NE(NULL, again);
		ASSERT_EQ(0, v1_pread(a, off1, again, sz1));
		EXPECT_EQ(0, memcmp(first, again, sz1));
		free(again);
	}

	/* the next pending read ends the iteration */
	p_again = pending_of(_metadata, a);
	EXPECT_LT(p_again, p);
	EXPECT_EQ(p_again, pending_of(_metadata, a));
	ASSERT_EQ(0, rd64(a, F_DATA_SIZE, &sz2));
	EXPECT_EQ(0ULL, sz2);

	/* QEMU's complete loop picks up from here */
	ASSERT_EQ(0, qemu_complete(_metadata, a, &s));
	EXPECT_EQ(0ULL, state_of(_metadata, a));

	/* after the end: data_offset/data_size harmless, nothing more */
	ASSERT_EQ(0, rd64(a, F_DATA_SIZE, &sz1));
	EXPECT_EQ(0ULL, sz1);

	ASSERT_EQ(0, qemu_set_state(b, q_load_setup, &hw_error));
	ASSERT_EQ(0, qemu_load(_metadata, b, &s, NULL));
	ASSERT_EQ(0, qemu_set_state(b, q_vm_start, &hw_error));
	vram_compare(_metadata, a, b);
	free(first);
	stream_free(&s);
}

/* Writing 2 while already in 2 keeps the stream going. */
TEST_F_TIMEOUT(v1, unchanged_state_writes_keep_the_stream, 300)
{
	struct v1dev *a = &self->a, *b = &self->b;
	struct stream s = { 0 };
	bool hw_error;
	long long n;

	vram_populate(_metadata, a, 0x55);
	ASSERT_EQ(0, qemu_set_state(a, q_save_setup, &hw_error));
	ASSERT_NE(0ULL, qemu_precopy_pass(_metadata, a, &s));
	ASSERT_EQ(0, qemu_set_state(a, q_save_setup, &hw_error)); /* 3 again */
	/* one section may hold all of VRAM: the guest dirties a page */
	vram_write_page(_metadata, a, 8000, 0x56);
	ASSERT_NE(0ULL, qemu_precopy_pass(_metadata, a, &s));
	ASSERT_EQ(0, qemu_set_state(a, q_switchover, &hw_error));
	ASSERT_NE(0ULL, pending_of(_metadata, a));
	n = qemu_save_buffer(_metadata, a, &s);
	ASSERT_GT(n, 0);
	ASSERT_EQ(0, qemu_set_state(a, q_switchover, &hw_error)); /* 2 again */
	ASSERT_EQ(0, qemu_complete(_metadata, a, &s));

	ASSERT_EQ(0, qemu_set_state(b, q_load_setup, &hw_error));
	ASSERT_EQ(0, qemu_set_state(b, q_load_setup, &hw_error)); /* 4 again */
	ASSERT_EQ(0, qemu_load(_metadata, b, &s, NULL));
	ASSERT_EQ(0, qemu_set_state(b, q_vm_start, &hw_error));
	vram_compare(_metadata, a, b);
	stream_free(&s);
}

/* Cancel in pre-copy (3 -> 1): the device runs on; a new migration works. */
TEST_F_TIMEOUT(v1, cancel_then_migrate_again, 600)
{
	struct v1dev *a = &self->a, *b = &self->b;
	struct stream s = { 0 };
	__u64 p_first, p_second;
	bool hw_error;

	vram_populate(_metadata, a, 0x42);
	ASSERT_EQ(0, qemu_set_state(a, q_save_setup, &hw_error));
	p_first = pending_of(_metadata, a);
	ASSERT_NE(0ULL, qemu_precopy_pass(_metadata, a, &s));
	/* one section may hold all of VRAM: the guest dirties a page */
	vram_write_page(_metadata, a, 8001, 0x41);
	ASSERT_NE(0ULL, qemu_precopy_pass(_metadata, a, &s));

	ASSERT_EQ(0, qemu_set_state(a, q_mig_failed, &hw_error));
	EXPECT_EQ(V1_RUNNING, state_of(_metadata, a));
	EXPECT_EQ(0ULL, pending_of(_metadata, a));
	EXPECT_EQ((__u32)VSLICE_ID_MAGIC, vs_rd32(&a->in, VSLICE_REG_ID));
	vram_write_page(_metadata, a, 9000, 0x43);

	/* a fresh migration starts from scratch: everything again */
	stream_free(&s);
	ASSERT_EQ(0, qemu_set_state(a, q_save_setup, &hw_error));
	p_second = pending_of(_metadata, a);
	EXPECT_GE(p_second, p_first + PG);
	while (qemu_precopy_pass(_metadata, a, &s))
		;
	ASSERT_EQ(0, qemu_set_state(a, q_switchover, &hw_error));
	ASSERT_EQ(0, qemu_complete(_metadata, a, &s));

	ASSERT_EQ(0, qemu_set_state(b, q_load_setup, &hw_error));
	ASSERT_EQ(0, qemu_load(_metadata, b, &s, NULL));
	ASSERT_EQ(0, qemu_set_state(b, q_vm_start, &hw_error));
	vram_compare(_metadata, a, b);
	stream_free(&s);
}

/* Leaving RESUMING needs a whole stream; a reset always works. */
TEST_F(v1, incomplete_stream_keeps_resuming)
{
	struct v1dev *b = &self->b;
	bool hw_error;

	ASSERT_EQ(0, qemu_set_state(b, q_load_setup, &hw_error));
	EXPECT_EQ(-ENODATA, qemu_set_state(b, q_vm_start, &hw_error));
	EXPECT_FALSE(hw_error);
	EXPECT_EQ(V1_RESUMING, state_of(_metadata, b));
	EXPECT_EQ(-ENODATA, wr32(b, F_STATE, 0));
	EXPECT_EQ(V1_RESUMING, state_of(_metadata, b));
	/* data_size beyond the section, and resuming with nothing */
	EXPECT_EQ(-EINVAL, wr64(b, F_DATA_SIZE, b->mmap_size + 1));
	EXPECT_EQ(-EINVAL, wr64(b, F_DATA_SIZE, ~0ull));
	EXPECT_EQ(0, wr64(b, F_DATA_SIZE, 0));
	EXPECT_EQ(V1_RESUMING, state_of(_metadata, b));

	ASSERT_EQ(0, ioctl(b->in.device, VFIO_DEVICE_RESET));
	EXPECT_EQ(V1_RUNNING, state_of(_metadata, b));
	EXPECT_EQ(-EINVAL, wr64(b, F_DATA_SIZE, 0));
}

/*
 * A corrupted byte: the data_size write of the record that completes the
 * damaged section fails with -EBADMSG, earlier records load; the device
 * stays RESUMING (not 110b), and after a reset the good stream loads.
 */
TEST_F_TIMEOUT(v1, corrupted_stream_then_good_stream, 600)
{
	struct v1dev *a = &self->a, *b = &self->b;
	struct vslice_stream_sec sec;
	struct stream s = { 0 };
	size_t bad_rec = 0, at, end, r, pos;
	bool hw_error;
	__u8 orig;

	vram_populate(_metadata, a, 0x600d);
	ASSERT_EQ(0, qemu_set_state(a, q_vm_stop_savevm, &hw_error));
	ASSERT_EQ(0, qemu_complete(_metadata, a, &s));

	/* the first section after the header: a VRAM run */
	ASSERT_GT(s.len, sizeof(struct vslice_stream_hdr) + sizeof(sec));
	memcpy(&sec, s.buf + sizeof(struct vslice_stream_hdr), sizeof(sec));
	ASSERT_EQ((__u32)VSLICE_SEC_VRAM, le32toh(sec.type));
	at = sizeof(struct vslice_stream_hdr) + sizeof(sec) +
	     sizeof(struct vslice_stream_vram) + 1000;
	end = sizeof(struct vslice_stream_hdr) + sizeof(sec) +
	      le32toh(sec.len);
	orig = s.buf[at];
	s.buf[at] ^= 0x01;

	ASSERT_EQ(0, qemu_set_state(b, q_load_setup, &hw_error));
	EXPECT_EQ(-EBADMSG, qemu_load(_metadata, b, &s, &bad_rec));
	/* the failing record is the one holding the section's last byte */
	for (r = 0, pos = 0; r < s.nrec && pos + s.rec[r] < end; r++)
		pos += s.rec[r];
	EXPECT_EQ(r, bad_rec);
	/* error through the data_size write only: no error state */
	EXPECT_EQ(V1_RESUMING, state_of(_metadata, b));
	EXPECT_NE(0, qemu_set_state(b, q_vm_start, &hw_error));
	EXPECT_FALSE(hw_error);
	EXPECT_EQ(V1_RESUMING, state_of(_metadata, b));

	/* reset, then the good stream */
	ASSERT_EQ(0, ioctl(b->in.device, VFIO_DEVICE_RESET));
	ASSERT_EQ(V1_RUNNING, state_of(_metadata, b));
	s.buf[at] = orig;
	ASSERT_EQ(0, qemu_set_state(b, q_load_setup, &hw_error));
	ASSERT_EQ(0, qemu_load(_metadata, b, &s, NULL));
	ASSERT_EQ(0, qemu_set_state(b, q_vm_start, &hw_error));
	vram_compare(_metadata, a, b);
	stream_free(&s);
}

/* A stream for another VRAM size is refused at its header. */
TEST_F(v1, incompatible_destination_is_refused)
{
	struct v1dev *a = &self->a, c;
	struct stream s = { 0 };
	size_t bad_rec = ~0ul;
	bool hw_error;

	vram_write_page(_metadata, a, 1, 1);
	ASSERT_EQ(0, qemu_set_state(a, q_vm_stop_savevm, &hw_error));
	ASSERT_EQ(0, qemu_complete(_metadata, a, &s));

	memset(&c, 0, sizeof(c));
	ASSERT_EQ(0, vs_create(&c.in, VS_TYPE_256));
	ASSERT_EQ(0, v1_open(&c, !!a->map));
	ASSERT_EQ(0, qemu_set_state(&c, q_load_setup, &hw_error));
	EXPECT_EQ(-EOPNOTSUPP, qemu_load(_metadata, &c, &s, &bad_rec));
	EXPECT_EQ(0ULL, bad_rec);
	EXPECT_EQ(V1_RESUMING, state_of(_metadata, &c));
	v1_destroy(&c);
	stream_free(&s);
}

/* ------------------------------------------------------------------ */
/* failures inside the device                                          */
/* ------------------------------------------------------------------ */

static void expect_error_state_then_reset(struct __test_metadata *_metadata,
					  struct v1dev *d)
{
	__u64 v;

	EXPECT_EQ(V1_ERROR, state_of(_metadata, d));
	EXPECT_EQ(0ULL, pending_of(_metadata, d));
	ASSERT_EQ(0, rd64(d, F_DATA_SIZE, &v));
	EXPECT_EQ(0ULL, v);
	/* no way out but a reset */
	EXPECT_EQ(-EINVAL, wr32(d, F_STATE, V1_RUNNING));
	EXPECT_EQ(-EINVAL, wr32(d, F_STATE, 0));
	EXPECT_EQ(V1_ERROR, state_of(_metadata, d));
	ASSERT_EQ(0, ioctl(d->in.device, VFIO_DEVICE_RESET));
	EXPECT_EQ(V1_RUNNING, state_of(_metadata, d));
	EXPECT_EQ(0ULL, pending_of(_metadata, d));
}

TEST_F_TIMEOUT(v1, injected_failures_read_110_until_reset, 600)
{
	struct v1dev *a = &self->a, *b = &self->b;
	struct stream s = { 0 };
	bool hw_error;

	if (!vs_fault_have("fail_arc"))
		SKIP(return, "module built without VSLICE_FAULTS=y (no %s/fail_arc)",
		     VS_FAULT_DIR);
	vram_populate(_metadata, a, 0xe770);

	/* save_setup fails: QEMU re-reads 110b (and would hw_error) */
	ASSERT_EQ(0, fail_arc(6));	/* PRE_COPY */
	EXPECT_EQ(-EIO, qemu_set_state(a, q_save_setup, &hw_error));
	EXPECT_TRUE(hw_error);
	expect_error_state_then_reset(_metadata, a);

	/* switchover fails */
	ASSERT_EQ(0, qemu_set_state(a, q_save_setup, &hw_error));
	ASSERT_NE(0ULL, qemu_precopy_pass(_metadata, a, &s));
	ASSERT_EQ(0, fail_arc(3));	/* STOP_COPY */
	EXPECT_EQ(-EIO, qemu_set_state(a, q_switchover, &hw_error));
	EXPECT_TRUE(hw_error);
	expect_error_state_then_reset(_metadata, a);

	/* load_setup fails on the destination */
	ASSERT_EQ(0, fail_arc(4));	/* RESUMING */
	EXPECT_EQ(-EIO, qemu_set_state(b, q_load_setup, &hw_error));
	EXPECT_TRUE(hw_error);
	expect_error_state_then_reset(_metadata, b);

	/* after all that, a clean migration */
	stream_free(&s);
	vram_populate(_metadata, a, 0xe771);
	ASSERT_EQ(0, qemu_set_state(a, q_save_setup, &hw_error));
	while (qemu_precopy_pass(_metadata, a, &s))
		;
	ASSERT_EQ(0, qemu_set_state(a, q_switchover, &hw_error));
	ASSERT_EQ(0, qemu_complete(_metadata, a, &s));
	ASSERT_EQ(0, qemu_set_state(b, q_load_setup, &hw_error));
	ASSERT_EQ(0, qemu_load(_metadata, b, &s, NULL));
	ASSERT_EQ(0, qemu_set_state(b, q_vm_start, &hw_error));
	vram_compare(_metadata, a, b);
	stream_free(&s);
}

TEST_F(v1, reset_mid_save_returns_to_running)
{
	struct v1dev *a = &self->a;
	struct stream s = { 0 };
	bool hw_error;
	__u64 v;

	vram_populate(_metadata, a, 0x1);
	ASSERT_EQ(0, qemu_set_state(a, q_save_setup, &hw_error));
	ASSERT_NE(0ULL, pending_of(_metadata, a));
	ASSERT_EQ(0, rd64(a, F_DATA_OFFSET, &v));
	ASSERT_EQ(0, rd64(a, F_DATA_SIZE, &v));
	ASSERT_NE(0ULL, v);
	ASSERT_EQ(0, ioctl(a->in.device, VFIO_DEVICE_RESET));
	EXPECT_EQ(V1_RUNNING, state_of(_metadata, a));
	EXPECT_EQ(0ULL, pending_of(_metadata, a));
	ASSERT_EQ(0, rd64(a, F_DATA_SIZE, &v));
	EXPECT_EQ(0ULL, v);
	/* the stale buffer is not handed out again */
	ASSERT_EQ(0, qemu_set_state(a, q_save_setup, &hw_error));
	ASSERT_EQ(0, rd64(a, F_DATA_SIZE, &v));
	EXPECT_EQ(0ULL, v);
	/* after reset VRAM is empty: just the header in pre-copy */
	EXPECT_NE(0ULL, qemu_precopy_pass(_metadata, a, &s));
	EXPECT_EQ(sizeof(struct vslice_stream_hdr), s.len);
	stream_free(&s);
}

/* A closed device starts over: RUNNING, and no data of the last user. */
TEST_F(v1, close_forgets_migration_state)
{
	struct v1dev *a = &self->a;
	bool hw_error, use_mmap = !!a->map;
	__u8 *buf;
	__u64 v, i;

	vram_populate(_metadata, a, 0x2);
	ASSERT_EQ(0, qemu_set_state(a, q_save_setup, &hw_error));
	ASSERT_NE(0ULL, pending_of(_metadata, a));
	ASSERT_EQ(0, rd64(a, F_DATA_OFFSET, &v));
	ASSERT_EQ(0, rd64(a, F_DATA_SIZE, &v));
	ASSERT_NE(0ULL, v);

	v1_close(a);
	ASSERT_EQ(0, v1_open(a, use_mmap));
	EXPECT_EQ(V1_RUNNING, state_of(_metadata, a));
	EXPECT_EQ(0ULL, pending_of(_metadata, a));
	ASSERT_EQ(0, rd64(a, F_DATA_SIZE, &v));
	EXPECT_EQ(0ULL, v);
	buf = malloc(a->mmap_size);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, v1_pread(a, a->mmap_off, buf, a->mmap_size));
	for (i = 0; i < a->mmap_size && !buf[i]; i++)
		;
	EXPECT_EQ(a->mmap_size, i)
		TH_LOG("old data at section byte %llu", (unsigned long long)i);
	free(buf);
}

/* ------------------------------------------------------------------ */
/* cross-protocol                                                      */
/* ------------------------------------------------------------------ */

/* v1 source (QEMU 7.2) into a v2 destination (QEMU 10), random writes. */
TEST_F_TIMEOUT(v1, v1_save_v2_resume, 600)
{
	struct v1dev *a = &self->a, *b = &self->b;
	struct stream s = { 0 };
	__u64 seed = 0x9e3779b97f4a7c15ull, pos = 0;
	bool hw_error;
	int fd;

	ASSERT_TRUE(v2_supported(b));
	vram_populate(_metadata, a, 0x7272);
	scratch_set(a, 0x72000000);
	ASSERT_EQ(0, qemu_set_state(a, q_save_setup, &hw_error));
	while (qemu_precopy_pass(_metadata, a, &s))
		;
	vram_write_page(_metadata, a, 12345, 0x1);
	ASSERT_EQ(0, qemu_set_state(a, q_switchover, &hw_error));
	ASSERT_EQ(0, qemu_complete(_metadata, a, &s));

	ASSERT_EQ(0, v2_set(b, VFIO_DEVICE_STATE_RESUMING, &fd));
	ASSERT_LE(0, fd);
	while (pos < s.len) {
		size_t n = rnd(&seed) % 4 ? 1 + rnd(&seed) % 32768 :
					    1 + rnd(&seed) % 7;
		ssize_t w;

		n = min64(n, s.len - pos);
		w = write(fd, s.buf + pos, n);
		ASSERT_EQ((ssize_t)n, w)
			TH_LOG("write %zu at %llu: %s", n,
			       (unsigned long long)pos, strerror(errno));
		pos += n;
	}
	close(fd);
	ASSERT_EQ(0, v2_set(b, VFIO_DEVICE_STATE_RUNNING, NULL));
	EXPECT_EQ(V1_RUNNING, state_of(_metadata, b));
	vram_compare(_metadata, a, b);
	scratch_check(_metadata, b, 0x72000000);
	stream_free(&s);
}

/* v2 source into a v1 destination: records of random sizes, some split. */
TEST_F_TIMEOUT(v1, v2_save_v1_resume, 600)
{
	struct v1dev *a = &self->a, *b = &self->b;
	__u64 seed = 0x2545f4914f6cdd1dull, pos;
	const size_t bufsz = 65536;
	struct stream s = { 0 };
	bool hw_error;
	__u8 *buf;
	ssize_t n;
	int fd;

	ASSERT_TRUE(v2_supported(a));
	buf = malloc(bufsz);
	ASSERT_NE(NULL, buf);
	vram_populate(_metadata, a, 0x1010);
	scratch_set(a, 0x10000000);
	ASSERT_EQ(0, v2_set(a, VFIO_DEVICE_STATE_STOP_COPY, &fd));
	ASSERT_LE(0, fd);
	while ((n = read(fd, buf, 1 + rnd(&seed) % bufsz)) > 0)
		stream_put(&s, buf, n);
	ASSERT_EQ(0, n) TH_LOG("read: %s", strerror(errno));
	close(fd);
	free(buf);
	ASSERT_EQ(0, v2_set(a, VFIO_DEVICE_STATE_STOP, NULL));

	/* QEMU 7.2 records of any size up to 3 sections: some get split */
	for (pos = 0; pos < s.len; ) {
		size_t r = 1 + rnd(&seed) % (3 * b->mmap_size);

		r = min64(r, s.len - pos);
		stream_record(&s, r);
		pos += r;
	}
	ASSERT_EQ(0, qemu_set_state(b, q_load_setup, &hw_error));
	ASSERT_EQ(0, qemu_load(_metadata, b, &s, NULL));
	ASSERT_EQ(0, qemu_set_state(b, q_vm_start, &hw_error));
	EXPECT_EQ(V1_RUNNING, state_of(_metadata, b));
	vram_compare(_metadata, a, b);
	scratch_check(_metadata, b, 0x10000000);
	ASSERT_EQ(0, v2_set(a, VFIO_DEVICE_STATE_RUNNING, NULL));
	stream_free(&s);
}

/* ------------------------------------------------------------------ */
/* the convergence rule over the v1 region (throttle_test: v2)         */
/* ------------------------------------------------------------------ */

/*
 * QEMU 7.2's pre-copy loop until it has nothing more: each cycle is one
 * pass of the driver (the data section is filled until the dirty set runs
 * dry).  With @dirty pages written by the guest first, from @first.
 */
static void v1_pass(struct __test_metadata *_metadata, struct v1dev *d,
		    struct stream *s, __u64 first, unsigned int dirty)
{
	unsigned int i, n = 0;

	for (i = 0; i < dirty; i++)
		vram_write_page(_metadata, d, first + i, 0x700 + i);
	while (qemu_precopy_pass(_metadata, d, s))
		ASSERT_LT(++n, 100U);
}

static long long v1_throttle(struct v1dev *d)
{
	return vs_mig_watch(d->in.uuid, "throttle_percent");
}

/*
 * Engaged over v1 as over v2: after the second slow pass 20 %, +10 per
 * further one, capped by migration_throttle_max; the engine runs at it.
 */
static void v1_engage(struct __test_metadata *_metadata, struct v1dev *a,
		      struct stream *s)
{
	char path[256];
	bool hw_error;
	unsigned int i;

	snprintf(path, sizeof(path),
		 "/sys/bus/mdev/devices/%s/migration_throttle_max", a->in.uuid);
	ASSERT_EQ(0, vs_sysfs_write(path, "35"));
	for (i = 0; i < 64; i++)
		vram_write_page(_metadata, a, i, 0x600);
	ASSERT_EQ(0, qemu_set_state(a, q_save_setup, &hw_error));
	v1_pass(_metadata, a, s, 0, 0);		/* initial data */
	ASSERT_EQ(1, vs_mig_watch(a->in.uuid, "precopy_passes"));
	v1_pass(_metadata, a, s, 1000, 32);
	EXPECT_EQ(0, v1_throttle(a));
	EXPECT_EQ(1, vs_mig_watch(a->in.uuid, "slow_passes"));
	v1_pass(_metadata, a, s, 1100, 32);
	EXPECT_EQ(20, v1_throttle(a));
	v1_pass(_metadata, a, s, 1200, 32);
	EXPECT_EQ(30, v1_throttle(a));
	v1_pass(_metadata, a, s, 1300, 32);
	EXPECT_EQ(35, v1_throttle(a));
	EXPECT_EQ(35, vs_mig_watch(a->in.uuid, "engine_throttle_percent"));
}

/* ... and released when QEMU 7.2 switches to stop-copy (3 -> 2). */
TEST_F_TIMEOUT(v1, throttle_engages_and_stop_copy_releases_it, 300)
{
	struct v1dev *a = &self->a;
	struct stream s = { 0 };
	bool hw_error;

	v1_engage(_metadata, a, &s);
	ASSERT_EQ(0, qemu_set_state(a, q_switchover, &hw_error));
	EXPECT_EQ(0, v1_throttle(a));
	EXPECT_EQ(0, vs_mig_watch(a->in.uuid, "engine_throttle_percent"));
	ASSERT_EQ(0, qemu_complete(_metadata, a, &s));
	EXPECT_EQ(0, v1_throttle(a));
	stream_free(&s);
}

/* ... and when QEMU 7.2 cancels (3 -> 1), or the device is reset. */
TEST_F_TIMEOUT(v1, throttle_released_on_cancel_and_reset, 300)
{
	struct v1dev *a = &self->a;
	struct stream s = { 0 };
	bool hw_error;

	v1_engage(_metadata, a, &s);
	ASSERT_EQ(0, qemu_set_state(a, q_mig_failed, &hw_error));
	EXPECT_EQ(0, v1_throttle(a));
	EXPECT_EQ(0, vs_mig_watch(a->in.uuid, "engine_throttle_percent"));
	stream_free(&s);
	memset(&s, 0, sizeof(s));

	v1_engage(_metadata, a, &s);
	ASSERT_EQ(0, ioctl(a->in.device, VFIO_DEVICE_RESET));
	EXPECT_EQ(0, v1_throttle(a));
	EXPECT_EQ(0, vs_mig_watch(a->in.uuid, "engine_throttle_percent"));
	stream_free(&s);
}

/* "off" over v1: the passes are slow, the engine is never held. */
TEST_F_TIMEOUT(v1, throttle_off_means_off, 300)
{
	struct v1dev *a = &self->a;
	struct stream s = { 0 };
	char path[256];
	bool hw_error;
	unsigned int i;

	snprintf(path, sizeof(path),
		 "/sys/bus/mdev/devices/%s/migration_throttle", a->in.uuid);
	ASSERT_EQ(0, vs_sysfs_write(path, "off"));
	ASSERT_EQ(-EINVAL, vs_sysfs_write(path, "maybe"));
	for (i = 0; i < 64; i++)
		vram_write_page(_metadata, a, i, 0x600);
	ASSERT_EQ(0, qemu_set_state(a, q_save_setup, &hw_error));
	v1_pass(_metadata, a, &s, 0, 0);
	for (i = 0; i < 5; i++)
		v1_pass(_metadata, a, &s, 1000 + 100 * i, 32);
	EXPECT_EQ(5, vs_mig_watch(a->in.uuid, "slow_passes"));
	EXPECT_EQ(0, vs_mig_watch(a->in.uuid, "throttle_peak_percent"));
	EXPECT_EQ(0, vs_mig_watch(a->in.uuid, "engine_throttle_percent"));
	ASSERT_EQ(0, qemu_set_state(a, q_mig_failed, &hw_error));
	stream_free(&s);
}

TEST_HARNESS_MAIN
