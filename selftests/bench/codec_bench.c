// SPDX-License-Identifier: GPL-2.0
/*
 * codec_bench - the CPU cost of the migration data path, natively on the
 * host (no VM).
 *
 * The VM that `make bench` uses runs under TCG, which distorts exactly the
 * instructions this path is made of: `rep movsb` (copy_to_user) and the
 * SSE4.2 crc32 instruction (a bit-by-bit helper in TCG) are far slower
 * there, relative to plain loads and stores, than on any real CPU.  So the
 * data path's CPU cost is measured here, in userspace, by running the
 * module's own stream code - mdev/stream.c, built against
 * selftests/stream/kshim - through the same calls the module makes:
 *
 *   crc32c         the codec's CRC32C over the whole VRAM in one call:
 *                  ISA-L's crc32_iscsi() here, the kernel's crc32c() in the
 *                  module; the ceiling the issue 26 targets are set against
 *   save_crc       the CRC half of save alone: vslice_enc_vram_pages() for
 *                  every run, nothing copied (one call per page, as the
 *                  module's pages are not contiguous)
 *   save           stop-copy: per run of 64 pages vslice_enc_vram_pages()
 *                  (run header, CRC over the VRAM pages where they are,
 *                  framing), then the headers and each page copied once to
 *                  a 1 MiB buffer (copy_page_to_iter() in the module)
 *   save_precopy   pre-copy: each run snapshot into the section buffer,
 *                  framed by vslice_enc_vram(), the section copied out
 *   resume         vslice_loader_feed() in 1 MiB pieces: the loop of
 *                  vslice_loader_window(), a copy and vslice_loader_commit()
 *                  that migration.c runs with copy_from_iter() (and a lock
 *                  drop per page), each VRAM page landing once in its
 *                  staged page (->vram_dst) and summed there, then the zero
 *                  check of vslice_vram_stage_settle()
 *   stage_copy     the copy alone that resume cannot avoid: the stream's
 *                  pages into the staged pages, a page at a time, no
 *                  decoding and no CRC (resume's ceiling on this machine)
 *
 * What stays outside is kernel glue, not per-byte work: the copy
 * primitives (memcpy for copy_page_to_iter()/copy_from_iter()), the VRAM
 * page lookup (an array for take_run and the stage; the pool keeps pages
 * from one resume to the next) and the locks.  Measured against memcpy of
 * the same bytes into a 1 MiB buffer (..._ratio) and against crc32c
 * (..._vs_crc).  Output lines: "# cpu ...", "# flags ...", "# crc32c ..."
 * (the CPU, the flags that decide which CRC32C code runs, and the code
 * that ran), then "bench host_<name>_MBps <value> MB/s", "..._ratio" and
 * "..._vs_crc" (MB = 10^6 B).  Each figure is the best of five
 * interleaved rounds.
 *
 *   codec_bench [MIB] [--crc=VARIANT] [--only=PATH]
 *
 * MIB is the VRAM size (256).  --crc= picks ISA-L's variant instead of
 * its own choice for this CPU: by16_10 (AVX-512 VPCLMULQDQ), 01 (SSE4.2
 * crc32 on three streams, PCLMULQDQ to join them: what ISA-L picks
 * without AVX-512, and the algorithm of the kernel's crc32c-intel), 00 or
 * base; so one machine can show both kinds of CPU's CRC code.  --only=PATH
 * runs one path alone for five seconds (one mean figure), for perf record.
 */
#include <dlfcn.h>
#include <isa-l/crc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "../../mdev/stream.h"

#define PG		4096u
#define RUN		VSLICE_STREAM_MAX_RUN
#define CHUNK		(1024u * 1024u)
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define SEC_HDR		(sizeof(struct vslice_stream_sec) + \
			 sizeof(struct vslice_stream_vram))

static size_t vram_bytes = 256u << 20;
static uint8_t *vram, *out, *secbuf, *stream, *dst_vram;
static size_t stream_len;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void *alloc(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	memset(p, 1, len);
	return p;
}

