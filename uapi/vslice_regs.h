/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * vslice: the guest-visible ABI of a vslice vGPU instance.
 *
 * This header is shared by the kernel module, the selftests and the
 * bare-metal e2e guest.  It describes PCI identity, BAR layout, the BAR0
 * register file and the command engine's descriptor format.  All registers
 * are little-endian.  See Documentation/device-abi.rst.
 */
#ifndef _UAPI_VSLICE_REGS_H
#define _UAPI_VSLICE_REGS_H

#include <linux/types.h>

/*
 * PCI identity.  0xf1e5 is NOT an assigned vendor ID: vslice is an
 * experimental, simulated device and must never be mistaken for hardware.
 */
#define VSLICE_PCI_VENDOR_ID		0xf1e5
#define VSLICE_PCI_DEVICE_ID		0x0001
#define VSLICE_PCI_SUBSYS_VENDOR_ID	0xf1e5
#define VSLICE_PCI_REVISION		0x01
#define VSLICE_PCI_CLASS		0x038000 /* display controller, other */

/* BARs: BAR0 = 4 KiB MMIO registers, BAR2 (64-bit, prefetchable) = VRAM. */
#define VSLICE_BAR_MMIO			0
#define VSLICE_BAR_VRAM			2
#define VSLICE_MMIO_SIZE		0x1000

/* BAR0 register offsets.  32-bit registers unless marked 64 (two halves). */
#define VSLICE_REG_ID			0x000	/* RO: VSLICE_ID_MAGIC */
#define VSLICE_REG_VERSION		0x004	/* RO: VSLICE_DEV_VERSION */
#define VSLICE_REG_VRAM_SIZE_LO		0x008	/* RO */
#define VSLICE_REG_VRAM_SIZE_HI		0x00c	/* RO */
#define VSLICE_REG_CAPS			0x010	/* RO: VSLICE_CAP_* */
#define VSLICE_REG_SCRATCH(n)		(0x020 + 4 * (n)) /* RW, n < 8 */
#define VSLICE_NR_SCRATCH		8
#define VSLICE_REG_RING_BASE_LO		0x040	/* RW: ring IOVA, 4 KiB aligned */
#define VSLICE_REG_RING_BASE_HI		0x044	/* RW */
#define VSLICE_REG_RING_SIZE		0x048	/* RW: entries, power of 2 */
#define VSLICE_REG_RING_HEAD		0x04c	/* RO: next entry the engine runs */
#define VSLICE_REG_RING_TAIL		0x050	/* RW: next entry the guest fills */
#define VSLICE_REG_DOORBELL		0x054	/* WO: any write kicks the engine */
#define VSLICE_REG_CONTROL		0x058	/* RW: VSLICE_CTRL_* */
#define VSLICE_REG_STATUS		0x05c	/* RO: VSLICE_STATUS_* */
#define VSLICE_REG_FENCE_LO		0x060	/* RO: last completed fence */
#define VSLICE_REG_FENCE_HI		0x064	/* RO */
#define VSLICE_REG_IRQ_STATUS		0x068	/* RO: VSLICE_IRQ_* pending */
#define VSLICE_REG_IRQ_MASK		0x06c	/* RW: 1 = source enabled */
#define VSLICE_REG_IRQ_ACK		0x070	/* W1C on IRQ_STATUS */
#define VSLICE_REG_ERROR		0x074	/* RO: VSLICE_ERR_* */
#define VSLICE_REG_ERROR_HEAD		0x078	/* RO: ring index of bad entry */
#define VSLICE_REG_CMD_COUNT		0x07c	/* RO: commands completed */

#define VSLICE_ID_MAGIC			0x534c4356 /* "VCLS" little-endian */
#define VSLICE_DEV_VERSION		0x00010000

#define VSLICE_CAP_ENGINE		(1u << 0)
#define VSLICE_CAP_MSI			(1u << 1)
#define VSLICE_CAP_PLANE		(1u << 2) /* scanout plane below */

