/* SPDX-License-Identifier: GPL-2.0 */
/* kshim: memcpy(), memset() and the kernel's memchr_inv(). */
#ifndef _KSHIM_LINUX_STRING_H
#define _KSHIM_LINUX_STRING_H

#include <stddef.h>
#include <string.h>

/* The first byte of @p[0..@n) that is not @c, or NULL. */
static inline void *memchr_inv(const void *p, int c, size_t n)
{
	const unsigned char *b = p;

	for (; n; n--, b++)
		if (*b != (unsigned char)c)
			return (void *)b;
	return NULL;
}

#endif
