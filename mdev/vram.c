// SPDX-License-Identifier: GPL-2.0
/*
 * vslice: VRAM, the memory behind BAR2.
 *
 * Backing.  VRAM is an array of pages allocated on first use
 * (GFP_KERNEL_ACCOUNT, zeroed).  A NULL entry reads as zeros and costs
 * nothing; reads never allocate, and writing zeros to a page that is still
 * zero does not allocate either.
 *
 * Written and dirty.  @written marks the pages written since creation or
 * the last reset: only those are ever streamed (zero elision).  @dirty
 * marks the pages written since a save pass last took them.  Writes from
 * every path set both: the region write path, the engine
 * (vslice_vram_rw(), vslice_vram_fill()) and user mappings.  The resume
 * side (vslice_vram_stage_commit()) sets @written only.  vslice_vram_reset()
 * frees every page; the pages it zeroes become dirty (a save in progress
 * must send them again, as zero pages).  A resume stream is received into
 * staged pages and installed only once it validated ("resume staging").
 *
 * Mappings.  BAR2 mmaps are VM_PFNMAP; the fault handler inserts the page
 * (allocating it) read-only.  The first write through a PTE faults again
 * into ->pfn_mkwrite, which sets @written and @dirty before the core makes
 * the PTE writable (the VMA has ->pfn_mkwrite, so the core write-protects
 * shared mappings for us: "write notify").  Taking a run of dirty pages
 * (vslice_vram_take_run()) clears their bits and zaps their PTEs in every
 * process with unmap_mapping_pages() before the save reads them, so a
 * write after that faults and marks the page dirty again.  This keeps the invariant
 * documented at struct vslice_vram, whether a save is in progress or not.
 *
 * To find the PTEs of a page, every BAR2 mapping is linked into one
 * address_space per instance, at its VFIO file offset: vm_pgoff is
 * (VFIO_PCI_BAR2_REGION_INDEX << 40 >> PAGE_SHIFT) + page, restored here
 * because instance.c hands us a region-relative one.  With
 * vfio_device.inode (VSLICE_HAVE_VDEV_INODE) that address_space is the
 * inode's, which the vfio core already installs as every device file's
 * f_mapping.  Older kernels share one anon inode between all vfio device
 * files, so there a BAR2 VMA is moved to a private shmem file of the
 * instance (vma_set_file(), as dma-buf mappings do); the VMA then holds a
 * reference on the device file itself, so the device cannot be closed
 * while mapped, just like with vfio's own file.
 *
 * The display window.  The display region (VSLICE_DISPLAY_REGION_INDEX,
 * display.c) is a read-only view of VRAM starting at page @window, the
 * active scanout plane's offset: region page i is VRAM page @window + i.
 * Its mappings are linked into the same address_space as BAR2's, at the
 * display region's file offset, and faulted in read-only the same way.
 * When @window moves (vslice_vram_set_window()) or pages are freed (reset)
 * they are zapped, so the next access faults in the right page: QEMU keeps
 * one mapping for the life of its display and sees the new plane in it.
 * Mappings may not be writable (no VM_WRITE, VM_MAYWRITE cleared), so the
 * window never needs dirty tracking.
 *
 * Locking.  vram.lock (a mutex) protects the page array and the bitmaps.
 * The fault handlers take it under mmap_lock (or the per-VMA lock), so
 * nothing here touches user memory or takes mmap_lock while holding it:
 * region accesses copy through a bounce buffer.  unmap_mapping_pages()
 * under vram.lock takes i_mmap_rwsem and page table locks only.  Callers
 * may hold dev_lock or the engine's dma_lock (both rank above vram.lock).
 */

#include <linux/bitmap.h>
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/sched/signal.h>
#include <linux/shmem_fs.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/vfio_pci_core.h>

#include "vslice.h"

/* First page of BAR2 in the device file. */
#define VSLICE_VRAM_PGOFF \
	(VFIO_PCI_INDEX_TO_OFFSET(VFIO_PCI_BAR2_REGION_INDEX) >> PAGE_SHIFT)
/* First page of the display region in the device file. */
#define VSLICE_WINDOW_PGOFF \
	(VFIO_PCI_INDEX_TO_OFFSET(VSLICE_DISPLAY_REGION_INDEX) >> PAGE_SHIFT)

/* ------------------------------------------------------------------ */
/* the address_space that links the instance's BAR2 mappings           */
/* ------------------------------------------------------------------ */

#if VSLICE_HAVE_VDEV_INODE

static int vslice_vram_backing_init(struct vslice_vram *vram)
{
	vram->backing = NULL;
	return 0;
}

static void vslice_vram_backing_fini(struct vslice_vram *vram)
{
}

static struct address_space *vslice_vram_mapping(struct vslice_vram *vram)
{
	struct vslice_dev *vd = container_of(vram, struct vslice_dev, vram);

	return vd->vdev.inode->i_mapping;
}

static struct vslice_vram *vslice_vma_vram(struct vm_area_struct *vma)
{
	return vma->vm_private_data;
}

