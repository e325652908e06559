#!/bin/bash
# profile.sh BUILD_DIR [OUT_DIR] -- where xmuxd's CPU goes while it routes
# c2s messages (bench/c2s, u1 -> u2, window 1000, one thread): perf with
# call graphs (sampled cycles) and valgrind's callgrind (instructions,
# exact), each printing its top functions by self cost. The raw profiles
# stay in OUT_DIR when given (perf.data, callgrind.out), else in a
# temporary directory that is removed. docs/performance.md ("Where a
# stanza's time goes") records what this printed.
set -u
if [ $# -lt 1 ] || [ ! -d "$1" ]; then
    echo "usage: $0 BUILD_DIR [OUT_DIR]" >&2
    exit 2
fi
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
for t in perf valgrind callgrind_annotate; do
    command -v "$t" >/dev/null || { echo "profile.sh: $t is not installed" >&2; exit 1; }
done
if [ $# -ge 2 ]; then
    out=$2
    mkdir -p "$out"
    keep=1
else
    out=$(mktemp -d /tmp/xmux-profile.XXXXXX)
    keep=0
fi
out=$(cd "$out" && pwd)
[ $keep = 1 ] || trap 'rm -rf "$out"' EXIT

echo "== perf: 1 000 000 messages, window 1000"
XMUXD_WRAP="perf record -q -F 4999 -g -o $out/perf.data --" \
    C2S_SERVERS=xmuxd C2S_TESTS=messages C2S_WINDOWS=1000 C2S_MSG_SECS=10 \
    XMUXD_THREADS=1 BENCH_RESULTS=$out/results "$here/c2s/run.sh" "$build" |
    grep '^   server=' | cut -c1-160
perf report -i "$out/perf.data" --no-children --sort dso,symbol \
    --percent-limit 1 --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -30

echo "== callgrind: 20 000 messages, window 100"
XMUXD_WRAP="valgrind -q --tool=callgrind --callgrind-out-file=$out/callgrind.out" \
    C2S_SERVERS=xmuxd C2S_TESTS=messages C2S_WINDOWS=100 C2S_MSG_SECS=60 \
    C2S_MSG_COUNT=20000 XMUXD_THREADS=1 BENCH_RESULTS=$out/results \
    "$here/c2s/run.sh" "$build" | grep '^   server=' | cut -c1-160
callgrind_annotate --inclusive=no "$out"/callgrind.out* 2>/dev/null |
    sed -n '/^Ir/,$p' | grep -E '^ *[0-9,]+ ' | head -30
