/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vslice: fault injection for tests (fault.c).  Compiled in only when the
 * module is built with VSLICE_FAULTS=y (make's test builds; not dkms), then
 * controlled through /sys/kernel/debug/vslice/fault/:
 *
 *   skip_dirty  0/1: every device write to guest memory goes unreported -
 *               not to type1 (no vfio_dma_rw() or pin for the write) and
 *               not to the DMA log (dirty.c) - in both copy modes.  Breaks
 *               migration on purpose: the control that dirty checks catch.
 *   fail_arc    -1 (off) or a v2 state number: the next FSM arc into that
 *               state fails with -EIO and leaves the device in ERROR.
 *   fail_dlog_store
 *               0/1: the next page the DMA log (dirty.c) records fails to
 *               be stored, as if the xarray could not allocate; one shot.
 *               Every later DMA_LOGGING_REPORT must fail (-ENOMEM).
 *   engine_hold -1 (off) or N >= 1: the engine of every instance holds a
 *               command whose checkpoint (bytes done) has reached N - it
 *               runs no further step, STATUS.BUSY stays set - until the
 *               fault is set back to -1 and the engine is kicked or
 *               resumed.  Makes "stopped in the middle of a command"
 *               deterministic for tests.
 *   skip_plane  0/1: saves write the scanout plane's registers as all zero
 *               (plane disabled, GENERATION 0) whatever the device holds:
 *               the destination loses the picture.  The control that the
 *               display checks (selftests, e2e) must catch.
 *   warn_save   0/1: the next save of an instance's device state (v1 or
 *               v2) raises a kernel WARN (and taints the kernel); the
 *               migration itself goes on unharmed.  One shot.  The
 *               control that the test suite counts a kernel report as a
 *               failure (suite-fails-on-kernel-report).
 *
 * Without VSLICE_FAULTS the hooks are constant false and the files do not
 * exist.  Bottom layer: calls nothing of the module.
 */
#ifndef _VSLICE_FAULT_H
#define _VSLICE_FAULT_H

#include <linux/types.h>

struct dentry;

#ifdef VSLICE_FAULTS
void vslice_fault_init(struct dentry *root);
bool vslice_fault_skip_dirty(void);
bool vslice_fault_fail_arc(int state);
bool vslice_fault_engine_hold(u64 progress);
bool vslice_fault_fail_dlog_store(void);
bool vslice_fault_skip_plane(void);
bool vslice_fault_warn_save(void);
#else
static inline void vslice_fault_init(struct dentry *root) { }
static inline bool vslice_fault_skip_dirty(void) { return false; }
static inline bool vslice_fault_fail_arc(int state) { return false; }
static inline bool vslice_fault_engine_hold(u64 progress) { return false; }
static inline bool vslice_fault_fail_dlog_store(void) { return false; }
static inline bool vslice_fault_skip_plane(void) { return false; }
static inline bool vslice_fault_warn_save(void) { return false; }
#endif

#endif /* _VSLICE_FAULT_H */
