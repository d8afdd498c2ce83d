#!/usr/bin/env bash
# Build the isolated laion-clap reference environment used by run_parity.sh (never by the test suite).
#
#   scripts/clap_reference/setup.sh            -> /tmp/clapref (CLAPREF=... to choose the folder)
#
# Why its own venv and these pins (see README.md beside this file):
# - laion-clap 1.1.7 pins numpy<2 (SepBoard uses numpy 2);
# - torch==2.13.0: on our machines this resolves to the CPU wheel on local disk; a plain `torch`
#   would pull a multi-GB CUDA build;
# - transformers<5: its RobertaTokenizer is the original pure-Python one that AudioSep ran
#   (AudioSep pins transformers 4.28.1), so token ids are checked against an independent
#   implementation, not against the `tokenizers` library that SepBoard itself uses;
# - pillow: imported by laion_clap/training/data.py but not declared;
# - torchvision is NOT installed: PyPI's wheel does not load beside CPU torch ("operator
#   torchvision::nms does not exist"); reference.py stubs the modules laion-clap imports.
# Idempotent: re-running only installs what is missing.
set -euo pipefail
VENV=${CLAPREF:-/tmp/clapref}
PY=${PYTHON:-python3}
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check \
  "torch==2.13.0" "laion-clap==1.1.7" "numpy<2" "transformers>=4.30,<5" pillow
"$VENV/bin/python" - <<'PY'
import importlib.metadata as md
for p in ("laion-clap", "torch", "transformers", "tokenizers", "numpy"):
    print(f"{p}=={md.version(p)}")
PY
echo "reference environment ready: $VENV"
