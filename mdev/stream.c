// SPDX-License-Identifier: GPL-2.0
/*
 * vslice: the migration stream codec.
 *
 * The encoder frames sections that the caller has already written in
 * place; the decoder collects one unit (the header, a section header, or a
 * section payload) at a time in the caller's buffer and validates it
 * completely before handing it to a callback.  Both keep the chained
 * stream checksum: CRC32C over the stream header and every section header
 * before END, each section header carrying its payload's CRC.
 *
 * Pure code - no allocation, no locks, no VFIO - so that the very same
 * file builds in userspace for the unit tests and the fuzzer
 * (selftests/stream/, whose kshim/ provides the few kernel headers used).
 * The CRC32C is the kernel's crc32c() in the module and ISA-L's
 * crc32_iscsi() behind the same name in userspace: no CRC code here.
 */
#include <linux/build_bug.h>
#include <linux/cache.h>
#include <linux/errno.h>
#include <linux/limits.h>
#include <linux/overflow.h>
#include <linux/stddef.h>
#include <linux/string.h>
#include <linux/types.h>
#include <asm/byteorder.h>

#ifdef __KERNEL__
#include "compat.h"		/* crc32c() */
#else
#include <linux/crc32c.h>	/* selftests/stream/kshim: ISA-L's */
#endif
#include "stream.h"

#define VSLICE_CRC_SEED		(~0u)	/* and final xor */
#define VSLICE_HDR_CRC_LEN	offsetof(struct vslice_stream_hdr, hdr_crc)
#define VSLICE_CRC_CHUNK	(1024u * 1024 * 1024)	/* crc32c() length: unsigned int */

static_assert(sizeof(struct vslice_stream_hdr) == 40);
static_assert(sizeof(struct vslice_stream_sec) == 16);
static_assert(sizeof(struct vslice_stream_vram) == 16);
static_assert(sizeof(struct vslice_stream_hw) == 376);
static_assert(sizeof(struct vslice_stream_plane) == 64);
static_assert(sizeof(struct vslice_stream_end) == 24);
static_assert(VSLICE_HDR_CRC_LEN == 36);
static_assert(VSLICE_STREAM_UNIT_MAX == 16 + 16 + 64 * 4096);

/**
 * vslice_crc32c - update a CRC32C register with a buffer
 * @crc:	register value; ~0 to start a checksum
 * @buf:	data
 * @len:	bytes of @buf
 *
 * The register is neither pre- nor post-inverted, like the kernel's
 * crc32c(), which does the work: the checksum of a buffer is
 * vslice_crc32c(~0, buf, len) ^ ~0.
 *
 * Return: the updated register.
 */
u32 vslice_crc32c(u32 crc, const void *buf, size_t len)
{
	/* crc32c() takes an unsigned int length; units are far smaller */
	while (len > VSLICE_CRC_CHUNK) {
		crc = crc32c(crc, buf, VSLICE_CRC_CHUNK);
		buf = (const u8 *)buf + VSLICE_CRC_CHUNK;
		len -= VSLICE_CRC_CHUNK;
	}
	return crc32c(crc, buf, len);
}

static u32 vslice_crc32c_sum(const void *buf, size_t len)
{
	return vslice_crc32c(VSLICE_CRC_SEED, buf, len) ^ VSLICE_CRC_SEED;
}

/*
 * The exact payload length a section of @type may have in a stream of
 * minor version @minor; for VRAM, any whole number of pages from 1 to
 * VSLICE_STREAM_MAX_RUN.
 */
static int vslice_sec_len_check(u32 type, u32 len, unsigned int minor)
{
	const u32 run = sizeof(struct vslice_stream_vram);

	switch (type) {
	case VSLICE_SEC_VRAM:
		if (len < run + VSLICE_STREAM_PAGE_SIZE ||
		    len > VSLICE_STREAM_UNIT_MAX - VSLICE_STREAM_SEC_SIZE ||
		    (len - run) % VSLICE_STREAM_PAGE_SIZE)
			return -EINVAL;
		return 0;
	case VSLICE_SEC_VRAM_ZERO:
		return len == run ? 0 : -EINVAL;
	case VSLICE_SEC_HW:
		return len == vslice_stream_hw_len(minor) ? 0 : -EINVAL;
	case VSLICE_SEC_END:
		return len == sizeof(struct vslice_stream_end) ? 0 : -EINVAL;
	default:
		return -EINVAL;
	}
}

