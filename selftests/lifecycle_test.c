// SPDX-License-Identifier: GPL-2.0
/*
 * vslice lifecycle: the parent, its types, capacity accounting, bad input
 * at the mdev sysfs ABI, removal while open, module unload, VFIO open.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "vslice_lib.h"

static const struct {
	const char *name;
	unsigned long long mib;
} types[] = {
	{ VS_TYPE_128, 128 },
	{ VS_TYPE_256, 256 },
	{ VS_TYPE_512, 512 },
};

#define NTYPES	ARRAY_SIZE(types)

static long long parent_budget_mib(void)
{
	/* available_instances of the smallest type on an idle parent */
	return vs_type_attr_long(VS_TYPE_128, "available_instances") * 128;
}

FIXTURE(parent) {
	long long budget;
};

FIXTURE_SETUP(parent)
{
	if (access(VS_PARENT_DIR, F_OK))
		SKIP(return, "vslice is not loaded (%s missing)", VS_PARENT_DIR);
	vs_remove_all();
	ASSERT_EQ(0, vs_count_instances());
	self->budget = parent_budget_mib();
	ASSERT_GT(self->budget, 0);
}

FIXTURE_TEARDOWN(parent)
{
	vs_remove_all();
}

TEST_F(parent, types_and_attributes)
{
	char path[512], buf[256];
	unsigned int i;

	for (i = 0; i < NTYPES; i++) {
		snprintf(path, sizeof(path), VS_TYPES_DIR "/%s/device_api",
			 types[i].name);
		ASSERT_EQ(0, vs_sysfs_read(path, buf, sizeof(buf)));
		EXPECT_STREQ("vfio-pci", buf);

		snprintf(path, sizeof(path), VS_TYPES_DIR "/%s/name",
			 types[i].name);
		ASSERT_EQ(0, vs_sysfs_read(path, buf, sizeof(buf)));
		EXPECT_NE(NULL, strstr(buf, "vslice-"));

		snprintf(path, sizeof(path), VS_TYPES_DIR "/%s/description",
			 types[i].name);
		ASSERT_EQ(0, vs_sysfs_read(path, buf, sizeof(buf)));
		snprintf(path, sizeof(path), "vram=%lluMiB", types[i].mib);
		EXPECT_NE(NULL, strstr(buf, path));
		EXPECT_NE(NULL, strstr(buf, "migration=v2"));
		EXPECT_NE(NULL, strstr(buf, "v1:precopy"));

		EXPECT_EQ(self->budget / types[i].mib,
			  vs_type_attr_long(types[i].name,
					    "available_instances"));
	}
}

TEST_F(parent, create_until_capacity)
{
	long long n = self->budget / 128, i, used;
	struct vs_inst *in = calloc(n + 1, sizeof(*in));
	unsigned int t;

	ASSERT_NE(NULL, in);
	for (i = 0; i < n; i++) {
		ASSERT_EQ(0, vs_create(&in[i], VS_TYPE_128));
		used = (i + 1) * 128;
		for (t = 0; t < NTYPES; t++)
			ASSERT_EQ((self->budget - used) / types[t].mib,
				  vs_type_attr_long(types[t].name,
						    "available_instances"));
	}
	EXPECT_EQ(-ENOSPC, vs_create(&in[n], VS_TYPE_128));
	EXPECT_EQ(-ENOSPC, vs_create(&in[n], VS_TYPE_512));
	EXPECT_EQ(n, vs_count_instances());

	for (i = 0; i < n; i++)
		ASSERT_EQ(0, vs_remove(&in[i]));
	EXPECT_EQ(0, vs_count_instances());
	EXPECT_EQ(n, vs_type_attr_long(VS_TYPE_128, "available_instances"));
	free(in);
}

TEST_F(parent, mixed_types_share_the_budget)
{
	struct vs_inst a, b;

	ASSERT_EQ(0, vs_create(&a, VS_TYPE_512));
	ASSERT_EQ(0, vs_create(&b, VS_TYPE_256));
	EXPECT_EQ((self->budget - 768) / 128,
		  vs_type_attr_long(VS_TYPE_128, "available_instances"));
	EXPECT_EQ((self->budget - 768) / 512,
		  vs_type_attr_long(VS_TYPE_512, "available_instances"));
	EXPECT_EQ(0, vs_remove(&a));
	EXPECT_EQ(0, vs_remove(&b));
}

struct race_arg {
	pthread_barrier_t *barrier;
	int ret;
	struct vs_inst in;
};

