// SPDX-License-Identifier: GPL-2.0
/*
 * vslice v2 live migration, driven exactly as QEMU 10 drives it: the
 * MIG_DEVICE_STATE feature, the data fds, VFIO_MIG_GET_PRECOPY_INFO and
 * MIG_DATA_SIZE.  Covers the whole state machine, save in PRE_COPY with a
 * busy engine and restore into a second instance (registers, VRAM, and a
 * ring that was quiesced mid-way and continues on the destination),
 * incompatible and corrupted streams, stream sizes, arbitrary write splits
 * and closing the device in the middle of a migration.
 *
 * Instances: every fixture creates two (A = source, B = destination) and
 * removes them in teardown.  Tests that need PRE_COPY or MIG_DATA_SIZE
 * SKIP on kernels without them (6.1).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "vslice_lib.h"

/* ---------------------------------------------------------------------- */
/* VFIO migration uAPI helpers                                            */
/* ---------------------------------------------------------------------- */

/* the v2 states by number (ST_*) are vslice_lib.h's */
#define ST_NR		8u

static const char *const st_name[] = {
	[ST_ERROR] = "ERROR", [ST_STOP] = "STOP", [ST_RUNNING] = "RUNNING",
	[ST_STOP_COPY] = "STOP_COPY", [ST_RESUMING] = "RESUMING",
	[ST_RUNNING_P2P] = "RUNNING_P2P", [ST_PRE_COPY] = "PRE_COPY",
	[ST_PRE_COPY_P2P] = "PRE_COPY_P2P",
};

static const char *sname(unsigned int s)
{
	return s < ST_NR ? st_name[s] : "?";
}

static bool is_precopy(unsigned int s)
{
	return s == ST_PRE_COPY || s == ST_PRE_COPY_P2P;
}

/* The three states that share one save session (one data fd). */
static bool is_saving(unsigned int s)
{
	return is_precopy(s) || s == ST_STOP_COPY;
}

/* A feature header and its payload, 8-byte aligned like the payloads. */
union feat_buf {
	struct vfio_device_feature f;
	__u64 raw[(sizeof(struct vfio_device_feature) + 16) / 8];
};

/*
 * SET MIG_DEVICE_STATE.  Returns 0 or -errno; *data_fd gets what the
 * kernel wrote back (-1 when no file was handed out).  Unlike
 * vs_mig_set_state() it seeds data_fd with -2 and reports it even on
 * failure, so the tests see that the kernel always writes it back.
 */
static int mig_set(int dev, __u32 state, int *data_fd)
{
	union feat_buf b = { 0 };
	struct vfio_device_feature_mig_state *m = (void *)b.f.data;
	int ret = 0;

	b.f.argsz = sizeof(b.f) + sizeof(*m);
	b.f.flags = VFIO_DEVICE_FEATURE_SET |
		    VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE;
	m->device_state = state;
	m->data_fd = -2;	/* the kernel must overwrite this */
	if (ioctl(dev, VFIO_DEVICE_FEATURE, &b))
		ret = -errno;
	if (data_fd)
		*data_fd = m->data_fd;
	else if (m->data_fd >= 0)
		close(m->data_fd);
	return ret;
}

/* ---------------------------------------------------------------------- */
/* streams                                                                */
/* ---------------------------------------------------------------------- */

static __u64 rng_state = 0x9e3779b97f4a7c15ULL;

static __u64 rnd(void)
{
	__u64 x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rng_state = x;
	return x;
}

/*
 * Write @len bytes of @buf to a resume fd in pieces of @piece bytes
 * (0 = random sizes from 1 byte to 70 KiB).  Each write() must consume
 * exactly its piece.  Returns 0, or the -errno of the first failing write.
 */
static int stream_write(int fd, const __u8 *buf, size_t len, size_t piece)
{
	size_t off = 0;

	while (off < len) {
		size_t n = piece ? piece : 1 + rnd() % (70 * 1024);
		ssize_t w;

		if (n > len - off)
			n = len - off;
		w = write(fd, buf + off, n);
		if (w < 0)
			return -errno;
		if ((size_t)w != n)
			return -EIO;
		off += n;
	}
	return 0;
}

/* Offset of the first section of @type in @s, or -1. */
static long stream_find_sec(const struct vs_buf *s, __u32 type)
{
	size_t off = sizeof(struct vslice_stream_hdr);

	while (off + sizeof(struct vslice_stream_sec) <= s->len) {
		const struct vslice_stream_sec *sec = (const void *)(s->p + off);

		if (sec->type == type)
			return off;
		off += sizeof(*sec) + sec->len;
	}
	return -1;
}

/* ---------------------------------------------------------------------- */
/* device access                                                          */
/* ---------------------------------------------------------------------- */

/* Deterministic content: byte @off of pattern @seed. */
static void fill_pat(void *buf, size_t len, __u32 seed, __u64 off)
{
	__u8 *p = buf;
	size_t i;

	for (i = 0; i < len; i++) {
		__u64 x = (off + i) / 8 * 0x9e3779b97f4a7c15ULL + seed;

		x ^= x >> 29;
		x *= 0xbf58476d1ce4e5b9ULL;
		x ^= x >> 32;
		p[i] = (__u8)(x >> (((off + i) % 8) * 8));
	}
}

static int vram_write_pat(struct vs_inst *in, __u64 off, size_t len,
			  __u32 seed)
{
	void *buf = malloc(len);
	ssize_t r;

	if (!buf)
		return -ENOMEM;
	fill_pat(buf, len, seed, off);
	r = vs_vram_rw(in, off, buf, len, true);
	free(buf);
	return r == (ssize_t)len ? 0 : -EIO;
}

/* 0 if VRAM [off, off+len) of @in holds pattern @seed (seed 0: zeroes). */
static long vram_check_pat(struct vs_inst *in, __u64 off, size_t len,
			   __u32 seed)
{
	__u8 *got = malloc(len), *want = malloc(len);
	long ret = 0;
	size_t i;

	if (!got || !want) {
		ret = -ENOMEM;
		goto out;
	}
	if (seed)
		fill_pat(want, len, seed, off);
	else
		memset(want, 0, len);
	if (vs_vram_rw(in, off, got, len, false) != (ssize_t)len) {
		ret = -EIO;
		goto out;
	}
	for (i = 0; i < len; i++) {
		if (got[i] != want[i]) {
			ret = 1 + i;	/* 1-based offset of the first mismatch */
			break;
		}
	}
out:
	free(got);
	free(want);
	return ret;
}

/* Read VRAM [off, off+len) of @in into a new buffer. */
static __u8 *vram_snap(struct vs_inst *in, __u64 off, size_t len)
{
	__u8 *buf = malloc(len);

	if (buf && vs_vram_rw(in, off, buf, len, false) != (ssize_t)len) {
		free(buf);
		buf = NULL;
	}
	return buf;
}

/* -1 if equal, else the offset of the first difference. */
static long long first_diff(const __u8 *a, const __u8 *b, size_t len)
{
	size_t i;

	if (!memcmp(a, b, len))
		return -1;
	for (i = 0; i < len; i++)
		if (a[i] != b[i])
			return i;
	return -1;
}

/* BAR2 (VRAM) region: its size, and its offset in the device fd. */
static __u64 bar2_info(struct vs_inst *in, __u64 *off)
{
	struct vfio_region_info info;

	if (vs_region_info(in->device, VFIO_PCI_BAR2_REGION_INDEX, &info,
			   sizeof(info)))
		return 0;
	if (off)
		*off = info.offset;
	return info.size;
}

static void *bar2_mmap(struct vs_inst *in, size_t len)
{
	__u64 off = 0;
	void *p;

	if (len > bar2_info(in, &off))
		return NULL;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, in->device,
		 off);
	return p == MAP_FAILED ? NULL : p;
}

/* The BAR0 registers a migration must carry. */
struct regs {
	__u32 scratch[VSLICE_NR_SCRATCH];
	__u32 base_lo, base_hi, size, head, tail, control;
	__u32 fence_lo, fence_hi, cmd_count, irq_mask, irq_status, error;
};

static void regs_read(struct vs_inst *in, struct regs *r)
{
	int i;

	for (i = 0; i < VSLICE_NR_SCRATCH; i++)
		r->scratch[i] = vs_rd32(in, VSLICE_REG_SCRATCH(i));
	r->base_lo = vs_rd32(in, VSLICE_REG_RING_BASE_LO);
	r->base_hi = vs_rd32(in, VSLICE_REG_RING_BASE_HI);
	r->size = vs_rd32(in, VSLICE_REG_RING_SIZE);
	r->head = vs_rd32(in, VSLICE_REG_RING_HEAD);
	r->tail = vs_rd32(in, VSLICE_REG_RING_TAIL);
	r->control = vs_rd32(in, VSLICE_REG_CONTROL);
	r->fence_lo = vs_rd32(in, VSLICE_REG_FENCE_LO);
	r->fence_hi = vs_rd32(in, VSLICE_REG_FENCE_HI);
	r->cmd_count = vs_rd32(in, VSLICE_REG_CMD_COUNT);
	r->irq_mask = vs_rd32(in, VSLICE_REG_IRQ_MASK);
	r->irq_status = vs_rd32(in, VSLICE_REG_IRQ_STATUS);
	r->error = vs_rd32(in, VSLICE_REG_ERROR);
}

static void scratch_set(struct vs_inst *in, __u32 seed)
{
	int i;

	for (i = 0; i < VSLICE_NR_SCRATCH; i++)
		vs_wr32(in, VSLICE_REG_SCRATCH(i), seed * 0x01000193u + i);
}

static bool scratch_is(struct vs_inst *in, __u32 seed)
{
	int i;

	for (i = 0; i < VSLICE_NR_SCRATCH; i++)
		if (vs_rd32(in, VSLICE_REG_SCRATCH(i)) !=
		    seed * 0x01000193u + i)
			return false;
	return true;
}

/* ---------------------------------------------------------------------- */
/* the command engine                                                     */
/* ---------------------------------------------------------------------- */

#define DMA_IOVA	0x40000000ULL
#define DMA_SIZE	(8 * VS_MIB)
#define RING_ENTRIES	1024u
#define FENCE_OFF	(64 * 1024ULL)
#define SRC_OFF		(1 * VS_MIB)
#define SRC_LEN		(7 * VS_MIB)

static struct vslice_cmd cmd_copy(__u64 vram_off, __u64 iova,
				  __u64 len)
{
	struct vslice_cmd c = {
		.opcode = VSLICE_CMD_COPY_TO_VRAM,
		.vram_off = vram_off, .iova = iova, .len = len,
	};
	return c;
}

static struct vslice_cmd cmd_fence(__u64 value)
{
	return vs_cmd_fence(DMA_IOVA + FENCE_OFF, value);
}

/* Put @n commands in the ring after RING_TAIL, then one tail write + doorbell. */
static int ring_submit(struct vs_inst *in, void *ring,
		       const struct vslice_cmd *cmds, __u32 n)
{
	__u32 tail = vs_rd32(in, VSLICE_REG_RING_TAIL);
	__u32 head = vs_rd32(in, VSLICE_REG_RING_HEAD);
	__u32 used = (tail - head) & (RING_ENTRIES - 1);
	__u32 i;

	if (tail >= RING_ENTRIES || head >= RING_ENTRIES ||
	    n > RING_ENTRIES - 1 - used)
		return -ENOSPC;
	for (i = 0; i < n; i++)
		memcpy((char *)ring + ((tail + i) % RING_ENTRIES) *
		       VSLICE_CMD_SIZE, &cmds[i], sizeof(cmds[i]));
	__sync_synchronize();
	vs_wr32(in, VSLICE_REG_RING_TAIL, (tail + n) % RING_ENTRIES);
	vs_wr32(in, VSLICE_REG_DOORBELL, 1);
	return 0;
}

