// SPDX-License-Identifier: GPL-2.0
/*
 * vslice selftest: watching a migration through debugfs
 * (/sys/kernel/debug/vslice/<uuid>/migration).
 *
 * A v2 save is driven step by step and after each step the file must say
 * what the uAPI says: the state, the bytes read in pre-copy and stop-copy,
 * the passes and the pages each carried, the dirty pages and rate, the
 * pre-copy info and the predicted stop-copy size, and the prediction made
 * at switchover against the bytes stop-copy then sent.  Needs v2 PRE_COPY
 * (6.2+): SKIPs on 6.1, where the same accounting serves the v1 region.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "vslice_lib.h"

#define DEBUGFS_DIR	VS_DEBUGFS_DIR

/* A key's value in the instance's migration file, or -1. */
static long long watch(const char *uuid, const char *key)
{
	return vs_mig_watch(uuid, key);
}

static bool watch_is(const char *uuid, const char *key, const char *word)
{
	char path[256], buf[4096], want[128];

	snprintf(path, sizeof(path), DEBUGFS_DIR "/%s/migration", uuid);
	snprintf(want, sizeof(want), "%s: %s\n", key, word);
	return !vs_sysfs_read(path, buf, sizeof(buf)) && strstr(buf, want);
}

FIXTURE(watch) {
	struct vs_inst in;
};

#define NO_INFO_V2 \
	"kernel %s (uname -r) < 7.1: its VFIO core has no MIG_PRECOPY_INFOv2"

FIXTURE_SETUP(watch)
{
	__u64 flags = 0;

	memset(&self->in, 0, sizeof(self->in));
	self->in.device = -1;
	vs_remove_all();
	ASSERT_EQ(0, vs_create(&self->in, VS_TYPE_128));
	ASSERT_EQ(0, vs_open(&self->in));
	ASSERT_EQ(0, vs_mig_flags(self->in.device, &flags));
	if (!vs_kernel_has_precopy())
		SKIP(return, VS_SKIP_NO_PRECOPY, vs_kernel_release());
	ASSERT_TRUE(!!(flags & VFIO_MIGRATION_PRE_COPY));
}

FIXTURE_TEARDOWN(watch)
{
	if (self->in.device >= 0)
		vs_close(&self->in);
	vs_remove_all();
}

