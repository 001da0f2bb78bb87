/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vslice: the VFIO v1 migration region (compat_v1/region.c).  The core
 * reaches it only through vslice_v1_region_ops (vslice.h), whose
 * close hook is vslice_v1_fini().
 */
#ifndef _VSLICE_COMPAT_V1_REGION_H
#define _VSLICE_COMPAT_V1_REGION_H

struct vslice_dev;

void vslice_v1_fini(struct vslice_dev *vd);

#endif /* _VSLICE_COMPAT_V1_REGION_H */
