#!/usr/bin/env bash
# Runs every test suite the project has, installing what it needs on a fresh machine.
#   bash scripts/test-all.sh
# Stages: Rust lint (fmt, clippy) -> Rust tests (unit, doc, scenarios, properties, processes)
#         -> the same scenarios, properties and multi-process tests on a throwaway PostgreSQL
#         -> Python (venv + maturin build, stubtest, mypy --strict, pytest incl. scenarios)
#         -> the seed client and the dashboard in headless Chromium (both against serve)
#         -> C (static + shared libs, header freshness, C tests and scenarios, valgrind)
#         -> Node (addon, index.js/index.d.ts freshness, tsc over a typed usage file, node --test)
#         -> release artifacts.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
TREE_BEFORE="$(git status --porcelain 2>/dev/null || true)"

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (workspace, all targets, warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test (core and http: unit, doc, scenarios, properties, security, reliability, routes, fuzz)"
cargo test

step "PostgreSQL: a throwaway server (Debian's postgresql, initdb as the postgres user, a local port)"
PG_URL="$(bash scripts/pg-cluster.sh start)"
trap 'bash "$ROOT/scripts/pg-cluster.sh" stop' EXIT
echo "$PG_URL"

step "PostgreSQL: every Rust scenario and property test on it; imports (API and files); copy there and back; the rate limit across 4 processes; 3 contending hosts"
TIMELEDGER_TEST_POSTGRES="$PG_URL" cargo test -p timeledger --test scenarios --test properties --test heartbeat_properties --test copy --test import --test transfer
step "PostgreSQL over TLS: verify-full, verify-ca, require, prefer; wrong host, wrong CA, bad parameters"
TIMELEDGER_TEST_POSTGRES="$PG_URL" TIMELEDGER_TEST_POSTGRES_TLS="$(bash scripts/pg-cluster.sh tls-dir)" \
  cargo test -p timeledger --test postgres_tls
TIMELEDGER_TEST_POSTGRES="$PG_URL" cargo test -p timeledger --test keys the_limit_holds_across_processes
TIMELEDGER_TEST_POSTGRES="$PG_URL" cargo test -p timeledger --test reliability processes_and_threads_on_one_file

step "Python: virtualenv with maturin, pytest and mypy"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check "maturin>=1.9,<2" "pytest>=8,<9" "mypy>=1.10,<2" "flask>=3,<4" "requests>=2.31,<3"

step "Python: build the extension into the virtualenv (maturin develop)"
(cd bindings-python && VIRTUAL_ENV="$ROOT/.venv" PATH="$ROOT/.venv/bin:$PATH" maturin develop -q)

step "Python: stubs match the module (mypy.stubtest) and type-check (mypy --strict)"
.venv/bin/python -m mypy.stubtest timeledger
.venv/bin/python -m mypy --strict bindings-python/python/timeledger

step "Python: pytest (binding tests and every scenario)"
.venv/bin/python -m pytest -q bindings-python/tests

step "Python: every scenario on PostgreSQL"
TIMELEDGER_TEST_POSTGRES="$PG_URL" .venv/bin/python -m pytest -q bindings-python/tests/test_scenarios.py

step "HTTP: the clock-in API's own Python client (as its page prints it) against timeledger serve"
cargo build -p timeledger-server
.venv/bin/python tests/e2e/seed_client.py target/debug/timeledger

step "Dashboard: uPlot and playwright-core from the committed lockfile (npm ci); the served copy is npm's"
(cd http/assets && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error && node vendor.mjs --check)

step "Dashboard: in Debian's Chromium, headless (screenshots in target/browser-screenshots)"
if [ ! -x /usr/bin/chromium ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
TIMELEDGER_BIN=target/debug/timeledger SCREENSHOTS=target/browser-screenshots node --test http/assets/browser.test.mjs

step "C: build libtimeledger.a and libtimeledger.so"
cargo build -p timeledger-c
mkdir -p target/c
cp target/debug/libtimeledger_c.a target/c/libtimeledger.a
cp target/debug/libtimeledger_c.so target/c/libtimeledger.so

step "C: include/timeledger.h is what cbindgen 0.29.4 generates"
if ! cbindgen --version 2>/dev/null | grep -q "0.29.4"; then
  cargo install cbindgen --version 0.29.4 --locked
fi
cbindgen --quiet --config bindings-c/cbindgen.toml --crate timeledger-c --output target/c/timeledger.h bindings-c
if ! diff -u include/timeledger.h target/c/timeledger.h; then
  echo "include/timeledger.h is stale: run  cbindgen --config bindings-c/cbindgen.toml --crate timeledger-c --output include/timeledger.h bindings-c"
  exit 1
fi

step "C: cJSON for the C scenario runner (Debian libcjson-dev)"
if [ ! -f /usr/include/cjson/cJSON.h ]; then
  apt-get update -qq && apt-get install -y -qq libcjson-dev
fi

step "C: compile the tests with -std=c11 -Wall -Wextra -Werror, static and shared; C++ include"
CFLAGS="-std=c11 -Wall -Wextra -Werror -Iinclude"
gcc $CFLAGS tests/c/test_timeledger.c target/c/libtimeledger.a -lcjson -lpthread -ldl -lm -o target/c/test_static
gcc $CFLAGS tests/c/test_timeledger.c -Ltarget/c -ltimeledger -lcjson -lpthread -lm -o target/c/test_shared
g++ -std=c++17 -Wall -Wextra -Werror -Iinclude tests/c/header_cpp.cpp target/c/libtimeledger.a -lpthread -ldl -lm -o target/c/test_cpp

step "C: the README's C example compiles as written and runs"
python3 - <<'PY' > target/c/readme_example.c
import re
print(re.findall(r"```c\n(.*?)```", open("README.md").read(), re.S)[0])
PY
gcc $CFLAGS target/c/readme_example.c target/c/libtimeledger.a -lpthread -ldl -lm -o target/c/readme_example
(cd target/c && ./readme_example && ./readme_example)

step "C: run the static build, the C++ build, and the shared build under valgrind"
target/c/test_static tests/scenarios
target/c/test_cpp
LD_LIBRARY_PATH=target/c valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect,possible \
  target/c/test_shared tests/scenarios

step "C: every scenario on PostgreSQL"
TIMELEDGER_TEST_POSTGRES="$PG_URL" target/c/test_static tests/scenarios

step "Node: dev packages from the committed lockfile (npm ci: typescript, @types/node)"
(cd bindings-node && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)

step "Node: build the addon (cargo, sharing this workspace's build) as bindings-node/timeledger.node"
# `npm run build` (scripts/build.js) does the same for a release build, then runs tsc.
cargo build -p timeledger-node
cp target/debug/libtimeledger_node.so bindings-node/timeledger.node

step "Node: index.js and index.d.ts are what tsc generates from src/index.ts"
(cd bindings-node && npx tsc -p tsconfig.json --outDir "$ROOT/target/node-ts")
for f in index.js index.d.ts; do
  if ! diff -u "bindings-node/$f" "target/node-ts/$f"; then
    echo "bindings-node/$f is stale: run  (cd bindings-node && npx tsc -p tsconfig.json)"
    exit 1
  fi
done

step "Node: the typed usage file type-checks against index.d.ts (tsc --noEmit)"
(cd bindings-node && npx tsc --noEmit -p test/tsconfig.json)

step "Node: node --test (every operation, errors, bigint ids, async, every scenario, README quickstart)"
(cd bindings-node && node --test test/)

step "Node: every scenario on PostgreSQL"
(cd bindings-node && TIMELEDGER_TEST_POSTGRES="$PG_URL" node --test test/scenarios.test.js)

step "Release artifacts: build them (scripts/package.sh), install each outside the repo and run it"
bash scripts/package.sh
bash scripts/test-packages.sh

step "The work tree is as the test command found it"
if [ "$(git status --porcelain 2>/dev/null || true)" != "$TREE_BEFORE" ]; then
  diff <(echo "$TREE_BEFORE") <(git status --porcelain)
  echo "the test command left files behind or changed tracked files"
  exit 1
fi

echo
echo "All test suites passed."
