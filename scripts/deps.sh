#!/bin/sh
# Installs the Debian packages BSec needs to build, test and run, when any
# is missing.  Idempotent and quiet when everything is present.
#   scripts/deps.sh            build + unit tests + fuzz
#   scripts/deps.sh browser    also chromium and node (portal tests)
set -eu
PKGS="build-essential pkg-config clang libclang-rt-14-dev libsodium-dev libssl-dev openssl
libsqlite3-dev sqlite3 libevent-dev libjansson-dev libcmocka-dev python3 nodejs iproute2 nftables
procps psmisc curl ca-certificates gnuplot-nox"
[ "${1:-}" = browser ] && PKGS="$PKGS chromium npm"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages:$missing (run as root, or install them)" >&2
	exit 1
fi
echo "deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -qq $missing >/dev/null 2>&1; then
	apt-get update -qq >/dev/null
	apt-get install -y -qq $missing >/dev/null
fi
