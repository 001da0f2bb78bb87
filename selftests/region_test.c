// SPDX-License-Identifier: GPL-2.0
/*
 * VFIO_DEVICE_GET_REGION_INFO for every region index, as the kernel under
 * test answers it.  Up to 6.18 vslice's ioctl op answers; from 6.19 the
 * VFIO core does, around the driver's get_region_info_caps op, and lays
 * out the capability chain itself.  The same assertions hold on both:
 * offset, size and flags of each region; the v1 migration region's
 * capability chain (argsz too small: argsz grown, CAPS set, nothing
 * written past the caller's argsz; then the whole chain, walked and
 * bounds-checked); out-of-range indexes and a too small argsz refused.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kselftest_harness.h"
#include "vslice_lib.h"

#define INFO_SZ		sizeof(struct vfio_region_info)
#define CANARY		0xa5
#define MAX_CAPS	16

FIXTURE(region) {
	struct vs_inst in;
	unsigned int num_regions;
};

FIXTURE_SETUP(region)
{
	struct vfio_device_info d = { .argsz = sizeof(d) };

	vs_remove_all();
	ASSERT_EQ(0, vs_create(&self->in, VS_TYPE_256));
	ASSERT_EQ(0, vs_open(&self->in));
	ASSERT_EQ(0, ioctl(self->in.device, VFIO_DEVICE_GET_INFO, &d));
	/* the PCI regions, then the v1 migration and display regions */
	ASSERT_EQ(VFIO_PCI_NUM_REGIONS + 2, d.num_regions);
	self->num_regions = d.num_regions;
}

FIXTURE_TEARDOWN(region)
{
	vs_close(&self->in);
	vs_remove_all();
}

/* Region info with @argsz bytes of room; the rest of @buf is left alone. */
static int region_info(int device, unsigned int index, void *buf,
		       size_t bufsz, __u32 argsz)
{
	struct vfio_region_info *info = buf;

	memset(buf, CANARY, bufsz);
	memset(buf, 0, INFO_SZ);
	info->argsz = argsz;
	info->index = index;
	return ioctl(device, VFIO_DEVICE_GET_REGION_INFO, buf) ? -errno : 0;
}

/* Bytes of @buf from @from on that still hold the canary, up to @to. */
static int untouched(const void *buf, size_t from, size_t to)
{
	const unsigned char *p = buf;
	size_t i;

	for (i = from; i < to; i++)
		if (p[i] != CANARY)
			return 0;
	return 1;
}

TEST_F(region, every_index_with_minimal_argsz)
{
	const __u32 rw = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	struct vfio_region_info info;
	unsigned int i;

	for (i = 0; i < self->num_regions; i++) {
		TH_LOG("region %u", i);
		ASSERT_EQ(0, region_info(self->in.device, i, &info,
					 sizeof(info), INFO_SZ));
		EXPECT_EQ(i, info.index);
		EXPECT_EQ((__u64)i << 40, info.offset);
		EXPECT_EQ(0U, info.cap_offset);
		switch (i) {
		case VFIO_PCI_CONFIG_REGION_INDEX:
			EXPECT_EQ(256ULL, info.size);
			EXPECT_EQ(rw, info.flags);
			break;
		case VFIO_PCI_BAR0_REGION_INDEX:
			EXPECT_EQ((__u64)VSLICE_MMIO_SIZE, info.size);
			EXPECT_EQ(rw, info.flags);
			break;
		case VFIO_PCI_BAR2_REGION_INDEX:
			EXPECT_EQ(256 * VS_MIB, info.size);
			EXPECT_EQ(rw | VFIO_REGION_INFO_FLAG_MMAP, info.flags);
			break;
		case VFIO_PCI_NUM_REGIONS:
			/* v1: caps that did not fit, and how much room they need */
			EXPECT_LT(0ULL, info.size);
			EXPECT_EQ(rw | VFIO_REGION_INFO_FLAG_MMAP |
				  VFIO_REGION_INFO_FLAG_CAPS, info.flags);
			EXPECT_LT(INFO_SZ, info.argsz);
			break;
		case VFIO_PCI_NUM_REGIONS + 1:
			/* display: a read-only window of VRAM size */
			EXPECT_EQ(256 * VS_MIB, info.size);
			EXPECT_EQ(VFIO_REGION_INFO_FLAG_READ |
				  VFIO_REGION_INFO_FLAG_MMAP, info.flags);
			break;
		default:
			/* absent BARs, ROM, VGA: nothing to access */
			EXPECT_EQ(0ULL, info.size);
			EXPECT_EQ(0U, info.flags);
			break;
		}
		if (i != VFIO_PCI_NUM_REGIONS)
			EXPECT_EQ(INFO_SZ, info.argsz);
	}
}

