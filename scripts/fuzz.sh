#!/bin/bash
# Runs every libFuzzer harness for SECONDS each (default 300) on a copy of
# its seed corpus and prints executions, coverage and crashes per harness.
set -u
cd "$(dirname "$0")/.."
secs=${1:-300}
status=0
for f in build/fuzz/fuzz_*; do
	name=$(basename "$f" | sed 's/^fuzz_//')
	work=build/fuzz-corpus/$name
	mkdir -p "$work"
	[ -d fuzz/corpus/$name ] && cp -rn fuzz/corpus/$name/. "$work/"
	log=build/fuzz-$name.log
	dict=; [ -f fuzz/fuzz_$name.dict ] && dict=-dict=$PWD/fuzz/fuzz_$name.dict
	(cd build && "../$f" -max_total_time="$secs" -rss_limit_mb=2048 $dict -print_final_stats=1 \
		"fuzz-corpus/$name" >"../$log" 2>&1)
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -1)
	crashes=$(ls build/crash-* 2>/dev/null | wc -l)
	printf '%-10s %ss  executions=%s  %s  exit=%s\n' "$name" "$secs" "${execs:-?}" "${cov:-cov: ?}" "$rc"
	[ $rc = 0 ] || status=1
done
exit $status
