// SPDX-License-Identifier: GPL-2.0
/*
 * vslice selftest: the convergence rule (admin.rst, "Convergence").
 *
 * While a v2 save is in PRE_COPY the driver compares, per pass (one sweep
 * of the reader over VRAM), the VRAM pages dirtied with the pages read.
 * After two passes in a row that dirty more than half of what they read,
 * the engine is throttled by 20 %, then 10 % more per further such pass, up
 * to migration_throttle_max; every way out of pre-copy releases it at once;
 * "off" never throttles; bad policy values get -EINVAL.  The test plays
 * both the guest (BAR2 writes dirty pages, the ring keeps the engine busy)
 * and QEMU (reads the data fd until -ENOMSG: one pass each).  The v1
 * region's pre-copy runs the same rule (v1_test, throttle_*).
 *
 * v2 PRE_COPY needs the 6.2+ VFIO core: on 6.1 (a fact of uname -r) the
 * tests that drive it SKIP; on any later kernel a device without PRE_COPY
 * fails them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "vslice_lib.h"

#define PG		4096u
#define PARAM_DIR	"/sys/module/vslice/parameters"
#define RING_IOVA	0x100000ull
#define RING_ENTRIES	64u
#define RING_MAP	0x1000ull
#define FENCE_IOVA	0x200000ull

/* Does the running kernel's VFIO core have v2 PRE_COPY (6.2+)? */
static bool kernel_has_precopy(char *why, size_t len)
{
	struct utsname u;
	unsigned int maj = 0, min = 0;

	if (uname(&u) || sscanf(u.release, "%u.%u", &maj, &min) != 2)
		return true;
	snprintf(why, len, "uname -r is %s: v2 PRE_COPY came with 6.2",
		 u.release);
	return maj > 6 || (maj == 6 && min >= 2);
}

static long long watch(const char *uuid, const char *key)
{
	return vs_mig_watch(uuid, key);
}

static int inst_attr_write(struct vs_inst *in, const char *attr,
			   const char *val)
{
	char path[256];

	snprintf(path, sizeof(path), "/sys/bus/mdev/devices/%s/%s", in->uuid,
		 attr);
	return vs_sysfs_write(path, val);
}

static int inst_attr_read(struct vs_inst *in, const char *attr, char *buf,
			  size_t len)
{
	char path[256];

	snprintf(path, sizeof(path), "/sys/bus/mdev/devices/%s/%s", in->uuid,
		 attr);
	return vs_sysfs_read(path, buf, len);
}

/* An instance, its data fd in pre-copy, the next page a slow pass dirties. */
struct thr_ctx {
	struct vs_inst in;
	int fd;
	unsigned int next_page;
};

FIXTURE(thr) {
	struct thr_ctx t;
};

FIXTURE_SETUP(thr)
{
	char why[128];
	__u64 flags = 0;

	memset(&self->t.in, 0, sizeof(self->t.in));
	self->t.in.device = -1;
	self->t.fd = -1;
	self->t.next_page = 1000;
	vs_remove_all();
	ASSERT_EQ(0, vs_create(&self->t.in, VS_TYPE_128));
	ASSERT_EQ(0, vs_open(&self->t.in));
	if (!kernel_has_precopy(why, sizeof(why)))
		SKIP(return, "%s", why);
	ASSERT_EQ(0, vs_mig_flags(self->t.in.device, &flags));
	ASSERT_TRUE(flags & VFIO_MIGRATION_PRE_COPY);
	/* the initial data: 64 pages, read by a pass that dirties nothing */
	ASSERT_EQ(0, vs_vram_fill_pages(&self->t.in, 0, 64, 0x11));
}

FIXTURE_TEARDOWN(thr)
{
	if (self->t.fd >= 0)
		close(self->t.fd);
	if (self->t.in.device >= 0)
		vs_close(&self->t.in);
	vs_remove_all();
}

/* Enter PRE_COPY and read the initial pass: no throttle after it. */
static void start_precopy(struct __test_metadata *_metadata,
			  struct thr_ctx *self)
{
	ASSERT_EQ(0, vs_mig_set_state(self->in.device, ST_PRE_COPY,
				      &self->fd));
	ASSERT_GE(self->fd, 0);
	ASSERT_GT(vs_drain(self->fd), 64 * PG);
	ASSERT_EQ(1, watch(self->in.uuid, "precopy_passes"));
	ASSERT_EQ(0, watch(self->in.uuid, "slow_passes"));
	ASSERT_EQ(0, watch(self->in.uuid, "throttle_percent"));
}

