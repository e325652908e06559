#!/bin/bash
# run.sh BUILD_DIR -- xmuxd, Prosody and ejabberd side by side on client
# connections: memory per idle TLS session (and RSS as sessions grow),
# message rate, latency and logins/s, measured in one run on loopback.
# Prints the table of bench/report.py (ratios xmuxd / each peer).
#
# xmuxd listens on NET.2:5222, Prosody on NET.3, ejabberd on NET.4 (NET is
# $BENCH_NET, default 127.0.0). All three require STARTTLS, present the
# same ECDSA P-256 certificate for bench.example and store SCRAM keys
# (4096 iterations) for the accounts u1..uA@bench.example; idle session i
# logs in as u(1 + i % A) with resource idle<i> (xmuxd allows 128
# resources per account). Everything runs in a temporary directory that
# is removed at the end; a peer that is not installed or does not start
# is skipped and the run goes on.
#
# Environment:
#   C2S_SERVERS     servers to measure (default "xmuxd prosody ejabberd")
#   C2S_TESTS       tests to run (default "idle messages latency logins")
#   C2S_IDLE        idle sessions (default 10000)
#   C2S_STEPS       session counts at which RSS is sampled on the way
#                   (default 1000,2500,5000)
#   C2S_ACCOUNTS    accounts the idle sessions use (default 100)
#   C2S_WINDOWS     windows of the message-rate test (default "1000 100")
#   C2S_MSG_COUNT   messages per message-rate test at most (default: the
#                   generator's 1 000 000)
#   XMUXD_WRAP      command line put before xmuxd (bench/profile.sh: perf,
#                   valgrind)
#   C2S_PAIRS       sender/receiver pairs at once in the message-rate test
#                   (default 1; the threads comparison uses 4)
#   C2S_LOGIN_SECS  seconds per login test (default 8)
#   C2S_MSG_SECS    seconds per message-rate test (default 6)
#   C2S_PARALLEL    parallel login workers (default 20)
#   XMUXD_THREADS   when set, "threads = N;" in xmuxd's configuration and
#                   the label xmuxd-tN (bench/run.sh uses it)
#   BENCH_SUITE     suite name in the results (default c2s)
#   BENCH_NET, BENCH_RESULTS, BENCH_EJ_PORT: see bench/lib.sh
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh
. "$here/../lib.sh"
bench_build_dir "$0" "$@" || exit $?

servers=${C2S_SERVERS:-xmuxd prosody ejabberd}
tests=${C2S_TESTS:-idle messages latency logins}
n_idle=${C2S_IDLE:-10000}
steps=${C2S_STEPS:-1000,2500,5000}
accounts=${C2S_ACCOUNTS:-100}
windows=${C2S_WINDOWS:-1000 100}
login_secs=${C2S_LOGIN_SECS:-8}
msg_secs=${C2S_MSG_SECS:-6}
parallel=${C2S_PARALLEL:-20}
suite=${BENCH_SUITE:-c2s}
threads=${XMUXD_THREADS:-}
domain=bench.example
password=benchpw
[ "$accounts" -ge "$parallel" ] || accounts=$parallel

bench_mktemp xmux-c2s || exit 1
results=$tmp/results
: >"$results"
loadpid=
declare -A addr pid state label
addr[xmuxd]=$bench_net.2
addr[prosody]=$bench_net.3
addr[ejabberd]=$bench_net.4
label[xmuxd]=xmuxd${threads:+-t$threads}
label[prosody]=prosody
label[ejabberd]=ejabberd

bench_traps

# Sessions on each server plus the generator's own sockets.
ulimit -n "$(ulimit -Hn)" 2>/dev/null
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((n_idle + 200)) ]; then
    echo "run.sh: open-file limit $(ulimit -n) is too low for $n_idle sessions" >&2
    exit 1
fi

# ---- servers --------------------------------------------------------------

