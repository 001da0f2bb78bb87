/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vslice: device DMA dirty logging (VFIO_DEVICE_FEATURE_DMA_LOGGING_*),
 * offered only where the kernel's iova_bitmap really reports (dirty.c).
 */
#ifndef _VSLICE_DIRTY_H
#define _VSLICE_DIRTY_H

#include <linux/types.h>
#include <linux/xarray.h>

struct vslice_dev;

/* Ranges a log tracks; more requested ones are combined (dirty.c). */
#define VSLICE_DLOG_MAX_RANGES	8

/**
 * struct vslice_dlog_range - one tracked IOVA range, both ends inclusive
 * @first:	first byte
 * @last:	last byte
 */
struct vslice_dlog_range {
	u64 first;
	u64 last;
};

/**
 * struct vslice_dirty_log - guest pages the engine wrote while logging
 * @active:	logging started; under the xarray lock (marking) and
 *		state_mutex (start, stop, report)
 * @failed:	a page could not be recorded: every report fails until the
 *		log is stopped; under the xarray lock
 * @nr_ranges:	entries of @ranges in use; under both locks like @active
 * @ranges:	the tracked IOVA ranges, sorted, disjoint
 * @pages:	written guest page frame numbers (IOVA >> PAGE_SHIFT); its
 *		lock (xa_lock) serializes marking against start, stop and
 *		read-and-clear
 */
struct vslice_dirty_log {
	bool active;
	bool failed;
	unsigned int nr_ranges;
	struct vslice_dlog_range ranges[VSLICE_DLOG_MAX_RANGES];
	struct xarray pages;
};

void vslice_dirty_init(struct vslice_dev *vd);
void vslice_dirty_fini(struct vslice_dev *vd);
void vslice_dirty_close(struct vslice_dev *vd);
void vslice_dirty_mark(struct vslice_dev *vd, u64 iova, u64 len);

#endif /* _VSLICE_DIRTY_H */
