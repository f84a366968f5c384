#!/usr/bin/env bash
# Checks that no function of the product code (every tracked .c file outside tests/ and
# bench/) is longer than MAX lines (default 120), from the line of its opening brace to the
# line of its closing one. Prints "function-length: N functions, longest L lines (FILE:LINE
# NAME)" and exits 0, or lists the functions over the limit and exits 1. Functions are
# found the way this code base writes them: the opening brace alone on a line in column 0
# after the declaration, the closing brace alone in column 0 (clang-format keeps it so).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
MAX=${1:-120}
git ls-files -- '*.c' | grep -vE '^(tests|bench)/' | /usr/bin/python3 -c '
import re, sys
limit = int(sys.argv[1])
over, count, longest = [], 0, (0, "", 0, "")
for path in sys.stdin.read().split():
    lines = open(path, encoding="utf-8", errors="replace").read().split("\n")
    i = 0
    while i < len(lines):
        if lines[i] == "{" and i > 0:
            # the declaration: the nearest line above that starts in column 0
            j = i - 1
            while j > 0 and not re.match(r"[A-Za-z_]", lines[j]):
                j -= 1
            name = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(", lines[j])
            k = i + 1
            while k < len(lines) and lines[k] != "}":
                k += 1
            n = k - i + 1
            count += 1
            item = (n, path, j + 1, name.group(1) if name else "?")
            longest = max(longest, item)
            if n > limit:
                over.append(item)
            i = k
        i += 1
for n, path, line, name in sorted(over, reverse=True):
    print("  %s:%d %s: %d lines" % (path, line, name, n))
if over:
    print("function-length: %d of %d functions over %d lines" % (len(over), count, limit))
    sys.exit(1)
print("function-length: %d functions, longest %d lines (%s:%d %s)" % ((count,) + longest))
' "$MAX"
