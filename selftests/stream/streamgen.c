// SPDX-License-Identifier: GPL-2.0
/*
 * streamgen: stream builder, checksum fixer and recording decoder sink for
 * the stream codec's unit tests, fuzzer and seed corpus.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <asm/byteorder.h>

#include "streamgen.h"

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p) {
		perror("calloc");
		abort();
	}
	return p;
}

u64 sg_rand(u64 *state)
{
	/* splitmix64 */
	u64 z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

u64 sg_hash(const void *buf, size_t len)
{
	const u8 *p = buf;
	u64 h = 0xcbf29ce484222325ull;	/* FNV-1a */

	while (len--)
		h = (h ^ *p++) * 0x100000001b3ull;
	return h;
}

/* Reference CRC32C, one bit at a time: independent of stream.c's tables. */
u32 sg_crc32c_bitwise(u32 crc, const void *buf, size_t len)
{
	const u8 *p = buf;
	int bit;

	while (len--) {
		crc ^= *p++;
		for (bit = 0; bit < 8; bit++)
			crc = (crc >> 1) ^ ((crc & 1) ? 0x82f63b78u : 0);
	}
	return crc;
}

void sg_model_init(struct sg_model *m, u32 type_id, u32 npages)
{
	memset(m, 0, sizeof(*m));
	m->type_id = type_id;
	m->npages = npages;
	m->vram_size = (u64)npages * SG_PAGE;
	m->vram = xcalloc(npages, SG_PAGE);
	m->written = xcalloc(npages, 1);
}

void sg_model_free(struct sg_model *m)
{
	free(m->vram);
	free(m->written);
	m->vram = NULL;
	m->written = NULL;
}

bool sg_model_equal(const struct sg_model *a, const struct sg_model *b)
{
	return a->npages == b->npages &&
	       !memcmp(a->vram, b->vram, (size_t)a->npages * SG_PAGE) &&
	       !memcmp(a->written, b->written, a->npages) &&
	       !memcmp(&a->hw, &b->hw, sizeof(a->hw)) &&
	       a->has_plane == b->has_plane &&
	       !memcmp(&a->plane, &b->plane, sizeof(a->plane));
}

void sg_stream_init(struct sg_stream *s)
{
	memset(s, 0, sizeof(*s));
}

void sg_stream_free(struct sg_stream *s)
{
	free(s->data);
	s->data = NULL;
}

/* Room for one more unit of any size. */
static u8 *sg_unit(struct sg_stream *s, u32 type)
{
	if (s->nr_units >= SG_MAX_UNITS) {
		fprintf(stderr, "streamgen: too many units\n");
		abort();
	}
	if (s->cap - s->len < VSLICE_STREAM_UNIT_MAX) {
		s->cap = 2 * s->cap + VSLICE_STREAM_UNIT_MAX;
		s->data = realloc(s->data, s->cap);
		if (!s->data) {
			perror("realloc");
			abort();
		}
	}
	s->unit_off[s->nr_units] = s->len;
	s->unit_type[s->nr_units++] = type;
	return s->data + s->len;
}

static void sg_done(struct sg_stream *s, size_t n)
{
	if (!n) {
		fprintf(stderr, "streamgen: encoder refused a unit\n");
		abort();
	}
	s->len += n;
	s->unit_off[s->nr_units] = s->len;
}

static void sg_emit_run(struct sg_stream *s, struct sg_model *m,
			struct vslice_enc *e, u32 first, u32 count,
			bool zero)
{
	u8 *sec = sg_unit(s, zero ? VSLICE_SEC_VRAM_ZERO :
				      VSLICE_SEC_VRAM);

	if (zero) {
		sg_done(s, vslice_enc_vram_zero(e, sec, first, count));
		return;
	}
	memcpy(vslice_sec_pages(sec), m->vram + (size_t)first * SG_PAGE,
	       (size_t)count * SG_PAGE);
	sg_done(s, vslice_enc_vram(e, sec, first, count));
}

/*
 * Simulate a save: each round the "guest" writes (or zeroes) random runs
 * of @src and the saver streams exactly those runs, so applying the stream
 * in order to a blank model reproduces @src.
 */