/*
 * A batch of @n commands working on VRAM [base, base + span): overlapping
 * fills and copies (so the final content depends on their order) and a
 * fence every 16 commands.
 */
static void gen_batch(struct vslice_cmd *cmds, __u32 n, __u64 base,
		      __u64 span, __u32 seed)
{
	__u32 i;

	for (i = 0; i < n; i++) {
		__u64 r = rnd();
		__u64 len, off;

		if (i % 16 == 15) {
			cmds[i] = cmd_fence(((__u64)seed << 32) | i);
			continue;
		}
		if (i % 3) {
			len = (1 + r % 64) * 4096;		/* 4..256 KiB */
			off = base + ((r >> 8) % (span - len)) / 4 * 4;
			cmds[i] = vs_cmd_fill(off, (__u32)(r >> 32) ^ seed, len);
		} else {
			len = (1 + r % 32) * 4096 - (r >> 40) % 64;
			off = base + (r >> 8) % (span - len);
			cmds[i] = cmd_copy(off, DMA_IOVA + SRC_OFF +
					   (r >> 20) % (SRC_LEN - len), len);
		}
	}
}

/* ---------------------------------------------------------------------- */
/* fixture: two instances                                                 */
/* ---------------------------------------------------------------------- */

struct pair {
	struct vs_inst a, b;
	__u64 flags;
	bool precopy;
	bool data_size;		/* MIG_DATA_SIZE exists (6.2+) */
	void *map;		/* BAR2 mmap of A, unmapped in teardown */
	size_t map_len;
	__u8 *dma_a, *dma_b;
};

static void pair_teardown(struct pair *p);

static void pair_setup(struct __test_metadata *_metadata, struct pair *p,
		       const char *type_a, const char *type_b)
{
	int ret;

	memset(p, 0, sizeof(*p));
	p->a.device = -1;
	p->b.device = -1;
	if (access(VS_PARENT_DIR, F_OK))
		SKIP(return, "vslice is not loaded (%s missing)", VS_PARENT_DIR);
	vs_remove_all();
	rng_state = 0x9e3779b97f4a7c15ULL;

	ASSERT_EQ(0, vs_create(&p->a, type_a));
	ASSERT_EQ(0, vs_create(&p->b, type_b));
	ret = vs_open(&p->a);
	if (ret == -ENODEV || ret == -ENOENT)
		SKIP(pair_teardown(p); return,
		     "no VFIO group for the instance (%d)", ret);
	ASSERT_EQ(0, ret);
	ASSERT_EQ(0, vs_open(&p->b));

	ASSERT_EQ(0, vs_mig_flags(p->a.device, &p->flags));
	ASSERT_TRUE(!!(p->flags & VFIO_MIGRATION_STOP_COPY));
	ASSERT_TRUE(!!(p->flags & VFIO_MIGRATION_P2P));
	/* what the kernel supports, not what the device says: a device
	 * that stops offering PRE_COPY fails these tests
	 */
	p->precopy = vs_kernel_has_precopy();
	p->data_size = p->precopy;
	ASSERT_EQ(ST_RUNNING, vs_mig_get_state(p->a.device));
	ASSERT_EQ(ST_RUNNING, vs_mig_get_state(p->b.device));
}

static void pair_teardown(struct pair *p)
{
	if (p->map)
		munmap(p->map, p->map_len);
	p->map = NULL;
	if (p->a.device >= 0 || p->a.uuid[0])
		vs_remove(&p->a);
	if (p->b.device >= 0 || p->b.uuid[0])
		vs_remove(&p->b);
}

/*
 * On every kernel >= 6.2 the device offers PRE_COPY, P2P and
 * MIG_DATA_SIZE; below, P2P and neither of the others.
 */
TEST(offers_what_the_kernel_supports)
{
	struct vs_inst in = { .device = -1 };
	bool want = vs_kernel_has_precopy();
	__u64 flags = 0, len;

	if (access(VS_PARENT_DIR, F_OK))
		SKIP(return, "vslice is not loaded (%s missing)", VS_PARENT_DIR);
	vs_remove_all();
	ASSERT_EQ(0, vs_create(&in, VS_TYPE_128));
	ASSERT_EQ(0, vs_open(&in));
	ASSERT_EQ(0, vs_mig_flags(in.device, &flags));
	EXPECT_TRUE(!!(flags & VFIO_MIGRATION_STOP_COPY));
	EXPECT_TRUE(!!(flags & VFIO_MIGRATION_P2P));
	EXPECT_EQ(want, !!(flags & VFIO_MIGRATION_PRE_COPY))
		TH_LOG("kernel %s: PRE_COPY must be offered %s", vs_kernel_release(),
		       want ? "(6.2+)" : "only on 6.2+");
	EXPECT_EQ(want, !vs_mig_data_size(in.device, &len))
		TH_LOG("kernel %s: MIG_DATA_SIZE must work %s", vs_kernel_release(),
		       want ? "(6.2+)" : "only on 6.2+");
	vs_remove(&in);
}

/* MIG_DATA_SIZE for a message: the number, or "n/a" on 6.1. */
static const char *ds_str(const struct pair *p, __u64 val, char buf[32])
{
	if (!p->data_size)
		return "n/a";
	snprintf(buf, 32, "%llu", (unsigned long long)val);
	return buf;
}

/* Save @in with RUNNING -> STOP_COPY, read to EOF, back to RUNNING. */
static void save_stopcopy(struct __test_metadata *_metadata,
			  struct vs_inst *in, struct vs_buf *s)
{
	int fd;

	ASSERT_EQ(0, mig_set(in->device, ST_STOP_COPY, &fd));
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, vs_buf_read_fd(fd, s, NULL));
	ASSERT_EQ(0, mig_set(in->device, ST_RUNNING, NULL));
	close(fd);
}

/*
 * Load @s into @in: RUNNING -> STOP -> RESUMING, write in pieces of
 * @piece (0 = random), RESUMING -> STOP.  Leaves @in in STOP.
 */
static void load_stream(struct __test_metadata *_metadata,
			struct vs_inst *in, const struct vs_buf *s,
			size_t piece)
{
	int fd, nofd;

	ASSERT_EQ(0, mig_set(in->device, ST_STOP, &nofd));
	ASSERT_EQ(-1, nofd);
	ASSERT_EQ(0, mig_set(in->device, ST_RESUMING, &fd));
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, stream_write(fd, s->p, s->len, piece));
	ASSERT_EQ(0, mig_set(in->device, ST_STOP, &nofd));
	ASSERT_EQ(-1, nofd);
	ASSERT_EQ(ST_STOP, vs_mig_get_state(in->device));
	/* the resume fd is dead once RESUMING is left */
	EXPECT_EQ(-1, write(fd, s->p, 1));
	EXPECT_EQ(ENODEV, errno);
	close(fd);
}

/*
 * A small, fully known source: scratch registers, a 16-page run, three
 * lone pages and the last page of VRAM.  Verified by content_check().
 */
#define C_SEED		0x5eed0001u
#define C_RUN_OFF	(1 * VS_MIB)
#define C_RUN_LEN	(64 * 1024)

static __u64 lone_page(int i)
{
	return (3 + 5 * i) * VS_MIB + 4096 * i;
}

static void content_make(struct __test_metadata *_metadata,
			 struct vs_inst *in)
{
	__u64 vram = bar2_info(in, NULL);
	int i;

	ASSERT_LT(0u, vram);
	scratch_set(in, C_SEED);
	ASSERT_EQ(0, vram_write_pat(in, C_RUN_OFF, C_RUN_LEN, C_SEED));
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, vram_write_pat(in, lone_page(i), 4096, C_SEED));
	ASSERT_EQ(0, vram_write_pat(in, vram - 4096, 4096, C_SEED));
}

/* Write junk where the content lives and next to it (never written by A). */
static void content_junk(struct __test_metadata *_metadata,
			 struct vs_inst *in)
{
	scratch_set(in, 0xbad);
	ASSERT_EQ(0, vram_write_pat(in, C_RUN_OFF - 4096, C_RUN_LEN + 8192,
				    0xbad));
	ASSERT_EQ(0, vram_write_pat(in, lone_page(1), 4096, 0xbad));
}

static void content_check(struct __test_metadata *_metadata,
			  struct vs_inst *in)
{
	__u64 vram = bar2_info(in, NULL);
	int i;

	ASSERT_LT(0u, vram);
	EXPECT_TRUE(scratch_is(in, C_SEED));
	EXPECT_EQ(0, vram_check_pat(in, C_RUN_OFF, C_RUN_LEN, C_SEED));
	for (i = 0; i < 3; i++)
		EXPECT_EQ(0, vram_check_pat(in, lone_page(i), 4096, C_SEED));
	EXPECT_EQ(0, vram_check_pat(in, vram - 4096, 4096, C_SEED));
	/* pages the source never wrote are zero, whatever was there before */
	EXPECT_EQ(0, vram_check_pat(in, C_RUN_OFF - 4096, 4096, 0));
	EXPECT_EQ(0, vram_check_pat(in, C_RUN_OFF + C_RUN_LEN, 4096, 0));
	EXPECT_EQ(0, vram_check_pat(in, 0, 4096, 0));
}

/* ---------------------------------------------------------------------- */
/* 1. the state machine: every (from, to) pair                            */
/* ---------------------------------------------------------------------- */

FIXTURE(fsm) {
	struct pair p;
	struct vs_buf good;	/* a stream B saved, for RESUMING */
};

FIXTURE_VARIANT(fsm) {
	__u32 from;
};

FIXTURE_VARIANT_ADD(fsm, from_stop) { .from = ST_STOP };
FIXTURE_VARIANT_ADD(fsm, from_running) { .from = ST_RUNNING };
FIXTURE_VARIANT_ADD(fsm, from_stop_copy) { .from = ST_STOP_COPY };
FIXTURE_VARIANT_ADD(fsm, from_resuming) { .from = ST_RESUMING };
FIXTURE_VARIANT_ADD(fsm, from_running_p2p) { .from = ST_RUNNING_P2P };
FIXTURE_VARIANT_ADD(fsm, from_pre_copy) { .from = ST_PRE_COPY };
FIXTURE_VARIANT_ADD(fsm, from_pre_copy_p2p) { .from = ST_PRE_COPY_P2P };

FIXTURE_SETUP(fsm)
{
	memset(&self->good, 0, sizeof(self->good));
	pair_setup(_metadata, &self->p, VS_TYPE_128, VS_TYPE_128);
	if (_metadata->exit_code)
		return;
	content_make(_metadata, &self->p.b);
	save_stopcopy(_metadata, &self->p.b, &self->good);
}

FIXTURE_TEARDOWN(fsm)
{
	vs_buf_free(&self->good);
	pair_teardown(&self->p);
}

/* Does entering @to from @from hand out a new data fd? */
static bool arc_gives_fd(__u32 from, __u32 to)
{
	if (from == to)
		return false;
	if (to == ST_RESUMING)
		return true;
	if (is_precopy(to))
		return !is_precopy(from);
	if (to == ST_STOP_COPY)
		return !is_precopy(from);
	return false;
}

/* Does the data fd of @from survive the move to @to? */
static bool fd_survives(__u32 from, __u32 to)
{
	if (from == to)
		return true;
	return is_precopy(from) && is_saving(to);
}

/* Does the core (vfio_mig_get_next_state) allow @from -> @to? */
static bool arc_allowed(__u32 from, __u32 to, bool precopy)
{
	if (to == ST_ERROR || to >= ST_NR)
		return false;
	if (is_precopy(to) && !precopy)
		return false;
	if (from == ST_STOP_COPY && is_precopy(to))
		return false;
	return true;
}