static int vslice_vram_vma_attach(struct vslice_vram *vram,
				  struct vm_area_struct *vma)
{
	vma->vm_private_data = vram;
	return 0;
}

#define VSLICE_VRAM_VMA_OPS

#else /* !VSLICE_HAVE_VDEV_INODE */

/**
 * struct vslice_vram_vma - what the BAR2 VMAs of one mmap() share
 * @ref:	VMAs referring to this (split and fork add some)
 * @vram:	the instance's VRAM
 * @devfile:	the vfio device file the mapping was made through; the
 *		reference keeps the device open while it is mapped
 */
struct vslice_vram_vma {
	refcount_t ref;
	struct vslice_vram *vram;
	struct file *devfile;
};

static int vslice_vram_backing_init(struct vslice_vram *vram)
{
	struct file *file;

	file = shmem_file_setup("vslice-vram", 0, VM_NORESERVE);
	if (IS_ERR(file))
		return PTR_ERR(file);
	vram->backing = file;
	return 0;
}

static void vslice_vram_backing_fini(struct vslice_vram *vram)
{
	fput(vram->backing);
	vram->backing = NULL;
}

static struct address_space *vslice_vram_mapping(struct vslice_vram *vram)
{
	return vram->backing->f_mapping;
}

static struct vslice_vram *vslice_vma_vram(struct vm_area_struct *vma)
{
	struct vslice_vram_vma *v = vma->vm_private_data;

	return v->vram;
}

static void vslice_vram_vma_open(struct vm_area_struct *vma)
{
	struct vslice_vram_vma *v = vma->vm_private_data;

	refcount_inc(&v->ref);
}

static void vslice_vram_vma_close(struct vm_area_struct *vma)
{
	struct vslice_vram_vma *v = vma->vm_private_data;

	if (refcount_dec_and_test(&v->ref)) {
		fput(v->devfile);
		kfree(v);
	}
}

static int vslice_vram_vma_attach(struct vslice_vram *vram,
				  struct vm_area_struct *vma)
{
	struct vslice_vram_vma *v;

	v = kzalloc(sizeof(*v), GFP_KERNEL_ACCOUNT);
	if (!v)
		return -ENOMEM;
	refcount_set(&v->ref, 1);
	v->vram = vram;
	v->devfile = get_file(vma->vm_file);
	vma->vm_private_data = v;
	/* Link the VMA into the instance's own address_space. */
	vma_set_file(vma, vram->backing);
	return 0;
}

#define VSLICE_VRAM_VMA_OPS			\
	.open = vslice_vram_vma_open,		\
	.close = vslice_vram_vma_close,

#endif /* VSLICE_HAVE_VDEV_INODE */

/* Zap the PTEs of pages [@first, @first + @nr) in every mapping. */
static void vslice_vram_zap(struct vslice_vram *vram, unsigned long first,
			    unsigned long nr)
{
	lockdep_assert_held(&vram->lock);
	unmap_mapping_pages(vslice_vram_mapping(vram), VSLICE_VRAM_PGOFF + first,
			    nr, false);
}

/* Zap every PTE of the display window, in every mapping. */
static void vslice_vram_zap_window(struct vslice_vram *vram)
{
	lockdep_assert_held(&vram->lock);
	unmap_mapping_pages(vslice_vram_mapping(vram), VSLICE_WINDOW_PGOFF,
			    vram->npages, false);
}

/* ------------------------------------------------------------------ */
/* pages                                                               */
/* ------------------------------------------------------------------ */

/* The page at @idx, allocated if missing and @alloc; NULL if none/OOM. */
static struct page *vslice_vram_page(struct vslice_vram *vram,
				     unsigned long idx, bool alloc)
{
	struct page *page = vram->pages[idx];

	lockdep_assert_held(&vram->lock);
	if (!page && alloc) {
		/*
		 * Charged to the opener's memory cgroup (the engine worker
		 * runs under its set_active_memcg()); over the limit this fails
		 * with -ENOMEM rather than OOM-killing the tenant.
		 */
		page = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO |
				  __GFP_RETRY_MAYFAIL);
		vram->pages[idx] = page;
	}
	return page;
}

static void vslice_vram_mark(struct vslice_vram *vram, unsigned long idx)
{
	__set_bit(idx, vram->written);
	if (!__test_and_set_bit(idx, vram->dirty))
		vram->dirtied++;
}

/* A page that was never written (since a reset) is all zeros. */
static bool vslice_vram_is_zero(struct vslice_vram *vram, unsigned long idx)
{
	return !test_bit(idx, vram->written);
}

static int vslice_vram_range(struct vslice_vram *vram, u64 off, u64 len)
{
	u64 end;

	if (check_add_overflow(off, len, &end) || end > vram->size)
		return -EINVAL;
	return 0;
}

/*
 * Copy between VRAM [@off, @off + @len) and the kernel buffer @buf, one
 * page at a time under vram.lock.  The range is already checked.
 */
