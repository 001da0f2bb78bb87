// SPDX-License-Identifier: GPL-2.0
/*
 * vslice device model: PCI config space, BAR0 registers, VRAM through the
 * region and through mmap, device reset, and the VFIO interrupt interface
 * (INTx and MSI, delivered for real by making the engine raise an error
 * or complete a FENCE).  Every bad input checks the exact errno and that
 * the device still works afterwards.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/pci_regs.h>

#include "kselftest_harness.h"
#include "vslice_lib.h"

#define PAGE		4096UL
#define MSI_CAP		0x40	/* where the device model puts it */
#define STATUS_W1C	0xf900	/* PCI_STATUS error bits */

/* ---- helpers ------------------------------------------------------------ */

static __u32 cfg32(struct vs_inst *in, __u32 off)
{
	__u32 v = 0xdeadbeef;

	if (vs_cfg_read(in, off, &v, 4))
		return 0xdeadbeef;
	return v;
}

static __u16 cfg16(struct vs_inst *in, __u32 off)
{
	__u16 v = 0xdead;

	if (vs_cfg_read(in, off, &v, 2))
		return 0xdead;
	return v;
}

static __u8 cfg8(struct vs_inst *in, __u32 off)
{
	__u8 v = 0xde;

	if (vs_cfg_read(in, off, &v, 1))
		return 0xde;
	return v;
}

static int wcfg32(struct vs_inst *in, __u32 off, __u32 v)
{
	return vs_cfg_write(in, off, &v, 4);
}

static int wcfg16(struct vs_inst *in, __u32 off, __u16 v)
{
	return vs_cfg_write(in, off, &v, 2);
}

/* Raw BAR0 access of any size: bytes done or -errno. */
static ssize_t bar0_rw(struct vs_inst *in, __u64 off, void *buf, size_t len,
		       bool write)
{
	return vs_region_rw(in, VFIO_PCI_BAR0_REGION_INDEX, off, buf, len,
			    write);
}

/* File offset of region @index, or ~0 on error. */
static __u64 region_base(struct vs_inst *in, unsigned int index)
{
	struct vfio_region_info info;

	if (vs_region_info(in->device, index, &info, sizeof(info)))
		return ~0ull;
	return info.offset;
}

static __u64 vram_size(struct vs_inst *in)
{
	struct vfio_region_info info;

	if (vs_region_info(in->device, VFIO_PCI_BAR2_REGION_INDEX, &info,
			   sizeof(info)))
		return 0;
	return info.size;
}

static void *vram_map(struct vs_inst *in, __u64 off, size_t len, int flags)
{
	__u64 base = region_base(in, VFIO_PCI_BAR2_REGION_INDEX);

	if (base == ~0ull)
		return MAP_FAILED;
	return mmap(NULL, len, PROT_READ | PROT_WRITE, flags, in->device,
		    base + off);
}

/* Does the device still answer?  Scratch 7 round trip. */
static bool device_alive(struct vs_inst *in)
{
	__u32 v = 0x5a5aa5a5 ^ (__u32)time(NULL);

	vs_wr32(in, VSLICE_REG_SCRATCH(7), v);
	return vs_rd32(in, VSLICE_REG_SCRATCH(7)) == v &&
	       vs_rd32(in, VSLICE_REG_ID) == VSLICE_ID_MAGIC;
}

static bool all_zero(const void *p, size_t len)
{
	const unsigned char *c = p;

	while (len--)
		if (*c++)
			return false;
	return true;
}

static void fill_pattern(void *p, size_t len, unsigned int seed)
{
	unsigned char *c = p;
	size_t i;

	for (i = 0; i < len; i++)
		c[i] = (unsigned char)(i * 31 + seed * 7 + (i >> 12));
}

/* SET_IRQS with one optional payload; 0 or -errno. */
static int set_irqs(struct vs_inst *in, __u32 index, __u32 flags,
		    __u32 start, __u32 count, const void *data,
		    size_t data_len)
{
	char buf[sizeof(struct vfio_irq_set) + 16];
	struct vfio_irq_set *s = (struct vfio_irq_set *)buf;

	memset(buf, 0, sizeof(buf));
	s->argsz = sizeof(*s) + data_len;
	s->flags = flags;
	s->index = index;
	s->start = start;
	s->count = count;
	if (data_len)
		memcpy(s->data, data, data_len);
	return ioctl(in->device, VFIO_DEVICE_SET_IRQS, s) ? -errno : 0;
}

static int set_eventfd(struct vs_inst *in, __u32 index, __s32 fd)
{
	return set_irqs(in, index, VFIO_IRQ_SET_DATA_EVENTFD |
			VFIO_IRQ_SET_ACTION_TRIGGER, 0, 1, &fd, sizeof(fd));
}

static int irq_disable(struct vs_inst *in, __u32 index)
{
	return set_irqs(in, index, VFIO_IRQ_SET_DATA_NONE |
			VFIO_IRQ_SET_ACTION_TRIGGER, 0, 0, NULL, 0);
}

static int intx_unmask(struct vs_inst *in)
{
	return set_irqs(in, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_DATA_NONE |
			VFIO_IRQ_SET_ACTION_UNMASK, 0, 1, NULL, 0);
}

/* Signals counted on @efd so far (non-blocking eventfd); 0 when none. */
static __u64 efd_take(int efd)
{
	__u64 n = 0;

	if (read(efd, &n, sizeof(n)) != sizeof(n))
		return 0;
	return n;
}

/* Like efd_take() but waits up to @ms for a signal first. */
static __u64 efd_wait(int efd, int ms)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };

	if (poll(&p, 1, ms) != 1)
		return 0;
	return efd_take(efd);
}

/* Wait until STATUS has all of @bits; 0 or -ETIMEDOUT. */
static int wait_status(struct vs_inst *in, __u32 bits, int ms)
{
	struct timespec ts = { 0, 1000000 };
	int i;

	for (i = 0; i < ms; i++) {
		if ((vs_rd32(in, VSLICE_REG_STATUS) & bits) == bits)
			return 0;
		nanosleep(&ts, NULL);
	}
	return -ETIMEDOUT;
}

/*
 * Make the engine raise VSLICE_IRQ_ERROR without any DMA: enabling it with
 * no ring configured halts it on VSLICE_ERR_RING_CONFIG.  Clearing ENABLE
 * first makes it repeatable.
 */
static int raise_error_irq(struct vs_inst *in)
{
	vs_wr32(in, VSLICE_REG_CONTROL, 0);
	vs_wr32(in, VSLICE_REG_RING_SIZE, 0);
	vs_wr32(in, VSLICE_REG_CONTROL, VSLICE_CTRL_ENABLE);
	if (wait_status(in, VSLICE_STATUS_HALTED, 5000))
		return -ETIMEDOUT;
	return vs_rd32(in, VSLICE_REG_ERROR) == VSLICE_ERR_RING_CONFIG ?
	       0 : -EIO;
}

/* ---- fixture: one opened 128 MiB instance ------------------------------- */

FIXTURE(dev) {
	struct vs_inst in;
	bool created;
	__u8 cfg0[256];	/* power-on config space */
};

FIXTURE_SETUP(dev)
{
	int ret;

	self->created = false;
	self->in.device = -1;
	self->in.group = -1;
	self->in.container = -1;
	if (access(VS_PARENT_DIR, F_OK))
		SKIP(return, "vslice is not loaded (%s missing)", VS_PARENT_DIR);
	ret = vs_create(&self->in, VS_TYPE_128);
	ASSERT_EQ(0, ret);
	self->created = true;
	ASSERT_EQ(0, vs_open(&self->in));
	ASSERT_EQ(0, vs_cfg_read(&self->in, 0, self->cfg0, 256));
}

FIXTURE_TEARDOWN(dev)
{
	if (self->created)
		vs_remove(&self->in);
}

/* ---- config space ------------------------------------------------------- */

TEST_F(dev, cfg_identity)
{
	struct vs_inst *in = &self->in;
	struct vfio_region_info info;

	ASSERT_EQ(0, vs_region_info(in->device, VFIO_PCI_CONFIG_REGION_INDEX,
				    &info, sizeof(info)));
	EXPECT_EQ(256, info.size);
	EXPECT_EQ(VSLICE_PCI_VENDOR_ID, cfg16(in, PCI_VENDOR_ID));
	EXPECT_EQ(VSLICE_PCI_DEVICE_ID, cfg16(in, PCI_DEVICE_ID));
	EXPECT_EQ(VSLICE_PCI_REVISION, cfg8(in, PCI_REVISION_ID));
	EXPECT_EQ(VSLICE_PCI_CLASS, cfg32(in, PCI_CLASS_REVISION) >> 8);
	EXPECT_EQ(PCI_HEADER_TYPE_NORMAL, cfg8(in, PCI_HEADER_TYPE));
	EXPECT_EQ(VSLICE_PCI_SUBSYS_VENDOR_ID,
		  cfg16(in, PCI_SUBSYSTEM_VENDOR_ID));
	EXPECT_NE(0, cfg16(in, PCI_SUBSYSTEM_ID));
	EXPECT_EQ(0, cfg16(in, PCI_COMMAND));
	EXPECT_EQ(PCI_STATUS_CAP_LIST, cfg16(in, PCI_STATUS));
	EXPECT_EQ(1, cfg8(in, PCI_INTERRUPT_PIN));
	EXPECT_EQ(0, cfg32(in, PCI_ROM_ADDRESS));
	EXPECT_EQ(0, cfg32(in, PCI_CARDBUS_CIS));
	/* BAR flags: BAR0 32-bit memory, BAR2 64-bit prefetchable memory. */
	EXPECT_EQ(0, cfg32(in, PCI_BASE_ADDRESS_0) & 0xf);
	EXPECT_EQ(PCI_BASE_ADDRESS_MEM_TYPE_64 | PCI_BASE_ADDRESS_MEM_PREFETCH,
		  cfg32(in, PCI_BASE_ADDRESS_2) & 0xf);
	EXPECT_EQ(0, cfg32(in, PCI_BASE_ADDRESS_1));
	EXPECT_EQ(0, cfg32(in, PCI_BASE_ADDRESS_4));
	EXPECT_EQ(0, cfg32(in, PCI_BASE_ADDRESS_5));
}

TEST_F(dev, cfg_access_sizes_and_range)
{
	struct vs_inst *in = &self->in;
	__u8 buf[256], big[257], b[8];
	unsigned int off;

	/* dword reads, as QEMU does them, match the full read */
	for (off = 0; off < 256; off += 4) {
		__u32 v = cfg32(in, off);

		ASSERT_EQ(0, memcmp(&v, self->cfg0 + off, 4));
	}
	for (off = 0; off < 256; off += 2) {
		__u16 v = cfg16(in, off);

		ASSERT_EQ(0, memcmp(&v, self->cfg0 + off, 2));
	}
	for (off = 0; off < 256; off++)
		ASSERT_EQ(self->cfg0[off], cfg8(in, off));
	/* unaligned and odd-sized accesses are split, not refused */
	ASSERT_EQ(0, vs_cfg_read(in, 1, buf, 3));
	EXPECT_EQ(0, memcmp(buf, self->cfg0 + 1, 3));
	ASSERT_EQ(0, vs_cfg_read(in, 0x3b, buf, 7));
	EXPECT_EQ(0, memcmp(buf, self->cfg0 + 0x3b, 7));

	/* out of range */
	EXPECT_EQ(-EINVAL, vs_cfg_read(in, 255, b, 2));
	EXPECT_EQ(-EINVAL, vs_cfg_read(in, 256, b, 1));
	EXPECT_EQ(-EINVAL, vs_cfg_write(in, 254, b, 4));
	EXPECT_EQ(-EINVAL, vs_cfg_read(in, 0, big, sizeof(big)));
	ASSERT_EQ(0, vs_cfg_read(in, 0, buf, 256));
	EXPECT_EQ(0, memcmp(buf, self->cfg0, 256));
	EXPECT_TRUE(device_alive(in));
}

