#!/bin/bash
# run.sh BUILD_DIR -- server-to-server delivery: xmuxd<->xmuxd,
# Prosody<->Prosody and ejabberd<->ejabberd measured in one run on
# loopback, printed as a table with the ratios xmuxd/Prosody and
# xmuxd/ejabberd.
#
# In each pair, server X serves montague.example and server Y
# capulet.example. One client, u1@montague.example on X, sends chat
# messages to u2@capulet.example on Y, so every message crosses one s2s
# stream, X -> Y. Measured: messages/s with 1000 and with 100 messages in
# flight, one-way latency (median and p99) under that load and unloaded
# (one message in flight), the CPU seconds of both servers together per
# 1000 messages, and the load client's own CPU.
#
#   pair      X (montague.example)   Y (capulet.example)
#   xmuxd     NET.2                  NET.3
#   prosody   NET.4                  NET.5
#   ejabberd  NET.6                  NET.7
#
# (NET is $BENCH_NET, default 127.0.0.)
#
# Every server listens on 5222 (c2s, STARTTLS required) and 5269 (s2s,
# STARTTLS required) of its own address. Certificates come from a test CA
# made here: EC P-256, the domain as dNSName and as SRV-ID
# (_xmpp-server.DOMAIN), EKU serverAuth and clientAuth, so that the servers
# authenticate each other with SASL EXTERNAL. Names: a dnsmasq started
# here on NET.53:53 answers A and SRV records for the pair being
# measured; Prosody reads it through its own resolv.conf (lua-unbound),
# ejabberd through an inetrc for SRV and a marked block in /etc/hosts for
# addresses (removed afterwards), xmuxd uses static routes (and the
# resolver too, once its configuration has the key). The pairs run one
# after the other; a pair whose warm-up messages do not arrive within
# S2S_FLOW_TIMEOUT seconds is reported as failed and the run goes on.
# Everything lives in a temporary directory that is removed at the end.
#
# Besides the two headline windows (1000 and 100 in flight, S2S_MSG_SECS
# each) a short run at window 10 (S2S_SERIES_SECS) and the unloaded test
# (window 1) give the throughput-vs-window series of the plot.
#
# Environment:
#   S2S_PAIRS         pairs to measure (default "xmuxd prosody ejabberd")
#   S2S_TESTS         tests (default "w1000 w100 w10 latency"; wN is a
#                     message-rate test with N in flight)
#   S2S_MSG_SECS      seconds per headline message-rate test (default 6)
#   S2S_SERIES_SECS   seconds per other message-rate test (default 3)
#   S2S_LAT_COUNT     messages in the unloaded latency test (default 2000)
#   S2S_WARMUP        warm-up messages before each test (default 100)
#   S2S_FLOW_TIMEOUT  seconds the warm-up may take (default 20)
#   S2S_STALL_TIMEOUT seconds without progress that end a test (default 10)
#   XMUXD_WRAP        command line put before both xmuxd (a profiler; %p
#                     in valgrind's --callgrind-out-file tells them apart)
#   S2S_MSG_COUNT     messages per rate test at most (default: 1 000 000)
#   XMUXD_EXTRA       more top-level settings for both xmuxd (bench.sh:
#                     "poll_spin = 200;")
#   XMUXD_THREADS     when set, "threads = N;" in both xmuxd and the label
#                     xmuxd-tN (bench/run.sh uses it)
#   BENCH_SUITE       suite name in the results (default s2s)
#   BENCH_NET, BENCH_RESULTS, BENCH_EJ_PORT: see bench/lib.sh
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh
. "$here/../lib.sh"
bench_build_dir "$0" "$@" root || exit $?

pairs=${S2S_PAIRS:-xmuxd prosody ejabberd}
tests=${S2S_TESTS:-w1000 w100 w10 latency}
msg_secs=${S2S_MSG_SECS:-6}
series_secs=${S2S_SERIES_SECS:-3}
lat_count=${S2S_LAT_COUNT:-2000}
warmup=${S2S_WARMUP:-100}
flow_timeout=${S2S_FLOW_TIMEOUT:-20}
stall_timeout=${S2S_STALL_TIMEOUT:-10}
suite=${BENCH_SUITE:-s2s}
threads=${XMUXD_THREADS:-}
dx=montague.example
dy=capulet.example
password=benchpw

bench_mktemp xmux-s2s || exit 1
results=$tmp/results
: >"$results"
# The servers of the pair being measured: their CPU is read.
srv_x=
srv_y=
loadpid=

bench_traps

ulimit -n "$(ulimit -Hn)" 2>/dev/null

# ---- xmuxd ------------------------------------------------------------------

