// SPDX-License-Identifier: GPL-2.0
/*
 * vslice: the VFIO v1 migration region (Linux 5.8-5.17 uAPI, QEMU 5.2-7.2).
 *
 * Region accesses become calls into the migration core (vslice_mig_goto(),
 * vslice_mig_state(), vslice_mig_pending(), vslice_mig_save_read(),
 * vslice_mig_resume_write()).  The state machine and the stream are the
 * core's, shared with the v2 protocol, so a v1 source can feed a v2
 * destination and back.  What this file keeps is the v1 protocol's own
 * iteration state, which v2 has no use for: the data section as a staging
 * buffer, whether it holds the current iteration (the order pending_bytes,
 * then data_offset, then data_size), the last data_size, and how the core's
 * P2P states read as v1 device_state bits.  It lives in a table of this
 * file (struct vslice_v1); the core keeps no pointer to it.
 *
 * Layout of region VFIO_PCI_NUM_REGIONS (see uapi/vslice_mig_v1.h):
 *
 *   0          struct vslice_v1_mig_info, 32 bytes, trapped; the rest of
 *              the first page is a hole (-EINVAL)
 *   PAGE_SIZE  data section, vslice_v1_data_size() bytes (a sixteenth of
 *              VRAM, 1-32 MiB): pread/pwrite of any length, and mmap
 *              (advertised by a sparse mmap cap)
 *
 * Header fields are accessed at native width and alignment only:
 * device_state u32 @0 (rw), reserved u32 @4 (reads 0), pending_bytes u64
 * @8 (ro), data_offset u64 @16 (ro), data_size u64 @24 (rw); anything else
 * is -EINVAL.  data_offset + data_size never exceeds the region (QEMU 7.2
 * loops forever otherwise).
 *
 * Save (PRE_COPY or STOP_COPY): a pending_bytes read starts an iteration
 * and marks the data section's previous contents consumed; it reports what
 * the core has left, so it shrinks as sections are read and is 0 once the
 * stop-copy stream's END has been consumed.  The first data_offset read of
 * an iteration fills the section from the save stream; further data_offset
 * and data_size reads in the same iteration return the same buffer.
 * Resume (RESUMING): userspace fills the section, then writes data_size;
 * that write feeds the bytes to the core and returns its verdict.
 *
 * Per-instance state (struct vslice_v1) is allocated on the first access
 * that needs it and freed by vslice_v1_fini() when the device is closed,
 * so no migration data outlives its user.
 *
 * Locking: vslice_v1.lock serializes the header accesses that move data
 * (pending_bytes, data_offset, data_size and device_state) and protects
 * @loaded and @data_size.  It is the outermost vslice lock: taken before
 * the core takes state_mutex and the channel lock, never while holding
 * either, and never across copy_{to,from}_user().  The data section itself
 * is shared with userspace mappings anyway, so its pread/pwrite take no
 * lock: racing with oneself only corrupts one's own stream, which the
 * stream checksums reject.  The mmap path takes no lock at all (it runs
 * under mmap_lock); the struct is published once in vslice_v1_table and
 * its buffer never moves until vslice_v1_fini().
 */

#include <linux/hashtable.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/overflow.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>
#include <linux/uio.h>
#include <linux/vfio.h>
#include <linux/vmalloc.h>

#include "vslice.h"
#include "region.h"
#include "../uapi/vslice_mig_v1.h"

#define VSLICE_V1_DATA_OFFSET	((u64)PAGE_SIZE)

/*
 * The data section is a sixteenth of the instance's VRAM, 1 to 32 MiB
 * (8 MiB for a 128 MiB instance).  QEMU 7.2 moves at most one section per
 * record, and during pre-copy it sends a device one record per round of
 * its iteration loop, and only in rounds where RAM had nothing left for
 * the moment: measured in the e2e v1 scenario, two records in a whole
 * pre-copy.  With 1 MiB sections that left most of the VRAM the guest had
 * dirtied (2.1 MiB) to stop-copy, four times what QEMU 10 leaves over v2,
 * whose reads are not tied to RAM's rounds.  A section that holds all the
 * VRAM a guest dirties between two rounds lets each record drain it.  The
 * memory (vmalloc_user()) is taken only when v1 migration data first moves
 * or the section is mapped, and freed when the device is closed.
 */