/* ---- encoder ---- */

/**
 * vslice_enc_init - start encoding a stream
 * @e:		encoder state
 */
void vslice_enc_init(struct vslice_enc *e)
{
	e->crc = VSLICE_CRC_SEED;
	e->bytes = 0;
	e->seq = 0;
	e->minor = VSLICE_STREAM_VERSION_MINOR;
}

/**
 * vslice_enc_hdr - write the stream header
 * @e:		encoder state, just initialised
 * @out:	VSLICE_STREAM_HDR_SIZE bytes
 * @type_id:	the source instance's mdev type id
 * @vram_size:	its VRAM size in bytes
 * @flags:	VSLICE_STREAM_F_*
 *
 * Return: VSLICE_STREAM_HDR_SIZE.
 */
size_t vslice_enc_hdr(struct vslice_enc *e, void *out, u32 type_id,
		      u64 vram_size, u32 flags)
{
	struct vslice_stream_hdr *h = out;

	memset(h, 0, sizeof(*h));
	h->magic = cpu_to_le64(VSLICE_STREAM_MAGIC);
	h->major = cpu_to_le16(VSLICE_STREAM_VERSION_MAJOR);
	h->minor = cpu_to_le16(e->minor);
	h->type_id = cpu_to_le32(type_id);
	h->flags = cpu_to_le32(flags);
	h->vram_size = cpu_to_le64(vram_size);
	h->page_size = cpu_to_le32(VSLICE_STREAM_PAGE_SIZE);
	h->hdr_crc = cpu_to_le32(vslice_crc32c_sum(h, VSLICE_HDR_CRC_LEN));
	e->crc = vslice_crc32c(e->crc, h, sizeof(*h));
	e->bytes += sizeof(*h);
	return sizeof(*h);
}

/* Fill a section header whose payload checksum is @crc; count it. */
static size_t vslice_enc_frame(struct vslice_enc *e, void *sec, u32 type,
			       u32 len, u32 crc)
{
	struct vslice_stream_sec *s = sec;

	s->type = cpu_to_le32(type);
	s->len = cpu_to_le32(len);
	s->crc = cpu_to_le32(crc);
	s->seq = cpu_to_le32(e->seq++);
	e->crc = vslice_crc32c(e->crc, s, sizeof(*s));
	e->bytes += sizeof(*s) + len;
	return sizeof(*s) + len;
}

/**
 * vslice_enc_seal - frame a section whose payload is already in place
 * @e:		encoder state
 * @sec:	the section: VSLICE_STREAM_SEC_SIZE bytes for its header,
 *		followed by the @len payload bytes the caller wrote
 * @type:	VSLICE_SEC_VRAM, VSLICE_SEC_VRAM_ZERO or VSLICE_SEC_HW
 * @len:	payload length, exactly as the format requires for @type
 *		(HW: in a stream of @e->minor)
 *
 * Fills the section header (type, len, payload CRC, sequence number) and
 * adds it to the chained stream checksum.  END is written by
 * vslice_enc_end() instead.
 *
 * Return: bytes of the section (VSLICE_STREAM_SEC_SIZE + @len), or 0 if
 * @type is END or unknown or @len is not valid for it (nothing written).
 */
size_t vslice_enc_seal(struct vslice_enc *e, void *sec, u32 type, u32 len)
{
	if (type == VSLICE_SEC_END || vslice_sec_len_check(type, len, e->minor))
		return 0;
	return vslice_enc_frame(e, sec, type, len,
				vslice_crc32c_sum(vslice_sec_payload(sec), len));
}

