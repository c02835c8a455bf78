#!/usr/bin/env bash
# Installs the pinned MCP clients and conformance suite (package-lock.json) into
# tests/mcp_clients/node_modules with `npm ci`, only when that tree is missing or was
# installed from another lock file: a stamp holds the lock file's SHA-256, so a second
# run costs one sha256sum. --prefer-offline takes packages from npm's cache (~/.npm)
# without asking the registry, so a warm cache installs without the network.
# Run by ctest as the fixture `mcp_clients_npm` (tests/mcp_clients/CMakeLists.txt).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
stamp=$here/node_modules/.keycell-lock-sha256
want=$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$here/node_modules/.bin/node" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "mcp_clients: npm is missing; scripts/install-deps.sh installs it (Debian: nodejs npm)" >&2
  exit 1
fi
# Two builds of this tree must not run npm ci into the same directory at once.
exec 9>"$here/.install.lock"
flock 9
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$here/node_modules/.bin/node" ]; then
  exit 0
fi
echo "mcp_clients: npm ci in $here"
cd "$here"
npm ci --prefer-offline --no-audit --no-fund --loglevel=error
"$here/node_modules/.bin/node" --version >/dev/null  # the pinned Node 22 runs here
echo "$want" >"$stamp"
