/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vslice selftests: helpers shared by every test program.  They drive the
 * device from userspace exactly as QEMU or a guest driver would: sysfs for
 * lifecycle, /dev/vfio/<group> plus a type1 container for the device fd.
 */
#ifndef _VSLICE_LIB_H
#define _VSLICE_LIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/vfio.h>

#include "../uapi/vslice_regs.h"
#include "../uapi/vslice_stream.h"
#include "../uapi/vslice_mig_v1.h"

/* 6.2+ uAPI, absent from bookworm's libc headers (6.1) */
#ifndef VFIO_MIGRATION_PRE_COPY
#define VFIO_MIGRATION_PRE_COPY			0x4
#endif
#ifndef VFIO_DEVICE_FEATURE_MIG_DATA_SIZE
#define VFIO_DEVICE_FEATURE_MIG_DATA_SIZE	9
#endif
#ifndef VFIO_MIG_GET_PRECOPY_INFO
#define VFIO_MIG_GET_PRECOPY_INFO		_IO(VFIO_TYPE, VFIO_BASE + 21)
#endif
/* 7.1+ uAPI */
#ifndef VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2
#define VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2	12
#endif
#ifndef VFIO_PRECOPY_INFO_REINIT
#define VFIO_PRECOPY_INFO_REINIT		1u
#endif

/*
 * The v2 device states by number: bookworm's libc uAPI (6.1) has no
 * PRE_COPY states, and the binaries run on every kernel (they SKIP what
 * one lacks).
 */
#define ST_ERROR	0u
#define ST_STOP		1u
#define ST_RUNNING	2u
#define ST_STOP_COPY	3u
#define ST_RESUMING	4u
#define ST_RUNNING_P2P	5u
#define ST_PRE_COPY	6u
#define ST_PRE_COPY_P2P	7u

#define VS_PARENT_DIR	"/sys/class/mdev_bus/vslice0"
#define VS_TYPES_DIR	VS_PARENT_DIR "/mdev_supported_types"
#define VS_MDEV_DIR	"/sys/bus/mdev/devices"

#define VS_TYPE_128	"vslice-128m"
#define VS_TYPE_256	"vslice-256m"
#define VS_TYPE_512	"vslice-512m"

#define VS_MIB		(1024ULL * 1024)

/**
 * struct vs_inst - one instance as a test sees it
 * @uuid:	the mdev UUID
 * @type:	type directory name (e.g. "vslice-128m")
 * @container:	/dev/vfio/vfio fd (type1), -1 when closed
 * @group:	/dev/vfio/<group> fd, -1 when closed
 * @device:	device fd, -1 when closed
 * @group_id:	IOMMU group number
 */
struct vs_inst {
	char uuid[40];
	char type[64];
	int container;
	int group;
	int device;
	int group_id;
};

/*
 * Test faults of the module (mdev/fault.h), the same files as
 * scripts/vslice-fault: VS_FAULT_DIR/<name>.  vs_fault_set() returns 0,
 * -ENOENT when the module was built without VSLICE_FAULTS=y, or the
 * kernel's -errno for a refused value; vs_fault_have() says whether the
 * module has the fault at all.
 */
#define VS_FAULT_DIR	"/sys/kernel/debug/vslice/fault"
int vs_fault_set(const char *name, long val);
bool vs_fault_have(const char *name);

/*
 * vs_mig_watch(): the value of @key in the instance's debugfs migration
 * file (VS_DEBUGFS_DIR/<uuid>/migration, admin.rst), or -1.
 */
#define VS_DEBUGFS_DIR	"/sys/kernel/debug/vslice"
long long vs_mig_watch(const char *uuid, const char *key);

/* sysfs helpers: return 0 or -errno (the errno the kernel returned). */
int vs_sysfs_write(const char *path, const char *val);
int vs_sysfs_read(const char *path, char *buf, size_t len);
long vs_type_attr_long(const char *type, const char *attr);
void vs_uuid_gen(char out[40]);

/* Lifecycle: 0 or -errno. */
int vs_create(struct vs_inst *in, const char *type);
int vs_create_uuid(const char *type, const char *uuid);
int vs_remove(struct vs_inst *in);
int vs_remove_uuid(const char *uuid);
void vs_remove_all(void);
int vs_count_instances(void);

/* VFIO: 0 or -errno.  vs_open() sets up container+group+device. */
int vs_open(struct vs_inst *in);
void vs_close(struct vs_inst *in);
int vs_region_info(int device, unsigned int index,
		   struct vfio_region_info *info, size_t argsz);
