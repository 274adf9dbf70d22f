#!/usr/bin/env bash
# Open the Café Monitor dashboard (setting up .venv on first use). Arguments go to
# `cafe-monitor run`, e.g. scripts/run.sh --source assets/demo.mp4
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/cafe-monitor ] || EXTRAS="${EXTRAS:-postgres}" scripts/setup.sh
exec .venv/bin/cafe-monitor run "$@"
