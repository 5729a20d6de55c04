#!/usr/bin/env bash
# Python binding bench: release build of the extension into .venv, then bindings-python/bench.py.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check "maturin>=1.9,<2"
(cd bindings-python && VIRTUAL_ENV="$ROOT/.venv" PATH="$ROOT/.venv/bin:$PATH" maturin develop --release -q)
.venv/bin/python bindings-python/bench.py
