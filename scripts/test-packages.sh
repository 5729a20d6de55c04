#!/usr/bin/env bash
# Installs each artifact of scripts/package.sh in a fresh folder outside the repo and runs a small
# program against it: the wheel and the npm tarball with no cargo or rustc on PATH, the C SDK
# with only a C compiler and pkg-config. The crate was already built from its packaged sources
# by `cargo package`.
#   bash scripts/test-packages.sh      (after bash scripts/package.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
DIST="$ROOT/dist"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
step() { printf '\n==> %s\n' "$*"; }

# PATH without any folder that holds cargo or rustc.
NO_RUST_PATH=""
IFS=: read -r -a dirs <<< "$PATH"
for d in "${dirs[@]}"; do
  [ -e "$d/cargo" ] || [ -e "$d/rustc" ] || NO_RUST_PATH="${NO_RUST_PATH:+$NO_RUST_PATH:}$d"
done
norust() { env PATH="$NO_RUST_PATH" "$@"; }
norust sh -c '! command -v cargo >/dev/null && ! command -v rustc >/dev/null' || { echo "cargo still on PATH"; exit 1; }

expect_hours() { # $1: output, $2: label
  echo "$1"
  grep -Eq "$2 3\.5$" <<< "$1" || { echo "$2: expected 3.5 hours"; exit 1; }
}

step "Python wheel: pip install into a fresh virtualenv, no Rust on PATH"
mkdir -p "$WORK/py" && cp tests/packages/app.py "$WORK/py/"
norust python3 -m venv "$WORK/py/venv"
norust "$WORK/py/venv/bin/pip" install -q --disable-pip-version-check --no-index "$DIST"/timeledger-*.whl
out=$(cd "$WORK/py" && norust venv/bin/python app.py "$WORK/py/app.db")
expect_hours "$out" "python hours"

step "npm tarball: npm install into an empty project, no Rust on PATH, no install scripts to run"
mkdir -p "$WORK/node" && cp tests/packages/app.js "$WORK/node/"
(cd "$WORK/node" && norust npm init -y >/dev/null && \
  norust npm install --no-audit --no-fund --loglevel=error "$DIST"/timeledger-[0-9]*.tgz)
out=$(cd "$WORK/node" && norust node app.js "$WORK/node/app.db")
expect_hours "$out" "node hours"

step "C SDK: extract anywhere, build with pkg-config (shared and static), run"
tar -C "$WORK" -xzf "$DIST"/timeledger-c-*.tar.gz
sdk=$(echo "$WORK"/timeledger-c-*)
cp tests/packages/app.c "$WORK/"
export PKG_CONFIG_PATH="$sdk/lib/pkgconfig"
(cd "$WORK" && norust cc -std=c11 -Wall -Werror app.c $(pkg-config --cflags --libs timeledger) -o app_shared)
(cd "$WORK" && norust cc -std=c11 -Wall -Werror app.c $(pkg-config --cflags timeledger) "$sdk/lib/libtimeledger.a" \
  $(pkg-config --static --libs-only-l timeledger | sed 's/-ltimeledger//') -o app_static)
for app in app_shared app_static; do
  out=$(cd "$WORK" && norust "./$app" "$WORK/$app.db")
  echo "$out"
  grep -q '"total_time_seconds":12600' <<< "$out" || { echo "$app: expected 12600 seconds"; exit 1; }
done
size=$(stat -c %s "$sdk/lib/libtimeledger.a")
echo "libtimeledger.a: $((size / 1024 / 1024)) MiB"
if readelf -S "$sdk/lib/libtimeledger.so" | grep -q '\.debug_info'; then echo "libtimeledger.so has debug info"; exit 1; fi

step "Crate: the packaged sources built (cargo package); contents"
tar tzf "$DIST"/timeledger-[0-9]*.crate | grep -E '/(Cargo.toml|README.md|src/lib.rs)$'

echo
echo "packages: 4 passed, 0 failed"
