#!/bin/bash
# run.sh BUILD_DIR -- s2s TCP connections between two servers that host N
# domains each (N = 2, 10, 20), when a user on every domain of one writes
# to a user on every domain of the other, in both directions.
#
#   servers       X (d1..dN.montague.example)   Y (d1..dN.capulet.example)
#   xmuxd-mux     NET.2                         NET.3   mux, bidi, dialback on
#   xmuxd-cold    NET.2                         NET.3   the same, no warm-up
#   xmuxd-off     NET.2                         NET.3   all three off
#   prosody       NET.4                         NET.5   as it comes (dialback
#                                                       loaded, no bidi)
#   ejabberd      NET.6                         NET.7   as it comes
#
# Each server presents one certificate from a test CA listing all its
# domains as dNSName and SRV-ID, trusts the CA and requires TLS on s2s, as
# in bench/s2s; names come from a dnsmasq on NET.53 (and a marked
# /etc/hosts block for ejabberd). c2s_load (mode mesh) logs u1 in on every
# domain, sends one warm-up message from d1 of X to d1 of Y and waits for
# it (the servers then already federate, with one stream up; xmuxd-cold
# skips it: every pair starts at once), then one message from every
# domain of X to every domain of Y,
# then from every domain of Y to every domain of X, and counts what
# arrives; then the established TCP connections to either server's port
# 5269 are counted once they stop changing. A row whose messages do not
# all arrive within CONNS_FLOW_TIMEOUT is reported as failed.
#
# Environment:
#   CONNS_SERVERS       default "xmuxd-mux xmuxd-cold xmuxd-off prosody ejabberd"
#   CONNS_NS            domains per server (default "2 10 20")
#   CONNS_FLOW_TIMEOUT  seconds for all messages of one direction (60)
#   BENCH_SUITE         suite name in the results (default conns)
#   BENCH_NET, BENCH_RESULTS, BENCH_EJ_PORT: see bench/lib.sh
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh
. "$here/../lib.sh"
bench_build_dir "$0" "$@" root || exit $?

servers=${CONNS_SERVERS:-xmuxd-mux xmuxd-cold xmuxd-off prosody ejabberd}
ns=${CONNS_NS:-2 10 20}
flow_timeout=${CONNS_FLOW_TIMEOUT:-60}
suite=${BENCH_SUITE:-conns}
password=benchpw

bench_mktemp xmux-conns || exit 1
results=$tmp/results
: >"$results"
loadpid=

bench_traps

ulimit -n "$(ulimit -Hn)" 2>/dev/null

domains() { # BASE N
    local i
    for i in $(seq 1 "$2"); do
        echo "d$i.$1"
    done
}

# ---- servers ----------------------------------------------------------------

# xmuxd NAME on ADDR serving DOMS (its certificate CERT), routes to every
# PEER_DOM at PEER_ADDR; S2S is the s2s group's flags.
xmuxd_one() { # NAME ADDR CERT "DOMS" PEER_ADDR "PEER_DOMS" S2S
    local d=$tmp/$1 dom hosts="" routes=""
    mkdir -p "$d"
    for dom in $4; do
        hosts="$hosts${hosts:+, }{ domain = \"$dom\"; cert = \"$tmp/certs/$3.crt\"; key = \"$tmp/certs/$3.key\"; }"
    done
    for dom in $6; do
        routes="$routes${routes:+, }{ domain = \"$dom\"; host = \"$5\"; port = $s2s_port; }"
    done
    cat >"$d/xmux.conf" <<EOF
state_dir = "$d/state";
log_level = "warn";
listen = ( { kind = "c2s"; address = "$2"; port = $c2s_port; },
           { kind = "s2s"; address = "$2"; port = $s2s_port; } );
tls = { ca_file = "$tmp/certs/ca.crt"; };
hosts = ( $hosts );
s2s = { $7 routes = ( $routes ); };
# Without mux, hundreds of s2s connections come from one address.
limits = { max_connections = 5000; connections_per_ip = 0; c2s_rate = 0; };
$(xmuxd_run_as)
EOF
    if ! "$xmuxd" --check-config --config "$d/xmux.conf" >"$d/check" 2>&1; then
        echo "   xmuxd $1: $(tail -n 1 "$d/check")"
        return 1
    fi
    for dom in $4; do
        echo "$password" | "$xmuxctl" --config "$d/xmux.conf" user add \
            "u1@$dom" >/dev/null 2>>"$d/log" || {
            echo "   xmuxd $1: xmuxctl user add failed: $(tail -n 1 "$d/log")"
            return 1
        }
    done
    ports_free "$2" || return 1
    "$xmuxd" --config "$d/xmux.conf" 2>>"$d/log" &
    started=$!
    procs+=("$started")
    if ! wait_listen "$2" $s2s_port "$started" ||
        ! wait_listen "$2" $c2s_port "$started"; then
        echo "   xmuxd $1 did not listen: $(tail -n 2 "$d/log")"
        return 1
    fi
}

