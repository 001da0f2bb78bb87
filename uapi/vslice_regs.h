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