#define VSLICE_V1_DATA_MIN	((u64)SZ_1M)
#define VSLICE_V1_DATA_MAX	((u64)SZ_32M)

static u64 vslice_v1_data_size(struct vslice_dev *vd)
{
	return clamp_t(u64, vd->vram.size / 16, VSLICE_V1_DATA_MIN,
		       VSLICE_V1_DATA_MAX) & PAGE_MASK;
}

static u64 vslice_v1_region_size(struct vslice_dev *vd)
{
	return VSLICE_V1_DATA_OFFSET + vslice_v1_data_size(vd);
}

#define VSLICE_V1_OFF(field)	offsetof(struct vslice_v1_mig_info, field)

/**
 * struct vslice_v1 - the v1 shim's per-instance state
 * @node:	entry in vslice_v1_table
 * @vd:		the instance it belongs to (the table's key)
 * @rcu:	frees the struct after concurrent table walks are done
 * @lock:	see the locking rules at the top of this file
 * @data:	the data section, vslice_v1_data_size() bytes (vmalloc_user()),
 *		NULL until first needed (vslice_v1_data()); then never moves
 * @loaded:	save: @data holds the current iteration's buffer
 * @data_size:	save: bytes of that buffer; resume: last accepted data_size
 */
struct vslice_v1 {
	struct hlist_node node;
	struct vslice_dev *vd;
	struct rcu_head rcu;
	struct mutex lock;	/* serializes the data-moving header accesses */
	void *data;
	bool loaded;
	u64 data_size;
};

/* ------------------------------------------------------------------ */
/* state translation                                                   */
/* ------------------------------------------------------------------ */

/* v1 device_state bits -> core state; VSLICE_MIG_ERROR if not writable. */
static enum vslice_mig_state vslice_v1_to_core(u32 bits)
{
	switch (bits) {
	case VSLICE_V1_STATE_STOP:
		return VSLICE_MIG_STOP;
	case VSLICE_V1_STATE_RUNNING:
		return VSLICE_MIG_RUNNING;
	case VSLICE_V1_STATE_PRECOPY:
		return VSLICE_MIG_PRE_COPY;
	case VSLICE_V1_STATE_SAVING:
		return VSLICE_MIG_STOP_COPY;
	case VSLICE_V1_STATE_RESUMING:
		return VSLICE_MIG_RESUMING;
	default:
		/* 101b, 111b, the error state 110b and every higher bit */
		return VSLICE_MIG_ERROR;
	}
}

/*
 * Core state -> v1 bits.  The P2P states are only entered through v1 as
 * intermediate arcs (or by a v2 user): the engine is quiet in both, so
 * they read as not RUNNING.
 */
static u32 vslice_v1_from_core(enum vslice_mig_state st)
{
	switch (st) {
	case VSLICE_MIG_STOP:
	case VSLICE_MIG_RUNNING_P2P:
		return VSLICE_V1_STATE_STOP;
	case VSLICE_MIG_RUNNING:
		return VSLICE_V1_STATE_RUNNING;
	case VSLICE_MIG_PRE_COPY:
		return VSLICE_V1_STATE_PRECOPY;
	case VSLICE_MIG_STOP_COPY:
	case VSLICE_MIG_PRE_COPY_P2P:
		return VSLICE_V1_STATE_SAVING;
	case VSLICE_MIG_RESUMING:
		return VSLICE_V1_STATE_RESUMING;
	default:
		return VSLICE_V1_STATE_ERROR;
	}
}

static bool vslice_v1_saving(enum vslice_mig_state st)
{
	return st == VSLICE_MIG_PRE_COPY || st == VSLICE_MIG_PRE_COPY_P2P ||
	       st == VSLICE_MIG_STOP_COPY;
}

/*
 * Forget a buffer that belongs to no live save channel any more (the core
 * may have left the save states behind our back: reset, close, v2).
 */