static int vslice_vram_copy(struct vslice_vram *vram, u64 off, void *buf,
			    size_t len, bool write)
{
	while (len) {
		unsigned long idx = off >> PAGE_SHIFT;
		size_t poff = offset_in_page(off);
		size_t n = min_t(size_t, len, PAGE_SIZE - poff);
		struct page *page;

		mutex_lock(&vram->lock);
		if (!write) {
			page = vslice_vram_page(vram, idx, false);
			if (page)
				memcpy_from_page(buf, page, poff, n);
			else
				memset(buf, 0, n);
		} else if (!vslice_vram_is_zero(vram, idx) ||
			   memchr_inv(buf, 0, n)) {
			page = vslice_vram_page(vram, idx, true);
			if (!page) {
				mutex_unlock(&vram->lock);
				return -ENOMEM;
			}
			memcpy_to_page(page, poff, buf, n);
			vslice_vram_mark(vram, idx);
		}
		mutex_unlock(&vram->lock);

		buf += n;
		off += n;
		len -= n;
	}
	return 0;
}

/**
 * vslice_vram_rw() - engine access to VRAM
 * @vram:	the VRAM
 * @off:	byte offset
 * @buf:	kernel buffer
 * @len:	bytes
 * @write:	VRAM is written (marks the pages written and dirty)
 *
 * Return: 0, -EINVAL if the range leaves VRAM, -ENOMEM (nothing written
 * beyond the page that failed).
 */
int vslice_vram_rw(struct vslice_vram *vram, u64 off, void *buf, size_t len,
		   bool write)
{
	if (vslice_vram_range(vram, off, len))
		return -EINVAL;
	return vslice_vram_copy(vram, off, buf, len, write);
}

/**
 * vslice_vram_fill() - engine FILL: repeat a 32-bit pattern
 * @vram:	the VRAM
 * @off:	byte offset, 4-byte aligned
 * @pattern:	the pattern (little-endian in memory, as the guest sees it)
 * @len:	bytes, a multiple of 4
 *
 * Filling a never-written page with 0 leaves it unallocated.
 *
 * Return: 0, -EINVAL (range or alignment), -ENOMEM.
 */
int vslice_vram_fill(struct vslice_vram *vram, u64 off, u32 pattern,
		     size_t len)
{
	u32 val = (__force u32)cpu_to_le32(pattern);

	if (vslice_vram_range(vram, off, len) || !IS_ALIGNED(off, 4) ||
	    !IS_ALIGNED(len, 4))
		return -EINVAL;

	while (len) {
		unsigned long idx = off >> PAGE_SHIFT;
		size_t poff = offset_in_page(off);
		size_t n = min_t(size_t, len, PAGE_SIZE - poff);
		struct page *page;
		void *kaddr;

		mutex_lock(&vram->lock);
		if (pattern || !vslice_vram_is_zero(vram, idx)) {
			page = vslice_vram_page(vram, idx, true);
			if (!page) {
				mutex_unlock(&vram->lock);
				return -ENOMEM;
			}
			kaddr = kmap_local_page(page);
			memset32(kaddr + poff, val, n / 4);
			kunmap_local(kaddr);
			vslice_vram_mark(vram, idx);
		}
		mutex_unlock(&vram->lock);

		off += n;
		len -= n;
	}
	return 0;
}

/**
 * vslice_vram_region_rw() - BAR2 region read/write
 * @vd:		the instance
 * @buf:	user buffer
 * @count:	bytes, any size and alignment
 * @pos:	offset in BAR2
 * @write:	direction
 *
 * Copies through a kernel bounce page, so @buf may itself be a mapping of
 * this BAR.
 *
 * Return: bytes done, or -EINVAL (range), -EFAULT, -ENOMEM, -EINTR when
 * nothing was done.
 */
ssize_t vslice_vram_region_rw(struct vslice_dev *vd, char __user *buf,
			      size_t count, u64 pos, bool write)
{
	struct vslice_vram *vram = &vd->vram;
	size_t done = 0;
	void *bounce;
	int ret = 0;

	if (vslice_vram_range(vram, pos, count))
		return -EINVAL;
	if (!count)
		return 0;

	bounce = kmalloc(min_t(size_t, count, PAGE_SIZE), GFP_KERNEL);
	if (!bounce)
		return -ENOMEM;

	while (done < count) {
		size_t n = min_t(size_t, count - done,
				 PAGE_SIZE - offset_in_page(pos + done));

		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		if (write) {
			if (copy_from_user(bounce, buf + done, n)) {
				ret = -EFAULT;
				break;
			}
			ret = vslice_vram_copy(vram, pos + done, bounce, n,
					       true);
		} else {
			ret = vslice_vram_copy(vram, pos + done, bounce, n,
					       false);
			if (!ret && copy_to_user(buf + done, bounce, n))
				ret = -EFAULT;
		}
		if (ret)
			break;
		done += n;
		cond_resched();
	}

	kfree(bounce);
	return done ? done : ret;
}

