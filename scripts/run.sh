#!/usr/bin/env bash
# Sets up (first run only) and runs the main job. With no arguments it
# analyses the bundled Edison album; any arguments go to `python -m pipeline`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ $# -eq 0 ]; then
  out=$(mktemp -d "${TMPDIR:-/tmp}/timelapse-XXXXXX")
  set -- analyze assets/examples/edison --birth-date 1847-02-11 --json "$out/analysis.json" --faces-dir "$out/faces"
  echo "Writing results to $out" >&2
fi
exec .venv/bin/python -m pipeline "$@"
