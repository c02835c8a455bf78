#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite (unit, pkcs11,
# sandbox, integration, fuzz corpus replays), then a short fuzzing smoke run.
# KEYCELL_FUZZ_SECONDS=0 skips the smoke; a larger value fuzzes longer.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${KEYCELL_BUILD_DIR:-$root/build}
"$root/scripts/build.sh"
cd "$build"
ctest --output-on-failure --parallel "$(nproc)" --timeout 600
fuzz_seconds=${KEYCELL_FUZZ_SECONDS:-10}
if [ "$fuzz_seconds" -gt 0 ] && [ -x "$root/fuzz/run.sh" ]; then
  "$root/fuzz/run.sh" "$fuzz_seconds"
fi