/*
 * One slow pass: the guest dirties 32 pages, QEMU reads them (and nothing
 * else): dirtied 32 > 50 % of read 32.  Returns the throttle after it.
 */
static long long slow_pass(struct __test_metadata *_metadata,
			   struct thr_ctx *self)
{
	long long passes = watch(self->in.uuid, "precopy_passes");

	EXPECT_EQ(0, vs_vram_fill_pages(&self->in, self->next_page, 32, 0x22));
	self->next_page += 32;
	EXPECT_GT(vs_drain(self->fd), 32 * PG);
	EXPECT_EQ(passes + 1, watch(self->in.uuid, "precopy_passes"));
	EXPECT_EQ(32, watch(self->in.uuid, "last_pass_dirtied_pages"));
	EXPECT_EQ(32, watch(self->in.uuid, "last_pass_read_pages"));
	/* the engine runs at what the rule decided */
	EXPECT_EQ(watch(self->in.uuid, "throttle_percent"),
		  watch(self->in.uuid, "engine_throttle_percent"));
	return watch(self->in.uuid, "throttle_percent");
}

/* Engages after two slow passes, +10 per further one, stops at the max. */
TEST_F(thr, engages_after_two_slow_passes_grows_and_stops_at_max)
{
	ASSERT_EQ(0, inst_attr_write(&self->t.in, "migration_throttle_max",
				     "45"));
	start_precopy(_metadata, &self->t);
	EXPECT_EQ(0, slow_pass(_metadata, &self->t));	/* one: not yet */
	EXPECT_EQ(1, watch(self->t.in.uuid, "slow_passes"));
	EXPECT_EQ(20, slow_pass(_metadata, &self->t));	/* two: engaged */
	EXPECT_EQ(30, slow_pass(_metadata, &self->t));
	EXPECT_EQ(40, slow_pass(_metadata, &self->t));
	EXPECT_EQ(45, slow_pass(_metadata, &self->t));	/* the max */
	EXPECT_EQ(45, slow_pass(_metadata, &self->t));
	EXPECT_EQ(45, watch(self->t.in.uuid, "throttle_peak_percent"));
}

/*
 * A pass that keeps up resets the count; the throttle stays (as QEMU's).
 * Passes end where the reader's sweep wraps back to page 0: pages dirtied
 * behind the cursor are read by the next pass, which then reads more than
 * it sees dirtied.
 */
TEST_F(thr, a_pass_that_keeps_up_resets_the_count)
{
	const char *u = self->t.in.uuid;
	long long passes;

	start_precopy(_metadata, &self->t);
	EXPECT_EQ(0, slow_pass(_metadata, &self->t));	/* cursor past 1031 */
	passes = watch(u, "precopy_passes");
	/* 64 pages ahead of the cursor, 64 behind it */
	ASSERT_EQ(0, vs_vram_fill_pages(&self->t.in, 2000, 64, 0x33));
	ASSERT_EQ(0, vs_vram_fill_pages(&self->t.in, 100, 64, 0x34));
	EXPECT_GT(vs_drain(self->t.fd), 128 * PG);
	/*
	 * Two passes: the sweep read 2000-2063 and wrapped (dirtied 128,
	 * read 64: slow, the second in a row: engaged), then read 100-163
	 * with nothing dirtied meanwhile (kept up: the count restarts).
	 */
	EXPECT_EQ(passes + 2, watch(u, "precopy_passes"));
	EXPECT_EQ(0, watch(u, "last_pass_dirtied_pages"));
	EXPECT_EQ(64, watch(u, "last_pass_read_pages"));
	EXPECT_EQ(0, watch(u, "slow_passes"));
	EXPECT_EQ(20, watch(u, "throttle_percent"));
	/* and it takes two slow passes again to grow */
	EXPECT_EQ(20, slow_pass(_metadata, &self->t));
	EXPECT_EQ(30, slow_pass(_metadata, &self->t));
}

/* "off" means off: slow passes are counted, the engine is never held. */
TEST_F(thr, off_never_throttles)
{
	int i;

	ASSERT_EQ(0, inst_attr_write(&self->t.in, "migration_throttle", "off"));
	start_precopy(_metadata, &self->t);
	for (i = 0; i < 6; i++)
		EXPECT_EQ(0, slow_pass(_metadata, &self->t));
	EXPECT_EQ(6, watch(self->t.in.uuid, "slow_passes"));
	EXPECT_EQ(0, watch(self->t.in.uuid, "throttle_peak_percent"));
	EXPECT_EQ(0, watch(self->t.in.uuid, "throttle_held_ms"));
}

