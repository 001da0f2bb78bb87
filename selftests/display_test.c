// SPDX-License-Identifier: GPL-2.0
/*
 * vslice scanout plane and VFIO display interface: the plane registers
 * (commit, validation, PLANE_ERROR, GENERATION, ACTIVE_* readback, reset),
 * VFIO_DEVICE_QUERY_GFX_PLANE (probe and query in every state), the
 * display region (info, bounds, read, mmap as QEMU's display=on maps it,
 * and the same mapping following a plane change), and the plane across a
 * v2 save/resume and from a 1.0 stream.
 *
 * VRAM is written through BAR2 and by the engine; the display region is
 * compared with VRAM read back through BAR2.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "vslice_lib.h"

#define PG		4096ULL
#define RING_IOVA	0x100000ULL
#define RING_ENTRIES	64
#define IDLE_MS		60000
#define DISPLAY_INDEX	(VFIO_PCI_NUM_REGIONS + 1)

#define FMT_XR24	VSLICE_PLANE_FMT_XRGB8888
#define FMT_XB24	VSLICE_PLANE_FMT_XBGR8888

/**
 * struct plane - the values a test programs into the shadow registers
 * @format:	PLANE_FORMAT
 * @offset:	PLANE_OFFSET_HI:LO
 * @width:	PLANE_WIDTH
 * @height:	PLANE_HEIGHT
 * @stride:	PLANE_STRIDE
 */
struct plane {
	__u32 format;
	__u64 offset;
	__u32 width;
	__u32 height;
	__u32 stride;
};

/* 640x480 XRGB8888 at 2 MiB, with a padded stride */
static const struct plane good_a = {
	FMT_XR24, 2 * VS_MIB, 640, 480, 640 * 4 + 64,
};

/* 320x200 XBGR8888 at 8 MiB + 64 KiB, packed */
static const struct plane good_b = {
	FMT_XB24, 8 * VS_MIB + 64 * 1024, 320, 200, 320 * 4,
};

FIXTURE(display) {
	struct vs_inst in;
	__u8 *ring;
	__u64 vram_size;
	uint64_t region_off;
	uint64_t region_size;
};

static void plane_write(struct vs_inst *in, const struct plane *p)
{
	vs_wr32(in, VSLICE_REG_PLANE_FORMAT, p->format);
	vs_wr32(in, VSLICE_REG_PLANE_OFFSET_LO, (__u32)p->offset);
	vs_wr32(in, VSLICE_REG_PLANE_OFFSET_HI, (__u32)(p->offset >> 32));
	vs_wr32(in, VSLICE_REG_PLANE_WIDTH, p->width);
	vs_wr32(in, VSLICE_REG_PLANE_HEIGHT, p->height);
	vs_wr32(in, VSLICE_REG_PLANE_STRIDE, p->stride);
}

/* Program @p and commit it with PLANE_CONTROL = @control. */
static void plane_commit(struct vs_inst *in, const struct plane *p,
			 __u32 control)
{
	plane_write(in, p);
	vs_wr32(in, VSLICE_REG_PLANE_CONTROL, control);
}

static void plane_active(struct vs_inst *in, struct plane *p)
{
	p->format = vs_rd32(in, VSLICE_REG_PLANE_ACTIVE_FORMAT);
	p->offset = vs_rd32(in, VSLICE_REG_PLANE_ACTIVE_OFFSET_LO) |
		    (__u64)vs_rd32(in, VSLICE_REG_PLANE_ACTIVE_OFFSET_HI) << 32;
	p->width = vs_rd32(in, VSLICE_REG_PLANE_ACTIVE_WIDTH);
	p->height = vs_rd32(in, VSLICE_REG_PLANE_ACTIVE_HEIGHT);
	p->stride = vs_rd32(in, VSLICE_REG_PLANE_ACTIVE_STRIDE);
}

static void plane_shadow(struct vs_inst *in, struct plane *p)
{
	p->format = vs_rd32(in, VSLICE_REG_PLANE_FORMAT);
	p->offset = vs_rd32(in, VSLICE_REG_PLANE_OFFSET_LO) |
		    (__u64)vs_rd32(in, VSLICE_REG_PLANE_OFFSET_HI) << 32;
	p->width = vs_rd32(in, VSLICE_REG_PLANE_WIDTH);
	p->height = vs_rd32(in, VSLICE_REG_PLANE_HEIGHT);
	p->stride = vs_rd32(in, VSLICE_REG_PLANE_STRIDE);
}

static bool plane_eq(const struct plane *a, const struct plane *b)
{
	return a->format == b->format && a->offset == b->offset &&
	       a->width == b->width && a->height == b->height &&
	       a->stride == b->stride;
}

static long gen(struct vs_inst *in)
{
	return vs_rd32(in, VSLICE_REG_PLANE_GENERATION);
}

static long perr(struct vs_inst *in)
{
	return vs_rd32(in, VSLICE_REG_PLANE_ERROR);
}

/* VFIO_DEVICE_QUERY_GFX_PLANE with @flags: 0 or -errno; *info filled. */
static int query(struct vs_inst *in, __u32 flags,
		 struct vfio_device_gfx_plane_info *info)
{
	memset(info, 0xa5, sizeof(*info));
	info->argsz = sizeof(*info);
	info->flags = flags;
	info->drm_plane_type = 0;	/* what QEMU's region path passes */
	return ioctl(in->device, VFIO_DEVICE_QUERY_GFX_PLANE, info) ?
	       -errno : 0;
}

