/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kshim: the kernel's crc32c() for the userspace build of mdev/stream.c,
 * done by ISA-L (libisal-dev, -lisal), which picks its fastest code for
 * this CPU at run time.  crc32_iscsi() has the kernel's convention: the
 * register goes in and comes out as is, no inversion either way.
 */
#ifndef _KSHIM_LINUX_CRC32C_H
#define _KSHIM_LINUX_CRC32C_H

#include <isa-l/crc.h>
#include <linux/types.h>

/*
 * codec_bench builds with KSHIM_CRC32C_IMPL and provides this function, a
 * jump to the ISA-L variant it names and may pick (--crc=).
 */
#ifdef KSHIM_CRC32C_IMPL
unsigned int kshim_crc32c_impl(unsigned char *buf, int len, unsigned int crc);
#define KSHIM_CRC32C	kshim_crc32c_impl
#else
#define KSHIM_CRC32C	crc32_iscsi
#endif

static inline u32 crc32c(u32 crc, const void *address, unsigned int length)
{
	/* ISA-L takes an int length */
	while (length > (1u << 30)) {
		crc = KSHIM_CRC32C((unsigned char *)address, 1 << 30, crc);
		address = (const unsigned char *)address + (1u << 30);
		length -= 1u << 30;
	}
	return KSHIM_CRC32C((unsigned char *)address, (int)length, crc);
}

#endif /* _KSHIM_LINUX_CRC32C_H */
