// SPDX-License-Identifier: GPL-2.0
/*
 * vslice device DMA dirty logging (VFIO_DEVICE_FEATURE_DMA_LOGGING_*).
 *
 * Debian's 6.12 has no real iova_bitmap (CONFIG_IOMMUFD_DRIVER off), so
 * vslice must not offer log_ops there: QEMU 10 would fail the migration on
 * the first report.  Where the kernel's iova_bitmap works (6.1, and the
 * 6.12 debug kernel), the log must report exactly the guest pages the
 * engine wrote.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "vslice_lib.h"

#define RING_IOVA	0x100000ULL
#define RING_ENTRIES	64
#define BUF_IOVA	0x400000ULL
#define BUF_PAGES	64
#define BUF_SIZE	(BUF_PAGES * 4096ULL)

/*
 * What this kernel must offer: log_ops exactly where iova_bitmap is real
 * (vs_kernel_has_iova_bitmap(): iova_bitmap_set in /proc/kallsyms).
 */
static int log_start(int dev, __u64 iova, __u64 len, __u64 page_size,
		     __u32 nranges, __u32 probe)
{
	struct vfio_device_feature_dma_logging_range range = {
		.iova = iova, .length = len,
	};
	struct vfio_device_feature_dma_logging_control ctl = {
		.page_size = page_size,
		.num_ranges = nranges,
		.ranges = (uintptr_t)&range,
	};

	return vs_feature(dev, VFIO_DEVICE_FEATURE_SET | probe |
		       VFIO_DEVICE_FEATURE_DMA_LOGGING_START, &ctl, sizeof(ctl));
}

static int log_start_ranges(int dev,
			    struct vfio_device_feature_dma_logging_range *r,
			    __u32 nranges, __u64 page_size)
{
	struct vfio_device_feature_dma_logging_control ctl = {
		.page_size = page_size,
		.num_ranges = nranges,
		.ranges = (uintptr_t)r,
	};

	return vs_feature(dev, VFIO_DEVICE_FEATURE_SET |
		       VFIO_DEVICE_FEATURE_DMA_LOGGING_START, &ctl, sizeof(ctl));
}

static int log_stop(int dev)
{
	return vs_feature(dev, VFIO_DEVICE_FEATURE_SET |
		       VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP, NULL, 0);
}

static int log_report(int dev, __u64 iova, __u64 len, __u64 page_size,
		      __u64 *bitmap)
{
	struct vfio_device_feature_dma_logging_report rep = {
		.iova = iova, .length = len, .page_size = page_size,
		.bitmap = (uintptr_t)bitmap,
	};

	memset(bitmap, 0, ((len / page_size + 63) / 64) * 8);
	return vs_feature(dev, VFIO_DEVICE_FEATURE_GET |
		       VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT, &rep,
		       sizeof(rep));
}

static struct vslice_cmd cmd(__u32 op, __u64 vram_off, __u64 iova, __u64 len)
{
	struct vslice_cmd c = {
		.opcode = op, .vram_off = vram_off, .iova = iova, .len = len,
	};

	return c;
}

FIXTURE(dlog) {
	struct vs_inst in;
	void *ring;
	void *buf;
	bool expect;	/* the kernel's iova_bitmap is real */
};

FIXTURE_SETUP(dlog)
{
	if (access(VS_PARENT_DIR, F_OK))
		SKIP(return, "vslice is not loaded (%s missing)", VS_PARENT_DIR);
	self->expect = vs_kernel_has_iova_bitmap();
	ASSERT_EQ(0, vs_create(&self->in, VS_TYPE_128));
	ASSERT_EQ(0, vs_open(&self->in));
	self->ring = vs_dma_map(&self->in, RING_IOVA, 4096);
	self->buf = vs_dma_map(&self->in, BUF_IOVA, BUF_SIZE);
	ASSERT_NE(NULL, self->ring);
	ASSERT_NE(NULL, self->buf);
	vs_ring_setup(&self->in, RING_IOVA, RING_ENTRIES);
}

FIXTURE_TEARDOWN(dlog)
{
	vs_remove(&self->in);
}

TEST_F(dlog, offered_only_where_iova_bitmap_is_real)
{
	int ret = log_start(self->in.device, BUF_IOVA, BUF_SIZE, 4096, 1,
			    VFIO_DEVICE_FEATURE_PROBE);

	EXPECT_EQ(self->expect ? 0 : -ENOTTY, ret)
		TH_LOG("kernel %s: iova_bitmap_set %sin /proc/kallsyms",
		       vs_kernel_release(), self->expect ? "" : "not ");
}

