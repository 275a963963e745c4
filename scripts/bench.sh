#!/bin/bash
# `make bench [QUICK=1]`: runs the benchmarks that exist and writes
# build/bench/*.json.  Later parts (throughput, overhead, plots) join here.
set -eu
cd "$(dirname "$0")/.."
quick=${1:-0}
out=build/bench
mkdir -p $out
secs=2
[ "$quick" = 1 ] && secs=0.5
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
build/bsec bench sizes | tee $out/sizes.txt
build/bsec bench sizes --json >$out/sizes.json
build/bsec bench verify --seconds $secs | tee $out/verify.txt
build/bsec bench verify --seconds $secs --json >$out/verify.json
