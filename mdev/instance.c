// SPDX-License-Identifier: GPL-2.0
/*
 * vslice: instance lifecycle and the vfio_device_ops of an instance.
 *
 * Region layout follows vfio-pci: region N lives at file offset N << 40.
 *   VFIO_PCI_CONFIG_REGION_INDEX  256 bytes of emulated config space
 *   VFIO_PCI_BAR0_REGION_INDEX    4 KiB of trapped registers
 *   VFIO_PCI_BAR2_REGION_INDEX    VRAM, read/write and mmap
 *   VFIO_PCI_NUM_REGIONS          the v1 migration region (compat_v1/)
 *   VFIO_PCI_NUM_REGIONS + 1      the display region (display.c)
 * Every other PCI region has size 0.
 *
 * Locking: see vslice.h.  This file takes state_mutex around open/close
 * (VFIO_DEVICE_RESET takes it in migration.c) and nothing else; the region
 * handlers take the locks they need.
 */

#include <linux/mdev.h>
#include <linux/memcontrol.h>
#include <linux/module.h>
#include <linux/overflow.h>
#include <linux/pci_regs.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vfio_pci_core.h>

#include "vslice.h"

/*
 * The extra regions beyond the PCI ones, registered by their owners; entry
 * i is region VFIO_PCI_NUM_REGIONS + i (its .index, which init checks).
 */
static const struct vslice_region_ops *const vslice_extra_regions[] = {
	&vslice_v1_region_ops,
	&vslice_display_region_ops,
};

#define VSLICE_NUM_REGIONS \
	(VFIO_PCI_NUM_REGIONS + ARRAY_SIZE(vslice_extra_regions))

static const struct vslice_region_ops *vslice_extra_region(u32 index)
{
	if (index < VFIO_PCI_NUM_REGIONS || index >= VSLICE_NUM_REGIONS)
		return NULL;
	return vslice_extra_regions[index - VFIO_PCI_NUM_REGIONS];
}

/* Let every extra region drop what the last user left in it. */
static void vslice_extra_regions_close(struct vslice_dev *vd)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(vslice_extra_regions); i++)
		if (vslice_extra_regions[i]->close)
			vslice_extra_regions[i]->close(vd);
}

static u64 vslice_pci_region_size(struct vslice_dev *vd, u32 index)
{
	switch (index) {
	case VFIO_PCI_CONFIG_REGION_INDEX:
		return VSLICE_CFG_SIZE;
	case VFIO_PCI_BAR0_REGION_INDEX:
		return VSLICE_MMIO_SIZE;
	case VFIO_PCI_BAR2_REGION_INDEX:
		return vd->vram.size;
	default:
		return 0;
	}
}

static int vslice_init_dev(struct vfio_device *vdev)
{
	struct vslice_dev *vd = to_vslice(vdev);
	struct mdev_device *mdev = to_mdev_device(vdev->dev);
	unsigned int i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(vslice_extra_regions); i++)
		if (WARN_ON(vslice_extra_regions[i]->index !=
			    VFIO_PCI_NUM_REGIONS + i))
			return -EINVAL;

	vd->type = container_of(mdev->type, struct vslice_type, mtype);
	vd->parent = container_of(mdev->type->parent, struct vslice_parent,
				  parent);
	mutex_init(&vd->state_mutex);
	mutex_init(&vd->dev_lock);

	ret = vslice_vram_init(&vd->vram, vd->type->vram_size);
	if (ret)
		goto err_mutex;
	ret = vslice_engine_init(vd);
	if (ret)
		goto err_vram;
	ret = vslice_mig_init(vd);
	if (ret)
		goto err_engine;
	vslice_dirty_init(vd);
	vslice_hw_reset(vd);
	return 0;

err_engine:
	vslice_engine_fini(vd);
err_vram:
	vslice_vram_fini(&vd->vram);
err_mutex:
	mutex_destroy(&vd->dev_lock);
	mutex_destroy(&vd->state_mutex);
	return ret;
}

static void vslice_release_dev(struct vfio_device *vdev)
{
	struct vslice_dev *vd = to_vslice(vdev);

	vslice_extra_regions_close(vd);
	vslice_dirty_fini(vd);
	vslice_mig_fini(vd);
	vslice_engine_fini(vd);
	vslice_vram_fini(&vd->vram);
	mutex_destroy(&vd->dev_lock);
	mutex_destroy(&vd->state_mutex);
}

