// SPDX-License-Identifier: GPL-2.0
/*
 * codec_bench - the CPU cost of the migration data path, natively on the
 * host (no VM).
 *
 * The VM that `make bench` uses runs under TCG, which distorts exactly the
 * instructions this path is made of: `rep movsb` (copy_to_user) and the
 * SSE4.2 crc32 instruction (a bit-by-bit helper in TCG) are far slower
 * there, relative to plain loads and stores, than on any real CPU.  So the
 * codec's share of the cost is measured here, in userspace, with the very
 * same mdev/stream.c the module uses (built against
 * selftests/stream/kshim), doing the same work per page as the module:
 *
 *   save_current   per run of 64 pages: copy each VRAM page into the
 *                  section buffer (vslice_vram_take_dirty), frame it with
 *                  vslice_enc_vram() (CRC32C of the payload, slicing-by-8),
 *                  copy the section out (copy_to_iter into a 1 MiB buffer)
 *   save_hwcrc     the same with the crc32 instruction
 *   save_onecopy   hardware CRC over the VRAM pages, then one copy from the
 *                  pages to the 1 MiB buffer (no section buffer)
 *   resume_current vslice_loader_feed() in 1 MiB pieces (copy into the
 *                  loader buffer, CRC, validation), then per page the
 *                  zero check and the copy into VRAM (vslice_vram_load_page)
 *   resume_hwcrc   the same work with the crc32 instruction (emulated
 *                  outside the codec)
 *
 * against memcpy of the same bytes into a 1 MiB buffer.  Output lines:
 * "bench host_<name>_MBps <value> MB/s" and "..._ratio" (MB = 10^6 B).
 */
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

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t crc_hw(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t c = crc, w;

	for (; len >= 8; len -= 8, p += 8) {
		memcpy(&w, p, sizeof(w));
		asm("crc32q %1, %0" : "+r" (c) : "rm" (w));
	}
	crc = c;
	for (; len; len--, p++)
		asm("crc32b %1, %0" : "+r" (crc) : "rm" (*p));
	return crc;
}

static bool have_hw(void)
{
	return __builtin_cpu_supports("sse4.2");
}
#else
static uint32_t crc_hw(uint32_t crc, const void *buf, size_t len)
{
	return vslice_crc32c(crc, buf, len);
}

static bool have_hw(void)
{
	return false;
}
#endif

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

static void run_memcpy(void)
{
	size_t off;

	for (off = 0; off < vram_bytes; off += CHUNK)
		memcpy(out, vram + off, CHUNK);
}

/* Results land here so that the compiler keeps the work. */
uint32_t codec_bench_sink;

static void run_crc_sw(void)
{
	codec_bench_sink = vslice_crc32c(~0u, vram, vram_bytes);
}

static void run_crc_hw(void)
{
	codec_bench_sink = crc_hw(~0u, vram, vram_bytes);
}

/* The module's save path, with the module's codec. */
static void run_save_current(void)
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

/* Hand-framed section header with a given payload CRC. */
static void frame(uint8_t *hdr, uint64_t first, uint32_t crc, uint32_t seq)
{
	struct vslice_stream_sec *s = (void *)hdr;
	struct vslice_stream_vram *v = vslice_sec_payload(hdr);

	s->type = VSLICE_SEC_VRAM;
	s->len = sizeof(*v) + RUN * PG;
	s->crc = crc;
	s->seq = seq;
	v->first = first;
	v->count = RUN;
	v->reserved = 0;
}

static void run_save_hwcrc(void)
{
	size_t first, i;

	for (first = 0; first < vram_bytes / PG; first += RUN) {
		uint8_t *pages = vslice_sec_pages(secbuf);
		uint32_t c;

		for (i = 0; i < RUN; i++)
			memcpy(pages + i * PG, vram + (first + i) * PG, PG);
		c = crc_hw(~0u, vslice_sec_payload(secbuf), 16 + RUN * PG);
		frame(secbuf, first, c, first / RUN);
		out_copy(secbuf, SEC_HDR + RUN * PG);
	}
}

static void run_save_onecopy(void)
{
	uint8_t hdr[SEC_HDR];
	size_t first, i;

	for (first = 0; first < vram_bytes / PG; first += RUN) {
		uint32_t c;

		frame(hdr, first, 0, first / RUN);
		c = crc_hw(~0u, hdr + 16, 16);
		for (i = 0; i < RUN; i++)
			c = crc_hw(c, vram + (first + i) * PG, PG);
		frame(hdr, first, c, first / RUN);
		out_copy(hdr, sizeof(hdr));
		for (i = 0; i < RUN; i++)
			out_copy(vram + (first + i) * PG, PG);
	}
}

