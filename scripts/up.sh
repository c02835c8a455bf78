#!/usr/bin/env bash
# Quick start: installs what is missing, builds, creates the embedded SoftHSM2 token
# and its KEK in the data directory, proves the sandboxed enclave seals and unseals on
# this machine, then unlocks the vault (which starts keycelld in the background), adds
# a demo credential and lists the vault. Asks for a new vault PIN (no echo), or reads
# it from a file descriptor for scripts:
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
keycell=$bin/keycell
if [ -n "$pin_fd" ]; then
  "$keycell" init --pin-fd "$pin_fd"
  # Re-open the same file from its start for each later use (a pipe cannot be re-read).
  "$keycell" selfcheck --pin-fd 9 9</dev/fd/"$pin_fd"
  "$keycell" unlock --pin-fd 9 9</dev/fd/"$pin_fd"
else
  "$keycell" init
  "$keycell" selfcheck
  "$keycell" unlock
fi
# A demo credential: a random value that can only ever be sent to api.example.com.
set +e
head -c 24 /dev/urandom | base64 | "$keycell" add keycell-demo --allow-host api.example.com --inject bearer \
  --notes "created by scripts/up.sh; remove with: keycell rm keycell-demo --yes"
rc=$?
set -e
[ $rc -eq 0 ] || [ $rc -eq 8 ] || exit $rc   # 8: already there from an earlier run
"$keycell" list
echo
echo "keycell is running (keycelld in the background). Add it to PATH:"
echo "  export PATH=\"$bin:\$PATH\""
