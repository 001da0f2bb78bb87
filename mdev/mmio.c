// SPDX-License-Identifier: GPL-2.0
/*
 * vslice: the BAR0 register file (uapi/vslice_regs.h), and the device
 * state carried in the migration stream (struct vslice_stream_hw).
 *
 * Accesses are 4 bytes at 4-byte aligned offsets.  An 8-byte access at an
 * 8-byte aligned offset is also accepted and performed as the two 4-byte
 * accesses, low dword first, under one hold of dev_lock: a 64-bit read of
 * FENCE_LO/HI or RING_BASE_LO/HI is therefore never torn.  Any other size
 * or alignment fails with -EINVAL.  Offsets without a register read 0 and
 * ignore writes; so do writes to read-only registers, and reads of the
 * write-only DOORBELL and IRQ_ACK return 0.
 *
 * Side effects:
 *  - CONTROL keeps only VSLICE_CTRL_ENABLE; vslice_engine_control_write()
 *    sees every CONTROL write (clearing ENABLE recovers from a halt).
 *  - DOORBELL, CONTROL with ENABLE set and RING_TAIL while enabled kick the
 *    engine, after dev_lock is dropped.
 *  - IRQ_MASK and IRQ_STATUS keep only VSLICE_IRQ_ALL bits; IRQ_ACK is
 *    write-1-to-clear on IRQ_STATUS.  Unmasking a source that is already
 *    set in IRQ_STATUS raises the interrupt (vslice_irq_update()).
 *
 * The scanout plane (VSLICE_REG_PLANE_*): PLANE_CONTROL and PLANE_FORMAT
 * .. PLANE_STRIDE are shadow registers that read back what was written;
 * a PLANE_CONTROL write commits them (vslice_plane_commit()).  The checks
 * run in this order, the first failure latching PLANE_ERROR: unknown
 * PLANE_CONTROL bits (ERR_CONTROL); then, with ENABLE clear, the plane is
 * disabled; else format (ERR_FORMAT), width and height (ERR_SIZE), stride
 * (ERR_STRIDE), offset alignment (ERR_ALIGN), offset + stride * height
 * within VRAM (ERR_RANGE).  A refused commit changes nothing but
 * PLANE_ERROR; an accepted one (enable or disable) clears PLANE_ERROR and
 * counts PLANE_GENERATION up if the active plane changed, and moves the
 * display region's window (vslice_vram_set_window()).
 *
 * RING_BASE, RING_SIZE and RING_TAIL hold whatever the guest writes; the
 * engine validates them when it runs (VSLICE_ERR_RING_CONFIG / _INDEX).
 * The engine owns RING_HEAD, FENCE, STATUS, ERROR, ERROR_HEAD and
 * CMD_COUNT.
 *
 * Locking: every register access runs under dev_lock; user memory is
 * copied outside it.
 */

#include <linux/log2.h>
#include <linux/overflow.h>
#include <linux/uaccess.h>

#include "fault.h"
#include "vslice.h"

/* Largest defined VSLICE_ERR_* and VSLICE_PLANE_ERR_* codes. */
#define VSLICE_ERR_LAST		VSLICE_ERR_HOST
#define VSLICE_PLANE_ERR_LAST	VSLICE_PLANE_ERR_CONTROL

static void vslice_set_lo(u64 *reg, u32 val)
{
	*reg = (*reg & ~(u64)U32_MAX) | val;
}

static void vslice_set_hi(u64 *reg, u32 val)
{
	*reg = (*reg & U32_MAX) | (u64)val << 32;
}

/**
 * vslice_regs_reset() - put the register file in its power-on state
 * @vd:		the instance, dev_lock held
 *
 * Every register becomes 0, the engine's included (the caller resets the
 * engine first, see vslice_dev_reset()).
 */
static void vslice_regs_reset(struct vslice_dev *vd)
{
	lockdep_assert_held(&vd->dev_lock);
	memset(&vd->hw.regs, 0, sizeof(vd->hw.regs));
}

/* ------------------------------------------------------------------ */
/* the scanout plane                                                   */
/* ------------------------------------------------------------------ */

