// SPDX-License-Identifier: GPL-2.0
/*
 * vslice: the command engine.
 *
 * One work item per instance consumes the guest's ring (uapi/vslice_regs.h)
 * while CONTROL.ENABLE is set, the engine is neither halted nor quiesced
 * and RING_HEAD != RING_TAIL.  For the entry at RING_HEAD it reads the
 * 32-byte descriptor with vfio_dma_rw(), validates it and runs it in steps:
 * at most 64 KiB (or VSLICE_ENGINE_PIN_BATCH pages) of a copy, 256 KiB of a
 * fill.  After each step, under dev_lock, it records the bytes done in
 * engine.progress; when the command is complete it advances RING_HEAD and
 * CMD_COUNT and resets progress to 0.  A quiesce therefore always stops
 * the engine at a step boundary with the in-flight command checkpointed in
 * (RING_HEAD, progress); whoever resumes - this host or a migration
 * destination - re-reads the entry at RING_HEAD and continues at progress.
 *
 * Guest memory:
 *  - ring entries, COPY_TO_VRAM sources and FENCE values: vfio_dma_rw().
 *    Reads do not dirty guest pages; the FENCE write dirties its page.
 *  - COPY_FROM_VRAM destinations: by default vfio_dma_rw(write) too, which
 *    type1 marks dirty exactly where it wrote.  Module parameter copy_pin=1
 *    selects the vGPU-style path instead: the step's pages are pinned with
 *    vfio_pin_pages() (up to VSLICE_ENGINE_PIN_BATCH at once), written
 *    through kmap_local_page() and unpinned again, so type1 marks exactly
 *    the pinned pages dirty, once, since nothing stays pinned across a step.
 *
 * Throttle.  While the migration core throttles the engine (its
 * convergence rule, migration.c), the worker starts no command step in
 * the first p % of every VSLICE_THROTTLE_PERIOD_NS, so at most (100 - p) %
 * of the engine's time serves the guest.  Commands, fences and interrupts
 * keep completing, only later: a throttled engine is slower, never
 * stalled (p is at most VSLICE_THROTTLE_MAX_PCT).  Releasing the throttle
 * or quiescing the engine wakes a worker held back at once.
 *
 * Locking.  dev_lock guards the registers, quiesced, progress and epoch; the
 * worker takes it only to snapshot the ring state and to publish a step's
 * result, never across a guest memory access.  vfio_dma_rw() accesses take
 * no engine lock: they pin nothing, so type1 never has to ask the driver
 * before it unmaps, and an access to an unmapped address just fails.
 *
 * dma_lock is held around each pinned access (pin..copy..unpin, and the
 * skip_dirty fault references) and by vslice_engine_dma_unmap(), which type1
 * calls only for a mapping that has pages pinned: the callback waits for
 * the step's unpin and then finds nothing pinned.  The worker does not
 * start another pinned access while a callback waits (vslice_dma_lock()),
 * so that wait is at most one step.  The callback also revokes the
 * command's guest range, so the engine does not pin there again: the
 * command fails with VSLICE_ERR_DMA instead of making type1's unmap retry
 * (it BUG()s after ten).  dma_lock is never held together with dev_lock.
 *
 * Why pinning is not the default: type1 itself orders its locks both ways
 * around that callback.  vfio_notify_dma_unmap() takes device_list_lock
 * while holding iommu->lock (so does vfio_iommu_type1_register_device()),
 * and any driver that unpins, as type1 requires, takes iommu->lock under
 * device_list_lock.  With copy_pin=1 the chain device_list_lock ->
 * dma_lock -> iommu->lock closes that circle, and lockdep reports it the
 * first time an unmap meets a pinned step (make test KERNEL=debug showed
 * it).  Two concurrent VFIO_IOMMU_UNMAP_DMA calls, or an unmap and a device
 * open on the same container, can then really deadlock whatever the
 * driver does (QEMU serializes both under its big lock).  A driver that
 * never holds pins is the only way out, hence copy_pin=0 by default.
 */

#include <linux/highmem.h>
#include <linux/hrtimer.h>
#include <linux/iommu.h>
#include <linux/ktime.h>
#include <linux/log2.h>
#include <linux/math64.h>
#include <linux/memcontrol.h>
#include <linux/minmax.h>
#include <linux/module.h>
#include <linux/overflow.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/vfio.h>
#include <linux/wait.h>

#include "fault.h"
#include "vslice.h"
#include "trace.h"

#define VSLICE_ENGINE_COPY_STEP	SZ_64K
#define VSLICE_ENGINE_FILL_STEP	SZ_256K
#define VSLICE_FENCE_SIZE	sizeof(u64)

static bool copy_pin;
module_param(copy_pin, bool, 0644);
MODULE_PARM_DESC(copy_pin,
		 "COPY_FROM_VRAM pins guest pages (1) or uses vfio_dma_rw (0, default)");

