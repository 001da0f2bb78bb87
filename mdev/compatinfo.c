// SPDX-License-Identifier: GPL-2.0
/*
 * vslice: migration_info, what an orchestrator reads before it migrates.
 *
 * Offers the read-only sysfs files
 *   /sys/class/mdev_bus/vslice0/migration_info/<type>   (one per type)
 *   /sys/bus/mdev/devices/<uuid>/migration_info          (one per instance)
 * with one key=value per line: the stream versions this driver writes and
 * accepts, the type, its VRAM size, the features and a compatibility
 * string (the instance's file adds the version its next save writes), and
 * the read-write /sys/bus/mdev/devices/<uuid>/stream_version that selects
 * it.  Two such files (source and destination) are enough to say
 * whether a migration will be accepted; scripts/vslice-migcheck does it
 * and Documentation/ABI/testing/sysfs-vslice-migration-info defines the
 * rules.  The stream header check in stream.c stays the authority: the
 * values printed here are the very constants it checks against.
 *
 * Layer: beside instance.c (above the migration core, whose
 * stream-version setters it calls).
 */

#include <linux/device.h>
#include <linux/mdev.h>
#include <linux/sysfs.h>

#include "stream.h"
#include "vslice.h"

/**
 * vslice_migration_info_show() - format migration_info for a type
 * @type:	the mdev type
 * @buf:	a sysfs page
 *
 * The compatibility string names everything the stream header requires
 * to be equal on both sides (device family, type id, VRAM size, page
 * size); the version and flag lines say which headers the driver writes
 * and which it accepts.
 *
 * Return: bytes written to @buf.
 */
ssize_t vslice_migration_info_show(const struct vslice_type *type, char *buf)
{
	unsigned int minor;
	int n = 0;

	n += sysfs_emit_at(buf, n, "driver=%s\n", VSLICE_DRIVER_NAME);
	n += sysfs_emit_at(buf, n, "type=%s-%s\n", VSLICE_DRIVER_NAME,
			   type->mtype.sysfs_name);
	n += sysfs_emit_at(buf, n, "type_id=%u\n", type->id);
	n += sysfs_emit_at(buf, n, "vram_bytes=%llu\n", type->vram_size);
	n += sysfs_emit_at(buf, n, "page_size=%u\n", VSLICE_STREAM_PAGE_SIZE);
	/* every MAJOR.MINOR this driver can produce, oldest first */
	n += sysfs_emit_at(buf, n, "stream_writes=");
	for (minor = VSLICE_STREAM_MINOR_OLDEST;
	     minor <= VSLICE_STREAM_VERSION_MINOR; minor++)
		n += sysfs_emit_at(buf, n, "%s%u.%u",
				   minor > VSLICE_STREAM_MINOR_OLDEST ? "," : "",
				   VSLICE_STREAM_VERSION_MAJOR, minor);
	n += sysfs_emit_at(buf, n, "\n");
	/* MAJOR.MINOR: that major, any minor up to MINOR */
	n += sysfs_emit_at(buf, n, "stream_accepts=%u.%u\n",
			   VSLICE_STREAM_VERSION_MAJOR,
			   VSLICE_STREAM_VERSION_MINOR);
	n += sysfs_emit_at(buf, n, "stream_flags=0x%x\n",
			   VSLICE_STREAM_F_WRITTEN);
	n += sysfs_emit_at(buf, n, "stream_flags_accepted=0x%x\n",
			   VSLICE_STREAM_F_KNOWN);
	n += sysfs_emit_at(buf, n, "features=v2,p2p%s,v1_region,display_plane\n",
			   VSLICE_HAVE_PRECOPY ? ",pre_copy" : "");
	n += sysfs_emit_at(buf, n,
			   "compatibility=vslice-gpu/type-%u/vram-%llu/page-%u\n",
			   type->id, type->vram_size, VSLICE_STREAM_PAGE_SIZE);
	return n;
}

/* ---- per instance: an attribute of the bound mdev device ---- */

static ssize_t migration_info_show(struct device *dev,
				   struct device_attribute *attr, char *buf)
{
	struct vslice_dev *vd = dev_get_drvdata(dev);
	bool autom;
	ssize_t n;
	u32 max;