/* The plane QEMU sees equals @p (all zero: no picture). */
static void expect_query(struct __test_metadata *_metadata,
			 struct vs_inst *in, const struct plane *p)
{
	struct vfio_device_gfx_plane_info q;

	ASSERT_EQ(0, query(in, VFIO_GFX_PLANE_TYPE_REGION, &q));
	EXPECT_EQ(p->format, q.drm_format);
	EXPECT_EQ(p->width, q.width);
	EXPECT_EQ(p->height, q.height);
	EXPECT_EQ(p->stride, q.stride);
	EXPECT_EQ((__u64)p->stride * p->height, q.size);
	EXPECT_EQ(0ULL, q.drm_format_mod);
	EXPECT_EQ(0U, q.x_pos);
	EXPECT_EQ(0U, q.y_pos);
	EXPECT_EQ(DISPLAY_INDEX, q.region_index);
}

/* Deterministic page content: page @pg of VRAM tagged with @seed. */
static void pattern(__u8 *buf, size_t len, __u64 off, __u32 seed)
{
	size_t i;

	for (i = 0; i < len; i += 4) {
		__u32 v = htole32((__u32)((off + i) / 4) * 2654435761u ^ seed);

		memcpy(buf + i, &v, 4);
	}
}

static int vram_pattern(struct vs_inst *in, __u64 off, size_t len,
			__u32 seed)
{
	__u8 *buf = malloc(len);
	ssize_t n;

	if (!buf)
		return -ENOMEM;
	pattern(buf, len, off, seed);
	n = vs_vram_rw(in, off, buf, len, true);
	free(buf);
	return n == (ssize_t)len ? 0 : -EIO;
}

/* Does @p (len bytes) hold VRAM[@off, +len)? */
static bool same_as_vram(struct vs_inst *in, const void *p, __u64 off,
			 size_t len)
{
	__u8 *buf = malloc(len);
	bool same;

	if (!buf)
		return false;
	same = vs_vram_rw(in, off, buf, len, false) == (ssize_t)len &&
	       !memcmp(buf, p, len);
	free(buf);
	return same;
}

/* The engine still runs: FILL one page, wait, read it back. */
static bool engine_works(struct vs_inst *in, void *ring, __u64 off,
			 __u32 pat)
{
	struct vslice_cmd c = vs_cmd_fill(off, pat, PG);
	__u32 v;

	vs_ring_push(in, ring, RING_ENTRIES, &c);
	if (vs_ring_wait_idle(in, IDLE_MS))
		return false;
	if (vs_vram_rw(in, off + PG - 4, &v, 4, false) != 4)
		return false;
	return le32toh(v) == pat;
}

/* mmap @len bytes of the display region (at @region_off) from @pos. */
static void *map_at(int device, __u64 region_off, size_t len, int prot,
		    int flags, __u64 pos)
{
	return mmap(NULL, len, prot, flags, device, region_off + pos);
}

FIXTURE_SETUP(display)
{
	if (access(VS_PARENT_DIR, F_OK))
		SKIP(return, "vslice is not loaded (%s missing)", VS_PARENT_DIR);
	vs_remove_all();
	ASSERT_EQ(0, vs_create(&self->in, VS_TYPE_128));
	ASSERT_EQ(0, vs_open(&self->in));
	self->ring = vs_dma_map(&self->in, RING_IOVA, PG);
	ASSERT_NE(NULL, self->ring);
	vs_ring_setup(&self->in, RING_IOVA, RING_ENTRIES);
	self->vram_size = vs_rd32(&self->in, VSLICE_REG_VRAM_SIZE_LO) |
		(__u64)vs_rd32(&self->in, VSLICE_REG_VRAM_SIZE_HI) << 32;
	ASSERT_EQ(0, vs_region_offset(self->in.device, DISPLAY_INDEX,
				      &self->region_off, &self->region_size));
}

FIXTURE_TEARDOWN(display)
{
	if (self->in.uuid[0])
		vs_remove(&self->in);
	vs_remove_all();
}

TEST_F(display, power_on_plane_is_disabled)
{
	static const struct plane zero;
	struct plane p;

	EXPECT_TRUE(vs_rd32(&self->in, VSLICE_REG_CAPS) & VSLICE_CAP_PLANE);
	plane_active(&self->in, &p);
	EXPECT_TRUE(plane_eq(&zero, &p));
	plane_shadow(&self->in, &p);
	EXPECT_TRUE(plane_eq(&zero, &p));
	EXPECT_EQ(0, vs_rd32(&self->in, VSLICE_REG_PLANE_CONTROL));
	EXPECT_EQ(0, perr(&self->in));
	expect_query(_metadata, &self->in, &zero);
}

