#!/usr/bin/env bash
# The one test command (`make test`): installs what is missing, builds, runs the unit
# tests and the end-to-end tests against a real `warrant serve` on 127.0.0.1 (on SQLite,
# then on a throwaway PostgreSQL), and ends with one line: "N passed, N failed".
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
# The shape of the code: folders form layers without a cycle, the style of .clang-format,
# no function over 120 lines. Each is one check.
echo "== code shape"
for check in scripts/layers.sh scripts/lint.sh scripts/function-length.sh; do
	if res=$($check 2>&1); then
		echo "  ok   $(tail -n 1 <<<"$res")"
		passed=$((passed + 1))
	else
		echo "  FAIL $check"
		sed 's/^/    /' <<<"$res" | head -40
		failed=$((failed + 1))
	fi
done
echo "== unit tests"
build/unit_tests 2>&1 | tee "$out/unit.log"
add "$out/unit.log"
echo "== end-to-end tests"
WARRANT_BIN="$PWD/warrant" /usr/bin/python3 tests/e2e/run.py "$@" 2>&1 | tee "$out/e2e.log"
add "$out/e2e.log"
# The owners' console in a real browser (chromium), once, on SQLite.
echo "== owners' console in a browser"
WARRANT_BIN="$PWD/warrant" tests/console/run.sh 2>&1 | tee "$out/console.log"
add "$out/console.log"
# The same suite on PostgreSQL: a throwaway cluster (initdb, pg_ctl as a non-root user) in a
# temporary folder on a free loopback port, stopped by its pid however the run ends. The
# tests of several nodes on one database run here (they skip on SQLite).
echo "== end-to-end tests on PostgreSQL"
pgdir=$(mktemp -d /tmp/warrant-pg.XXXXXX)
pg_cleanup() {
	scripts/pg.sh stop "$pgdir" >/dev/null 2>&1
	rm -rf "$pgdir" "$pgdir.initdb.log"
}
trap pg_cleanup EXIT
trap 'exit 130' INT TERM
pgport=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
if scripts/pg.sh start "$pgdir" "$pgport" >"$out/pg-start.log" 2>&1; then
	t0=$SECONDS
	# the unit tests' databases on PostgreSQL too (tests/unit/fixture.c)
	WARRANT_TEST_PG="postgresql://warrant@127.0.0.1:$pgport/postgres" build/unit_tests 2>&1 |
		sed 's/^unit:/unit (postgresql):/' | tee "$out/unit-pg.log"
	add "$out/unit-pg.log"
	WARRANT_TEST_PG="postgresql://warrant@127.0.0.1:$pgport/postgres" WARRANT_BIN="$PWD/warrant" \
		WARRANT_TEST_TMP="$PWD/$out/tmp-pg" /usr/bin/python3 tests/e2e/run.py "$@" 2>&1 |
		sed 's/^e2e:/e2e (postgresql):/' | tee "$out/e2e-pg.log"
	add "$out/e2e-pg.log"
	echo "  (on PostgreSQL in $((SECONDS - t0)) s)"
else
	echo "  FAIL PostgreSQL did not start (see $out/pg-start.log)"
	sed 's/^/    /' "$out/pg-start.log" | head -20
	failed=$((failed + 1))
fi
pg_cleanup
# The same suites under AddressSanitizer, UndefinedBehaviorSanitizer and LeakSanitizer:
# any report from any process (server or command line) fails the run.
echo "== sanitizers (ASan, UBSan, LSan)"
if make -s asan >/dev/null 2>"$out/asan-build.log"; then
	san="$PWD/$out/san"
	mkdir -p "$san"
	export ASAN_OPTIONS="detect_leaks=1:log_path=$san/asan:abort_on_error=0"
	export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$san/ubsan"
	build-asan/unit_tests 2>&1 | sed 's/^unit:/unit (asan):/' | tee "$out/unit-asan.log"
	add "$out/unit-asan.log"
	WARRANT_BIN="$PWD/build-asan/warrant" WARRANT_TEST_TMP="$PWD/$out/tmp-asan" \
		/usr/bin/python3 tests/e2e/run.py "$@" 2>&1 | sed 's/^e2e:/e2e (asan):/' | tee "$out/e2e-asan.log"
	add "$out/e2e-asan.log"
	unset ASAN_OPTIONS UBSAN_OPTIONS
	reports=$(ls "$san" 2>/dev/null | wc -l)
	if [ "$reports" -gt 0 ]; then
		echo "  FAIL sanitizer reports: $reports (in $out/san)"
		head -40 "$san"/* 
		failed=$((failed + reports))
	else
		echo "  ok   no sanitizer report"
		passed=$((passed + 1))
	fi
else
	echo "  FAIL sanitizer build (see $out/asan-build.log)"
	failed=$((failed + 1))
fi

echo "== fuzzing (each harness ${FUZZ_SECONDS:-5}s)"
if make -s fuzz-build >/dev/null 2>"$out/fuzz-build.log"; then
	scripts/fuzz.sh "${FUZZ_SECONDS:-5}" 2>&1 | tee "$out/fuzz.log"
	add "$out/fuzz.log"
else
	echo "  FAIL fuzz build (see $out/fuzz-build.log)"
	failed=$((failed + 1))
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
