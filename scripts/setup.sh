#!/usr/bin/env bash
# Set up Café Monitor on a fresh Debian/Ubuntu machine (or any machine with Python 3.10+):
# system libraries for OpenCV/MediaPipe/Qt when missing, then a virtual environment
# in .venv with the package and the extras asked for (default: test, postgres).
#   scripts/setup.sh            # runtime + tests
#   EXTRAS=training scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="${EXTRAS:-test,postgres,training}"

need_pkgs=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in libgl1 libglib2.0-0 libegl1 libgles2 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 \
           libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0 libxcb-randr0 \
           libxcb-render-util0 libxcb-image0 libportaudio2; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need_pkgs+=("$p")
  done
  if [ "${#need_pkgs[@]}" -gt 0 ]; then
    echo "installing system libraries: ${need_pkgs[*]}"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
  fi
fi

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
case ",$EXTRAS," in
  # A bare "torch" from PyPI is a multi-GB CUDA build on Linux; take the pinned CPU
  # build first (this team's machines have it on local disk) unless torch is present.
  *,training,*) .venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/python -m pip install -q "torch==${TORCH_VERSION:-2.13.0}" ;;
esac
.venv/bin/python -m pip install -q -e ".[${EXTRAS}]"
echo "ready: .venv/bin/cafe-monitor"
