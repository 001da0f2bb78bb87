// SPDX-License-Identifier: GPL-2.0
/*
 * vslice command engine: each command byte-exact in guest memory and VRAM,
 * FENCE memory/register/IRQ effects, type1 dirty-page scope of engine
 * writes, unmapping guest memory under a running command, every engine
 * error code, halt recovery, reset, and quiesce mid-command.
 *
 * Guest memory is an anonymous buffer mapped with VFIO_IOMMU_MAP_DMA; the
 * ring lives in its own mapping so that data mappings can be unmapped
 * without losing the ring.  VRAM is read back through the BAR2 region.
 */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/pci_regs.h>

#include "kselftest_harness.h"
#include "vslice_lib.h"

#define PG		4096ULL
#define RING_IOVA	0x100000ULL
#define RING_ENTRIES	64
#define RING_MAP	PG
#define BUF_IOVA	0x1000000ULL
#define BUF_PAGES	64
#define BUF_SIZE	(BUF_PAGES * PG)
#define BIG_IOVA	0x40000000ULL
#define UNMAPPED_IOVA	0x70000000ULL
#define IDLE_MS		60000
#define COPY_PIN_PARAM	"/sys/module/vslice/parameters/copy_pin"

struct eng {
	struct vs_inst in;
	__u8 *ring;
	__u8 *buf;
	__u64 vram_size;
	char saved_pin[8];
};

/* Registers as long: compares cleanly with any constant in ASSERT_*(). */
static long reg(struct eng *e, __u32 off)
{
	return vs_rd32(&e->in, off);
}

static long le32_at(const void *p)
{
	__u32 v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static void submit(struct eng *e, struct vslice_cmd c)
{
	vs_ring_push(&e->in, e->ring, RING_ENTRIES, &c);
}

static int wait_idle(struct eng *e)
{
	return vs_ring_wait_idle(&e->in, IDLE_MS);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Wait for STATUS.HALTED; returns ERROR, or -1 on timeout. */
static long wait_halted(struct eng *e)
{
	int i;

	for (i = 0; i < IDLE_MS; i++) {
		if (reg(e, VSLICE_REG_STATUS) & VSLICE_STATUS_HALTED)
			return reg(e, VSLICE_REG_ERROR);
		sleep_ms(1);
	}
	return -1;
}

/* After a halt: clear it and continue with an empty ring at RING_HEAD. */
static void ring_rearm(struct eng *e)
{
	vs_wr32(&e->in, VSLICE_REG_CONTROL, 0);
	vs_wr32(&e->in, VSLICE_REG_RING_TAIL,
		reg(e, VSLICE_REG_RING_HEAD));
	vs_wr32(&e->in, VSLICE_REG_CONTROL, VSLICE_CTRL_ENABLE);
}

static int vram_rw(struct eng *e, __u64 off, void *p, size_t len,
		   bool write)
{
	ssize_t r = vs_vram_rw(&e->in, off, p, len, write);

	return r < 0 ? (int)r : 0;
}

static long vram_rd32(struct eng *e, __u64 off)
{
	__u32 v = 0xdeadbeef;

	if (vram_rw(e, off, &v, sizeof(v), false))
		return -1;
	return le32toh(v);
}

static void fill_random(__u8 *p, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++) {
		seed = seed * 1103515245 + 12345;
		p[i] = seed >> 16;
	}
}

static bool all_bytes(const __u8 *p, size_t len, __u8 v)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != v)
			return false;
	return true;
}

static int set_copy_pin(struct eng *e, bool pin)
{
	if (!e->saved_pin[0] &&
	    vs_sysfs_read(COPY_PIN_PARAM, e->saved_pin, sizeof(e->saved_pin)))
		return -ENOENT;
	return vs_sysfs_write(COPY_PIN_PARAM, pin ? "Y" : "N");
}

static void restore_copy_pin(struct eng *e)
{
	if (e->saved_pin[0])
		vs_sysfs_write(COPY_PIN_PARAM, e->saved_pin);
}

/* Create and open an instance, map ring and data buffer, enable the ring. */
static int eng_open(struct eng *e)
{
	int ret;

	vs_remove_all();
	ret = vs_create(&e->in, VS_TYPE_128);
	if (ret)
		return ret;
	ret = vs_open(&e->in);
	if (ret)
		return ret;
	e->ring = vs_dma_map(&e->in, RING_IOVA, RING_MAP);
	e->buf = vs_dma_map(&e->in, BUF_IOVA, BUF_SIZE);
	if (!e->ring || !e->buf)
		return -ENOMEM;
	e->vram_size = reg(e, VSLICE_REG_VRAM_SIZE_LO) |
		       (__u64)reg(e, VSLICE_REG_VRAM_SIZE_HI) << 32;
	vs_ring_setup(&e->in, RING_IOVA, RING_ENTRIES);
	return 0;
}

static void eng_close(struct eng *e)
{
	restore_copy_pin(e);
	if (e->in.uuid[0])
		vs_remove(&e->in);
}

/* Find a PCI capability in config space; 0 if absent. */
static __u8 find_cap(struct eng *e, __u8 id)
{
	__u8 pos = 0, cap[2];
	int hops = 48;

	if (vs_cfg_read(&e->in, PCI_CAPABILITY_LIST, &pos, 1))
		return 0;
	while (pos >= 0x40 && hops--) {
		if (vs_cfg_read(&e->in, pos, cap, 2))
			return 0;
		if (cap[0] == id)
			return pos;
		pos = cap[1];
	}
	return 0;
}

static int irq_count(struct eng *e, unsigned int index)
{
	struct vfio_irq_info info = { .argsz = sizeof(info), .index = index };

	if (ioctl(e->in.device, VFIO_DEVICE_GET_IRQ_INFO, &info))
		return -errno;
	return info.count;
}

static int set_irq_eventfd(struct eng *e, unsigned int index, int fd)
{
	char raw[sizeof(struct vfio_irq_set) + sizeof(__s32)];
	struct vfio_irq_set *set = (struct vfio_irq_set *)raw;
	__s32 efd = fd;

	memset(raw, 0, sizeof(raw));
	set->argsz = sizeof(raw);
	set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	set->index = index;
	set->start = 0;
	set->count = 1;
	memcpy(set->data, &efd, sizeof(efd));
	return ioctl(e->in.device, VFIO_DEVICE_SET_IRQS, set) ? -errno : 0;
}

/* 1 if the eventfd was signalled within @ms, else 0. */
static int eventfd_fired(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	__u64 n = 0;

	if (poll(&p, 1, ms) != 1)
		return 0;
	return read(fd, &n, sizeof(n)) == sizeof(n) && n >= 1;
}

/* Read a data fd to EOF into a malloc()ed buffer; returns its length. */
static ssize_t read_stream(int fd, __u8 **out)
{
	size_t cap = 1 << 20, len = 0;
	__u8 *buf = malloc(cap), *nbuf;
	ssize_t n;

	while (buf) {
		if (len == cap) {
			nbuf = realloc(buf, cap * 2);
			if (!nbuf)
				break;
			buf = nbuf;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len);
		if (n == 0) {
			*out = buf;
			return len;
		}
		if (n < 0 && errno != EINTR)
			break;
		if (n > 0)
			len += n;
	}
	free(buf);
	return -1;
}

