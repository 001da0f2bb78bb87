#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# run_kselftest.sh - run the installed vslice kselftests (installed by
# `make -C selftests install INSTALL_PATH=DIR` as DIR/run_kselftest.sh).
#
# The same interface as the kernel's tools/testing/selftests/run_kselftest.sh
# for what a single collection needs; tests run through kselftest/runner.sh,
# which prints TAP 13 and enforces the timeout in <collection>/settings.
# A test program exits 4 when everything in it was skipped.

BASE_DIR=$(cd "$(dirname "$0")" && pwd)
cd "$BASE_DIR" || exit 1
TESTS=$BASE_DIR/kselftest-list.txt
if [ ! -r "$TESTS" ]; then
	echo "$0: no $TESTS: install with make -C selftests install" >&2
	exit 1
fi
available=$(cat "$TESTS")

usage() {
	cat <<EOF
usage: $0 [OPTIONS]
  -s | --summary          print only the summary; full output goes to
                          /tmp/<test> (the runner's per-test logs)
  -t | --test COL:TEST    run TEST of collection COL (repeatable)
  -c | --collection COL   run every test of collection COL (repeatable)
  -l | --list             list the available COL:TEST names
  -o | --override-timeout SECS
                          per-test timeout instead of the settings file's
  -d | --dry-run          show what would run
  -h | --help             this text
Tests: $TESTS
EOF
	exit "$1"
}

selected=
dryrun=
while [ $# -gt 0 ]; do
	case "$1" in
	-s|--summary)		summary=1 ;;
	-t|--test)		[ $# -ge 2 ] || usage 1
				selected="$selected
$(echo "$available" | grep -x "$2")" ; shift ;;
	-c|--collection)	[ $# -ge 2 ] || usage 1
				selected="$selected
$(echo "$available" | grep "^$2:")" ; shift ;;
	-l|--list)		echo "$available"; exit 0 ;;
	-o|--override-timeout)	[ $# -ge 2 ] || usage 1
				kselftest_override_timeout=$2; shift ;;
	-d|--dry-run)		dryrun="echo" ;;
	-h|--help)		usage 0 ;;
	*)			usage 1 ;;
	esac
	shift
done
if [ -n "$selected" ]; then	# keep the list's order
	kept=
	for t in $available; do
		echo "$selected" | grep -qxF "$t" && kept="$kept
$t"
	done
	available=$(echo "$kept" | grep .)
fi
if [ -z "$available" ]; then
	echo "$0: no test matches" >&2
	exit 1
fi

# shellcheck source=/dev/null # installed beside this script
. "$BASE_DIR/kselftest/runner.sh"
# shellcheck disable=SC2034 # runner.sh's run_many reads it
[ -n "${summary:-}" ] && per_test_logging=1
export kselftest_override_timeout

collections=$(echo "$available" | cut -d: -f1 | uniq)
for collection in $collections; do
	[ -w /dev/kmsg ] && echo "kselftest: Running tests in $collection" >>/dev/kmsg
	tests=$(echo "$available" | grep "^$collection:" | cut -d: -f2)
	# shellcheck disable=SC2086 # test names are words
	(cd "$collection" && $dryrun run_many $tests)
done