/*
 * The scanout plane (one, primary).  The guest programs the shadow
 * registers PLANE_FORMAT .. PLANE_STRIDE, then writes PLANE_CONTROL; that
 * write is the commit.  The device validates the shadow values as a whole:
 *
 *   format	one of VSLICE_PLANE_FMT_* (DRM fourcc codes)
 *   width	1..VSLICE_PLANE_MAX_WIDTH pixels
 *   height	1..VSLICE_PLANE_MAX_HEIGHT lines
 *   stride	a multiple of 4 bytes, >= width * bytes per pixel
 *   offset	VSLICE_PLANE_ALIGN aligned; offset + stride * height within
 *		the instance's VRAM (computed without wrapping)
 *
 * A valid commit with ENABLE set makes the shadow values the active plane,
 * clears PLANE_ERROR and increments PLANE_GENERATION (when anything of the
 * active plane changed).  An invalid one is refused: the active plane (and
 * PLANE_GENERATION) stay as they were and PLANE_ERROR latches the first
 * check that failed.  A commit with ENABLE clear disables the plane (always
 * valid).  Reads of the shadow registers return the last written values,
 * of PLANE_ACTIVE_* the active plane.  A device reset disables the plane
 * and zeroes all plane registers except PLANE_GENERATION, which counts on.
 */
#define VSLICE_REG_PLANE_CONTROL	0x100	/* RW: VSLICE_PLANE_CTRL_*; commit */
#define VSLICE_REG_PLANE_FORMAT		0x104	/* RW: DRM fourcc */
#define VSLICE_REG_PLANE_OFFSET_LO	0x108	/* RW: byte offset in VRAM */
#define VSLICE_REG_PLANE_OFFSET_HI	0x10c	/* RW */
#define VSLICE_REG_PLANE_WIDTH		0x110	/* RW: pixels */
#define VSLICE_REG_PLANE_HEIGHT		0x114	/* RW: lines */
#define VSLICE_REG_PLANE_STRIDE		0x118	/* RW: bytes per line */
#define VSLICE_REG_PLANE_ERROR		0x11c	/* RO: VSLICE_PLANE_ERR_* */
#define VSLICE_REG_PLANE_GENERATION	0x120	/* RO: active plane changes */
#define VSLICE_REG_PLANE_ACTIVE_FORMAT	0x124	/* RO: 0 while disabled */
#define VSLICE_REG_PLANE_ACTIVE_OFFSET_LO 0x128	/* RO */
#define VSLICE_REG_PLANE_ACTIVE_OFFSET_HI 0x12c	/* RO */
#define VSLICE_REG_PLANE_ACTIVE_WIDTH	0x130	/* RO */
#define VSLICE_REG_PLANE_ACTIVE_HEIGHT	0x134	/* RO */
#define VSLICE_REG_PLANE_ACTIVE_STRIDE	0x138	/* RO */

#define VSLICE_PLANE_CTRL_ENABLE	(1u << 0)
#define VSLICE_PLANE_CTRL_KNOWN		VSLICE_PLANE_CTRL_ENABLE

/* DRM fourcc codes (drm_fourcc.h), little-endian 32-bit pixels. */
#define VSLICE_PLANE_FMT_XRGB8888	0x34325258 /* "XR24" */
#define VSLICE_PLANE_FMT_XBGR8888	0x34324258 /* "XB24" */

#define VSLICE_PLANE_MAX_WIDTH		4096
#define VSLICE_PLANE_MAX_HEIGHT		4096
#define VSLICE_PLANE_ALIGN		4096	/* offset alignment */

/* PLANE_ERROR codes: why the last commit was refused. */
#define VSLICE_PLANE_ERR_NONE		0
#define VSLICE_PLANE_ERR_FORMAT		1 /* unknown fourcc */
#define VSLICE_PLANE_ERR_SIZE		2 /* width or height 0 or too big */
#define VSLICE_PLANE_ERR_STRIDE		3 /* unaligned or < width * bpp */
#define VSLICE_PLANE_ERR_ALIGN		4 /* offset not VSLICE_PLANE_ALIGN */
#define VSLICE_PLANE_ERR_RANGE		5 /* framebuffer past VRAM end */
#define VSLICE_PLANE_ERR_CONTROL	6 /* unknown PLANE_CONTROL bits */

/*
 * The command engine.  While CONTROL.ENABLE is set and STATUS.HALTED is
 * clear the engine runs the entries from RING_HEAD up to RING_TAIL (ring of
 * RING_SIZE struct vslice_cmd at RING_BASE), advancing RING_HEAD and
 * CMD_COUNT as each completes.  Commands complete in ring order.
 *
 * Errors: the engine validates the ring configuration whenever it is kicked
 * while enabled (even with an empty ring), then each entry as it reaches
 * it.  On any error it latches ERROR and ERROR_HEAD (RING_HEAD of the bad
 * entry, which is not consumed), sets STATUS.HALTED, raises
 * VSLICE_IRQ_ERROR and runs nothing more.  HALTED is sticky until a VFIO
 * device reset or until the guest writes CONTROL with ENABLE clear, which
 * clears HALTED, ERROR and ERROR_HEAD; setting ENABLE again re-executes the
 * entry at RING_HEAD from its start (fix or replace it first).
 *
 * Clearing ENABLE while a command runs aborts it at the next internal step
 * (it restarts from its beginning when ENABLE is set again); commands are
 * idempotent, so a partly executed one is harmless to repeat.  A device
 * reset clears CONTROL, STATUS, ERROR, RING_HEAD and CMD_COUNT.
 */
