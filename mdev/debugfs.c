// SPDX-License-Identifier: GPL-2.0
/*
 * vslice: per-instance debugfs status, /sys/kernel/debug/vslice/<uuid>/status.
 *
 * Read-only snapshot for humans and tests: migration state and channel
 * statistics, engine registers and checkpoint, pinned pages, VRAM usage.
 * <uuid>/migration: watch a migration (vslice_mig_stats_show()).
 * Takes the same locks as the paths it reports on, one at a time.
 */

#include <linux/debugfs.h>
#include <linux/seq_file.h>

#include "vslice.h"

static struct dentry *vslice_debugfs_root;

static int vslice_status_show(struct seq_file *s, void *unused)
{
	struct vslice_dev *vd = s->private;
	struct vslice_regs r;

	vslice_mig_show(vd, s);

	mutex_lock(&vd->dev_lock);
	r = vd->hw.regs;
	mutex_unlock(&vd->dev_lock);
	seq_printf(s, "engine: control=%#x status=%#x error=%u error_head=%u\n",
		   r.control, r.status, r.error, r.error_head);
	seq_printf(s, "ring: base=%#llx size=%u head=%u tail=%u cmd_count=%u fence=%llu\n",
		   r.ring_base, r.ring_size, r.ring_head, r.ring_tail,
		   r.cmd_count, r.fence);
	seq_printf(s, "engine_progress: %llu\n", READ_ONCE(vd->engine.progress));
	seq_printf(s, "pinned_pages: %d\n", atomic_read(&vd->engine.pinned));
	seq_printf(s, "vram_pages: total=%lu written=%lu dirty=%lu\n",
		   vd->vram.npages, vslice_vram_written_count(&vd->vram),
		   vslice_vram_dirty_count(&vd->vram));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(vslice_status);

static int vslice_migration_show(struct seq_file *s, void *unused)
{
	vslice_mig_stats_show(s->private, s);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(vslice_migration);

/*
 * The migration file goes under the VFIO core's per-device directory
 * (/sys/kernel/debug/vfio/<dev>/) where the kernel has one, with a link
 * from ours; else in ours.  Either way <ours>/migration reads it.
 */
static void vslice_debugfs_add_migration(struct vslice_dev *vd)
{
#if VSLICE_HAVE_VFIO_DEBUGFS
	char target[96];

	if (!IS_ERR_OR_NULL(vd->vdev.debug_root)) {
		debugfs_create_file("vslice_migration", 0444,
				    vd->vdev.debug_root, vd,
				    &vslice_migration_fops);
		snprintf(target, sizeof(target), "../../vfio/%s/vslice_migration",
			 dev_name(vd->vdev.dev));
		debugfs_create_symlink("migration", vd->debugfs, target);
		return;
	}
#endif
	debugfs_create_file("migration", 0444, vd->debugfs, vd,
			    &vslice_migration_fops);
}

/**
 * vslice_debugfs_add() - create an instance's debugfs directory
 * @vd:		the instance
 */
void vslice_debugfs_add(struct vslice_dev *vd)
{
	vd->debugfs = debugfs_create_dir(dev_name(vd->vdev.dev),
					 vslice_debugfs_root);
	debugfs_create_file("status", 0444, vd->debugfs, vd,
			    &vslice_status_fops);
	vslice_debugfs_add_migration(vd);
}

/**
 * vslice_debugfs_remove() - remove an instance's debugfs directory
 * @vd:		the instance
 */
void vslice_debugfs_remove(struct vslice_dev *vd)
{
	debugfs_remove_recursive(vd->debugfs);
	vd->debugfs = NULL;
}

/**
 * vslice_debugfs_init() - create /sys/kernel/debug/vslice
 *
 * Return: the directory, for the fault injection files (fault.c).
 */
struct dentry *vslice_debugfs_init(void)
{
	vslice_debugfs_root = debugfs_create_dir(VSLICE_DRIVER_NAME, NULL);
	return vslice_debugfs_root;
}

/** vslice_debugfs_exit() - remove /sys/kernel/debug/vslice */
void vslice_debugfs_exit(void)
{
	debugfs_remove_recursive(vslice_debugfs_root);
}
