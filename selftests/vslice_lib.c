// SPDX-License-Identifier: GPL-2.0
/*
 * vslice selftests: shared helpers (see vslice_lib.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <isa-l/crc.h>
#include <linux/pci_regs.h>

#include "vslice_lib.h"

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#endif

int vs_sysfs_write(const char *path, const char *val)
{
	ssize_t n;
	int fd;

	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	if (n < 0) {
		n = -errno;
		close(fd);
		return n;
	}
	close(fd);
	return n == (ssize_t)strlen(val) ? 0 : -EIO;
}

int vs_fault_set(const char *name, long val)
{
	char path[128], buf[24];

	snprintf(path, sizeof(path), VS_FAULT_DIR "/%s", name);
	snprintf(buf, sizeof(buf), "%ld", val);
	return vs_sysfs_write(path, buf);
}

bool vs_fault_have(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), VS_FAULT_DIR "/%s", name);
	return !access(path, W_OK);
}

long long vs_mig_watch(const char *uuid, const char *key)
{
	char path[256], buf[4096], *p;
	size_t klen = strlen(key);

	snprintf(path, sizeof(path), VS_DEBUGFS_DIR "/%s/migration", uuid);
	if (vs_sysfs_read(path, buf, sizeof(buf)))
		return -1;
	for (p = buf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (!strncmp(p, key, klen) && p[klen] == ':')
			return strtoll(p + klen + 1, NULL, 0);
	return -1;
}

int vs_sysfs_read(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0) {
		n = -errno;
		close(fd);
		return n;
	}
	close(fd);
	buf[n] = 0;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = 0;
	return 0;
}

long vs_type_attr_long(const char *type, const char *attr)
{
	char path[PATH_MAX], buf[64];
	int ret;

	snprintf(path, sizeof(path), VS_TYPES_DIR "/%s/%s", type, attr);
	ret = vs_sysfs_read(path, buf, sizeof(buf));
	if (ret)
		return ret;
	return strtol(buf, NULL, 0);
}

void vs_uuid_gen(char out[40])
{
	unsigned char b[16];
	int fd, i;

	fd = open("/dev/urandom", O_RDONLY);
	if (fd < 0 || read(fd, b, sizeof(b)) != sizeof(b)) {
		for (i = 0; i < 16; i++)
			b[i] = rand();
	}
	if (fd >= 0)
		close(fd);
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(out, 40,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
		 b[10], b[11], b[12], b[13], b[14], b[15]);
}

int vs_create_uuid(const char *type, const char *uuid)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), VS_TYPES_DIR "/%s/create", type);
	return vs_sysfs_write(path, uuid);
}

int vs_create(struct vs_inst *in, const char *type)
{
	memset(in, 0, sizeof(*in));
	in->container = -1;
	in->group = -1;
	in->device = -1;
	snprintf(in->type, sizeof(in->type), "%s", type);
	vs_uuid_gen(in->uuid);
	return vs_create_uuid(type, in->uuid);
}

int vs_remove_uuid(const char *uuid)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), VS_MDEV_DIR "/%s/remove", uuid);
	return vs_sysfs_write(path, "1");
}

int vs_remove(struct vs_inst *in)
{
	vs_close(in);
	return vs_remove_uuid(in->uuid);
}

/* Remove every vslice instance (those whose mdev_type names a vslice type). */
void vs_remove_all(void)
{
	char path[PATH_MAX], link[PATH_MAX];
	struct dirent *de;
	DIR *d;
	ssize_t n;

	d = opendir(VS_MDEV_DIR);
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), VS_MDEV_DIR "/%s/mdev_type",
			 de->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n < 0)
			continue;
		link[n] = 0;
		if (strstr(link, "/vslice-"))
			vs_remove_uuid(de->d_name);
	}
	closedir(d);
}

int vs_count_instances(void)
{
	char path[PATH_MAX], link[PATH_MAX];
	struct dirent *de;
	int count = 0;
	ssize_t n;
	DIR *d;

	d = opendir(VS_MDEV_DIR);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), VS_MDEV_DIR "/%s/mdev_type",
			 de->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n < 0)
			continue;
		link[n] = 0;
		if (strstr(link, "/vslice-"))
			count++;
	}
	closedir(d);
	return count;
}