static void vslice_v1_sync(struct vslice_v1 *v1, enum vslice_mig_state st)
{
	lockdep_assert_held(&v1->lock);
	if (!vslice_v1_saving(st))
		v1->loaded = false;
	if (!vslice_v1_saving(st) && st != VSLICE_MIG_RESUMING)
		v1->data_size = 0;
}

/* ------------------------------------------------------------------ */
/* per-instance state                                                  */
/* ------------------------------------------------------------------ */

/*
 * The core keeps no pointer to our state: each instance's struct vslice_v1
 * lives in this table, keyed by the instance.  Walks run under RCU (other
 * instances' entries may come and go meanwhile); insertion and removal
 * take vslice_v1_table_lock.  An entry is only removed when its own
 * instance has no file open (vslice_v1_fini()), so a pointer looked up
 * from a region access or a mapping stays valid for as long as it is used.
 */
static DEFINE_HASHTABLE(vslice_v1_table, 6);
static DEFINE_SPINLOCK(vslice_v1_table_lock);

static struct vslice_v1 *vslice_v1_lookup(struct vslice_dev *vd)
{
	struct vslice_v1 *v1, *found = NULL;

	rcu_read_lock();
	hash_for_each_possible_rcu(vslice_v1_table, v1, node, (unsigned long)vd)
		if (v1->vd == vd) {
			found = v1;
			break;
		}
	rcu_read_unlock();
	return found;
}

static void vslice_v1_free(struct vslice_v1 *v1)
{
	mutex_destroy(&v1->lock);
	vfree(v1->data);
	kfree(v1);
}

/* The instance's v1 state, allocated on first use. */
static struct vslice_v1 *vslice_v1_get(struct vslice_dev *vd)
{
	struct vslice_v1 *v1, *old;

	v1 = vslice_v1_lookup(vd);
	if (v1)
		return v1;

	v1 = kzalloc(sizeof(*v1), GFP_KERNEL_ACCOUNT);
	if (!v1)
		return ERR_PTR(-ENOMEM);
	v1->vd = vd;
	mutex_init(&v1->lock);

	/* Publish once; a racing first access keeps the winner's copy. */
	spin_lock(&vslice_v1_table_lock);
	old = vslice_v1_lookup(vd);
	if (!old)
		hash_add_rcu(vslice_v1_table, &v1->node, (unsigned long)vd);
	spin_unlock(&vslice_v1_table_lock);
	if (old) {
		vslice_v1_free(v1);
		return old;
	}
	return v1;
}

/*
 * The data section, allocated on first use: a mapping, a section access,
 * a save record or a resume record.  Published once with cmpxchg(), so
 * the mmap path needs no lock; a racing loser frees its copy.
 */
static void *vslice_v1_data(struct vslice_v1 *v1)
{
	void *data, *old;

	/* pairs with cmpxchg_release(): a published buffer is initialised */
	data = smp_load_acquire(&v1->data);
	if (data)
		return data;
	/* VM_USERMAP, zeroed: mmap maps it whole (remap_vmalloc_range()). */
	data = vmalloc_user(vslice_v1_data_size(v1->vd));
	if (!data)
		return NULL;
	old = cmpxchg_release(&v1->data, NULL, data);
	if (old) {
		vfree(data);
		data = old;
	}
	return data;
}

/**
 * vslice_v1_fini() - free the v1 region's state of an instance
 * @vd:	the instance
 *
 * Called when the device is closed (no file, hence no mapping and no
 * region access, is left) and again at release; the next user starts
 * from scratch and never sees the previous user's migration data.
 */
void vslice_v1_fini(struct vslice_dev *vd)
{
	struct vslice_v1 *v1;

	spin_lock(&vslice_v1_table_lock);
	v1 = vslice_v1_lookup(vd);
	if (v1)
		hash_del_rcu(&v1->node);
	spin_unlock(&vslice_v1_table_lock);
	if (!v1)
		return;
	mutex_destroy(&v1->lock);
	vfree(v1->data);
	kfree_rcu(v1, rcu);
}

