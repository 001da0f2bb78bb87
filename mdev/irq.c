// SPDX-License-Identifier: GPL-2.0
/*
 * vslice: interrupts - the VFIO IRQ interface of an instance.
 *
 * Two VFIO interrupts, as a PCI function with INTA and one MSI vector:
 *
 *  VFIO_PCI_INTX_IRQ_INDEX  count 1, EVENTFD | MASKABLE | AUTOMASKED.
 *	Level triggered: asserted while a source is pending (IRQ_STATUS &
 *	IRQ_MASK), the MSI capability is disabled and COMMAND.INTX_DISABLE
 *	is clear.  When asserted and unmasked it signals the eventfd and
 *	masks itself; VFIO_IRQ_SET_ACTION_UNMASK re-arms it and signals
 *	again at once if the level is still asserted.  ACTION_MASK masks.
 *  VFIO_PCI_MSI_IRQ_INDEX   count 1, EVENTFD | NORESIZE.
 *	Edge: every raise of a pending source signals the eventfd, and so
 *	does unmasking a source (IRQ_MASK) that is already set.  As with
 *	vfio-pci, setting an MSI eventfd is what enables MSI delivery: the
 *	enable bit of the emulated capability only turns INTx off.
 *  MSI-X, ERR and REQ have count 0.
 *
 * Userspace may use one of INTx and MSI at a time (switching needs a
 * disable first, like vfio-pci).  Triggers: DATA_EVENTFD with fd >= 0 sets
 * the eventfd, fd -1 or count 0 with DATA_NONE disables the interrupt;
 * DATA_NONE and DATA_BOOL (true) with count 1 signal it as a loopback test.
 * Masking and unmasking INTx through an eventfd (irqfd resampling) is not
 * supported (-EINVAL): QEMU then falls back to the ioctl.
 *
 * Errors: -EINVAL for an action or data type this interrupt does not
 * support, a count other than the one the action needs, an fd below -1
 * or an interrupt other than the one in use; what eventfd_ctx_fdget()
 * returns for a bad fd (-EBADF, -EINVAL).
 *
 * Locking: all state lives in struct vslice_hw under dev_lock.
 * vslice_irq_raise() is called by the engine with dev_lock held;
 * eventfd_signal() is safe under a mutex.
 */

#include <linux/eventfd.h>
#include <linux/uaccess.h>
#include <linux/vfio.h>

#include "vslice.h"

/**
 * vslice_irq_update() - deliver what the current state calls for
 * @vd:		the instance, dev_lock held
 * @edges:	sources that just became pending (MSI is signalled for them)
 *
 * Called after anything that may change the interrupt condition: a raise,
 * an IRQ_MASK write, a COMMAND or MSI capability write, an unmask, a
 * state load.
 */
void vslice_irq_update(struct vslice_dev *vd, u32 edges)
{
	struct vslice_hw *hw = &vd->hw;

	lockdep_assert_held(&vd->dev_lock);
	switch (hw->irq_type) {
	case VFIO_PCI_INTX_IRQ_INDEX:
		if (hw->intx_trigger && !hw->intx_masked &&
		    vslice_hw_intx_pending(hw) &&
		    !vslice_hw_intx_disabled(hw)) {
			hw->intx_masked = true;
			vslice_eventfd_signal(hw->intx_trigger);
		}
		break;
	case VFIO_PCI_MSI_IRQ_INDEX:
		if (edges && hw->msi_trigger)
			vslice_eventfd_signal(hw->msi_trigger);
		break;
	}
}

/**
 * vslice_irq_raise() - interrupt sources fired
 * @vd:		the instance, dev_lock held
 * @sources:	VSLICE_IRQ_* bits to set in IRQ_STATUS
 *
 * Sets the bits and delivers an interrupt for those not masked in IRQ_MASK.
 */
void vslice_irq_raise(struct vslice_dev *vd, u32 sources)
{
	struct vslice_regs *r = &vd->hw.regs;

	lockdep_assert_held(&vd->dev_lock);
	sources &= VSLICE_IRQ_ALL;
	r->irq_status |= sources;
	vslice_irq_update(vd, sources & r->irq_mask);
}

