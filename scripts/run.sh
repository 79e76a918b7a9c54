#!/usr/bin/env bash
# Sets up (first run only) and runs the main job: with no arguments it renders
# the bundled Edison album into a time-lapse (MP4, GIF, contact sheet, report)
# in a new temporary folder and prints where. `bash scripts/run.sh app` starts
# the web app; any other arguments go to `python -m pipeline`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "${1:-}" = "app" ]; then
  exec .venv/bin/python app.py
fi
if [ $# -eq 0 ]; then
  out=$(mktemp -d "${TMPDIR:-/tmp}/timelapse-XXXXXX")
  set -- render assets/examples/edison --birth-date 1847-02-11 --seconds-per-year 0.08 --hold 0.5 -o "$out/edison.mp4" \
    --gif "$out/edison.gif" --contact-sheet "$out/edison_sheet.png" --report "$out/report.json"
  echo "Writing the Edison time-lapse to $out" >&2
fi
exec .venv/bin/python -m pipeline "$@"