TEST_F(display, probe_and_bad_queries)
{
	struct vfio_device_gfx_plane_info q;

	/* what QEMU's vfio_display_probe() asks, in its order */
	EXPECT_EQ(-EINVAL, query(&self->in, VFIO_GFX_PLANE_TYPE_PROBE |
				 VFIO_GFX_PLANE_TYPE_DMABUF, &q));
	EXPECT_EQ(0, query(&self->in, VFIO_GFX_PLANE_TYPE_PROBE |
			   VFIO_GFX_PLANE_TYPE_REGION, &q));
	/* anything else is refused */
	EXPECT_EQ(-EINVAL, query(&self->in, VFIO_GFX_PLANE_TYPE_PROBE, &q));
	EXPECT_EQ(-EINVAL, query(&self->in, VFIO_GFX_PLANE_TYPE_PROBE |
				 VFIO_GFX_PLANE_TYPE_REGION |
				 VFIO_GFX_PLANE_TYPE_DMABUF, &q));
	EXPECT_EQ(-EINVAL, query(&self->in, VFIO_GFX_PLANE_TYPE_DMABUF, &q));
	EXPECT_EQ(-EINVAL, query(&self->in, 0, &q));
	EXPECT_EQ(-EINVAL, query(&self->in, VFIO_GFX_PLANE_TYPE_REGION | 8,
				 &q));
	/* argsz below the region variant */
	memset(&q, 0, sizeof(q));
	q.argsz = offsetof(struct vfio_device_gfx_plane_info, region_index);
	q.flags = VFIO_GFX_PLANE_TYPE_REGION;
	EXPECT_EQ(-1, ioctl(self->in.device, VFIO_DEVICE_QUERY_GFX_PLANE, &q));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(display, enable_change_disable)
{
	static const struct plane zero;
	struct vs_inst *in = &self->in;
	struct plane p;
	long g0 = gen(in);

	/* enable */
	plane_commit(in, &good_a, VSLICE_PLANE_CTRL_ENABLE);
	EXPECT_EQ(0, perr(in));
	EXPECT_EQ(g0 + 1, gen(in));
	plane_active(in, &p);
	EXPECT_TRUE(plane_eq(&good_a, &p));
	plane_shadow(in, &p);
	EXPECT_TRUE(plane_eq(&good_a, &p));
	EXPECT_EQ(VSLICE_PLANE_CTRL_ENABLE,
		  vs_rd32(in, VSLICE_REG_PLANE_CONTROL));
	expect_query(_metadata, in, &good_a);

	/* the same values again: nothing changed, no new generation */
	vs_wr32(in, VSLICE_REG_PLANE_CONTROL, VSLICE_PLANE_CTRL_ENABLE);
	EXPECT_EQ(g0 + 1, gen(in));

	/* shadow writes alone change nothing active */
	plane_write(in, &good_b);
	plane_active(in, &p);
	EXPECT_TRUE(plane_eq(&good_a, &p));
	expect_query(_metadata, in, &good_a);
	EXPECT_EQ(g0 + 1, gen(in));

	/* commit: the new plane */
	vs_wr32(in, VSLICE_REG_PLANE_CONTROL, VSLICE_PLANE_CTRL_ENABLE);
	EXPECT_EQ(0, perr(in));
	EXPECT_EQ(g0 + 2, gen(in));
	plane_active(in, &p);
	EXPECT_TRUE(plane_eq(&good_b, &p));
	expect_query(_metadata, in, &good_b);

	/* one field (the offset) changes */
	p = good_b;
	p.offset += 16 * PG;
	plane_commit(in, &p, VSLICE_PLANE_CTRL_ENABLE);
	EXPECT_EQ(g0 + 3, gen(in));
	expect_query(_metadata, in, &p);

	/* disable: no picture; shadows keep their values */
	vs_wr32(in, VSLICE_REG_PLANE_CONTROL, 0);
	EXPECT_EQ(0, perr(in));
	EXPECT_EQ(g0 + 4, gen(in));
	plane_active(in, &p);
	EXPECT_TRUE(plane_eq(&zero, &p));
	expect_query(_metadata, in, &zero);
	plane_shadow(in, &p);
	EXPECT_EQ(good_b.format, p.format);
	vs_wr32(in, VSLICE_REG_PLANE_CONTROL, 0);
	EXPECT_EQ(g0 + 4, gen(in));
}

TEST_F(display, reset_disables_and_counts_on)
{
	static const struct plane zero;
	struct vs_inst *in = &self->in;
	struct plane p;
	long g;

	plane_commit(in, &good_a, VSLICE_PLANE_CTRL_ENABLE);
	g = gen(in);
	ASSERT_EQ(0, vs_dev_reset(in->device));
	plane_active(in, &p);
	EXPECT_TRUE(plane_eq(&zero, &p));
	plane_shadow(in, &p);
	EXPECT_TRUE(plane_eq(&zero, &p));
	EXPECT_EQ(0, vs_rd32(in, VSLICE_REG_PLANE_CONTROL));
	EXPECT_EQ(0, perr(in));
	EXPECT_EQ(g + 1, gen(in));
	expect_query(_metadata, in, &zero);
	/* and the plane works again after it */
	plane_commit(in, &good_b, VSLICE_PLANE_CTRL_ENABLE);
	EXPECT_EQ(g + 2, gen(in));
	expect_query(_metadata, in, &good_b);
}

/*
 * Every check of the commit, each refused with its PLANE_ERROR while a
 * good plane is active: the active plane, GENERATION and the query stay,
 * the engine still runs, and a good commit afterwards clears the error.
 */
TEST_F(display, every_bad_value_refused)
{
	struct vs_inst *in = &self->in;
	const __u64 vram = self->vram_size;
	const struct {
		const char *what;
		struct plane p;
		__u32 control;
		__u32 err;
	} bad[] = {
		{ "control bit 1", good_b, 3, VSLICE_PLANE_ERR_CONTROL },
		{ "control bit 31 without enable", good_b, 1u << 31,
		  VSLICE_PLANE_ERR_CONTROL },
		{ "format 0", { 0, 0, 64, 64, 256 }, 1,
		  VSLICE_PLANE_ERR_FORMAT },
		{ "format RGB565", { 0x36314752, 0, 64, 64, 256 }, 1,
		  VSLICE_PLANE_ERR_FORMAT },
		{ "format ~0", { ~0u, 0, 64, 64, 256 }, 1,
		  VSLICE_PLANE_ERR_FORMAT },
		{ "width 0", { FMT_XR24, 0, 0, 64, 256 }, 1,
		  VSLICE_PLANE_ERR_SIZE },
		{ "height 0", { FMT_XR24, 0, 64, 0, 256 }, 1,
		  VSLICE_PLANE_ERR_SIZE },
		{ "width 4097", { FMT_XR24, 0, 4097, 1, 4097 * 4 }, 1,
		  VSLICE_PLANE_ERR_SIZE },
		{ "height 4097", { FMT_XR24, 0, 1, 4097, 4 }, 1,
		  VSLICE_PLANE_ERR_SIZE },
		{ "width ~0", { FMT_XR24, 0, ~0u, 1, ~0u & ~3u }, 1,
		  VSLICE_PLANE_ERR_SIZE },
		{ "stride unaligned", { FMT_XR24, 0, 64, 64, 258 }, 1,
		  VSLICE_PLANE_ERR_STRIDE },
		{ "stride < width * 4", { FMT_XR24, 0, 64, 64, 252 }, 1,
		  VSLICE_PLANE_ERR_STRIDE },
		{ "stride 0", { FMT_XR24, 0, 64, 64, 0 }, 1,
		  VSLICE_PLANE_ERR_STRIDE },
		{ "offset unaligned", { FMT_XR24, 4, 64, 64, 256 }, 1,
		  VSLICE_PLANE_ERR_ALIGN },
		{ "offset 2 KiB", { FMT_XR24, 2048, 64, 64, 256 }, 1,
		  VSLICE_PLANE_ERR_ALIGN },
		{ "offset at VRAM end", { FMT_XR24, vram, 64, 64, 256 }, 1,
		  VSLICE_PLANE_ERR_RANGE },
		{ "last lines past VRAM end", { FMT_XR24, vram - PG, 64, 64,
		  256 }, 1, VSLICE_PLANE_ERR_RANGE },
		{ "offset 2^64 - 4 KiB (wraps)", { FMT_XR24, -PG, 64, 64,
		  256 }, 1, VSLICE_PLANE_ERR_RANGE },
		{ "offset high dword", { FMT_XR24, 1ULL << 32, 64, 64, 256 },
		  1, VSLICE_PLANE_ERR_RANGE },
		{ "huge stride", { FMT_XR24, 0, 64, 4096, 0xfffffffc }, 1,
		  VSLICE_PLANE_ERR_RANGE },
	};
	struct plane p;
	unsigned int i;
	long g;

	plane_commit(in, &good_a, VSLICE_PLANE_CTRL_ENABLE);
	ASSERT_EQ(0, perr(in));
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		TH_LOG("case %u: %s", i, bad[i].what);
		g = gen(in);
		plane_commit(in, &bad[i].p, bad[i].control);
		EXPECT_EQ(bad[i].err, perr(in));
		EXPECT_EQ(g, gen(in));
		plane_active(in, &p);
		EXPECT_TRUE(plane_eq(&good_a, &p));
		expect_query(_metadata, in, &good_a);
		/* shadows and PLANE_CONTROL read back as written */
		plane_shadow(in, &p);
		EXPECT_TRUE(plane_eq(&bad[i].p, &p));
		EXPECT_EQ(bad[i].control,
			  vs_rd32(in, VSLICE_REG_PLANE_CONTROL));
		EXPECT_TRUE(engine_works(in, self->ring, 64 * VS_MIB, 0x100 + i));
		/* back to a good plane: error cleared */
		plane_commit(in, &good_a, VSLICE_PLANE_CTRL_ENABLE);
		ASSERT_EQ(0, perr(in));
		EXPECT_EQ(g, gen(in));
	}
}

