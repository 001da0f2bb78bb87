/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vslice: the migration stream codec (stream.c) - CRC32C, an encoder that
 * frames sections the caller fills in place, and an incremental decoder
 * that accepts the stream in any split down to single bytes.  The format
 * is uapi/vslice_stream.h; Documentation/migration-stream.rst explains it.
 *
 * stream.c is pure: no allocation, no locks, no VFIO.  The same source
 * builds in userspace (selftests/stream/) for unit tests and fuzzing.
 *
 * Decoder errors (negative errnos; the first one is sticky):
 *
 *  -EINVAL          malformed: bad magic, reserved field nonzero, unknown
 *                   section type, wrong len for the type (HW: for the
 *                   header's minor version), seq out of
 *                   order, VRAM count 0, above VSLICE_STREAM_MAX_RUN or not
 *                   matching len, VRAM run outside the VRAM or overflowing,
 *                   a second HW section, END without a HW section, END's
 *                   nr_sections or total_bytes wrong, bytes after END
 *  -EBADMSG         checksum mismatch: hdr_crc, a section's crc, or END's
 *                   stream_crc
 *  -EPROTONOSUPPORT major version differs, or minor newer than ours
 *  -EOPNOTSUPP      incompatible device: unknown feature flag, page size,
 *                   type id or VRAM size differ from the destination's
 *  -ENODATA         vslice_loader_finish() before a valid END (truncated)
 *
 * Checks run in this order, so that corruption is reported as corruption:
 * header magic, hdr_crc, version, reserved, flags, page size, type id,
 * VRAM size; section header type, len, seq, HW count; payload crc, then
 * the payload's own fields.  A callback error becomes the sticky error.
 */
#ifndef _VSLICE_STREAM_CODEC_H
#define _VSLICE_STREAM_CODEC_H

#include <linux/types.h>

#include "../uapi/vslice_stream.h"

#define VSLICE_STREAM_HDR_SIZE	sizeof(struct vslice_stream_hdr)	/* 40 */
#define VSLICE_STREAM_SEC_SIZE	sizeof(struct vslice_stream_sec)	/* 16 */
/* The feature flags of every stream this driver writes. */
#define VSLICE_STREAM_F_WRITTEN	VSLICE_STREAM_F_ZERO_ELISION
/* END's section header plus its payload */
#define VSLICE_STREAM_END_SIZE	(sizeof(struct vslice_stream_sec) + \
				 sizeof(struct vslice_stream_end))	/* 40 */
/* The largest unit (section header + payload): a full VRAM run. */
#define VSLICE_STREAM_UNIT_MAX	(sizeof(struct vslice_stream_sec) +	\
				 sizeof(struct vslice_stream_vram) +	\
				 VSLICE_STREAM_MAX_RUN *		\
				 VSLICE_STREAM_PAGE_SIZE)

u32 vslice_crc32c(u32 crc, const void *buf, size_t len);

/* Where the caller writes a section's payload: right after its header. */
static inline void *vslice_sec_payload(void *sec)
{
	return (u8 *)sec + sizeof(struct vslice_stream_sec);
}

/*
 * The HW section's payload length in a stream of minor version @minor:
 * struct vslice_stream_hw, and from 1.1 on struct vslice_stream_plane.
 */
static inline u32 vslice_stream_hw_len(unsigned int minor)
{
	return sizeof(struct vslice_stream_hw) +
	       (minor >= 1 ? sizeof(struct vslice_stream_plane) : 0);
}

/* Where a HW section's plane goes (1.1+): after struct vslice_stream_hw. */
static inline void *vslice_sec_plane(void *sec)
{
	return (u8 *)vslice_sec_payload(sec) + sizeof(struct vslice_stream_hw);
}

/* Where a VRAM section's pages go: after the header and the run header. */
static inline void *vslice_sec_pages(void *sec)
{
	return (u8 *)sec + sizeof(struct vslice_stream_sec) +
	       sizeof(struct vslice_stream_vram);
}

/**
 * struct vslice_enc - encoder state
 * @crc:	running CRC32C register of the chained stream checksum
 * @bytes:	stream bytes framed so far (header and sections)
 * @seq:	sequence number of the next section
 * @minor:	minor version written: VSLICE_STREAM_VERSION_MINOR after
 *		vslice_enc_init(); a caller may lower it before
 *		vslice_enc_hdr() to write an older format (the HW section's
 *		length follows it, see vslice_stream_hw_len())
 */
struct vslice_enc {
	u32 crc;
	u64 bytes;
	u32 seq;
	u16 minor;
};

void vslice_enc_init(struct vslice_enc *e);
size_t vslice_enc_hdr(struct vslice_enc *e, void *out, u32 type_id,
		      u64 vram_size, u32 flags);
size_t vslice_enc_seal(struct vslice_enc *e, void *sec, u32 type, u32 len);
size_t vslice_enc_vram(struct vslice_enc *e, void *sec, u64 first,
		       u32 count);
u32 vslice_enc_vram_begin(void *sec, u64 first, u32 count);
size_t vslice_enc_vram_end(struct vslice_enc *e, void *sec, u32 crc);
size_t vslice_enc_vram_pages(struct vslice_enc *e, void *sec, u64 first,
			     u32 count, const void *const *pages);