/* ------------------------------------------------------------------ */
/* header fields                                                       */
/* ------------------------------------------------------------------ */

/* Fill the data section from the save stream: one iteration's buffer. */
static int vslice_v1_fill(struct vslice_dev *vd, struct vslice_v1 *v1)
{
	struct kvec kv = {
		.iov_base = vslice_v1_data(v1),
		.iov_len = vslice_v1_data_size(vd),
	};
	struct iov_iter it;
	ssize_t n;

	lockdep_assert_held(&v1->lock);
	if (!kv.iov_base)
		return -ENOMEM;
	iov_iter_kvec(&it, ITER_DEST, &kv, 1, kv.iov_len);
	n = vslice_mig_save_read(vd, &it);
	/*
	 * -ENOMSG: pre-copy has nothing right now.  -ENODEV: the channel
	 * went away since we looked (a reset).  Both are an empty buffer.
	 */
	if (n == -ENOMSG || n == -ENODEV)
		n = 0;
	if (n < 0)
		return n;
	v1->data_size = n;
	v1->loaded = true;
	return 0;
}

static int vslice_v1_read_pending(struct vslice_dev *vd, u64 *val)
{
	struct vslice_v1 *v1 = vslice_v1_get(vd);

	if (IS_ERR(v1))
		return PTR_ERR(v1);
	mutex_lock(&v1->lock);
	/* The previous iteration's buffer has been read. */
	v1->loaded = false;
	if (vslice_v1_saving(vslice_mig_state(vd)))
		v1->data_size = 0;
	*val = vslice_mig_pending(vd);
	mutex_unlock(&v1->lock);
	return 0;
}

static int vslice_v1_read_data_offset(struct vslice_dev *vd, u64 *val)
{
	struct vslice_v1 *v1 = vslice_v1_get(vd);
	enum vslice_mig_state st;
	int ret = 0;

	if (IS_ERR(v1))
		return PTR_ERR(v1);
	mutex_lock(&v1->lock);
	st = vslice_mig_state(vd);
	vslice_v1_sync(v1, st);
	if (vslice_v1_saving(st) && !v1->loaded)
		ret = vslice_v1_fill(vd, v1);
	mutex_unlock(&v1->lock);
	*val = VSLICE_V1_DATA_OFFSET;
	return ret;
}

static int vslice_v1_read_data_size(struct vslice_dev *vd, u64 *val)
{
	struct vslice_v1 *v1 = vslice_v1_get(vd);
	enum vslice_mig_state st;

	if (IS_ERR(v1))
		return PTR_ERR(v1);
	mutex_lock(&v1->lock);
	st = vslice_mig_state(vd);
	vslice_v1_sync(v1, st);
	if (vslice_v1_saving(st) && !v1->loaded)
		*val = 0;	/* data_offset not read yet this iteration */
	else
		*val = v1->data_size;
	mutex_unlock(&v1->lock);
	return 0;
}

static int vslice_v1_write_state(struct vslice_dev *vd, u32 bits)
{
	enum vslice_mig_state target = vslice_v1_to_core(bits);
	enum vslice_mig_state from, now;
	struct vslice_v1 *v1;
	int ret;

	if (target == VSLICE_MIG_ERROR)
		return -EINVAL;
	v1 = vslice_v1_get(vd);
	if (IS_ERR(v1))
		return PTR_ERR(v1);

	mutex_lock(&v1->lock);
	/* All or nothing: the core walks back if a later arc fails. */
	from = vslice_mig_state(vd);
	ret = vslice_mig_goto(vd, target);
	now = vslice_mig_state(vd);
	/* A buffer survives only a move between two save states. */
	if (now != from && !(vslice_v1_saving(from) && vslice_v1_saving(now))) {
		v1->loaded = false;
		v1->data_size = 0;
	}
	vslice_v1_sync(v1, now);
	mutex_unlock(&v1->lock);
	return ret;
}