/* The limits themselves are accepted. */
TEST_F(display, limits_accepted)
{
	struct vs_inst *in = &self->in;
	const struct plane ok[] = {
		{ FMT_XR24, 0, 4096, 4096, 4096 * 4 },
		{ FMT_XB24, 0, 1, 1, 4 },
		{ FMT_XR24, self->vram_size - PG, 1, 1, 4 },
		/* ends exactly at the end of VRAM */
		{ FMT_XR24, self->vram_size - 64 * 1024, 128, 64, 1024 },
		{ FMT_XR24, 0, 64, 64, 4096 * 16 },
	};
	struct plane p;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(ok); i++) {
		TH_LOG("case %u", i);
		plane_commit(in, &ok[i], VSLICE_PLANE_CTRL_ENABLE);
		EXPECT_EQ(0, perr(in));
		plane_active(in, &p);
		EXPECT_TRUE(plane_eq(&ok[i], &p));
		expect_query(_metadata, in, &ok[i]);
	}
}

TEST_F(display, region_info_and_bounds)
{
	int dev = self->in.device;
	__u64 roff = self->region_off;
	struct vfio_region_info info;
	size_t len = self->region_size;
	__u8 b[8];
	void *m;

	ASSERT_EQ(0, vs_region_info(self->in.device, DISPLAY_INDEX, &info,
				    sizeof(info)));
	EXPECT_EQ(self->vram_size, info.size);
	EXPECT_EQ(VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_MMAP,
		  info.flags);
	EXPECT_EQ((__u64)DISPLAY_INDEX << 40, info.offset);

	/* read-only */
	EXPECT_EQ(-1, pwrite(self->in.device, b, 4, self->region_off));
	EXPECT_EQ(EINVAL, errno);
	/* reads within, at and past the end */
	EXPECT_EQ(4, pread(self->in.device, b, 4, self->region_off + len - 4));
	EXPECT_EQ(-1, pread(self->in.device, b, 8, self->region_off + len - 4));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, pread(self->in.device, b, 4, self->region_off + len));
	EXPECT_EQ(EINVAL, errno);

	/* mmaps: writable, private, or past the end are refused */
	m = map_at(dev, roff, PG, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
	EXPECT_EQ(MAP_FAILED, m);
	m = map_at(dev, roff, PG, PROT_READ, MAP_PRIVATE, 0);
	EXPECT_EQ(MAP_FAILED, m);
	m = map_at(dev, roff, 2 * PG, PROT_READ, MAP_SHARED, len - PG);
	EXPECT_EQ(MAP_FAILED, m);
	m = map_at(dev, roff, PG, PROT_READ, MAP_SHARED, len);
	EXPECT_EQ(MAP_FAILED, m);
	/* the whole region, read-only: fine; it cannot become writable */
	m = map_at(dev, roff, len, PROT_READ, MAP_SHARED, 0);
	ASSERT_NE(MAP_FAILED, m);
	EXPECT_EQ(-1, mprotect(m, PG, PROT_READ | PROT_WRITE));
	EXPECT_EQ(EACCES, errno);
	munmap(m, len);
}