xmuxd_conf() { # DIR ADDR DOMAIN PEER_DOMAIN PEER_ADDR WITH_RESOLVER
    local resolver=
    [ "$6" = 1 ] && resolver="resolver = \"$dns_addr:53\"; "
    cat >"$1/xmux.conf" <<EOC
state_dir = "$1/state";
log_level = "warn";
listen = ( { kind = "c2s"; address = "$2"; port = $c2s_port; },
           { kind = "s2s"; address = "$2"; port = $s2s_port; } );
tls = { ca_file = "$tmp/certs/ca.crt"; };
hosts = ( { domain = "$3"; cert = "$tmp/certs/$3.crt"; key = "$tmp/certs/$3.key"; } );
s2s = { ${resolver}routes = ( { domain = "$4"; host = "$5"; port = $s2s_port; } ); };
limits = { max_connections = 1000; connections_per_ip = 0; c2s_rate = 0; };
${threads:+threads = $threads;}
${XMUXD_EXTRA:-}
$(xmuxd_run_as)
EOC
}

xmuxd_one() { # NAME ADDR DOMAIN USER PEER_DOMAIN PEER_ADDR -> pid in $started
    local d=$tmp/xmuxd-$1
    mkdir -p "$d"
    # The resolver key is used when this xmuxd knows it.
    xmuxd_conf "$d" "$2" "$3" "$5" "$6" 1
    if ! "$xmuxd" --check-config --config "$d/xmux.conf" >/dev/null 2>&1; then
        xmuxd_conf "$d" "$2" "$3" "$5" "$6" 0
        if ! "$xmuxd" --check-config --config "$d/xmux.conf" >"$d/check" 2>&1; then
            echo "   xmuxd $1: $(tail -n 1 "$d/check")"
            return 1
        fi
    fi
    echo "$password" | "$xmuxctl" --config "$d/xmux.conf" user add "$4@$3" \
        >/dev/null 2>>"$d/log" || {
        echo "   xmuxd $1: xmuxctl user add failed: $(tail -n 1 "$d/log")"
        return 1
    }
    ports_free "$2" || return 1
    # shellcheck disable=SC2086 # XMUXD_WRAP is a command line prefix
    ${XMUXD_WRAP:-} "$xmuxd" --config "$d/xmux.conf" 2>>"$d/log" &
    started=$!
    procs+=("$started")
    if ! wait_listen "$2" $s2s_port "$started" ||
        ! wait_listen "$2" $c2s_port "$started"; then
        echo "   xmuxd $1 did not listen: $(tail -n 2 "$d/log")"
        return 1
    fi
}

up_xmuxd() { # X_ADDR Y_ADDR
    local started
    xmuxd_one x "$1" $dx u1 $dy "$2" || return 1
    srv_x=$started
    xmuxd_one y "$2" $dy u2 $dx "$1" || return 1
    srv_y=$started
}

# ---- Prosody ----------------------------------------------------------------

prosody_one() { # NAME ADDR DOMAIN USER -> pid in $started
    local d=$tmp/prosody-$1
    prosody_conf "$d" "$2" "$tmp/certs/$3.crt" "$tmp/certs/$3.key" \
        "$tmp/certs/ca.crt" 1 "$3"
    prosody_register "$d" "$4" "$3" || {
        echo "   prosodyctl register failed: $(tail -n 1 "$d/ctl.out")"
        return 1
    }
    prosody_start "$d" "$2" 1
}

up_prosody() { # X_ADDR Y_ADDR
    local started
    prosody_check || return
    if ! compgen -G '/usr/lib/*/lua/*/lunbound.so' >/dev/null; then
        skip_reason="Prosody needs lua-unbound to use the bench's resolver (scripts/deps.sh installs it)"
        return 2
    fi
    prosody_one x "$1" $dx u1 || return 1
    srv_x=$started
    prosody_one y "$2" $dy u2 || return 1
    srv_y=$started
}

# ---- ejabberd ---------------------------------------------------------------

ejabberd_one() { # NAME ADDR DOMAIN USER DIST_PORT -> beam pid in $started
    ejabberd_conf "$1" "$2" "$5" "$tmp/certs/$3.crt" "$tmp/certs/$3.key" \
        "$tmp/certs/ca.crt" 1 "$3"
    ejabberd_start "$1" "$2" 1 || return 1
    ejabberd_users "$1" "$4" "$3" || {
        echo "   ejabberd account import failed: $(tail -n 2 "$tmp/ejabberd-$1/ctl.out")"
        return 1
    }
}

up_ejabberd() { # X_ADDR Y_ADDR
    local started
    ejabberd_check || return
    hosts_block_add "$dx=$1" "$dy=$2" || return 1
    ejabberd_one x "$1" $dx u1 "$ej_port_base" || return 1
    srv_x=$started
    ejabberd_one y "$2" $dy u2 $((ej_port_base + 1)) || return 1
    srv_y=$started
}

# ---- measurements -------------------------------------------------------