/* A policy change during a save applies from the next pass on. */
TEST_F(thr, policy_change_applies_at_the_next_pass)
{
	start_precopy(_metadata, &self->t);
	slow_pass(_metadata, &self->t);
	slow_pass(_metadata, &self->t);
	EXPECT_EQ(30, slow_pass(_metadata, &self->t));
	ASSERT_EQ(0, inst_attr_write(&self->t.in, "migration_throttle_max",
				     "25"));
	EXPECT_EQ(30, watch(self->t.in.uuid, "throttle_percent"));
	EXPECT_EQ(25, slow_pass(_metadata, &self->t));
	ASSERT_EQ(0, inst_attr_write(&self->t.in, "migration_throttle", "off"));
	EXPECT_EQ(25, watch(self->t.in.uuid, "engine_throttle_percent"));
	EXPECT_EQ(0, slow_pass(_metadata, &self->t));
	ASSERT_EQ(0, inst_attr_write(&self->t.in, "migration_throttle", "auto"));
	/* the count went on while off: the next slow pass engages again */
	EXPECT_EQ(20, slow_pass(_metadata, &self->t));
}

/* Bad policy values: -EINVAL, per instance and as module parameters. */
TEST_F(thr, bad_policy_values_are_einval)
{
	static const char *const bad_mode[] = { "on", "Auto", "auto off", "1",
						"offf", "\n" };
	static const char *const bad_max[] = { "0", "100", "-1", "abc", "50x",
					       "4294967346", "1e2", "\n" };
	char buf[64], info[4096];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad_mode); i++) {
		EXPECT_EQ(-EINVAL, inst_attr_write(&self->t.in,
						   "migration_throttle",
						   bad_mode[i]));
		EXPECT_EQ(-EINVAL, vs_sysfs_write(PARAM_DIR
						  "/migration_throttle",
						  bad_mode[i]));
	}
	for (i = 0; i < ARRAY_SIZE(bad_max); i++) {
		EXPECT_EQ(-EINVAL, inst_attr_write(&self->t.in,
						   "migration_throttle_max",
						   bad_max[i]));
		EXPECT_EQ(-EINVAL, vs_sysfs_write(PARAM_DIR
						  "/migration_throttle_max",
						  bad_max[i]));
	}
	/* nothing changed; the defaults are auto and 90 */
	ASSERT_EQ(0, inst_attr_read(&self->t.in, "migration_throttle", buf,
				    sizeof(buf)));
	EXPECT_STREQ("auto", buf);
	ASSERT_EQ(0, inst_attr_read(&self->t.in, "migration_throttle_max", buf,
				    sizeof(buf)));
	EXPECT_STREQ("90", buf);
	ASSERT_EQ(0, vs_sysfs_read(PARAM_DIR "/migration_throttle", buf,
				   sizeof(buf)));
	EXPECT_STREQ("auto", buf);
	ASSERT_EQ(0, vs_sysfs_read(PARAM_DIR "/migration_throttle_max", buf,
				   sizeof(buf)));
	EXPECT_STREQ("90", buf);
	/* good values, shown in migration_info */
	EXPECT_EQ(0, inst_attr_write(&self->t.in, "migration_throttle", "off\n"));
	EXPECT_EQ(0, inst_attr_write(&self->t.in, "migration_throttle_max", "99"));
	EXPECT_EQ(0, inst_attr_write(&self->t.in, "migration_throttle_max", "1"));
	ASSERT_EQ(0, inst_attr_read(&self->t.in, "migration_info", info,
				    sizeof(info)));
	EXPECT_NE(NULL, strstr(info, "\nmigration_throttle=off\n"));
	EXPECT_NE(NULL, strstr(info, "\nmigration_throttle_max=1"));
}

/* A new instance takes the module parameters as its policy. */
TEST_F(thr, new_instances_take_the_module_defaults)
{
	struct vs_inst other = { .device = -1 };
	char buf[64];

	ASSERT_EQ(0, vs_sysfs_write(PARAM_DIR "/migration_throttle", "off"));
	ASSERT_EQ(0, vs_sysfs_write(PARAM_DIR "/migration_throttle_max", "60"));
	EXPECT_EQ(0, vs_create(&other, VS_TYPE_128));
	vs_sysfs_write(PARAM_DIR "/migration_throttle", "auto");
	vs_sysfs_write(PARAM_DIR "/migration_throttle_max", "90");
	ASSERT_EQ(0, inst_attr_read(&other, "migration_throttle", buf,
				    sizeof(buf)));
	EXPECT_STREQ("off", buf);
	ASSERT_EQ(0, inst_attr_read(&other, "migration_throttle_max", buf,
				    sizeof(buf)));
	EXPECT_STREQ("60", buf);
	/* the existing instance kept its own */
	ASSERT_EQ(0, inst_attr_read(&self->t.in, "migration_throttle", buf,
				    sizeof(buf)));
	EXPECT_STREQ("auto", buf);
}