/* Bytes per pixel of a VSLICE_PLANE_FMT_* format, 0 for an unknown one. */
static unsigned int vslice_plane_cpp(u32 format)
{
	switch (format) {
	case VSLICE_PLANE_FMT_XRGB8888:
	case VSLICE_PLANE_FMT_XBGR8888:
		return 4;
	default:
		return 0;
	}
}

/*
 * Why the enabled plane @p cannot be scanned out of @vram_size bytes of
 * VRAM: the first VSLICE_PLANE_ERR_* that applies, or _NONE.  Every value
 * is the guest's (or a stream's): nothing is trusted, nothing can wrap.
 * With VRAM of at most 4 GiB, stride * height fits the u32 size that
 * VFIO_DEVICE_QUERY_GFX_PLANE reports.
 */
static u32 vslice_plane_validate(const struct vslice_plane *p, u64 vram_size)
{
	unsigned int cpp = vslice_plane_cpp(p->format);
	u64 end;

	if (!cpp)
		return VSLICE_PLANE_ERR_FORMAT;
	if (!p->width || p->width > VSLICE_PLANE_MAX_WIDTH ||
	    !p->height || p->height > VSLICE_PLANE_MAX_HEIGHT)
		return VSLICE_PLANE_ERR_SIZE;
	if (!IS_ALIGNED(p->stride, 4) || p->stride < p->width * cpp)
		return VSLICE_PLANE_ERR_STRIDE;
	if (!IS_ALIGNED(p->offset, VSLICE_PLANE_ALIGN))
		return VSLICE_PLANE_ERR_ALIGN;
	if (check_add_overflow(p->offset, (u64)p->stride * p->height, &end) ||
	    end > vram_size)
		return VSLICE_PLANE_ERR_RANGE;
	return VSLICE_PLANE_ERR_NONE;
}

/*
 * Make @p (validated, or all zero for "disabled") the active plane: count
 * the change and point the display region's window at it.
 */
static void vslice_plane_activate(struct vslice_dev *vd,
				  const struct vslice_plane *p)
{
	struct vslice_plane_regs *pl = &vd->hw.plane;

	lockdep_assert_held(&vd->dev_lock);
	if (!memcmp(&pl->active, p, sizeof(*p)))
		return;
	pl->active = *p;
	pl->generation++;
	vslice_vram_set_window(&vd->vram, p->offset >> PAGE_SHIFT);
}

/* A PLANE_CONTROL write: commit the shadow registers or refuse them. */
static void vslice_plane_commit(struct vslice_dev *vd, u32 control)
{
	struct vslice_plane_regs *pl = &vd->hw.plane;
	static const struct vslice_plane off;
	u32 err;

	lockdep_assert_held(&vd->dev_lock);
	pl->control = control;
	if (control & ~VSLICE_PLANE_CTRL_KNOWN) {
		pl->error = VSLICE_PLANE_ERR_CONTROL;
		return;
	}
	if (!(control & VSLICE_PLANE_CTRL_ENABLE)) {
		pl->error = VSLICE_PLANE_ERR_NONE;
		vslice_plane_activate(vd, &off);
		return;
	}
	err = vslice_plane_validate(&pl->shadow, vd->vram.size);
	pl->error = err;
	if (err == VSLICE_PLANE_ERR_NONE)
		vslice_plane_activate(vd, &pl->shadow);
}

/*
 * Reset: the plane is disabled and every plane register is 0 except
 * PLANE_GENERATION, which counts the disable if the plane was enabled.
 */
static void vslice_plane_reset(struct vslice_dev *vd)
{
	struct vslice_plane_regs *pl = &vd->hw.plane;
	static const struct vslice_plane off;

	lockdep_assert_held(&vd->dev_lock);
	vslice_plane_activate(vd, &off);
	pl->control = 0;
	pl->error = 0;
	memset(&pl->shadow, 0, sizeof(pl->shadow));
}

/**
 * vslice_plane_get() - the active scanout plane
 * @vd:		the instance
 * @active:	filled; format 0 (and all else 0) while the plane is disabled
 *
 * Takes dev_lock.
 */
