// SPDX-License-Identifier: GPL-2.0
/*
 * stream_test - unit tests of the migration stream codec, mdev/stream.c
 * built in userspace: CRC32C, encoder layout, round trips under every
 * split, and each decoder errno.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kselftest_harness.h"

#include <asm/byteorder.h>

#include "streamgen.h"
#include "../golden/golden.h"

#ifndef GOLDEN_DIR
#define GOLDEN_DIR "../golden"
#endif

#define TYPE_ID		2
#define NPAGES		96	/* runs above 64 pages get split */
#define VRAM_SIZE	((u64)NPAGES * SG_PAGE)
#define MAX_EV		SG_MAX_UNITS

static const struct sg_opts std_opts = {
	.rounds = 8,
	.max_run = 80,
	.zero_runs = true,
	.flags = VSLICE_STREAM_F_ZERO_ELISION,
};

/* Decode a whole buffer; the stream's final verdict (0 or errno). */
static int verdict(const struct sg_result *r)
{
	return r->feed_err ? r->feed_err : r->finish;
}

static int decode(const u8 *data, size_t len, struct sg_sink *k)
{
	struct sg_result r = sg_decode(data, len, TYPE_ID, VRAM_SIZE, k,
				       NULL, 0);

	return verdict(&r);
}

/* Index of the @nth unit of @type (0 = header) in @s, or -1. */
static int unit_of(const struct sg_stream *s, u32 type, int nth)
{
	unsigned int i;

	for (i = 0; i < s->nr_units; i++)
		if (s->unit_type[i] == type && nth-- == 0)
			return i;
	return -1;
}

static void put32(u8 *p, u32 v)
{
	memcpy(p, &(__le32){ __cpu_to_le32(v) }, 4);
}

static void put64(u8 *p, u64 v)
{
	memcpy(p, &(__le64){ __cpu_to_le64(v) }, 8);
}

static u32 get32(const u8 *p)
{
	__le32 v;

	memcpy(&v, p, 4);
	return __le32_to_cpu(v);
}

/* ---- CRC32C ---- */

static u32 crc_sum(const void *p, size_t n)
{
	return vslice_crc32c(~0u, p, n) ^ ~0u;
}

TEST(crc32c_known_vectors)
{
	u8 b[32];
	int i;

	EXPECT_EQ(0xe3069283u, crc_sum("123456789", 9));
	EXPECT_EQ(0u, crc_sum("", 0));
	/* RFC 3720 B.4 */
	memset(b, 0, sizeof(b));
	EXPECT_EQ(0x8a9136aau, crc_sum(b, 32));
	memset(b, 0xff, sizeof(b));
	EXPECT_EQ(0x62a8ab43u, crc_sum(b, 32));
	for (i = 0; i < 32; i++)
		b[i] = i;
	EXPECT_EQ(0x46dd794eu, crc_sum(b, 32));
	for (i = 0; i < 32; i++)
		b[i] = 31 - i;
	EXPECT_EQ(0x113fdb5cu, crc_sum(b, 32));
}

TEST(crc32c_matches_bitwise_any_length_alignment_and_chaining)
{
	u64 seed = 1;
	u8 buf[600];
	size_t off, len, cut;

	for (off = 0; off < sizeof(buf); off++)
		buf[off] = sg_rand(&seed);
	for (off = 0; off < 8; off++)
		for (len = 0; len + off <= sizeof(buf); len += 1 + len / 16)
			ASSERT_EQ(sg_crc32c_bitwise(~0u, buf + off, len),
				  vslice_crc32c(~0u, buf + off, len))
				TH_LOG("off %zu len %zu", off, len);
	for (cut = 0; cut <= 100; cut++)
		ASSERT_EQ(vslice_crc32c(~0u, buf, 100),
			  vslice_crc32c(vslice_crc32c(~0u, buf, cut),
					buf + cut, 100 - cut));
}

/* ---- encoder ---- */

TEST(encoder_header_layout)
{
	struct vslice_stream_hdr h;
	struct vslice_enc e;
	u8 *p = (u8 *)&h;

	vslice_enc_init(&e);
	ASSERT_EQ(40u, vslice_enc_hdr(&e, &h, 3, 512ull << 20, 1));
	EXPECT_EQ(0, memcmp(p, "VSLSMIGM", 8));
	EXPECT_EQ(VSLICE_STREAM_VERSION_MAJOR, p[8] | p[9] << 8);
	EXPECT_EQ(VSLICE_STREAM_VERSION_MINOR, p[10] | p[11] << 8);
	EXPECT_EQ(3u, get32(p + 12));
	EXPECT_EQ(1u, get32(p + 16));
	EXPECT_EQ(0u, get32(p + 20));
	EXPECT_EQ(512u << 20, get32(p + 24));
	EXPECT_EQ(0u, get32(p + 28));
	EXPECT_EQ(4096u, get32(p + 32));
	EXPECT_EQ(sg_crc32c_bitwise(~0u, p, 36) ^ ~0u, get32(p + 36));
	EXPECT_EQ(40u, e.bytes);
	EXPECT_EQ(0u, e.seq);
	EXPECT_EQ(sg_crc32c_bitwise(~0u, p, 40), e.crc);
}

TEST(encoder_end_chains_header_and_section_headers_only)
{
	static u8 out[3 * VSLICE_STREAM_UNIT_MAX];
	struct vslice_enc e;
	u32 chain;
	size_t off = 0, hw_off, end_off;

	vslice_enc_init(&e);
	off += vslice_enc_hdr(&e, out, TYPE_ID, VRAM_SIZE, 0);
	memset(vslice_sec_pages(out + off), 0xa5, 2 * SG_PAGE);
	off += vslice_enc_vram(&e, out + off, 5, 2);
	hw_off = off;
	memset(vslice_sec_payload(out + off), 0,
	       vslice_stream_hw_len(e.minor));
	off += vslice_enc_hw(&e, out + off);
	end_off = off;
	ASSERT_EQ(VSLICE_STREAM_END_SIZE, vslice_enc_end(&e, out + off));

	chain = sg_crc32c_bitwise(~0u, out, 40);
	chain = sg_crc32c_bitwise(chain, out + 40, 16);
	chain = sg_crc32c_bitwise(chain, out + hw_off, 16);
	EXPECT_EQ((u32)VSLICE_SEC_END, get32(out + end_off));
	EXPECT_EQ(24u, get32(out + end_off + 4));
	EXPECT_EQ(2u, get32(out + end_off + 12));	/* seq */
	EXPECT_EQ(2u, get32(out + end_off + 16));	/* nr_sections */
	EXPECT_EQ(end_off, get32(out + end_off + 24));	/* total_bytes */
	EXPECT_EQ(chain ^ ~0u, get32(out + end_off + 32));
	EXPECT_EQ(sg_crc32c_bitwise(~0u, out + end_off + 16, 24) ^ ~0u,
		  get32(out + end_off + 8));
	/* the VRAM section header: type, len, payload crc, seq */
	EXPECT_EQ((u32)VSLICE_SEC_VRAM, get32(out + 40));
	EXPECT_EQ(16u + 2 * SG_PAGE, get32(out + 44));
	EXPECT_EQ(sg_crc32c_bitwise(~0u, out + 56, 16 + 2 * SG_PAGE) ^ ~0u,
		  get32(out + 48));
	EXPECT_EQ(0u, get32(out + 52));
}

