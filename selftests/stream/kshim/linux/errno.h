/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kshim: errno values.  Linux userspace uses the kernel's numbers; glibc's
 * <errno.h> itself includes <linux/errno.h>, so defer to the uapi one.
 */
#ifndef _KSHIM_LINUX_ERRNO_H
#define _KSHIM_LINUX_ERRNO_H

#include_next <linux/errno.h>

#endif
