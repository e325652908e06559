#!/bin/bash
# run.sh BUILD_DIR -- xmuxd and Prosody side by side on client connections:
# logins/s, message rate, latency and memory per idle TLS session, measured
# in one run on loopback, printed as a table with the ratio xmuxd/Prosody.
#
# xmuxd listens on 127.0.0.2:5222, Prosody on 127.0.0.3:5222; both require
# STARTTLS, use self-signed ECDSA P-256 certificates and store SCRAM keys
# (4096 iterations) for the same accounts u1..uN@bench.example. Everything
# runs in a temporary directory that is removed at the end.
#
# Environment: C2S_IDLE (idle sessions, default 2000), C2S_LOGIN_SECS
# (default 8), C2S_MSG_SECS (default 6), C2S_PARALLEL (default 20).
set -u

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi
build=$(cd "$1" && pwd)
load=$build/bench/c2s_load
xmuxd=$build/xmuxd
xmuxctl=$build/xmuxctl
for f in "$load" "$xmuxd" "$xmuxctl"; do
    if [ ! -x "$f" ]; then
        echo "run.sh: $f is missing: build the targets xmuxd, xmuxctl and c2s_load" >&2
        exit 1
    fi
done

n_idle=${C2S_IDLE:-2000}
login_secs=${C2S_LOGIN_SECS:-8}
msg_secs=${C2S_MSG_SECS:-6}
parallel=${C2S_PARALLEL:-20}
domain=bench.example
password=benchpw
xaddr=127.0.0.2
paddr=127.0.0.3
port=5222

# tmpfs when there is one: account creation then waits for no disk.
base=/tmp
[ -d /dev/shm ] && [ -w /dev/shm ] && base=/dev/shm
tmp=$(mktemp -d "$base/xmux-c2s.XXXXXX") || exit 1
results=$tmp/results
: >"$results"
xpid=
ppid_=
loadpid=

stop_pid() {
    local pid=$1
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
}

cleanup() {
    stop_pid "$loadpid"
    stop_pid "$xpid"
    stop_pid "$ppid_"
    xpid=
    ppid_=
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 2000 sessions on each server plus the generator's own sockets.
ulimit -n "$(ulimit -Hn)" 2>/dev/null
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((n_idle + 200)) ]; then
    echo "run.sh: open-file limit $(ulimit -n) is too low for $n_idle sessions" >&2
    exit 1
fi

listening() {
    ss -Htln "sport = :$port" 2>/dev/null | grep -q "$1:$port"
}