/*
 * A VRAM section framed with begin/end over pages kept elsewhere (the
 * module's stop-copy path) is byte for byte the one vslice_enc_vram()
 * frames from a contiguous copy, and so is the encoder's state after it.
 */
TEST(encoder_vram_begin_end_equals_vram)
{
	static u8 a[VSLICE_STREAM_UNIT_MAX], b[VSLICE_STREAM_UNIT_MAX];
	static u8 pages[3][SG_PAGE];
	struct vslice_enc ea, eb;
	u8 ha[VSLICE_STREAM_HDR_SIZE], hb[VSLICE_STREAM_HDR_SIZE];
	u32 crc, i;
	size_t la, lb;

	for (i = 0; i < sizeof(pages); i++)
		pages[i / SG_PAGE][i % SG_PAGE] = (u8)(i * 131 + 7);
	vslice_enc_init(&ea);
	vslice_enc_init(&eb);
	vslice_enc_hdr(&ea, ha, TYPE_ID, VRAM_SIZE, 0);
	vslice_enc_hdr(&eb, hb, TYPE_ID, VRAM_SIZE, 0);
	memcpy(vslice_sec_pages(a), pages, sizeof(pages));
	la = vslice_enc_vram(&ea, a, 40, 3);

	crc = vslice_enc_vram_begin(b, 40, 3);
	for (i = 0; i < 3; i++)
		crc = vslice_crc32c(crc, pages[i], SG_PAGE);
	lb = vslice_enc_vram_end(&eb, b, crc);
	EXPECT_EQ(la, lb);
	EXPECT_EQ(0, memcmp(a, b, VSLICE_STREAM_SEC_SIZE + 16));
	EXPECT_EQ(ea.crc, eb.crc);
	EXPECT_EQ(ea.bytes, eb.bytes);
	EXPECT_EQ(ea.seq, eb.seq);

	/* a count out of range is refused at the end, nothing counted */
	crc = vslice_enc_vram_begin(b, 0, VSLICE_STREAM_MAX_RUN + 1);
	EXPECT_EQ(0u, vslice_enc_vram_end(&eb, b, crc));
	crc = vslice_enc_vram_begin(b, 0, 0);
	EXPECT_EQ(0u, vslice_enc_vram_end(&eb, b, crc));
	EXPECT_EQ(ea.seq, eb.seq);
}

TEST(encoder_refuses_malformed_sections)
{
	static u8 sec[VSLICE_STREAM_UNIT_MAX];
	struct vslice_enc e;

	vslice_enc_init(&e);
	EXPECT_EQ(0u, vslice_enc_vram(&e, sec, 0, 0));
	EXPECT_EQ(0u, vslice_enc_vram(&e, sec, 0, VSLICE_STREAM_MAX_RUN + 1));
	EXPECT_EQ(0u, vslice_enc_vram_zero(&e, sec, 0, 0));
	EXPECT_EQ(0u, vslice_enc_seal(&e, sec, VSLICE_SEC_END, 24));
	EXPECT_EQ(0u, vslice_enc_seal(&e, sec, VSLICE_SEC_HW, 375));
	EXPECT_EQ(0u, vslice_enc_seal(&e, sec, VSLICE_SEC_VRAM, 16));
	EXPECT_EQ(0u, vslice_enc_seal(&e, sec, 7, 16));
	EXPECT_EQ(0u, e.seq);
	EXPECT_EQ(0u, e.bytes);
	EXPECT_EQ(16u + 16 + 64 * SG_PAGE,
		  vslice_enc_vram(&e, sec, 0, VSLICE_STREAM_MAX_RUN));
	EXPECT_EQ(1u, e.seq);
}

/* ---- a standard stream, decoded under various splits ---- */

FIXTURE(std) {
	struct sg_model src, dst;
	struct sg_stream s;
	struct sg_event ev0[MAX_EV];	/* events of a clean decode */
	unsigned int nr_ev0;
	struct sg_event ev[MAX_EV];
	struct sg_sink k;
};

FIXTURE_VARIANT(std) {
	unsigned int split;	/* 0: whole, ~0: random, else fixed */
	u64 seed;
};

FIXTURE_VARIANT_ADD(std, whole) { .split = 0, .seed = 11 };
FIXTURE_VARIANT_ADD(std, bytes1) { .split = 1, .seed = 12 };
FIXTURE_VARIANT_ADD(std, bytes7) { .split = 7, .seed = 13 };
FIXTURE_VARIANT_ADD(std, kib4) { .split = 4096, .seed = 14 };
FIXTURE_VARIANT_ADD(std, random) { .split = ~0u, .seed = 15 };

FIXTURE_SETUP(std)
{
	struct sg_sink k0;

	sg_model_init(&self->src, TYPE_ID, NPAGES);
	sg_model_init(&self->dst, TYPE_ID, NPAGES);
	sg_stream_init(&self->s);
	sg_build(&self->s, &self->src, variant->seed, &std_opts);
	sg_sink_init(&k0, NULL, self->ev0, MAX_EV);
	ASSERT_EQ(0, decode(self->s.data, self->s.len, &k0));
	self->nr_ev0 = k0.nr_ev;
	ASSERT_EQ(self->s.nr_units + 0u, self->nr_ev0);
	sg_sink_init(&self->k, &self->dst, self->ev, MAX_EV);
}

FIXTURE_TEARDOWN(std)
{
	sg_model_free(&self->src);
	sg_model_free(&self->dst);
	sg_stream_free(&self->s);
}

static unsigned int make_splits(size_t *splits, unsigned int max,
				unsigned int split, u64 seed)
{
	unsigned int i;

	if (!split)
		return 0;
	if (split != ~0u) {
		splits[0] = split;
		return 1;
	}
	for (i = 0; i < max; i++) {
		u64 r = sg_rand(&seed);

		/* mostly small, sometimes up to a few units */
		splits[i] = (r & 3) ? 1 + (r >> 8) % 64 :
				      1 + (r >> 8) % (3 * VSLICE_STREAM_UNIT_MAX);
	}
	return max;
}