TEST_F(dev, cfg_readonly_bits_ignore_writes)
{
	struct vs_inst *in = &self->in;
	__u64 size = vram_size(in);
	__u32 bar2 = (__u32)~(size - 1) & ~0xfu;
	__u8 ones[256], buf[256];
	__u32 wmask[64] = { 0 };
	unsigned int off;

	ASSERT_GT(size, 0);
	/* writable bits per dword, as the device ABI defines them */
	wmask[PCI_COMMAND / 4] = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
				 PCI_COMMAND_INTX_DISABLE;
	wmask[PCI_CACHE_LINE_SIZE / 4] = 0xff;
	wmask[PCI_BASE_ADDRESS_0 / 4] = 0xfffff000;
	wmask[PCI_BASE_ADDRESS_2 / 4] = bar2;
	wmask[PCI_BASE_ADDRESS_3 / 4] = (__u32)(~(size - 1) >> 32);
	wmask[PCI_INTERRUPT_LINE / 4] = 0xff;
	wmask[MSI_CAP / 4] = PCI_MSI_FLAGS_ENABLE << 16;
	wmask[MSI_CAP / 4 + 1] = 0xfffffffc;
	wmask[MSI_CAP / 4 + 2] = 0xffffffff;
	wmask[MSI_CAP / 4 + 3] = 0xffff;

	/* one 256-byte write of all ones, like a careless guest */
	memset(ones, 0xff, sizeof(ones));
	ASSERT_EQ(0, vs_cfg_write(in, 0, ones, 256));
	ASSERT_EQ(0, vs_cfg_read(in, 0, buf, 256));
	for (off = 0; off < 256; off += 4) {
		__u32 orig, now, want;

		memcpy(&orig, self->cfg0 + off, 4);
		memcpy(&now, buf + off, 4);
		want = (orig & ~wmask[off / 4]) | wmask[off / 4];
		if (off == PCI_COMMAND)	/* W1C status bits stay clear */
			want &= ~(STATUS_W1C << 16);
		EXPECT_EQ(want, now) {
			TH_LOG("dword 0x%02x: got 0x%08x want 0x%08x", off,
			       now, want);
		}
	}

	/* writing the power-on image back restores it exactly */
	ASSERT_EQ(0, vs_cfg_write(in, 0, self->cfg0, 256));
	ASSERT_EQ(0, vs_cfg_read(in, 0, buf, 256));
	EXPECT_EQ(0, memcmp(buf, self->cfg0, 256));
}

TEST_F(dev, cfg_command_and_status)
{
	struct vs_inst *in = &self->in;

	ASSERT_EQ(0, wcfg16(in, PCI_COMMAND, 0xffff));
	EXPECT_EQ(PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
		  PCI_COMMAND_INTX_DISABLE, cfg16(in, PCI_COMMAND));
	/* IO space stays off: there is no IO BAR */
	ASSERT_EQ(0, wcfg16(in, PCI_COMMAND, PCI_COMMAND_IO));
	EXPECT_EQ(0, cfg16(in, PCI_COMMAND));
	/* a byte write to the high half only touches INTX_DISABLE */
	ASSERT_EQ(0, vs_cfg_write(in, PCI_COMMAND + 1, (__u8[]){ 0xff }, 1));
	EXPECT_EQ(PCI_COMMAND_INTX_DISABLE, cfg16(in, PCI_COMMAND));
	ASSERT_EQ(0, wcfg16(in, PCI_COMMAND, 0));

	/* STATUS: read-only, error bits are W1C and clear */
	ASSERT_EQ(0, wcfg16(in, PCI_STATUS, 0xffff));
	EXPECT_EQ(PCI_STATUS_CAP_LIST, cfg16(in, PCI_STATUS));
	ASSERT_EQ(0, wcfg16(in, PCI_STATUS, 0));
	EXPECT_EQ(PCI_STATUS_CAP_LIST, cfg16(in, PCI_STATUS));

	/* interrupt line RW, pin RO */
	ASSERT_EQ(0, wcfg16(in, PCI_INTERRUPT_LINE, 0x7f0b));
	EXPECT_EQ(0x0b, cfg8(in, PCI_INTERRUPT_LINE));
	EXPECT_EQ(1, cfg8(in, PCI_INTERRUPT_PIN));
	/* identity RO */
	ASSERT_EQ(0, wcfg32(in, PCI_VENDOR_ID, 0x12345678));
	EXPECT_EQ(VSLICE_PCI_VENDOR_ID, cfg16(in, PCI_VENDOR_ID));
	EXPECT_EQ(VSLICE_PCI_DEVICE_ID, cfg16(in, PCI_DEVICE_ID));
	ASSERT_EQ(0, wcfg32(in, PCI_CLASS_REVISION, 0));
	EXPECT_EQ(VSLICE_PCI_CLASS, cfg32(in, PCI_CLASS_REVISION) >> 8);
	ASSERT_EQ(0, vs_cfg_write(in, PCI_CAPABILITY_LIST, (__u8[]){ 0 },
				  1));
	EXPECT_EQ(MSI_CAP, cfg8(in, PCI_CAPABILITY_LIST));
}

TEST_F(dev, bar_sizing)
{
	struct vs_inst *in = &self->in;
	struct vfio_region_info info;
	__u64 size = vram_size(in), bar2_size;
	__u32 saved[7];
	unsigned int i;

	ASSERT_GT(size, 0);
	for (i = 0; i < 7; i++)
		saved[i] = cfg32(in, PCI_BASE_ADDRESS_0 + 4 * i);

	/* BAR0: 4 KiB, 32-bit, non-prefetchable */
	ASSERT_EQ(0, wcfg32(in, PCI_BASE_ADDRESS_0, 0xffffffff));
	EXPECT_EQ(0xfffff000, cfg32(in, PCI_BASE_ADDRESS_0));
	ASSERT_EQ(0, vs_region_info(in->device, VFIO_PCI_BAR0_REGION_INDEX,
				    &info, sizeof(info)));
	EXPECT_EQ(VSLICE_MMIO_SIZE, info.size);
	EXPECT_EQ(info.size, ~0xfffff000u + 1);

	/* BAR1, BAR4, BAR5 and the ROM: not implemented */
	for (i = 0; i < 7; i++) {
		__u32 reg = i == 6 ? PCI_ROM_ADDRESS :
			       PCI_BASE_ADDRESS_0 + 4 * i;

		if (i == 0 || i == 2 || i == 3)
			continue;
		ASSERT_EQ(0, wcfg32(in, reg, 0xffffffff));
		EXPECT_EQ(0, cfg32(in, reg));
	}

	/* BAR2/3: 64-bit prefetchable, sized to the VRAM */
	ASSERT_EQ(0, wcfg32(in, PCI_BASE_ADDRESS_2, 0xffffffff));
	ASSERT_EQ(0, wcfg32(in, PCI_BASE_ADDRESS_3, 0xffffffff));
	bar2_size = ~(((__u64)cfg32(in, PCI_BASE_ADDRESS_3) << 32) |
		      (cfg32(in, PCI_BASE_ADDRESS_2) & ~0xfull)) + 1;
	EXPECT_EQ(PCI_BASE_ADDRESS_MEM_TYPE_64 | PCI_BASE_ADDRESS_MEM_PREFETCH,
		  cfg32(in, PCI_BASE_ADDRESS_2) & 0xf);
	EXPECT_EQ(size, bar2_size);
	ASSERT_EQ(0, vs_region_info(in->device, VFIO_PCI_BAR2_REGION_INDEX,
				    &info, sizeof(info)));
	EXPECT_TRUE(info.flags & VFIO_REGION_INFO_FLAG_MMAP);

	/* an address is kept, the size bits below it read 0 */
	ASSERT_EQ(0, wcfg32(in, PCI_BASE_ADDRESS_2, 0xc0000000 | 0x12345));
	EXPECT_EQ(0xc0000000 | 0xc, cfg32(in, PCI_BASE_ADDRESS_2));
	ASSERT_EQ(0, wcfg32(in, PCI_BASE_ADDRESS_3, 0x1));
	EXPECT_EQ(1, cfg32(in, PCI_BASE_ADDRESS_3));

	/* restore */
	for (i = 0; i < 6; i++)
		ASSERT_EQ(0, wcfg32(in, PCI_BASE_ADDRESS_0 + 4 * i, saved[i]));
	for (i = 0; i < 6; i++)
		EXPECT_EQ(saved[i], cfg32(in, PCI_BASE_ADDRESS_0 + 4 * i));
}

TEST_F(dev, msi_capability)
{
	struct vs_inst *in = &self->in;
	unsigned int pos, hops = 0, found = 0;
	__u16 flags;

	ASSERT_TRUE(cfg16(in, PCI_STATUS) & PCI_STATUS_CAP_LIST);
	for (pos = cfg8(in, PCI_CAPABILITY_LIST) & ~3u; pos;
	     pos = cfg8(in, pos + PCI_CAP_LIST_NEXT) & ~3u) {
		ASSERT_LT(++hops, 48);		/* no loop */
		ASSERT_GE(pos, 0x40);
		ASSERT_LE(pos, 256 - 4);
		if (cfg8(in, pos + PCI_CAP_LIST_ID) == PCI_CAP_ID_MSI)
			found = pos;
	}
	ASSERT_NE(0, found);
	EXPECT_EQ(MSI_CAP, found);

	flags = cfg16(in, found + PCI_MSI_FLAGS);
	EXPECT_TRUE(flags & PCI_MSI_FLAGS_64BIT);
	EXPECT_EQ(0, flags & PCI_MSI_FLAGS_QMASK);	/* one vector */
	EXPECT_EQ(0, flags & PCI_MSI_FLAGS_MASKBIT);
	EXPECT_EQ(0, flags & PCI_MSI_FLAGS_ENABLE);

	/* enable is writable, the rest of the flags are not */
	ASSERT_EQ(0, wcfg16(in, found + PCI_MSI_FLAGS, 0xffff));
	EXPECT_EQ(PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_ENABLE,
		  cfg16(in, found + PCI_MSI_FLAGS));
	ASSERT_EQ(0, wcfg32(in, found + PCI_MSI_ADDRESS_LO, 0xfee01003));
	EXPECT_EQ(0xfee01000, cfg32(in, found + PCI_MSI_ADDRESS_LO));
	ASSERT_EQ(0, wcfg32(in, found + PCI_MSI_ADDRESS_HI, 0x89abcdef));
	EXPECT_EQ(0x89abcdef, cfg32(in, found + PCI_MSI_ADDRESS_HI));
	ASSERT_EQ(0, wcfg32(in, found + PCI_MSI_DATA_64, 0xffff4021));
	EXPECT_EQ(0x4021, cfg32(in, found + PCI_MSI_DATA_64));
	ASSERT_EQ(0, wcfg16(in, found + PCI_MSI_FLAGS, 0));
	EXPECT_EQ(PCI_MSI_FLAGS_64BIT, cfg16(in, found + PCI_MSI_FLAGS));
}