static int vslice_v1_write_data_size(struct vslice_dev *vd, u64 size)
{
	struct kvec kv = { .iov_len = size };
	struct vslice_v1 *v1;
	struct iov_iter it;
	ssize_t n;
	int ret = 0;

	if (size > vslice_v1_data_size(vd))
		return -EINVAL;
	v1 = vslice_v1_get(vd);
	if (IS_ERR(v1))
		return PTR_ERR(v1);

	mutex_lock(&v1->lock);
	if (vslice_mig_state(vd) != VSLICE_MIG_RESUMING) {
		ret = -EINVAL;	/* data_size is read-only outside RESUMING */
		goto out;
	}
	v1->data_size = 0;
	if (size) {
		kv.iov_base = vslice_v1_data(v1);
		if (!kv.iov_base) {
			ret = -ENOMEM;
			goto out;
		}
		iov_iter_kvec(&it, ITER_SOURCE, &kv, 1, size);
		n = vslice_mig_resume_write(vd, &it);
		if (n < 0) {
			ret = n;
			goto out;
		}
		if (n != size) {
			/* the core consumes everything or fails */
			ret = -EIO;
			goto out;
		}
	}
	v1->data_size = size;
out:
	mutex_unlock(&v1->lock);
	return ret;
}

/* Width of the header field at @pos, or 0 if no field starts there. */
static size_t vslice_v1_field_width(u64 pos)
{
	switch (pos) {
	case VSLICE_V1_OFF(device_state):
	case VSLICE_V1_OFF(reserved):
		return sizeof(u32);
	case VSLICE_V1_OFF(pending_bytes):
	case VSLICE_V1_OFF(data_offset):
	case VSLICE_V1_OFF(data_size):
		return sizeof(u64);
	default:
		return 0;
	}
}

static ssize_t vslice_v1_hdr_read(struct vslice_dev *vd, char __user *buf,
				  size_t count, u64 pos)
{
	u64 val = 0;
	u32 val32;
	int ret = 0;

	switch (pos) {
	case VSLICE_V1_OFF(device_state):
		val = vslice_v1_from_core(vslice_mig_state(vd));
		break;
	case VSLICE_V1_OFF(reserved):
		break;
	case VSLICE_V1_OFF(pending_bytes):
		ret = vslice_v1_read_pending(vd, &val);
		break;
	case VSLICE_V1_OFF(data_offset):
		ret = vslice_v1_read_data_offset(vd, &val);
		break;
	case VSLICE_V1_OFF(data_size):
		ret = vslice_v1_read_data_size(vd, &val);
		break;
	}
	if (ret)
		return ret;

	if (count == sizeof(u32)) {
		val32 = val;
		ret = copy_to_user(buf, &val32, sizeof(val32));
	} else {
		ret = copy_to_user(buf, &val, sizeof(val));
	}
	return ret ? -EFAULT : count;
}

static ssize_t vslice_v1_hdr_write(struct vslice_dev *vd, char __user *buf,
				   size_t count, u64 pos)
{
	u32 val32;
	u64 val;
	int ret;

	switch (pos) {
	case VSLICE_V1_OFF(device_state):
		if (copy_from_user(&val32, buf, sizeof(val32)))
			return -EFAULT;
		ret = vslice_v1_write_state(vd, val32);
		break;
	case VSLICE_V1_OFF(data_size):
		if (copy_from_user(&val, buf, sizeof(val)))
			return -EFAULT;
		ret = vslice_v1_write_data_size(vd, val);
		break;
	default:
		/* reserved, pending_bytes and data_offset are read-only */
		ret = -EINVAL;
	}
	return ret ? ret : count;
}

/* ------------------------------------------------------------------ */
/* region ops                                                          */
/* ------------------------------------------------------------------ */

static ssize_t vslice_v1_data_rw(struct vslice_dev *vd, char __user *buf,
				 size_t count, u64 off, bool write)
{
	struct vslice_v1 *v1 = vslice_v1_get(vd);
	unsigned long left;
	u8 *data;

	if (IS_ERR(v1))
		return PTR_ERR(v1);
	data = vslice_v1_data(v1);
	if (!data)
		return -ENOMEM;
	/* Bounds checked by the caller: within vslice_v1_data_size(). */
	if (write)
		left = copy_from_user(data + off, buf, count);
	else
		left = copy_to_user(buf, data + off, count);
	return left ? -EFAULT : count;
}