/* Copy @len bytes to the 1 MiB output buffer, wrapping like read() does. */
static size_t out_pos;

static void out_copy(const void *src, size_t len)
{
	while (len) {
		size_t n = CHUNK - out_pos < len ? CHUNK - out_pos : len;

		memcpy(out + out_pos, src, n);
		out_pos = (out_pos + n) % CHUNK;
		src = (const uint8_t *)src + n;
		len -= n;
	}
}

/* ---- which CRC32C runs ---- */

typedef unsigned int (*crc_fn)(unsigned char *buf, int len, unsigned int crc);

static crc_fn crc_impl = crc32_iscsi;

/* what crc32c() calls in stream.c (kshim/linux/crc32c.h): a tail call */
unsigned int kshim_crc32c_impl(unsigned char *buf, int len, unsigned int crc)
{
	return crc_impl(buf, len, crc);
}

static const struct {
	const char *name;
	const char *what;
} crc_variants[] = {
	{ "crc32_iscsi_by16_10", "AVX-512 VPCLMULQDQ folding, in order" },
	{ "crc32_iscsi_01",
	  "SSE4.2 crc32 x 3 streams, PCLMULQDQ join (the kernel's crc_pcl)" },
	{ "crc32_iscsi_00", "SSE4.2 crc32 x 3 streams, table join" },
	{ "crc32_iscsi_base", "table lookup, no SSE4.2" },
};

/*
 * The target of an x86-64 "[endbr64] [bnd] jmp *disp32(%rip)": ISA-L's
 * crc32_iscsi() is one, jumping through the pointer its dispatcher set on
 * the first call, and that pointer is a PLT stub, another one.  NULL if
 * @p is not such a jump.
 */
static void *jmp_target(const void *p)
{
#ifdef __x86_64__
	const uint8_t *c = p;
	int32_t disp;
	void *dst;

	if (!memcmp(c, "\xf3\x0f\x1e\xfa", 4))
		c += 4;
	if (c[0] == 0xf2)
		c++;
	if (c[0] != 0xff || c[1] != 0x25)
		return NULL;
	memcpy(&disp, c + 2, sizeof(disp));
	memcpy(&dst, c + 6 + disp, sizeof(dst));
	return dst;
#else
	return NULL;
#endif
}

/* The exported variant ISA-L's dispatcher chose for this CPU, or NULL. */
static const char *isal_choice(void)
{
	void *p = (void *)crc32_iscsi;
	unsigned int hop;
	uint8_t b = 0;
	size_t i;

	crc32_iscsi(&b, 1, 0);		/* the first call dispatches */
	for (hop = 0; p && hop < 4; hop++) {
		for (i = 0; i < ARRAY_SIZE(crc_variants); i++)
			if (p == dlsym(RTLD_DEFAULT, crc_variants[i].name))
				return crc_variants[i].name;
		p = jmp_target(p);
	}
	return NULL;
}

static const char *crc_what(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(crc_variants); i++)
		if (!strcmp(crc_variants[i].name, name))
			return crc_variants[i].what;
	return "?";
}

/* --crc=VARIANT, or ISA-L's own choice; prints what runs. */
static void pick_crc(const char *want)
{
	const char *chosen = isal_choice();
	char name[64];
	void *fn;

	if (!want) {
		printf("# crc32c ISA-L %s: %s (ISA-L's choice for this CPU)\n",
		       chosen ?: "crc32_iscsi (variant not identified)",
		       chosen ? crc_what(chosen) : "?");
		fn = chosen ? dlsym(RTLD_DEFAULT, chosen) : NULL;
		if (fn)		/* one jump less than the dispatcher */
			crc_impl = (crc_fn)fn;
		return;
	}
	snprintf(name, sizeof(name), "crc32_iscsi_%s", want);
	fn = dlsym(RTLD_DEFAULT, name);
	if (!fn || !strcmp(crc_what(name), "?")) {
		fprintf(stderr, "codec_bench: no ISA-L variant %s\n", name);
		exit(1);
	}
	crc_impl = (crc_fn)fn;
	printf("# crc32c ISA-L %s: %s (--crc; ISA-L's choice here: %s)\n",
	       name, crc_what(name), chosen ?: "?");
}