/* A save fd is alive: read does not say ENODEV. */
static bool save_fd_alive(int fd)
{
	char b[16];

	return read(fd, b, sizeof(b)) >= 0 || errno != ENODEV;
}

static void reach_state(struct __test_metadata *_metadata, struct pair *p,
			const struct vs_buf *good, __u32 from, int *from_fd)
{
	int fd;

	*from_fd = -1;
	ASSERT_EQ(0, vs_dev_reset(p->a.device));
	ASSERT_EQ(ST_RUNNING, vs_mig_get_state(p->a.device));
	if (from == ST_RUNNING)
		return;
	ASSERT_EQ(0, mig_set(p->a.device, from, &fd)) {
		TH_LOG("RUNNING -> %s failed", sname(from));
	}
	ASSERT_EQ(from, vs_mig_get_state(p->a.device));
	ASSERT_EQ(arc_gives_fd(ST_RUNNING, from), fd >= 0) {
		TH_LOG("RUNNING -> %s: data_fd %d", sname(from), fd);
	}
	if (from == ST_RESUMING)
		ASSERT_EQ(0, stream_write(fd, good->p, good->len, 0));
	*from_fd = fd;
}

static void check_arc(struct __test_metadata *_metadata, struct pair *p,
		      const struct vs_buf *good, __u32 from, __u32 to)
{
	bool ok = arc_allowed(from, to, p->precopy);
	int from_fd, fd, ret;
	__u64 len = 0, ini = 0, dirty = 0;
	char b[8];

	reach_state(_metadata, p, good, from, &from_fd);

	ret = mig_set(p->a.device, to, &fd);
	if (!ok) {
		EXPECT_EQ(-EINVAL, ret) {
			TH_LOG("%s -> %s should fail", sname(from), sname(to));
		}
		EXPECT_EQ(-1, fd);
		EXPECT_EQ(from, vs_mig_get_state(p->a.device)) {
			TH_LOG("%s -> %s failed but moved to %s", sname(from),
			       sname(to), sname(vs_mig_get_state(p->a.device)));
		}
		if (from_fd >= 0 && is_saving(from))
			EXPECT_TRUE(save_fd_alive(from_fd));
		goto out;
	}

	ASSERT_EQ(0, ret) {
		TH_LOG("%s -> %s failed: %s", sname(from), sname(to),
		       strerror(-ret));
	}
	EXPECT_EQ(to, vs_mig_get_state(p->a.device)) {
		TH_LOG("%s -> %s landed in %s", sname(from), sname(to),
		       sname(vs_mig_get_state(p->a.device)));
	}
	EXPECT_EQ(arc_gives_fd(from, to), fd >= 0) {
		TH_LOG("%s -> %s: data_fd %d", sname(from), sname(to), fd);
	}
	if (fd < 0)
		EXPECT_EQ(-1, fd);

	/* the old data fd: alive within a session, -ENODEV once left */
	if (from_fd >= 0) {
		if (fd_survives(from, to)) {
			if (is_saving(from)) {
				EXPECT_TRUE(save_fd_alive(from_fd)) {
					TH_LOG("%s -> %s killed the save fd",
					       sname(from), sname(to));
				}
			}
		} else if (is_saving(from)) {
			EXPECT_EQ(-1, read(from_fd, b, sizeof(b)));
			EXPECT_EQ(ENODEV, errno) {
				TH_LOG("%s -> %s: old save fd read errno %d",
				       sname(from), sname(to), errno);
			}
			/* outside PRE_COPY*: no PRECOPY_INFO */
			if (p->precopy) {
				EXPECT_EQ(-EINVAL,
					  vs_mig_precopy_info(from_fd, NULL, NULL));
			}
		} else {
			EXPECT_EQ(-1, write(from_fd, b, 1));
			EXPECT_EQ(ENODEV, errno) {
				TH_LOG("%s -> %s: old resume fd write errno %d",
				       sname(from), sname(to), errno);
			}
		}
	}

	/* the new data fd: a stream, PRECOPY_INFO only in PRE_COPY* */
	if (fd >= 0) {
		EXPECT_EQ(-1, to == ST_RESUMING ? pwrite(fd, b, 1, 0) :
						  pread(fd, b, 1, 0));
		EXPECT_EQ(ESPIPE, errno);
		if (is_saving(to) && p->precopy) {
			ret = vs_mig_precopy_info(fd, &ini, &dirty);
			if (is_precopy(to)) {
				EXPECT_EQ(0, ret);
				/* header at least, nothing dirty yet */
				EXPECT_LE(sizeof(struct vslice_stream_hdr), ini);
				EXPECT_EQ(0u, dirty);
			} else {
				EXPECT_EQ(-EINVAL, ret);
			}
		}
	}
	/* a surviving save fd that moved to STOP_COPY: no PRECOPY_INFO */
	if (from_fd >= 0 && is_precopy(from) && to == ST_STOP_COPY)
		EXPECT_EQ(-EINVAL, vs_mig_precopy_info(from_fd, NULL, NULL));

	if (p->data_size) {
		EXPECT_EQ(0, vs_mig_data_size(p->a.device, &len));
		EXPECT_LT(0u, len) {
			TH_LOG("MIG_DATA_SIZE is 0 in %s (from %s)", sname(to),
			       sname(from));
		}
	}
out:
	if (fd >= 0)
		close(fd);
	if (from_fd >= 0)
		close(from_fd);
}

TEST_F_TIMEOUT(fsm, every_target, 120)
{
	__u32 from = variant->from, to;
	__u32 bogus[] = { ST_ERROR, ST_NR, 0x7fffffff };
	int from_fd, fd;
	unsigned int i;

	if (is_precopy(from) && !self->p.precopy)
		SKIP(return, VS_SKIP_NO_PRECOPY, vs_kernel_release());

	for (to = ST_STOP; to < ST_NR; to++)
		check_arc(_metadata, &self->p, &self->good, from, to);

	/* ERROR and values outside the enum are never a valid target */
	for (i = 0; i < ARRAY_SIZE(bogus); i++) {
		reach_state(_metadata, &self->p, &self->good, from, &from_fd);
		EXPECT_EQ(-EINVAL, mig_set(self->p.a.device, bogus[i], &fd));
		EXPECT_EQ(-1, fd);
		EXPECT_EQ(from, vs_mig_get_state(self->p.a.device));
		if (from_fd >= 0)
			close(from_fd);
	}

	/* VFIO_DEVICE_RESET always gets back to RUNNING */
	reach_state(_metadata, &self->p, &self->good, from, &from_fd);
	EXPECT_EQ(0, vs_dev_reset(self->p.a.device));
	EXPECT_EQ(ST_RUNNING, vs_mig_get_state(self->p.a.device));
	if (from_fd >= 0) {
		char b[4];

		EXPECT_EQ(-1, is_saving(from) ? read(from_fd, b, sizeof(b)) :
						write(from_fd, b, sizeof(b)));
		EXPECT_EQ(ENODEV, errno);
		close(from_fd);
	}
}

/* ---------------------------------------------------------------------- */
/* 2. save with a busy engine, restore into B                             */
/* ---------------------------------------------------------------------- */

FIXTURE(mig) {
	struct pair p;
};

FIXTURE_SETUP(mig)
{
	pair_setup(_metadata, &self->p, VS_TYPE_128, VS_TYPE_128);
}

FIXTURE_TEARDOWN(mig)
{
	pair_teardown(&self->p);
}

/* VRAM layout of the busy tests (A is 128 MiB). */
#define R_BOOT		0			/* ring work before saving */
#define R_BOOT_LEN	(4 * VS_MIB)
#define R_PWRITE	(8 * VS_MIB)		/* BAR2 region writes */
#define R_MMAP		(12 * VS_MIB)		/* BAR2 mmap writes */
#define R_WLEN		(64 * 1024)
#define R_BUSY		(16 * VS_MIB)		/* ring work while saving */
#define R_BUSY_LEN	(16 * VS_MIB)
#define R_CMP_LEN	(R_BUSY + R_BUSY_LEN)	/* compared byte for byte */
#define R_JUNK		(40 * VS_MIB)		/* B's stale VRAM */
#define N_MIDRING	800u

/* A's engine: ring + source buffer mapped at DMA_IOVA, scratch, IRQ mask. */
static void engine_setup(struct __test_metadata *_metadata, struct pair *p)
{
	p->dma_a = vs_dma_map(&p->a, DMA_IOVA, DMA_SIZE);
	ASSERT_NE(NULL, p->dma_a);
	fill_pat(p->dma_a + SRC_OFF, SRC_LEN, 0xc0ffee, 0);
	scratch_set(&p->a, 0xa11ce);
	vs_wr32(&p->a, VSLICE_REG_IRQ_MASK, VSLICE_IRQ_ALL);
	vs_ring_setup(&p->a, DMA_IOVA, RING_ENTRIES);
	ASSERT_EQ(VSLICE_CTRL_ENABLE, vs_rd32(&p->a, VSLICE_REG_CONTROL));
	ASSERT_EQ(RING_ENTRIES, vs_rd32(&p->a, VSLICE_REG_RING_SIZE));
}

static __u32 submit_batch(struct __test_metadata *_metadata,
			  struct pair *p, __u32 n, __u64 base, __u64 span,
			  __u32 seed)
{
	struct vslice_cmd *cmds = calloc(n, sizeof(*cmds));

	if (!cmds)
		return 0;
	gen_batch(cmds, n, base, span, seed);
	if (ring_submit(&p->a, p->dma_a, cmds, n))
		n = 0;
	free(cmds);
	return n;
}

/*
 * The mid-ring batch: N_MIDRING commands, the first eight of them big
 * (16 MiB fills, 6 MiB copies: 64..96 engine steps each), the rest small.
 * Waits until the engine has finished the first one, so that the quiesce
 * which follows most likely lands inside a command (a checkpoint with
 * cmd_progress != 0) and certainly before the end of the ring.
 */
static __u32 submit_midring(struct __test_metadata *_metadata,
			    struct pair *p, __u32 seed)
{
	struct vslice_cmd *cmds = calloc(N_MIDRING, sizeof(*cmds));
	__u32 head, i;

	if (!cmds)
		return 0;
	for (i = 0; i < 8; i++) {
		if (i % 2)
			cmds[i] = cmd_copy(R_BUSY + i * VS_MIB + 4,
					   DMA_IOVA + SRC_OFF + i * 4096,
					   6 * VS_MIB - 4);
		else
			cmds[i] = vs_cmd_fill(R_BUSY, seed * 0x10001u + i, R_BUSY_LEN);
	}
	gen_batch(cmds + 8, N_MIDRING - 8, R_BUSY, R_BUSY_LEN, seed);
	head = vs_rd32(&p->a, VSLICE_REG_RING_HEAD);
	if (ring_submit(&p->a, p->dma_a, cmds, N_MIDRING)) {
		free(cmds);
		return 0;
	}
	free(cmds);
	/* busy-poll: a sleep here gives the engine time to finish it all */
	for (i = 0; i < 1000000; i++)
		if (vs_rd32(&p->a, VSLICE_REG_RING_HEAD) != head)
			break;
	return N_MIDRING;
}

/*
 * Quiesce mid-ring: the mid-ring batch, then at once @quiet (a P2P state).
 * The engine runs concurrently, so on a loaded host it can win and finish
 * the whole batch first; then back to @running and again, a few times.
 * Returns the commands submitted; on return commands are pending.
 */