static void *race_create(void *p)
{
	struct race_arg *a = p;

	vs_uuid_gen(a->in.uuid);
	pthread_barrier_wait(a->barrier);
	a->ret = vs_create_uuid(VS_TYPE_128, a->in.uuid);
	return NULL;
}

TEST_F(parent, racing_creates_never_oversubscribe)
{
	enum { N = 64 };
	static struct race_arg args[N];
	pthread_barrier_t barrier;
	pthread_t th[N];
	int i, ok = 0, nospc = 0, other = 0;
	long long cap = self->budget / 128;

	pthread_barrier_init(&barrier, NULL, N);
	for (i = 0; i < N; i++) {
		args[i].barrier = &barrier;
		ASSERT_EQ(0, pthread_create(&th[i], NULL, race_create,
					    &args[i]));
	}
	for (i = 0; i < N; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < N; i++) {
		if (!args[i].ret)
			ok++;
		else if (args[i].ret == -ENOSPC)
			nospc++;
		else
			other++;
	}
	EXPECT_EQ(cap < N ? cap : N, ok);
	EXPECT_EQ(N - ok, nospc);
	EXPECT_EQ(0, other);
	EXPECT_EQ(ok, vs_count_instances());
	EXPECT_EQ(0, vs_type_attr_long(VS_TYPE_128, "available_instances") *
		  (cap <= N));
	pthread_barrier_destroy(&barrier);
}

TEST_F(parent, bad_uuid_is_rejected)
{
	char uuid[40];

	EXPECT_EQ(-EINVAL, vs_create_uuid(VS_TYPE_128, "not-a-uuid"));
	static const char * const bad[] = {
		"zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz",
		"0123456789-0123456789-0123456789-0123456789",
		"0123456-89ab-cdef-0123-456789abcdef0",
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++)
		EXPECT_EQ(-EINVAL, vs_create_uuid(VS_TYPE_128, bad[i]));
	EXPECT_EQ(-EINVAL, vs_create_uuid(VS_TYPE_128, "\n"));
	EXPECT_EQ(0, vs_count_instances());
	EXPECT_EQ(self->budget / 128,
		  vs_type_attr_long(VS_TYPE_128, "available_instances"));

	/* still usable */
	vs_uuid_gen(uuid);
	EXPECT_EQ(0, vs_create_uuid(VS_TYPE_128, uuid));
	EXPECT_EQ(0, vs_remove_uuid(uuid));
}

TEST_F(parent, duplicate_uuid_is_rejected)
{
	struct vs_inst a;

	ASSERT_EQ(0, vs_create(&a, VS_TYPE_128));
	EXPECT_EQ(-EEXIST, vs_create_uuid(VS_TYPE_128, a.uuid));
	EXPECT_EQ(-EEXIST, vs_create_uuid(VS_TYPE_256, a.uuid));
	EXPECT_EQ(1, vs_count_instances());
	EXPECT_EQ((self->budget - 128) / 128,
		  vs_type_attr_long(VS_TYPE_128, "available_instances"));
	EXPECT_EQ(0, vs_remove(&a));
}

TEST_F(parent, remove_twice_and_bad_remove)
{
	struct vs_inst a;
	char path[512];

	ASSERT_EQ(0, vs_create(&a, VS_TYPE_128));
	snprintf(path, sizeof(path), VS_MDEV_DIR "/%s/remove", a.uuid);
	EXPECT_EQ(-EINVAL, vs_sysfs_write(path, "bogus"));
	EXPECT_EQ(0, vs_sysfs_write(path, "0"));	/* a no-op by ABI */
	EXPECT_EQ(1, vs_count_instances());
	EXPECT_EQ(0, vs_remove(&a));
	EXPECT_EQ(-ENOENT, vs_remove(&a));
	EXPECT_EQ(0, vs_count_instances());
	EXPECT_EQ(self->budget / 128,
		  vs_type_attr_long(VS_TYPE_128, "available_instances"));
}

static ssize_t region_rw(struct vs_inst *in, unsigned int index,
			 uint64_t off, size_t len)
{
	char b[8];

	return vs_region_rw(in, index, off, b, len, false);
}

static void *remove_thread(void *p)
{
	struct race_arg *a = p;

	a->ret = vs_remove_uuid(a->in.uuid);
	return NULL;
}