static int vslice_open_device(struct vfio_device *vdev)
{
	struct vslice_dev *vd = to_vslice(vdev);

	mutex_lock(&vd->state_mutex);
	/* The engine allocates VRAM for the opener: charge its cgroup. */
	vslice_engine_quiesce(vd);
	vslice_engine_set_owner(vd, get_mem_cgroup_from_mm(current->mm));
	vslice_dev_reset(vd);
	mutex_unlock(&vd->state_mutex);
	return 0;
}

static void vslice_close_device(struct vfio_device *vdev)
{
	struct vslice_dev *vd = to_vslice(vdev);

	mutex_lock(&vd->state_mutex);
	/* Tear down data files and return to RUNNING (migration.c). */
	vslice_mig_close(vd);
	vslice_dirty_close(vd);
	vslice_extra_regions_close(vd);
	vslice_dev_reset(vd);
	vslice_engine_quiesce(vd);
	vslice_engine_set_owner(vd, NULL);
	vslice_engine_resume(vd);
	vslice_irq_teardown(vd);
	mutex_unlock(&vd->state_mutex);
}

static ssize_t vslice_rw(struct vfio_device *vdev, char __user *buf,
			 size_t count, loff_t *ppos, bool write)
{
	struct vslice_dev *vd = to_vslice(vdev);
	u32 index = VFIO_PCI_OFFSET_TO_INDEX((u64)*ppos);
	u64 pos = *ppos & VFIO_PCI_OFFSET_MASK;
	const struct vslice_region_ops *extra;
	ssize_t ret;
	u64 end;

	if (*ppos < 0 || !count)
		return *ppos < 0 ? -EINVAL : 0;

	extra = vslice_extra_region(index);
	if (extra) {
		ret = extra->rw(vd, buf, count, pos, write);
		goto out;
	}

	if (check_add_overflow(pos, (u64)count, &end) ||
	    end > vslice_pci_region_size(vd, index))
		return -EINVAL;

	switch (index) {
	case VFIO_PCI_CONFIG_REGION_INDEX:
		ret = vslice_cfg_rw(vd, buf, count, pos, write);
		break;
	case VFIO_PCI_BAR0_REGION_INDEX:
		ret = vslice_mmio_rw(vd, buf, count, pos, write);
		break;
	case VFIO_PCI_BAR2_REGION_INDEX:
		ret = vslice_vram_region_rw(vd, buf, count, pos, write);
		break;
	default:
		ret = -EINVAL;
	}
out:
	if (ret > 0)
		*ppos += ret;
	return ret;
}

static ssize_t vslice_read(struct vfio_device *vdev, char __user *buf,
			   size_t count, loff_t *ppos)
{
	return vslice_rw(vdev, buf, count, ppos, false);
}

static ssize_t vslice_write(struct vfio_device *vdev, const char __user *buf,
			    size_t count, loff_t *ppos)
{
	return vslice_rw(vdev, (char __user *)buf, count, ppos, true);
}

static int vslice_mmap(struct vfio_device *vdev, struct vm_area_struct *vma)
{
	struct vslice_dev *vd = to_vslice(vdev);
	u64 off = (u64)vma->vm_pgoff << PAGE_SHIFT;
	u32 index = VFIO_PCI_OFFSET_TO_INDEX(off);
	const struct vslice_region_ops *extra;
	u64 pos = off & VFIO_PCI_OFFSET_MASK;
	u64 len = vma->vm_end - vma->vm_start;
	u64 end;

	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;

	extra = vslice_extra_region(index);
	if (extra) {
		if (!extra->mmap)
			return -EINVAL;
		vma->vm_pgoff = pos >> PAGE_SHIFT;
		return extra->mmap(vd, vma, pos);
	}

	if (index != VFIO_PCI_BAR2_REGION_INDEX)
		return -EINVAL;
	if (check_add_overflow(pos, len, &end) || end > vd->vram.size)
		return -EINVAL;
	/* Region-relative page offset from here on. */
	vma->vm_pgoff = pos >> PAGE_SHIFT;
	return vslice_vram_mmap(vd, vma);
}