/* Outside pre-copy the rule never runs: stop-copy reads are no passes. */
TEST_F(thr, only_in_precopy)
{
	int fd = -1;

	ASSERT_EQ(0, vs_vram_fill_pages(&self->t.in, 2000, 64, 0x44));
	ASSERT_EQ(0, vs_mig_set_state(self->t.in.device, ST_STOP, NULL));
	ASSERT_EQ(0, vs_mig_set_state(self->t.in.device, ST_STOP_COPY, &fd));
	ASSERT_GE(fd, 0);
	EXPECT_GT(vs_drain(fd), 64 * PG);	/* to the end of the stream */
	close(fd);
	EXPECT_EQ(0, watch(self->t.in.uuid, "precopy_passes"));
	EXPECT_EQ(0, watch(self->t.in.uuid, "throttle_percent"));
	EXPECT_EQ(0, watch(self->t.in.uuid, "engine_throttle_percent"));
	ASSERT_EQ(0, vs_mig_set_state(self->t.in.device, ST_STOP, NULL));
	ASSERT_EQ(0, vs_mig_set_state(self->t.in.device, ST_RUNNING, NULL));
}

/* Every way out of pre-copy releases the throttle at once. */
FIXTURE(rel) {
	struct thr_ctx t;
};

FIXTURE_VARIANT(rel) {
	const char *how;
};

FIXTURE_VARIANT_ADD(rel, cancel) { .how = "cancel" };
FIXTURE_VARIANT_ADD(rel, stop_copy) { .how = "stop_copy" };
FIXTURE_VARIANT_ADD(rel, p2p_cancel) { .how = "p2p_cancel" };
FIXTURE_VARIANT_ADD(rel, reset) { .how = "reset" };
FIXTURE_VARIANT_ADD(rel, close) { .how = "close" };
FIXTURE_VARIANT_ADD(rel, fd_close_then_cancel) { .how = "fd_close" };

FIXTURE_SETUP(rel)
{
	struct thr_ctx *t = &self->t;
	char why[128];
	__u64 flags = 0;

	memset(t, 0, sizeof(*t));
	t->in.device = -1;
	t->fd = -1;
	t->next_page = 1000;
	vs_remove_all();
	ASSERT_EQ(0, vs_create(&t->in, VS_TYPE_128));
	ASSERT_EQ(0, vs_open(&t->in));
	if (!kernel_has_precopy(why, sizeof(why)))
		SKIP(return, "%s", why);
	ASSERT_EQ(0, vs_mig_flags(t->in.device, &flags));
	ASSERT_TRUE(flags & VFIO_MIGRATION_PRE_COPY);
	ASSERT_EQ(0, vs_vram_fill_pages(&t->in, 0, 64, 0x11));
}

FIXTURE_TEARDOWN(rel)
{
	if (self->t.fd >= 0)
		close(self->t.fd);
	if (self->t.in.device >= 0)
		vs_close(&self->t.in);
	vs_remove_all();
}