void sg_build(struct sg_stream *s, struct sg_model *src, u64 seed,
	      const struct sg_opts *o)
{
	unsigned int max_run = o->max_run ? o->max_run : 8;
	struct vslice_enc e;
	unsigned int r, runs, n, i;
	u8 *u;

	s->len = 0;
	s->nr_units = 0;
	vslice_enc_init(&e);
	if (o->minor)
		e.minor = o->minor - 1;
	u = sg_unit(s, 0);
	sg_done(s, vslice_enc_hdr(&e, u, src->type_id, src->vram_size,
				  o->flags));

	for (r = 0; r < o->rounds; r++) {
		runs = 1 + sg_rand(&seed) % 4;
		while (runs--) {
			u32 first = sg_rand(&seed) % src->npages;
			u32 count = 1 + sg_rand(&seed) % max_run;
			bool zero = o->zero_runs && !(sg_rand(&seed) % 4);
			u32 done;

			if (count > src->npages - first)
				count = src->npages - first;
			for (i = 0; i < count; i++) {
				u8 *pg = src->vram +
					      (size_t)(first + i) * SG_PAGE;
				u64 v = sg_rand(&seed);
				size_t b;

				src->written[first + i] = !zero;
				for (b = 0; b < SG_PAGE; b += 8, v += 0x1234567)
					memcpy(pg + b, &v, 8);
				if (zero)
					memset(pg, 0, SG_PAGE);
			}
			for (done = 0; done < count; done += n) {
				n = count - done;
				if (n > VSLICE_STREAM_MAX_RUN)
					n = VSLICE_STREAM_MAX_RUN;
				sg_emit_run(s, src, &e, first + done, n, zero);
			}
		}
	}

	if (!o->no_hw) {
		struct vslice_stream_hw *hw;
		u8 *p = (u8 *)&src->hw;

		for (i = 0; i < offsetof(struct vslice_stream_hw, reserved); i++)
			p[i] = sg_rand(&seed);
		memset(src->hw.reserved, 0, sizeof(src->hw.reserved));
		memset(&src->plane, 0, sizeof(src->plane));
		src->has_plane = e.minor >= 1;
		p = (u8 *)&src->plane;
		if (src->has_plane)
			for (i = 0; i < offsetof(struct vslice_stream_plane,
						 reserved); i++)
				p[i] = sg_rand(&seed);
		u = sg_unit(s, VSLICE_SEC_HW);
		hw = vslice_sec_payload(u);
		*hw = src->hw;
		if (src->has_plane)
			memcpy(vslice_sec_plane(u), &src->plane,
			       sizeof(src->plane));
		sg_done(s, vslice_enc_hw(&e, u));
	}
	u = sg_unit(s, VSLICE_SEC_END);
	sg_done(s, vslice_enc_end(&e, u));
}

static u32 get32(const u8 *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (u32)p[3] << 24;
}

static void put32(u8 *p, u32 v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}

static void put64(u8 *p, u64 v)
{
	put32(p, v);
	put32(p + 4, v >> 32);
}

static u32 sum(const void *p, size_t n)
{
	return sg_crc32c_bitwise(~0u, p, n) ^ ~0u;
}

/*
 * Walk the stream by the section headers' own type and len (no
 * validation) and recompute the checksums and counters asked for.
 */
void sg_fix(u8 *data, size_t len, unsigned int what)
{
	const size_t hs = sizeof(struct vslice_stream_hdr);
	const size_t ss = sizeof(struct vslice_stream_sec);
	u32 chain = ~0u, nr = 0;
	size_t off = hs;

	if (len < hs)
		return;
	if (what & SG_FIX_HDR)
		put32(data + hs - 4, sum(data, hs - 4));
	chain = sg_crc32c_bitwise(chain, data, hs);

	while (len - off >= ss) {
		u8 *sec = data + off;
		u32 type = get32(sec), plen = get32(sec + 4);

		if (plen > len - off - ss)
			return;
		if (type == VSLICE_SEC_END &&
		    plen == sizeof(struct vslice_stream_end)) {
			u8 *end = sec + ss;

			if (what & SG_FIX_END) {
				put32(end, nr);
				put64(end + 8, off);
			}
			if (what & SG_FIX_STREAM)
				put32(end + 16, chain ^ ~0u);
		}
		if (what & SG_FIX_SEQ)
			put32(sec + 12, nr);
		if (what & SG_FIX_SEC)
			put32(sec + 8, sum(sec + ss, plen));
		chain = sg_crc32c_bitwise(chain, sec, ss);
		nr++;
		off += ss + plen;
	}
}

/* ---- recording sink ---- */

static int sg_log(struct sg_sink *k, int kind, u64 first,
		  u32 count, u64 hash)
{
	unsigned int n = ++k->nr_ev;

	if (n <= k->max_ev)
		k->ev[n - 1] = (struct sg_event){ kind, first, count, hash };
	/* the header is the first event, and only the first */
	if (n == 1 ? kind != SG_EV_HDR : kind == SG_EV_HDR)
		k->bad = true;
	/* exactly one HW section, before END */
	if (kind == SG_EV_HW && k->hw_seen++)
		k->bad = true;
	if (kind == SG_EV_END && !k->hw_seen)
		k->bad = true;
	return k->fail_at == n ? k->fail_err : 0;
}

