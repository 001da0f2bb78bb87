// SPDX-License-Identifier: GPL-2.0
/*
 * stream_fuzz - libFuzzer target for the stream decoder (mdev/stream.c).
 *
 * Each input is decoded twice, in the pieces its prefix asks for and in
 * one piece (see fuzz.h).  Oracles, besides ASan/UBSan:
 *  - the split must not matter: same verdict, same callbacks, same data;
 *  - callbacks only ever see runs inside the VRAM, HDR first, END last;
 *  - the verdict is 0 or one of the documented errnos, and 0 exactly
 *    when complete;
 *  - an accepted stream is canonical: re-encoding what the callbacks
 *    received with the encoder gives back the same bytes.
 *
 * Half of the mutations are libFuzzer's own; the other half know the
 * format: set a header or section field to a boundary value, duplicate,
 * drop or swap sections, cut the stream, then usually fix the checksums
 * up, so that the checks behind the CRCs get exercised.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <asm/byteorder.h>

#include "fuzz.h"
#include "streamgen.h"

#define FUZZ_VRAM_SIZE	((u64)FUZZ_NPAGES * SG_PAGE)

static u32 get_le32(const u8 *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (u32)p[3] << 24;
}

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "stream_fuzz: %s:%d: %s\n",		\
			__FILE__, __LINE__, #cond);			\
		abort();						\
	}								\
} while (0)

static const unsigned int fix_modes[4] = {
	0,
	SG_FIX_ALL,
	SG_FIX_HDR | SG_FIX_SEC,
	SG_FIX_HDR | SG_FIX_SEC | SG_FIX_STREAM,
};

/* ---- re-encoder: the callbacks of an accepted stream, encoded again ---- */

struct reenc {
	struct vslice_enc e;
	u8 *out;
	size_t len, cap;
};

static u8 *reenc_room(struct reenc *r)
{
	CHECK(r->cap - r->len >= VSLICE_STREAM_UNIT_MAX);
	return r->out + r->len;
}

static int re_hdr(void *ctx, const struct vslice_stream_hdr *h)
{
	struct reenc *r = ctx;

	r->e.minor = __le16_to_cpu(h->minor);
	r->len += vslice_enc_hdr(&r->e, reenc_room(r),
				 __le32_to_cpu(h->type_id),
				 __le64_to_cpu(h->vram_size),
				 __le32_to_cpu(h->flags));
	return 0;
}

static int re_vram(void *ctx, u64 first, u32 count, const void *pages)
{
	struct reenc *r = ctx;
	u8 *sec = reenc_room(r);

	memcpy(vslice_sec_pages(sec), pages, (size_t)count * SG_PAGE);
	r->len += vslice_enc_vram(&r->e, sec, first, count);
	return 0;
}

static int re_zero(void *ctx, u64 first, u32 count)
{
	struct reenc *r = ctx;

	r->len += vslice_enc_vram_zero(&r->e, reenc_room(r), first, count);
	return 0;
}

static int re_hw(void *ctx, const struct vslice_stream_hw *hw,
		 const struct vslice_stream_plane *plane)
{
	struct reenc *r = ctx;
	u8 *sec = reenc_room(r);

	CHECK(!plane == !r->e.minor);
	memcpy(vslice_sec_payload(sec), hw, sizeof(*hw));
	if (plane)
		memcpy(vslice_sec_plane(sec), plane, sizeof(*plane));
	r->len += vslice_enc_hw(&r->e, sec);
	return 0;
}

static int re_end(void *ctx)
{
	struct reenc *r = ctx;

	r->len += vslice_enc_end(&r->e, reenc_room(r));
	return 0;
}

static const struct vslice_loader_ops reenc_ops = {
	.hdr = re_hdr,
	.vram = re_vram,
	.vram_zero = re_zero,
	.hw = re_hw,
	.end = re_end,
};

static void check_canonical(const u8 *s, size_t len)
{
	static u64 buf[VSLICE_STREAM_UNIT_MAX / 8];	/* 8-byte aligned */
	struct vslice_loader l;
	struct reenc r = { .cap = len + VSLICE_STREAM_UNIT_MAX };

	r.out = malloc(r.cap);
	CHECK(r.out);
	vslice_enc_init(&r.e);
	vslice_loader_init(&l, &reenc_ops, &r, buf, FUZZ_TYPE_ID,
			   FUZZ_VRAM_SIZE);
	CHECK(vslice_loader_feed(&l, s, len) == (ssize_t)len);
	CHECK(vslice_loader_finish(&l) == 0);
	CHECK(r.len == len);
	CHECK(!memcmp(r.out, s, len));
	free(r.out);
}

/* ---- structure-aware mutator ---- */