int vs_open(struct vs_inst *in)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	char path[PATH_MAX], link[PATH_MAX], *base;
	ssize_t n;
	int ret;

	snprintf(path, sizeof(path), VS_MDEV_DIR "/%s/iommu_group", in->uuid);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return -errno;
	link[n] = 0;
	base = strrchr(link, '/');
	in->group_id = atoi(base ? base + 1 : link);

	in->container = open("/dev/vfio/vfio", O_RDWR);
	if (in->container < 0)
		return -errno;
	snprintf(path, sizeof(path), "/dev/vfio/%d", in->group_id);
	in->group = open(path, O_RDWR);
	if (in->group < 0)
		goto err;
	if (ioctl(in->group, VFIO_GROUP_GET_STATUS, &status) ||
	    !(status.flags & VFIO_GROUP_FLAGS_VIABLE))
		goto err;
	if (ioctl(in->group, VFIO_GROUP_SET_CONTAINER, &in->container))
		goto err;
	if (ioctl(in->container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		goto err;
	in->device = ioctl(in->group, VFIO_GROUP_GET_DEVICE_FD, in->uuid);
	if (in->device < 0)
		goto err;
	return 0;
err:
	ret = -errno;
	vs_close(in);
	return ret ? ret : -EIO;
}

void vs_close(struct vs_inst *in)
{
	if (in->device >= 0)
		close(in->device);
	if (in->group >= 0)
		close(in->group);
	if (in->container >= 0)
		close(in->container);
	in->device = -1;
	in->group = -1;
	in->container = -1;
}

int vs_region_info(int device, unsigned int index,
		   struct vfio_region_info *info, size_t argsz)
{
	memset(info, 0, argsz);
	info->argsz = argsz;
	info->index = index;
	if (ioctl(device, VFIO_DEVICE_GET_REGION_INFO, info))
		return -errno;
	return 0;
}

void *vs_region_cap(struct vfio_region_info *info, uint16_t id)
{
	struct vfio_info_cap_header *hdr;
	uint32_t off;

	if (!(info->flags & VFIO_REGION_INFO_FLAG_CAPS))
		return NULL;
	for (off = info->cap_offset; off; off = hdr->next) {
		if (off + sizeof(*hdr) > info->argsz)
			return NULL;
		hdr = (struct vfio_info_cap_header *)((char *)info + off);
		if (hdr->id == id)
			return hdr;
	}
	return NULL;
}

int vs_region_offset(int device, unsigned int index, uint64_t *off,
		     uint64_t *size)
{
	struct vfio_region_info info;
	int ret;

	ret = vs_region_info(device, index, &info, sizeof(info));
	if (ret)
		return ret;
	*off = info.offset;
	if (size)
		*size = info.size;
	return 0;
}

/* A feature header with room for the small migration payloads. */
union vs_feat_buf {
	struct vfio_device_feature f;
	uint64_t raw[(sizeof(struct vfio_device_feature) + 16) / 8];
};

int vs_mig_set_state(int device, uint32_t state, int *data_fd)
{
	union vs_feat_buf b = { 0 };
	struct vfio_device_feature_mig_state *m = (void *)b.f.data;
	int ret = 0;

	b.f.argsz = sizeof(b.f) + sizeof(*m);
	b.f.flags = VFIO_DEVICE_FEATURE_SET |
		    VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE;
	m->device_state = state;
	m->data_fd = -1;
	if (ioctl(device, VFIO_DEVICE_FEATURE, &b))
		ret = -errno;
	if (data_fd)
		*data_fd = ret ? -1 : m->data_fd;
	else if (!ret && m->data_fd >= 0)
		close(m->data_fd);
	return ret;
}

uint32_t vs_mig_get_state(int device)
{
	union vs_feat_buf b = { 0 };
	struct vfio_device_feature_mig_state *m = (void *)b.f.data;

	b.f.argsz = sizeof(b.f) + sizeof(*m);
	b.f.flags = VFIO_DEVICE_FEATURE_GET |
		    VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE;
	if (ioctl(device, VFIO_DEVICE_FEATURE, &b))
		return ~0u;
	return m->device_state;
}

int vs_mig_flags(int device, __u64 *flags)
{
	union vs_feat_buf b = { 0 };
	struct vfio_device_feature_migration *m = (void *)b.f.data;

	b.f.argsz = sizeof(b.f) + sizeof(*m);
	b.f.flags = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIGRATION;
	if (ioctl(device, VFIO_DEVICE_FEATURE, &b))
		return -errno;
	*flags = m->flags;
	return 0;
}

uint32_t vs_crc32c(const void *buf, size_t len)
{
	return ~vs_crc32c_update(~0u, buf, len);
}

void vs_stream_hdr_reseal(struct vslice_stream_hdr *h)
{
	h->hdr_crc = vs_crc32c(h, offsetof(struct vslice_stream_hdr, hdr_crc));
}

#define VS_BUF_STEP	(1024 * 1024)

int vs_buf_reserve(struct vs_buf *b, size_t more)
{
	size_t cap = b->cap ? b->cap : VS_BUF_STEP;
	uint8_t *p;

	while (cap - b->len < more)
		cap *= 2;
	if (cap == b->cap)
		return 0;
	p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

int vs_buf_put(struct vs_buf *b, const void *p, size_t n)
{
	if (vs_buf_reserve(b, n))
		return -ENOMEM;
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

void vs_buf_free(struct vs_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

int vs_buf_read_fd(int fd, struct vs_buf *b, size_t *got)
{
	size_t before = b->len;
	ssize_t n;
	int ret;

	for (;;) {
		if (vs_buf_reserve(b, VS_BUF_STEP)) {
			ret = -ENOMEM;
			break;
		}
		n = read(fd, b->p + b->len, VS_BUF_STEP);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n ? -errno : 0;
			break;
		}
		b->len += n;
	}
	if (got)
		*got = b->len - before;
	return ret;
}

int vs_stream_read_all(int fd, uint8_t **buf, size_t *len)
{
	struct vs_buf b = { 0 };
	int ret = vs_buf_read_fd(fd, &b, NULL);

	if (ret) {
		vs_buf_free(&b);
		return ret;
	}
	*buf = b.p;
	*len = b.len;
	return 0;
}

int vs_stream_write_all(int fd, const uint8_t *buf, size_t len, size_t piece)
{
	size_t done = 0, want;
	ssize_t n;

	while (done < len) {
		want = len - done;
		if (piece && want > piece)
			want = piece;
		n = write(fd, buf + done, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (!n)
			return -EIO;
		done += n;
	}
	return 0;
}

static uint64_t vs_index_off(unsigned int index)
{
	return (uint64_t)index << 40;
}

ssize_t vs_region_rw(struct vs_inst *in, unsigned int index, uint64_t off,
		     void *buf, size_t len, bool write)
{
	ssize_t n;

	if (write)
		n = pwrite(in->device, buf, len, vs_index_off(index) + off);
	else
		n = pread(in->device, buf, len, vs_index_off(index) + off);
	return n < 0 ? -errno : n;
}

uint32_t vs_rd32(struct vs_inst *in, uint32_t reg)
{
	uint32_t v = 0xdeadbeef;

	if (vs_region_rw(in, VFIO_PCI_BAR0_REGION_INDEX, reg, &v, 4, false) != 4)
		return 0xdeadbeef;
	return v;
}

void vs_wr32(struct vs_inst *in, uint32_t reg, uint32_t val)
{
	vs_region_rw(in, VFIO_PCI_BAR0_REGION_INDEX, reg, &val, 4, true);
}

int vs_cfg_read(struct vs_inst *in, uint32_t off, void *buf, size_t len)
{
	ssize_t n = vs_region_rw(in, VFIO_PCI_CONFIG_REGION_INDEX, off, buf,
				 len, false);

	return n == (ssize_t)len ? 0 : (n < 0 ? n : -EIO);
}

int vs_cfg_write(struct vs_inst *in, uint32_t off, const void *buf,
		 size_t len)
{
	ssize_t n = vs_region_rw(in, VFIO_PCI_CONFIG_REGION_INDEX, off,
				 (void *)buf, len, true);

	return n == (ssize_t)len ? 0 : (n < 0 ? n : -EIO);
}

void *vs_dma_map(struct vs_inst *in, uint64_t iova, size_t size)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.iova = iova,
		.size = size,
	};
	void *buf;

	buf = mmap(NULL, size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		return NULL;
	memset(buf, 0, size);
	map.vaddr = (uintptr_t)buf;
	if (ioctl(in->container, VFIO_IOMMU_MAP_DMA, &map)) {
		munmap(buf, size);
		return NULL;
	}
	return buf;
}

int vs_dma_unmap(struct vs_inst *in, uint64_t iova, size_t size, void *buf)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap),
		.iova = iova,
		.size = size,
	};
	int ret = 0;

	if (ioctl(in->container, VFIO_IOMMU_UNMAP_DMA, &unmap))
		ret = -errno;
	if (buf)
		munmap(buf, size);
	return ret;
}