static __u32 quiesce_midring(struct __test_metadata *_metadata,
			     struct pair *p, __u32 quiet, __u32 running,
			     __u32 seed)
{
	__u32 total = 0, try;
	int nofd;

	for (try = 0; try < 5; try++) {
		ASSERT_EQ(N_MIDRING, submit_midring(_metadata, p, seed + try));
		total += N_MIDRING;
		ASSERT_EQ(0, mig_set(p->a.device, quiet, &nofd));
		EXPECT_EQ(-1, nofd);
		if (vs_rd32(&p->a, VSLICE_REG_RING_HEAD) !=
		    vs_rd32(&p->a, VSLICE_REG_RING_TAIL))
			return total;
		ksft_print_msg("the engine finished all before %s: again\n",
			       sname(quiet));
		ASSERT_EQ(0, mig_set(p->a.device, running, NULL));
	}
	ASSERT_TRUE(false) {
		TH_LOG("the engine always finished before the quiesce");
	}
	return total;
}

/* The HW section of a stream (the last one, if several), or NULL. */
static const struct vslice_stream_hw *stream_hw(const struct vs_buf *s)
{
	long off = stream_find_sec(s, VSLICE_SEC_HW);

	if (off < 0)
		return NULL;
	return (const void *)(s->p + off + sizeof(struct vslice_stream_sec));
}

/* The state A had when its stream ended; compared with B after loading. */
struct saved {
	struct regs regs;
	__u8 *vram;		/* [0, R_CMP_LEN) */
};

/*
 * Restore @s into B, which gets A's guest memory (ring and sources) at the
 * same IOVA, and junk in VRAM beforehand.  Compares B in STOP with @sv,
 * then runs both: A resumes from STOP_COPY, B from STOP.
 */
static void restore_and_continue(struct __test_metadata *_metadata,
				 struct pair *p, const struct vs_buf *s,
				 const struct saved *sv, int a_fd,
				 __u32 total_cmds)
{
	const struct vslice_stream_hw *hw = stream_hw(s);
	struct regs rb, ra_end, rb_end;
	__u8 *vb, *va;
	long long d;
	char c;
	int i;

	/* the stream's HW section is A's registers at save time */
	ASSERT_NE(NULL, hw);
	EXPECT_EQ(sv->regs.head, hw->ring_head);
	EXPECT_EQ(sv->regs.tail, hw->ring_tail);
	EXPECT_EQ(sv->regs.cmd_count, hw->cmd_count);
	ksft_print_msg("stream checkpoint: ring_head %u, cmd_progress %llu\n",
		       hw->ring_head, (unsigned long long)hw->cmd_progress);

	ASSERT_EQ(0, vram_write_pat(&p->b, R_JUNK, 1 << 20, 0x3));
	ASSERT_EQ(0, vram_write_pat(&p->b, R_MMAP, R_WLEN, 0x4));
	scratch_set(&p->b, 0xbbbb);
	p->dma_b = vs_dma_map(&p->b, DMA_IOVA, DMA_SIZE);
	ASSERT_NE(NULL, p->dma_b);
	memcpy(p->dma_b, p->dma_a, DMA_SIZE);

	load_stream(_metadata, &p->b, s, 1 << 20);

	/* B in STOP holds exactly what A had when its stream ended */
	regs_read(&p->b, &rb);
	for (i = 0; i < VSLICE_NR_SCRATCH; i++)
		EXPECT_EQ(sv->regs.scratch[i], rb.scratch[i]);
	EXPECT_EQ(sv->regs.base_lo, rb.base_lo);
	EXPECT_EQ(sv->regs.base_hi, rb.base_hi);
	EXPECT_EQ(sv->regs.size, rb.size);
	EXPECT_EQ(sv->regs.head, rb.head);
	EXPECT_EQ(sv->regs.tail, rb.tail);
	EXPECT_EQ(sv->regs.control, rb.control);
	EXPECT_EQ(sv->regs.fence_lo, rb.fence_lo);
	EXPECT_EQ(sv->regs.fence_hi, rb.fence_hi);
	EXPECT_EQ(sv->regs.cmd_count, rb.cmd_count);
	EXPECT_EQ(sv->regs.irq_mask, rb.irq_mask);
	EXPECT_EQ(sv->regs.irq_status, rb.irq_status);
	EXPECT_EQ(sv->regs.error, rb.error);
	vb = vram_snap(&p->b, 0, R_CMP_LEN);
	ASSERT_NE(NULL, vb);
	d = first_diff(sv->vram, vb, R_CMP_LEN);
	EXPECT_EQ(-1, d) {
		TH_LOG("B's VRAM differs from A's saved VRAM at 0x%llx", d);
	}
	free(vb);
	EXPECT_EQ(0, vram_check_pat(&p->b, R_JUNK, 1 << 20, 0)) {
		TH_LOG("stale VRAM of B survived RESUMING");
	}

	/* both continue the ring: B from the stream, A from STOP_COPY */
	ASSERT_EQ(0, mig_set(p->b.device, ST_RUNNING, NULL));
	ASSERT_EQ(0, mig_set(p->a.device, ST_RUNNING, NULL));
	EXPECT_EQ(-1, read(a_fd, &c, 1));
	EXPECT_EQ(ENODEV, errno);
	EXPECT_EQ(0, vs_ring_wait_idle(&p->a, 240000));
	EXPECT_EQ(0, vs_ring_wait_idle(&p->b, 240000));

	regs_read(&p->a, &ra_end);
	regs_read(&p->b, &rb_end);
	ksft_print_msg("ring: %u cmds, %u pending at save (head %u tail %u); end: A %u, B %u\n",
		       total_cmds, (sv->regs.tail - sv->regs.head) %
		       RING_ENTRIES, sv->regs.head, sv->regs.tail,
		       ra_end.cmd_count, rb_end.cmd_count);
	EXPECT_EQ(total_cmds, ra_end.cmd_count);
	EXPECT_EQ(total_cmds, rb_end.cmd_count);
	EXPECT_EQ(ra_end.head, rb_end.head);
	EXPECT_EQ(ra_end.tail, rb_end.tail);
	EXPECT_EQ(ra_end.fence_lo, rb_end.fence_lo);
	EXPECT_EQ(ra_end.fence_hi, rb_end.fence_hi);
	EXPECT_EQ(0u, ra_end.error);
	EXPECT_EQ(0u, rb_end.error);

	va = vram_snap(&p->a, 0, R_CMP_LEN);
	vb = vram_snap(&p->b, 0, R_CMP_LEN);
	ASSERT_NE(NULL, va);
	ASSERT_NE(NULL, vb);
	d = first_diff(va, vb, R_CMP_LEN);
	EXPECT_EQ(-1, d) {
		TH_LOG("final VRAM of A and B differ at 0x%llx", d);
	}
	/* and the ring really did something after the save */
	EXPECT_NE(-1, first_diff(sv->vram + R_BUSY, va + R_BUSY, R_BUSY_LEN));
	free(va);
	free(vb);
}

/* Read pre-copy data until ENOMSG with the engine idle. */
static void drain_precopy(struct __test_metadata *_metadata, struct pair *p,
			  int fd, struct vs_buf *s, size_t *got)
{
	struct timespec ts = { 0, 2000000 };
	size_t n, total = 0;
	int ret, i;

	for (i = 0; i < 100000; i++) {
		ret = vs_buf_read_fd(fd, s, &n);
		total += n;
		ASSERT_EQ(-ENOMSG, ret) {
			TH_LOG("pre-copy read: %s", strerror(-ret));
		}
		if (vs_rd32(&p->a, VSLICE_REG_RING_HEAD) ==
		    vs_rd32(&p->a, VSLICE_REG_RING_TAIL) &&
		    !(vs_rd32(&p->a, VSLICE_REG_STATUS) & VSLICE_STATUS_BUSY)) {
			/* idle: one more pass picks up the last pages */
			ret = vs_buf_read_fd(fd, s, &n);
			total += n;
			ASSERT_EQ(-ENOMSG, ret);
			break;
		}
		nanosleep(&ts, NULL);
	}
	if (got)
		*got = total;
}

TEST_F_TIMEOUT(mig, precopy_busy_engine_roundtrip, 900)
{
	struct pair *p = &self->p;
	struct vs_buf s = { 0 };
	struct saved sv = { 0 };
	__u64 ini = 0, dirty = 0, d0 = 0, d1 = 0, d2 = 0, d3 = 0;
	__u64 reported = 0;
	__u32 total = 0, n;
	size_t got, pass1, stop_bytes;
	__u8 page[4096];
	int fd, nofd;

	if (!p->precopy)
		SKIP(return, VS_SKIP_NO_PRECOPY, vs_kernel_release());
	engine_setup(_metadata, p);
	p->map_len = 64 * VS_MIB;
	p->map = bar2_mmap(&p->a, p->map_len);
	ASSERT_NE(NULL, p->map);

	/* before migration: ring work, region writes, mmap writes */
	n = submit_batch(_metadata, p, 48, R_BOOT, R_BOOT_LEN, 1);
	ASSERT_EQ(48u, n);
	total += n;
	ASSERT_EQ(0, vs_ring_wait_idle(&p->a, 60000));
	ASSERT_EQ(0, vram_write_pat(&p->a, R_PWRITE, R_WLEN, 0x11));
	fill_pat((char *)p->map + R_MMAP, R_WLEN, 0x22, R_MMAP);

	/* PRE_COPY: the first pass is the initial data */
	ASSERT_EQ(0, mig_set(p->a.device, ST_PRE_COPY, &fd));
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, vs_mig_precopy_info(fd, &ini, &dirty));
	ksft_print_msg("PRE_COPY entry: initial_bytes %llu dirty_bytes %llu\n",
		       (unsigned long long)ini, (unsigned long long)dirty);
	EXPECT_LT((__u64)R_WLEN * 2, ini);
	EXPECT_EQ(0u, dirty);
	drain_precopy(_metadata, p, fd, &s, &pass1);
	ksft_print_msg("first pre-copy pass: %zu bytes\n", pass1);
	/* initial_bytes was a fair estimate of the first pass (idle engine) */
	EXPECT_LE(pass1 - pass1 / 50, ini);
	EXPECT_GE(pass1 + pass1 / 50 + 4096, ini);
	ASSERT_EQ(0, vs_mig_precopy_info(fd, &ini, &d0));
	EXPECT_EQ(0u, ini);
	EXPECT_EQ(0u, d0);

	/* dirty_bytes grows with each way VRAM gets written */
	fill_pat(page, sizeof(page), 0x33, R_PWRITE + 4096);
	ASSERT_EQ(4096, vs_vram_rw(&p->a, R_PWRITE + 4096, page, 4096, true));
	ASSERT_EQ(0, vs_mig_precopy_info(fd, &ini, &d1));
	EXPECT_EQ(0u, ini);
	EXPECT_LE(d0 + 4096, d1) {
		TH_LOG("BAR2 region write not seen as dirty");
	}
	/* a page that was mapped and written before PRE_COPY */
	fill_pat((char *)p->map + R_MMAP + 8192, 4096, 0x44, R_MMAP + 8192);
	ASSERT_EQ(0, vs_mig_precopy_info(fd, NULL, &d2));
	EXPECT_LE(d1 + 4096, d2) {
		TH_LOG("mmap write to an already mapped page not seen as dirty");
	}
	/* a page mapped for the first time */
	fill_pat((char *)p->map + R_MMAP + R_WLEN, 4096, 0x55,
		 R_MMAP + R_WLEN);
	ASSERT_EQ(0, vs_mig_precopy_info(fd, NULL, &d3));
	EXPECT_LE(d2 + 4096, d3) {
		TH_LOG("mmap write to a new page not seen as dirty");
	}
	/* the engine */
	{
		struct vslice_cmd c = vs_cmd_fill(R_BOOT_LEN, 0x66666666, VS_MIB);

		ASSERT_EQ(0, ring_submit(&p->a, p->dma_a, &c, 1));
		total++;
		ASSERT_EQ(0, vs_ring_wait_idle(&p->a, 60000));
	}
	ASSERT_EQ(0, vs_mig_precopy_info(fd, NULL, &dirty));
	EXPECT_LE(d3 + VS_MIB, dirty) {
		TH_LOG("engine FILL not seen as dirty (%llu -> %llu)",
		       (unsigned long long)d3, (unsigned long long)dirty);
	}
	ksft_print_msg("dirty_bytes: %llu -> %llu -> %llu -> %llu -> %llu\n",
		       (unsigned long long)d0, (unsigned long long)d1,
		       (unsigned long long)d2, (unsigned long long)d3,
		       (unsigned long long)dirty);

	/* busy: ring work while pre-copy data is read */
	n = submit_batch(_metadata, p, 300, R_BUSY, R_BUSY_LEN, 2);
	ASSERT_EQ(300u, n);
	total += n;
	ASSERT_EQ(0, vram_write_pat(&p->a, R_PWRITE + 8192, 8192, 0x77));
	fill_pat((char *)p->map + R_MMAP + 16384, 8192, 0x88, R_MMAP + 16384);
	drain_precopy(_metadata, p, fd, &s, &got);
	ksft_print_msg("busy pre-copy passes: %zu bytes\n", got);
	ASSERT_EQ(0, vs_mig_precopy_info(fd, &ini, &dirty));
	EXPECT_EQ(0u, ini);
	EXPECT_EQ(0u, dirty);

	/* quiesce mid-ring: many commands, then straight to PRE_COPY_P2P */
	total += quiesce_midring(_metadata, p, ST_PRE_COPY_P2P, ST_PRE_COPY, 3);
	ASSERT_EQ(-ENOMSG, vs_buf_read_fd(fd, &s, &got));
	EXPECT_EQ(0, vs_mig_precopy_info(fd, &ini, &dirty));
	EXPECT_EQ(0u, dirty);
	if (p->data_size)
		EXPECT_EQ(0, vs_mig_data_size(p->a.device, &reported));

	/* STOP_COPY on the same fd */
	ASSERT_EQ(0, mig_set(p->a.device, ST_STOP_COPY, &nofd));
	EXPECT_EQ(-1, nofd) {
		TH_LOG("PRE_COPY_P2P -> STOP_COPY returned a new fd (QEMU 10 fails)");
	}
	if (nofd >= 0)
		close(nofd);
	EXPECT_EQ(-EINVAL, vs_mig_precopy_info(fd, NULL, NULL));
	ASSERT_EQ(0, vs_buf_read_fd(fd, &s, &stop_bytes));
	EXPECT_EQ(0, read(fd, page, sizeof(page)));	/* EOF stays EOF */
	ksft_print_msg("stream %zu bytes, stop-copy %zu, MIG_DATA_SIZE before it %llu\n",
		       s.len, stop_bytes, (unsigned long long)reported);
	if (p->data_size)
		EXPECT_LE(stop_bytes, reported);
	ASSERT_EQ(ST_STOP_COPY, vs_mig_get_state(p->a.device));

	regs_read(&p->a, &sv.regs);
	EXPECT_NE(sv.regs.head, sv.regs.tail);
	sv.vram = vram_snap(&p->a, 0, R_CMP_LEN);
	ASSERT_NE(NULL, sv.vram);
	/* the writes during pre-copy are in A at save time ... */
	EXPECT_EQ(0, vram_check_pat(&p->a, R_MMAP + 8192, 4096, 0x44));
	EXPECT_EQ(0, vram_check_pat(&p->a, R_PWRITE + 4096, 4096, 0x33));

	restore_and_continue(_metadata, p, &s, &sv, fd, total);
	/* ... and B got them through the stream (checked before B ran) */
	EXPECT_EQ(0, vram_check_pat(&p->b, R_MMAP + 8192, 4096, 0x44));
	EXPECT_EQ(0, vram_check_pat(&p->b, R_MMAP + R_WLEN, 4096, 0x55));
	EXPECT_EQ(0, vram_check_pat(&p->b, R_PWRITE + 8192, 8192, 0x77));

	close(fd);
	free(sv.vram);
	vs_buf_free(&s);
}

