#!/usr/bin/env bash
# Runs every test suite the project has, installing what it needs on a fresh machine.
#   bash scripts/test-all.sh
# Stages: Rust lint (fmt, clippy) -> Rust tests (unit, doc, scenarios, properties).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test (unit, doc, scenarios, properties)"
cargo test --workspace

echo
echo "All test suites passed."
