// SPDX-License-Identifier: GPL-2.0
/*
 * vslice: the migration core.  One state machine and one stream serve both
 * protocols: the VFIO v2 ops below, and the v1 region (compat_v1/) through
 * vslice_mig_goto(), vslice_mig_pending(), vslice_mig_save_read() and
 * vslice_mig_resume_write().
 *
 * States are the v2 ones (enum vslice_mig_state mirrors their numbers, so
 * that PRE_COPY exists even on 6.1 whose uAPI lacks it; the v1 shim offers
 * pre-copy there).  Every state change walks single arcs through
 * vslice_mig_step(), whose table is the whole list of arcs we implement:
 *
 *   RUNNING      -> RUNNING_P2P   quiesce the engine
 *   RUNNING_P2P  -> RUNNING       resume the engine
 *   RUNNING_P2P  <-> STOP         nothing (already quiet)
 *   STOP         -> STOP_COPY     new save channel: header, VRAM, HW, END
 *   STOP_COPY    -> STOP          drop the save channel
 *   STOP         -> RESUMING      reset the device, new resume channel
 *   RESUMING     -> STOP          the stream must be complete; drop channel
 *   RUNNING      -> PRE_COPY      new save channel: header, then VRAM passes
 *   RUNNING_P2P  -> PRE_COPY_P2P  same, engine already quiet
 *   PRE_COPY     <-> PRE_COPY_P2P quiesce / resume the engine
 *   PRE_COPY     -> RUNNING       drop the save channel
 *   PRE_COPY_P2P -> RUNNING_P2P   drop the save channel
 *   PRE_COPY_P2P -> STOP_COPY     same channel switches to stop-copy
 *
 * A channel (struct vslice_data_file) always lives in an anon-inode file.
 * v2 hands the file to userspace as the data fd; v1 keeps it private and
 * calls the same read/write code with kernel or user buffers.
 *
 * Locking (see also vslice.h): state_mutex serializes state changes and
 * channel creation/teardown.  Each channel has its own lock, taken by the
 * data path (read/write) without state_mutex, one page at a time (a long
 * read or write drops it between pages and stops there for a fatal
 * signal), and by teardown inside state_mutex (the global order is in
 * vslice.h).  Nothing copies to or
 * from user memory while holding state_mutex, so VFIO_DEVICE_RESET simply
 * takes it (vslice_mig_reset()).
 */

#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/kstrtox.h>
#include <linux/ktime.h>
#include <linux/math64.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/sched/signal.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/sysfs.h>
#include <linux/uio.h>
#include <linux/vmalloc.h>

#include "fault.h"
#include "vslice.h"

#define CREATE_TRACE_POINTS
#include "trace.h"

/* Bytes a HW section adds to a stream of minor version @minor. */
#define VSLICE_HW_UNIT(minor)	(sizeof(struct vslice_stream_sec) + \
				 vslice_stream_hw_len(minor))
#define VSLICE_RUN_OVERHEAD	(sizeof(struct vslice_stream_sec) + \
				 sizeof(struct vslice_stream_vram))

enum vslice_save_mode {
	VSLICE_SAVE_PRECOPY,
	VSLICE_SAVE_STOPCOPY,
};

/**
 * struct vslice_data_file - a save or resume channel
 * @filp:	the anon-inode file carrying it
 * @vd:		the instance
 * @lock:	protects every field below
 * @disabled:	torn down by the FSM; the data path returns -ENODEV
 * @saving:	save channel (else resume)
 * @mode:	save: pre-copy or stop-copy
 * @hdr_done:	save: stream header produced
 * @hw_done:	save: HW section produced
 * @end_done:	save: END produced
 * @enc:	save: encoder
 * @buf:	save: the unit being read out (for a stop-copy VRAM section
 *		only its headers: the pages follow from @run); resume: the
 *		loader's buffer (VRAM pages skip it: they land in the stage)
 * @buf_len:	save: bytes in @buf
 * @buf_pos:	save: bytes of @buf already read
 * @run:	save: stop-copy VRAM pages following @buf, referenced (NULL:
 *		a page never allocated, sent as zeros)
 * @run_count:	save: entries of @run
 * @run_pos:	save: bytes of @run's pages already read
 * @scan_from:	save: where the next dirty-page scan starts
 * @wrapped:	save: the scan went back to page 0 since the last read was
 *		accounted: a pre-copy pass (one sweep over VRAM) ended
 * @initial_left: save: pre-copy initial bytes not yet read
 * @plane:	save: the active scanout plane as the last PRECOPY_INFO saw
 *		it (see vslice_precopy_reinit())
 * @loader:	resume: the stream parser
 * @hw:		resume: the HW section, applied when RESUMING ends with a
 *		stream valid up to END
 * @hw_plane:	resume: the scanout plane that came with it (1.1+)
 * @has_plane:	resume: @hw_plane is valid (else a 1.0 stream: no plane)
 * @total:	bytes moved through this channel
 */
struct vslice_data_file {
	struct file *filp;
	struct vslice_dev *vd;
	struct mutex lock;	/* everything below */
	bool disabled;
	bool saving;
	enum vslice_save_mode mode;
	bool hdr_done;
	bool hw_done;
	bool end_done;
	struct vslice_enc enc;
	u8 *buf;
	size_t buf_len;
	size_t buf_pos;
	struct page *run[VSLICE_STREAM_MAX_RUN];
	unsigned int run_count;
	size_t run_pos;
	unsigned long scan_from;
	bool wrapped;
	u64 initial_left;
	struct vslice_plane plane;
	struct vslice_loader loader;
	struct vslice_stream_hw hw;
	struct vslice_stream_plane hw_plane;
	bool has_plane;
	u64 total;
};

/* ------------------------------------------------------------------ */
/* save side                                                           */
/* ------------------------------------------------------------------ */

/* Bytes of the current stop-copy run's pages not read yet. */
static size_t vslice_save_run_left(const struct vslice_data_file *f)
{
	return ((size_t)f->run_count << PAGE_SHIFT) - f->run_pos;
}

static void vslice_save_put_run(struct vslice_data_file *f)
{
	vslice_vram_put_run(f->run, f->run_count);
	f->run_count = 0;
	f->run_pos = 0;
}

/*
 * Frame the next run of dirty VRAM pages: 0 or -ENOENT.  The run is
 * taken under one hold of the VRAM lock, by reference (vslice_vram_take_run()),
 * and read after the lock is dropped.
 */
static int vslice_save_vram_run(struct vslice_data_file *f)
{
	const void *addr[VSLICE_STREAM_MAX_RUN];
	struct vslice_dev *vd = f->vd;
	u8 *sec = f->buf;
	unsigned int n, i;
	long first;

	first = vslice_vram_take_run(vd, f->scan_from, VSLICE_STREAM_MAX_RUN,
				     f->run, &n);
	if (first == -ENOENT && f->scan_from) {
		/* wrap: pages before the cursor got dirty again */
		first = vslice_vram_take_run(vd, 0, VSLICE_STREAM_MAX_RUN,
					     f->run, &n);
		f->wrapped = first >= 0;
	}
	if (first < 0)
		return first;
	f->scan_from = first + n;

	if (f->mode == VSLICE_SAVE_PRECOPY) {
		/*
		 * The guest and the engine may still write these pages.  Read
		 * twice - once for the CRC, once for the copy to the reader -
		 * a page could change in between and the destination would
		 * reject a good stream.  So pre-copy snapshots the run into
		 * the section buffer (one read of each page) and sends that:
		 * CRC and reader see the same bytes.  A write racing with the
		 * snapshot is not lost: take_run zapped the PTEs and cleared
		 * the dirty bits first, so the write marks the page dirty
		 * again and a later pass sends it once more.
		 */
		for (i = 0; i < n; i++) {
			u8 *dst = (u8 *)vslice_sec_pages(sec) + i * PAGE_SIZE;

			if (f->run[i])
				memcpy_from_page(dst, f->run[i], 0, PAGE_SIZE);
			else
				memset(dst, 0, PAGE_SIZE);
		}
		vslice_vram_put_run(f->run, n);
		f->buf_len = vslice_enc_vram(&f->enc, sec, first, n);
		return f->buf_len ? 0 : -EINVAL;
	}

	/*
	 * Stop-copy: the device is stopped and the VM with it, so the pages
	 * hold still (a user who writes BAR2 now corrupts only its own
	 * stream, which the destination's checksums reject).  CRC the run
	 * straight from VRAM, then vslice_save_read() copies each page once,
	 * still cache-hot, to the reader.  VRAM pages are lowmem (GFP_KERNEL,
	 * vram.c), so page_address() is their mapping.
	 */
	for (i = 0; i < n; i++)
		addr[i] = page_address(f->run[i] ?: ZERO_PAGE(0));
	f->run_count = n;
	f->run_pos = 0;
	if (!vslice_enc_vram_pages(&f->enc, sec, first, n, addr)) {
		vslice_save_put_run(f);
		return -EINVAL;
	}
	f->buf_len = VSLICE_RUN_OVERHEAD;
	return 0;
}

