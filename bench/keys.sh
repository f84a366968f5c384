#!/usr/bin/env bash
# bench/keys.sh [BINARY] [SECONDS] [REPS]: issuance with a secret, with private_key_jwt (ES256
# assertions) and DPoP-bound (ES256 proofs), back to back at c1, c16 and c64 against one
# server, REPS (3) rounds of SECONDS (8) a point; prints req/s and the server's CPU per
# request (utime + stime of /proc/PID/stat over the point, divided by the requests).
# Assertions and proofs are signed by python3 (bench/assertions.py, bench/dpop_proofs.py)
# just before their point, each used once. PERF=1 records each point with perf.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(readlink -f "${1:-./warrant}"); SECS=${2:-8}; REPS=${3:-3}; C=16
export BENCH_DIR=$PWD/bench BENCH_OUT=$PWD/bench/out/keys
rm -rf $BENCH_OUT; mkdir -p $BENCH_OUT
DB=$BENCH_OUT/bench.db; PORT=${BENCH_PORT:-18991}; BASE=http://127.0.0.1:$PORT
W() { $BIN "$@" --db "$DB"; }
field() { /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
basic() { printf 'Basic %s' "$(printf '%s:%s' "$1" "$2" | base64 -w0)"; }
W init >/dev/null
OWNER=$(W owner add --email bench@example.com --json | field id)
WS=$(W workspace add bench --json | field id)
W member add --workspace "$WS" --owner "$OWNER" --verbs "tickets:read tickets:note" >/dev/null
: >$BENCH_OUT/agents.txt; : >$BENCH_OUT/key-agents.txt
for i in 1 2 3 4 5 6 7 8; do
	A=$(W agent add --owner "$OWNER" --name "bench-$i" --verbs "tickets:read tickets:note" --json)
	basic "$(field client_id <<<"$A")" "$(field client_secret <<<"$A")" >>$BENCH_OUT/agents.txt; echo >>$BENCH_OUT/agents.txt
	/usr/bin/python3 -c 'import base64, json, sys
from cryptography.hazmat.primitives.asymmetric import ec
b = lambda i: base64.urlsafe_b64encode(i.to_bytes(32, "big")).rstrip(b"=").decode()
k = ec.generate_private_key(ec.SECP256R1()); n = k.public_key().public_numbers()
pub = {"kty": "EC", "crv": "P-256", "x": b(n.x), "y": b(n.y)}
json.dump(dict(pub, d=b(k.private_numbers().private_value)), open(sys.argv[1], "w")); json.dump(pub, open(sys.argv[2], "w"))' $BENCH_OUT/key-$i.jwk $BENCH_OUT/key-$i.pub.jwk
	K=$(W agent add --owner "$OWNER" --name "bench-key-$i" --verbs "tickets:read tickets:note" --jwk-file $BENCH_OUT/key-$i.pub.jwk --json)
	printf '%s\t%s\n' "$(field id <<<"$K")" $BENCH_OUT/key-$i.jwk >>$BENCH_OUT/key-agents.txt
done
$BIN serve --db "$DB" --listen 127.0.0.1:$PORT --issuer "$BASE" --log-level warn >$BENCH_OUT/serve.log 2>&1 &
S=$!; trap 'kill $S 2>/dev/null; wait $S 2>/dev/null' EXIT
for _ in $(seq 100); do curl -sf $BASE/healthz >/dev/null && break; sleep 0.05; done
cpu() { awk '{print $14+$15}' /proc/$S/stat; }
run() { # name script env...
	local name=$1 script=$2; shift 2
	local c0=$(cpu)
	local P=
	if [ "${PERF:-0}" = 1 ]; then perf record -F 1000 --call-graph ${PERFG:-fp} -p $S -o $BENCH_OUT/$name.perf -- sleep $SECS >/dev/null 2>&1 & P=$!; fi
	local th=2; [ $C -lt 2 ] && th=1; env "$@" BENCH_THREADS=$th wrk -t$th -c$C -d${SECS}s -s bench/$script $BASE/ > $BENCH_OUT/$name.log 2>&1
	[ -z "$P" ] || wait $P || true
	local c1=$(cpu) rps=$(awk '/^Requests\/sec/ {print $2}' $BENCH_OUT/$name.log) n=$(awk '/requests in/ {print $1}' $BENCH_OUT/$name.log)
	printf '%-16s %9s req/s  cpu/req %6.1f us  %s\n' $name $rps $(echo "($c1-$c0)*1000000/$(getconf CLK_TCK)/$n" | bc -l) "$(grep checked $BENCH_OUT/$name.log)"
}
for rep in $(seq "$REPS"); do
for C in 1 16 64; do
	N=$((SECS * (C == 1 ? 4000 : 9000)))
	/usr/bin/python3 bench/assertions.py $BENCH_OUT/key-agents.txt $BENCH_OUT/assertions $N $((C < 2 ? 1 : 2)) $BASE
	run token-c$C token.lua BENCH_AGENTS=$BENCH_OUT/agents.txt
	run pkjwt-c$C assertion.lua BENCH_ASSERTIONS=$BENCH_OUT/assertions
	/usr/bin/python3 bench/dpop_proofs.py $N $BASE/token $BENCH_OUT/proofs.txt
	run dpop-c$C dpop.lua BENCH_AGENTS=$BENCH_OUT/agents.txt BENCH_PROOFS=$BENCH_OUT/proofs.txt
done
done