static int write_stream(int fd, const __u8 *buf, size_t len)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = write(fd, buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += n;
	}
	return 0;
}

/* ------------------------------------------------------------------ */

FIXTURE(engine) {
	struct eng e;
	struct eng peer;	/* migration destination, when a test needs one */
};

FIXTURE_SETUP(engine)
{
	if (access(VS_PARENT_DIR, F_OK))
		SKIP(return, "vslice is not loaded (%s missing)", VS_PARENT_DIR);
	ASSERT_EQ(0, eng_open(&self->e));
}

FIXTURE_TEARDOWN(engine)
{
	if (vs_fault_have("engine_hold"))
		vs_fault_set("engine_hold", -1);
	eng_close(&self->peer);
	eng_close(&self->e);
}

TEST_F(engine, fill_writes_pattern_exactly)
{
	struct eng *e = &self->e;
	const __u64 off = PG + 12, len = 3 * PG + 8;
	__u8 *vram = malloc(6 * PG);
	__u64 i;

	ASSERT_NE(NULL, vram);
	submit(e, vs_cmd_fill(off, 0xa5c31234, len));
	ASSERT_EQ(0, wait_idle(e)) TH_LOG("FILL completes without error");
	ASSERT_EQ(0, vram_rw(e, 0, vram, 6 * PG, false));
	for (i = 0; i < len; i += 4)
		ASSERT_EQ(0xa5c31234, le32_at(vram + off + i))
			TH_LOG("FILL: word at VRAM+%#llx holds the pattern",
			       (unsigned long long)(off + i));
	ASSERT_TRUE(all_bytes(vram, off, 0))
		TH_LOG("FILL: VRAM before the range untouched");
	ASSERT_TRUE(all_bytes(vram + off + len, 6 * PG - off - len, 0))
		TH_LOG("FILL: VRAM after the range untouched");
	ASSERT_EQ(1, reg(e, VSLICE_REG_CMD_COUNT));
	free(vram);
}

TEST_F(engine, fill_across_steps_is_exact)
{
	struct eng *e = &self->e;
	const __u64 off = 3 * (1 << 20) + 4, len = (1 << 20) + PG + 4;

	submit(e, vs_cmd_fill(off, 0x01020304, len));
	ASSERT_EQ(0, wait_idle(e));
	ASSERT_EQ(0, vram_rd32(e, off - 4)) TH_LOG("FILL: word before untouched");
	ASSERT_EQ(0x01020304, vram_rd32(e, off));
	ASSERT_EQ(0x01020304, vram_rd32(e, off + 256 * 1024 - 4))
		TH_LOG("FILL: last word of the first step");
	ASSERT_EQ(0x01020304, vram_rd32(e, off + 256 * 1024))
		TH_LOG("FILL: first word of the second step");
	ASSERT_EQ(0x01020304, vram_rd32(e, off + len - 4))
		TH_LOG("FILL: last word of the command");
	ASSERT_EQ(0, vram_rd32(e, off + len)) TH_LOG("FILL: word after untouched");
}

TEST_F(engine, copy_to_vram_is_byte_exact)
{
	struct eng *e = &self->e;
	const __u64 src = 123, dst = 777, len = 200000;
	__u8 *vram = malloc(len + 2 * PG);

	ASSERT_NE(NULL, vram);
	fill_random(e->buf, BUF_SIZE, 1);
	submit(e, vs_cmd_to_vram(BUF_IOVA + src, dst, len));
	ASSERT_EQ(0, wait_idle(e));
	ASSERT_EQ(0, vram_rw(e, 0, vram, len + 2 * PG, false));
	ASSERT_EQ(0, memcmp(vram + dst, e->buf + src, len))
		TH_LOG("COPY_TO_VRAM: VRAM equals the guest source byte for byte");
	ASSERT_TRUE(all_bytes(vram, dst, 0))
		TH_LOG("COPY_TO_VRAM: VRAM before the range untouched");
	ASSERT_TRUE(all_bytes(vram + dst + len, 2 * PG - dst, 0))
		TH_LOG("COPY_TO_VRAM: VRAM after the range untouched");
}

TEST_F(engine, fence_writes_value_and_latches_registers)
{
	struct eng *e = &self->e;
	const __u64 val = 0x1122334455667788ULL;
	__u64 *slot = (__u64 *)(e->buf + 5 * PG + 40);

	slot[-1] = 0x5a5a5a5a5a5a5a5aULL;
	slot[1] = 0x5a5a5a5a5a5a5a5aULL;
	vs_wr32(&e->in, VSLICE_REG_IRQ_MASK, VSLICE_IRQ_ALL);
	submit(e, vs_cmd_fence(BUF_IOVA + 5 * PG + 40, val));
	ASSERT_EQ(0, wait_idle(e));
	ASSERT_EQ(val, le64toh(*slot)) TH_LOG("FENCE: guest u64 holds the value");
	ASSERT_EQ(0x5a5a5a5a5a5a5a5aULL, slot[-1]) TH_LOG("FENCE: neighbours kept");
	ASSERT_EQ(0x5a5a5a5a5a5a5a5aULL, slot[1]);
	ASSERT_EQ((__u32)val, reg(e, VSLICE_REG_FENCE_LO))
		TH_LOG("FENCE: FENCE_LO latched");
	ASSERT_EQ((__u32)(val >> 32), reg(e, VSLICE_REG_FENCE_HI))
		TH_LOG("FENCE: FENCE_HI latched");
	ASSERT_TRUE(reg(e, VSLICE_REG_IRQ_STATUS) & VSLICE_IRQ_FENCE)
		TH_LOG("FENCE: IRQ_STATUS.FENCE pending");
	vs_wr32(&e->in, VSLICE_REG_IRQ_ACK, VSLICE_IRQ_FENCE);
	ASSERT_FALSE(reg(e, VSLICE_REG_IRQ_STATUS) & VSLICE_IRQ_FENCE)
		TH_LOG("FENCE: IRQ_ACK clears IRQ_STATUS.FENCE");
}

/* Guest-style MSI enable: memory + bus master, MSI capability enable bit. */
static void enable_msi(struct __test_metadata *_metadata, struct eng *e)
{
	__u16 cmd, ctrl;
	__u8 msi;

	msi = find_cap(e, PCI_CAP_ID_MSI);
	ASSERT_NE(0, msi) TH_LOG("config space lists an MSI capability");
	ASSERT_EQ(0, vs_cfg_read(&e->in, PCI_COMMAND, &cmd, 2));
	cmd |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	ASSERT_EQ(0, vs_cfg_write(&e->in, PCI_COMMAND, &cmd, 2));
	ASSERT_EQ(0, vs_cfg_read(&e->in, msi + PCI_MSI_FLAGS, &ctrl, 2));
	ctrl |= PCI_MSI_FLAGS_ENABLE;
	ASSERT_EQ(0, vs_cfg_write(&e->in, msi + PCI_MSI_FLAGS, &ctrl, 2));
}