/* The same without PRE_COPY: RUNNING -> RUNNING_P2P mid-ring -> STOP_COPY. */
TEST_F_TIMEOUT(mig, stopcopy_midring_roundtrip, 900)
{
	struct pair *p = &self->p;
	struct vs_buf s = { 0 };
	struct saved sv = { 0 };
	__u64 reported = 0;
	char dsbuf[32];
	__u32 total = 0, n;
	int fd;

	engine_setup(_metadata, p);
	p->map_len = 16 * VS_MIB;
	p->map = bar2_mmap(&p->a, p->map_len);
	ASSERT_NE(NULL, p->map);

	n = submit_batch(_metadata, p, 48, R_BOOT, R_BOOT_LEN, 11);
	ASSERT_EQ(48u, n);
	total += n;
	ASSERT_EQ(0, vs_ring_wait_idle(&p->a, 60000));
	ASSERT_EQ(0, vram_write_pat(&p->a, R_PWRITE, R_WLEN, 0x12));
	fill_pat((char *)p->map + R_MMAP, R_WLEN, 0x23, R_MMAP);

	total += quiesce_midring(_metadata, p, ST_RUNNING_P2P, ST_RUNNING, 12);
	if (p->data_size)
		EXPECT_EQ(0, vs_mig_data_size(p->a.device, &reported));
	ASSERT_EQ(0, mig_set(p->a.device, ST_STOP_COPY, &fd));
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, vs_buf_read_fd(fd, &s, NULL));
	ksft_print_msg("stop-copy stream %zu bytes, MIG_DATA_SIZE in RUNNING_P2P %s\n",
		       s.len, ds_str(p, reported, dsbuf));
	if (p->data_size) {
		EXPECT_LE(s.len, reported);
		EXPECT_GE(s.len + s.len / 100 + 4096, reported);
	}

	regs_read(&p->a, &sv.regs);
	EXPECT_NE(sv.regs.head, sv.regs.tail);
	sv.vram = vram_snap(&p->a, 0, R_CMP_LEN);
	ASSERT_NE(NULL, sv.vram);
	restore_and_continue(_metadata, p, &s, &sv, fd, total);
	close(fd);
	free(sv.vram);
	vs_buf_free(&s);
}

/* ---------------------------------------------------------------------- */
/* 3. incompatible and corrupted streams                                  */
/* ---------------------------------------------------------------------- */

/* B: RUNNING -> STOP -> RESUMING; returns the resume fd. */
static int enter_resuming(struct __test_metadata *_metadata,
			  struct vs_inst *in)
{
	int fd = -1;

	EXPECT_EQ(0, mig_set(in->device, ST_STOP, NULL));
	EXPECT_EQ(0, mig_set(in->device, ST_RESUMING, &fd));
	EXPECT_LE(0, fd);
	return fd;
}

/*
 * After a rejected stream: RESUMING cannot be left, VFIO_DEVICE_RESET
 * brings B back to RUNNING, and the good stream then loads into B.
 */
static void recover_and_load(struct __test_metadata *_metadata,
			     struct pair *p, int fd, int leave_err,
			     const struct vs_buf *good)
{
	char c = 0;

	EXPECT_EQ(leave_err, mig_set(p->b.device, ST_RUNNING, NULL));
	EXPECT_EQ(ST_RESUMING, vs_mig_get_state(p->b.device));
	ASSERT_EQ(0, vs_dev_reset(p->b.device));
	EXPECT_EQ(ST_RUNNING, vs_mig_get_state(p->b.device));
	EXPECT_EQ(-1, write(fd, &c, 1));
	EXPECT_EQ(ENODEV, errno);
	close(fd);

	content_junk(_metadata, &p->b);
	load_stream(_metadata, &p->b, good, 64 * 1024);
	ASSERT_EQ(0, mig_set(p->b.device, ST_RUNNING, NULL));
	content_check(_metadata, &p->b);
}

static void good_stream(struct __test_metadata *_metadata, struct pair *p,
			struct vs_buf *s)
{
	content_make(_metadata, &p->a);
	save_stopcopy(_metadata, &p->a, s);
	ASSERT_LT(sizeof(struct vslice_stream_hdr), s->len);
}

TEST_F(mig, good_stream_loads)
{
	struct vs_buf s = { 0 };

	good_stream(_metadata, &self->p, &s);
	ksft_print_msg("small stream (19 pages written): %zu bytes\n", s.len);
	content_junk(_metadata, &self->p.b);
	load_stream(_metadata, &self->p.b, &s, 0);
	ASSERT_EQ(0, mig_set(self->p.b.device, ST_RUNNING, NULL));
	content_check(_metadata, &self->p.b);
	vs_buf_free(&s);
}

static void patch_hdr(struct vs_buf *s, size_t field_off, __u16 val)
{
	struct vslice_stream_hdr *h = (void *)s->p;

	memcpy(s->p + field_off, &val, sizeof(val));
	h->hdr_crc = vs_crc32c(h, offsetof(struct vslice_stream_hdr, hdr_crc));
}

TEST_F(mig, newer_format_version_rejected)
{
	struct pair *p = &self->p;
	struct vs_buf s = { 0 }, bad = { 0 };
	struct vslice_stream_hdr *h;
	int fd;

	good_stream(_metadata, p, &s);
	h = (void *)s.p;
	/* our CRC32C agrees with the driver's */
	ASSERT_EQ(h->hdr_crc,
		  vs_crc32c(h, offsetof(struct vslice_stream_hdr, hdr_crc)));
	ASSERT_EQ(VSLICE_STREAM_VERSION_MAJOR, h->major);

	ASSERT_EQ(0, vs_buf_reserve(&bad, s.len));
	memcpy(bad.p, s.p, s.len);
	bad.len = s.len;

	/* major + 1 */
	patch_hdr(&bad, offsetof(struct vslice_stream_hdr, major),
		  VSLICE_STREAM_VERSION_MAJOR + 1);
	fd = enter_resuming(_metadata, &p->b);
	EXPECT_EQ(-EPROTONOSUPPORT,
		  stream_write(fd, bad.p, sizeof(struct vslice_stream_hdr), 0));
	recover_and_load(_metadata, p, fd, -EPROTONOSUPPORT, &s);

	/* minor newer than ours */
	memcpy(bad.p, s.p, s.len);
	patch_hdr(&bad, offsetof(struct vslice_stream_hdr, minor),
		  VSLICE_STREAM_VERSION_MINOR + 1);
	fd = enter_resuming(_metadata, &p->b);
	EXPECT_EQ(-EPROTONOSUPPORT, stream_write(fd, bad.p, bad.len, 0));
	recover_and_load(_metadata, p, fd, -EPROTONOSUPPORT, &s);

	/* major - 1 (an older incompatible format) */
	memcpy(bad.p, s.p, s.len);
	patch_hdr(&bad, offsetof(struct vslice_stream_hdr, major),
		  VSLICE_STREAM_VERSION_MAJOR - 1);
	fd = enter_resuming(_metadata, &p->b);
	EXPECT_EQ(-EPROTONOSUPPORT, stream_write(fd, bad.p, bad.len, 0));
	recover_and_load(_metadata, p, fd, -EPROTONOSUPPORT, &s);

	vs_buf_free(&bad);
	vs_buf_free(&s);
}

