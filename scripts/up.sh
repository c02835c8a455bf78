#!/usr/bin/env bash
# Quick start: installs what is missing, builds, creates the embedded SoftHSM2 token
# and its KEK in the data directory, then proves the sandboxed enclave seals and
# unseals on this machine. Asks for a new vault PIN (no echo), or reads it from a
# file descriptor for scripts:
#   ./scripts/up.sh
#   ./scripts/up.sh --pin-fd 3 3<pinfile      # pinfile: one line, mode 0600
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
pin_fd=""
if [ "${1:-}" = "--pin-fd" ] && [ -n "${2:-}" ]; then
  pin_fd=$2
elif [ $# -gt 0 ]; then
  echo "usage: $0 [--pin-fd N]" >&2
  exit 2
fi
"$root/scripts/build.sh"
bin=${KEYCELL_BUILD_DIR:-$root/build}/bin
if [ -n "$pin_fd" ]; then
  "$bin/keycell" init --pin-fd "$pin_fd"
  # Re-open the same file from its start for the self-check (a pipe cannot be re-read).
  "$bin/keycell" selfcheck --pin-fd 9 9</dev/fd/"$pin_fd"
else
  "$bin/keycell" init
  "$bin/keycell" selfcheck
fi
echo
echo "keycell is built in $bin (add it to PATH: export PATH=\"$bin:\$PATH\")"
