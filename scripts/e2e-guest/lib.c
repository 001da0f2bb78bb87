// SPDX-License-Identifier: GPL-2.0
/*
 * The e2e guest's runtime; see lib.h.
 */

#include "lib.h"

/* ---- COM1 ------------------------------------------------------------- */

#define COM1		0x3f8
#define UART_RBR	0	/* receive buffer (read) */
#define UART_THR	0	/* transmit holding (write) */
#define UART_IER	1
#define UART_FCR	2
#define UART_LCR	3
#define UART_MCR	4
#define UART_LSR	5
#define UART_DLL	0	/* with LCR.DLAB */
#define UART_DLM	1
#define LSR_DR		0x01	/* data ready */
#define LSR_THRE	0x20	/* transmit holding register empty */

void serial_init(void)
{
	outb(COM1 + UART_IER, 0x00);	/* polled: no interrupts */
	outb(COM1 + UART_LCR, 0x80);	/* DLAB */
	outb(COM1 + UART_DLL, 0x01);	/* 115200 baud */
	outb(COM1 + UART_DLM, 0x00);
	outb(COM1 + UART_LCR, 0x03);	/* 8N1 */
	outb(COM1 + UART_FCR, 0x07);	/* FIFOs on and cleared */
	outb(COM1 + UART_MCR, 0x03);	/* DTR, RTS */
}

void serial_putc(char c)
{
	unsigned int spin = 0;

	if (c == '\n')
		serial_putc('\r');
	/* A real UART drains in microseconds; do not hang if it never does. */
	while (!(inb(COM1 + UART_LSR) & LSR_THRE) && ++spin < 1000000)
		;
	outb(COM1 + UART_THR, (uint8_t)c);
}

int serial_getc(void)
{
	if (!(inb(COM1 + UART_LSR) & LSR_DR))
		return -1;
	return inb(COM1 + UART_RBR);
}

/* ---- formatted output ------------------------------------------------ */

struct out {
	char *buf;	/* NULL: straight to the serial port */
	size_t size;
	size_t len;
};

static void out_c(struct out *o, char c)
{
	if (!o->buf)
		serial_putc(c);
	else if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

/* 64-by-32-bit division with the CPU's divl, without libgcc. */
static uint64_t udiv64(uint64_t n, uint32_t d, uint32_t *rem)
{
	uint32_t hi = (uint32_t)(n >> 32), lo = (uint32_t)n, qhi, r;

	qhi = hi / d;
	r = hi % d;		/* < d, so the quotient below fits in 32 bits */
	__asm__("divl %2" : "+a"(lo), "+d"(r) : "rm"(d));
	if (rem)
		*rem = r;
	return ((uint64_t)qhi << 32) | lo;
}

static void out_num(struct out *o, uint64_t v, unsigned int base, int width,
		    bool zero, bool neg)
{
	char tmp[24];
	int n = 0;
	uint32_t r;

	do {
		v = udiv64(v, base, &r);
		tmp[n++] = "0123456789abcdef"[r];
	} while (v);
	if (neg)
		tmp[n++] = '-';
	while (n < width--)
		out_c(o, zero ? '0' : ' ');
	while (n)
		out_c(o, tmp[--n]);
}

static void vformat(struct out *o, const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		int width = 0, longs = 0;
		bool zero = false;
		const char *s;
		uint64_t u;
		int64_t d;

		if (*fmt != '%') {
			out_c(o, *fmt);
			continue;
		}
		fmt++;
		if (*fmt == '0') {
			zero = true;
			fmt++;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l') {
			longs++;
			fmt++;
		}
		switch (*fmt) {
		case 's':
			s = va_arg(ap, const char *);
			for (width -= (int)strlen(s); width > 0; width--)
				out_c(o, ' ');
			while (*s)
				out_c(o, *s++);
			break;
		case 'c':
			out_c(o, (char)va_arg(ap, int));
			break;
		case 'd':
			d = longs >= 2 ? va_arg(ap, int64_t) : va_arg(ap, int);
			out_num(o, d < 0 ? -(uint64_t)d : (uint64_t)d, 10,
				width, zero, d < 0);
			break;
		case 'u':
		case 'x':
			u = longs >= 2 ? va_arg(ap, uint64_t) :
					 va_arg(ap, unsigned int);
			out_num(o, u, *fmt == 'u' ? 10 : 16, width, zero,
				false);
			break;
		case '%':
			out_c(o, '%');
			break;
		default:
			out_c(o, '?');
			if (!*fmt)
				return;
		}
	}
}