TEST_F(mig, bitflip_in_vram_rejected)
{
	struct pair *p = &self->p;
	struct vs_buf s = { 0 }, bad = { 0 };
	const struct vslice_stream_sec *sec;
	long off;
	size_t at;
	int fd;

	good_stream(_metadata, p, &s);
	off = stream_find_sec(&s, VSLICE_SEC_VRAM);
	ASSERT_LT(0, off);
	sec = (const void *)(s.p + off);
	at = off + sizeof(*sec) + sizeof(struct vslice_stream_vram) +
	     (sec->len - sizeof(struct vslice_stream_vram)) / 2;
	ASSERT_EQ(0, vs_buf_reserve(&bad, s.len));
	memcpy(bad.p, s.p, s.len);
	bad.len = s.len;
	bad.p[at] ^= 0x10;

	fd = enter_resuming(_metadata, &p->b);
	EXPECT_EQ(-EBADMSG, stream_write(fd, bad.p, bad.len, 0)) {
		TH_LOG("bit flip at byte %zu of %zu (VRAM section at %ld)",
		       at, bad.len, off);
	}
	recover_and_load(_metadata, p, fd, -EBADMSG, &s);

	/* the same in 1 KiB pieces: the write that completes the section fails */
	fd = enter_resuming(_metadata, &p->b);
	EXPECT_EQ(-EBADMSG, stream_write(fd, bad.p, bad.len, 1024));
	recover_and_load(_metadata, p, fd, -EBADMSG, &s);

	vs_buf_free(&bad);
	vs_buf_free(&s);
}

TEST_F(mig, truncated_stream_rejected)
{
	struct pair *p = &self->p;
	struct vs_buf s = { 0 };
	size_t cuts[4];
	unsigned int i;
	int fd;

	good_stream(_metadata, p, &s);
	cuts[0] = 0;
	cuts[1] = sizeof(struct vslice_stream_hdr);
	cuts[2] = s.len / 2;
	cuts[3] = s.len - 1;
	for (i = 0; i < ARRAY_SIZE(cuts); i++) {
		fd = enter_resuming(_metadata, &p->b);
		EXPECT_EQ(0, stream_write(fd, s.p, cuts[i], 4096));
		recover_and_load(_metadata, p, fd, -ENODATA, &s);
	}
	vs_buf_free(&s);
}

TEST_F(mig, bytes_after_end_rejected)
{
	struct pair *p = &self->p;
	struct vs_buf s = { 0 }, bad = { 0 };
	int fd;

	good_stream(_metadata, p, &s);
	ASSERT_EQ(0, vs_buf_reserve(&bad, s.len + 64));
	memcpy(bad.p, s.p, s.len);
	memset(bad.p + s.len, 0, 64);
	bad.len = s.len + 64;

	/* a separate write after a complete stream */
	fd = enter_resuming(_metadata, &p->b);
	EXPECT_EQ(0, stream_write(fd, s.p, s.len, 0));
	EXPECT_EQ(-EINVAL, stream_write(fd, bad.p + s.len, 1, 0));
	recover_and_load(_metadata, p, fd, -EINVAL, &s);

	/* trailing bytes inside the same write() */
	fd = enter_resuming(_metadata, &p->b);
	EXPECT_EQ(-EINVAL, stream_write(fd, bad.p, bad.len, bad.len));
	recover_and_load(_metadata, p, fd, -EINVAL, &s);

	vs_buf_free(&bad);
	vs_buf_free(&s);
}

/* ---------------------------------------------------------------------- */
/* 4. any split of the stream                                             */
/* ---------------------------------------------------------------------- */

TEST_F_TIMEOUT(mig, resume_accepts_any_split, 300)
{
	static const size_t pieces[] = { 1, 4096, 0 };
	struct pair *p = &self->p;
	struct vs_buf s = { 0 };
	unsigned int i;
	__u64 seed = time(NULL);

	good_stream(_metadata, p, &s);
	rng_state = seed | 1;
	ksft_print_msg("split: stream %zu bytes, random seed %llu\n", s.len,
		       (unsigned long long)seed);
	for (i = 0; i < ARRAY_SIZE(pieces); i++) {
		content_junk(_metadata, &p->b);
		load_stream(_metadata, &p->b, &s, pieces[i]);
		ASSERT_EQ(0, mig_set(p->b.device, ST_RUNNING, NULL));
		content_check(_metadata, &p->b);
		if (_metadata->exit_code)
			TH_LOG("failed with pieces of %zu (0 = random)",
			       pieces[i]);
	}
	vs_buf_free(&s);
}

/* ---------------------------------------------------------------------- */
/* 5. closing the device mid-migration                                    */
/* ---------------------------------------------------------------------- */

TEST_F(mig, close_in_resuming)
{
	struct pair *p = &self->p;
	struct vs_buf s = { 0 };
	char c = 0;
	int fd;

	good_stream(_metadata, p, &s);
	fd = enter_resuming(_metadata, &p->b);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, stream_write(fd, s.p, s.len / 2, 0));

	vs_close(&p->b);
	EXPECT_EQ(-1, write(fd, &c, 1));
	EXPECT_EQ(ENODEV, errno);
	ASSERT_EQ(0, vs_open(&p->b));
	EXPECT_EQ(ST_RUNNING, vs_mig_get_state(p->b.device));
	EXPECT_EQ(-1, write(fd, &c, 1));
	EXPECT_EQ(ENODEV, errno);
	close(fd);

	/* and the instance migrates normally afterwards */
	load_stream(_metadata, &p->b, &s, 0);
	ASSERT_EQ(0, mig_set(p->b.device, ST_RUNNING, NULL));
	content_check(_metadata, &p->b);
	vs_buf_free(&s);
}

TEST_F(mig, close_in_precopy)
{
	struct pair *p = &self->p;
	struct vs_buf s = { 0 };
	char buf[64];
	int fd;

	if (!p->precopy)
		SKIP(return, VS_SKIP_NO_PRECOPY, vs_kernel_release());
	content_make(_metadata, &p->a);
	ASSERT_EQ(0, mig_set(p->a.device, ST_PRE_COPY, &fd));
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)sizeof(buf), read(fd, buf, sizeof(buf)));

	vs_close(&p->a);
	EXPECT_EQ(-1, read(fd, buf, sizeof(buf)));
	EXPECT_EQ(ENODEV, errno);
	ASSERT_EQ(0, vs_open(&p->a));
	EXPECT_EQ(ST_RUNNING, vs_mig_get_state(p->a.device));
	EXPECT_EQ(-1, read(fd, buf, sizeof(buf)));
	EXPECT_EQ(ENODEV, errno);
	EXPECT_NE(0, vs_mig_precopy_info(fd, NULL, NULL));
	close(fd);

	/* a new session works */
	ASSERT_EQ(0, mig_set(p->a.device, ST_PRE_COPY, &fd));
	ASSERT_LE(0, fd);
	EXPECT_EQ(-ENOMSG, vs_buf_read_fd(fd, &s, NULL));
	ASSERT_EQ(0, mig_set(p->a.device, ST_STOP_COPY, NULL));
	EXPECT_EQ(0, vs_buf_read_fd(fd, &s, NULL));
	ASSERT_EQ(0, mig_set(p->a.device, ST_RUNNING, NULL));
	close(fd);
	load_stream(_metadata, &p->b, &s, 0);
	vs_buf_free(&s);
}

TEST_F(mig, close_in_stop_copy)
{
	struct pair *p = &self->p;
	char buf[64];
	int fd;

	content_make(_metadata, &p->a);
	ASSERT_EQ(0, mig_set(p->a.device, ST_STOP_COPY, &fd));
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)sizeof(buf), read(fd, buf, sizeof(buf)));
	vs_close(&p->a);
	EXPECT_EQ(-1, read(fd, buf, sizeof(buf)));
	EXPECT_EQ(ENODEV, errno);
	ASSERT_EQ(0, vs_open(&p->a));
	EXPECT_EQ(ST_RUNNING, vs_mig_get_state(p->a.device));
	close(fd);
}

/* MIG_DATA_SIZE is never 0 (QEMU 10's save_setup cannot allocate 0). */
TEST_F(mig, data_size_never_zero)
{
	struct pair *p = &self->p;
	struct vs_buf s = { 0 };
	__u64 len = 0;
	int fd;

	if (!p->data_size)
		SKIP(return, VS_SKIP_NO_PRECOPY, vs_kernel_release());
	ASSERT_EQ(0, vs_mig_data_size(p->a.device, &len));
	EXPECT_LT(0u, len);
	ksft_print_msg("MIG_DATA_SIZE of an untouched 128 MiB instance: %llu\n",
		       (unsigned long long)len);

	ASSERT_EQ(0, mig_set(p->a.device, ST_STOP_COPY, &fd));
	ASSERT_EQ(0, vs_mig_data_size(p->a.device, &len));
	EXPECT_LT(0u, len);
	ASSERT_EQ(0, vs_buf_read_fd(fd, &s, NULL));
	ASSERT_EQ(0, vs_mig_data_size(p->a.device, &len));
	EXPECT_LT(0u, len) {
		TH_LOG("MIG_DATA_SIZE is 0 in STOP_COPY after EOF");
	}
	close(fd);

	ASSERT_EQ(0, mig_set(p->b.device, ST_RESUMING, &fd));
	ASSERT_EQ(0, vs_mig_data_size(p->b.device, &len));
	EXPECT_LT(0u, len);
	close(fd);

	if (p->precopy) {
		ASSERT_EQ(0, mig_set(p->a.device, ST_RUNNING, NULL));
		ASSERT_EQ(0, mig_set(p->a.device, ST_PRE_COPY, &fd));
		EXPECT_EQ(-ENOMSG, vs_buf_read_fd(fd, &s, NULL));
		ASSERT_EQ(0, vs_mig_data_size(p->a.device, &len));
		EXPECT_LT(0u, len) {
			TH_LOG("MIG_DATA_SIZE is 0 in a drained PRE_COPY");
		}
		close(fd);
	}
	vs_buf_free(&s);
}

struct racer {
	struct vs_inst *in;
	bool stop;		/* __atomic */
	int fd;			/* the current save fd, or -1 */
	unsigned long reads, infos, resets;
};

/* Reader: hammer whatever save fd is current with read() and PRECOPY_INFO. */
static void *race_reader(void *arg)
{
	struct racer *r = arg;
	static char buf[256 * 1024];

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		int fd = __atomic_load_n(&r->fd, __ATOMIC_ACQUIRE);

		if (fd < 0)
			continue;
		if (read(fd, buf, sizeof(buf)) >= 0 || errno == ENOMSG)
			r->reads++;
		if (!vs_mig_precopy_info(fd, NULL, NULL))
			r->infos++;
	}
	return NULL;
}

/* Resetter: VFIO_DEVICE_RESET at random moments, racing the FSM. */
static void *race_resetter(void *arg)
{
	struct racer *r = arg;
	struct timespec ts = { 0, 0 };

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		ts.tv_nsec = (rnd() % 20000) * 1000;
		nanosleep(&ts, NULL);
		if (!vs_dev_reset(r->in->device))
			r->resets++;
	}
	return NULL;
}

/*
 * Data fd I/O, state changes and VFIO_DEVICE_RESET racing each other: no
 * splat, no hang, and afterwards the device is RUNNING and migrates.
 */
