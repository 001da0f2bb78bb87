// SPDX-License-Identifier: GPL-2.0
/*
 * golden_test - every stream in selftests/golden/MANIFEST, produced by
 * some earlier vslice module, still loads into a fresh instance of today's
 * module and yields exactly the content its source was made to hold
 * (selftests/golden/golden.h): VRAM pages, scratch registers and the
 * scanout plane (disabled after a 1.0 stream).  The destination holds
 * other data and shows another plane before the load, so a load that
 * leaves anything behind is caught.
 *
 *   golden_test                      the kselftest (needs vslice loaded)
 *   golden_test --generate DIR       produce this module's streams into
 *                                    DIR and print their MANIFEST lines
 *
 * VSLICE_GOLDEN_DIR overrides where the manifest and streams are read
 * (default: the source tree's selftests/golden).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "vslice_lib.h"
#include "golden/golden.h"

#ifndef VS_GOLDEN_DIR
#define VS_GOLDEN_DIR "selftests/golden"
#endif

#define V1_INDEX	VFIO_PCI_NUM_REGIONS
#define V1_STATE	0
#define V1_PENDING	8
#define V1_DATA_OFFSET	16
#define V1_DATA_SIZE	24

static const char *golden_dir(void)
{
	const char *d = getenv("VSLICE_GOLDEN_DIR");

	return d && *d ? d : VS_GOLDEN_DIR;
}

static int page_rw(struct vs_inst *in, uint64_t page, void *buf, bool write)
{
	ssize_t n = vs_region_rw(in, VFIO_PCI_BAR2_REGION_INDEX,
				 page * GOLDEN_PAGE, buf, GOLDEN_PAGE, write);

	return n == GOLDEN_PAGE ? 0 : (n < 0 ? (int)n : -EIO);
}

static int page_write_seed(struct vs_inst *in, uint32_t seed, uint64_t page)
{
	static uint64_t w[GOLDEN_PAGE / 8];

	golden_fill(w, seed, page);
	return page_rw(in, page, w, true);
}

/* ---- producing (--generate) -------------------------------------------- */

static int v1_rd64(struct vs_inst *in, uint64_t pos, uint64_t *v)
{
	return vs_region_rw(in, V1_INDEX, pos, v, 8, false) == 8 ? 0 : -EIO;
}

static int v1_set(struct vs_inst *in, uint32_t st)
{
	return vs_region_rw(in, V1_INDEX, V1_STATE, &st, 4, true) == 4 ?
	       0 : -EIO;
}

/* QEMU 7.2's loop: pending_bytes, data_offset, data_size, the bytes. */
static int v1_drain(struct vs_inst *in, struct vs_buf *s)
{
	uint64_t pending, off, size;

	for (;;) {
		if (v1_rd64(in, V1_PENDING, &pending))
			return -EIO;
		if (!pending)
			return 0;
		if (v1_rd64(in, V1_DATA_OFFSET, &off) ||
		    v1_rd64(in, V1_DATA_SIZE, &size))
			return -EIO;
		if (!size)
			return 0;
		if (vs_buf_reserve(s, size))
			return -ENOMEM;
		if (vs_region_rw(in, V1_INDEX, off, s->p + s->len, size,
				 false) != (ssize_t)size)
			return -EIO;
		s->len += size;
	}
}

static void plane_write(struct vs_inst *in, const struct golden_plane *p)
{
	vs_wr32(in, VSLICE_REG_PLANE_FORMAT, p->format);
	vs_wr32(in, VSLICE_REG_PLANE_OFFSET_LO, (uint32_t)p->offset);
	vs_wr32(in, VSLICE_REG_PLANE_OFFSET_HI, (uint32_t)(p->offset >> 32));
	vs_wr32(in, VSLICE_REG_PLANE_WIDTH, p->width);
	vs_wr32(in, VSLICE_REG_PLANE_HEIGHT, p->height);
	vs_wr32(in, VSLICE_REG_PLANE_STRIDE, p->stride);
}

