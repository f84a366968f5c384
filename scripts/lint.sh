#!/usr/bin/env bash
# Checks that every tracked C source and header (product code, tests/unit, tests/fuzz, bench)
# is formatted as .clang-format says. Prints "lint: N files, clean", or the files that differ
# with the number of lines clang-format would change in each, and exits 1. Exits 2 when
# clang-format is missing. Arguments: files to check instead of the whole tree.
# Fix a file with `clang-format -i FILE` (clang-format 14: other versions wrap differently).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
cf=${CLANG_FORMAT:-clang-format}
if ! command -v "$cf" >/dev/null 2>&1; then
	echo "lint: $cf not found (apt-get install clang-format)" >&2
	exit 2
fi
if [ ! -f .clang-format ]; then
	echo "lint: no .clang-format at the top of the tree" >&2
	exit 2
fi
ver=$("$cf" --version | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n 1)
case $ver in
14.*) ;;
*) echo "lint: note: clang-format $ver; the style is checked with 14 and other versions may differ" >&2 ;;
esac

# The files: tracked *.c and *.h, minus tests/ other than tests/unit and tests/fuzz.
list_files() {
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git ls-files -- '*.c' '*.h'
	else
		find . -name '*.[ch]' -not -path './build*' -not -path './.*' | sed 's|^\./||' | sort
	fi | grep -vE '^tests/' ; true
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git ls-files -- 'tests/unit/*.[ch]' 'tests/fuzz/*.[ch]'
	else
		find tests/unit tests/fuzz -name '*.[ch]' 2>/dev/null | sort
	fi
}
if [ $# -gt 0 ]; then
	files=("$@")
else
	mapfile -t files < <(list_files)
fi

bad=0
for f in "${files[@]}"; do
	[ -f "$f" ] || continue
	if ! "$cf" --style=file --dry-run -Werror "$f" >/dev/null 2>&1; then
		if out=$("$cf" --style=file "$f" 2>&1); then
			echo "  $f ($(diff "$f" - <<<"$out" | grep -c '^[<>]') lines differ)"
		else
			echo "  $f (clang-format failed: $(head -n 1 <<<"$out"))"
		fi
		bad=$((bad + 1))
	fi
done
if [ "$bad" -gt 0 ]; then
	echo "lint: $bad of ${#files[@]} files differ from .clang-format (clang-format -i FILE fixes one)"
	exit 1
fi
echo "lint: ${#files[@]} files, clean"