/*
 * The skip_dirty fault (fault.h; test builds only) deliberately breaks
 * dirty reporting, to prove that the dirty checks catch it: every guest
 * write of the engine - FENCE, COPY_FROM_VRAM with copy_pin=0 or 1 - goes
 * through vslice_stale_write() instead.  A guest page is pinned once, the
 * first time the fault writes it, kept referenced and unpinned at once;
 * that write and every later one go through the stale reference, so type1
 * hears of a page only at that first pin (and not at all if its dirty
 * tracking was off then) and the DMA log (dirty.c) never does.
 */

/* A guest page for skip_dirty writes, pinned at most once.  dma_lock. */
static struct page *vslice_stale_page(struct vslice_dev *vd, dma_addr_t iova)
{
	struct vslice_engine *eng = &vd->engine;
	unsigned long key = iova >> PAGE_SHIFT;
	struct page *page = xa_load(&eng->stale, key);

	lockdep_assert_held(&eng->dma_lock);
	if (page)
		return page;
	if (vfio_pin_pages(&vd->vdev, iova & PAGE_MASK, 1,
			   IOMMU_READ | IOMMU_WRITE, &page) != 1)
		return NULL;
	get_page(page);
	vfio_unpin_pages(&vd->vdev, iova & PAGE_MASK, 1);
	if (xa_err(xa_store(&eng->stale, key, page, GFP_KERNEL))) {
		put_page(page);
		return NULL;
	}
	return page;
}

/* Write guest memory through stale references (skip_dirty fault). */
static int vslice_stale_write(struct vslice_dev *vd, dma_addr_t iova,
			      u64 vram_off, const void *src, size_t len)
{
	while (len) {
		size_t off = offset_in_page(iova);
		size_t seg = min_t(size_t, len, PAGE_SIZE - off);
		struct page *page = vslice_stale_page(vd, iova);
		void *kaddr;
		int ret = 0;

		if (!page)
			return -EFAULT;
		kaddr = kmap_local_page(page);
		if (src)
			memcpy(kaddr + off, src, seg);
		else
			ret = vslice_vram_rw(&vd->vram, vram_off, kaddr + off,
					     seg, false);
		kunmap_local(kaddr);
		if (ret)
			return ret;
		iova += seg;
		vram_off += seg;
		if (src)
			src += seg;
		len -= seg;
	}
	return 0;
}

/* Drop stale references in [first, last] pages.  dma_lock. */
static void vslice_stale_drop(struct vslice_engine *eng, unsigned long first,
			      unsigned long last)
{
	struct page *page;
	unsigned long key;

	xa_for_each_range(&eng->stale, key, page, first, last) {
		xa_erase(&eng->stale, key);
		put_page(page);
	}
}

/**
 * struct vslice_op - a ring entry in host byte order
 * @opcode:	VSLICE_CMD_*
 * @pattern:	FILL pattern
 * @vram_off:	VRAM offset
 * @iova:	guest address
 * @len:	byte count (FENCE: the value)
 */
struct vslice_op {
	u32 opcode;
	u32 pattern;
	u64 vram_off;
	u64 iova;
	u64 len;
};

/**
 * struct vslice_ring_snap - what a step runs against, taken under dev_lock
 * @base:	RING_BASE
 * @size:	RING_SIZE
 * @head:	RING_HEAD: the entry being executed
 * @progress:	bytes of that entry already done
 * @epoch:	engine epoch
 */
struct vslice_ring_snap {
	u64 base;
	u32 size;
	u32 head;
	u64 progress;
	u32 epoch;
};

static inline struct vslice_dev *engine_to_vslice(struct vslice_engine *eng)
{
	return container_of(eng, struct vslice_dev, engine);
}

/*
 * Take dma_lock for one pinned guest memory access.  A dma_unmap callback
 * waiting for the lock goes first: left to the mutex alone, the worker
 * re-takes it between steps before the woken callback runs, and an unmap
 * (which holds up QEMU's memory updates) can starve for many steps.
 */
static void vslice_dma_lock(struct vslice_engine *eng)
{
	wait_event(eng->unmap_wq, !atomic_read(&eng->unmap_waiters));
	mutex_lock(&eng->dma_lock);
}

/* The ring configuration: VSLICE_ERR_NONE or the error the engine halts on. */
static u32 vslice_ring_check(const struct vslice_regs *r)
{
	u64 last;

	if (!r->ring_size || r->ring_size > VSLICE_RING_MAX_ENTRIES ||
	    !is_power_of_2(r->ring_size))
		return VSLICE_ERR_RING_CONFIG;
	if (!IS_ALIGNED(r->ring_base, SZ_4K))
		return VSLICE_ERR_RING_CONFIG;
	if (check_add_overflow(r->ring_base,
			       (u64)r->ring_size * VSLICE_CMD_SIZE - 1, &last))
		return VSLICE_ERR_RING_CONFIG;
	if (r->ring_head >= r->ring_size || r->ring_tail >= r->ring_size)
		return VSLICE_ERR_RING_INDEX;
	return VSLICE_ERR_NONE;
}