/* What the decoder promises about a header it passes on. */
static int sg_on_hdr(void *ctx, const struct vslice_stream_hdr *h)
{
	struct sg_sink *k = ctx;

	if (h->reserved ||
	    __le16_to_cpu(h->major) != VSLICE_STREAM_VERSION_MAJOR ||
	    __le16_to_cpu(h->minor) > VSLICE_STREAM_VERSION_MINOR ||
	    __le32_to_cpu(h->flags) & ~VSLICE_STREAM_F_KNOWN ||
	    __le32_to_cpu(h->page_size) != VSLICE_STREAM_PAGE_SIZE ||
	    (k->npages != UINT64_MAX &&
	     __le64_to_cpu(h->vram_size) / SG_PAGE != k->npages))
		k->bad = true;
	return sg_log(k, SG_EV_HDR, 0, 0, sg_hash(h, sizeof(*h)));
}

static bool sg_run_ok(struct sg_sink *k, u64 first, u32 count)
{
	u64 npages = k->npages;

	if (!count || count > VSLICE_STREAM_MAX_RUN || first >= npages ||
	    count > npages - first) {
		k->bad = true;
		return false;
	}
	return true;
}

/* Direct landing (ops->vram_dst): a run's page @idx goes to stage slot idx % 64. */
static u8 *sg_stage_slot(struct sg_sink *k, u64 idx)
{
	return k->stage + (idx % VSLICE_STREAM_MAX_RUN) * SG_PAGE;
}

static void *sg_on_vram_dst(void *ctx, u64 idx)
{
	struct sg_sink *k = ctx;

	if (idx >= k->npages)
		k->bad = true;
	return sg_stage_slot(k, idx);
}

static int sg_on_vram(void *ctx, u64 first, u32 count, const void *pages)
{
	struct sg_sink *k = ctx;
	size_t bytes = (size_t)count * SG_PAGE;
	u32 i;

	if (!pages && k->stage && count <= VSLICE_STREAM_MAX_RUN) {
		/* landed directly: gather the run in order */
		for (i = 0; i < count; i++)
			memcpy(k->gather + (size_t)i * SG_PAGE,
			       sg_stage_slot(k, first + i), SG_PAGE);
		pages = k->gather;
	} else if (!pages) {
		k->bad = true;
		return -EINVAL;
	}

	if (sg_run_ok(k, first, count) && k->dst) {
		memcpy(k->dst->vram + first * SG_PAGE, pages, bytes);
		memset(k->dst->written + first, 1, count);
	}
	return sg_log(k, SG_EV_VRAM, first, count, sg_hash(pages, bytes));
}

static int sg_on_zero(void *ctx, u64 first, u32 count)
{
	struct sg_sink *k = ctx;

	if (sg_run_ok(k, first, count) && k->dst) {
		memset(k->dst->vram + first * SG_PAGE, 0,
		       (size_t)count * SG_PAGE);
		memset(k->dst->written + first, 0, count);
	}
	return sg_log(k, SG_EV_ZERO, first, count, 0);
}

static int sg_on_hw(void *ctx, const struct vslice_stream_hw *hw,
		    const struct vslice_stream_plane *plane)
{
	struct sg_sink *k = ctx;
	u64 h = sg_hash(hw, sizeof(*hw));
	size_t i;

	for (i = 0; i < ARRAY_SIZE(hw->reserved); i++)
		if (hw->reserved[i])
			k->bad = true;
	if (plane && plane->reserved)
		k->bad = true;
	if (plane)
		h ^= sg_hash(plane, sizeof(*plane)) * 3;
	if (k->dst) {
		k->dst->hw = *hw;
		k->dst->has_plane = plane;
		memset(&k->dst->plane, 0, sizeof(k->dst->plane));
		if (plane)
			k->dst->plane = *plane;
	}
	if (plane)
		k->planes++;
	return sg_log(k, SG_EV_HW, 0, 0, h);
}

static int sg_on_end(void *ctx)
{
	return sg_log(ctx, SG_EV_END, 0, 0, 0);
}

const struct vslice_loader_ops sg_sink_ops = {
	.hdr = sg_on_hdr,
	.vram = sg_on_vram,
	.vram_zero = sg_on_zero,
	.hw = sg_on_hw,
	.end = sg_on_end,
};