TEST_F(std, round_trip_restores_vram_and_hw)
{
	size_t splits[257];
	unsigned int n = make_splits(splits, 257, variant->split,
				     variant->seed);
	struct sg_result r = sg_decode(self->s.data, self->s.len, TYPE_ID,
				       VRAM_SIZE, &self->k, splits, n);

	ASSERT_EQ(0, r.feed_err);
	ASSERT_EQ(0, r.finish);
	ASSERT_TRUE(r.complete);
	ASSERT_FALSE(self->k.bad);
	ASSERT_EQ(self->nr_ev0, self->k.nr_ev);
	EXPECT_EQ(0, memcmp(self->ev0, self->ev,
			    self->nr_ev0 * sizeof(self->ev[0])));
	EXPECT_EQ(SG_EV_HDR, self->ev[0].kind);
	EXPECT_EQ(SG_EV_END, self->ev[self->k.nr_ev - 1].kind);
	EXPECT_TRUE(sg_model_equal(&self->src, &self->dst));
}

TEST_F(std, window_and_commit_deliver_the_same)
{
	static u64 buf[VSLICE_STREAM_UNIT_MAX / 8];	/* 8-byte aligned */
	struct vslice_loader l;
	u64 seed = variant->seed;
	size_t off = 0;
	void *dst;

	vslice_loader_init(&l, &sg_sink_ops, &self->k, buf, TYPE_ID,
			   VRAM_SIZE);
	EXPECT_EQ(0, vslice_loader_window(&l, &dst, 0));
	EXPECT_EQ(0, vslice_loader_commit(&l, 0));
	while (off < self->s.len) {
		size_t avail = self->s.len - off;
		ssize_t room = vslice_loader_window(&l, &dst, avail);
		size_t n;

		ASSERT_GT(room, 0);
		ASSERT_LE((size_t)room, avail);
		n = 1 + sg_rand(&seed) % room;
		memcpy(dst, self->s.data + off, n);
		ASSERT_EQ(0, vslice_loader_commit(&l, n));
		off += n;
	}
	ASSERT_TRUE(vslice_loader_complete(&l));
	ASSERT_EQ(0, vslice_loader_finish(&l));
	EXPECT_TRUE(sg_model_equal(&self->src, &self->dst));
	/* complete: a further byte is an error, and sticky */
	EXPECT_EQ(0, vslice_loader_window(&l, &dst, 0));
	EXPECT_EQ(-EINVAL, vslice_loader_window(&l, &dst, 1));
	EXPECT_FALSE(vslice_loader_complete(&l));
	EXPECT_EQ(-EINVAL, vslice_loader_finish(&l));
}

TEST_F(std, commit_beyond_window_is_einval)
{
	static u64 buf[VSLICE_STREAM_UNIT_MAX / 8];	/* 8-byte aligned */
	struct vslice_loader l;
	void *dst;

	vslice_loader_init(&l, &sg_sink_ops, &self->k, buf, TYPE_ID,
			   VRAM_SIZE);
	ASSERT_EQ(40, vslice_loader_window(&l, &dst, 1000));
	EXPECT_EQ(-EINVAL, vslice_loader_commit(&l, 41));
	EXPECT_EQ(-EINVAL, vslice_loader_feed(&l, self->s.data, 40));
}

TEST_F(std, truncation_at_every_unit_boundary_is_enodata)
{
	size_t splits[1] = { 4096 };
	unsigned int u;

	for (u = 0; u < self->s.nr_units; u++) {
		size_t cut = self->s.unit_off[u];
		struct sg_result r;

		sg_sink_init(&self->k, NULL, self->ev, MAX_EV);
		r = sg_decode(self->s.data, cut, TYPE_ID, VRAM_SIZE, &self->k,
			      splits, variant->split ? 1 : 0);
		ASSERT_EQ(0, r.feed_err) TH_LOG("cut at unit %u", u);
		ASSERT_EQ(-ENODATA, r.finish) TH_LOG("cut at unit %u", u);
		ASSERT_FALSE(r.complete);
		ASSERT_EQ(u, self->k.nr_ev);	/* every unit before it */
		/* and one byte into the unit */
		sg_sink_init(&self->k, NULL, self->ev, MAX_EV);
		r = sg_decode(self->s.data, cut + 1, TYPE_ID, VRAM_SIZE,
			      &self->k, NULL, 0);
		ASSERT_EQ(-ENODATA, verdict(&r));
		ASSERT_EQ(u, self->k.nr_ev);
	}
}

TEST_F(std, empty_input_is_enodata)
{
	ASSERT_EQ(-ENODATA, decode(self->s.data, 0, &self->k));
	EXPECT_EQ(0u, self->k.nr_ev);
}

TEST_F(std, appended_garbage_is_einval)
{
	u8 *d = realloc(self->s.data, self->s.len + VSLICE_STREAM_END_SIZE);
	size_t extra;

	ASSERT_NE(NULL, d);
	self->s.data = d;
	for (extra = 1; extra <= 16; extra++) {
		memset(d + self->s.len, 0, extra);
		sg_sink_init(&self->k, NULL, self->ev, MAX_EV);
		ASSERT_EQ(-EINVAL, decode(d, self->s.len + extra, &self->k));
		EXPECT_EQ(self->nr_ev0, self->k.nr_ev);
	}
}

TEST_F(std, duplicate_end_is_einval)
{
	u8 *d = realloc(self->s.data, self->s.len + VSLICE_STREAM_END_SIZE);
	size_t end = self->s.unit_off[self->s.nr_units - 1];

	ASSERT_NE(NULL, d);
	self->s.data = d;
	memcpy(d + self->s.len, d + end, VSLICE_STREAM_END_SIZE);
	ASSERT_EQ(-EINVAL, decode(d, self->s.len + VSLICE_STREAM_END_SIZE,
				  &self->k));
}

TEST_F(std, garbage_in_a_later_feed_is_einval_and_sticky)
{
	static u64 buf[VSLICE_STREAM_UNIT_MAX / 8];	/* 8-byte aligned */
	struct vslice_loader l;

	vslice_loader_init(&l, &sg_sink_ops, &self->k, buf, TYPE_ID,
			   VRAM_SIZE);
	ASSERT_EQ((ssize_t)self->s.len,
		  vslice_loader_feed(&l, self->s.data, self->s.len));
	ASSERT_TRUE(vslice_loader_complete(&l));
	EXPECT_EQ(0, vslice_loader_feed(&l, self->s.data, 0));
	EXPECT_EQ(-EINVAL, vslice_loader_feed(&l, self->s.data, 1));
	EXPECT_FALSE(vslice_loader_complete(&l));
	EXPECT_EQ(-EINVAL, vslice_loader_finish(&l));
}