TEST_F(dlog, reports_exactly_the_pages_written)
{
	static const unsigned int written[] = { 3, 7, 9, 10, 11, 40 };
	__u64 bitmap[8], want[8] = { 0 };
	struct vslice_cmd c;
	unsigned int i;

	if (!self->expect)
		SKIP(return, VS_SKIP_NO_IOVA_BITMAP);

	c = cmd(VSLICE_CMD_FILL, 0, 0, 64 * 1024);
	c.pattern = 0x5a5a5a5a;
	vs_ring_push(&self->in, self->ring, RING_ENTRIES, &c);
	ASSERT_EQ(0, vs_ring_wait_idle(&self->in, 10000));

	ASSERT_EQ(0, log_start(self->in.device, BUF_IOVA, BUF_SIZE, 4096, 1,
			       0));
	/* a page was written before logging started: not reported */
	ASSERT_EQ(0, log_report(self->in.device, BUF_IOVA, BUF_SIZE, 4096,
				bitmap));
	EXPECT_EQ(0, bitmap[0]);

	/* COPY_TO_VRAM reads guest memory: never dirty */
	c = cmd(VSLICE_CMD_COPY_TO_VRAM, 0, BUF_IOVA + 20 * 4096, 4096);
	vs_ring_push(&self->in, self->ring, RING_ENTRIES, &c);
	c = cmd(VSLICE_CMD_COPY_FROM_VRAM, 0, BUF_IOVA + 3 * 4096, 4096);
	vs_ring_push(&self->in, self->ring, RING_ENTRIES, &c);
	c = cmd(VSLICE_CMD_COPY_FROM_VRAM, 0, BUF_IOVA + 7 * 4096 + 100, 8);
	vs_ring_push(&self->in, self->ring, RING_ENTRIES, &c);
	c = cmd(VSLICE_CMD_COPY_FROM_VRAM, 0, BUF_IOVA + 9 * 4096, 3 * 4096);
	vs_ring_push(&self->in, self->ring, RING_ENTRIES, &c);
	c = cmd(VSLICE_CMD_FENCE, 0, BUF_IOVA + 40 * 4096 + 8, 77);
	vs_ring_push(&self->in, self->ring, RING_ENTRIES, &c);
	ASSERT_EQ(0, vs_ring_wait_idle(&self->in, 10000));

	for (i = 0; i < ARRAY_SIZE(written); i++)
		want[written[i] / 64] |= 1ULL << (written[i] % 64);
	ASSERT_EQ(0, log_report(self->in.device, BUF_IOVA, BUF_SIZE, 4096,
				bitmap));
	EXPECT_EQ(want[0], bitmap[0])
		TH_LOG("missed dirty pages %#llx; extra dirty pages %#llx",
		       (unsigned long long)(want[0] & ~bitmap[0]),
		       (unsigned long long)(bitmap[0] & ~want[0]));

	/* read-and-clear: a second report is empty */
	ASSERT_EQ(0, log_report(self->in.device, BUF_IOVA, BUF_SIZE, 4096,
				bitmap));
	EXPECT_EQ(0, bitmap[0]);

	/* a coarser report granularity still covers the pages */
	c = cmd(VSLICE_CMD_COPY_FROM_VRAM, 0, BUF_IOVA + 17 * 4096, 4096);
	vs_ring_push(&self->in, self->ring, RING_ENTRIES, &c);
	ASSERT_EQ(0, vs_ring_wait_idle(&self->in, 10000));
	ASSERT_EQ(0, log_report(self->in.device, BUF_IOVA, BUF_SIZE, 16384,
				bitmap));
	EXPECT_EQ(1ULL << 4, bitmap[0]);

	EXPECT_EQ(0, vs_feature(self->in.device, VFIO_DEVICE_FEATURE_SET |
			     VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP, NULL, 0));
}

TEST_F(dlog, bad_requests_are_rejected)
{
	__u64 bitmap[8];

	if (!self->expect)
		SKIP(return, VS_SKIP_NO_IOVA_BITMAP);
	EXPECT_EQ(-EINVAL, log_start(self->in.device, BUF_IOVA, BUF_SIZE,
				     4096, 0, 0));
	EXPECT_EQ(-EINVAL, log_start(self->in.device, BUF_IOVA + 1, BUF_SIZE,
				     4096, 1, 0));
	ASSERT_EQ(0, log_start(self->in.device, BUF_IOVA, BUF_SIZE, 4096, 1,
			       0));
	EXPECT_EQ(-EINVAL, log_report(self->in.device, BUF_IOVA, BUF_SIZE,
				      1000, bitmap));
	EXPECT_EQ(-EOVERFLOW, log_report(self->in.device, ~0ULL - 4095,
					 8192, 4096, bitmap));
	EXPECT_EQ(0, vs_feature(self->in.device, VFIO_DEVICE_FEATURE_SET |
			     VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP, NULL, 0));
	/* still usable */
	EXPECT_EQ(VSLICE_ID_MAGIC, vs_rd32(&self->in, VSLICE_REG_ID));
}

