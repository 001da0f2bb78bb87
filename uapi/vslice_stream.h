/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * vslice: the migration stream format, shared by the v2 data fds and the v1
 * migration region (both carry exactly these bytes).  See
 * Documentation/migration-stream.rst.
 *
 * The stream is self-delimiting: a header, then sections, then an END
 * section.  Every integer is little-endian.  A receiver can be fed the bytes
 * in any split down to single bytes.
 *
 *   header   struct vslice_stream_hdr (checksummed by hdr_crc)
 *   section* struct vslice_stream_sec + payload (checksummed by crc)
 *   END      struct vslice_stream_sec (type END) + struct vslice_stream_end
 *
 * Checksums are CRC32C (Castagnoli), seed ~0, final xor ~0 - the value
 * the kernel's crc32c(~0, p, n) ^ ~0 computes.  hdr_crc covers the first
 * 36 header bytes and each section header's crc covers its payload.  END's
 * stream_crc is one CRC32C chained over the 40-byte stream header (hdr_crc
 * included) and then every 16-byte section header before END's, in stream
 * order.  No payload byte is summed twice, yet stream_crc covers every
 * payload through the crc fields, plus the order, number and framing of
 * the sections.
 *
 * Errors a receiver reports are listed in mdev/stream.h and the document.
 */
#ifndef _UAPI_VSLICE_STREAM_H
#define _UAPI_VSLICE_STREAM_H

#include <linux/types.h>

#define VSLICE_STREAM_MAGIC		0x4d47494d534c5356ULL /* "VSLSMIGM" */
#define VSLICE_STREAM_VERSION_MAJOR	1	/* incompatible changes */
#define VSLICE_STREAM_VERSION_MINOR	1	/* compatible additions */
#define VSLICE_STREAM_PAGE_SIZE		4096

/* Feature flags in the header; a receiver refuses unknown ones. */
#define VSLICE_STREAM_F_ZERO_ELISION	(1u << 0) /* unwritten pages omitted */
#define VSLICE_STREAM_F_KNOWN		VSLICE_STREAM_F_ZERO_ELISION

/**
 * struct vslice_stream_hdr - first bytes of every stream; they open the
 *	PRE_COPY initial bytes, so an incompatible destination fails at once
 * @magic:	VSLICE_STREAM_MAGIC
 * @major:	VSLICE_STREAM_VERSION_MAJOR; must match
 * @minor:	VSLICE_STREAM_VERSION_MINOR; a newer one is refused
 * @type_id:	mdev type id (struct vslice_type.id); must match
 * @flags:	VSLICE_STREAM_F_*
 * @reserved:	0
 * @vram_size:	instance VRAM size in bytes; must match
 * @page_size:	VSLICE_STREAM_PAGE_SIZE
 * @hdr_crc:	CRC32C of the preceding 36 bytes
 */
struct vslice_stream_hdr {
	__le64 magic;
	__le16 major;
	__le16 minor;
	__le32 type_id;
	__le32 flags;
	__le32 reserved;
	__le64 vram_size;
	__le32 page_size;
	__le32 hdr_crc;
};

/* Section types.  END spells "END" in hex; on the wire it is "DNE\0". */
#define VSLICE_SEC_VRAM		1 /* struct vslice_stream_vram + pages */
#define VSLICE_SEC_VRAM_ZERO	2 /* struct vslice_stream_vram, no data */
#define VSLICE_SEC_HW		3 /* struct vslice_stream_hw (+ _plane) */
#define VSLICE_SEC_END		0x454e44 /* "END": struct vslice_stream_end */

/* A VRAM section carries at most this many pages. */
#define VSLICE_STREAM_MAX_RUN	64

/**
 * struct vslice_stream_sec - section header
 * @type:	VSLICE_SEC_*
 * @len:	payload bytes that follow (exact for each type, see below)
 * @crc:	CRC32C of the payload
 * @seq:	section sequence number, starting at 0 after the header
 */
struct vslice_stream_sec {
	__le32 type;
	__le32 len;
	__le32 crc;
	__le32 seq;
};

/**
 * struct vslice_stream_vram - a run of VRAM pages
 * @first:	first page index; first + count <= vram_size / page_size
 * @count:	1..VSLICE_STREAM_MAX_RUN pages
 * @reserved:	0
 *
 * VRAM: followed by count * page_size bytes, len = 16 + count * 4096.
 * VRAM_ZERO: the pages become zero (never-written) again, len = 16.
 */
struct vslice_stream_vram {
	__le64 first;
	__le32 count;
	__le32 reserved;
};