/* Resume: the module's loader callbacks, minus the page allocation. */
static int ld_vram(void *ctx, u64 first, u32 count, const void *pages)
{
	const uint8_t *p = pages;
	u32 i;

	for (i = 0; i < count; i++, p += PG) {
		bool zero = true;
		size_t k;

		/* memchr_inv(): stops at the first non-zero byte */
		for (k = 0; k < PG; k += 8)
			if (*(const uint64_t *)(p + k)) {
				zero = false;
				break;
			}
		if (!zero)
			memcpy(dst_vram + (first + i) * PG, p, PG);
	}
	return 0;
}

static int ld_hw(void *ctx, const struct vslice_stream_hw *hw)
{
	return 0;
}

static int ld_end(void *ctx)
{
	return 0;
}

static const struct vslice_loader_ops ld_ops = {
	.vram = ld_vram,
	.hw = ld_hw,
	.end = ld_end,
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
	memset(stream + stream_len, 0, 16 + sizeof(struct vslice_stream_hw));
	stream_len += vslice_enc_hw(&e, stream + stream_len);
	stream_len += vslice_enc_end(&e, stream + stream_len);
}

static void run_resume_current(void)
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

/* The same work per section with the crc32 instruction. */
static void run_resume_hwcrc(void)
{
	size_t off = VSLICE_STREAM_HDR_SIZE, sec = SEC_HDR + RUN * PG;
	size_t end = off + (vram_bytes / PG / RUN) * sec;

	for (; off < end; off += sec) {
		const struct vslice_stream_sec *s = (void *)(stream + off);
		const struct vslice_stream_vram *v;

		memcpy(secbuf, stream + off, sec);	/* into the loader */
		v = vslice_sec_payload(secbuf);
		if (crc_hw(~0u, v, s->len) == 0x12345678)
			exit(2);
		ld_vram(NULL, v->first, v->count, vslice_sec_pages(secbuf));
	}
}

struct variant {
	const char *name;
	void (*run)(void);
	bool hw;
};

static const struct variant variants[] = {
	{ "memcpy", run_memcpy, false },
	{ "crc32c_sw", run_crc_sw, false },
	{ "crc32c_hw", run_crc_hw, true },
	{ "save_current", run_save_current, false },
	{ "save_hwcrc", run_save_hwcrc, true },
	{ "save_onecopy", run_save_onecopy, true },
	{ "resume_current", run_resume_current, false },
	{ "resume_hwcrc", run_resume_hwcrc, true },
};

#define NV	ARRAY_SIZE(variants)

int main(int argc, char **argv)
{
	uint64_t best[NV];
	double memcpy_mbps = 0;
	unsigned int i, rep;

	if (argc > 1)
		vram_bytes = strtoull(argv[1], NULL, 0) << 20;
	vram = alloc(vram_bytes);
	dst_vram = alloc(vram_bytes);
	out = alloc(CHUNK);
	secbuf = alloc(VSLICE_STREAM_UNIT_MAX);
	stream = alloc(vram_bytes + vram_bytes / 64 + 65536);
	for (i = 0; i < vram_bytes / 8; i++)
		((uint64_t *)vram)[i] = i * 0x9e3779b97f4a7c15ull;
	make_stream();

	/* interleaved rounds, best of 5 per variant: host noise is one-sided */
	for (i = 0; i < NV; i++)
		best[i] = UINT64_MAX;
	for (rep = 0; rep < 5; rep++) {
		for (i = 0; i < NV; i++) {
			uint64_t t0;

			if (variants[i].hw && !have_hw())
				continue;
			t0 = now_ns();
			variants[i].run();
			t0 = now_ns() - t0;
			if (t0 < best[i])
				best[i] = t0;
		}
	}
	for (i = 0; i < NV; i++) {
		double mbps;

		if (best[i] == UINT64_MAX)
			continue;
		mbps = vram_bytes * 1e3 / best[i];
		if (!i)
			memcpy_mbps = mbps;
		printf("bench host_%s_MBps %.1f MB/s\n", variants[i].name, mbps);
		if (i)
			printf("bench host_%s_ratio %.3f x\n", variants[i].name,
			       mbps / memcpy_mbps);
	}
	return 0;
}