void vslice_plane_get(struct vslice_dev *vd, struct vslice_plane *active)
{
	mutex_lock(&vd->dev_lock);
	*active = vd->hw.plane.active;
	mutex_unlock(&vd->dev_lock);
}

static u32 vslice_plane_read(struct vslice_dev *vd, u32 reg)
{
	const struct vslice_plane_regs *pl = &vd->hw.plane;

	switch (reg) {
	case VSLICE_REG_PLANE_CONTROL:
		return pl->control;
	case VSLICE_REG_PLANE_FORMAT:
		return pl->shadow.format;
	case VSLICE_REG_PLANE_OFFSET_LO:
		return lower_32_bits(pl->shadow.offset);
	case VSLICE_REG_PLANE_OFFSET_HI:
		return upper_32_bits(pl->shadow.offset);
	case VSLICE_REG_PLANE_WIDTH:
		return pl->shadow.width;
	case VSLICE_REG_PLANE_HEIGHT:
		return pl->shadow.height;
	case VSLICE_REG_PLANE_STRIDE:
		return pl->shadow.stride;
	case VSLICE_REG_PLANE_ERROR:
		return pl->error;
	case VSLICE_REG_PLANE_GENERATION:
		return pl->generation;
	case VSLICE_REG_PLANE_ACTIVE_FORMAT:
		return pl->active.format;
	case VSLICE_REG_PLANE_ACTIVE_OFFSET_LO:
		return lower_32_bits(pl->active.offset);
	case VSLICE_REG_PLANE_ACTIVE_OFFSET_HI:
		return upper_32_bits(pl->active.offset);
	case VSLICE_REG_PLANE_ACTIVE_WIDTH:
		return pl->active.width;
	case VSLICE_REG_PLANE_ACTIVE_HEIGHT:
		return pl->active.height;
	case VSLICE_REG_PLANE_ACTIVE_STRIDE:
		return pl->active.stride;
	default:
		return 0;
	}
}

static void vslice_plane_write(struct vslice_dev *vd, u32 reg, u32 val)
{
	struct vslice_plane *sh = &vd->hw.plane.shadow;

	switch (reg) {
	case VSLICE_REG_PLANE_CONTROL:
		vslice_plane_commit(vd, val);
		break;
	case VSLICE_REG_PLANE_FORMAT:
		sh->format = val;
		break;
	case VSLICE_REG_PLANE_OFFSET_LO:
		vslice_set_lo(&sh->offset, val);
		break;
	case VSLICE_REG_PLANE_OFFSET_HI:
		vslice_set_hi(&sh->offset, val);
		break;
	case VSLICE_REG_PLANE_WIDTH:
		sh->width = val;
		break;
	case VSLICE_REG_PLANE_HEIGHT:
		sh->height = val;
		break;
	case VSLICE_REG_PLANE_STRIDE:
		sh->stride = val;
		break;
	default:
		/* read-only plane registers */
		break;
	}
}