static size_t vslice_enc_run(struct vslice_enc *e, void *sec, u32 type,
			     u64 first, u32 count)
{
	struct vslice_stream_vram *v = vslice_sec_payload(sec);
	u32 len = sizeof(*v);

	if (!count || count > VSLICE_STREAM_MAX_RUN)
		return 0;
	if (type == VSLICE_SEC_VRAM)
		len += count * VSLICE_STREAM_PAGE_SIZE;
	v->first = cpu_to_le64(first);
	v->count = cpu_to_le32(count);
	v->reserved = 0;
	return vslice_enc_seal(e, sec, type, len);
}

/**
 * vslice_enc_vram - frame a VRAM section
 * @e:		encoder state
 * @sec:	the section; the caller wrote @count pages at
 *		vslice_sec_pages(@sec)
 * @first:	index of the first page
 * @count:	1..VSLICE_STREAM_MAX_RUN pages
 *
 * Return: bytes of the section, or 0 if @count is out of range.
 */
size_t vslice_enc_vram(struct vslice_enc *e, void *sec, u64 first,
		       u32 count)
{
	return vslice_enc_run(e, sec, VSLICE_SEC_VRAM, first, count);
}

/**
 * vslice_enc_vram_begin - start a VRAM section whose pages stay elsewhere
 * @sec:	VSLICE_STREAM_SEC_SIZE + sizeof(struct vslice_stream_vram)
 *		bytes: the section header and the run header
 * @first:	index of the first page
 * @count:	1..VSLICE_STREAM_MAX_RUN pages
 *
 * For a caller that sends the pages from where they are rather than from
 * a copy behind @sec: it writes the run header, then the caller chains
 * the returned register through vslice_crc32c() over the @count pages in
 * order and frames the section with vslice_enc_vram_end().
 *
 * Return: the CRC32C register after the run header.  A @count out of
 * range makes vslice_enc_vram_end() refuse the section.
 */
u32 vslice_enc_vram_begin(void *sec, u64 first, u32 count)
{
	struct vslice_stream_vram *v = vslice_sec_payload(sec);

	v->first = cpu_to_le64(first);
	v->count = cpu_to_le32(count);
	v->reserved = 0;
	return vslice_crc32c(VSLICE_CRC_SEED, v, sizeof(*v));
}

/**
 * vslice_enc_vram_end - frame a VRAM section begun with vslice_enc_vram_begin()
 * @e:		encoder state
 * @sec:	the section header and run header
 * @crc:	the register vslice_enc_vram_begin() returned, chained over
 *		the section's pages
 *
 * Return: bytes of the whole section (headers and pages); only the first
 * VSLICE_STREAM_SEC_SIZE + sizeof(struct vslice_stream_vram) are in @sec.
 * 0 if the run header is not one vslice_enc_vram_begin() accepted.
 */
size_t vslice_enc_vram_end(struct vslice_enc *e, void *sec, u32 crc)
{
	const struct vslice_stream_vram *v = vslice_sec_payload(sec);
	u32 count = le32_to_cpu(v->count);

	if (!count || count > VSLICE_STREAM_MAX_RUN)
		return 0;
	return vslice_enc_frame(e, sec, VSLICE_SEC_VRAM,
				sizeof(*v) + count * VSLICE_STREAM_PAGE_SIZE,
				crc ^ VSLICE_CRC_SEED);
}

/*
 * Ask for every cache line of a VRAM page before summing it.  The x86
 * CRC32C that the module runs on 6.1 and 6.12 on every CPU (crc32c-intel's
 * crc_pcl()), and from 6.15 on CPUs without a good AVX-512
 * (crc32c_x86_3way()), is the algorithm of ISA-L's crc32_iscsi_01(): it
 * reads a page as three interleaved streams, each a third of the page, to
 * keep three crc32 instructions in flight.  From memory, a page read that
 * way is slow: codec_bench --crc=01 sums pages (one call each) at about
 * 5 GB/s, the same code over one large buffer at 25 GB/s, on an AMD EPYC
 * (Zen 4); streams that short apparently end before the hardware
 * prefetchers pick them up.  With the lines requested first: 20 GB/s.
 * CRC code that reads a page in order (ISA-L's AVX-512
 * crc32_iscsi_by16_10) gains a little (25 -> 26-27 GB/s).
 *
 * Not prefetch(): x86 makes that prefetchnta, which on some CPUs fills L1
 * alone, and the reader copies the run after all of it has been summed,
 * from L2 (256 KiB).  __builtin_prefetch() with its defaults is
 * prefetcht0, into every level.
 */