/*
 * Produce the next stream unit into f->buf.  Returns 0, -ENOMSG when
 * pre-copy has nothing more for now, -ENODATA at the end of the stream,
 * or another negative errno.
 */
static int vslice_save_fill(struct vslice_data_file *f)
{
	struct vslice_dev *vd = f->vd;
	int ret;

	lockdep_assert_held(&f->lock);
	f->buf_pos = 0;
	f->buf_len = 0;

	if (!f->hdr_done) {
		f->buf_len = vslice_enc_hdr(&f->enc, f->buf, vd->type->id,
					    vd->vram.size,
					    VSLICE_STREAM_F_WRITTEN);
		f->hdr_done = true;
		return 0;
	}

	ret = vslice_save_vram_run(f);
	if (ret != -ENOENT)
		return ret;
	if (f->mode == VSLICE_SAVE_PRECOPY)
		return -ENOMSG;

	if (!f->hw_done) {
		ret = vslice_hw_save(vd, vslice_sec_payload(f->buf),
				     f->enc.minor >= 1 ?
				     vslice_sec_plane(f->buf) : NULL);
		if (ret)
			return ret;
		f->buf_len = vslice_enc_hw(&f->enc, f->buf);
		f->hw_done = true;
		return 0;
	}
	if (!f->end_done) {
		f->buf_len = vslice_enc_end(&f->enc, f->buf);
		f->end_done = true;
		return 0;
	}
	return -ENODATA;
}

static u64 vslice_save_pending(struct vslice_data_file *f, bool stopcopy);

/*
 * The convergence rule at the end of a pre-copy pass, st->lock held: the
 * new throttle percent.  A pass is slow when the pages dirtied during it
 * exceed VSLICE_THROTTLE_TRIGGER percent of the pages it read; the
 * throttle engages after VSLICE_THROTTLE_SLOW_PASSES slow passes in a row
 * and grows by VSLICE_THROTTLE_STEP with each further one, up to the
 * instance's maximum.  A pass that keeps up resets the count but keeps the
 * throttle (as QEMU keeps its vCPU throttle): what made the pass fast may
 * be the throttle itself.  The policy is read here, so a change made while
 * a save runs applies from the next pass on ("off" releases the throttle).
 */
static u32 vslice_throttle_rule(struct vslice_dev *vd,
				struct vslice_mig_stats *st)
{
	bool slow = st->last_pass_dirtied * 100 >
		    st->last_pass_read * VSLICE_THROTTLE_TRIGGER;
	u32 max = READ_ONCE(vd->mig.throttle_max);
	u32 pct = st->throttle;

	lockdep_assert_held(&st->lock);
	st->slow_passes = slow ? st->slow_passes + 1 : 0;
	if (!READ_ONCE(vd->mig.throttle_auto))
		return 0;
	if (slow && st->slow_passes >= VSLICE_THROTTLE_SLOW_PASSES)
		pct = pct ? pct + VSLICE_THROTTLE_STEP : VSLICE_THROTTLE_INITIAL;
	return min(pct, max);
}

/*
 * Close the pre-copy pass in progress, st->lock held: its figures, then
 * the convergence rule.  Returns the pass's number.
 */
static u32 vslice_pass_close(struct vslice_dev *vd,
			     struct vslice_mig_stats *st, u64 dirtied, u64 now)
{
	u64 ns = now > st->pass_end ? now - st->pass_end : 1;
	u64 pages = st->pass_bytes >> PAGE_SHIFT;

	lockdep_assert_held(&st->lock);
	if (st->passes)
		st->dirty_rate = div64_u64(pages * NSEC_PER_SEC, ns);
	st->last_pass_dirtied = dirtied - st->pass_dirtied;
	st->last_pass_read = pages;
	st->dirtied_rate = div64_u64(st->last_pass_dirtied * NSEC_PER_SEC, ns);
	st->read_rate = div64_u64(pages * NSEC_PER_SEC, ns);
	st->pass_dirtied = dirtied;
	st->passes++;
	st->last_pass_pages = pages;
	st->pass_end = now;
	st->pass_bytes = 0;
	st->throttle = vslice_throttle_rule(vd, st);
	st->throttle_peak = max(st->throttle_peak, st->throttle);
	return st->passes;
}

/*
 * Count what a read moved, per mode, and close a pre-copy pass when the
 * dirty set ran dry (-ENOMSG) or the scan wrapped back to page 0 after
 * carrying something: a pass is one sweep over VRAM, and the pages it
 * carried were dirtied since the pass before, which gives the rate.  A
 * guest that dirties faster than the reader reads never lets the dirty set
 * run dry; its passes end at the wrap, or after VSLICE_PASS_MAX_NS when a
 * slow reader takes longer than that over one sweep (so the rule still
 * runs: QEMU's own throttle decides once per second as well).  The engine throttle changes here,
 * under the channel lock, so that teardown (which takes it) sees no
 * change after it.
 */
static void vslice_save_account(struct vslice_data_file *f, ssize_t done,
				int ret)
{
	struct vslice_dev *vd = f->vd;
	struct vslice_mig_stats *st = &vd->mig.stats;
	u64 now = 0, dirtied = 0, pages = 0, rate = 0, pending = 0;
	u64 pass_dirtied = 0, pass_read = 0;
	u32 passes = 0, old = 0, pct = 0;
	bool wrapped = f->wrapped, timed = false, tick = ret == -ETIME;

	lockdep_assert_held(&f->lock);
	f->wrapped = false;
	if (f->mode == VSLICE_SAVE_PRECOPY) {
		/* st->pass_end changes only under f->lock, which we hold */
		now = ktime_get_ns();
		timed = now - READ_ONCE(st->pass_end) >= VSLICE_PASS_MAX_NS;
		if (wrapped || timed || ret == -ENOMSG)
			dirtied = vslice_vram_dirtied(&vd->vram);
	}
	spin_lock(&st->lock);
	if (f->mode == VSLICE_SAVE_STOPCOPY) {
		st->stopcopy_bytes += done;
	} else {
		old = st->throttle;
		/* the unit framed after the wrap opens the next pass */
		if ((wrapped || timed) && (st->pass_bytes || tick))
			passes = vslice_pass_close(vd, st, dirtied, now);
		st->precopy_bytes += done;
		st->pass_bytes += done;
		if (ret == -ENOMSG && st->pass_bytes)
			passes = vslice_pass_close(vd, st, dirtied, now);
		pages = st->last_pass_pages;
		rate = st->dirty_rate;
		pct = st->throttle;
		pass_dirtied = st->last_pass_dirtied;
		pass_read = st->last_pass_read;
	}
	spin_unlock(&st->lock);
	if (!passes)
		return;
	if (pct != old) {
		vslice_engine_set_throttle(vd, pct);
		trace_vslice_throttle(vd->vdev.dev, passes, old, pct,
				      pass_dirtied, pass_read);
	}
	if (trace_vslice_precopy_pass_enabled()) {
		pending = vslice_save_pending(f, true);
		trace_vslice_precopy_pass(vd->vdev.dev, passes, pages, rate,
					  f->total, pending);
	}
}

/*
 * QEMU asked what is pending (v1 pending_bytes, v2 PRECOPY_INFO), f->lock
 * held: close a pre-copy pass that has lasted VSLICE_PASS_MAX_NS even if
 * nothing was read in it.  QEMU 7.2 reads no device data while its RAM
 * round is unfinished (qemu_savevm_state_iterate() stops at the first
 * handler not done), so a device whose DMA keeps guest RAM dirty would
 * otherwise never be read, and never throttled: measured in the fleet,
 * 240 s of pre-copy without a single vfio_save_buffer.
 */
static void vslice_save_tick(struct vslice_data_file *f)
{
	lockdep_assert_held(&f->lock);
	if (f->mode != VSLICE_SAVE_PRECOPY || f->disabled)
		return;
	if (ktime_get_ns() - READ_ONCE(f->vd->mig.stats.pass_end) <
	    VSLICE_PASS_MAX_NS)
		return;
	vslice_save_account(f, 0, -ETIME);
}

/*
 * Pre-copy ended (any arc out of it, reset, close): release the throttle
 * at once.  state_mutex held, and the save channel already switched to
 * stop-copy or disabled under its lock, so no pass can throttle again.
 */
static void vslice_throttle_release(struct vslice_dev *vd)
{
	struct vslice_mig_stats *st = &vd->mig.stats;
	u32 old, passes;

	lockdep_assert_held(&vd->state_mutex);
	spin_lock(&st->lock);
	old = st->throttle;
	passes = st->passes;
	st->throttle = 0;
	st->slow_passes = 0;
	spin_unlock(&st->lock);
	vslice_engine_set_throttle(vd, 0);
	if (old)
		trace_vslice_throttle(vd->vdev.dev, passes, old, 0, 0, 0);
}

