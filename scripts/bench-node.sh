#!/usr/bin/env bash
# Node binding bench: release build of the addon, then bindings-node/bench.js (Rust baseline
# examples/bench_ops.rs in the same run).
set -euo pipefail
cd "$(dirname "$0")/../bindings-node"
npm install --ignore-scripts --no-audit --no-fund --loglevel=error  # the lock is honoured; see scripts/test-all.sh on npm ci
npx napi build --release --output-dir . --dts src/native.d.ts
node bench.js
