// SPDX-License-Identifier: GPL-2.0
/*
 * vslice e2e guest: a bare-metal workload that keeps a vslice device busy
 * while QEMU migrates it, and afterwards proves that nothing was lost.
 *
 * 1. Find the device by scanning PCI config space for vendor 0xf1e5, take
 *    BAR0 (assigned by SeaBIOS), enable memory decoding and bus mastering.
 * 2. Put known content in VRAM: a pseudo-random MiB copied from guest RAM
 *    (COPY_TO_VRAM), FILLed ranges at the start, in the middle and at the
 *    very end, and zero pages that are never written.  Copy the random MiB
 *    back into guest RAM once (PRE), and set seven scratch registers.
 * 3. Loop: each iteration FILLs one VRAM page with a pattern unique to the
 *    iteration, copies one random page and that page into a guest "slot"
 *    (COPY_FROM_VRAM), writes a FENCE into one of 16 fence pages, writes the
 *    iteration number into SCRATCH7 and waits for the fence.  The CPU never
 *    writes the slots or the fence pages: only the device dirties them, so a
 *    missed dirty page shows up as a stale slot on the destination.
 * 4. On 'v' from the serial port (the e2e script sends it once the
 *    destination runs), check everything against what the guest logged:
 *    registers, the device-written guest RAM, and all of VRAM that was
 *    written plus some that never was (read back with COPY_FROM_VRAM).
 * 5. The display, when the device has a scanout plane (VSLICE_CAP_PLANE):
 *    every FRAME_MS the engine draws frame k of a test pattern (the band
 *    with k's digits, COPY_TO_VRAM from rows the CPU renders; the rest is
 *    FILLed once) into the back buffer of two in VRAM; after its fence the
 *    guest commits the plane to it, so the plane only ever shows complete
 *    frames.  'h' holds
 *    the picture (no more frames; the loop of step 3 goes on), 'd' draws
 *    again.  It starts holding frame 1: scripts/fleet never sends 'd'.
 *    frame_row() defines the picture; scripts/e2e renders the same picture
 *    on the host (pixel by pixel) and compares QEMU's screendumps with it.
 *
 * Serial protocol (COM1).  Output lines all start with "E2E-":
 *   E2E-BOOT, E2E-DEVICE, E2E-READY      start-up
 *   E2E-PROGRESS iter=N frame=K ...     about every 500 ms, and on 'p'
 *   E2E-DISPLAY WxH ... | none           the plane set up, or no plane
 *   E2E-HELD frame=K offset=X            on 'h': frame K is on screen, still
 *   E2E-DRAWING frame=K                  on 'd'
 *   E2E-CHECK <name>: ok|BAD ...         one per verified property
 *   E2E-RESULT: PASS ... | FAIL <what>   the verdict (also for fatal errors)
 * Input: 'v' verify (then keep looping), 'p' print progress now, 'h' hold
 * the picture, 'd' draw again.
 *
 * With "churn" on the multiboot command line each iteration of step 3 also
 * FILLs one 32 KiB block of a 23.8 MiB VRAM window (block i mod 762,
 * pattern unique to the iteration), so the device dirties about eight times
 * more VRAM than it would: a guest whose pre-copy never fits QEMU's
 * downtime limit without the driver's throttle (scripts/fleet).  The
 * verification derives each block's expected content from the iteration
 * count.  With "pace=N" each iteration lasts at least N us: the baseline
 * guest ("nodev pace=N") runs at the device guest's rate, so that both
 * dirty guest RAM alike, and a guest that must converge without the
 * driver's throttle (the previous driver's) can be made light enough.
 *
 * With "nodev" on the multiboot command line (QEMU's -append) the guest runs
 * without any device: the CPU writes the slots and fence pages itself.  That
 * is the baseline which tells a QEMU problem from a vslice one.
 *
 * Guest-physical addresses are the device's IOVAs: QEMU maps all of guest
 * RAM 1:1 into the VFIO container and there is no vIOMMU.
 */

#include "lib.h"
#include "uapi/vslice_regs.h"

/* ---- guest-physical memory map (the image itself is below 2 MiB) ------ */
#define RING_ADDR	0x00200000u	/* RING_ENTRIES commands, then */
#define RING_ENTRIES	64u
#define RING_ANCHOR	(RING_ADDR + 0x800)	/* the ring page's anchor */
#define FENCE_ADDR	0x00201000u	/* FENCE_SLOTS pages, loop fences */
#define FENCE_SLOTS	16u
#define SYNC_FENCE_ADDR	(FENCE_ADDR + FENCE_SLOTS * PAGE_SIZE)
#define PAT_ADDR	0x00300000u	/* staging for COPY_TO_VRAM */
#define PAT_SIZE	0x00040000u
#define PRE_ADDR	0x00400000u	/* device-written once, before the loop */
#define CHECK_ADDR	0x00500000u	/* verification reads VRAM into this */
#define CHECK_SIZE	0x00100000u
#define SLOT_ADDR	0x00600000u	/* NR_SLOTS slots, device-written */
#define SLOT_SIZE	(2 * PAGE_SIZE)
#define NR_SLOTS	512u
#define STRIP_ADDR	0x00b00000u	/* the CPU-rendered rows of a frame */
#define MEM_END		0x00c00000u

/* ---- VRAM map ------------------------------------------------------------ */
#define V_STATIC	0x00000000u	/* pseudo-random, from guest RAM */
#define V_STATIC_SIZE	0x00100000u
#define STATIC_PAGES	(V_STATIC_SIZE / PAGE_SIZE)
#define V_DYN		0x00100000u	/* FILLed, then one page per iteration */
#define V_DYN_SIZE	0x00200000u
#define DYN_PAGES	(V_DYN_SIZE / PAGE_SIZE)
#define V_HIGH_SIZE	0x00100000u	/* the last MiB of VRAM, FILLed */
#define V_SPARSE_STEP	0x00800000u	/* one FILLed page every 8 MiB, then */
					/* a page that is never written */
#define MIN_VRAM	0x01000000u
#define V_FB		0x00400000u	/* two framebuffers, FB_SPACING apart */
/*
 * "churn": one CHURN_BLOCK per iteration, in CHURN_SEGS segments that sit
 * between the sparse pages: segment k starts 64 KiB after sparse page
 * k (8 MiB * (k + 1)) and ends at the next one.  23.8 MiB in all, more
 * than the v1 region's data section (VRAM/16), so that no single read
 * drains it.
 */