/**
 * vslice_irq_get_info() - VFIO_DEVICE_GET_IRQ_INFO
 * @vd:		the instance
 * @info:	index set by the caller; flags and count filled in
 *
 * Return: 0, or -EINVAL for an index beyond VFIO_PCI_NUM_IRQS.
 */
int vslice_irq_get_info(struct vslice_dev *vd, struct vfio_irq_info *info)
{
	switch (info->index) {
	case VFIO_PCI_INTX_IRQ_INDEX:
		info->flags = VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE |
			      VFIO_IRQ_INFO_AUTOMASKED;
		info->count = 1;
		return 0;
	case VFIO_PCI_MSI_IRQ_INDEX:
		info->flags = VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE;
		info->count = 1;
		return 0;
	case VFIO_PCI_MSIX_IRQ_INDEX:
	case VFIO_PCI_ERR_IRQ_INDEX:
	case VFIO_PCI_REQ_IRQ_INDEX:
		info->flags = 0;
		info->count = 0;
		return 0;
	default:
		return -EINVAL;
	}
}

static struct eventfd_ctx **vslice_irq_slot(struct vslice_hw *hw, u32 index)
{
	return index == VFIO_PCI_INTX_IRQ_INDEX ? &hw->intx_trigger :
						  &hw->msi_trigger;
}

/* Disable @index; returns the eventfd to put outside the lock. */
static struct eventfd_ctx *vslice_irq_disable(struct vslice_hw *hw, u32 index)
{
	struct eventfd_ctx **slot = vslice_irq_slot(hw, index);
	struct eventfd_ctx *old = *slot;

	*slot = NULL;
	hw->irq_type = -1;
	hw->intx_masked = false;
	return old;
}

/*
 * ACTION_TRIGGER for INTx or MSI.  @fd is valid for DATA_EVENTFD, @bool
 * for DATA_BOOL; @count is 0 or 1.  Called with dev_lock held; an eventfd
 * to release is returned through @put.
 */
static int vslice_irq_trigger(struct vslice_dev *vd, u32 index, u32 dtype,
			      u32 count, struct eventfd_ctx *ctx, bool set,
			      struct eventfd_ctx **put)
{
	struct vslice_hw *hw = &vd->hw;
	struct eventfd_ctx **slot = vslice_irq_slot(hw, index);
	bool mine = hw->irq_type == (int)index;

	lockdep_assert_held(&vd->dev_lock);
	if (!mine && hw->irq_type >= 0)
		return -EINVAL;		/* the other interrupt is in use */

	if (dtype == VFIO_IRQ_SET_DATA_EVENTFD) {
		if (!ctx) {			/* fd -1 */
			*put = vslice_irq_disable(hw, index);
			return 0;
		}
		*put = *slot;
		*slot = ctx;
		if (!mine) {
			hw->irq_type = index;
			hw->intx_masked = false;
		}
		vslice_irq_update(vd, 0);
		return 0;
	}

	if (!count) {				/* DATA_NONE, count 0 */
		*put = vslice_irq_disable(hw, index);
		return 0;
	}

	/* Loopback: DATA_NONE, or DATA_BOOL true. */
	if (!mine)
		return -EINVAL;
	if (set && *slot)
		vslice_eventfd_signal(*slot);
	return 0;
}

static int vslice_irq_intx_mask(struct vslice_dev *vd, u32 action, bool set)
{
	struct vslice_hw *hw = &vd->hw;

	if (hw->irq_type != VFIO_PCI_INTX_IRQ_INDEX)
		return -EINVAL;
	if (!set)
		return 0;
	if (action == VFIO_IRQ_SET_ACTION_MASK) {
		hw->intx_masked = true;
	} else {
		hw->intx_masked = false;
		vslice_irq_update(vd, 0);
	}
	return 0;
}

/**
 * vslice_irq_set() - VFIO_DEVICE_SET_IRQS
 * @vd:		the instance
 * @hdr:	the request, already checked by
 *		vfio_set_irqs_validate_and_prepare() against our counts
 * @data:	userspace payload after the header (bools or fds)
 *
 * See the top of this file for what is supported.
 *
 * Return: 0 or a negative errno; the state is unchanged on error.
 */