/*
 * What QEMU's display=on does: one mapping of the region, its byte 0 the
 * framebuffer.  It shows VRAM at the active plane's offset, and after a
 * plane change the same mapping shows the new offset's pages; so do
 * read()s.  Writes to VRAM (BAR2, engine) show through.  After a reset
 * the window is back at offset 0 of a zeroed VRAM.
 */
TEST_F(display, region_follows_the_plane)
{
	struct vs_inst *in = &self->in;
	const size_t sa = (size_t)good_a.stride * good_a.height;
	const size_t sb = (size_t)good_b.stride * good_b.height;
	__u64 roff = self->region_off;
	int dev = self->in.device;
	__u8 *m, *buf;

	buf = malloc(sa);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, vram_pattern(in, 0, 4 * PG, 0x0));
	ASSERT_EQ(0, vram_pattern(in, good_a.offset, sa, 0xaaaa));
	ASSERT_EQ(0, vram_pattern(in, good_b.offset, sb, 0xbbbb));

	/* mapped while disabled: the window is VRAM from 0 */
	m = map_at(dev, roff, self->region_size, PROT_READ, MAP_SHARED, 0);
	ASSERT_NE(MAP_FAILED, m);
	EXPECT_TRUE(same_as_vram(in, m, 0, 4 * PG));

	plane_commit(in, &good_a, VSLICE_PLANE_CTRL_ENABLE);
	ASSERT_EQ(0, perr(in));
	EXPECT_TRUE(same_as_vram(in, m, good_a.offset, sa));
	ASSERT_EQ((ssize_t)sa, pread(in->device, buf, sa, self->region_off));
	EXPECT_TRUE(same_as_vram(in, buf, good_a.offset, sa));

	/* the guest draws: the engine fills a page of the framebuffer */
	EXPECT_TRUE(engine_works(in, self->ring, good_a.offset + 2 * PG,
				 0x00ff00ff));
	EXPECT_EQ(0x00ff00ffu, le32toh(*(__u32 *)(m + 2 * PG)));
	EXPECT_TRUE(same_as_vram(in, m, good_a.offset, sa));

	/* the plane moves: same mapping, new pages */
	plane_commit(in, &good_b, VSLICE_PLANE_CTRL_ENABLE);
	ASSERT_EQ(0, perr(in));
	EXPECT_TRUE(same_as_vram(in, m, good_b.offset, sb));
	EXPECT_FALSE(same_as_vram(in, m, good_a.offset, sb));
	ASSERT_EQ((ssize_t)sb, pread(in->device, buf, sb, self->region_off));
	EXPECT_TRUE(same_as_vram(in, buf, good_b.offset, sb));

	/* reads past VRAM's end from the window's place are refused */
	EXPECT_EQ(-1, pread(in->device, buf, PG, self->region_off +
			    self->region_size - PG));
	EXPECT_EQ(EINVAL, errno);

	/* reset: VRAM is zero and the window back at 0 */
	ASSERT_EQ(0, vs_dev_reset(in->device));
	memset(buf, 0, sb);
	EXPECT_EQ(0, memcmp(m, buf, sb));
	EXPECT_EQ(0, memcmp(m + good_b.offset, buf, sb));

	munmap(m, self->region_size);
	free(buf);
}

/* ------------------------------------------------------------------ */
/* the plane across migration                                          */
/* ------------------------------------------------------------------ */