static void vslice_prefetch_page(const void *page)
{
	const u8 *p = page;
	size_t off;

	for (off = 0; off < VSLICE_STREAM_PAGE_SIZE; off += L1_CACHE_BYTES)
		__builtin_prefetch(p + off);
}

/**
 * vslice_enc_vram_pages - frame a VRAM section whose pages stay where they are
 * @e:		encoder state
 * @sec:	VSLICE_STREAM_SEC_SIZE + sizeof(struct vslice_stream_vram)
 *		bytes: the section header and the run header
 * @first:	index of the first page
 * @count:	1..VSLICE_STREAM_MAX_RUN pages
 * @pages:	@count pointers, each to VSLICE_STREAM_PAGE_SIZE bytes
 *
 * vslice_enc_vram_begin(), the CRC32C over the pages in order (one read of
 * each, every page's lines requested before it is summed; the caller's
 * copy that follows finds the run in cache), then vslice_enc_vram_end().
 *
 * Return: bytes of the whole section (headers and pages), 0 if @count is
 * out of range.
 */
size_t vslice_enc_vram_pages(struct vslice_enc *e, void *sec, u64 first,
			     u32 count, const void *const *pages)
{
	u32 crc = vslice_enc_vram_begin(sec, first, count);
	u32 i;

	if (!count || count > VSLICE_STREAM_MAX_RUN)
		return 0;
	for (i = 0; i < count; i++) {
		vslice_prefetch_page(pages[i]);
		crc = vslice_crc32c(crc, pages[i], VSLICE_STREAM_PAGE_SIZE);
	}
	return vslice_enc_vram_end(e, sec, crc);
}

#ifndef __KERNEL__
/*
 * The module never frames VRAM_ZERO (a page it never allocated goes out as
 * zeros in a VRAM run); the encoder of the tests, the fuzzer and
 * codec_bench does, so it builds in userspace only.
 */
/**
 * vslice_enc_vram_zero - frame a VRAM_ZERO section
 * @e:		encoder state
 * @sec:	VSLICE_STREAM_SEC_SIZE + sizeof(struct vslice_stream_vram)
 *		bytes
 * @first:	index of the first page
 * @count:	1..VSLICE_STREAM_MAX_RUN pages
 *
 * Return: bytes of the section, or 0 if @count is out of range.
 */
size_t vslice_enc_vram_zero(struct vslice_enc *e, void *sec, u64 first,
			    u32 count)
{
	return vslice_enc_run(e, sec, VSLICE_SEC_VRAM_ZERO, first, count);
}
#endif /* !__KERNEL__ */

/**
 * vslice_enc_hw - frame the HW section
 * @e:		encoder state
 * @sec:	the section; the caller filled the struct vslice_stream_hw at
 *		vslice_sec_payload(@sec) and, when @e->minor is 1 or more,
 *		the struct vslice_stream_plane at vslice_sec_plane(@sec),
 *		reserved fields zero
 *
 * Return: bytes of the section.
 */
size_t vslice_enc_hw(struct vslice_enc *e, void *sec)
{
	return vslice_enc_seal(e, sec, VSLICE_SEC_HW,
			       vslice_stream_hw_len(e->minor));
}

/**
 * vslice_enc_end - write the END section
 * @e:		encoder state; the stream ends here
 * @out:	VSLICE_STREAM_END_SIZE bytes
 *
 * Return: VSLICE_STREAM_END_SIZE.
 */
