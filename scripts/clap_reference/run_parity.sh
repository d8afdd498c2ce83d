#!/usr/bin/env bash
# Parity of SepBoard's CLAP text export with laion-clap itself (a separate CI step; minutes).
#
#   scripts/clap_reference/run_parity.sh            # check against a freshly computed reference
#   scripts/clap_reference/run_parity.sh --update   # ... and replace tests/golden/clap_text_reference.npz
#
# 1. builds/reuses the isolated laion-clap environment (setup.sh; CLAPREF=/tmp/clapref by default),
# 2. computes laion-clap's embeddings offline on deterministic random weights (reference.py),
# 3. runs our export + runtime against them with the project's own interpreter (SEPBOARD_PYTHON,
#    default .venv/bin/python) and prints the numbers; exits non-zero if tokens differ or
#    cosine < 0.9999 or max abs > 1e-4.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${CLAPREF:-/tmp/clapref}
PY=${SEPBOARD_PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
update=0
[ "${1:-}" = "--update" ] && update=1

CLAPREF="$VENV" scripts/clap_reference/setup.sh
fresh=$(mktemp -d)/clap_text_reference.npz
"$VENV/bin/python" scripts/clap_reference/reference.py --out "$fresh"
"$PY" tests/build/test_clap_golden.py --reference "$fresh"
CLAP_REFERENCE="$fresh" "$PY" -m pytest -q tests/build/test_clap_golden.py
if [ $update -eq 1 ]; then
  cp "$fresh" tests/golden/clap_text_reference.npz
  echo "updated tests/golden/clap_text_reference.npz"
fi
