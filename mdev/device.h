/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vslice: the emulated PCI function - config space, BAR0 registers, IRQs -
 * and the VRAM behind BAR2.  Implemented in cfgspace.c, mmio.c, irq.c and
 * vram.c.  Locking: see vslice.h; vram has its own lock documented in vram.c.
 */
#ifndef _VSLICE_DEVICE_H
#define _VSLICE_DEVICE_H

#include <linux/eventfd.h>
#include <linux/mm.h>
#include <linux/pci_regs.h>
#include <linux/types.h>

#include "../uapi/vslice_regs.h"
#include "../uapi/vslice_stream.h"

struct vslice_dev;
struct vfio_irq_set;

#define VSLICE_CFG_SIZE		256

/**
 * struct vslice_regs - BAR0 register file (values as the guest sees them)
 * @scratch:	SCRATCH(n), guest scratch registers
 * @ring_base:	RING_BASE_HI:LO, ring IOVA
 * @ring_size:	RING_SIZE, entries
 * @ring_head:	RING_HEAD, next entry the engine runs
 * @ring_tail:	RING_TAIL, next entry the guest fills
 * @control:	CONTROL, VSLICE_CTRL_*
 * @status:	STATUS, VSLICE_STATUS_*
 * @fence:	FENCE_HI:LO, last completed fence value
 * @irq_status:	IRQ_STATUS, pending VSLICE_IRQ_* sources
 * @irq_mask:	IRQ_MASK, enabled sources
 * @error:	ERROR, VSLICE_ERR_* the engine halted on
 * @error_head:	ERROR_HEAD, ring index of the bad entry
 * @cmd_count:	CMD_COUNT, commands completed
 *
 * Protected by vslice_dev.dev_lock.  The engine owns ring_head, fence,
 * status, error, error_head and cmd_count; mmio.c owns the rest.
 */
struct vslice_regs {
	u32 scratch[VSLICE_NR_SCRATCH];
	u64 ring_base;
	u32 ring_size;
	u32 ring_head;
	u32 ring_tail;
	u32 control;
	u32 status;
	u64 fence;
	u32 irq_status;
	u32 irq_mask;
	u32 error;
	u32 error_head;
	u32 cmd_count;
};

/**
 * struct vslice_plane - one scanout plane configuration
 * @format:	DRM fourcc (VSLICE_PLANE_FMT_*); 0 in the active plane means
 *		disabled, and then every other field is 0 too
 * @width:	pixels
 * @height:	lines
 * @stride:	bytes per line
 * @offset:	byte offset of the first line in VRAM
 */
struct vslice_plane {
	u32 format;
	u32 width;
	u32 height;
	u32 stride;
	u64 offset;
};

/**
 * struct vslice_plane_regs - the scanout plane's registers (mmio.c)
 * @control:	PLANE_CONTROL as last written (shadow)
 * @shadow:	PLANE_FORMAT .. PLANE_STRIDE as last written
 * @active:	PLANE_ACTIVE_*: the plane the device scans out
 * @error:	PLANE_ERROR, VSLICE_PLANE_ERR_* of the last commit
 * @generation:	PLANE_GENERATION, counts changes of @active
 *
 * Protected by vslice_dev.dev_lock.  The display region (display.c) shows
 * VRAM from @active.offset; vram.c keeps its own copy of that page index
 * (vslice_vram_set_window()), which mmio.c updates with every change.
 */
struct vslice_plane_regs {
	u32 control;
	struct vslice_plane shadow;
	struct vslice_plane active;
	u32 error;
	u32 generation;
};

/**
 * struct vslice_hw - emulated PCI function state
 * @cfg:	config space bytes (little-endian, as the guest reads them).
 *		PCI_STATUS_INTERRUPT is not stored: reads compute it.
 * @bar_mask:	writable bits of each 32-bit BAR register (BAR0; BAR2 and
 *		BAR3 are the two halves of the 64-bit VRAM BAR); 0 for an
 *		unimplemented BAR.  Reading back after writing ~0 gives the
 *		size mask, as the PCI sizing protocol expects.
 * @regs:	BAR0 registers
 * @plane:	BAR0's scanout plane registers
 * @irq_type:	VFIO_PCI_INTX_IRQ_INDEX / VFIO_PCI_MSI_IRQ_INDEX / -1 (none):
 *		the interrupt userspace configured through SET_IRQS
 * @intx_trigger: INTx eventfd or NULL
 * @msi_trigger: MSI eventfd or NULL
 * @intx_masked: INTx masked, by VFIO_IRQ_SET_ACTION_MASK or automatically
 *		when it fired (vfio-pci's AUTOMASKED semantics)
 *
 * Everything here is protected by vslice_dev.dev_lock.
 */
