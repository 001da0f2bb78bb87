/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * vslice: the legacy VFIO v1 migration region (Linux 5.8-5.17 uAPI, spoken
 * by QEMU 5.2-7.2).  Our own names: since 5.18 the unsuffixed kernel names
 * VFIO_DEVICE_STATE_* belong to the v2 enum and mean other numbers.
 */
#ifndef _UAPI_VSLICE_MIG_V1_H
#define _UAPI_VSLICE_MIG_V1_H

#include <linux/types.h>

#define VSLICE_V1_REGION_TYPE		3 /* MIGRATION(_DEPRECATED) */
#define VSLICE_V1_REGION_SUBTYPE	1 /* MIGRATION(_DEPRECATED) */

/* device_state bits */
#define VSLICE_V1_STATE_STOP		0u
#define VSLICE_V1_STATE_RUNNING		(1u << 0)
#define VSLICE_V1_STATE_SAVING		(1u << 1)
#define VSLICE_V1_STATE_RESUMING	(1u << 2)
#define VSLICE_V1_STATE_MASK		(VSLICE_V1_STATE_RUNNING | \
					 VSLICE_V1_STATE_SAVING | \
					 VSLICE_V1_STATE_RESUMING)
#define VSLICE_V1_STATE_PRECOPY		(VSLICE_V1_STATE_RUNNING | \
					 VSLICE_V1_STATE_SAVING)
#define VSLICE_V1_STATE_ERROR		(VSLICE_V1_STATE_SAVING | \
					 VSLICE_V1_STATE_RESUMING)

/**
 * struct vslice_v1_mig_info - the 32-byte header at region offset 0
 * @device_state: VSLICE_V1_STATE_* (read/write, u32 accesses only)
 * @reserved:	reads 0
 * @pending_bytes: bytes still to be saved (read only)
 * @data_offset: region offset of the data section (read only)
 * @data_size:	bytes in the data section (read on save, write on resume)
 */
struct vslice_v1_mig_info {
	__u32 device_state;
	__u32 reserved;
	__u64 pending_bytes;
	__u64 data_offset;
	__u64 data_size;
};

#endif /* _UAPI_VSLICE_MIG_V1_H */
