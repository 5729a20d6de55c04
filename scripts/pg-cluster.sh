#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests: Debian's server (installed if missing), initdb in
# a temporary folder run as the `postgres` user (the server refuses root), listening on a local
# port only, trust authentication for local connections.
#   bash scripts/pg-cluster.sh start [PORT]   prints the URL (postgres://postgres@127.0.0.1:PORT/postgres)
#   bash scripts/pg-cluster.sh stop           stops it and removes its folder
set -euo pipefail
STATE="${TMPDIR:-/tmp}/timeledger-pg"
cmd="${1:-}"
port="${2:-54329}"

bin_dir() {
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
  if [ -z "$d" ] || [ ! -x "$d/initdb" ]; then
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    d="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
  fi
  echo "$d"
}

as_postgres() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

case "$cmd" in
  start)
    BIN="$(bin_dir)"
    if [ -f "$STATE/port" ] && as_postgres "$BIN/pg_ctl" -D "$STATE/data" status >/dev/null 2>&1; then
      echo "postgres://postgres@127.0.0.1:$(cat "$STATE/port")/postgres"
      exit 0
    fi
    rm -rf "$STATE"
    mkdir -p "$STATE"
    [ "$(id -u)" = 0 ] && chown postgres "$STATE"
    as_postgres "$BIN/initdb" -D "$STATE/data" -U postgres --auth=trust -E UTF8 --no-sync >"$STATE/initdb.log" 2>&1 \
      || { cat "$STATE/initdb.log"; exit 1; }
    # Throwaway: no fsync. Enough connections for the multi-process tests.
    as_postgres "$BIN/pg_ctl" -D "$STATE/data" -l "$STATE/server.log" -w -o \
      "-p $port -k $STATE -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
      start >/dev/null || { cat "$STATE/server.log"; exit 1; }
    echo "$port" > "$STATE/port"
    echo "postgres://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    if [ -d "$STATE/data" ]; then
      BIN="$(bin_dir)"
      as_postgres "$BIN/pg_ctl" -D "$STATE/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$STATE"
    ;;
  *)
    echo "usage: $0 start [PORT] | stop" >&2
    exit 2
    ;;
esac
