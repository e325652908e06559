# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# lib.sh -- shared by bench/c2s, bench/s2s and bench/conns run.sh (bash,
# sourced): processes, listeners, a test CA, names (dnsmasq and a marked
# /etc/hosts block), Prosody and ejabberd instances, and the results file.
#
# The caller sets $tmp (a directory removed at exit), $results (its
# results file) and $password before using these functions, and calls
# bench_cleanup from its EXIT trap.
#
# Environment:
#   BENCH_NET      first three bytes of the loopback addresses (default:
#                  127.0.0, or the first of 127.0.10 ... 127.0.90 with
#                  nothing listening): servers on .2 to .7, dnsmasq on .53
#   BENCH_RESULTS  file to which every result line is also appended, with
#                  suite=NAME after "result"
#   BENCH_EJ_PORT  first Erlang distribution port of ejabberd (default
#                  4371 + 2 × the last byte of BENCH_NET)

c2s_port=5222
s2s_port=5269

# True when nothing listens on 5222/5269 of NET.2 to NET.7 (or on a
# wildcard address), nor on NET.53:53.
bench_net_free() { # NET
    local i
    ss -Hlnu "sport = :53" 2>/dev/null | grep -qF "$1.53:53 " && return 1
    ss -Htln 2>/dev/null | awk '{ print $4 }' | grep -qE \
        "^(${1//./\\.}\.[2-7]|0\.0\.0\.0|\*|\[::\]):($c2s_port|$s2s_port)\$" &&
        return 1
    return 0
}

# The machine is shared: other benchmarks and tests may hold the default
# addresses. Without BENCH_NET, the first free block of 127.0.0, 127.0.10,
# ... 127.0.90 is used (and exported, so that the parts of one suite
# agree); ejabberd's distribution ports follow it.
if [ -z "${BENCH_NET:-}" ]; then
    for bench_net in 127.0.0 127.0.10 127.0.20 127.0.30 127.0.40 127.0.50 \
        127.0.60 127.0.70 127.0.80 127.0.90; do
        bench_net_free "$bench_net" && break
    done
    if [ "$bench_net" != 127.0.0 ]; then
        echo "   (127.0.0.x is in use: the servers run on $bench_net.x)"
    fi
    export BENCH_NET=$bench_net