TEST_F(engine, zero_length_commands_are_noops)
{
	struct eng *e = &self->e;

	submit(e, vs_cmd_fill(e->vram_size + 3, 0xffffffff, 0));
	submit(e, vs_cmd_to_vram(UNMAPPED_IOVA, e->vram_size + PG, 0));
	submit(e, vs_cmd_from_vram(~0ULL, ~0ULL, 0));
	submit(e, vs_cmd(VSLICE_CMD_NOP, 0, 0, 0, 0));
	ASSERT_EQ(0, wait_idle(e))
		TH_LOG("zero-length FILL/COPY and NOP complete, no halt");
	ASSERT_EQ(4, reg(e, VSLICE_REG_CMD_COUNT));
	ASSERT_EQ(0, reg(e, VSLICE_REG_ERROR));
	ASSERT_EQ(0, vram_rd32(e, 0)) TH_LOG("zero-length commands write nothing");
}

TEST_F(engine, ring_wraps_and_counts)
{
	struct eng *e = &self->e;
	__u32 i;

	for (i = 0; i < 3 * RING_ENTRIES + 5; i++) {
		submit(e, vs_cmd_fill(4 * (__u64)i, i, 4));
		if ((i % (RING_ENTRIES / 2)) == RING_ENTRIES / 2 - 1)
			ASSERT_EQ(0, wait_idle(e));
	}
	ASSERT_EQ(0, wait_idle(e));
	ASSERT_EQ(3 * RING_ENTRIES + 5, reg(e, VSLICE_REG_CMD_COUNT))
		TH_LOG("every entry runs once across ring wraps");
	ASSERT_EQ(5, reg(e, VSLICE_REG_RING_HEAD))
		TH_LOG("RING_HEAD wraps modulo RING_SIZE");
	for (i = 0; i < 3 * RING_ENTRIES + 5; i++)
		ASSERT_EQ(i, vram_rd32(e, 4 * (__u64)i))
			TH_LOG("entries run in ring order (word %u)", i);
}

TEST_F(engine, halt_stops_later_commands)
{
	struct eng *e = &self->e;

	submit(e, vs_cmd_fill(0, 0x11111111, 4));
	submit(e, vs_cmd(99, 0, 0, 0, 0));
	submit(e, vs_cmd_fill(4, 0x22222222, 4));
	ASSERT_EQ(VSLICE_ERR_OPCODE, wait_halted(e));
	ASSERT_EQ(1, reg(e, VSLICE_REG_RING_HEAD))
		TH_LOG("RING_HEAD stays on the bad entry");
	ASSERT_EQ(1, reg(e, VSLICE_REG_CMD_COUNT));
	ASSERT_EQ(0x11111111, vram_rd32(e, 0));
	sleep_ms(50);
	ASSERT_EQ(0, vram_rd32(e, 4)) TH_LOG("no entry after the bad one runs");
	ASSERT_EQ(1, reg(e, VSLICE_REG_RING_HEAD));
}

TEST_F(engine, control_clear_recovers_from_halt)
{
	struct eng *e = &self->e;
	struct vslice_cmd nop = vs_cmd(VSLICE_CMD_NOP, 0, 0, 0, 0);

	submit(e, vs_cmd(VSLICE_CMD_NOP, 1, 0, 0, 0));
	submit(e, vs_cmd_fill(0, 0x33333333, 4));
	ASSERT_EQ(VSLICE_ERR_OPCODE, wait_halted(e))
		TH_LOG("NOP with a nonzero field is rejected");
	vs_wr32(&e->in, VSLICE_REG_CONTROL, 0);
	ASSERT_EQ(0, reg(e, VSLICE_REG_STATUS) & VSLICE_STATUS_HALTED)
		TH_LOG("clearing CONTROL.ENABLE clears STATUS.HALTED");
	ASSERT_EQ(VSLICE_ERR_NONE, reg(e, VSLICE_REG_ERROR))
		TH_LOG("clearing CONTROL.ENABLE clears ERROR");
	memcpy(e->ring, &nop, sizeof(nop));
	__sync_synchronize();
	vs_wr32(&e->in, VSLICE_REG_CONTROL, VSLICE_CTRL_ENABLE);
	ASSERT_EQ(0, wait_idle(e)) TH_LOG("re-enabled engine runs the fixed entry");
	ASSERT_EQ(2, reg(e, VSLICE_REG_CMD_COUNT));
	ASSERT_EQ(0x33333333, vram_rd32(e, 0));
}

static void set_master(struct eng *e, bool on)
{
	__u16 cmd = 0;

	vs_cfg_read(&e->in, PCI_COMMAND, &cmd, 2);
	cmd = on ? cmd | PCI_COMMAND_MASTER : cmd & ~PCI_COMMAND_MASTER;
	vs_cfg_write(&e->in, PCI_COMMAND, &cmd, 2);
}

/*
 * COMMAND.MASTER gates DMA: with it clear, queued commands stay pending
 * (BUSY, RING_HEAD unchanged), no guest page changes and none is dirty;
 * setting it runs them.
 */
TEST_F(engine, bus_master_gates_dma)
{
	struct eng *e = &self->e;
	unsigned long map[BUF_PAGES / 64];
	int ret;

	submit(e, vs_cmd_fill(0, 0x77777777, PG));
	ASSERT_EQ(0, wait_idle(e));
	memset(e->buf, 0xee, BUF_SIZE);
	ret = vs_dirty_start(&e->in);
	if (!ret)
		ASSERT_EQ(0, vs_dirty_bitmap(&e->in, BUF_IOVA, BUF_SIZE, map));

	set_master(e, false);
	submit(e, vs_cmd_from_vram(0, BUF_IOVA + 2 * PG, PG));
	submit(e, vs_cmd_fence(BUF_IOVA + 5 * PG, 0x1234));
	vs_wr32(&e->in, VSLICE_REG_DOORBELL, 1);
	sleep_ms(300);
	ASSERT_TRUE(all_bytes(e->buf, BUF_SIZE, 0xee))
		TH_LOG("no guest byte changes while MASTER is clear");
	ASSERT_EQ(1, reg(e, VSLICE_REG_CMD_COUNT))
		TH_LOG("no command completes while MASTER is clear");
	ASSERT_EQ(1, reg(e, VSLICE_REG_RING_HEAD));
	ASSERT_EQ(VSLICE_STATUS_BUSY, reg(e, VSLICE_REG_STATUS))
		TH_LOG("the commands stay pending, no error");
	if (!ret) {
		ASSERT_EQ(0, vs_dirty_bitmap(&e->in, BUF_IOVA, BUF_SIZE, map));
		ASSERT_EQ(0UL, map[0]) TH_LOG("no guest page is dirty");
	}

	set_master(e, true);
	ASSERT_EQ(0, wait_idle(e)) TH_LOG("setting MASTER runs them");
	ASSERT_EQ(3, reg(e, VSLICE_REG_CMD_COUNT));
	ASSERT_EQ(0x77777777, le32_at(e->buf + 2 * PG));
	ASSERT_EQ(0x1234, le32_at(e->buf + 5 * PG));
	if (!ret) {
		ASSERT_EQ(0, vs_dirty_bitmap(&e->in, BUF_IOVA, BUF_SIZE, map));
		ASSERT_EQ(1UL << 2 | 1UL << 5, map[0]);
		ASSERT_EQ(0, vs_dirty_stop(&e->in));
	}
}

