// SPDX-License-Identifier: GPL-2.0
/*
 * vslice: the emulated PCI configuration space of an instance.
 *
 * A conventional PCI type 0 header of 256 bytes:
 *
 *   0x00  vendor/device          VSLICE_PCI_VENDOR_ID / VSLICE_PCI_DEVICE_ID
 *   0x04  COMMAND                MEMORY, MASTER and INTX_DISABLE writable
 *   0x06  STATUS                 CAP_LIST; INTERRUPT computed on read;
 *                                the error bits are write-1-to-clear
 *   0x08  revision, class        VSLICE_PCI_REVISION, VSLICE_PCI_CLASS
 *   0x0c  cache line size        read/write, no effect
 *   0x10  BAR0                   32-bit memory, 4 KiB: the registers
 *   0x18  BAR2 (+ BAR3)          64-bit prefetchable memory: the VRAM,
 *                                sized to the next power of two
 *   0x2c  subsystem vendor/id    VSLICE_PCI_SUBSYS_VENDOR_ID / type id
 *   0x30  expansion ROM          not implemented, reads 0
 *   0x34  capability pointer     VSLICE_CFG_MSI_CAP
 *   0x3c  interrupt line/pin     line read/write, pin INTA
 *   0x40  MSI capability         64-bit address, one vector, no masking;
 *                                enable, address and data writable
 *
 * Every byte has a write mask and a write-1-to-clear mask; a written bit
 * outside both is read-only and the write leaves it alone, as hardware
 * does.  Because the masks are per byte, an access of any size at any
 * offset is handled one byte at a time, all under dev_lock, so a 1-, 2- or
 * 4-byte access (or QEMU's 256-byte read of the whole header) is atomic
 * against the engine and other accessors.
 *
 * BARs follow the sizing protocol: after ~0 is written, the writable bits
 * read back as ones and the read-only low bits (size and flags) as they
 * are.  The BARs only describe the device to the guest; the VFIO regions
 * are what userspace maps, so no access is routed by BAR address, and
 * COMMAND.MEMORY does not gate region accesses.
 *
 * Locking: dev_lock protects the bytes; user memory is copied to and from
 * a stack buffer outside it.
 */

#include <linux/log2.h>
#include <linux/pci_regs.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "vslice.h"

#define VSLICE_CMD_WMASK	(PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | \
				 PCI_COMMAND_INTX_DISABLE)
#define VSLICE_STATUS_W1C	(PCI_STATUS_PARITY |			\
				 PCI_STATUS_SIG_TARGET_ABORT |		\
				 PCI_STATUS_REC_TARGET_ABORT |		\
				 PCI_STATUS_REC_MASTER_ABORT |		\
				 PCI_STATUS_SIG_SYSTEM_ERROR |		\
				 PCI_STATUS_DETECTED_PARITY)

#define VSLICE_MSI_FLAGS	(VSLICE_CFG_MSI_CAP + PCI_MSI_FLAGS)
#define VSLICE_MSI_ADDR_LO	(VSLICE_CFG_MSI_CAP + PCI_MSI_ADDRESS_LO)
#define VSLICE_MSI_ADDR_HI	(VSLICE_CFG_MSI_CAP + PCI_MSI_ADDRESS_HI)
#define VSLICE_MSI_DATA		(VSLICE_CFG_MSI_CAP + PCI_MSI_DATA_64)

/* BAR2 covers the VRAM, rounded up to a power of two as BARs must be. */
static u64 vslice_cfg_bar2_size(struct vslice_dev *vd)
{
	return roundup_pow_of_two(max_t(u64, vd->vram.size, PAGE_SIZE));
}

static void vslice_cfg_bar_masks(struct vslice_dev *vd, u64 mask[6])
{
	u64 vram_mask = ~(vslice_cfg_bar2_size(vd) - 1);

	memset(mask, 0, 6 * sizeof(*mask));
	mask[VSLICE_BAR_MMIO] = ~(u32)(VSLICE_MMIO_SIZE - 1) &
				(u32)PCI_BASE_ADDRESS_MEM_MASK;
	mask[VSLICE_BAR_VRAM] = lower_32_bits(vram_mask) &
				(u32)PCI_BASE_ADDRESS_MEM_MASK;
	mask[VSLICE_BAR_VRAM + 1] = upper_32_bits(vram_mask);
}