TEST_F(watch, precopy_to_stopcopy)
{
	const char *u = self->in.uuid;
	__u64 initial = 0, dirty = 0, size = 0, reported = 0;
	long long got, stop;
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	int fd;

	/* no session yet */
	ASSERT_TRUE(watch_is(u, "state", "RUNNING"));
	ASSERT_TRUE(watch_is(u, "save_session", "none"));
	EXPECT_EQ(0, watch(u, "precopy_bytes"));
	EXPECT_EQ(0, watch(u, "precopy_passes"));

	ASSERT_EQ(0, vs_vram_fill_pages(&self->in, 100, 40, 0xa5));
	ASSERT_EQ(0, vs_mig_set_state(self->in.device,
				      ST_PRE_COPY, &fd));
	ASSERT_TRUE(watch_is(u, "state", "PRE_COPY"));
	ASSERT_TRUE(watch_is(u, "save_session", "precopy"));
	EXPECT_EQ(40, watch(u, "dirty_vram_pages"));
	ASSERT_EQ(0, vs_mig_precopy_info(fd, &initial, &dirty));
	EXPECT_EQ((long long)initial, watch(u, "initial_bytes"));
	EXPECT_EQ((long long)dirty, watch(u, "dirty_bytes"));
	EXPECT_GT(initial, 40 * 4096);
	ASSERT_EQ(0, vs_mig_data_size(self->in.device, &size));
	EXPECT_EQ((long long)size, watch(u, "predicted_stopcopy_bytes"));
	EXPECT_EQ((long long)size, watch(u, "reported_stopcopy_bytes"));

	/* pass 1: the 40 written pages */
	got = vs_drain(fd);
	ASSERT_GT(got, 40 * 4096);
	EXPECT_EQ(got, watch(u, "precopy_bytes"));
	EXPECT_EQ(1, watch(u, "precopy_passes"));
	EXPECT_EQ(40, watch(u, "last_pass_pages"));
	EXPECT_EQ(0, watch(u, "dirty_vram_pages"));
	EXPECT_EQ(0, watch(u, "initial_bytes"));
	EXPECT_EQ(0, watch(u, "dirty_rate_pages_per_s"));	/* one pass */

	/* the guest dirties 10 pages, pass 2 carries them */
	nanosleep(&ts, NULL);
	ASSERT_EQ(0, vs_vram_fill_pages(&self->in, 7, 10, 0x3c));
	EXPECT_EQ(10, watch(u, "dirty_vram_pages"));
	EXPECT_GT(watch(u, "dirty_bytes"), 10 * 4096);
	got += vs_drain(fd);
	EXPECT_EQ(got, watch(u, "precopy_bytes"));
	EXPECT_EQ(2, watch(u, "precopy_passes"));
	EXPECT_EQ(10, watch(u, "last_pass_pages"));
	/* 10 pages over at least the 100 ms slept: 1..100 pages/s */
	EXPECT_GE(watch(u, "dirty_rate_pages_per_s"), 1);
	EXPECT_LE(watch(u, "dirty_rate_pages_per_s"), 100);

	/* 3 more dirty pages, QEMU asks for the size, then switches over */
	ASSERT_EQ(0, vs_vram_fill_pages(&self->in, 500, 1, 0x11));
	ASSERT_EQ(0, vs_vram_fill_pages(&self->in, 502, 1, 0x12));
	ASSERT_EQ(0, vs_vram_fill_pages(&self->in, 504, 1, 0x13));
	ASSERT_EQ(0, vs_mig_data_size(self->in.device, &reported));
	EXPECT_EQ((long long)reported, watch(u, "reported_stopcopy_bytes"));
	ASSERT_EQ(0, vs_mig_set_state(self->in.device,
				      ST_PRE_COPY_P2P, NULL));
	ASSERT_EQ(0, vs_mig_set_state(self->in.device,
				      ST_STOP_COPY, NULL));
	ASSERT_TRUE(watch_is(u, "save_session", "stopcopy"));
	EXPECT_EQ((long long)reported, watch(u, "switchover_predicted_bytes"));
	EXPECT_EQ((long long)reported, watch(u, "switchover_pending_bytes"));
	stop = vs_drain(fd);
	ASSERT_GT(stop, 3 * 4096);
	EXPECT_EQ(stop, watch(u, "stopcopy_bytes"));
	/* three lone pages: the prediction counts a run header per page */
	EXPECT_EQ((long long)reported, stop);
	TH_LOG("pre-copy %lld bytes in 2 passes, stop-copy predicted %llu, sent %lld",
	       got, (unsigned long long)reported, stop);
	close(fd);

	/* after the session the figures stay for whoever looks later */
	ASSERT_EQ(0, vs_mig_set_state(self->in.device, ST_STOP,
				      NULL));
	ASSERT_TRUE(watch_is(u, "save_session", "ended"));
	EXPECT_EQ(stop, watch(u, "stopcopy_bytes"));
	EXPECT_EQ(got, watch(u, "precopy_bytes"));
	EXPECT_EQ(0, watch(u, "predicted_stopcopy_bytes"));
}

/*
 * VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2 (7.1+): before the opt-in the flags
 * word of VFIO_MIG_GET_PRECOPY_INFO is the caller's (bug compatibility);
 * after it the flags are an output the driver fills, 0 while nothing made
 * the pre-copy data already sent stale.
 */
TEST_F(watch, precopy_info_v2_flags)
{
	__u64 initial = 0, dirty = 0;
	__u32 flags;
	int fd, ret;

	ASSERT_EQ(0, vs_vram_fill_pages(&self->in, 0, 8, 0x5a));
	ASSERT_EQ(0, vs_mig_set_state(self->in.device, ST_PRE_COPY, &fd));
	flags = 0xf0f0f0f0;
	ASSERT_EQ(0, vs_mig_precopy_info_flags(fd, &flags, &initial, &dirty));
	EXPECT_EQ(0xf0f0f0f0, flags);	/* not opted in: untouched */
	EXPECT_GT(initial, 8 * 4096);
	close(fd);
	ASSERT_EQ(0, vs_mig_set_state(self->in.device, ST_RUNNING, NULL));

	if (!vs_kernel_at_least(7, 1))
		SKIP(return, NO_INFO_V2, vs_kernel_release());
	ret = vs_feature(self->in.device, VFIO_DEVICE_FEATURE_SET |
			 VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2, NULL, 0);
	ASSERT_EQ(0, ret);
	/* PROBE: supported for SET, not for GET */
	EXPECT_EQ(0, vs_feature(self->in.device, VFIO_DEVICE_FEATURE_PROBE |
				VFIO_DEVICE_FEATURE_SET |
				VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2,
				NULL, 0));
	ASSERT_EQ(0, vs_mig_set_state(self->in.device, ST_PRE_COPY, &fd));
	flags = 0xf0f0f0f0;
	ASSERT_EQ(0, vs_mig_precopy_info_flags(fd, &flags, &initial, &dirty));
	EXPECT_EQ(0, flags);		/* an output now, nothing to report */
	EXPECT_GT(initial, 8 * 4096);
	EXPECT_LT(0, vs_drain(fd));
	flags = ~0u;
	ASSERT_EQ(0, vs_mig_precopy_info_flags(fd, &flags, &initial, &dirty));
	EXPECT_EQ(0, flags);
	EXPECT_EQ(0, initial);
	close(fd);
	ASSERT_EQ(0, vs_mig_set_state(self->in.device, ST_RUNNING, NULL));
}