TEST_F(engine, works_after_device_reset)
{
	struct eng *e = &self->e;

	submit(e, vs_cmd_fill(0, 0x44444444, 8));
	submit(e, vs_cmd(42, 0, 0, 0, 0));
	ASSERT_EQ(VSLICE_ERR_OPCODE, wait_halted(e));
	ASSERT_EQ(0, ioctl(e->in.device, VFIO_DEVICE_RESET));
	ASSERT_EQ(0, reg(e, VSLICE_REG_STATUS))
		TH_LOG("reset clears STATUS");
	ASSERT_EQ(0, reg(e, VSLICE_REG_ERROR)) TH_LOG("reset clears ERROR");
	ASSERT_EQ(0, reg(e, VSLICE_REG_RING_HEAD))
		TH_LOG("reset clears RING_HEAD");
	ASSERT_EQ(0, reg(e, VSLICE_REG_CMD_COUNT));

	vs_ring_setup(&e->in, RING_IOVA, RING_ENTRIES);
	submit(e, vs_cmd_fill(PG, 0x55555555, PG));
	submit(e, vs_cmd_from_vram(PG, BUF_IOVA, PG));
	ASSERT_EQ(0, wait_idle(e)) TH_LOG("engine runs again after reset");
	ASSERT_EQ(0x55555555, le32_at(e->buf + PG - 4));
	ASSERT_EQ(2, reg(e, VSLICE_REG_CMD_COUNT));
}

/* Ring configuration errors are reported as soon as the engine is enabled. */
TEST_F(engine, ring_size_not_pow2)
{
	vs_ring_setup(&self->e.in, RING_IOVA, 3);
	ASSERT_EQ(VSLICE_ERR_RING_CONFIG, wait_halted(&self->e));
	ASSERT_TRUE(reg(&self->e, VSLICE_REG_IRQ_STATUS) &
		    VSLICE_IRQ_ERROR) TH_LOG("errors raise IRQ_STATUS.ERROR");
}

TEST_F(engine, ring_size_zero)
{
	vs_ring_setup(&self->e.in, RING_IOVA, 0);
	ASSERT_EQ(VSLICE_ERR_RING_CONFIG, wait_halted(&self->e));
}

TEST_F(engine, ring_size_too_big)
{
	vs_ring_setup(&self->e.in, RING_IOVA, 2 * VSLICE_RING_MAX_ENTRIES);
	ASSERT_EQ(VSLICE_ERR_RING_CONFIG, wait_halted(&self->e));
}

TEST_F(engine, ring_base_unaligned)
{
	vs_ring_setup(&self->e.in, RING_IOVA + 32, 8);
	ASSERT_EQ(VSLICE_ERR_RING_CONFIG, wait_halted(&self->e));
}

TEST_F(engine, ring_wraps_iova_space)
{
	vs_ring_setup(&self->e.in, ~0ULL - PG + 1, 256);
	ASSERT_EQ(VSLICE_ERR_RING_CONFIG, wait_halted(&self->e));
}

TEST_F(engine, ring_tail_beyond_size)
{
	vs_wr32(&self->e.in, VSLICE_REG_RING_TAIL, RING_ENTRIES + 1);
	vs_wr32(&self->e.in, VSLICE_REG_DOORBELL, 1);
	ASSERT_EQ(VSLICE_ERR_RING_INDEX, wait_halted(&self->e));
}

TEST_F(engine, ring_head_beyond_size)
{
	struct eng *e = &self->e;
	int i;

	for (i = 0; i < 5; i++)
		submit(e, vs_cmd(VSLICE_CMD_NOP, 0, 0, 0, 0));
	ASSERT_EQ(0, wait_idle(e));
	vs_wr32(&e->in, VSLICE_REG_RING_SIZE, 4);
	ASSERT_LE(4, reg(e, VSLICE_REG_RING_HEAD))
		TH_LOG("a RING_SIZE write must not reset RING_HEAD");
	vs_wr32(&e->in, VSLICE_REG_DOORBELL, 1);
	ASSERT_EQ(VSLICE_ERR_RING_INDEX, wait_halted(e));
}

TEST_F(engine, ring_not_mapped)
{
	vs_ring_setup(&self->e.in, UNMAPPED_IOVA, 8);
	vs_wr32(&self->e.in, VSLICE_REG_RING_TAIL, 1);
	vs_wr32(&self->e.in, VSLICE_REG_DOORBELL, 1);
	ASSERT_EQ(VSLICE_ERR_RING_READ, wait_halted(&self->e));
	ASSERT_EQ(0, reg(&self->e, VSLICE_REG_ERROR_HEAD));
}

/*
 * Quiesce (migration STOP) between steps of a long FILL: nothing moves
 * while stopped, the command is neither finished nor restarted, and after
 * RUNNING it completes exactly once.
 */
/*
 * With the engine_hold fault at 1 (mdev/fault.h) the engine holds a
 * command after its first step, so STOP always meets it mid-command.
 * Wait for that first step: @first_word at VRAM offset 0.
 */
static int wait_first_step(struct eng *e, __u32 first_word)
{
	int i;

	for (i = 0; i < 10000 && vram_rd32(e, 0) != first_word; i++)
		sleep_ms(1);
	return vram_rd32(e, 0) == first_word ? 0 : -1;
}

TEST_F_TIMEOUT(engine, quiesce_checkpoints_mid_command, 300)
{
	struct eng *e = &self->e;
	const __u64 len = 120 << 20;
	int ret, i;

	if (!vs_fault_have("engine_hold"))
		SKIP(return, "module built without VSLICE_FAULTS=y (no engine_hold)");
	ASSERT_EQ(0, vs_fault_set("engine_hold", 1));
	submit(e, vs_cmd_fill(0, 0xc0ffee00, len));
	ASSERT_EQ(0, wait_first_step(e, 0xc0ffee00))
		TH_LOG("FILL ran its first step");
	ret = vs_mig_set_state(e->in.device, VFIO_DEVICE_STATE_STOP, NULL);
	ASSERT_EQ(0, ret) TH_LOG("the STOP arc failed: %s", strerror(-ret));
	ASSERT_EQ(0, vs_fault_set("engine_hold", -1));
	ASSERT_EQ(0, reg(e, VSLICE_REG_RING_HEAD)) TH_LOG("FILL is in flight");
	ASSERT_NE(0xc0ffee00, vram_rd32(e, len - 4)) TH_LOG("FILL is unfinished");
	sleep_ms(200);
	ASSERT_EQ(0, reg(e, VSLICE_REG_RING_HEAD))
		TH_LOG("stopped engine completes nothing");
	ASSERT_EQ(0, vram_rd32(e, len - 4))
		TH_LOG("stopped engine writes no VRAM");
	ASSERT_EQ(0, vs_mig_set_state(e->in.device, VFIO_DEVICE_STATE_RUNNING, NULL));
	ASSERT_EQ(0, wait_idle(e)) TH_LOG("resumed FILL completes");
	ASSERT_EQ(1, reg(e, VSLICE_REG_CMD_COUNT))
		TH_LOG("the checkpointed command completes exactly once");
	for (i = 0; i < 64; i++)
		ASSERT_EQ(0xc0ffee00, vram_rd32(e, (len / 64) * i + 4 * i));
	ASSERT_EQ(0xc0ffee00, vram_rd32(e, len - 4));
	ASSERT_EQ(0, vram_rd32(e, len));
}

