#!/usr/bin/env bash
# Installs what is needed, builds causeway and runs it on its embedded defaults
# (SIP on 127.0.0.1 UDP/TCP 5060 and TLS 5061, state in ./causeway-state/). Extra arguments pass through.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/scripts/setup.sh"
cmake -S "$root" -B "$root/build/release" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$root/build/release" -j "$(nproc)" --target causeway
exec "$root/build/release/gateway/causeway" "$@"
