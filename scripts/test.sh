#!/usr/bin/env bash
# The whole test suite, from a clean checkout: sets up .venv (scripts/setup.sh), starts a
# throw-away PostgreSQL on 127.0.0.1 for the chain-of-shops tests, runs pytest offscreen.
# Extra arguments go to pytest (e.g. scripts/test.sh -k tracking).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# QEMU's user mode emulates an x86-64 CPU without VNNI for tests/test_int8_every_cpu.py
if [ "$(uname -m)" = x86_64 ] && ! command -v qemu-x86_64 >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  scripts/apt-install.sh qemu-user || echo "qemu-user unavailable: the emulated-CPU tests will be skipped" >&2
fi
# desktop-file-validate checks the menu and autostart entries (tests/test_desktop.py)
if ! command -v desktop-file-validate >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  scripts/apt-install.sh desktop-file-utils || echo "desktop-file-utils unavailable: the .desktop validation will be skipped" >&2
fi
# systemd-analyze checks the autostart unit (tests/test_autostart.py); pdftotext reads the PDF
# reports back (tests/test_reports.py). CI requires both (CAFE_MONITOR_REQUIRE_TOOLS in .ci/run).
tools=()
command -v systemd-analyze >/dev/null 2>&1 || tools+=(systemd)
command -v pdftotext >/dev/null 2>&1 || tools+=(poppler-utils)
if [ "${#tools[@]}" -gt 0 ] && command -v apt-get >/dev/null 2>&1; then
  scripts/apt-install.sh "${tools[@]}" || echo "${tools[*]} unavailable: their tests will be skipped" >&2
fi
if out="$(scripts/pg-test-server.sh start)"; then
  eval "$out"
  trap 'scripts/pg-test-server.sh stop' EXIT
elif [ "${CAFE_MONITOR_REQUIRE_PG:-0}" = 1 ]; then
  echo "PostgreSQL test server could not be started" >&2; exit 1
else
  echo "PostgreSQL unavailable: its tests will be skipped" >&2
fi
export QT_QPA_PLATFORM=offscreen
# -rs: every skip's reason in the summary; --durations: the slowest tests, to keep the suite quick
.venv/bin/python -m pytest -q -p no:cacheprovider -rs --durations=25 "$@"