/* Stop on @err at ring entry @head: sticky until CONTROL.ENABLE is cleared. */
static void vslice_engine_halt(struct vslice_dev *vd, u32 err, u32 head)
{
	struct vslice_regs *r = &vd->hw.regs;

	lockdep_assert_held(&vd->dev_lock);
	r->error = err;
	r->error_head = head;
	r->status = (r->status & ~VSLICE_STATUS_BUSY) | VSLICE_STATUS_HALTED;
	vd->engine.progress = 0;
	dev_dbg(vd->vdev.dev, "engine halted: error %u at entry %u\n", err,
		head);
	vslice_irq_raise(vd, VSLICE_IRQ_ERROR);
}

/*
 * Under dev_lock: decide whether a step may run and snapshot the ring.
 * Returns false when the worker should stop (idle, disabled, halted,
 * quiesced, or a ring configuration error, which halts the engine).
 */
static bool vslice_engine_next(struct vslice_dev *vd,
			       struct vslice_ring_snap *s)
{
	struct vslice_engine *eng = &vd->engine;
	struct vslice_regs *r = &vd->hw.regs;
	u32 err;

	lockdep_assert_held(&vd->dev_lock);
	if (eng->quiesced)
		return false;
	if (!(r->control & VSLICE_CTRL_ENABLE) ||
	    (r->status & VSLICE_STATUS_HALTED)) {
		r->status &= ~VSLICE_STATUS_BUSY;
		return false;
	}
	err = vslice_ring_check(r);
	if (err) {
		vslice_engine_halt(vd, err, r->ring_head);
		return false;
	}
	if (r->ring_head == r->ring_tail) {
		r->status &= ~VSLICE_STATUS_BUSY;
		eng->progress = 0;
		return false;
	}
	r->status |= VSLICE_STATUS_BUSY;
	/*
	 * A function without COMMAND.MASTER cannot initiate DMA: not even
	 * the ring read.  The commands stay pending (BUSY) and run once the
	 * guest sets MASTER (cfgspace.c kicks the engine then).
	 */
	if (!vslice_hw_bus_master(&vd->hw))
		return false;
	/* Test fault: park mid-command, BUSY set, until released and kicked. */
	if (unlikely(eng->progress && vslice_fault_engine_hold(eng->progress)))
		return false;
	s->base = r->ring_base;
	s->size = r->ring_size;
	s->head = r->ring_head;
	s->progress = eng->progress;
	s->epoch = eng->epoch;
	return true;
}

/* Under dev_lock: is the ring still where the step in @s ran? */
static bool vslice_snap_current(struct vslice_dev *vd,
				const struct vslice_ring_snap *s)
{
	const struct vslice_regs *r = &vd->hw.regs;

	lockdep_assert_held(&vd->dev_lock);
	return vd->engine.epoch == s->epoch && r->ring_base == s->base &&
	       r->ring_size == s->size && r->ring_head == s->head;
}

static u32 vslice_vram_range_check(struct vslice_dev *vd, u64 off, u64 len)
{
	u64 end;

	if (check_add_overflow(off, len, &end) || end > vd->vram.size)
		return VSLICE_ERR_VRAM_RANGE;
	return VSLICE_ERR_NONE;
}

static u32 vslice_iova_range_check(u64 iova, u64 len, u64 *end)
{
	if (check_add_overflow(iova, len, end))
		return VSLICE_ERR_DMA;
	return VSLICE_ERR_NONE;
}

/*
 * Validate @op.  Order: opcode and must-be-zero fields (ERR_OPCODE),
 * alignment (ERR_ALIGN), VRAM range (ERR_VRAM_RANGE), guest range
 * (ERR_DMA).  A zero-length FILL or COPY touches nothing and is not
 * range-checked.  On success [*@start, *@end) is the guest range the
 * command accesses (empty when none).
 */
static u32 vslice_op_check(struct vslice_dev *vd, const struct vslice_op *op,
			   u64 *start, u64 *end)
{
	u32 err;

	*start = 0;
	*end = 0;
	switch (op->opcode) {
	case VSLICE_CMD_NOP:
		if (op->pattern || op->vram_off || op->iova || op->len)
			return VSLICE_ERR_OPCODE;
		return VSLICE_ERR_NONE;
	case VSLICE_CMD_FILL:
		if (op->iova)
			return VSLICE_ERR_OPCODE;
		if (!op->len)
			return VSLICE_ERR_NONE;
		if (!IS_ALIGNED(op->vram_off, 4) || !IS_ALIGNED(op->len, 4))
			return VSLICE_ERR_ALIGN;
		return vslice_vram_range_check(vd, op->vram_off, op->len);
	case VSLICE_CMD_COPY_TO_VRAM:
	case VSLICE_CMD_COPY_FROM_VRAM:
		if (op->pattern)
			return VSLICE_ERR_OPCODE;
		if (!op->len)
			return VSLICE_ERR_NONE;
		err = vslice_vram_range_check(vd, op->vram_off, op->len);
		if (err)
			return err;
		*start = op->iova;
		return vslice_iova_range_check(op->iova, op->len, end);
	case VSLICE_CMD_FENCE:
		if (op->pattern || op->vram_off)
			return VSLICE_ERR_OPCODE;
		if (!IS_ALIGNED(op->iova, VSLICE_FENCE_SIZE))
			return VSLICE_ERR_ALIGN;
		*start = op->iova;
		return vslice_iova_range_check(op->iova, VSLICE_FENCE_SIZE,
					       end);
	default:
		return VSLICE_ERR_OPCODE;
	}
}