TEST_F(std, error_is_sticky)
{
	static u64 buf[VSLICE_STREAM_UNIT_MAX / 8];	/* 8-byte aligned */
	struct vslice_loader l;
	int bad = unit_of(&self->s, VSLICE_SEC_HW, 0);
	size_t off = self->s.unit_off[bad];
	void *dst;

	self->s.data[off + 16 + 3] ^= 0x10;	/* HW payload: crc fails */
	vslice_loader_init(&l, &sg_sink_ops, &self->k, buf, TYPE_ID,
			   VRAM_SIZE);
	ASSERT_EQ((ssize_t)off, vslice_loader_feed(&l, self->s.data, off));
	ASSERT_EQ(-EBADMSG, vslice_loader_feed(&l, self->s.data + off,
					       self->s.len - off));
	self->s.data[off + 16 + 3] ^= 0x10;	/* the good bytes now */
	EXPECT_EQ(-EBADMSG, vslice_loader_feed(&l, self->s.data + off,
					       self->s.len - off));
	EXPECT_EQ(-EBADMSG, vslice_loader_feed(&l, self->s.data, 0));
	EXPECT_EQ(-EBADMSG, vslice_loader_window(&l, &dst, 10));
	EXPECT_EQ(-EBADMSG, vslice_loader_commit(&l, 1));
	EXPECT_EQ(-EBADMSG, vslice_loader_finish(&l));
	EXPECT_FALSE(vslice_loader_complete(&l));
	EXPECT_EQ((unsigned int)bad, self->k.nr_ev);
}

TEST_F(std, callback_error_becomes_sticky_error)
{
	unsigned int at;

	for (at = 1; at <= self->nr_ev0; at++) {
		sg_sink_init(&self->k, NULL, self->ev, MAX_EV);
		self->k.fail_at = at;
		self->k.fail_err = -EIO - (int)at;
		ASSERT_EQ(self->k.fail_err,
			  decode(self->s.data, self->s.len, &self->k));
		ASSERT_EQ(at, self->k.nr_ev);	/* nothing after it */
	}
}

TEST_F(std, null_callbacks_are_skipped)
{
	static const struct vslice_loader_ops none;
	static u64 buf[VSLICE_STREAM_UNIT_MAX / 8];	/* 8-byte aligned */
	struct vslice_loader l;

	vslice_loader_init(&l, &none, NULL, buf, TYPE_ID, VRAM_SIZE);
	ASSERT_EQ((ssize_t)self->s.len,
		  vslice_loader_feed(&l, self->s.data, self->s.len));
	EXPECT_EQ(0, vslice_loader_finish(&l));
}

/* ---- header checks ---- */

FIXTURE(bad) {
	struct sg_model src;
	struct sg_stream s;
	struct sg_event ev[MAX_EV];
	struct sg_sink k;
};

FIXTURE_SETUP(bad)
{
	sg_model_init(&self->src, TYPE_ID, NPAGES);
	sg_stream_init(&self->s);
	sg_build(&self->s, &self->src, 42, &std_opts);
	sg_sink_init(&self->k, NULL, self->ev, MAX_EV);
	ASSERT_EQ(0, decode(self->s.data, self->s.len, &self->k));
	ASSERT_GT(self->s.nr_units, 5u);
	sg_sink_init(&self->k, NULL, self->ev, MAX_EV);
}

FIXTURE_TEARDOWN(bad)
{
	sg_model_free(&self->src);
	sg_stream_free(&self->s);
}

/* Decode after an edit with checksums fixed up: the errno, and how many
 * callbacks ran.
 */
static int decode_fixed(struct sg_stream *s, struct sg_sink *k,
			unsigned int fix)
{
	sg_fix(s->data, s->len, fix);
	sg_sink_init(k, NULL, k->ev, MAX_EV);
	return decode(s->data, s->len, k);
}

TEST_F(bad, header_bad_magic_is_einval)
{
	self->s.data[7] ^= 0x01;
	EXPECT_EQ(-EINVAL, decode_fixed(&self->s, &self->k, 0));
	EXPECT_EQ(-EINVAL, decode_fixed(&self->s, &self->k, SG_FIX_ALL));
	EXPECT_EQ(0u, self->k.nr_ev);
}

TEST_F(bad, header_crc_mismatch_is_ebadmsg)
{
	self->s.data[36] ^= 0x80;
	EXPECT_EQ(-EBADMSG, decode_fixed(&self->s, &self->k, 0));
	EXPECT_EQ(0u, self->k.nr_ev);
}

TEST_F(bad, header_major_differs_is_eprotonosupport)
{
	self->s.data[8] = VSLICE_STREAM_VERSION_MAJOR + 1;
	EXPECT_EQ(-EPROTONOSUPPORT, decode_fixed(&self->s, &self->k,
						 SG_FIX_ALL));
	self->s.data[8] = VSLICE_STREAM_VERSION_MAJOR - 1;
	EXPECT_EQ(-EPROTONOSUPPORT, decode_fixed(&self->s, &self->k,
						 SG_FIX_ALL));
	self->s.data[8] = VSLICE_STREAM_VERSION_MAJOR;
	self->s.data[9] = 1;
	EXPECT_EQ(-EPROTONOSUPPORT, decode_fixed(&self->s, &self->k,
						 SG_FIX_ALL));
	EXPECT_EQ(0u, self->k.nr_ev);
}

TEST_F(bad, header_newer_minor_is_eprotonosupport)
{
	self->s.data[10] = VSLICE_STREAM_VERSION_MINOR + 1;
	EXPECT_EQ(-EPROTONOSUPPORT, decode_fixed(&self->s, &self->k,
						 SG_FIX_ALL));
	EXPECT_EQ(0u, self->k.nr_ev);
}

TEST_F(bad, header_reserved_nonzero_is_einval)
{
	self->s.data[23] = 0x80;
	EXPECT_EQ(-EINVAL, decode_fixed(&self->s, &self->k, SG_FIX_ALL));
	EXPECT_EQ(0u, self->k.nr_ev);
}

TEST_F(bad, header_unknown_flag_is_eopnotsupp)
{
	unsigned int bit;

	for (bit = 1; bit < 32; bit++) {
		put32(self->s.data + 16,
		      VSLICE_STREAM_F_ZERO_ELISION | 1u << bit);
		EXPECT_EQ(-EOPNOTSUPP, decode_fixed(&self->s, &self->k,
						    SG_FIX_ALL));
	}
	put32(self->s.data + 16, 0);	/* no flags at all is fine */
	EXPECT_EQ(0, decode_fixed(&self->s, &self->k, SG_FIX_ALL));
}

TEST_F(bad, header_page_size_differs_is_eopnotsupp)
{
	put32(self->s.data + 32, 8192);
	EXPECT_EQ(-EOPNOTSUPP, decode_fixed(&self->s, &self->k, SG_FIX_ALL));
	EXPECT_EQ(0u, self->k.nr_ev);
}

