#!/bin/bash
# many.sh BUILD_DIR [SESSIONS] -- hold SESSIONS (default 100000) logged-in
# TLS client sessions against one xmuxd and report its memory, the time to
# establish them and the latency of messages sent beside them.
#
# xmuxd listens on 127.0.7.1:5222 (STARTTLS required, self-signed
# certificate, SCRAM keys stored as by xmuxctl). The sessions come from
# bench/c2s_hold, which logs in to SESSIONS/100 accounts m1..mA@many.example
# with 100 resources each (xmuxd allows 128 per account), from source
# addresses 127.0.8.1.. (one per 20 000 sessions, each has ~28 000
# ephemeral ports). Once all are bound it measures the latency of
# MANY_LAT_COUNT messages, one at a time, between two more sessions.
#
# Output: the progress on stderr, then one line on stdout:
#   result suite=c2s-many sessions=N requested=N establish_s=S rss_kib=K
#     kib_per_session=K lat_median_ms=M lat_p99_ms=M gen_cpu_s=S ...
# (status=skipped reason=... instead when it cannot run at all).
#
# Environment:
#   MANY_MECH       SCRAM-SHA-1 (default: the client keeps SaltedPassword
#                   per account, as real clients do, so a login costs the
#                   server a few HMACs) or PLAIN (a PBKDF2 of 4096
#                   iterations on the server per login: ~3x slower)
#   MANY_LAT_COUNT  latency messages (default 2000)
#   MANY_THREADS    generator threads (default 2)
#   MANY_INFLIGHT   logins in flight per generator thread (default 64)
#   MANY_HOLD       seconds to keep the sessions after measuring (default 0)
set -u

if [ $# -lt 1 ] || [ $# -gt 2 ] || [ ! -d "$1" ]; then
    echo "usage: $0 BUILD_DIR [SESSIONS]" >&2
    exit 2
fi
build=$(cd "$1" && pwd)
requested=${2:-100000}
xmuxd=$build/xmuxd
xmuxctl=$build/xmuxctl
hold=$build/bench/c2s_hold
for f in "$xmuxd" "$xmuxctl" "$hold"; do
    if [ ! -x "$f" ]; then
        echo "many.sh: $f is missing: build the targets xmuxd, xmuxctl and c2s_hold" >&2
        exit 1
    fi
done
case $requested in
'' | *[!0-9]*)
    echo "many.sh: SESSIONS must be a number" >&2
    exit 2
    ;;
esac

mech=${MANY_MECH:-SCRAM-SHA-1}
lat_count=${MANY_LAT_COUNT:-2000}
threads=${MANY_THREADS:-2}
inflight=${MANY_INFLIGHT:-64}
hold_s=${MANY_HOLD:-0}
domain=many.example
password=manypw
addr=127.0.7.1
src=127.0.8.1
port=5222
per_account=100

skip() {
    echo "result suite=c2s-many status=skipped requested=$requested reason=$1"
    exit 0
}

# ---- descriptors ------------------------------------------------------------
# xmuxd needs one per session plus its own (fd_reserve, 32); the generator
# one per session plus a few. Raise the soft limit to the hard one, and the
# hard one if we may (CAP_SYS_RESOURCE; fs.nr_open bounds it).
need=$((requested + 300))
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$need" ]; then
    nr_open=$(cat /proc/sys/fs/nr_open 2>/dev/null || echo 0)
    if [ "$nr_open" -lt "$need" ] && [ "$(id -u)" = 0 ]; then
        sysctl -qw fs.nr_open="$need" 2>/dev/null
    fi
    ulimit -Hn "$need" 2>/dev/null
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null
nofile=$(ulimit -n)
sessions=$requested
capped=
if [ "$nofile" != unlimited ] && [ "$nofile" -lt "$need" ]; then
    # xmuxd caps its connections at RLIMIT_NOFILE - fd_reserve.
    sessions=$((nofile - 300))
    capped=nofile
    echo "many.sh: RLIMIT_NOFILE is $nofile and cannot be raised here" \
        "(no CAP_SYS_RESOURCE?): $sessions sessions instead of $requested" >&2
    [ "$sessions" -ge 1000 ] || skip "nofile=$nofile"