/* Write one byte of guest page @page with COPY_FROM_VRAM and wait. */
static int write_page(struct vs_inst *in, void *ring, unsigned int page)
{
	struct vslice_cmd c = cmd(VSLICE_CMD_COPY_FROM_VRAM, 0,
				  BUF_IOVA + page * 4096ULL + 64, 1);

	vs_ring_push(in, ring, RING_ENTRIES, &c);
	return vs_ring_wait_idle(in, 10000);
}

/* A second DMA_LOGGING_START while logging is active is refused. */
TEST_F(dlog, second_start_is_refused)
{
	__u64 bitmap[8];

	if (!self->expect)
		SKIP(return, VS_SKIP_NO_IOVA_BITMAP);
	ASSERT_EQ(0, log_start(self->in.device, BUF_IOVA, BUF_SIZE, 4096, 1,
			       0));
	ASSERT_EQ(0, write_page(&self->in, self->ring, 5));
	EXPECT_EQ(-EBUSY, log_start(self->in.device, BUF_IOVA, BUF_SIZE, 4096,
				    1, 0));
	/* the refused start did not reset the log: page 5 is still there */
	ASSERT_EQ(0, log_report(self->in.device, BUF_IOVA, BUF_SIZE, 4096,
				bitmap));
	EXPECT_EQ(1ULL << 5, bitmap[0]);
	EXPECT_EQ(0, log_stop(self->in.device));
	/* after a stop, a start works again */
	EXPECT_EQ(0, log_start(self->in.device, BUF_IOVA, BUF_SIZE, 4096, 1,
			       0));
	EXPECT_EQ(0, log_stop(self->in.device));
}

/* Only writes inside the requested ranges are logged. */
TEST_F(dlog, only_requested_ranges_are_logged)
{
	struct vfio_device_feature_dma_logging_range r[2] = {
		{ .iova = BUF_IOVA, .length = 16 * 4096 },
		{ .iova = BUF_IOVA + 32 * 4096, .length = 16 * 4096 },
	};
	__u64 bitmap[8];

	if (!self->expect)
		SKIP(return, VS_SKIP_NO_IOVA_BITMAP);
	ASSERT_EQ(0, log_start_ranges(self->in.device, r, 2, 4096));
	ASSERT_EQ(0, write_page(&self->in, self->ring, 3));
	ASSERT_EQ(0, write_page(&self->in, self->ring, 20));	/* between the ranges */
	ASSERT_EQ(0, write_page(&self->in, self->ring, 40));
	ASSERT_EQ(0, write_page(&self->in, self->ring, 60));	/* after them */
	ASSERT_EQ(0, log_report(self->in.device, BUF_IOVA, BUF_SIZE, 4096,
				bitmap));
	EXPECT_EQ(1ULL << 3 | 1ULL << 40, bitmap[0]);
	EXPECT_EQ(0, log_stop(self->in.device));
}

/*
 * More ranges than the device tracks are combined: a page inside any of
 * them is never lost.  A range far outside the mapped memory is accepted
 * and simply never written.
 */
TEST_F(dlog, many_ranges_lose_no_page)
{
	struct vfio_device_feature_dma_logging_range r[33];
	__u64 bitmap[8], want = 0;
	unsigned int i;

	if (!self->expect)
		SKIP(return, VS_SKIP_NO_IOVA_BITMAP);
	for (i = 0; i < 32; i++) {	/* every other page of BUF */
		r[i].iova = BUF_IOVA + 2 * i * 4096ULL;
		r[i].length = 4096;
	}
	r[32].iova = 1ULL << 40;	/* not mapped */
	r[32].length = 1ULL << 30;
	ASSERT_EQ(0, log_start_ranges(self->in.device, r, 33, 4096));
	for (i = 0; i < 64; i += 6) {
		ASSERT_EQ(0, write_page(&self->in, self->ring, i));
		want |= 1ULL << i;
	}
	ASSERT_EQ(0, log_report(self->in.device, BUF_IOVA, BUF_SIZE, 4096,
				bitmap));
	EXPECT_EQ(want, bitmap[0] & want) TH_LOG("every written tracked page");
	ASSERT_EQ(0, log_report(self->in.device, 1ULL << 40, 1ULL << 30,
				1ULL << 24, bitmap));	/* 64 bits */
	EXPECT_EQ(0, bitmap[0]);
	EXPECT_EQ(0, log_stop(self->in.device));
}

