// SPDX-License-Identifier: GPL-2.0
/*
 * vslice: device DMA dirty logging through vfio_log_ops.
 *
 * The engine reports every guest page it writes to vslice_dirty_mark();
 * while QEMU has logging started (VFIO_DEVICE_FEATURE_DMA_LOGGING_START)
 * those pages are kept in an xarray and handed out, then forgotten, by
 * DMA_LOGGING_REPORT.  Exactly the pages the device wrote, never a no-op:
 * vslice does DMA.
 *
 * log_ops are registered only where iova_bitmap_set() is real.  Debian's
 * 6.12 builds without CONFIG_IOMMUFD_DRIVER, where iova_bitmap is a stub
 * and every report would fail, so there QEMU must (and does) fall back to
 * the type1 container's pinned-page dirty scope.  On 6.1 iova_bitmap lives
 * in vfio.ko unconditionally.
 *
 * Locking: the xarray's internal lock only.  Marking runs in the engine
 * worker (after each write to guest memory); reports run under the vfio core's
 * ioctl path.  A page marked while a report runs is reported next time.
 */

#include <linux/iova_bitmap.h>
#include <linux/module.h>

#include "vslice.h"
#include "trace.h"

#if VSLICE_HAVE_LOG_OPS

#if IS_ENABLED(CONFIG_IOMMUFD_DRIVER)
MODULE_IMPORT_NS(IOMMUFD);
#endif

static int vslice_log_start(struct vfio_device *vdev,
			    struct rb_root_cached *ranges, u32 nnodes,
			    u64 *page_size)
{
	struct vslice_dirty_log *log = &to_vslice(vdev)->dlog;

	/* We track 4 KiB pages; any report granularity can be served. */
	xa_destroy(&log->pages);
	WRITE_ONCE(log->active, true);
	return 0;
}

static int vslice_log_stop(struct vfio_device *vdev)
{
	struct vslice_dirty_log *log = &to_vslice(vdev)->dlog;

	WRITE_ONCE(log->active, false);
	xa_destroy(&log->pages);
	return 0;
}

static int vslice_log_read_and_clear(struct vfio_device *vdev,
				     unsigned long iova, unsigned long length,
				     struct iova_bitmap *dirty)
{
	struct vslice_dirty_log *log = &to_vslice(vdev)->dlog;
	unsigned long pfn;
	void *entry;

	if (!length)
		return 0;
	xa_for_each_range(&log->pages, pfn, entry, iova >> PAGE_SHIFT,
			  (iova + length - 1) >> PAGE_SHIFT) {
		xa_erase(&log->pages, pfn);
		iova_bitmap_set(dirty, pfn << PAGE_SHIFT, PAGE_SIZE);
	}
	return 0;
}

static const struct vfio_log_ops vslice_log_ops = {
	.log_start = vslice_log_start,
	.log_stop = vslice_log_stop,
	.log_read_and_clear = vslice_log_read_and_clear,
};
#endif /* VSLICE_HAVE_LOG_OPS */

/**
 * vslice_dirty_init() - set up dirty logging before registration
 * @vd:		the instance
 */
void vslice_dirty_init(struct vslice_dev *vd)
{
	xa_init(&vd->dlog.pages);
	vd->dlog.active = false;
#if VSLICE_HAVE_LOG_OPS
	vd->vdev.log_ops = &vslice_log_ops;
#endif
}

/**
 * vslice_dirty_fini() - drop the log of a dying instance
 * @vd:		the instance
 */
void vslice_dirty_fini(struct vslice_dev *vd)
{
	xa_destroy(&vd->dlog.pages);
}

/**
 * vslice_dirty_mark() - the engine wrote guest memory
 * @vd:		the instance
 * @iova:	first byte written
 * @len:	bytes written (> 0)
 *
 * Records the pages while logging is active; a no-op otherwise.  Type1
 * needs no call: it sees the pin or the vfio_dma_rw() itself.
 */
void vslice_dirty_mark(struct vslice_dev *vd, u64 iova, u64 len)
{
	u64 pfn, last;

	if (!READ_ONCE(vd->dlog.active) || !len)
		return;
	last = (iova + len - 1) >> PAGE_SHIFT;
	for (pfn = iova >> PAGE_SHIFT; pfn <= last; pfn++)
		xa_store(&vd->dlog.pages, pfn, xa_mk_value(1), GFP_KERNEL);
	trace_vslice_dirty(vd->vdev.dev, iova >> PAGE_SHIFT,
			   last - (iova >> PAGE_SHIFT) + 1, false);
}
