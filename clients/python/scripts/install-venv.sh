#!/usr/bin/env bash
# Creates clients/python/.venv with the pinned dependencies of the Python client, its tests and
# the code generator (grpcio-tools), and installs the client itself in editable mode.
# Safe to re-run: it does nothing when requirements-dev.txt and pyproject.toml have not changed.
set -euo pipefail
cd "$(dirname "$0")/.."

# Test files run in parallel and may all call this at once: one installs, the others wait.
exec 8<"scripts/install-venv.sh"
flock 8

python="${PYTHON:-python3}"
venv=.venv
stamp="$venv/.requirements"
if [[ -f "$stamp" ]] && cat requirements-dev.txt pyproject.toml | cmp -s - "$stamp"; then exit 0; fi

"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --editable .
cat requirements-dev.txt pyproject.toml > "$stamp"
