#!/usr/bin/env bash
# Checks of deploy/ that need neither a cluster nor a Docker engine: hadolint on the
# Dockerfiles, then their build steps run for real outside a container
# (scripts/check-production-build.sh). The chart itself is checked by test/helm.test.ts.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deploy-tools.sh
.tools/bin/hadolint deploy/docker/Dockerfile deploy/examples/worker/Dockerfile
echo "hadolint: Dockerfiles ok"
scripts/check-production-build.sh