/* Bytes a command moves in steps; NOP and FENCE run in one step. */
static u64 vslice_op_total(const struct vslice_op *op)
{
	switch (op->opcode) {
	case VSLICE_CMD_FILL:
	case VSLICE_CMD_COPY_TO_VRAM:
	case VSLICE_CMD_COPY_FROM_VRAM:
		return op->len;
	default:
		return 0;
	}
}

/*
 * A checkpoint that cannot belong to @op (only possible from a damaged
 * migration stream, or a ring rewritten while stopped): start over, which
 * is always safe since every command is idempotent.
 */
static u64 vslice_progress_sane(const struct vslice_op *op, u64 progress)
{
	u64 total = vslice_op_total(op);

	if (progress >= total && progress)
		return 0;
	if (op->opcode == VSLICE_CMD_FILL && !IS_ALIGNED(progress, 4))
		return 0;
	return progress;
}

/* Fetch and decode the ring entry at s->head; VSLICE_ERR_* */
static u32 vslice_engine_fetch(struct vslice_dev *vd,
			       const struct vslice_ring_snap *s,
			       struct vslice_op *op)
{
	struct vslice_engine *eng = &vd->engine;
	struct vslice_cmd cmd;
	u64 start, end;
	u32 err;
	int ret;

	memset(op, 0, sizeof(*op));
	ret = vfio_dma_rw(&vd->vdev, s->base + (u64)s->head * VSLICE_CMD_SIZE,
			  &cmd, sizeof(cmd), false);
	if (ret)
		return VSLICE_ERR_RING_READ;

	op->opcode = le32_to_cpu(cmd.opcode);
	op->pattern = le32_to_cpu(cmd.pattern);
	op->vram_off = le64_to_cpu(cmd.vram_off);
	op->iova = le64_to_cpu(cmd.iova);
	op->len = le64_to_cpu(cmd.len);

	err = vslice_op_check(vd, op, &start, &end);
	if (err)
		return err;

	/* From here on an unmap overlapping [start, end) fails the command. */
	vslice_dma_lock(eng);
	eng->dma_start = start;
	eng->dma_end = end;
	WRITE_ONCE(eng->dma_revoked, false);
	mutex_unlock(&eng->dma_lock);
	return VSLICE_ERR_NONE;
}

static u32 vslice_step_fill(struct vslice_dev *vd, const struct vslice_op *op,
			    u64 done, u64 *stepped)
{
	u64 n = min_t(u64, op->len - done, VSLICE_ENGINE_FILL_STEP);
	int ret;

	ret = vslice_vram_fill(&vd->vram, op->vram_off + done, op->pattern, n);
	if (ret)
		return ret == -EINVAL ? VSLICE_ERR_VRAM_RANGE : VSLICE_ERR_HOST;
	*stepped = n;
	return VSLICE_ERR_NONE;
}

static u32 vslice_step_to_vram(struct vslice_dev *vd,
			       const struct vslice_op *op, u64 done,
			       u64 *stepped)
{
	struct vslice_engine *eng = &vd->engine;
	u64 n = min_t(u64, op->len - done, VSLICE_ENGINE_COPY_STEP);
	int ret = -EFAULT;

	if (!READ_ONCE(eng->dma_revoked))
		ret = vfio_dma_rw(&vd->vdev, op->iova + done, eng->bounce, n,
				  false);
	if (ret)
		return VSLICE_ERR_DMA;

	ret = vslice_vram_rw(&vd->vram, op->vram_off + done, eng->bounce, n,
			     true);
	if (ret)
		return ret == -EINVAL ? VSLICE_ERR_VRAM_RANGE : VSLICE_ERR_HOST;
	*stepped = n;
	return VSLICE_ERR_NONE;
}

/* COPY_FROM_VRAM through vfio_dma_rw(write): no pins at all. */
static u32 vslice_step_from_vram_rw(struct vslice_dev *vd,
				    const struct vslice_op *op, u64 done,
				    u64 *stepped)
{
	struct vslice_engine *eng = &vd->engine;
	u64 n = min_t(u64, op->len - done, VSLICE_ENGINE_COPY_STEP);
	int ret;

	ret = vslice_vram_rw(&vd->vram, op->vram_off + done, eng->bounce, n,
			     false);
	if (ret)
		return ret == -EINVAL ? VSLICE_ERR_VRAM_RANGE : VSLICE_ERR_HOST;

	ret = -EFAULT;
	if (unlikely(vslice_fault_skip_dirty())) {
		vslice_dma_lock(eng);
		if (!eng->dma_revoked)
			ret = vslice_stale_write(vd, op->iova + done, 0,
						 eng->bounce, n);
		mutex_unlock(&eng->dma_lock);
		if (ret)
			return VSLICE_ERR_DMA;
		*stepped = n;
		return VSLICE_ERR_NONE;
	}
	if (!READ_ONCE(eng->dma_revoked))
		ret = vfio_dma_rw(&vd->vdev, op->iova + done, eng->bounce, n,
				  true);
	if (ret)
		return VSLICE_ERR_DMA;
	vslice_dirty_mark(vd, op->iova + done, n);
	*stepped = n;
	return VSLICE_ERR_NONE;
}

