#!/bin/sh
# Installs what BSec needs to build, test and run, when anything is
# missing.  Idempotent and quiet when everything is present.
#   scripts/deps.sh            build + unit tests + fuzz (Debian packages)
#   scripts/deps.sh browser    also the portal's browser tests: Debian's
#                              chromium and npm, then `npm ci` in
#                              tests/browser (playwright-core, pinned by its
#                              package-lock.json) unless already installed
#   scripts/deps.sh tls        also testssl.sh (make tls-check)
set -eu
cd "$(dirname "$0")/.."
PKGS="build-essential pkg-config clang libclang-rt-14-dev libsodium-dev libssl-dev openssl
libsqlite3-dev sqlite3 libevent-dev libjansson-dev libcmocka-dev python3 nodejs iproute2 nftables
procps psmisc curl ca-certificates gnuplot-nox"
if [ "${1:-}" = browser ]; then
	PKGS="$PKGS chromium"
	# some nodejs builds bundle npm; Debian's own nodejs needs the npm package
	command -v npm >/dev/null 2>&1 || PKGS="$PKGS npm"
fi
[ "${1:-}" = tls ] && PKGS="$PKGS testssl.sh"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
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
fi
if [ "${1:-}" = browser ]; then
	# npm ci when node_modules does not hold exactly what the lock file pins
	want=$(sed -n '/"node_modules\/playwright-core"/,/}/s/.*"version": "\([^"]*\)".*/\1/p' tests/browser/package-lock.json | head -1)
	have=$(sed -n 's/^  "version": "\([^"]*\)".*/\1/p' tests/browser/node_modules/playwright-core/package.json 2>/dev/null | head -1)
	if [ -z "$want" ] || [ "$want" != "$have" ]; then
		echo "deps: npm ci in tests/browser (playwright-core $want)" >&2
		(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
	fi
fi