	if (!vd)
		return -ENODEV;
	n = vslice_migration_info_show(vd->type, buf);
	/* what this instance's next save writes */
	n += sysfs_emit_at(buf, n, "stream_version=%u.%u\n",
			   VSLICE_STREAM_VERSION_MAJOR,
			   vslice_mig_stream_minor(vd));
	/* its convergence policy (admin.rst, "Convergence") */
	vslice_mig_get_throttle(vd, &autom, &max);
	n += sysfs_emit_at(buf, n, "migration_throttle=%s\n",
			   autom ? "auto" : "off");
	n += sysfs_emit_at(buf, n, "migration_throttle_max=%u\n", max);
	return n;
}
static DEVICE_ATTR_RO(migration_info);

/*
 * stream_version: the MAJOR.MINOR this instance's saves write.  Writing
 * one of migration_info's stream_writes selects it for the next save
 * (-EINVAL for any other value, -EBUSY while a save is under way), so that
 * an orchestrator can send to a host whose driver accepts only an older
 * version.  Saving fails with -EOPNOTSUPP if the device's state cannot be
 * expressed in the chosen version (see migration-stream.rst).
 */
static ssize_t stream_version_show(struct device *dev,
				   struct device_attribute *attr, char *buf)
{
	struct vslice_dev *vd = dev_get_drvdata(dev);

	if (!vd)
		return -ENODEV;
	return sysfs_emit(buf, "%u.%u\n", VSLICE_STREAM_VERSION_MAJOR,
			  vslice_mig_stream_minor(vd));
}

static ssize_t stream_version_store(struct device *dev,
				    struct device_attribute *attr,
				    const char *buf, size_t count)
{
	struct vslice_dev *vd = dev_get_drvdata(dev);
	u16 minor;
	int ret;

	if (!vd)
		return -ENODEV;
	ret = vslice_mig_parse_stream_version(buf, &minor);
	if (!ret)
		ret = vslice_mig_set_stream_minor(vd, minor);
	return ret ? ret : count;
}
static DEVICE_ATTR_RW(stream_version);

/*
 * migration_throttle ("auto" or "off") and migration_throttle_max (1-99):
 * the instance's convergence policy, from the module parameters of the
 * same names when it was made.  -EINVAL for any other value.  A change
 * while a save runs applies from its next pre-copy pass on.
 */
static ssize_t migration_throttle_show(struct device *dev,
				       struct device_attribute *attr,
				       char *buf)
{
	struct vslice_dev *vd = dev_get_drvdata(dev);
	bool autom;
	u32 max;

	if (!vd)
		return -ENODEV;
	vslice_mig_get_throttle(vd, &autom, &max);
	return sysfs_emit(buf, "%s\n", autom ? "auto" : "off");
}

static ssize_t migration_throttle_store(struct device *dev,
					struct device_attribute *attr,
					const char *buf, size_t count)
{
	struct vslice_dev *vd = dev_get_drvdata(dev);
	bool autom;
	int ret;

	if (!vd)
		return -ENODEV;
	ret = vslice_mig_parse_throttle(buf, &autom);
	if (ret)
		return ret;
	vslice_mig_set_throttle_auto(vd, autom);
	return count;
}
static DEVICE_ATTR_RW(migration_throttle);

static ssize_t migration_throttle_max_show(struct device *dev,
					   struct device_attribute *attr,
					   char *buf)
{
	struct vslice_dev *vd = dev_get_drvdata(dev);
	bool autom;
	u32 max;

	if (!vd)
		return -ENODEV;
	vslice_mig_get_throttle(vd, &autom, &max);
	return sysfs_emit(buf, "%u\n", max);
}

static ssize_t migration_throttle_max_store(struct device *dev,
					    struct device_attribute *attr,
					    const char *buf, size_t count)
{
	struct vslice_dev *vd = dev_get_drvdata(dev);
	u32 max;
	int ret;

	if (!vd)
		return -ENODEV;
	ret = vslice_mig_parse_throttle_max(buf, &max);
	if (ret)
		return ret;
	vslice_mig_set_throttle_max(vd, max);
	return count;
}
static DEVICE_ATTR_RW(migration_throttle_max);

static struct attribute *vslice_instance_attrs[] = {
	&dev_attr_migration_info.attr,
	&dev_attr_stream_version.attr,
	&dev_attr_migration_throttle.attr,
	&dev_attr_migration_throttle_max.attr,
	NULL,
};

static const struct attribute_group vslice_instance_group = {
	.attrs = vslice_instance_attrs,
};

const struct attribute_group *vslice_instance_groups[] = {
	&vslice_instance_group,
	NULL,
};