/* ------------------------------------------------------------------ */

/*
 * A command checkpointed mid-way migrates: the destination re-reads the
 * entry at RING_HEAD and continues at the saved progress.  Source and
 * destination guest buffers differ, so the destination's VRAM shows the
 * source's bytes before the checkpoint and its own after it, with the
 * boundary on a step boundary, strictly inside the command.
 */
TEST_F_TIMEOUT(engine, migrated_checkpoint_resumes_at_progress, 600)
{
	const size_t big = 16 << 20, step = 64 << 10;
	struct eng *s = &self->e, *d = &self->peer;
	__u8 *src_mem, *dst_mem, *vram, *stream = NULL;
	ssize_t slen;
	size_t p;
	int fd = -1, ret;

	if (!vs_fault_have("engine_hold"))
		SKIP(return, "module built without VSLICE_FAULTS=y (no engine_hold)");
	src_mem = vs_dma_map(&s->in, BIG_IOVA, big);
	ASSERT_NE(NULL, src_mem);
	fill_random(src_mem, big, 11);
	ASSERT_EQ(0, vs_fault_set("engine_hold", 1));
	submit(s, vs_cmd_to_vram(BIG_IOVA, 0, big));
	ASSERT_EQ(0, wait_first_step(s, le32_at(src_mem)))
		TH_LOG("the copy ran its first step");
	ret = vs_mig_set_state(s->in.device, VFIO_DEVICE_STATE_STOP, NULL);
	ASSERT_EQ(0, ret) TH_LOG("the STOP arc failed: %s", strerror(-ret));
	ASSERT_EQ(0, vs_fault_set("engine_hold", -1));
	ASSERT_EQ(0, reg(s, VSLICE_REG_RING_HEAD)) TH_LOG("the copy is in flight");
	ASSERT_NE(le32_at(src_mem + big - 4), vram_rd32(s, big - 4))
		TH_LOG("the copy is unfinished");
	ASSERT_EQ(0, vs_mig_set_state(s->in.device, VFIO_DEVICE_STATE_STOP_COPY, &fd));
	ASSERT_LE(0, fd);
	slen = read_stream(fd, &stream);
	close(fd);
	ASSERT_LT(0, slen) TH_LOG("source produces a stream");

	ASSERT_EQ(0, vs_create(&d->in, VS_TYPE_128));
	ASSERT_EQ(0, vs_open(&d->in));
	d->ring = vs_dma_map(&d->in, RING_IOVA, RING_MAP);
	ASSERT_NE(NULL, d->ring);
	memcpy(d->ring, s->ring, RING_MAP);
	dst_mem = vs_dma_map(&d->in, BIG_IOVA, big);
	ASSERT_NE(NULL, dst_mem);
	fill_random(dst_mem, big, 22);
	ASSERT_EQ(0, vs_mig_set_state(d->in.device, VFIO_DEVICE_STATE_RESUMING, &fd));
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, write_stream(fd, stream, slen));
	close(fd);
	ASSERT_EQ(0, vs_mig_set_state(d->in.device, VFIO_DEVICE_STATE_RUNNING, NULL))
		TH_LOG("destination accepts the stream");
	ASSERT_EQ(0, wait_idle(d)) TH_LOG("destination finishes the command");
	ASSERT_EQ(1, reg(d, VSLICE_REG_CMD_COUNT))
		TH_LOG("the command completes once, on the destination");

	vram = malloc(big);
	ASSERT_NE(NULL, vram);
	ASSERT_EQ(0, vram_rw(d, 0, vram, big, false));
	for (p = 0; p < big && vram[p] == src_mem[p]; p++)
		;
	p &= ~(step - 1);
	TH_LOG("checkpoint at %zu KiB of %zu", p >> 10, big >> 10);
	ASSERT_LT(0UL, p) TH_LOG("the source had done part of the command");
	ASSERT_GT(big, p) TH_LOG("the destination did the rest");
	ASSERT_EQ(0, memcmp(vram, src_mem, p))
		TH_LOG("VRAM before the checkpoint is the source's copy");
	ASSERT_EQ(0, memcmp(vram + p, dst_mem + p, big - p))
		TH_LOG("VRAM from the checkpoint on is the destination's copy");
	free(vram);
	free(stream);
}

/* A FENCE signals the eventfd wired to each interrupt type. */
FIXTURE(irq) {
	struct eng e;
	int fd;
};

FIXTURE_VARIANT(irq) {
	unsigned int index;
	const char *name;
};

FIXTURE_VARIANT_ADD(irq, msi) {
	.index = VFIO_PCI_MSI_IRQ_INDEX, .name = "MSI",
};

FIXTURE_VARIANT_ADD(irq, intx) {
	.index = VFIO_PCI_INTX_IRQ_INDEX, .name = "INTx",
};

FIXTURE_SETUP(irq)
{
	self->fd = -1;
	if (access(VS_PARENT_DIR, F_OK))
		SKIP(return, "vslice is not loaded (%s missing)", VS_PARENT_DIR);
	ASSERT_EQ(0, eng_open(&self->e));
	self->fd = eventfd(0, EFD_NONBLOCK);
	ASSERT_LE(0, self->fd);
}

FIXTURE_TEARDOWN(irq)
{
	if (self->fd >= 0)
		close(self->fd);
	eng_close(&self->e);
}

TEST_F(irq, fence_signals_eventfd)
{
	struct eng *e = &self->e;

	ASSERT_LE(1, irq_count(e, variant->index))
		TH_LOG("no %s IRQ index", variant->name);
	if (variant->index == VFIO_PCI_MSI_IRQ_INDEX)
		enable_msi(_metadata, e);
	ASSERT_EQ(0, set_irq_eventfd(e, variant->index, self->fd));
	vs_wr32(&e->in, VSLICE_REG_IRQ_MASK, VSLICE_IRQ_ALL);
	submit(e, vs_cmd_fence(BUF_IOVA, 7));
	ASSERT_EQ(0, wait_idle(e));
	ASSERT_EQ(1, eventfd_fired(self->fd, 5000))
		TH_LOG("FENCE: the %s eventfd is signalled", variant->name);
}

/* ------------------------------------------------------------------ */

/* One bad entry (after a good one): its error code, halt, no execution. */
FIXTURE(bad_cmd) {
	struct eng e;
};

FIXTURE_VARIANT(bad_cmd) {
	__u32 opcode;
	__u32 pattern;
	__u64 vram_off;
	bool vram_off_from_end;		/* vram_off += VRAM size */
	__u64 iova;
	__u64 len;
	__u32 err;
};

FIXTURE_VARIANT_ADD(bad_cmd, unknown_opcode) {
	.opcode = 5, .err = VSLICE_ERR_OPCODE,
};

FIXTURE_VARIANT_ADD(bad_cmd, huge_opcode) {
	.opcode = 0xffffffff, .err = VSLICE_ERR_OPCODE,
};

FIXTURE_VARIANT_ADD(bad_cmd, copy_with_pattern) {
	.opcode = VSLICE_CMD_COPY_TO_VRAM, .pattern = 1, .iova = BUF_IOVA,
	.len = 4, .err = VSLICE_ERR_OPCODE,
};

