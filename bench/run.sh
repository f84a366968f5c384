#!/usr/bin/env bash
# `make bench`: builds Warrant, provisions a database, starts `warrant serve` on loopback
# and drives it with wrk (keep-alive) at concurrency 1, 16 and 64, BENCH_SECONDS (10) per
# point: issuance (client_secret_basic), DPoP-bound issuance (the same with an ES256 proof
# each, RFC 9449), introspection of valid tokens and AuthZEN evaluations of the same tokens,
# revocation of distinct live tokens, and /healthz as the HTTP ceiling of the same server; plus issuance with private_key_jwt (ES256
# assertions pre-signed by python3-jwt, each jti used once) beside secret issuance at the
# same concurrency, issuance without keep-alive, and the server's RSS after BENCH_MILLION
# (1000000) tokens at c64.
# Every answer is checked (wrong answers are counted and fail the run) and a sample of
# tokens is verified against /jwks with an independent library (python3-jwt).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
make -s -j2 warrant
SECS=${BENCH_SECONDS:-10}
MILLION=${BENCH_MILLION:-1000000}
PORT=${BENCH_PORT:-18999}
BASE=http://127.0.0.1:$PORT
export BENCH_DIR=$PWD/bench BENCH_OUT=$PWD/bench/out
rm -rf "$BENCH_OUT" && mkdir -p "$BENCH_OUT"
DB=$BENCH_OUT/bench.db
W() { ./warrant "$@" --db "$DB"; }
field() { /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
basic() { printf 'Basic %s' "$(printf '%s:%s' "$1" "$2" | base64 -w0)"; }

W init >/dev/null
OWNER=$(W owner add --email bench@example.com --json | field id)
WS=$(W workspace add bench --json | field id)
W member add --workspace "$WS" --owner "$OWNER" --verbs "tickets:read tickets:note" >/dev/null
: >"$BENCH_OUT/agents.txt"
for i in 1 2 3 4 5 6 7 8; do
	A=$(W agent add --owner "$OWNER" --name "bench-$i" --verbs "tickets:read tickets:note" --json)
	basic "$(field client_id <<<"$A")" "$(field client_secret <<<"$A")" >>"$BENCH_OUT/agents.txt"
	echo >>"$BENCH_OUT/agents.txt"
done
# agents with an EC P-256 public key and no secret (private_key_jwt); their private JWKs
# stay in bench/out for bench/assertions.py
: >"$BENCH_OUT/key-agents.txt"
for i in 1 2 3 4 5 6 7 8; do
	/usr/bin/python3 -c 'import base64, json, sys
from cryptography.hazmat.primitives.asymmetric import ec
b = lambda i: base64.urlsafe_b64encode(i.to_bytes(32, "big")).rstrip(b"=").decode()
k = ec.generate_private_key(ec.SECP256R1())
n = k.public_key().public_numbers()
pub = {"kty": "EC", "crv": "P-256", "x": b(n.x), "y": b(n.y)}  # RFC 7518 6.2.1.2: full length
json.dump(dict(pub, d=b(k.private_numbers().private_value)), open(sys.argv[1], "w"))
json.dump(pub, open(sys.argv[2], "w"))' \
		"$BENCH_OUT/key-$i.jwk" "$BENCH_OUT/key-$i.pub.jwk"
	K=$(W agent add --owner "$OWNER" --name "bench-key-$i" --verbs "tickets:read tickets:note" \
		--jwk-file "$BENCH_OUT/key-$i.pub.jwk" --json)
	printf '%s\t%s\n' "$(field id <<<"$K")" "$BENCH_OUT/key-$i.jwk" >>"$BENCH_OUT/key-agents.txt"
done
A=$(W agent add --owner "$OWNER" --name revoker --verbs "tickets:read" --json)
export BENCH_AGENT_AUTH=$(basic "$(field client_id <<<"$A")" "$(field client_secret <<<"$A")")
echo "$BENCH_AGENT_AUTH" >"$BENCH_OUT/revoker.txt"
R=$(W resource add bench-api --json)
export BENCH_RS=$(basic "$(field client_id <<<"$R")" "$(field client_secret <<<"$R")")

./warrant serve --db "$DB" --listen 127.0.0.1:$PORT --issuer "$BASE" --log-level warn \
	>"$BENCH_OUT/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null' EXIT
for _ in $(seq 100); do curl -sf "$BASE/healthz" >/dev/null && break; sleep 0.05; done

RESULTS=$BENCH_OUT/results.tsv
printf 'point\tconc\treq/s\tp50\tp99\n' >"$RESULTS"
WRONG=0
point() { # name conc script [extra env...]
	local name=$1 conc=$2 script=$3 threads=2
	shift 3
	[ "$conc" -lt 2 ] && threads=1
	local log=$BENCH_OUT/$name-c$conc.log
	env BENCH_THREADS=$threads "$@" wrk -t"$threads" -c"$conc" -d"${SECS}s" --latency \
		-s "bench/$script" "$BASE$([ "$script" = healthz.lua ] && echo /healthz || echo /)" >"$log" 2>&1 || true
	local rps p50 p99 bad
	rps=$(awk '/^Requests\/sec/ {print $2}' "$log")
	p50=$(awk '$1 == "50%" {print $2}' "$log")
	p99=$(awk '$1 == "99%" {print $2}' "$log")
	bad=$(awk -F'wrong: ' '/checked answers/ {print $2}' "$log")
	if [ -z "$rps" ] || [ "${bad:-1}" != 0 ]; then
		echo "  $name c$conc: wrong or missing answers (see $log)"
		WRONG=$((WRONG + 1))
	fi
	printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$conc" "${rps:-0}" "${p50:-?}" "${p99:-?}" >>"$RESULTS"
	printf '  %-22s c%-3s %10s req/s  p50 %-9s p99 %s\n' "$name" "$conc" "${rps:-0}" "${p50:-?}" "${p99:-?}"
}

echo "== issuance (keep-alive), introspection, revocation, /healthz: ${SECS}s a point"
# pools first: tokens for introspection (any agents) and for revocation (one agent)
BENCH_AGENTS=$BENCH_OUT/agents.txt BENCH_KEEP_TOKENS=1 point pool-introspect 4 token.lua
cat "$BENCH_OUT"/tokens-*.txt | head -n 5000 >"$BENCH_OUT/introspect-tokens.txt" || true
rm -f "$BENCH_OUT"/tokens-*.txt
# the same tokens as AuthZEN evaluations: subject the token's sub, action a verb it holds
/usr/bin/python3 -c 'import base64, json, sys
for t in sys.stdin.read().split():
    sub = json.loads(base64.urlsafe_b64decode(t.split(".")[1] + "=="))["sub"]
    print(json.dumps({"subject": {"type": "agent", "id": sub}, "action": {"name": "tickets:read"},
                      "resource": {"type": "ticket", "id": "T-1"}, "context": {"access_token": t}}))' \
	<"$BENCH_OUT/introspect-tokens.txt" >"$BENCH_OUT/evaluation-bodies.txt"
for c in 1 16 64; do
	point healthz "$c" healthz.lua
	BENCH_AGENTS=$BENCH_OUT/agents.txt point token "$c" token.lua
	BENCH_TOKENS=$BENCH_OUT/introspect-tokens.txt point introspect "$c" introspect.lua
	BENCH_BODIES=$BENCH_OUT/evaluation-bodies.txt point evaluation "$c" evaluation.lua
done
BENCH_AGENTS=$BENCH_OUT/agents.txt BENCH_CLOSE=1 point token-no-keepalive 16 token.lua

echo "== DPoP-bound issuance (RFC 9449): the same requests with an ES256 proof, each used once"
# proofs are signed just before each point (their iat must be within 60 s of the server's
# clock when they arrive), so a point lasts at most 40 s; enough for the rate, plus room
SECS_SAVED=$SECS
[ "$SECS" -gt 40 ] && SECS=40
DPOP_N=${BENCH_DPOP_PROOFS:-$((SECS * 12000))}
for c in 1 16 64; do
	/usr/bin/python3 bench/dpop_proofs.py "$DPOP_N" "$BASE/token" "$BENCH_OUT/proofs.txt"
	BENCH_AGENTS=$BENCH_OUT/agents.txt BENCH_PROOFS=$BENCH_OUT/proofs.txt point token-dpop "$c" dpop.lua
done
rm -f "$BENCH_OUT/proofs.txt"
SECS=$SECS_SAVED
echo "== private_key_jwt issuance beside secret issuance (ES256 assertions, each jti once)"
# pre-signed per point, more than the point can send (a used-up file would replay: wrong
# answers); iat now, exp now + 300, so each file is signed just before its point
for c in 1 16 64; do
	n=$(awk -v c="$c" '$1 == "token" && $2 == c {printf "%d", $3 * 1.5 * '"$SECS"' + 1000}' "$RESULTS")
	threads=2
	[ "$c" -lt 2 ] && threads=1
	/usr/bin/python3 bench/assertions.py "$BENCH_OUT/key-agents.txt" "$BENCH_OUT/assertions" "$n" "$threads" "$BASE"
	BENCH_ASSERTIONS=$BENCH_OUT/assertions point private-key-jwt "$c" assertion.lua
	BENCH_AGENTS=$BENCH_OUT/agents.txt point token-same-run "$c" token.lua
	rm -f "$BENCH_OUT"/assertions-*.txt
done
# revocation needs distinct live tokens of one agent: issue a pool (three points' worth,
# since revocation runs at up to the issuance rate), then revoke it
SECS_SAVED=$SECS
SECS=$((SECS * 3))
BENCH_AGENTS=$BENCH_OUT/revoker.txt BENCH_KEEP_TOKENS=1 point pool-revoke 16 token.lua
SECS=$SECS_SAVED
cat "$BENCH_OUT"/tokens-*.txt >"$BENCH_OUT/revoke-tokens.txt"
rm -f "$BENCH_OUT"/tokens-*.txt
echo "  (revocation pool: $(wc -l <"$BENCH_OUT/revoke-tokens.txt") tokens)"
for c in 1 16 64; do
	BENCH_TOKENS=$BENCH_OUT/revoke-tokens.txt point revoke "$c" revoke.lua
done

echo "== a sample of issued tokens, verified independently against /jwks"
head -n 20 "$BENCH_OUT/introspect-tokens.txt" | /usr/bin/python3 -c '
import jwt, sys
base = sys.argv[1]
c = jwt.PyJWKClient(base + "/jwks")
n = 0
for line in sys.stdin:
    t = line.strip()
    k = c.get_signing_key_from_jwt(t)
    jwt.decode(t, k.key, algorithms=["ES256"], audience=base, issuer=base,
               options={"verify_exp": False})
    n += 1
print("  %d tokens verified (pyjwt)" % n)' "$BASE" || WRONG=$((WRONG + 1))

echo "== RSS of a fresh server after $MILLION tokens at c64"
# its own process on the same database, so the revocations above do not count
kill $SERVER 2>/dev/null
wait $SERVER 2>/dev/null || true
./warrant serve --db "$DB" --listen 127.0.0.1:$PORT --issuer "$BASE" --log-level warn \
	>>"$BENCH_OUT/serve.log" 2>&1 &
SERVER=$!
for _ in $(seq 100); do curl -sf "$BASE/healthz" >/dev/null && break; sleep 0.05; done
issued() { sqlite3 "file:$DB?mode=ro" "SELECT count(*) FROM audit_events WHERE event = 'token.issued'"; }
start=$(issued)
rss0=$(awk '/VmRSS/ {print $2}' /proc/$SERVER/status)
while [ $(( $(issued) - start )) -lt "$MILLION" ]; do
	BENCH_AGENTS=$BENCH_OUT/agents.txt env BENCH_THREADS=2 wrk -t2 -c64 -d10s -s bench/token.lua "$BASE/" >/dev/null 2>&1 || true
done
rss=$(awk '/VmRSS/ {print $2}' /proc/$SERVER/status)
hwm=$(awk '/VmHWM/ {print $2}' /proc/$SERVER/status)
echo "  tokens issued: $(( $(issued) - start )); RSS at start $((rss0 / 1024)) MiB, now $((rss / 1024)) MiB, peak $((hwm / 1024)) MiB"
printf 'rss_mib\t64\t%s\t-\t-\n' "$((hwm / 1024))" >>"$RESULTS"

echo "== private_key_jwt issuance as a share of secret issuance, measured back to back"
awk -F'\t' '$1 == "private-key-jwt" {p[$2] = $3} $1 == "token-same-run" {t[$2] = $3}
	END {for (c in p) if (t[c] > 0) printf "  c%-3s %5.1f%%\n", c, 100 * p[c] / t[c]}' "$RESULTS" | sort -n -k1.4

echo "== ratios to /healthz at the same concurrency"
awk -F'\t' 'NR > 1 {rps[$1" "$2] = $3; if ($1 == "healthz") h[$2] = $3}
	END {for (k in rps) {split(k, a, " "); if (a[1] != "healthz" && a[1] != "rss_mib" && h[a[2]] > 0)
		printf "  %-22s c%-3s %5.1f%%\n", a[1], a[2], 100 * rps[k] / h[a[2]]}}' "$RESULTS" | sort
echo "== DPoP-bound issuance against secret issuance at the same concurrency"
awk -F'\t' 'NR > 1 && ($1 == "token" || $1 == "token-dpop") {rps[$1" "$2] = $3}
	END {for (c = 1; c <= 64; c *= 4) if (rps["token "c] > 0)
		printf "  c%-3s %5.1f%% (%s of %s req/s)\n", c, 100 * rps["token-dpop "c] / rps["token "c],
			rps["token-dpop "c], rps["token "c]}' "$RESULTS"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%d GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
echo "results: $RESULTS"
[ "$WRONG" -eq 0 ] || { echo "wrong answers at $WRONG points"; exit 1; }
