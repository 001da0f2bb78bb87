/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vslice: core definitions shared by every file of the module.
 *
 * Object model: one simulated parent device (struct vslice_parent) is
 * sliced into mdev instances (struct vslice_dev), each a vfio_device.
 *
 * Lock order - the one place it is written; every other comment refers
 * here.  Outermost first; never take an earlier lock while holding a
 * later one:
 *
 *  1. vslice_v1.lock         - compat_v1/region.c: the v1 header accesses
 *                              that move data; taken before the core's
 *                              locks, never across copy_{to,from}_user().
 *  2. vslice_dev.state_mutex - migration FSM, channel setup and teardown,
 *                              open/close, VFIO_DEVICE_RESET, DMA logging
 *                              start/stop/report (migration.c, dirty.c).
 *  3. channel lock           - vslice_data_file.lock (migration.c): the
 *                              data path of one save or resume channel.
 *  4. vslice_dev.dev_lock    - config space, BAR0 registers, IRQ setup,
 *                              engine progress; the engine worker takes it
 *                              only between guest memory accesses.
 *     engine.dma_lock        - engine.c: one pinned guest access against
 *                              the dma_unmap callback.  dev_lock and
 *                              dma_lock are never held together, in either
 *                              order; dma_lock is never held across a wait
 *                              for the worker.
 *  5. vslice_vram.lock       - VRAM page array and bitmaps (vram.c); taken
 *                              under the channel lock and under dma_lock,
 *                              and by BAR2 faults under mmap_lock.
 *
 *  vslice_parent.lock        - VRAM budget and instance count (main.c):
 *                              taken alone, never nests with the others.
 *  The dirty log's xarray lock (dirty.c) is innermost: nothing is taken
 *  under it.
 *
 * Type1 calls dma_unmap with its device_list_lock held, so with copy_pin=1
 * type1's own locks sit outside dma_lock (see the top of engine.c).
 */
#ifndef _VSLICE_H
#define _VSLICE_H

#include <linux/mdev.h>
#include <linux/mutex.h>
#include <linux/vfio.h>

#include "compat.h"
#include "device.h"
#include "dirty.h"
#include "engine.h"
#include "migration.h"

#define VSLICE_DRIVER_NAME	"vslice"
#define VSLICE_PARENT_NAME	"vslice0"

/**
 * struct vslice_type - one mdev type of the parent
 * @mtype:	the mdev core's type object (sysfs_name, pretty_name)
 * @vram_size:	VRAM per instance in bytes
 * @id:		stable numeric type id, carried in the migration stream
 */
struct vslice_type {
	struct mdev_type mtype;
	u64 vram_size;
	u32 id;
};

/**
 * struct vslice_parent - the simulated parent GPU
 * @dev:	the parent's struct device (class "vslice")
 * @parent:	mdev core parent
 * @lock:	protects @vram_used and @nr_instances
 * @vram_total:	VRAM budget in bytes (module parameter)
 * @vram_used:	VRAM handed out to live instances
 * @nr_instances: live instances
 */
struct vslice_parent {
	struct device dev;
	struct mdev_parent parent;
	struct mutex lock;	/* vram_used, nr_instances */
	u64 vram_total;
	u64 vram_used;
	unsigned int nr_instances;
};

/**
 * struct vslice_region_ops - a device region beyond the PCI ones
 * @index:	VFIO region index
 * @info:	fill VFIO_DEVICE_GET_REGION_INFO (caps through @caps)
 * @rw:		read or write @count bytes at region offset @pos
 * @mmap:	map part of the region, or NULL
 * @close:	forget per-user state: called when the user closes the device
 *		and when the instance is released; may run twice, takes no
 *		locks (no mapping or access can be in flight then), or NULL
 *
 * compat_v1/ registers its migration region through this table, so the
 * core never calls into compat_v1/ by name.
 */
struct vslice_region_ops {
	u32 index;
	int (*info)(struct vslice_dev *vd, struct vfio_region_info *info,
		    struct vfio_info_cap *caps);
	ssize_t (*rw)(struct vslice_dev *vd, char __user *buf, size_t count,
		      u64 pos, bool write);
	int (*mmap)(struct vslice_dev *vd, struct vm_area_struct *vma,
		    u64 pos);
	void (*close)(struct vslice_dev *vd);
};

/**
 * struct vslice_dev - one vGPU instance
 * @vdev:	the VFIO device (must be first for vfio_alloc_device)
 * @parent:	owning parent
 * @type:	the instance's type
 * @state_mutex: see the locking rules above
 * @dev_lock:	see the locking rules above
 * @hw:		emulated PCI function: config space, BAR0, IRQs (device.h)
 * @vram:	BAR2 backing store (device.h)
 * @engine:	the command engine (engine.h)
 * @mig:	migration state (migration.h)
 * @dlog:	device DMA dirty log (dirty.c)
 * @debugfs:	the instance's debugfs directory (debugfs.c)
 */
struct vslice_dev {
	struct vfio_device vdev;
	struct vslice_parent *parent;
	const struct vslice_type *type;
	struct mutex state_mutex;	/* FSM, channels; rule 2 above */
	struct mutex dev_lock;		/* cfg, regs, IRQs; rule 4 above */
	struct vslice_hw hw;
	struct vslice_vram vram;
	struct vslice_engine engine;
	struct vslice_mig mig;
	struct vslice_dirty_log dlog;
	struct dentry *debugfs;
};

static inline struct vslice_dev *to_vslice(struct vfio_device *vdev)
{
	return container_of(vdev, struct vslice_dev, vdev);
}

extern const struct vslice_region_ops vslice_v1_region_ops;
extern const struct vslice_region_ops vslice_display_region_ops;

/* display.c */
long vslice_display_query(struct vslice_dev *vd,
			  struct vfio_device_gfx_plane_info __user *arg);

/* instance.c */
int vslice_instance_create(struct mdev_device *mdev,
			   struct vslice_parent *parent,
			   const struct vslice_type *type);
void vslice_instance_destroy(struct mdev_device *mdev);

/* compatinfo.c */
ssize_t vslice_migration_info_show(const struct vslice_type *type, char *buf);
extern const struct attribute_group *vslice_instance_groups[];

/* debugfs.c */
struct dentry *vslice_debugfs_init(void);
void vslice_debugfs_exit(void);
void vslice_debugfs_add(struct vslice_dev *vd);
void vslice_debugfs_remove(struct vslice_dev *vd);

#endif /* _VSLICE_H */