/* ------------------------------------------------------------------ */
/* mmap                                                                */
/* ------------------------------------------------------------------ */

/* The VRAM page a fault is about, or ULONG_MAX if outside the VRAM. */
static unsigned long vslice_vram_fault_idx(struct vslice_vram *vram,
					   struct vm_fault *vmf)
{
	if (vmf->pgoff < VSLICE_VRAM_PGOFF ||
	    vmf->pgoff - VSLICE_VRAM_PGOFF >= vram->npages)
		return ULONG_MAX;
	return vmf->pgoff - VSLICE_VRAM_PGOFF;
}

/*
 * A PTE is missing: insert the page read-only (vm_page_prot is read-only,
 * see "write notify" above).  A write fault then continues into
 * ->pfn_mkwrite when the access is retried.
 */
static vm_fault_t vslice_vram_fault(struct vm_fault *vmf)
{
	struct vslice_vram *vram = vslice_vma_vram(vmf->vma);
	unsigned long idx = vslice_vram_fault_idx(vram, vmf);
	struct page *page;
	vm_fault_t ret;

	if (idx == ULONG_MAX)
		return VM_FAULT_SIGBUS;

	mutex_lock(&vram->lock);
	page = vslice_vram_page(vram, idx, true);
	if (page)
		ret = vmf_insert_pfn(vmf->vma, vmf->address, page_to_pfn(page));
	else
		ret = VM_FAULT_OOM;
	mutex_unlock(&vram->lock);
	return ret;
}

/*
 * First write through a read-only PTE: the page becomes written and dirty,
 * then the core makes the PTE writable - unless a zap got there first,
 * in which case the core sees the PTE changed and the access faults anew.
 */
static vm_fault_t vslice_vram_pfn_mkwrite(struct vm_fault *vmf)
{
	struct vslice_vram *vram = vslice_vma_vram(vmf->vma);
	unsigned long idx = vslice_vram_fault_idx(vram, vmf);

	if (idx == ULONG_MAX)
		return VM_FAULT_SIGBUS;

	mutex_lock(&vram->lock);
	if (!vram->pages[idx]) {
		/* Freed by a reset since the PTE was read: fault again. */
		mutex_unlock(&vram->lock);
		return VM_FAULT_NOPAGE;
	}
	vslice_vram_mark(vram, idx);
	mutex_unlock(&vram->lock);
	return 0;
}

static const struct vm_operations_struct vslice_vram_vm_ops = {
	VSLICE_VRAM_VMA_OPS
	.fault = vslice_vram_fault,
	.pfn_mkwrite = vslice_vram_pfn_mkwrite,
};

/*
 * What BAR2 and the display window share once the caller has checked the
 * VMA's flags: the range must lie within the VRAM's pages; the VMA joins
 * the instance's mappings and its vm_pgoff moves by @base into the range
 * its fault handler (@ops) decodes.
 */
static int vslice_vram_map_vma(struct vslice_vram *vram,
			       struct vm_area_struct *vma, unsigned long base,
			       const struct vm_operations_struct *ops)
{
	unsigned long end;
	int ret;

	if (check_add_overflow(vma->vm_pgoff, vma_pages(vma), &end) ||
	    end > vram->npages)
		return -EINVAL;
	ret = vslice_vram_vma_attach(vram, vma);
	if (ret)
		return ret;
	vma->vm_pgoff += base;
	vslice_vm_flags_set(vma, VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP);
	vma->vm_ops = ops;
	return 0;
}

/**
 * vslice_vram_mmap() - map part of BAR2
 * @vd:		the instance
 * @vma:	the new VMA; vm_pgoff is the page offset inside BAR2
 *
 * Only shared mappings: a private one would need copy-on-write of VRAM.
 * Nothing is mapped here; pages are inserted as they fault.
 *
 * Return: 0, -EINVAL (not MAP_SHARED, or beyond the VRAM), -ENOMEM.
 */
int vslice_vram_mmap(struct vslice_dev *vd, struct vm_area_struct *vma)
{
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	return vslice_vram_map_vma(&vd->vram, vma, VSLICE_VRAM_PGOFF,
				   &vslice_vram_vm_ops);
}

/* ------------------------------------------------------------------ */
/* the display window                                                  */
/* ------------------------------------------------------------------ */

/**
 * vslice_vram_set_window() - move the display region's window
 * @vram:	the VRAM
 * @first:	VRAM page shown at the region's offset 0
 *
 * Zaps the window's mappings if it moved, so their next access faults in
 * the pages at the new place.  Callers hold dev_lock (mmio.c).
 */
void vslice_vram_set_window(struct vslice_vram *vram, unsigned long first)
{
	mutex_lock(&vram->lock);
	if (vram->window != first) {
		vram->window = first;
		vslice_vram_zap_window(vram);
	}
	mutex_unlock(&vram->lock);
}

