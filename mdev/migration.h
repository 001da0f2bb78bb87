/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vslice: migration core - one FSM and one stream codec for both the VFIO
 * v2 protocol and the v1 region shim (migration.c, stream.c).
 */
#ifndef _VSLICE_MIGRATION_H
#define _VSLICE_MIGRATION_H

#include <linux/spinlock.h>
#include <linux/time64.h>
#include <linux/types.h>
#include <linux/vfio.h>

#include "stream.h"

struct vslice_dev;
struct vslice_data_file;
struct iov_iter;
struct seq_file;

/*
 * The v2 device states with the uAPI's numbers.  Our own enum because 6.1's
 * uAPI has no PRE_COPY states, yet the v1 shim offers pre-copy there.
 */
enum vslice_mig_state {
	VSLICE_MIG_ERROR = 0,
	VSLICE_MIG_STOP = 1,
	VSLICE_MIG_RUNNING = 2,
	VSLICE_MIG_STOP_COPY = 3,
	VSLICE_MIG_RESUMING = 4,
	VSLICE_MIG_RUNNING_P2P = 5,
	VSLICE_MIG_PRE_COPY = 6,
	VSLICE_MIG_PRE_COPY_P2P = 7,
	VSLICE_MIG_NR,
};

/**
 * struct vslice_mig_stats - figures of the current (or last) save session,
 *	for the debugfs migration file and the pre-copy pass trace event
 * @lock:	protects the fields below; a leaf lock, taken under the save
 *		channel's lock or state_mutex and never the other way
 * @active:	a save session is open
 * @precopy_bytes: bytes read in pre-copy so far
 * @stopcopy_bytes: bytes read in stop-copy so far
 * @passes:	pre-copy passes that ended (the dirty set drained once each)
 * @pass_bytes:	bytes of the pass in progress
 * @last_pass_pages: VRAM pages the last pass carried
 * @dirty_rate:	VRAM pages per second the guest dirtied, from the last pass
 *		(pages it carried over the time since the pass before); 0
 *		until two passes ended
 * @pass_end:	ktime_get_ns() at the end of the last pass (or the start)
 * @reported:	the last stop-copy size the driver reported to userspace
 *		(VFIO_MIG_GET_PRECOPY_INFO, MIG_DATA_SIZE, v1 pending_bytes),
 *		as vslice_save_pending() counts a switch to stop-copy then
 * @predicted:	@reported when the session switched to stop-copy: the
 *		prediction QEMU made its switchover decision on
 * @at_switch:	the same count taken by the driver at the switch itself
 * @pass_dirtied: vslice_vram_dirtied() when the pass in progress began
 * @last_pass_dirtied: VRAM pages that turned dirty during the last pass
 * @last_pass_read: VRAM pages the last pass read (its bytes / PAGE_SIZE)
 * @dirtied_rate: @last_pass_dirtied per second of that pass
 * @read_rate:	@last_pass_read per second of that pass
 * @slow_passes: consecutive passes in which dirtying outran reading
 * @throttle:	the engine throttle now, percent (0: off)
 * @throttle_peak: the highest @throttle of this session
 * @held_ns_start: the engine's throttled_ns when the session began
 * @cmds_start:	the engine's throttled_cmds when the session began
 */
struct vslice_mig_stats {
	spinlock_t lock;	/* the fields below */
	bool active;
	u64 precopy_bytes;
	u64 stopcopy_bytes;
	u32 passes;
	u64 pass_bytes;
	u64 last_pass_pages;
	u64 dirty_rate;
	u64 pass_end;
	u64 reported;
	u64 predicted;
	u64 at_switch;
	u64 pass_dirtied;
	u64 last_pass_dirtied;
	u64 last_pass_read;
	u64 dirtied_rate;
	u64 read_rate;
	u32 slow_passes;
	u32 throttle;
	u32 throttle_peak;
	u64 held_ns_start;
	u64 cmds_start;
};

