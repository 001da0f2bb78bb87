# SPDX-License-Identifier: GPL-2.0
# scripts/kver.sh - the one place that maps a kernel series ("6.12", "6.1",
# "6.12-trixie", "7") to an exact Debian kernel version string (e.g.
# 6.12.117+deb12-amd64), and says where its headers live and how to run
# Kbuild for it.
#
# Sourced (not executed) by scripts/setup, scripts/vm-run and the Makefile.
# POSIX sh, so that make's $(shell ...) under dash can source it too:
#
#   KVER := $(shell . scripts/kver.sh && vslice_kver_resolve 6.12)
#
# Accepted series:
#   "6.12"         bookworm-security's 6.12.*+deb12-amd64 (headers on the host)
#   "6.1"          bookworm's 6.1.0-N-amd64 (headers on the host)
#   "6.12-trixie"  Debian 13's own kernel, 6.12.*+deb13-amd64 from trixie /
#                  trixie-security (headers in the trixie build chroot)
#   "7"            the newest 7.x that trixie-backports (+deb13) or sid
#                  (+deb14) offers (headers in that suite's build chroot)
#   "debug"        the 6.12.N-vslice-debug kernel scripts/debug-kernel builds
#                  from linux-source-6.12
# An exact version string is accepted everywhere a series is, and passes
# through unchanged (pins a version).
#
# Trixie's and sid's headers need their own compiler (gcc-14, gcc-16), which
# bookworm lacks: scripts/setup installs them in a debootstrap chroot of the
# suite, $VSLICE_CACHE/chroot-<trixie|sid>, and scripts/kmake runs Kbuild
# there.  Which apt suites exist for those series is read from a private apt
# index in $VSLICE_CACHE/apt-index (the host's apt sources stay bookworm's).
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
	6.12-trixie)	echo '^6\.12\.[0-9]+\+deb13-amd64$' ;;
	7)	echo '^7\.[0-9]+\.[0-9]+\+deb1[3-9]-amd64$' ;;
	*)	return 1 ;;
	esac
}

# vslice_kver_series VERSION-OR-SERIES: "6.12", "6.1", "6.12-trixie", "7"
# or "debug".
vslice_kver_series() {
	case "$1" in
	debug|*-vslice-debug)	echo debug ;;
	6.12-trixie|6.12.*+deb13-*)	echo 6.12-trixie ;;
	6.12|6.12.*)	echo 6.12 ;;
	6.1|6.1.*)	echo 6.1 ;;
	7|7.*)		echo 7 ;;
	*)		echo "vslice: unknown kernel series '$1' (want 6.12, 6.1, 6.12-trixie, 7 or debug)" >&2
			return 1 ;;
	esac
}

# vslice_kver_dist VERSION: the Debian suite whose chroot builds modules
# for VERSION ("trixie" for +deb13, "sid" for +deb14 and later); nothing
# for kernels built on the host (bookworm's gcc-12).
vslice_kver_dist() {
	case "$1" in
	*+deb13-*)		echo trixie ;;
	*+deb1[4-9]-*)		echo sid ;;
	esac
}

# vslice_series_dists SERIES: the chroot suites a series' kernels come from.
vslice_series_dists() {
	case "$1" in
	6.12-trixie)	echo trixie ;;
	7)		echo "trixie sid" ;;
	esac
}

# vslice_chroot DIST: the build chroot of a Debian suite.  It is complete
# once scripts/setup wrote its .vslice-chroot stamp.
vslice_chroot() {
	echo "$VSLICE_CACHE/chroot-$1"
}

# vslice_kroot VERSION: the root under which VERSION's headers live: the
# build chroot, or nothing for the host.
vslice_kroot() {
	_d=$(vslice_kver_dist "$1")
	[ -n "$_d" ] && vslice_chroot "$_d"
	return 0
}