static int vs_dirty_op(struct vs_inst *in, uint32_t flags)
{
	struct vfio_iommu_type1_dirty_bitmap d = {
		.argsz = sizeof(d),
		.flags = flags,
	};

	return ioctl(in->container, VFIO_IOMMU_DIRTY_PAGES, &d) ? -errno : 0;
}

int vs_dirty_start(struct vs_inst *in)
{
	return vs_dirty_op(in, VFIO_IOMMU_DIRTY_PAGES_FLAG_START);
}

int vs_dirty_stop(struct vs_inst *in)
{
	return vs_dirty_op(in, VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP);
}

int vs_dirty_bitmap(struct vs_inst *in, uint64_t iova, size_t size,
		    uint64_t *bitmap)
{
	size_t npages = size / 4096;
	size_t bsize = ((npages + 63) / 64) * 8;
	struct {
		struct vfio_iommu_type1_dirty_bitmap d;
		struct vfio_iommu_type1_dirty_bitmap_get g;
	} req;

	memset(&req, 0, sizeof(req));
	memset(bitmap, 0, bsize);
	req.d.argsz = sizeof(req);
	req.d.flags = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP;
	req.g.iova = iova;
	req.g.size = size;
	req.g.bitmap.pgsize = 4096;
	req.g.bitmap.size = bsize;
	req.g.bitmap.data = (__u64 *)bitmap;
	return ioctl(in->container, VFIO_IOMMU_DIRTY_PAGES, &req) ? -errno : 0;
}

