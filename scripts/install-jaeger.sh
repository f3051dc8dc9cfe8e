#!/usr/bin/env bash
# Builds Jaeger v2 (the all-in-one `jaeger` binary: an OpenTelemetry Collector distribution with
# OTLP receivers, an in-memory trace store and the query API) into .tools/bin, for
# test/jaeger.test.ts. Its source comes from the Go module proxy, pinned: the v2 line keeps the
# module path github.com/jaegertracing/jaeger with v1.x versions. `go install module@version`
# refuses a module whose go.mod has replace directives, as Jaeger's does, so the pinned module
# source is built as the main module from a copy (go.sum included, so every dependency is
# checked). A binary already at the wanted version is kept; the first build takes several
# minutes, later ones reuse Go's module and build caches.
set -euo pipefail
cd "$(dirname "$0")/.."

JAEGER_MODULE=github.com/jaegertracing/jaeger
JAEGER_VERSION=v1.75.0
bin=$PWD/.tools/bin
mkdir -p "$bin"

if [[ $("$bin/jaeger" version 2>/dev/null) == *"\"gitVersion\":\"$JAEGER_VERSION\""* ]]; then
  echo "jaeger $JAEGER_VERSION: present"
  exit 0
fi
command -v go >/dev/null || { echo "install-jaeger: Go is needed to build Jaeger" >&2; exit 1; }
echo "jaeger $JAEGER_VERSION: building from the Go module proxy (several minutes the first time)"
source_dir=$(go mod download -json "$JAEGER_MODULE@$JAEGER_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[[ -n $source_dir ]] || { echo "install-jaeger: could not download $JAEGER_MODULE@$JAEGER_VERSION" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -R "$source_dir/." "$work"
chmod -R u+w "$work"
# CGO off: a static binary that needs nothing from the machine's C toolchain. The version is
# stamped as Jaeger's release build does, so `jaeger version` tells what is installed.
(cd "$work" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath \
  -ldflags "-X $JAEGER_MODULE/internal/version.latestVersion=$JAEGER_VERSION" -o "$bin/jaeger" ./cmd/jaeger)
"$bin/jaeger" version 2>/dev/null && echo
