#!/bin/sh
# deps.sh -- install every Debian package xmux needs to build, test and bench.
# Does nothing when everything is already present. Run as root on Debian 12.
set -eu

PKGS="
build-essential cmake pkg-config clang clang-tidy clang-format cppcheck
libclang-rt-14-dev llvm
libuv1-dev libssl-dev libexpat1-dev libgsasl-dev libc-ares-dev
libidn-dev libidn2-dev libsqlite3-dev libconfig-dev libcmocka-dev
openssl ca-certificates python3 python3-slixmpp python3-cryptography
prosody lua-unbound dnsmasq-base iproute2 procps gnuplot-nox
"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
        grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done

# Debian's expat only gained XML_SetReparseDeferralEnabled in a stable
# update (CVE-2023-52425); an older one stalls XMPP streams, so upgrade it.
need_expat=0
if [ -f /usr/include/expat.h ] &&
    ! grep -q XML_SetReparseDeferralEnabled /usr/include/expat.h; then
    need_expat=1
fi

if [ -z "$missing" ] && [ "$need_expat" = 0 ]; then
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    echo "deps.sh: missing packages:$missing (run as root to install)" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "deps.sh: installing:$missing${need_expat:+ (expat upgrade)}" >&2
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing libexpat1-dev libexpat1 >/dev/null
# The prosody package starts a system service; xmux's tests run their own.
if command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now prosody >/dev/null 2>&1 || true
fi
if [ -x /etc/init.d/prosody ]; then
    /etc/init.d/prosody stop >/dev/null 2>&1 || true
fi
pkill -x prosody >/dev/null 2>&1 || pkill -f '/usr/bin/prosody' >/dev/null 2>&1 || true
exit 0