struct vslice_hw {
	u8 cfg[VSLICE_CFG_SIZE];
	u64 bar_mask[6];
	struct vslice_regs regs;
	struct vslice_plane_regs plane;
	int irq_type;
	struct eventfd_ctx *intx_trigger;
	struct eventfd_ctx *msi_trigger;
	bool intx_masked;
};

/**
 * struct vslice_vram - lazily allocated VRAM with written/dirty tracking
 * @size:	bytes
 * @npages:	size >> PAGE_SHIFT
 * @lock:	protects @pages, @written, @dirty, @stage, @staged, @pool,
 *		@pool_count
 * @pages:	page array, NULL entries are zero pages never written
 * @written:	bitmap: page written since creation or last reset (zero
 *		elision: unwritten pages read as zero and are never streamed)
 * @dirty:	bitmap: page written since the last save pass took it (or
 *		zeroed by a reset since then)
 * @window:	first VRAM page the display region shows (the active
 *		plane's offset; 0 while disabled)
 * @backing:	kernels without vfio_device.inode only: a private file whose
 *		address_space links this instance's BAR2 mappings, so they
 *		can be write-protected with unmap_mapping_range(); else NULL
 * @stage:	while a resume stream is received: the pages it will install,
 *		indexed like @pages (NULL: the page will be zero), not
 *		visible to anyone but the resume channel; else NULL
 * @staged:	non-NULL entries of @stage
 * @pool:	pages kept for the next staging instead of being freed and
 *		allocated (and zeroed by init_on_alloc) again: the pages a
 *		committed resume replaced, staged pages that came out zero;
 *		linked through page->lru
 * @pool_count:	pages on @pool
 * @dirtied:	count of pages that turned dirty through a write (a clear
 *		@dirty bit set by the guest, the engine or BAR2), ever: the
 *		migration core's convergence rule compares its growth over a
 *		pre-copy pass with the pages the pass read
 *
 * Invariant (what makes @dirty exact at any time, tracking or not): a page
 * whose @dirty bit is clear has no writable PTE in any mapping.  Mappings
 * are created read-only and every first write to a page faults
 * (->pfn_mkwrite), which sets @written and @dirty before making the PTE
 * writable; clearing a @dirty bit write-protects the page first.
 */
struct vslice_vram {
	u64 size;
	unsigned long npages;
	struct mutex lock;	/* see @lock */
	struct page **pages;
	unsigned long *written;
	unsigned long *dirty;
	unsigned long window;
	struct file *backing;
	struct page **stage;
	unsigned long staged;
	struct list_head pool;
	unsigned long pool_count;
	u64 dirtied;
};

/*
 * The display region (display.c): an extra VFIO region after the v1
 * migration region, VRAM size bytes, a read-only window onto VRAM that
 * starts at the active plane's offset.
 */
#define VSLICE_DISPLAY_REGION_INDEX	(VFIO_PCI_NUM_REGIONS + 1)

/* Config space layout (cfgspace.c): one capability, MSI. */
#define VSLICE_CFG_MSI_CAP	0x40

/*
 * Readers of the emulated function's state that both cfgspace.c and irq.c
 * need.  They only read struct vslice_hw, so neither file has to call the
 * other for them.  The caller holds dev_lock.
 */

/* A little-endian 16-bit config space register. */
static inline u16 vslice_hw_cfg16(const struct vslice_hw *hw, unsigned int off)
{
	return hw->cfg[off] | (u16)hw->cfg[off + 1] << 8;
}

