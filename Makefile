# SPDX-License-Identifier: GPL-2.0
#
# vslice top-level Makefile.  The module itself is built by Kbuild (see
# ./Kbuild); this file adds setup, selftests, the VM test suite and the demo.
#
#   make                 build build/$(KVER)/vslice.ko (KVER=6.12 default, 6.1,
#                        6.12-trixie, 7: series in scripts/kver.sh)
#   make test            static checks, then the selftest suite inside a VM;
#                        last line: N passed, N failed, N skipped
#   make test KERNEL=debug
#                        the same suite on a 6.12 kernel built (once, cached)
#                        with lockdep, KASAN, kmemleak, UBSAN (not in CI)
#   make demo            the fleet move (libvirt, Debian 12 -> 13 in two VMs),
#                        then vGPUs migrated with real QEMU in one VM
#   make fleet           the libvirt fleet scenarios alone (scripts/fleet)
#   make check           W=1 + sparse on each of TEST_KVERS, checkpatch --strict,
#                        coccicheck, -Werror tests
#   make e2e | bench | fuzz | clean
#
# Everything needed is installed by scripts/setup (apt only, idempotent).

KVER		?= 6.12
KERNEL		?=
ifeq ($(KERNEL),debug)
KVER		:= debug
TEST_KVERS	:= debug
else ifneq ($(KERNEL),)
$(error KERNEL=$(KERNEL): only KERNEL=debug is known)
endif
SETUP_ARGS	?=
VSLICE_CACHE	?= /var/cache/vslice
KSFT_DIR	:= $(VSLICE_CACHE)/linux-source-6.12/tools/testing/selftests
BUILD		:= $(CURDIR)/build
KOUT		:= $(BUILD)/$(KVER)
SETUP_STAMP	:= $(BUILD)/.setup-$(KVER)

# Resolved lazily: only after setup has run.
KVERSION	= $(shell . $(CURDIR)/scripts/kver.sh && vslice_kver_resolve $(KVER))

MODULE_SRCS	:= $(wildcard $(CURDIR)/mdev/*.[ch] $(CURDIR)/compat_v1/*.[ch] \
			      $(CURDIR)/uapi/*.h) $(CURDIR)/Kbuild


.PHONY: all module _module setup selftests test check demo e2e fleet fleet-modules \
	bench fuzz clean FORCE

all: module

# Setup is idempotent but not free: run it once per checkout and series.
# The debug kernel's script checks its own cache, so it runs every time.
ifeq ($(KVER),debug)
$(SETUP_STAMP): FORCE
	@mkdir -p $(BUILD)
	scripts/debug-kernel
	@touch $@
else
$(SETUP_STAMP): scripts/setup scripts/kver.sh
	@mkdir -p $(BUILD)
	scripts/setup --kver $(KVER) $(SETUP_ARGS)
	@touch $@
endif

setup: $(SETUP_STAMP)

# Kbuild runs on a private copy under build/<kver>/src, so builds for 6.1
# and 6.12 never share objects and the source tree stays clean; a lock
# serializes concurrent makes.  cp -a keeps mtimes: only changes rebuild.
# scripts/kmake picks the compiler: the host's, or the trixie/sid build
# chroot's for 6.12-trixie and 7.
KSRC		:= $(KOUT)/src

module: $(SETUP_STAMP)
	@mkdir -p $(KSRC)
	@flock $(BUILD)/.lock-$(KVER) $(MAKE) --no-print-directory _module

_module:
	@cp -a Kbuild mdev compat_v1 uapi $(KSRC)/
	scripts/kmake $(KVERSION) M=$(KSRC) W=1 VSLICE_FAULTS=y modules
	@cp $(KSRC)/vslice.ko $(KOUT)/vslice.ko
	@echo "built $(KOUT)/vslice.ko for $(KVERSION)"

selftests: $(SETUP_STAMP)
	@mkdir -p $(BUILD)/selftests
	$(MAKE) -C selftests KSFT_DIR=$(KSFT_DIR) OUTPUT=$(BUILD)/selftests

# make test and make check cover every supported kernel unless TEST_KVERS
# says otherwise: bookworm's 6.12 and 6.1, Debian 13's 6.12, the newest 7.x.
TEST_KVERS	?= 6.12 6.1 6.12-trixie 7

# The fleet: host A boots Debian 12's 6.1, host B Debian 13's 6.12.
FLEET_KVER_A	?= 6.1
FLEET_KVER_B	?= 6.12-trixie
FLEET_ARGS	= --kver-a $(FLEET_KVER_A) --kver-b $(FLEET_KVER_B)

fleet-modules:
	@for k in $(FLEET_KVER_A) $(FLEET_KVER_B); do \
		$(MAKE) --no-print-directory module KVER=$$k || exit 1; done

test: selftests fleet-modules
	@for k in $(TEST_KVERS); do $(MAKE) --no-print-directory module KVER=$$k || exit 1; done
	VSLICE_FLEET_ARGS="$(FLEET_ARGS)" scripts/test-suite --kver "$(TEST_KVERS)"

demo: module selftests fleet-modules
	scripts/demo --kver $(KVER) $(FLEET_ARGS)

e2e: module selftests fleet-modules
	scripts/e2e --kver $(KVER); e=$$?; scripts/fleet $(FLEET_ARGS); f=$$?; \
		[ $$e = 0 ] && [ $$f = 0 ]

fleet: fleet-modules
	scripts/fleet $(FLEET_ARGS)

bench: module selftests
	scripts/bench --kver $(KVER)

check:
	@for k in $(TEST_KVERS); do $(MAKE) --no-print-directory setup KVER=$$k || exit 1; done
	scripts/check --kver "$(TEST_KVERS)"

fuzz:
	$(MAKE) -C selftests/stream fuzz-run

clean:
	rm -rf $(BUILD)