/*
 * COPY_FROM_VRAM into pinned pages: pin the destination pages of this step
 * in one call, copy VRAM straight into them, unpin.  All under dma_lock,
 * so dma_unmap never returns while a page of its range is pinned.
 */
static u32 vslice_step_from_vram_pin(struct vslice_dev *vd,
				     const struct vslice_op *op, u64 done,
				     u64 *stepped)
{
	struct vslice_engine *eng = &vd->engine;
	u64 iova = op->iova + done;
	u64 vram_off = op->vram_off + done;
	size_t pgoff = offset_in_page(iova);
	dma_addr_t first = iova - pgoff;
	size_t n, copied = 0;
	int npage, ret, i;
	u32 err = VSLICE_ERR_NONE;

	n = min_t(u64, op->len - done,
		  VSLICE_ENGINE_PIN_BATCH * PAGE_SIZE - pgoff);
	npage = DIV_ROUND_UP(pgoff + n, PAGE_SIZE);

	vslice_dma_lock(eng);
	if (eng->dma_revoked) {
		err = VSLICE_ERR_DMA;
		goto out_unlock;
	}
	if (unlikely(vslice_fault_skip_dirty())) {
		ret = vslice_stale_write(vd, iova, vram_off, NULL, n);
		if (ret)
			err = ret == -EINVAL ? VSLICE_ERR_VRAM_RANGE :
					       VSLICE_ERR_DMA;
		goto out_unlock;
	}
	ret = vfio_pin_pages(&vd->vdev, first, npage, IOMMU_READ | IOMMU_WRITE,
			     eng->pages);
	if (ret != npage) {
		/* Type1 pins all or nothing; be strict with anything else. */
		if (ret > 0)
			vfio_unpin_pages(&vd->vdev, first, ret);
		err = VSLICE_ERR_DMA;
		goto out_unlock;
	}
	atomic_add(npage, &eng->pinned);
	trace_vslice_pin(vd->vdev.dev, first, npage, true);

	for (i = 0; i < npage && !err; i++) {
		size_t seg = min_t(size_t, n - copied, PAGE_SIZE - pgoff);
		void *kaddr = kmap_local_page(eng->pages[i]);

		ret = vslice_vram_rw(&vd->vram, vram_off + copied,
				     kaddr + pgoff, seg, false);
		kunmap_local(kaddr);
		flush_dcache_page(eng->pages[i]);
		if (ret)
			err = ret == -EINVAL ? VSLICE_ERR_VRAM_RANGE :
					       VSLICE_ERR_HOST;
		copied += seg;
		pgoff = 0;
	}

	vfio_unpin_pages(&vd->vdev, first, npage);
	atomic_sub(npage, &eng->pinned);
	trace_vslice_pin(vd->vdev.dev, first, npage, false);
	if (!err)
		vslice_dirty_mark(vd, iova, n);
out_unlock:
	mutex_unlock(&eng->dma_lock);
	if (!err)
		*stepped = n;
	return err;
}

static u32 vslice_step_fence(struct vslice_dev *vd, const struct vslice_op *op)
{
	struct vslice_engine *eng = &vd->engine;
	__le64 val = cpu_to_le64(op->len);
	int ret = -EFAULT;

	if (unlikely(vslice_fault_skip_dirty())) {
		vslice_dma_lock(eng);
		if (!eng->dma_revoked)
			ret = vslice_stale_write(vd, op->iova, 0, &val,
						 sizeof(val));
		mutex_unlock(&eng->dma_lock);
		return ret ? VSLICE_ERR_DMA : VSLICE_ERR_NONE;
	}
	if (!READ_ONCE(eng->dma_revoked))
		ret = vfio_dma_rw(&vd->vdev, op->iova, &val, sizeof(val), true);
	if (ret)
		return VSLICE_ERR_DMA;
	vslice_dirty_mark(vd, op->iova, sizeof(val));
	return VSLICE_ERR_NONE;
}

/*
 * Run one step of @op with @done bytes already done.  *@stepped is set to
 * the bytes this step did (0 for NOP/FENCE).  Returns VSLICE_ERR_*.
 */
