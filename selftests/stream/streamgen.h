/* SPDX-License-Identifier: GPL-2.0 */
/*
 * streamgen: build migration streams with mdev/stream.c's encoder, apply
 * them to a model device, and record what the decoder hands out - shared
 * by stream_test, stream_fuzz and gen_corpus.
 */
#ifndef _VSLICE_STREAMGEN_H
#define _VSLICE_STREAMGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../mdev/stream.h"

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#endif
#define BIT(n)		(1u << (n))

#define SG_PAGE		VSLICE_STREAM_PAGE_SIZE
#define SG_MAX_UNITS	4096

/**
 * struct sg_model - the state a stream carries: VRAM and device state
 * @type_id:	mdev type id
 * @vram_size:	bytes
 * @npages:	@vram_size / SG_PAGE
 * @vram:	page contents
 * @written:	per page: written (1) or zero/never written (0)
 * @hw:		the HW section's payload
 * @plane:	the plane that follows it (format 1.1+; zero in 1.0)
 * @has_plane:	the stream carried @plane
 */
struct sg_model {
	u32 type_id;
	u64 vram_size;
	u32 npages;
	u8 *vram;
	u8 *written;
	struct vslice_stream_hw hw;
	struct vslice_stream_plane plane;
	bool has_plane;
};

/**
 * struct sg_stream - an encoded stream and where its units start
 * @data:	bytes
 * @len:	bytes used
 * @cap:	bytes allocated
 * @nr_units:	units: the header, each section, END
 * @unit_off:	offset of each unit; unit_off[nr_units] == @len
 * @unit_type:	0 for the header, else the section type
 */
struct sg_stream {
	u8 *data;
	size_t len;
	size_t cap;
	unsigned int nr_units;
	size_t unit_off[SG_MAX_UNITS + 1];
	u32 unit_type[SG_MAX_UNITS];
};

/**
 * struct sg_opts - shape of a generated stream
 * @rounds:	save passes over VRAM (pre-copy iterations + stop-copy)
 * @max_run:	longest run written per pass (pages)
 * @zero_runs:	also emit VRAM_ZERO sections
 * @no_hw:	omit the HW section (invalid stream)
 * @flags:	header feature flags
 * @minor:	write a stream of minor version @minor - 1 (0: the newest)
 */
struct sg_opts {
	unsigned int rounds;
	unsigned int max_run;
	bool zero_runs;
	bool no_hw;
	u32 flags;
	unsigned int minor;
};

void sg_model_init(struct sg_model *m, u32 type_id, u32 npages);
void sg_model_free(struct sg_model *m);
bool sg_model_equal(const struct sg_model *a, const struct sg_model *b);

void sg_stream_init(struct sg_stream *s);
void sg_stream_free(struct sg_stream *s);
void sg_build(struct sg_stream *s, struct sg_model *src, u64 seed,
	      const struct sg_opts *o);

/* Recompute checksums after a deliberate edit (SG_FIX_* flags). */
#define SG_FIX_HDR	BIT(0)	/* hdr_crc */
#define SG_FIX_SEC	BIT(1)	/* every section's payload crc */
#define SG_FIX_END	BIT(2)	/* END: nr_sections, total_bytes */
#define SG_FIX_STREAM	BIT(3)	/* END: stream_crc */
#define SG_FIX_ALL	(SG_FIX_HDR | SG_FIX_SEC | SG_FIX_END | SG_FIX_STREAM)
#define SG_FIX_SEQ	BIT(4)	/* renumber seq (not in SG_FIX_ALL) */
void sg_fix(u8 *data, size_t len, unsigned int what);

u32 sg_crc32c_bitwise(u32 crc, const void *buf, size_t len);
u64 sg_hash(const void *buf, size_t len);
u64 sg_rand(u64 *state);

/**
 * struct sg_event - one decoder callback
 * @kind:	SG_EV_*
 * @first:	VRAM run start
 * @count:	VRAM run length
 * @hash:	sg_hash() of the data handed over
 */
struct sg_event {
	int kind;
	u64 first;
	u32 count;
	u64 hash;
};

enum { SG_EV_HDR = 1, SG_EV_VRAM, SG_EV_ZERO, SG_EV_HW, SG_EV_END };

/**
 * struct sg_sink - decoder callbacks that log events and apply a model
 * @dst:	model to apply the stream to, or NULL
 * @npages:	VRAM pages of the decoder's device (set by sg_decode())
 * @ev:		event log
 * @nr_ev:	events logged
 * @max_ev:	log capacity; further events are counted, not stored
 * @fail_at:	return @fail_err from the callback making event @fail_at
 *		(1-based), 0 for never
 * @fail_err:	the error to return
 * @hw_seen:	HW sections seen
 * @planes:	of them, with a plane (1.1+)
 * @bad:	a callback saw something the decoder promised never to pass
 * @stage:	sg_decode()'s direct run: where vram_dst() lands pages
 * @gather:	sg_decode()'s direct run: a run's pages put back in order
 */
struct sg_sink {
	struct sg_model *dst;
	u64 npages;
	struct sg_event *ev;
	unsigned int nr_ev;
	unsigned int max_ev;
	unsigned int fail_at;
	int fail_err;
	unsigned int hw_seen;
	unsigned int planes;
	bool bad;
	u8 *stage;
	u8 *gather;
};

extern const struct vslice_loader_ops sg_sink_ops;

void sg_sink_init(struct sg_sink *k, struct sg_model *dst,
		  struct sg_event *ev, unsigned int max_ev);

/**
 * struct sg_result - what decoding a stream produced
 * @feed_err:	first negative return of vslice_loader_feed(), or 0
 * @finish:	vslice_loader_finish()
 * @complete:	vslice_loader_complete()
 */
struct sg_result {
	int feed_err;
	int finish;
	bool complete;
};

/*
 * Decode @data with a fresh loader for (@type_id, @vram_size), fed in
 * pieces of the sizes @splits[] cycles through (NULL/0: one piece).
 * Decodes twice, VRAM pages landing at ops->vram_dst() and in the unit
 * buffer, and aborts if the two differ in anything.
 */
struct sg_result sg_decode(const u8 *data, size_t len,
			   u32 type_id, u64 vram_size,
			   struct sg_sink *sink, const size_t *splits,
			   unsigned int nr_splits);

#endif /* _VSLICE_STREAMGEN_H */
