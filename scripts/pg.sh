#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests and benchmarks, on loopback, run as a non-root
# user and stopped by pid.
#   scripts/pg.sh start DIR PORT   initdb in DIR (when empty) and start; prints the URL
#   scripts/pg.sh stop DIR         stops the postmaster whose pid DIR/postmaster.pid holds
#   scripts/pg.sh url DIR PORT     the URL of the database "warrant" (created by start)
# As root, the cluster runs as the user "postgres" (Debian's package creates it).
set -euo pipefail
cmd=${1:-}
dir=${2:-}
port=${3:-}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
usage() { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ -n "$cmd" ] && [ -n "$dir" ] || usage
run() {
	if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case "$cmd" in
start)
	[ -n "$port" ] || usage
	[ -x "$bin/initdb" ] || { echo "pg.sh: PostgreSQL is not installed (scripts/deps.sh)" >&2; exit 1; }
	mkdir -p "$dir"
	[ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
	chmod 700 "$dir"
	if [ ! -s "$dir/PG_VERSION" ]; then
		run "$bin/initdb" -D "$dir" -U warrant --auth=trust -E UTF8 --locale=C >"$dir.initdb.log" 2>&1 ||
			{ cat "$dir.initdb.log" >&2; exit 1; }
	fi
	# fsync stays on: the tests kill -9 servers and check nothing acknowledged is lost
	run "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 30 -o \
		"-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300 -c shared_buffers=128MB" \
		start >/dev/null
	run "$bin/psql" -h 127.0.0.1 -p "$port" -U warrant -d postgres -qAtc \
		"SELECT 1 FROM pg_database WHERE datname = 'warrant'" | grep -q 1 ||
		run "$bin/createdb" -h 127.0.0.1 -p "$port" -U warrant warrant
	echo "postgresql://warrant@127.0.0.1:$port/warrant"
	;;
url)
	echo "postgresql://warrant@127.0.0.1:$port/warrant"
	;;
stop)
	[ -f "$dir/postmaster.pid" ] || exit 0
	pid=$(head -1 "$dir/postmaster.pid")
	kill -INT "$pid" 2>/dev/null || exit 0
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || exit 0
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
	;;
*) usage ;;
esac
