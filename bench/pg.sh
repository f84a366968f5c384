#!/usr/bin/env bash
# bench/pg.sh [RUNS] [SECONDS]: one node on SQLite beside one node on PostgreSQL, on this
# machine (`make bench-pg`; `make bench` runs it after bench/run.sh). A throwaway
# PostgreSQL cluster is started by scripts/pg.sh in a temporary folder and stopped by pid.
# Each engine gets a database made by `warrant init` with the same eight agents, a
# revoking agent and a resource server; then issuance, introspection and revocation run at
# c16 RUNS times (3), SECONDS each (8), alternating SQLite and PostgreSQL so that both see
# the same background load. Prints every run, each engine's median, PostgreSQL/SQLite, and
# the CPU per request of the warrant process and of every postgres process (from
# /proc/PID/stat before and after each run). Last, a short run at c1 with
# log_min_duration_statement=0 counts the statements (round trips) per request on
# PostgreSQL and the time the server spent in them; and issuance through one node, then
# two at once, samples how often the cluster-wide writer lock is held and waited for
# (pg_locks, pg_stat_activity), which bounds what any number of nodes can write. Every
# answer is checked
# (bench/common.lua). Results go to bench/out/pg/results.tsv and lock.tsv.
set -euo pipefail
trap 'echo "bench/pg.sh: line $LINENO failed: $BASH_COMMAND" >&2' ERR
trap 'echo "bench/pg.sh: stopped by a signal" >&2; exit 1' INT TERM HUP
cd "$(dirname "$0")/.."
scripts/deps.sh
make -s -j2 warrant
RUNS=${1:-${BENCH_RUNS:-3}}
SECS=${2:-${BENCH_SECONDS:-8}}
CONC=${BENCH_CONC:-16}
PORT=${BENCH_PORT:-18996}
PG_PORT=${BENCH_PG_PORT:-18995}
BASE=http://127.0.0.1:$PORT
export BENCH_DIR=$PWD/bench BENCH_THREADS=2
OUT=$PWD/bench/out/pg
rm -rf "$OUT" && mkdir -p "$OUT"
# PostgreSQL keeps private keys and the pepper under a key-encryption key (`init` makes it)
export WARRANT_KEY_FILE=${WARRANT_KEY_FILE:-$OUT/key-encryption-key}
field() { /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
basic() { printf 'Basic %s' "$(printf '%s:%s' "$1" "$2" | base64 -w0)"; }

PGDIR=$(mktemp -d /tmp/warrant-bench-pg.XXXXXX)
chmod 755 "$PGDIR" # the cluster may run as another user (scripts/pg.sh)
SERVER=
stop() {
	local pid
	for pid in $SERVER; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
	SERVER=
}
cleanup() {
	stop || true
	scripts/pg.sh stop "$PGDIR/data" || true
	rm -rf "$PGDIR"
}
trap cleanup EXIT
PG_URL=$(scripts/pg.sh start "$PGDIR/data" "$PG_PORT")
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PG_VERSION=$(psql "$PG_URL" -qAtXc 'SHOW server_version')
PG_LOG=$PGDIR/data/server.log
psql_q() { psql "$PG_URL" -qAtX -v ON_ERROR_STOP=1 -c "$1"; }
db_of() { [ "$1" = pg ] && echo "$PG_URL" || echo "$OUT/sqlite/bench.db"; }

provision() { # engine
	local dir=$OUT/$1 db
	db=$(db_of "$1")
	mkdir -p "$dir"
	W() { ./warrant "$@" --db "$db"; }
	W init >/dev/null
	local owner ws a r
	owner=$(W owner add --email "bench-$1@example.com" --json | field id)
	ws=$(W workspace add bench --json | field id)
	W member add --workspace "$ws" --owner "$owner" --verbs "tickets:read tickets:note" >/dev/null
	: >"$dir/agents.txt"
	for i in 1 2 3 4 5 6 7 8; do
		a=$(W agent add --owner "$owner" --name "bench-$i" --verbs "tickets:read tickets:note" --json)
		basic "$(field client_id <<<"$a")" "$(field client_secret <<<"$a")" >>"$dir/agents.txt"
		echo >>"$dir/agents.txt"
	done
	a=$(W agent add --owner "$owner" --name revoker --verbs "tickets:read" --json)
	basic "$(field client_id <<<"$a")" "$(field client_secret <<<"$a")" >"$dir/revoker.txt"
	r=$(W resource add bench-api --json)
	basic "$(field client_id <<<"$r")" "$(field client_secret <<<"$r")" >"$dir/rs.txt"
}

start() { # engine [port]
	local port=${2:-$PORT}
	./warrant serve --db "$(db_of "$1")" --listen 127.0.0.1:$port --issuer "$BASE" --log-level warn \
		>>"$OUT/$1/serve.log" 2>&1 &
	SERVER="$SERVER $!"
	for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && return; sleep 0.05; done
	echo "server on $1 did not become ready" >&2
	exit 1
}

# CPU ticks (utime + stime) of one process, and of the postmaster with all its children
ticks() { awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$1/stat" 2>/dev/null || echo 0; }
pg_ticks() {
	local pm
	pm=$(head -1 "$PGDIR/data/postmaster.pid")
	# one awk over every process's stat (a process gone meanwhile is skipped)
	awk -v pm="$pm" '{pid = $1; sub(/.*\) /, ""); if (pid == pm || $2 == pm) t += $12 + $13}
		END {print t + 0}' /proc/[0-9]*/stat 2>/dev/null
}
HZ=$(getconf CLK_TCK)
# the writer's commits and jobs so far (/metrics, open on loopback): "batches jobs"
batches() {
	{ curl -sf "$BASE/metrics" || true; } | awk '$1 == "warrant_audit_writer_batches_total" {b = $2}
		$1 == "warrant_audit_writer_jobs_total" {j = $2} END {print b + 0, j + 0}'
}

wrk_run() { # engine script conc secs [env...] -> wrk output
	local dir=$OUT/$1 script=$2 conc=$3 secs=$4 threads=2
	shift 4
	[ "$conc" -lt 2 ] && threads=1
	env BENCH_OUT="$dir" BENCH_AGENTS="$dir/agents.txt" BENCH_TOKENS="$dir/tokens.txt" \
		BENCH_RS="$(cat "$dir/rs.txt")" BENCH_AGENT_AUTH="$(cat "$dir/revoker.txt")" BENCH_THREADS=$threads "$@" \
		wrk -t$threads -c"$conc" -d"${secs}s" --latency -s "bench/$script.lua" "$BASE/"
}

keep_tokens() { # engine agents-file secs conc -> tokens.txt of the engine's folder
	local dir=$OUT/$1
	rm -f "$dir"/tokens-*.txt
	wrk_run "$1" token "$4" "$3" BENCH_AGENTS="$2" BENCH_KEEP_TOKENS=1 >/dev/null
	cat "$dir"/tokens-*.txt >"$dir/tokens.txt"
	rm -f "$dir"/tokens-*.txt
}

RESULTS=$OUT/results.tsv
printf 'engine\tpoint\trun\treq/s\tp99\twarrant_us\tpostgres_us\trows_per_commit\n' >"$RESULTS"
run() { # engine point run
	local e=$1 s=$2 dir=$OUT/$1
	start "$e"
	if [ "$s" = introspect ]; then
		keep_tokens "$e" "$dir/agents.txt" 1 4
		head -n 5000 "$dir/tokens.txt" >"$dir/t" && mv "$dir/t" "$dir/tokens.txt"
	elif [ "$s" = revoke ]; then
		# distinct live tokens of one agent, more than a run revokes
		keep_tokens "$e" "$dir/revoker.txt" $((SECS * 2)) "$CONC"
	fi
	local w0 p0 w1 p1 b0 b1 out
	b0=$(batches)
	w0=$(ticks $SERVER)
	p0=$(pg_ticks)
	out=$(wrk_run "$e" "$s" "$CONC" "$SECS")
	w1=$(ticks $SERVER)
	p1=$(pg_ticks)
	b1=$(batches)
	stop
	local n rps p99 bad
	n=$(awk '/requests in/ {print $1}' <<<"$out")
	rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
	p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
	bad=$(awk -F'wrong: ' '/checked answers/ {print $2}' <<<"$out")
	[ "${bad:-1}" = 0 ] || { echo "wrong answers from $e ($s):" >&2; echo "$out" >&2; exit 1; }
	local wus pus
	wus=$(awk -v a="$w0" -v b="$w1" -v n="$n" -v hz="$HZ" 'BEGIN {printf "%.1f", (b - a) * 1e6 / hz / n}')
	pus=$(awk -v a="$p0" -v b="$p1" -v n="$n" -v hz="$HZ" -v e="$e" \
		'BEGIN {if (e == "pg") printf "%.1f", (b - a) * 1e6 / hz / n; else print "-"}')
	local per
	per=$(awk -v a="$b0" -v b="$b1" 'BEGIN {split(a, x); split(b, y)
		if (y[1] > x[1]) printf "%.1f", (y[2] - x[2]) / (y[1] - x[1]); else print "-"}')
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$e" "$s" "$3" "$rps" "$p99" "$wus" "$pus" "$per" >>"$RESULTS"
	printf '  %-10s run %d %-6s %10s req/s  p99 %-8s %5s rows a commit  CPU per request: warrant %s us, postgres %s us\n' \
		"$s" "$3" "$e" "$rps" "$p99" "$per" "$wus" "$pus"
}

median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
col() { awk -F'\t' -v e="$1" -v s="$2" -v c="$3" '$1 == e && $2 == s {print $c}' "$RESULTS"; }

echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%d GiB", $2/1048576}' /proc/meminfo), $(uname -r)," \
	"load average $(cut -d' ' -f1-3 /proc/loadavg) before the run;" \
	"PostgreSQL $PG_VERSION on this machine (pg.sh: fsync on, synchronous_commit on)"
provision sqlite
provision pg
echo "== one node, c$CONC, $RUNS runs of ${SECS}s per point and engine, alternating"
for s in token introspect revoke; do
	for i in $(seq "$RUNS"); do
		run sqlite "$s" "$i"
		run pg "$s" "$i"
	done
done

echo "== medians"
printf '  %-10s %12s %12s %9s   %s\n' point "SQLite/s" "PostgreSQL/s" "PG/SQLite" \
	"CPU per request (SQLite: warrant; PostgreSQL: warrant + postgres), rows a commit"
for s in token introspect revoke; do
	ms=$(col sqlite "$s" 4 | median)
	mp=$(col pg "$s" 4 | median)
	printf '  %-10s %12s %12s %9s   SQLite %s us; PostgreSQL %s + %s us; rows %s / %s\n' "$s" "$ms" "$mp" \
		"$(awk -v a="$ms" -v b="$mp" 'BEGIN {printf "%.2f", b / a}')" "$(col sqlite "$s" 6 | median)" \
		"$(col pg "$s" 6 | median)" "$(col pg "$s" 7 | median)" "$(col sqlite "$s" 8 | median)" \
		"$(col pg "$s" 8 | median)"
done

echo "== statements per request on PostgreSQL (c1, log_min_duration_statement=0)"
# each execute of a prepared statement and each simple query is one round trip
psql_q "ALTER SYSTEM SET log_min_duration_statement = 0" >/dev/null
psql_q "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
for s in token introspect revoke; do
	dir=$OUT/pg
	start pg
	if [ "$s" = introspect ]; then
		keep_tokens pg "$dir/agents.txt" 1 4
	elif [ "$s" = revoke ]; then
		keep_tokens pg "$dir/revoker.txt" 2 4
	fi
	sleep 0.5
	from=$(stat -c %s "$PG_LOG")
	out=$(wrk_run pg "$s" 1 1)
	sleep 0.3
	n=$(awk '/requests in/ {print $1}' <<<"$out")
	stop
	tail -c +"$((from + 1))" "$PG_LOG" >"$OUT/statements-$s.log"
	awk -v n="$n" -v s="$s" '
		/duration: .* ms  (execute [^:]*|statement): / {
			rt++
			ms = $0; sub(/.*duration: /, "", ms); sub(/ ms.*/, "", ms); t += ms
			q = $0; sub(/.*(execute [^:]*|statement): /, "", q); q = substr(q, 1, 60)
			k[q]++
			d[q] += ms
		}
		END {
			printf "  %-10s %d requests: %.1f round trips and %.0f us in PostgreSQL per request\n", s, n, rt / n, t * 1000 / n
			for (q in k) if (k[q] / n >= 0.05) printf "      %5.2f x %5.0f us  %s\n", k[q] / n, d[q] * 1000 / k[q], q
		}' "$OUT/statements-$s.log" | { read -r head; echo "$head"; sort -rn; }
done
psql_q "ALTER SYSTEM RESET log_min_duration_statement" >/dev/null
psql_q "SELECT pg_reload_conf()" >/dev/null

echo "== the cluster-wide writer lock: issuance at c$CONC through one node, then through two at once"
# samples every 5 ms or so, from one session, from the load's first second to before its
# end: is the lock held, does a writer wait for it
SAMPLES=$((SECS > 2 ? (SECS - 2) * 150 : 100))
LOCK_SQL="DO \$\$ DECLARE held int := 0; waited int := 0; BEGIN
	FOR i IN 1..$SAMPLES LOOP
		PERFORM pg_stat_clear_snapshot();
		IF EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted) THEN held := held + 1; END IF;
		IF EXISTS (SELECT 1 FROM pg_stat_activity WHERE wait_event = 'advisory') THEN waited := waited + 1; END IF;
		PERFORM pg_sleep(0.005);
	END LOOP;
	RAISE NOTICE 'lock % % %', held, waited, $SAMPLES; END \$\$"
printf 'nodes\ttokens/s\tsamples_held\tsamples_waiting\tsamples\n' >"$OUT/lock.tsv"
for nodes in 1 2; do
	ports=$PORT
	[ "$nodes" = 2 ] && ports="$PORT $((PORT + 1))"
	for p in $ports; do start pg "$p"; done
	outs=()
	loads=()
	for p in $ports; do
		o=$OUT/lock-$nodes-$p.txt
		outs+=("$o")
		BASE=http://127.0.0.1:$p wrk_run pg token "$CONC" "$SECS" >"$o" &
		loads+=($!)
	done
	sleep 1
	lock=$(psql "$PG_URL" -qAtX -c "$LOCK_SQL" 2>&1 | awk '/lock/ {print $(NF - 2), $(NF - 1), $NF}')
	wait "${loads[@]}"
	stop
	total=0
	for o in "${outs[@]}"; do
		if [ "$(awk -F'wrong: ' '/checked answers/ {print $2}' "$o")" != 0 ]; then
			echo "wrong answers:" >&2
			cat "$o" >&2
			exit 1
		fi
		total=$(awk -v t="$total" '/^Requests\/sec/ {printf "%.0f", t + $2}' "$o")
	done
	read -r held waited n <<<"$lock"
	printf '  %d node(s): %6s tokens/s in all; writer lock held in %3.0f%% of samples, a writer waiting in %3.0f%%\n' \
		"$nodes" "$total" "$(awk -v a="$held" -v n="$n" 'BEGIN {print 100 * a / n}')" \
		"$(awk -v a="$waited" -v n="$n" 'BEGIN {print 100 * a / n}')"
	printf '%d\t%s\t%s\t%s\t%s\n' "$nodes" "$total" "$held" "$waited" "$n" >>"$OUT/lock.tsv"
done
echo "results: $RESULTS"