/**
 * vslice_region_info_caps() - fill one region's info and capabilities
 * @vdev:	the instance
 * @info:	in: index (argsz already checked); out: offset, size, flags
 * @caps:	capability chain to add to (VFIO_REGION_INFO_CAP_*)
 *
 * The one source of region info for every region index: BARs, config
 * space and the extra regions of vslice_extra_region() (the v1 migration
 * region with its type and sparse-mmap capabilities).  On kernels with the
 * get_region_info_caps op (6.19+) the VFIO core calls it and lays out the
 * chain; below, vslice_get_region_info() does the same around it.
 *
 * Return: 0, or -EINVAL for an index the device does not have, or the
 * error of a capability that could not be added.
 */
static int vslice_region_info_caps(struct vfio_device *vdev,
				   struct vfio_region_info *info,
				   struct vfio_info_cap *caps)
{
	struct vslice_dev *vd = to_vslice(vdev);
	const struct vslice_region_ops *extra;

	if (info->index >= VSLICE_NUM_REGIONS)
		return -EINVAL;

	info->offset = VFIO_PCI_INDEX_TO_OFFSET(info->index);
	info->cap_offset = 0;
	info->flags = 0;
	extra = vslice_extra_region(info->index);
	if (extra)
		return extra->info(vd, info, caps);

	info->size = vslice_pci_region_size(vd, info->index);
	if (info->size)
		info->flags = VFIO_REGION_INFO_FLAG_READ |
			      VFIO_REGION_INFO_FLAG_WRITE;
	if (info->index == VFIO_PCI_BAR2_REGION_INDEX)
		info->flags |= VFIO_REGION_INFO_FLAG_MMAP;
	return 0;
}

/*
 * VFIO_DEVICE_GET_REGION_INFO before 6.19, where the ioctl op still gets
 * it: what the core does from 6.19 around vslice_region_info_caps().
 */
static int vslice_get_region_info(struct vslice_dev *vd,
				  struct vfio_region_info __user *arg)
{
	struct vfio_info_cap caps = { .buf = NULL, .size = 0 };
	struct vfio_region_info info;
	unsigned long minsz;
	int ret;

	minsz = offsetofend(struct vfio_region_info, offset);
	if (copy_from_user(&info, arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz)
		return -EINVAL;

	ret = vslice_region_info_caps(&vd->vdev, &info, &caps);
	if (ret)
		goto out;

	if (caps.size) {
		info.flags |= VFIO_REGION_INFO_FLAG_CAPS;
		if (info.argsz < sizeof(info) + caps.size) {
			/* Tell userspace how much room the caps need. */
			info.argsz = sizeof(info) + caps.size;
		} else {
			vfio_info_cap_shift(&caps, sizeof(info));
			if (copy_to_user((void __user *)arg + sizeof(info),
					 caps.buf, caps.size)) {
				ret = -EFAULT;
				goto out;
			}
			info.cap_offset = sizeof(info);
		}
	}

	if (copy_to_user(arg, &info, minsz))
		ret = -EFAULT;
out:
	kfree(caps.buf);
	return ret;
}

static int vslice_get_irq_info(struct vslice_dev *vd,
			       struct vfio_irq_info __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_irq_info, count);
	struct vfio_irq_info info;
	int ret;

	if (copy_from_user(&info, arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz || info.index >= VFIO_PCI_NUM_IRQS)
		return -EINVAL;

	ret = vslice_irq_get_info(vd, &info);
	if (ret)
		return ret;
	return copy_to_user(arg, &info, minsz) ? -EFAULT : 0;
}

static int vslice_set_irqs(struct vslice_dev *vd,
			   struct vfio_irq_set __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_irq_set, count);
	struct vfio_irq_info irq = { .argsz = sizeof(irq) };
	struct vfio_irq_set hdr;
	size_t data_size = 0;
	int ret;

	if (copy_from_user(&hdr, arg, minsz))
		return -EFAULT;
	if (hdr.index >= VFIO_PCI_NUM_IRQS)
		return -EINVAL;
	irq.index = hdr.index;
	ret = vslice_irq_get_info(vd, &irq);
	if (ret)
		return ret;
	ret = vfio_set_irqs_validate_and_prepare(&hdr, irq.count,
						 VFIO_PCI_NUM_IRQS, &data_size);
	if (ret)
		return ret;
	return vslice_irq_set(vd, &hdr, (void __user *)arg + minsz);
}

