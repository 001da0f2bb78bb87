// SPDX-License-Identifier: GPL-2.0
/*
 * vslice: fault injection for tests, /sys/kernel/debug/vslice/fault/.
 *
 * The kernel's own framework (DECLARE_FAULT_ATTR, should_fail()) needs
 * CONFIG_FAULT_INJECTION, which Debian's 6.1 and 6.12 kernels do not set;
 * so this is a compile-time gate instead: Kbuild builds this file only
 * with VSLICE_FAULTS=y, and a module built without it (dkms) has neither
 * the hooks nor the files (fault.h).  The faults are described in
 * fault.h.  Each is an atomic read by its hook without a lock.
 */

#include <linux/atomic.h>
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/uaccess.h>

#include "fault.h"

/**
 * struct vslice_knob - one fault's setting, read by its hook without a lock
 * @val:	the value; written only through debugfs
 * @min:	lowest value a write may set
 * @max:	highest value a write may set
 */
struct vslice_knob {
	atomic64_t val;
	s64 min;
	s64 max;
};

static struct vslice_knob vslice_skip_dirty = {
	.val = ATOMIC64_INIT(0), .min = 0, .max = 1,
};

static struct vslice_knob vslice_fail_arc = {
	.val = ATOMIC64_INIT(-1), .min = -1, .max = 7,
};

static struct vslice_knob vslice_fail_dlog_store = {
	.val = ATOMIC64_INIT(0), .min = 0, .max = 1,
};

static struct vslice_knob vslice_engine_hold = {
	.val = ATOMIC64_INIT(-1), .min = -1, .max = S64_MAX,
};

static struct vslice_knob vslice_skip_plane = {
	.val = ATOMIC64_INIT(0), .min = 0, .max = 1,
};

static struct vslice_knob vslice_warn_save = {
	.val = ATOMIC64_INIT(0), .min = 0, .max = 1,
};

/**
 * vslice_fault_skip_dirty() - must device writes to guest memory go unreported?
 *
 * Return: true while /sys/kernel/debug/vslice/fault/skip_dirty is 1.
 */
bool vslice_fault_skip_dirty(void)
{
	return atomic64_read(&vslice_skip_dirty.val) == 1;
}

/**
 * vslice_fault_fail_arc() - must the arc into @state fail?
 * @state:	the v2 state an arc is about to enter
 *
 * One shot: a hit turns the fault off again.
 *
 * Return: true if the fault was set for @state.
 */
bool vslice_fault_fail_arc(int state)
{
	return atomic64_cmpxchg(&vslice_fail_arc.val, state, -1) == state;
}

/**
 * vslice_fault_fail_dlog_store() - must this store into the DMA log fail?
 *
 * One shot: a hit turns the fault off again.
 *
 * Return: true once after fail_dlog_store was set to 1.
 */
bool vslice_fault_fail_dlog_store(void)
{
	return atomic64_cmpxchg(&vslice_fail_dlog_store.val, 1, 0) == 1;
}

/**
 * vslice_fault_engine_hold() - must the engine hold this command?
 * @progress:	bytes of the command at RING_HEAD already done
 *
 * Return: true while engine_hold is set and @progress has reached it.
 */
bool vslice_fault_engine_hold(u64 progress)
{
	s64 hold = atomic64_read(&vslice_engine_hold.val);

	return hold > 0 && progress >= hold;
}

/**
 * vslice_fault_skip_plane() - must saves carry the plane as disabled?
 *
 * Return: true while /sys/kernel/debug/vslice/fault/skip_plane is 1.
 */
bool vslice_fault_skip_plane(void)
{
	return atomic64_read(&vslice_skip_plane.val) == 1;
}

/**
 * vslice_fault_warn_save() - must this save raise a kernel WARN?
 *
 * One shot: a hit turns the fault off again.
 *
 * Return: true once after warn_save was set to 1.
 */
bool vslice_fault_warn_save(void)
{
	return atomic64_cmpxchg(&vslice_warn_save.val, 1, 0) == 1;
}

/* Signed values: simple_attr_write() parses only unsigned ones. */
static ssize_t vslice_knob_read(struct file *file, char __user *buf,
				size_t count, loff_t *ppos)
{
	struct vslice_knob *k = file->private_data;
	char tmp[24];
	int n;

	n = scnprintf(tmp, sizeof(tmp), "%lld\n",
		      (long long)atomic64_read(&k->val));
	return simple_read_from_buffer(buf, count, ppos, tmp, n);
}

static ssize_t vslice_knob_write(struct file *file, const char __user *buf,
				 size_t count, loff_t *ppos)
{
	struct vslice_knob *k = file->private_data;
	long long v;
	int ret;

	ret = kstrtoll_from_user(buf, count, 0, &v);
	if (ret)
		return ret;
	if (v < k->min || v > k->max || (k == &vslice_engine_hold && !v))
		return -EINVAL;
	atomic64_set(&k->val, v);
	return count;
}

static const struct file_operations vslice_knob_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.read = vslice_knob_read,
	.write = vslice_knob_write,
	.llseek = default_llseek,
};

/**
 * vslice_fault_init() - create the fault/ directory
 * @root:	/sys/kernel/debug/vslice (removed recursively at module exit)
 */
void vslice_fault_init(struct dentry *root)
{
	struct dentry *dir = debugfs_create_dir("fault", root);

	debugfs_create_file("skip_dirty", 0600, dir, &vslice_skip_dirty,
			    &vslice_knob_fops);
	debugfs_create_file("fail_arc", 0600, dir, &vslice_fail_arc,
			    &vslice_knob_fops);
	debugfs_create_file("engine_hold", 0600, dir, &vslice_engine_hold,
			    &vslice_knob_fops);
	debugfs_create_file("fail_dlog_store", 0600, dir,
			    &vslice_fail_dlog_store, &vslice_knob_fops);
	debugfs_create_file("skip_plane", 0600, dir, &vslice_skip_plane,
			    &vslice_knob_fops);
	debugfs_create_file("warn_save", 0600, dir, &vslice_warn_save,
			    &vslice_knob_fops);
}