#define CHURN_BLOCK	0x00008000u
#define CHURN_SEG_SKIP	0x00010000u
#define CHURN_SEG_BLOCKS ((V_SPARSE_STEP - CHURN_SEG_SKIP) / CHURN_BLOCK)
#define CHURN_SEGS	3u
#define CHURN_BLOCKS	(CHURN_SEGS * CHURN_SEG_BLOCKS)
#define CHURN_MIN_VRAM	0x02800000u
#define FB_SPACING	0x00040000u

#define DYN_INIT_PAT	0x5a5a5a5au
#define HIGH_PAT	0x48494748u
#define SCRATCH_LOOP	7u		/* SCRATCH7 = completed iterations */

#define FENCE_TIMEOUT_MS	20000u
#define PROGRESS_MS		500u

/*
 * Hot pages.  QEMU 7.2 under TCG loses guest CPU writes during a migration:
 * its dirty-bitmap sync clears a page's dirty bit without resetting the
 * software-TLB entries that let the vCPU write the page directly, so later
 * writes through such an entry are never logged (fixed in QEMU 9.0 by
 * commit 03bfc2188f, "physmem: Fix migration dirty bitmap coherency with
 * TCG memory access"; see Documentation/e2e.rst).  The guest's own
 * bookkeeping would then arrive stale on the destination whatever the
 * device does.
 *
 * TCG logs every write to a page that holds translated code, because it
 * must catch self-modifying code.  So every page the CPU keeps writing
 * while a migration runs - the globals below (.hot0, .hot1), the stack and
 * the ring - starts with an "anchor", a one-instruction function that the
 * guest calls once per iteration to keep it translated.  Nothing else of
 * the guest is written while a migration runs.
 */
#define HOT0	__attribute__((section(".hot0")))
#define HOT1	__attribute__((section(".hot1")))

extern void anchor0(void), anchor1(void);
extern void anchor_stack0(void), anchor_stack1(void);

static void keep_anchors(void)
{
	anchor0();
	anchor1();
	anchor_stack0();
	anchor_stack1();
	((void (*)(void))RING_ANCHOR)();
}

static bool nodev;		/* baseline mode: the CPU does the writes */
static bool churn;		/* "churn": each iteration also FILLs a block */
static uint32_t pace_us;	/* "pace=N": nodev iterations N us apart */
static uintptr_t bar0;
static uint64_t vram_size;
static uint32_t nr_sparse;

/* Engine bookkeeping. */
static volatile struct vslice_cmd *const ring = (void *)RING_ADDR;
static uint32_t tail HOT0;		/* next free ring entry */
static uint32_t cmd_base HOT0;		/* CMD_COUNT when we took over */
static uint32_t submitted HOT0;		/* commands queued since then */
static uint64_t fseq HOT0;		/* last fence value queued */
static uint64_t sync_fence HOT0;	/* last value queued to SYNC_FENCE */

/* What the loop did: the truth the verification compares against. */
static uint32_t iter HOT0;		/* completed iterations */
static uint32_t slot_iter[NR_SLOTS] HOT0; /* last iteration per slot */
static uint64_t fence_val[FENCE_SLOTS] HOT1; /* last fence per fence page */
static uint32_t dyn_iter[DYN_PAGES] HOT1; /* last iteration per dyn page */

/* The display (step 5); fb_k = 0: no frame committed yet. */
static bool display;			/* the device has a plane */
static uint32_t fb_k HOT1;		/* the frame on screen */
static uint32_t fb_front HOT1;		/* its buffer, 0 or 1 */
static uint32_t fb_held HOT1;		/* 'h' received, no 'd' since */
static uint32_t fb_last_ms HOT1;	/* when fb_k was committed */
static uint32_t fb_draw_ms HOT1;	/* time spent drawing, all frames */
static uint32_t plane_bad HOT1;		/* commits that found a changed plane */
static char plane_first[96] HOT1;	/* the first of them */

/* In baseline mode the CPU writes the slots; see tlb_drop() there. */
static void tlb_drop(uintptr_t addr)
{
	__asm__ __volatile__("invlpg (%0)" : : "r"(addr) : "memory");
}

static uint32_t reg_rd(uint32_t off)
{
	return mmio_read32(bar0 + off);
}

