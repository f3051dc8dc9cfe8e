#!/usr/bin/env bash
# Starts the distribution's packaged PostgreSQL (Debian 12: version 15) in a private data
# directory on a loopback port, so the test suite can run against a second major version
# besides the embedded one. Installs the server package when missing. Prints the admin URL.
#   PORT   port to listen on (default 55432)
set -euo pipefail

if ! compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; then
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
port=${PORT:-55432}
dir=$(mktemp -d /tmp/baton-system-pg-XXXXXX)
chmod 755 "$dir"
# The server refuses to run as root; Debian's package creates the postgres user.
chown postgres "$dir"
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
as_postgres "$bin/initdb" -D "$dir/data" -U baton --auth=trust >/dev/null
as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off" start >/dev/null
echo "postgres://baton@127.0.0.1:$port/postgres"
