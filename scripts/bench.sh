#!/bin/bash
# bench.sh BUILD_DIR -- the benchmark suite (`make bench`): xmuxd, Prosody
# and ejabberd on loopback, driven by the same load generator
# (bench/c2s/c2s_load.c) in one run, then one table with the ratios
# xmuxd / each peer, the targets, and docs/performance.md regenerated
# (table and PNG plots between its bench markers, raw results in
# docs/bench-results.txt). Must run as root.
#
# Parts, each also runnable alone (see its header):
#   bench/xml/bench_xml     our XML reader vs bare expat (printed only)
#   bench/c2s/run.sh        logins/s, c2s messages and latency, RSS per idle
#                           TLS session at 10 000 sessions (and on the way)
#   bench/s2s/run.sh        s2s messages/s by window, latency, CPU
#   bench/conns/run.sh      s2s TCP connections for N×N domains
#   xmuxd threads           c2s and s2s window 1000 with threads = 1 and 2,
#                           when xmuxd's configuration has the key
#   poll_spin               s2s unloaded latency with xmuxd's poll_spin = 200
#   bench/c2s/many.sh       100 000 concurrent TLS sessions on one xmuxd (or
#                           as many as RLIMIT_NOFILE allows: it says so);
#                           MANY_SESSIONS=0 skips it
#   bench/soak/run.sh       after the suite, SOAK_SECONDS (default 60; 0
#                           skips it)
#
# Environment: BENCH_DOCS (the file to regenerate, default
# docs/performance.md of this tree; "none": write nothing), SOAK_SECONDS,
# and those of the parts (C2S_*, S2S_*, CONNS_*, BENCH_NET).
set -u
if [ $# -ne 1 ] || [ ! -d "$1" ]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi
if [ "$(id -u)" != 0 ]; then
    echo "bench.sh: must run as root (dnsmasq on port 53, ejabberd as its own user)" >&2
    exit 1
fi
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$1" && pwd)
docs=${BENCH_DOCS:-$root/docs/performance.md}
soak=${SOAK_SECONDS:-60}
# shellcheck source=../bench/lib.sh
. "$root/bench/lib.sh"
bench_mktemp xmux-bench || exit 1
results=$tmp/results
export BENCH_RESULTS=$tmp/bench-results.txt
: >"$BENCH_RESULTS"
cleanup() {
    hosts_block_remove
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t_start=$(date +%s)
step() { echo; echo "=== [$(($(date +%s) - t_start)) s] $*"; }
meta() { echo "# $1: $2" >>"$BENCH_RESULTS"; }

version_of() { # PACKAGE
    dpkg-query -W -f '${Version}' "$1" 2>/dev/null || echo "not installed"
}

meta date "$(date -u '+%Y-%m-%d %H:%M UTC')"
meta nproc "$(nproc)"
meta cpu "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
meta memory "$(awk '/^MemTotal:/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
meta kernel "$(uname -r)"
meta "load before" "$(cut -d ' ' -f 1-3 /proc/loadavg)"
meta xmuxd "$("$build/xmuxd" --version 2>/dev/null | awk '{ print $2 }')"
meta build "$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt" 2>/dev/null)"
cc=$(sed -n 's/^CMAKE_C_COMPILER:FILEPATH=//p' "$build/CMakeCache.txt" 2>/dev/null)
meta compiler "$("${cc:-cc}" --version 2>/dev/null | head -n 1)"
meta openssl "$(openssl version | awk '{ print $2 }')"
meta prosody "$(version_of prosody)"
meta ejabberd "$(version_of ejabberd)"

step "bench/xml: our reader + stanza trees vs bare expat"
"$build/bench/bench_xml"

step "bench/c2s: xmuxd, Prosody, ejabberd: logins, messages, latency, idle TLS sessions"
"$root/bench/c2s/run.sh" "$build"

step "bench/s2s: xmuxd, Prosody and ejabberd pairs, messages over s2s"
"$root/bench/s2s/run.sh" "$build"

step "bench/conns: s2s TCP connections for 2×2, 10×10, 20×20 domains"
"$root/bench/conns/run.sh" "$build"

step "xmuxd threads: 1 vs 2"
mkdir -p "$tmp/threads"
cat >"$tmp/threads/x.conf" <<EOF
state_dir = "$tmp/threads/state";
threads = 2;
listen = ( { kind = "c2s"; address = "$bench_net.2"; port = $c2s_port; } );
hosts = ( { domain = "bench.example"; } );
$(xmuxd_run_as)
EOF
if "$build/xmuxd" --config "$tmp/threads/x.conf" --check-config \
    >"$tmp/threads/check" 2>&1; then
    echo "result suite=threads supported=1" >>"$BENCH_RESULTS"
    for n in 1 2; do
        echo "-- threads = $n"
        XMUXD_THREADS=$n BENCH_SUITE=threads-c2s C2S_SERVERS=xmuxd \
            C2S_TESTS=messages C2S_WINDOWS=1000 \
            "$root/bench/c2s/run.sh" "$build" | grep -E 'mode=|!!'
        XMUXD_THREADS=$n BENCH_SUITE=threads-s2s S2S_PAIRS=xmuxd \
            S2S_TESTS=w1000 "$root/bench/s2s/run.sh" "$build" |
            grep -E 'mode=|FAILED'
    done
else
    echo "result suite=threads supported=0" >>"$BENCH_RESULTS"
    echo "   n/a: xmuxd has no threads key ($(tail -n 1 "$tmp/threads/check"))"
fi

step "xmuxd with poll_spin = 200: unloaded s2s latency"
XMUXD_EXTRA="poll_spin = 200;" BENCH_SUITE=spin-s2s S2S_PAIRS=xmuxd \
    S2S_TESTS=latency "$root/bench/s2s/run.sh" "$build" | grep -E 'mode=|FAILED'

many=${MANY_SESSIONS:-100000}
if [ "$many" != 0 ]; then
    step "bench/c2s/many.sh: $many concurrent TLS sessions on one xmuxd"
    "$root/bench/c2s/many.sh" "$build" "$many" | tee -a "$BENCH_RESULTS"
fi

meta "load after" "$(cut -d ' ' -f 1-3 /proc/loadavg)"
meta "run time" "$(($(date +%s) - t_start)) s"
step "results"
if [ "$docs" = none ]; then
    /usr/bin/python3 "$root/bench/report.py" "$BENCH_RESULTS"
else
    /usr/bin/python3 "$root/bench/report.py" --docs "$docs" \
        --img "$(dirname "$docs")/img" "$BENCH_RESULTS"
    cp "$BENCH_RESULTS" "$(dirname "$docs")/bench-results.txt"
    echo "raw results: $(dirname "$docs")/bench-results.txt"
fi
echo "suite run time: $(($(date +%s) - t_start)) s"

if [ "$soak" != 0 ]; then
    step "bench/soak: two xmuxd, mixed c2s and s2s traffic, churn and s2s resets, $soak s"
    "$root/bench/soak/run.sh" "$build" "$soak"
fi