static u32 vslice_engine_step(struct vslice_dev *vd, const struct vslice_op *op,
			      u64 done, u64 *stepped)
{
	*stepped = 0;
	switch (op->opcode) {
	case VSLICE_CMD_FILL:
		if (!op->len)
			return VSLICE_ERR_NONE;
		return vslice_step_fill(vd, op, done, stepped);
	case VSLICE_CMD_COPY_TO_VRAM:
		if (!op->len)
			return VSLICE_ERR_NONE;
		return vslice_step_to_vram(vd, op, done, stepped);
	case VSLICE_CMD_COPY_FROM_VRAM:
		if (!op->len)
			return VSLICE_ERR_NONE;
		if (READ_ONCE(copy_pin))
			return vslice_step_from_vram_pin(vd, op, done, stepped);
		return vslice_step_from_vram_rw(vd, op, done, stepped);
	case VSLICE_CMD_FENCE:
		return vslice_step_fence(vd, op);
	default:
		return VSLICE_ERR_NONE;
	}
}

/*
 * Under dev_lock: publish a finished step.  Dropped if the ring moved under
 * the step (guest disabled the engine, reprogrammed the ring, or a reset):
 * the command then restarts from its last published checkpoint.
 */
static void vslice_engine_publish(struct vslice_dev *vd,
				  const struct vslice_ring_snap *s,
				  const struct vslice_op *op, u64 done, u32 err)
{
	struct vslice_engine *eng = &vd->engine;
	struct vslice_regs *r = &vd->hw.regs;

	lockdep_assert_held(&vd->dev_lock);
	if (!vslice_snap_current(vd, s))
		return;
	if (err) {
		trace_vslice_engine_cmd(vd->vdev.dev, s->head, op->opcode,
					op->len, err);
		vslice_engine_halt(vd, err, s->head);
		return;
	}
	if (done < vslice_op_total(op)) {
		eng->progress = done;
		return;
	}

	trace_vslice_engine_cmd(vd->vdev.dev, s->head, op->opcode, op->len, 0);
	if (READ_ONCE(eng->throttle))
		atomic64_inc(&eng->throttled_cmds);
	eng->progress = 0;
	r->ring_head = (s->head + 1) & (s->size - 1);
	r->cmd_count++;
	if (op->opcode == VSLICE_CMD_FENCE) {
		r->fence = op->len;
		vslice_irq_raise(vd, VSLICE_IRQ_FENCE);
	}
}

/*
 * The throttle: if a command step may not start now, wait until it may
 * (or the throttle changes, or the engine is quiesced) and return true,
 * so that the caller checks the ring state again.  No lock held.
 */
static bool vslice_engine_throttle_wait(struct vslice_dev *vd)
{
	struct vslice_engine *eng = &vd->engine;
	u32 pct = READ_ONCE(eng->throttle);
	u64 now, phase, closed;

	if (!pct)
		return false;
	now = ktime_get_ns();
	div64_u64_rem(now, VSLICE_THROTTLE_PERIOD_NS, &phase);
	closed = div_u64(VSLICE_THROTTLE_PERIOD_NS * pct, 100);
	if (phase >= closed)
		return false;
	wait_event_hrtimeout(eng->throttle_wq,
			     READ_ONCE(eng->throttle) != pct ||
			     READ_ONCE(eng->quiesced),
			     ns_to_ktime(closed - phase));
	atomic64_add(ktime_get_ns() - now, &eng->throttled_ns);
	return true;
}

static void vslice_engine_work(struct work_struct *work)
{
	struct vslice_engine *eng = container_of(work, struct vslice_engine,
						 work);
	struct vslice_dev *vd = engine_to_vslice(eng);
	struct vslice_ring_snap cur = {}, snap;
	struct mem_cgroup *old_memcg;
	struct vslice_op op = {};
	bool fetched = false;

	/* VRAM pages a step allocates belong to the device's opener. */
	old_memcg = set_active_memcg(eng->memcg);

	for (;;) {
		u64 done, stepped;
		u32 err;

		mutex_lock(&vd->dev_lock);
		if (!vslice_engine_next(vd, &snap)) {
			mutex_unlock(&vd->dev_lock);
			break;
		}
		mutex_unlock(&vd->dev_lock);

		if (vslice_engine_throttle_wait(vd))
			continue;

		/* Re-read the entry whenever the ring position moved. */
		if (!fetched || snap.epoch != cur.epoch ||
		    snap.base != cur.base || snap.size != cur.size ||
		    snap.head != cur.head) {
			cur = snap;
			err = vslice_engine_fetch(vd, &snap, &op);
			fetched = !err;
			if (err) {
				mutex_lock(&vd->dev_lock);
				vslice_engine_publish(vd, &snap, &op, 0, err);
				mutex_unlock(&vd->dev_lock);
				continue;
			}
			snap.progress = vslice_progress_sane(&op,
							     snap.progress);
		}

		done = snap.progress;
		err = vslice_engine_step(vd, &op, done, &stepped);

		mutex_lock(&vd->dev_lock);
		vslice_engine_publish(vd, &snap, &op, done + stepped, err);
		mutex_unlock(&vd->dev_lock);

		cond_resched();
	}
	set_active_memcg(old_memcg);
}

/**
 * vslice_engine_init() - set up the engine of a new instance
 * @vd:		the instance
 *
 * Return: 0 or -ENOMEM.
 */