void *vs_region_cap(struct vfio_region_info *info, uint16_t id);
int vs_region_offset(int device, unsigned int index, uint64_t *off,
		     uint64_t *size);

/*
 * v2 migration uAPI.  vs_mig_set_state(): 0 or -errno; *data_fd gets the
 * fd the kernel handed out, or -1 (also on error); with data_fd NULL any
 * handed-out fd is closed.  vs_mig_get_state(): the state, or ~0u.
 * vs_mig_flags(): 0 and *flags (VFIO_MIGRATION_*), or -errno.
 */
int vs_mig_set_state(int device, uint32_t state, int *data_fd);
uint32_t vs_mig_get_state(int device);
int vs_mig_flags(int device, __u64 *flags);
/*
 * VFIO_DEVICE_FEATURE with @flags and a @len-byte payload, copied back on
 * success (GET); 0 or -errno.
 */
int vs_feature(int device, uint32_t flags, void *payload, size_t len);
int vs_dev_reset(int device);
/* GET MIG_DATA_SIZE: 0 and *len, or -errno (6.2+). */
int vs_mig_data_size(int device, __u64 *len);
/* VFIO_MIG_GET_PRECOPY_INFO on a data fd: 0, or -errno; outputs optional. */
int vs_mig_precopy_info(int data_fd, __u64 *initial, __u64 *dirty);
/* The same with the flags word: *flags goes in and comes back (7.1+ output). */
int vs_mig_precopy_info_flags(int data_fd, __u32 *flags, __u64 *initial,
			      __u64 *dirty);

/*
 * A growing byte buffer (streams, files); zero-initialise it.
 * vs_buf_reserve(): room for @more bytes after @len, 0 or -ENOMEM.
 * vs_buf_put(): append.  vs_buf_free(): free and zero it.
 * vs_buf_read_fd(): append what a save fd gives until EOF (0), a pre-copy
 * temporary end (-ENOMSG) or another -errno; *@got (optional) gets the
 * bytes this call read.
 */
struct vs_buf {
	uint8_t *p;
	size_t len;
	size_t cap;
};

int vs_buf_reserve(struct vs_buf *b, size_t more);
int vs_buf_put(struct vs_buf *b, const void *p, size_t n);
void vs_buf_free(struct vs_buf *b);
int vs_buf_read_fd(int fd, struct vs_buf *b, size_t *got);

/*
 * vs_drain(): read a pre-copy data fd until it has nothing more for now
 * (-ENOMSG) or the stream ends: the bytes read, or -errno.
 * vs_vram_fill_pages(): the guest writes @count VRAM pages from @first,
 * each filled with @val, through BAR2 (dirtying them): 0 or -EIO.
 */
long long vs_drain(int fd);
int vs_vram_fill_pages(struct vs_inst *in, unsigned int first,
		       unsigned int count, uint8_t val);

/*
 * Whole v2 streams.  vs_stream_read_all(): read @fd to EOF into a malloc'd
 * buffer (*buf, *len; free() it), 0 or -errno.  vs_stream_write_all():
 * write @len bytes in pieces of at most @piece (0: all at once), 0 or the
 * -errno of the write the device refused.  vs_stream_hdr_reseal(): after
 * editing a stream header, recompute its hdr_crc.
 * vs_crc32c(): CRC32C as the stream uses it (seed ~0, final xor ~0).
 */
int vs_stream_read_all(int fd, uint8_t **buf, size_t *len);
int vs_stream_write_all(int fd, const uint8_t *buf, size_t len, size_t piece);
void vs_stream_hdr_reseal(struct vslice_stream_hdr *h);
uint32_t vs_crc32c(const void *buf, size_t len);

/* Register / region access through the device fd. */
/*
 * vs_vram_rw(): @len bytes of VRAM (BAR2) at @off through the region, in
 * 1 MiB accesses; @len, or the -errno of the first failing access (-EIO
 * for a short one).
 */
ssize_t vs_vram_rw(struct vs_inst *in, uint64_t off, void *buf, size_t len,
		   bool write);
uint32_t vs_rd32(struct vs_inst *in, uint32_t reg);
void vs_wr32(struct vs_inst *in, uint32_t reg, uint32_t val);
int vs_cfg_read(struct vs_inst *in, uint32_t off, void *buf, size_t len);
int vs_cfg_write(struct vs_inst *in, uint32_t off, const void *buf,
		 size_t len);