/* Writable bits of the dword at @reg (4-byte aligned). */
static u32 vslice_cfg_wmask32(const u64 bar_mask[6], unsigned int reg)
{
	switch (reg) {
	case PCI_COMMAND:
		return VSLICE_CMD_WMASK;
	case PCI_CACHE_LINE_SIZE:
		return 0xff;
	case PCI_BASE_ADDRESS_0 ... PCI_BASE_ADDRESS_5:
		return bar_mask[(reg - PCI_BASE_ADDRESS_0) / 4];
	case PCI_INTERRUPT_LINE:
		return 0xff;
	case VSLICE_CFG_MSI_CAP:
		return (u32)PCI_MSI_FLAGS_ENABLE << 16;
	case VSLICE_MSI_ADDR_LO:
		return 0xfffffffc;
	case VSLICE_MSI_ADDR_HI:
		return 0xffffffff;
	case VSLICE_MSI_DATA:
		return 0xffff;
	default:
		return 0;
	}
}

/* Write-1-to-clear bits of the dword at @reg. */
static u32 vslice_cfg_w1c32(unsigned int reg)
{
	return reg == PCI_COMMAND ? (u32)VSLICE_STATUS_W1C << 16 : 0;
}

static u8 vslice_cfg_byte_of(u32 dword, unsigned int off)
{
	return dword >> (8 * (off & 3));
}

/* Little-endian fields of a config image (byte-wise: no alignment games). */
static void vslice_cfg_put(u8 *cfg, unsigned int off, u32 val,
			   unsigned int size)
{
	unsigned int i;

	for (i = 0; i < size; i++)
		cfg[off + i] = val >> (8 * i);
}

/* The power-on image of @vd's config space. */
static void vslice_cfg_build(struct vslice_dev *vd, u8 *cfg, u64 bar_mask[6])
{
	vslice_cfg_bar_masks(vd, bar_mask);
	memset(cfg, 0, VSLICE_CFG_SIZE);

	vslice_cfg_put(cfg, PCI_VENDOR_ID, VSLICE_PCI_VENDOR_ID, 2);
	vslice_cfg_put(cfg, PCI_DEVICE_ID, VSLICE_PCI_DEVICE_ID, 2);
	vslice_cfg_put(cfg, PCI_STATUS, PCI_STATUS_CAP_LIST, 2);
	vslice_cfg_put(cfg, PCI_CLASS_REVISION,
		       VSLICE_PCI_CLASS << 8 | VSLICE_PCI_REVISION, 4);
	cfg[PCI_HEADER_TYPE] = PCI_HEADER_TYPE_NORMAL;

	/* BAR0: 32-bit non-prefetchable memory; the flag bits are all 0. */
	vslice_cfg_put(cfg, PCI_BASE_ADDRESS_0 + 4 * VSLICE_BAR_MMIO,
		       PCI_BASE_ADDRESS_SPACE_MEMORY |
		       PCI_BASE_ADDRESS_MEM_TYPE_32, 4);
	/* BAR2: 64-bit prefetchable memory, BAR3 holds the upper half. */
	vslice_cfg_put(cfg, PCI_BASE_ADDRESS_0 + 4 * VSLICE_BAR_VRAM,
		       PCI_BASE_ADDRESS_SPACE_MEMORY |
		       PCI_BASE_ADDRESS_MEM_TYPE_64 |
		       PCI_BASE_ADDRESS_MEM_PREFETCH, 4);

	vslice_cfg_put(cfg, PCI_SUBSYSTEM_VENDOR_ID,
		       VSLICE_PCI_SUBSYS_VENDOR_ID, 2);
	vslice_cfg_put(cfg, PCI_SUBSYSTEM_ID, vd->type->id, 2);
	cfg[PCI_CAPABILITY_LIST] = VSLICE_CFG_MSI_CAP;
	cfg[PCI_INTERRUPT_PIN] = 1;	/* INTA */

	cfg[VSLICE_CFG_MSI_CAP + PCI_CAP_LIST_ID] = PCI_CAP_ID_MSI;
	cfg[VSLICE_CFG_MSI_CAP + PCI_CAP_LIST_NEXT] = 0;
	vslice_cfg_put(cfg, VSLICE_MSI_FLAGS, PCI_MSI_FLAGS_64BIT, 2);
}

/**
 * vslice_cfg_init() - put config space in its power-on state
 * @vd:		the instance
 *
 * Called with dev_lock held (from vslice_hw_reset()).
 */
void vslice_cfg_init(struct vslice_dev *vd)
{
	lockdep_assert_held(&vd->dev_lock);
	vslice_cfg_build(vd, vd->hw.cfg, vd->hw.bar_mask);
}

static void vslice_cfg_write_byte(struct vslice_dev *vd, unsigned int off,
				  u8 val)
{
	unsigned int reg = off & ~3u;
	u8 wmask = vslice_cfg_byte_of(vslice_cfg_wmask32(vd->hw.bar_mask, reg),
				      off);
	u8 w1c = vslice_cfg_byte_of(vslice_cfg_w1c32(reg), off);
	u8 *p = &vd->hw.cfg[off];

	*p = (*p & ~wmask) | (val & wmask);
	*p &= ~(val & w1c);
}

