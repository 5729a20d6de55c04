#!/usr/bin/env bash
# Runs every test suite the project has, installing what it needs on a fresh machine.
#   bash scripts/test-all.sh
# Stages: Rust lint (fmt, clippy) -> Rust tests (unit, doc, scenarios, properties, processes)
#         -> Python (venv + maturin build, stubtest, mypy --strict, pytest incl. scenarios).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (workspace, all targets, warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test (core: unit, doc, scenarios, properties, multi-process)"
cargo test

step "Python: virtualenv with maturin, pytest and mypy"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check "maturin>=1.9,<2" "pytest>=8,<9" "mypy>=1.10,<2"

step "Python: build the extension into the virtualenv (maturin develop)"
(cd bindings-python && VIRTUAL_ENV="$ROOT/.venv" PATH="$ROOT/.venv/bin:$PATH" maturin develop -q)

step "Python: stubs match the module (mypy.stubtest) and type-check (mypy --strict)"
.venv/bin/python -m mypy.stubtest timekeeper
.venv/bin/python -m mypy --strict bindings-python/python/timekeeper

step "Python: pytest (binding tests and every scenario)"
.venv/bin/python -m pytest -q bindings-python/tests

echo
echo "All test suites passed."