wait_listen() { # ADDR PID
    for _ in $(seq 100); do
        listening "$1" && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# ---- accounts and servers ------------------------------------------------

# xmuxd started as root needs the user key (docs/security.md): the
# benchmark keeps root, as it always did.
run_as() { [ "$(id -u)" = 0 ] && echo 'user = "root";' || true; }

setup_xmuxd() {
    mkdir -p "$tmp/xmuxd"
    cat >"$tmp/xmuxd/xmux.conf" <<EOF
state_dir = "$tmp/xmuxd/state";
log_level = "warn";
listen = ( { kind = "c2s"; address = "$xaddr"; port = $port; } );
hosts = ( { domain = "$domain"; } );
# Every session comes from the load generator's one address, at full
# speed: no per-address limit and no c2s byte rate (docs/limits.md).
limits = { max_connections = 20000; connections_per_ip = 0; c2s_rate = 0; };
$(run_as)
EOF
    # The first alone (it creates the database), then two at a time (each
    # xmuxctl derives SCRAM-SHA-1 and -256 keys), retrying a busy database.
    local add="for t in 1 2 3; do echo $password | '$xmuxctl' --config \
'$tmp/xmuxd/xmux.conf' user add u\$0@$domain >/dev/null \
2>>'$tmp/xmuxd/ctl.err' && exit 0; \
sleep 0.2; done; exit 1"
    sh -c "$add" 1 || return 1
    seq 2 "$n_idle" | xargs -P 2 -n 1 sh -c "$add" || return 1
}

start_xmuxd() {
    if listening "$xaddr"; then
        echo "run.sh: $xaddr:$port is already in use" >&2
        return 1
    fi
    "$xmuxd" --config "$tmp/xmuxd/xmux.conf" 2>>"$tmp/xmuxd/log" &
    xpid=$!
    wait_listen "$xaddr" "$xpid"
}

setup_prosody() {
    local d=$tmp/prosody
    mkdir -p "$d/data" "$d/certs"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -days 7 -subj "/CN=$domain" -addext "subjectAltName=DNS:$domain" \
        -keyout "$d/$domain.key" -out "$d/$domain.crt" 2>/dev/null || return 1
    # nagle = false: with Prosody's default (Nagle on) replies wait for
    # delayed ACKs, and small windows measure 40 ms stalls, not Prosody.
    cat >"$d/prosody.cfg.lua" <<EOF
run_as_root = true
daemonize = false
pidfile = "$d/prosody.pid"
data_path = "$d/data"
certificates = "$d/certs"
interfaces = { "$paddr" }
c2s_ports = { $port }
c2s_direct_tls_ports = { }
s2s_ports = { }
http_ports = { }
https_ports = { }
modules_enabled = { "roster"; "saslauth"; "tls"; "disco"; }
modules_disabled = { "s2s"; }
authentication = "internal_hashed"
default_iteration_count = 4096
c2s_require_encryption = true
allow_registration = false
network_settings = { nagle = false }
log = { warn = "$d/prosody.log" }
VirtualHost "$domain"
    ssl = { certificate = "$d/$domain.crt"; key = "$d/$domain.key"; }
EOF
    # The accounts the login workers use get their own salts; the idle
    # sessions' accounts are copies (prosodyctl takes ~60 ms per call).
    local i acc=$d/data/${domain//./%2e}/accounts
    for i in $(seq 1 "$parallel"); do
        prosodyctl --config "$d/prosody.cfg.lua" register "u$i" "$domain" \
            "$password" >/dev/null 2>&1 || return 1
    done
    [ -f "$acc/u1.dat" ] || return 1
    for i in $(seq $((parallel + 1)) "$n_idle"); do
        cp "$acc/u1.dat" "$acc/u$i.dat" || return 1
    done
}

start_prosody() {
    local d=$tmp/prosody
    if listening "$paddr"; then
        echo "run.sh: $paddr:$port is already in use" >&2
        return 1
    fi
    prosody --config "$d/prosody.cfg.lua" -F >>"$d/out" 2>&1 &
    ppid_=$!
    wait_listen "$paddr" "$ppid_"
}

restart_servers() {
    stop_pid "$xpid"
    xpid=
    if ! start_xmuxd; then
        echo "run.sh: xmuxd did not restart" >&2
        exit 1
    fi
    if [ "$prosody_ok" = 1 ]; then
        stop_pid "$ppid_"
        ppid_=
        start_prosody || echo "!! Prosody did not restart: xmuxd only from here"
    fi
}

# ---- measurements -------------------------------------------------------

run_load() { # SERVER MODE [ARGS...]
    local who=$1 mode=$2 addr pid
    shift 2
    if [ "$who" = xmuxd ]; then
        addr=$xaddr pid=$xpid
    else
        addr=$paddr pid=$ppid_
    fi
    [ -n "$pid" ] || return 0
    # In the background, so that a signal to this script is handled now
    # (bash runs traps only between commands, and wait is interruptible).
    timeout 180 "$load" "$mode" --host "$addr" --port "$port" \
        --domain "$domain" --password "$password" --pid "$pid" \
        --label "$who" "$@" >"$tmp/out" 2>"$tmp/err" &
    loadpid=$!
    wait "$loadpid"
    local rc=$?
    loadpid=
    grep '^result ' "$tmp/out" | tee -a "$results"
    if [ $rc -ne 0 ]; then
        echo "  ($who $mode: c2s_load exit status $rc; $(head -c 300 "$tmp/err"))"
    fi
}

both() { # MODE [ARGS...]
    run_load xmuxd "$@"
    run_load prosody "$@"
}

# ---- the table ------------------------------------------------------------

val() { # SERVER MODE SELECTOR KEY
    awk -v s="server=$1" -v m="mode=$2" -v f="$3" -v k="$4" '
        { hs = hm = 0
          hf = (f == "")
          for (i = 2; i <= NF; i++) {
              if ($i == s) hs = 1
              if ($i == m) hm = 1
              if ($i == f) hf = 1
          }
          if (hs && hm && hf)
              for (i = 2; i <= NF; i++) {
                  split($i, kv, "=")
                  if (kv[1] == k) v = kv[2]
              } }
        END { print (v == "" ? "n/a" : v) }' "$results"
}

row() { # LABEL MODE SELECTOR KEY
    local x p
    x=$(val xmuxd "$2" "$3" "$4")
    p=$(val prosody "$2" "$3" "$4")
    awk -v l="$1" -v x="$x" -v p="$p" 'BEGIN {
        r = "n/a"
        if (x != "n/a" && p != "n/a" && p + 0 > 0)
            r = sprintf("%.2f", x / p)
        printf "| %-40s | %10s | %10s | %8s |\n", l, x, p, r }'
}

table() {
    printf "| %-40s | %10s | %10s | %8s |\n" "" xmuxd Prosody ratio
    printf "| %-40s | %10s | %10s | %8s |\n" "---" "---:" "---:" "---:"
    row "logins/s, PLAIN, $parallel parallel" logins mech=PLAIN logins_per_s
    row "logins/s, SCRAM-SHA-1, $parallel parallel" logins mech=SCRAM-SHA-1 logins_per_s
    row "server CPU ms per login, PLAIN" logins mech=PLAIN cpu_ms_per_login
    row "server CPU ms per login, SCRAM-SHA-1" logins mech=SCRAM-SHA-1 cpu_ms_per_login
    row "msgs/s, window 1000" messages window=1000 msgs_per_s
    row "msgs/s, window 100" messages window=100 msgs_per_s
    row "server CPU s per 1000 msgs, window 1000" messages window=1000 cpu_s_per_1000
    row "server CPU s per 1000 msgs, window 100" messages window=100 cpu_s_per_1000
    row "latency median ms (window 1)" latency window=1 median_ms
    row "latency p99 ms (window 1)" latency window=1 p99_ms
    row "RSS KiB per idle TLS session ($n_idle)" idle "" kib_per_session
    row "generator CPU ms per login, PLAIN" logins mech=PLAIN gen_cpu_ms_per_login
    row "generator CPU s per 1000 msgs, window 1000" messages window=1000 gen_cpu_s_per_1000
}

verdict() {
    local r1 r2 kib
    r1=$(row x messages window=1000 msgs_per_s | awk -F'|' '{ gsub(/ /, "", $5); print $5 }')
    r2=$(row x messages window=100 msgs_per_s | awk -F'|' '{ gsub(/ /, "", $5); print $5 }')
    kib=$(val xmuxd idle "" kib_per_session)
    awk -v r1="$r1" -v r2="$r2" -v kib="$kib" 'BEGIN {
        if (r1 == "n/a")
            print "target msgs/s >= 10x Prosody: n/a (no Prosody figure)"
        else
            printf "target msgs/s >= 10x Prosody: %s (window 1000: %sx, window 100: %sx)\n", (r1 + 0 >= 10 && r2 + 0 >= 10 ? "met" : "NOT met"), r1, r2
        k = (kib == "n/a") ? "n/a" : (kib + 0 <= 24 ? "met" : "NOT met")
        printf "target <= 24 KiB per idle TLS session: %s (%s KiB)\n", k, kib }'
}

