// SPDX-License-Identifier: GPL-2.0
/*
 * vslice: the VFIO display interface of an instance.
 *
 * Offers VFIO_DEVICE_QUERY_GFX_PLANE for VFIO_GFX_PLANE_TYPE_REGION (the
 * way QEMU's "display=on" reads a vGPU's screen without dma-buf), and the
 * display region it names, VSLICE_DISPLAY_REGION_INDEX, plugged into
 * instance.c's extra region table.
 *
 * The display region is VRAM size bytes, readable and mmap-able, never
 * writable.  It is a window onto VRAM that starts at the active scanout
 * plane's offset (vram.c keeps the window and its mappings): QEMU maps the
 * region once and builds its surface from byte 0 of the mapping, so when
 * the guest moves the plane the same mapping shows the new place.  While
 * the plane is disabled the window starts at VRAM offset 0.
 *
 * A query reports the active plane: fourcc, width, height, stride, size
 * (stride * height) and the region index.  A disabled plane is reported
 * with drm_format, size and everything else 0 but the region index, which
 * QEMU's region path takes as "no picture" (it keeps the console as it
 * was, or shows ramfb).  There is no
 * generation field in struct vfio_device_gfx_plane_info's region variant:
 * the guest sees PLANE_GENERATION, QEMU compares the values themselves.
 *
 * Layer: above the device model (reads the plane through mmio.c, maps
 * VRAM through vram.c); called by instance.c.
 */

#include <linux/uaccess.h>
#include <linux/vfio.h>

#include "vslice.h"

/**
 * vslice_display_query() - VFIO_DEVICE_QUERY_GFX_PLANE
 * @vd:		the instance
 * @arg:	struct vfio_device_gfx_plane_info from userspace
 *
 * PROBE | REGION succeeds; any other probe (dma-buf) fails with -EINVAL,
 * which is what QEMU's probe expects from a device without dma-buf.  A
 * query must ask for exactly VFIO_GFX_PLANE_TYPE_REGION.
 *
 * Return: 0, -EINVAL (argsz too small, flags), -EFAULT.
 */
long vslice_display_query(struct vslice_dev *vd,
			  struct vfio_device_gfx_plane_info __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_device_gfx_plane_info,
					  region_index);
	struct vfio_device_gfx_plane_info info;
	struct vslice_plane p;

	if (copy_from_user(&info, arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz)
		return -EINVAL;

	if (info.flags & VFIO_GFX_PLANE_TYPE_PROBE)
		return info.flags == (VFIO_GFX_PLANE_TYPE_PROBE |
				      VFIO_GFX_PLANE_TYPE_REGION) ? 0 : -EINVAL;
	if (info.flags != VFIO_GFX_PLANE_TYPE_REGION)
		return -EINVAL;

	vslice_plane_get(vd, &p);
	info.drm_format = p.format;
	info.drm_format_mod = 0;	/* DRM_FORMAT_MOD_LINEAR */
	info.width = p.width;
	info.height = p.height;
	info.stride = p.stride;
	/* validated: offset + stride * height <= VRAM size (<= 512 MiB) */
	info.size = p.stride * p.height;
	info.x_pos = 0;
	info.y_pos = 0;
	info.x_hot = 0;
	info.y_hot = 0;
	info.region_index = VSLICE_DISPLAY_REGION_INDEX;

	return copy_to_user(arg, &info, minsz) ? -EFAULT : 0;
}

static int vslice_display_info(struct vslice_dev *vd,
			       struct vfio_region_info *info,
			       struct vfio_info_cap *caps)
{
	info->size = vd->vram.size;
	info->flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_MMAP;
	return 0;
}

static ssize_t vslice_display_rw(struct vslice_dev *vd, char __user *buf,
				 size_t count, u64 pos, bool write)
{
	if (write)
		return -EINVAL;
	return vslice_vram_window_read(vd, buf, count, pos);
}

static int vslice_display_mmap(struct vslice_dev *vd,
			       struct vm_area_struct *vma, u64 pos)
{
	return vslice_vram_window_mmap(vd, vma);
}

/*
 * The display region, plugged into instance.c's extra region table at
 * index VSLICE_DISPLAY_REGION_INDEX.
 */
const struct vslice_region_ops vslice_display_region_ops = {
	.index = VSLICE_DISPLAY_REGION_INDEX,
	.info = vslice_display_info,
	.rw = vslice_display_rw,
	.mmap = vslice_display_mmap,
};
