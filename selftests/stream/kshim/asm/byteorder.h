/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kshim: the kernel's cpu_to_le*() / le*_to_cpu() on top of the uapi
 * __cpu_to_le*() of the system's <asm/byteorder.h> (right on either
 * endianness).
 */
#ifndef _KSHIM_ASM_BYTEORDER_H
#define _KSHIM_ASM_BYTEORDER_H

#include_next <asm/byteorder.h>

#define cpu_to_le16	__cpu_to_le16
#define cpu_to_le32	__cpu_to_le32
#define cpu_to_le64	__cpu_to_le64
#define le16_to_cpu	__le16_to_cpu
#define le32_to_cpu	__le32_to_cpu
#define le64_to_cpu	__le64_to_cpu

#endif
