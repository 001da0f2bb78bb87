/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vslice: the command engine (engine.c).  It consumes the guest's ring of
 * struct vslice_cmd entries and DMAs between guest memory and VRAM.
 *
 * Calling rules for the rest of the module:
 *  - vslice_engine_kick() after dropping dev_lock (DOORBELL, CONTROL,
 *    RING_TAIL writes); vslice_engine_control_write() with dev_lock held.
 *  - vslice_engine_quiesce(), _resume(), _reset() and _fini() wait for the
 *    worker: call them without dev_lock (state_mutex may be held).
 *  - vslice_engine_dma_unmap() from the vfio_device_ops dma_unmap callback.
 *  - The device must stay open while the engine can run: close_device()
 *    calls vslice_engine_reset() (vfio_pin_pages() WARNs on a closed device).
 */
#ifndef _VSLICE_ENGINE_H
#define _VSLICE_ENGINE_H

#include <linux/atomic.h>
#include <linux/time64.h>
#include <linux/mm_types.h>
#include <linux/mutex.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>

struct mem_cgroup;
struct vslice_dev;

/* Guest pages COPY_FROM_VRAM pins per step (one vfio_pin_pages() call). */
#define VSLICE_ENGINE_PIN_BATCH	16

/**
 * struct vslice_engine - engine state beyond the BAR0 registers
 * @work:	the worker that runs commands (unbound: vslice_unbound_wq)
 * @dma_lock:	held around every pinned guest memory access (pin..unpin,
 *		skip_dirty fault references); dma_unmap takes it to wait out
 *		such an access in flight.  Its place in the lock order is in
 *		vslice.h: never held together with dev_lock.
 * @quiesced:	no command step starts while set (FSM); under dev_lock
 * @progress:	bytes of the command at ring_head already done (checkpoint,
 *		carried in the migration stream); under dev_lock
 * @epoch:	bumped (under dev_lock) when the guest disables the engine or
 *		the device is reset; a step begun in an older epoch is dropped
 * @pinned:	pages currently pinned by the engine (must drop to 0)
 * @unmap_waiters: dma_unmap callbacks waiting for @dma_lock; the worker
 *		lets them in before it takes @dma_lock again
 * @unmap_wq:	the worker waits here while @unmap_waiters is nonzero
 * @dma_start:	guest range [@dma_start, @dma_end) of the command being
 *		executed; under dma_lock
 * @dma_end:	see @dma_start
 * @dma_revoked: part of that range was unmapped since the command was
 *		fetched: its next access fails with VSLICE_ERR_DMA; written
 *		under dma_lock, read locklessly by vfio_dma_rw() accesses
 * @bounce:	worker-private bounce buffer for vfio_dma_rw() copies
 * @pages:	worker-private page array for vfio_pin_pages()
 * @memcg:	memory cgroup of the process that opened the device, or
 *		NULL: the worker allocates VRAM pages on its behalf
 *		(set_active_memcg()).  Changed only while quiesced
 *		(vslice_engine_set_owner()).
 * @stale:	skip_dirty fault only: guest pages written without pinning,
 *		by page index; under dma_lock
 * @throttle:	percent of each throttle period in which no command step
 *		starts (0: the engine is not throttled).  Set by the
 *		migration core's convergence rule through
 *		vslice_engine_set_throttle(); read locklessly by the worker.
 * @throttle_wq: the worker waits here while the throttle holds it back;
 *		woken when the throttle changes or the engine is quiesced
 * @throttled_ns: total time the worker held commands back (debugfs)
 * @throttled_cmds: commands completed while the throttle was on (debugfs)
 */
struct vslice_engine {
	struct work_struct work;
	struct mutex dma_lock;	/* pinned accesses vs dma_unmap */
	bool quiesced;
	u64 progress;
	u32 epoch;
	atomic_t pinned;
	atomic_t unmap_waiters;
	wait_queue_head_t unmap_wq;
	u64 dma_start;
	u64 dma_end;
	bool dma_revoked;
	void *bounce;
	struct page *pages[VSLICE_ENGINE_PIN_BATCH];
	struct mem_cgroup *memcg;
	struct xarray stale;	/* skip_dirty fault only, under dma_lock */
	u32 throttle;
	wait_queue_head_t throttle_wq;
	atomic64_t throttled_ns;
	atomic64_t throttled_cmds;
};

/*
 * The throttle period: with the throttle at p percent, the first p % of
 * every period starts no command step.  Short enough that a fence is late
 * by at most a few milliseconds, long enough for hrtimer sleeps to be
 * exact under emulation.
 */
#define VSLICE_THROTTLE_PERIOD_NS	(10 * NSEC_PER_MSEC)
#define VSLICE_THROTTLE_MAX_PCT		99

int vslice_engine_init(struct vslice_dev *vd);
void vslice_engine_fini(struct vslice_dev *vd);
void vslice_engine_kick(struct vslice_dev *vd);
void vslice_engine_control_write(struct vslice_dev *vd, u32 val);
void vslice_engine_quiesce(struct vslice_dev *vd);
void vslice_engine_resume(struct vslice_dev *vd);
void vslice_engine_reset(struct vslice_dev *vd);
void vslice_engine_dma_unmap(struct vslice_dev *vd, u64 iova, u64 length);
void vslice_engine_set_owner(struct vslice_dev *vd, struct mem_cgroup *memcg);
u64 vslice_engine_progress(struct vslice_dev *vd);
void vslice_engine_set_progress(struct vslice_dev *vd, u64 progress);
void vslice_engine_set_throttle(struct vslice_dev *vd, u32 pct);

#endif /* _VSLICE_ENGINE_H */