up_xmuxd() { # X_ADDR Y_ADDR N S2S
    local started
    xmuxd_one x "$1" "x$3" "$xdoms" "$2" "$ydoms" "$4" &&
        xmuxd_one y "$2" "y$3" "$ydoms" "$1" "$xdoms" "$4"
}

up_xmuxd-mux() { up_xmuxd "$@" "mux = true; bidi = true; dialback = true;"; }
up_xmuxd-cold() { up_xmuxd-mux "$@"; }
up_xmuxd-off() { up_xmuxd "$@" "mux = false; bidi = false; dialback = false;"; }

prosody_one() { # NAME ADDR CERT "DOMS"
    local d=$tmp/prosody-$1 dom
    # shellcheck disable=SC2086 # the domains
    prosody_conf "$d" "$2" "$tmp/certs/$3.crt" "$tmp/certs/$3.key" \
        "$tmp/certs/ca.crt" 1 $4
    for dom in $4; do
        prosody_register "$d" u1 "$dom" || {
            echo "   prosodyctl register failed: $(tail -n 1 "$d/ctl.out")"
            return 1
        }
    done
    prosody_start "$d" "$2" 1
}

up_prosody() { # X_ADDR Y_ADDR N
    local started
    prosody_check || return
    if ! compgen -G '/usr/lib/*/lua/*/lunbound.so' >/dev/null; then
        skip_reason="Prosody needs lua-unbound to use the bench's resolver (scripts/deps.sh installs it)"
        return 2
    fi
    prosody_one x "$1" "x$3" "$xdoms" && prosody_one y "$2" "y$3" "$ydoms"
}

ejabberd_one() { # NAME ADDR CERT "DOMS" DIST_PORT
    # shellcheck disable=SC2086 # the domains
    ejabberd_conf "$1" "$2" "$5" "$tmp/certs/$3.crt" "$tmp/certs/$3.key" \
        "$tmp/certs/ca.crt" 1 $4
    ejabberd_start "$1" "$2" 1 || return 1
    # shellcheck disable=SC2086 # the domains
    ejabberd_users "$1" u1 $4 || {
        echo "   ejabberd account import failed: $(tail -n 2 "$tmp/ejabberd-$1/ctl.out")"
        return 1
    }
}

up_ejabberd() { # X_ADDR Y_ADDR N
    local started dom map=()
    ejabberd_check || return
    for dom in $xdoms; do map+=("$dom=$1"); done
    for dom in $ydoms; do map+=("$dom=$2"); done
    hosts_block_add "${map[@]}" || return 1
    # Fresh directories: the spool of the last N must not be reused.
    rm -rf "$tmp/ejabberd-x" "$tmp/ejabberd-y"
    ejabberd_one x "$1" "x$3" "$xdoms" "$ej_port_base" &&
        ejabberd_one y "$2" "y$3" "$ydoms" $((ej_port_base + 1))
}

# ---- one measurement ------------------------------------------------------