/* Remember the stop-copy size just reported to userspace. */
static void vslice_stats_reported(struct vslice_dev *vd, u64 bytes)
{
	spin_lock(&vd->mig.stats.lock);
	vd->mig.stats.reported = bytes;
	spin_unlock(&vd->mig.stats.lock);
}

/*
 * One step of a read, f->lock held: copy at most one page's worth to the
 * reader (a page of a stop-copy run, or up to a page of the unit in
 * f->buf), or frame the next unit.  Returns the bytes copied; *ret gets 0,
 * or why the read ends.
 */
static size_t vslice_save_step(struct vslice_data_file *f,
			       struct iov_iter *to, int *ret)
{
	size_t n, c;

	lockdep_assert_held(&f->lock);
	*ret = 0;
	if (f->disabled) {
		*ret = -ENODEV;
		return 0;
	}
	if (f->buf_pos < f->buf_len) {
		n = min3(f->buf_len - f->buf_pos, iov_iter_count(to),
			 PAGE_SIZE);
		c = copy_to_iter(f->buf + f->buf_pos, n, to);
		f->buf_pos += c;
	} else if (vslice_save_run_left(f)) {
		struct page *page = f->run[f->run_pos >> PAGE_SHIFT];
		size_t off = offset_in_page(f->run_pos);

		/* the one copy of a stop-copy page */
		n = min(PAGE_SIZE - off, iov_iter_count(to));
		c = copy_page_to_iter(page ?: ZERO_PAGE(0), off, n, to);
		f->run_pos += c;
	} else {
		vslice_save_put_run(f);
		*ret = vslice_save_fill(f);
		return 0;
	}
	if (c != n)
		*ret = -EFAULT;
	return c;
}

/*
 * A read of any length holds the channel lock for one page at a time
 * (vslice_save_step()), so teardown, VFIO_DEVICE_RESET, PRECOPY_INFO and
 * debugfs wait for at most one page's copy, and a reader that is killed
 * stops between two pages.  Reads are therefore not atomic against each
 * other: two readers of one fd get interleaved pieces of the stream (no
 * VMM reads one fd from two threads).
 */
static ssize_t vslice_save_read(struct vslice_data_file *f,
				struct iov_iter *to)
{
	ssize_t done = 0;
	int ret = 0;

	while (iov_iter_count(to)) {
		size_t c;

		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		mutex_lock(&f->lock);
		c = vslice_save_step(f, to, &ret);
		if (c || ret) {
			f->total += c;
			f->initial_left -= min_t(u64, f->initial_left, c);
			/* a temporary end of stream: the first pass is over */
			if (ret == -ENOMSG)
				f->initial_left = 0;
			if (ret != -ENODEV)
				vslice_save_account(f, c, ret);
		}
		mutex_unlock(&f->lock);
		done += c;
		if (ret)
			break;
		cond_resched();
	}
	if (done)
		return done;
	return ret == -ENODATA ? 0 : ret;
}

/*
 * Bytes the save channel still has to deliver if it switched to stop-copy
 * now: what is framed but unread, the dirty pages with one run header per
 * page (the worst case: lone pages; contiguous ones share a header per 64),
 * HW and END.  An upper bound, exact when every dirty page is alone.
 */
static u64 vslice_save_pending(struct vslice_data_file *f, bool stopcopy)
{
	struct vslice_dev *vd = f->vd;
	unsigned long dirty = vslice_vram_dirty_count(&vd->vram);
	u64 bytes = f->buf_len - f->buf_pos + vslice_save_run_left(f);

	lockdep_assert_held(&f->lock);
	if (!f->hdr_done)
		bytes += VSLICE_STREAM_HDR_SIZE;
	bytes += (u64)dirty * (PAGE_SIZE + VSLICE_RUN_OVERHEAD);
	if (stopcopy) {
		if (!f->hw_done)
			bytes += VSLICE_HW_UNIT(f->enc.minor);
		if (!f->end_done)
			bytes += VSLICE_STREAM_END_SIZE;
	}
	return bytes;
}

/* ------------------------------------------------------------------ */
/* resume side                                                         */
/* ------------------------------------------------------------------ */

/*
 * The resume stream is received into staged pages (vram.c, "resume
 * staging") and installed only when RESUMING -> STOP finds it complete and
 * valid up to END (vslice_mig_finish_resume()).  Each VRAM page's bytes
 * are copied once, from the writer straight into its staged page
 * (vslice_ld_vram_dst()), and summed there while cache-hot by the
 * decoder; nothing the device shows changes before the commit.
 */
static void *vslice_ld_vram_dst(void *ctx, u64 idx)
{
	struct vslice_data_file *f = ctx;

	return vslice_vram_stage_page(&f->vd->vram, idx);
}

static int vslice_ld_vram(void *ctx, u64 first, u32 count, const void *pages)
{
	struct vslice_data_file *f = ctx;

	/* with ->vram_dst the pages already are in the stage */
	if (WARN_ON_ONCE(pages))
		return -EINVAL;
	vslice_vram_stage_settle(&f->vd->vram, first, count);
	return 0;
}

static int vslice_ld_vram_zero(void *ctx, u64 first, u32 count)
{
	struct vslice_data_file *f = ctx;

	vslice_vram_stage_zero(&f->vd->vram, first, count);
	return 0;
}

static int vslice_ld_hw(void *ctx, const struct vslice_stream_hw *hw,
			const struct vslice_stream_plane *plane)
{
	struct vslice_data_file *f = ctx;
	int ret;

	ret = vslice_hw_check(f->vd, hw, plane);
	if (ret) {
		dev_warn_ratelimited(f->vd->vdev.dev,
				     "migration stream: device state rejected (%d)\n",
				     ret);
		return ret;
	}
	f->hw = *hw;
	f->has_plane = plane;
	if (plane)
		f->hw_plane = *plane;
	return 0;
}

static const struct vslice_loader_ops vslice_loader_ops = {
	.vram = vslice_ld_vram,
	.vram_dst = vslice_ld_vram_dst,
	.vram_zero = vslice_ld_vram_zero,
	.hw = vslice_ld_hw,
};

static const char *vslice_stream_err_name(int err)
{
	switch (err) {
	case -EBADMSG:
		return "checksum mismatch";
	case -EPROTONOSUPPORT:
		return "unsupported format version";
	case -EOPNOTSUPP:
		return "incompatible device (type, VRAM size or features)";
	case -ENODATA:
		return "truncated";
	default:
		return "malformed";
	}
}

/*
 * Feed user data to the decoder.  The bytes are copied straight into the
 * decoder's unit buffer (no bounce), at most a page at a time: like a
 * read, a write of any length holds the channel lock for one page's copy
 * (and the unit it may complete), and a writer that is killed stops
 * between two pages.
 */
static ssize_t vslice_resume_write(struct vslice_data_file *f,
				   struct iov_iter *from)
{
	ssize_t done = 0, ret = 0;

	mutex_lock(&f->lock);
	while (!f->disabled && iov_iter_count(from)) {
		void *dst;
		ssize_t room;

		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		room = vslice_loader_window(&f->loader, &dst,
					    min(iov_iter_count(from),
						PAGE_SIZE));
		if (room < 0) {
			ret = room;
			break;
		}
		if (copy_from_iter(dst, room, from) != room) {
			ret = -EFAULT;
			break;
		}
		ret = vslice_loader_commit(&f->loader, room);
		if (ret < 0)
			break;
		done += room;
		f->total += room;
		/* between pages: teardown, reset and debugfs may go first */
		mutex_unlock(&f->lock);
		cond_resched();
		mutex_lock(&f->lock);
	}
	if (f->disabled) {
		/* torn down (f->vd may be gone): what was taken counts */
		ret = done ? 0 : -ENODEV;
		goto out;
	}
	if (ret < 0 && ret != -EFAULT && ret != -EINTR)
		dev_warn_ratelimited(f->vd->vdev.dev,
				     "migration stream rejected near byte %llu: %s (%zd)\n",
				     f->total, vslice_stream_err_name(ret), ret);
	trace_vslice_mig_data(f->vd->vdev.dev, false, done, f->total, ret);
out:
	mutex_unlock(&f->lock);
	return ret < 0 ? ret : done;
}

/* ------------------------------------------------------------------ */
/* channel files                                                       */
/* ------------------------------------------------------------------ */

static ssize_t vslice_file_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	struct vslice_data_file *f = iocb->ki_filp->private_data;

	if (!f->saving)
		return -EINVAL;
	return vslice_save_read(f, to);
}

static ssize_t vslice_file_write_iter(struct kiocb *iocb,
				      struct iov_iter *from)
{
	struct vslice_data_file *f = iocb->ki_filp->private_data;