static int make_busy_before(struct vs_inst *in, uint64_t npages)
{
	unsigned int i;
	int ret = 0;

	for (i = 0; i < GOLDEN_NR_SCRATCH; i++)
		vs_wr32(in, VSLICE_REG_SCRATCH(i), golden_scratch(i));
	if (VSLICE_STREAM_VERSION_MINOR >= 1) {
		plane_write(in, &golden_plane);
		vs_wr32(in, VSLICE_REG_PLANE_CONTROL, VSLICE_PLANE_CTRL_ENABLE);
		if (vs_rd32(in, VSLICE_REG_PLANE_ERROR))
			return -EINVAL;
		plane_write(in, &golden_plane_shadow);
	}
	for (i = 0; i < ARRAY_SIZE(golden_pages_a); i++)
		ret = ret ?: page_write_seed(in, GOLDEN_SEED_A,
					     golden_pages_a[i]);
	return ret ?: page_write_seed(in, GOLDEN_SEED_A, npages - 1);
}

static int make_busy_during(struct vs_inst *in)
{
	return page_write_seed(in, GOLDEN_SEED_B, GOLDEN_PAGE_REDIRTY) ?:
	       page_write_seed(in, GOLDEN_SEED_B, GOLDEN_PAGE_LATE);
}

static int produce(struct vs_inst *in, uint64_t npages, bool busy, bool v1,
		   struct vs_buf *s)
{
	int fd = -1, ret;

	if (busy) {
		ret = make_busy_before(in, npages);
		if (ret)
			return ret;
	}
	if (v1) {
		if (busy) {
			ret = v1_set(in, VSLICE_V1_STATE_PRECOPY) ?:
			      v1_drain(in, s) ?: make_busy_during(in);
			if (ret)
				return ret;
		}
		return v1_set(in, VSLICE_V1_STATE_SAVING) ?: v1_drain(in, s) ?:
		       v1_set(in, VSLICE_V1_STATE_STOP);
	}
	if (busy) {
		ret = vs_mig_set_state(in->device, ST_PRE_COPY, &fd);
		if (ret)
			return ret;
		ret = vs_buf_read_fd(fd, s, NULL);
		if (ret != -ENOMSG)
			goto out;
		ret = make_busy_during(in) ?:
		      vs_mig_set_state(in->device, ST_PRE_COPY_P2P, NULL) ?:
		      vs_mig_set_state(in->device, ST_STOP_COPY, NULL);
	} else {
		ret = vs_mig_set_state(in->device, ST_STOP_COPY, &fd);
	}
	if (!ret)
		ret = vs_buf_read_fd(fd, s, NULL);
out:
	if (fd >= 0)
		close(fd);
	return ret ?: vs_mig_set_state(in->device, ST_STOP, NULL);
}

static int generate(const char *dir)
{
	static const struct {
		const char *name;
		unsigned int id, mib;
	} types[] = {
		{ VS_TYPE_128, 1, 128 },
		{ VS_TYPE_256, 2, 256 },
		{ VS_TYPE_512, 3, 512 },
	};
	struct utsname u;
	unsigned int t, k;

	uname(&u);
	vs_remove_all();
	for (t = 0; t < 3; t++) {
		for (k = 0; k < 4; k++) {
			bool busy = k & 1, v1 = k & 2;
			struct vs_inst in;
			struct vs_buf s = { 0 };
			char path[512], file[128];
			FILE *f;
			int ret;

			ret = vs_create(&in, types[t].name) ?: vs_open(&in);
			if (!ret)
				ret = produce(&in, types[t].mib * 256ULL, busy,
					      v1, &s);
			vs_remove(&in);
			if (ret) {
				fprintf(stderr, "golden: %s %s %s: %s\n",
					types[t].name, busy ? "busy" : "idle",
					v1 ? "v1" : "v2", strerror(-ret));
				return 1;
			}
			snprintf(file, sizeof(file),
				 "stream-v%u.%u-%s-%s-%s.bin",
				 VSLICE_STREAM_VERSION_MAJOR,
				 VSLICE_STREAM_VERSION_MINOR, types[t].name,
				 busy ? "busy" : "idle", v1 ? "v1" : "v2");
			snprintf(path, sizeof(path), "%s/%s", dir, file);
			f = fopen(path, "w");
			if (!f || fwrite(s.p, 1, s.len, f) != s.len ||
			    fclose(f)) {
				perror(path);
				return 1;
			}
			printf("%s %s %u %u %u.%u %s %s %s\n", file,
			       types[t].name, types[t].id, types[t].mib,
			       VSLICE_STREAM_VERSION_MAJOR,
			       VSLICE_STREAM_VERSION_MINOR,
			       busy ? "busy" : "idle", v1 ? "v1" : "v2",
			       u.release);
			free(s.p);
		}
	}
	return 0;
}

