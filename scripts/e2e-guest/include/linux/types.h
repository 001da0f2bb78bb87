/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Stand-in for <linux/types.h> so that the bare-metal e2e guest can include
 * uapi/vslice_regs.h without any kernel or libc headers.  The guest is
 * little-endian x86, so the __le types are plain integers.
 */
#ifndef _E2E_LINUX_TYPES_H
#define _E2E_LINUX_TYPES_H

#include <stdint.h>

typedef uint8_t __u8;
typedef uint16_t __u16;
typedef uint32_t __u32;
typedef uint64_t __u64;
typedef uint16_t __le16;
typedef uint32_t __le32;
typedef uint64_t __le64;

#endif