TEST_F_TIMEOUT(mig, reset_races_save_session, 120)
{
	struct pair *p = &self->p;
	struct racer r = { .in = &p->a, .fd = -1 };
	struct timespec ts = { 0, 0 };
	struct vs_buf s = { 0 };
	pthread_t rd, rs;
	time_t end;
	unsigned long sessions = 0;
	__u32 first, next;
	int fd, old;

	/* without PRE_COPY (6.1) the sessions are stop-copy ones */
	first = p->precopy ? ST_PRE_COPY : ST_STOP_COPY;
	ASSERT_EQ(0, pthread_create(&rd, NULL, race_reader, &r));
	ASSERT_EQ(0, pthread_create(&rs, NULL, race_resetter, &r));
	end = time(NULL) + 5;
	while (time(NULL) < end) {
		/* some VRAM to stream; the reset frees it again */
		vram_write_pat(&p->a, (rnd() % 64) * VS_MIB, 256 * 1024, 0x77);
		if (mig_set(p->a.device, first, &fd) || fd < 0)
			continue;
		old = __atomic_exchange_n(&r.fd, fd, __ATOMIC_ACQ_REL);
		if (old >= 0)
			close(old);
		sessions++;
		ts.tv_nsec = (rnd() % 5000) * 1000;
		nanosleep(&ts, NULL);
		next = ST_STOP_COPY;
		if (p->precopy && rnd() % 2)
			next = ST_PRE_COPY_P2P;
		mig_set(p->a.device, next, NULL);
		nanosleep(&ts, NULL);
		mig_set(p->a.device, ST_RUNNING, NULL);
	}
	__atomic_store_n(&r.stop, true, __ATOMIC_RELEASE);
	pthread_join(rd, NULL);
	pthread_join(rs, NULL);
	if (r.fd >= 0)
		close(r.fd);
	ksft_print_msg("race: %lu sessions, %lu reads, %lu PRECOPY_INFOs, %lu resets\n",
		       sessions, r.reads, r.infos, r.resets);
	EXPECT_LT(0ul, sessions);

	/* the device came out RUNNING and fully usable */
	ASSERT_EQ(0, vs_dev_reset(p->a.device));
	EXPECT_EQ(ST_RUNNING, vs_mig_get_state(p->a.device));
	content_make(_metadata, &p->a);
	save_stopcopy(_metadata, &p->a, &s);
	load_stream(_metadata, &p->b, &s, 0);
	ASSERT_EQ(0, mig_set(p->b.device, ST_RUNNING, NULL));
	content_check(_metadata, &p->b);
	vs_buf_free(&s);
}

/*
 * A failed arc may leave the device in ERROR (the module's fail_arc fault
 * makes the next arc into a state fail with -EIO).  From ERROR
 * the core refuses every target; VFIO_DEVICE_RESET recovers.
 */
TEST_F(mig, error_state_needs_reset)
{
	struct pair *p = &self->p;
	struct vs_buf s = { 0 };
	__u64 len = 0;
	__u32 to;
	char c;
	int fd;

	if (!vs_fault_have("fail_arc"))
		SKIP(return, "module built without VSLICE_FAULTS=y (no %s/fail_arc)",
		     VS_FAULT_DIR);

	content_make(_metadata, &p->a);
	ASSERT_EQ(0, vs_fault_set("fail_arc", 3));	/* STOP_COPY */
	EXPECT_EQ(-EIO, mig_set(p->a.device, ST_STOP_COPY, &fd));
	EXPECT_EQ(-1, fd);
	vs_fault_set("fail_arc", -1);
	ASSERT_EQ(ST_ERROR, vs_mig_get_state(p->a.device));
	for (to = ST_STOP; to < ST_NR; to++) {
		EXPECT_EQ(-EINVAL, mig_set(p->a.device, to, &fd));
		EXPECT_EQ(-1, fd);
		EXPECT_EQ(ST_ERROR, vs_mig_get_state(p->a.device));
	}
	if (p->data_size) {
		EXPECT_EQ(0, vs_mig_data_size(p->a.device, &len));
		EXPECT_LT(0u, len);
	}

	ASSERT_EQ(0, vs_dev_reset(p->a.device));
	EXPECT_EQ(ST_RUNNING, vs_mig_get_state(p->a.device));
	/* the reset is a reset: the content is gone, the device works */
	EXPECT_FALSE(scratch_is(&p->a, C_SEED));
	content_make(_metadata, &p->a);
	save_stopcopy(_metadata, &p->a, &s);
	load_stream(_metadata, &p->b, &s, 0);
	ASSERT_EQ(0, mig_set(p->b.device, ST_RUNNING, NULL));
	content_check(_metadata, &p->b);

	/* a failure in a resume session too: its fd dies with it */
	ASSERT_EQ(0, mig_set(p->b.device, ST_RESUMING, &fd));
	ASSERT_EQ(0, vs_fault_set("fail_arc", 1));	/* STOP */
	EXPECT_EQ(0, stream_write(fd, s.p, s.len, 0));
	EXPECT_EQ(-EIO, mig_set(p->b.device, ST_RUNNING, NULL));
	vs_fault_set("fail_arc", -1);
	EXPECT_EQ(ST_ERROR, vs_mig_get_state(p->b.device));
	EXPECT_EQ(-1, write(fd, &c, 1));
	EXPECT_EQ(ENODEV, errno);
	close(fd);
	ASSERT_EQ(0, vs_dev_reset(p->b.device));
	EXPECT_EQ(ST_RUNNING, vs_mig_get_state(p->b.device));
	vs_buf_free(&s);
}

/* ---------------------------------------------------------------------- */
/* 6. a stream for another type                                           */
/* ---------------------------------------------------------------------- */

FIXTURE(xtype) {
	struct pair p;
};

FIXTURE_SETUP(xtype)
{
	pair_setup(_metadata, &self->p, VS_TYPE_128, VS_TYPE_256);
}

FIXTURE_TEARDOWN(xtype)
{
	pair_teardown(&self->p);
}

TEST_F(xtype, other_type_rejected_at_header)
{
	struct pair *p = &self->p;
	struct vs_buf s = { 0 }, own = { 0 };
	char c = 0;
	int fd;

	good_stream(_metadata, p, &s);
	fd = enter_resuming(_metadata, &p->b);
	ASSERT_LE(0, fd);
	EXPECT_EQ(-EOPNOTSUPP,
		  stream_write(fd, s.p, sizeof(struct vslice_stream_hdr), 0));
	EXPECT_EQ(-EOPNOTSUPP, mig_set(p->b.device, ST_RUNNING, NULL));
	ASSERT_EQ(0, vs_dev_reset(p->b.device));
	EXPECT_EQ(ST_RUNNING, vs_mig_get_state(p->b.device));
	EXPECT_EQ(-1, write(fd, &c, 1));
	EXPECT_EQ(ENODEV, errno);
	close(fd);

	/* B is still usable: registers, VRAM, and its own migration */
	content_make(_metadata, &p->b);
	content_check(_metadata, &p->b);
	save_stopcopy(_metadata, &p->b, &own);
	content_junk(_metadata, &p->b);
	load_stream(_metadata, &p->b, &own, 0);
	ASSERT_EQ(0, mig_set(p->b.device, ST_RUNNING, NULL));
	content_check(_metadata, &p->b);
	vs_buf_free(&own);
	vs_buf_free(&s);
}

/* ---------------------------------------------------------------------- */
/* 7. stream sizes and MIG_DATA_SIZE (512 MiB instances)                  */
/* ---------------------------------------------------------------------- */

FIXTURE(size) {
	struct pair p;
};

FIXTURE_SETUP(size)
{
	pair_setup(_metadata, &self->p, VS_TYPE_512, VS_TYPE_512);
}

FIXTURE_TEARDOWN(size)
{
	pair_teardown(&self->p);
}

#define W_LEN	(8 * VS_MIB)

/* 8 MiB in 1 MiB chunks spread over the 512 MiB (contiguous or sparse). */
static void write_8m(struct __test_metadata *_metadata, struct vs_inst *in,
		     bool sparse)
{
	__u64 off;
	int i;

	for (i = 0; i < (sparse ? 2048 : 8); i++) {
		off = sparse ? (__u64)i * 256 * 1024 : (__u64)i * 64 * VS_MIB;
		ASSERT_EQ(0, vram_write_pat(in, off, sparse ? 4096 : VS_MIB,
					    0x800 + i));
	}
}

static void check_8m(struct __test_metadata *_metadata, struct vs_inst *in,
		     bool sparse)
{
	__u64 off;
	int i;

	for (i = 0; i < (sparse ? 2048 : 8); i++) {
		off = sparse ? (__u64)i * 256 * 1024 : (__u64)i * 64 * VS_MIB;
		ASSERT_EQ(0, vram_check_pat(in, off, sparse ? 4096 : VS_MIB,
					    0x800 + i));
	}
}

TEST_F(size, untouched_stream_is_tiny)
{
	struct pair *p = &self->p;
	struct vs_buf s = { 0 };
	__u64 reported = 0;
	char dsbuf[32];
	int fd;

	if (p->data_size)
		ASSERT_EQ(0, vs_mig_data_size(p->a.device, &reported));
	ASSERT_EQ(0, mig_set(p->a.device, ST_STOP_COPY, &fd));
	ASSERT_EQ(0, vs_buf_read_fd(fd, &s, NULL));
	close(fd);
	ksft_print_msg("untouched 512 MiB instance: stop-copy stream %zu bytes, MIG_DATA_SIZE %s\n",
		       s.len, ds_str(p, reported, dsbuf));
	ASSERT_GE(64u * 1024, s.len);
	EXPECT_GT(1024u, s.len);
	if (p->data_size) {
		EXPECT_LE(s.len, reported);
		EXPECT_GE(s.len + s.len / 100 + 4096, reported);
	}
	load_stream(_metadata, &p->b, &s, 0);
	ASSERT_EQ(0, mig_set(p->b.device, ST_RUNNING, NULL));
	EXPECT_EQ(0, vram_check_pat(&p->b, 0, VS_MIB, 0));
	vs_buf_free(&s);
}

TEST_F_TIMEOUT(size, converged_precopy_leaves_little, 300)
{
	struct pair *p = &self->p;
	struct vs_buf s = { 0 };
	__u64 reported = 0, ini = 0, dirty = 0;
	size_t pre, stop;
	int fd;

	if (!p->precopy)
		SKIP(return, VS_SKIP_NO_PRECOPY, vs_kernel_release());
	write_8m(_metadata, &p->a, false);
	ASSERT_EQ(0, mig_set(p->a.device, ST_PRE_COPY, &fd));
	ASSERT_EQ(-ENOMSG, vs_buf_read_fd(fd, &s, &pre));
	ASSERT_EQ(0, vs_mig_precopy_info(fd, &ini, &dirty));
	EXPECT_EQ(0u, ini);
	EXPECT_EQ(0u, dirty);
	ASSERT_EQ(0, mig_set(p->a.device, ST_PRE_COPY_P2P, NULL));
	EXPECT_EQ(-ENOMSG, vs_buf_read_fd(fd, &s, NULL));
	if (p->data_size)
		ASSERT_EQ(0, vs_mig_data_size(p->a.device, &reported));
	ASSERT_EQ(0, mig_set(p->a.device, ST_STOP_COPY, NULL));
	ASSERT_EQ(0, vs_buf_read_fd(fd, &s, &stop));
	close(fd);
	ksft_print_msg("8 MiB, converged: pre-copy %zu, stop-copy %zu, MIG_DATA_SIZE %llu\n",
		       pre, stop, (unsigned long long)reported);
	EXPECT_LE(W_LEN, pre);
	EXPECT_GE(W_LEN / 100 + 4096, stop);
	if (p->data_size) {
		EXPECT_LE(stop, reported);
		EXPECT_GE(stop + stop / 100 + 4096, reported);
	}
	ASSERT_EQ(0, mig_set(p->a.device, ST_RUNNING, NULL));

	load_stream(_metadata, &p->b, &s, 0);
	ASSERT_EQ(0, mig_set(p->b.device, ST_RUNNING, NULL));
	check_8m(_metadata, &p->b, false);
	vs_buf_free(&s);
}

/* MIG_DATA_SIZE taken in RUNNING vs the stop-copy that follows. */
static void data_size_case(struct __test_metadata *_metadata, struct pair *p,
			   bool sparse)
{
	struct vs_buf s = { 0 };
	__u64 reported = 0;
	int fd;

	write_8m(_metadata, &p->a, sparse);
	ASSERT_EQ(0, vs_mig_data_size(p->a.device, &reported));
	ASSERT_EQ(0, mig_set(p->a.device, ST_STOP_COPY, &fd));
	ASSERT_EQ(0, vs_buf_read_fd(fd, &s, NULL));
	close(fd);
	ksft_print_msg("8 MiB %s: MIG_DATA_SIZE in RUNNING %llu, stop-copy %zu bytes (+%lld)\n",
		       sparse ? "as 2048 lone pages" : "in 1 MiB chunks",
		       (unsigned long long)reported, s.len,
		       (long long)(reported - s.len));
	EXPECT_LE(s.len, reported);
	EXPECT_GE(s.len + s.len / 100 + 4096, reported);
	ASSERT_EQ(0, mig_set(p->a.device, ST_RUNNING, NULL));
	load_stream(_metadata, &p->b, &s, 0);
	ASSERT_EQ(0, mig_set(p->b.device, ST_RUNNING, NULL));
	check_8m(_metadata, &p->b, sparse);
	vs_buf_free(&s);
}

