#!/usr/bin/env bash
# The owners' console's browser suite (run.mjs): installs its npm packages from
# package-lock.json when they are missing, then runs it with Debian's chromium. Arguments
# go to run.mjs (--screenshots, test-name filters). Ends with "console: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")"
command -v node >/dev/null && command -v npm >/dev/null || { echo "console: node and npm are needed (scripts/deps.sh)"; echo "console: 0 passed, 1 failed"; exit 1; }
if [ ! -d node_modules/puppeteer-core ] || [ ! -d node_modules/oidc-provider ]; then
	npm ci --ignore-scripts --no-audit --no-fund >&2 || { echo "console: 0 passed, 1 failed"; exit 1; }
fi
exec node run.mjs "$@"