run_one() { # NAME N
    local who=$1 n=$2 xa ya rc dom map=() t0 line c
    t0=$(date +%s)
    case $who in
    xmuxd-*) xa=$bench_net.2 ya=$bench_net.3 ;;
    prosody) xa=$bench_net.4 ya=$bench_net.5 ;;
    ejabberd) xa=$bench_net.6 ya=$bench_net.7 ;;
    *)
        echo "run.sh: unknown server '$who' in CONNS_SERVERS" >&2
        return
        ;;
    esac
    xdoms=$(domains montague.example "$n" | tr '\n' ' ')
    ydoms=$(domains capulet.example "$n" | tr '\n' ' ')
    rm -rf "$tmp/x" "$tmp/y" "$tmp/prosody-x" "$tmp/prosody-y"
    skip_reason=
    printf -- "-- %s, %s×%s domains: " "$who" "$n" "$n"
    for dom in $xdoms; do map+=("$dom=$xa"); done
    for dom in $ydoms; do map+=("$dom=$ya"); done
    start_dns "${map[@]}" >"$tmp/up.log" || rc=1
    [ "${rc:-0}" = 0 ] && { "up_$who" "$xa" "$ya" "$n" >>"$tmp/up.log"; rc=$?; }
    if [ "$rc" != 0 ]; then
        if [ "$rc" = 2 ]; then
            echo "SKIPPED: $skip_reason"
            result_line "$suite" "server=$who" mode=state state=skipped >/dev/null
        else
            echo "FAILED to start"
            sed 's/^/   /' "$tmp/up.log"
            result_line "$suite" "server=$who" mode=mesh "domains=$n" \
                status=failed >/dev/null
        fi
        stop_all
        hosts_block_remove
        return
    fi
    local xl yl warm=1
    xl=$(echo "$xdoms" | xargs | tr ' ' ',')
    yl=$(echo "$ydoms" | xargs | tr ' ' ',')
    [ "$who" = xmuxd-cold ] && warm=0
    timeout 300 "$load" mesh --host "$xa" --rhost "$ya" --domain "$xl" \
        --rdomain "$yl" --password "$password" --label "$who" \
        --flow-timeout "$flow_timeout" --timeout 30 --hold 30 --warmup $warm \
        >"$tmp/out" 2>"$tmp/err" &
    loadpid=$!
    # The sessions are held while the connections are counted.
    while kill -0 "$loadpid" 2>/dev/null && ! grep -q '^result ' "$tmp/out"; do
        sleep 0.2
    done
    c=$(s2s_conns_settled "$xa" "$ya")
    stop_pid "$loadpid"
    loadpid=
    line=$(grep '^result ' "$tmp/out" | tail -n 1)
    if [ -z "$line" ]; then
        line="result server=$who mode=mesh domains=$n status=failed"
        echo "(c2s_load: $(head -c 300 "$tmp/err"))"
    fi
    echo "$line conns=$c" >"$tmp/out"
    echo "$c connection(s), $(sed -n 's/.* received=\([0-9]*\).*/\1/p' "$tmp/out")/$((2 * n * n)) messages ($(($(date +%s) - t0)) s)"
    results_take "$suite" "$tmp/out" >/dev/null
    stop_all
    hosts_block_remove
}

# ---- main -------------------------------------------------------------------

t_start=$(date +%s)
echo "== bench/conns: s2s connections for N×N domains, both directions, N in $ns; $(date -u '+%Y-%m-%d %H:%M UTC')"
make_ca "$tmp/certs" || exit 1
for n in $ns; do
    # shellcheck disable=SC2046 # the domains
    if ! issue_cert "$tmp/certs" "x$n" $(domains montague.example "$n") ||
        ! issue_cert "$tmp/certs" "y$n" $(domains capulet.example "$n"); then
        echo "run.sh: could not make the test certificates" >&2
        exit 1
    fi
done
for who in $servers; do
    for n in $ns; do
        run_one "$who" "$n"
    done
done
if [ -z "${BENCH_RESULTS:-}" ]; then
    echo
    /usr/bin/python3 "$here/../report.py" --only conns "$results"
fi
echo "bench/conns run time: $(($(date +%s) - t_start)) s"