TEST_F(rel, releases_the_throttle)
{
	struct thr_ctx *t = &self->t;
	const char *how = variant->how;
	int fd = -1;

	start_precopy(_metadata, t);
	slow_pass(_metadata, t);
	slow_pass(_metadata, t);
	ASSERT_EQ(30, slow_pass(_metadata, t));
	ASSERT_EQ(30, watch(t->in.uuid, "engine_throttle_percent"));

	if (!strcmp(how, "cancel")) {
		ASSERT_EQ(0, vs_mig_set_state(t->in.device, ST_RUNNING, NULL));
	} else if (!strcmp(how, "stop_copy")) {
		ASSERT_EQ(0, vs_mig_set_state(t->in.device, ST_PRE_COPY_P2P,
					      NULL));
		/* still pre-copy: held, the engine quiesced anyway */
		EXPECT_EQ(30, watch(t->in.uuid, "throttle_percent"));
		ASSERT_EQ(0, vs_mig_set_state(t->in.device, ST_STOP_COPY,
					      &fd));
		if (fd >= 0)
			close(fd);
	} else if (!strcmp(how, "p2p_cancel")) {
		ASSERT_EQ(0, vs_mig_set_state(t->in.device, ST_PRE_COPY_P2P,
					      NULL));
		ASSERT_EQ(0, vs_mig_set_state(t->in.device, ST_RUNNING_P2P,
					      NULL));
	} else if (!strcmp(how, "reset")) {
		ASSERT_EQ(0, vs_dev_reset(t->in.device));
		EXPECT_EQ(ST_RUNNING, vs_mig_get_state(t->in.device));
	} else if (!strcmp(how, "close")) {
		close(t->fd);
		t->fd = -1;
		vs_close(&t->in);
	} else {
		/* QEMU dropping the fd alone is no exit: still pre-copy */
		close(t->fd);
		t->fd = -1;
		EXPECT_EQ(30, watch(t->in.uuid, "engine_throttle_percent"));
		ASSERT_EQ(0, vs_mig_set_state(t->in.device, ST_RUNNING, NULL));
	}
	EXPECT_EQ(0, watch(t->in.uuid, "throttle_percent"));
	EXPECT_EQ(0, watch(t->in.uuid, "engine_throttle_percent"));
	EXPECT_EQ(30, watch(t->in.uuid, "throttle_peak_percent"));
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Run @batches batches of 63 FILLs of 256 KiB and a FENCE: seconds taken,
 * or a negative value if the engine did not finish within 60 s.
 */
static double engine_work(struct vs_inst *in, void *ring, unsigned int batches)
{
	double t0 = now_s();
	unsigned int b, i;

	for (b = 0; b < batches; b++) {
		for (i = 0; i < RING_ENTRIES - 2; i++) {
			struct vslice_cmd c = vs_cmd_fill((uint64_t)i << 18,
							  0x5a000000 | b, 1 << 18);

			vs_ring_push(in, ring, RING_ENTRIES, &c);
		}
		{
			struct vslice_cmd c = vs_cmd_fence(FENCE_IOVA, b + 1);

			vs_ring_push(in, ring, RING_ENTRIES, &c);
		}
		if (vs_ring_wait_idle(in, 60000))
			return -1;
	}
	return now_s() - t0;
}

/*
 * A throttled engine is slower, never stalled: at 80 % it needs well over
 * twice the time the same work takes unthrottled, every command and fence
 * completes, and the time it held commands back is counted.
 */
TEST_F_TIMEOUT(thr, slows_the_engine_but_never_stalls_it, 300)
{
	unsigned int batches = 4, i;
	void *ring, *fence;
	double base, held;
	uint32_t cmds;

	ring = vs_dma_map(&self->t.in, RING_IOVA, RING_MAP);
	fence = vs_dma_map(&self->t.in, FENCE_IOVA, PG);
	ASSERT_NE(NULL, ring);
	ASSERT_NE(NULL, fence);
	vs_ring_setup(&self->t.in, RING_IOVA, RING_ENTRIES);

	/* at least 200 ms of work unthrottled, so that periods average out */
	base = engine_work(&self->t.in, ring, batches);
	ASSERT_GT(base, 0);
	while (base < 0.2 && batches < 4096) {
		batches *= 2;
		base = engine_work(&self->t.in, ring, batches);
		ASSERT_GT(base, 0);
	}

	ASSERT_EQ(0, inst_attr_write(&self->t.in, "migration_throttle_max",
				     "80"));
	start_precopy(_metadata, &self->t);
	for (i = 0; i < 8; i++)
		slow_pass(_metadata, &self->t);
	ASSERT_EQ(80, watch(self->t.in.uuid, "engine_throttle_percent"));

	cmds = vs_rd32(&self->t.in, VSLICE_REG_CMD_COUNT);
	held = engine_work(&self->t.in, ring, batches);
	ASSERT_GT(held, 0);		/* finished: not stalled */
	EXPECT_EQ(cmds + batches * (RING_ENTRIES - 1),
		  vs_rd32(&self->t.in, VSLICE_REG_CMD_COUNT));
	EXPECT_EQ(batches, __atomic_load_n((uint64_t *)fence, __ATOMIC_SEQ_CST));
	TH_LOG("%u batches: %.3f s unthrottled, %.3f s at 80 %% (%.1fx)",
	       batches, base, held, held / base);
	EXPECT_GT(held, 2.0 * base);
	EXPECT_GT(watch(self->t.in.uuid, "throttle_held_ms"), 0);
	EXPECT_GE(watch(self->t.in.uuid, "throttled_cmds"),
		  batches * (RING_ENTRIES - 1));

	/* released: full speed again */
	ASSERT_EQ(0, vs_mig_set_state(self->t.in.device, ST_RUNNING, NULL));
	held = engine_work(&self->t.in, ring, batches);
	ASSERT_GT(held, 0);
	TH_LOG("after the release: %.3f s", held);
	EXPECT_LT(held, 2.0 * base);
}

TEST_HARNESS_MAIN
