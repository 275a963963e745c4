#!/bin/bash
# make tls-check: testssl.sh (Debian package) against a fresh devnet's
# listeners — node 0's HTTPS API, node 0's peer port (mutual TLS: testssl
# runs through an openssl wrapper that presents node 1's pinned certificate,
# with --ssl-native so every check goes through it) and the tenant portal
# when the devnet has one.  Writes build/tls-check/<target>.json (testssl's
# findings) and summary.txt (findings per severity), and fails when any
# finding is HIGH or CRITICAL.  docs/reliability.md records the summary.
set -u
cd "$(dirname "$0")/.."
BSEC=${BSEC:-build/bsec}
OUT=build/tls-check
TESTSSL=$(command -v testssl || command -v testssl.sh) || { echo "tls-check: testssl.sh is not installed (scripts/deps.sh tls)" >&2; exit 1; }
rm -rf "$OUT"
mkdir -p "$OUT"
dir=$(mktemp -d /tmp/bsec-tls-XXXXXX)
cleanup() {
	"$BSEC" devnet down --dir "$dir" >/dev/null 2>&1
	rm -rf "$dir"
}
trap cleanup EXIT
"$BSEC" devnet init --dir "$dir" --nodes 4 --driver sim >/dev/null || exit 1
"$BSEC" devnet up --dir "$dir" --detach >"$OUT/devnet.log" 2>&1 || { cat "$OUT/devnet.log"; exit 1; }

api=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["providers"][0]["api"][8:])' "$dir/genesis.json")
peer=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["providers"][0]["peer"])' "$dir/genesis.json")
portal=
if [ -f "$dir/portal/config.json" ]; then
	portal=$(python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); print(c.get("listen",""))' "$dir/portal/config.json")
fi

# openssl that presents node 1's certificate (the peer port wants a pinned one)
wrap="$OUT/openssl-mtls"
cat >"$wrap" <<W
#!/bin/sh
if [ "\$1" = s_client ]; then
	shift
	exec openssl s_client -cert "$dir/tls/p1.pem" -key "$dir/tls/p1-key.pem" "\$@"
fi
exec openssl "\$@"
W
chmod +x "$wrap"

run() { # name target [extra testssl options]
	local name=$1 target=$2
	shift 2
	echo "tls-check: $name ($target)"
	timeout 1200 "$TESTSSL" --quiet --color 0 --warnings off --openssl-timeout 10 --sneaky \
		--add-ca "$dir/ca.pem" --jsonfile "$OUT/$name.json" "$@" "$target" >"$OUT/$name.txt" 2>&1
}
run api "$api"
run peer "$peer" --ssl-native --openssl "$wrap"
[ -n "$portal" ] && run portal "$portal"

python3 - "$OUT" <<'PY'
import json, os, sys, collections
out = sys.argv[1]
bad = 0
lines = []
for name in ("api", "peer", "portal"):
    p = os.path.join(out, name + ".json")
    if not os.path.exists(p):
        continue
    try:
        items = json.load(open(p))
    except ValueError:
        lines.append(f"{name}: no JSON report (see {name}.txt)")
        bad += 1
        continue
    sev = collections.Counter(i.get("severity", "?") for i in items)
    # Not applicable here, and listed as such: revocation by CRL/OCSP.  The
    # peer port pins each member's exact certificate from the genesis
    # (revocation is a membership change); the devnet's private CA has no
    # revocation service, and production API certificates come from the
    # operator's own CA.
    na = {"cert_revocation"}
    high = [i for i in items if i.get("severity") in ("HIGH", "CRITICAL") and i["id"] not in na]
    skipped = [i for i in items if i.get("severity") in ("HIGH", "CRITICAL") and i["id"] in na]
    proto = {i["id"]: i["finding"] for i in items if i["id"] in ("SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2", "TLS1_3")}
    lines.append(f"{name}: " + ", ".join(f"{k} {v}" for k, v in sorted(sev.items())) +
                 "; protocols: " + "; ".join(f"{k} {v}" for k, v in proto.items()))
    for i in skipped:
        lines.append(f"  not applicable ({i['severity']}): {i['id']}: {i['finding']}")
    for i in items:
        if i.get("severity") in ("LOW", "MEDIUM"):
            lines.append(f"  {i['severity']}: {i['id']}: {i['finding']}")
    for i in high:
        lines.append(f"  {i['severity']}: {i['id']}: {i['finding']}")
    bad += len(high)
text = "\n".join(lines) + f"\nhigh or critical findings: {bad}\n"
open(os.path.join(out, "summary.txt"), "w").write(text)
print(text, end="")
sys.exit(1 if bad else 0)
PY
