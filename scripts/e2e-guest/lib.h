/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The e2e guest's tiny runtime: port and MMIO access, COM1, PCI config
 * space through ports 0xCF8/0xCFC, a TSC clock calibrated on the PIT, a
 * printf subset and the CPU exception report.  No libc, no paging, one CPU.
 */
#ifndef E2E_LIB_H
#define E2E_LIB_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PAGE_SIZE	4096u

#define barrier()	__asm__ __volatile__("" ::: "memory")

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ __volatile__("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;

	__asm__ __volatile__("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ __volatile__("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint32_t inl(uint16_t port)
{
	uint32_t v;

	__asm__ __volatile__("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint32_t mmio_read32(uintptr_t addr)
{
	return *(volatile uint32_t *)addr;
}

static inline void mmio_write32(uintptr_t addr, uint32_t v)
{
	barrier();	/* ring entries in RAM before the doorbell */
	*(volatile uint32_t *)addr = v;
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

/* A 64-bit value in guest RAM that a device may write while we read it. */
static inline uint64_t read_u64_stable(const volatile uint64_t *p)
{
	const volatile uint32_t *w = (const volatile uint32_t *)p;
	uint32_t lo, hi;

	do {
		hi = w[1];
		lo = w[0];
	} while (hi != w[1]);
	return ((uint64_t)hi << 32) | lo;
}

/* Serial port COM1 (polled, 115200 8N1). */
void serial_init(void);
void serial_putc(char c);
int serial_getc(void);		/* a received byte, or -1 */

/* printf subset: %s %c %d %u %x, width and '0' flag, %llx for uint64_t. */
void print(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vprint(const char *fmt, va_list ap);
int snprint(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int vsnprint(char *buf, size_t size, const char *fmt, va_list ap);

/* Milliseconds since clock_init(), from the TSC calibrated on PIT 2. */
void clock_init(void);
uint32_t now_ms(void);
uint32_t tsc_khz(void);

/* PCI configuration mechanism #1. */
uint32_t pci_cfg_read32(unsigned int bus, unsigned int dev, unsigned int fn,
			unsigned int off);
void pci_cfg_write32(unsigned int bus, unsigned int dev, unsigned int fn,
		     unsigned int off, uint32_t v);

/* CPU exceptions are reported as an E2E-RESULT: FAIL line. */
void idt_init(void);

void __attribute__((noreturn)) halt_forever(void);

void *memset(void *s, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

#endif /* E2E_LIB_H */