/* ---- BAR0 registers ----------------------------------------------------- */

TEST_F(dev, regs_identity)
{
	struct vs_inst *in = &self->in;
	__u64 size = vram_size(in);

	EXPECT_EQ(VSLICE_ID_MAGIC, vs_rd32(in, VSLICE_REG_ID));
	EXPECT_EQ(VSLICE_DEV_VERSION, vs_rd32(in, VSLICE_REG_VERSION));
	EXPECT_EQ((__u32)size, vs_rd32(in, VSLICE_REG_VRAM_SIZE_LO));
	EXPECT_EQ((__u32)(size >> 32), vs_rd32(in, VSLICE_REG_VRAM_SIZE_HI));
	EXPECT_EQ(128 * VS_MIB, size);
	EXPECT_EQ(VSLICE_CAP_ENGINE | VSLICE_CAP_MSI | VSLICE_CAP_PLANE,
		  vs_rd32(in, VSLICE_REG_CAPS));
	/* power-on values */
	EXPECT_EQ(0, vs_rd32(in, VSLICE_REG_CONTROL));
	EXPECT_EQ(0, vs_rd32(in, VSLICE_REG_STATUS));
	EXPECT_EQ(0, vs_rd32(in, VSLICE_REG_IRQ_STATUS));
	EXPECT_EQ(0, vs_rd32(in, VSLICE_REG_IRQ_MASK));
	EXPECT_EQ(0, vs_rd32(in, VSLICE_REG_SCRATCH(0)));
}

TEST_F(dev, regs_readonly_and_writeonly)
{
	static const __u32 ro[] = {
		VSLICE_REG_ID, VSLICE_REG_VERSION, VSLICE_REG_VRAM_SIZE_LO,
		VSLICE_REG_VRAM_SIZE_HI, VSLICE_REG_CAPS, VSLICE_REG_RING_HEAD,
		VSLICE_REG_STATUS, VSLICE_REG_FENCE_LO, VSLICE_REG_FENCE_HI,
		VSLICE_REG_IRQ_STATUS, VSLICE_REG_ERROR,
		VSLICE_REG_ERROR_HEAD, VSLICE_REG_CMD_COUNT,
	};
	struct vs_inst *in = &self->in;
	__u32 before[ARRAY_SIZE(ro)];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(ro); i++)
		before[i] = vs_rd32(in, ro[i]);
	for (i = 0; i < ARRAY_SIZE(ro); i++)
		vs_wr32(in, ro[i], 0xa5a5a5a5);
	for (i = 0; i < ARRAY_SIZE(ro); i++)
		EXPECT_EQ(before[i], vs_rd32(in, ro[i])) {
			TH_LOG("register 0x%03x changed", ro[i]);
		}

	/* write-only registers read 0 */
	EXPECT_EQ(0, vs_rd32(in, VSLICE_REG_DOORBELL));
	EXPECT_EQ(0, vs_rd32(in, VSLICE_REG_IRQ_ACK));
	/* holes read 0 and ignore writes */
	vs_wr32(in, 0x0fc, 0xffffffff);
	vs_wr32(in, 0x13c, 0xffffffff);
	vs_wr32(in, 0xffc, 0xffffffff);
	EXPECT_EQ(0, vs_rd32(in, 0x0fc));
	EXPECT_EQ(0, vs_rd32(in, 0x13c));
	EXPECT_EQ(0, vs_rd32(in, 0xffc));
	EXPECT_EQ(0, vs_rd32(in, 0x018));
}

TEST_F(dev, regs_scratch_and_masks)
{
	struct vs_inst *in = &self->in;
	unsigned int i;

	for (i = 0; i < VSLICE_NR_SCRATCH; i++)
		vs_wr32(in, VSLICE_REG_SCRATCH(i), 0x01010101u * (i + 1) ^
			0x80000000u);
	for (i = 0; i < VSLICE_NR_SCRATCH; i++)
		EXPECT_EQ(0x01010101u * (i + 1) ^ 0x80000000u,
			  vs_rd32(in, VSLICE_REG_SCRATCH(i)));

	/* only defined bits stick */
	vs_wr32(in, VSLICE_REG_IRQ_MASK, 0xffffffff);
	EXPECT_EQ(VSLICE_IRQ_ALL, vs_rd32(in, VSLICE_REG_IRQ_MASK));
	vs_wr32(in, VSLICE_REG_IRQ_MASK, 0);
	vs_wr32(in, VSLICE_REG_CONTROL, ~VSLICE_CTRL_ENABLE);
	EXPECT_EQ(0, vs_rd32(in, VSLICE_REG_CONTROL));

	/* ring registers hold what the guest wrote */
	vs_wr32(in, VSLICE_REG_RING_BASE_LO, 0x12345000);
	vs_wr32(in, VSLICE_REG_RING_BASE_HI, 0x9);
	vs_wr32(in, VSLICE_REG_RING_SIZE, 64);
	vs_wr32(in, VSLICE_REG_RING_TAIL, 5);
	EXPECT_EQ(0x12345000, vs_rd32(in, VSLICE_REG_RING_BASE_LO));
	EXPECT_EQ(0x9, vs_rd32(in, VSLICE_REG_RING_BASE_HI));
	EXPECT_EQ(64, vs_rd32(in, VSLICE_REG_RING_SIZE));
	EXPECT_EQ(5, vs_rd32(in, VSLICE_REG_RING_TAIL));
	EXPECT_EQ(0, vs_rd32(in, VSLICE_REG_RING_HEAD));
	EXPECT_EQ(0, vs_rd32(in, VSLICE_REG_STATUS));	/* disabled: idle */
}

TEST_F(dev, regs_64bit_access)
{
	struct vs_inst *in = &self->in;
	__u64 v = 0x1122334455667788ull, r = 0;

	/* an aligned 8-byte access covers the two registers, low first */
	ASSERT_EQ(8, bar0_rw(in, VSLICE_REG_SCRATCH(2), &v, 8, true));
	EXPECT_EQ(0x55667788, vs_rd32(in, VSLICE_REG_SCRATCH(2)));
	EXPECT_EQ(0x11223344, vs_rd32(in, VSLICE_REG_SCRATCH(3)));
	ASSERT_EQ(8, bar0_rw(in, VSLICE_REG_SCRATCH(2), &r, 8, false));
	EXPECT_EQ(v, r);
	ASSERT_EQ(8, bar0_rw(in, VSLICE_REG_VRAM_SIZE_LO, &r, 8, false));
	EXPECT_EQ(vram_size(in), r);
}

TEST_F(dev, regs_bad_access_einval)
{
	static const struct {
		__u64 off;
		size_t len;
	} bad[] = {
		{ VSLICE_REG_SCRATCH(0), 1 },
		{ VSLICE_REG_SCRATCH(0), 2 },
		{ VSLICE_REG_SCRATCH(0) + 1, 4 },
		{ VSLICE_REG_SCRATCH(0) + 2, 4 },
		{ VSLICE_REG_SCRATCH(1), 8 },	/* 8 bytes need 8-alignment */
		{ VSLICE_REG_SCRATCH(0), 3 },
		{ VSLICE_REG_SCRATCH(0), 16 },
		{ VSLICE_REG_SCRATCH(0), 12 },
		{ VSLICE_MMIO_SIZE, 4 },
		{ VSLICE_MMIO_SIZE - 2, 4 },
		{ 1ull << 39, 4 },
	};
	struct vs_inst *in = &self->in;
	__u8 buf[16];
	unsigned int i;
	int w;

	vs_wr32(in, VSLICE_REG_SCRATCH(0), 0xcafef00d);
	vs_wr32(in, VSLICE_REG_SCRATCH(1), 0x0badf00d);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		for (w = 0; w < 2; w++) {
			memset(buf, 0xee, sizeof(buf));
			EXPECT_EQ(-EINVAL, bar0_rw(in, bad[i].off, buf,
						   bad[i].len, w)) {
				TH_LOG("%s off 0x%llx len %zu",
				       w ? "write" : "read",
				       (unsigned long long)bad[i].off,
				       bad[i].len);
			}
		}
	}
	/* nothing was written by the refused accesses */
	EXPECT_EQ(0xcafef00d, vs_rd32(in, VSLICE_REG_SCRATCH(0)));
	EXPECT_EQ(0x0badf00d, vs_rd32(in, VSLICE_REG_SCRATCH(1)));
	EXPECT_TRUE(device_alive(in));
}

/* ---- VRAM --------------------------------------------------------------- */

TEST_F(dev, vram_region_rw)
{
	struct vs_inst *in = &self->in;
	__u64 size = vram_size(in);
	size_t len = 3 * PAGE + 123;
	__u8 *w = malloc(len), *r = malloc(len);
	static const __u64 offs[] = { 0, 1, PAGE - 7, 5 * PAGE + 4093,
					 64 * VS_MIB + 17 };
	unsigned int i;

	ASSERT_NE(NULL, w);
	ASSERT_NE(NULL, r);
	for (i = 0; i < ARRAY_SIZE(offs); i++) {
		fill_pattern(w, len, i + 1);
		ASSERT_EQ((ssize_t)len, vs_vram_rw(in, offs[i], w, len, true));
		memset(r, 0, len);
		ASSERT_EQ((ssize_t)len, vs_vram_rw(in, offs[i], r, len, false));
		EXPECT_EQ(0, memcmp(w, r, len));
	}
	/* the very last bytes */
	fill_pattern(w, 64, 9);
	ASSERT_EQ(64, vs_vram_rw(in, size - 64, w, 64, true));
	ASSERT_EQ(64, vs_vram_rw(in, size - 64, r, 64, false));
	EXPECT_EQ(0, memcmp(w, r, 64));

	/* out of range, and nothing written */
	EXPECT_EQ(-EINVAL, vs_vram_rw(in, size - 1, w, 2, true));
	EXPECT_EQ(-EINVAL, vs_vram_rw(in, size, w, 1, true));
	EXPECT_EQ(-EINVAL, vs_vram_rw(in, size, r, 1, false));
	EXPECT_EQ(-EINVAL, vs_vram_rw(in, (1ull << 40) - 1, r, 1, false));
	ASSERT_EQ(64, vs_vram_rw(in, size - 64, r, 64, false));
	EXPECT_EQ(0, memcmp(w, r, 64));
	free(w);
	free(r);
	EXPECT_TRUE(device_alive(in));
}

TEST_F(dev, vram_untouched_reads_zero)
{
	struct vs_inst *in = &self->in;
	size_t len = 2 * VS_MIB;
	__u8 *r = malloc(len);
	__u32 one = 0xffffffff;

	ASSERT_NE(NULL, r);
	memset(r, 0xaa, len);
	ASSERT_EQ((ssize_t)len, vs_vram_rw(in, 32 * VS_MIB, r, len, false));
	EXPECT_TRUE(all_zero(r, len));
	/* a neighbour of a written word is still zero */
	ASSERT_EQ(4, vs_vram_rw(in, 100 * VS_MIB + 8, &one, 4, true));
	memset(r, 0xaa, PAGE);
	ASSERT_EQ((ssize_t)PAGE, vs_vram_rw(in, 100 * VS_MIB, r, PAGE, false));
	EXPECT_TRUE(all_zero(r, 8));
	EXPECT_EQ(0xffffffff, *(__u32 *)(r + 8));
	EXPECT_TRUE(all_zero(r + 12, PAGE - 12));
	free(r);
}

