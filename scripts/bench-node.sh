#!/usr/bin/env bash
# Node binding bench: release build of the addon, then bindings-node/bench.js (Rust baseline
# examples/bench_ops.rs in the same run).
set -euo pipefail
cd "$(dirname "$0")/../bindings-node"
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
npm run build   # cargo build --release, then tsc
node bench.js
