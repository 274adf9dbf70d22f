#!/usr/bin/env bash
# Set up Café Monitor on a fresh Debian/Ubuntu machine (or any machine with Python 3.10+):
# system libraries for OpenCV/MediaPipe/Qt and python3-venv when missing, then a virtual
# environment in .venv with the package and the extras asked for (default: all of them).
#   scripts/setup.sh            # runtime + tests + training (CPU torch)
#   EXTRAS=postgres scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="${EXTRAS:-test,postgres,training}"
PY="${PYTHON:-python3}"
# PyTorch's own index of CPU-only wheels: PyPI's Linux torch is the CUDA build, which pulls
# ~18 NVIDIA packages (~3 GB) that a CPU-only training and test run never uses.
TORCH_CPU_INDEX="${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}"
# apt's and pip's own output goes here (shown only when a step fails): the test log shows tests
export CAFE_APT_LOG="${CAFE_SETUP_LOG:-${TMPDIR:-/tmp}/cafe-monitor-setup.log}"
logged() {
  "$@" >>"$CAFE_APT_LOG" 2>&1 && return 0
  echo "failed: $* (last lines of $CAFE_APT_LOG follow)" >&2
  tail -n 30 "$CAFE_APT_LOG" >&2
  exit 1
}

need_pkgs=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in libgl1 libglib2.0-0 libegl1 libgles2 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 \
           libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0 libxcb-randr0 \
           libxcb-render-util0 libxcb-image0 libportaudio2; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need_pkgs+=("$p")
  done
  # Debian ships `venv` without ensurepip; python3.X-venv brings it
  if [ ! -x .venv/bin/python ] && ! "$PY" -c "import ensurepip, venv" 2>/dev/null; then
    need_pkgs+=("python$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-venv")
  fi
  [ "${#need_pkgs[@]}" -eq 0 ] || scripts/apt-install.sh "${need_pkgs[@]}"
fi

if ! .venv/bin/python -m pip --version >/dev/null 2>&1; then
  rm -rf .venv  # none yet, or left half-made by a `venv` without ensurepip
  echo "creating .venv"
  logged "$PY" -m venv .venv
fi
logged .venv/bin/python -m pip install --upgrade pip
case ",$EXTRAS," in
  *,training,*)
    if ! .venv/bin/python -c "import torch" 2>/dev/null; then
      # The pinned CPU build: from PyTorch's CPU index when it answers, else whatever the
      # configured index gives (a local mirror or wheel folder; on Linux PyPI's is the CUDA build).
      torch_from=()
      if .venv/bin/python -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + '/torch/', timeout=10)" \
           "$TORCH_CPU_INDEX" 2>/dev/null; then
        torch_from=(--extra-index-url "$TORCH_CPU_INDEX")  # its "+cpu" wheels sort above PyPI's same version
        echo "installing torch ${TORCH_VERSION:-2.13.0} (CPU build, $TORCH_CPU_INDEX)"
      else
        echo "installing torch ${TORCH_VERSION:-2.13.0} ($TORCH_CPU_INDEX unreachable: configured index)"
      fi
      logged .venv/bin/python -m pip install "${torch_from[@]}" "torch==${TORCH_VERSION:-2.13.0}"
    fi ;;
esac
echo "installing cafe-monitor [${EXTRAS}] (pip's output: $CAFE_APT_LOG)"
logged .venv/bin/python -m pip install -e ".[${EXTRAS}]"
echo "ready: .venv/bin/cafe-monitor ($(du -sh .venv 2>/dev/null | cut -f1) in .venv)"