#define VSLICE_CTRL_ENABLE		(1u << 0) /* engine runs when set */

#define VSLICE_STATUS_BUSY		(1u << 0) /* enabled, RING_HEAD != TAIL */
#define VSLICE_STATUS_HALTED		(1u << 1) /* stopped on an error */

#define VSLICE_IRQ_FENCE		(1u << 0)
#define VSLICE_IRQ_ERROR		(1u << 1)
#define VSLICE_IRQ_ALL			(VSLICE_IRQ_FENCE | VSLICE_IRQ_ERROR)

/* Engine error codes (VSLICE_REG_ERROR).  The engine halts on any. */
#define VSLICE_ERR_NONE			0
#define VSLICE_ERR_RING_CONFIG		1 /* size not pow2 / too big, base unaligned */
#define VSLICE_ERR_RING_INDEX		2 /* tail or head >= ring size */
#define VSLICE_ERR_RING_READ		3 /* ring entry not readable (unmapped) */
#define VSLICE_ERR_OPCODE		4 /* unknown opcode or nonzero reserved */
#define VSLICE_ERR_VRAM_RANGE		5 /* VRAM range out of bounds/overflow */
#define VSLICE_ERR_DMA			6 /* guest memory not mapped / not writable */
#define VSLICE_ERR_ALIGN		7 /* length/offset alignment violated */
#define VSLICE_ERR_HOST			8 /* host could not back VRAM (no memory) */

#define VSLICE_RING_MAX_ENTRIES		4096

/* Command opcodes. */
#define VSLICE_CMD_NOP			0
#define VSLICE_CMD_FILL			1 /* VRAM[vram_off, +len) = pattern (4 B) */
#define VSLICE_CMD_COPY_TO_VRAM		2 /* guest[iova, +len) -> VRAM[vram_off] */
#define VSLICE_CMD_COPY_FROM_VRAM	3 /* VRAM[vram_off, +len) -> guest[iova] */
#define VSLICE_CMD_FENCE		4 /* *(u64 *)guest[iova] = value; IRQ */

/**
 * struct vslice_cmd - one 32-byte ring entry
 * @opcode:	VSLICE_CMD_*
 * @pattern:	FILL: 32-bit pattern; must be 0 otherwise
 * @vram_off:	byte offset in VRAM (FILL, COPY_*); FILL needs 4-byte alignment
 * @iova:	guest address (COPY_*, FENCE; FENCE needs 8-byte alignment)
 * @len:	byte count (FILL, COPY_*; FILL needs a multiple of 4);
 *		FENCE: the 64-bit value written and latched in FENCE_LO/HI
 *
 * Fields a command does not use must be 0 (NOP: all of them; FILL: @iova;
 * FENCE: @pattern, @vram_off), else VSLICE_ERR_OPCODE.  Checks run in this
 * order: opcode and must-be-zero fields (ERR_OPCODE), alignment
 * (ERR_ALIGN), vram_off + len within VRAM without wrapping
 * (ERR_VRAM_RANGE), iova + len (FENCE: + 8) not wrapping past 2^64
 * (ERR_DMA).  A FILL or COPY with len 0 is a no-op and skips the alignment
 * and range checks.  Guest memory that is not mapped (or not writable, for
 * COPY_FROM_VRAM and FENCE) when the engine reaches it gives ERR_DMA; an
 * unmap while a command runs fails that command with ERR_DMA.
 *
 * FENCE writes the value to guest memory first, then latches FENCE_LO/HI,
 * then raises VSLICE_IRQ_FENCE.  COPY_TO_VRAM only reads guest memory:
 * it never dirties guest pages for migration.
 */
struct vslice_cmd {
	__le32 opcode;
	__le32 pattern;
	__le64 vram_off;
	__le64 iova;
	__le64 len;
};

#define VSLICE_CMD_SIZE			32

#endif /* _UAPI_VSLICE_REGS_H */