/**
 * struct plane_regs - every plane register a guest can read
 * @control:	PLANE_CONTROL
 * @shadow:	PLANE_FORMAT .. PLANE_STRIDE
 * @error:	PLANE_ERROR
 * @generation:	PLANE_GENERATION
 * @active:	PLANE_ACTIVE_*
 */
struct plane_regs {
	__u32 control;
	struct plane shadow;
	__u32 error;
	__u32 generation;
	struct plane active;
};

static void regs_get(struct vs_inst *in, struct plane_regs *r)
{
	r->control = vs_rd32(in, VSLICE_REG_PLANE_CONTROL);
	plane_shadow(in, &r->shadow);
	r->error = vs_rd32(in, VSLICE_REG_PLANE_ERROR);
	r->generation = vs_rd32(in, VSLICE_REG_PLANE_GENERATION);
	plane_active(in, &r->active);
}

static bool regs_eq(const struct plane_regs *a, const struct plane_regs *b)
{
	return a->control == b->control && plane_eq(&a->shadow, &b->shadow) &&
	       a->error == b->error && a->generation == b->generation &&
	       plane_eq(&a->active, &b->active);
}

/*
 * The source's state worth carrying: good_a active with its picture,
 * good_b's values in the shadows, a refused commit in PLANE_ERROR.
 */
static void source_state(struct __test_metadata *_metadata,
			 struct vs_inst *a)
{
	struct plane bad = good_b;

	ASSERT_EQ(0, vram_pattern(a, good_a.offset,
				  (size_t)good_a.stride * good_a.height,
				  0xa11ce));
	plane_commit(a, &good_b, VSLICE_PLANE_CTRL_ENABLE);
	plane_commit(a, &good_a, VSLICE_PLANE_CTRL_ENABLE);
	bad.stride = 8;
	plane_commit(a, &bad, VSLICE_PLANE_CTRL_ENABLE);
	ASSERT_EQ(VSLICE_PLANE_ERR_STRIDE, perr(a));
}

/* A v2 stop-copy save of @in into *buf (malloc'd): 0 or -errno. */
static int save_v2(struct vs_inst *in, uint8_t **buf, size_t *len)
{
	int fd, ret;

	ret = vs_mig_set_state(in->device, ST_STOP_COPY, &fd);
	if (ret)
		return ret;
	ret = vs_stream_read_all(fd, buf, len);
	close(fd);
	if (ret)
		vs_dev_reset(in->device);	/* ERROR: back to usable */
	return ret ?: vs_mig_set_state(in->device, ST_RUNNING, NULL);
}

/* Load @buf into @in (RUNNING -> STOP -> RESUMING -> RUNNING). */
static int load_v2(struct vs_inst *in, const uint8_t *buf, size_t len)
{
	int fd, ret;

	ret = vs_mig_set_state(in->device, ST_STOP, NULL) ?:
	      vs_mig_set_state(in->device, ST_RESUMING, &fd);
	if (ret)
		return ret;
	ret = vs_stream_write_all(fd, buf, len, 0);
	close(fd);
	ret = ret ?: vs_mig_set_state(in->device, ST_RUNNING, NULL);
	if (ret)
		vs_dev_reset(in->device);	/* back to a usable device */
	return ret;
}

static int set_stream_version(struct vs_inst *in, const char *v)
{
	char path[256];

	snprintf(path, sizeof(path), VS_MDEV_DIR "/%s/stream_version",
		 in->uuid);
	return vs_sysfs_write(path, v);
}

FIXTURE(dmig) {
	struct vs_inst a, b;
	uint64_t off_b, size_b;
	bool set_fault;
};

FIXTURE_SETUP(dmig)
{
	__u64 flags = 0;

	if (access(VS_PARENT_DIR, F_OK))
		SKIP(return, "vslice is not loaded (%s missing)", VS_PARENT_DIR);
	vs_remove_all();
	ASSERT_EQ(0, vs_create(&self->a, VS_TYPE_128));
	ASSERT_EQ(0, vs_open(&self->a));
	ASSERT_EQ(0, vs_create(&self->b, VS_TYPE_128));
	ASSERT_EQ(0, vs_open(&self->b));
	ASSERT_EQ(0, vs_mig_flags(self->a.device, &flags));
	ASSERT_EQ(0, vs_region_offset(self->b.device, DISPLAY_INDEX,
				      &self->off_b, &self->size_b));
	/*
	 * skip_plane is left as found: scripts/run-suite's control sets it
	 * around plane_survives_v2_round_trip, which must then fail.
	 */
}

FIXTURE_TEARDOWN(dmig)
{
	if (self->set_fault)
		vs_fault_set("skip_plane", 0);
	if (self->a.uuid[0])
		vs_remove(&self->a);
	if (self->b.uuid[0])
		vs_remove(&self->b);
	vs_remove_all();
}

/*
 * Save @a (in the state source_state() made), load into @b, which shows
 * another plane in a display mapping made before the load.  Returns
 * whether every plane register, the query and the picture in that
 * mapping came out equal; @a's registers in *@want.
 */