size_t vslice_enc_end(struct vslice_enc *e, void *out)
{
	struct vslice_stream_sec *s = out;
	struct vslice_stream_end *end = vslice_sec_payload(out);

	memset(end, 0, sizeof(*end));
	end->nr_sections = cpu_to_le32(e->seq);
	end->total_bytes = cpu_to_le64(e->bytes);
	end->stream_crc = cpu_to_le32(e->crc ^ VSLICE_CRC_SEED);
	s->type = cpu_to_le32(VSLICE_SEC_END);
	s->len = cpu_to_le32(sizeof(*end));
	s->crc = cpu_to_le32(vslice_crc32c_sum(end, sizeof(*end)));
	s->seq = cpu_to_le32(e->seq);
	return VSLICE_STREAM_END_SIZE;
}

/* ---- decoder ---- */

static int vslice_ld_fail(struct vslice_loader *l, int err)
{
	l->err = err;
	return err;
}

/* Expect a unit of @need bytes next. */
static void vslice_ld_expect(struct vslice_loader *l,
			     enum vslice_loader_phase phase, u32 need)
{
	l->phase = phase;
	l->need = need;
	l->fill = 0;
	l->direct = false;
	l->dst = NULL;
}

/*
 * Offset in the unit buffer where a VRAM section's pages start: the
 * section header, then the run header (first, count).
 */
#define VSLICE_LD_PAGES_AT	(VSLICE_STREAM_SEC_SIZE + \
				 sizeof(struct vslice_stream_vram))

/*
 * Does the section being collected land its pages at ops->vram_dst()?
 * Decided once its run header is in: only when the callback exists and
 * the run header is one vslice_ld_run() will accept, so that a damaged
 * section is collected in the buffer as before and refused with the same
 * errno, in the same order (checksum first).  The CRC of the payload is
 * then kept page by page as the pages complete (vslice_loader_commit()).
 */
static void vslice_ld_try_direct(struct vslice_loader *l)
{
	const struct vslice_stream_sec *s = (const void *)l->buf;
	const struct vslice_stream_vram *v = vslice_sec_payload(l->buf);
	u64 first = le64_to_cpu(v->first);
	u32 count = le32_to_cpu(v->count);
	u64 last;

	if (le32_to_cpu(s->type) != VSLICE_SEC_VRAM || v->reserved ||
	    !count || count > VSLICE_STREAM_MAX_RUN ||
	    le32_to_cpu(s->len) != sizeof(*v) +
				   count * VSLICE_STREAM_PAGE_SIZE ||
	    check_add_overflow(first, (u64)count, &last) || last > l->npages)
		return;
	l->direct = true;
	l->run_first = first;
	l->pcrc = vslice_crc32c(VSLICE_CRC_SEED, v, sizeof(*v));
}

static int vslice_ld_hdr(struct vslice_loader *l)
{
	const struct vslice_stream_hdr *h = (const void *)l->buf;
	u32 crc = vslice_crc32c_sum(h, VSLICE_HDR_CRC_LEN);

	if (le64_to_cpu(h->magic) != VSLICE_STREAM_MAGIC)
		return -EINVAL;
	if (le32_to_cpu(h->hdr_crc) != crc)
		return -EBADMSG;
	if (le16_to_cpu(h->major) != VSLICE_STREAM_VERSION_MAJOR ||
	    le16_to_cpu(h->minor) > VSLICE_STREAM_VERSION_MINOR)
		return -EPROTONOSUPPORT;
	if (h->reserved)
		return -EINVAL;
	if ((le32_to_cpu(h->flags) & ~VSLICE_STREAM_F_KNOWN) ||
	    le32_to_cpu(h->page_size) != VSLICE_STREAM_PAGE_SIZE ||
	    le32_to_cpu(h->type_id) != l->type_id ||
	    le64_to_cpu(h->vram_size) != l->vram_size)
		return -EOPNOTSUPP;
	l->minor = le16_to_cpu(h->minor);
	return l->ops->hdr ? l->ops->hdr(l->ctx, h) : 0;
}

