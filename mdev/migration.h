/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vslice: migration core - one FSM and one stream codec for both the VFIO
 * v2 protocol and the v1 region shim (migration.c, stream.c).
 */
#ifndef _VSLICE_MIGRATION_H
#define _VSLICE_MIGRATION_H

#include <linux/types.h>
#include <linux/vfio.h>

#include "stream.h"

struct vslice_dev;
struct vslice_data_file;
struct iov_iter;
struct seq_file;

/*
 * The v2 device states with the uAPI's numbers.  Our own enum because 6.1's
 * uAPI has no PRE_COPY states, yet the v1 shim offers pre-copy there.
 */
enum vslice_mig_state {
	VSLICE_MIG_ERROR = 0,
	VSLICE_MIG_STOP = 1,
	VSLICE_MIG_RUNNING = 2,
	VSLICE_MIG_STOP_COPY = 3,
	VSLICE_MIG_RESUMING = 4,
	VSLICE_MIG_RUNNING_P2P = 5,
	VSLICE_MIG_PRE_COPY = 6,
	VSLICE_MIG_PRE_COPY_P2P = 7,
	VSLICE_MIG_NR,
};

/**
 * struct vslice_mig - per-instance migration state (under state_mutex)
 * @state:	current device state
 * @save:	the save channel (PRE_COPY*, STOP_COPY), or NULL
 * @resume:	the resume channel (RESUMING), or NULL
 */
struct vslice_mig {
	enum vslice_mig_state state;
	struct vslice_data_file *save;
	struct vslice_data_file *resume;
};

int vslice_mig_init(struct vslice_dev *vd);
void vslice_mig_fini(struct vslice_dev *vd);
void vslice_mig_close(struct vslice_dev *vd);
int vslice_mig_reset(struct vslice_dev *vd);

/* The protocol-neutral interface the v1 shim uses (v2 uses the same core). */
int vslice_mig_goto(struct vslice_dev *vd, enum vslice_mig_state target);
enum vslice_mig_state vslice_mig_state(struct vslice_dev *vd);
u64 vslice_mig_pending(struct vslice_dev *vd);
ssize_t vslice_mig_save_read(struct vslice_dev *vd, struct iov_iter *to);
ssize_t vslice_mig_resume_write(struct vslice_dev *vd, struct iov_iter *from);

void vslice_mig_show(struct vslice_dev *vd, struct seq_file *s);

extern const struct vfio_migration_ops vslice_mig_ops;

#endif /* _VSLICE_MIGRATION_H */