/**
 * struct vslice_stream_hw - device state: config space, registers, engine
 * @cfg:	PCI config space bytes
 * @scratch:	BAR0 registers (see uapi/vslice_regs.h): VSLICE_REG_SCRATCH(n)
 * @ring_base:	VSLICE_REG_RING_BASE_LO/HI
 * @ring_size:	VSLICE_REG_RING_SIZE
 * @ring_head:	VSLICE_REG_RING_HEAD
 * @ring_tail:	VSLICE_REG_RING_TAIL
 * @control:	VSLICE_REG_CONTROL
 * @status:	VSLICE_REG_STATUS
 * @irq_status:	VSLICE_REG_IRQ_STATUS
 * @fence:	VSLICE_REG_FENCE_LO/HI
 * @irq_mask:	VSLICE_REG_IRQ_MASK
 * @error:	VSLICE_REG_ERROR
 * @error_head:	VSLICE_REG_ERROR_HEAD
 * @cmd_count:	VSLICE_REG_CMD_COUNT
 * @cmd_progress: bytes of the command at ring_head already executed by the
 *		engine (a checkpointed in-flight command)
 * @irq_type:	VFIO IRQ index in use at save time, or ~0 for none (info)
 * @reserved:	0
 */
struct vslice_stream_hw {
	__u8 cfg[256];
	__le32 scratch[8];
	__le64 ring_base;
	__le32 ring_size;
	__le32 ring_head;
	__le32 ring_tail;
	__le32 control;
	__le32 status;
	__le32 irq_status;
	__le64 fence;
	__le32 irq_mask;
	__le32 error;
	__le32 error_head;
	__le32 cmd_count;
	__le64 cmd_progress;
	__le32 irq_type;
	__le32 reserved[5];
};

/**
 * struct vslice_stream_plane - the scanout plane's registers (format 1.1+)
 * @control:	VSLICE_REG_PLANE_CONTROL as last written
 * @format:	VSLICE_REG_PLANE_FORMAT (shadow)
 * @offset:	VSLICE_REG_PLANE_OFFSET_LO/HI (shadow)
 * @width:	VSLICE_REG_PLANE_WIDTH (shadow)
 * @height:	VSLICE_REG_PLANE_HEIGHT (shadow)
 * @stride:	VSLICE_REG_PLANE_STRIDE (shadow)
 * @error:	VSLICE_REG_PLANE_ERROR
 * @generation:	VSLICE_REG_PLANE_GENERATION
 * @active_format: VSLICE_REG_PLANE_ACTIVE_FORMAT; 0: disabled
 * @active_offset: VSLICE_REG_PLANE_ACTIVE_OFFSET_LO/HI
 * @active_width: VSLICE_REG_PLANE_ACTIVE_WIDTH
 * @active_height: VSLICE_REG_PLANE_ACTIVE_HEIGHT
 * @active_stride: VSLICE_REG_PLANE_ACTIVE_STRIDE
 * @reserved:	0
 *
 * From minor version 1 on, the HW section's payload is struct
 * vslice_stream_hw immediately followed by this struct (len 376 + 64);
 * a 1.0 stream has struct vslice_stream_hw alone (len 376) and loads
 * with the plane disabled.  The active plane must be one the device
 * would have accepted (or all zero); the shadow registers may hold
 * anything a guest can write.
 */
struct vslice_stream_plane {
	__le32 control;
	__le32 format;
	__le64 offset;
	__le32 width;
	__le32 height;
	__le32 stride;
	__le32 error;
	__le32 generation;
	__le32 active_format;
	__le64 active_offset;
	__le32 active_width;
	__le32 active_height;
	__le32 active_stride;
	__le32 reserved;
};

/**
 * struct vslice_stream_end - last section
 * @nr_sections: sections before END
 * @reserved:	0
 * @total_bytes: stream bytes before END's section header
 * @stream_crc:	CRC32C over the 40-byte stream header followed by every
 *		16-byte section header before END's (payloads are covered by
 *		the crc field of their section header, not summed again)
 * @reserved2:	0
 *
 * END's own section header has seq == nr_sections and its crc covers this
 * payload; it is not part of stream_crc.  A stream carries exactly one HW
 * section, somewhere before END.
 */
struct vslice_stream_end {
	__le32 nr_sections;
	__le32 reserved;
	__le64 total_bytes;
	__le32 stream_crc;
	__le32 reserved2;
};

#endif /* _UAPI_VSLICE_STREAM_H */