/* The same, with VRAM pages landing at vram_dst() as the module does. */
static const struct vslice_loader_ops sg_sink_direct_ops = {
	.hdr = sg_on_hdr,
	.vram = sg_on_vram,
	.vram_dst = sg_on_vram_dst,
	.vram_zero = sg_on_zero,
	.hw = sg_on_hw,
	.end = sg_on_end,
};

void sg_sink_init(struct sg_sink *k, struct sg_model *dst,
		  struct sg_event *ev, unsigned int max_ev)
{
	memset(k, 0, sizeof(*k));
	k->dst = dst;
	k->npages = dst ? dst->npages : UINT64_MAX;
	k->ev = ev;
	k->max_ev = ev ? max_ev : 0;
}

static struct sg_result sg_decode_one(const u8 *data, size_t len,
				      u32 type_id, u64 vram_size,
				      struct sg_sink *sink,
				      const size_t *splits,
				      unsigned int nr_splits, bool direct)
{
	static u8 *buf;
	struct sg_result r = { 0 };
	struct vslice_loader l;
	size_t off = 0, n;
	unsigned int i = 0;
	ssize_t ret;

	if (!buf) {
		buf = malloc(VSLICE_STREAM_UNIT_MAX);	/* exact: ASan sees overruns */
		if (!buf)
			abort();
	}
	sink->npages = vram_size / SG_PAGE;
	vslice_loader_init(&l, direct ? &sg_sink_direct_ops : &sg_sink_ops,
			   sink, buf, type_id, vram_size);
	while (off < len) {
		n = len - off;
		if (nr_splits && splits[i % nr_splits] < n)
			n = splits[i % nr_splits];
		i++;
		ret = vslice_loader_feed(&l, data + off, n);
		if (ret < 0) {
			if (!r.feed_err)
				r.feed_err = ret;
			break;
		}
		if ((size_t)ret != n)
			sink->bad = true;
		off += n;
	}
	r.finish = vslice_loader_finish(&l);
	r.complete = vslice_loader_complete(&l);
	return r;
}

static bool sg_events_equal(const struct sg_event *a,
			    const struct sg_event *b, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (a[i].kind != b[i].kind || a[i].first != b[i].first ||
		    a[i].count != b[i].count || a[i].hash != b[i].hash)
			return false;
	return true;
}

/*
 * Every decode runs twice: first with the VRAM pages landing directly at
 * ops->vram_dst() (the module's way, into a copy of the sink and of its
 * model), then collected in the unit buffer.  Both must agree on the
 * result, every callback and the model they leave; a difference aborts.
 */
struct sg_result sg_decode(const u8 *data, size_t len,
			   u32 type_id, u64 vram_size,
			   struct sg_sink *sink, const size_t *splits,
			   unsigned int nr_splits)
{
	static u8 *stage, *gather;
	struct sg_sink dk = *sink;
	struct sg_model dm;
	struct sg_result rd, r;

	if (!stage) {
		stage = malloc((size_t)VSLICE_STREAM_MAX_RUN * SG_PAGE);
		gather = malloc((size_t)VSLICE_STREAM_MAX_RUN * SG_PAGE);
		if (!stage || !gather)
			abort();
	}
	if (sink->dst) {
		dm = *sink->dst;
		dm.vram = xcalloc(dm.npages, SG_PAGE);
		dm.written = xcalloc(dm.npages, 1);
		memcpy(dm.vram, sink->dst->vram, (size_t)dm.npages * SG_PAGE);
		memcpy(dm.written, sink->dst->written, dm.npages);
		dk.dst = &dm;
	}
	dk.ev = sink->max_ev ? xcalloc(sink->max_ev, sizeof(*dk.ev)) : NULL;
	dk.stage = stage;
	dk.gather = gather;
	rd = sg_decode_one(data, len, type_id, vram_size, &dk, splits,
			   nr_splits, true);
	sink->stage = NULL;
	r = sg_decode_one(data, len, type_id, vram_size, sink, splits,
			  nr_splits, false);
	if (rd.feed_err != r.feed_err || rd.finish != r.finish ||
	    rd.complete != r.complete || dk.nr_ev != sink->nr_ev ||
	    dk.bad != sink->bad || dk.hw_seen != sink->hw_seen ||
	    !sg_events_equal(dk.ev, sink->ev, sink->nr_ev < sink->max_ev ?
						 sink->nr_ev : sink->max_ev) ||
	    (sink->dst && !sg_model_equal(&dm, sink->dst))) {
		fprintf(stderr, "streamgen: direct landing differs (%d/%d %d/%d)\n",
			rd.feed_err, r.feed_err, rd.finish, r.finish);
		abort();
	}
	free(dk.ev);
	if (sink->dst)
		sg_model_free(&dm);
	return r;
}
