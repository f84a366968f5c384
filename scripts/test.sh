#!/usr/bin/env bash
# The one test command (`make test`): installs what is missing, builds, runs the unit
# tests and the end-to-end tests against a real `warrant serve` on 127.0.0.1, and ends
# with one line: "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh || { echo "0 passed, 1 failed"; exit 1; }
make -s -j2 warrant build/unit_tests >/dev/null || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
out=tests/out
rm -rf "$out" && mkdir -p "$out"
passed=0 failed=0
add() { # adds the last "N passed, N failed" of a log; none at all counts as a failure
	local line f
	line=$(grep -oE '[0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1)
	if [ -z "$line" ]; then
		echo "  (no summary in $1: counted as a failure)"
		failed=$((failed + 1))
		return
	fi
	passed=$((passed + ${line%% passed*}))
	f=${line##*, }
	failed=$((failed + ${f%% failed}))
}
echo "== unit tests"
build/unit_tests 2>&1 | tee "$out/unit.log"
add "$out/unit.log"
echo "== end-to-end tests"
WARRANT_BIN="$PWD/warrant" /usr/bin/python3 tests/e2e/run.py "$@" 2>&1 | tee "$out/e2e.log"
add "$out/e2e.log"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
