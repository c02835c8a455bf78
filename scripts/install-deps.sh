#!/usr/bin/env bash
# Installs every build, test and run-time dependency from Debian 12 packages.
# Idempotent: does nothing when all are present. Works as root or through sudo.
set -euo pipefail

packages=(
  # toolchain
  g++ clang libclang-rt-14-dev cmake ninja-build pkg-config
  # libraries
  libmbedtls-dev libseccomp-dev libnanopb-dev nanopb libcjson-dev libsqlite3-dev libp11-kit-dev libcli11-dev
  # Boost.Beast (header-only HTTP parser for broker/http)
  libboost-dev
  # the token: SoftHSM2 (module + tools)
  softhsm2 libsofthsm2
  # tests
  libgtest-dev libgmock-dev python3-dotenv
  # the CA bundle the enclave trusts for upstream TLS
  ca-certificates
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm, for the pinned MCP clients and conformance suite of tests/mcp_clients (which bring
# their own Node 22): Debian's packages only when no node/npm is installed at all, so a
# NodeSource or nvm install is left alone.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "install-deps: need root or sudo to install: ${missing[*]}" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
