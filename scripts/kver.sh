# SPDX-License-Identifier: GPL-2.0
# scripts/kver.sh - the one place that maps a kernel series ("6.12", "6.1")
# to an exact Debian kernel version string (e.g. 6.12.117+deb12-amd64).
#
# Sourced (not executed) by scripts/setup, scripts/vm-run and the Makefile.
# POSIX sh, so that make's $(shell ...) under dash can source it too:
#
#   KVER := $(shell . scripts/kver.sh && vslice_kver_resolve 6.12)
#
# Accepted series: "6.12" (bookworm-security's 6.12.*+deb12-amd64),
# "6.1" (bookworm's 6.1.0-N-amd64) and "debug" (the 6.12.N-vslice-debug
# kernel scripts/debug-kernel builds from linux-source-6.12).  An exact
# version string is accepted everywhere a series is, and passes through
# unchanged (pins a version).
#
# Environment: VSLICE_CACHE (default /var/cache/vslice) holds the unpacked
# kernel images, one kernel-<version>/ directory each.

: "${VSLICE_CACHE:=/var/cache/vslice}"

# vslice_kver_regex SERIES: extended regex matching that series' exact
# version strings (only the generic -amd64 flavour, not cloud or rt).
vslice_kver_regex() {
	case "$1" in
	6.12)	echo '^6\.12\.[0-9]+\+deb12-amd64$' ;;
	6.1)	echo '^6\.1\.0-[0-9]+-amd64$' ;;
	*)	return 1 ;;
	esac
}

# vslice_kver_series VERSION-OR-SERIES: "6.12", "6.1" or "debug".
vslice_kver_series() {
	case "$1" in
	debug|*-vslice-debug)	echo debug ;;
	6.12|6.12.*)	echo 6.12 ;;
	6.1|6.1.*)	echo 6.1 ;;
	*)		echo "vslice: unknown kernel series '$1' (want 6.12, 6.1 or debug)" >&2
			return 1 ;;
	esac
}

# vslice_kernel_dir VERSION: the unpacked linux-image-VERSION-unsigned
# (or, for the debug kernel, its installed image and modules).
vslice_kernel_dir() {
	echo "$VSLICE_CACHE/kernel-$1"
}

# vslice_kdir VERSION: the tree to build modules against: Debian's
# linux-headers package, or the debug kernel's own build tree.
vslice_kdir() {
	case "$1" in
	*-vslice-debug)	echo "$(vslice_kernel_dir "$1")/lib/modules/$1/build" ;;
	*)		echo "/usr/src/linux-headers-$1" ;;
	esac
}

# vslice_kver_debug: the newest debug kernel scripts/debug-kernel installed.
vslice_kver_debug() {
	_d=$( (ls -1d "$VSLICE_CACHE"/kernel-*-vslice-debug 2>/dev/null || true) | sort -V | tail -n 1)
	_v=${_d##*/kernel-}
	[ -n "$_d" ] && [ -f "$_d/boot/vmlinuz-$_v" ] && echo "$_v"
}

# vslice_kver_installed SERIES: newest version whose headers are installed,
# preferring one whose image is also unpacked in the cache.
vslice_kver_installed() {
	_re=$(vslice_kver_regex "$1") || return 1
	_all=$(ls -1 /usr/src 2>/dev/null | sed -n 's/^linux-headers-//p' |
	       grep -E "$_re" | sort -V)
	_best=
	for _v in $_all; do
		[ -f "/usr/src/linux-headers-$_v/Makefile" ] || continue
		[ -f "$(vslice_kernel_dir "$_v")/boot/vmlinuz-$_v" ] && _best=$_v
	done
	if [ -z "$_best" ]; then
		for _v in $_all; do
			[ -f "/usr/src/linux-headers-$_v/Makefile" ] && _best=$_v
		done
	fi
	[ -n "$_best" ] && echo "$_best"
}

# vslice_kver_available SERIES: newest version apt knows both
# linux-headers-V and linux-image-V-unsigned for.
vslice_kver_available() {
	_re=$(vslice_kver_regex "$1") || return 1
	_imgs=$(apt-cache pkgnames linux-image- 2>/dev/null |
		sed -n 's/^linux-image-\(.*\)-unsigned$/\1/p' | grep -E "$_re")
	apt-cache pkgnames linux-headers- 2>/dev/null |
		sed -n 's/^linux-headers-//p' | grep -E "$_re" | sort -V -r |
		while read -r _v; do
			if printf '%s\n' "$_imgs" | grep -qxF "$_v"; then
				echo "$_v"
				break
			fi
		done
}

# vslice_kver_resolve SERIES: the exact version to build and boot against:
# the newest installed one, else the newest available one.  Exact version
# strings pass through.  Prints nothing and fails if there is none.
vslice_kver_resolve() {
	case "$1" in
	6.12|6.1)	;;
	debug)		vslice_kver_debug; return ;;
	*-vslice-debug)	echo "$1"; return 0 ;;
	*)		_s=$(vslice_kver_series "$1" 2>/dev/null) &&
			printf '%s\n' "$1" | grep -Eq "$(vslice_kver_regex "$_s")" &&
			{ echo "$1"; return 0; }
			echo "vslice: unknown kernel '$1' (want 6.12, 6.1, debug or an exact version)" >&2
			return 1 ;;
	esac
	vslice_kver_installed "$1" || vslice_kver_available "$1" | grep .
}
