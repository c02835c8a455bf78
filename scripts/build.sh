#!/usr/bin/env bash
# Configures and builds keycell into ./build (or $KEYCELL_BUILD_DIR).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${KEYCELL_BUILD_DIR:-$root/build}
"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKEYCELL_WERROR=ON "$@" >/dev/null
cmake --build "$build" --parallel "$(nproc)"