TEST_F(bad, header_type_differs_is_eopnotsupp_after_crc)
{
	struct sg_result r;

	r = sg_decode(self->s.data, self->s.len, TYPE_ID + 1, VRAM_SIZE,
		      &self->k, NULL, 0);
	EXPECT_EQ(-EOPNOTSUPP, verdict(&r));
	put32(self->s.data + 12, TYPE_ID + 1);	/* crc not fixed */
	r = sg_decode(self->s.data, self->s.len, TYPE_ID + 1, VRAM_SIZE,
		      &self->k, NULL, 0);
	EXPECT_EQ(-EBADMSG, verdict(&r));
	EXPECT_EQ(-EOPNOTSUPP, decode_fixed(&self->s, &self->k, SG_FIX_ALL));
	EXPECT_EQ(0u, self->k.nr_ev);
}

TEST_F(bad, header_vram_size_differs_is_eopnotsupp_after_crc)
{
	struct sg_result r;

	r = sg_decode(self->s.data, self->s.len, TYPE_ID, VRAM_SIZE * 2,
		      &self->k, NULL, 0);
	EXPECT_EQ(-EOPNOTSUPP, verdict(&r));
	put64(self->s.data + 24, VRAM_SIZE * 2);	/* crc not fixed */
	r = sg_decode(self->s.data, self->s.len, TYPE_ID, VRAM_SIZE * 2,
		      &self->k, NULL, 0);
	EXPECT_EQ(-EBADMSG, verdict(&r));
	EXPECT_EQ(-EOPNOTSUPP, decode_fixed(&self->s, &self->k, SG_FIX_ALL));
	EXPECT_EQ(0u, self->k.nr_ev);
}

/* ---- section checks ---- */

/* Offset of the @nth section of @type; its unit index in *@u. */
static size_t sec_off(const struct sg_stream *s, u32 type, int nth,
		      unsigned int *u)
{
	int i = unit_of(s, type, nth);

	if (i < 0)
		abort();
	*u = i;
	return s->unit_off[i];
}

TEST_F(bad, section_unknown_type_is_einval)
{
	static const u32 types[] = { 0, 4, VSLICE_SEC_END + 1, ~0u };
	unsigned int u, i;
	size_t off = sec_off(&self->s, VSLICE_SEC_HW, 0, &u);

	for (i = 0; i < ARRAY_SIZE(types); i++) {
		put32(self->s.data + off, types[i]);
		EXPECT_EQ(-EINVAL, decode_fixed(&self->s, &self->k,
						SG_FIX_ALL));
		EXPECT_EQ(u, self->k.nr_ev);
	}
}

TEST_F(bad, section_wrong_len_for_type_is_einval)
{
	static const struct { u32 type, len; } cases[] = {
		{ VSLICE_SEC_VRAM, 16 },
		{ VSLICE_SEC_VRAM, 16 + 4095 },
		{ VSLICE_SEC_VRAM, 16 + 4097 },
		{ VSLICE_SEC_VRAM, 16 + 65 * 4096 },
		{ VSLICE_SEC_VRAM, ~0u },
		{ VSLICE_SEC_VRAM_ZERO, 15 },
		{ VSLICE_SEC_VRAM_ZERO, 16 + 4096 },
		{ VSLICE_SEC_HW, sizeof(struct vslice_stream_hw) - 1 },
		{ VSLICE_SEC_HW, sizeof(struct vslice_stream_hw) + 8 },
		/* 1.0's length in a 1.1 stream, and one byte more */
		{ VSLICE_SEC_HW, sizeof(struct vslice_stream_hw) },
		{ VSLICE_SEC_HW, sizeof(struct vslice_stream_hw) +
				 sizeof(struct vslice_stream_plane) + 1 },
		{ VSLICE_SEC_END, 0 },
		{ VSLICE_SEC_END, 40 },
	};
	unsigned int u, i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		size_t off = sec_off(&self->s, cases[i].type, 0, &u);
		u32 old = get32(self->s.data + off + 4);

		put32(self->s.data + off + 4, cases[i].len);
		EXPECT_EQ(-EINVAL, decode_fixed(&self->s, &self->k, 0))
			TH_LOG("type %u len %u", cases[i].type, cases[i].len);
		EXPECT_EQ(u, self->k.nr_ev);
		put32(self->s.data + off + 4, old);
	}
}

TEST_F(bad, section_seq_out_of_order_is_einval)
{
	unsigned int u;
	size_t off = sec_off(&self->s, VSLICE_SEC_VRAM, 1, &u);
	u32 seq = get32(self->s.data + off + 12);

	put32(self->s.data + off + 12, seq + 1);
	EXPECT_EQ(-EINVAL, decode_fixed(&self->s, &self->k, SG_FIX_ALL));
	EXPECT_EQ(u, self->k.nr_ev);
	put32(self->s.data + off + 12, seq - 1);
	EXPECT_EQ(-EINVAL, decode_fixed(&self->s, &self->k, SG_FIX_ALL));
	off = sec_off(&self->s, VSLICE_SEC_END, 0, &u);
	put32(self->s.data + off + 12, get32(self->s.data + off + 12) + 1);
	EXPECT_EQ(-EINVAL, decode_fixed(&self->s, &self->k, SG_FIX_ALL));
}

TEST_F(bad, section_payload_or_crc_field_mismatch_is_ebadmsg)
{
	static const u32 types[] = { VSLICE_SEC_VRAM, VSLICE_SEC_VRAM_ZERO,
					  VSLICE_SEC_HW, VSLICE_SEC_END };
	unsigned int u, i;

	for (i = 0; i < ARRAY_SIZE(types); i++) {
		size_t off = sec_off(&self->s, types[i], 0, &u);
		size_t last = self->s.unit_off[u + 1] - 1;

		self->s.data[last] ^= 0x40;
		EXPECT_EQ(-EBADMSG, decode_fixed(&self->s, &self->k, 0));
		EXPECT_EQ(u, self->k.nr_ev);
		self->s.data[last] ^= 0x40;
		self->s.data[off + 8] ^= 0x01;
		EXPECT_EQ(-EBADMSG, decode_fixed(&self->s, &self->k, 0));
		EXPECT_EQ(u, self->k.nr_ev);
		self->s.data[off + 8] ^= 0x01;
	}
}

TEST_F(bad, vram_count_not_matching_len_is_einval)
{
	unsigned int u;
	size_t off = sec_off(&self->s, VSLICE_SEC_VRAM, 0, &u);
	u32 count = get32(self->s.data + off + 24);

	put32(self->s.data + off + 24, count + 1);
	EXPECT_EQ(-EINVAL, decode_fixed(&self->s, &self->k, SG_FIX_ALL));
	EXPECT_EQ(u, self->k.nr_ev);
	put32(self->s.data + off + 24, count - 1);
	EXPECT_EQ(-EINVAL, decode_fixed(&self->s, &self->k, SG_FIX_ALL));
	put32(self->s.data + off + 24, 0);
	EXPECT_EQ(-EINVAL, decode_fixed(&self->s, &self->k, SG_FIX_ALL));
}

