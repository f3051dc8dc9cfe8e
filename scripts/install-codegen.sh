#!/usr/bin/env bash
# Installs the Go and Python code generators that buf.gen.yaml runs as local plugins, at pinned
# versions, inside the repo (.codegen/bin and clients/python/.venv), so `npm run generate` needs
# nothing but Go, Python and the package registries. Safe to re-run: it is quick when up to date.
set -euo pipefail
cd "$(dirname "$0")/.."

PROTOC_GEN_GO=google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
PROTOC_GEN_GO_GRPC=google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2

bin="$PWD/.codegen/bin"
mkdir -p "$bin"
# Test files run in parallel and may all call this at once: one installs, the others wait.
exec 9>"$PWD/.codegen/install.lock"
flock 9
stamp="$bin/.versions"
wanted="$PROTOC_GEN_GO $PROTOC_GEN_GO_GRPC"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$wanted" ]]; then
  GOBIN="$bin" go install "$PROTOC_GEN_GO"
  GOBIN="$bin" go install "$PROTOC_GEN_GO_GRPC"
  echo "$wanted" > "$stamp"
fi

# grpcio-tools (protoc with the Python and gRPC generators built in) lives in the Python
# client's venv, pinned by its requirements file.
clients/python/scripts/install-venv.sh
