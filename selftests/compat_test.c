// SPDX-License-Identifier: GPL-2.0
/*
 * vslice selftest: migration_info and scripts/vslice-migcheck agree with
 * what a real resume does.
 *
 * For every pair of types (source, destination) the test asks the tool,
 * from the two migration_info files alone, whether the migration will be
 * accepted, then saves a real v2 stream from a source instance and feeds
 * it to a destination instance with another UUID: accepted exactly when
 * the tool said so, refused at byte 0 with EOPNOTSUPP otherwise, and the
 * refused destination stays usable.  A newer stream version and an
 * unknown stream flag are checked the same way, with the source's file
 * edited to say what the edited stream carries.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "vslice_lib.h"

#define INFO_DIR	VS_PARENT_DIR "/migration_info"
#define WORK_DIR	"/tmp/vslice-compat"

static const char *const types[] = { VS_TYPE_128, VS_TYPE_256, VS_TYPE_512 };

/* Path of scripts/vslice-migcheck: $VSLICE_REPO, else two levels above us. */
static int tool_path(char *out, size_t len)
{
	const char *repo = getenv("VSLICE_REPO");
	char exe[PATH_MAX], *p;
	ssize_t n;
	int i;

	if (repo) {
		if (snprintf(out, len, "%s/scripts/vslice-migcheck", repo) >=
		    (int)len)
			return -ENAMETOOLONG;
		return access(out, X_OK) ? -errno : 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return -errno;
	exe[n] = 0;
	for (i = 0; i < 3; i++) {	/* .../build/selftests/compat_test */
		p = strrchr(exe, '/');
		if (!p)
			return -ENOENT;
		*p = 0;
	}
	if (snprintf(out, len, "%s/scripts/vslice-migcheck", exe) >= (int)len)
		return -ENAMETOOLONG;
	return access(out, X_OK) ? -errno : 0;
}

/* Run the tool; its exit status (0 compatible, 1 not), or -1. */
static int migcheck(const char *src, const char *dst, char *msg, size_t len)
{
	char tool[PATH_MAX], cmd[3 * PATH_MAX];
	FILE *f;
	int st;

	if (tool_path(tool, sizeof(tool)))
		return -1;
	if (snprintf(cmd, sizeof(cmd), "'%s' '%s' '%s' 2>&1", tool, src,
		     dst) >= (int)sizeof(cmd))
		return -1;
	f = popen(cmd, "r");
	if (!f)
		return -1;
	if (!fgets(msg, len, f))
		msg[0] = 0;
	msg[strcspn(msg, "\n")] = 0;
	st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int copy_file(const char *from, const char *to)
{
	char buf[4096];
	int ret;

	ret = vs_sysfs_read(from, buf, sizeof(buf));
	if (ret)
		return ret;
	FILE *f = fopen(to, "w");

	if (!f)
		return -errno;
	fputs(buf, f);
	return fclose(f) ? -errno : 0;
}

/* Replace the value of "key=" in file @path by @val. */
static int edit_key(const char *path, const char *key, const char *val)
{
	char buf[4096], out[4096], *line, *save = NULL;
	size_t klen = strlen(key), n = 0;
	FILE *f;
	int ret;

	ret = vs_sysfs_read(path, buf, sizeof(buf));
	if (ret)
		return ret;
	out[0] = 0;
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, key, klen) && line[klen] == '=')
			n += snprintf(out + n, sizeof(out) - n, "%s=%s\n",
				      key, val);
		else
			n += snprintf(out + n, sizeof(out) - n, "%s\n", line);
	}
	f = fopen(path, "w");
	if (!f)
		return -errno;
	fputs(out, f);
	return fclose(f) ? -errno : 0;
}