TEST_F_TIMEOUT(size, data_size_matches_stopcopy, 300)
{
	if (!self->p.data_size)
		SKIP(return, VS_SKIP_NO_PRECOPY, vs_kernel_release());
	data_size_case(_metadata, &self->p, false);
}

TEST_F_TIMEOUT(size, data_size_matches_sparse_stopcopy, 300)
{
	if (!self->p.data_size)
		SKIP(return, VS_SKIP_NO_PRECOPY, vs_kernel_release());
	data_size_case(_metadata, &self->p, true);
}

/* After pre-copy converged, dirty some pages: MIG_DATA_SIZE vs stop-copy. */
TEST_F_TIMEOUT(size, data_size_after_precopy_dirtying, 300)
{
	struct pair *p = &self->p;
	struct vs_buf s = { 0 };
	__u64 reported = 0;
	size_t stop;
	int fd, i;

	if (!p->precopy)
		SKIP(return, VS_SKIP_NO_PRECOPY, vs_kernel_release());
	if (!p->data_size)
		SKIP(return, VS_SKIP_NO_PRECOPY, vs_kernel_release());
	write_8m(_metadata, &p->a, false);
	ASSERT_EQ(0, mig_set(p->a.device, ST_PRE_COPY, &fd));
	ASSERT_EQ(-ENOMSG, vs_buf_read_fd(fd, &s, NULL));
	/* 1 MiB contiguous and 16 lone pages dirtied again */
	ASSERT_EQ(0, vram_write_pat(&p->a, 64 * VS_MIB, VS_MIB, 0x900));
	for (i = 0; i < 16; i++) {
		ASSERT_EQ(0, vram_write_pat(&p->a, 200 * VS_MIB + i * VS_MIB,
					    4096, 0x901 + i));
	}
	ASSERT_EQ(0, mig_set(p->a.device, ST_PRE_COPY_P2P, NULL));
	ASSERT_EQ(0, vs_mig_data_size(p->a.device, &reported));
	ASSERT_EQ(0, mig_set(p->a.device, ST_STOP_COPY, NULL));
	ASSERT_EQ(0, vs_buf_read_fd(fd, &s, &stop));
	close(fd);
	ksft_print_msg("1 MiB + 16 pages dirtied: MIG_DATA_SIZE %llu, stop-copy %zu\n",
		       (unsigned long long)reported, stop);
	EXPECT_LE(VS_MIB + 16 * 4096, stop);
	EXPECT_LE(stop, reported);
	EXPECT_GE(stop + stop / 100 + 4096, reported);
	ASSERT_EQ(0, mig_set(p->a.device, ST_RUNNING, NULL));

	load_stream(_metadata, &p->b, &s, 0);
	ASSERT_EQ(0, mig_set(p->b.device, ST_RUNNING, NULL));
	EXPECT_EQ(0, vram_check_pat(&p->b, 64 * VS_MIB, VS_MIB, 0x900));
	for (i = 0; i < 16; i++) {
		EXPECT_EQ(0, vram_check_pat(&p->b, 200 * VS_MIB + i * VS_MIB,
					    4096, 0x901 + i));
	}
	EXPECT_EQ(0, vram_check_pat(&p->b, 0, VS_MIB, 0x800));
	vs_buf_free(&s);
}

/* ---------------------------------------------------------------------- */
/* long reads and writes: the channel lock per page, a killed task stops  */
/* ---------------------------------------------------------------------- */

#define LONG_LEN	(64 * VS_MIB)

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The first 64 MiB of @in's VRAM, each MiB its own byte. */
static int long_fill(struct vs_inst *in, bool check)
{
	__u8 *chunk = malloc(VS_MIB), *want = malloc(VS_MIB);
	size_t i;
	int ret = 0;

	if (!chunk || !want)
		ret = -ENOMEM;
	for (i = 0; !ret && i < LONG_LEN; i += VS_MIB) {
		memset(want, 0xa5 ^ (int)(i / VS_MIB), VS_MIB);
		if (vs_vram_rw(in, i, check ? chunk : want, VS_MIB, !check) !=
		    (ssize_t)VS_MIB)
			ret = -EIO;
		else if (check && memcmp(chunk, want, VS_MIB))
			ret = 1 + i / VS_MIB;
	}
	free(chunk);
	free(want);
	return ret;
}

/* Bytes the resume channel of @uuid took so far (debugfs status), or -1. */
static long long resume_bytes(const char *uuid)
{
	char path[256], buf[4096], *p;

	snprintf(path, sizeof(path), VS_DEBUGFS_DIR "/%s/status", uuid);
	if (vs_sysfs_read(path, buf, sizeof(buf)))
		return -1;
	p = strstr(buf, "resume: bytes=");
	return p ? strtoll(p + strlen("resume: bytes="), NULL, 0) : -1;
}

static long long save_bytes(const char *uuid)
{
	return vs_mig_watch(uuid, "stopcopy_bytes");
}

/*
 * @pid is a child that wrote to @go and is now (or is about to be) in one
 * long read() or write() of a data fd.  Poll @progress (a debugfs file
 * that takes state_mutex and the channel lock, as teardown and
 * VFIO_DEVICE_RESET do) until the call has moved bytes, SIGKILL the child
 * and reap it.  Returns what @progress said while the call ran; *@after
 * gets what it says once the child is dead.
 */
static long long kill_mid_call(struct __test_metadata *_metadata, pid_t pid,
			       int go, long long (*progress)(const char *),
			       const char *uuid, long long *after)
{
	long long seen = 0;
	double t_kill;
	int i, status;
	char c;

	EXPECT_EQ(1, read(go, &c, 1));
	close(go);
	for (i = 0; i < 200000 && seen <= 0; i++)
		seen = progress(uuid);
	t_kill = now_s();
	kill(pid, SIGKILL);
	EXPECT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	*after = progress(uuid);
	ksft_print_msg("bytes while the call ran %lld, when killed %lld; reaped in %.3f s\n",
		       seen, *after, now_s() - t_kill);
	return seen;
}

/* Fork a child that signals @go, then reads or writes @len bytes at @buf. */
static pid_t long_call_child(int fd, void *buf, size_t len, bool write_fd,
			     int go[2])
{
	pid_t pid;

	if (pipe(go))
		return -1;
	pid = fork();
	if (pid) {
		close(go[1]);
		return pid;
	}
	if (!buf)
		buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (buf == MAP_FAILED || write(go[1], "g", 1) != 1)
		_exit(2);
	if (write_fd)
		write(fd, buf, len);	/* killed in here */
	else
		read(fd, buf, len);
	_exit(3);
}

/*
 * One read() of the whole stop-copy stream (64 MiB of VRAM) in a child.
 * While it runs the parent's debugfs read must get in and see the bytes so
 * far; then the child is killed: its read must stop between two pages,
 * leaving the rest of the stream to the parent, who reads it to EOF.  A
 * read that held the channel lock for the whole buffer makes the debugfs
 * read wait until the read is over, and one that ignored fatal signals
 * runs to the end of the buffer: either way nothing is left.
 */
TEST_F_TIMEOUT(mig, long_read_yields_the_lock_and_stops_when_killed, 300)
{
	struct pair *p = &self->p;
	struct vs_buf s = { 0 };
	long long seen, by_child;
	int fd, go[2];
	size_t rest;
	pid_t pid;

	ASSERT_EQ(0, long_fill(&p->a, false));
	if (save_bytes(p->a.uuid) < 0)
		SKIP(return, "no debugfs migration file (%s)", VS_DEBUGFS_DIR);
	ASSERT_EQ(0, mig_set(p->a.device, ST_STOP_COPY, &fd));
	ASSERT_LE(0, fd);
	pid = long_call_child(fd, NULL, LONG_LEN + VS_MIB, false, go);
	ASSERT_LT(0, pid);
	seen = kill_mid_call(_metadata, pid, go[0], save_bytes, p->a.uuid,
			     &by_child);
	ASSERT_EQ(0, vs_buf_read_fd(fd, &s, &rest));
	close(fd);
	ksft_print_msg("left for the parent: %zu\n", rest);
	EXPECT_LT(0, seen);
	EXPECT_GT(LONG_LEN, seen) TH_LOG("debugfs waited for the whole read");
	EXPECT_LT(0u, rest) TH_LOG("the killed read ran to the end");
	EXPECT_LE(LONG_LEN, by_child + rest);
	/* the channel is still good after the killed reader */
	EXPECT_EQ(ST_STOP_COPY, vs_mig_get_state(p->a.device));
	ASSERT_EQ(0, mig_set(p->a.device, ST_RUNNING, NULL));
	vs_buf_free(&s);
}

/*
 * The same for a resume write: one write() of a 64 MiB stream in a child,
 * killed once debugfs (status) has seen it move.  It must stop between
 * two pages having taken exactly what debugfs then says: the parent
 * writes the rest from there, and the stream completes (END's checksum
 * over every byte) with B holding A's VRAM - nothing lost, nothing twice.
 */
TEST_F_TIMEOUT(mig, long_write_yields_the_lock_and_stops_when_killed, 300)
{
	struct pair *p = &self->p;
	struct vs_buf s = { 0 };
	long long seen, by_child;
	int fd, go[2];
	pid_t pid;

	ASSERT_EQ(0, long_fill(&p->a, false));
	save_stopcopy(_metadata, &p->a, &s);
	ASSERT_LT(LONG_LEN, s.len);
	ASSERT_EQ(0, mig_set(p->b.device, ST_STOP, NULL));
	ASSERT_EQ(0, mig_set(p->b.device, ST_RESUMING, &fd));
	ASSERT_LE(0, fd);
	if (resume_bytes(p->b.uuid) < 0)
		SKIP(return, "no debugfs status file (%s)", VS_DEBUGFS_DIR);
	pid = long_call_child(fd, s.p, s.len, true, go);
	ASSERT_LT(0, pid);
	seen = kill_mid_call(_metadata, pid, go[0], resume_bytes, p->b.uuid,
			     &by_child);
	EXPECT_LT(0, seen);
	EXPECT_GT((long long)s.len, seen) TH_LOG("debugfs waited for the whole write");
	ASSERT_LE(0, by_child);
	ASSERT_GE((long long)s.len, by_child);
	EXPECT_GT((long long)s.len, by_child) TH_LOG("the killed write ran to the end");
	ASSERT_EQ(0, vs_stream_write_all(fd, s.p + by_child, s.len - by_child,
					 0));
	ASSERT_EQ(0, mig_set(p->b.device, ST_STOP, NULL));
	close(fd);
	ASSERT_EQ(0, mig_set(p->b.device, ST_RUNNING, NULL));
	EXPECT_EQ(0, long_fill(&p->b, true));
	vs_buf_free(&s);
}

/* Last (fixtures run in the order they are defined): no splat anywhere. */
FIXTURE(zz_log) {
	int unused;
};

FIXTURE_SETUP(zz_log)
{
}

FIXTURE_TEARDOWN(zz_log)
{
}

TEST_F(zz_log, kernel_log_is_clean)
{
	EXPECT_EQ(0, vs_dmesg_bad_lines());
}

TEST_HARNESS_MAIN