static u32 vslice_reg_read(struct vslice_dev *vd, u32 reg)
{
	const struct vslice_regs *r = &vd->hw.regs;

	lockdep_assert_held(&vd->dev_lock);
	switch (reg) {
	case VSLICE_REG_ID:
		return VSLICE_ID_MAGIC;
	case VSLICE_REG_VERSION:
		return VSLICE_DEV_VERSION;
	case VSLICE_REG_VRAM_SIZE_LO:
		return lower_32_bits(vd->vram.size);
	case VSLICE_REG_VRAM_SIZE_HI:
		return upper_32_bits(vd->vram.size);
	case VSLICE_REG_CAPS:
		return VSLICE_CAP_ENGINE | VSLICE_CAP_MSI | VSLICE_CAP_PLANE;
	case VSLICE_REG_SCRATCH(0) ... VSLICE_REG_SCRATCH(VSLICE_NR_SCRATCH - 1):
		return r->scratch[(reg - VSLICE_REG_SCRATCH(0)) / 4];
	case VSLICE_REG_RING_BASE_LO:
		return lower_32_bits(r->ring_base);
	case VSLICE_REG_RING_BASE_HI:
		return upper_32_bits(r->ring_base);
	case VSLICE_REG_RING_SIZE:
		return r->ring_size;
	case VSLICE_REG_RING_HEAD:
		return r->ring_head;
	case VSLICE_REG_RING_TAIL:
		return r->ring_tail;
	case VSLICE_REG_CONTROL:
		return r->control;
	case VSLICE_REG_STATUS:
		return r->status;
	case VSLICE_REG_FENCE_LO:
		return lower_32_bits(r->fence);
	case VSLICE_REG_FENCE_HI:
		return upper_32_bits(r->fence);
	case VSLICE_REG_IRQ_STATUS:
		return r->irq_status;
	case VSLICE_REG_IRQ_MASK:
		return r->irq_mask;
	case VSLICE_REG_ERROR:
		return r->error;
	case VSLICE_REG_ERROR_HEAD:
		return r->error_head;
	case VSLICE_REG_CMD_COUNT:
		return r->cmd_count;
	case VSLICE_REG_PLANE_CONTROL ... VSLICE_REG_PLANE_ACTIVE_STRIDE:
		return vslice_plane_read(vd, reg);
	default:
		/* DOORBELL, IRQ_ACK (write-only) and holes */
		return 0;
	}
}

/* Returns true when the engine must be kicked once dev_lock is dropped. */
static bool vslice_reg_write(struct vslice_dev *vd, u32 reg, u32 val)
{
	struct vslice_regs *r = &vd->hw.regs;
	u32 old;

	lockdep_assert_held(&vd->dev_lock);
	switch (reg) {
	case VSLICE_REG_SCRATCH(0) ... VSLICE_REG_SCRATCH(VSLICE_NR_SCRATCH - 1):
		r->scratch[(reg - VSLICE_REG_SCRATCH(0)) / 4] = val;
		return false;
	case VSLICE_REG_RING_BASE_LO:
		vslice_set_lo(&r->ring_base, val);
		return false;
	case VSLICE_REG_RING_BASE_HI:
		vslice_set_hi(&r->ring_base, val);
		return false;
	case VSLICE_REG_RING_SIZE:
		r->ring_size = val;
		return false;
	case VSLICE_REG_RING_TAIL:
		r->ring_tail = val;
		return r->control & VSLICE_CTRL_ENABLE;
	case VSLICE_REG_DOORBELL:
		return true;
	case VSLICE_REG_CONTROL:
		r->control = val & VSLICE_CTRL_ENABLE;
		vslice_engine_control_write(vd, r->control);
		return r->control & VSLICE_CTRL_ENABLE;
	case VSLICE_REG_IRQ_MASK:
		old = r->irq_mask;
		r->irq_mask = val & VSLICE_IRQ_ALL;
		vslice_irq_update(vd, r->irq_mask & ~old & r->irq_status);
		return false;
	case VSLICE_REG_IRQ_ACK:
		r->irq_status &= ~val;
		return false;
	case VSLICE_REG_PLANE_CONTROL ... VSLICE_REG_PLANE_ACTIVE_STRIDE:
		vslice_plane_write(vd, reg, val);
		return false;
	default:
		/* read-only registers and holes */
		return false;
	}
}

/**
 * vslice_mmio_rw() - BAR0 region access
 * @vd:		the instance
 * @buf:	user buffer
 * @count:	4, or 8 at an 8-byte aligned @pos
 * @pos:	offset in BAR0
 * @write:	direction
 *
 * Return: @count, -EINVAL for a bad size, alignment or range, -EFAULT.
 */