setup_xmuxd() {
    local d=$tmp/xmuxd
    mkdir -p "$d"
    cat >"$d/xmux.conf" <<EOF
state_dir = "$d/state";
log_level = "warn";
listen = ( { kind = "c2s"; address = "${addr[xmuxd]}"; port = $c2s_port; } );
hosts = ( { domain = "$domain"; cert = "$tmp/certs/c2s.crt"; key = "$tmp/certs/c2s.key"; } );
# Every session comes from the load generator's one address, at full
# speed: no per-address limit and no c2s byte rate (docs/limits.md).
limits = { max_connections = $((n_idle + 1000)); connections_per_ip = 0; c2s_rate = 0; };
${threads:+threads = $threads;}
$(xmuxd_run_as)
EOF
    if ! "$xmuxd" --check-config --config "$d/xmux.conf" >"$d/check" 2>&1; then
        echo "   xmuxd: $(tail -n 1 "$d/check")"
        return 1
    fi
    # The first alone (it creates the database), then two at a time (each
    # xmuxctl derives SCRAM-SHA-1 and -256 keys), retrying a busy database.
    local add="for t in 1 2 3; do echo $password | '$xmuxctl' --config \
'$d/xmux.conf' user add u\$0@$domain >/dev/null \
2>>'$d/ctl.err' && exit 0; \
sleep 0.2; done; exit 1"
    sh -c "$add" 1 || return 1
    seq 2 "$accounts" | xargs -P 2 -n 1 sh -c "$add" || return 1
}

start_xmuxd() {
    ports_free "${addr[xmuxd]}" || return 1
    # shellcheck disable=SC2086 # XMUXD_WRAP is a command line prefix
    ${XMUXD_WRAP:-} "$xmuxd" --config "$tmp/xmuxd/xmux.conf" 2>>"$tmp/xmuxd/log" &
    started=$!
    procs+=("$started")
    wait_listen "${addr[xmuxd]}" $c2s_port "$started"
}