/* ---- loading (the test) ------------------------------------------------ */

static int file_read(const char *path, struct vs_buf *s)
{
	struct stat st;
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || vs_buf_reserve(s, st.st_size + 1)) {
		close(fd);
		return -EIO;
	}
	n = read(fd, s->p, st.st_size);
	close(fd);
	if (n != st.st_size)
		return -EIO;
	s->len = n;
	return 0;
}

/* Write the stream into a fresh RESUMING channel in 64 KiB pieces. */
static int v2_load(struct vs_inst *in, const struct vs_buf *s)
{
	size_t off = 0;
	int fd, ret;

	ret = vs_mig_set_state(in->device, ST_STOP, NULL) ?:
	      vs_mig_set_state(in->device, ST_RESUMING, &fd);
	if (ret)
		return ret;
	while (off < s->len) {
		size_t n = s->len - off < 65536 ? s->len - off : 65536;
		ssize_t w = write(fd, s->p + off, n);

		if (w != (ssize_t)n) {
			ret = w < 0 ? -errno : -EIO;
			break;
		}
		off += n;
	}
	close(fd);
	return ret ?: vs_mig_set_state(in->device, ST_STOP, NULL);
}

/* Pages whose content is checked: around everything the recipe writes. */
static void check_pages(struct __test_metadata *_metadata,
			struct vs_inst *in, const struct golden_entry *e,
			const char *file)
{
	uint64_t npages = e->vram_mib * 256ULL, pages[64];
	static uint64_t got[GOLDEN_PAGE / 8], want[GOLDEN_PAGE / 8];
	unsigned int n = 0, i;
	uint64_t x = 0x12345;

	pages[n++] = 0;
	for (i = 6; i <= 12; i++)
		pages[n++] = i;
	pages[n++] = 999;
	pages[n++] = 1000;
	pages[n++] = 1001;
	pages[n++] = GOLDEN_PAGE_LATE - 1;
	pages[n++] = GOLDEN_PAGE_LATE;
	pages[n++] = GOLDEN_PAGE_LATE + 1;
	pages[n++] = npages - 2;
	pages[n++] = npages - 1;
	while (n < 64) {	/* and a fixed sample of the rest */
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		pages[n++] = (x >> 33) % npages;
	}
	for (i = 0; i < n; i++) {
		uint32_t seed = golden_page_seed(e->busy, npages, pages[i]);

		ASSERT_EQ(0, page_rw(in, pages[i], got, false));
		if (seed)
			golden_fill(want, seed, pages[i]);
		else
			memset(want, 0, sizeof(want));
		EXPECT_EQ(0, memcmp(got, want, GOLDEN_PAGE))
			TH_LOG("%s: page %llu differs (want seed %#x)", file,
			       (unsigned long long)pages[i], seed);
	}
}

/* What the destination shows before a load replaces it. */
static const struct golden_plane other_plane = {
	0x34324258, 0, 16, 16, 64,
};

/* The plane: the recipe's from a busy 1.1+ stream, else disabled. */
static void check_plane(struct __test_metadata *_metadata,
			struct vs_inst *in, const struct golden_entry *e)
{
	static const struct golden_plane none;
	bool on = e->busy && e->minor >= 1;
	const struct golden_plane *act = on ? &golden_plane : &none;
	const struct golden_plane *sh = on ? &golden_plane_shadow : &none;