/* A section header: check what it alone can tell, then await the payload. */
static int vslice_ld_sec(struct vslice_loader *l)
{
	const struct vslice_stream_sec *s = (const void *)l->buf;
	u32 type = le32_to_cpu(s->type);
	u32 len = le32_to_cpu(s->len);

	if (vslice_sec_len_check(type, len, l->minor))
		return -EINVAL;
	if (le32_to_cpu(s->seq) != l->seq)
		return -EINVAL;
	/* nr_sections must stay representable; a second HW is ambiguous */
	if (type != VSLICE_SEC_END && l->seq == U32_MAX)
		return -EINVAL;
	if (type == VSLICE_SEC_HW && l->hw_seen)
		return -EINVAL;
	/* the payload follows the header in the buffer: keep @fill */
	l->phase = VSLICE_LD_PAYLOAD;
	l->need = sizeof(*s) + len;
	return 0;
}

/* A VRAM or VRAM_ZERO payload, checksum already verified. */
static int vslice_ld_run(struct vslice_loader *l, u32 type, u32 len)
{
	const struct vslice_stream_vram *v = vslice_sec_payload(l->buf);
	u64 first = le64_to_cpu(v->first);
	u32 count = le32_to_cpu(v->count);
	u64 last;

	if (v->reserved || !count || count > VSLICE_STREAM_MAX_RUN)
		return -EINVAL;
	if (type == VSLICE_SEC_VRAM &&
	    len != sizeof(*v) + count * VSLICE_STREAM_PAGE_SIZE)
		return -EINVAL;
	if (check_add_overflow(first, (u64)count, &last) || last > l->npages)
		return -EINVAL;
	if (type == VSLICE_SEC_VRAM_ZERO)
		return l->ops->vram_zero ?
		       l->ops->vram_zero(l->ctx, first, count) : 0;
	return l->ops->vram ?
	       l->ops->vram(l->ctx, first, count,
			    l->direct ? NULL : vslice_sec_pages(l->buf)) : 0;
}

static int vslice_ld_hw(struct vslice_loader *l)
{
	const struct vslice_stream_hw *hw = vslice_sec_payload(l->buf);
	const struct vslice_stream_plane *plane = NULL;

	if (memchr_inv(hw->reserved, 0, sizeof(hw->reserved)))
		return -EINVAL;
	if (l->minor >= 1) {
		plane = vslice_sec_plane(l->buf);
		if (plane->reserved)
			return -EINVAL;
	}
	l->hw_seen = true;
	return l->ops->hw ? l->ops->hw(l->ctx, hw, plane) : 0;
}

static int vslice_ld_end(struct vslice_loader *l)
{
	const struct vslice_stream_end *end = vslice_sec_payload(l->buf);

	if (end->reserved || end->reserved2)
		return -EINVAL;
	if (!l->hw_seen || le32_to_cpu(end->nr_sections) != l->seq ||
	    le64_to_cpu(end->total_bytes) != l->bytes)
		return -EINVAL;
	if (le32_to_cpu(end->stream_crc) != (l->crc ^ VSLICE_CRC_SEED))
		return -EBADMSG;
	return l->ops->end ? l->ops->end(l->ctx) : 0;
}

/* A whole section is in the buffer. */
static int vslice_ld_payload(struct vslice_loader *l)
{
	const struct vslice_stream_sec *s = (const void *)l->buf;
	u32 type = le32_to_cpu(s->type);
	u32 len = le32_to_cpu(s->len);
	u64 bytes;
	u32 crc;
	int ret;

	if (l->direct)
		crc = l->pcrc ^ VSLICE_CRC_SEED;
	else
		crc = vslice_crc32c_sum(vslice_sec_payload(l->buf), len);
	if (le32_to_cpu(s->crc) != crc)
		return -EBADMSG;
	if (check_add_overflow(l->bytes, (u64)l->need, &bytes))
		return -EINVAL;

	switch (type) {
	case VSLICE_SEC_VRAM:
	case VSLICE_SEC_VRAM_ZERO:
		ret = vslice_ld_run(l, type, len);
		break;
	case VSLICE_SEC_HW:
		ret = vslice_ld_hw(l);
		break;
	default: /* VSLICE_SEC_END, vslice_ld_sec() allowed nothing else */
		ret = vslice_ld_end(l);
		if (!ret)
			vslice_ld_expect(l, VSLICE_LD_DONE, 0);
		return ret;
	}
	if (ret)
		return ret;

	l->crc = vslice_crc32c(l->crc, s, sizeof(*s));
	l->bytes = bytes;
	l->seq++;
	vslice_ld_expect(l, VSLICE_LD_SEC, sizeof(*s));
	return 0;
}

