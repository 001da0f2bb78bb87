// SPDX-License-Identifier: GPL-2.0
/*
 * gen_corpus DIR - write the seed corpus of stream_fuzz: valid streams of
 * the fuzzer's device (see fuzz.h), each behind a few split-control
 * prefixes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "streamgen.h"

static void put(const char *dir, const char *name, const u8 *ctl,
		size_t nctl, const struct sg_stream *s)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(ctl, 1, nctl, f) != nctl ||
	    fwrite(s->data, 1, s->len, f) != s->len || fclose(f)) {
		perror(path);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		u8 ctl[8];
		size_t n;
	} ctls[] = {
		{ "whole", { 0 }, 1 },
		{ "bytes1", { 1, 0 }, 2 },
		{ "mixed", { 3, 6, 0x83, 39 }, 4 },
		{ "fix", { FUZZ_FIX_ALL << FUZZ_FIX_SHIFT | 1, 200 }, 2 },
	};
	static const struct sg_opts opts[] = {
		{ .rounds = 0 },
		{ .rounds = 1, .max_run = 1 },
		{ .rounds = 2, .max_run = 3, .zero_runs = true,
		  .flags = VSLICE_STREAM_F_ZERO_ELISION },
		{ .rounds = 3, .max_run = FUZZ_NPAGES / 2, .zero_runs = true },
		{ .rounds = 2, .max_run = 2, .no_hw = true },
	};
	struct sg_stream s;
	struct sg_model m;
	unsigned int i, c;
	char name[64];

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	sg_stream_init(&s);
	for (i = 0; i < ARRAY_SIZE(opts); i++) {
		sg_model_init(&m, FUZZ_TYPE_ID, FUZZ_NPAGES);
		sg_build(&s, &m, 100 + i, &opts[i]);
		for (c = 0; c < ARRAY_SIZE(ctls); c++) {
			snprintf(name, sizeof(name), "seed-%u-%s", i,
				 ctls[c].name);
			put(argv[1], name, ctls[c].ctl, ctls[c].n, &s);
		}
		sg_model_free(&m);
	}
	sg_stream_free(&s);
	return 0;
}