/*
 * The convergence rule (migration.c, admin.rst "Convergence"): after
 * VSLICE_THROTTLE_SLOW_PASSES consecutive pre-copy passes in which the
 * pages dirtied exceed VSLICE_THROTTLE_TRIGGER percent of the pages read,
 * the engine is throttled by VSLICE_THROTTLE_INITIAL percent, and by
 * VSLICE_THROTTLE_STEP more after each further such pass, up to the
 * instance's maximum.  QEMU's auto-converge for vCPUs is the model
 * (throttle-trigger-threshold 50, cpu-throttle-initial 20,
 * cpu-throttle-increment 10).
 */
#define VSLICE_THROTTLE_TRIGGER		50
#define VSLICE_THROTTLE_SLOW_PASSES	2
#define VSLICE_THROTTLE_INITIAL		20
#define VSLICE_THROTTLE_STEP		10
#define VSLICE_THROTTLE_MAX_DEFAULT	90
/* A pre-copy pass that has read something ends after this long at most. */
#define VSLICE_PASS_MAX_NS		(2 * NSEC_PER_SEC)

/* The oldest minor stream version this driver still writes. */
#define VSLICE_STREAM_MINOR_OLDEST	0

/**
 * struct vslice_mig - per-instance migration state (under state_mutex)
 * @state:	current device state
 * @save:	the save channel (PRE_COPY*, STOP_COPY), or NULL
 * @resume:	the resume channel (RESUMING), or NULL
 * @stats:	figures of the current or last save (own lock)
 * @stream_minor: the minor stream version the next save writes (major is
 *		always VSLICE_STREAM_VERSION_MAJOR): the module parameter
 *		stream_version when the instance was made, then its own
 *		stream_version attribute
 * @throttle_auto: the convergence rule may throttle the engine (the
 *		migration_throttle policy "auto"; false: "off")
 * @throttle_max: the most percent the rule may throttle (1 to
 *		VSLICE_THROTTLE_MAX_PCT)
 */
struct vslice_mig {
	enum vslice_mig_state state;
	struct vslice_data_file *save;
	struct vslice_data_file *resume;
	struct vslice_mig_stats stats;
	u16 stream_minor;
	bool throttle_auto;
	u32 throttle_max;
};

int vslice_mig_init(struct vslice_dev *vd);
void vslice_mig_fini(struct vslice_dev *vd);
void vslice_mig_close(struct vslice_dev *vd);
int vslice_mig_reset(struct vslice_dev *vd);

/* The protocol-neutral interface the v1 shim uses (v2 uses the same core). */
int vslice_mig_goto(struct vslice_dev *vd, enum vslice_mig_state target);
enum vslice_mig_state vslice_mig_state(struct vslice_dev *vd);
u64 vslice_mig_pending(struct vslice_dev *vd);
ssize_t vslice_mig_save_read(struct vslice_dev *vd, struct iov_iter *to);
ssize_t vslice_mig_resume_write(struct vslice_dev *vd, struct iov_iter *from);

/* The stream version an instance writes (its stream_version attribute). */
int vslice_mig_parse_stream_version(const char *buf, u16 *minor);
int vslice_mig_set_stream_minor(struct vslice_dev *vd, u16 minor);
u16 vslice_mig_stream_minor(struct vslice_dev *vd);

/* The convergence policy (migration_throttle, migration_throttle_max). */
int vslice_mig_parse_throttle(const char *buf, bool *autom);
int vslice_mig_parse_throttle_max(const char *buf, u32 *pct);
void vslice_mig_set_throttle_auto(struct vslice_dev *vd, bool autom);
void vslice_mig_set_throttle_max(struct vslice_dev *vd, u32 max);
void vslice_mig_get_throttle(struct vslice_dev *vd, bool *autom, u32 *max);

void vslice_mig_show(struct vslice_dev *vd, struct seq_file *s);
void vslice_mig_stats_show(struct vslice_dev *vd, struct seq_file *s);

extern const struct vfio_migration_ops vslice_mig_ops;

#endif /* _VSLICE_MIGRATION_H */