static bool v2_round_trip(struct __test_metadata *_metadata,
			  FIXTURE_DATA(dmig) * self, struct plane_regs *want)
{
	const size_t sa = (size_t)good_a.stride * good_a.height;
	struct vfio_device_gfx_plane_info q;
	struct plane_regs got;
	uint8_t *buf = NULL;
	size_t len = 0;
	bool same;
	__u8 *m;

	plane_commit(&self->b, &good_b, VSLICE_PLANE_CTRL_ENABLE);
	m = map_at(self->b.device, self->off_b, self->size_b, PROT_READ,
		   MAP_SHARED, 0);
	if (m == MAP_FAILED)
		return false;
	regs_get(&self->a, want);
	if (save_v2(&self->a, &buf, &len) || load_v2(&self->b, buf, len)) {
		munmap(m, self->size_b);
		free(buf);
		return false;
	}
	free(buf);
	regs_get(&self->b, &got);
	same = regs_eq(want, &got);
	if (!same)
		TH_LOG("plane did not migrate: destination registers differ");
	TH_LOG("source: active %#x gen %u err %u; destination: active %#x gen %u err %u",
	       want->active.format, want->generation, want->error,
	       got.active.format, got.generation, got.error);
	same &= !query(&self->b, VFIO_GFX_PLANE_TYPE_REGION, &q) &&
		q.drm_format == good_a.format && q.width == good_a.width &&
		q.height == good_a.height && q.stride == good_a.stride;
	/* the picture: the old mapping now shows the source's framebuffer */
	same &= same_as_vram(&self->a, m, good_a.offset, sa);
	munmap(m, self->size_b);
	return same;
}

TEST_F(dmig, plane_survives_v2_round_trip)
{
	struct plane_regs want;

	source_state(_metadata, &self->a);
	EXPECT_TRUE(v2_round_trip(_metadata, self, &want));
	EXPECT_EQ(VSLICE_PLANE_ERR_STRIDE, want.error);
	EXPECT_EQ(FMT_XR24, want.active.format);
}

/*
 * The control: with skip_plane set the saved stream carries the plane as
 * disabled, and the round trip's checks must say so.
 */
TEST_F(dmig, skip_plane_fault_is_caught)
{
	struct plane_regs want, got;

	if (!vs_fault_have("skip_plane"))
		SKIP(return, "module built without VSLICE_FAULTS=y");
	source_state(_metadata, &self->a);
	self->set_fault = true;
	ASSERT_EQ(0, vs_fault_set("skip_plane", 1));
	EXPECT_FALSE(v2_round_trip(_metadata, self, &want));
	regs_get(&self->b, &got);
	EXPECT_EQ(0U, got.active.format);
	EXPECT_EQ(0U, got.generation);
}

/*
 * Format 1.0 (stream_version 1.0): a disabled plane saves and loads, and
 * the destination's plane ends disabled whatever it showed; an enabled
 * plane cannot be expressed and the save fails with EOPNOTSUPP, the
 * source still usable.
 */
TEST_F(dmig, format_1_0_stream_has_no_plane)
{
	static const struct plane zero;
	struct vfio_device_gfx_plane_info q;
	struct plane_regs got;
	uint8_t *buf = NULL;
	size_t len = 0;

	ASSERT_EQ(0, set_stream_version(&self->a, "1.0"));
	/* shadows written, never enabled: 1.0 can carry this device */
	plane_write(&self->a, &good_a);
	ASSERT_EQ(0, save_v2(&self->a, &buf, &len));
	ASSERT_LT(sizeof(struct vslice_stream_hdr), len);
	EXPECT_EQ(0, ((struct vslice_stream_hdr *)buf)->minor);
	plane_commit(&self->b, &good_b, VSLICE_PLANE_CTRL_ENABLE);
	ASSERT_EQ(0, load_v2(&self->b, buf, len));
	free(buf);
	regs_get(&self->b, &got);
	EXPECT_TRUE(plane_eq(&zero, &got.active));
	EXPECT_TRUE(plane_eq(&zero, &got.shadow));
	EXPECT_EQ(0U, got.control);
	EXPECT_EQ(0U, got.error);
	ASSERT_EQ(0, query(&self->b, VFIO_GFX_PLANE_TYPE_REGION, &q));
	EXPECT_EQ(0U, q.drm_format);
	EXPECT_EQ(0U, q.size);

	/* enabled: refused at save time */
	plane_commit(&self->a, &good_a, VSLICE_PLANE_CTRL_ENABLE);
	buf = NULL;
	EXPECT_EQ(-EOPNOTSUPP, save_v2(&self->a, &buf, &len));
	free(buf);
	EXPECT_EQ(ST_RUNNING, vs_mig_get_state(self->a.device));
	/* 1.1 again: fine */
	ASSERT_EQ(0, set_stream_version(&self->a, "1.1"));
	buf = NULL;
	EXPECT_EQ(0, save_v2(&self->a, &buf, &len));
	free(buf);
}

/* The HW section's plane, right after struct vslice_stream_hw. */
static struct vslice_stream_plane *stream_plane(uint8_t *buf, size_t len,
						size_t *sec_off)
{
	size_t off = sizeof(struct vslice_stream_hdr);

	while (off + sizeof(struct vslice_stream_sec) <= len) {
		struct vslice_stream_sec *sec = (void *)(buf + off);

		if (le32toh(sec->type) == VSLICE_SEC_HW) {
			if (le32toh(sec->len) != sizeof(struct vslice_stream_hw) +
			    sizeof(struct vslice_stream_plane))
				return NULL;
			*sec_off = off;
			return (void *)(buf + off + sizeof(*sec) +
					sizeof(struct vslice_stream_hw));
		}
		off += sizeof(*sec) + le32toh(sec->len);
	}
	return NULL;
}