ssize_t vslice_mmio_rw(struct vslice_dev *vd, char __user *buf, size_t count,
		       u64 pos, bool write)
{
	__le32 val[2];
	unsigned int i, n = count / 4;
	bool kick = false;

	if ((count != 4 && count != 8) || !IS_ALIGNED(pos, count) ||
	    pos >= VSLICE_MMIO_SIZE || count > VSLICE_MMIO_SIZE - pos)
		return -EINVAL;

	if (write) {
		if (copy_from_user(val, buf, count))
			return -EFAULT;
		mutex_lock(&vd->dev_lock);
		for (i = 0; i < n; i++)
			kick |= vslice_reg_write(vd, pos + 4 * i,
						 le32_to_cpu(val[i]));
		mutex_unlock(&vd->dev_lock);
		if (kick)
			vslice_engine_kick(vd);
		return count;
	}

	mutex_lock(&vd->dev_lock);
	for (i = 0; i < n; i++)
		val[i] = cpu_to_le32(vslice_reg_read(vd, pos + 4 * i));
	mutex_unlock(&vd->dev_lock);
	if (copy_to_user(buf, val, count))
		return -EFAULT;
	return count;
}

/* ------------------------------------------------------------------ */
/* device state <-> migration stream                                   */
/* ------------------------------------------------------------------ */

static void vslice_plane_save(struct vslice_dev *vd,
			      struct vslice_stream_plane *sp)
{
	const struct vslice_plane_regs *pl = &vd->hw.plane;

	memset(sp, 0, sizeof(*sp));
	/* test fault: the stream says "no plane" (migration loses it) */
	if (vslice_fault_skip_plane())
		return;
	sp->control = cpu_to_le32(pl->control);
	sp->format = cpu_to_le32(pl->shadow.format);
	sp->offset = cpu_to_le64(pl->shadow.offset);
	sp->width = cpu_to_le32(pl->shadow.width);
	sp->height = cpu_to_le32(pl->shadow.height);
	sp->stride = cpu_to_le32(pl->shadow.stride);
	sp->error = cpu_to_le32(pl->error);
	sp->generation = cpu_to_le32(pl->generation);
	sp->active_format = cpu_to_le32(pl->active.format);
	sp->active_offset = cpu_to_le64(pl->active.offset);
	sp->active_width = cpu_to_le32(pl->active.width);
	sp->active_height = cpu_to_le32(pl->active.height);
	sp->active_stride = cpu_to_le32(pl->active.stride);
}

/**
 * vslice_hw_save() - snapshot config space, registers and engine checkpoint
 * @vd:		the instance (its engine quiesced)
 * @st:		filled completely, reserved fields zeroed
 * @plane:	the scanout plane's registers, filled the same way; NULL when
 *		writing a 1.0 stream, which has no room for them
 *
 * A 1.0 stream can carry the device only while its plane is disabled:
 * the shadow registers, PLANE_ERROR and PLANE_GENERATION are then lost
 * (the destination reads them as after a reset), the picture is not.
 *
 * Return: 0, or -EOPNOTSUPP when @plane is NULL and the plane is enabled.
 */
int vslice_hw_save(struct vslice_dev *vd, struct vslice_stream_hw *st,
		   struct vslice_stream_plane *plane)
{
	const struct vslice_regs *r = &vd->hw.regs;
	unsigned int i;

	/* test fault: a kernel report the test suite must count */
	WARN(vslice_fault_warn_save(),
	     "vslice: warn_save test fault: a WARN during a migration save\n");
	memset(st, 0, sizeof(*st));
	mutex_lock(&vd->dev_lock);
	if (!plane && vd->hw.plane.active.format) {
		mutex_unlock(&vd->dev_lock);
		dev_dbg(vd->vdev.dev,
			"device state: an enabled plane needs stream 1.1\n");
		return -EOPNOTSUPP;
	}
	if (plane)
		vslice_plane_save(vd, plane);
	memcpy(st->cfg, vd->hw.cfg, sizeof(st->cfg));
	for (i = 0; i < VSLICE_NR_SCRATCH; i++)
		st->scratch[i] = cpu_to_le32(r->scratch[i]);
	st->ring_base = cpu_to_le64(r->ring_base);
	st->ring_size = cpu_to_le32(r->ring_size);
	st->ring_head = cpu_to_le32(r->ring_head);
	st->ring_tail = cpu_to_le32(r->ring_tail);
	st->control = cpu_to_le32(r->control);
	st->status = cpu_to_le32(r->status);
	st->irq_status = cpu_to_le32(r->irq_status);
	st->fence = cpu_to_le64(r->fence);
	st->irq_mask = cpu_to_le32(r->irq_mask);
	st->error = cpu_to_le32(r->error);
	st->error_head = cpu_to_le32(r->error_head);
	st->cmd_count = cpu_to_le32(r->cmd_count);
	st->cmd_progress = cpu_to_le64(vslice_engine_progress(vd));
	st->irq_type = cpu_to_le32(vd->hw.irq_type < 0 ? U32_MAX :
				   vd->hw.irq_type);
	mutex_unlock(&vd->dev_lock);
	return 0;
}

