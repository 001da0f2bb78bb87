// SPDX-License-Identifier: GPL-2.0
/*
 * vslice: device DMA dirty logging through vfio_log_ops.
 *
 * The engine reports every guest page it writes to vslice_dirty_mark();
 * while QEMU has logging started (VFIO_DEVICE_FEATURE_DMA_LOGGING_START)
 * those pages that lie in the requested ranges are kept in an xarray and
 * handed out, then forgotten, by DMA_LOGGING_REPORT.  Exactly the pages the
 * device wrote, never a no-op: vslice does DMA.
 *
 * The contract, as pds and mlx5 keep it:
 *  - ranges: only writes inside the ranges given at start are logged.  Up
 *    to VSLICE_DLOG_MAX_RANGES are kept as they are; more are combined by
 *    closing the smallest gaps between neighbours, so the tracked set only
 *    grows (a page outside every requested range may be reported, a page
 *    inside one is never lost).
 *  - page size: the log records 4 KiB pages (PAGE_SIZE) and iova_bitmap
 *    sets the bits of whatever granularity a report asks for, so the page
 *    size requested at start is accepted as it is.
 *  - a second DMA_LOGGING_START while logging is active fails with -EBUSY.
 *  - start, stop and report are serialized by state_mutex; a report
 *    without an active log fails with -EINVAL.
 *  - a page that cannot be recorded (the xarray store fails) is not
 *    dropped silently: the log is marked failed and every report fails with
 *    -ENOMEM until it is stopped, so QEMU fails the migration instead of
 *    losing the page.
 *  - closing the device stops the log.
 *
 * log_ops are registered only where iova_bitmap_set() is real.  Debian's
 * 6.12 builds without CONFIG_IOMMUFD_DRIVER, where iova_bitmap is a stub
 * and every report would fail, so there QEMU must (and does) fall back to
 * the type1 container's pinned-page dirty scope.  On 6.1 iova_bitmap lives
 * in vfio.ko unconditionally.
 *
 * Locking: state_mutex around start, stop, report and close; the xarray's
 * own lock (innermost, see vslice.h) around marking and around the changes
 * of @active, @failed and @ranges that marking reads.  Marking runs in the
 * engine worker, which never takes state_mutex.  A page marked while a
 * report runs is reported next time.
 */

#include <linux/interval_tree.h>
#include <linux/iova_bitmap.h>
#include <linux/module.h>

#include "fault.h"
#include "vslice.h"
#include "trace.h"

/* Under the xarray lock: is [first, last] inside a tracked range? */
static bool vslice_dlog_tracked(const struct vslice_dirty_log *log, u64 first,
				u64 last)
{
	unsigned int i;

	for (i = 0; i < log->nr_ranges; i++)
		if (first <= log->ranges[i].last && log->ranges[i].first <= last)
			return true;
	return false;
}

/* state_mutex held: stop logging and forget what it recorded. */
static void vslice_dlog_stop(struct vslice_dev *vd)
{
	struct vslice_dirty_log *log = &vd->dlog;

	lockdep_assert_held(&vd->state_mutex);
	xa_lock(&log->pages);
	log->active = false;
	log->nr_ranges = 0;
	xa_unlock(&log->pages);
	xa_destroy(&log->pages);
}

#if VSLICE_HAVE_LOG_OPS

#if IS_ENABLED(CONFIG_IOMMUFD_DRIVER)
MODULE_IMPORT_NS(IOMMUFD);
#endif

/*
 * Copy the requested ranges (sorted by the interval tree) into @out,
 * combining neighbours across the smallest gaps until at most
 * VSLICE_DLOG_MAX_RANGES remain.  Returns the count.
 */
static unsigned int vslice_dlog_ranges(struct rb_root_cached *ranges,
				       struct vslice_dlog_range *out)
{
	struct vslice_dlog_range tmp[VSLICE_DLOG_MAX_RANGES + 1];
	struct interval_tree_node *node;
	unsigned int n = 0, i, best;

	for (node = interval_tree_iter_first(ranges, 0, ULONG_MAX); node;
	     node = interval_tree_iter_next(node, 0, ULONG_MAX)) {
		tmp[n].first = node->start;
		tmp[n].last = node->last;
		if (++n <= VSLICE_DLOG_MAX_RANGES)
			continue;
		/* One too many: close the smallest gap. */
		best = 0;
		for (i = 1; i < n - 1; i++)
			if (tmp[i + 1].first - tmp[i].last <
			    tmp[best + 1].first - tmp[best].last)
				best = i;
		tmp[best].last = tmp[best + 1].last;
		for (i = best + 1; i < n - 1; i++)
			tmp[i] = tmp[i + 1];
		n--;
	}
	memcpy(out, tmp, n * sizeof(*out));
	return n;
}

