#!/usr/bin/env bash
# Builds the release artifacts into dist/:
#   dist/timeledger-<v>-cp310-abi3-<platform>.whl    Python wheel (CPython 3.10+, no Rust needed)
#   dist/timeledger-<v>.tgz                          npm package with the prebuilt addon inside
#   dist/timeledger-c-<v>-<platform>.tar.gz          C SDK: lib/libtimeledger.{a,so}, include/,
#                                                    lib/pkgconfig/timeledger.pc, README
#   dist/timeledger-<v>.crate                        the Rust crate, built from its packaged sources
# Usage: bash scripts/package.sh [wheel|npm|c|crate ...]   (no argument: all four)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
DIST="$ROOT/dist"
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
PLATFORM="$(uname -s | tr 'A-Z' 'a-z')-$(uname -m)"
STAGE="$ROOT/target/package-stage"
mkdir -p "$DIST"
step() { printf '\n==> %s\n' "$*"; }

wheel() {
  step "Python wheel (maturin build --release, abi3)"
  if [ ! -x .venv/bin/maturin ]; then
    [ -x .venv/bin/python ] || python3 -m venv .venv
    .venv/bin/python -m pip install -q --disable-pip-version-check "maturin>=1.9,<2"
  fi
  rm -f "$DIST"/timeledger-*.whl
  (cd bindings-python && "$ROOT/.venv/bin/maturin" build --release --quiet --compatibility linux --out "$DIST")
}

npm_package() {
  step "npm package with the prebuilt addon (cargo build --release, npm pack)"
  [ -n "${JOINT:-}" ] || cargo build --release -p timeledger-node
  rm -rf "$STAGE/npm" && mkdir -p "$STAGE/npm"
  cp bindings-node/package.json bindings-node/index.js bindings-node/index.d.ts bindings-node/native.js \
     bindings-node/README.md LICENSE-MIT LICENSE-APACHE "$STAGE/npm/"
  cp target/release/libtimeledger_node.so "$STAGE/npm/timeledger.node"
  rm -f "$DIST"/timeledger-*.tgz
  (cd "$STAGE/npm" && npm pack --silent --pack-destination "$DIST" >/dev/null)
}

c_sdk() {
  step "C SDK (release libtimeledger.a/.so without debug info, header, pkg-config file)"
  [ -n "${JOINT:-}" ] || cargo build --release -p timeledger-c
  local name="timeledger-c-$VERSION-$PLATFORM"
  local dir="$STAGE/$name"
  rm -rf "$dir" && mkdir -p "$dir/lib/pkgconfig" "$dir/include"
  cp target/release/libtimeledger_c.a "$dir/lib/libtimeledger.a"
  cp target/release/libtimeledger_c.so "$dir/lib/libtimeledger.so"
  strip --strip-debug "$dir/lib/libtimeledger.a" "$dir/lib/libtimeledger.so"
  cp include/timeledger.h "$dir/include/"
  sed "s/@VERSION@/$VERSION/" packaging/timeledger.pc.in > "$dir/lib/pkgconfig/timeledger.pc"
  cp packaging/C-SDK-README.md "$dir/README.md"
  cp LICENSE-MIT LICENSE-APACHE "$dir/"
  tar -C "$STAGE" -czf "$DIST/$name.tar.gz" "$name"
}

crate() {
  step "Rust crate (cargo package: builds from the packaged sources)"
  cargo package -p timeledger --quiet --allow-dirty
  cp "target/package/timeledger-$VERSION.crate" "$DIST/"
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(wheel npm c crate)
# The addon and the C libraries in one cargo invocation: the engine is compiled once for both.
case " ${targets[*]} " in
  *" npm "*" c "*|*" c "*" npm "*) cargo build --release -p timeledger-node -p timeledger-c && JOINT=1 ;;
esac
for t in "${targets[@]}"; do
  case "$t" in
    wheel) wheel ;;
    npm) npm_package ;;
    c) c_sdk ;;
    crate) crate ;;
    *) echo "unknown artifact: $t (wheel, npm, c, crate)" >&2; exit 2 ;;
  esac
done
step "Artifacts"
ls -l "$DIST"
