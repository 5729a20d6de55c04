"""Python binding overhead: authorize (shared limiter), clock_in / clock_out, bulk ingest of 1000
heartbeats, each against the same operation through the Rust API, measured in the same run.

    bash scripts/bench-python.sh      # builds the extension in release mode, then runs this

Targets: per call within 2x of Rust; bulk ingest at least 0.7x the Rust rate.
"""

import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import timeledger

ROOT = pathlib.Path(__file__).resolve().parents[1]
MASTER = "bench-master-key-0123456789"


def beats(batch: int, n: int) -> list:
    out = []
    for i in range(n):
        k = batch * n + i
        out.append({"entity": f"src/file{k % 17}.rs", "time": 1_735_689_600.0 + k * 30.0, "project": "bench",
                    "language": "Rust", "is_write": k % 5 == 0})
    return out


def python_side() -> dict:
    with tempfile.TemporaryDirectory() as d:
        e = timeledger.Engine(os.path.join(d, "ops.db"))
        e.set_master_key(MASTER)
        e.set_tiers([{"name": "BENCH", "rank": 1, "per_minute": 1_000_000_000, "permissions": ["read_status"]}])
        key = e.generate_key(1, 1, MASTER, tier="BENCH").api_key
        e.create_category(1, "Dev")
        auth = []
        for _ in range(3000):
            t = time.perf_counter()
            e.authorize(key, 1, "read_status")
            auth.append((time.perf_counter() - t) * 1e6)
        cin, cout = [], []
        for _ in range(1500):
            t = time.perf_counter()
            e.clock_in(1, 7, "Dev")
            cin.append((time.perf_counter() - t) * 1e6)
            t = time.perf_counter()
            e.clock_out(1, 7)
            cout.append((time.perf_counter() - t) * 1e6)
        ingest = []
        for b in range(40):
            body = beats(b, 1000)  # a list of dicts, as a web framework hands it over
            t = time.perf_counter()
            e.ingest_heartbeats(1, 9, body)
            ingest.append(1000 / (time.perf_counter() - t))
        return {"authorize_us": statistics.median(auth), "clock_in_us": statistics.median(cin),
                "clock_out_us": statistics.median(cout), "ingest_per_s": statistics.median(ingest)}


def main() -> None:
    rust = json.loads(subprocess.run(["cargo", "run", "--release", "-q", "-p", "timeledger", "--example", "bench_ops"],
                                     cwd=ROOT, check=True, capture_output=True, text=True).stdout)
    py = python_side()
    print(f"{'operation':<14} {'rust':>12} {'python':>12} {'ratio':>8}  target")
    for k, target in [("authorize_us", "<= 2x"), ("clock_in_us", "<= 2x"), ("clock_out_us", "<= 2x")]:
        print(f"{k[:-3]:<14} {rust[k]:>10.1f}us {py[k]:>10.1f}us {py[k] / rust[k]:>7.2f}x  {target}")
    k = "ingest_per_s"
    print(f"{'bulk ingest':<14} {rust[k]:>10.0f}/s {py[k]:>10.0f}/s {py[k] / rust[k]:>7.2f}x  >= 0.7x")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