static int vslice_hw_bad(struct vslice_dev *vd, const char *what, u64 val)
{
	dev_dbg(vd->vdev.dev, "device state: bad %s 0x%llx\n", what, val);
	return -EINVAL;
}

/*
 * The plane's registers from a stream: PLANE_ERROR a defined code, the
 * active plane either all zero (disabled) or one that a commit on this
 * instance would have accepted.  The shadow registers and PLANE_CONTROL
 * hold whatever the guest wrote and are taken as they are.
 */
static int vslice_plane_check(struct vslice_dev *vd,
			      const struct vslice_stream_plane *sp)
{
	const struct vslice_plane act = {
		.format = le32_to_cpu(sp->active_format),
		.width = le32_to_cpu(sp->active_width),
		.height = le32_to_cpu(sp->active_height),
		.stride = le32_to_cpu(sp->active_stride),
		.offset = le64_to_cpu(sp->active_offset),
	};
	static const struct vslice_plane off;
	u32 err;

	if (sp->reserved)
		return vslice_hw_bad(vd, "plane reserved field",
				     le32_to_cpu(sp->reserved));
	if (le32_to_cpu(sp->error) > VSLICE_PLANE_ERR_LAST)
		return vslice_hw_bad(vd, "PLANE_ERROR", le32_to_cpu(sp->error));
	if (!act.format) {
		if (memcmp(&act, &off, sizeof(act)))
			return vslice_hw_bad(vd, "disabled plane with values",
					     act.offset);
		return 0;
	}
	err = vslice_plane_validate(&act, vd->vram.size);
	if (err)
		return vslice_hw_bad(vd, "active plane", err);
	return 0;
}

/**
 * vslice_hw_check() - validate device state from a migration stream
 * @vd:		the destination instance
 * @st:		the state; nothing is applied
 * @plane:	the scanout plane's registers, or NULL (a 1.0 stream)
 *
 * Rejects what this device can never be in, and nothing it can: every
 * state a guest can drive the source into must migrate.  So:
 *  - config space: read-only bits must match this instance's identity
 *    (vslice_cfg_check());
 *  - bits outside a register's defined ones (CONTROL, STATUS, IRQ_STATUS,
 *    IRQ_MASK), an unknown ERROR code, reserved fields, irq_type other
 *    than none/INTx/MSI;
 *  - the plane: an unknown PLANE_ERROR code, an active plane that a
 *    commit would have refused (vslice_plane_check());
 *  - engine invariants: STATUS.HALTED exactly when ERROR is set,
 *    ERROR_HEAD 0 without an error, BUSY only while enabled and not
 *    halted, a command checkpoint (cmd_progress) only while enabled and
 *    not halted, RING_HEAD and ERROR_HEAD below VSLICE_RING_MAX_ENTRIES
 *    (the engine only ever stores indices of a valid ring there).
 *
 * RING_BASE, RING_SIZE and RING_TAIL are accepted as they are: they hold
 * whatever the guest wrote, and a bad ring (size not a power of two, tail
 * or head outside it) is reported by the destination's engine exactly as
 * the source's would have (VSLICE_ERR_RING_CONFIG / _INDEX).  The engine
 * also restarts a command whose checkpoint does not fit it.
 *
 * Return: 0 or -EINVAL.
 */
