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

static inline u32 crc32c(u32 crc, const void *address, unsigned int length)
{
	/* ISA-L takes an int length */
	while (length > (1u << 30)) {
		crc = crc32_iscsi((unsigned char *)address, 1 << 30, crc);
		address = (const unsigned char *)address + (1u << 30);
		length -= 1u << 30;
	}
	return crc32_iscsi((unsigned char *)address, (int)length, crc);
}

#endif /* _KSHIM_LINUX_CRC32C_H */