int vslice_engine_init(struct vslice_dev *vd)
{
	struct vslice_engine *eng = &vd->engine;

	INIT_WORK(&eng->work, vslice_engine_work);
	mutex_init(&eng->dma_lock);
	eng->quiesced = false;
	eng->progress = 0;
	eng->epoch = 0;
	atomic_set(&eng->pinned, 0);
	atomic_set(&eng->unmap_waiters, 0);
	init_waitqueue_head(&eng->unmap_wq);
	xa_init(&eng->stale);
	eng->throttle = 0;
	init_waitqueue_head(&eng->throttle_wq);
	atomic64_set(&eng->throttled_ns, 0);
	atomic64_set(&eng->throttled_cmds, 0);
	eng->dma_start = 0;
	eng->dma_end = 0;
	eng->dma_revoked = false;
	eng->memcg = NULL;
	eng->bounce = kvmalloc(VSLICE_ENGINE_COPY_STEP, GFP_KERNEL_ACCOUNT);
	if (!eng->bounce) {
		mutex_destroy(&eng->dma_lock);
		return -ENOMEM;
	}
	return 0;
}

/**
 * vslice_engine_fini() - tear down the engine of an instance
 * @vd:		the instance, already closed (no kick can arrive)
 */
void vslice_engine_fini(struct vslice_dev *vd)
{
	struct vslice_engine *eng = &vd->engine;

	cancel_work_sync(&eng->work);
	WARN_ON(atomic_read(&eng->pinned));
	vslice_stale_drop(eng, 0, ULONG_MAX);
	xa_destroy(&eng->stale);
	mutex_destroy(&eng->dma_lock);
	kvfree(eng->bounce);
	eng->bounce = NULL;
	vslice_engine_set_owner(vd, NULL);
}

/**
 * vslice_engine_kick() - the guest may have made work for the engine
 * @vd:		the instance
 *
 * Called after a DOORBELL, CONTROL or RING_TAIL write, without dev_lock.
 * Sets STATUS.BUSY at once when there are commands to run, so a guest that
 * reads STATUS right after ringing the doorbell sees them pending.
 */
void vslice_engine_kick(struct vslice_dev *vd)
{
	struct vslice_regs *r = &vd->hw.regs;

	mutex_lock(&vd->dev_lock);
	if (!vd->engine.quiesced && (r->control & VSLICE_CTRL_ENABLE) &&
	    !(r->status & VSLICE_STATUS_HALTED) && r->ring_head != r->ring_tail)
		r->status |= VSLICE_STATUS_BUSY;
	mutex_unlock(&vd->dev_lock);
	queue_work(vslice_unbound_wq, &vd->engine.work);
}

/**
 * vslice_engine_control_write() - engine side effects of a CONTROL write
 * @vd:		the instance
 * @val:	the value written, already stored in regs.control
 *
 * Called by mmio.c with dev_lock held.  Clearing ENABLE aborts the command
 * in flight (it restarts from its beginning when ENABLE is set again) and
 * clears STATUS.HALTED, ERROR and ERROR_HEAD: this is how a guest recovers
 * from a halt without a device reset.
 */
void vslice_engine_control_write(struct vslice_dev *vd, u32 val)
{
	struct vslice_regs *r = &vd->hw.regs;

	lockdep_assert_held(&vd->dev_lock);
	if (val & VSLICE_CTRL_ENABLE)
		return;
	r->status &= ~(VSLICE_STATUS_HALTED | VSLICE_STATUS_BUSY);
	r->error = VSLICE_ERR_NONE;
	r->error_head = 0;
	vd->engine.progress = 0;
	vd->engine.epoch++;
}

/**
 * vslice_engine_quiesce() - stop the engine at a step boundary
 * @vd:		the instance
 *
 * On return no step is running and none will start until
 * vslice_engine_resume(); the command in flight, if any, is checkpointed
 * in RING_HEAD and engine.progress.  Must be called without dev_lock.
 */
void vslice_engine_quiesce(struct vslice_dev *vd)
{
	mutex_lock(&vd->dev_lock);
	WRITE_ONCE(vd->engine.quiesced, true);
	mutex_unlock(&vd->dev_lock);
	/* a worker held back by the throttle stops waiting */
	wake_up_all(&vd->engine.throttle_wq);
	cancel_work_sync(&vd->engine.work);
}

/**
 * vslice_engine_resume() - let a quiesced engine run again
 * @vd:		the instance
 *
 * Continues with the entry at RING_HEAD from engine.progress, which may
 * have been loaded from a migration stream.  Must be called without
 * dev_lock.
 */
void vslice_engine_resume(struct vslice_dev *vd)
{
	mutex_lock(&vd->dev_lock);
	WRITE_ONCE(vd->engine.quiesced, false);
	mutex_unlock(&vd->dev_lock);
	queue_work(vslice_unbound_wq, &vd->engine.work);
}