fi
bench_net=$BENCH_NET
dns_addr=$bench_net.53
ej_port_base=${BENCH_EJ_PORT:-$((4371 + 2 * ${bench_net##*.}))}
# Processes started for the test being run (servers, wrappers, dnsmasq),
# stopped last first by stop_all.
procs=()
hosts_mark="# xmux-bench-$bench_net"

# A temporary directory on tmpfs when there is one (account stores then
# wait for no disk), readable by the ejabberd user.
# The common start of a bench part: SCRIPT BUILD_DIR [root]. Checks the
# arguments and the binaries, sets build, load, xmuxd and xmuxctl; with
# "root", refuses to run as another user. Returns 2 on a usage error, 1
# otherwise when something is missing.
bench_build_dir() {
    local script=$1
    shift
    if [ $# -lt 1 ] || [ ! -d "$1" ]; then
        echo "usage: $script BUILD_DIR" >&2
        return 2
    fi
    build=$(cd "$1" && pwd)
    load=$build/bench/c2s_load
    xmuxd=$build/xmuxd
    xmuxctl=$build/xmuxctl
    local f
    for f in "$load" "$xmuxd" "$xmuxctl"; do
        if [ ! -x "$f" ]; then
            echo "run.sh: $f is missing: build the targets xmuxd, xmuxctl and c2s_load" >&2
            return 1
        fi
    done
    if [ "${2:-}" = root ] && [ "$(id -u)" != 0 ]; then
        echo "run.sh: must run as root (dnsmasq on port 53, ejabberd as its own user)" >&2
        return 1
    fi
    return 0
}

bench_mktemp() { # PREFIX
    local base=/tmp
    [ -d /dev/shm ] && [ -w /dev/shm ] && base=/dev/shm
    tmp=$(mktemp -d "$base/$1.XXXXXX") || return 1
    chmod 755 "$tmp"
}

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

stop_all() {
    local i
    for ((i = ${#procs[@]} - 1; i >= 0; i--)); do
        stop_pid "${procs[$i]}"
    done
    procs=()
}

bench_cleanup() {
    stop_all
    hosts_block_remove
}

# A part's exit, however it comes (Ctrl-C included): the load generator
# ($loadpid), the servers, the /etc/hosts block, the temporary directory.
bench_traps() {
    trap 'stop_pid "$loadpid"; bench_cleanup; rm -rf "$tmp"' EXIT
    trap 'exit 130' INT TERM
}

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

# VmRSS of PID in KiB (empty when it is gone).
rss_kib() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null
}

# ---- results ----------------------------------------------------------------

# Copies the "result ..." lines of FILE, with suite=SUITE after "result",
# to $results (the script's own file), to $BENCH_RESULTS when set, and
# to stdout (indented).
results_take() { # SUITE FILE
    local lines
    lines=$(grep '^result ' "$2" | sed "s/^result /result suite=$1 /")
    [ -n "$lines" ] || return 0
    printf '%s\n' "$lines" >>"$results"
    [ -n "${BENCH_RESULTS:-}" ] && printf '%s\n' "$lines" >>"$BENCH_RESULTS"
    printf '%s\n' "$lines" | sed 's/^result suite=[^ ]* /   /'
}

# One result line built by the script, not by the load generator.
result_line() { # SUITE KEY=VALUE...
    local suite=$1
    shift
    echo "result suite=$suite $*" >>"$results"
    [ -n "${BENCH_RESULTS:-}" ] && echo "result suite=$suite $*" >>"$BENCH_RESULTS"
    echo "   $*"
}

# ---- certificates -------------------------------------------------------

make_ca() { # DIR
    mkdir -p "$1"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -days 365 -subj "/CN=xmux bench CA" -keyout "$1/ca.key" \
        -out "$1/ca.crt" -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

# A certificate from the CA in DIR for every DOMAIN: EC P-256, each domain
# as dNSName and as SRV-ID (_xmpp-server.DOMAIN), no xmppAddr (ejabberd
# 23.01 fails on it), EKU serverAuth and clientAuth: DIR/NAME.crt, .key.
issue_cert() { # DIR NAME DOMAIN...
    local d=$1 name=$2 cn=$3 dom sans=
    shift 2
    for dom in "$@"; do
        sans="$sans${sans:+,}DNS:$dom,otherName:1.3.6.1.5.5.7.8.7;IA5STRING:_xmpp-server.$dom"
    done
    cat >"$d/$name.ext" <<EOF
subjectAltName=$sans
extendedKeyUsage=serverAuth,clientAuth
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
EOF
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -subj "/CN=$cn" -keyout "$d/$name.key" -out "$d/$name.csr" \
        2>/dev/null &&
        openssl x509 -req -in "$d/$name.csr" -CA "$d/ca.crt" \
            -CAkey "$d/ca.key" -CAcreateserial -days 365 \
            -extfile "$d/$name.ext" -out "$d/$name.crt" 2>/dev/null ||
        return 1
    chmod 644 "$d/$name.crt" "$d/$name.key" "$d/ca.crt"
}

# ---- names --------------------------------------------------------------

# /etc/hosts, for resolvers that read only the system's: ejabberd looks
# up SRV records through Erlang's resolver (its inetrc) but the target's
# address through getaddrinfo(3). The block between the markers is
# rewritten in place (the file may be a bind mount) and removed after
# the test and at exit; a block left by an interrupted run is replaced.
hosts_block_remove() {
    grep -qxF "$hosts_mark begin" /etc/hosts 2>/dev/null || return 0
    local t
    t=$(mktemp) || return 1
    sed "/^$hosts_mark begin\$/,/^$hosts_mark end\$/d" /etc/hosts >"$t" &&
        cat "$t" >/etc/hosts
    rm -f "$t"
}

hosts_block_add() { # DOMAIN=ADDR...
    local a
    hosts_block_remove
    {
        echo "$hosts_mark begin"
        for a in "$@"; do
            echo "${a#*=} ${a%%=*}"
        done
        echo "$hosts_mark end"
    } >>/etc/hosts
}

# dnsmasq on $dns_addr:53 answering A records and _xmpp-server._tcp SRV
# records for every DOMAIN, nothing forwarded. Also writes
# $tmp/resolv.conf and an empty $tmp/hosts for Prosody's resolver.
start_dns() { # DOMAIN=ADDR...
    local a args=()
    echo "nameserver $dns_addr" >"$tmp/resolv.conf"
    : >"$tmp/hosts"
    if ss -Hlnu "sport = :53" 2>/dev/null | grep -qF "$dns_addr:53 "; then
        echo "   $dns_addr:53 is already in use"
        return 1
    fi
    for a in "$@"; do
        args+=("--host-record=${a%%=*},${a#*=}"
            "--srv-host=_xmpp-server._tcp.${a%%=*},${a%%=*},$s2s_port")
    done
    /usr/sbin/dnsmasq --keep-in-foreground --conf-file=/dev/null \
        --no-resolv --no-hosts --local=/example/ --user=nobody \
        --listen-address="$dns_addr" --bind-interfaces --port=53 \
        --pid-file= --log-facility="$tmp/dnsmasq.log" "${args[@]}" &
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

# Established TCP connections to the s2s port of ADDR_A or ADDR_B,
# counted once each, at the initiator's end (the destination is the
# listener: outgoing connections all come from 127.0.0.1).
s2s_conns() { # ADDR_A ADDR_B
    ss -Htn state established "( dport = :$s2s_port )" 2>/dev/null |
        awk -v a="$1:$s2s_port" -v b="$2:$s2s_port" \
            '$NF == a || $NF == b { n++ } END { print n + 0 }'
}

# s2s_conns once it has not changed for 1 s (at most 10 s).
s2s_conns_settled() { # ADDR_A ADDR_B
    local last now same=0
    last=$(s2s_conns "$1" "$2")
    for _ in $(seq 50); do
        sleep 0.2
        now=$(s2s_conns "$1" "$2")
        if [ "$now" = "$last" ]; then
            same=$((same + 1))
            [ $same -ge 5 ] && break
        else
            same=0
            last=$now
        fi
    done
    echo "$last"
}

# ---- xmuxd ------------------------------------------------------------------

# xmuxd started as root needs the user key (docs/security.md): the
# benchmark keeps root, as it always did.
xmuxd_run_as() { [ "$(id -u)" = 0 ] && echo 'user = "root";' || true; }

# ---- Prosody ----------------------------------------------------------------

prosody_check() {
    if ! command -v prosody >/dev/null 2>&1; then
        skip_reason="Prosody is not installed (apt-get install prosody lua-unbound)"
        return 2
    fi
}

# Writes DIR/prosody.cfg.lua: Prosody on ADDR serving every DOMAIN with
# the certificate CERT/KEY (trusting CA), STARTTLS required, SCRAM keys
# stored with 4096 iterations, Nagle off (its default makes replies wait
# for delayed ACKs: small windows would measure 40 ms stalls), log level
# warn. S2S=1: s2s on 5269 with s2s_secure_auth (the peer's certificate
# must validate: SASL EXTERNAL) and the dialback module loaded, names
# through the bench's dnsmasq; S2S=0: no s2s.
prosody_conf() { # DIR ADDR CERT KEY CA S2S DOMAIN...
    local d=$1 addr=$2 cert=$3 key=$4 ca=$5 s2s=$6 dom
    shift 6
    mkdir -p "$d/data" "$d/certs"
    local s2s_lines
    if [ "$s2s" = 1 ]; then
        s2s_lines="s2s_ports = { $s2s_port }
s2s_direct_tls_ports = { }
modules_enabled = { \"roster\"; \"saslauth\"; \"tls\"; \"disco\"; \"dialback\"; }
s2s_require_encryption = true
s2s_secure_auth = true
unbound = { resolvconf = \"$tmp/resolv.conf\"; hoststxt = \"$tmp/hosts\" }"
    else
        s2s_lines="s2s_ports = { }
modules_enabled = { \"roster\"; \"saslauth\"; \"tls\"; \"disco\"; }
modules_disabled = { \"s2s\"; }"
    fi
    {
        cat <<EOF
run_as_root = true
daemonize = false
pidfile = "$d/prosody.pid"
data_path = "$d/data"
certificates = "$d/certs"
interfaces = { "$addr" }
c2s_ports = { $c2s_port }
c2s_direct_tls_ports = { }
http_ports = { }
https_ports = { }
$s2s_lines
authentication = "internal_hashed"
default_iteration_count = 4096
c2s_require_encryption = true
allow_registration = false
network_settings = { nagle = false }
log = { warn = "$d/prosody.log" }
ssl = { certificate = "$cert"; key = "$key"; cafile = "$ca"; }
EOF
        for dom in "$@"; do
            echo "VirtualHost \"$dom\""
        done
    } >"$d/prosody.cfg.lua"
}

prosody_register() { # DIR USER DOMAIN
    prosodyctl --config "$1/prosody.cfg.lua" register "$2" "$3" "$password" \
        >>"$1/ctl.out" 2>&1
}

# Starts the Prosody of DIR (configured by prosody_conf); pid in $started.
prosody_start() { # DIR ADDR S2S
    ports_free "$2" || return 1
    prosody --config "$1/prosody.cfg.lua" -F >>"$1/out" 2>&1 &
    started=$!
    procs+=("$started")
    if { [ "$3" = 1 ] && ! wait_listen "$2" $s2s_port "$started"; } ||
        ! wait_listen "$2" $c2s_port "$started"; then
        echo "   Prosody on $2 did not listen: $(tail -n 2 "$1/out" "$1/prosody.log" 2>/dev/null)"
        return 1
    fi
}

# ---- ejabberd ---------------------------------------------------------------

# Installs ejabberd when it is missing; else returns 2 with $skip_reason.
ejabberd_check() {
    [ -x /usr/sbin/ejabberdctl ] && return 0
    if DEBIAN_FRONTEND=noninteractive apt-get install -y ejabberd \
        >"$tmp/apt.log" 2>&1 && [ -x /usr/sbin/ejabberdctl ]; then
        echo "   installed ejabberd ($(dpkg-query -W -f '${Version}' ejabberd))"
        # The package may start a system service on every address.
        if command -v systemctl >/dev/null 2>&1; then
            systemctl disable --now ejabberd >/dev/null 2>&1
        fi
        [ -x /etc/init.d/ejabberd ] &&
            /etc/init.d/ejabberd stop >/dev/null 2>&1
        return 0
    fi
    skip_reason="ejabberd is not installed and 'apt-get install -y ejabberd' failed: $(tail -n 1 "$tmp/apt.log")"
    return 2
}

# ejabberdctl for node NAME, as the ejabberd user. setpriv rather than
# ejabberdctl's own su: su resets the open-file limit to 1024.
ejctl() { # NAME ARGS...
    local d=$tmp/ejabberd-$1
    shift
    setpriv --reuid=ejabberd --regid=ejabberd --init-groups \
        env HOME="$d" /usr/sbin/ejabberdctl --config-dir "$d" "$@"
}

# Writes the configuration of node NAME in $tmp/ejabberd-NAME: ejabberd
# on ADDR serving every DOMAIN with CERT/KEY (trusting CA), Erlang
# distribution on 127.0.0.1:DIST_PORT without epmd. No shapers (the
# packaged config holds each client to 3000 B/s), backlog 128 (the
# default 5 causes 1 s retries under parallel logins), SCRAM stored,
# log level warning. S2S=1: an s2s listener on 5269, STARTTLS required
# on s2s, names through the bench's dnsmasq.
ejabberd_conf() { # NAME ADDR DIST_PORT CERT KEY CA S2S DOMAIN...
    local name=$1 addr=$2 dist=$3 cert=$4 key=$5 ca=$6 s2s=$7 dom
    shift 7
    local d=$tmp/ejabberd-$name
    mkdir -p "$d/spool" "$d/logs"
    cp "$ca" "$d/ca.crt"
    cp "$cert" "$d/server.crt"
    cp "$key" "$d/server.key"
    cat >"$d/ejabberdctl.cfg" <<EOF
ERLANG_NODE=ejabberd_${name}_$$@localhost
INET_DIST_INTERFACE=127.0.0.1
ERL_DIST_PORT=$dist
ERL_EPMD_ADDRESS=127.0.0.1
ERL_OPTIONS="-env ERL_CRASH_DUMP_BYTES 0"
ERL_MAX_PORTS=65536
EJABBERD_CONFIG_PATH=$d/ejabberd.yml
EJABBERD_PID_PATH=$d/ejabberd.pid
SPOOL_DIR=$d/spool
LOGS_DIR=$d/logs
CONTRIB_MODULES_PATH=$d/contrib
CONTRIB_MODULES_CONF_DIR=$d/contrib
EOF
    # ejabberdctl passes this file to the VM. As for Prosody, Nagle is
    # off: ejabberd's listeners set TCP_NODELAY but its outgoing s2s
    # connections do not. The schedulers do not busy-wait: on 2 cores
    # shared by the servers and the client, spinning would take CPU from
    # the others while adding to ejabberd's count.
    cat >"$d/vm.args" <<EOF
-kernel inet_default_connect_options [{nodelay,true}]
+sbwt none
+sbwtdcpu none
+sbwtdio none
EOF
    cat >"$d/inetrc" <<EOF
{lookup, [file, dns]}.
{resolv_conf, ""}.
{nameserver, {${dns_addr//./,}}}.
EOF
    {
        echo "hosts:"
        for dom in "$@"; do
            echo "  - $dom"
        done
        cat <<EOF
loglevel: warning
log_rotate_count: 0
hide_sensitive_log_data: true
certfiles:
  - "$d/server.crt"
  - "$d/server.key"
ca_file: "$d/ca.crt"
s2s_cafile: "$d/ca.crt"
s2s_use_starttls: required
s2s_access: all
auth_method: internal
auth_password_format: scram
shaper_rules:
  max_user_sessions: 10000
listen:
  -
    port: $c2s_port
    ip: "$addr"
    module: ejabberd_c2s
    starttls_required: true
    backlog: 128
EOF
        if [ "$s2s" = 1 ]; then
            cat <<EOF
  -
    port: $s2s_port
    ip: "$addr"
    module: ejabberd_s2s_in
    backlog: 128
EOF
        fi
        cat <<EOF
modules:
  mod_roster: {}
  mod_disco: {}
EOF
    } >"$d/ejabberd.yml"
    chown -R ejabberd:ejabberd "$d"
    chmod 600 "$d/server.key"
}

# Starts node NAME (configured by ejabberd_conf) on ADDR; the VM's pid
# in $started. Its wrapper and the VM go into procs, the VM last so that
# it is stopped first and shuts down cleanly.
ejabberd_start() { # NAME ADDR S2S
    local name=$1 d=$tmp/ejabberd-$1 dist
    ports_free "$2" || return 1
    dist=$(sed -n 's/^ERL_DIST_PORT=//p' "$d/ejabberdctl.cfg")
    if ss -Htln "sport = :$dist" 2>/dev/null | grep -q .; then
        echo "   ejabberd $name: distribution port $dist is in use"
        return 1
    fi
    ejctl "$name" foreground >"$d/out" 2>&1 &
    local wrapper=$!
    procs+=("$wrapper")
    local ok=1
    if { [ "$3" = 1 ] && ! wait_listen "$2" $s2s_port "$wrapper" 600; } ||
        ! wait_listen "$2" $c2s_port "$wrapper" 600; then
        echo "   ejabberd $name did not listen: $(tail -n 3 "$d/out" "$d/logs/ejabberd.log" 2>/dev/null)"
        ok=0
    fi
    started=$(listener_pid "$2" $c2s_port)
    [ -n "$started" ] ||
        started=$(pgrep -u ejabberd -f -- "-sname ejabberd_${name}_$$@localhost" | head -n 1)
    [ -n "$started" ] && procs+=("$started")
    [ $ok = 1 ] && [ -n "$started" ]
}

# Creates USER@DOMAIN for each DOMAIN and each USER in one call: an
# XEP-0227 file imported with ejabberdctl import_piefxis (ejabberdctl
# starts an Erlang node per call, about a second each). The node runs.
ejabberd_users() { # NAME "USER..." DOMAIN...
    local name=$1 users=$2 dom u f=$tmp/ejabberd-$1/users.xml
    shift 2
    {
        echo "<?xml version='1.0' encoding='UTF-8'?>"
        echo "<server-data xmlns='urn:xmpp:pie:0'>"
        for dom in "$@"; do
            echo "<host jid='$dom'>"
            for u in $users; do
                echo "<user name='$u' password='$password'/>"
            done
            echo "</host>"
        done
        echo "</server-data>"
    } >"$f"
    chown ejabberd:ejabberd "$f"
    ejctl "$name" import_piefxis "$f" >>"$tmp/ejabberd-$name/ctl.out" 2>&1
}