static int vslice_log_start(struct vfio_device *vdev,
			    struct rb_root_cached *ranges, u32 nnodes,
			    u64 *page_size)
{
	struct vslice_dev *vd = to_vslice(vdev);
	struct vslice_dirty_log *log = &vd->dlog;
	struct vslice_dlog_range r[VSLICE_DLOG_MAX_RANGES];
	unsigned int n;
	int ret = 0;

	n = vslice_dlog_ranges(ranges, r);
	mutex_lock(&vd->state_mutex);
	if (log->active) {
		ret = -EBUSY;
		goto out;
	}
	xa_destroy(&log->pages);
	xa_lock(&log->pages);
	memcpy(log->ranges, r, sizeof(r));
	log->nr_ranges = n;
	log->failed = false;
	log->active = true;
	xa_unlock(&log->pages);
	dev_dbg(vd->vdev.dev, "DMA logging: %u ranges (%u requested), page size %llu\n",
		n, nnodes, *page_size);
out:
	mutex_unlock(&vd->state_mutex);
	return ret;
}

static int vslice_log_stop(struct vfio_device *vdev)
{
	struct vslice_dev *vd = to_vslice(vdev);

	mutex_lock(&vd->state_mutex);
	vslice_dlog_stop(vd);
	mutex_unlock(&vd->state_mutex);
	return 0;
}

static int vslice_log_read_and_clear(struct vfio_device *vdev,
				     unsigned long iova, unsigned long length,
				     struct iova_bitmap *dirty)
{
	struct vslice_dev *vd = to_vslice(vdev);
	struct vslice_dirty_log *log = &vd->dlog;
	unsigned long pfn;
	void *entry;
	int ret = 0;

	if (!length)
		return 0;
	mutex_lock(&vd->state_mutex);
	if (!log->active) {
		ret = -EINVAL;
		goto out;
	}
	if (READ_ONCE(log->failed)) {
		ret = -ENOMEM;
		goto out;
	}
	xa_for_each_range(&log->pages, pfn, entry, iova >> PAGE_SHIFT,
			  (iova + length - 1) >> PAGE_SHIFT) {
		xa_erase(&log->pages, pfn);
		iova_bitmap_set(dirty, pfn << PAGE_SHIFT, PAGE_SIZE);
	}
out:
	mutex_unlock(&vd->state_mutex);
	return ret;
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
	vd->dlog.failed = false;
	vd->dlog.nr_ranges = 0;
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
 * vslice_dirty_close() - the user closed the device: logging stops
 * @vd:		the instance, state_mutex held
 */
void vslice_dirty_close(struct vslice_dev *vd)
{
	vslice_dlog_stop(vd);
}

/**
 * vslice_dirty_mark() - the engine wrote guest memory
 * @vd:		the instance
 * @iova:	first byte written
 * @len:	bytes written (> 0)
 *
 * Records the pages that lie in a tracked range while logging is active; a
 * no-op otherwise.  A page that cannot be stored fails the log (see the
 * top of this file).  Type1 needs no call: it sees the pin or the
 * vfio_dma_rw() itself.
 */
void vslice_dirty_mark(struct vslice_dev *vd, u64 iova, u64 len)
{
	struct vslice_dirty_log *log = &vd->dlog;
	u64 pfn, first, last;
	unsigned long n = 0;

	if (!READ_ONCE(log->active) || !len)
		return;
	first = iova >> PAGE_SHIFT;
	last = (iova + len - 1) >> PAGE_SHIFT;
	xa_lock(&log->pages);
	for (pfn = first; log->active && pfn <= last; pfn++) {
		if (!vslice_dlog_tracked(log, pfn << PAGE_SHIFT,
					 (pfn << PAGE_SHIFT) + PAGE_SIZE - 1))
			continue;
		/* May drop the lock to allocate; @active is checked again. */
		if (unlikely(vslice_fault_fail_dlog_store()) ||
		    xa_is_err(__xa_store(&log->pages, pfn, xa_mk_value(1),
					 GFP_KERNEL))) {
			WRITE_ONCE(log->failed, true);
			break;
		}
		n++;
	}
	xa_unlock(&log->pages);
	if (n)
		trace_vslice_dirty(vd->vdev.dev, first, last - first + 1, false);
}
