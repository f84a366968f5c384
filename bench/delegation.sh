#!/usr/bin/env bash
# bench/delegation.sh [WARRANT_BIN]: what checking a delegation chain costs at /introspect.
# First live_check alone (bench/chain_cost.c, built against this tree's objects: ns per check
# of a plain token and of exchanged ones of depth 1 and 5, from memory), then over HTTP:
# Provisions a chain of six agents (A -> B -> C -> D -> E -> F, max_depth 5), starts `warrant
# serve` on loopback and drives /introspect with wrk (keep-alive, BENCH_CONNS connections,
# BENCH_SECONDS a point) three ways: plain tokens, exchanged tokens of depth 1 and of depth 5
# (BENCH_POOL distinct tokens each, so each is verified and its chain read once, then
# answered from the caches as in production). Every answer must be "active":true.
# With the binary of an earlier commit as argument, only the plain point runs (delegation
# unknown there): the before/after of plain introspection.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${1:-./warrant}")
SECS=${BENCH_SECONDS:-5}
CONNS=${BENCH_CONNS:-4}
POOL=${BENCH_POOL:-200}
PORT=${BENCH_PORT:-18998}
BASE=http://127.0.0.1:$PORT
export BENCH_DIR=$PWD/bench BENCH_OUT=$PWD/bench/out/delegation
rm -rf "$BENCH_OUT" && mkdir -p "$BENCH_OUT"
DB=$BENCH_OUT/bench.db
W() { "$BIN" "$@" --db "$DB"; }
field() { /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
basic() { printf 'Basic %s' "$(printf '%s:%s' "$1" "$2" | base64 -w0)"; }

W init >/dev/null
OWNER=$(W owner add --email bench@example.com --json | field id)
WS=$(W workspace add bench --json | field id)
W member add --workspace "$WS" --owner "$OWNER" --verbs "tickets:read tickets:note" >/dev/null
: >"$BENCH_OUT/agents.txt"
for i in 0 1 2 3 4 5; do
	A=$(W agent add --owner "$OWNER" --name "chain-$i" --verbs "tickets:read tickets:note" --json)
	printf '%s %s\n' "$(field client_id <<<"$A")" "$(field client_secret <<<"$A")" >>"$BENCH_OUT/agents.txt"
done
R=$(W resource add bench-api --json)
export BENCH_RS=$(basic "$(field client_id <<<"$R")" "$(field client_secret <<<"$R")")
PLAIN_ONLY=0
mapfile -t IDS < <(cut -d' ' -f1 "$BENCH_OUT/agents.txt")
for i in 0 1 2 3 4; do
	W agent delegate "${IDS[$i]}" --to "${IDS[$((i + 1))]}" --max-depth 5 >/dev/null 2>&1 || PLAIN_ONLY=1
done

if [ "$PLAIN_ONLY" = 0 ]; then
	make -s -j2 warrant
	${CC:-cc} -O2 -std=c11 -D_GNU_SOURCE -I/usr/include/postgresql -pthread -o "$BENCH_OUT/chain_cost" \
		bench/chain_cost.c $(ls build/{common,store,keys,token,clients,authz,audit,core,sched,http}/*.o) \
		-lmicrohttpd -lsqlite3 -lpq -lcrypto -lssl -largon2 -ljansson -lcurl
	echo "== live_check alone"
	"$BENCH_OUT/chain_cost" "$DB" "$OWNER" "${IDS[@]}"
fi

"$BIN" serve --db "$DB" --listen 127.0.0.1:$PORT --issuer "$BASE" --log-level warn >"$BENCH_OUT/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -fs "$BASE/healthz" >/dev/null 2>&1 && break; sleep 0.05; done

# pools of tokens: plain, depth 1, depth 5 (one chain of exchanges per root token)
/usr/bin/python3 - "$BASE" "$WS" "$BENCH_OUT" "$POOL" "$PLAIN_ONLY" <<'PY'
import base64, json, sys, urllib.parse, urllib.request
base, ws, out, pool, plain_only = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] == "1"
agents = [l.split() for l in open(out + "/agents.txt")]
def post(cid, secret, form):
    req = urllib.request.Request(base + "/token", urllib.parse.urlencode(form).encode(),
        {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (cid, secret)).encode()).decode()})
    return json.load(urllib.request.urlopen(req))["access_token"]
ex = "urn:ietf:params:oauth:grant-type:token-exchange"
at = "urn:ietf:params:oauth:token-type:access_token"
pools = {"plain": [], "depth1": [], "depth5": []}
for _ in range(pool):
    t = post(*agents[0], {"grant_type": "client_credentials", "workspace": ws})
    pools["plain"].append(t)
    if plain_only:
        continue
    for d in range(1, 6):
        t = post(*agents[d], {"grant_type": ex, "subject_token": t, "subject_token_type": at})
        if d in (1, 5):
            pools["depth%d" % d].append(t)
for k, v in pools.items():
    open("%s/%s.txt" % (out, k), "w").write("\n".join(v) + ("\n" if v else ""))
PY

echo "== /introspect, $CONNS connections, ${SECS}s a point, $POOL distinct tokens"
for kind in plain depth1 depth5; do
	[ -s "$BENCH_OUT/$kind.txt" ] || continue
	echo "-- $kind"
	BENCH_TOKENS=$BENCH_OUT/$kind.txt wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -s bench/introspect.lua "$BASE" |
		grep -E "Requests/sec|^ +(50|99)%|checked answers"
done
