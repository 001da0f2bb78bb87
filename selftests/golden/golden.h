/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vslice golden streams: the recipe that produced every stream listed in
 * selftests/golden/MANIFEST, and the parser of that manifest.  Shared by
 * the producer and VM loader (selftests/golden_test.c) and the host loader
 * (selftests/stream/stream_test.c, through the userspace build of
 * mdev/stream.c), so both check a loaded stream against the same truth:
 * what the source was made to hold, not what the stream says.
 *
 * Content of the source instance:
 *   idle  nothing written: VRAM all zero, scratch registers 0
 *   busy  scratch[i] = golden_scratch(i); pages GOLDEN_PAGES_A (and the
 *         last page) hold golden_fill(GOLDEN_SEED_A, page); then, while
 *         the save runs in pre-copy after its first pass, page
 *         GOLDEN_PAGE_REDIRTY is rewritten and GOLDEN_PAGE_LATE written
 *         with GOLDEN_SEED_B, so the stream carries one page twice and the
 *         later copy must win.  From format 1.1 on, busy also enables the
 *         scanout plane golden_plane (before the save) and then writes
 *         golden_plane_shadow into the shadow registers without a commit;
 *         a 1.0 stream, and an idle one, load with the plane disabled.
 *
 * The manifest only ever grows: a new format version adds streams under
 * new names (the version is part of the name), old ones stay and must
 * keep loading.
 */
#ifndef _VSLICE_GOLDEN_H
#define _VSLICE_GOLDEN_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define GOLDEN_PAGE		4096u
#define GOLDEN_SEED_A		0x601d0001u
#define GOLDEN_SEED_B		0x601d0002u
#define GOLDEN_PAGE_REDIRTY	9u
#define GOLDEN_PAGE_LATE	2000u
#define GOLDEN_NR_SCRATCH	8

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))
#endif

/*
 * The busy plane (format 1.1+): active plane, then shadow registers
 * written but not committed.  Values of VSLICE_PLANE_FMT_XRGB8888 and
 * VSLICE_PLANE_FMT_XBGR8888 spelled out: uapi headers stay out of here.
 */
struct golden_plane {
	uint32_t format;
	uint64_t offset;
	uint32_t width, height, stride;
};

static const struct golden_plane golden_plane = {
	0x34325258, 8 * 4096, 256, 128, 1024,		/* XR24 at page 8 */
};

static const struct golden_plane golden_plane_shadow = {
	0x34324258, 1000 * 4096, 64, 32, 512,		/* XB24 at page 1000 */
};

/* Pages written before the save starts (plus the last page of VRAM). */
static const uint64_t golden_pages_a[] = { 8, 9, 10, 1000 };

static inline uint32_t golden_scratch(int i)
{
	return 0x60d0c0deu + 0x01000193u * (uint32_t)i;
}

/* The content of @page written with @seed: 512 pseudo-random words. */
static inline void golden_fill(void *buf, uint32_t seed, uint64_t page)
{
	uint64_t *w = buf;
	unsigned int i;

	for (i = 0; i < GOLDEN_PAGE / 8; i++) {
		uint64_t x = ((uint64_t)seed << 32 ^ (page * 512 + i)) +
			     0x9e3779b97f4a7c15ULL;

		x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
		x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
		w[i] = x ^ (x >> 31);	/* little-endian hosts only */
	}
}

/*
 * The seed page @page of a @busy source must hold after a complete load,
 * 0 for a zero page.
 */
static inline uint32_t golden_page_seed(int busy, uint64_t npages,
					uint64_t page)
{
	unsigned int i;

	if (!busy)
		return 0;
	if (page == GOLDEN_PAGE_REDIRTY || page == GOLDEN_PAGE_LATE)
		return GOLDEN_SEED_B;
	if (page == npages - 1)
		return GOLDEN_SEED_A;
	for (i = 0; i < ARRAY_SIZE(golden_pages_a); i++)
		if (golden_pages_a[i] == page)
			return GOLDEN_SEED_A;
	return 0;
}

/**
 * struct golden_entry - one MANIFEST line
 * @file:	stream file name, "stream-v<major>.<minor>-<type>-<content>-<producer>.bin"
 * @type:	mdev type directory name ("vslice-128m")
 * @type_id:	the type's stream type id
 * @vram_mib:	its VRAM size
 * @major:	format version of the stream
 * @minor:	...
 * @busy:	content: 0 idle, 1 busy
 * @producer:	"v2" (data fd) or "v1" (v1 migration region)
 * @kernel:	the kernel the producing module ran on
 */
struct golden_entry {
	char file[128];
	char type[32];
	unsigned int type_id;
	unsigned int vram_mib;
	unsigned int major, minor;
	int busy;
	char producer[8];
	char kernel[64];
};

/*
 * Next entry of the manifest @f: 1 and *@e, 0 at the end, -1 on a
 * malformed line.  Lines: file type type_id vram_mib format content
 * producer kernel; '#' starts a comment.
 */
static inline int golden_next(FILE *f, struct golden_entry *e)
{
	char line[512], content[16];

	while (fgets(line, sizeof(line), f)) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		memset(e, 0, sizeof(*e));
		if (sscanf(line, "%127s %31s %u %u %u.%u %15s %7s %63s",
			   e->file, e->type, &e->type_id, &e->vram_mib,
			   &e->major, &e->minor, content, e->producer,
			   e->kernel) != 9)
			return -1;
		if (!strcmp(content, "busy"))
			e->busy = 1;
		else if (strcmp(content, "idle"))
			return -1;
		return 1;
	}
	return 0;
}

#endif /* _VSLICE_GOLDEN_H */