/* The VRAM page a window fault is about, or ULONG_MAX past the VRAM. */
static unsigned long vslice_window_fault_idx(struct vslice_vram *vram,
					     struct vm_fault *vmf)
{
	unsigned long idx;

	lockdep_assert_held(&vram->lock);
	if (vmf->pgoff < VSLICE_WINDOW_PGOFF ||
	    check_add_overflow(vmf->pgoff - VSLICE_WINDOW_PGOFF, vram->window,
			       &idx) || idx >= vram->npages)
		return ULONG_MAX;
	return idx;
}

/*
 * A window PTE is missing: insert the VRAM page at @window + offset
 * (allocated if it never was, as a BAR2 read fault does), read-only: the
 * VMA has no VM_WRITE.  Past the end of VRAM: SIGBUS.
 */
static vm_fault_t vslice_window_fault(struct vm_fault *vmf)
{
	struct vslice_vram *vram = vslice_vma_vram(vmf->vma);
	unsigned long idx;
	struct page *page;
	vm_fault_t ret;

	mutex_lock(&vram->lock);
	idx = vslice_window_fault_idx(vram, vmf);
	if (idx == ULONG_MAX) {
		ret = VM_FAULT_SIGBUS;
	} else {
		page = vslice_vram_page(vram, idx, true);
		ret = page ? vmf_insert_pfn(vmf->vma, vmf->address,
					    page_to_pfn(page)) : VM_FAULT_OOM;
	}
	mutex_unlock(&vram->lock);
	return ret;
}

static const struct vm_operations_struct vslice_window_vm_ops = {
	VSLICE_VRAM_VMA_OPS
	.fault = vslice_window_fault,
};

/**
 * vslice_vram_window_mmap() - map part of the display region
 * @vd:		the instance
 * @vma:	the new VMA; vm_pgoff is the page offset inside the region
 *
 * Shared and read-only only (VM_MAYWRITE is dropped, so mprotect() cannot
 * make it writable).  Nothing is mapped here; pages fault in.
 *
 * Return: 0, -EINVAL (not MAP_SHARED, writable, or beyond the region's
 * VRAM size bytes), -ENOMEM.
 */
int vslice_vram_window_mmap(struct vslice_dev *vd, struct vm_area_struct *vma)
{
	int ret;

	if (!(vma->vm_flags & VM_SHARED) || (vma->vm_flags & VM_WRITE))
		return -EINVAL;
	ret = vslice_vram_map_vma(&vd->vram, vma, VSLICE_WINDOW_PGOFF,
				  &vslice_window_vm_ops);
	if (!ret)
		vslice_vm_flags_clear(vma, VM_MAYWRITE);
	return ret;
}

/**
 * vslice_vram_window_read() - read() of the display region
 * @vd:		the instance
 * @buf:	user buffer
 * @count:	bytes
 * @pos:	offset in the region
 *
 * Reads VRAM at the window's current place.  The region is VRAM size
 * bytes; a read that would run past the end of VRAM from the window's
 * place is refused whole.
 *
 * Return: bytes read, or -EINVAL (range), -EFAULT, -ENOMEM, -EINTR.
 */
ssize_t vslice_vram_window_read(struct vslice_dev *vd, char __user *buf,
				size_t count, u64 pos)
{
	struct vslice_vram *vram = &vd->vram;
	u64 base;

	if (vslice_vram_range(vram, pos, count))
		return -EINVAL;
	mutex_lock(&vram->lock);
	base = (u64)vram->window << PAGE_SHIFT;
	mutex_unlock(&vram->lock);
	if (check_add_overflow(base, pos, &pos))
		return -EINVAL;
	return vslice_vram_region_rw(vd, buf, count, pos, false);
}

/* ------------------------------------------------------------------ */
/* migration and reset                                                 */
/* ------------------------------------------------------------------ */

/**
 * vslice_vram_track_start() - a save begins: every written page is dirty
 * @vd:		the instance
 *
 * The first pass sends all pages written so far; later passes what was
 * written since it took them.  No PTE needs write-protecting: a page that
 * is not dirty now was never written, so it has no writable PTE.
 */
void vslice_vram_track_start(struct vslice_dev *vd)
{
	struct vslice_vram *vram = &vd->vram;

	mutex_lock(&vram->lock);
	bitmap_copy(vram->dirty, vram->written, vram->npages);
	mutex_unlock(&vram->lock);
}

/**
 * vslice_vram_dirty_count() - pages a save pass still has to send
 * @vram:	the VRAM
 *
 * Return: the number of dirty pages.
 */
unsigned long vslice_vram_dirty_count(struct vslice_vram *vram)
{
	unsigned long n;

	mutex_lock(&vram->lock);
	n = bitmap_weight(vram->dirty, vram->npages);
	mutex_unlock(&vram->lock);
	return n;
}

/**
 * vslice_vram_written_count() - pages that are not zero-elided
 * @vram:	the VRAM
 *
 * Return: the number of pages written since creation or the last reset.
 */