FIXTURE_VARIANT_ADD(bad_cmd, fill_with_iova) {
	.opcode = VSLICE_CMD_FILL, .iova = BUF_IOVA, .len = 4,
	.err = VSLICE_ERR_OPCODE,
};

FIXTURE_VARIANT_ADD(bad_cmd, fence_with_vram_off) {
	.opcode = VSLICE_CMD_FENCE, .vram_off = 8, .iova = BUF_IOVA,
	.err = VSLICE_ERR_OPCODE,
};

FIXTURE_VARIANT_ADD(bad_cmd, fill_unaligned_offset) {
	.opcode = VSLICE_CMD_FILL, .vram_off = 2, .len = 8,
	.err = VSLICE_ERR_ALIGN,
};

FIXTURE_VARIANT_ADD(bad_cmd, fill_unaligned_length) {
	.opcode = VSLICE_CMD_FILL, .len = 6, .err = VSLICE_ERR_ALIGN,
};

FIXTURE_VARIANT_ADD(bad_cmd, fence_unaligned_iova) {
	.opcode = VSLICE_CMD_FENCE, .iova = BUF_IOVA + 4,
	.err = VSLICE_ERR_ALIGN,
};

FIXTURE_VARIANT_ADD(bad_cmd, fill_past_vram_end) {
	.opcode = VSLICE_CMD_FILL, .vram_off = -PG, .vram_off_from_end = true,
	.len = 2 * PG, .err = VSLICE_ERR_VRAM_RANGE,
};

FIXTURE_VARIANT_ADD(bad_cmd, copy_to_past_vram_end) {
	.opcode = VSLICE_CMD_COPY_TO_VRAM, .vram_off = -4,
	.vram_off_from_end = true, .iova = BUF_IOVA, .len = 8,
	.err = VSLICE_ERR_VRAM_RANGE,
};

FIXTURE_VARIANT_ADD(bad_cmd, copy_from_at_vram_end) {
	.opcode = VSLICE_CMD_COPY_FROM_VRAM, .vram_off_from_end = true,
	.iova = BUF_IOVA, .len = 1, .err = VSLICE_ERR_VRAM_RANGE,
};

FIXTURE_VARIANT_ADD(bad_cmd, vram_off_len_wraps) {
	.opcode = VSLICE_CMD_COPY_FROM_VRAM, .vram_off = ~0ULL - 3,
	.iova = BUF_IOVA, .len = 8, .err = VSLICE_ERR_VRAM_RANGE,
};

FIXTURE_VARIANT_ADD(bad_cmd, fill_len_wraps) {
	.opcode = VSLICE_CMD_FILL, .vram_off = 4, .len = ~0ULL - 3,
	.err = VSLICE_ERR_VRAM_RANGE,
};

FIXTURE_VARIANT_ADD(bad_cmd, iova_len_wraps) {
	.opcode = VSLICE_CMD_COPY_FROM_VRAM, .iova = ~0ULL - PG + 1,
	.len = 2 * PG, .err = VSLICE_ERR_DMA,
};

FIXTURE_VARIANT_ADD(bad_cmd, copy_to_iova_len_wraps) {
	.opcode = VSLICE_CMD_COPY_TO_VRAM, .iova = ~0ULL, .len = 2,
	.err = VSLICE_ERR_DMA,
};

FIXTURE_VARIANT_ADD(bad_cmd, fence_iova_wraps) {
	.opcode = VSLICE_CMD_FENCE, .iova = ~0ULL - 7, .err = VSLICE_ERR_DMA,
};

FIXTURE_VARIANT_ADD(bad_cmd, copy_to_unmapped) {
	.opcode = VSLICE_CMD_COPY_TO_VRAM, .iova = UNMAPPED_IOVA, .len = 64,
	.err = VSLICE_ERR_DMA,
};

FIXTURE_VARIANT_ADD(bad_cmd, copy_from_unmapped) {
	.opcode = VSLICE_CMD_COPY_FROM_VRAM, .iova = UNMAPPED_IOVA, .len = 64,
	.err = VSLICE_ERR_DMA,
};

FIXTURE_VARIANT_ADD(bad_cmd, copy_from_runs_off_mapping) {
	.opcode = VSLICE_CMD_COPY_FROM_VRAM, .iova = BUF_IOVA + BUF_SIZE - PG,
	.len = 2 * PG, .err = VSLICE_ERR_DMA,
};

FIXTURE_VARIANT_ADD(bad_cmd, fence_unmapped) {
	.opcode = VSLICE_CMD_FENCE, .iova = UNMAPPED_IOVA,
	.err = VSLICE_ERR_DMA,
};

FIXTURE_SETUP(bad_cmd)
{
	if (access(VS_PARENT_DIR, F_OK))
		SKIP(return, "vslice is not loaded (%s missing)", VS_PARENT_DIR);
	ASSERT_EQ(0, eng_open(&self->e));
}

FIXTURE_TEARDOWN(bad_cmd)
{
	eng_close(&self->e);
}

TEST_F(bad_cmd, halts_with_error_code)
{
	struct eng *e = &self->e;
	__u64 off = variant->vram_off;
	long status;

	if (variant->vram_off_from_end)
		off += e->vram_size;
	vs_wr32(&e->in, VSLICE_REG_IRQ_MASK, VSLICE_IRQ_ALL);
	submit(e, vs_cmd_fill(0, 0x66666666, 4));
	submit(e, vs_cmd(variant->opcode, variant->pattern, off,
			 variant->iova, variant->len));
	submit(e, vs_cmd_fill(4, 0x77777777, 4));

	ASSERT_EQ(variant->err, wait_halted(e))
		TH_LOG("ERROR names the violated rule");
	status = reg(e, VSLICE_REG_STATUS);
	ASSERT_TRUE(status & VSLICE_STATUS_HALTED) TH_LOG("STATUS.HALTED set");
	ASSERT_FALSE(status & VSLICE_STATUS_BUSY) TH_LOG("halted is not BUSY");
	ASSERT_EQ(1, reg(e, VSLICE_REG_ERROR_HEAD))
		TH_LOG("ERROR_HEAD is the bad entry");
	ASSERT_EQ(1, reg(e, VSLICE_REG_RING_HEAD))
		TH_LOG("the bad entry is not consumed");
	ASSERT_EQ(1, reg(e, VSLICE_REG_CMD_COUNT));
	ASSERT_TRUE(reg(e, VSLICE_REG_IRQ_STATUS) & VSLICE_IRQ_ERROR)
		TH_LOG("IRQ_STATUS.ERROR raised");
	ASSERT_EQ(0x66666666, vram_rd32(e, 0));
	ASSERT_EQ(0, vram_rd32(e, 4)) TH_LOG("the next entry did not run");
	ASSERT_EQ(0, vs_dmesg_bad_lines()) TH_LOG("no kernel splat");
}

/* ------------------------------------------------------------------ */

/* Guest-memory writes: both COPY_FROM_VRAM strategies (module parameter). */
FIXTURE(copy) {
	struct eng e;
};

FIXTURE_VARIANT(copy) {
	bool pin;
};