	if (f->saving)
		return -EINVAL;
	return vslice_resume_write(f, from);
}

static void vslice_file_free_bufs(struct vslice_data_file *f)
{
	vslice_save_put_run(f);
	kvfree(f->buf);
	f->buf = NULL;
}

static int vslice_file_release(struct inode *inode, struct file *filp)
{
	struct vslice_data_file *f = filp->private_data;

	mutex_lock(&f->lock);
	f->disabled = true;
	vslice_file_free_bufs(f);
	mutex_unlock(&f->lock);
	mutex_destroy(&f->lock);
	kfree(f);
	return 0;
}

#if VSLICE_HAVE_PRECOPY
/*
 * Read and check the ioctl's argument.  Where the core has the helper (7.1+)
 * it does this, and clears the flags of users that opted in to
 * VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2 (flags are then an output); f->vd
 * is only used under f->lock on a live channel, see below.
 */
static int vslice_precopy_info_in(struct vslice_data_file *f,
				  unsigned long arg,
				  struct vfio_precopy_info *info)
{
#if VSLICE_HAVE_PRECOPY_INFO_V2
	lockdep_assert_held(&f->lock);
	return vfio_check_precopy_ioctl(&f->vd->vdev, VFIO_MIG_GET_PRECOPY_INFO,
					arg, info);
#else
	unsigned long minsz = offsetofend(struct vfio_precopy_info, dirty_bytes);

	if (copy_from_user(info, (void __user *)arg, minsz))
		return -EFAULT;
	return info->argsz < minsz ? -EINVAL : 0;
#endif
}

/*
 * VFIO_PRECOPY_INFO_REINIT, for users that opted in (7.1+): the guest set a
 * new display mode during pre-copy (turned the plane on, or changed its
 * format, size or stride).  The picture the destination could show is then
 * stale: it must have the new framebuffer before switchover, so every byte
 * pending now - the new framebuffer's unsent pages among them - becomes
 * initial data again, and a QEMU that re-arms switchover-ack waits for it.
 * A page flip (only the offset moves, as a double-buffering guest does
 * every frame) is ordinary dirty data: reporting it would re-arm the ack at
 * the guest's frame rate and could hold switchover off for ever.  Turning
 * the plane off needs no data.  Users that did not opt in keep the classic
 * contract (initial_bytes only decreases): for them those bytes are
 * dirty_bytes.  Returns the flags to report.
 */
static u32 vslice_precopy_reinit(struct vslice_data_file *f)
{
	struct vslice_plane now;
	bool mode_set;

	lockdep_assert_held(&f->lock);
	vslice_plane_get(f->vd, &now);
	mode_set = now.format && (now.format != f->plane.format ||
				  now.width != f->plane.width ||
				  now.height != f->plane.height ||
				  now.stride != f->plane.stride);
	f->plane = now;
	if (!mode_set || !vslice_precopy_info_v2(&f->vd->vdev))
		return 0;
	f->initial_left = vslice_save_pending(f, false);
	return VSLICE_PRECOPY_INFO_REINIT;
}

static long vslice_precopy_info(struct vslice_data_file *f,
				unsigned long arg)
{
	unsigned long minsz = offsetofend(struct vfio_precopy_info, dirty_bytes);
	struct vfio_precopy_info info;
	u64 pending;
	int ret;

	/*
	 * The file's own state only, never f->vd->state_mutex: a data fd
	 * outlives its session, the device's close and the instance itself
	 * (once the instance is removed f->vd is freed memory).  f->vd is
	 * used only while the channel is live, under f->lock: disabling it
	 * (every exit from the save states, close, reset) takes f->lock and
	 * precedes the instance's release.  A live channel in pre-copy mode
	 * is exactly PRE_COPY or PRE_COPY_P2P: the arc to STOP_COPY switches
	 * the mode under f->lock too.
	 */
	mutex_lock(&f->lock);
	if (f->disabled || f->mode != VSLICE_SAVE_PRECOPY) {
		ret = -EINVAL;
		goto out;
	}
	ret = vslice_precopy_info_in(f, arg, &info);
	if (ret)
		goto out;
	info.flags |= vslice_precopy_reinit(f);
	vslice_save_tick(f);
	pending = vslice_save_pending(f, false);
	info.initial_bytes = min(f->initial_left, pending);
	info.dirty_bytes = pending - info.initial_bytes;
	vslice_stats_reported(f->vd, vslice_save_pending(f, true));
out:
	mutex_unlock(&f->lock);
	if (ret)
		return ret;
	return copy_to_user((void __user *)arg, &info, minsz) ? -EFAULT : 0;
}
#endif

static long vslice_file_ioctl(struct file *filp, unsigned int cmd,
			      unsigned long arg)
{
#if VSLICE_HAVE_PRECOPY
	struct vslice_data_file *f = filp->private_data;

	if (cmd == VFIO_MIG_GET_PRECOPY_INFO && f->saving)
		return vslice_precopy_info(f, arg);
#endif
	return -ENOTTY;
}

static const struct file_operations vslice_data_fops = {
	.owner = THIS_MODULE,
	.read_iter = vslice_file_read_iter,
	.write_iter = vslice_file_write_iter,
	.unlocked_ioctl = vslice_file_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.release = vslice_file_release,
};

static struct vslice_data_file *vslice_file_new(struct vslice_dev *vd,
						bool saving)
{
	struct vslice_data_file *f;
	int ret = -ENOMEM;

	f = kzalloc(sizeof(*f), GFP_KERNEL_ACCOUNT);
	if (!f)
		return ERR_PTR(-ENOMEM);
	mutex_init(&f->lock);
	f->vd = vd;
	f->saving = saving;
	f->buf = kvzalloc(VSLICE_STREAM_UNIT_MAX, GFP_KERNEL_ACCOUNT);
	if (!f->buf)
		goto err;
	if (saving) {
		vslice_enc_init(&f->enc);
		/* fixed for the session: the attribute is -EBUSY meanwhile */
		f->enc.minor = vslice_mig_stream_minor(vd);
	} else {
		vslice_loader_init(&f->loader, &vslice_loader_ops, f, f->buf,
				   vd->type->id, vd->vram.size);
	}

	f->filp = anon_inode_getfile("vslice_mig", &vslice_data_fops, f,
				     saving ? O_RDONLY : O_WRONLY);
	if (IS_ERR(f->filp)) {
		ret = PTR_ERR(f->filp);
		goto err;
	}
	stream_open(f->filp->f_inode, f->filp);
	return f;
err:
	vslice_file_free_bufs(f);
	mutex_destroy(&f->lock);
	kfree(f);
	return ERR_PTR(ret);
}

/* Tear a channel down from the FSM side; the file may live on in userspace. */
static void vslice_file_disable(struct vslice_data_file *f)
{
	mutex_lock(&f->lock);
	f->disabled = true;
	f->buf_len = 0;
	f->buf_pos = 0;
	vslice_save_put_run(f);
	mutex_unlock(&f->lock);
	fput(f->filp);
}

static void vslice_mig_drop_files(struct vslice_dev *vd)
{
	struct vslice_mig *m = &vd->mig;

	lockdep_assert_held(&vd->state_mutex);
	if (m->save) {
		vslice_file_disable(m->save);
		m->save = NULL;
		spin_lock(&m->stats.lock);
		m->stats.active = false;
		spin_unlock(&m->stats.lock);
		vslice_throttle_release(vd);
	}
	if (m->resume) {
		vslice_file_disable(m->resume);
		m->resume = NULL;
		/* not committed: VRAM stays as it was before RESUMING */
		vslice_vram_stage_end(&vd->vram);
	}
}

/* ------------------------------------------------------------------ */
/* the state machine                                                   */
/* ------------------------------------------------------------------ */

/* Zero every figure but the lock. */
static void vslice_stats_clear(struct vslice_mig_stats *st)
{
	lockdep_assert_held(&st->lock);
	st->active = false;
	st->precopy_bytes = 0;
	st->stopcopy_bytes = 0;
	st->passes = 0;
	st->pass_bytes = 0;
	st->last_pass_pages = 0;
	st->dirty_rate = 0;
	st->pass_end = 0;
	st->reported = 0;
	st->predicted = 0;
	st->at_switch = 0;
	st->pass_dirtied = 0;
	st->last_pass_dirtied = 0;
	st->last_pass_read = 0;
	st->dirtied_rate = 0;
	st->read_rate = 0;
	st->slow_passes = 0;
	st->throttle = 0;
	st->throttle_peak = 0;
	st->held_ns_start = 0;
	st->cmds_start = 0;
}

static int vslice_mig_open_save(struct vslice_dev *vd,
				enum vslice_save_mode mode)
{
	struct vslice_data_file *f;
	u64 dirtied;