int vslice_hw_check(struct vslice_dev *vd, const struct vslice_stream_hw *st,
		    const struct vslice_stream_plane *plane)
{
	u32 control = le32_to_cpu(st->control);
	u32 status = le32_to_cpu(st->status);
	u32 error = le32_to_cpu(st->error);
	u32 irq_type = le32_to_cpu(st->irq_type);
	bool running;
	unsigned int i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(st->reserved); i++)
		if (st->reserved[i])
			return vslice_hw_bad(vd, "reserved field",
					     le32_to_cpu(st->reserved[i]));
	if (irq_type != U32_MAX && irq_type != VFIO_PCI_INTX_IRQ_INDEX &&
	    irq_type != VFIO_PCI_MSI_IRQ_INDEX)
		return vslice_hw_bad(vd, "irq_type", irq_type);

	ret = vslice_cfg_check(vd, st->cfg);
	if (ret)
		return ret;
	if (plane) {
		ret = vslice_plane_check(vd, plane);
		if (ret)
			return ret;
	}

	if (control & ~VSLICE_CTRL_ENABLE)
		return vslice_hw_bad(vd, "CONTROL", control);
	if (status & ~(VSLICE_STATUS_BUSY | VSLICE_STATUS_HALTED))
		return vslice_hw_bad(vd, "STATUS", status);
	if (le32_to_cpu(st->irq_status) & ~VSLICE_IRQ_ALL)
		return vslice_hw_bad(vd, "IRQ_STATUS",
				     le32_to_cpu(st->irq_status));
	if (le32_to_cpu(st->irq_mask) & ~VSLICE_IRQ_ALL)
		return vslice_hw_bad(vd, "IRQ_MASK", le32_to_cpu(st->irq_mask));
	if (error > VSLICE_ERR_LAST)
		return vslice_hw_bad(vd, "ERROR", error);

	if (!!(status & VSLICE_STATUS_HALTED) != !!error)
		return vslice_hw_bad(vd, "STATUS.HALTED vs ERROR", status);
	if (!error && st->error_head)
		return vslice_hw_bad(vd, "ERROR_HEAD without an error",
				     le32_to_cpu(st->error_head));
	running = (control & VSLICE_CTRL_ENABLE) &&
		  !(status & VSLICE_STATUS_HALTED);
	if ((status & VSLICE_STATUS_BUSY) && !running)
		return vslice_hw_bad(vd, "STATUS.BUSY while stopped", status);
	if (st->cmd_progress && !running)
		return vslice_hw_bad(vd, "cmd_progress while stopped",
				     le64_to_cpu(st->cmd_progress));
	if (le32_to_cpu(st->ring_head) >= VSLICE_RING_MAX_ENTRIES)
		return vslice_hw_bad(vd, "RING_HEAD",
				     le32_to_cpu(st->ring_head));
	if (le32_to_cpu(st->error_head) >= VSLICE_RING_MAX_ENTRIES)
		return vslice_hw_bad(vd, "ERROR_HEAD",
				     le32_to_cpu(st->error_head));
	return 0;
}

/*
 * The plane's registers from a stream checked by vslice_plane_check(), or
 * (@sp NULL, a 1.0 stream) the plane as after a reset.  The display
 * window follows the active plane.
 */
static void vslice_plane_load(struct vslice_dev *vd,
			      const struct vslice_stream_plane *sp)
{
	struct vslice_plane_regs *pl = &vd->hw.plane;
	struct vslice_plane act = { 0 };

	lockdep_assert_held(&vd->dev_lock);
	if (!sp) {
		vslice_plane_reset(vd);
		return;
	}
	act.format = le32_to_cpu(sp->active_format);
	act.width = le32_to_cpu(sp->active_width);
	act.height = le32_to_cpu(sp->active_height);
	act.stride = le32_to_cpu(sp->active_stride);
	act.offset = le64_to_cpu(sp->active_offset);
	vslice_plane_activate(vd, &act);
	pl->control = le32_to_cpu(sp->control);
	pl->shadow.format = le32_to_cpu(sp->format);
	pl->shadow.width = le32_to_cpu(sp->width);
	pl->shadow.height = le32_to_cpu(sp->height);
	pl->shadow.stride = le32_to_cpu(sp->stride);
	pl->shadow.offset = le64_to_cpu(sp->offset);
	pl->error = le32_to_cpu(sp->error);
	/* after activate(), which counts: the source's value wins */
	pl->generation = le32_to_cpu(sp->generation);
}

