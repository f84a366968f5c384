#!/usr/bin/env bash
# Installs the Debian packages Warrant needs to build, test and benchmark, when missing.
set -euo pipefail
pkgs=(gcc make pkg-config clang-format libmicrohttpd-dev libsqlite3-dev libssl-dev libargon2-dev
      libjansson-dev libcurl4-openssl-dev curl python3 python3-jwt python3-cryptography python3-authlib sqlite3 clang
      libclang-rt-dev wrk openssl apache2-bin libapache2-mod-oauth2
      libapache2-mod-auth-openidc libpq-dev postgresql postgresql-client haproxy
      chromium nodejs nginx caddy zlib1g-dev)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
