#!/usr/bin/env bash
# Installs promtool, Prometheus's checker, into .tools/bin (gitignored) for test/metrics.test.ts,
# which lints a live /metrics with `promtool check metrics`. It comes from Debian's `prometheus`
# package (package registries only are reachable): the package is downloaded, not installed,
# and only promtool is unpacked from it, so no Prometheus server is set up or started. Building
# it with `go install` instead would compile most of Prometheus, minutes on a small machine.
# Does nothing when .tools/bin/promtool already runs.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=$PWD/.tools/bin
if "$bin/promtool" --version >/dev/null 2>&1; then
  echo "promtool: present ($("$bin/promtool" --version 2>&1 | head -1))"
  exit 0
fi
mkdir -p "$bin"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# apt-get download writes into the current folder; it needs the package lists, so they are
# fetched once when the first try finds no candidate.
(cd "$work" && { apt-get download -qq prometheus 2>/dev/null || { apt-get update -qq && apt-get download -qq prometheus; }; })
dpkg-deb -x "$work"/prometheus_*.deb "$work/root"
install -m 0755 "$work/root/usr/bin/promtool" "$bin/promtool"
echo "promtool: installed ($("$bin/promtool" --version 2>&1 | head -1))"