/* Point the scanout plane at a 64 x @h XRGB8888 framebuffer at VRAM page @pg. */
static __u32 plane_on(struct vs_inst *in, unsigned int pg, unsigned int h,
		      bool on)
{
	vs_wr32(in, VSLICE_REG_PLANE_FORMAT, VSLICE_PLANE_FMT_XRGB8888);
	vs_wr32(in, VSLICE_REG_PLANE_OFFSET_LO, pg * 4096);
	vs_wr32(in, VSLICE_REG_PLANE_OFFSET_HI, 0);
	vs_wr32(in, VSLICE_REG_PLANE_WIDTH, 64);
	vs_wr32(in, VSLICE_REG_PLANE_HEIGHT, h);
	vs_wr32(in, VSLICE_REG_PLANE_STRIDE, 64 * 4);
	vs_wr32(in, VSLICE_REG_PLANE_CONTROL, on ? VSLICE_PLANE_CTRL_ENABLE : 0);
	return vs_rd32(in, VSLICE_REG_PLANE_ERROR);
}

/*
 * VFIO_PRECOPY_INFO_REINIT (7.1+, after the opt-in): when the guest sets a
 * display mode during pre-copy (plane on, or a new size), what is pending
 * then becomes initial data again (reported once, with initial_bytes
 * covering it and dirty_bytes 0); a page flip (same mode, another offset),
 * the same plane again, or the plane turned off report nothing.  Without
 * the opt-in the same change is only dirty data and the flags stay the
 * caller's.
 */
