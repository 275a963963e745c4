#!/bin/bash
# `make demo`: shows what BSec does today, on embedded defaults, in a
# scratch directory.  The ledger core exists; the consortium (nodes,
# orchestrators, portal) joins this demo as it is built.
set -eu
cd "$(dirname "$0")/.."
BSEC=${BSEC:-build/bsec}
D=$(mktemp -d /tmp/bsec-demo.XXXXXX)
trap 'rm -rf "$D"' EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. keys for a tenant (ed25519) and a provider admin (rsa-pss-2048, the paper's scheme)"
$BSEC keygen --scheme ed25519 --out "$D/tenant.pem" >/dev/null
$BSEC keygen --scheme rsa-pss-2048 --out "$D/admin.pem" >/dev/null
ls -l "$D"/*.pem
CHAIN=$(printf 'bsec-demo' | sha256sum | cut -d' ' -f1)

step "2. the tenant signs an instruction (checked against the grammar first)"
$BSEC tx request --key "$D/tenant.pem" --chain-id "$CHAIN" --domain p1 \
	--instruction "vnf create fw --type firewall --config allow=tcp:80 --config default=drop" --out "$D/req.tx"
$BSEC tx show "$D/req.tx"

step "3. anyone can verify it"
$BSEC tx verify "$D/req.tx"

step "4. a malformed instruction is refused with its position and reason"
$BSEC tx request --key "$D/tenant.pem" --chain-id "$CHAIN" --domain p1 \
	--instruction "vnf create FW --type firewall" --out "$D/bad.tx" || true

step "5. a tampered tx no longer verifies"
cp "$D/req.tx" "$D/tampered.tx"
printf 'X' | dd of="$D/tampered.tx" bs=1 seek=90 conv=notrunc status=none
$BSEC tx verify "$D/tampered.tx" || true

step "6. sizes beside the paper's"
$BSEC bench sizes

echo
echo "The consensus network, orchestrators and portal are not built yet; this demo grows with them."