size_t LLVMFuzzerMutate(u8 *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(u8 *data, size_t size, size_t max_size,
			       unsigned int seed);

#define MAX_UNITS	256

struct units {
	u8 *s;			/* the stream, after the control prefix */
	size_t len;
	unsigned int n;
	size_t off[MAX_UNITS + 1];	/* off[n] == end of the last unit */
};

static void find_units(struct units *u, u8 *s, size_t len)
{
	size_t off = VSLICE_STREAM_HDR_SIZE;

	u->s = s;
	u->len = len;
	u->n = 0;
	if (len < VSLICE_STREAM_HDR_SIZE)
		return;
	u->off[u->n++] = 0;
	while (u->n < MAX_UNITS && len - off >= VSLICE_STREAM_SEC_SIZE) {
		u32 plen = get_le32(s + off + 4);

		if (plen > len - off - VSLICE_STREAM_SEC_SIZE)
			break;
		u->off[u->n++] = off;
		off += VSLICE_STREAM_SEC_SIZE + plen;
	}
	u->off[u->n] = off;
}

static u64 pick64(u64 *r, u64 cur, u64 count)
{
	static const u64 fixed[] = {
		0, 1, 2, 63, 64, 65, 4095, 4096, 4097, ~0ull, ~0ull - 1,
		1ull << 32, (1ull << 32) - 1, 1ull << 63,
	};
	const u64 np = FUZZ_NPAGES;

	switch (sg_rand(r) % 6) {
	case 0:
		return fixed[sg_rand(r) % ARRAY_SIZE(fixed)];
	case 1:
		return cur + 1;
	case 2:
		return cur - 1;
	case 3:	/* around the end of the VRAM */
		return np - count + sg_rand(r) % 3 - 1;
	case 4:
		return np + sg_rand(r) % 3 - 1;
	default:
		return cur ^ 1ull << (sg_rand(r) % 64);
	}
}

struct field {
	u16 at;
	u8 width;
};

/* The fields of each kind of unit, by offset in the unit. */
static const struct field hdr_fields[] = {
	{ 0, 8 }, { 8, 2 }, { 10, 2 }, { 12, 4 }, { 16, 4 }, { 20, 4 },
	{ 24, 8 }, { 32, 4 }, { 36, 4 },
};

static const struct field sec_fields[] = {	/* + payload by type */
	{ 0, 4 }, { 4, 4 }, { 8, 4 }, { 12, 4 },
};

static const struct field vram_fields[] = {
	{ 16, 8 }, { 24, 4 }, { 28, 4 },
};

static const struct field hw_fields[] = {
	{ 16 + 352, 4 }, { 16 + 356, 4 }, { 16 + 372, 4 },
	/* the plane (1.1): active format, offset, reserved */
	{ 16 + 376 + 36, 4 }, { 16 + 376 + 40, 8 }, { 16 + 376 + 60, 4 },
};

static const struct field end_fields[] = {
	{ 16, 4 }, { 20, 4 }, { 24, 8 }, { 32, 4 }, { 36, 4 },
};

/* Set one field of unit @i to an interesting value. */
static void mutate_field(struct units *u, unsigned int i, u64 *r)
{
	u8 *p = u->s + u->off[i];
	size_t room = u->off[i + 1] - u->off[i];
	const struct field *fl = sec_fields;
	unsigned int n = ARRAY_SIZE(sec_fields);
	struct field f;
	u64 cur = 0, count = 1;

	if (i == 0) {
		fl = hdr_fields;
		n = ARRAY_SIZE(hdr_fields);
	} else if (sg_rand(r) % 3) {	/* a payload field */
		switch (get_le32(p)) {
		case VSLICE_SEC_VRAM:
		case VSLICE_SEC_VRAM_ZERO:
			fl = vram_fields;
			n = ARRAY_SIZE(vram_fields);
			if (room >= 28)
				count = get_le32(p + 24);
			break;
		case VSLICE_SEC_HW:
			fl = hw_fields;
			n = ARRAY_SIZE(hw_fields);
			break;
		case VSLICE_SEC_END:
			fl = end_fields;
			n = ARRAY_SIZE(end_fields);
			break;
		}
	}
	f = fl[sg_rand(r) % n];
	if (f.at + f.width > room)
		return;
	memcpy(&cur, p + f.at, f.width);	/* little-endian host */
	cur = pick64(r, cur, count);
	memcpy(p + f.at, &cur, f.width);
}

/* Move unit @i to just before unit @j, or drop it, or copy it there. */
static size_t move_unit(struct units *u, unsigned int i, unsigned int j,
			int how, size_t max_len)
{
	size_t a = u->off[i], ulen = u->off[i + 1] - a;
	size_t at = u->off[j];
	u8 *tmp;

	if (how == 0) {				/* drop */
		memmove(u->s + a, u->s + a + ulen, u->len - a - ulen);
		return u->len - ulen;
	}
	if (how == 1) {				/* duplicate before j */
		if (ulen > max_len - u->len)
			return u->len;
		memmove(u->s + at + ulen, u->s + at, u->len - at);
		if (a >= at)
			a += ulen;
		memcpy(u->s + at, u->s + a, ulen);
		return u->len + ulen;
	}
	tmp = malloc(ulen);			/* move before j */
	CHECK(tmp);
	memcpy(tmp, u->s + a, ulen);
	memmove(u->s + a, u->s + a + ulen, u->len - a - ulen);
	if (at > a)
		at -= ulen;
	memmove(u->s + at + ulen, u->s + at, u->len - ulen - at);
	memcpy(u->s + at, tmp, ulen);
	free(tmp);
	return u->len;
}

size_t LLVMFuzzerCustomMutator(u8 *data, size_t size, size_t max_size,
			       unsigned int seed)
{
	u64 r = seed;
	struct units u;
	size_t nk, len;
	unsigned int i, j;

	if (size < 2 || sg_rand(&r) % 2)
		return LLVMFuzzerMutate(data, size, max_size);
	nk = data[0] & 15;
	if (nk > size - 1)
		nk = size - 1;
	len = size - 1 - nk;
	find_units(&u, data + 1 + nk, len);
	if (!u.n)
		return LLVMFuzzerMutate(data, size, max_size);

	i = sg_rand(&r) % u.n;
	j = 1 + sg_rand(&r) % u.n;		/* a section slot */
	switch (sg_rand(&r) % 8) {
	case 0:
		if (i)
			len = move_unit(&u, i, j < u.n ? j : u.n, 1,
					max_size - 1 - nk);
		break;
	case 1:
		if (i)
			len = move_unit(&u, i, 0, 0, 0);
		break;
	case 2:
		if (i && j < u.n)
			len = move_unit(&u, i, j, 2, 0);
		break;
	case 3:
		len = u.off[i] + sg_rand(&r) % (u.off[i + 1] - u.off[i] + 1);
		break;
	case 4:		/* new write splits and fix-up mode */
		data[0] = sg_rand(&r);
		return size;
	default:
		mutate_field(&u, i, &r);
		break;
	}
	/* mostly self-consistent checksums; sometimes renumbered, or with
	 * END's counters left as mutated
	 */
	switch (sg_rand(&r) % 5) {
	case 0:
		break;
	case 1:
		sg_fix(u.s, len, SG_FIX_ALL | SG_FIX_SEQ);
		break;
	case 2:
		sg_fix(u.s, len, SG_FIX_HDR | SG_FIX_SEC | SG_FIX_STREAM);
		break;
	default:
		sg_fix(u.s, len, SG_FIX_ALL);
		break;
	}
	return 1 + nk + len;
}

/* ---- the target ---- */

static void check_events(const struct sg_sink *k, const struct sg_result *r)
{
	unsigned int n = k->nr_ev < k->max_ev ? k->nr_ev : k->max_ev;
	unsigned int i;

	CHECK(!k->bad);
	for (i = 0; i < n; i++) {
		CHECK((k->ev[i].kind == SG_EV_HDR) == (i == 0));
		CHECK(k->ev[i].kind != SG_EV_END || i + 1 == k->nr_ev);
	}
	CHECK(r->complete == (n && k->ev[n - 1].kind == SG_EV_END &&
			      !r->feed_err));
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size);

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	static struct sg_event ev_a[SG_MAX_UNITS], ev_b[SG_MAX_UNITS];
	size_t splits[15], len, nk, i;
	struct sg_sink ka, kb;
	struct sg_result ra, rb;
	u8 *s;
	int v;

	if (!size)
		return 0;
	nk = data[0] & 15;
	if (nk > size - 1)
		nk = size - 1;
	for (i = 0; i < nk; i++) {
		u8 b = data[1 + i];

		splits[i] = b < 0x80 ? b + 1u : (b - 0x7fu) * 512;
	}
	len = size - 1 - nk;
	s = malloc(len ? len : 1);
	CHECK(s);
	memcpy(s, data + 1 + nk, len);
	sg_fix(s, len, fix_modes[(data[0] >> FUZZ_FIX_SHIFT) & 3]);

	sg_sink_init(&ka, NULL, ev_a, SG_MAX_UNITS);
	ra = sg_decode(s, len, FUZZ_TYPE_ID, FUZZ_VRAM_SIZE, &ka, splits, nk);
	sg_sink_init(&kb, NULL, ev_b, SG_MAX_UNITS);
	rb = sg_decode(s, len, FUZZ_TYPE_ID, FUZZ_VRAM_SIZE, &kb, NULL, 0);

	check_events(&ka, &ra);
	check_events(&kb, &rb);
	v = ra.feed_err ? ra.feed_err : ra.finish;
	CHECK(v == (rb.feed_err ? rb.feed_err : rb.finish));
	CHECK(!ra.feed_err || ra.finish == ra.feed_err);
	CHECK(v == 0 || v == -EINVAL || v == -EBADMSG ||
	      v == -EPROTONOSUPPORT || v == -EOPNOTSUPP || v == -ENODATA);
	CHECK((v == 0) == ra.complete);
	CHECK(ra.complete == rb.complete);
	CHECK(ka.nr_ev == kb.nr_ev);
	CHECK(!memcmp(ev_a, ev_b, (ka.nr_ev < SG_MAX_UNITS ? ka.nr_ev :
				   SG_MAX_UNITS) * sizeof(ev_a[0])));
	if (v == 0)
		check_canonical(s, len);
	free(s);
	return 0;
}
