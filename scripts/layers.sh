#!/usr/bin/env bash
# Checks that the top-level folders of the code form layers: the graph "folder A includes a
# header of folder B" (from #include "../B/..." lines) must have no cycle. Prints
# "layers: common < store < ..." (each folder after every folder it uses) and exits 0, or
# prints each cycle with the include lines that make it and exits 1; 2 on bad usage.
# Folders: every top-level folder holding .c or .h files except tests, bench, docs, scripts
# and build output. Includes within a folder, <system> includes and includes that leave the
# folder set are not edges.
# Usage: scripts/layers.sh [-v] [ROOT]   (-v also lists each folder's direct uses; ROOT
# defaults to the top of this tree)
set -uo pipefail
verbose=0
if [ "${1:-}" = "-v" ]; then
	verbose=1
	shift
fi
if [ $# -gt 1 ] || [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
	sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
fi
root=${1:-$(dirname "$0")/..}
if [ ! -d "$root" ]; then
	echo "layers: $root is not a directory" >&2
	exit 2
fi
exec python3 - "$root" "$verbose" <<'PY'
import os, re, sys

root, verbose = sys.argv[1], sys.argv[2] == "1"
IGNORED = {"tests", "bench", "docs", "scripts"}
MAX_CYCLES = 50
MAX_STEPS = 200000
include_re = re.compile(r'^\s*#\s*include\s*"([^"]+)"')

def code_files(folder):
    for d, subdirs, names in os.walk(os.path.join(root, folder)):
        subdirs[:] = sorted(s for s in subdirs if not s.startswith("."))
        for n in sorted(names):
            if n.endswith((".c", ".h")):
                yield os.path.relpath(os.path.join(d, n), root)

folders = sorted(f for f in os.listdir(root)
                 if os.path.isdir(os.path.join(root, f)) and not f.startswith((".", "build"))
                 and f not in IGNORED and next(code_files(f), None))
if not folders:
    print("layers: no folders with .c or .h files under %s" % root, file=sys.stderr)
    sys.exit(2)

# edges[a][b] = ["a/x.c:12 includes ../b/y.h", ...]
edges = {f: {} for f in folders}
for f in folders:
    for path in code_files(f):
        with open(os.path.join(root, path), errors="replace") as fh:
            for lineno, line in enumerate(fh, 1):
                m = include_re.match(line)
                if not m:
                    continue
                target = os.path.normpath(os.path.join(os.path.dirname(path), m.group(1)))
                top = target.split(os.sep)[0]
                if top == f or top not in edges or os.sep not in target:
                    continue
                edges[f].setdefault(top, []).append("%s:%d includes %s" % (path, lineno, m.group(1)))

def simple_cycles():
    """Elementary cycles, each listed once, starting at its smallest folder name; the search
    stops after MAX_STEPS paths (only a graph where nearly everything includes everything
    gets there) and the cycles found so far are the ones reported."""
    found, steps = [], 0
    for start in folders:
        stack = [(start, [start])]
        while stack and steps < MAX_STEPS:
            node, path = stack.pop()
            steps += 1
            for nxt in sorted(edges[node], reverse=True):
                if nxt == start:
                    found.append(path + [start])
                elif nxt > start and nxt not in path:
                    stack.append((nxt, path + [nxt]))
    return sorted(found, key=lambda c: (len(c), c)), steps < MAX_STEPS

cycles, complete = simple_cycles()
if cycles:
    tangled = sorted({f for c in cycles for f in c})
    print("layers: %s%d cycle%s among %s" % ("" if complete else "at least ", len(cycles),
                                            "" if len(cycles) == 1 else "s", " ".join(tangled)))
    on_cycle = set()
    for c in cycles[:MAX_CYCLES]:
        hops = list(zip(c, c[1:]))
        on_cycle.update(hops)
        print("cycle: %s (%s)" % (" -> ".join(c), "; ".join(edges[a][b][0] for a, b in hops)))
    if len(cycles) > MAX_CYCLES:
        print("... and %d more cycles" % (len(cycles) - MAX_CYCLES))
    print("include lines on these cycles:")
    for a, b in sorted(on_cycle):
        for ev in edges[a][b]:
            print("  %s -> %s: %s" % (a, b, ev))
    sys.exit(1)

if not complete:
    print("layers: gave up after %d include paths without finding a cycle" % MAX_STEPS, file=sys.stderr)
    sys.exit(2)

# No cycle: a folder's layer is one above the highest layer it uses.
level = {}
def layer(f):
    if f not in level:
        level[f] = 1 + max((layer(u) for u in edges[f]), default=-1)
    return level[f]
order = sorted(folders, key=lambda f: (layer(f), f))
print("layers: " + " < ".join(order))
if verbose:
    for f in order:
        print("  %d %s: %s" % (level[f], f, " ".join(sorted(edges[f])) or "(nothing)"))
sys.exit(0)
PY