/* The CPU and the flags that decide which CRC32C code runs. */
static void print_cpu(void)
{
	static const char *const want[] = {
		"sse4_2", "pclmulqdq", "vpclmulqdq", "avx2", "avx512f",
		"avx512dq", "avx512cd", "avx512bw", "avx512vl",
		"avx512_vbmi2", "gfni", "vaes", "avx512_vnni",
		"avx512_bitalg", "avx512_vpopcntdq",
	};
	char line[8192], model[256] = "?", family[32] = "?", mod[32] = "?";
	char flags[8192] = "";
	FILE *f = fopen("/proc/cpuinfo", "r");
	size_t i;

	while (f && fgets(line, sizeof(line), f)) {
		char *v = strchr(line, ':');

		if (!v)
			continue;
		v += 1 + (v[1] == ' ');
		v[strcspn(v, "\n")] = 0;
		if (!strncmp(line, "model name", 10) && model[0] == '?')
			snprintf(model, sizeof(model), "%s", v);
		else if (!strncmp(line, "cpu family", 10) && family[0] == '?')
			snprintf(family, sizeof(family), "%s", v);
		else if (!strncmp(line, "model\t", 6) && mod[0] == '?')
			snprintf(mod, sizeof(mod), "%s", v);
		else if (!strncmp(line, "flags", 5) && !flags[0])
			snprintf(flags, sizeof(flags), " %s ", v);
	}
	if (f)
		fclose(f);
	printf("# cpu %s (family %s model %s)\n# flags", model, family, mod);
	for (i = 0; i < ARRAY_SIZE(want); i++) {
		char pat[64];

		snprintf(pat, sizeof(pat), " %s ", want[i]);
		printf(" %s%s", strstr(flags, pat) ? "" : "-", want[i]);
	}
	printf("\n");
}

/* ---- the paths ---- */

static void run_memcpy(void)
{
	size_t off;

	for (off = 0; off < vram_bytes; off += CHUNK)
		memcpy(out, vram + off, CHUNK);
}

/* Results land here so that the compiler keeps the work. */
uint32_t codec_bench_sink;

static void run_crc32c(void)
{
	codec_bench_sink = vslice_crc32c(~0u, vram, vram_bytes);
}

/* The CRC half of run_save(): vslice_enc_vram_pages() alone. */
static void run_save_crc(void)
{
	const void *pages[RUN];
	struct vslice_enc e;
	size_t first, i;

	vslice_enc_init(&e);
	vslice_enc_hdr(&e, secbuf, 1, vram_bytes, 1);
	for (first = 0; first < vram_bytes / PG; first += RUN) {
		for (i = 0; i < RUN; i++)
			pages[i] = vram + (first + i) * PG;
		if (!vslice_enc_vram_pages(&e, secbuf, first, RUN, pages))
			exit(2);
	}
	codec_bench_sink = e.crc;
}

/*
 * Stop-copy as migration.c does it: per run, vslice_enc_vram_pages() (the
 * module's call: run header, CRC over the VRAM pages where they are,
 * framing), then the headers and each page copied once to the reader
 * (copy_page_to_iter() there, memcpy here).
 */
static void run_save(void)
{
	const void *pages[RUN];
	struct vslice_enc e;
	size_t first, i;

	vslice_enc_init(&e);
	out_copy(secbuf, vslice_enc_hdr(&e, secbuf, 1, vram_bytes, 1));
	for (first = 0; first < vram_bytes / PG; first += RUN) {
		for (i = 0; i < RUN; i++)
			pages[i] = vram + (first + i) * PG;
		if (!vslice_enc_vram_pages(&e, secbuf, first, RUN, pages))
			exit(2);
		out_copy(secbuf, SEC_HDR);
		for (i = 0; i < RUN; i++)
			out_copy(pages[i], PG);
	}
}

