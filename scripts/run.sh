#!/usr/bin/env bash
# `make run`: installs what is missing, builds, creates a demo database (one owner, one
# workspace, one agent), prints the agent's credentials and a curl line, then serves on
# 127.0.0.1:8080 until Ctrl-C. The demo database is made anew on each run, since an
# agent's secret is shown only once.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
make -s -j2 warrant
LISTEN=${WARRANT_LISTEN:-127.0.0.1:8080}
ISSUER=${WARRANT_ISSUER:-http://$LISTEN}
mkdir -p demo
DB=demo/warrant.db
rm -f "$DB" "$DB-wal" "$DB-shm"
W() { ./warrant "$@" --db "$DB"; }
field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
W init >/dev/null
OWNER=$(W owner add --email alice@example.com --name "Alice Example" --password-stdin --json \
	<<<"correct horse battery staple" | field id)
WS=$(W workspace add support --json | field id)
W member add --workspace "$WS" --owner "$OWNER" --verbs "tickets:read tickets:note" >/dev/null
AGENT_JSON=$(W agent add --owner "$OWNER" --name triage-bot --verbs "tickets:read tickets:note refunds:issue" --json)
ID=$(field client_id <<<"$AGENT_JSON")
SECRET=$(field client_secret <<<"$AGENT_JSON")
cat <<MSG

Demo database: $DB
  owner      alice@example.com ($OWNER), password "correct horse battery staple"
  workspace  support ($WS): Alice may tickets:read tickets:note
  agent      triage-bot, granted tickets:read tickets:note refunds:issue

  client_id:     $ID
  client_secret: $SECRET

Get a token (its scope is what both the agent's grant and Alice allow):
  curl -s -u '$ID:$SECRET' -d grant_type=client_credentials $ISSUER/token

Alice's console (sign in with her email and password): $ISSUER/console

Serving on $ISSUER (Ctrl-C stops).
MSG
exec ./warrant serve --db "$DB" --listen "$LISTEN" --issuer "$ISSUER"