TEST_F(watch, precopy_reinit_on_plane_change)
{
	__u64 initial = 0, dirty = 0, initial2 = 0;
	long long got;
	__u32 flags;
	int fd, ret;

	ASSERT_TRUE(!!(vs_rd32(&self->in, VSLICE_REG_CAPS) & VSLICE_CAP_PLANE));
	ASSERT_EQ(0, vs_vram_fill_pages(&self->in, 256, 4, 0x77));

	/* not opted in: the change is dirty data, the flags are ours */
	ASSERT_EQ(0, vs_mig_set_state(self->in.device, ST_PRE_COPY, &fd));
	ASSERT_LT(0, vs_drain(fd));
	ASSERT_EQ(0, vs_vram_fill_pages(&self->in, 512, 4, 0x66));
	ASSERT_EQ(0, plane_on(&self->in, 512, 64, true));
	flags = 0x80;
	ASSERT_EQ(0, vs_mig_precopy_info_flags(fd, &flags, &initial, &dirty));
	EXPECT_EQ(0x80, flags);
	EXPECT_EQ(0, initial);
	EXPECT_GT(dirty, 4 * 4096);
	close(fd);
	ASSERT_EQ(0, vs_mig_set_state(self->in.device, ST_RUNNING, NULL));
	ASSERT_EQ(0, plane_on(&self->in, 0, 64, false));

	if (!vs_kernel_at_least(7, 1))
		SKIP(return, NO_INFO_V2, vs_kernel_release());
	ret = vs_feature(self->in.device, VFIO_DEVICE_FEATURE_SET |
			 VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2, NULL, 0);
	ASSERT_EQ(0, ret);

	ASSERT_EQ(0, vs_mig_set_state(self->in.device, ST_PRE_COPY, &fd));
	ASSERT_LT(0, vs_drain(fd));
	flags = 0;
	ASSERT_EQ(0, vs_mig_precopy_info_flags(fd, &flags, &initial, &dirty));
	EXPECT_EQ(0, flags);
	EXPECT_EQ(0, initial);

	/* the guest draws into a new buffer and flips the plane to it */
	ASSERT_EQ(0, vs_vram_fill_pages(&self->in, 512, 4, 0x55));
	ASSERT_EQ(0, plane_on(&self->in, 512, 64, true));
	flags = 0;
	ASSERT_EQ(0, vs_mig_precopy_info_flags(fd, &flags, &initial, &dirty));
	EXPECT_EQ(VFIO_PRECOPY_INFO_REINIT, flags);
	EXPECT_GT(initial, 4 * 4096);
	EXPECT_EQ(0, dirty);
	/* reported once; the count stands until read */
	ASSERT_EQ(0, vs_mig_precopy_info_flags(fd, &flags, &initial2, &dirty));
	EXPECT_EQ(0, flags);
	EXPECT_EQ(initial, initial2);
	EXPECT_EQ((long long)initial, watch(self->in.uuid, "initial_bytes"));
	/* (the count is an upper bound: a run header per page) */
	got = vs_drain(fd);
	EXPECT_LE(got, (long long)initial);
	EXPECT_GT(got, 4 * 4096);
	ASSERT_EQ(0, vs_mig_precopy_info_flags(fd, &flags, &initial, &dirty));
	EXPECT_EQ(0, flags);
	EXPECT_EQ(0, initial);

	/* the same plane committed again: no change */
	ASSERT_EQ(0, plane_on(&self->in, 512, 64, true));
	ASSERT_EQ(0, vs_mig_precopy_info_flags(fd, &flags, &initial, &dirty));
	EXPECT_EQ(0, flags);
	/* a page flip to a buffer drawn meanwhile: dirty data, no REINIT */
	ASSERT_EQ(0, vs_vram_fill_pages(&self->in, 256, 4, 0x44));
	ASSERT_EQ(0, plane_on(&self->in, 256, 64, true));
	ASSERT_EQ(0, vs_mig_precopy_info_flags(fd, &flags, &initial, &dirty));
	EXPECT_EQ(0, flags);
	EXPECT_EQ(0, initial);
	EXPECT_GT(dirty, 4 * 4096);
	/* a new mode (64x32): REINIT again */
	ASSERT_EQ(0, plane_on(&self->in, 256, 32, true));
	ASSERT_EQ(0, vs_mig_precopy_info_flags(fd, &flags, &initial, &dirty));
	EXPECT_EQ(VFIO_PRECOPY_INFO_REINIT, flags);
	EXPECT_GT(initial, 4 * 4096);
	EXPECT_EQ(0, dirty);
	EXPECT_LT(0, vs_drain(fd));
	/* turned off: nothing the destination needs */
	ASSERT_EQ(0, plane_on(&self->in, 512, 64, false));
	ASSERT_EQ(0, vs_mig_precopy_info_flags(fd, &flags, &initial, &dirty));
	EXPECT_EQ(0, flags);
	EXPECT_EQ(0, initial);
	close(fd);
	ASSERT_EQ(0, vs_mig_set_state(self->in.device, ST_RUNNING, NULL));
}

/* The files alone: every kernel (6.1 too, whose core has no v2 PRE_COPY). */
FIXTURE(files) {
	struct vs_inst in;
};

FIXTURE_SETUP(files)
{
	memset(&self->in, 0, sizeof(self->in));
	self->in.device = -1;
	vs_remove_all();
	ASSERT_EQ(0, vs_create(&self->in, VS_TYPE_128));
}

FIXTURE_TEARDOWN(files)
{
	vs_remove_all();
}

/*
 * The debugfs files only read: a write is refused with EINVAL (no write
 * method) and changes nothing, even for root, who may open them for writing.
 */
TEST_F(files, refuse_writes)
{
	static const char *const files[] = { "migration", "status" };
	const char *u = self->in.uuid;
	char path[256], before[4096], after[4096];
	unsigned int i;
	int fd;

	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), DEBUGFS_DIR "/%s/%s", u, files[i]);
		ASSERT_EQ(0, vs_sysfs_read(path, before, sizeof(before)));
		fd = open(path, O_WRONLY);
		ASSERT_LE(0, fd) TH_LOG("open %s for writing: %s", path,
					strerror(errno));
		errno = 0;
		EXPECT_EQ(-1, write(fd, "state: STOP\n", 12));
		EXPECT_EQ(EINVAL, errno) TH_LOG("write %s", path);
		close(fd);
		ASSERT_EQ(0, vs_sysfs_read(path, after, sizeof(after)));
		EXPECT_STREQ(before, after);
	}
	EXPECT_TRUE(watch_is(u, "state", "RUNNING"));
	EXPECT_TRUE(watch_is(u, "save_session", "none"));
}

TEST_HARNESS_MAIN