/**
 * vslice_engine_reset() - stop the engine and forget the command in flight
 * @vd:		the instance
 *
 * For VFIO_DEVICE_RESET, open/close and a migration destination: waits
 * for the worker, drops the checkpoint and disables the engine
 * (CONTROL.ENABLE and the engine's STATUS and ERROR registers cleared), so
 * nothing runs with the old ring whatever order the registers are reset
 * in.  The engine is left quiesced: the caller calls vslice_engine_resume()
 * once the device is RUNNING again.  Must be called without dev_lock.
 */
void vslice_engine_reset(struct vslice_dev *vd)
{
	struct vslice_engine *eng = &vd->engine;
	struct vslice_regs *r = &vd->hw.regs;

	vslice_engine_quiesce(vd);

	mutex_lock(&vd->dev_lock);
	r->control &= ~VSLICE_CTRL_ENABLE;
	r->status &= ~(VSLICE_STATUS_HALTED | VSLICE_STATUS_BUSY);
	r->error = VSLICE_ERR_NONE;
	r->error_head = 0;
	eng->progress = 0;
	eng->epoch++;
	mutex_unlock(&vd->dev_lock);

	mutex_lock(&eng->dma_lock);
	vslice_stale_drop(eng, 0, ULONG_MAX);
	mutex_unlock(&eng->dma_lock);
	WARN_ON(atomic_read(&eng->pinned));
}

/**
 * vslice_engine_dma_unmap() - guest memory is going away
 * @vd:		the instance
 * @iova:	start of the range
 * @length:	bytes
 *
 * Called from the vfio_device_ops dma_unmap callback (type1 holds
 * device_list_lock, not iommu->lock).  Waits for a guest memory access in
 * flight, which unpins whatever it pinned, and revokes the range for the
 * command being executed: its next access fails with VSLICE_ERR_DMA
 * instead of pinning the dying mapping again.
 */
void vslice_engine_dma_unmap(struct vslice_dev *vd, u64 iova, u64 length)
{
	struct vslice_engine *eng = &vd->engine;
	u64 end;

	if (!length)
		return;
	if (check_add_overflow(iova, length, &end))
		end = U64_MAX;

	atomic_inc(&eng->unmap_waiters);
	mutex_lock(&eng->dma_lock);
	if (eng->dma_start < end && iova < eng->dma_end)
		WRITE_ONCE(eng->dma_revoked, true);
	vslice_stale_drop(eng, iova >> PAGE_SHIFT, (end - 1) >> PAGE_SHIFT);
	mutex_unlock(&eng->dma_lock);
	if (atomic_dec_and_test(&eng->unmap_waiters))
		wake_up_all(&eng->unmap_wq);
}

/**
 * vslice_engine_set_owner() - whose memory the engine allocates
 * @vd:		the instance, its engine quiesced (no worker running)
 * @memcg:	the opener's memory cgroup, with a reference the engine now
 *		owns, or NULL
 *
 * The worker runs in a kernel thread; without this the VRAM pages a
 * FILL or COPY_TO_VRAM allocates would be charged to that thread (the
 * root cgroup) rather than to the tenant (QEMU) that opened the device.
 * The reference of the previous owner is dropped.
 */
void vslice_engine_set_owner(struct vslice_dev *vd, struct mem_cgroup *memcg)
{
	struct mem_cgroup *old = vd->engine.memcg;

	vd->engine.memcg = memcg;
	mem_cgroup_put(old);
}

/**
 * vslice_engine_progress() - the checkpoint of the command at RING_HEAD
 * @vd:		the instance, dev_lock held, engine quiesced
 *
 * Return: bytes of that command already done (for the migration stream).
 */
u64 vslice_engine_progress(struct vslice_dev *vd)
{
	lockdep_assert_held(&vd->dev_lock);
	return vd->engine.progress;
}

/**
 * vslice_engine_set_progress() - load a checkpoint from a migration stream
 * @vd:		the instance, dev_lock held, engine quiesced
 * @progress:	bytes of the command at RING_HEAD already done; the engine
 *		restarts a command whose checkpoint does not fit it
 */
void vslice_engine_set_progress(struct vslice_dev *vd, u64 progress)
{
	lockdep_assert_held(&vd->dev_lock);
	vd->engine.progress = progress;
}

/**
 * vslice_engine_set_throttle() - throttle the engine, or release it
 * @vd:		the instance
 * @pct:	percent of each throttle period in which no command step
 *		starts, 0 (no throttle) to VSLICE_THROTTLE_MAX_PCT
 *
 * For the migration core's convergence rule.  Takes effect at the
 * worker's next step; a worker held back is woken at once, so a release
 * lets commands run without delay.  Any context that may sleep is fine:
 * no lock is taken.
 */
void vslice_engine_set_throttle(struct vslice_dev *vd, u32 pct)
{
	struct vslice_engine *eng = &vd->engine;

	pct = min_t(u32, pct, VSLICE_THROTTLE_MAX_PCT);
	if (READ_ONCE(eng->throttle) == pct)
		return;
	WRITE_ONCE(eng->throttle, pct);
	wake_up_all(&eng->throttle_wq);
}
