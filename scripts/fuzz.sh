#!/bin/sh
# fuzz.sh BUILD_DIR SECONDS -- run every libFuzzer target for SECONDS each,
# growing a working corpus under BUILD_DIR (the seeds in git stay as they
# are); crashes are written to BUILD_DIR/fuzz-artifacts/.
set -eu
build=$1
secs=${2:-60}
src=$(cd "$(dirname "$0")/.." && pwd)
art="$build/fuzz-artifacts"
mkdir -p "$art"
status=0
for bin in "$build"/tests/fuzz/fuzz_*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin")
    target=${name#fuzz_}
    work="$build/fuzz-corpus/$target"
    mkdir -p "$work"
    echo "== $name: ${secs}s"
    if ! "$bin" -max_total_time="$secs" -max_len=8192 \
        -dict="$src/tests/fuzz/xmpp.dict" -artifact_prefix="$art/$name-" \
        -print_final_stats=1 "$work" "$src/tests/fuzz/corpus/$target" \
        2>"$build/$name.log"; then
        echo "!! $name found a problem: see $build/$name.log and $art"
        status=1
    fi
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)|cov:' \
        "$build/$name.log" | tail -4
done
exit $status
