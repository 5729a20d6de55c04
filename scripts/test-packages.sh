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

step "README quickstarts, copied verbatim into empty folders, each run twice on the same file"
block() { # $1: the README section's heading, $2: the fence's language
  python3 - "$1" "$2" <<'PY'
import re, sys
readme = open("README.md").read()
section = readme.split("## " + sys.argv[1] + "\n", 1)[1]
print(re.findall(r"```" + re.escape(sys.argv[2]) + r"\n(.*?)```", section, re.S)[0], end="")
PY
}
twice() { # $1: label, $2: folder, $3...: command; both runs must report 3.5 hours
  local label=$1 dir=$2; shift 2
  for run in 1 2; do
    out=$(cd "$dir" && "$@")
    grep -Eq '(Total hours: |total hours: |"total_time_hours":)3\.5\b' <<< "$out" || { echo "$out"; echo "$label run $run: expected 3.5 hours"; exit 1; }
    echo "$label run $run: 3.5 hours"
  done
}
mkdir -p "$WORK/qs-py" && block "Python quickstart" python > "$WORK/qs-py/quickstart.py"
twice "Python quickstart" "$WORK/qs-py" norust "$WORK/py/venv/bin/python" quickstart.py
mkdir -p "$WORK/qs-node/node_modules" && block "Node quickstart" js > "$WORK/qs-node/quickstart.js"
cp -r "$WORK/node/node_modules/timeledger" "$WORK/qs-node/node_modules/"
twice "Node quickstart" "$WORK/qs-node" norust node quickstart.js
mkdir -p "$WORK/qs-c" && block "C quickstart" c > "$WORK/qs-c/example.c"
(cd "$WORK/qs-c" && norust cc -std=c11 -Wall -Werror example.c $(pkg-config --cflags --libs timeledger) -o example)
twice "C quickstart" "$WORK/qs-c" norust ./example
mkdir -p "$WORK/qs-rust/src"
block "Rust quickstart" toml | sed "s#/path/to/timeledger/core#$ROOT/core#" > "$WORK/qs-rust/Cargo.toml.deps"
{ printf '[package]\nname = "quickstart"\nversion = "0.1.0"\nedition = "2021"\n\n'; cat "$WORK/qs-rust/Cargo.toml.deps"; } > "$WORK/qs-rust/Cargo.toml"
block "Rust quickstart" rust,no_run > "$WORK/qs-rust/src/main.rs"
cp Cargo.lock "$WORK/qs-rust/"   # the workspace's versions, so the build reuses target/
(cd "$WORK/qs-rust" && CARGO_TARGET_DIR="$ROOT/target" cargo build -q)
twice "Rust quickstart" "$WORK/qs-rust" "$ROOT/target/debug/quickstart"

step "Crate: the packaged sources built (cargo package); contents"
tar tzf "$DIST"/timeledger-[0-9]*.crate | grep -E '/(Cargo.toml|README.md|src/lib.rs)$'

echo
echo "packages and quickstarts: 8 passed, 0 failed"
