#!/usr/bin/env bash
# bench/median.sh [RUNS] [SECONDS]: after `make bench` (which leaves its database and
# credentials in bench/out), starts a server on that database and runs issuance and
# introspection at c16 RUNS times (5), SECONDS each (8); prints each run, the median, the
# server's CPU per request by thread (from /proc/PID/task/*/stat) and wrk's own (from the
# shell's `times`), since both share the machine's cores.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
SECS=${2:-8}
PORT=${BENCH_PORT:-18999}
BASE=http://127.0.0.1:$PORT
export BENCH_DIR=$PWD/bench BENCH_OUT=$PWD/bench/out BENCH_THREADS=2
DB=$BENCH_OUT/bench.db
[ -f "$DB" ] || { echo "run make bench first"; exit 1; }
field() { /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
R=$(./warrant resource add "median-$$" --db "$DB" --json)
export BENCH_RS="Basic $(printf '%s:%s' "$(field client_id <<<"$R")" "$(field client_secret <<<"$R")" | base64 -w0)"
export BENCH_AGENTS=$BENCH_OUT/agents.txt BENCH_TOKENS=$BENCH_OUT/median-tokens.txt
./warrant serve --db "$DB" --listen 127.0.0.1:$PORT --issuer "$BASE" --log-level warn >/dev/null 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null' EXIT
for _ in $(seq 100); do curl -sf "$BASE/healthz" >/dev/null && break; sleep 0.05; done
# live tokens to introspect
rm -f "$BENCH_OUT"/tokens-*.txt
BENCH_KEEP_TOKENS=1 wrk -t2 -c4 -d1s -s bench/token.lua "$BASE/" >/dev/null
cat "$BENCH_OUT"/tokens-*.txt | head -n 5000 >"$BENCH_TOKENS" || true
rm -f "$BENCH_OUT"/tokens-*.txt
cpu() { for t in /proc/$SERVER/task/*; do printf '%s %s\n' "$(cat "$t/comm")" "$(awk '{print $14 + $15}' "$t/stat")"; done; }
# CPU seconds of this shell's finished children (wrk): the second line of `times`, which
# must run in this shell, not in a subshell
TIMES=$BENCH_OUT/times.txt
children_cpu() { awk 'NR == 2 {for (i = 1; i <= 2; i++) {split($i, a, "m"); s += a[1] * 60 + a[2]} print s}' "$TIMES"; }
for s in token introspect; do
	rates=()
	for i in $(seq "$RUNS"); do
		before=$(cpu)
		times >"$TIMES"
		w0=$(children_cpu)
		out=$(wrk -t2 -c16 -d"${SECS}s" --latency -s bench/$s.lua "$BASE/")
		times >"$TIMES"
		w1=$(children_cpu)
		after=$(cpu)
		n=$(awk '/requests in/ {print $1}' <<<"$out")
		r=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
		p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
		bad=$(awk -F'wrong: ' '/checked answers/ {print $2}' <<<"$out")
		rates+=("$r")
		per=$(paste <(echo "$before") <(echo "$after") | awk -v n="$n" '{t[$1] += ($4 - $2) * 10000 / n} END {for (k in t) printf "%s %.1f us  ", k, t[k]}')
		wrk_us=$(awk -v a="$w0" -v b="$w1" -v n="$n" 'BEGIN {printf "%.1f", (b - a) * 1e6 / n}')
		printf '  %-10s run %d: %10s req/s  p99 %-8s wrong %s  CPU per request: %s wrk %s us\n' "$s" "$i" "$r" "$p99" "$bad" "$per" "$wrk_us"
	done
	printf '  %-10s median: %s req/s\n' "$s" "$(printf '%s\n' "${rates[@]}" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')"
done