static ssize_t vslice_v1_rw(struct vslice_dev *vd, char __user *buf,
			    size_t count, u64 pos, bool write)
{
	u64 end;

	if (check_add_overflow(pos, (u64)count, &end) ||
	    end > vslice_v1_region_size(vd))
		return -EINVAL;

	if (pos >= VSLICE_V1_DATA_OFFSET)
		return vslice_v1_data_rw(vd, buf, count,
					 pos - VSLICE_V1_DATA_OFFSET, write);

	/* The header: whole fields at their own width, nothing else. */
	if (count != vslice_v1_field_width(pos))
		return -EINVAL;
	if (write)
		return vslice_v1_hdr_write(vd, buf, count, pos);
	return vslice_v1_hdr_read(vd, buf, count, pos);
}

static int vslice_v1_info(struct vslice_dev *vd, struct vfio_region_info *info,
			  struct vfio_info_cap *caps)
{
	struct vfio_region_info_cap_type type = {
		.header.id = VFIO_REGION_INFO_CAP_TYPE,
		.header.version = 1,
		.type = VSLICE_V1_REGION_TYPE,
		.subtype = VSLICE_V1_REGION_SUBTYPE,
	};
	struct vfio_region_info_cap_sparse_mmap *sparse;
	size_t size = struct_size(sparse, areas, 1);
	int ret;

	info->size = vslice_v1_region_size(vd);
	info->flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE |
		      VFIO_REGION_INFO_FLAG_MMAP;

	ret = vfio_info_add_capability(caps, &type.header, sizeof(type));
	if (ret)
		return ret;

	/* Only the data section is mappable; the header page stays trapped. */
	sparse = kzalloc(size, GFP_KERNEL);
	if (!sparse)
		return -ENOMEM;
	sparse->header.id = VFIO_REGION_INFO_CAP_SPARSE_MMAP;
	sparse->header.version = 1;
	sparse->nr_areas = 1;
	sparse->areas[0].offset = VSLICE_V1_DATA_OFFSET;
	sparse->areas[0].size = vslice_v1_data_size(vd);
	ret = vfio_info_add_capability(caps, &sparse->header, size);
	kfree(sparse);
	return ret;
}

static int vslice_v1_mmap(struct vslice_dev *vd, struct vm_area_struct *vma,
			  u64 pos)
{
	u64 len = vma->vm_end - vma->vm_start;
	struct vslice_v1 *v1;
	void *data;
	u64 end;

	if (pos < VSLICE_V1_DATA_OFFSET ||
	    check_add_overflow(pos, len, &end) ||
	    end > vslice_v1_region_size(vd))
		return -EINVAL;

	/* Allocated here at the latest: a mapping never waits for memory. */
	v1 = vslice_v1_get(vd);
	if (IS_ERR(v1))
		return PTR_ERR(v1);
	data = vslice_v1_data(v1);
	if (!data)
		return -ENOMEM;
	/*
	 * All pages are mapped now; the save path writes the data section
	 * straight from VRAM and QEMU reads it through this mapping.  No
	 * zap ever reaches it: the VRAM code unmaps only BAR2's and the
	 * display window's ranges of the device's address_space, and the
	 * buffer lives as long as the device file, which the VMA holds open.
	 */
	return remap_vmalloc_range(vma, data,
				   vma->vm_pgoff -
				   (VSLICE_V1_DATA_OFFSET >> PAGE_SHIFT));
}

/*
 * The v1 migration region, plugged into instance.c's extra region table
 * at index VFIO_PCI_NUM_REGIONS.
 */
const struct vslice_region_ops vslice_v1_region_ops = {
	.index = VFIO_PCI_NUM_REGIONS,
	.info = vslice_v1_info,
	.rw = vslice_v1_rw,
	.mmap = vslice_v1_mmap,
	.close = vslice_v1_fini,
};
