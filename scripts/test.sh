#!/usr/bin/env bash
# Sets up (first run only) and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/install-browser.sh
# Two test processes, each taking whole files (module fixtures are built once):
# most tests use one core, so on CI's two cores the suite takes about 7 minutes
# instead of 8.5. TEST_WORKERS=0 runs everything in this process; arguments
# given here come last and win (e.g. -n 0).
exec .venv/bin/python -m pytest -n "${TEST_WORKERS:-2}" --dist loadfile "$@"