	f = vslice_file_new(vd, true);
	if (IS_ERR(f))
		return PTR_ERR(f);
	f->mode = mode;
	/* First pass: every page written so far is dirty. */
	vslice_vram_track_start(vd);
	dirtied = vslice_vram_dirtied(&vd->vram);
	mutex_lock(&f->lock);
	f->initial_left = vslice_save_pending(f, false);
	vslice_plane_get(vd, &f->plane);
	mutex_unlock(&f->lock);
	spin_lock(&vd->mig.stats.lock);
	vslice_stats_clear(&vd->mig.stats);
	vd->mig.stats.active = true;
	vd->mig.stats.pass_end = ktime_get_ns();
	vd->mig.stats.pass_dirtied = dirtied;
	vd->mig.stats.held_ns_start = atomic64_read(&vd->engine.throttled_ns);
	vd->mig.stats.cmds_start = atomic64_read(&vd->engine.throttled_cmds);
	spin_unlock(&vd->mig.stats.lock);
	vd->mig.save = f;
	return 0;
}

/*
 * STOP -> RESUMING changes nothing the device shows: the stream goes to a
 * stage (vram.c) and the HW section to the channel, and only a stream
 * that validated up to END replaces the device's state, when it leaves
 * RESUMING.  The engine is quiesced in STOP already.
 */
static int vslice_mig_open_resume(struct vslice_dev *vd)
{
	struct vslice_data_file *f;
	int ret;

	ret = vslice_vram_stage_begin(&vd->vram);
	if (ret)
		return ret;
	f = vslice_file_new(vd, false);
	if (IS_ERR(f)) {
		vslice_vram_stage_end(&vd->vram);
		return PTR_ERR(f);
	}
	vd->mig.resume = f;
	return 0;
}

/*
 * RESUMING -> STOP: a stream that validated up to END becomes the device:
 * a clean device (no stale VRAM or registers; the pages the reset drops
 * are kept for the next resume), the staged pages installed by pointer,
 * then the HW section.  The engine stays quiesced until RUNNING_P2P ->
 * RUNNING.  Any other stream fails the arc and changes nothing: the
 * device keeps the VRAM and registers it had before RESUMING.
 */
static int vslice_mig_finish_resume(struct vslice_dev *vd)
{
	struct vslice_data_file *f = vd->mig.resume;
	int ret;

	mutex_lock(&f->lock);
	ret = vslice_loader_finish(&f->loader);
	if (!ret)
		f->disabled = true;	/* complete: no byte may follow */
	mutex_unlock(&f->lock);
	if (ret) {
		dev_warn_ratelimited(vd->vdev.dev,
				     "leaving RESUMING with an unusable stream: %s (%d)\n",
				     vslice_stream_err_name(ret), ret);
		return ret;
	}
	vslice_dev_reset(vd);
	vslice_engine_quiesce(vd);
	vslice_vram_stage_commit(vd);
	vslice_hw_load(vd, &f->hw, f->has_plane ? &f->hw_plane : NULL);
	vslice_file_disable(f);
	vd->mig.resume = NULL;
	return 0;
}

/* Pre-copy switches to stop-copy: freeze the prediction it was made on. */
static void vslice_stats_switch(struct vslice_dev *vd, u64 now_pending)
{
	struct vslice_mig_stats *st = &vd->mig.stats;

	u64 predicted;

	spin_lock(&st->lock);
	predicted = st->reported;
	st->predicted = predicted;
	st->at_switch = now_pending;
	spin_unlock(&st->lock);
	trace_vslice_mig_switchover(vd->vdev.dev, predicted, now_pending);
}

#define ARC(a, b)	((VSLICE_MIG_##a << 8) | VSLICE_MIG_##b)

/**
 * vslice_mig_step() - take one arc of the state machine
 * @vd:		the instance, state_mutex held
 * @next:	a state one arc away from the current one
 *
 * Return: 0, or a negative errno with the state unchanged.  An unknown
 * arc is a bug in the caller and returns -EINVAL with a warning.
 */
static int vslice_mig_step(struct vslice_dev *vd, enum vslice_mig_state next)
{
	enum vslice_mig_state cur = vd->mig.state;
	int ret = 0;

	lockdep_assert_held(&vd->state_mutex);
	if (unlikely(vslice_fault_fail_arc(next))) {
		vslice_mig_drop_files(vd);
		vd->mig.state = VSLICE_MIG_ERROR;
		dev_warn(vd->vdev.dev, "injected failure on arc %d -> %d\n",
			 cur, next);
		return -EIO;
	}

	switch ((cur << 8) | next) {
	case ARC(RUNNING, RUNNING_P2P):
	case ARC(PRE_COPY, PRE_COPY_P2P):
		vslice_engine_quiesce(vd);
		break;
	case ARC(RUNNING_P2P, RUNNING):
	case ARC(PRE_COPY_P2P, PRE_COPY):
		vslice_engine_resume(vd);
		break;
	case ARC(RUNNING_P2P, STOP):
	case ARC(STOP, RUNNING_P2P):
		break;
	case ARC(STOP, STOP_COPY):
		ret = vslice_mig_open_save(vd, VSLICE_SAVE_STOPCOPY);
		break;
	case ARC(RUNNING, PRE_COPY):
	case ARC(RUNNING_P2P, PRE_COPY_P2P):
		ret = vslice_mig_open_save(vd, VSLICE_SAVE_PRECOPY);
		break;
	case ARC(PRE_COPY_P2P, STOP_COPY):
		mutex_lock(&vd->mig.save->lock);
		vd->mig.save->mode = VSLICE_SAVE_STOPCOPY;
		vslice_stats_switch(vd, vslice_save_pending(vd->mig.save, true));
		mutex_unlock(&vd->mig.save->lock);
		vslice_throttle_release(vd);
		break;
	case ARC(STOP_COPY, STOP):
	case ARC(PRE_COPY, RUNNING):
	case ARC(PRE_COPY_P2P, RUNNING_P2P):
		vslice_mig_drop_files(vd);
		break;
	case ARC(STOP, RESUMING):
		ret = vslice_mig_open_resume(vd);
		break;
	case ARC(RESUMING, STOP):
		ret = vslice_mig_finish_resume(vd);
		break;
	default:
		WARN(1, "vslice: no arc %d -> %d\n", cur, next);
		return -EINVAL;
	}
	trace_vslice_mig_arc(vd->vdev.dev, cur, next, ret);
	if (!ret)
		vd->mig.state = next;
	return ret;
}

/*
 * The v1 shim's path finder, for kernels and states the core's
 * vfio_mig_get_next_state() does not cover (pre-copy on 6.1).  Returns the
 * next state on the shortest path, or ERROR if there is none.  This table
 * and the rollback in vslice_mig_goto() serve only v1 (compat_v1/); v2
 * walks with the vfio core's vfio_mig_get_next_state() in
 * vslice_set_state().  They live here because every arc, v1 or v2, must go
 * through vslice_mig_step() under state_mutex.
 */
static enum vslice_mig_state vslice_mig_next(enum vslice_mig_state cur,
					     enum vslice_mig_state target)
{
	static const u8 next_hop[VSLICE_MIG_NR][VSLICE_MIG_NR] = {
#define S(x) VSLICE_MIG_##x
		[S(STOP)] = {
			[S(STOP)] = S(STOP), [S(RUNNING)] = S(RUNNING_P2P),
			[S(STOP_COPY)] = S(STOP_COPY),
			[S(RESUMING)] = S(RESUMING),
			[S(RUNNING_P2P)] = S(RUNNING_P2P),
			[S(PRE_COPY)] = S(RUNNING_P2P),
			[S(PRE_COPY_P2P)] = S(RUNNING_P2P),
		},
		[S(RUNNING)] = {
			[S(STOP)] = S(RUNNING_P2P), [S(RUNNING)] = S(RUNNING),
			[S(STOP_COPY)] = S(RUNNING_P2P),
			[S(RESUMING)] = S(RUNNING_P2P),
			[S(RUNNING_P2P)] = S(RUNNING_P2P),
			[S(PRE_COPY)] = S(PRE_COPY),
			[S(PRE_COPY_P2P)] = S(RUNNING_P2P),
		},
		[S(STOP_COPY)] = {
			[S(STOP)] = S(STOP), [S(RUNNING)] = S(STOP),
			[S(STOP_COPY)] = S(STOP_COPY),
			[S(RESUMING)] = S(STOP), [S(RUNNING_P2P)] = S(STOP),
			[S(PRE_COPY)] = S(ERROR),
			[S(PRE_COPY_P2P)] = S(ERROR),
		},
		[S(RESUMING)] = {
			[S(STOP)] = S(STOP), [S(RUNNING)] = S(STOP),
			[S(STOP_COPY)] = S(STOP),
			[S(RESUMING)] = S(RESUMING),
			[S(RUNNING_P2P)] = S(STOP),
			[S(PRE_COPY)] = S(ERROR),
			[S(PRE_COPY_P2P)] = S(ERROR),
		},
		[S(RUNNING_P2P)] = {
			[S(STOP)] = S(STOP), [S(RUNNING)] = S(RUNNING),
			[S(STOP_COPY)] = S(STOP), [S(RESUMING)] = S(STOP),
			[S(RUNNING_P2P)] = S(RUNNING_P2P),
			[S(PRE_COPY)] = S(RUNNING),
			[S(PRE_COPY_P2P)] = S(PRE_COPY_P2P),
		},
		[S(PRE_COPY)] = {
			[S(STOP)] = S(RUNNING), [S(RUNNING)] = S(RUNNING),
			[S(STOP_COPY)] = S(PRE_COPY_P2P),
			[S(RESUMING)] = S(RUNNING),
			[S(RUNNING_P2P)] = S(RUNNING),
			[S(PRE_COPY)] = S(PRE_COPY),
			[S(PRE_COPY_P2P)] = S(PRE_COPY_P2P),
		},
		[S(PRE_COPY_P2P)] = {
			[S(STOP)] = S(RUNNING_P2P),
			[S(RUNNING)] = S(RUNNING_P2P),
			[S(STOP_COPY)] = S(STOP_COPY),
			[S(RESUMING)] = S(RUNNING_P2P),
			[S(RUNNING_P2P)] = S(RUNNING_P2P),
			[S(PRE_COPY)] = S(PRE_COPY),
			[S(PRE_COPY_P2P)] = S(PRE_COPY_P2P),
		},
#undef S
	};

