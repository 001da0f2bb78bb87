#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# mdevctl_test - vslice driven through mdevctl, as an admin or libvirt
# drives it: `mdevctl types` shows our types with the names, descriptions
# and capacity sysfs has; a transient device starts, lists and stops; a
# persistent one is defined (--auto), listed with --defined --dumpjson,
# started by UUID and by start-parent-mdevs, and undefined; refusals (an
# unknown type, a full parent, a duplicate UUID) leave nothing behind.
#
# Output is TAP 13 ending with a kselftest "# Totals:" line.  Every test
# SKIPs with the reason when mdevctl is not installed or vslice is not
# loaded; the persistent-device tests SKIP when /etc/mdevctl.d cannot be
# made writable.
#
# mdevctl has no option for its config directory, and the test VM's root
# is read-only.  So, as root, the test re-runs itself in a private mount
# namespace with a tmpfs over /etc/mdevctl.d (callout and notifier scripts
# copied in): definitions go there, nothing is left on the host, and an
# admin's own definitions are neither seen nor touched.
#
#   mdevctl_test [-l]      -l: list the tests and exit

set -u
export LC_ALL=C

PARENT=vslice0
TYPES_DIR=/sys/class/mdev_bus/$PARENT/mdev_supported_types
MDEV_DIR=/sys/bus/mdev/devices
CONF_DIR=/etc/mdevctl.d

TESTS=(
	types_match_sysfs
	types_dumpjson
	start_list_stop
	start_refusals_leave_nothing
	define_auto_and_list_defined_json
	start_defined_by_uuid_then_undefine
	start_parent_mdevs_starts_only_auto
	define_running_device
)

if [ "${1:-}" = -l ]; then
	printf '%s\n' "${TESTS[@]}"
	exit 0
fi

# ---- private /etc/mdevctl.d ------------------------------------------------------
conf_state=unknown	# private | host | readonly
if [ -z "${VSLICE_MDEVCTL_NS:-}" ] && [ "$(id -u)" = 0 ] &&
   command -v mdevctl >/dev/null && [ -d "$CONF_DIR" ] &&
   command -v unshare >/dev/null &&
   unshare --mount --propagation private true 2>/dev/null; then
	VSLICE_MDEVCTL_NS=1 exec unshare --mount --propagation private "$0" "$@"
fi
if [ -n "${VSLICE_MDEVCTL_NS:-}" ]; then
	saved=$(mktemp -d) &&
	cp -a "$CONF_DIR/." "$saved/" &&
	mount -t tmpfs -o mode=0755 vslice-mdevctl "$CONF_DIR" &&
	mkdir -p "$CONF_DIR/scripts.d/callouts" "$CONF_DIR/scripts.d/notifiers" &&
	cp -a "$saved/scripts.d/." "$CONF_DIR/scripts.d/" 2>/dev/null
	if mountpoint -q "$CONF_DIR"; then
		conf_state=private
	fi
	rm -rf "$saved"
fi
if [ "$conf_state" = unknown ]; then
	if [ -w "$CONF_DIR" ] && touch "$CONF_DIR/.vslice-test" 2>/dev/null; then
		rm -f "$CONF_DIR/.vslice-test"
		conf_state=host
	else
		conf_state="readonly"
	fi
fi

# ---- TAP -------------------------------------------------------------------------
npass=0 nfail=0 nskip=0 num=0
skip_reason=

log() { printf '# %s\n' "$@"; }

# fail MSG [OUTPUT]: report why a test failed, with a command's output
fail() {
	log "FAIL: $1"
	if [ -n "${2:-}" ]; then
		printf '%s\n' "$2" | sed 's/^/#   /'
	fi
	return 1
}

skip() { skip_reason=$1; return 4; }

run_test() {
	local name=$1 rc

	num=$((num + 1))
	log "RUN $name"
	skip_reason=
	"test_$name"
	rc=$?
	case $rc in
	0)	npass=$((npass + 1)); echo "ok $num $name" ;;
	4)	nskip=$((nskip + 1)); echo "ok $num $name # SKIP $skip_reason" ;;
	*)	nfail=$((nfail + 1)); echo "not ok $num $name" ;;
	esac
	cleanup
}

# ---- helpers ---------------------------------------------------------------------
created=()	# UUIDs this test started or defined: cleanup() removes them

# new_uuid VAR: a fresh UUID into VAR, remembered for cleanup()
new_uuid() {
	local _uuid

	_uuid=$(cat /proc/sys/kernel/random/uuid)
	created+=("$_uuid")
	printf -v "$1" '%s' "$_uuid"
}