struct vslice_cmd vs_cmd(uint32_t op, uint32_t pattern, uint64_t vram_off,
			 uint64_t iova, uint64_t len)
{
	struct vslice_cmd c = {
		.opcode = htole32(op),
		.pattern = htole32(pattern),
		.vram_off = htole64(vram_off),
		.iova = htole64(iova),
		.len = htole64(len),
	};

	return c;
}

struct vslice_cmd vs_cmd_fill(uint64_t vram_off, uint32_t pattern,
			      uint64_t len)
{
	return vs_cmd(VSLICE_CMD_FILL, pattern, vram_off, 0, len);
}

struct vslice_cmd vs_cmd_to_vram(uint64_t iova, uint64_t vram_off,
				 uint64_t len)
{
	return vs_cmd(VSLICE_CMD_COPY_TO_VRAM, 0, vram_off, iova, len);
}

struct vslice_cmd vs_cmd_from_vram(uint64_t vram_off, uint64_t iova,
				   uint64_t len)
{
	return vs_cmd(VSLICE_CMD_COPY_FROM_VRAM, 0, vram_off, iova, len);
}

struct vslice_cmd vs_cmd_fence(uint64_t iova, uint64_t value)
{
	return vs_cmd(VSLICE_CMD_FENCE, 0, 0, iova, value);
}

