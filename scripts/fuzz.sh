#!/usr/bin/env bash
# Runs every libFuzzer harness in build-fuzz/ for $1 seconds (default 60) on its corpus
# (tests/fuzz/corpus/NAME, new finds are added there) and ends with "N passed, N failed".
# A crash leaves its input in tests/out/fuzz/; add it to the corpus when it is fixed.
set -uo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
mkdir -p tests/out/fuzz
passed=0 failed=0
for bin in build-fuzz/fuzz_*; do
	name=$(basename "$bin")
	corpus=tests/fuzz/corpus/${name#fuzz_}
	mkdir -p "$corpus"
	work=$(mktemp -d)
	if ASAN_OPTIONS=detect_leaks=1 "$bin" -max_total_time="$secs" -max_len=8192 -timeout=10 \
		-artifact_prefix=tests/out/fuzz/"$name"- "$work" "$corpus" >tests/out/fuzz/"$name".log 2>&1; then
		passed=$((passed + 1))
		echo "  ok   $name ($(grep -oE 'cov: [0-9]+' tests/out/fuzz/"$name".log | tail -1), ${secs}s)"
	else
		failed=$((failed + 1))
		echo "  FAIL $name: see tests/out/fuzz/$name.log"
		tail -20 tests/out/fuzz/"$name".log
	fi
	rm -rf "$work"
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
