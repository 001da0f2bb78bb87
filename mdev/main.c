// SPDX-License-Identifier: GPL-2.0
/*
 * vslice: module init/exit, the simulated parent GPU and its mdev types.
 *
 * The parent "vslice0" owns a VRAM budget (module parameter vram_mb).
 * Every type carves a fixed VRAM size out of it; an instance reserves its
 * VRAM in probe and returns it in remove, both under vslice_parent.lock,
 * so available_instances is exact and racing creates never oversubscribe.
 *
 * Locking: vslice_parent.lock protects vram_used and nr_instances only.
 */

#include <linux/device.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/sysfs.h>

#include "fault.h"
#include "vslice.h"

static unsigned int vram_mb = 1024;
module_param(vram_mb, uint, 0444);
MODULE_PARM_DESC(vram_mb, "VRAM budget of the parent device in MiB (default 1024)");

static bool pci_parent;
module_param(pci_parent, bool, 0444);
MODULE_PARM_DESC(pci_parent,
		 "Host the vGPU types on a PCI function, QEMU's pci-testdev (1b36:0005), standing in for the physical GPU, so that libvirt's node device API can name the parent (default: the virtual device vslice0)");

static struct vslice_parent vslice_parent;

/*
 * pci_parent=1: the first QEMU pci-testdev becomes the parent's PCI
 * function, like a real vGPU whose types hang off its GPU.  libvirt knows
 * mdev parents only on PCI (and s390's CSS and AP), so this is what makes
 * "virsh nodedev-define" with <parent>pci_...</parent> work in our test
 * VMs.  The function is only a name: vslice never touches it.  Binding is
 * one-shot and cannot be undone from sysfs while the parent lives.
 */
static struct pci_dev *vslice_parent_pdev;

static int vslice_pci_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	if (vslice_parent_pdev)
		return -EBUSY;
	vslice_parent_pdev = pci_dev_get(pdev);
	return 0;
}

static void vslice_pci_remove(struct pci_dev *pdev)
{
	/* only at module exit: bind attributes are suppressed */
	if (pdev == vslice_parent_pdev) {
		pci_dev_put(pdev);
		vslice_parent_pdev = NULL;
	}
}

static const struct pci_device_id vslice_pci_ids[] = {
	{ PCI_DEVICE(PCI_VENDOR_ID_REDHAT, 0x0005) },	/* QEMU pci-testdev */
	{ }
};

static struct pci_driver vslice_pci_driver = {
	.name = VSLICE_DRIVER_NAME,	/* types are named "<driver>-<type>" */
	.id_table = vslice_pci_ids,
	.probe = vslice_pci_probe,
	.remove = vslice_pci_remove,
	.driver.suppress_bind_attrs = true,
};

static struct class *vslice_class;

static struct vslice_type vslice_types[] = {
	{ .mtype = { .sysfs_name = "128m", .pretty_name = "vslice-128M" },
	  .vram_size = SZ_128M, .id = 1 },
	{ .mtype = { .sysfs_name = "256m", .pretty_name = "vslice-256M" },
	  .vram_size = SZ_256M, .id = 2 },
	{ .mtype = { .sysfs_name = "512m", .pretty_name = "vslice-512M" },
	  .vram_size = SZ_512M, .id = 3 },
};

static struct mdev_type *vslice_mtypes[ARRAY_SIZE(vslice_types)];

/*
 * The parent's migration_info/ directory: one read-only file per type,
 * named like the type's mdev_supported_types entry (compatinfo.c).
 */
struct vslice_type_attr {
	struct device_attribute dattr;
	unsigned int idx;
};

static ssize_t vslice_type_info_show(struct device *dev,
				     struct device_attribute *attr, char *buf)
{
	const struct vslice_type_attr *ta =
		container_of(attr, struct vslice_type_attr, dattr);

	return vslice_migration_info_show(&vslice_types[ta->idx], buf);
}

#define VSLICE_TYPE_ATTR(_name, _idx) {					\
	.dattr = {							\
		.attr = { .name = (_name), .mode = 0444 },		\
		.show = vslice_type_info_show,				\
	},								\
	.idx = (_idx),							\
}

static struct vslice_type_attr vslice_type_attrs[] = {
	VSLICE_TYPE_ATTR("vslice-128m", 0),
	VSLICE_TYPE_ATTR("vslice-256m", 1),
	VSLICE_TYPE_ATTR("vslice-512m", 2),
};

static struct attribute *vslice_type_info_attrs[] = {
	&vslice_type_attrs[0].dattr.attr,
	&vslice_type_attrs[1].dattr.attr,
	&vslice_type_attrs[2].dattr.attr,
	NULL,
};

static const struct attribute_group vslice_type_info_group = {
	.name = "migration_info",
	.attrs = vslice_type_info_attrs,
};

static const struct attribute_group *vslice_parent_groups[] = {
	&vslice_type_info_group,
	NULL,
};

static const struct vslice_type *to_vslice_type(struct mdev_type *mtype)
{
	return container_of(mtype, struct vslice_type, mtype);
}

/**
 * vslice_parent_reserve() - take VRAM for a new instance from the budget
 * @parent:	the parent
 * @size:	bytes
 *
 * Return: 0, or -ENOSPC when the budget cannot hold another @size bytes.
 */
static int vslice_parent_reserve(struct vslice_parent *parent, u64 size)
{
	int ret = 0;

	mutex_lock(&parent->lock);
	if (parent->vram_total - parent->vram_used < size) {
		ret = -ENOSPC;
	} else {
		parent->vram_used += size;
		parent->nr_instances++;
	}
	mutex_unlock(&parent->lock);
	return ret;
}