int vslice_irq_set(struct vslice_dev *vd, struct vfio_irq_set *hdr,
		   void __user *data)
{
	u32 action = hdr->flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
	u32 dtype = hdr->flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
	struct eventfd_ctx *ctx = NULL, *put = NULL;
	bool set = true;
	int ret;

	if (hdr->index != VFIO_PCI_INTX_IRQ_INDEX &&
	    hdr->index != VFIO_PCI_MSI_IRQ_INDEX)
		return -EINVAL;
	if (action != VFIO_IRQ_SET_ACTION_MASK &&
	    action != VFIO_IRQ_SET_ACTION_UNMASK &&
	    action != VFIO_IRQ_SET_ACTION_TRIGGER)
		return -EINVAL;
	if (dtype != VFIO_IRQ_SET_DATA_NONE && dtype != VFIO_IRQ_SET_DATA_BOOL &&
	    dtype != VFIO_IRQ_SET_DATA_EVENTFD)
		return -EINVAL;
	/* One vector: start 0; count 0 only to disable with DATA_NONE. */
	if (hdr->start != 0 || hdr->count > 1)
		return -EINVAL;
	if (!hdr->count && (action != VFIO_IRQ_SET_ACTION_TRIGGER ||
			    dtype != VFIO_IRQ_SET_DATA_NONE))
		return -EINVAL;
	if (action != VFIO_IRQ_SET_ACTION_TRIGGER &&
	    (hdr->index != VFIO_PCI_INTX_IRQ_INDEX ||
	     dtype == VFIO_IRQ_SET_DATA_EVENTFD))
		return -EINVAL;

	if (dtype == VFIO_IRQ_SET_DATA_BOOL) {
		u8 b;

		if (copy_from_user(&b, data, sizeof(b)))
			return -EFAULT;
		set = b;
	} else if (dtype == VFIO_IRQ_SET_DATA_EVENTFD) {
		s32 fd;

		if (copy_from_user(&fd, data, sizeof(fd)))
			return -EFAULT;
		if (fd < -1)
			return -EINVAL;
		if (fd >= 0) {
			ctx = eventfd_ctx_fdget(fd);
			if (IS_ERR(ctx))
				return PTR_ERR(ctx);
		}
	}

	mutex_lock(&vd->dev_lock);
	if (action == VFIO_IRQ_SET_ACTION_TRIGGER)
		ret = vslice_irq_trigger(vd, hdr->index, dtype, hdr->count,
					 ctx, set, &put);
	else
		ret = vslice_irq_intx_mask(vd, action, set);
	mutex_unlock(&vd->dev_lock);

	if (ret && ctx)
		eventfd_ctx_put(ctx);
	if (put)
		eventfd_ctx_put(put);
	return ret;
}

/**
 * vslice_irq_reset() - device reset: the pin is no longer asserted
 * @vd:		the instance, dev_lock held
 *
 * The eventfds userspace configured stay (vfio-pci keeps them across a
 * reset too); the automask is cleared, since the level it latched is gone
 * with the register reset.  On a new instance nothing is configured yet.
 */
void vslice_irq_reset(struct vslice_dev *vd)
{
	struct vslice_hw *hw = &vd->hw;

	lockdep_assert_held(&vd->dev_lock);
	hw->intx_masked = false;
	if (!hw->intx_trigger && !hw->msi_trigger)
		hw->irq_type = -1;
}

/**
 * vslice_irq_teardown() - release the eventfds (close_device)
 * @vd:		the instance
 */
void vslice_irq_teardown(struct vslice_dev *vd)
{
	struct vslice_hw *hw = &vd->hw;
	struct eventfd_ctx *intx, *msi;

	mutex_lock(&vd->dev_lock);
	intx = hw->intx_trigger;
	msi = hw->msi_trigger;
	hw->intx_trigger = NULL;
	hw->msi_trigger = NULL;
	hw->irq_type = -1;
	hw->intx_masked = false;
	mutex_unlock(&vd->dev_lock);

	if (intx)
		eventfd_ctx_put(intx);
	if (msi)
		eventfd_ctx_put(msi);
}