/* A page size other than 4 KiB: each bit covers 64 KiB. */
TEST_F(dlog, page_size_64k_is_honoured)
{
	__u64 bitmap[8];

	if (!self->expect)
		SKIP(return, VS_SKIP_NO_IOVA_BITMAP);
	ASSERT_EQ(0, log_start(self->in.device, BUF_IOVA, BUF_SIZE, 65536, 1,
			       0));
	ASSERT_EQ(0, write_page(&self->in, self->ring, 17));	/* 64 KiB block 1 */
	ASSERT_EQ(0, write_page(&self->in, self->ring, 50));	/* 64 KiB block 3 */
	ASSERT_EQ(0, log_report(self->in.device, BUF_IOVA, BUF_SIZE, 65536,
				bitmap));
	EXPECT_EQ(1ULL << 1 | 1ULL << 3, bitmap[0]);
	EXPECT_EQ(0, log_stop(self->in.device));
}

/* Start, stop and report are serialized: a report after a stop fails. */
TEST_F(dlog, report_after_stop_fails)
{
	__u64 bitmap[8];

	if (!self->expect)
		SKIP(return, VS_SKIP_NO_IOVA_BITMAP);
	ASSERT_EQ(0, log_start(self->in.device, BUF_IOVA, BUF_SIZE, 4096, 1,
			       0));
	ASSERT_EQ(0, write_page(&self->in, self->ring, 9));
	ASSERT_EQ(0, log_stop(self->in.device));
	EXPECT_EQ(-EINVAL, log_report(self->in.device, BUF_IOVA, BUF_SIZE,
				      4096, bitmap));
	/* and a new log does not report what the old one recorded */
	ASSERT_EQ(0, log_start(self->in.device, BUF_IOVA, BUF_SIZE, 4096, 1,
			       0));
	ASSERT_EQ(0, log_report(self->in.device, BUF_IOVA, BUF_SIZE, 4096,
				bitmap));
	EXPECT_EQ(0, bitmap[0]);
	EXPECT_EQ(0, log_stop(self->in.device));
}

/*
 * A page the log cannot record is not dropped: the fail_dlog_store fault
 * makes one store into the log's xarray fail (as an allocation failure
 * would), and every report from then on must fail - QEMU's
 * DMA_LOGGING_REPORT ioctl gets -ENOMEM and fails the migration - until
 * the log is stopped; a new log works again.
 */
TEST_F(dlog, failed_store_fails_every_report)
{
	__u64 bitmap[8];
	char val[16];

	if (!self->expect)
		SKIP(return, VS_SKIP_NO_IOVA_BITMAP);
	if (!vs_fault_have("fail_dlog_store"))
		SKIP(return, "module built without VSLICE_FAULTS=y (no %s/fail_dlog_store)",
		     VS_FAULT_DIR);
	ASSERT_EQ(0, log_start(self->in.device, BUF_IOVA, BUF_SIZE, 4096, 1,
			       0));
	ASSERT_EQ(0, write_page(&self->in, self->ring, 2));
	ASSERT_EQ(0, vs_fault_set("fail_dlog_store", 1));
	ASSERT_EQ(0, write_page(&self->in, self->ring, 5));	/* lost */
	/* the fault fired (one shot) */
	ASSERT_EQ(0, vs_sysfs_read(VS_FAULT_DIR "/fail_dlog_store", val,
				   sizeof(val)));
	EXPECT_STREQ("0", val);
	ASSERT_EQ(0, write_page(&self->in, self->ring, 6));
	EXPECT_EQ(-ENOMEM, log_report(self->in.device, BUF_IOVA, BUF_SIZE,
				      4096, bitmap))
		TH_LOG("a report after a lost page must fail (bitmap %#llx)",
		       (unsigned long long)bitmap[0]);
	EXPECT_EQ(-ENOMEM, log_report(self->in.device, BUF_IOVA, BUF_SIZE,
				      4096, bitmap)) TH_LOG("and stay failed");
	EXPECT_EQ(0, log_stop(self->in.device));
	/* a new log starts clean and reports again */
	ASSERT_EQ(0, log_start(self->in.device, BUF_IOVA, BUF_SIZE, 4096, 1,
			       0));
	ASSERT_EQ(0, write_page(&self->in, self->ring, 7));
	ASSERT_EQ(0, log_report(self->in.device, BUF_IOVA, BUF_SIZE, 4096,
				bitmap));
	EXPECT_EQ(1ULL << 7, bitmap[0]);
	EXPECT_EQ(0, log_stop(self->in.device));
	vs_fault_set("fail_dlog_store", 0);
}

TEST_HARNESS_MAIN