	if (cur >= VSLICE_MIG_NR || target >= VSLICE_MIG_NR ||
	    cur == VSLICE_MIG_ERROR || target == VSLICE_MIG_ERROR)
		return VSLICE_MIG_ERROR;
	return next_hop[cur][target];
}

/* Walk arcs toward @target; stops at the first failure.  state_mutex. */
static int vslice_mig_walk(struct vslice_dev *vd, enum vslice_mig_state target)
{
	int ret = 0;

	lockdep_assert_held(&vd->state_mutex);
	while (vd->mig.state != target) {
		enum vslice_mig_state next = vslice_mig_next(vd->mig.state,
							     target);

		if (next == VSLICE_MIG_ERROR)
			return -EINVAL;
		ret = vslice_mig_step(vd, next);
		if (ret)
			break;
	}
	return ret;
}

/**
 * vslice_mig_goto() - walk the state machine to @target (v1 shim)
 * @vd:		the instance
 * @target:	the wanted state
 *
 * Takes state_mutex.  Every arc goes through vslice_mig_step(), exactly as
 * for v2.  The change is all or nothing: if an arc after the first fails,
 * the walk returns to the starting state, so a failed request leaves the
 * state as it was - unless the device itself failed into ERROR.
 *
 * Return: 0, -EINVAL if @target cannot be reached from the current state
 * (nothing changes), or the errno of the failing arc.
 */
int vslice_mig_goto(struct vslice_dev *vd, enum vslice_mig_state target)
{
	enum vslice_mig_state from;
	int ret;

	mutex_lock(&vd->state_mutex);
	from = vd->mig.state;
	ret = vslice_mig_walk(vd, target);
	if (ret && vd->mig.state != from && vd->mig.state != VSLICE_MIG_ERROR &&
	    vslice_mig_walk(vd, from))
		dev_warn(vd->vdev.dev,
			 "migration: arc toward %d failed (%d), stuck in %d\n",
			 target, ret, vd->mig.state);
	mutex_unlock(&vd->state_mutex);
	return ret;
}

/**
 * vslice_mig_state() - the current state (a snapshot)
 * @vd:		the instance
 *
 * Return: the state.
 */
enum vslice_mig_state vslice_mig_state(struct vslice_dev *vd)
{
	enum vslice_mig_state st;

	mutex_lock(&vd->state_mutex);
	st = vd->mig.state;
	mutex_unlock(&vd->state_mutex);
	return st;
}

/**
 * vslice_mig_pending() - save bytes still to come (v1 pending_bytes)
 * @vd:		the instance
 *
 * In pre-copy: what is framed but unread plus the dirty VRAM right now,
 * shrinking toward 0 as data is read.  In stop-copy: everything left up to
 * and including END, reaching 0 once END has been read.
 *
 * Return: bytes, 0 when there is no save channel.
 */
u64 vslice_mig_pending(struct vslice_dev *vd)
{
	struct vslice_data_file *f;
	u64 bytes = 0;

	mutex_lock(&vd->state_mutex);
	f = vd->mig.save;
	if (f) {
		mutex_lock(&f->lock);
		vslice_save_tick(f);
		bytes = vslice_save_pending(f, f->mode == VSLICE_SAVE_STOPCOPY);
		if (f->mode == VSLICE_SAVE_PRECOPY)
			vslice_stats_reported(vd, vslice_save_pending(f, true));
		mutex_unlock(&f->lock);
	}
	mutex_unlock(&vd->state_mutex);
	return bytes;
}

/*
 * The current save or resume channel with a file reference held, so the
 * data path runs without state_mutex; NULL when there is none.
 */
static struct vslice_data_file *vslice_mig_get_chan(struct vslice_dev *vd,
						    bool saving)
{
	struct vslice_data_file *f;

	mutex_lock(&vd->state_mutex);
	f = saving ? vd->mig.save : vd->mig.resume;
	if (f)
		get_file(f->filp);
	mutex_unlock(&vd->state_mutex);
	return f;
}

/**
 * vslice_mig_save_read() - read the save stream (v1 data section)
 * @vd:		the instance
 * @to:		destination
 *
 * Return: bytes read, 0 at the end of a stop-copy stream, -ENOMSG when
 * pre-copy has nothing right now, -ENODEV without a save channel.
 */
ssize_t vslice_mig_save_read(struct vslice_dev *vd, struct iov_iter *to)
{
	struct vslice_data_file *f = vslice_mig_get_chan(vd, true);
	ssize_t ret;

	if (!f)
		return -ENODEV;
	ret = vslice_save_read(f, to);
	fput(f->filp);
	return ret;
}

/**
 * vslice_mig_resume_write() - feed the resume stream (v1 data section)
 * @vd:		the instance
 * @from:	source
 *
 * Return: bytes consumed, or the stream's errno; -ENODEV when not
 * RESUMING.
 */
ssize_t vslice_mig_resume_write(struct vslice_dev *vd, struct iov_iter *from)
{
	struct vslice_data_file *f = vslice_mig_get_chan(vd, false);
	ssize_t ret;

	if (!f)
		return -ENODEV;
	ret = vslice_resume_write(f, from);
	fput(f->filp);
	return ret;
}

static const char *const vslice_mig_state_names[VSLICE_MIG_NR] = {
	"ERROR", "STOP", "RUNNING", "STOP_COPY", "RESUMING", "RUNNING_P2P",
	"PRE_COPY", "PRE_COPY_P2P",
};

static void vslice_file_show(struct seq_file *s, const char *name,
			     struct vslice_data_file *f)
{
	if (!f) {
		seq_printf(s, "%s: none\n", name);
		return;
	}
	mutex_lock(&f->lock);
	if (f->saving)
		seq_printf(s, "%s: bytes=%llu mode=%s sections=%u\n", name,
			   f->total, f->mode == VSLICE_SAVE_PRECOPY ?
			   "precopy" : "stopcopy", f->enc.seq);
	else
		seq_printf(s, "%s: bytes=%llu sections=%u\n", name, f->total,
			   f->loader.seq);
	mutex_unlock(&f->lock);
}

/**
 * vslice_mig_show() - print migration state for debugfs
 * @vd:		the instance
 * @s:		the seq_file
 */
void vslice_mig_show(struct vslice_dev *vd, struct seq_file *s)
{
	mutex_lock(&vd->state_mutex);
	seq_printf(s, "migration_state: %s\n",
		   vslice_mig_state_names[vd->mig.state]);
	vslice_file_show(s, "save", vd->mig.save);
	vslice_file_show(s, "resume", vd->mig.resume);
	mutex_unlock(&vd->state_mutex);
}

/**
 * vslice_mig_stats_show() - the debugfs migration file: watch a migration
 * @vd:		the instance
 * @s:		the seq_file
 *
 * One "key: value" per line.  The live figures (dirty pages, pre-copy
 * info, predicted stop-copy size) are those of the save channel now, if
 * there is one; the counters and the prediction made at switchover stay
 * after the session ends, until the next one starts.
 */