setup_prosody() {
    local d=$tmp/prosody i
    prosody_check || return
    prosody_conf "$d" "${addr[prosody]}" "$tmp/certs/c2s.crt" \
        "$tmp/certs/c2s.key" "$tmp/certs/ca.crt" 0 "$domain"
    # The accounts the login workers use get their own salts; the others
    # are copies (prosodyctl takes ~60 ms per call).
    local acc=$d/data/${domain//./%2e}/accounts
    for i in $(seq 1 "$parallel"); do
        prosody_register "$d" "u$i" "$domain" || return 1
    done
    [ -f "$acc/u1.dat" ] || return 1
    for i in $(seq $((parallel + 1)) "$accounts"); do
        cp "$acc/u1.dat" "$acc/u$i.dat" || return 1
    done
}

start_prosody() {
    prosody_start "$tmp/prosody" "${addr[prosody]}" 0
}

ej_users_done=0
setup_ejabberd() {
    ejabberd_check || return
    ejabberd_conf c2s "${addr[ejabberd]}" "$ej_port_base" \
        "$tmp/certs/c2s.crt" "$tmp/certs/c2s.key" "$tmp/certs/ca.crt" 0 \
        "$domain"
}

# The accounts are imported once the node runs (they stay in its spool).
start_ejabberd() {
    ejabberd_start c2s "${addr[ejabberd]}" 0 || return 1
    if [ $ej_users_done = 0 ]; then
        ejabberd_users c2s "$(seq -f 'u%g' 1 "$accounts" | tr '\n' ' ')" \
            "$domain" || {
            echo "   ejabberd: account import failed: $(tail -n 2 "$tmp/ejabberd-c2s/ctl.out")"
            return 1
        }
        ej_users_done=1
    fi
}

# Sets up and starts every server, or marks it skipped/failed.
start_servers() {
    local who rc started
    for who in $servers; do
        skip_reason=
        started=
        if [ "${state[$who]:-}" = "" ]; then
            "setup_$who"
            rc=$?
            if [ $rc = 2 ]; then
                echo "!! $who SKIPPED: $skip_reason"
                state[$who]=skipped
                continue
            elif [ $rc != 0 ]; then
                echo "!! $who FAILED to set up: its column will read n/a"
                state[$who]=failed
                continue
            fi
        fi
        [ "${state[$who]:-}" = "" ] || [ "${state[$who]}" = ok ] || continue
        if "start_$who"; then
            pid[$who]=$started
            state[$who]=ok
        else
            echo "!! $who FAILED to start: its column will read n/a"
            tail -n 3 "$tmp/$who/log" "$tmp/$who/out" "$tmp/$who/prosody.log" \
                "$tmp/ejabberd-c2s/logs/ejabberd.log" 2>/dev/null | sed 's/^/   /'
            state[$who]=failed
        fi
    done
}

stop_servers() {
    stop_all
    local who
    for who in $servers; do
        pid[$who]=
    done
}

# ---- measurements -------------------------------------------------------

run_load() { # SERVER MODE [ARGS...]
    local who=$1 mode=$2
    shift 2
    [ "${state[$who]:-}" = ok ] || return 0
    # In the background, so that a signal to this script is handled now
    # (bash runs traps only between commands, and wait is interruptible).
    timeout 600 "$load" "$mode" --host "${addr[$who]}" --port $c2s_port \
        --domain "$domain" --password "$password" --pid "${pid[$who]}" \
        --label "${label[$who]}" "$@" >"$tmp/out" 2>"$tmp/err" &
    loadpid=$!
    wait "$loadpid"
    local rc=$?
    loadpid=
    results_take "$suite" "$tmp/out"
    if [ $rc -ne 0 ]; then
        echo "   (${label[$who]} $mode: c2s_load exit status $rc; $(head -c 300 "$tmp/err"))"
    fi
}

each() { # MODE [ARGS...]
    local who
    for who in $servers; do
        run_load "$who" "$@"
    done
}

# Half the memory available now: no server may take more for its idle
# sessions (ejabberd needs about 1 MiB per session).
rss_cap() {
    awk '/^MemAvailable:/ { print int($2 / 2) }' /proc/meminfo
}

# ---- main -------------------------------------------------------------------

t_start=$(date +%s)
echo "== bench/c2s: ${servers// /, } on ${addr[xmuxd]}, ${addr[prosody]}, ${addr[ejabberd]}; $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "   tests: $tests; load average $(cut -d ' ' -f 1-3 /proc/loadavg)"
if ! make_ca "$tmp/certs" || ! issue_cert "$tmp/certs" c2s "$domain"; then
    echo "run.sh: could not make the test certificates" >&2
    exit 1
fi
echo "-- set-up: $accounts accounts on each server"
start_servers
echo "   pids: $(for w in $servers; do printf '%s %s  ' "$w" "${pid[$w]:-n/a}"; done)($(($(date +%s) - t_start)) s)"

for t in $tests; do
    case $t in
    idle)
        # First, on fresh servers: memory freed by earlier tests would be
        # reused and hide part of the cost. Then fresh servers again:
        # after thousands of sessions Prosody's heap stays large and each
        # message costs it more.
        echo "-- idle: $n_idle TLS sessions logged in and bound, RSS sampled at $steps"
        for who in $servers; do
            run_load "$who" idle --count "$n_idle" --parallel 8 --first 1 \
                --accounts "$accounts" --steps "$steps" --settle 2 \
                --rss-cap-kib "$(rss_cap)" --timeout 30
        done
        stop_servers
        start_servers
        ;;
    messages)
        echo "-- messages: u1 -> u2, ~100-byte bodies, ${msg_secs} s per window ($windows)"
        for w in $windows; do
            each messages --window "$w" --duration "$msg_secs" \
                --pairs "${C2S_PAIRS:-1}" ${C2S_MSG_COUNT:+--count "$C2S_MSG_COUNT"}
        done
        ;;
    latency)
        echo "-- latency: one message in flight, 2000 messages"
        each latency --count 2000
        ;;
    logins)
        echo "-- logins: connect, STARTTLS, SASL, bind, close; $parallel in parallel, ${login_secs} s"
        each logins --mech PLAIN --parallel "$parallel" --duration "$login_secs"
        each logins --mech SCRAM-SHA-1 --parallel "$parallel" --duration "$login_secs"
        ;;
    *) echo "run.sh: unknown test '$t' in C2S_TESTS" >&2 ;;
    esac
done

for who in $servers; do
    [ "${state[$who]:-}" = ok ] || result_line "$suite" "server=${label[$who]}" \
        "mode=state" "state=${state[$who]:-failed}"
done
for f in "$tmp/xmuxd/log" "$tmp/prosody/prosody.log" \
    "$tmp/ejabberd-c2s/logs/error.log"; do
    # Expected: Prosody's SIGTERM at the restart, xmuxd kept as root.
    local_ok='certificate-created|Received SIGTERM|event=privileges'
    if [ -s "$f" ] && grep -qvE "$local_ok" "$f"; then
        echo "-- warnings logged by ${f#"$tmp/"}:"
        grep -vE "$local_ok" "$f" | head -n 5 |
            cut -c 1-300
    fi
done
stop_servers
if [ -z "${BENCH_RESULTS:-}" ]; then
    echo
    /usr/bin/python3 "$here/../report.py" --only c2s "$results"
fi
echo "bench/c2s run time: $(($(date +%s) - t_start)) s"