TEST_F(bad, vram_zero_count_out_of_range_is_einval)
{
	unsigned int u;
	size_t off = sec_off(&self->s, VSLICE_SEC_VRAM_ZERO, 0, &u);

	put64(self->s.data + off + 16, 0);
	put32(self->s.data + off + 24, 0);
	EXPECT_EQ(-EINVAL, decode_fixed(&self->s, &self->k, SG_FIX_ALL));
	EXPECT_EQ(u, self->k.nr_ev);
	put32(self->s.data + off + 24, VSLICE_STREAM_MAX_RUN + 1);
	EXPECT_EQ(-EINVAL, decode_fixed(&self->s, &self->k, SG_FIX_ALL));
	put32(self->s.data + off + 24, VSLICE_STREAM_MAX_RUN);
	EXPECT_EQ(0, decode_fixed(&self->s, &self->k, SG_FIX_ALL));
}

TEST_F(bad, vram_run_outside_vram_is_einval)
{
	static const u32 types[] = { VSLICE_SEC_VRAM,
					  VSLICE_SEC_VRAM_ZERO };
	unsigned int u, i;

	for (i = 0; i < 2; i++) {
		size_t off = sec_off(&self->s, types[i], 0, &u);
		u32 count = get32(self->s.data + off + 24);

		/* the last pages exactly: fine */
		put64(self->s.data + off + 16, NPAGES - count);
		EXPECT_EQ(0, decode_fixed(&self->s, &self->k, SG_FIX_ALL));
		put64(self->s.data + off + 16, NPAGES - count + 1);
		EXPECT_EQ(-EINVAL, decode_fixed(&self->s, &self->k,
						SG_FIX_ALL));
		EXPECT_EQ(u, self->k.nr_ev);
		put64(self->s.data + off + 16, NPAGES);
		EXPECT_EQ(-EINVAL, decode_fixed(&self->s, &self->k,
						SG_FIX_ALL));
		/* first + count wraps around */
		put64(self->s.data + off + 16, ~0ull - count + 2);
		EXPECT_EQ(-EINVAL, decode_fixed(&self->s, &self->k,
						SG_FIX_ALL));
		put64(self->s.data + off + 16, ~0ull);
		EXPECT_EQ(-EINVAL, decode_fixed(&self->s, &self->k,
						SG_FIX_ALL));
		EXPECT_EQ(u, self->k.nr_ev);
		put64(self->s.data + off + 16, 0);
	}
}

TEST_F(bad, vram_reserved_nonzero_is_einval)
{
	unsigned int u;
	size_t off = sec_off(&self->s, VSLICE_SEC_VRAM, 0, &u);

	self->s.data[off + 31] = 1;
	EXPECT_EQ(-EINVAL, decode_fixed(&self->s, &self->k, SG_FIX_ALL));
	EXPECT_EQ(u, self->k.nr_ev);
}

TEST_F(bad, hw_reserved_nonzero_is_einval)
{
	unsigned int u;
	size_t off = sec_off(&self->s, VSLICE_SEC_HW, 0, &u);
	size_t r = offsetof(struct vslice_stream_hw, reserved);
	size_t i;

	for (i = 0; i < sizeof(self->src.hw.reserved); i++) {
		self->s.data[off + 16 + r + i] = 0x20;
		EXPECT_EQ(-EINVAL, decode_fixed(&self->s, &self->k,
						SG_FIX_ALL));
		EXPECT_EQ(u, self->k.nr_ev);
		self->s.data[off + 16 + r + i] = 0;
	}
	EXPECT_EQ(0, decode_fixed(&self->s, &self->k, SG_FIX_ALL));
}

TEST_F(bad, plane_reserved_nonzero_is_einval)
{
	unsigned int u;
	size_t off = sec_off(&self->s, VSLICE_SEC_HW, 0, &u);
	size_t r = sizeof(struct vslice_stream_hw) +
		   offsetof(struct vslice_stream_plane, reserved);
	size_t i;

	for (i = 0; i < sizeof(self->src.plane.reserved); i++) {
		self->s.data[off + 16 + r + i] = 0x01;
		EXPECT_EQ(-EINVAL, decode_fixed(&self->s, &self->k,
						SG_FIX_ALL));
		EXPECT_EQ(u, self->k.nr_ev);
		self->s.data[off + 16 + r + i] = 0;
	}
	EXPECT_EQ(0, decode_fixed(&self->s, &self->k, SG_FIX_ALL));
}

/*
 * Format 1.0 (no plane after struct vslice_stream_hw) still decodes, and
 * hands over no plane; 1.1 hands over the plane it carries.
 */
TEST(format_1_0_and_1_1_streams_decode)
{
	struct sg_opts o = { .rounds = 2, .max_run = 8, .zero_runs = true };
	unsigned int minor;

	for (minor = 0; minor <= 1; minor++) {
		struct sg_model src, dst;
		struct sg_stream s;
		struct sg_sink k;

		o.minor = minor + 1;
		sg_model_init(&src, TYPE_ID, NPAGES);
		sg_model_init(&dst, TYPE_ID, NPAGES);
		sg_stream_init(&s);
		sg_build(&s, &src, 77 + minor, &o);
		EXPECT_EQ(minor, (unsigned int)(s.data[10] | s.data[11] << 8));
		sg_sink_init(&k, &dst, NULL, 0);
		EXPECT_EQ(0, decode(s.data, s.len, &k)) TH_LOG("1.%u", minor);
		EXPECT_FALSE(k.bad);
		EXPECT_EQ(1u, k.hw_seen);
		EXPECT_EQ(minor, k.planes);
		EXPECT_EQ(!!minor, dst.has_plane);
		EXPECT_TRUE(sg_model_equal(&src, &dst));
		sg_stream_free(&s);
		sg_model_free(&src);
		sg_model_free(&dst);
	}
}

/* The HW section's length follows the header's minor version exactly. */
TEST(hw_len_of_the_other_minor_is_einval)
{
	static u8 out[2048];
	struct vslice_enc e;
	struct sg_sink k;
	unsigned int hdr_minor;
	size_t off;

	for (hdr_minor = 0; hdr_minor <= 1; hdr_minor++) {
		memset(out, 0, sizeof(out));
		vslice_enc_init(&e);
		e.minor = hdr_minor;
		off = vslice_enc_hdr(&e, out, TYPE_ID, VRAM_SIZE, 0);
		e.minor = !hdr_minor;	/* frame the other version's HW */
		off += vslice_enc_hw(&e, out + off);
		off += vslice_enc_end(&e, out + off);
		sg_sink_init(&k, NULL, NULL, 0);
		EXPECT_EQ(-EINVAL, decode(out, off, &k)) TH_LOG("1.%u", hdr_minor);
		EXPECT_EQ(0u, k.hw_seen);
	}
}

