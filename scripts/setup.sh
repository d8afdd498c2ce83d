#!/usr/bin/env bash
# Set up SepBoard in ./.venv, system libraries included.
#
#   scripts/setup.sh            runtime (ONNX Runtime CPU) + the embedded default model
#   scripts/setup.sh --test     + pytest, pytest-qt, import-linter, torch (CPU) and what the tests render audio with
#   scripts/setup.sh --train    + torch, onnx, MiniLM, soundfonts, espeak-ng (export/, training)
#   scripts/setup.sh --gpu      onnxruntime-gpu instead of onnxruntime (never both: one import folder)
#   scripts/setup.sh --ray      + Ray Data for catalog-scale rendering
#
# Idempotent: re-running installs only what is missing. Needs Python >= 3.10 (PYTHON=... to choose).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
ort=cpu
extras=()
apt_pkgs=(libportaudio2 libsndfile1)
render_pkgs=(fluidsynth fluid-soundfont-gm timgm6mb-soundfont musescore-general-soundfont-small)
for arg in "$@"; do
  case "$arg" in
    --test)  extras+=(test); apt_pkgs+=("${render_pkgs[@]}" xvfb xauth libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0
                               libfontconfig1 libdbus-1-3 fonts-dejavu-core libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1
                               libxcb-shape0 libxcb-xkb1 libxcb-randr0 libxcb-render-util0 libxcb-image0) ;;
    --train) extras+=(export); apt_pkgs+=("${render_pkgs[@]}" csound-soundfont fluidr3mono-gm-soundfont
                               espeak-ng) ;;
    --gpu)   ort=gpu ;;
    --ray)   extras+=(ray) ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "unknown option: $arg (see --help)" >&2; exit 2 ;;
  esac
done

missing=()
if command -v dpkg >/dev/null 2>&1; then
  for p in "${apt_pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
fi
if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    echo "installing system packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "warning: install these system packages with your package manager: ${missing[*]}" >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
# A switch between [cpu] and [gpu] must remove the other ONNX Runtime first: both own onnxruntime/.
other=$([ "$ort" = cpu ] && echo onnxruntime-gpu || echo onnxruntime)
if .venv/bin/python -m pip show -q "$other" >/dev/null 2>&1; then
  .venv/bin/python -m pip uninstall -y -q "$other"
  .venv/bin/python -m pip uninstall -y -q "$([ "$ort" = cpu ] && echo onnxruntime || echo onnxruntime-gpu)" || true
fi
spec=".[$(IFS=,; echo "$ort${extras[*]:+,${extras[*]}}")]"
spec=${spec// /,}
echo "installing sepboard $spec into .venv"
# torch (export/test extras only) is pinned to 2.13.0: here it resolves to the CPU build on local disk.
.venv/bin/python -m pip install -q --disable-pip-version-check -e "$spec"
echo "ready: .venv/bin/python -m plugin.render --help"