TEST_F(dev, vram_large_rw)
{
	struct vs_inst *in = &self->in;
	size_t len = 8 * VS_MIB + 5;
	__u8 *w = malloc(len), *r = malloc(len);

	ASSERT_NE(NULL, w);
	ASSERT_NE(NULL, r);
	fill_pattern(w, len, 3);
	ASSERT_EQ((ssize_t)len, vs_vram_rw(in, 3, w, len, true));
	ASSERT_EQ((ssize_t)len, vs_vram_rw(in, 3, r, len, false));
	EXPECT_EQ(0, memcmp(w, r, len));
	free(w);
	free(r);
}

TEST_F(dev, vram_mmap_coherence)
{
	struct vs_inst *in = &self->in;
	__u64 size = vram_size(in);
	__u8 *map, buf[PAGE * 2];
	size_t i;

	map = vram_map(in, 0, size, MAP_SHARED);
	ASSERT_NE(MAP_FAILED, map);

	/* untouched VRAM reads zero through the mapping */
	EXPECT_TRUE(all_zero(map + 17 * VS_MIB, PAGE));
	EXPECT_TRUE(all_zero(map + size - PAGE, PAGE));

	/* mapping -> region */
	fill_pattern(map + 5 * PAGE + 100, 2 * PAGE, 4);
	ASSERT_EQ((ssize_t)sizeof(buf),
		  vs_vram_rw(in, 5 * PAGE + 100, buf, sizeof(buf), false));
	EXPECT_EQ(0, memcmp(buf, map + 5 * PAGE + 100, sizeof(buf)));

	/* region -> mapping, into a page that was only read so far */
	fill_pattern(buf, sizeof(buf), 5);
	ASSERT_EQ((ssize_t)sizeof(buf),
		  vs_vram_rw(in, 17 * VS_MIB, buf, sizeof(buf), true));
	EXPECT_EQ(0, memcmp(buf, map + 17 * VS_MIB, sizeof(buf)));

	/* rewrite through the mapping: the PTE is writable now */
	for (i = 0; i < 64; i++)
		map[17 * VS_MIB + i] = (__u8)~i;
	ASSERT_EQ(64, vs_vram_rw(in, 17 * VS_MIB, buf, 64, false));
	for (i = 0; i < 64; i++)
		EXPECT_EQ((__u8)~i, buf[i]);

	/* a second mapping of part of BAR2 aliases the same pages */
	{
		__u8 *map2 = vram_map(in, 17 * VS_MIB, PAGE, MAP_SHARED);

		ASSERT_NE(MAP_FAILED, map2);
		EXPECT_EQ(0, memcmp(map2, map + 17 * VS_MIB, PAGE));
		map2[9] = 0x5c;
		EXPECT_EQ(0x5c, map[17 * VS_MIB + 9]);
		munmap(map2, PAGE);
	}
	munmap(map, size);
}

TEST_F(dev, vram_rw_into_own_mapping)
{
	struct vs_inst *in = &self->in;
	__u8 *map;

	/* the user buffer is the BAR itself: must not deadlock on faults */
	map = vram_map(in, 0, 4 * VS_MIB, MAP_SHARED);
	ASSERT_NE(MAP_FAILED, map);
	fill_pattern(map, 2 * PAGE, 6);
	ASSERT_EQ((ssize_t)(2 * PAGE),
		  vs_vram_rw(in, VS_MIB, map, 2 * PAGE, true));
	EXPECT_EQ(0, memcmp(map, map + VS_MIB, 2 * PAGE));
	/* read into pages of the mapping that were never touched */
	ASSERT_EQ((ssize_t)(2 * PAGE),
		  vs_vram_rw(in, 0, map + 3 * VS_MIB, 2 * PAGE, false));
	EXPECT_EQ(0, memcmp(map, map + 3 * VS_MIB, 2 * PAGE));
	munmap(map, 4 * VS_MIB);
}

TEST_F(dev, vram_mmap_bad)
{
	struct vs_inst *in = &self->in;
	__u64 size = vram_size(in), off0;
	void *p;

	errno = 0;
	p = vram_map(in, 0, PAGE, MAP_PRIVATE);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);

	errno = 0;
	p = vram_map(in, size - PAGE, 2 * PAGE, MAP_SHARED);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);

	errno = 0;
	p = vram_map(in, size, PAGE, MAP_SHARED);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);

	/* BAR0 is trapped, not mappable */
	off0 = region_base(in, VFIO_PCI_BAR0_REGION_INDEX);
	ASSERT_NE(~0ull, off0);
	errno = 0;
	p = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, in->device, off0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);

	/* and a good one still works */
	p = vram_map(in, size - PAGE, PAGE, MAP_SHARED);
	ASSERT_NE(MAP_FAILED, p);
	((__u8 *)p)[PAGE - 1] = 0x42;
	munmap(p, PAGE);
	EXPECT_TRUE(device_alive(in));
}

TEST_F(dev, vram_mmap_split_and_fork)
{
	struct vs_inst *in = &self->in;
	__u8 *map, b = 0;
	pid_t pid;
	int status;

	map = vram_map(in, 0, 8 * PAGE, MAP_SHARED);
	ASSERT_NE(MAP_FAILED, map);
	memset(map, 0x11, 8 * PAGE);

	/* punch a hole: two VMAs remain, both still backed */
	ASSERT_EQ(0, munmap(map + 3 * PAGE, 2 * PAGE));
	map[PAGE] = 0x22;
	map[6 * PAGE] = 0x66;
	ASSERT_EQ(1, vs_vram_rw(in, PAGE, &b, 1, false));
	EXPECT_EQ(0x22, b);
	ASSERT_EQ(1, vs_vram_rw(in, 6 * PAGE, &b, 1, false));
	EXPECT_EQ(0x66, b);
	ASSERT_EQ(1, vs_vram_rw(in, 3 * PAGE, &b, 1, false));
	EXPECT_EQ(0x11, b);

	/* a child shares the mapping and outlives the parent's copy */
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		map[7 * PAGE + 5] = 0x77;
		_exit(map[0] == 0x11 ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status));
	EXPECT_EQ(0x77, map[7 * PAGE + 5]);
	ASSERT_EQ(1, vs_vram_rw(in, 7 * PAGE + 5, &b, 1, false));
	EXPECT_EQ(0x77, b);

	munmap(map, 3 * PAGE);
	munmap(map + 5 * PAGE, 3 * PAGE);
	EXPECT_TRUE(device_alive(in));
}

/* VRAM the engine writes is what the mappings show, and the reverse. */
TEST_F(dev, vram_engine_and_mapping_coherent)
{
	struct vs_inst *in = &self->in;
	const __u64 ring_iova = 0x100000, buf_iova = 0x400000;
	const __u32 entries = 16;
	struct vslice_cmd cmd = { 0 };
	__u8 *map, *ring, *buf;
	size_t i;

	map = vram_map(in, 0, 4 * VS_MIB, MAP_SHARED);
	ASSERT_NE(MAP_FAILED, map);
	ring = vs_dma_map(in, ring_iova, PAGE);
	ASSERT_NE(NULL, ring);
	buf = vs_dma_map(in, buf_iova, 2 * PAGE);
	ASSERT_NE(NULL, buf);
	vs_ring_setup(in, ring_iova, entries);

	/* page 1 mapped read-only by a read, page 2 never touched */
	EXPECT_EQ(0, map[PAGE]);
	cmd.opcode = VSLICE_CMD_FILL;
	cmd.pattern = 0xa1b2c3d4;
	cmd.vram_off = PAGE;
	cmd.len = 2 * PAGE;
	vs_ring_push(in, ring, entries, &cmd);
	ASSERT_EQ(0, vs_ring_wait_idle(in, 5000));
	for (i = 0; i < 2 * PAGE; i += 4)
		ASSERT_EQ(0xa1b2c3d4, *(__u32 *)(map + PAGE + i));

	/* written through the mapping, copied out by the engine */
	for (i = 0; i < 2 * PAGE; i++)
		map[VS_MIB + i] = (__u8)(i * 13);
	memset(&cmd, 0, sizeof(cmd));
	cmd.opcode = VSLICE_CMD_COPY_FROM_VRAM;
	cmd.vram_off = VS_MIB;
	cmd.iova = buf_iova;
	cmd.len = 2 * PAGE;
	vs_ring_push(in, ring, entries, &cmd);
	ASSERT_EQ(0, vs_ring_wait_idle(in, 5000));
	EXPECT_EQ(0, memcmp(buf, map + VS_MIB, 2 * PAGE));

	vs_wr32(in, VSLICE_REG_CONTROL, 0);
	EXPECT_EQ(0, vs_dma_unmap(in, ring_iova, PAGE, ring));
	EXPECT_EQ(0, vs_dma_unmap(in, buf_iova, 2 * PAGE, buf));
	munmap(map, 4 * VS_MIB);
}

/* ---- reset -------------------------------------------------------------- */

TEST_F(dev, reset_restores_power_on_state)
{
	struct vs_inst *in = &self->in;
	__u8 *map, buf[256], page[PAGE];

	map = vram_map(in, 0, 8 * VS_MIB, MAP_SHARED);
	ASSERT_NE(MAP_FAILED, map);
	memset(map + 3 * PAGE, 0x77, PAGE);
	memset(page, 0x66, PAGE);
	ASSERT_EQ((ssize_t)PAGE, vs_vram_rw(in, 6 * VS_MIB, page, PAGE, true));
	vs_wr32(in, VSLICE_REG_SCRATCH(0), 0xdeadbeef);
	vs_wr32(in, VSLICE_REG_SCRATCH(5), 0x12345678);
	vs_wr32(in, VSLICE_REG_IRQ_MASK, VSLICE_IRQ_ALL);
	vs_wr32(in, VSLICE_REG_RING_SIZE, 16);
	ASSERT_EQ(0, wcfg16(in, PCI_COMMAND, PCI_COMMAND_MEMORY |
			    PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE));
	ASSERT_EQ(0, wcfg32(in, PCI_BASE_ADDRESS_0, 0xfe000000));
	ASSERT_EQ(0, wcfg16(in, MSI_CAP + PCI_MSI_FLAGS, PCI_MSI_FLAGS_ENABLE));
	ASSERT_EQ(0, vs_cfg_write(in, PCI_INTERRUPT_LINE, (__u8[]){ 10 },
				  1));

	ASSERT_EQ(0, ioctl(in->device, VFIO_DEVICE_RESET));

	EXPECT_EQ(0, vs_rd32(in, VSLICE_REG_SCRATCH(0)));
	EXPECT_EQ(0, vs_rd32(in, VSLICE_REG_SCRATCH(5)));
	EXPECT_EQ(0, vs_rd32(in, VSLICE_REG_IRQ_MASK));
	EXPECT_EQ(0, vs_rd32(in, VSLICE_REG_RING_SIZE));
	EXPECT_EQ(VSLICE_ID_MAGIC, vs_rd32(in, VSLICE_REG_ID));
	ASSERT_EQ(0, vs_cfg_read(in, 0, buf, 256));
	EXPECT_EQ(0, memcmp(buf, self->cfg0, 256));

	/* VRAM is zero again, through the region and the old mapping */
	ASSERT_EQ((ssize_t)PAGE, vs_vram_rw(in, 6 * VS_MIB, page, PAGE, false));
	EXPECT_TRUE(all_zero(page, PAGE));
	EXPECT_TRUE(all_zero(map + 3 * PAGE, PAGE));
	EXPECT_TRUE(all_zero(map + 6 * VS_MIB, PAGE));
	/* and the mapping still works after the reset */
	map[3 * PAGE] = 0x31;
	ASSERT_EQ(1, vs_vram_rw(in, 3 * PAGE, page, 1, false));
	EXPECT_EQ(0x31, page[0]);
	munmap(map, 8 * VS_MIB);
}