size_t vslice_enc_hw(struct vslice_enc *e, void *sec);
size_t vslice_enc_end(struct vslice_enc *e, void *out);
#ifndef __KERNEL__
/* userspace only (stream.c says why) */
size_t vslice_enc_vram_zero(struct vslice_enc *e, void *sec, u64 first,
			    u32 count);
#endif

/**
 * struct vslice_loader_ops - what the decoder calls for each valid unit
 * @hdr:	the stream header passed every check
 * @vram:	pages [@first, @first + @count) carry the data at @pages
 *		(@count * VSLICE_STREAM_PAGE_SIZE bytes); @pages is NULL when
 *		@vram_dst is set: the data is already where it said
 * @vram_dst:	optional: where page @idx of the VRAM section being received
 *		goes (VSLICE_STREAM_PAGE_SIZE bytes), or NULL for -ENOMEM.
 *		The decoder copies the page bytes there as they arrive (no
 *		copy into @buf), sums them, and calls @vram only if the
 *		section then passes every check.  So the destination must
 *		not be live state: a page of a section refused later has
 *		been written anyway.  Asked once per page and section, only
 *		for runs whose header is valid, before the checksum is known.
 * @vram_zero:	pages [@first, @first + @count) become zero (unwritten)
 * @hw:		the device state section; @plane is the scanout plane that
 *		follows it from minor version 1 on, NULL in a 1.0 stream
 * @end:	the END section passed every check; the stream is complete
 *
 * Each callback runs only after its whole unit has been received and
 * validated (checksum, structure, VRAM bounds), so a bad unit never
 * reaches device state.  Pointers are valid only during the call and
 * point into the loader's buffer (8-byte aligned if the buffer is).
 * A callback returns 0 or a negative errno, which becomes the loader's
 * sticky error.  Any callback may be NULL.
 */
struct vslice_loader_ops {
	int (*hdr)(void *ctx, const struct vslice_stream_hdr *hdr);
	int (*vram)(void *ctx, u64 first, u32 count, const void *pages);
	void *(*vram_dst)(void *ctx, u64 idx);
	int (*vram_zero)(void *ctx, u64 first, u32 count);
	int (*hw)(void *ctx, const struct vslice_stream_hw *hw,
		  const struct vslice_stream_plane *plane);
	int (*end)(void *ctx);
};

/* Decoder phases (struct vslice_loader.phase). */
enum vslice_loader_phase {
	VSLICE_LD_HDR,		/* collecting the stream header */
	VSLICE_LD_SEC,		/* collecting a section header */
	VSLICE_LD_PAYLOAD,	/* collecting a section payload */
	VSLICE_LD_DONE,		/* a valid END was seen */
};

/**
 * struct vslice_loader - incremental decoder state
 * @ops:	callbacks
 * @ctx:	their first argument
 * @buf:	caller's buffer of VSLICE_STREAM_UNIT_MAX bytes (8-byte
 *		aligned), holding the unit being collected
 * @type_id:	the destination's mdev type id
 * @vram_size:	the destination's VRAM size in bytes
 * @npages:	@vram_size in stream pages
 * @minor:	the stream header's minor version (once accepted)
 * @phase:	enum vslice_loader_phase
 * @need:	size of the unit being collected in @buf
 * @fill:	bytes of it received so far
 * @crc:	running register of the chained stream checksum
 * @bytes:	stream bytes accepted before the current unit
 * @seq:	sequence number the next section must carry
 * @hw_seen:	a HW section was accepted
 * @direct:	the VRAM section being collected lands its pages at
 *		ops->vram_dst() (its headers stay in @buf)
 * @run_first:	@direct: the run's first page
 * @pcrc:	@direct: CRC32C register over the payload received so far
 * @dst:	@direct: the page being filled, NULL between pages
 * @err:	sticky error, 0 while the stream is good
 *
 * All fields are private to stream.c; use the functions below.
 */
struct vslice_loader {
	const struct vslice_loader_ops *ops;
	void *ctx;
	u8 *buf;
	u32 type_id;
	u64 vram_size;
	u64 npages;
	u16 minor;
	enum vslice_loader_phase phase;
	u32 need;
	u32 fill;
	u32 crc;
	u64 bytes;
	u32 seq;
	bool hw_seen;
	bool direct;
	u64 run_first;
	u32 pcrc;
	u8 *dst;
	int err;
};

void vslice_loader_init(struct vslice_loader *l,
			const struct vslice_loader_ops *ops, void *ctx,
			void *buf, u32 type_id, u64 vram_size);
ssize_t vslice_loader_window(struct vslice_loader *l, void **dst,
			     size_t avail);
int vslice_loader_commit(struct vslice_loader *l, size_t n);
int vslice_loader_finish(const struct vslice_loader *l);
#ifndef __KERNEL__
/* userspace only (stream.c says why) */
ssize_t vslice_loader_feed(struct vslice_loader *l, const void *data,
			   size_t len);
bool vslice_loader_complete(const struct vslice_loader *l);
#endif

#endif /* _VSLICE_STREAM_CODEC_H */