void vs_ring_setup(struct vs_inst *in, uint64_t ring_iova, uint32_t entries)
{
	uint16_t cmd = 0;

	/* As a driver does: DMA needs COMMAND.MASTER (device-abi.rst). */
	vs_cfg_read(in, PCI_COMMAND, &cmd, 2);
	cmd |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	vs_cfg_write(in, PCI_COMMAND, &cmd, 2);
	vs_wr32(in, VSLICE_REG_CONTROL, 0);
	vs_wr32(in, VSLICE_REG_RING_BASE_LO, (uint32_t)ring_iova);
	vs_wr32(in, VSLICE_REG_RING_BASE_HI, (uint32_t)(ring_iova >> 32));
	vs_wr32(in, VSLICE_REG_RING_SIZE, entries);
	vs_wr32(in, VSLICE_REG_RING_TAIL, 0);
	vs_wr32(in, VSLICE_REG_CONTROL, VSLICE_CTRL_ENABLE);
}

void vs_ring_push(struct vs_inst *in, void *ring, uint32_t entries,
		  const struct vslice_cmd *cmd)
{
	uint32_t tail = vs_rd32(in, VSLICE_REG_RING_TAIL);

	memcpy((char *)ring + (size_t)(tail % entries) * VSLICE_CMD_SIZE, cmd,
	       sizeof(*cmd));
	__sync_synchronize();
	vs_wr32(in, VSLICE_REG_RING_TAIL, (tail + 1) % entries);
	vs_wr32(in, VSLICE_REG_DOORBELL, 1);
}

int vs_ring_wait_idle(struct vs_inst *in, int timeout_ms)
{
	struct timespec ts = { 0, 1000000 };
	int i;

	for (i = 0; i < timeout_ms; i++) {
		uint32_t st = vs_rd32(in, VSLICE_REG_STATUS);

		if (st & VSLICE_STATUS_HALTED)
			return -EIO;
		if (vs_rd32(in, VSLICE_REG_RING_HEAD) ==
		    vs_rd32(in, VSLICE_REG_RING_TAIL) &&
		    !(st & VSLICE_STATUS_BUSY))
			return 0;
		nanosleep(&ts, NULL);
	}
	return -ETIMEDOUT;
}

bool vs_kernel_has_lockdep(void)
{
	return access("/proc/lockdep", F_OK) == 0;
}

const char *vs_kernel_release(void)
{
	static struct utsname u;

	if (!u.release[0] && uname(&u))
		return "unknown";
	return u.release;
}

bool vs_kernel_at_least(int major, int minor)
{
	int ma = 0, mi = 0;

	if (sscanf(vs_kernel_release(), "%d.%d", &ma, &mi) != 2)
		return false;
	return ma > major || (ma == major && mi >= minor);
}

bool vs_kernel_has_symbol(const char *name)
{
	char line[512], sym[256];
	bool found = false;
	FILE *f = fopen("/proc/kallsyms", "r");

	if (!f)
		return false;
	/* "address type name [module]" */
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "%*s %*s %255s", sym) == 1 &&
			!strcmp(sym, name);
	fclose(f);
	return found;
}

static int dmesg_count_bad(void);

/* Bad kernel log lines present when the program started. */
static int dmesg_bad_at_start;

__attribute__((constructor)) static void dmesg_mark_start(void)
{
	int n = dmesg_count_bad();

	dmesg_bad_at_start = n > 0 ? n : 0;
}

int vs_dmesg_bad_lines(void)
{
	int n = dmesg_count_bad();

	if (n < 0)
		return n;
	/* the ring buffer may have wrapped past old lines */
	return n > dmesg_bad_at_start ? n - dmesg_bad_at_start : 0;
}

static int dmesg_count_bad(void)
{
	static const char *const bad[] = {
		"BUG", "WARNING:", "Oops", "general protection", "KASAN",
		"UBSAN", "circular locking", "blocked for more than",
		"Call Trace",
	};
	char line[1024];
	int count = 0;
	unsigned int i;
	FILE *f;

	f = popen("dmesg 2>/dev/null", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		for (i = 0; i < ARRAY_SIZE(bad); i++) {
			if (strstr(line, bad[i])) {
				count++;
				break;
			}
		}
	}
	pclose(f);
	return count;
}

/* ---- stream checksums ---------------------------------------------------- */

/*
 * ISA-L's crc32_iscsi() (libisal-dev), as the stream codec's userspace
 * build uses (selftests/stream/kshim/linux/crc32c.h): the register in and
 * out as is, no inversion.  Thread-safe, no table of our own.
 */
