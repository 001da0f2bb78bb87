# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# scripts/suite-list.sh - read scripts/suite.list (sourced by scripts/test-suite
# and scripts/run-suite).
#
#   listed KIND KV   the lines of KIND for kernel series KV ("-" for fleet),
#                    without the kind: "NAME REST..."; $full_kver names the
#                    kernel that "full" means (unset: none)
suite_list=$(dirname "${BASH_SOURCE[0]}")/suite.list
listed() {
	local kind name kernels rest in t
	while read -r kind name kernels rest; do
		[ "$kind" = "$1" ] || continue
		in=0
		for t in ${kernels//,/ }; do
			case "$t" in
			-|all) in=1 ;;
			full) [ "$2" = "${full_kver:-}" ] && in=1 ;;
			-*) [ "$2" = "${t#-}" ] && in=0 ;;
			*) [ "$2" = "$t" ] && in=1 ;;
			esac
		done
		[ "$in" = 1 ] && echo "$name${rest:+ $rest}"
	done < <(grep -Ev '^[[:space:]]*(#|$)' "$suite_list")
	return 0
}