# Runs one test for pair NAME; returns 3 when no message flowed.
run_load() { # NAME X_ADDR Y_ADDR MODE [ARGS...]
    local who=$1 xa=$2 ya=$3 mode=$4
    shift 4
    # In the background, so that a signal to this script is handled now
    # (bash runs traps only between commands, and wait is interruptible).
    timeout 300 "$load" "$mode" --host "$xa" --port $c2s_port --domain $dx \
        --rhost "$ya" --rport $c2s_port --rdomain $dy \
        --password "$password" --pid "$srv_x" --rpid "$srv_y" \
        --label "$(label "$who")" --warmup "$warmup" \
        --flow-timeout "$flow_timeout" --timeout "$stall_timeout" "$@" \
        >"$tmp/out" 2>"$tmp/err" &
    loadpid=$!
    wait "$loadpid"
    local rc=$?
    loadpid=
    results_take "$suite" "$tmp/out"
    if [ $rc -ne 0 ]; then
        echo "   ($who $mode: c2s_load exit status $rc; $(head -c 300 "$tmp/err"))"
    fi
    if [ $rc -ne 0 ] && ! grep -q '^result .*status=\(ok\|lost\)' "$tmp/out"; then
        return 3
    fi
    return 0
}

label() { # NAME
    if [ "$1" = xmuxd ]; then
        echo "xmuxd${threads:+-t$threads}"
    else
        echo "$1"
    fi
}

# Logs of the pair's servers, less the expected lines.
show_logs() { # NAME
    local f
    local expected='certificate-created|Received SIGTERM|Loading configuration from|Changing loglevel|event=privileges'
    for f in "$tmp/$1"-?/log "$tmp/$1"-?/prosody.log \
        "$tmp/$1"-?/logs/ejabberd.log "$tmp/$1"-?/logs/error.log; do
        [ -s "$f" ] || continue
        if grep -qvE "$expected" "$f"; then
            echo "   -- ${f#"$tmp/"}:"
            grep -vE "$expected" "$f" | tail -n 5 | cut -c 1-300 |
                sed 's/^/      /'
        fi
    done
}

pair_state() { # NAME STATE
    result_line "$suite" "server=$(label "$1")" mode=state "state=$2"
}

run_pair() { # NAME X_ADDR Y_ADDR
    local who=$1 xa=$2 ya=$3 rc t0 t args
    t0=$(date +%s)
    skip_reason=
    echo "-- $who: X $xa ($dx) -> Y $ya ($dy)"
    start_dns "$dx=$xa" "$dy=$ya" || {
        pair_state "$who" failed
        stop_all
        return
    }
    "up_$who" "$xa" "$ya"
    rc=$?
    if [ $rc = 2 ]; then
        echo "   SKIPPED: $skip_reason"
        pair_state "$who" skipped
        stop_all
        return
    elif [ $rc != 0 ]; then
        echo "   FAILED: the servers could not be set up or started"
        pair_state "$who" failed
        show_logs "$who"
        stop_all
        hosts_block_remove
        return
    fi
    echo "   pids: X $srv_x, Y $srv_y"
    for t in $tests; do
        case $t in
        w1000 | w100) args="messages --window ${t#w} --duration $msg_secs${S2S_MSG_COUNT:+ --count $S2S_MSG_COUNT}" ;;
        w*) args="messages --window ${t#w} --duration $series_secs" ;;
        latency) args="latency --count $lat_count" ;;
        *)
            echo "run.sh: unknown test '$t' in S2S_TESTS" >&2
            continue
            ;;
        esac
        # shellcheck disable=SC2086 # the test's words
        if ! run_load "$who" "$xa" "$ya" $args; then
            echo "   FAILED: no message reached $dy within ${flow_timeout} s"
            pair_state "$who" failed
            break
        fi
    done
    show_logs "$who"
    stop_all
    hosts_block_remove
    srv_x=
    srv_y=
    echo "   ($(($(date +%s) - t0)) s)"
}

# ---- main -------------------------------------------------------------------

t_start=$(date +%s)
echo "== bench/s2s: $dx -> $dy over s2s, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "   pairs: $pairs; tests: $tests (${msg_secs} s at windows 1000 and 100, ${series_secs} s at others); $lat_count messages unloaded"
# The servers and the client share this machine: anything else running
# shows here and in the figures.
echo "   load average: $(cut -d ' ' -f 1-3 /proc/loadavg)"
if ! make_ca "$tmp/certs" || ! issue_cert "$tmp/certs" $dx $dx ||
    ! issue_cert "$tmp/certs" $dy $dy; then
    echo "run.sh: could not make the test certificates" >&2
    exit 1
fi
for who in $pairs; do
    case $who in
    xmuxd) run_pair xmuxd "$bench_net.2" "$bench_net.3" ;;
    prosody) run_pair prosody "$bench_net.4" "$bench_net.5" ;;
    ejabberd) run_pair ejabberd "$bench_net.6" "$bench_net.7" ;;
    *) echo "run.sh: unknown pair '$who' in S2S_PAIRS" >&2 ;;
    esac
done

if [ -z "${BENCH_RESULTS:-}" ]; then
    echo
    /usr/bin/python3 "$here/../report.py" --only s2s "$results"
fi
echo "load average: $(cut -d ' ' -f 1-3 /proc/loadavg); bench/s2s run time: $(($(date +%s) - t_start)) s"