uint32_t vs_crc32c_update(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	/* ISA-L takes an int length */
	while (len > (1u << 30)) {
		crc = crc32_iscsi((unsigned char *)p, 1 << 30, crc);
		p += 1u << 30;
		len -= 1u << 30;
	}
	return crc32_iscsi((unsigned char *)p, (int)len, crc);
}

/* ---- migration uAPI beyond 6.1's headers --------------------------------- */

/* Layouts as in 6.12's uAPI, under our own names. */
struct vs_mig_data_size {
	__aligned_u64 stop_copy_length;
};

struct vs_precopy_info {
	__u32 argsz;
	__u32 flags;
	__aligned_u64 initial_bytes;
	__aligned_u64 dirty_bytes;
};

int vs_feature(int device, uint32_t flags, void *payload, size_t len)
{
	size_t argsz = sizeof(struct vfio_device_feature) + len;
	struct vfio_device_feature *f = calloc(1, argsz);
	int ret;

	if (!f)
		return -ENOMEM;
	f->argsz = argsz;
	f->flags = flags;
	if (len)
		memcpy(f->data, payload, len);
	ret = ioctl(device, VFIO_DEVICE_FEATURE, f) ? -errno : 0;
	if (!ret && len)
		memcpy(payload, f->data, len);
	free(f);
	return ret;
}

int vs_dev_reset(int device)
{
	return ioctl(device, VFIO_DEVICE_RESET) ? -errno : 0;
}

int vs_mig_data_size(int device, __u64 *len)
{
	union {
		struct vfio_device_feature f;
		__u64 raw[(sizeof(struct vfio_device_feature) + 16) / 8];
	} b = { 0 };
	struct vs_mig_data_size *m = (void *)b.f.data;

	b.f.argsz = sizeof(b.f) + sizeof(*m);
	b.f.flags = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIG_DATA_SIZE;
	if (ioctl(device, VFIO_DEVICE_FEATURE, &b))
		return -errno;
	*len = m->stop_copy_length;
	return 0;
}

int vs_mig_precopy_info(int data_fd, __u64 *initial, __u64 *dirty)
{
	__u32 flags = 0;

	return vs_mig_precopy_info_flags(data_fd, &flags, initial, dirty);
}

int vs_mig_precopy_info_flags(int data_fd, __u32 *flags, __u64 *initial,
			      __u64 *dirty)
{
	struct vs_precopy_info info = {
		.argsz = sizeof(info),
		.flags = *flags,
	};

	if (ioctl(data_fd, VFIO_MIG_GET_PRECOPY_INFO, &info))
		return -errno;
	*flags = info.flags;
	if (initial)
		*initial = info.initial_bytes;
	if (dirty)
		*dirty = info.dirty_bytes;
	return 0;
}

ssize_t vs_vram_rw(struct vs_inst *in, uint64_t off, void *buf, size_t len,
		   bool write)
{
	size_t done = 0;

	while (done < len) {
		size_t n = len - done > (1 << 20) ? (1 << 20) : len - done;
		ssize_t r = vs_region_rw(in, VFIO_PCI_BAR2_REGION_INDEX,
					 off + done, (char *)buf + done, n,
					 write);

		if (r <= 0)
			return r < 0 ? r : -EIO;
		done += r;
	}
	return done;
}

long long vs_drain(int fd)
{
	static char buf[1 << 20];
	long long total = 0;
	ssize_t n;

	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n > 0) {
			total += n;
			continue;
		}
		if (n < 0 && errno == ENOMSG)
			return total;
		return n < 0 ? -errno : total;	/* 0: end of stream */
	}
}

int vs_vram_fill_pages(struct vs_inst *in, unsigned int first,
		       unsigned int count, uint8_t val)
{
	static uint8_t page[4096];
	unsigned int i;

	memset(page, val, sizeof(page));
	for (i = 0; i < count; i++)
		if (vs_region_rw(in, VFIO_PCI_BAR2_REGION_INDEX,
				 (uint64_t)(first + i) * sizeof(page), page,
				 sizeof(page), true) != sizeof(page))
			return -EIO;
	return 0;
}
