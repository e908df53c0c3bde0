#!/usr/bin/env bash
# Installs exactly the Debian 12 packages Causeway's build, tests and benchmarks need.
# Idempotent: packages already present are left alone, and apt is only touched when something is missing.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config
  # declared libraries
  libboost-dev libssl-dev libexpat1-dev libabsl-dev libstrophe-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # chosen libraries: DNS (RFC 3263 NAPTR/SRV), TOML config, embedded storage (user directory)
  libc-ares-dev libtomlplusplus-dev libsqlite3-dev
  # JIDs (RFC 7622): PRECIS profiles through ICU, IDNA2008/UTS #46 domainparts through libidn2;
  # precis-i18n is the independent reference the JID tests compare with
  libicu-dev libidn2-dev python3-precis-i18n
  # fuzzing and sanitizers
  clang-14 libclang-rt-14-dev
  # real peers and tools used by tests and benchmarks
  sip-tester kamailio kamailio-presence-modules kamailio-sqlite-modules openssl procps python3 python3-dnslib
  # the real Lync-protocol client (pidgin-sipe) and what its headless libpurple driver builds with
  pidgin-sipe libpurple-dev libglib2.0-dev libxml2-dev
  # XMPP peers: Prosody (s2s and component tests; lua-unbound keeps its first s2s lookup from
  # stalling), slixmpp clients, iproute2 for the tests' network namespaces
  prosody lua-unbound python3-slixmpp iproute2
  # TURN/STUN peers: coturn's turnutils_uclient/turnutils_peer (relay tests, reference relay for the
  # benchmarks), aioice (ICE agents gathering relayed candidates) and libnice through GObject
  # introspection (its OC2007R2 mode is a real MS-TURN client)
  coturn python3-aioice gir1.2-nice-0.1 python3-gi
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Kamailio is a benchmark reference only: never leave its packaged service running.
# Nor Prosody's or coturn's: tests start their own instances with their own configuration.
if command -v systemctl >/dev/null 2>&1; then
  $SUDO systemctl disable --now kamailio prosody coturn >/dev/null 2>&1 || true
fi
for service in prosody coturn; do
  if [ -x /etc/init.d/$service ]; then $SUDO /etc/init.d/$service stop >/dev/null 2>&1 || true; fi
done
echo "setup: done"