static size_t build_hw_twice(u8 *out, bool twice)
{
	struct vslice_enc e;
	size_t off;

	vslice_enc_init(&e);
	off = vslice_enc_hdr(&e, out, TYPE_ID, VRAM_SIZE, 0);
	memset(vslice_sec_payload(out + off), 0,
	       vslice_stream_hw_len(e.minor));
	off += vslice_enc_hw(&e, out + off);
	if (twice) {
		memset(vslice_sec_payload(out + off), 0,
		       vslice_stream_hw_len(e.minor));
		off += vslice_enc_hw(&e, out + off);
	}
	return off + vslice_enc_end(&e, out + off);
}

TEST_F(bad, minimal_stream_is_header_hw_end)
{
	static u8 out[2048];
	size_t len = build_hw_twice(out, false);

	EXPECT_EQ(40u + 16 + 376 + 64 + 40, len);	/* 1.1: hw + plane */
	EXPECT_EQ(0, decode(out, len, &self->k));
	EXPECT_EQ(3u, self->k.nr_ev);
}

TEST_F(bad, second_hw_section_is_einval)
{
	static u8 out[2048];
	size_t len = build_hw_twice(out, true);

	EXPECT_EQ(-EINVAL, decode(out, len, &self->k));
	EXPECT_EQ(2u, self->k.nr_ev);
}

TEST_F(bad, end_without_hw_is_einval)
{
	struct sg_opts o = std_opts;

	o.no_hw = true;
	sg_build(&self->s, &self->src, 43, &o);
	EXPECT_EQ(-EINVAL, decode(self->s.data, self->s.len, &self->k));
	EXPECT_EQ(self->s.nr_units - 1, self->k.nr_ev);
}

TEST_F(bad, end_nr_sections_mismatch_is_einval)
{
	unsigned int u;
	size_t off = sec_off(&self->s, VSLICE_SEC_END, 0, &u);
	u32 nr = get32(self->s.data + off + 16);

	put32(self->s.data + off + 16, nr + 1);
	EXPECT_EQ(-EINVAL, decode_fixed(&self->s, &self->k,
					SG_FIX_SEC | SG_FIX_STREAM));
	EXPECT_EQ(u, self->k.nr_ev);
	put32(self->s.data + off + 16, nr - 1);
	EXPECT_EQ(-EINVAL, decode_fixed(&self->s, &self->k,
					SG_FIX_SEC | SG_FIX_STREAM));
}

TEST_F(bad, end_total_bytes_mismatch_is_einval)
{
	unsigned int u;
	size_t off = sec_off(&self->s, VSLICE_SEC_END, 0, &u);

	put64(self->s.data + off + 24, off + 16);
	EXPECT_EQ(-EINVAL, decode_fixed(&self->s, &self->k,
					SG_FIX_SEC | SG_FIX_STREAM));
	EXPECT_EQ(u, self->k.nr_ev);
	put64(self->s.data + off + 24, off - 1);
	EXPECT_EQ(-EINVAL, decode_fixed(&self->s, &self->k,
					SG_FIX_SEC | SG_FIX_STREAM));
}

TEST_F(bad, end_reserved_nonzero_is_einval)
{
	unsigned int u;
	size_t off = sec_off(&self->s, VSLICE_SEC_END, 0, &u);

	self->s.data[off + 16 + 4] = 1;
	EXPECT_EQ(-EINVAL, decode_fixed(&self->s, &self->k, SG_FIX_SEC));
	self->s.data[off + 16 + 4] = 0;
	self->s.data[off + 16 + 23] = 1;
	EXPECT_EQ(-EINVAL, decode_fixed(&self->s, &self->k, SG_FIX_SEC));
	EXPECT_EQ(u, self->k.nr_ev);
}

TEST_F(bad, end_stream_crc_mismatch_is_ebadmsg)
{
	unsigned int u;
	size_t off = sec_off(&self->s, VSLICE_SEC_END, 0, &u);

	self->s.data[off + 16 + 16] ^= 0x04;
	EXPECT_EQ(-EBADMSG, decode_fixed(&self->s, &self->k, SG_FIX_SEC));
	EXPECT_EQ(u, self->k.nr_ev);
}

TEST_F(bad, swapped_sections_with_fixed_seqs_are_ebadmsg)
{
	/*
	 * Two VRAM_ZERO sections swapped and renumbered: every section
	 * checks out on its own; only the chained stream_crc notices.
	 */
	static u8 out[1024];
	struct vslice_enc e;
	u8 tmp[32];
	size_t off, a;

	vslice_enc_init(&e);
	off = vslice_enc_hdr(&e, out, TYPE_ID, VRAM_SIZE, 0);
	a = off;
	off += vslice_enc_vram_zero(&e, out + off, 1, 1);
	off += vslice_enc_vram_zero(&e, out + off, 2, 1);
	memset(vslice_sec_payload(out + off), 0,
	       vslice_stream_hw_len(e.minor));
	off += vslice_enc_hw(&e, out + off);
	off += vslice_enc_end(&e, out + off);
	ASSERT_EQ(0, decode(out, off, &self->k));

	memcpy(tmp, out + a, 32);
	memcpy(out + a, out + a + 32, 32);
	memcpy(out + a + 32, tmp, 32);
	put32(out + a + 12, 0);
	put32(out + a + 32 + 12, 1);
	sg_sink_init(&self->k, NULL, self->ev, MAX_EV);
	EXPECT_EQ(-EBADMSG, decode(out, off, &self->k));
	EXPECT_EQ(4u, self->k.nr_ev);	/* hdr, 2 zero runs, hw: no END */
}

static const struct sg_opts small_opts = {
	.rounds = 3,
	.max_run = 2,
	.zero_runs = true,
};

TEST_F(bad, truncation_anywhere_is_enodata)
{
	size_t cut;

	sg_build(&self->s, &self->src, 7, &small_opts);
	for (cut = 0; cut < self->s.len; cut++) {
		sg_sink_init(&self->k, NULL, NULL, 0);
		ASSERT_EQ(-ENODATA, decode(self->s.data, cut, &self->k))
			TH_LOG("cut at %zu of %zu", cut, self->s.len);
	}
	ASSERT_EQ(0, decode(self->s.data, cut, &self->k));
}

/*
 * Flip bits everywhere outside page data (every bit) and inside it (one
 * bit per 61 bytes): the stream must fail with the errno of the part hit,
 * never complete, and nothing but the original units before the damaged
 * one may reach a callback.
 */