static long vslice_ioctl(struct vfio_device *vdev, unsigned int cmd,
			 unsigned long arg)
{
	struct vslice_dev *vd = to_vslice(vdev);
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case VFIO_DEVICE_GET_INFO: {
		unsigned long minsz = offsetofend(struct vfio_device_info,
						  num_irqs);
		struct vfio_device_info info;

		if (copy_from_user(&info, uarg, minsz))
			return -EFAULT;
		if (info.argsz < minsz)
			return -EINVAL;
		info.flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET;
		info.num_regions = VSLICE_NUM_REGIONS;
		info.num_irqs = VFIO_PCI_NUM_IRQS;
		return copy_to_user(uarg, &info, minsz) ? -EFAULT : 0;
	}
	case VFIO_DEVICE_GET_REGION_INFO:
		return vslice_get_region_info(vd, uarg);
	case VFIO_DEVICE_GET_IRQ_INFO:
		return vslice_get_irq_info(vd, uarg);
	case VFIO_DEVICE_SET_IRQS:
		return vslice_set_irqs(vd, uarg);
	case VFIO_DEVICE_RESET:
		return vslice_mig_reset(vd);
	case VFIO_DEVICE_QUERY_GFX_PLANE:
		return vslice_display_query(vd, uarg);
	}
	return -ENOTTY;
}

static void vslice_request(struct vfio_device *vdev, unsigned int count)
{
	struct vslice_dev *vd = to_vslice(vdev);

	/* There is no request IRQ: the remover waits until userspace closes. */
	if (count)
		dev_notice_ratelimited(vd->vdev.dev,
				       "removal waits for the user to close the device (%u)\n",
				       count);
}

static void vslice_dma_unmap(struct vfio_device *vdev, u64 iova, u64 length)
{
	vslice_engine_dma_unmap(to_vslice(vdev), iova, length);
}

static const struct vfio_device_ops vslice_dev_ops = {
	.name		= "vslice",
	.init		= vslice_init_dev,
	.release	= vslice_release_dev,
	.open_device	= vslice_open_device,
	.close_device	= vslice_close_device,
	.read		= vslice_read,
	.write		= vslice_write,
	.ioctl		= vslice_ioctl,
	VSLICE_REGION_INFO_OP(vslice_region_info_caps)
	.mmap		= vslice_mmap,
	.request	= vslice_request,
	.dma_unmap	= vslice_dma_unmap,
	VSLICE_IOMMUFD_OPS
};

/**
 * vslice_instance_create() - allocate and register one vGPU instance
 * @mdev:	the mdev the core just created
 * @parent:	the parent whose VRAM budget the caller already charged
 * @type:	the instance type
 *
 * Return: 0 or a negative errno; on failure nothing is left behind.
 */
int vslice_instance_create(struct mdev_device *mdev,
			   struct vslice_parent *parent,
			   const struct vslice_type *type)
{
	struct vslice_dev *vd;
	int ret;

	vd = vfio_alloc_device(vslice_dev, vdev, &mdev->dev, &vslice_dev_ops);
	if (IS_ERR(vd))
		return PTR_ERR(vd);
	WARN_ON(vd->parent != parent || vd->type != type);

	ret = vfio_register_emulated_iommu_dev(&vd->vdev);
	if (ret) {
		vfio_put_device(&vd->vdev);
		return ret;
	}
	dev_set_drvdata(&mdev->dev, vd);
	vslice_debugfs_add(vd);
	return 0;
}

/**
 * vslice_instance_destroy() - unregister and free an instance
 * @mdev:	the mdev being removed
 *
 * Blocks until userspace has closed the device (the vfio core calls our
 * request op meanwhile).
 */
void vslice_instance_destroy(struct mdev_device *mdev)
{
	struct vslice_dev *vd = dev_get_drvdata(&mdev->dev);

	vslice_debugfs_remove(vd);
	vfio_unregister_group_dev(&vd->vdev);
	vfio_put_device(&vd->vdev);
}
