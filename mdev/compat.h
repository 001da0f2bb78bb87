/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vslice: every kernel-version difference lives here and nowhere else.
 * Supported: Debian 6.1 (bookworm), 6.12 (bookworm-security and trixie)
 * and 7.x (trixie-backports, sid).
 *
 * Where distribution kernels backport a feature, the switch comes from the
 * headers being built against, not from the version number: Kbuild greps
 * them and passes -DVSLICE_HDR_<feature>, which only this file reads.
 */
#ifndef _VSLICE_COMPAT_H
#define _VSLICE_COMPAT_H

#include <linux/version.h>
#include <linux/vfio.h>

/*
 * 6.2 added PRE_COPY, VFIO_MIG_GET_PRECOPY_INFO and migration_get_data_size
 * (which the core then calls without a NULL check).
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 2, 0)
#define VSLICE_HAVE_PRECOPY	1
#else
#define VSLICE_HAVE_PRECOPY	0
#endif

/*
 * 7.1 added VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2: once userspace opts in
 * (the core handles the SET and sets vdev->precopy_info_v2), the flags of
 * struct vfio_precopy_info become an output and a driver may report
 * VFIO_PRECOPY_INFO_REINIT.  The core's vfio_check_precopy_ioctl() reads
 * and checks the argument and clears the flags for opted-in users.
 * Detected from the header: distributions backport it.
 */
#ifdef VSLICE_HDR_CHECK_PRECOPY
#define VSLICE_HAVE_PRECOPY_INFO_V2	1
#define vslice_precopy_info_v2(vdev)	((vdev)->precopy_info_v2)
#define VSLICE_PRECOPY_INFO_REINIT	VFIO_PRECOPY_INFO_REINIT
#else
#define VSLICE_HAVE_PRECOPY_INFO_V2	0
#define vslice_precopy_info_v2(vdev)	false
#define VSLICE_PRECOPY_INFO_REINIT	0
#endif

/* 6.11+ gives each vfio_device an inode whose mapping covers its mmaps. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 11, 0)
#define VSLICE_HAVE_VDEV_INODE	1
#else
#define VSLICE_HAVE_VDEV_INODE	0
#endif

/*
 * Device DMA logging needs a real iova_bitmap: in vfio.ko until it moved
 * under CONFIG_IOMMUFD_DRIVER (between 6.3 and 6.8; Debian's 6.12 has it
 * off, leaving inline stubs that fail every report).
 */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 3, 0) || IS_ENABLED(CONFIG_IOMMUFD_DRIVER)
#define VSLICE_HAVE_LOG_OPS	1
#else
#define VSLICE_HAVE_LOG_OPS	0
#endif

/* class_create() lost its owner argument in 6.4. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 4, 0)
#define vslice_class_create(name)	class_create(name)
#else
#define vslice_class_create(name)	class_create(THIS_MODULE, name)
#endif

/* eventfd_signal() lost its count argument in 6.8. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 8, 0)
#define vslice_eventfd_signal(ctx)	eventfd_signal(ctx)
#else
#define vslice_eventfd_signal(ctx)	eventfd_signal(ctx, 1)
#endif

/* __assign_str() lost its source argument in 6.10 (trace.h). */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 10, 0)
#define vslice_assign_str(dst, src)	__assign_str(dst)
#else
#define vslice_assign_str(dst, src)	__assign_str(dst, src)
#endif

/*
 * The iommufd emulated-device ops exist from 6.2; before that the
 * vfio_device_ops members do not either.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 2, 0)
#define VSLICE_IOMMUFD_OPS					\
	.bind_iommufd	= vfio_iommufd_emulated_bind,		\
	.unbind_iommufd	= vfio_iommufd_emulated_unbind,		\
	.attach_ioas	= vfio_iommufd_emulated_attach_ioas,	\
	.detach_ioas	= vfio_iommufd_emulated_detach_ioas,
#else
#define VSLICE_IOMMUFD_OPS
#endif

/*
 * 6.19 moved VFIO_DEVICE_GET_REGION_INFO into the core: it copies the
 * struct in, checks argsz, calls the get_region_info_caps op and lays out
 * the capability chain; the ioctl op never sees that command any more.
 * Below, instance.c's ioctl handler does the same around the same filler.
 */
#ifdef VSLICE_HDR_REGION_INFO_CAPS
#define VSLICE_HAVE_REGION_INFO_CAPS	1
#define VSLICE_REGION_INFO_OP(fn)	.get_region_info_caps = (fn),
#else
#define VSLICE_HAVE_REGION_INFO_CAPS	0
#define VSLICE_REGION_INFO_OP(fn)
#endif

/* ---- command engine (engine.c) ------------------------------------------ */

/*
 * 7.x logs "enqueued on deprecated workqueue" for system_unbound_wq and
 * asks for system_dfl_wq (same unbound semantics), which stable kernels
 * (Debian's 6.12) gained too.
 */
#ifdef VSLICE_HDR_SYSTEM_DFL_WQ
#define vslice_unbound_wq	system_dfl_wq
#else
#define vslice_unbound_wq	system_unbound_wq
#endif

/* ---- stream codec (stream.c) ------------------------------------------- */

/*
 * crc32c(): up to 6.14 in <linux/crc32c.h>, exported by libcrc32c, which
 * reaches the fastest "crc32c" the crypto API has (crc32c-intel on x86;
 * libcrc32c's own softdep makes modprobe load it first).  From 6.15 it is
 * in <linux/crc32.h>, lib/crc32 calling the arch code directly.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 15, 0)
#include <linux/crc32.h>
#else
#include <linux/crc32c.h>
#endif

/* ---- device model (cfgspace.c, mmio.c, irq.c, vram.c) ------------------ */

/*
 * 6.3 made vma->vm_flags read-only behind vm_flags_set() and friends.
 * vram.c also relies on VSLICE_HAVE_VDEV_INODE above: without
 * vfio_device.inode it links BAR2 mappings into a private shmem file.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
#define vslice_vm_flags_set(vma, flags)	vm_flags_set(vma, flags)
#define vslice_vm_flags_clear(vma, flags) vm_flags_clear(vma, flags)
#else
#define vslice_vm_flags_set(vma, flags)	((vma)->vm_flags |= (flags))
#define vslice_vm_flags_clear(vma, flags) ((vma)->vm_flags &= ~(flags))
#endif

/*
 * 6.9+ with CONFIG_VFIO_DEBUGFS: the core has a debugfs directory per
 * device (vfio_device.debug_root); Debian's kernels leave it off.
 */
#if IS_ENABLED(CONFIG_VFIO_DEBUGFS)
#define VSLICE_HAVE_VFIO_DEBUGFS	1
#else
#define VSLICE_HAVE_VFIO_DEBUGFS	0
#endif

#endif /* _VSLICE_COMPAT_H */