/*
 * Pre-copy as migration.c does it: the run snapshot into the section
 * buffer (the guest may still write), framed with vslice_enc_vram(), the
 * section copied to the reader.
 */
static void run_save_precopy(void)
{
	struct vslice_enc e;
	size_t first, i;

	vslice_enc_init(&e);
	out_copy(secbuf, vslice_enc_hdr(&e, secbuf, 1, vram_bytes, 1));
	for (first = 0; first < vram_bytes / PG; first += RUN) {
		uint8_t *pages = vslice_sec_pages(secbuf);
		size_t len;

		for (i = 0; i < RUN; i++)
			memcpy(pages + i * PG, vram + (first + i) * PG, PG);
		len = vslice_enc_vram(&e, secbuf, first, RUN);
		out_copy(secbuf, len);
	}
}

/*
 * Resume as migration.c does it: window, copy, commit (memcpy here,
 * copy_from_iter() there) with the module's callbacks: ->vram_dst hands out the staged page of an
 * index (vslice_vram_stage_page(): here a page array filled once, as the
 * pool keeps pages from one resume to the next), ->vram checks each
 * landed page for zeros (vslice_vram_stage_settle(): memchr_inv()).
 * Installing the stage is a pointer swap per page, left out.
 */
static uint8_t **stage;

static void *ld_vram_dst(void *ctx, u64 idx)
{
	return stage[idx];
}

static int ld_vram(void *ctx, u64 first, u32 count, const void *pages)
{
	u32 i;

	for (i = 0; i < count; i++) {
		const uint8_t *p = stage[first + i];
		size_t k;

		/* memchr_inv(): stops at the first non-zero byte */
		for (k = 0; k < PG; k += 8)
			if (*(const uint64_t *)(p + k))
				break;
		if (k == PG)
			codec_bench_sink++;
	}
	return 0;
}

static int ld_hw(void *ctx, const struct vslice_stream_hw *hw,
		 const struct vslice_stream_plane *plane)
{
	return 0;
}

static const struct vslice_loader_ops ld_ops = {
	.vram = ld_vram,
	.vram_dst = ld_vram_dst,
	.hw = ld_hw,
};

static void make_stream(void)
{
	struct vslice_enc e;
	size_t first, i;

	stream_len = 0;
	vslice_enc_init(&e);
	stream_len += vslice_enc_hdr(&e, stream, 1, vram_bytes, 1);
	for (first = 0; first < vram_bytes / PG; first += RUN) {
		uint8_t *sec = stream + stream_len;

		for (i = 0; i < RUN; i++)
			memcpy((uint8_t *)vslice_sec_pages(sec) + i * PG,
			       vram + (first + i) * PG, PG);
		stream_len += vslice_enc_vram(&e, sec, first, RUN);
	}
	memset(stream + stream_len, 0, 16 + vslice_stream_hw_len(e.minor));
	stream_len += vslice_enc_hw(&e, stream + stream_len);
	stream_len += vslice_enc_end(&e, stream + stream_len);
}

static void run_resume(void)
{
	static struct vslice_loader l;
	size_t off;

	vslice_loader_init(&l, &ld_ops, NULL, secbuf, 1, vram_bytes);
	for (off = 0; off < stream_len; off += CHUNK) {
		size_t n = stream_len - off < CHUNK ? stream_len - off : CHUNK;

		if (vslice_loader_feed(&l, stream + off, n) != (ssize_t)n) {
			fprintf(stderr, "codec_bench: stream rejected\n");
			exit(1);
		}
	}
	if (!vslice_loader_complete(&l)) {
		fprintf(stderr, "codec_bench: stream incomplete\n");
		exit(1);
	}
}