FIXTURE_VARIANT_ADD(copy, pin) {
	.pin = true,
};

FIXTURE_VARIANT_ADD(copy, dma_rw) {
	.pin = false,
};

FIXTURE_SETUP(copy)
{
	if (access(VS_PARENT_DIR, F_OK))
		SKIP(return, "vslice is not loaded (%s missing)", VS_PARENT_DIR);
	if (set_copy_pin(&self->e, variant->pin))
		SKIP(return, "no %s parameter", COPY_PIN_PARAM);
	ASSERT_EQ(0, eng_open(&self->e));
}

FIXTURE_TEARDOWN(copy)
{
	eng_close(&self->e);
}

TEST_F(copy, from_vram_is_byte_exact)
{
	struct eng *e = &self->e;
	const __u64 src = 333, dst = PG - 1, len = 150001;
	__u8 *pat = malloc(len);

	ASSERT_NE(NULL, pat);
	fill_random(pat, len, 2);
	ASSERT_EQ(0, vram_rw(e, src, pat, len, true));
	memset(e->buf, 0xee, BUF_SIZE);
	submit(e, vs_cmd_from_vram(src, BUF_IOVA + dst, len));
	ASSERT_EQ(0, wait_idle(e));
	ASSERT_EQ(0, memcmp(e->buf + dst, pat, len))
		TH_LOG("COPY_FROM_VRAM: guest equals VRAM byte for byte");
	ASSERT_TRUE(all_bytes(e->buf, dst, 0xee))
		TH_LOG("COPY_FROM_VRAM: guest bytes before the range untouched");
	ASSERT_TRUE(all_bytes(e->buf + dst + len, BUF_SIZE - dst - len, 0xee))
		TH_LOG("COPY_FROM_VRAM: guest bytes after the range untouched");
	free(pat);
}

static bool test_page_bit(const unsigned long *map, unsigned int bit)
{
	return map[bit / 64] >> (bit % 64) & 1;
}

/* The writes dirty_bitmap_is_exactly_the_written_pages checks. */
static void dirty_workload(struct eng *e)
{
	submit(e, vs_cmd_to_vram(BUF_IOVA + 20 * PG, 0, 10 * PG));
	submit(e, vs_cmd_from_vram(0, BUF_IOVA + 3 * PG, PG));
	submit(e, vs_cmd_from_vram(0, BUF_IOVA + 7 * PG + 100, 10));
	submit(e, vs_cmd_from_vram(0, BUF_IOVA + 9 * PG + 50, 2 * PG + 3900));
	submit(e, vs_cmd_fence(BUF_IOVA + 40 * PG + 8, 1));
}

/*
 * Type1 dirty scope: COPY_FROM_VRAM and FENCE dirty exactly the pages they
 * write, COPY_TO_VRAM and ring reads dirty nothing, and nothing stays
 * pinned (a pinned page would be reported again in the next round).  The
 * same pages are written once before tracking starts, as a guest does
 * long before it is migrated: a write after that must be reported again.
 * (The skip_dirty fault, mdev/fault.h, fails this test in both variants.)
 */
TEST_F(copy, dirty_bitmap_is_exactly_the_written_pages)
{
	struct eng *e = &self->e;
	unsigned long map[BUF_PAGES / 64], ring_map[1];
	unsigned int p;
	int ret;

	dirty_workload(e);
	ASSERT_EQ(0, wait_idle(e));

	ret = vs_dirty_start(&e->in);
	ASSERT_EQ(0, ret) TH_LOG("type1 dirty tracking: %s", strerror(-ret));
	ASSERT_EQ(0, vs_dirty_bitmap(&e->in, BUF_IOVA, BUF_SIZE, map));
	ASSERT_EQ(0UL, map[0]) TH_LOG("writes before tracking: not reported");
	ASSERT_EQ(0, vs_dirty_bitmap(&e->in, RING_IOVA, RING_MAP, ring_map));

	dirty_workload(e);
	ASSERT_EQ(0, wait_idle(e));

	ASSERT_EQ(0, vs_dirty_bitmap(&e->in, BUF_IOVA, BUF_SIZE, map));
	for (p = 0; p < BUF_PAGES; p++) {
		bool want = p == 3 || p == 7 || (p >= 9 && p <= 11) || p == 40;

		EXPECT_EQ(want, test_page_bit(map, p))
			TH_LOG("page %u: %s", p, want ?
			       "missed dirty page: the engine wrote it, type1 does not report it" :
			       "reported dirty, but COPY_FROM_VRAM/FENCE did not write it");
	}
	ASSERT_EQ(0, vs_dirty_bitmap(&e->in, RING_IOVA, RING_MAP, ring_map));
	ASSERT_EQ(0UL, ring_map[0]) TH_LOG("ring reads dirty nothing");

	ASSERT_EQ(0, vs_dirty_bitmap(&e->in, BUF_IOVA, BUF_SIZE, map));
	ASSERT_EQ(0UL, map[0]) TH_LOG("no page stays pinned: next round is clean");
	ASSERT_EQ(0, vs_dirty_stop(&e->in));
}

/*
 * Unmap the destination of long copies while they run: the unmap returns
 * promptly and succeeds, the engine halts with ERR_DMA on a command that
 * targets the gone memory, later commands hitting it fail the same way,
 * and the engine keeps working on mapped memory.  The copies queued
 * (768 MiB) outlast the unmap by far even on a slow emulated host.
 */
#define UNMAP_COPIES	48

TEST_F_TIMEOUT(copy, unmap_under_running_copy, 900)
{
	static const int delays_ms[] = { 0, 1, 3, 10 };
	const size_t big = 16 << 20;
	struct eng *e = &self->e;
	unsigned int round;

	/*
	 * Pinned steps meeting an unmap close type1's own lock circle
	 * (iommu->lock -> device_list_lock -> dma_lock -> iommu->lock, see
	 * mdev/engine.c); lockdep reports it once and then checks nothing
	 * more for the rest of the run.  Non-lockdep kernels run this.
	 */
	if (variant->pin && vs_kernel_has_lockdep())
		SKIP(return,
		     "kernel: /proc/lockdep exists: copy_pin=1 vs unmap is type1's lock inversion");
	for (round = 0; round < 4; round++) {
		double t0, t1;
		__u32 head, i;
		long err;
		__u8 *mem;

		mem = vs_dma_map(&e->in, BIG_IOVA, big);
		ASSERT_NE(NULL, mem);
		head = reg(e, VSLICE_REG_RING_HEAD);
		for (i = 0; i < UNMAP_COPIES; i++)
			submit(e, vs_cmd_from_vram(0, BIG_IOVA, big));
		sleep_ms(delays_ms[round]);
		t0 = now_s();
		ASSERT_EQ(0, vs_dma_unmap(&e->in, BIG_IOVA, big, mem))
			TH_LOG("unmap under a running copy succeeds");
		t1 = now_s();
		err = wait_halted(e);
		TH_LOG("round %u: %u copies done, unmap %.1f ms, halt after %.1f ms",
		       round,
		       (__u32)(reg(e, VSLICE_REG_RING_HEAD) - head) &
		       (RING_ENTRIES - 1), (t1 - t0) * 1e3,
		       (now_s() - t0) * 1e3);
		ASSERT_NE(-1, err) TH_LOG("engine halts (copies outlive unmap)");
		ASSERT_EQ(VSLICE_ERR_DMA, err)
			TH_LOG("copy into unmapped memory fails with ERR_DMA");
		ASSERT_EQ(reg(e, VSLICE_REG_RING_HEAD),
			  reg(e, VSLICE_REG_ERROR_HEAD));
		ASSERT_GT(UNMAP_COPIES,
			  (reg(e, VSLICE_REG_ERROR_HEAD) - head) &
			  (RING_ENTRIES - 1)) TH_LOG("one of the copies failed");

		ring_rearm(e);
		submit(e, vs_cmd_to_vram(BIG_IOVA + PG, 0, 64));
		ASSERT_EQ(VSLICE_ERR_DMA, wait_halted(e))
			TH_LOG("later COPY_TO_VRAM from unmapped memory: ERR_DMA");
		ring_rearm(e);
		submit(e, vs_cmd_fence(BIG_IOVA, 1));
		ASSERT_EQ(VSLICE_ERR_DMA, wait_halted(e))
			TH_LOG("later FENCE into unmapped memory: ERR_DMA");

		ring_rearm(e);
		submit(e, vs_cmd_fill(0, 0x12345678 + round, 8));
		submit(e, vs_cmd_from_vram(0, BUF_IOVA, 8));
		ASSERT_EQ(0, wait_idle(e)) TH_LOG("engine works after the unmap");
		ASSERT_EQ(0x12345678 + round, le32_at(e->buf));
	}
	ASSERT_EQ(0, vs_dmesg_bad_lines()) TH_LOG("no kernel splat");
}