# vslice_apt_opts: apt-get/apt-cache options that read the private index of
# trixie, trixie-security, trixie-backports and sid (scripts/setup fills it)
# instead of the host's bookworm sources.
vslice_apt_opts() {
	_a=$VSLICE_CACHE/apt-index
	echo "-o Dir::Etc::SourceList=$_a/sources.list -o Dir::Etc::SourceParts=$_a/none" \
	     "-o Dir::State::Lists=$_a/lists -o Dir::Cache=$_a/cache" \
	     "-o Dir::State::status=$_a/status -o APT::Sandbox::User=root"
}

# vslice_apt_cache SERIES ARGS...: apt-cache for that series' packages.
vslice_apt_cache() {
	_s=$1; shift
	if [ -n "$(vslice_series_dists "$_s")" ]; then
		# shellcheck disable=SC2046 # options are words
		apt-cache $(vslice_apt_opts) "$@"
	else
		apt-cache "$@"
	fi
}

# vslice_kernel_dir VERSION: the unpacked linux-image-VERSION-unsigned
# (or, for the debug kernel, its installed image and modules).
vslice_kernel_dir() {
	echo "$VSLICE_CACHE/kernel-$1"
}

# vslice_kdir VERSION: the tree to build modules against, as seen from the
# host: Debian's linux-headers package (in the build chroot for trixie and
# sid kernels), or the debug kernel's own build tree.  scripts/kmake runs
# Kbuild on it.
vslice_kdir() {
	case "$1" in
	*-vslice-debug)	echo "$(vslice_kernel_dir "$1")/lib/modules/$1/build" ;;
	*)		echo "$(vslice_kroot "$1")/usr/src/linux-headers-$1" ;;
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
	_roots=
	for _d in $(vslice_series_dists "$1"); do
		_r=$(vslice_chroot "$_d")
		[ -f "$_r/.vslice-chroot" ] && _roots="$_roots $_r"
	done
	[ -n "$(vslice_series_dists "$1")" ] || _roots=/
	_all=$(for _r in $_roots; do ls -1 "$_r/usr/src" 2>/dev/null; done |
	       sed -n 's/^linux-headers-//p' | grep -E "$_re" | sort -V)
	_best=
	for _v in $_all; do
		[ -f "$(vslice_kdir "$_v")/Makefile" ] || continue
		[ -f "$(vslice_kernel_dir "$_v")/boot/vmlinuz-$_v" ] && _best=$_v
	done
	if [ -z "$_best" ]; then
		for _v in $_all; do
			[ -f "$(vslice_kdir "$_v")/Makefile" ] && _best=$_v
		done
	fi
	[ -n "$_best" ] && echo "$_best"
}

# vslice_kver_available SERIES: newest version apt knows both
# linux-headers-V and an unsigned kernel for: linux-image-V-unsigned, or
# from 7.x on linux-binary-unsigned-V.
vslice_kver_available() {
	_re=$(vslice_kver_regex "$1") || return 1
	_imgs=$( { vslice_apt_cache "$1" pkgnames linux-image- 2>/dev/null |
		   sed -n 's/^linux-image-\(.*\)-unsigned$/\1/p'
		   vslice_apt_cache "$1" pkgnames linux-binary-unsigned- 2>/dev/null |
		   sed -n 's/^linux-binary-unsigned-//p'; } | grep -E "$_re")
	vslice_apt_cache "$1" pkgnames linux-headers- 2>/dev/null |
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
	6.12|6.1|6.12-trixie|7)	;;
	debug)		vslice_kver_debug; return ;;
	*-vslice-debug)	echo "$1"; return 0 ;;
	*)		_s=$(vslice_kver_series "$1" 2>/dev/null) &&
			printf '%s\n' "$1" | grep -Eq "$(vslice_kver_regex "$_s")" &&
			{ echo "$1"; return 0; }
			echo "vslice: unknown kernel '$1' (want 6.12, 6.1, 6.12-trixie, 7, debug or an exact version)" >&2
			return 1 ;;
	esac
	vslice_kver_installed "$1" || vslice_kver_available "$1" | grep .
}