static void reg_wr(uint32_t off, uint32_t v)
{
	mmio_write32(bar0 + off, v);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
fail(const char *fmt, ...)
{
	va_list ap;

	print("\nE2E-RESULT: FAIL ");
	va_start(ap, fmt);
	vprint(fmt, ap);
	va_end(ap);
	print("\n");
	halt_forever();
}

/* ---- expected content ------------------------------------------------------ */

/* Word @idx of the pseudo-random VRAM region (a 32-bit integer hash). */
static uint32_t static_word(uint32_t idx)
{
	uint32_t x = idx * 0x9e3779b1u + 0x7f4a7c15u;

	x ^= x >> 16;
	x *= 0x85ebca6bu;
	x ^= x >> 13;
	x *= 0xc2b2ae35u;
	x ^= x >> 16;
	return x;
}

/* The FILL pattern of iteration @i: never DYN_INIT_PAT, unique per @i. */
static uint32_t dyn_pat(uint32_t i)
{
	return 0x80000000u | i;
}

static uint32_t churn_pat(uint32_t i)
{
	return 0xc0000000u | i;
}

/*
 * The last iteration <= @n that FILLed churn block @b (iteration i FILLs
 * block i % CHURN_BLOCKS), or 0 if none did: derived from the iteration
 * count alone, so the CPU keeps no per-block record while migrating.
 */
static uint32_t churn_last(uint32_t n, uint32_t b)
{
	uint32_t r = n % CHURN_BLOCKS;
	uint32_t back = r >= b ? r - b : r + CHURN_BLOCKS - b;

	return back >= n ? 0 : n - back;
}

static uint32_t churn_off(uint32_t b)
{
	return (b / CHURN_SEG_BLOCKS + 1) * V_SPARSE_STEP + CHURN_SEG_SKIP +
	       (b % CHURN_SEG_BLOCKS) * CHURN_BLOCK;
}

static uint32_t sparse_pat(uint32_t k)
{
	return 0x53500000u | k;
}

static uint32_t scratch_val(uint32_t n)
{
	return 0x5c000000u | n << 16 | 0xe2e0u;
}

/* ---- the picture ------------------------------------------------------------ */

/*
 * Frame k of the test pattern, FB_W x FB_H XRGB8888 (scripts/e2e's
 * frame_pixel() draws the same picture; change both together):
 *   rows   0..119  eight bars of 15 rows in the colours of bars[]
 *   rows 120..199  GREY, except the band BAND_Y0 .. BAND_Y0 + 39: bg(k)
 *                  with k mod 10^8 as 8 decimal digits in white (a 3x5
 *                  font scaled by DIGIT_SCALE, DIGIT_PITCH apart, the
 *                  first at DIGIT_X0)
 * Only the band changes from frame to frame.  The engine FILLs the rest
 * into both buffers once; for each frame the CPU renders the band's five
 * distinct rows into guest memory and the engine copies each to the
 * DIGIT_SCALE framebuffer rows that show it (COPY_TO_VRAM).  Engine and
 * CPU time are precious: the guest runs under TCG inside TCG.
 */
#define FB_W		320u
#define FB_H		200u
#define FB_STRIDE	(FB_W * 4)
#define FB_SIZE		(FB_STRIDE * FB_H)
#define BAR_ROWS	15u
#define NR_BARS		8u
#define BAND_Y0		140u
#define BAND_H		(5 * DIGIT_SCALE)
#define GREY		0x00303030u
#define DIGIT_X0	32u
#define DIGIT_SCALE	8u
#define DIGIT_PITCH	32u
#define NR_DIGITS	8u
#define WHITE		0x00ffffffu
#define FRAME_MS	100u

static const uint32_t bars[NR_BARS] = {
	0xffffff, 0xffff00, 0x00ffff, 0x00ff00,
	0xff00ff, 0xff0000, 0x0000ff, 0x000000,
};

/* 3x5 digits, one row per byte, bit 2 = left column. */
static const uint8_t font[10][5] = {
	{ 7, 5, 5, 5, 7 }, { 2, 6, 2, 2, 7 }, { 7, 1, 7, 4, 7 },
	{ 7, 1, 7, 1, 7 }, { 5, 5, 7, 1, 1 }, { 7, 4, 7, 1, 7 },
	{ 7, 4, 7, 5, 7 }, { 7, 1, 1, 1, 1 }, { 7, 5, 7, 5, 7 },
	{ 7, 5, 7, 1, 7 },
};

static uint32_t fb_off(uint32_t buf)
{
	return V_FB + buf * FB_SPACING;
}

static uint32_t frame_bg(uint32_t k)
{
	return ((k * 53) & 0x7f) << 16 | ((k * 29) & 0x7f) << 8 |
	       (0x60 + ((k * 7) & 0x1f));
}

/* Row @y of frame @k, FB_W pixels. */
static void frame_row(uint32_t k, uint32_t y, volatile uint32_t *row)
{
	uint32_t c = GREY, x, d, div, bits, gx, gy, p;
	bool band = y >= BAND_Y0 && y < BAND_Y0 + BAND_H;

	if (y < NR_BARS * BAR_ROWS)
		c = bars[y / BAR_ROWS];
	else if (band)
		c = frame_bg(k);
	for (x = 0; x < FB_W; x++)
		row[x] = c;
	if (!band)
		return;
	gy = (y - BAND_Y0) / DIGIT_SCALE;
	for (d = 0, div = 10000000; d < NR_DIGITS; d++, div /= 10) {
		bits = font[k / div % 10][gy];
		for (gx = 0; gx < 3; gx++) {
			if (!(bits >> (2 - gx) & 1))
				continue;
			for (p = 0; p < DIGIT_SCALE; p++)
				row[DIGIT_X0 + d * DIGIT_PITCH + gx * DIGIT_SCALE + p] = WHITE;
		}
	}
}

/* ---- device discovery ------------------------------------------------------ */

static void find_device(void)
{
	unsigned int bus, dev, fn, scanned = 0;
	uint32_t id, bar, cmd;

	for (bus = 0; bus < 256; bus++) {
		for (dev = 0; dev < 32; dev++) {
			for (fn = 0; fn < 8; fn++) {
				id = pci_cfg_read32(bus, dev, fn, 0x00);
				if ((id & 0xffff) == 0xffff) {
					if (fn == 0)
						break;
					continue;
				}
				scanned++;
				if ((id & 0xffff) == VSLICE_PCI_VENDOR_ID)
					goto found;
				/* single-function device: skip 1..7 */
				if (fn == 0 &&
				    !(pci_cfg_read32(bus, dev, 0, 0x0c) &
				      0x00800000))
					break;
			}
		}
	}
	fail("no vslice device (vendor %04x) among %u PCI functions",
	     VSLICE_PCI_VENDOR_ID, scanned);

found:
	bar = pci_cfg_read32(bus, dev, fn, 0x10);
	if (bar & 1)
		fail("BAR0 of %02x:%02x.%u is an I/O BAR (%08x)", bus, dev, fn,
		     bar);
	if ((bar & 0x6) == 0x4 && pci_cfg_read32(bus, dev, fn, 0x14))
		fail("BAR0 is above 4 GiB");
	bar0 = bar & ~0xfu;
	if (!bar0)
		fail("BAR0 of %02x:%02x.%u is not assigned", bus, dev, fn);
	cmd = pci_cfg_read32(bus, dev, fn, 0x04) & 0xffff;
	pci_cfg_write32(bus, dev, fn, 0x04, cmd | 0x0006); /* MEM, MASTER */
	print("E2E-DEVICE %02x:%02x.%u id %04x:%04x bar0 %08x\n", bus, dev, fn,
	      id & 0xffff, id >> 16, (uint32_t)bar0);
}

/* ---- the command engine ------------------------------------------------------ */

static void emit(uint32_t op, uint32_t pattern, uint64_t vram_off,
		 uint64_t iova, uint64_t len)
{
	volatile struct vslice_cmd *c = &ring[tail];

	c->opcode = op;
	c->pattern = pattern;
	c->vram_off = vram_off;
	c->iova = iova;
	c->len = len;
	tail = (tail + 1) & (RING_ENTRIES - 1);
	submitted++;
}

static void kick(void)
{
	reg_wr(VSLICE_REG_RING_TAIL, tail);
	reg_wr(VSLICE_REG_DOORBELL, 1);
}

/* Queue a FENCE writing the next fence value to @addr; returns the value. */
static uint64_t emit_fence(uint32_t addr)
{
	emit(VSLICE_CMD_FENCE, 0, 0, addr, ++fseq);
	return fseq;
}

/*
 * Wait until the FENCE @val shows up at @addr.  The device writes a fence
 * to guest memory before it latches FENCE_LO/HI (uapi/vslice_regs.h), so a
 * FENCE register that has reached @val while @addr has not means the write
 * to guest memory was lost - on a migration destination, typically because
 * the device wrote the page on the source without reporting it dirty.
 */
static void wait_fence(uint32_t addr, uint64_t val, const char *what)
{
	const volatile uint64_t *p = (const volatile uint64_t *)addr;
	uint32_t start = now_ms(), spin = 0, reg;

	while (read_u64_stable(p) != val) {
		if (++spin % 256)
			continue;
		if (reg_rd(VSLICE_REG_STATUS) & VSLICE_STATUS_HALTED)
			fail("engine halted during %s: error %u at entry %u",
			     what, reg_rd(VSLICE_REG_ERROR),
			     reg_rd(VSLICE_REG_ERROR_HEAD));
		reg = reg_rd(VSLICE_REG_FENCE_LO);
		if (reg - (uint32_t)val < 0x80000000u &&
		    read_u64_stable(p) != val)
			fail("guest-ram: the device completed fence %u (FENCE register %u) during %s, "
			     "but its page %08x holds %u: a device write to guest memory was lost",
			     (uint32_t)val, reg, what, addr,
			     (uint32_t)read_u64_stable(p));
		if (now_ms() - start > FENCE_TIMEOUT_MS)
			fail("engine stuck during %s at iteration %u: fence at %08x is %u, want %u; "
			     "registers: head %u tail %u (guest's tail %u) status %x fence %u cmds %u (guest queued %u)",
			     what, iter, addr, (uint32_t)read_u64_stable(p),
			     (uint32_t)val, reg_rd(VSLICE_REG_RING_HEAD),
			     reg_rd(VSLICE_REG_RING_TAIL), tail,
			     reg_rd(VSLICE_REG_STATUS), reg,
			     reg_rd(VSLICE_REG_CMD_COUNT) - cmd_base, submitted);
	}
	barrier();
}

/* Run everything queued so far and wait for it. */
static void sync_engine(const char *what)
{
	sync_fence = emit_fence(SYNC_FENCE_ADDR);
	kick();
	wait_fence(SYNC_FENCE_ADDR, sync_fence, what);
}

static void engine_init(void)
{
	uint32_t id = reg_rd(VSLICE_REG_ID), caps = reg_rd(VSLICE_REG_CAPS);
	uint32_t n;

	if (id != VSLICE_ID_MAGIC)
		fail("BAR0 ID register %08x, want %08x", id, VSLICE_ID_MAGIC);
	if (!(caps & VSLICE_CAP_ENGINE))
		fail("device has no command engine (caps %08x)", caps);
	vram_size = reg_rd(VSLICE_REG_VRAM_SIZE_LO) |
		    (uint64_t)reg_rd(VSLICE_REG_VRAM_SIZE_HI) << 32;
	if (vram_size < MIN_VRAM || vram_size > 0xffffffffull)
		fail("VRAM size %llx not supported by this guest", vram_size);
	nr_sparse = (uint32_t)((vram_size - V_HIGH_SIZE) / V_SPARSE_STEP) - 1;

	reg_wr(VSLICE_REG_CONTROL, 0);		/* also clears a halt */
	reg_wr(VSLICE_REG_IRQ_MASK, 0);		/* we poll */
	reg_wr(VSLICE_REG_IRQ_ACK, VSLICE_IRQ_ALL);
	reg_wr(VSLICE_REG_RING_BASE_LO, RING_ADDR);
	reg_wr(VSLICE_REG_RING_BASE_HI, 0);
	reg_wr(VSLICE_REG_RING_SIZE, RING_ENTRIES);
	tail = reg_rd(VSLICE_REG_RING_HEAD);
	reg_wr(VSLICE_REG_RING_TAIL, tail);
	cmd_base = reg_rd(VSLICE_REG_CMD_COUNT);
	reg_wr(VSLICE_REG_CONTROL, VSLICE_CTRL_ENABLE);
	for (n = 0; n < VSLICE_NR_SCRATCH; n++)
		reg_wr(VSLICE_REG_SCRATCH(n),
		       n == SCRATCH_LOOP ? 0 : scratch_val(n));
	print("E2E-DEVICE version %08x caps %08x vram %u MiB head %u cmds %u\n",
	      reg_rd(VSLICE_REG_VERSION), caps, (uint32_t)(vram_size >> 20),
	      tail, cmd_base);
}

static uint32_t sparse_off(uint32_t k)
{
	return (k + 1) * V_SPARSE_STEP;
}

static uint32_t high_off(void)
{
	return (uint32_t)(vram_size - V_HIGH_SIZE);
}

/* Step 2: known content in VRAM and in the PRE buffer. */
static void vram_init(void)
{
	volatile uint32_t *pat = (volatile uint32_t *)PAT_ADDR;
	uint32_t off, w, k;

	for (off = 0; off < V_STATIC_SIZE; off += PAT_SIZE) {
		for (w = 0; w < PAT_SIZE / 4; w++)
			pat[w] = static_word((off / 4) + w);
		emit(VSLICE_CMD_COPY_TO_VRAM, 0, V_STATIC + off, PAT_ADDR,
		     PAT_SIZE);
		sync_engine("COPY_TO_VRAM");	/* before PAT is reused */
	}
	emit(VSLICE_CMD_FILL, DYN_INIT_PAT, V_DYN, 0, V_DYN_SIZE);
	emit(VSLICE_CMD_FILL, HIGH_PAT, high_off(), 0, V_HIGH_SIZE);
	for (k = 0; k < nr_sparse; k++)
		emit(VSLICE_CMD_FILL, sparse_pat(k), sparse_off(k), 0,
		     PAGE_SIZE);
	emit(VSLICE_CMD_COPY_FROM_VRAM, 0, V_STATIC, PRE_ADDR, V_STATIC_SIZE);
	/*
	 * Have the device write every slot and fence page once before any
	 * migration starts, so that each write the loop makes during one is a
	 * rewrite: the case a driver that caches page references gets wrong.
	 */
	for (off = 0; off < NR_SLOTS * SLOT_SIZE; off += V_STATIC_SIZE)
		emit(VSLICE_CMD_COPY_FROM_VRAM, 0, V_STATIC, SLOT_ADDR + off,
		     V_STATIC_SIZE);
	for (k = 0; k < FENCE_SLOTS; k++)
		fence_val[k] = emit_fence(FENCE_ADDR + k * PAGE_SIZE);
	sync_engine("FILL");
}

/* ---- step 3: the loop ------------------------------------------------------ */

static uint32_t slot_addr(uint32_t s)
{
	return SLOT_ADDR + s * SLOT_SIZE;
}

static void iterate(void)
{
	uint32_t i = iter + 1;
	uint32_t s = i % NR_SLOTS, d = i % DYN_PAGES, f = i % FENCE_SLOTS;
	uint32_t k = i % STATIC_PAGES;
	uint32_t fence_addr = FENCE_ADDR + f * PAGE_SIZE;
	uint64_t v, t0 = rdtsc();

	if (nodev) {
		volatile uint32_t *p = (volatile uint32_t *)slot_addr(s);
		uint32_t w;

		for (w = 0; w < PAGE_SIZE / 4; w++) {
			p[w] = static_word((V_STATIC + k * PAGE_SIZE) / 4 + w);
			p[PAGE_SIZE / 4 + w] = dyn_pat(i);
		}
		*(volatile uint64_t *)fence_addr = v = ++fseq;
		/* Not anchored: shrink QEMU 7.2's window instead. */
		tlb_drop(slot_addr(s));
		tlb_drop(slot_addr(s) + PAGE_SIZE);
		tlb_drop(fence_addr);
		goto done;
	}
	emit(VSLICE_CMD_FILL, dyn_pat(i), V_DYN + d * PAGE_SIZE, 0, PAGE_SIZE);
	if (churn)
		emit(VSLICE_CMD_FILL, churn_pat(i), churn_off(i % CHURN_BLOCKS), 0,
		     CHURN_BLOCK);
	emit(VSLICE_CMD_COPY_FROM_VRAM, 0, V_STATIC + k * PAGE_SIZE,
	     slot_addr(s), PAGE_SIZE);
	emit(VSLICE_CMD_COPY_FROM_VRAM, 0, V_DYN + d * PAGE_SIZE,
	     slot_addr(s) + PAGE_SIZE, PAGE_SIZE);
	v = emit_fence(fence_addr);
	kick();
	reg_wr(VSLICE_REG_SCRATCH(SCRATCH_LOOP), i);
	wait_fence(fence_addr, v, "the loop");
done:
	/* "pace=N": at most one iteration every N us */
	while (pace_us && rdtsc() - t0 < (uint64_t)pace_us * (tsc_khz() / 1000))
		;
	slot_iter[s] = i;
	dyn_iter[d] = i;
	fence_val[f] = v;
	iter = i;
	keep_anchors();
}

/* ---- step 4: verification ------------------------------------------------------ */

struct check {
	const char *name;
	uint32_t bad;		/* mismatching words or registers */
	uint32_t bytes;		/* bytes compared */
	char first[128];	/* the first mismatch */
};

static void __attribute__((format(printf, 2, 3)))
check_bad(struct check *c, const char *fmt, ...)
{
	va_list ap;

	if (!c->bad++) {
		va_start(ap, fmt);
		vsnprint(c->first, sizeof(c->first), fmt, ap);
		va_end(ap);
	}
}

static void check_reg(struct check *c, const char *name, uint32_t off,
		      uint32_t want)
{
	uint32_t got = reg_rd(off);

	c->bytes += 4;
	if (got != want)
		check_bad(c, "%s=%08x want %08x", name, got, want);
}

/* Compare @len bytes at @addr with static words from VRAM offset @voff. */
static void cmp_static(struct check *c, const char *what, uint32_t idx,
		       uint32_t addr, uint32_t voff, uint32_t len)
{
	const volatile uint32_t *p = (const volatile uint32_t *)addr;
	uint32_t w, got, want;

	for (w = 0; w < len / 4; w++) {
		got = p[w];
		want = static_word(voff / 4 + w);
		if (got != want)
			check_bad(c, "%s %u +%x: %08x want %08x", what, idx,
				  w * 4, got, want);
	}
	c->bytes += len;
}

static void cmp_const(struct check *c, const char *what, uint32_t idx,
		      uint32_t addr, uint32_t want, uint32_t len)
{
	const volatile uint32_t *p = (const volatile uint32_t *)addr;
	uint32_t w, got;

	for (w = 0; w < len / 4; w++) {
		got = p[w];
		if (got != want)
			check_bad(c, "%s %u +%x: %08x want %08x", what, idx,
				  w * 4, got, want);
	}
	c->bytes += len;
}

/* Read VRAM [@voff, +@len) into CHECK_ADDR through the engine. */
static void vram_read(uint32_t voff, uint32_t len)
{
	memset((void *)CHECK_ADDR, 0xee, len);	/* no stale match */
	emit(VSLICE_CMD_COPY_FROM_VRAM, 0, voff, CHECK_ADDR, len);
	sync_engine("verification");
}

static void check_registers(struct check *c)
{
	uint32_t n, st = reg_rd(VSLICE_REG_STATUS);

	check_reg(c, "ID", VSLICE_REG_ID, VSLICE_ID_MAGIC);
	if (st & (VSLICE_STATUS_HALTED | VSLICE_STATUS_BUSY))
		check_bad(c, "STATUS=%08x (error %u)", st,
			  reg_rd(VSLICE_REG_ERROR));
	check_reg(c, "ERROR", VSLICE_REG_ERROR, VSLICE_ERR_NONE);
	check_reg(c, "CONTROL", VSLICE_REG_CONTROL, VSLICE_CTRL_ENABLE);
	check_reg(c, "RING_BASE_LO", VSLICE_REG_RING_BASE_LO, RING_ADDR);
	check_reg(c, "RING_BASE_HI", VSLICE_REG_RING_BASE_HI, 0);
	check_reg(c, "RING_SIZE", VSLICE_REG_RING_SIZE, RING_ENTRIES);
	check_reg(c, "RING_HEAD", VSLICE_REG_RING_HEAD, tail);
	check_reg(c, "RING_TAIL", VSLICE_REG_RING_TAIL, tail);
	check_reg(c, "FENCE_LO", VSLICE_REG_FENCE_LO, (uint32_t)fseq);
	check_reg(c, "FENCE_HI", VSLICE_REG_FENCE_HI, (uint32_t)(fseq >> 32));
	check_reg(c, "CMD_COUNT", VSLICE_REG_CMD_COUNT, cmd_base + submitted);
	check_reg(c, "IRQ_MASK", VSLICE_REG_IRQ_MASK, 0);
	for (n = 0; n < VSLICE_NR_SCRATCH; n++)
		check_reg(c, "SCRATCH", VSLICE_REG_SCRATCH(n),
			  n == SCRATCH_LOOP ? iter : scratch_val(n));
}

/* Guest RAM that only the device wrote. */
static void check_guest_ram(struct check *c)
{
	uint32_t s, f, i;
	uint64_t got;

	if (!nodev)
		cmp_static(c, "pre", 0, PRE_ADDR, V_STATIC, V_STATIC_SIZE);
	for (s = 0; s < NR_SLOTS; s++) {
		i = slot_iter[s];
		if (!i && nodev)
			continue;
		if (!i) {	/* still what vram_init() put there */
			cmp_static(c, "slot (initial)", s, slot_addr(s),
				   V_STATIC + (s * SLOT_SIZE) % V_STATIC_SIZE,
				   SLOT_SIZE);
			continue;
		}
		cmp_static(c, "slot (copied page)", s, slot_addr(s),
			   V_STATIC + (i % STATIC_PAGES) * PAGE_SIZE,
			   PAGE_SIZE);
		cmp_const(c, "slot (filled page)", s, slot_addr(s) + PAGE_SIZE,
			  dyn_pat(i), PAGE_SIZE);
	}
	for (f = 0; f < FENCE_SLOTS; f++) {
		if (!fence_val[f])
			continue;
		got = read_u64_stable((const volatile uint64_t *)
				      (FENCE_ADDR + f * PAGE_SIZE));
		c->bytes += 8;
		if (got != fence_val[f])
			check_bad(c, "fence page %u: %u want %u", f,
				  (uint32_t)got, (uint32_t)fence_val[f]);
	}
}

static void check_vram(struct check *c)
{
	uint32_t off, p, d, k;

	vram_read(V_STATIC, V_STATIC_SIZE);
	cmp_static(c, "static", 0, CHECK_ADDR, V_STATIC, V_STATIC_SIZE);
	for (off = 0; off < V_DYN_SIZE; off += CHECK_SIZE) {
		vram_read(V_DYN + off, CHECK_SIZE);
		for (p = 0; p < CHECK_SIZE / PAGE_SIZE; p++) {
			d = off / PAGE_SIZE + p;
			cmp_const(c, "dyn page", d, CHECK_ADDR + p * PAGE_SIZE,
				  dyn_iter[d] ? dyn_pat(dyn_iter[d]) :
						DYN_INIT_PAT,
				  PAGE_SIZE);
		}
	}
	/* churn: up to a CHECK_SIZE of contiguous blocks at a time */
	for (off = 0; churn && off < CHURN_BLOCKS; off += d) {
		d = CHECK_SIZE / CHURN_BLOCK;
		if (d > CHURN_SEG_BLOCKS - off % CHURN_SEG_BLOCKS)
			d = CHURN_SEG_BLOCKS - off % CHURN_SEG_BLOCKS;
		vram_read(churn_off(off), d * CHURN_BLOCK);
		for (p = 0; p < d; p++) {
			k = churn_last(iter, off + p);
			cmp_const(c, "churn block", off + p,
				  CHECK_ADDR + p * CHURN_BLOCK,
				  k ? churn_pat(k) : 0, CHURN_BLOCK);
		}
	}
	vram_read(high_off(), V_HIGH_SIZE);
	cmp_const(c, "high", 0, CHECK_ADDR, HIGH_PAT, V_HIGH_SIZE);
	for (k = 0; k < nr_sparse; k++) {
		vram_read(sparse_off(k), 2 * PAGE_SIZE);
		cmp_const(c, "sparse", k, CHECK_ADDR, sparse_pat(k), PAGE_SIZE);
		cmp_const(c, "zero", k, CHECK_ADDR + PAGE_SIZE, 0, PAGE_SIZE);
	}
}

static void plane_expect(struct check *c)
{
	check_reg(c, "PLANE_ERROR", VSLICE_REG_PLANE_ERROR, VSLICE_PLANE_ERR_NONE);
	check_reg(c, "PLANE_CONTROL", VSLICE_REG_PLANE_CONTROL,
		  VSLICE_PLANE_CTRL_ENABLE);
	check_reg(c, "PLANE_ACTIVE_FORMAT", VSLICE_REG_PLANE_ACTIVE_FORMAT,
		  VSLICE_PLANE_FMT_XRGB8888);
	check_reg(c, "PLANE_ACTIVE_OFFSET_LO", VSLICE_REG_PLANE_ACTIVE_OFFSET_LO,
		  fb_off(fb_front));
	check_reg(c, "PLANE_ACTIVE_OFFSET_HI", VSLICE_REG_PLANE_ACTIVE_OFFSET_HI, 0);
	check_reg(c, "PLANE_ACTIVE_WIDTH", VSLICE_REG_PLANE_ACTIVE_WIDTH, FB_W);
	check_reg(c, "PLANE_ACTIVE_HEIGHT", VSLICE_REG_PLANE_ACTIVE_HEIGHT, FB_H);
	check_reg(c, "PLANE_ACTIVE_STRIDE", VSLICE_REG_PLANE_ACTIVE_STRIDE,
		  FB_STRIDE);
}

/* The plane registers, and the front buffer against frame_row(). */
static void check_display(struct check *plane, struct check *fb)
{
	const volatile uint32_t *p = (const volatile uint32_t *)CHECK_ADDR;
	volatile uint32_t *want = (volatile uint32_t *)STRIP_ADDR;
	uint32_t x, y, got;

	plane_expect(plane);
	if (plane_bad)
		check_bad(plane, "%u commits found the plane changed, first %s",
			  plane_bad, plane_first);
	vram_read(fb_off(fb_front), FB_SIZE);
	for (y = 0; y < FB_H; y++) {
		frame_row(fb_k, y, want);
		for (x = 0; x < FB_W; x++) {
			got = p[y * FB_W + x] & 0x00ffffffu;
			if (got != want[x])
				check_bad(fb, "frame %u (%u,%u): %06x want %06x",
					  fb_k, x, y, got, want[x]);
		}
	}
	fb->bytes += FB_SIZE;
}

/* ---- step 5: the display ------------------------------------------------------ */

static void plane_set(uint32_t off)
{
	reg_wr(VSLICE_REG_PLANE_FORMAT, VSLICE_PLANE_FMT_XRGB8888);
	reg_wr(VSLICE_REG_PLANE_WIDTH, FB_W);
	reg_wr(VSLICE_REG_PLANE_HEIGHT, FB_H);
	reg_wr(VSLICE_REG_PLANE_STRIDE, FB_STRIDE);
	reg_wr(VSLICE_REG_PLANE_OFFSET_LO, off);
	reg_wr(VSLICE_REG_PLANE_OFFSET_HI, 0);
	reg_wr(VSLICE_REG_PLANE_CONTROL, VSLICE_PLANE_CTRL_ENABLE);
	if (reg_rd(VSLICE_REG_PLANE_ERROR) != VSLICE_PLANE_ERR_NONE)
		fail("the device refused the plane %ux%u stride %u at %08x: PLANE_ERROR %u",
		     FB_W, FB_H, FB_STRIDE, off, reg_rd(VSLICE_REG_PLANE_ERROR));
	if (reg_rd(VSLICE_REG_PLANE_ACTIVE_OFFSET_LO) != off)
		fail("plane committed at %08x, but PLANE_ACTIVE_OFFSET is %08x",
		     off, reg_rd(VSLICE_REG_PLANE_ACTIVE_OFFSET_LO));
}

/* Draw frame @k into the back buffer, wait for it, then show it. */
static void draw_frame(uint32_t k)
{
	volatile uint32_t *strip = (volatile uint32_t *)STRIP_ADDR;
	uint32_t back = fb_front ^ 1, off = fb_off(back), gy, r;
	struct check c = { .name = "plane" };
	uint32_t t0 = now_ms();

	for (gy = 0; gy < 5; gy++)
		frame_row(k, BAND_Y0 + gy * DIGIT_SCALE, strip + gy * FB_W);
	/* BAND_H copies and a fence: the ring (RING_ENTRIES) is empty here. */
	for (r = 0; r < BAND_H; r++)
		emit(VSLICE_CMD_COPY_TO_VRAM, 0, off + (BAND_Y0 + r) * FB_STRIDE,
		     STRIP_ADDR + r / DIGIT_SCALE * FB_STRIDE, FB_STRIDE);
	sync_engine("drawing");
	/* Still the plane we committed last?  (Not after a lost plane.) */
	if (fb_k) {
		plane_expect(&c);
		if (c.bad && !plane_bad++)
			snprint(plane_first, sizeof(plane_first),
				"before frame %u: %s", k, c.first);
	}
	plane_set(off);
	fb_front = back;
	fb_k = k;
	fb_last_ms = now_ms();
	fb_draw_ms += fb_last_ms - t0;
}

static void display_init(void)
{
	uint32_t caps = reg_rd(VSLICE_REG_CAPS);

	uint32_t buf, b, off;

	display = caps & VSLICE_CAP_PLANE;
	if (!display) {
		print("E2E-DISPLAY none (caps %08x)\n", caps);
		return;
	}
	/* What no frame changes, in both buffers. */
	for (buf = 0; buf < 2; buf++) {
		off = fb_off(buf);
		for (b = 0; b < NR_BARS; b++)
			emit(VSLICE_CMD_FILL, bars[b], off + b * BAR_ROWS * FB_STRIDE,
			     0, BAR_ROWS * FB_STRIDE);
		emit(VSLICE_CMD_FILL, GREY, off + NR_BARS * BAR_ROWS * FB_STRIDE, 0,
		     (BAND_Y0 - NR_BARS * BAR_ROWS) * FB_STRIDE);
		emit(VSLICE_CMD_FILL, GREY, off + (BAND_Y0 + BAND_H) * FB_STRIDE, 0,
		     (FB_H - BAND_Y0 - BAND_H) * FB_STRIDE);
	}
	sync_engine("drawing");
	fb_front = 1;
	draw_frame(1);
	fb_held = 1;
	print("E2E-DISPLAY %ux%u XR24 stride %u at %08x and %08x, frame %u (held), generation %u\n",
	      FB_W, FB_H, FB_STRIDE, fb_off(0), fb_off(1), fb_k,
	      reg_rd(VSLICE_REG_PLANE_GENERATION));
}

/* Called from the main loop: a new frame every FRAME_MS unless held. */
static void display_tick(void)
{
	if (display && !fb_held && now_ms() - fb_last_ms >= FRAME_MS)
		draw_frame(fb_k + 1);
}

static void display_hold(bool hold)
{
	if (!display) {
		print("E2E-%s none\n", hold ? "HELD" : "DRAWING");
		return;
	}
	fb_held = hold;
	if (hold)
		print("E2E-HELD frame=%u offset=%08x\n", fb_k, fb_off(fb_front));
	else
		print("E2E-DRAWING frame=%u\n", fb_k);
}

static bool report(struct check *c)
{
	if (!c->bad)
		print("E2E-CHECK %s: ok (%u bytes)\n", c->name, c->bytes);
	else
		print("E2E-CHECK %s: BAD %u mismatches of %u bytes, first: %s\n",
		      c->name, c->bad, c->bytes, c->first);
	return !c->bad;
}

static void verify(void)
{
	struct check regs = { .name = "registers" };
	struct check ram = { .name = "guest-ram" };
	struct check vram = { .name = "vram" };
	struct check after = { .name = "engine-after" };
	struct check plane = { .name = "plane" };
	struct check fb = { .name = "framebuffer" };
	uint32_t t0 = now_ms();
	bool ok;

	print("E2E-VERIFY iter=%u\n", iter);
	if (nodev) {
		check_guest_ram(&ram);
		goto out;
	}
	/* Registers first: the reads below queue more commands. */
	check_registers(&regs);
	check_guest_ram(&ram);
	check_vram(&vram);
	if (display)
		check_display(&plane, &fb);
	/* The engine state after all that work: still consistent? */
	check_reg(&after, "FENCE_LO", VSLICE_REG_FENCE_LO, (uint32_t)fseq);
	check_reg(&after, "CMD_COUNT", VSLICE_REG_CMD_COUNT,
		  cmd_base + submitted);
	check_reg(&after, "RING_HEAD", VSLICE_REG_RING_HEAD, tail);
out:

	ok = report(&regs);
	ok &= report(&ram);
	ok &= report(&vram);
	ok &= report(&after);
	if (display) {
		ok &= report(&plane);
		ok &= report(&fb);
	}
	if (ok) {
		print("E2E-RESULT: PASS iter=%u cmds=%u fence=%u regs=%u ram=%uKiB vram=%uKiB ms=%u frame=%u\n",
		      iter, submitted, (uint32_t)fseq, regs.bytes / 4,
		      ram.bytes >> 10, vram.bytes >> 10, now_ms() - t0, fb_k);
		return;
	}
	print("E2E-RESULT: FAIL");
	if (regs.bad)
		print(" registers(%u: %s)", regs.bad, regs.first);
	if (ram.bad)
		print(" guest-ram(%u: %s)", ram.bad, ram.first);
	if (vram.bad)
		print(" vram(%u: %s)", vram.bad, vram.first);
	if (after.bad)
		print(" engine-after(%u: %s)", after.bad, after.first);
	if (plane.bad)
		print(" plane(%u: %s)", plane.bad, plane.first);
	if (fb.bad)
		print(" framebuffer(%u: %s)", fb.bad, fb.first);
	print(" iter=%u\n", iter);
}

static void progress(void)
{
	print("E2E-PROGRESS iter=%u frame=%u fence=%u ms=%u draw_ms=%u\n", iter,
	      fb_k, (uint32_t)fseq, now_ms(), fb_draw_ms);
}

/* ---- entry --------------------------------------------------------------------- */

struct multiboot_info {
	uint32_t flags;
	uint32_t mem_lower;	/* KiB below 1 MiB, if flags bit 0 */
	uint32_t mem_upper;	/* KiB above 1 MiB, if flags bit 0 */
	uint32_t boot_device;
	uint32_t cmdline;	/* C string, if flags bit 2 */
};

/* The number after @key ("pace=") on the command line, or 0. */
static uint32_t cmdline_num(const struct multiboot_info *mbi, const char *key)
{
	const char *p = (const char *)(uintptr_t)mbi->cmdline;
	size_t n = strlen(key);
	uint32_t v = 0;

	if (!(mbi->flags & 4) || !p)
		return 0;
	for (; *p; p++) {
		if ((p == (const char *)(uintptr_t)mbi->cmdline || p[-1] == ' ') &&
		    !memcmp(p, key, n)) {
			for (p += n; *p >= '0' && *p <= '9'; p++)
				v = v * 10 + (uint32_t)(*p - '0');
			return v;
		}
	}
	return 0;
}

/* Is @word one of the blank-separated words of the command line? */
static bool cmdline_has(const struct multiboot_info *mbi, const char *word)
{
	const char *p = (const char *)(uintptr_t)mbi->cmdline;
	size_t n = strlen(word);

	if (!(mbi->flags & 4) || !p)
		return false;
	for (; *p; p++) {
		if ((p == (const char *)(uintptr_t)mbi->cmdline || p[-1] == ' ') &&
		    !memcmp(p, word, n) && (p[n] == ' ' || !p[n]))
			return true;
	}
	return false;
}

void guest_main(uint32_t magic, const struct multiboot_info *mbi);
void guest_main(uint32_t magic, const struct multiboot_info *mbi)
{
	uint32_t t_init, last = 0;
	int c;

	serial_init();
	idt_init();
	print("\nE2E-BOOT vslice e2e guest\n");
	if (magic != 0x2badb002)
		fail("not started by a multiboot loader (eax %08x)", magic);
	if ((mbi->flags & 1) && mbi->mem_upper < (MEM_END >> 10) - 1024)
		fail("needs %u MiB of RAM, has %u KiB", MEM_END >> 20,
		     mbi->mem_upper + 1024);
	clock_init();
	*(volatile uint8_t *)RING_ANCHOR = 0xc3;	/* ret */
	keep_anchors();

	nodev = cmdline_has(mbi, "nodev");
	churn = !nodev && cmdline_has(mbi, "churn");
	pace_us = cmdline_num(mbi, "pace=");
	if (nodev) {
		print("E2E-READY nodev tsc=%ukHz pace=%uus\n", tsc_khz(), pace_us);
	} else {
		find_device();
		engine_init();
		if (vram_size < CHURN_MIN_VRAM)
			churn = false;	/* the window does not fit */
		t_init = now_ms();
		vram_init();
		display_init();
		print("E2E-READY vram=%uMiB bar0=%08x tsc=%ukHz init_ms=%u%s pace=%uus\n",
		      (uint32_t)(vram_size >> 20), (uint32_t)bar0, tsc_khz(),
		      now_ms() - t_init, churn ? " churn" : "", pace_us);
	}

	for (;;) {
		iterate();
		display_tick();
		c = serial_getc();
		if (c == 'v')
			verify();
		if (c == 'h' || c == 'd')
			display_hold(c == 'h');
		if (c == 'p' || now_ms() - last >= PROGRESS_MS) {
			progress();
			last = now_ms();
		}
	}
}