unsigned long vslice_vram_written_count(struct vslice_vram *vram)
{
	unsigned long n;

	mutex_lock(&vram->lock);
	n = bitmap_weight(vram->written, vram->npages);
	mutex_unlock(&vram->lock);
	return n;
}

/**
 * vslice_vram_dirtied() - pages that turned dirty through a write, ever
 * @vram:	the VRAM
 *
 * Return: the count (see struct vslice_vram, @dirtied).
 */
u64 vslice_vram_dirtied(struct vslice_vram *vram)
{
	u64 n;

	mutex_lock(&vram->lock);
	n = vram->dirtied;
	mutex_unlock(&vram->lock);
	return n;
}

/**
 * vslice_vram_take_run() - take the next run of dirty pages, by reference
 * @vd:		the instance
 * @from:	first page index to look at
 * @max:	most pages to take
 * @pages:	receives @max entries: each page of the run with a reference
 *		held (release with vslice_vram_put_run()), or NULL for a page
 *		never allocated (it reads as zeros)
 * @count:	receives the number of pages taken
 *
 * One lock hold for the whole run: finds the first dirty page at or after
 * @from and the dirty pages contiguous with it, clears their dirty bits and
 * write-protects them in every mapping (a later write marks them dirty
 * again), and references them.  Nothing is copied: the caller reads the
 * pages after the lock is dropped.  A reference keeps a page alive even if
 * a reset frees it from VRAM meanwhile; the save that reset cuts off then
 * sends stale data, which nobody reads.
 *
 * Return: the index of the first page, or -ENOENT when no page >= @from
 * is dirty.
 */
long vslice_vram_take_run(struct vslice_dev *vd, unsigned long from,
			  unsigned int max, struct page **pages,
			  unsigned int *count)
{
	struct vslice_vram *vram = &vd->vram;
	unsigned long idx, end;
	unsigned int i;

	mutex_lock(&vram->lock);
	idx = from < vram->npages ?
	      find_next_bit(vram->dirty, vram->npages, from) : vram->npages;
	if (idx >= vram->npages) {
		mutex_unlock(&vram->lock);
		return -ENOENT;
	}
	end = find_next_zero_bit(vram->dirty,
				 min_t(unsigned long, vram->npages, idx + max),
				 idx);
	bitmap_clear(vram->dirty, idx, end - idx);
	vslice_vram_zap(vram, idx, end - idx);
	for (i = 0; i < end - idx; i++) {
		pages[i] = vram->pages[idx + i];
		if (pages[i])
			get_page(pages[i]);
	}
	mutex_unlock(&vram->lock);
	*count = end - idx;
	return idx;
}

/**
 * vslice_vram_put_run() - drop the references vslice_vram_take_run() took
 * @pages:	the run's pages (NULL entries are skipped)
 * @count:	how many
 */
void vslice_vram_put_run(struct page **pages, unsigned int count)
{
	unsigned int i;

	for (i = 0; i < count; i++) {
		if (pages[i])
			put_page(pages[i]);
		pages[i] = NULL;
	}
}

/* ------------------------------------------------------------------ */
/* resume staging                                                      */
/* ------------------------------------------------------------------ */

/*
 * A resume stream lands in pages that are not VRAM yet (@stage), one per
 * page index however often the stream sends it, and only a stream that
 * validated up to END is installed (vslice_vram_stage_commit()).  So a
 * refused stream, whatever the damage and wherever it shows (even in
 * END's checksum over the whole stream), leaves VRAM as it was: nothing
 * of it was ever visible through BAR2, to the engine or to a save.
 *
 * Memory: during a resume the instance holds its current pages plus one
 * staged page per distinct non-zero page of the stream: at most twice its
 * VRAM size.  After a commit, installed pages plus @pool stay within its
 * VRAM size (the budget its type reserves).
 *
 * Recycling: a staged page is taken from @pool before a new one is
 * allocated.  Debian's kernels zero every page they hand out
 * (init_on_alloc=1), a second pass over memory the stream overwrites
 * whole anyway.  The pool is filled by the reset a commit does (the
 * pages the stream replaces) and by staged pages that turned out all
 * zero; reset and close outside of a commit free it.
 */

static struct page *vslice_vram_pool_get(struct vslice_vram *vram)
{
	struct page *page;

	lockdep_assert_held(&vram->lock);
	page = list_first_entry_or_null(&vram->pool, struct page, lru);
	if (page) {
		list_del(&page->lru);
		vram->pool_count--;
	}
	return page;
}

static void vslice_vram_pool_put(struct vslice_vram *vram, struct page *page)
{
	lockdep_assert_held(&vram->lock);
	if (vram->pool_count >= vram->npages) {
		__free_page(page);
		return;
	}
	list_add(&page->lru, &vram->pool);
	vram->pool_count++;
}

/* Free pool pages until at most @keep are left. */
static void vslice_vram_pool_trim(struct vslice_vram *vram,
				  unsigned long keep)
{
	lockdep_assert_held(&vram->lock);
	while (vram->pool_count > keep)
		__free_page(vslice_vram_pool_get(vram));
}

