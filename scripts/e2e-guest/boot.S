/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Entry of the bare-metal e2e guest: a multiboot (v1) header, a stack, and
 * CPU exception stubs that report the fault over the serial port instead
 * of letting the CPU triple-fault silently.
 *
 * A multiboot loader (QEMU's -kernel) enters _start in 32-bit protected
 * mode with flat segments, paging and interrupts off, EAX = magic and
 * EBX = the multiboot information structure.
 */

	.set	MB_MAGIC, 0x1BADB002
	.set	MB_FLAGS, 0x00000002		/* please fill mem_lower/upper */

	.section .multiboot, "a"
	.p2align 2
	.long	MB_MAGIC
	.long	MB_FLAGS
	.long	-(MB_MAGIC + MB_FLAGS)

	.text
	.globl	_start
_start:
	cli
	cld
	movl	$stack_top, %esp
	xorl	%ebp, %ebp
	pushl	%ebx			/* guest_main(magic, mbi) */
	pushl	%eax
	call	guest_main
	.globl	halt_forever
halt_forever:
	cli
	hlt
	jmp	halt_forever

/*
 * exc_stubs + 16 * n is the entry for vector n (0..31).  Each pushes a
 * dummy error code where the CPU does not push one, then the vector, so
 * that exc_common always sees: vector, error code, EIP, CS, EFLAGS.
 */
	.p2align 4
	.globl	exc_stubs
exc_stubs:
	.irp	n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.p2align 4
	.if	(\n == 8) || ((\n >= 10) && (\n <= 14)) || (\n == 17) || (\n == 21) || (\n == 29) || (\n == 30)
	.else
	pushl	$0
	.endif
	pushl	$\n
	jmp	exc_common
	.endr

exc_common:
	/* cdecl: exception_handler(vector, error, eip) reads them in place */
	call	exception_handler
	jmp	halt_forever

/*
 * Anchors for the hot pages (see "Hot pages" in guest.c): each is a
 * one-instruction function at the start of a page the CPU keeps writing
 * while a migration runs.  guest.ld puts each at the start of its page.
 */
	.section .hot.anchor0, "ax", @progbits
	.globl	anchor0
anchor0:
	ret

	.section .hot.anchor1, "ax", @progbits
	.globl	anchor1
anchor1:
	ret

/* The stack: two pages, each starting with an anchor. */
	.section .hot.stack, "awx", @progbits
	.p2align 12
	.globl	anchor_stack0, anchor_stack1
anchor_stack0:
	ret
	.p2align 12
anchor_stack1:
	ret
	.skip	4096 - 1