/**
 * vslice_loader_init - prepare to decode a stream
 * @l:		decoder state
 * @ops:	callbacks for the valid units
 * @ctx:	first argument of the callbacks
 * @buf:	VSLICE_STREAM_UNIT_MAX bytes, 8-byte aligned, owned by the
 *		caller and used until the decoder is discarded
 * @type_id:	the destination's mdev type id; the stream's must match
 * @vram_size:	the destination's VRAM size; the stream's must match
 */
void vslice_loader_init(struct vslice_loader *l,
			const struct vslice_loader_ops *ops, void *ctx,
			void *buf, u32 type_id, u64 vram_size)
{
	memset(l, 0, sizeof(*l));
	l->ops = ops;
	l->ctx = ctx;
	l->buf = buf;
	l->type_id = type_id;
	l->vram_size = vram_size;
	l->npages = vram_size / VSLICE_STREAM_PAGE_SIZE;
	l->crc = VSLICE_CRC_SEED;
	vslice_ld_expect(l, VSLICE_LD_HDR, VSLICE_STREAM_HDR_SIZE);
}

/**
 * vslice_loader_window - where the decoder wants the next input bytes
 * @l:		decoder state
 * @dst:	set to the destination of the bytes
 * @avail:	bytes the caller has ready to deliver (> 0)
 *
 * For callers that copy input straight into the decoder's buffer (e.g.
 * with copy_from_user()): copy at most the returned count to *@dst, then
 * call vslice_loader_commit().  vslice_loader_feed() does both.
 *
 * Return: how many of the @avail bytes to copy (1..@avail), 0 if @avail
 * is 0, -EINVAL if the stream is already complete (bytes after END), or
 * the sticky error.
 */
ssize_t vslice_loader_window(struct vslice_loader *l, void **dst,
			     size_t avail)
{
	u32 room = l->need - l->fill;
	u32 at, off;

	*dst = l->buf + l->fill;
	if (l->err)
		return l->err;
	if (!avail)
		return 0;
	if (l->phase == VSLICE_LD_DONE)
		return vslice_ld_fail(l, -EINVAL);
	if (l->direct) {
		/* a page of a VRAM run: straight to where ops->vram_dst says */
		at = l->fill - VSLICE_LD_PAGES_AT;
		off = at % VSLICE_STREAM_PAGE_SIZE;
		if (!l->dst) {
			l->dst = l->ops->vram_dst(l->ctx, l->run_first +
						  at / VSLICE_STREAM_PAGE_SIZE);
			if (!l->dst)
				return vslice_ld_fail(l, -ENOMEM);
		}
		*dst = l->dst + off;
		room = VSLICE_STREAM_PAGE_SIZE - off;
	} else if (l->phase == VSLICE_LD_PAYLOAD && l->ops->vram_dst &&
		   l->fill < VSLICE_LD_PAGES_AT) {
		/* stop after the run header: vslice_ld_try_direct() */
		if (room > VSLICE_LD_PAGES_AT - l->fill)
			room = VSLICE_LD_PAGES_AT - l->fill;
	}
	return avail < room ? avail : room;
}

/**
 * vslice_loader_commit - account for bytes copied into the window
 * @l:		decoder state
 * @n:		bytes copied, at most what vslice_loader_window() returned
 *
 * When a unit is complete it is validated and handed to its callback.
 *
 * Return: 0, -EINVAL if @n exceeds the window, or the sticky error.
 */