/*
 * Closing the device while copies run stops the engine before the device
 * counts as closed (no pin or dma_rw on a closed device, no splat), and a
 * reopened device starts from a reset engine.
 */
TEST_F_TIMEOUT(copy, close_under_running_copy, 600)
{
	const size_t big = 16 << 20;
	struct eng *e = &self->e;
	int i;

	ASSERT_NE(NULL, vs_dma_map(&e->in, BIG_IOVA, big));
	for (i = 0; i < UNMAP_COPIES; i++)
		submit(e, vs_cmd_from_vram(0, BIG_IOVA, big));
	sleep_ms(20);
	vs_close(&e->in);

	ASSERT_EQ(0, vs_open(&e->in)) TH_LOG("device reopens");
	ASSERT_EQ(0, reg(e, VSLICE_REG_RING_HEAD))
		TH_LOG("reopened device has a reset engine");
	ASSERT_EQ(0, reg(e, VSLICE_REG_CONTROL));
	e->ring = vs_dma_map(&e->in, RING_IOVA, RING_MAP);
	e->buf = vs_dma_map(&e->in, BUF_IOVA, BUF_SIZE);
	ASSERT_NE(NULL, e->ring);
	ASSERT_NE(NULL, e->buf);
	vs_ring_setup(&e->in, RING_IOVA, RING_ENTRIES);
	submit(e, vs_cmd_fill(0, 0x0badcafe, 8));
	submit(e, vs_cmd_from_vram(0, BUF_IOVA, 8));
	ASSERT_EQ(0, wait_idle(e)) TH_LOG("engine works after reopen");
	ASSERT_EQ(0x0badcafe, le32_at(e->buf + 4));
	ASSERT_EQ(0, vs_dmesg_bad_lines()) TH_LOG("no kernel splat");
}

/* Throughput of COPY_FROM_VRAM and COPY_TO_VRAM (informational). */
/* ------------------------------------------------------------------ */
/* memory cgroup of the opener                                         */
/* ------------------------------------------------------------------ */

#define CG_ROOT		"/sys/fs/cgroup"
#define CG_TEST		CG_ROOT "/vslice-memcg-test"
#define CG_LIMIT	(48ULL << 20)

/* cgroup v2 with the memory controller for children of the root, or -errno. */
static int cgroup_memory_ready(void)
{
	int ret;

	if (access(CG_ROOT "/cgroup.controllers", F_OK) &&
	    mount("none", CG_ROOT, "cgroup2", 0, NULL))
		return -errno;
	ret = vs_sysfs_write(CG_ROOT "/cgroup.subtree_control", "+memory");
	if (ret)
		return ret;
	if (mkdir(CG_TEST, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

/*
 * VRAM the engine allocates is charged to the memory cgroup of the process
 * that opened the instance, not to the kernel worker.  The test opens an
 * instance from inside a cgroup limited to 48 MiB, then moves itself back
 * to the root cgroup (so its own memory is not in the way): a 128 MiB FILL
 * must then fail cleanly at the limit (ERR_HOST, no OOM kill), while an
 * instance opened outside the cgroup fills all of its VRAM.
 */
TEST(vram_is_charged_to_the_openers_cgroup)
{
	const __u64 len = 128ULL << 20;
	struct eng e = { 0 }, f = { 0 };
	char buf[512];
	int ret;

	if (access(VS_PARENT_DIR, F_OK))
		SKIP(return, "vslice is not loaded (%s missing)", VS_PARENT_DIR);
	if (!vs_kernel_has_symbol("mem_cgroup_from_task") &&
	    !vs_kernel_has_symbol("memory_cgrp_subsys"))
		SKIP(return,
		     "kernel: no mem_cgroup_from_task in /proc/kallsyms (CONFIG_MEMCG off)");
	ret = cgroup_memory_ready();
	ASSERT_EQ(0, ret) TH_LOG("cgroup v2 memory controller: %s", strerror(-ret));
	snprintf(buf, sizeof(buf), "%llu", CG_LIMIT);
	ASSERT_EQ(0, vs_sysfs_write(CG_TEST "/memory.max", buf));
	vs_sysfs_write(CG_TEST "/memory.swap.max", "0");

	ASSERT_EQ(0, vs_sysfs_write(CG_TEST "/cgroup.procs", "0"));
	ret = eng_open(&e);
	ASSERT_EQ(0, vs_sysfs_write(CG_ROOT "/cgroup.procs", "0"));
	ASSERT_EQ(0, ret);

	submit(&e, vs_cmd_fill(0, 0x5eed5eed, len));
	EXPECT_EQ(-EIO, wait_idle(&e)) TH_LOG("the FILL stops at the limit");
	EXPECT_EQ(VSLICE_ERR_HOST, reg(&e, VSLICE_REG_ERROR));
	ASSERT_LE(0, vs_sysfs_read(CG_TEST "/memory.events", buf, sizeof(buf)));
	EXPECT_NE(NULL, strstr(buf, "oom_kill 0")) TH_LOG("%s", buf);
	EXPECT_EQ(NULL, strstr(buf, "max 0\n"))
		TH_LOG("the cgroup reached its limit: %s", buf);
	eng_close(&e);
	rmdir(CG_TEST);

	ASSERT_EQ(0, eng_open(&f));
	submit(&f, vs_cmd_fill(0, 0x5eed5eed, len));
	EXPECT_EQ(0, wait_idle(&f)) TH_LOG("an instance outside the cgroup fills all");
	EXPECT_EQ(0x5eed5eed, vram_rd32(&f, len - 4));
	eng_close(&f);
}

TEST_HARNESS_MAIN
