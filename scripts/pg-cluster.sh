#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests: Debian's server (installed if missing), initdb in
# a temporary folder run as the `postgres` user (the server refuses root), listening on a local
# port only, trust authentication for local connections. TLS is on, with a certificate for
# `localhost` (only: not for 127.0.0.1) signed by a throwaway CA; the role `tls_only` may log in
# over TLS only. `$STATE/tls` holds the CA (`ca.crt`) and a second, unrelated one
# (`other-ca.crt`) for the TLS tests (TIMELEDGER_TEST_POSTGRES_TLS).
#   bash scripts/pg-cluster.sh start [PORT]   prints the URL (postgres://postgres@127.0.0.1:PORT/postgres)
#   bash scripts/pg-cluster.sh tls-dir        prints the folder of the CA files
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

# A CA, a server certificate for DNS:localhost signed by it, and an unrelated second CA.
make_certs() {
  local d="$1"
  command -v openssl >/dev/null || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null; }
  mkdir -p "$d"
  local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  for ca in ca other-ca; do
    openssl req -x509 "${ec[@]}" -days 2 -subj "/CN=timeledger test $ca" -keyout "$d/$ca.key" -out "$d/$ca.crt" \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
  done
  openssl req "${ec[@]}" -subj "/CN=localhost" -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n' > "$d/server.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
    -extfile "$d/server.ext" -out "$d/server.crt" 2>/dev/null
  chmod 600 "$d/server.key"
  [ "$(id -u)" = 0 ] && chown -R postgres "$d"
  chmod 755 "$d"
  chmod 644 "$d"/*.crt
}

case "$cmd" in
  tls-dir)
    echo "$STATE/tls"
    ;;
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
    make_certs "$STATE/tls"
    # First match wins: tls_only over TLS, never in the clear; everyone else as initdb set it.
    hba="$STATE/data/pg_hba.conf"
    { printf 'hostssl all tls_only 127.0.0.1/32 trust\nhost all tls_only 127.0.0.1/32 reject\n'; cat "$hba"; } > "$hba.new"
    mv "$hba.new" "$hba"
    [ "$(id -u)" = 0 ] && chown postgres "$hba"
    # Throwaway: no fsync. Enough connections for the multi-process tests.
    as_postgres "$BIN/pg_ctl" -D "$STATE/data" -l "$STATE/server.log" -w -o \
      "-p $port -k $STATE -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 -c ssl=on -c ssl_cert_file=$STATE/tls/server.crt -c ssl_key_file=$STATE/tls/server.key" \
      start >/dev/null || { cat "$STATE/server.log"; exit 1; }
    as_postgres "$BIN/psql" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -c "CREATE ROLE tls_only LOGIN SUPERUSER" >/dev/null
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