ssize_t vs_region_rw(struct vs_inst *in, unsigned int index, uint64_t off,
		     void *buf, size_t len, bool write);

/* DMA: map an anonymous buffer at @iova; returns it or NULL. */
void *vs_dma_map(struct vs_inst *in, uint64_t iova, size_t size);
int vs_dma_unmap(struct vs_inst *in, uint64_t iova, size_t size, void *buf);
int vs_dirty_start(struct vs_inst *in);
int vs_dirty_stop(struct vs_inst *in);
int vs_dirty_bitmap(struct vs_inst *in, uint64_t iova, size_t size,
		    uint64_t *bitmap);

/*
 * Ring entries, little-endian as the device reads them: vs_cmd() any,
 * and one builder per command.
 */
struct vslice_cmd vs_cmd(uint32_t op, uint32_t pattern, uint64_t vram_off,
			 uint64_t iova, uint64_t len);
struct vslice_cmd vs_cmd_fill(uint64_t vram_off, uint32_t pattern,
			      uint64_t len);
struct vslice_cmd vs_cmd_to_vram(uint64_t iova, uint64_t vram_off,
				 uint64_t len);
struct vslice_cmd vs_cmd_from_vram(uint64_t vram_off, uint64_t iova,
				   uint64_t len);
struct vslice_cmd vs_cmd_fence(uint64_t iova, uint64_t value);

/*
 * Engine: program a ring at @ring_iova in @ring (mapped), submit, wait.
 * vs_ring_setup() also sets COMMAND.MEMORY and COMMAND.MASTER, as a driver
 * does: without MASTER the engine does no DMA (device-abi.rst).
 */
void vs_ring_setup(struct vs_inst *in, uint64_t ring_iova, uint32_t entries);
void vs_ring_push(struct vs_inst *in, void *ring, uint32_t entries,
		  const struct vslice_cmd *cmd);
int vs_ring_wait_idle(struct vs_inst *in, int timeout_ms);

/*
 * Kernel log: lines matching BUG/WARNING/KASAN/lockdep/... that appeared
 * since this program started (what was there before is not its doing;
 * scripts/vm-run checks the whole log anyway).
 */
int vs_dmesg_bad_lines(void);
/* The running kernel has lockdep (/proc/lockdep exists). */
bool vs_kernel_has_lockdep(void);

/*
 * Facts about the running kernel, the only thing a test may SKIP on (never
 * the device's own answer: a device that stops offering something must
 * fail).  Each SKIP reason starts with "kernel" and names the fact;
 * scripts/test-suite counts any other SKIP as a failure.
 *
 * vs_kernel_release(): uname -r.  vs_kernel_at_least(): its version is
 * at least MAJOR.MINOR.  vs_kernel_has_symbol(): /proc/kallsyms lists the
 * name (it lists names even where it hides addresses).
 */
const char *vs_kernel_release(void);
bool vs_kernel_at_least(int major, int minor);
bool vs_kernel_has_symbol(const char *name);
/*
 * The VFIO core of 6.2+ has v2 PRE_COPY, VFIO_MIG_GET_PRECOPY_INFO and
 * MIG_DATA_SIZE: there the device must offer PRE_COPY, P2P and
 * MIG_DATA_SIZE.  VS_SKIP_NO_PRECOPY is the SKIP reason below 6.2 (its
 * argument: vs_kernel_release()).
 */
#define vs_kernel_has_precopy()	vs_kernel_at_least(6, 2)
#define VS_SKIP_NO_PRECOPY \
	"kernel %s (uname -r) < 6.2: its VFIO core has no PRE_COPY or MIG_DATA_SIZE"
/*
 * The kernel's iova_bitmap is real (device DMA logging can work): it is
 * in vfio.ko up to 6.2, later only with CONFIG_IOMMUFD_DRIVER; Debian's
 * 6.12 and 7.x builds have inline stubs.  iova_bitmap_set in
 * /proc/kallsyms tells.  There, and only there, the device must offer
 * DMA logging.
 */
#define vs_kernel_has_iova_bitmap()	vs_kernel_has_symbol("iova_bitmap_set")
#define VS_SKIP_NO_IOVA_BITMAP \
	"kernel: no iova_bitmap_set in /proc/kallsyms (iova_bitmap is a stub)"

/*
 * vs_crc32c_update(): the bare CRC32C register update behind vs_crc32c()
 * (seed and final xor by the caller, as the codec chains sections).
 */
uint32_t vs_crc32c_update(uint32_t crc, const void *buf, size_t len);

#endif /* _VSLICE_LIB_H */