/* ---- interrupts --------------------------------------------------------- */

TEST_F(dev, irq_info)
{
	struct vs_inst *in = &self->in;
	struct vfio_irq_info info;
	unsigned int i;

	for (i = 0; i < VFIO_PCI_NUM_IRQS; i++) {
		memset(&info, 0, sizeof(info));
		info.argsz = sizeof(info);
		info.index = i;
		ASSERT_EQ(0, ioctl(in->device, VFIO_DEVICE_GET_IRQ_INFO,
				   &info));
		switch (i) {
		case VFIO_PCI_INTX_IRQ_INDEX:
			EXPECT_EQ(1, info.count);
			EXPECT_EQ(VFIO_IRQ_INFO_EVENTFD |
				  VFIO_IRQ_INFO_MASKABLE |
				  VFIO_IRQ_INFO_AUTOMASKED, info.flags);
			break;
		case VFIO_PCI_MSI_IRQ_INDEX:
			EXPECT_EQ(1, info.count);
			EXPECT_EQ(VFIO_IRQ_INFO_EVENTFD |
				  VFIO_IRQ_INFO_NORESIZE, info.flags);
			break;
		default:
			EXPECT_EQ(0, info.count);
		}
	}
	info.index = VFIO_PCI_NUM_IRQS;
	EXPECT_EQ(-1, ioctl(in->device, VFIO_DEVICE_GET_IRQ_INFO, &info));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(dev, irq_set_bad_input_einval)
{
	struct vs_inst *in = &self->in;
	__s32 fds[2];
	__u8 yes = 1;
	int efd, nullfd, closed;

	efd = eventfd(0, EFD_NONBLOCK);
	ASSERT_GE(efd, 0);
	nullfd = open("/dev/null", O_RDWR);
	ASSERT_GE(nullfd, 0);
	closed = dup(nullfd);
	ASSERT_GE(closed, 0);
	close(closed);
	fds[0] = efd;
	fds[1] = efd;

	/* interrupts that do not exist */
	EXPECT_EQ(-EINVAL, set_eventfd(in, VFIO_PCI_MSIX_IRQ_INDEX, efd));
	EXPECT_EQ(-EINVAL, set_eventfd(in, VFIO_PCI_ERR_IRQ_INDEX, efd));
	EXPECT_EQ(-EINVAL, set_eventfd(in, VFIO_PCI_REQ_IRQ_INDEX, efd));
	EXPECT_EQ(-EINVAL, set_eventfd(in, VFIO_PCI_NUM_IRQS, efd));
	/* count and start beyond the one vector */
	EXPECT_EQ(-EINVAL, set_irqs(in, VFIO_PCI_INTX_IRQ_INDEX,
				    VFIO_IRQ_SET_DATA_EVENTFD |
				    VFIO_IRQ_SET_ACTION_TRIGGER, 0, 2, fds,
				    sizeof(fds)));
	EXPECT_EQ(-EINVAL, set_irqs(in, VFIO_PCI_MSI_IRQ_INDEX,
				    VFIO_IRQ_SET_DATA_EVENTFD |
				    VFIO_IRQ_SET_ACTION_TRIGGER, 1, 1, fds,
				    sizeof(fds[0])));
	/* flags: two data types, two actions, unknown bits */
	EXPECT_EQ(-EINVAL, set_irqs(in, VFIO_PCI_INTX_IRQ_INDEX,
				    VFIO_IRQ_SET_DATA_EVENTFD |
				    VFIO_IRQ_SET_DATA_BOOL |
				    VFIO_IRQ_SET_ACTION_TRIGGER, 0, 1, fds,
				    sizeof(fds[0])));
	EXPECT_EQ(-EINVAL, set_irqs(in, VFIO_PCI_INTX_IRQ_INDEX,
				    VFIO_IRQ_SET_DATA_NONE |
				    VFIO_IRQ_SET_ACTION_MASK |
				    VFIO_IRQ_SET_ACTION_UNMASK, 0, 1, NULL, 0));
	EXPECT_EQ(-EINVAL, set_irqs(in, VFIO_PCI_INTX_IRQ_INDEX, 1u << 10 |
				    VFIO_IRQ_SET_DATA_NONE |
				    VFIO_IRQ_SET_ACTION_TRIGGER, 0, 1, NULL,
				    0));
	/* argsz too small for the payload */
	EXPECT_EQ(-EINVAL, set_irqs(in, VFIO_PCI_INTX_IRQ_INDEX,
				    VFIO_IRQ_SET_DATA_EVENTFD |
				    VFIO_IRQ_SET_ACTION_TRIGGER, 0, 1, NULL,
				    0));
	/* MSI cannot be masked; INTx cannot be unmasked through an eventfd */
	EXPECT_EQ(-EINVAL, set_irqs(in, VFIO_PCI_MSI_IRQ_INDEX,
				    VFIO_IRQ_SET_DATA_NONE |
				    VFIO_IRQ_SET_ACTION_MASK, 0, 1, NULL, 0));
	ASSERT_EQ(0, set_eventfd(in, VFIO_PCI_INTX_IRQ_INDEX, efd));
	EXPECT_EQ(-EINVAL, set_irqs(in, VFIO_PCI_INTX_IRQ_INDEX,
				    VFIO_IRQ_SET_DATA_EVENTFD |
				    VFIO_IRQ_SET_ACTION_UNMASK, 0, 1, fds,
				    sizeof(fds[0])));
	/* mask/unmask with count 0 */
	EXPECT_EQ(-EINVAL, set_irqs(in, VFIO_PCI_INTX_IRQ_INDEX,
				    VFIO_IRQ_SET_DATA_NONE |
				    VFIO_IRQ_SET_ACTION_MASK, 0, 0, NULL, 0));
	/* MSI while INTx is in use */
	EXPECT_EQ(-EINVAL, set_eventfd(in, VFIO_PCI_MSI_IRQ_INDEX, efd));
	EXPECT_EQ(-EINVAL, irq_disable(in, VFIO_PCI_MSI_IRQ_INDEX));
	EXPECT_EQ(-EINVAL, set_irqs(in, VFIO_PCI_MSI_IRQ_INDEX,
				    VFIO_IRQ_SET_DATA_BOOL |
				    VFIO_IRQ_SET_ACTION_TRIGGER, 0, 1, &yes,
				    1));
	ASSERT_EQ(0, irq_disable(in, VFIO_PCI_INTX_IRQ_INDEX));
	/* masking INTx that is not in use */
	EXPECT_EQ(-EINVAL, set_irqs(in, VFIO_PCI_INTX_IRQ_INDEX,
				    VFIO_IRQ_SET_DATA_NONE |
				    VFIO_IRQ_SET_ACTION_MASK, 0, 1, NULL, 0));
	EXPECT_EQ(-EINVAL, intx_unmask(in));
	/* loopback of an interrupt that is not in use */
	EXPECT_EQ(-EINVAL, set_irqs(in, VFIO_PCI_INTX_IRQ_INDEX,
				    VFIO_IRQ_SET_DATA_NONE |
				    VFIO_IRQ_SET_ACTION_TRIGGER, 0, 1, NULL,
				    0));
	/* bad file descriptors */
	EXPECT_EQ(-EINVAL, set_eventfd(in, VFIO_PCI_INTX_IRQ_INDEX, -2));
	EXPECT_EQ(-EBADF, set_eventfd(in, VFIO_PCI_INTX_IRQ_INDEX, closed));
	EXPECT_EQ(-EINVAL, set_eventfd(in, VFIO_PCI_INTX_IRQ_INDEX, nullfd));
	EXPECT_EQ(-EBADF, set_eventfd(in, VFIO_PCI_MSI_IRQ_INDEX, closed));

	/* the interface still works: MSI loopback */
	ASSERT_EQ(0, set_eventfd(in, VFIO_PCI_MSI_IRQ_INDEX, efd));
	ASSERT_EQ(0, set_irqs(in, VFIO_PCI_MSI_IRQ_INDEX,
			      VFIO_IRQ_SET_DATA_BOOL |
			      VFIO_IRQ_SET_ACTION_TRIGGER, 0, 1, &yes, 1));
	EXPECT_EQ(1, efd_take(efd));
	ASSERT_EQ(0, irq_disable(in, VFIO_PCI_MSI_IRQ_INDEX));
	EXPECT_TRUE(device_alive(in));
	close(nullfd);
	close(efd);
}

TEST_F(dev, irq_loopback)
{
	struct vs_inst *in = &self->in;
	__u8 no = 0, yes = 1;
	int efd = eventfd(0, EFD_NONBLOCK);

	ASSERT_GE(efd, 0);
	ASSERT_EQ(0, set_eventfd(in, VFIO_PCI_INTX_IRQ_INDEX, efd));
	ASSERT_EQ(0, set_irqs(in, VFIO_PCI_INTX_IRQ_INDEX,
			      VFIO_IRQ_SET_DATA_NONE |
			      VFIO_IRQ_SET_ACTION_TRIGGER, 0, 1, NULL, 0));
	EXPECT_EQ(1, efd_take(efd));
	ASSERT_EQ(0, set_irqs(in, VFIO_PCI_INTX_IRQ_INDEX,
			      VFIO_IRQ_SET_DATA_BOOL |
			      VFIO_IRQ_SET_ACTION_TRIGGER, 0, 1, &no, 1));
	EXPECT_EQ(0, efd_take(efd));
	/* fd -1 disables; disabling twice is harmless */
	ASSERT_EQ(0, set_eventfd(in, VFIO_PCI_INTX_IRQ_INDEX, -1));
	EXPECT_EQ(0, irq_disable(in, VFIO_PCI_INTX_IRQ_INDEX));

	ASSERT_EQ(0, set_eventfd(in, VFIO_PCI_MSI_IRQ_INDEX, efd));
	ASSERT_EQ(0, set_irqs(in, VFIO_PCI_MSI_IRQ_INDEX,
			      VFIO_IRQ_SET_DATA_BOOL |
			      VFIO_IRQ_SET_ACTION_TRIGGER, 0, 1, &yes, 1));
	EXPECT_EQ(1, efd_take(efd));
	ASSERT_EQ(0, irq_disable(in, VFIO_PCI_MSI_IRQ_INDEX));
	close(efd);
}

TEST_F(dev, intx_level_automask_and_disable)
{
	struct vs_inst *in = &self->in;
	int efd = eventfd(0, EFD_NONBLOCK);

	ASSERT_GE(efd, 0);
	ASSERT_EQ(0, set_eventfd(in, VFIO_PCI_INTX_IRQ_INDEX, efd));

	/* masked source: status set, no interrupt */
	ASSERT_EQ(0, raise_error_irq(in));
	EXPECT_EQ(VSLICE_IRQ_ERROR, vs_rd32(in, VSLICE_REG_IRQ_STATUS));
	EXPECT_EQ(0, efd_take(efd));
	EXPECT_EQ(0, cfg16(in, PCI_STATUS) & PCI_STATUS_INTERRUPT);

	/* unmasking the pending source asserts INTx: one signal, automasked */
	vs_wr32(in, VSLICE_REG_IRQ_MASK, VSLICE_IRQ_ERROR);
	EXPECT_EQ(1, efd_wait(efd, 1000));
	EXPECT_TRUE(cfg16(in, PCI_STATUS) & PCI_STATUS_INTERRUPT);
	ASSERT_EQ(0, raise_error_irq(in));
	EXPECT_EQ(0, efd_take(efd));		/* still masked */

	/* unmask while the level is still asserted: fires again at once */
	ASSERT_EQ(0, intx_unmask(in));
	EXPECT_EQ(1, efd_take(efd));

	/* acknowledge, then unmask: nothing pending, nothing fires */
	vs_wr32(in, VSLICE_REG_IRQ_ACK, VSLICE_IRQ_ERROR);
	EXPECT_EQ(0, vs_rd32(in, VSLICE_REG_IRQ_STATUS));
	EXPECT_EQ(0, cfg16(in, PCI_STATUS) & PCI_STATUS_INTERRUPT);
	ASSERT_EQ(0, intx_unmask(in));
	EXPECT_EQ(0, efd_take(efd));

	/* a new event fires */
	ASSERT_EQ(0, raise_error_irq(in));
	EXPECT_EQ(1, efd_take(efd));
	vs_wr32(in, VSLICE_REG_IRQ_ACK, VSLICE_IRQ_ALL);
	ASSERT_EQ(0, intx_unmask(in));

	/* COMMAND.INTX_DISABLE holds the pin; STATUS still shows it */
	ASSERT_EQ(0, wcfg16(in, PCI_COMMAND, PCI_COMMAND_INTX_DISABLE));
	ASSERT_EQ(0, raise_error_irq(in));
	EXPECT_EQ(0, efd_take(efd));
	EXPECT_TRUE(cfg16(in, PCI_STATUS) & PCI_STATUS_INTERRUPT);
	ASSERT_EQ(0, wcfg16(in, PCI_COMMAND, 0));
	EXPECT_EQ(1, efd_take(efd));
	vs_wr32(in, VSLICE_REG_IRQ_ACK, VSLICE_IRQ_ALL);

	/* ACTION_MASK: no delivery until unmasked */
	ASSERT_EQ(0, intx_unmask(in));
	ASSERT_EQ(0, set_irqs(in, VFIO_PCI_INTX_IRQ_INDEX,
			      VFIO_IRQ_SET_DATA_NONE |
			      VFIO_IRQ_SET_ACTION_MASK, 0, 1, NULL, 0));
	ASSERT_EQ(0, raise_error_irq(in));
	EXPECT_EQ(0, efd_take(efd));
	ASSERT_EQ(0, intx_unmask(in));
	EXPECT_EQ(1, efd_take(efd));
	vs_wr32(in, VSLICE_REG_IRQ_ACK, VSLICE_IRQ_ALL);

	/* MSI enabled in the capability turns INTx off */
	ASSERT_EQ(0, intx_unmask(in));
	ASSERT_EQ(0, wcfg16(in, MSI_CAP + PCI_MSI_FLAGS, PCI_MSI_FLAGS_ENABLE));
	ASSERT_EQ(0, raise_error_irq(in));
	EXPECT_EQ(0, efd_take(efd));
	EXPECT_EQ(0, cfg16(in, PCI_STATUS) & PCI_STATUS_INTERRUPT);

	ASSERT_EQ(0, irq_disable(in, VFIO_PCI_INTX_IRQ_INDEX));
	close(efd);
	EXPECT_TRUE(device_alive(in));
}

TEST_F(dev, msi_edges)
{
	struct vs_inst *in = &self->in;
	int efd = eventfd(0, EFD_NONBLOCK);

	ASSERT_GE(efd, 0);
	ASSERT_EQ(0, set_eventfd(in, VFIO_PCI_MSI_IRQ_INDEX, efd));
	ASSERT_EQ(0, wcfg16(in, MSI_CAP + PCI_MSI_FLAGS, PCI_MSI_FLAGS_ENABLE));

	/* masked source: nothing; unmasking it sends the message */
	ASSERT_EQ(0, raise_error_irq(in));
	EXPECT_EQ(0, efd_take(efd));
	vs_wr32(in, VSLICE_REG_IRQ_MASK, VSLICE_IRQ_ALL);
	EXPECT_EQ(1, efd_take(efd));
	/* re-writing the same mask is not a new edge */
	vs_wr32(in, VSLICE_REG_IRQ_MASK, VSLICE_IRQ_ALL);
	EXPECT_EQ(0, efd_take(efd));

	/* every raise is a message, acknowledged or not */
	ASSERT_EQ(0, raise_error_irq(in));
	EXPECT_EQ(1, efd_take(efd));
	ASSERT_EQ(0, raise_error_irq(in));
	EXPECT_EQ(1, efd_take(efd));
	vs_wr32(in, VSLICE_REG_IRQ_ACK, VSLICE_IRQ_ERROR);
	EXPECT_EQ(0, vs_rd32(in, VSLICE_REG_IRQ_STATUS));
	EXPECT_EQ(0, efd_take(efd));

	/* switching to INTx needs a disable first */
	EXPECT_EQ(-EINVAL, set_eventfd(in, VFIO_PCI_INTX_IRQ_INDEX, efd));
	ASSERT_EQ(0, irq_disable(in, VFIO_PCI_MSI_IRQ_INDEX));
	ASSERT_EQ(0, raise_error_irq(in));
	EXPECT_EQ(0, efd_take(efd));
	ASSERT_EQ(0, set_eventfd(in, VFIO_PCI_INTX_IRQ_INDEX, efd));
	ASSERT_EQ(0, irq_disable(in, VFIO_PCI_INTX_IRQ_INDEX));
	close(efd);
}

/* The real thing: the engine completes a FENCE and interrupts. */
/*
 * A FENCE from the engine raises VSLICE_IRQ_FENCE on the interrupt
 * userspace configured, once per fence: MSI (an edge per raise) and INTx
 * (a level, automasked; the guest acknowledges, the VMM unmasks and no
 * second signal follows).
 */
FIXTURE(fence_irq) {
	struct vs_inst in;
	bool created;
};

FIXTURE_VARIANT(fence_irq) {
	__u32 index;
};

FIXTURE_VARIANT_ADD(fence_irq, msi) {
	.index = VFIO_PCI_MSI_IRQ_INDEX,
};

FIXTURE_VARIANT_ADD(fence_irq, intx) {
	.index = VFIO_PCI_INTX_IRQ_INDEX,
};

FIXTURE_SETUP(fence_irq)
{
	self->created = false;
	if (access(VS_PARENT_DIR, F_OK))
		SKIP(return, "vslice is not loaded (%s missing)", VS_PARENT_DIR);
	ASSERT_EQ(0, vs_create(&self->in, VS_TYPE_128));
	self->created = true;
	ASSERT_EQ(0, vs_open(&self->in));
}

FIXTURE_TEARDOWN(fence_irq)
{
	if (self->created)
		vs_remove(&self->in);
}

TEST_F(fence_irq, fence_from_engine)
{
	struct vs_inst *in = &self->in;
	const __u64 ring_iova = 0x100000, fence_iova = 0x200000;
	const __u32 entries = 16;
	struct vslice_cmd cmd;
	__u8 *ring, *fence;
	int efd = eventfd(0, EFD_NONBLOCK);
	unsigned int i;

	ASSERT_GE(efd, 0);
	ring = vs_dma_map(in, ring_iova, PAGE);
	ASSERT_NE(NULL, ring);
	fence = vs_dma_map(in, fence_iova, PAGE);
	ASSERT_NE(NULL, fence);

	ASSERT_EQ(0, set_eventfd(in, variant->index, efd));
	vs_wr32(in, VSLICE_REG_IRQ_MASK, VSLICE_IRQ_FENCE);
	vs_ring_setup(in, ring_iova, entries);

	for (i = 1; i <= 3; i++) {
		cmd = vs_cmd_fence(fence_iova, 0x1000 + i);
		vs_ring_push(in, ring, entries, &cmd);
		ASSERT_EQ(0, vs_ring_wait_idle(in, 5000));
		EXPECT_EQ(1, efd_wait(efd, 1000));
		EXPECT_EQ(0x1000 + i, __atomic_load_n((__u64 *)fence,
						      __ATOMIC_SEQ_CST));
		EXPECT_EQ(0x1000 + i, vs_rd32(in, VSLICE_REG_FENCE_LO));
		EXPECT_TRUE(vs_rd32(in, VSLICE_REG_IRQ_STATUS) &
			    VSLICE_IRQ_FENCE);
		/* the guest's handler acknowledges; INTx: the VMM unmasks */
		vs_wr32(in, VSLICE_REG_IRQ_ACK, VSLICE_IRQ_FENCE);
		if (variant->index == VFIO_PCI_INTX_IRQ_INDEX)
			ASSERT_EQ(0, intx_unmask(in));
		EXPECT_EQ(0, efd_take(efd)) TH_LOG("one signal per fence");
	}
	EXPECT_EQ(0, vs_rd32(in, VSLICE_REG_IRQ_STATUS));
	ASSERT_EQ(0, irq_disable(in, variant->index));
	vs_wr32(in, VSLICE_REG_CONTROL, 0);
	EXPECT_EQ(0, vs_dma_unmap(in, ring_iova, PAGE, ring));
	EXPECT_EQ(0, vs_dma_unmap(in, fence_iova, PAGE, fence));
	close(efd);
}

TEST_F(dev, irq_eventfds_survive_reset_and_close)
{
	struct vs_inst *in = &self->in;
	int efd = eventfd(0, EFD_NONBLOCK);

	ASSERT_GE(efd, 0);
	ASSERT_EQ(0, set_eventfd(in, VFIO_PCI_MSI_IRQ_INDEX, efd));
	ASSERT_EQ(0, ioctl(in->device, VFIO_DEVICE_RESET));
	/* still configured after a reset (vfio-pci semantics) */
	vs_wr32(in, VSLICE_REG_IRQ_MASK, VSLICE_IRQ_ERROR);
	ASSERT_EQ(0, raise_error_irq(in));
	EXPECT_EQ(1, efd_take(efd));

	/* close drops them: a reopened device starts with none */
	vs_close(in);
	ASSERT_EQ(0, vs_open(in));
	vs_wr32(in, VSLICE_REG_IRQ_MASK, VSLICE_IRQ_ERROR);
	ASSERT_EQ(0, raise_error_irq(in));
	EXPECT_EQ(0, efd_take(efd));
	ASSERT_EQ(0, set_eventfd(in, VFIO_PCI_INTX_IRQ_INDEX, efd));
	EXPECT_EQ(1, efd_take(efd));	/* the pending level, at once */
	close(efd);
}

/* ---- device state through a real migration stream ---------------------- */

/*
 * The device model validates and applies the HW section of a stream
 * (vslice_hw_check/_load).  These tests save a real stream from instance A,
 * patch its HW section, re-seal the checksums so that only the device
 * model can object, and load it into instance B.
 */

static bool mig_supported(int dev)
{
	__u64 flags;

	return !vs_mig_flags(dev, &flags);
}

struct blob {
	__u8 *buf;
	size_t len;
};

static int read_all(int fd, struct blob *b)
{
	size_t cap = 0;
	ssize_t n;

	b->buf = NULL;
	b->len = 0;
	for (;;) {
		if (b->len + 65536 > cap) {
			__u8 *nb = realloc(b->buf, cap + 1024 * 1024);

			if (!nb)
				return -ENOMEM;
			b->buf = nb;
			cap += 1024 * 1024;
		}
		n = read(fd, b->buf + b->len, 65536);
		if (n < 0)
			return -errno;
		if (!n)
			return 0;
		b->len += n;
	}
}

static int write_all(int fd, const __u8 *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0)
			return -errno;
		if (!w)
			return -EIO;
		p += w;
		n -= w;
	}
	return 0;
}