void vslice_mig_stats_show(struct vslice_dev *vd, struct seq_file *s)
{
	u64 held = atomic64_read(&vd->engine.throttled_ns);
	u64 cmds = atomic64_read(&vd->engine.throttled_cmds);
	u64 initial = 0, dirty = 0, predicted = 0;
	bool live = false, precopy = false, autom;
	struct vslice_mig_stats st;
	u32 max;
	struct vslice_data_file *f;
	enum vslice_mig_state state;

	mutex_lock(&vd->state_mutex);
	state = vd->mig.state;
	f = vd->mig.save;
	if (f) {
		mutex_lock(&f->lock);
		if (!f->disabled) {
			live = true;
			precopy = f->mode == VSLICE_SAVE_PRECOPY;
			dirty = vslice_save_pending(f, false);
			initial = min(f->initial_left, dirty);
			dirty -= initial;
			predicted = vslice_save_pending(f, true);
		}
		mutex_unlock(&f->lock);
	}
	spin_lock(&vd->mig.stats.lock);
	st = vd->mig.stats;
	spin_unlock(&vd->mig.stats.lock);
	mutex_unlock(&vd->state_mutex);
	vslice_mig_get_throttle(vd, &autom, &max);

	seq_printf(s, "state: %s\n", vslice_mig_state_names[state]);
	seq_printf(s, "save_session: %s\n", live ? (precopy ? "precopy" :
			"stopcopy") : (st.passes || st.stopcopy_bytes ?
			"ended" : "none"));
	seq_printf(s, "precopy_bytes: %llu\n", st.precopy_bytes);
	seq_printf(s, "stopcopy_bytes: %llu\n", st.stopcopy_bytes);
	seq_printf(s, "precopy_passes: %u\n", st.passes);
	seq_printf(s, "last_pass_pages: %llu\n", st.last_pass_pages);
	seq_printf(s, "dirty_vram_pages: %lu\n",
		   vslice_vram_dirty_count(&vd->vram));
	seq_printf(s, "dirty_rate_pages_per_s: %llu\n", st.dirty_rate);
	seq_printf(s, "initial_bytes: %llu\n", precopy ? initial : 0);
	seq_printf(s, "dirty_bytes: %llu\n", precopy ? dirty : 0);
	seq_printf(s, "predicted_stopcopy_bytes: %llu\n", live ? predicted : 0);
	seq_printf(s, "reported_stopcopy_bytes: %llu\n", st.reported);
	seq_printf(s, "switchover_predicted_bytes: %llu\n", st.predicted);
	seq_printf(s, "switchover_pending_bytes: %llu\n", st.at_switch);
	seq_printf(s, "last_pass_dirtied_pages: %llu\n", st.last_pass_dirtied);
	seq_printf(s, "last_pass_read_pages: %llu\n", st.last_pass_read);
	seq_printf(s, "dirtied_pages_per_s: %llu\n", st.dirtied_rate);
	seq_printf(s, "read_pages_per_s: %llu\n", st.read_rate);
	seq_printf(s, "slow_passes: %u\n", st.slow_passes);
	seq_printf(s, "throttle_policy: %s\n", autom ? "auto" : "off");
	seq_printf(s, "throttle_max_percent: %u\n", max);
	seq_printf(s, "throttle_percent: %u\n", st.throttle);
	seq_printf(s, "throttle_peak_percent: %u\n", st.throttle_peak);
	seq_printf(s, "engine_throttle_percent: %u\n",
		   READ_ONCE(vd->engine.throttle));
	seq_printf(s, "throttle_held_ms: %llu\n",
		   div_u64(held - st.held_ns_start, NSEC_PER_MSEC));
	seq_printf(s, "throttled_cmds: %llu\n", cmds - st.cmds_start);
}

/* ------------------------------------------------------------------ */
/* VFIO v2 ops                                                         */
/* ------------------------------------------------------------------ */

static struct file *vslice_set_state(struct vfio_device *vdev,
				     enum vfio_device_mig_state new_state)
{
	struct vslice_dev *vd = to_vslice(vdev);
	struct file *res = NULL;
	int ret = 0;

	mutex_lock(&vd->state_mutex);
	while ((enum vfio_device_mig_state)vd->mig.state != new_state) {
		enum vfio_device_mig_state cur, next;
		struct vslice_data_file *before_save = vd->mig.save;
		struct vslice_data_file *before_resume = vd->mig.resume;

		/* no path leads out of ERROR (and the core WARNs if asked) */
		if (vd->mig.state == VSLICE_MIG_ERROR) {
			ret = -EINVAL;
			break;
		}
		cur = (enum vfio_device_mig_state)vd->mig.state;
		ret = vfio_mig_get_next_state(vdev, cur, new_state, &next);
		if (ret)
			break;
		ret = vslice_mig_step(vd, (enum vslice_mig_state)next);
		if (ret)
			break;
		/* An arc that opened a channel hands its file out. */
		if (vd->mig.save && vd->mig.save != before_save)
			res = vd->mig.save->filp;
		else if (vd->mig.resume && vd->mig.resume != before_resume)
			res = vd->mig.resume->filp;
		else
			continue;
		if ((enum vfio_device_mig_state)vd->mig.state != new_state) {
			/* the core never asks for a file mid-walk */
			ret = -EINVAL;
			res = NULL;
			break;
		}
		get_file(res);
	}
	mutex_unlock(&vd->state_mutex);
	return ret ? ERR_PTR(ret) : res;
}

static int vslice_get_state(struct vfio_device *vdev,
			    enum vfio_device_mig_state *curr_state)
{
	struct vslice_dev *vd = to_vslice(vdev);

	mutex_lock(&vd->state_mutex);
	*curr_state = (enum vfio_device_mig_state)vd->mig.state;
	mutex_unlock(&vd->state_mutex);
	return 0;
}

#if VSLICE_HAVE_PRECOPY
/* MIG_DATA_SIZE: what a stop-copy would stream right now.  Never 0. */
static int vslice_get_data_size(struct vfio_device *vdev,
				unsigned long *stop_copy_length)
{
	struct vslice_dev *vd = to_vslice(vdev);
	struct vslice_data_file *f;
	u64 bytes = 0;

	mutex_lock(&vd->state_mutex);
	f = vd->mig.save;
	if (f) {
		mutex_lock(&f->lock);
		bytes = vslice_save_pending(f, true);
		if (f->mode == VSLICE_SAVE_PRECOPY)
			vslice_stats_reported(vd, bytes);
		mutex_unlock(&f->lock);
	}
	/* No session, or one that delivered all: a whole new stop-copy. */
	if (!bytes) {
		bytes = VSLICE_STREAM_HDR_SIZE +
			(u64)vslice_vram_written_count(&vd->vram) *
			(PAGE_SIZE + VSLICE_RUN_OVERHEAD) +
			VSLICE_HW_UNIT(vslice_mig_stream_minor(vd)) +
			VSLICE_STREAM_END_SIZE;
	}
	mutex_unlock(&vd->state_mutex);
	*stop_copy_length = bytes;
	return 0;
}
#endif

const struct vfio_migration_ops vslice_mig_ops = {
	.migration_set_state = vslice_set_state,
	.migration_get_state = vslice_get_state,
#if VSLICE_HAVE_PRECOPY
	.migration_get_data_size = vslice_get_data_size,
#endif
};

/* ------------------------------------------------------------------ */
/* lifecycle, reset                                                    */
/* ------------------------------------------------------------------ */

/* ------------------------------------------------------------------ */
/* the stream version written                                          */
/* ------------------------------------------------------------------ */

/*
 * A driver writes its newest format unless told otherwise; the previous
 * minor versions stay writable so that a host with this driver can send
 * to a host with an older one (a fleet upgrade, and its rollback).  The
 * module parameter is the default of instances made afterwards; each
 * instance's stream_version attribute (compatinfo.c) overrides it.
 */
static u16 vslice_stream_minor_default = VSLICE_STREAM_VERSION_MINOR;

/**
 * vslice_mig_parse_stream_version() - parse "MAJOR.MINOR" (white space around it is ignored)
 * @buf:	the text
 * @minor:	out: MINOR
 *
 * Return: 0, or -EINVAL unless MAJOR is ours and MINOR one we can write
 * (VSLICE_STREAM_MINOR_OLDEST to VSLICE_STREAM_VERSION_MINOR).
 */
int vslice_mig_parse_stream_version(const char *buf, u16 *minor)
{
	unsigned int major, min;
	char tmp[16], c;

	if (strscpy(tmp, buf, sizeof(tmp)) < 0 ||
	    sscanf(strim(tmp), "%u.%u%c", &major, &min, &c) != 2)
		return -EINVAL;
	if (major != VSLICE_STREAM_VERSION_MAJOR ||
	    min < VSLICE_STREAM_MINOR_OLDEST ||
	    min > VSLICE_STREAM_VERSION_MINOR)
		return -EINVAL;
	*minor = min;
	return 0;
}

static int vslice_stream_version_param_set(const char *val,
					   const struct kernel_param *kp)
{
	u16 minor;
	int ret = vslice_mig_parse_stream_version(val, &minor);

	if (ret)
		return ret;
	*(u16 *)kp->arg = minor;
	return 0;
}

static int vslice_stream_version_param_get(char *buf,
					   const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%u.%u\n", VSLICE_STREAM_VERSION_MAJOR,
			  *(u16 *)kp->arg);
}

