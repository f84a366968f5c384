#!/usr/bin/env bash
# bench/ab.sh OLD_BINARY NEW_BINARY [RUNS] [SECONDS]: before/after figures on a shared,
# noisy machine. Each binary gets its own database (made by its own `init`, so each has
# its own schema) with the same eight agents and a resource server; then issuance and
# introspection run at c16 RUNS times (5), SECONDS each (8), alternating A B A B so that
# both see the same background load. Prints every run, each side's median and the ratio
# new/old of the medians. Every answer is checked (bench/common.lua).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: bench/ab.sh OLD_BINARY NEW_BINARY [RUNS] [SECONDS]" >&2; exit 2; }
OLD=$(realpath "$1") NEW=$(realpath "$2")
RUNS=${3:-5}
SECS=${4:-8}
PORT=${BENCH_PORT:-18997}
BASE=http://127.0.0.1:$PORT
export BENCH_DIR=$PWD/bench BENCH_THREADS=2
OUT=$PWD/bench/out/ab
rm -rf "$OUT" && mkdir -p "$OUT"
field() { /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
basic() { printf 'Basic %s' "$(printf '%s:%s' "$1" "$2" | base64 -w0)"; }

provision() { # side binary
	local dir=$OUT/$1 bin=$2
	mkdir -p "$dir"
	local db=$dir/bench.db
	"$bin" init --db "$db" >/dev/null
	local owner ws
	owner=$("$bin" owner add --email "bench-$1@example.com" --db "$db" --json | field id)
	ws=$("$bin" workspace add bench --db "$db" --json | field id)
	"$bin" member add --workspace "$ws" --owner "$owner" --verbs "tickets:read tickets:note" --db "$db" >/dev/null
	: >"$dir/agents.txt"
	for i in 1 2 3 4 5 6 7 8; do
		local a
		a=$("$bin" agent add --owner "$owner" --name "bench-$i" --verbs "tickets:read tickets:note" --db "$db" --json)
		basic "$(field client_id <<<"$a")" "$(field client_secret <<<"$a")" >>"$dir/agents.txt"
		echo >>"$dir/agents.txt"
	done
	local r
	r=$("$bin" resource add "bench-api" --db "$db" --json)
	basic "$(field client_id <<<"$r")" "$(field client_secret <<<"$r")" >"$dir/rs.txt"
}

SERVER=
stop() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null; SERVER=; }
trap stop EXIT
start() { # side binary
	"$2" serve --db "$OUT/$1/bench.db" --listen 127.0.0.1:$PORT --issuer "$BASE" --log-level warn \
		>"$OUT/$1/serve.log" 2>&1 &
	SERVER=$!
	for _ in $(seq 200); do curl -sf "$BASE/healthz" >/dev/null && return; sleep 0.05; done
	echo "server $1 did not start" >&2
	exit 1
}

run() { # side binary script -> req/s
	local dir=$OUT/$1
	start "$1" "$2"
	if [ ! -s "$dir/tokens.txt" ]; then
		BENCH_OUT=$dir BENCH_AGENTS=$dir/agents.txt BENCH_KEEP_TOKENS=1 \
			wrk -t2 -c4 -d1s -s bench/token.lua "$BASE/" >/dev/null
		cat "$dir"/tokens-*.txt | head -n 5000 >"$dir/tokens.txt" || true
		rm -f "$dir"/tokens-*.txt
	fi
	local out
	out=$(BENCH_OUT=$dir BENCH_AGENTS=$dir/agents.txt BENCH_TOKENS=$dir/tokens.txt \
		BENCH_RS="$(cat "$dir/rs.txt")" wrk -t2 -c16 -d"${SECS}s" --latency -s "bench/$3.lua" "$BASE/")
	stop
	local bad
	bad=$(awk -F'wrong: ' '/checked answers/ {print $2}' <<<"$out")
	[ "${bad:-1}" = 0 ] || { echo "wrong answers from $1 ($3):" >&2; echo "$out" >&2; exit 1; }
	printf '%s %s\n' "$(awk '/^Requests\/sec/ {print $2}' <<<"$out")" "$(awk '$1 == "99%" {print $2}' <<<"$out")"
}

median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

provision old "$OLD"
provision new "$NEW"
for s in token introspect; do
	: >"$OUT/$s-old.txt"
	: >"$OUT/$s-new.txt"
	for i in $(seq "$RUNS"); do
		for side in old new; do
			bin=$OLD
			[ $side = new ] && bin=$NEW
			read -r rps p99 < <(run $side "$bin" $s)
			echo "$rps" >>"$OUT/$s-$side.txt"
			printf '  %-10s run %d %-3s %10s req/s  p99 %s\n' "$s" "$i" "$side" "$rps" "$p99"
		done
	done
	mo=$(median <"$OUT/$s-old.txt")
	mn=$(median <"$OUT/$s-new.txt")
	printf '  %-10s median old %s, new %s req/s: new/old %s\n' "$s" "$mo" "$mn" \
		"$(awk -v a="$mo" -v b="$mn" 'BEGIN {printf "%.3f", b / a}')"
done
