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
#   xmuxd     127.0.0.2              127.0.0.3
#   prosody   127.0.0.4              127.0.0.5
#   ejabberd  127.0.0.6              127.0.0.7
#
# Every server listens on 5222 (c2s, STARTTLS required) and 5269 (s2s,
# STARTTLS required) of its own address. Certificates come from a test CA
# made here: EC P-256, the domain as dNSName and as SRV-ID
# (_xmpp-server.DOMAIN), EKU serverAuth and clientAuth, so that the servers
# authenticate each other with SASL EXTERNAL. Names: a dnsmasq started
# here on 127.0.0.53:53 answers A and SRV records for the pair being
# measured; Prosody reads it through its own resolv.conf (lua-unbound),
# ejabberd through an inetrc for SRV and a marked block in /etc/hosts for
# addresses (removed afterwards), xmuxd uses static routes (and the
# resolver too, once its configuration has the key). The pairs run one
# after the other; a pair whose warm-up messages do not arrive within
# S2S_FLOW_TIMEOUT seconds is reported as failed and the run goes on.
# Everything lives in a temporary directory that is removed at the end.
#
# Environment:
#   S2S_PAIRS         pairs to measure (default "xmuxd prosody ejabberd")
#   S2S_MSG_SECS      seconds per message-rate test (default 6)
#   S2S_LAT_COUNT     messages in the unloaded latency test (default 2000)
#   S2S_WARMUP        warm-up messages before each test (default 100)
#   S2S_FLOW_TIMEOUT  seconds the warm-up may take (default 20)
#   S2S_STALL_TIMEOUT seconds without progress that end a test (default 10)
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
if [ "$(id -u)" != 0 ]; then
    echo "run.sh: must run as root (dnsmasq on port 53, ejabberd as its own user)" >&2
    exit 1
fi

pairs=${S2S_PAIRS:-xmuxd prosody ejabberd}
msg_secs=${S2S_MSG_SECS:-6}
lat_count=${S2S_LAT_COUNT:-2000}
warmup=${S2S_WARMUP:-100}
flow_timeout=${S2S_FLOW_TIMEOUT:-20}
stall_timeout=${S2S_STALL_TIMEOUT:-10}
dx=montague.example
dy=capulet.example
password=benchpw
dns_addr=127.0.0.53
c2s_port=5222
s2s_port=5269

# tmpfs when there is one: account stores then wait for no disk.
base=/tmp
[ -d /dev/shm ] && [ -w /dev/shm ] && base=/dev/shm
tmp=$(mktemp -d "$base/xmux-s2s.XXXXXX") || exit 1
# ejabberd runs as its own user and must reach its directory.
chmod 755 "$tmp"
results=$tmp/results
: >"$results"
# Processes of the pair being measured: servers (CPU is read from
# srv_x/srv_y), wrappers and dnsmasq; all stopped by stop_all.
procs=()
srv_x=
srv_y=
loadpid=

stop_pid() {
    local pid=$1
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
}

