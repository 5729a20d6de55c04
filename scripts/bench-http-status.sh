#!/usr/bin/env bash
# GET /api/v1/guild/1/status over 64 keep-alive connections (wrk), against `timeledger serve`
# with the engine calls admitted in arrival order (--workers, default the number of cores) and
# without the gate (--workers 0), interleaved, ROUNDS rounds of SECONDS each. Not run by CI.
#   bash scripts/bench-http-status.sh [ROUNDS=3] [SECONDS=8]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-3}"; SECS="${2:-8}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release -q -p timeledger-server
TMP="$(mktemp -d)"; trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$TMP"' EXIT
PID=""; BASE=""
export TIMELEDGER_MASTER_KEY=bench-master-key-0001
start() { # $@ = extra serve flags; sets BASE and PID
  : > "$TMP/addr"
  target/release/timeledger serve --db "$TMP/bench.db" --listen 127.0.0.1:0 "$@" 2>/dev/null > "$TMP/addr" &
  PID=$!
  for _ in $(seq 50); do [ -s "$TMP/addr" ] && break; sleep 0.1; done
  BASE="$(sed 's/listening on //' "$TMP/addr")"
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; }
start --workers 0
KEY="$(curl -s -X POST "$BASE/api/v1/auth/generate" -H 'Content-Type: application/json' \
  -d "{\"guild_id\": 1, \"admin_user_id\": 2, \"master_key\": \"$TIMELEDGER_MASTER_KEY\", \"tier\": \"ADMIN\"}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')"
for i in $(seq 20); do
  curl -s -X POST "$BASE/api/v1/guild/1/clockin" -H "X-API-Key: $KEY" -H 'Content-Type: application/json' \
    -d "{\"user_id\": $i, \"category\": \"dev\"}" >/dev/null || true
done
curl -s -X POST "$BASE/api/v1/guild/1/categories" -H "X-API-Key: $KEY" -H 'Content-Type: application/json' -d '{"name": "dev"}' >/dev/null
stop
for round in $(seq "$ROUNDS"); do
  for workers in 0 default; do
    if [ "$workers" = default ]; then start; else start --workers "$workers"; fi
    out="$(wrk -t2 -c64 -d"${SECS}s" --latency -H "X-API-Key: $KEY" "$BASE/api/v1/guild/1/status")"
    rps="$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
    p50="$(awk '$1=="50%" {print $2}' <<<"$out")"; p99="$(awk '$1=="99%" {print $2}' <<<"$out")"
    non2xx="$(awk '/Non-2xx/ {print $NF}' <<<"$out")"
    echo "round $round workers=$workers: $rps req/s p50 $p50 p99 $p99 non-2xx ${non2xx:-0}"
    stop
  done
done