static ssize_t vslice_cfg_write(struct vslice_dev *vd, const u8 *data,
				size_t count, unsigned int pos)
{
	bool intx_off, msi_on, intx_off_new, msi_on_new, master, master_new;
	size_t i;

	mutex_lock(&vd->dev_lock);
	master = vslice_hw_bus_master(&vd->hw);
	intx_off = vslice_hw_intx_disabled(&vd->hw);
	msi_on = vslice_hw_msi_enabled(&vd->hw);

	for (i = 0; i < count; i++)
		vslice_cfg_write_byte(vd, pos + i, data[i]);

	intx_off_new = vslice_hw_intx_disabled(&vd->hw);
	msi_on_new = vslice_hw_msi_enabled(&vd->hw);
	if (intx_off != intx_off_new || msi_on != msi_on_new) {
		const struct vslice_regs *r = &vd->hw.regs;
		u32 edges = 0;

		/* A pending source is delivered once MSI comes on. */
		if (msi_on_new && !msi_on)
			edges = r->irq_status & r->irq_mask;
		vslice_irq_update(vd, edges);
	}
	master_new = vslice_hw_bus_master(&vd->hw);
	mutex_unlock(&vd->dev_lock);
	/* Commands queued while DMA was off run now. */
	if (master_new && !master)
		vslice_engine_kick(vd);
	return count;
}

static void vslice_cfg_read(struct vslice_dev *vd, u8 *data, size_t count,
			    unsigned int pos)
{
	mutex_lock(&vd->dev_lock);
	memcpy(data, vd->hw.cfg + pos, count);
	/* STATUS.INTERRUPT mirrors the INTx condition, INTX_DISABLE or not. */
	if (pos <= PCI_STATUS && pos + count > PCI_STATUS &&
	    vslice_hw_intx_pending(&vd->hw))
		data[PCI_STATUS - pos] |= PCI_STATUS_INTERRUPT;
	mutex_unlock(&vd->dev_lock);
}

/**
 * vslice_cfg_rw() - config space region access
 * @vd:		the instance
 * @buf:	user buffer
 * @count:	bytes; any size, split into byte accesses (see above)
 * @pos:	offset in config space
 * @write:	direction
 *
 * Return: @count, -EINVAL when the access leaves the 256 bytes, -EFAULT.
 */
ssize_t vslice_cfg_rw(struct vslice_dev *vd, char __user *buf, size_t count,
		      u64 pos, bool write)
{
	u8 data[VSLICE_CFG_SIZE];

	if (pos >= VSLICE_CFG_SIZE || count > VSLICE_CFG_SIZE - pos)
		return -EINVAL;
	if (!count)
		return 0;

	if (write) {
		if (copy_from_user(data, buf, count))
			return -EFAULT;
		return vslice_cfg_write(vd, data, count, pos);
	}

	vslice_cfg_read(vd, data, count, pos);
	if (copy_to_user(buf, data, count))
		return -EFAULT;
	return count;
}

/**
 * vslice_cfg_check() - may a saved config image be loaded into @vd?
 * @vd:		the destination instance
 * @cfg:	VSLICE_CFG_SIZE bytes from a migration stream
 *
 * Every bit that is neither writable nor write-1-to-clear must equal this
 * instance's power-on value: identity (vendor, device, class, revision,
 * subsystem ids), BAR flags and size masks, the capability list and the
 * MSI capability's layout.  Writable bits may hold anything the guest
 * could have written.  No lock needed: the masks depend only on the type.
 *
 * Return: 0, or -EINVAL naming the first mismatching byte in the log.
 */
int vslice_cfg_check(struct vslice_dev *vd, const u8 *cfg)
{
	u8 ref[VSLICE_CFG_SIZE];
	u64 bar_mask[6];
	unsigned int off;

	vslice_cfg_build(vd, ref, bar_mask);
	for (off = 0; off < VSLICE_CFG_SIZE; off++) {
		unsigned int reg = off & ~3u;
		u8 ro = ~(vslice_cfg_byte_of(vslice_cfg_wmask32(bar_mask, reg),
					     off) |
			  vslice_cfg_byte_of(vslice_cfg_w1c32(reg), off));

		if ((cfg[off] ^ ref[off]) & ro) {
			dev_dbg(vd->vdev.dev,
				"config byte 0x%02x: 0x%02x, read-only bits 0x%02x must be 0x%02x\n",
				off, cfg[off], ro, ref[off] & ro);
			return -EINVAL;
		}
	}
	return 0;
}