/* COMMAND.INTX_DISABLE: the guest keeps the INTx pin from asserting. */
static inline bool vslice_hw_intx_disabled(const struct vslice_hw *hw)
{
	return vslice_hw_cfg16(hw, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE;
}

/* COMMAND.MASTER: the function may initiate DMA. */
static inline bool vslice_hw_bus_master(const struct vslice_hw *hw)
{
	return vslice_hw_cfg16(hw, PCI_COMMAND) & PCI_COMMAND_MASTER;
}

/* The MSI capability's enable bit (which turns INTx off). */
static inline bool vslice_hw_msi_enabled(const struct vslice_hw *hw)
{
	return vslice_hw_cfg16(hw, VSLICE_CFG_MSI_CAP + PCI_MSI_FLAGS) &
	       PCI_MSI_FLAGS_ENABLE;
}

/*
 * The INTx condition: a source is pending (IRQ_STATUS & IRQ_MASK) and MSI
 * is off.  COMMAND.INTX_DISABLE does not change it (STATUS.INTERRUPT
 * reports it even while disabled); it only keeps the pin from asserting.
 */
static inline bool vslice_hw_intx_pending(const struct vslice_hw *hw)
{
	return (hw->regs.irq_status & hw->regs.irq_mask) &&
	       !vslice_hw_msi_enabled(hw);
}

/* cfgspace.c */
void vslice_cfg_init(struct vslice_dev *vd);
ssize_t vslice_cfg_rw(struct vslice_dev *vd, char __user *buf, size_t count,
		      u64 pos, bool write);
int vslice_cfg_check(struct vslice_dev *vd, const u8 *cfg);

/* mmio.c */
void vslice_plane_get(struct vslice_dev *vd, struct vslice_plane *active);
ssize_t vslice_mmio_rw(struct vslice_dev *vd, char __user *buf, size_t count,
		       u64 pos, bool write);

/*
 * irq.c.  Interrupt sources are the bits of regs.irq_status; a source is
 * pending when it is also set in regs.irq_mask.  vslice_irq_raise() and
 * vslice_irq_update() are called with dev_lock held (the engine raises
 * from its worker under dev_lock; eventfd signalling is fine under a
 * mutex).  INTx is a level: asserted while something is pending, INTx is
 * not disabled in COMMAND and MSI is not enabled in the capability; it is
 * delivered to the INTx eventfd when asserted and not masked, and then
 * masked automatically until userspace unmasks it (vfio-pci semantics).
 * MSI is an edge: each raise of a pending source signals the MSI eventfd
 * while userspace has MSI configured through SET_IRQS.
 */
int vslice_irq_get_info(struct vslice_dev *vd, struct vfio_irq_info *info);
int vslice_irq_set(struct vslice_dev *vd, struct vfio_irq_set *hdr,
		   void __user *data);
void vslice_irq_raise(struct vslice_dev *vd, u32 sources);
void vslice_irq_update(struct vslice_dev *vd, u32 edges);
void vslice_irq_reset(struct vslice_dev *vd);
void vslice_irq_teardown(struct vslice_dev *vd);

/* vram.c */
int vslice_vram_init(struct vslice_vram *vram, u64 size);
void vslice_vram_fini(struct vslice_vram *vram);
void vslice_vram_reset(struct vslice_dev *vd);
ssize_t vslice_vram_region_rw(struct vslice_dev *vd, char __user *buf,
			      size_t count, u64 pos, bool write);
int vslice_vram_mmap(struct vslice_dev *vd, struct vm_area_struct *vma);
int vslice_vram_rw(struct vslice_vram *vram, u64 off, void *buf, size_t len,
		   bool write);
int vslice_vram_fill(struct vslice_vram *vram, u64 off, u32 pattern,
		     size_t len);
void vslice_vram_track_start(struct vslice_dev *vd);
unsigned long vslice_vram_dirty_count(struct vslice_vram *vram);
unsigned long vslice_vram_written_count(struct vslice_vram *vram);
u64 vslice_vram_dirtied(struct vslice_vram *vram);
long vslice_vram_take_run(struct vslice_dev *vd, unsigned long from,
			  unsigned int max, struct page **pages,
			  unsigned int *count);
void vslice_vram_put_run(struct page **pages, unsigned int count);
int vslice_vram_stage_begin(struct vslice_vram *vram);
void *vslice_vram_stage_page(struct vslice_vram *vram, unsigned long idx);
void vslice_vram_stage_settle(struct vslice_vram *vram, unsigned long first,
			      unsigned int count);
void vslice_vram_stage_zero(struct vslice_vram *vram, unsigned long first,
			    unsigned int count);
void vslice_vram_stage_commit(struct vslice_dev *vd);
void vslice_vram_stage_end(struct vslice_vram *vram);
void vslice_vram_set_window(struct vslice_vram *vram, unsigned long first);
int vslice_vram_window_mmap(struct vslice_dev *vd, struct vm_area_struct *vma);
ssize_t vslice_vram_window_read(struct vslice_dev *vd, char __user *buf,
				size_t count, u64 pos);

/* device state <-> stream (mmio.c; the config image check is cfgspace.c) */
int vslice_hw_save(struct vslice_dev *vd, struct vslice_stream_hw *st,
		   struct vslice_stream_plane *plane);
int vslice_hw_check(struct vslice_dev *vd, const struct vslice_stream_hw *st,
		    const struct vslice_stream_plane *plane);
void vslice_hw_load(struct vslice_dev *vd, const struct vslice_stream_hw *st,
		    const struct vslice_stream_plane *plane);
void vslice_hw_reset(struct vslice_dev *vd);
void vslice_dev_reset(struct vslice_dev *vd);

#endif /* _VSLICE_DEVICE_H */