/* After editing the HW payload: its crc, then END's stream_crc. */
static void reseal(uint8_t *buf, size_t len, size_t hw_off)
{
	struct vslice_stream_sec *sec = (void *)(buf + hw_off);
	size_t off = sizeof(struct vslice_stream_hdr);
	struct vslice_stream_end *end;
	uint32_t crc;

	sec->crc = htole32(vs_crc32c(sec + 1, le32toh(sec->len)));
	crc = vs_crc32c_update(~0u, buf, off);
	for (;;) {
		sec = (void *)(buf + off);
		if (le32toh(sec->type) == VSLICE_SEC_END)
			break;
		crc = vs_crc32c_update(crc, sec, sizeof(*sec));
		off += sizeof(*sec) + le32toh(sec->len);
	}
	end = (void *)(sec + 1);
	end->stream_crc = htole32(~crc);
	sec->crc = htole32(vs_crc32c(end, sizeof(*end)));
	(void)len;
}

/*
 * A stream can carry any plane: what the device could never have
 * accepted is refused with EINVAL at RESUMING, and the destination stays
 * usable; what a guest can write in the shadows loads as it is.
 */
TEST_F(dmig, incoming_plane_values_checked)
{
	const __u64 vram = 128 * VS_MIB;
	enum { F_ACTIVE_FMT, F_ACTIVE_OFF, F_ACTIVE_W, F_ACTIVE_H,
	       F_ACTIVE_STRIDE, F_ERROR, F_RESERVED, F_SHADOW };
	const struct {
		const char *what;
		int field;
		__u64 val;
		int err;
	} cases[] = {
		{ "active format unknown", F_ACTIVE_FMT, 0x36314752, -EINVAL },
		{ "disabled with an offset", F_ACTIVE_FMT, 0, -EINVAL },
		{ "active offset unaligned", F_ACTIVE_OFF, 4096 + 4, -EINVAL },
		{ "active offset past VRAM", F_ACTIVE_OFF, vram, -EINVAL },
		{ "active offset wraps", F_ACTIVE_OFF, -PG, -EINVAL },
		{ "active width 0", F_ACTIVE_W, 0, -EINVAL },
		{ "active height 4097", F_ACTIVE_H, 4097, -EINVAL },
		{ "active stride too small", F_ACTIVE_STRIDE, 4, -EINVAL },
		{ "active stride unaligned", F_ACTIVE_STRIDE, 2562, -EINVAL },
		{ "PLANE_ERROR 7", F_ERROR, 7, -EINVAL },
		{ "reserved", F_RESERVED, 1, -EINVAL },
		{ "shadow garbage (a guest can write it)", F_SHADOW, ~0ULL, 0 },
	};
	struct plane_regs got;
	uint8_t *orig = NULL, *buf;
	size_t len = 0, hw_off = 0;
	unsigned int i;

	source_state(_metadata, &self->a);
	ASSERT_EQ(0, save_v2(&self->a, &orig, &len));
	ASSERT_NE(NULL, stream_plane(orig, len, &hw_off));
	ASSERT_EQ(0, load_v2(&self->b, orig, len)) TH_LOG("unpatched");
	buf = malloc(len);
	ASSERT_NE(NULL, buf);

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct vslice_stream_plane *p;

		TH_LOG("case %u: %s", i, cases[i].what);
		memcpy(buf, orig, len);
		p = stream_plane(buf, len, &hw_off);
		ASSERT_NE(NULL, p);
		switch (cases[i].field) {
		case F_ACTIVE_FMT:
			p->active_format = htole32(cases[i].val);
			break;
		case F_ACTIVE_OFF:
			p->active_offset = htole64(cases[i].val);
			break;
		case F_ACTIVE_W:
			p->active_width = htole32(cases[i].val);
			break;
		case F_ACTIVE_H:
			p->active_height = htole32(cases[i].val);
			break;
		case F_ACTIVE_STRIDE:
			p->active_stride = htole32(cases[i].val);
			break;
		case F_ERROR:
			p->error = htole32(cases[i].val);
			break;
		case F_RESERVED:
			p->reserved = htole32(cases[i].val);
			break;
		case F_SHADOW:
			p->control = htole32(cases[i].val);
			p->format = htole32(cases[i].val);
			p->offset = htole64(cases[i].val);
			p->width = htole32(cases[i].val);
			p->stride = htole32(cases[i].val);
			break;
		}
		reseal(buf, len, hw_off);
		EXPECT_EQ(cases[i].err, load_v2(&self->b, buf, len));
		/* usable: a plane commits, the engine-side registers work */
		plane_commit(&self->b, &good_b, VSLICE_PLANE_CTRL_ENABLE);
		EXPECT_EQ(0, perr(&self->b));
		expect_query(_metadata, &self->b, &good_b);
		if (!cases[i].err) {
			ASSERT_EQ(0, load_v2(&self->b, buf, len));
			regs_get(&self->b, &got);
			EXPECT_EQ((__u32)cases[i].val, got.control);
			EXPECT_EQ(cases[i].val, got.shadow.offset);
			EXPECT_EQ(FMT_XR24, got.active.format);
		}
	}
	free(buf);
	free(orig);
}

TEST_HARNESS_MAIN