static void vslice_parent_release(struct vslice_parent *parent, u64 size)
{
	mutex_lock(&parent->lock);
	if (!WARN_ON(parent->vram_used < size || !parent->nr_instances)) {
		parent->vram_used -= size;
		parent->nr_instances--;
	}
	mutex_unlock(&parent->lock);
}

static int vslice_probe(struct mdev_device *mdev)
{
	const struct vslice_type *type = to_vslice_type(mdev->type);
	int ret;

	ret = vslice_parent_reserve(&vslice_parent, type->vram_size);
	if (ret)
		return ret;

	ret = vslice_instance_create(mdev, &vslice_parent, type);
	if (ret)
		vslice_parent_release(&vslice_parent, type->vram_size);
	return ret;
}

static void vslice_remove(struct mdev_device *mdev)
{
	const struct vslice_type *type = to_vslice_type(mdev->type);

	vslice_instance_destroy(mdev);
	vslice_parent_release(&vslice_parent, type->vram_size);
}

static unsigned int vslice_get_available(struct mdev_type *mtype)
{
	const struct vslice_type *type = to_vslice_type(mtype);
	u64 avail;

	mutex_lock(&vslice_parent.lock);
	avail = div64_u64(vslice_parent.vram_total - vslice_parent.vram_used,
			  type->vram_size);
	mutex_unlock(&vslice_parent.lock);
	return avail;
}

static ssize_t vslice_show_description(struct mdev_type *mtype, char *buf)
{
	const struct vslice_type *type = to_vslice_type(mtype);

	return sysfs_emit(buf,
			  "vram=%lluMiB engines=1 migration=v2:stop_copy,p2p%s;v1:precopy\n",
			  type->vram_size / SZ_1M,
			  VSLICE_HAVE_PRECOPY ? ",pre_copy" : "");
}

static struct mdev_driver vslice_mdev_driver = {
	.device_api = VFIO_DEVICE_API_PCI_STRING,
	.driver = {
		.name = VSLICE_DRIVER_NAME,
		.owner = THIS_MODULE,
		.mod_name = KBUILD_MODNAME,
		.dev_groups = vslice_instance_groups,
	},
	.probe = vslice_probe,
	.remove = vslice_remove,
	.get_available = vslice_get_available,
	.show_description = vslice_show_description,
};

static void vslice_parent_dev_release(struct device *dev)
{
}

static int __init vslice_init(void)
{
	struct vslice_parent *parent = &vslice_parent;
	unsigned int i;
	int ret;

	/* each migration_info file is named "vslice-<sysfs_name>" of its type */
	BUILD_BUG_ON(ARRAY_SIZE(vslice_type_attrs) != ARRAY_SIZE(vslice_types));
	for (i = 0; i < ARRAY_SIZE(vslice_types); i++)
		if (WARN_ON(strcmp(vslice_type_attrs[i].dattr.attr.name +
				   strlen(VSLICE_DRIVER_NAME "-"),
				   vslice_types[i].mtype.sysfs_name)))
			return -EINVAL;

	if (!vram_mb) {
		pr_err("vslice: vram_mb must be at least 1\n");
		return -EINVAL;
	}
	mutex_init(&parent->lock);
	parent->vram_total = (u64)vram_mb * SZ_1M;

	vslice_fault_init(vslice_debugfs_init());
	ret = mdev_register_driver(&vslice_mdev_driver);
	if (ret)
		goto err_debugfs;

	vslice_class = vslice_class_create(VSLICE_DRIVER_NAME);
	if (IS_ERR(vslice_class)) {
		ret = PTR_ERR(vslice_class);
		goto err_driver;
	}

	device_initialize(&parent->dev);
	parent->dev.class = vslice_class;
	parent->dev.release = vslice_parent_dev_release;
	parent->dev.groups = vslice_parent_groups;
	ret = dev_set_name(&parent->dev, "%s", VSLICE_PARENT_NAME);
	if (ret)
		goto err_put;
	ret = device_add(&parent->dev);
	if (ret)
		goto err_put;

	if (pci_parent) {
		/* probes synchronously: bound now or not at all */
		ret = pci_register_driver(&vslice_pci_driver);
		if (ret)
			goto err_del;
		if (!vslice_parent_pdev) {
			pr_err("vslice: pci_parent=1 but no pci-testdev (1b36:0005) to host the parent\n");
			ret = -ENODEV;
			goto err_pci;
		}
	}

	for (i = 0; i < ARRAY_SIZE(vslice_types); i++)
		vslice_mtypes[i] = &vslice_types[i].mtype;
	ret = mdev_register_parent(&parent->parent,
				   vslice_parent_pdev ? &vslice_parent_pdev->dev :
				   &parent->dev,
				   &vslice_mdev_driver, vslice_mtypes,
				   ARRAY_SIZE(vslice_mtypes));
	if (ret)
		goto err_pci;
	return 0;

err_pci:
	if (pci_parent)
		pci_unregister_driver(&vslice_pci_driver);
err_del:
	device_del(&parent->dev);
err_put:
	put_device(&parent->dev);
	class_destroy(vslice_class);
err_driver:
	mdev_unregister_driver(&vslice_mdev_driver);
err_debugfs:
	vslice_debugfs_exit();
	return ret;
}

static void __exit vslice_exit(void)
{
	/* Removes every remaining instance through vslice_remove(). */
	mdev_unregister_parent(&vslice_parent.parent);
	if (pci_parent)
		pci_unregister_driver(&vslice_pci_driver);
	device_unregister(&vslice_parent.dev);
	class_destroy(vslice_class);
	mdev_unregister_driver(&vslice_mdev_driver);
	vslice_debugfs_exit();
}

module_init(vslice_init);
module_exit(vslice_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("vslice: simulated vGPU mdev driver with VFIO live migration");
