#!/bin/sh
# `make demo`: a local 4-provider consortium with one orchestrator per
# domain, running the whole scenario (see `bsec demo`), then staying up
# until Ctrl-C.  As root with iproute2 and nftables (installed by
# scripts/deps.sh) the data plane is real: network namespaces, veth links
# and nftables firewalls; otherwise a clearly labelled simulation.
set -eu
cd "$(dirname "$0")/.."
exec build/bsec demo "$@"
