#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# scripts/checker-valid.sh CHECKER [FLAGS...] - print 1 if CHECKER (sparse)
# runs and accepts FLAGS, else 0.  Kbuild's top Makefile calls
# $(srctree)/scripts/checker-valid.sh before honouring C=1/C=2; Debian's 7.x
# header packages do not ship one, so without it "make C=2" quietly checks
# nothing.  scripts/setup installs this file where a header tree lacks it.

[ $# -ge 1 ] || { echo 0; exit 0; }
if echo 'int vslice_checker_probe;' | "$@" -E - >/dev/null 2>&1; then
	echo 1
else
	echo 0
fi