cleanup() {
	local u

	for u in "${created[@]}"; do
		if [ -e "$MDEV_DIR/$u" ]; then
			mdevctl stop -u "$u" >/dev/null 2>&1 ||
				echo 1 >"$MDEV_DIR/$u/remove" 2>/dev/null
		fi
		if [ -e "$CONF_DIR/$PARENT/$u" ]; then
			mdevctl undefine -u "$u" >/dev/null 2>&1 ||
				rm -f "$CONF_DIR/$PARENT/$u"
		fi
	done
	created=()
}

avail() { cat "$TYPES_DIR/$1/available_instances"; }
active() { [ -e "$MDEV_DIR/$1" ]; }
defined() { [ -e "$CONF_DIR/$PARENT/$1" ]; }

# active_type UUID: the type of an active mdev, from its mdev_type link
active_type() { basename "$(readlink "$MDEV_DIR/$1/mdev_type")"; }

# py EXPR-SCRIPT: run python3 on stdin with the JSON helper `j` loaded
py() { python3 -c "import json, sys
j = json.load(sys.stdin)
$1"; }

need_python() {
	command -v python3 >/dev/null || { skip "python3 not installed"; return; }
}

need_conf() {
	[ "$conf_state" != readonly ] ||
		skip "$CONF_DIR is read-only and no private mount namespace (run as root with unshare)"
}

# ---- tests -----------------------------------------------------------------------

# `mdevctl types`: every type with sysfs's name, API, description, capacity
test_types_match_sysfs() {
	local out blk t n=0 field want

	out=$(mdevctl types 2>&1) || { fail "mdevctl types" "$out"; return; }
	for t in "$TYPES_DIR"/*; do
		t=${t##*/}
		n=$((n + 1))
		# the block of $t under $PARENT: from "  $t" to the next type
		blk=$(printf '%s\n' "$out" | awk -v p="$PARENT" -v t="$t" '
			/^[^ ]/ { inp = ($1 == p); next }
			inp && /^  [^ ]/ { intype = ($1 == t); next }
			inp && intype { print }')
		[ -n "$blk" ] || { fail "no block for $t under $PARENT" "$out"; return; }
		for field in "Available instances:available_instances" \
			     "Device API:device_api" "Name:name" \
			     "Description:description"; do
			want=$(cat "$TYPES_DIR/$t/${field#*:}")
			printf '%s\n' "$blk" | grep -qxF "    ${field%%:*}: $want" ||
				{ fail "$t: '${field%%:*}: $want' missing" "$blk"; return; }
		done
		log "$t: $(printf '%s\n' "$blk" | grep Description:)"
	done
	[ "$n" -eq 3 ] || { fail "expected 3 types in sysfs, found $n"; return; }
	printf '%s\n' "$out" | grep -q "vram=128MiB" ||
		fail "no vram=128MiB description" "$out"
}

# `mdevctl types --dumpjson` (libvirt's view): the same facts as JSON
test_types_dumpjson() {
	local out t

	need_python || return
	out=$(mdevctl types --dumpjson 2>&1) || { fail "mdevctl types --dumpjson" "$out"; return; }
	for t in vslice-128m vslice-256m vslice-512m; do
		printf '%s\n' "$out" | py "
types = {}
for parent in j:
    for name, lst in parent.items():
        if name == '$PARENT':
            for e in lst:
                types.update(e)
t = types['$t']
assert t['device_api'] == 'vfio-pci', t
assert t['available_instances'] == $(avail "$t"), t
assert t['name'] == open('$TYPES_DIR/$t/name').read().strip(), t
assert t['description'].startswith('vram='), t
" 2>&1 || { fail "$t in --dumpjson" "$out"; return; }
	done
}

# start -u -p -t creates the mdev, list shows it, stop removes it
test_start_list_stop() {
	local u before out

	new_uuid u
	before=$(avail vslice-128m)
	out=$(mdevctl start -u "$u" -p "$PARENT" -t vslice-128m 2>&1) ||
		{ fail "mdevctl start" "$out"; return; }
	active "$u" || { fail "$u not in $MDEV_DIR after start"; return; }
	[ "$(active_type "$u")" = vslice-128m ] ||
		{ fail "type is $(active_type "$u")"; return; }
	[ -e "$MDEV_DIR/$u/iommu_group" ] ||
		{ fail "$u has no iommu_group (not a VFIO device)"; return; }
	[ "$(avail vslice-128m)" -eq $((before - 1)) ] ||
		{ fail "available_instances $(avail vslice-128m), want $((before - 1))"; return; }

	out=$(mdevctl list 2>&1)
	printf '%s\n' "$out" | grep -qx "$u $PARENT vslice-128m manual" ||
		{ fail "mdevctl list lacks '$u $PARENT vslice-128m manual'" "$out"; return; }
	out=$(mdevctl list -u "$u" 2>&1)
	[ "$(printf '%s\n' "$out" | grep -c .)" -eq 1 ] ||
		{ fail "mdevctl list -u shows more than the device" "$out"; return; }
	if command -v python3 >/dev/null; then
		out=$(mdevctl list --dumpjson 2>&1)
		printf '%s\n' "$out" | py "
devs = {}
for parent in j:
    for e in parent.get('$PARENT', []):
        devs.update(e)
assert devs['$u']['mdev_type'] == 'vslice-128m', devs
" 2>&1 || { fail "$u not in list --dumpjson" "$out"; return; }
	fi

	out=$(mdevctl stop -u "$u" 2>&1) || { fail "mdevctl stop" "$out"; return; }
	! active "$u" || { fail "$u still active after stop"; return; }
	[ "$(avail vslice-128m)" -eq "$before" ] ||
		{ fail "available_instances $(avail vslice-128m) after stop, want $before"; return; }
	out=$(mdevctl list 2>&1)
	! printf '%s\n' "$out" | grep -q "$u" ||
		fail "mdevctl list still shows $u" "$out"
}

# an unknown type, a full parent and a duplicate UUID fail, leaving nothing
test_start_refusals_leave_nothing() {
	local u n i out before

	new_uuid u
	if out=$(mdevctl start -u "$u" -p "$PARENT" -t vslice-1g 2>&1); then
		fail "start with an unknown type succeeded" "$out"; return
	fi
	! active "$u" || { fail "$u exists after a refused start"; return; }

	n=$(avail vslice-512m)
	[ "$n" -gt 0 ] || { skip "no room for a vslice-512m instance"; return; }
	for ((i = 0; i < n; i++)); do
		new_uuid u
		out=$(mdevctl start -u "$u" -p "$PARENT" -t vslice-512m 2>&1) ||
			{ fail "start $((i + 1)) of $n" "$out"; return; }
	done
	[ "$(avail vslice-512m)" -eq 0 ] ||
		{ fail "available_instances $(avail vslice-512m) when full"; return; }
	before=$(find "$MDEV_DIR" -mindepth 1 -maxdepth 1 | wc -l)
	new_uuid u
	if out=$(mdevctl start -u "$u" -p "$PARENT" -t vslice-512m 2>&1); then
		fail "start beyond capacity succeeded" "$out"; return
	fi
	log "beyond capacity: $out"
	! active "$u" || { fail "$u exists after a refused start"; return; }
	[ "$(find "$MDEV_DIR" -mindepth 1 -maxdepth 1 | wc -l)" -eq "$before" ] ||
		{ fail "device count changed by a refused start"; return; }

	# the first full-parent device's UUID again, on another type
	u=${created[1]}
	if out=$(mdevctl start -u "$u" -p "$PARENT" -t vslice-128m 2>&1); then
		fail "start with a duplicate UUID succeeded" "$out"; return
	fi
	[ "$(active_type "$u")" = vslice-512m ] ||
		fail "duplicate start changed $u to $(active_type "$u")"
}

# define --auto writes the config; list --defined (--dumpjson) shows it
test_define_auto_and_list_defined_json() {
	local u out

	need_conf || return
	need_python || return
	new_uuid u
	out=$(mdevctl define -u "$u" -p "$PARENT" -t vslice-256m --auto 2>&1) ||
		{ fail "mdevctl define --auto" "$out"; return; }
	defined "$u" || { fail "no $CONF_DIR/$PARENT/$u"; return; }
	! active "$u" || { fail "define started $u"; return; }
	py "
assert j['mdev_type'] == 'vslice-256m', j
assert j['start'] == 'auto', j
" <"$CONF_DIR/$PARENT/$u" 2>&1 ||
		{ fail "config file" "$(cat "$CONF_DIR/$PARENT/$u")"; return; }

	out=$(mdevctl list --defined 2>&1)
	printf '%s\n' "$out" | grep -qx "$u $PARENT vslice-256m auto" ||
		{ fail "list --defined lacks '$u $PARENT vslice-256m auto'" "$out"; return; }
	out=$(mdevctl list --defined --dumpjson 2>&1)
	log "list --defined --dumpjson: $(printf '%s' "$out" | tr -d ' \n')"
	printf '%s\n' "$out" | py "
devs = {}
for parent in j:
    for e in parent.get('$PARENT', []):
        devs.update(e)
d = devs['$u']
assert d['mdev_type'] == 'vslice-256m', d
assert d['start'] == 'auto', d
" 2>&1 || fail "$u in list --defined --dumpjson" "$out"
}

# start -u of a defined device starts it with its type; undefine removes it
test_start_defined_by_uuid_then_undefine() {
	local u out

	need_conf || return
	new_uuid u
	out=$(mdevctl define -u "$u" -p "$PARENT" -t vslice-256m --auto 2>&1) ||
		{ fail "mdevctl define" "$out"; return; }
	out=$(mdevctl start -u "$u" 2>&1) || { fail "mdevctl start -u (defined)" "$out"; return; }
	active "$u" || { fail "$u not active"; return; }
	[ "$(active_type "$u")" = vslice-256m ] ||
		{ fail "type is $(active_type "$u")"; return; }
	out=$(mdevctl list 2>&1)
	printf '%s\n' "$out" | grep -qx "$u $PARENT vslice-256m auto (defined)" ||
		{ fail "list lacks '$u $PARENT vslice-256m auto (defined)'" "$out"; return; }

	out=$(mdevctl stop -u "$u" 2>&1) || { fail "mdevctl stop" "$out"; return; }
	! active "$u" || { fail "$u active after stop"; return; }
	defined "$u" || { fail "stop undefined $u"; return; }
	out=$(mdevctl undefine -u "$u" 2>&1) || { fail "mdevctl undefine" "$out"; return; }
	! defined "$u" || { fail "$CONF_DIR/$PARENT/$u left by undefine"; return; }
	out=$(mdevctl list --defined 2>&1)
	! printf '%s\n' "$out" | grep -q "$u" || fail "list --defined still shows $u" "$out"
}

# start-parent-mdevs (what udev runs when the parent appears) starts auto only
test_start_parent_mdevs_starts_only_auto() {
	local ua um out

	need_conf || return
	new_uuid ua
	new_uuid um
	out=$(mdevctl define -u "$ua" -p "$PARENT" -t vslice-128m --auto 2>&1) ||
		{ fail "define --auto" "$out"; return; }
	out=$(mdevctl define -u "$um" -p "$PARENT" -t vslice-128m 2>&1) ||
		{ fail "define (manual)" "$out"; return; }
	out=$(mdevctl start-parent-mdevs "$PARENT" 2>&1) ||
		{ fail "start-parent-mdevs" "$out"; return; }
	active "$ua" || { fail "auto device $ua not started"; return; }
	! active "$um" || fail "manual device $um started"
}

# define -u of a running device persists its parent and type
test_define_running_device() {
	local u out

	need_conf || return
	need_python || return
	new_uuid u
	out=$(mdevctl start -u "$u" -p "$PARENT" -t vslice-512m 2>&1) ||
		{ fail "mdevctl start" "$out"; return; }
	out=$(mdevctl define -u "$u" 2>&1) || { fail "mdevctl define -u (running)" "$out"; return; }
	defined "$u" || { fail "no $CONF_DIR/$PARENT/$u"; return; }
	py "
assert j['mdev_type'] == 'vslice-512m', j
assert j['start'] == 'manual', j
" <"$CONF_DIR/$PARENT/$u" 2>&1 ||
		{ fail "config file" "$(cat "$CONF_DIR/$PARENT/$u")"; return; }
	out=$(mdevctl list 2>&1)
	printf '%s\n' "$out" | grep -qx "$u $PARENT vslice-512m manual (defined)" ||
		fail "list lacks '$u $PARENT vslice-512m manual (defined)'" "$out"
}

# ---- main ------------------------------------------------------------------------
echo "TAP version 13"
echo "1..${#TESTS[@]}"
why=
if ! command -v mdevctl >/dev/null; then
	why="mdevctl not installed (apt-get install mdevctl)"
elif [ ! -d "$TYPES_DIR" ]; then
	why="vslice is not loaded (no $TYPES_DIR)"
else
	log "$(mdevctl --version 2>&1), $CONF_DIR: $conf_state"
fi
trap cleanup EXIT
for t in "${TESTS[@]}"; do
	if [ -n "$why" ]; then
		num=$((num + 1)) nskip=$((nskip + 1))
		echo "ok $num $t # SKIP $why"
	else
		run_test "$t"
	fi
done
echo "# Totals: pass:$npass fail:$nfail xfail:0 xpass:0 skip:$nskip error:0"
[ "$nfail" -eq 0 ]