/**
 * vslice_hw_load() - apply device state checked by vslice_hw_check()
 * @vd:		the destination instance (engine quiesced)
 * @st:		the state
 * @plane:	the scanout plane's registers, or NULL (a 1.0 stream: the
 *		plane is disabled, its registers as after a reset)
 *
 * Config space, registers and the engine checkpoint are replaced under
 * dev_lock.  STATUS.HALTED follows ERROR, and STATUS.BUSY is recomputed
 * (enabled, not halted, RING_HEAD != RING_TAIL), so the engine resumes
 * exactly the work that was pending.  The IRQ configuration (eventfds)
 * belongs to the destination's userspace and is kept; an INTx level that
 * is pending after the load is delivered if userspace already set it up.
 */
void vslice_hw_load(struct vslice_dev *vd, const struct vslice_stream_hw *st,
		    const struct vslice_stream_plane *plane)
{
	struct vslice_regs *r = &vd->hw.regs;
	unsigned int i;

	mutex_lock(&vd->dev_lock);
	memcpy(vd->hw.cfg, st->cfg, sizeof(vd->hw.cfg));
	for (i = 0; i < VSLICE_NR_SCRATCH; i++)
		r->scratch[i] = le32_to_cpu(st->scratch[i]);
	r->ring_base = le64_to_cpu(st->ring_base);
	r->ring_size = le32_to_cpu(st->ring_size);
	r->ring_head = le32_to_cpu(st->ring_head);
	r->ring_tail = le32_to_cpu(st->ring_tail);
	r->control = le32_to_cpu(st->control);
	r->fence = le64_to_cpu(st->fence);
	r->irq_status = le32_to_cpu(st->irq_status);
	r->irq_mask = le32_to_cpu(st->irq_mask);
	r->error = le32_to_cpu(st->error);
	r->error_head = le32_to_cpu(st->error_head);
	r->cmd_count = le32_to_cpu(st->cmd_count);

	r->status = r->error ? VSLICE_STATUS_HALTED : 0;
	if ((r->control & VSLICE_CTRL_ENABLE) && !r->error &&
	    r->ring_head != r->ring_tail)
		r->status |= VSLICE_STATUS_BUSY;
	vslice_engine_set_progress(vd, le64_to_cpu(st->cmd_progress));
	vslice_plane_load(vd, plane);

	vslice_irq_update(vd, 0);
	mutex_unlock(&vd->dev_lock);
}

/**
 * vslice_hw_reset() - power-on state of the emulated function
 * @vd:		the instance (engine already reset, see vslice_dev_reset())
 *
 * Config space, registers, the device side of the IRQ state and VRAM
 * contents: nothing survives.  Interrupt eventfds that userspace set up
 * through SET_IRQS stay configured, as with vfio-pci; close_device drops
 * them (vslice_irq_teardown()).  Takes dev_lock, then the VRAM lock.
 */
void vslice_hw_reset(struct vslice_dev *vd)
{
	mutex_lock(&vd->dev_lock);
	vslice_cfg_init(vd);
	vslice_regs_reset(vd);
	vslice_plane_reset(vd);
	vslice_irq_reset(vd);
	mutex_unlock(&vd->dev_lock);
	vslice_vram_reset(vd);
}

/**
 * vslice_dev_reset() - return the instance to its power-on state
 * @vd:	the instance, state_mutex held
 *
 * The one place that resets the whole device: VFIO_DEVICE_RESET
 * (vslice_mig_reset()), open and close.  Nothing survives: the engine
 * stops and forgets its checkpoint, config space, registers and the
 * device side of the IRQ state return to power-on values and VRAM becomes
 * zero again (its pages are freed).  The engine runs again afterwards
 * (with CONTROL.ENABLE clear it has nothing to do).
 */
void vslice_dev_reset(struct vslice_dev *vd)
{
	lockdep_assert_held(&vd->state_mutex);
	vslice_engine_reset(vd);
	vslice_hw_reset(vd);
	vslice_engine_resume(vd);
}
