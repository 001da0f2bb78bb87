// SPDX-License-Identifier: GPL-2.0
/*
 * vslice: fault injection for tests, /sys/kernel/debug/vslice/fault/.
 *
 * The kernel's own framework (DECLARE_FAULT_ATTR, should_fail()) needs
 * CONFIG_FAULT_INJECTION, which Debian's 6.1 and 6.12 kernels do not set;
 * so this is a compile-time gate instead: Kbuild builds this file only
 * with VSLICE_FAULTS=y, and a module built without it (dkms) has neither
 * the hooks nor the files (fault.h).  The faults are described in
 * fault.h.  All are plain atomics read by the hooks without a lock.
 */

#include <linux/atomic.h>
#include <linux/debugfs.h>
#include <linux/fs.h>

#include "fault.h"

static atomic_t vslice_skip_dirty = ATOMIC_INIT(0);
static atomic_t vslice_fail_arc = ATOMIC_INIT(-1);
static atomic64_t vslice_engine_hold = ATOMIC64_INIT(-1);

/**
 * vslice_fault_skip_dirty() - must device writes to guest memory go unreported?
 *
 * Return: true while /sys/kernel/debug/vslice/fault/skip_dirty is 1.
 */
bool vslice_fault_skip_dirty(void)
{
	return atomic_read(&vslice_skip_dirty);
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
	return atomic_cmpxchg(&vslice_fail_arc, state, -1) == state;
}

/**
 * vslice_fault_engine_hold() - must the engine hold this command?
 * @progress:	bytes of the command at RING_HEAD already done
 *
 * Return: true while engine_hold is set and @progress has reached it.
 */
bool vslice_fault_engine_hold(u64 progress)
{
	s64 hold = atomic64_read(&vslice_engine_hold);

	return hold > 0 && progress >= hold;
}

static int vslice_hold_get(void *data, u64 *val)
{
	*val = (u64)atomic64_read(data);
	return 0;
}

static int vslice_hold_set(void *data, u64 val)
{
	s64 v = (s64)val;

	if (v < -1 || !v)
		return -EINVAL;
	atomic64_set(data, v);
	return 0;
}

static int vslice_fault_get(void *data, u64 *val)
{
	*val = (u64)(s64)atomic_read(data);
	return 0;
}

static int vslice_skip_dirty_set(void *data, u64 val)
{
	if (val > 1)
		return -EINVAL;
	atomic_set(data, val);
	return 0;
}

static int vslice_fail_arc_set(void *data, u64 val)
{
	s64 v = (s64)val;

	if (v < -1 || v > 7)
		return -EINVAL;
	atomic_set(data, v);
	return 0;
}

DEFINE_DEBUGFS_ATTRIBUTE(vslice_skip_dirty_fops, vslice_fault_get,
			 vslice_skip_dirty_set, "%llu\n");
DEFINE_DEBUGFS_ATTRIBUTE(vslice_fail_arc_fops, vslice_fault_get,
			 vslice_fail_arc_set, "%lld\n");
DEFINE_DEBUGFS_ATTRIBUTE(vslice_engine_hold_fops, vslice_hold_get,
			 vslice_hold_set, "%lld\n");

/**
 * vslice_fault_init() - create the fault/ directory
 * @root:	/sys/kernel/debug/vslice (removed recursively at module exit)
 */
void vslice_fault_init(struct dentry *root)
{
	struct dentry *dir = debugfs_create_dir("fault", root);

	debugfs_create_file_unsafe("skip_dirty", 0600, dir, &vslice_skip_dirty,
				   &vslice_skip_dirty_fops);
	debugfs_create_file_unsafe("fail_arc", 0600, dir, &vslice_fail_arc,
				   &vslice_fail_arc_fops);
	debugfs_create_file_unsafe("engine_hold", 0600, dir,
				   &vslice_engine_hold, &vslice_engine_hold_fops);
}