/* Offset of the first section header of @type, or -1. */
static long find_sec(const struct blob *b, __u32 type)
{
	size_t off = sizeof(struct vslice_stream_hdr);

	while (off + sizeof(struct vslice_stream_sec) <= b->len) {
		const struct vslice_stream_sec *sec = (void *)(b->buf + off);

		if (sec->type == type)
			return off;
		off += sizeof(*sec) + sec->len;
	}
	return -1;
}

/*
 * END's stream CRC, two ways: over every byte before END's section header
 * (as uapi/vslice_stream.h words it), or chained over the stream header
 * and the section headers only (each of which carries its payload's CRC).
 */
static __u32 stream_crc(const struct blob *b, long end, bool headers_only)
{
	size_t off = sizeof(struct vslice_stream_hdr);
	__u32 crc;

	if (!headers_only)
		return vs_crc32c(b->buf, end);
	crc = vs_crc32c_update(~0u, b->buf, off);
	while ((long)off < end) {
		const struct vslice_stream_sec *sec = (void *)(b->buf + off);

		crc = vs_crc32c_update(crc, sec, sizeof(*sec));
		off += sizeof(*sec) + sec->len;
	}
	return ~crc;
}

/*
 * After editing the HW payload of @b (a copy of @orig): fix the section's
 * CRC and END's stream CRC, computed the way that reproduces @orig's.
 */