/* Value of key in a migration_info text, into @val. */
static int info_get(const char *text, const char *key, char *val, size_t len)
{
	const char *p = text;
	size_t klen = strlen(key);

	while (p && *p) {
		if (!strncmp(p, key, klen) && p[klen] == '=') {
			p += klen + 1;
			snprintf(val, len, "%.*s", (int)strcspn(p, "\n"), p);
			return 0;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -ENOENT;
}

/* Save a v2 stream of an instance with one page of @seed in its VRAM. */
static int save_stream(struct vs_inst *in, uint32_t seed, uint8_t **buf,
		       size_t *len)
{
	uint32_t page[1024];
	int fd, ret, i;

	for (i = 0; i < 1024; i++)
		page[i] = seed ^ (i * 2654435761u);
	if (vs_region_rw(in, VFIO_PCI_BAR2_REGION_INDEX, 8192, page,
			 sizeof(page), true) != sizeof(page))
		return -EIO;
	ret = vs_mig_set_state(in->device, VFIO_DEVICE_STATE_STOP, NULL);
	if (ret)
		return ret;
	ret = vs_mig_set_state(in->device, VFIO_DEVICE_STATE_STOP_COPY, &fd);
	if (ret)
		return ret;
	ret = vs_stream_read_all(fd, buf, len);
	close(fd);
	if (!ret)
		ret = vs_mig_set_state(in->device, VFIO_DEVICE_STATE_STOP, NULL);
	return ret;
}

/*
 * Resume @buf into @in: 0 when the whole stream loaded and the arc to STOP
 * completed, else the first -errno.  A refused destination is reset and
 * must then read and write its VRAM again.
 */
static int resume_stream(struct vs_inst *in, const uint8_t *buf, size_t len)
{
	int fd, ret, ret2;

	ret = vs_mig_set_state(in->device, VFIO_DEVICE_STATE_STOP, NULL);
	if (ret)
		return ret;
	ret = vs_mig_set_state(in->device, VFIO_DEVICE_STATE_RESUMING, &fd);
	if (ret)
		return ret;
	ret = vs_stream_write_all(fd, buf, len, 0);
	close(fd);
	ret2 = vs_mig_set_state(in->device, VFIO_DEVICE_STATE_STOP, NULL);
	return ret ? ret : ret2;
}

static bool vram_page_is(struct vs_inst *in, uint32_t seed)
{
	uint32_t page[1024];
	int i;

	if (vs_region_rw(in, VFIO_PCI_BAR2_REGION_INDEX, 8192, page,
			 sizeof(page), false) != sizeof(page))
		return false;
	for (i = 0; i < 1024; i++)
		if (page[i] != (seed ^ (i * 2654435761u)))
			return false;
	return true;
}

/* After a refused resume: reset to RUNNING and check the VRAM works. */
static bool usable_after_refusal(struct vs_inst *in)
{
	uint32_t v = 0x5a5a1234, r = 0;

	if (ioctl(in->device, VFIO_DEVICE_RESET))
		return false;
	if (vs_mig_get_state(in->device) != VFIO_DEVICE_STATE_RUNNING &&
	    vs_mig_set_state(in->device, VFIO_DEVICE_STATE_RUNNING, NULL))
		return false;
	if (vs_region_rw(in, VFIO_PCI_BAR2_REGION_INDEX, 0, &v, 4, true) != 4 ||
	    vs_region_rw(in, VFIO_PCI_BAR2_REGION_INDEX, 0, &r, 4, false) != 4)
		return false;
	return r == v;
}

/* "1.0,1.1,...": every version up to ours, as stream_writes lists them. */
static void versions_list(char *out, size_t len)
{
	size_t n = 0;
	unsigned int m;

	out[0] = 0;
	for (m = 0; m <= VSLICE_STREAM_VERSION_MINOR; m++)
		n += snprintf(out + n, len - n, "%s%u.%u", m ? "," : "",
			      VSLICE_STREAM_VERSION_MAJOR, m);
}

FIXTURE(compat) {
	struct vs_inst src, dst;
	char tool[PATH_MAX];
};

FIXTURE_SETUP(compat)
{
	memset(&self->src, 0, sizeof(self->src));
	memset(&self->dst, 0, sizeof(self->dst));
	self->src.device = -1;
	self->dst.device = -1;
	vs_remove_all();
	ASSERT_EQ(0, tool_path(self->tool, sizeof(self->tool))) {
		TH_LOG("scripts/vslice-migcheck not found (set VSLICE_REPO)");
	}
	mkdir(WORK_DIR, 0755);
}

FIXTURE_TEARDOWN(compat)
{
	if (self->src.device >= 0)
		vs_close(&self->src);
	if (self->dst.device >= 0)
		vs_close(&self->dst);
	vs_remove_all();
}

/* Every type's file, and an instance's, say what the type is. */
TEST_F(compat, info_files)
{
	char path[PATH_MAX], text[4096], itext[4096], val[256], want[128];
	unsigned int i;
	long mib;

	for (i = 0; i < ARRAY_SIZE(types); i++) {
		snprintf(path, sizeof(path), INFO_DIR "/%s", types[i]);
		ASSERT_EQ(0, vs_sysfs_read(path, text, sizeof(text)));
		ASSERT_EQ(0, info_get(text, "driver", val, sizeof(val)));
		EXPECT_STREQ("vslice", val);
		ASSERT_EQ(0, info_get(text, "type", val, sizeof(val)));
		EXPECT_STREQ(types[i], val);
		ASSERT_EQ(0, info_get(text, "vram_bytes", val, sizeof(val)));
		mib = atol(types[i] + strlen("vslice-"));
		snprintf(want, sizeof(want), "%llu", (unsigned long long)mib * VS_MIB);
		EXPECT_STREQ(want, val);
		/* every minor from 0 stays writable, oldest first */
		ASSERT_EQ(0, info_get(text, "stream_writes", val, sizeof(val)));
		versions_list(want, sizeof(want));
		EXPECT_STREQ(want, val);
		ASSERT_EQ(0, info_get(text, "stream_accepts", val, sizeof(val)));
		snprintf(want, sizeof(want), "%u.%u", VSLICE_STREAM_VERSION_MAJOR,
			 VSLICE_STREAM_VERSION_MINOR);
		EXPECT_STREQ(want, val);
		ASSERT_EQ(0, info_get(text, "page_size", val, sizeof(val)));
		EXPECT_EQ(VSLICE_STREAM_PAGE_SIZE, atoi(val));
		ASSERT_EQ(0, info_get(text, "compatibility", val, sizeof(val)));
		EXPECT_NE(NULL, strstr(val, "vslice-gpu/"));
		ASSERT_EQ(0, info_get(text, "features", val, sizeof(val)));
		EXPECT_NE(NULL, strstr(val, "v2"));
		EXPECT_NE(NULL, strstr(val, "v1_region"));
		EXPECT_NE(NULL, strstr(val, "display_plane"));

		/*
		 * the instance's file is its type's, plus the version it
		 * writes and its convergence policy (the defaults)
		 */
		ASSERT_EQ(0, vs_create(&self->src, types[i]));
		snprintf(path, sizeof(path), VS_MDEV_DIR "/%s/migration_info",
			 self->src.uuid);
		ASSERT_EQ(0, vs_sysfs_read(path, itext, sizeof(itext)));
		EXPECT_EQ(0, strncmp(text, itext, strlen(text)));
		/* (vs_sysfs_read() drops the last newline) */
		snprintf(want, sizeof(want),
			 "\nstream_version=%u.%u\nmigration_throttle=auto\nmigration_throttle_max=90",
			 VSLICE_STREAM_VERSION_MAJOR, VSLICE_STREAM_VERSION_MINOR);
		EXPECT_STREQ(want, itext + strlen(text));
		ASSERT_EQ(0, vs_remove(&self->src));
	}
	/* read-only: writing is refused by sysfs */
	snprintf(path, sizeof(path), INFO_DIR "/%s", types[0]);
	EXPECT_EQ(-EACCES, vs_sysfs_write(path, "x"));
}

/*
 * Every (source type, destination type): the tool's verdict from the two
 * files equals the real resume's, with UUIDs that differ.
 */
TEST_F(compat, every_type_pair)
{
	char sfile[PATH_MAX], dfile[PATH_MAX], path[PATH_MAX], msg[256];
	unsigned int s, d;
	uint8_t *buf;
	size_t len;
	int verdict, ret;

	snprintf(sfile, sizeof(sfile), WORK_DIR "/src");
	snprintf(dfile, sizeof(dfile), WORK_DIR "/dst");
	for (s = 0; s < ARRAY_SIZE(types); s++) {
		for (d = 0; d < ARRAY_SIZE(types); d++) {
			ASSERT_EQ(0, vs_create(&self->src, types[s]));
			ASSERT_EQ(0, vs_open(&self->src));
			ASSERT_EQ(0, vs_create(&self->dst, types[d]));
			ASSERT_EQ(0, vs_open(&self->dst));
			ASSERT_STRNE(self->src.uuid, self->dst.uuid);

			snprintf(path, sizeof(path),
				 VS_MDEV_DIR "/%s/migration_info", self->src.uuid);
			ASSERT_EQ(0, copy_file(path, sfile));
			snprintf(path, sizeof(path), INFO_DIR "/%s", types[d]);
			ASSERT_EQ(0, copy_file(path, dfile));
			verdict = migcheck(sfile, dfile, msg, sizeof(msg));
			ASSERT_TRUE(verdict == 0 || verdict == 1) {
				TH_LOG("tool failed: %s", msg);
			}
			/* same type, and only then */
			EXPECT_EQ(s == d, verdict == 0) {
				TH_LOG("%s -> %s: %s", types[s], types[d], msg);
			}

			ASSERT_EQ(0, save_stream(&self->src, 0x1000 + s, &buf,
						 &len));
			/* nothing in the stream names the source's UUID */
			EXPECT_EQ(NULL, memmem(buf, len, self->src.uuid,
					       strlen(self->src.uuid)));
			ret = resume_stream(&self->dst, buf, len);
			free(buf);
			TH_LOG("%s -> %s: tool \"%s\", resume %d", types[s],
			       types[d], msg, ret);
			if (verdict == 0) {
				EXPECT_EQ(0, ret);
				EXPECT_TRUE(vram_page_is(&self->dst, 0x1000 + s));
			} else {
				EXPECT_EQ(-EOPNOTSUPP, ret);
				EXPECT_TRUE(usable_after_refusal(&self->dst));
			}
			vs_close(&self->src);
			vs_close(&self->dst);
			ASSERT_EQ(0, vs_remove(&self->src));
			ASSERT_EQ(0, vs_remove(&self->dst));
		}
	}
}

/*
 * Streams the destination's driver version cannot read: a newer minor, a
 * newer major, an unknown flag.  The source's file is edited to say what
 * such a driver would print; tool and resume must both refuse.
 */
TEST_F(compat, other_versions)
{
	struct {
		const char *what, *key;
		int major, minor;
		uint32_t flags;
		int want;
	} cases[] = {
		{ "newer minor", "stream_writes", VSLICE_STREAM_VERSION_MAJOR,
		  VSLICE_STREAM_VERSION_MINOR + 1, 0, -EPROTONOSUPPORT },
		{ "newer major", "stream_writes", VSLICE_STREAM_VERSION_MAJOR + 1,
		  0, 0, -EPROTONOSUPPORT },
		{ "older major", "stream_writes", VSLICE_STREAM_VERSION_MAJOR - 1,
		  0, 0, -EPROTONOSUPPORT },
		{ "unknown flag", "stream_flags", 0, 0, 1u << 30, -EOPNOTSUPP },
	};
	char sfile[PATH_MAX], dfile[PATH_MAX], path[PATH_MAX], msg[256];
	char val[64];
	struct vslice_stream_hdr *h;
	uint8_t *buf;
	unsigned int i;
	size_t len;
	int ret;

	snprintf(sfile, sizeof(sfile), WORK_DIR "/src");
	snprintf(dfile, sizeof(dfile), WORK_DIR "/dst");
	ASSERT_EQ(0, vs_create(&self->src, VS_TYPE_128));
	ASSERT_EQ(0, vs_open(&self->src));
	ASSERT_EQ(0, vs_create(&self->dst, VS_TYPE_128));
	ASSERT_EQ(0, vs_open(&self->dst));
	ASSERT_EQ(0, save_stream(&self->src, 0x77, &buf, &len));
	ASSERT_GE(len, sizeof(*h));
	snprintf(path, sizeof(path), INFO_DIR "/%s", VS_TYPE_128);
	ASSERT_EQ(0, copy_file(path, dfile));

	/* control: the unedited stream and file are accepted */
	snprintf(path, sizeof(path), VS_MDEV_DIR "/%s/migration_info",
		 self->src.uuid);
	ASSERT_EQ(0, copy_file(path, sfile));
	EXPECT_EQ(0, migcheck(sfile, dfile, msg, sizeof(msg)));
	EXPECT_EQ(0, resume_stream(&self->dst, buf, len));
	EXPECT_TRUE(vram_page_is(&self->dst, 0x77));

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		uint8_t *copy = malloc(len);

		ASSERT_NE(NULL, copy);
		memcpy(copy, buf, len);
		h = (struct vslice_stream_hdr *)copy;
		ASSERT_EQ(0, copy_file(path, sfile));
		if (cases[i].flags) {
			h->flags |= cases[i].flags;
			snprintf(val, sizeof(val), "0x%x", h->flags);
		} else {
			h->major = cases[i].major;
			h->minor = cases[i].minor;
			snprintf(val, sizeof(val), "%d.%d", cases[i].major,
				 cases[i].minor);
		}
		vs_stream_hdr_reseal(h);
		ASSERT_EQ(0, edit_key(sfile, cases[i].key, val));
		EXPECT_EQ(1, migcheck(sfile, dfile, msg, sizeof(msg)));
		ret = resume_stream(&self->dst, copy, len);
		TH_LOG("%s: tool \"%s\", resume %d", cases[i].what, msg, ret);
		EXPECT_EQ(cases[i].want, ret);
		EXPECT_TRUE(usable_after_refusal(&self->dst));
		free(copy);
	}
	free(buf);
}

/*
 * stream_version: the version an instance's saves write.  Each version of
 * stream_writes can be selected and is what the next stream's header
 * carries, and what a destination (this driver) then loads; anything else
 * is refused with EINVAL, and a change while a save is open with EBUSY.
 * The tool answers "after selecting" for a destination that accepts only
 * an older version than the instance writes, and "as it is" once selected.
 */
TEST_F(compat, stream_version_select)
{
	static const char *const bad[] = { "banana", "2.0", "0.0", "1.", ".0",
					   "1.0x", "1.0 1", "-1.0", "1.99", "\n" };
	char attr[PATH_MAX], sfile[PATH_MAX], dfile[PATH_MAX], path[PATH_MAX];
	char val[64], msg[256], old[16], newest[16];
	int newest_minor = VSLICE_STREAM_VERSION_MINOR;
	struct vslice_stream_hdr *h;
	unsigned int i, m;
	uint8_t *buf;
	size_t len;
	int fd;

	ASSERT_EQ(0, vs_create(&self->src, VS_TYPE_128));
	ASSERT_EQ(0, vs_open(&self->src));
	ASSERT_EQ(0, vs_create(&self->dst, VS_TYPE_128));
	ASSERT_EQ(0, vs_open(&self->dst));
	snprintf(attr, sizeof(attr), VS_MDEV_DIR "/%s/stream_version",
		 self->src.uuid);
	ASSERT_EQ(0, vs_sysfs_read(attr, val, sizeof(val)));
	snprintf(old, sizeof(old), "%u.%u", VSLICE_STREAM_VERSION_MAJOR,
		 VSLICE_STREAM_VERSION_MINOR);
	EXPECT_STREQ(old, val);
	snprintf(newest, sizeof(newest), "%u.%u", VSLICE_STREAM_VERSION_MAJOR,
		 VSLICE_STREAM_VERSION_MINOR);

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		EXPECT_EQ(-EINVAL, vs_sysfs_write(attr, bad[i])) {
			TH_LOG("\"%s\" accepted", bad[i]);
		}
	}
	ASSERT_EQ(0, vs_sysfs_read(attr, val, sizeof(val)));
	EXPECT_STREQ(old, val);

	/* not while a save is open */
	ASSERT_EQ(0, vs_mig_set_state(self->src.device, ST_STOP, NULL));
	ASSERT_EQ(0, vs_mig_set_state(self->src.device, ST_STOP_COPY, &fd));
	EXPECT_EQ(-EBUSY, vs_sysfs_write(attr, "1.0"));
	close(fd);
	ASSERT_EQ(0, vs_mig_set_state(self->src.device, ST_STOP, NULL));
	ASSERT_EQ(0, vs_mig_set_state(self->src.device, ST_RUNNING, NULL));

	snprintf(sfile, sizeof(sfile), WORK_DIR "/src");
	snprintf(dfile, sizeof(dfile), WORK_DIR "/dst");
	for (m = 0; m <= VSLICE_STREAM_VERSION_MINOR; m++) {
		snprintf(val, sizeof(val), "%u.%u", VSLICE_STREAM_VERSION_MAJOR, m);
		ASSERT_EQ(0, vs_sysfs_write(attr, val));
		ASSERT_EQ(0, save_stream(&self->src, 0x3300 + m, &buf, &len));
		ASSERT_GE(len, sizeof(*h));
		h = (struct vslice_stream_hdr *)buf;
		EXPECT_EQ(VSLICE_STREAM_VERSION_MAJOR, h->major);
		EXPECT_EQ(m, h->minor);
		EXPECT_EQ(0, resume_stream(&self->dst, buf, len));
		EXPECT_TRUE(vram_page_is(&self->dst, 0x3300 + m));
		free(buf);

		/* a destination that accepts up to 1.m only */
		snprintf(path, sizeof(path), INFO_DIR "/%s", VS_TYPE_128);
		ASSERT_EQ(0, copy_file(path, dfile));
		ASSERT_EQ(0, edit_key(dfile, "stream_accepts", val));
		snprintf(path, sizeof(path), VS_MDEV_DIR "/%s/migration_info",
			 self->src.uuid);
		ASSERT_EQ(0, copy_file(path, sfile));
		EXPECT_EQ(0, migcheck(sfile, dfile, msg, sizeof(msg))) {
			TH_LOG("writes %s: %s", val, msg);
		}
		/* the instance back at the newest: compatible after selecting */
		if ((int)m < newest_minor) {
			ASSERT_EQ(0, edit_key(sfile, "stream_version", newest));
			EXPECT_EQ(3, migcheck(sfile, dfile, msg, sizeof(msg)));
			EXPECT_NE(NULL, strstr(msg, val)) {
				TH_LOG("%s", msg);
			}
		}
	}
	ASSERT_EQ(0, vs_sysfs_write(attr, old));
	ASSERT_EQ(0, vs_sysfs_read(attr, val, sizeof(val)));
	EXPECT_STREQ(old, val);
}

TEST_HARNESS_MAIN
