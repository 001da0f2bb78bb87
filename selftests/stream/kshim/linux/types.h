/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kshim: the kernel-internal half of <linux/types.h> for building
 * mdev/stream.c in userspace.  The uapi half (__u32, __le32, ...) comes
 * from the system's <linux/types.h>.
 */
#ifndef _KSHIM_LINUX_TYPES_H
#define _KSHIM_LINUX_TYPES_H

#include_next <linux/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef __s8 s8;
typedef __s16 s16;
typedef __s32 s32;
typedef __s64 s64;

#endif