int vslice_loader_commit(struct vslice_loader *l, size_t n)
{
	int ret;

	if (l->err)
		return l->err;
	if (!n)
		return 0;
	if (l->phase == VSLICE_LD_DONE || n > l->need - l->fill)
		return vslice_ld_fail(l, -EINVAL);
	if (l->direct) {
		u32 off = (l->fill - VSLICE_LD_PAGES_AT) %
			  VSLICE_STREAM_PAGE_SIZE;

		if (!l->dst || n > VSLICE_STREAM_PAGE_SIZE - off)
			return vslice_ld_fail(l, -EINVAL);
		l->fill += n;
		if (off + n == VSLICE_STREAM_PAGE_SIZE) {
			/* the page is whole and still in cache: sum it now */
			l->pcrc = vslice_crc32c(l->pcrc, l->dst,
						VSLICE_STREAM_PAGE_SIZE);
			l->dst = NULL;
		}
	} else {
		l->fill += n;
	}
	if (l->fill < l->need) {
		if (l->phase == VSLICE_LD_PAYLOAD && l->ops->vram_dst &&
		    l->fill == VSLICE_LD_PAGES_AT)
			vslice_ld_try_direct(l);
		return 0;
	}

	switch (l->phase) {
	case VSLICE_LD_HDR:
		ret = vslice_ld_hdr(l);
		if (ret)
			break;
		l->crc = vslice_crc32c(l->crc, l->buf, VSLICE_STREAM_HDR_SIZE);
		l->bytes = VSLICE_STREAM_HDR_SIZE;
		vslice_ld_expect(l, VSLICE_LD_SEC, VSLICE_STREAM_SEC_SIZE);
		break;
	case VSLICE_LD_SEC:
		ret = vslice_ld_sec(l);
		break;
	default: /* VSLICE_LD_PAYLOAD */
		ret = vslice_ld_payload(l);
		break;
	}
	return ret ? vslice_ld_fail(l, ret) : 0;
}

#ifndef __KERNEL__
/*
 * Userspace only: the module copies straight into the decoder's window
 * (vslice_loader_window(), vslice_loader_commit()) and asks
 * vslice_loader_finish(); the tests, the fuzzer and codec_bench feed
 * buffers and poll for completion.
 */
/**
 * vslice_loader_feed - decode the next bytes of a stream
 * @l:		decoder state
 * @data:	bytes
 * @len:	their count, any split of the stream down to 1 byte
 *
 * Every unit completed by these bytes is validated and handed to its
 * callback before the next one is looked at.
 *
 * Return: @len, or a negative errno (see stream.h).  The first error is
 * sticky: every later call returns it again.
 */
ssize_t vslice_loader_feed(struct vslice_loader *l, const void *data,
			   size_t len)
{
	const u8 *p = data;
	size_t left = len;
	ssize_t room;
	void *dst;
	int ret;

	if (len > SSIZE_MAX)
		return vslice_ld_fail(l, -EINVAL);
	while (left) {
		room = vslice_loader_window(l, &dst, left);
		if (room < 0)
			return room;
		memcpy(dst, p, room);
		ret = vslice_loader_commit(l, room);
		if (ret)
			return ret;
		p += room;
		left -= room;
	}
	return l->err ? l->err : (ssize_t)len;
}

/**
 * vslice_loader_complete - has a valid END been decoded?
 * @l:		decoder state
 *
 * Return: true once the END section passed its checks and callback.
 */
bool vslice_loader_complete(const struct vslice_loader *l)
{
	return !l->err && l->phase == VSLICE_LD_DONE;
}
#endif /* !__KERNEL__ */

/**
 * vslice_loader_finish - the input has ended: was the stream whole?
 * @l:		decoder state
 *
 * Return: 0 if a valid END was decoded, the sticky error if there is one,
 * else -ENODATA (the stream is truncated).  Does not change @l.
 */
int vslice_loader_finish(const struct vslice_loader *l)
{
	if (l->err)
		return l->err;
	return l->phase == VSLICE_LD_DONE ? 0 : -ENODATA;
}