TEST_F(region, v1_capability_chain)
{
	struct vfio_region_info_cap_sparse_mmap *sparse = NULL;
	struct vfio_region_info_cap_type *type = NULL;
	const unsigned int idx = VFIO_PCI_NUM_REGIONS;
	struct vfio_region_info *info;
	struct vfio_info_cap_header *hdr;
	__u32 need, off, prev;
	size_t bufsz;
	int ncaps = 0;
	__u64 size;
	void *buf;

	/* 1. the fixed part only: argsz grown, CAPS set, no chain */
	buf = malloc(4096);
	ASSERT_NE(NULL, buf);
	info = buf;
	ASSERT_EQ(0, region_info(self->in.device, idx, buf, 4096, INFO_SZ));
	need = info->argsz;
	size = info->size;
	EXPECT_TRUE(!!(info->flags & VFIO_REGION_INFO_FLAG_CAPS));
	EXPECT_EQ(0U, info->cap_offset);
	ASSERT_LT(INFO_SZ, need);
	ASSERT_GE(4096U, need);
	EXPECT_TRUE(untouched(buf, INFO_SZ, 4096));

	/* 2. room for part of the chain: same answer, nothing written past */
	ASSERT_EQ(0, region_info(self->in.device, idx, buf, 4096, need - 8));
	EXPECT_EQ(need, info->argsz);
	EXPECT_EQ(0U, info->cap_offset);
	EXPECT_TRUE(!!(info->flags & VFIO_REGION_INFO_FLAG_CAPS));
	EXPECT_TRUE(untouched(buf, INFO_SZ, 4096));
	free(buf);

	/* 3. exactly the room asked for, plus a canary tail: the chain */
	bufsz = need + 64;
	buf = malloc(bufsz);
	ASSERT_NE(NULL, buf);
	info = buf;
	ASSERT_EQ(0, region_info(self->in.device, idx, buf, bufsz, need));
	EXPECT_EQ(need, info->argsz);
	EXPECT_EQ(size, info->size);
	EXPECT_EQ((__u64)idx << 40, info->offset);
	ASSERT_TRUE(!!(info->flags & VFIO_REGION_INFO_FLAG_CAPS));
	ASSERT_LE(INFO_SZ, info->cap_offset);
	EXPECT_TRUE(untouched(buf, need, bufsz));

	/* Walk it: headers inside argsz, aligned, strictly forward, finite. */
	prev = 0;
	for (off = info->cap_offset; off; off = hdr->next) {
		ASSERT_GT(off, prev);
		ASSERT_EQ(0U, off % 8);
		ASSERT_LE(off + sizeof(*hdr), need);
		ASSERT_GT(MAX_CAPS, ncaps);
		hdr = (struct vfio_info_cap_header *)((char *)buf + off);
		TH_LOG("cap id %u version %u at %u next %u", hdr->id,
		       hdr->version, off, hdr->next);
		switch (hdr->id) {
		case VFIO_REGION_INFO_CAP_TYPE:
			EXPECT_EQ(NULL, type);
			ASSERT_LE(off + sizeof(*type), need);
			type = (void *)hdr;
			break;
		case VFIO_REGION_INFO_CAP_SPARSE_MMAP:
			EXPECT_EQ(NULL, sparse);
			ASSERT_LE(off + sizeof(*sparse), need);
			sparse = (void *)hdr;
			ASSERT_LE(off + sizeof(*sparse) +
				  sparse->nr_areas * sizeof(sparse->areas[0]),
				  need);
			break;
		default:
			TH_LOG("unexpected capability id %u", hdr->id);
			EXPECT_TRUE(0);
		}
		prev = off;
		ncaps++;
	}
	EXPECT_EQ(2, ncaps);

	ASSERT_NE(NULL, type);
	EXPECT_EQ(1, type->header.version);
	EXPECT_EQ((__u32)VSLICE_V1_REGION_TYPE, type->type);
	EXPECT_EQ((__u32)VSLICE_V1_REGION_SUBTYPE, type->subtype);

	/* Only the data section maps: one page-aligned area up to the end. */
	ASSERT_NE(NULL, sparse);
	EXPECT_EQ(1, sparse->header.version);
	ASSERT_EQ(1U, sparse->nr_areas);
	EXPECT_LT(0ULL, sparse->areas[0].offset);
	EXPECT_EQ(0ULL, sparse->areas[0].offset % 4096);
	EXPECT_LT(0ULL, sparse->areas[0].size);
	EXPECT_EQ(size, sparse->areas[0].offset + sparse->areas[0].size);

	/* 4. more room than needed: the same chain, argsz left as given */
	{
		void *big = malloc(bufsz + 256);

		ASSERT_NE(NULL, big);
		ASSERT_EQ(0, region_info(self->in.device, idx, big,
					 bufsz + 256, bufsz + 256));
		EXPECT_EQ(bufsz + 256,
			  ((struct vfio_region_info *)big)->argsz);
		EXPECT_EQ(info->cap_offset,
			  ((struct vfio_region_info *)big)->cap_offset);
		EXPECT_EQ(0, memcmp((char *)buf + INFO_SZ,
				    (char *)big + INFO_SZ, need - INFO_SZ));
		free(big);
	}
	free(buf);
}

TEST_F(region, out_of_range_refused)
{
	struct vfio_region_info info;

	EXPECT_EQ(-EINVAL, region_info(self->in.device, self->num_regions,
				       &info, sizeof(info), INFO_SZ));
	EXPECT_EQ(-EINVAL, region_info(self->in.device, self->num_regions + 1,
				       &info, sizeof(info), INFO_SZ));
	EXPECT_EQ(-EINVAL, region_info(self->in.device, ~0u, &info,
				       sizeof(info), INFO_SZ));
	/* argsz below the fixed part (up to offset): refused */
	EXPECT_EQ(-EINVAL, region_info(self->in.device,
				       VFIO_PCI_CONFIG_REGION_INDEX, &info,
				       sizeof(info), 8));
}

TEST_HARNESS_MAIN