# Stops the pair's processes, last started first.
stop_all() {
    local i
    for ((i = ${#procs[@]} - 1; i >= 0; i--)); do
        stop_pid "${procs[$i]}"
    done
    procs=()
    srv_x=
    srv_y=
}

cleanup() {
    stop_pid "$loadpid"
    stop_all
    hosts_block_remove
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ulimit -n "$(ulimit -Hn)" 2>/dev/null

listening() { # ADDR PORT
    ss -Htln "sport = :$2" 2>/dev/null | grep -qF "$1:$2 "
}

wait_listen() { # ADDR PORT PID [TENTHS]
    for _ in $(seq "${4:-100}"); do
        listening "$1" "$2" && return 0
        kill -0 "$3" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# The pid of the process listening on ADDR:PORT.
listener_pid() {
    ss -Htlnp "sport = :$2" 2>/dev/null | grep -F "$1:$2 " |
        sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n 1
}

# Neither ADDR nor a wildcard address has a listener on 5222 or 5269.
ports_free() { # ADDR
    local p
    for p in $c2s_port $s2s_port; do
        if ss -Htln "sport = :$p" 2>/dev/null |
            grep -qE "($1|0\.0\.0\.0|\*|\[::\]):$p "; then
            echo "   $1:$p is already in use: $(ss -Htlnp "sport = :$p" | head -n 1)"
            return 1
        fi
    done
}

# ---- certificates and names ---------------------------------------------

make_certs() {
    local d=$tmp/certs dom
    mkdir -p "$d"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -days 365 -subj "/CN=xmux bench CA" -keyout "$d/ca.key" \
        -out "$d/ca.crt" -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null ||
        return 1
    for dom in $dx $dy; do
        cat >"$d/$dom.ext" <<EOF
subjectAltName=DNS:$dom,otherName:1.3.6.1.5.5.7.8.7;IA5STRING:_xmpp-server.$dom
extendedKeyUsage=serverAuth,clientAuth
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
EOF
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -subj "/CN=$dom" -keyout "$d/$dom.key" -out "$d/$dom.csr" \
            2>/dev/null &&
            openssl x509 -req -in "$d/$dom.csr" -CA "$d/ca.crt" \
                -CAkey "$d/ca.key" -CAcreateserial -days 365 \
                -extfile "$d/$dom.ext" -out "$d/$dom.crt" 2>/dev/null ||
            return 1
    done
    chmod 644 "$d"/*
    # A resolv.conf and an empty hosts file for Prosody's resolver.
    echo "nameserver $dns_addr" >"$tmp/resolv.conf"
    : >"$tmp/hosts"
}

# /etc/hosts, for resolvers that read only the system's: ejabberd looks
# up SRV records through Erlang's resolver (the inetrc) but the target's
# address through getaddrinfo(3). The block between the markers is
# rewritten in place (the file may be a bind mount) and removed after
# the pair; a block left by an interrupted run is replaced.
hosts_mark="# xmux-bench-s2s"
hosts_block_remove() {
    grep -qxF "$hosts_mark begin" /etc/hosts 2>/dev/null || return 0
    sed "/^$hosts_mark begin\$/,/^$hosts_mark end\$/d" /etc/hosts \
        >"$tmp/etc-hosts" && cat "$tmp/etc-hosts" >/etc/hosts
}

hosts_block_add() { # X_ADDR Y_ADDR
    hosts_block_remove
    {
        echo "$hosts_mark begin"
        echo "$1 $dx"
        echo "$2 $dy"
        echo "$hosts_mark end"
    } >>/etc/hosts
}

# dnsmasq answering for this pair only: A records and SRV records for
# _xmpp-server._tcp of both domains, nothing forwarded.
start_dns() { # X_ADDR Y_ADDR
    if ss -Hlnu "sport = :53" 2>/dev/null | grep -qF "$dns_addr:53 "; then
        echo "   $dns_addr:53 is already in use"
        return 1
    fi
    /usr/sbin/dnsmasq --keep-in-foreground --conf-file=/dev/null \
        --no-resolv --no-hosts --local=/example/ --user=nobody \
        --listen-address="$dns_addr" --bind-interfaces --port=53 \
        --pid-file= --log-facility="$tmp/dnsmasq.log" \
        --host-record="$dx,$1" --host-record="$dy,$2" \
        --srv-host="_xmpp-server._tcp.$dx,$dx,$s2s_port" \
        --srv-host="_xmpp-server._tcp.$dy,$dy,$s2s_port" &
    local pid=$!
    procs+=("$pid")
    for _ in $(seq 50); do
        ss -Hlnu "sport = :53" 2>/dev/null | grep -qF "$dns_addr:53 " &&
            return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "   dnsmasq did not start: $(tail -n 2 "$tmp/dnsmasq.log" 2>/dev/null)"
    return 1
}

# ---- xmuxd ------------------------------------------------------------------

# xmuxd started as root needs the user key (docs/security.md): the
# benchmark keeps root, as it always did.
run_as() { [ "$(id -u)" = 0 ] && echo 'user = "root";' || true; }

xmuxd_conf() { # DIR ADDR DOMAIN PEER_DOMAIN PEER_ADDR WITH_RESOLVER
    local resolver=
    [ "$6" = 1 ] && resolver="resolver = \"$dns_addr:53\"; "
    cat >"$1/xmux.conf" <<EOF
state_dir = "$1/state";
log_level = "warn";
listen = ( { kind = "c2s"; address = "$2"; port = $c2s_port; },
           { kind = "s2s"; address = "$2"; port = $s2s_port; } );
tls = { ca_file = "$tmp/certs/ca.crt"; };
hosts = ( { domain = "$3"; cert = "$tmp/certs/$3.crt"; key = "$tmp/certs/$3.key"; } );
s2s = { ${resolver}routes = ( { domain = "$4"; host = "$5"; port = $s2s_port; } ); };
limits = { max_connections = 20000; connections_per_ip = 0; c2s_rate = 0; };
$(run_as)
EOF
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
    "$xmuxd" --config "$d/xmux.conf" 2>>"$d/log" &
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
    mkdir -p "$d/data" "$d/certs"
    # Fair settings, as in bench/c2s: Nagle off (its default on makes
    # replies wait for delayed ACKs), hashed passwords with 4096
    # iterations, log level warn. s2s_secure_auth: the peer must present
    # a valid certificate, so streams authenticate with SASL EXTERNAL.
    cat >"$d/prosody.cfg.lua" <<EOF
run_as_root = true
daemonize = false
pidfile = "$d/prosody.pid"
data_path = "$d/data"
certificates = "$d/certs"
interfaces = { "$2" }
c2s_ports = { $c2s_port }
c2s_direct_tls_ports = { }
s2s_ports = { $s2s_port }
s2s_direct_tls_ports = { }
http_ports = { }
https_ports = { }
modules_enabled = { "roster"; "saslauth"; "tls"; "disco"; "dialback"; }
authentication = "internal_hashed"
default_iteration_count = 4096
c2s_require_encryption = true
s2s_require_encryption = true
s2s_secure_auth = true
allow_registration = false
network_settings = { nagle = false }
unbound = { resolvconf = "$tmp/resolv.conf"; hoststxt = "$tmp/hosts" }
log = { warn = "$d/prosody.log" }
VirtualHost "$3"
    ssl = { certificate = "$tmp/certs/$3.crt"; key = "$tmp/certs/$3.key";
            cafile = "$tmp/certs/ca.crt"; }
EOF
    prosodyctl --config "$d/prosody.cfg.lua" register "$4" "$3" "$password" \
        >"$d/ctl.out" 2>&1 || {
        echo "   prosodyctl register failed: $(tail -n 1 "$d/ctl.out")"
        return 1
    }
    ports_free "$2" || return 1
    prosody --config "$d/prosody.cfg.lua" -F >>"$d/out" 2>&1 &
    started=$!
    procs+=("$started")
    if ! wait_listen "$2" $s2s_port "$started" ||
        ! wait_listen "$2" $c2s_port "$started"; then
        echo "   Prosody $1 did not listen: $(tail -n 2 "$d/out" "$d/prosody.log" 2>/dev/null)"
        return 1
    fi
}

up_prosody() { # X_ADDR Y_ADDR
    local started
    if ! command -v prosody >/dev/null 2>&1; then
        skip_reason="Prosody is not installed (apt-get install prosody lua-unbound)"
        return 2
    fi
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

# ejabberdctl for node NAME, as the ejabberd user. setpriv rather than
# ejabberdctl's own su: su resets the open-file limit to 1024.
ejctl() { # NAME ARGS...
    local d=$tmp/ejabberd-$1
    shift
    setpriv --reuid=ejabberd --regid=ejabberd --init-groups \
        env HOME="$d" /usr/sbin/ejabberdctl --config-dir "$d" "$@"
}

ejabberd_one() { # NAME ADDR DOMAIN USER DIST_PORT -> beam pid in $started
    local d=$tmp/ejabberd-$1
    mkdir -p "$d/spool" "$d/logs"
    cp "$tmp/certs/ca.crt" "$tmp/certs/$3.crt" "$tmp/certs/$3.key" "$d/"
    # Its own node name, distribution port and config, nothing on
    # 0.0.0.0, no epmd (ERL_DIST_PORT).
    cat >"$d/ejabberdctl.cfg" <<EOF
ERLANG_NODE=ejabberd_$1@localhost
INET_DIST_INTERFACE=127.0.0.1
ERL_DIST_PORT=$5
ERL_EPMD_ADDRESS=127.0.0.1
ERL_OPTIONS="-env ERL_CRASH_DUMP_BYTES 0"
EJABBERD_CONFIG_PATH=$d/ejabberd.yml
EJABBERD_PID_PATH=$d/ejabberd.pid
SPOOL_DIR=$d/spool
LOGS_DIR=$d/logs
CONTRIB_MODULES_PATH=$d/contrib
CONTRIB_MODULES_CONF_DIR=$d/contrib
EOF
    # ejabberdctl passes this file to the VM. Fair settings, as for
    # Prosody: ejabberd's listeners set TCP_NODELAY but its outgoing s2s
    # connections do not, so Nagle is turned off for every connection
    # (else small windows measure delayed-ACK stalls). The schedulers do
    # not busy-wait: on 2 cores shared by two servers and the client,
    # spinning would take CPU from the peer while adding to ejabberd's.
    cat >"$d/vm.args" <<EOF
-kernel inet_default_connect_options [{nodelay,true}]
+sbwt none
+sbwtdcpu none
+sbwtdio none
EOF
    # Erlang's resolver: the dnsmasq only, no resolv.conf.
    cat >"$d/inetrc" <<EOF
{lookup, [file, dns]}.
{resolv_conf, ""}.
{nameserver, {${dns_addr//./,}}}.
EOF
    # No shapers (the packaged config holds each client to 3000 B/s),
    # backlog 128 (the default 5 causes 1 s retries), SCRAM stored.
    cat >"$d/ejabberd.yml" <<EOF
hosts:
  - $3
loglevel: warning
log_rotate_count: 0
hide_sensitive_log_data: true
certfiles:
  - "$d/$3.crt"
  - "$d/$3.key"
ca_file: "$d/ca.crt"
s2s_cafile: "$d/ca.crt"
s2s_use_starttls: required
s2s_access: all
auth_method: internal
auth_password_format: scram
listen:
  -
    port: $c2s_port
    ip: "$2"
    module: ejabberd_c2s
    starttls_required: true
    backlog: 128
  -
    port: $s2s_port
    ip: "$2"
    module: ejabberd_s2s_in
    backlog: 128
modules:
  mod_roster: {}
  mod_disco: {}
EOF
    chown -R ejabberd:ejabberd "$d"
    chmod 600 "$d/$3.key"
    ports_free "$2" || return 1
    if ss -Htln "sport = :$5" 2>/dev/null | grep -q .; then
        echo "   ejabberd $1: distribution port $5 is in use"
        return 1
    fi
    ejctl "$1" foreground >"$d/out" 2>&1 &
    local wrapper=$!
    procs+=("$wrapper")
    local ok=1
    if ! wait_listen "$2" $s2s_port "$wrapper" 600 ||
        ! wait_listen "$2" $c2s_port "$wrapper" 100; then
        echo "   ejabberd $1 did not listen: $(tail -n 3 "$d/out" "$d/logs/ejabberd.log" 2>/dev/null)"
        ok=0
    fi
    # The VM is stopped before its wrapper (stop_all goes backwards), so
    # that it shuts down cleanly and is not left behind.
    started=$(listener_pid "$2" $c2s_port)
    [ -n "$started" ] ||
        started=$(pgrep -u ejabberd -f -- "-sname ejabberd_$1@localhost" | head -n 1)
    [ -n "$started" ] && procs+=("$started")
    [ $ok = 1 ] && [ -n "$started" ] || return 1
    ejctl "$1" register "$4" "$3" "$password" >>"$d/ctl.out" 2>&1 || {
        echo "   ejabberdctl register failed: $(tail -n 2 "$d/ctl.out")"
        return 1
    }
}

up_ejabberd() { # X_ADDR Y_ADDR
    local started
    if ! [ -x /usr/sbin/ejabberdctl ]; then
        if DEBIAN_FRONTEND=noninteractive apt-get install -y ejabberd \
            >"$tmp/apt.log" 2>&1 && [ -x /usr/sbin/ejabberdctl ]; then
            echo "   installed ejabberd ($(dpkg-query -W -f '${Version}' ejabberd))"
            # The package may start a system service on every address.
            if command -v systemctl >/dev/null 2>&1; then
                systemctl disable --now ejabberd >/dev/null 2>&1
            fi
            [ -x /etc/init.d/ejabberd ] &&
                /etc/init.d/ejabberd stop >/dev/null 2>&1
        else
            skip_reason="ejabberd is not installed and 'apt-get install -y ejabberd' failed: $(tail -n 1 "$tmp/apt.log")"
            return 2
        fi
    fi
    hosts_block_add "$1" "$2" || return 1
    ejabberd_one x "$1" $dx u1 4371 || return 1
    srv_x=$started
    ejabberd_one y "$2" $dy u2 4372 || return 1
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
        --label "$who" --warmup "$warmup" --flow-timeout "$flow_timeout" \
        --timeout "$stall_timeout" "$@" >"$tmp/out" 2>"$tmp/err" &
    loadpid=$!
    wait "$loadpid"
    local rc=$?
    loadpid=
    grep '^result ' "$tmp/out" | tee -a "$results" | sed 's/^/   /'
    if [ $rc -ne 0 ]; then
        echo "   ($who $mode: c2s_load exit status $rc; $(head -c 300 "$tmp/err"))"
    fi
    if [ $rc -ne 0 ] && ! grep -q '^result .*status=\(ok\|lost\)' "$tmp/out"; then
        return 3
    fi
    return 0
}

# Logs of the pair's servers, less the expected lines.
show_logs() { # NAME
    local f
    local expected='certificate-created|Received SIGTERM|Loading configuration from|Changing loglevel'
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

run_pair() { # NAME X_ADDR Y_ADDR
    local who=$1 xa=$2 ya=$3 rc t0
    t0=$(date +%s)
    skip_reason=
    echo "-- $who: X $xa ($dx) -> Y $ya ($dy)"
    start_dns "$xa" "$ya" || {
        echo "failed" >"$tmp/state-$who"
        stop_all
        return
    }
    "up_$who" "$xa" "$ya"
    rc=$?
    if [ $rc = 2 ]; then
        echo "   SKIPPED: $skip_reason"
        echo "skipped" >"$tmp/state-$who"
        stop_all
        return
    elif [ $rc != 0 ]; then
        echo "   FAILED: the servers could not be set up or started"
        echo "failed" >"$tmp/state-$who"
        show_logs "$who"
        stop_all
        hosts_block_remove
        return
    fi
    echo "   pids: X $srv_x, Y $srv_y"
    echo "ok" >"$tmp/state-$who"
    local t
    for t in "messages --window 1000 --duration $msg_secs" \
        "messages --window 100 --duration $msg_secs" \
        "latency --count $lat_count"; do
        # shellcheck disable=SC2086 # the test's words
        if ! run_load "$who" "$xa" "$ya" $t; then
            echo "   FAILED: no message reached $dy within ${flow_timeout} s"
            echo "failed" >"$tmp/state-$who"
            break
        fi
    done
    show_logs "$who"
    stop_all
    hosts_block_remove
    echo "   ($(($(date +%s) - t0)) s)"
}

# ---- the table ------------------------------------------------------------

state() { # NAME
    cat "$tmp/state-$1" 2>/dev/null || echo "not run"
}

val() { # NAME MODE WINDOW KEY
    local st
    st=$(state "$1")
    if [ "$st" != ok ]; then
        echo "$st"
        return
    fi
    awk -v s="server=$1" -v m="mode=$2" -v w="window=$3" -v k="$4" '
        { hs = hm = hw = 0
          for (i = 2; i <= NF; i++) {
              if ($i == s) hs = 1
              if ($i == m) hm = 1
              if ($i == w) hw = 1
          }
          if (hs && hm && hw)
              for (i = 2; i <= NF; i++) {
                  split($i, kv, "=")
                  if (kv[1] == k) v = kv[2]
              } }
        END { print (v == "" ? "n/a" : v) }' "$results"
}

ratio() { # A B
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b + 0 > 0)
            printf "%.2f", a / b
        else
            printf "n/a" }'
}

row() { # LABEL MODE WINDOW KEY
    local x p e
    x=$(val xmuxd "$2" "$3" "$4")
    p=$(val prosody "$2" "$3" "$4")
    e=$(val ejabberd "$2" "$3" "$4")
    printf "| %-44s | %9s | %9s | %9s | %8s | %8s |\n" "$1" "$x" "$p" "$e" \
        "$(ratio "$x" "$p")" "$(ratio "$x" "$e")"
}

table() {
    printf "| %-44s | %9s | %9s | %9s | %8s | %8s |\n" "" xmuxd Prosody \
        ejabberd "x/Pros." "x/ejab."
    printf "| %-44s | %9s | %9s | %9s | %8s | %8s |\n" "---" "---:" "---:" \
        "---:" "---:" "---:"
    row "msgs/s, window 1000" messages 1000 msgs_per_s
    row "msgs/s, window 100" messages 100 msgs_per_s
    row "latency median ms, window 1000" messages 1000 median_ms
    row "latency p99 ms, window 1000" messages 1000 p99_ms
    row "latency median ms, window 100" messages 100 median_ms
    row "latency p99 ms, window 100" messages 100 p99_ms
    row "latency median ms, unloaded (window 1)" latency 1 median_ms
    row "latency p99 ms, unloaded (window 1)" latency 1 p99_ms
    row "server CPU s per 1000 msgs (X+Y), w 1000" messages 1000 cpu_s_per_1000
    row "server CPU s per 1000 msgs (X+Y), w 100" messages 100 cpu_s_per_1000
    row "server CPU s, sending X, window 1000" messages 1000 send_server_cpu_s
    row "server CPU s, receiving Y, window 1000" messages 1000 recv_server_cpu_s
    row "load client CPU s per 1000 msgs, w 1000" messages 1000 gen_cpu_s_per_1000
    row "load client CPU % of a core, window 1000" messages 1000 gen_cpu_pct
    row "messages lost, window 1000" messages 1000 lost
}

verdict() {
    local r1 r2 cpu1 cpu2
    r1=$(ratio "$(val xmuxd messages 1000 msgs_per_s)" \
        "$(val prosody messages 1000 msgs_per_s)")
    r2=$(ratio "$(val xmuxd messages 100 msgs_per_s)" \
        "$(val prosody messages 100 msgs_per_s)")
    cpu1=$(val xmuxd messages 1000 cpu_s_per_1000)
    cpu2=$(val xmuxd messages 100 cpu_s_per_1000)
    awk -v r1="$r1" -v r2="$r2" -v c1="$cpu1" -v c2="$cpu2" 'BEGIN {
        if (r1 == "n/a" || r2 == "n/a")
            print "target msgs/s >= 15x Prosody: n/a (a pair has no figure)"
        else
            printf "target msgs/s >= 15x Prosody: %s (window 1000: %sx, window 100: %sx)\n", (r1 + 0 >= 15 && r2 + 0 >= 15 ? "met" : "NOT met"), r1, r2
        if (c1 !~ /^[0-9.]+$/ || c2 !~ /^[0-9.]+$/)
            printf "target <= 0.01 s server CPU per 1000 msgs: n/a (xmuxd: %s)\n", c1
        else
            printf "target <= 0.01 s server CPU per 1000 msgs: %s (window 1000: %s s, window 100: %s s)\n", (c1 + 0 <= 0.01 && c2 + 0 <= 0.01 ? "met" : "NOT met"), c1, c2 }'
}

# ---- main -------------------------------------------------------------------

t_start=$(date +%s)
echo "== bench/s2s: $dx -> $dy over s2s, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "   pairs: $pairs; ${msg_secs} s per rate test, windows 1000 and 100; $lat_count messages unloaded"
# The servers and the client share this machine: anything else running
# shows here and in the figures.
echo "   load average: $(cut -d ' ' -f 1-3 /proc/loadavg)"
if pgrep -f '/usr/bin/prosody' >/dev/null 2>&1 || pgrep -x beam.smp >/dev/null 2>&1; then
    echo "note: another Prosody or Erlang VM is running; it competes for CPU" >&2
fi
if ! make_certs; then
    echo "run.sh: could not make the test certificates" >&2
    exit 1
fi
for who in $pairs; do
    case $who in
    xmuxd) run_pair xmuxd 127.0.0.2 127.0.0.3 ;;
    prosody) run_pair prosody 127.0.0.4 127.0.0.5 ;;
    ejabberd) run_pair ejabberd 127.0.0.6 127.0.0.7 ;;
    *) echo "run.sh: unknown pair '$who' in S2S_PAIRS" >&2 ;;
    esac
done

echo
table
echo
verdict
echo "load average: $(cut -d ' ' -f 1-3 /proc/loadavg); run time: $(($(date +%s) - t_start)) s"
