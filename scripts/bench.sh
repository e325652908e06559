#!/bin/sh
# bench.sh BUILD_DIR -- run the benchmarks built in BUILD_DIR.
set -eu
build=$1
echo "== bench/xml: our reader + stanza trees vs bare expat"
"$build/bench/bench_xml"
echo "== bench/c2s: xmuxd vs Prosody, client logins, messages, latency, idle memory"
"$(dirname "$0")/../bench/c2s/run.sh" "$build"
echo "== bench/s2s: xmuxd, Prosody and ejabberd pairs, messages over s2s"
"$(dirname "$0")/../bench/s2s/run.sh" "$build"
echo "== bench/soak: two xmuxd, mixed c2s and s2s traffic, churn and s2s resets, ${SOAK_SECONDS:-60} s"
"$(dirname "$0")/../bench/soak/run.sh" "$build" "${SOAK_SECONDS:-60}"