fi
file_max=$(cat /proc/sys/fs/file-max 2>/dev/null || echo 0)
if [ "$file_max" -lt $((2 * sessions + 10000)) ]; then
    sysctl -qw fs.file-max=$((2 * sessions + 10000)) 2>/dev/null ||
        echo "many.sh: fs.file-max $file_max may be too low" >&2
fi
accounts=$(((sessions + per_account - 1) / per_account))
nsrc=$((sessions / 20000 + 1))

# ---- set-up -------------------------------------------------------------------
# bench_mktemp and stop_pid (its loopback choice is not used here: this
# script has its own addresses, 127.0.7.1 and 127.0.8.x).
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh" >/dev/null
bench_mktemp xmux-many || exit 1
xpid=
hpid=
cleanup() {
    stop_pid "$hpid"
    stop_pid "$xpid"
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

listening() {
    ss -Htln "sport = :$port" 2>/dev/null | grep -q "$addr:$port"
}
if listening; then
    skip "address-in-use=$addr:$port"
fi

run_as() { [ "$(id -u)" = 0 ] && echo 'user = "root";' || true; }
cat >"$tmp/xmux.conf" <<EOF
state_dir = "$tmp/state";
log_level = "warn";
listen = ( { kind = "c2s"; address = "$addr"; port = $port; } );
hosts = ( { domain = "$domain"; } );
# All sessions come from a few loopback addresses at full speed: no
# per-address limit and no byte rate (docs/limits.md).
limits = { max_connections = $((sessions + 100)); connections_per_ip = 0;
           c2s_rate = 0; };
$(run_as)
EOF

t0=$(date +%s)
echo "many.sh: creating $accounts accounts" >&2
# The first alone (it creates the database), then two at a time; each
# derives SCRAM-SHA-1 and -256 keys. A busy database is retried.
add="for t in 1 2 3 4 5; do echo $password | '$xmuxctl' --config \
'$tmp/xmux.conf' user add m\$0@$domain >/dev/null 2>>'$tmp/ctl.err' \
&& exit 0; sleep 0.2; done; exit 1"
if ! sh -c "$add" 1 || ! seq 2 "$accounts" | xargs -P 2 -n 1 sh -c "$add"; then
    tail -n 3 "$tmp/ctl.err" >&2
    skip accounts-failed
fi
echo "many.sh: accounts created in $(($(date +%s) - t0)) s" >&2

"$xmuxd" --config "$tmp/xmux.conf" 2>>"$tmp/xmuxd.log" &
xpid=$!
for _ in $(seq 100); do
    listening && break
    kill -0 "$xpid" 2>/dev/null || break
    sleep 0.1
done
if ! listening; then
    tail -n 5 "$tmp/xmuxd.log" >&2
    skip xmuxd-did-not-start
fi

# ---- the run ------------------------------------------------------------------
echo "many.sh: $sessions sessions from $nsrc source addresses, $threads threads" >&2
"$hold" --sessions "$sessions" --accounts "$accounts" --prefix m \
    --domain "$domain" --password "$password" --host "$addr" --port "$port" \
    --src "$src" --nsrc "$nsrc" --threads "$threads" --inflight "$inflight" \
    --pid "$xpid" --lat-count "$lat_count" --hold "$hold_s" --mech "$mech" \
    >"$tmp/out" 2>"$tmp/err" &
hpid=$!
tail -f --pid="$hpid" "$tmp/err" >&2 &
wait "$hpid"
rc=$?
hpid=
line=$(grep '^result ' "$tmp/out")
if [ -z "$line" ]; then
    echo "many.sh: c2s_hold exit status $rc" >&2
    skip generator-failed
fi
echo "$line requested=$requested${capped:+ capped_by=$capped} nofile=$nofile"
if grep -qvE 'certificate-created|privileges|fd-budget' "$tmp/xmuxd.log"; then
    echo "many.sh: xmuxd logged:" >&2
    grep -vE 'certificate-created|privileges|fd-budget' "$tmp/xmuxd.log" |
        head -n 5 >&2
fi
exit $rc
