/* SPDX-License-Identifier: GPL-2.0 */
/* kshim: L1_CACHE_BYTES as on x86-64. */
#ifndef _KSHIM_LINUX_CACHE_H
#define _KSHIM_LINUX_CACHE_H

#define L1_CACHE_BYTES	64

#endif