/* Staged page @idx becomes zero again: its page goes back to the pool. */
static void vslice_vram_unstage(struct vslice_vram *vram, unsigned long idx)
{
	lockdep_assert_held(&vram->lock);
	if (vram->stage[idx]) {
		vslice_vram_pool_put(vram, vram->stage[idx]);
		vram->stage[idx] = NULL;
		vram->staged--;
	}
}

/**
 * vslice_vram_stage_begin() - a resume starts: an empty stage
 * @vram:	the VRAM
 *
 * Return: 0, -EBUSY if a stage exists, -ENOMEM.
 */
int vslice_vram_stage_begin(struct vslice_vram *vram)
{
	struct page **stage;

	stage = kvcalloc(vram->npages, sizeof(*stage), GFP_KERNEL_ACCOUNT);
	if (!stage)
		return -ENOMEM;
	mutex_lock(&vram->lock);
	if (vram->stage) {
		mutex_unlock(&vram->lock);
		kvfree(stage);
		return -EBUSY;
	}
	vram->stage = stage;
	vram->staged = 0;
	mutex_unlock(&vram->lock);
	return 0;
}

/**
 * vslice_vram_stage_page() - where the resume stream's page @idx lands
 * @vram:	the VRAM, with a stage
 * @idx:	page index
 *
 * The staged page of @idx, taken from the pool or allocated (not zeroed:
 * the stream overwrites it whole) if there is none yet.  The same page
 * again if the stream sends @idx again.  It is not VRAM: nothing but the
 * caller sees it until vslice_vram_stage_commit().  Stage pages are
 * lowmem (GFP_KERNEL), so the address stays valid until the stage ends.
 *
 * Return: its kernel address, or NULL (out of memory, no stage, @idx out
 * of range).
 */
void *vslice_vram_stage_page(struct vslice_vram *vram, unsigned long idx)
{
	struct page *page = NULL;

	mutex_lock(&vram->lock);
	if (WARN_ON_ONCE(!vram->stage || idx >= vram->npages))
		goto out;
	page = vram->stage[idx];
	if (page)
		goto out;
	page = vslice_vram_pool_get(vram);
	if (!page)
		page = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_RETRY_MAYFAIL);
	if (page) {
		vram->stage[idx] = page;
		vram->staged++;
	}
out:
	mutex_unlock(&vram->lock);
	return page ? page_address(page) : NULL;
}

/**
 * vslice_vram_stage_settle() - a VRAM section validated
 * @vram:	the VRAM, with a stage
 * @first:	its first page
 * @count:	its pages, staged by vslice_vram_stage_page()
 *
 * A page of zeros is kept as a zero page (not written, not allocated),
 * as a save would elide it: its staged page goes back to the pool.
 */
void vslice_vram_stage_settle(struct vslice_vram *vram, unsigned long first,
			      unsigned int count)
{
	unsigned long idx;

	mutex_lock(&vram->lock);
	for (idx = first; idx < first + count && idx < vram->npages; idx++) {
		struct page *page = vram->stage[idx];

		if (page && !memchr_inv(page_address(page), 0, PAGE_SIZE))
			vslice_vram_unstage(vram, idx);
	}
	mutex_unlock(&vram->lock);
}

/**
 * vslice_vram_stage_zero() - a VRAM_ZERO section validated
 * @vram:	the VRAM, with a stage
 * @first:	its first page
 * @count:	its pages: they become zero (never written)
 */
void vslice_vram_stage_zero(struct vslice_vram *vram, unsigned long first,
			    unsigned int count)
{
	unsigned long idx;

	mutex_lock(&vram->lock);
	for (idx = first; idx < first + count && idx < vram->npages; idx++)
		vslice_vram_unstage(vram, idx);
	mutex_unlock(&vram->lock);
}

/**
 * vslice_vram_stage_commit() - install the staged pages as VRAM
 * @vd:		the instance; the stream validated up to END and the device
 *		was just reset (vslice_dev_reset(), which gave the pages it
 *		dropped to the pool because a stage exists)
 *
 * Every staged page becomes the VRAM page of its index, written (and not
 * dirty), by pointer: no copy.  Every other page stays zero.  The pool is
 * trimmed so that VRAM and pool together stay within the VRAM size.  The
 * stage ends.
 */
void vslice_vram_stage_commit(struct vslice_dev *vd)
{
	struct vslice_vram *vram = &vd->vram;
	bool replaced = false;
	unsigned long idx;

	mutex_lock(&vram->lock);
	for (idx = 0; vram->stage && idx < vram->npages; idx++) {
		struct page *page = vram->stage[idx];

		if (!page)
			continue;
		if (vram->pages[idx]) {
			/* faulted in (BAR2, display window) since the reset */
			vslice_vram_zap(vram, idx, 1);
			vslice_vram_pool_put(vram, vram->pages[idx]);
			replaced = true;
		}
		vram->pages[idx] = page;
		__set_bit(idx, vram->written);
	}
	if (replaced)
		vslice_vram_zap_window(vram);
	vslice_vram_pool_trim(vram, vram->npages - vram->staged);
	kvfree(vram->stage);
	vram->stage = NULL;
	vram->staged = 0;
	mutex_unlock(&vram->lock);
}

