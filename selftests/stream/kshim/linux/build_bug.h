/* SPDX-License-Identifier: GPL-2.0 */
/* kshim: the kernel's static_assert(), message optional. */
#ifndef _KSHIM_LINUX_BUILD_BUG_H
#define _KSHIM_LINUX_BUILD_BUG_H

#undef static_assert
#define static_assert(expr, ...) __static_assert(expr, ##__VA_ARGS__, #expr)
#define __static_assert(expr, msg, ...) _Static_assert(expr, msg)

#endif