TEST_F(parent, remove_while_open_waits_for_close)
{
	struct race_arg arg = { .ret = 1 };
	struct vs_inst *a = &arg.in;
	pthread_t th;
	int ret;

	ASSERT_EQ(0, vs_create(a, VS_TYPE_128));
	ret = vs_open(a);
	if (ret == -ENODEV || ret == -ENOENT)
		SKIP(return, "no VFIO group for the instance (%d)", ret);
	ASSERT_EQ(0, ret);

	ASSERT_EQ(0, pthread_create(&th, NULL, remove_thread, &arg));
	sleep(1);
	/* still open, so the removal is parked in the request loop */
	EXPECT_EQ(1, arg.ret);
	EXPECT_EQ(VSLICE_ID_MAGIC, vs_rd32(a, VSLICE_REG_ID));

	vs_close(a);
	pthread_join(th, NULL);
	EXPECT_EQ(0, arg.ret);
	EXPECT_EQ(0, vs_count_instances());
	EXPECT_EQ(self->budget / 128,
		  vs_type_attr_long(VS_TYPE_128, "available_instances"));
}

TEST_F(parent, vfio_device_info_and_regions)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };
	struct vfio_region_info r;
	struct vs_inst a;
	unsigned int i;
	int ret;

	ASSERT_EQ(0, vs_create(&a, VS_TYPE_256));
	ret = vs_open(&a);
	ASSERT_EQ(0, ret);

	ASSERT_EQ(0, ioctl(a.device, VFIO_DEVICE_GET_INFO, &info));
	EXPECT_TRUE(info.flags & VFIO_DEVICE_FLAGS_PCI);
	EXPECT_TRUE(info.flags & VFIO_DEVICE_FLAGS_RESET);
	EXPECT_EQ(VFIO_PCI_NUM_REGIONS + 2, info.num_regions);
	EXPECT_EQ(VFIO_PCI_NUM_IRQS, info.num_irqs);

	ASSERT_EQ(0, vs_region_info(a.device, VFIO_PCI_CONFIG_REGION_INDEX,
				    &r, sizeof(r)));
	EXPECT_EQ(256, r.size);
	EXPECT_EQ(VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE,
		  r.flags);
	EXPECT_EQ((__u64)VFIO_PCI_CONFIG_REGION_INDEX << 40, r.offset);

	ASSERT_EQ(0, vs_region_info(a.device, VFIO_PCI_BAR0_REGION_INDEX,
				    &r, sizeof(r)));
	EXPECT_EQ(VSLICE_MMIO_SIZE, r.size);
	EXPECT_EQ((__u64)VFIO_PCI_BAR0_REGION_INDEX << 40, r.offset);

	ASSERT_EQ(0, vs_region_info(a.device, VFIO_PCI_BAR2_REGION_INDEX,
				    &r, sizeof(r)));
	EXPECT_EQ(256 * VS_MIB, r.size);
	EXPECT_TRUE(r.flags & VFIO_REGION_INFO_FLAG_MMAP);

	for (i = VFIO_PCI_BAR1_REGION_INDEX; i < VFIO_PCI_NUM_REGIONS; i++) {
		if (i == VFIO_PCI_BAR2_REGION_INDEX ||
		    i == VFIO_PCI_CONFIG_REGION_INDEX)
			continue;
		ASSERT_EQ(0, vs_region_info(a.device, i, &r, sizeof(r)));
		EXPECT_EQ(0, r.size);
	}
	EXPECT_EQ(-EINVAL, vs_region_info(a.device, info.num_regions, &r,
					  sizeof(r)));
	EXPECT_EQ(-EINVAL, vs_region_info(a.device, ~0u, &r, sizeof(r)));
	/* argsz smaller than the fixed part */
	memset(&r, 0, sizeof(r));
	r.argsz = 8;
	EXPECT_EQ(-1, ioctl(a.device, VFIO_DEVICE_GET_REGION_INFO, &r));
	EXPECT_EQ(EINVAL, errno);

	/* accesses past a region's end fail and change nothing */
	EXPECT_EQ(-EINVAL, region_rw(&a, VFIO_PCI_CONFIG_REGION_INDEX, 252, 8));
	EXPECT_EQ(-EINVAL, region_rw(&a, VFIO_PCI_BAR0_REGION_INDEX,
				     VSLICE_MMIO_SIZE, 4));
	EXPECT_EQ(-EINVAL, region_rw(&a, VFIO_PCI_BAR1_REGION_INDEX, 0, 4));
	EXPECT_EQ(-EINVAL, region_rw(&a, 30, 0, 4));
	EXPECT_EQ(-1, ioctl(a.device, _IO(VFIO_TYPE, VFIO_BASE + 99)));
	EXPECT_EQ(ENOTTY, errno);
	EXPECT_EQ(VSLICE_ID_MAGIC, vs_rd32(&a, VSLICE_REG_ID));
	EXPECT_EQ(0, vs_remove(&a));
}