	EXPECT_EQ(act->format, vs_rd32(in, VSLICE_REG_PLANE_ACTIVE_FORMAT))
		TH_LOG("%s: active plane", e->file);
	EXPECT_EQ((uint32_t)act->offset,
		  vs_rd32(in, VSLICE_REG_PLANE_ACTIVE_OFFSET_LO));
	EXPECT_EQ(act->width, vs_rd32(in, VSLICE_REG_PLANE_ACTIVE_WIDTH));
	EXPECT_EQ(act->height, vs_rd32(in, VSLICE_REG_PLANE_ACTIVE_HEIGHT));
	EXPECT_EQ(act->stride, vs_rd32(in, VSLICE_REG_PLANE_ACTIVE_STRIDE));
	EXPECT_EQ(sh->format, vs_rd32(in, VSLICE_REG_PLANE_FORMAT))
		TH_LOG("%s: shadow registers", e->file);
	EXPECT_EQ((uint32_t)sh->offset, vs_rd32(in, VSLICE_REG_PLANE_OFFSET_LO));
	EXPECT_EQ(sh->width, vs_rd32(in, VSLICE_REG_PLANE_WIDTH));
	EXPECT_EQ(sh->height, vs_rd32(in, VSLICE_REG_PLANE_HEIGHT));
	EXPECT_EQ(sh->stride, vs_rd32(in, VSLICE_REG_PLANE_STRIDE));
	EXPECT_EQ(on ? VSLICE_PLANE_CTRL_ENABLE : 0,
		  vs_rd32(in, VSLICE_REG_PLANE_CONTROL));
	EXPECT_EQ(0, vs_rd32(in, VSLICE_REG_PLANE_ERROR));
	if (on)	/* one enable on a fresh instance */
		EXPECT_EQ(1, vs_rd32(in, VSLICE_REG_PLANE_GENERATION));
}

TEST(every_golden_stream_loads)
{
	char path[512];
	struct golden_entry e;
	unsigned int loaded = 0;
	FILE *m;
	int ret;

	if (access(VS_PARENT_DIR, F_OK))
		SKIP(return, "vslice is not loaded (%s missing)", VS_PARENT_DIR);
	snprintf(path, sizeof(path), "%s/MANIFEST", golden_dir());
	m = fopen(path, "r");
	ASSERT_NE(NULL, m) TH_LOG("%s: %s", path, strerror(errno));
	vs_remove_all();

	while ((ret = golden_next(m, &e)) == 1) {
		struct vs_buf s = { 0 };
		struct vs_inst in;
		unsigned int i;

		snprintf(path, sizeof(path), "%s/%s", golden_dir(), e.file);
		ASSERT_EQ(0, file_read(path, &s)) TH_LOG("%s", path);
		ASSERT_EQ(0, vs_create(&in, e.type));
		ASSERT_EQ(0, vs_open(&in));

		/* the destination is not fresh: the load must erase this */
		for (i = 0; i < GOLDEN_NR_SCRATCH; i++)
			vs_wr32(&in, VSLICE_REG_SCRATCH(i), 0xbad0 + i);
		ASSERT_EQ(0, page_write_seed(&in, 0xbad, 0));
		ASSERT_EQ(0, page_write_seed(&in, 0xbad, 11));
		ASSERT_EQ(0, page_write_seed(&in, 0xbad, GOLDEN_PAGE_REDIRTY));

		plane_write(&in, &other_plane);
		vs_wr32(&in, VSLICE_REG_PLANE_CONTROL, VSLICE_PLANE_CTRL_ENABLE);
		ASSERT_NE(0, vs_rd32(&in, VSLICE_REG_PLANE_ACTIVE_FORMAT));

		EXPECT_EQ(0, v2_load(&in, &s)) TH_LOG("%s", e.file);
		check_plane(_metadata, &in, &e);
		for (i = 0; i < GOLDEN_NR_SCRATCH; i++)
			EXPECT_EQ(e.busy ? golden_scratch(i) : 0,
				  vs_rd32(&in, VSLICE_REG_SCRATCH(i)))
				TH_LOG("%s: scratch %u", e.file, i);
		check_pages(_metadata, &in, &e, e.file);
		EXPECT_EQ(0, vs_mig_set_state(in.device, ST_RUNNING, NULL));
		vs_remove(&in);
		free(s.p);
		loaded++;
	}
	fclose(m);
	ASSERT_EQ(0, ret) TH_LOG("malformed MANIFEST line");
	ASSERT_LT(0u, loaded) TH_LOG("empty MANIFEST");
	ksft_print_msg("%u golden streams loaded\n", loaded);
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--generate"))
		return generate(argv[2]);
	return test_harness_run(argc, argv);
}
