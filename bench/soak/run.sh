#!/bin/sh
# run.sh BUILD_DIR [SECONDS] -- soak test: two federated xmuxd under mixed
# c2s and s2s traffic with client churn and s2s resets for SECONDS
# (default 60); see docs/soak.md. The samples go to BUILD_DIR/soak.csv.
# Extra options for bench/soak/soak.py may follow (e.g. --clients 32).
# Exit status: 0 when nothing was lost and RSS and fds stayed flat.
set -eu
if [ $# -lt 1 ] || [ ! -d "$1" ]; then
    echo "usage: $0 BUILD_DIR [SECONDS] [soak.py options]" >&2
    exit 2
fi
build=$(cd "$1" && pwd)
seconds=${2:-60}
[ $# -ge 2 ] && shift 2 || shift 1
for f in "$build/xmuxd" "$build/xmuxctl"; do
    if [ ! -x "$f" ]; then
        echo "run.sh: $f is missing: build the targets xmuxd and xmuxctl" >&2
        exit 1
    fi
done
# Each client holds a socket, each server one per session and stream.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec /usr/bin/python3 "$(dirname "$0")/soak.py" --build "$build" \
    --seconds "$seconds" --csv "$build/soak.csv" "$@"