static int modfd_load(const char *path, const char *params)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return -errno;
	ret = syscall(SYS_finit_module, fd, params, 0);
	ret = ret ? -errno : 0;
	close(fd);
	return ret;
}

TEST_F(parent, unload_with_instances_and_busy_when_open)
{
	const char *ko = getenv("VSLICE_KO");
	struct vs_inst a, b;

	if (!ko || access(ko, R_OK))
		SKIP(return, "VSLICE_KO not set: cannot reload the module");

	ASSERT_EQ(0, vs_create(&a, VS_TYPE_128));
	ASSERT_EQ(0, vs_create(&b, VS_TYPE_256));
	ASSERT_EQ(0, vs_open(&a));
	/* an open device pins the module */
	EXPECT_EQ(-1, syscall(SYS_delete_module, "vslice", O_NONBLOCK));
	EXPECT_EQ(EWOULDBLOCK, errno);
	vs_close(&a);

	/* unloading with idle instances removes them */
	ASSERT_EQ(0, syscall(SYS_delete_module, "vslice", O_NONBLOCK));
	EXPECT_EQ(0, vs_count_instances());
	EXPECT_NE(0, access(VS_PARENT_DIR, F_OK));

	ASSERT_EQ(0, modfd_load(ko, ""));
	EXPECT_EQ(0, access(VS_PARENT_DIR, F_OK));
	EXPECT_EQ(self->budget / 128,
		  vs_type_attr_long(VS_TYPE_128, "available_instances"));
}

/* Is a QEMU pci-testdev (1b36:0005), pci_parent=1's host function, present? */
static bool have_pci_testdev(void)
{
	char path[512], id[16];
	struct dirent *de;
	bool found = false;
	DIR *d;

	d = opendir("/sys/bus/pci/devices");
	if (!d)
		return false;
	while (!found && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vendor",
			 de->d_name);
		if (vs_sysfs_read(path, id, sizeof(id)) || strcmp(id, "0x1b36"))
			continue;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/device",
			 de->d_name);
		found = !vs_sysfs_read(path, id, sizeof(id)) &&
			!strcmp(id, "0x0005");
	}
	closedir(d);
	return found;
}

/*
 * Module parameters are a uAPI too: a value the module cannot honour fails
 * the load with a precise errno and leaves nothing behind (no parent, no
 * class, no debugfs), and a good load afterwards works.
 */
TEST_F(parent, bad_module_params_refused)
{
	const char *ko = getenv("VSLICE_KO");
	char val[32];
	bool testdev;
	int ret;

	if (!ko || access(ko, R_OK))
		SKIP(return, "VSLICE_KO not set: cannot reload the module");
	ASSERT_EQ(0, syscall(SYS_delete_module, "vslice", O_NONBLOCK));

	EXPECT_EQ(-EINVAL, modfd_load(ko, "vram_mb=0"));
	EXPECT_EQ(-EINVAL, modfd_load(ko, "vram_mb=banana"));
	EXPECT_EQ(-EINVAL, modfd_load(ko, "stream_version=9.9"));
	EXPECT_EQ(-EINVAL, modfd_load(ko, "stream_version=1.99"));
	testdev = have_pci_testdev();
	if (testdev)
		TH_LOG("a pci-testdev is present: pci_parent=1 not tried");
	ret = testdev ? -ENODEV : modfd_load(ko, "pci_parent=1");
	EXPECT_EQ(-ENODEV, ret);
	EXPECT_NE(0, access(VS_PARENT_DIR, F_OK));
	EXPECT_NE(0, access("/sys/class/vslice", F_OK));
	EXPECT_NE(0, access("/sys/kernel/debug/vslice", F_OK));

	/* an older stream version is a valid default */
	ASSERT_EQ(0, modfd_load(ko, "stream_version=1.0"));
	ASSERT_EQ(0, vs_sysfs_read("/sys/module/vslice/parameters/stream_version",
				   val, sizeof(val)));
	EXPECT_STREQ("1.0", val);
	EXPECT_EQ(-EINVAL, vs_sysfs_write("/sys/module/vslice/parameters/stream_version",
					  "7.0"));
	ASSERT_EQ(0, syscall(SYS_delete_module, "vslice", O_NONBLOCK));

	ASSERT_EQ(0, modfd_load(ko, ""));
	EXPECT_EQ(0, access(VS_PARENT_DIR, F_OK));
	EXPECT_EQ(self->budget / 128,
		  vs_type_attr_long(VS_TYPE_128, "available_instances"));
}

TEST_HARNESS_MAIN