static const struct kernel_param_ops vslice_stream_version_ops = {
	.set = vslice_stream_version_param_set,
	.get = vslice_stream_version_param_get,
};
module_param_cb(stream_version, &vslice_stream_version_ops,
		&vslice_stream_minor_default, 0644);
MODULE_PARM_DESC(stream_version,
		 "Migration stream version new instances write, MAJOR.MINOR (default: the newest; an older one lets a host with an older driver receive)");

/*
 * The convergence policy's defaults for new instances; each instance has
 * its own copy (migration_throttle, migration_throttle_max in sysfs).
 * "auto" by default: without it a guest whose device dirties VRAM faster
 * than the link carries it never fits QEMU's downtime limit, and the rule
 * touches no migration that converges by itself (admin.rst).
 */
static bool vslice_throttle_auto_default = true;
static u32 vslice_throttle_max_default = VSLICE_THROTTLE_MAX_DEFAULT;

/**
 * vslice_mig_parse_throttle() - parse a migration_throttle policy
 * @buf:	"auto" or "off" (a trailing newline is ignored)
 * @autom:	out: true for "auto"
 *
 * Return: 0 or -EINVAL.
 */
int vslice_mig_parse_throttle(const char *buf, bool *autom)
{
	if (sysfs_streq(buf, "auto"))
		*autom = true;
	else if (sysfs_streq(buf, "off"))
		*autom = false;
	else
		return -EINVAL;
	return 0;
}

/**
 * vslice_mig_parse_throttle_max() - parse a migration_throttle_max value
 * @buf:	a decimal percent, 1 to VSLICE_THROTTLE_MAX_PCT
 * @pct:	out: the value
 *
 * 0 would be "off" under another name and 100 would stall the engine:
 * both are refused.
 *
 * Return: 0 or -EINVAL.
 */
int vslice_mig_parse_throttle_max(const char *buf, u32 *pct)
{
	u32 v;

	if (kstrtou32(buf, 10, &v) || !v || v > VSLICE_THROTTLE_MAX_PCT)
		return -EINVAL;
	*pct = v;
	return 0;
}

static int vslice_throttle_param_set(const char *val,
				     const struct kernel_param *kp)
{
	return vslice_mig_parse_throttle(val, (bool *)kp->arg);
}

static int vslice_throttle_param_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%s\n", *(bool *)kp->arg ? "auto" : "off");
}

static const struct kernel_param_ops vslice_throttle_ops = {
	.set = vslice_throttle_param_set,
	.get = vslice_throttle_param_get,
};
module_param_cb(migration_throttle, &vslice_throttle_ops,
		&vslice_throttle_auto_default, 0644);
MODULE_PARM_DESC(migration_throttle,
		 "Convergence policy of new instances: auto (default: throttle the engine while pre-copy cannot keep up) or off");

static int vslice_throttle_max_param_set(const char *val,
					 const struct kernel_param *kp)
{
	return vslice_mig_parse_throttle_max(val, (u32 *)kp->arg);
}

static const struct kernel_param_ops vslice_throttle_max_ops = {
	.set = vslice_throttle_max_param_set,
	.get = param_get_uint,
};
module_param_cb(migration_throttle_max, &vslice_throttle_max_ops,
		&vslice_throttle_max_default, 0644);
MODULE_PARM_DESC(migration_throttle_max,
		 "Most percent of the engine's time the convergence rule may withhold from the guest, 1-99 (default 90)");

/**
 * vslice_mig_set_throttle_auto() - set an instance's convergence policy
 * @vd:		the instance
 * @autom:	the rule may throttle ("auto") or not ("off")
 *
 * Allowed while a save runs: the rule reads the policy at the end of each
 * pre-copy pass, so the change applies from the next pass on.
 */
void vslice_mig_set_throttle_auto(struct vslice_dev *vd, bool autom)
{
	WRITE_ONCE(vd->mig.throttle_auto, autom);
}

/**
 * vslice_mig_set_throttle_max() - set an instance's throttle maximum
 * @vd:		the instance
 * @max:	percent, from vslice_mig_parse_throttle_max(); like the
 *		policy, it applies from the next pre-copy pass on
 */
void vslice_mig_set_throttle_max(struct vslice_dev *vd, u32 max)
{
	WRITE_ONCE(vd->mig.throttle_max, max);
}

/**
 * vslice_mig_get_throttle() - an instance's convergence policy
 * @vd:		the instance
 * @autom:	out: "auto" (true) or "off"
 * @max:	out: the maximum percent
 */
void vslice_mig_get_throttle(struct vslice_dev *vd, bool *autom, u32 *max)
{
	*autom = READ_ONCE(vd->mig.throttle_auto);
	*max = READ_ONCE(vd->mig.throttle_max);
}

/**
 * vslice_mig_set_stream_minor() - choose the stream version a save writes
 * @vd:		the instance
 * @minor:	a minor version from vslice_mig_parse_stream_version()
 *
 * Return: 0, or -EBUSY while a save session is open (its header is
 * already on its way).
 */
int vslice_mig_set_stream_minor(struct vslice_dev *vd, u16 minor)
{
	int ret = 0;

	mutex_lock(&vd->state_mutex);
	if (vd->mig.save)
		ret = -EBUSY;
	else
		WRITE_ONCE(vd->mig.stream_minor, minor);
	mutex_unlock(&vd->state_mutex);
	return ret;
}

/**
 * vslice_mig_stream_minor() - the minor stream version the next save writes
 * @vd:		the instance
 *
 * Return: the minor version.
 */
u16 vslice_mig_stream_minor(struct vslice_dev *vd)
{
	return READ_ONCE(vd->mig.stream_minor);
}

/**
 * vslice_mig_init() - set up migration for a new instance
 * @vd:		the instance (before registration)
 *
 * Return: 0.
 */
int vslice_mig_init(struct vslice_dev *vd)
{
	/*
	 * The save and resume paths move one VRAM page per stream page
	 * (vslice_vram_take_run(), vslice_vram_stage_page(), the
	 * MIG_DATA_SIZE estimate).
	 */
	BUILD_BUG_ON(PAGE_SIZE != VSLICE_STREAM_PAGE_SIZE);
	vd->mig.state = VSLICE_MIG_RUNNING;
	vd->mig.stream_minor = READ_ONCE(vslice_stream_minor_default);
	vd->mig.throttle_auto = READ_ONCE(vslice_throttle_auto_default);
	vd->mig.throttle_max = READ_ONCE(vslice_throttle_max_default);
	spin_lock_init(&vd->mig.stats.lock);
	vd->vdev.migration_flags = VFIO_MIGRATION_STOP_COPY |
				   VFIO_MIGRATION_P2P;
#if VSLICE_HAVE_PRECOPY
	vd->vdev.migration_flags |= VFIO_MIGRATION_PRE_COPY;
#endif
	vd->vdev.mig_ops = &vslice_mig_ops;
	return 0;
}

/**
 * vslice_mig_fini() - release migration state of a dying instance
 * @vd:		the instance
 */
void vslice_mig_fini(struct vslice_dev *vd)
{
	WARN_ON(vd->mig.save || vd->mig.resume);
}

/* Back to RUNNING with no channel: close, reset and recovery all do this. */
static void vslice_mig_to_running(struct vslice_dev *vd)
{
	lockdep_assert_held(&vd->state_mutex);
	vslice_mig_drop_files(vd);
	vd->mig.state = VSLICE_MIG_RUNNING;
}

/**
 * vslice_mig_close() - the user closed the device
 * @vd:		the instance, state_mutex held
 *
 * Open data files are cut off and the state returns to RUNNING, so a failed
 * destination never poisons the next user.
 */
void vslice_mig_close(struct vslice_dev *vd)
{
	lockdep_assert_held(&vd->state_mutex);
	vslice_mig_to_running(vd);
}

/**
 * vslice_mig_reset() - VFIO_DEVICE_RESET
 * @vd:		the instance
 *
 * Drops the channels, returns to RUNNING (leaving ERROR too) and puts the
 * device in its power-on state (vslice_dev_reset()), all under
 * state_mutex.  The reset is synchronous: it waits for a state change or
 * channel teardown in progress.  mtty and mlx5 defer their reset to the
 * state_mutex holder because their reset runs from vfio-pci paths that
 * hold locks which nest with mm locks; ours is entered only from our own
 * ioctl with no lock held, and nothing in vslice takes an mm lock (a
 * copy to or from user memory) while holding state_mutex, so waiting for
 * the mutex cannot close a circle.
 *
 * Return: 0.
 */
int vslice_mig_reset(struct vslice_dev *vd)
{
	mutex_lock(&vd->state_mutex);
	vslice_mig_to_running(vd);
	vslice_dev_reset(vd);
	mutex_unlock(&vd->state_mutex);
	return 0;
}