static int expected_errno(const struct sg_stream *s, size_t off,
			  unsigned int *unit)
{
	size_t rel;
	unsigned int u = 0;

	while (off >= s->unit_off[u + 1])
		u++;
	*unit = u;
	rel = off - s->unit_off[u];
	if (u == 0)
		return rel < 8 ? -EINVAL : -EBADMSG;
	if (rel >= 16 || (rel >= 8 && rel < 12))
		return -EBADMSG;		/* payload or its crc */
	if (rel >= 4 && rel < 8)
		return 0;			/* len: see below */
	return -EINVAL;				/* type or seq */
}

TEST_F(bad, every_bit_flip_is_caught_before_its_unit_is_used)
{
	static struct sg_event ev0[MAX_EV];
	size_t off, flips = 0;
	unsigned int bit, u;

	sg_build(&self->s, &self->src, 8, &small_opts);
	sg_sink_init(&self->k, NULL, ev0, MAX_EV);
	ASSERT_EQ(0, decode(self->s.data, self->s.len, &self->k));
	ASSERT_EQ(self->s.nr_units, self->k.nr_ev);

	for (off = 0; off < self->s.len; off++) {
		size_t rel;

		expected_errno(&self->s, off, &u);
		rel = off - self->s.unit_off[u];
		for (bit = 0; bit < 8; bit++) {
			int want, got;

			if (u && self->s.unit_type[u] == VSLICE_SEC_VRAM &&
			    rel >= 32 && (off % 61 || bit != off % 8))
				continue;	/* sample page data */
			want = expected_errno(&self->s, off, &u);
			self->s.data[off] ^= 1u << bit;
			sg_sink_init(&self->k, NULL, self->ev, MAX_EV);
			got = decode(self->s.data, self->s.len, &self->k);
			self->s.data[off] ^= 1u << bit;
			flips++;

			if (!want) {	/* len: any error will do */
				ASSERT_TRUE(got == -EINVAL ||
					    got == -EBADMSG ||
					    got == -ENODATA)
					TH_LOG("len byte %zu bit %u: %d",
					       off, bit, got);
			} else {
				ASSERT_EQ(want, got)
					TH_LOG("byte %zu bit %u unit %u",
					       off, bit, u);
			}
			ASSERT_FALSE(self->k.bad);
			ASSERT_LE(self->k.nr_ev, u);
			ASSERT_EQ(0, memcmp(ev0, self->ev,
					    self->k.nr_ev *
					    sizeof(self->ev[0])));
		}
	}
	TH_LOG("%zu flips in %zu bytes", flips, self->s.len);
}

/*
 * Every stream in selftests/golden/MANIFEST (produced by the module in a
 * VM) decodes, whole and in 7-byte pieces, into exactly what its source
 * was made to hold (golden.h).  The VM counterpart is golden_test.
 */
static void golden_check_one(struct __test_metadata *_metadata,
			     const struct golden_entry *e, const u8 *data,
			     size_t len, const size_t *splits,
			     unsigned int nr_splits)
{
	u64 npages = (u64)e->vram_mib * 256;
	unsigned int written = 0, want = 0;
	struct sg_result r;
	struct sg_model m;
	struct sg_sink k;
	static u8 page[SG_PAGE];
	u64 p;
	int i;

	sg_model_init(&m, e->type_id, npages);
	sg_sink_init(&k, &m, NULL, 0);
	r = sg_decode(data, len, e->type_id, m.vram_size, &k, splits,
		      nr_splits);
	EXPECT_EQ(0, verdict(&r)) TH_LOG("%s", e->file);
	EXPECT_FALSE(k.bad);
	EXPECT_EQ(1u, k.hw_seen);
	for (p = 0; p < npages; p++) {
		u32 seed = golden_page_seed(e->busy, npages, p);

		want += !!seed;
		if (!m.written[p]) {
			EXPECT_EQ(0u, seed) TH_LOG("%s: page %llu missing",
						   e->file, (unsigned long long)p);
			continue;
		}
		written++;
		if (seed)
			golden_fill(page, seed, p);
		else
			memset(page, 0, sizeof(page));
		EXPECT_EQ(0, memcmp(page, m.vram + p * SG_PAGE, SG_PAGE))
			TH_LOG("%s: page %llu", e->file, (unsigned long long)p);
	}
	EXPECT_EQ(want, written);
	for (i = 0; i < GOLDEN_NR_SCRATCH; i++)
		EXPECT_EQ(e->busy ? golden_scratch(i) : 0,
			  __le32_to_cpu(m.hw.scratch[i]));
	/* the plane: none in 1.0; the recipe's in a busy 1.1+ stream */
	EXPECT_EQ(e->minor >= 1, m.has_plane) TH_LOG("%s", e->file);
	if (e->minor >= 1) {
		const struct golden_plane *a = &golden_plane;
		const struct golden_plane *sh = &golden_plane_shadow;
		bool on = e->busy;

		EXPECT_EQ(on ? a->format : 0,
			  __le32_to_cpu(m.plane.active_format));
		EXPECT_EQ(on ? a->offset : 0,
			  __le64_to_cpu(m.plane.active_offset));
		EXPECT_EQ(on ? a->stride : 0,
			  __le32_to_cpu(m.plane.active_stride));
		EXPECT_EQ(on ? sh->format : 0, __le32_to_cpu(m.plane.format));
		EXPECT_EQ(on ? sh->offset : 0, __le64_to_cpu(m.plane.offset));
	}
	sg_model_free(&m);
}

TEST(golden_streams_decode_to_their_recipe)
{
	static const size_t seven[] = { 7 };
	struct golden_entry e;
	char path[512];
	unsigned int n = 0;
	FILE *f, *mf;
	u8 *data;
	long len;
	int ret;

	mf = fopen(GOLDEN_DIR "/MANIFEST", "r");
	ASSERT_NE(NULL, mf) TH_LOG(GOLDEN_DIR "/MANIFEST: %s", strerror(errno));
	while ((ret = golden_next(mf, &e)) == 1) {
		snprintf(path, sizeof(path), "%s/%s", GOLDEN_DIR, e.file);
		f = fopen(path, "r");
		ASSERT_NE(NULL, f) TH_LOG("%s", path);
		fseek(f, 0, SEEK_END);
		len = ftell(f);
		rewind(f);
		data = malloc(len);
		ASSERT_NE(NULL, data);
		ASSERT_EQ((size_t)len, fread(data, 1, len, f));
		fclose(f);
		ASSERT_EQ((unsigned int)VSLICE_STREAM_VERSION_MAJOR, e.major);
		golden_check_one(_metadata, &e, data, len, NULL, 0);
		golden_check_one(_metadata, &e, data, len, seven, 1);
		free(data);
		n++;
	}
	fclose(mf);
	ASSERT_EQ(0, ret);
	ASSERT_LT(0u, n);
}

TEST_HARNESS_MAIN
