#!/usr/bin/env bash
# Installs Debian's Chromium for the dashboard's browser test (test/dashboard.test.ts), which
# drives it with playwright-core. Playwright's own browser download cannot work here (only
# package registries are reachable), so the browser comes from apt. Needs root; does nothing
# when /usr/bin/chromium is already there.
set -euo pipefail
if [[ -x /usr/bin/chromium ]]; then
  echo "install-chromium: $(/usr/bin/chromium --version 2>/dev/null || echo chromium) already installed"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
echo "install-chromium: installed $(/usr/bin/chromium --version)"
