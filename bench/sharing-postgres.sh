#!/usr/bin/env bash
# The `sharing` benchmark on PostgreSQL: Debian's postgresql in a temporary directory on a free loopback port
# (as the sharing service tests start it), then `bench sharing --postgres …`, then the cluster removed.
# Usage: bash bench/sharing-postgres.sh [bench options, e.g. --changes 100 --seconds 10 --clients 8]
set -euo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
dir=$(mktemp -d /tmp/hikshare-bench-pg-XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as=()
if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; as=(runuser -u postgres --); fi
cleanup() { "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT
"${as[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-sync >/dev/null
"${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100" start >/dev/null
"${as[@]}" "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE DATABASE bench" >/dev/null
cd "$(dirname "$0")/.."
dotnet run -c Release --project bench/HikShareGateway.Bench -- sharing --postgres "Host=127.0.0.1;Port=$port;Username=postgres;Database=bench;Maximum Pool Size=30" "$@"