void vprint(const char *fmt, va_list ap)
{
	struct out o = { 0 };

	vformat(&o, fmt, ap);
}

void print(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprint(fmt, ap);
	va_end(ap);
}

int vsnprint(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct out o = { .buf = buf, .size = size };

	vformat(&o, fmt, ap);
	if (size)
		buf[o.len < size ? o.len : size - 1] = '\0';
	return (int)o.len;
}

int snprint(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprint(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

/* ---- clock ------------------------------------------------------------ */

#define PIT_HZ		1193182u
#define PIT_CH2		0x42
#define PIT_MODE	0x43
#define PORT_B		0x61	/* bit 0: PIT 2 gate, bit 5: PIT 2 output */
#define CALIB_MS	20u

static uint64_t tsc0;
static uint32_t tsc_per_ms = 1000000;	/* fallback: 1 GHz */

void clock_init(void)
{
	uint32_t latch = PIT_HZ / 1000 * CALIB_MS;
	uint64_t t0, t1;
	uint32_t spin = 0;

	/* PIT channel 2, mode 0 (interrupt on terminal count), gate on. */
	outb(PORT_B, (inb(PORT_B) & ~0x02) | 0x01);
	outb(PIT_MODE, 0xb0);
	outb(PIT_CH2, latch & 0xff);
	outb(PIT_CH2, latch >> 8);
	t0 = rdtsc();
	while (!(inb(PORT_B) & 0x20) && ++spin < 100000000)
		;
	t1 = rdtsc();
	if ((inb(PORT_B) & 0x20) && t1 - t0 > CALIB_MS * 1000ull &&
	    t1 - t0 < 0xffffffffull)
		tsc_per_ms = (uint32_t)(t1 - t0) / CALIB_MS;
	tsc0 = rdtsc();
}

uint32_t now_ms(void)
{
	return (uint32_t)udiv64(rdtsc() - tsc0, tsc_per_ms, NULL);
}

uint32_t tsc_khz(void)
{
	return tsc_per_ms;
}

/* ---- PCI --------------------------------------------------------------- */

static uint32_t pci_addr(unsigned int bus, unsigned int dev, unsigned int fn,
			 unsigned int off)
{
	return 0x80000000u | bus << 16 | dev << 11 | fn << 8 | (off & 0xfc);
}

uint32_t pci_cfg_read32(unsigned int bus, unsigned int dev, unsigned int fn,
			unsigned int off)
{
	outl(0xcf8, pci_addr(bus, dev, fn, off));
	return inl(0xcfc);
}

void pci_cfg_write32(unsigned int bus, unsigned int dev, unsigned int fn,
		     unsigned int off, uint32_t v)
{
	outl(0xcf8, pci_addr(bus, dev, fn, off));
	outl(0xcfc, v);
}

/* ---- CPU exceptions ------------------------------------------------------ */

struct idt_gate {
	uint16_t off_lo;
	uint16_t sel;
	uint8_t zero;
	uint8_t type;		/* 0x8e: present, ring 0, 32-bit interrupt gate */
	uint16_t off_hi;
} __attribute__((packed));

struct idt_ptr {
	uint16_t limit;
	uint32_t base;
} __attribute__((packed));

extern char exc_stubs[];
static struct idt_gate idt[32];

void idt_init(void)
{
	struct idt_ptr p = { sizeof(idt) - 1, (uint32_t)(uintptr_t)idt };
	uint16_t cs;
	unsigned int i;

	__asm__ __volatile__("mov %%cs, %0" : "=r"(cs));
	for (i = 0; i < 32; i++) {
		uint32_t h = (uint32_t)(uintptr_t)(exc_stubs + 16 * i);

		idt[i].off_lo = h & 0xffff;
		idt[i].sel = cs;
		idt[i].type = 0x8e;
		idt[i].off_hi = h >> 16;
	}
	__asm__ __volatile__("lidt %0" : : "m"(p));
}

void exception_handler(uint32_t vector, uint32_t error, uint32_t eip);
void exception_handler(uint32_t vector, uint32_t error, uint32_t eip)
{
	print("\nE2E-RESULT: FAIL cpu exception %u (error %x) at eip %08x\n",
	      vector, error, eip);
}

/* ---- what the compiler may call ----------------------------------------- */

void *memset(void *s, int c, size_t n)
{
	unsigned char *p = s;

	while (n--)
		*p++ = (unsigned char)c;
	return s;
}

void *memcpy(void *d, const void *s, size_t n)
{
	unsigned char *dp = d;
	const unsigned char *sp = s;

	while (n--)
		*dp++ = *sp++;
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x - *y;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}
