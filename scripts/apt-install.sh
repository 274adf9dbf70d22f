#!/usr/bin/env bash
# Install Debian packages quietly: one line says what is installed, apt's own output goes
# to a log file (shown only when the install fails), so a test log shows tests, not apt.
#   scripts/apt-install.sh PACKAGE...
set -euo pipefail
[ "$#" -gt 0 ] || exit 0
LOG="${CAFE_APT_LOG:-${TMPDIR:-/tmp}/cafe-monitor-apt.log}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "installing Debian packages: $* (log: $LOG)" >&2
if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
         --no-install-recommends "$@"; } >>"$LOG" 2>&1; then
  echo "apt-get could not install: $* (last lines of $LOG follow)" >&2
  tail -n 20 "$LOG" >&2
  exit 1
fi