static void reseal(struct blob *b, const struct blob *orig)
{
	long hw = find_sec(b, VSLICE_SEC_HW), end = find_sec(b, VSLICE_SEC_END);
	struct vslice_stream_sec *sec = (void *)(b->buf + hw);
	const struct vslice_stream_end *oe;
	struct vslice_stream_end *e;
	bool headers_only;

	oe = (const void *)(orig->buf + end + sizeof(struct vslice_stream_sec));
	headers_only = oe->stream_crc != stream_crc(orig, end, false);

	sec->crc = vs_crc32c(sec + 1, sec->len);
	e = (void *)(b->buf + end + sizeof(struct vslice_stream_sec));
	e->stream_crc = stream_crc(b, end, headers_only);
	((struct vslice_stream_sec *)(b->buf + end))->crc =
		vs_crc32c(e, sizeof(*e));
}

/* Feed @b to @in in RESUMING and go to RUNNING: 0 or the first -errno. */
static int load_stream(struct vs_inst *in, const struct blob *b)
{
	int fd, ret;

	ret = vs_mig_set_state(in->device, VFIO_DEVICE_STATE_RESUMING, &fd);
	if (ret)
		return ret;
	ret = write_all(fd, b->buf, b->len);
	if (!ret)
		ret = vs_mig_set_state(in->device, VFIO_DEVICE_STATE_RUNNING, NULL);
	close(fd);
	if (ret)	/* back to a usable device */
		ioctl(in->device, VFIO_DEVICE_RESET);
	return ret;
}

FIXTURE(state) {
	struct vs_inst a, b;
	bool a_created, b_created;
	struct blob s;
	long hw;		/* HW section header offset in s */
	__u8 cfg_a[256];
};

FIXTURE_SETUP(state)
{
	struct vs_inst *a = &self->a;
	__u8 page[PAGE];
	int fd;

	self->a_created = false;
	self->b_created = false;
	self->s.buf = NULL;
	self->a.device = -1;
	self->a.group = -1;
	self->a.container = -1;
	self->b.device = -1;
	self->b.group = -1;
	self->b.container = -1;
	if (access(VS_PARENT_DIR, F_OK))
		SKIP(return, "vslice is not loaded (%s missing)", VS_PARENT_DIR);
	ASSERT_EQ(0, vs_create(a, VS_TYPE_128));
	self->a_created = true;
	ASSERT_EQ(0, vs_create(&self->b, VS_TYPE_128));
	self->b_created = true;
	ASSERT_EQ(0, vs_open(a));
	ASSERT_EQ(0, vs_open(&self->b));
	ASSERT_TRUE(mig_supported(a->device));

	/* a guest-made state worth carrying */
	vs_wr32(a, VSLICE_REG_SCRATCH(1), 0x11111111);
	vs_wr32(a, VSLICE_REG_SCRATCH(6), 0x66666666);
	vs_wr32(a, VSLICE_REG_IRQ_MASK, VSLICE_IRQ_FENCE);
	vs_wr32(a, VSLICE_REG_RING_BASE_LO, 0x100000);
	vs_wr32(a, VSLICE_REG_RING_SIZE, 16);
	ASSERT_EQ(0, wcfg16(a, PCI_COMMAND, PCI_COMMAND_MEMORY |
			    PCI_COMMAND_MASTER));
	ASSERT_EQ(0, wcfg32(a, PCI_BASE_ADDRESS_0, 0xfebf0000));
	ASSERT_EQ(0, wcfg32(a, PCI_BASE_ADDRESS_2, 0xc0000000));
	ASSERT_EQ(0, wcfg32(a, MSI_CAP + PCI_MSI_ADDRESS_LO, 0xfee00000));
	ASSERT_EQ(0, wcfg32(a, MSI_CAP + PCI_MSI_DATA_64, 0x4041));
	ASSERT_EQ(0, vs_cfg_write(a, PCI_INTERRUPT_LINE, (__u8[]){ 11 },
				  1));
	fill_pattern(page, PAGE, 8);
	ASSERT_EQ((ssize_t)PAGE, vs_vram_rw(a, 7 * PAGE, page, PAGE, true));
	ASSERT_EQ(0, vs_cfg_read(a, 0, self->cfg_a, 256));

	ASSERT_EQ(0, vs_mig_set_state(a->device, VFIO_DEVICE_STATE_STOP_COPY, &fd));
	ASSERT_EQ(0, read_all(fd, &self->s));
	close(fd);
	ASSERT_EQ(0, vs_mig_set_state(a->device, VFIO_DEVICE_STATE_RUNNING, NULL));
	self->hw = find_sec(&self->s, VSLICE_SEC_HW);
	ASSERT_LT(0, self->hw);
	ASSERT_LT(0, find_sec(&self->s, VSLICE_SEC_END));
}

FIXTURE_TEARDOWN(state)
{
	free(self->s.buf);
	if (self->a_created)
		vs_remove(&self->a);
	if (self->b_created)
		vs_remove(&self->b);
}

static struct vslice_stream_hw *blob_hw(struct blob *b, long hw)
{
	return (void *)(b->buf + hw + sizeof(struct vslice_stream_sec));
}

TEST_F(state, saved_then_loaded)
{
	struct vslice_stream_hw *hw = blob_hw(&self->s, self->hw);
	struct vs_inst *b = &self->b;
	__u8 cfg[256], page[PAGE], want[PAGE];

	/* what the source saved */
	EXPECT_EQ(0, memcmp(hw->cfg, self->cfg_a, 256));
	EXPECT_EQ(0x11111111, hw->scratch[1]);
	EXPECT_EQ(0x66666666, hw->scratch[6]);
	EXPECT_EQ(16, hw->ring_size);
	EXPECT_EQ(0x100000, hw->ring_base);
	EXPECT_EQ(VSLICE_IRQ_FENCE, hw->irq_mask);
	EXPECT_EQ(~0u, hw->irq_type);
	EXPECT_EQ(0, hw->cmd_progress);

	ASSERT_EQ(0, load_stream(b, &self->s));
	ASSERT_EQ(0, vs_cfg_read(b, 0, cfg, 256));
	EXPECT_EQ(0, memcmp(cfg, self->cfg_a, 256));
	EXPECT_EQ(0x11111111, vs_rd32(b, VSLICE_REG_SCRATCH(1)));
	EXPECT_EQ(0x66666666, vs_rd32(b, VSLICE_REG_SCRATCH(6)));
	EXPECT_EQ(16, vs_rd32(b, VSLICE_REG_RING_SIZE));
	EXPECT_EQ(VSLICE_IRQ_FENCE, vs_rd32(b, VSLICE_REG_IRQ_MASK));
	fill_pattern(want, PAGE, 8);
	ASSERT_EQ((ssize_t)PAGE, vs_vram_rw(b, 7 * PAGE, page, PAGE, false));
	EXPECT_EQ(0, memcmp(page, want, PAGE));
	ASSERT_EQ((ssize_t)PAGE, vs_vram_rw(b, 6 * PAGE, page, PAGE, false));
	EXPECT_TRUE(all_zero(page, PAGE));
}

/* Each case patches one thing in the HW section. */
enum hw_patch {
	P_VENDOR, P_DEVICE, P_CLASS, P_SUBSYS, P_BAR0_SIZE_BIT, P_BAR2_FLAGS,
	P_BAR2_SIZE_BIT, P_CAP_PTR, P_MSI_NEXT, P_MSI_FLAGS_RO, P_INT_PIN,
	P_ROM, P_CONTROL, P_STATUS_BITS, P_HALTED_NO_ERROR, P_ERROR_NOT_HALTED,
	P_ERROR_CODE, P_ERROR_HEAD, P_BUSY_DISABLED, P_PROGRESS_DISABLED,
	P_IRQ_STATUS, P_IRQ_MASK, P_IRQ_TYPE, P_RESERVED, P_RING_HEAD,
	P_NR_BAD,
	/* accepted: states a guest can reach */
	P_RING_GARBAGE = P_NR_BAD, P_WRITABLE_CFG, P_HALTED_WITH_ERROR,
	P_BUSY_RECOMPUTED, P_NR
};

static const char *const patch_name[P_NR] = {
	"vendor id", "device id", "class code", "subsystem id",
	"BAR0 size bit", "BAR2 flags", "BAR2 size bit", "capability pointer",
	"MSI next pointer", "MSI read-only flags", "interrupt pin",
	"expansion ROM", "CONTROL reserved bit", "STATUS reserved bit",
	"HALTED without ERROR", "ERROR without HALTED", "unknown ERROR code",
	"ERROR_HEAD without ERROR", "BUSY while disabled",
	"cmd_progress while disabled", "IRQ_STATUS reserved bit",
	"IRQ_MASK reserved bit", "irq_type", "reserved field",
	"RING_HEAD beyond any ring",
	"ring registers the guest wrote", "writable config bits",
	"halted engine", "BUSY recomputed",
};

