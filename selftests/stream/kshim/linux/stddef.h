/* SPDX-License-Identifier: GPL-2.0 */
/* kshim: offsetof() next to the uapi <linux/stddef.h> helpers. */
#ifndef _KSHIM_LINUX_STDDEF_H
#define _KSHIM_LINUX_STDDEF_H

#include_next <linux/stddef.h>
#include <stddef.h>

#endif