/* The copy of run_resume() alone: the stream's pages into the stage. */
static void run_stage_copy(void)
{
	size_t first, i, at = VSLICE_STREAM_HDR_SIZE;

	for (first = 0; first < vram_bytes / PG; first += RUN) {
		at += SEC_HDR;
		for (i = 0; i < RUN; i++, at += PG)
			memcpy(stage[first + i], stream + at, PG);
	}
}

struct variant {
	const char *name;
	void (*run)(void);
};

static const struct variant variants[] = {
	{ "memcpy", run_memcpy },
	{ "crc32c", run_crc32c },
	{ "save_crc", run_save_crc },
	{ "save", run_save },
	{ "save_precopy", run_save_precopy },
	{ "resume", run_resume },
	{ "stage_copy", run_stage_copy },
};

#define CRC	1	/* index of crc32c in variants[] */

#define NV	ARRAY_SIZE(variants)

static int bad_args(void)
{
	fprintf(stderr, "run as: codec_bench [MIB] [--crc=by16_10|01|00|base] [--only=PATH]\n");
	return 2;
}

/* --only=PATH: that path alone for about five seconds, for perf record */
static int profile(const char *name)
{
	uint64_t t0 = now_ns(), n = 0;
	size_t i;

	for (i = 0; i < NV && strcmp(variants[i].name, name); i++)
		;
	if (i == NV)
		return bad_args();
	do {
		variants[i].run();
		n++;
	} while (now_ns() - t0 < 5000000000ull);
	printf("# --only=%s: %.1f MB/s, mean of %llu runs\n",
	       name, n * vram_bytes * 1e3 / (now_ns() - t0),
	       (unsigned long long)n);
	return 0;
}

int main(int argc, char **argv)
{
	const char *crc = NULL, *only = NULL;
	uint64_t best[NV];
	unsigned int i, rep;
	int arg;

	for (arg = 1; arg < argc; arg++) {
		if (!strncmp(argv[arg], "--crc=", 6))
			crc = argv[arg] + 6;
		else if (!strncmp(argv[arg], "--only=", 7))
			only = argv[arg] + 7;
		else if (argv[arg][0] != '-')
			vram_bytes = strtoull(argv[arg], NULL, 0) << 20;
		else
			return bad_args();
	}
	print_cpu();
	pick_crc(crc);
	vram = alloc(vram_bytes);
	dst_vram = alloc(vram_bytes);
	stage = calloc(vram_bytes / PG, sizeof(*stage));
	if (!stage)
		exit(1);
	for (i = 0; i < vram_bytes / PG; i++)
		stage[i] = dst_vram + (size_t)i * PG;
	out = alloc(CHUNK);
	secbuf = alloc(VSLICE_STREAM_UNIT_MAX);
	stream = alloc(vram_bytes + vram_bytes / 64 + 65536);
	for (i = 0; i < vram_bytes / 8; i++)
		((uint64_t *)vram)[i] = i * 0x9e3779b97f4a7c15ull;
	make_stream();

	if (only)
		return profile(only);

	/* interleaved rounds, best of 5 per variant: host noise is one-sided */
	for (i = 0; i < NV; i++)
		best[i] = UINT64_MAX;
	for (rep = 0; rep < 5; rep++) {
		for (i = 0; i < NV; i++) {
			uint64_t t0;

			t0 = now_ns();
			variants[i].run();
			t0 = now_ns() - t0;
			if (t0 < best[i])
				best[i] = t0;
		}
	}
	for (i = 0; i < NV; i++) {
		double mbps = vram_bytes * 1e3 / best[i];

		printf("bench host_%s_MBps %.1f MB/s\n", variants[i].name, mbps);
		if (i)
			printf("bench host_%s_ratio %.3f x\n", variants[i].name,
			       (double)best[0] / best[i]);
		if (i > CRC)
			printf("bench host_%s_vs_crc %.3f x\n",
			       variants[i].name, (double)best[CRC] / best[i]);
	}
	return 0;
}