static void apply_patch(struct vslice_stream_hw *hw, enum hw_patch p)
{
	switch (p) {
	case P_VENDOR:
		hw->cfg[PCI_VENDOR_ID] ^= 1;
		break;
	case P_DEVICE:
		hw->cfg[PCI_DEVICE_ID + 1] ^= 0x80;
		break;
	case P_CLASS:
		hw->cfg[PCI_CLASS_DEVICE + 1] = 0x02;
		break;
	case P_SUBSYS:
		hw->cfg[PCI_SUBSYSTEM_ID] ^= 3;
		break;
	case P_BAR0_SIZE_BIT:
		hw->cfg[PCI_BASE_ADDRESS_0 + 1] |= 0x08;
		break;
	case P_BAR2_FLAGS:
		hw->cfg[PCI_BASE_ADDRESS_2] &= ~0x8;
		break;
	case P_BAR2_SIZE_BIT:
		hw->cfg[PCI_BASE_ADDRESS_2 + 3] |= 0x04;
		break;
	case P_CAP_PTR:
		hw->cfg[PCI_CAPABILITY_LIST] = 0x50;
		break;
	case P_MSI_NEXT:
		hw->cfg[MSI_CAP + 1] = 0x60;
		break;
	case P_MSI_FLAGS_RO:
		hw->cfg[MSI_CAP + 2] |= 0x02;
		break;
	case P_INT_PIN:
		hw->cfg[PCI_INTERRUPT_PIN] = 2;
		break;
	case P_ROM:
		hw->cfg[PCI_ROM_ADDRESS] = 1;
		break;
	case P_CONTROL:
		hw->control |= 2;
		break;
	case P_STATUS_BITS:
		hw->status |= 4;
		break;
	case P_HALTED_NO_ERROR:
		hw->status = VSLICE_STATUS_HALTED;
		break;
	case P_ERROR_NOT_HALTED:
		hw->error = VSLICE_ERR_DMA;
		break;
	case P_ERROR_CODE:
		hw->error = 42;
		hw->status = VSLICE_STATUS_HALTED;
		break;
	case P_ERROR_HEAD:
		hw->error_head = 3;
		break;
	case P_BUSY_DISABLED:
		hw->status = VSLICE_STATUS_BUSY;
		break;
	case P_PROGRESS_DISABLED:
		hw->cmd_progress = 4096;
		break;
	case P_IRQ_STATUS:
		hw->irq_status = 4;
		break;
	case P_IRQ_MASK:
		hw->irq_mask = 0x80000000;
		break;
	case P_IRQ_TYPE:
		hw->irq_type = VFIO_PCI_MSIX_IRQ_INDEX;
		break;
	case P_RESERVED:
		hw->reserved[4] = 1;
		break;
	case P_RING_HEAD:
		hw->ring_head = VSLICE_RING_MAX_ENTRIES;
		break;
	case P_RING_GARBAGE:
		hw->ring_size = 3;
		hw->ring_tail = 77;
		hw->ring_base = 0x123;
		break;
	case P_WRITABLE_CFG:
		hw->cfg[PCI_COMMAND + 1] |= PCI_COMMAND_INTX_DISABLE >> 8;
		hw->cfg[PCI_BASE_ADDRESS_2 + 3] = 0xa0;
		hw->cfg[PCI_BASE_ADDRESS_3] = 0x01;
		hw->cfg[MSI_CAP + 2] |= PCI_MSI_FLAGS_ENABLE;
		hw->cfg[PCI_STATUS + 1] |= PCI_STATUS_REC_MASTER_ABORT >> 8;
		break;
	case P_HALTED_WITH_ERROR:
		hw->control = VSLICE_CTRL_ENABLE;
		hw->status = VSLICE_STATUS_HALTED;
		hw->error = VSLICE_ERR_RING_READ;
		hw->error_head = 5;
		hw->irq_status = VSLICE_IRQ_ERROR;
		break;
	case P_BUSY_RECOMPUTED:
		/* enabled, idle ring, but BUSY in the image */
		hw->control = VSLICE_CTRL_ENABLE;
		hw->status = VSLICE_STATUS_BUSY;
		hw->ring_head = 4;
		hw->ring_tail = 4;
		break;
	default:
		break;
	}
}

TEST_F(state, impossible_states_rejected)
{
	struct blob c = { malloc(self->s.len), self->s.len };
	unsigned int p;

	ASSERT_NE(NULL, c.buf);
	for (p = 0; p < P_NR_BAD; p++) {
		memcpy(c.buf, self->s.buf, c.len);
		apply_patch(blob_hw(&c, self->hw), p);
		reseal(&c, &self->s);
		EXPECT_EQ(-EINVAL, load_stream(&self->b, &c)) {
			TH_LOG("%s: not rejected", patch_name[p]);
		}
		ASSERT_TRUE(device_alive(&self->b));
	}
	/* and the pristine stream still loads after all that */
	EXPECT_EQ(0, load_stream(&self->b, &self->s));
	EXPECT_EQ(0x66666666, vs_rd32(&self->b, VSLICE_REG_SCRATCH(6)));
	free(c.buf);
}

TEST_F(state, reachable_states_accepted)
{
	struct blob c = { malloc(self->s.len), self->s.len };
	struct vs_inst *b = &self->b;
	unsigned int p;

	ASSERT_NE(NULL, c.buf);
	for (p = P_NR_BAD; p < P_NR; p++) {
		memcpy(c.buf, self->s.buf, c.len);
		apply_patch(blob_hw(&c, self->hw), p);
		reseal(&c, &self->s);
		ASSERT_EQ(0, load_stream(b, &c)) {
			TH_LOG("%s: rejected", patch_name[p]);
		}
		switch (p) {
		case P_RING_GARBAGE:
			EXPECT_EQ(3, vs_rd32(b, VSLICE_REG_RING_SIZE));
			EXPECT_EQ(77, vs_rd32(b, VSLICE_REG_RING_TAIL));
			EXPECT_EQ(0x123, vs_rd32(b, VSLICE_REG_RING_BASE_LO));
			/* the engine judges it when enabled, as on the source */
			vs_wr32(b, VSLICE_REG_CONTROL, VSLICE_CTRL_ENABLE);
			EXPECT_EQ(0, wait_status(b, VSLICE_STATUS_HALTED, 5000));
			EXPECT_EQ(VSLICE_ERR_RING_CONFIG,
				  vs_rd32(b, VSLICE_REG_ERROR));
			break;
		case P_WRITABLE_CFG:
			EXPECT_EQ(PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
				  PCI_COMMAND_INTX_DISABLE,
				  cfg16(b, PCI_COMMAND));
			EXPECT_EQ(0xa000000c, cfg32(b, PCI_BASE_ADDRESS_2));
			EXPECT_EQ(1, cfg32(b, PCI_BASE_ADDRESS_3));
			EXPECT_TRUE(cfg16(b, MSI_CAP + PCI_MSI_FLAGS) &
				    PCI_MSI_FLAGS_ENABLE);
			/* the W1C bit came along and can be cleared */
			EXPECT_TRUE(cfg16(b, PCI_STATUS) &
				    PCI_STATUS_REC_MASTER_ABORT);
			ASSERT_EQ(0, wcfg16(b, PCI_STATUS,
					    PCI_STATUS_REC_MASTER_ABORT));
			EXPECT_EQ(PCI_STATUS_CAP_LIST, cfg16(b, PCI_STATUS));
			break;
		case P_HALTED_WITH_ERROR:
			EXPECT_EQ(VSLICE_STATUS_HALTED,
				  vs_rd32(b, VSLICE_REG_STATUS));
			EXPECT_EQ(VSLICE_ERR_RING_READ,
				  vs_rd32(b, VSLICE_REG_ERROR));
			EXPECT_EQ(5, vs_rd32(b, VSLICE_REG_ERROR_HEAD));
			EXPECT_EQ(VSLICE_IRQ_ERROR,
				  vs_rd32(b, VSLICE_REG_IRQ_STATUS));
			/* the guest recovers as it would have on the source */
			vs_wr32(b, VSLICE_REG_CONTROL, 0);
			EXPECT_EQ(0, vs_rd32(b, VSLICE_REG_STATUS));
			EXPECT_EQ(0, vs_rd32(b, VSLICE_REG_ERROR));
			break;
		case P_BUSY_RECOMPUTED:
			EXPECT_EQ(0, vs_rd32(b, VSLICE_REG_STATUS));
			EXPECT_EQ(4, vs_rd32(b, VSLICE_REG_RING_HEAD));
			EXPECT_EQ(VSLICE_CTRL_ENABLE,
				  vs_rd32(b, VSLICE_REG_CONTROL));
			break;
		default:
			break;
		}
		ASSERT_EQ(0, ioctl(b->device, VFIO_DEVICE_RESET));
	}
	free(c.buf);
}

/* ---- every type --------------------------------------------------------- */

FIXTURE(type) {
	struct vs_inst in;
	bool created;
};

FIXTURE_VARIANT(type) {
	const char *name;
	__u64 mib;
};

FIXTURE_VARIANT_ADD(type, t128) { .name = VS_TYPE_128, .mib = 128 };
FIXTURE_VARIANT_ADD(type, t256) { .name = VS_TYPE_256, .mib = 256 };
FIXTURE_VARIANT_ADD(type, t512) { .name = VS_TYPE_512, .mib = 512 };

FIXTURE_SETUP(type)
{
	self->created = false;
	self->in.device = -1;
	self->in.group = -1;
	self->in.container = -1;
	if (access(VS_PARENT_DIR, F_OK))
		SKIP(return, "vslice is not loaded (%s missing)", VS_PARENT_DIR);
	if (vs_type_attr_long(variant->name, "available_instances") < 1)
		SKIP(return, "no room for a %s instance", variant->name);
	ASSERT_EQ(0, vs_create(&self->in, variant->name));
	self->created = true;
	ASSERT_EQ(0, vs_open(&self->in));
}

FIXTURE_TEARDOWN(type)
{
	if (self->created)
		vs_remove(&self->in);
}

TEST_F(type, vram_size_everywhere)
{
	struct vs_inst *in = &self->in;
	__u64 size = variant->mib * VS_MIB, bar;
	__u8 *map;

	EXPECT_EQ(size, vram_size(in));
	EXPECT_EQ((__u32)size, vs_rd32(in, VSLICE_REG_VRAM_SIZE_LO));
	EXPECT_EQ((__u32)(size >> 32), vs_rd32(in, VSLICE_REG_VRAM_SIZE_HI));

	ASSERT_EQ(0, wcfg32(in, PCI_BASE_ADDRESS_2, 0xffffffff));
	ASSERT_EQ(0, wcfg32(in, PCI_BASE_ADDRESS_3, 0xffffffff));
	bar = ((__u64)cfg32(in, PCI_BASE_ADDRESS_3) << 32) |
	      (cfg32(in, PCI_BASE_ADDRESS_2) & ~0xfull);
	EXPECT_EQ(size, ~bar + 1);

	/* the last page is reachable through the region and the mapping */
	map = vram_map(in, size - PAGE, PAGE, MAP_SHARED);
	ASSERT_NE(MAP_FAILED, map);
	map[PAGE - 1] = 0xe7;
	{
		__u8 b = 0;

		ASSERT_EQ(1, vs_vram_rw(in, size - 1, &b, 1, false));
		EXPECT_EQ(0xe7, b);
	}
	munmap(map, PAGE);
}

TEST_HARNESS_MAIN
