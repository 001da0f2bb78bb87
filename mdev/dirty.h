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

/**
 * struct vslice_dirty_log - guest pages the engine wrote while logging
 * @active:	logging started (read locklessly by the engine)
 * @pages:	written guest page frame numbers (IOVA >> PAGE_SHIFT); the
 *		xarray's own lock serializes marking against read-and-clear
 */
struct vslice_dirty_log {
	bool active;
	struct xarray pages;
};

void vslice_dirty_init(struct vslice_dev *vd);
void vslice_dirty_fini(struct vslice_dev *vd);
void vslice_dirty_mark(struct vslice_dev *vd, u64 iova, u64 len);

#endif /* _VSLICE_DIRTY_H */