/**
 * vslice_vram_stage_end() - drop the stage, if any, without installing it
 * @vram:	the VRAM
 *
 * A resume that did not validate (or was cut off): its staged pages are
 * freed and VRAM is as it was before the resume began.
 */
void vslice_vram_stage_end(struct vslice_vram *vram)
{
	unsigned long idx;

	mutex_lock(&vram->lock);
	for (idx = 0; vram->stage && idx < vram->npages; idx++)
		if (vram->stage[idx])
			__free_page(vram->stage[idx]);
	kvfree(vram->stage);
	vram->stage = NULL;
	vram->staged = 0;
	mutex_unlock(&vram->lock);
}

/*
 * Drop every page: to the pool while a resume stage is being committed
 * (the staged pages take their place; the next resume reuses them), else
 * freed, the pool with them.  The caller has zapped all PTEs.
 */
static void vslice_vram_free_pages(struct vslice_vram *vram)
{
	unsigned long i;

	lockdep_assert_held(&vram->lock);
	for (i = 0; i < vram->npages; i++) {
		if (!vram->pages[i])
			continue;
		if (vram->stage)
			vslice_vram_pool_put(vram, vram->pages[i]);
		else
			__free_page(vram->pages[i]);
		vram->pages[i] = NULL;
	}
	if (!vram->stage)
		vslice_vram_pool_trim(vram, 0);
}

/**
 * vslice_vram_reset() - VRAM becomes zero (never written) again
 * @vd:		the instance
 *
 * Zaps every mapping, frees every page (keeps them for the stage being
 * committed, see vslice_vram_stage_commit()) and clears @written.  The
 * pages that had been written become dirty, so that a save pass still
 * running sends them (as zeros).
 */
void vslice_vram_reset(struct vslice_dev *vd)
{
	struct vslice_vram *vram = &vd->vram;

	mutex_lock(&vram->lock);
	vslice_vram_zap(vram, 0, vram->npages);
	vslice_vram_zap_window(vram);
	vslice_vram_free_pages(vram);
	bitmap_or(vram->dirty, vram->dirty, vram->written, vram->npages);
	bitmap_zero(vram->written, vram->npages);
	mutex_unlock(&vram->lock);
}

/**
 * vslice_vram_init() - set up the VRAM of a new instance
 * @vram:	embedded in the instance's struct vslice_dev
 * @size:	bytes, a non-zero multiple of PAGE_SIZE
 *
 * Allocates the page array and bitmaps, no pages.
 *
 * Return: 0, -EINVAL (bad size), -ENOMEM.
 */
int vslice_vram_init(struct vslice_vram *vram, u64 size)
{
	int ret = -ENOMEM;

	/* A VRAM page is a stream page (take_run, stage_page). */
	BUILD_BUG_ON(PAGE_SIZE != VSLICE_STREAM_PAGE_SIZE);
	if (!size || !IS_ALIGNED(size, PAGE_SIZE) ||
	    size >> PAGE_SHIFT > ULONG_MAX / sizeof(struct page *))
		return -EINVAL;

	mutex_init(&vram->lock);
	INIT_LIST_HEAD(&vram->pool);
	vram->pool_count = 0;
	vram->stage = NULL;
	vram->staged = 0;
	vram->size = size;
	vram->npages = size >> PAGE_SHIFT;
	vram->pages = kvcalloc(vram->npages, sizeof(*vram->pages),
			       GFP_KERNEL_ACCOUNT);
	if (!vram->pages)
		goto err_lock;
	vram->written = bitmap_zalloc(vram->npages, GFP_KERNEL_ACCOUNT);
	if (!vram->written)
		goto err_pages;
	vram->dirty = bitmap_zalloc(vram->npages, GFP_KERNEL_ACCOUNT);
	if (!vram->dirty)
		goto err_written;
	ret = vslice_vram_backing_init(vram);
	if (ret)
		goto err_dirty;
	return 0;

err_dirty:
	bitmap_free(vram->dirty);
err_written:
	bitmap_free(vram->written);
err_pages:
	kvfree(vram->pages);
err_lock:
	mutex_destroy(&vram->lock);
	return ret;
}

/**
 * vslice_vram_fini() - free the VRAM of an instance being released
 * @vram:	the VRAM; no mapping can exist any more
 */
void vslice_vram_fini(struct vslice_vram *vram)
{
	vslice_vram_stage_end(vram);
	mutex_lock(&vram->lock);
	vslice_vram_free_pages(vram);
	mutex_unlock(&vram->lock);
	vslice_vram_backing_fini(vram);
	bitmap_free(vram->dirty);
	bitmap_free(vram->written);
	kvfree(vram->pages);
	mutex_destroy(&vram->lock);
}