# ---- main -------------------------------------------------------------------

t_start=$(date +%s)
echo "== bench/c2s: xmuxd ($xaddr) vs Prosody ($paddr), $(date -u '+%Y-%m-%d %H:%M UTC')"
if pgrep -f '/usr/bin/prosody' >/dev/null 2>&1; then
    echo "note: another Prosody is running (pids $(pgrep -d, -f /usr/bin/prosody)); it competes for CPU" >&2
fi

echo "-- creating $n_idle accounts on each server"
if ! setup_xmuxd || ! start_xmuxd; then
    echo "run.sh: xmuxd could not be set up or started:" >&2
    tail -n 5 "$tmp/xmuxd/ctl.err" "$tmp/xmuxd/log" >&2 2>/dev/null
    exit 1
fi
prosody_ok=1
if ! command -v prosody >/dev/null 2>&1; then
    echo "!! Prosody is not installed: measuring xmuxd only"
    prosody_ok=0
elif ! setup_prosody || ! start_prosody; then
    echo "!! PROSODY COULD NOT BE STARTED: measuring xmuxd only"
    tail -n 5 "$tmp/prosody/out" "$tmp/prosody/prosody.log" 2>/dev/null
    stop_pid "$ppid_"
    ppid_=
    prosody_ok=0
fi
echo "   xmuxd pid $xpid${ppid_:+, Prosody pid $ppid_} ($(($(date +%s) - t_start)) s)"

# Idle sessions first, on fresh servers: freed memory from earlier modes
# would otherwise be reused and hide part of the cost.
echo "-- idle: $n_idle TLS sessions logged in and bound"
both idle --count "$n_idle" --parallel 8 --first 1
# Then fresh servers again: after 2000 sessions Prosody's heap stays
# ~100 MB and each message costs it about 4 times as much CPU.
restart_servers
echo "-- messages: u1 -> u2, ~100-byte bodies, ${msg_secs} s"
both messages --window 1000 --duration "$msg_secs"
both messages --window 100 --duration "$msg_secs"
echo "-- latency: one message in flight, 2000 messages"
both latency --count 2000
echo "-- logins: connect, STARTTLS, SASL, bind, close; $parallel in parallel, ${login_secs} s"
both logins --mech PLAIN --parallel "$parallel" --duration "$login_secs"
both logins --mech SCRAM-SHA-1 --parallel "$parallel" --duration "$login_secs"

echo
table
echo
verdict
[ $prosody_ok = 1 ] || echo "(Prosody could not be started: no ratios)"
for f in "$tmp/xmuxd/log" "$tmp/prosody/prosody.log"; do
    # Expected: xmuxd's new certificate, Prosody's SIGTERM at the restart.
    if [ -s "$f" ] && grep -qvE 'certificate-created|Received SIGTERM' "$f"; then
        echo "-- warnings logged by ${f#"$tmp/"}:"
        grep -vE 'certificate-created|Received SIGTERM' "$f" | head -n 5
    fi
done
echo "run time: $(($(date +%s) - t_start)) s"
