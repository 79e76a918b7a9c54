#!/usr/bin/env bash
# Installs Debian's Chromium for the browser test (Playwright cannot download
# its own browser on these machines). Does nothing when it is already there.
set -euo pipefail
[ -x /usr/bin/chromium ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "The browser test needs Chromium at /usr/bin/chromium: run 'sudo apt-get install -y chromium chromium-driver'." >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium chromium-driver > /dev/null
