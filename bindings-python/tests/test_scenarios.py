"""Plays every tests/scenarios/*.json through the Python API (format: tests/scenarios/README.md).

Each step calls the typed method of the same name with the step's arguments as keywords
(``from`` becomes ``from_``), so the scenarios also check that every operation is reachable from
Python with the documented argument names. Where a scenario expects ``INVALID_INPUT`` for a
missing or wrongly typed argument, Python may refuse the call itself with ``TypeError``; that
counts, provided the message names the expected field.
"""

import json
import keyword
import math
import os
import pathlib
import re
import subprocess
from typing import Any, Dict

import pytest

import timeledger

SCENARIOS = sorted((pathlib.Path(__file__).resolve().parents[2] / "tests" / "scenarios").glob("*.json"))


def plain(v: Any) -> Any:
    if isinstance(v, timeledger.Result):
        return v.to_dict()
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v


def substitute(v: Any, saved: Dict[str, Any]) -> Any:
    if isinstance(v, str) and v.startswith("$"):
        return saved[v[1:]]
    if isinstance(v, list):
        return [substitute(x, saved) for x in v]
    if isinstance(v, dict):
        return {k: substitute(x, saved) for k, x in v.items()}
    return v


def matches(expected: Any, actual: Any, path: str = "result") -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: expected an object, got {actual!r}"
        for k, ev in expected.items():
            if k not in actual:
                assert ev is None, f"{path}.{k}: missing"
            matches(ev, actual.get(k), f"{path}.{k}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{path}: expected a list, got {actual!r}"
        assert len(expected) == len(actual), f"{path}: expected {len(expected)} items, got {len(actual)}: {actual!r}"
        for i, (e, a) in enumerate(zip(expected, actual)):
            matches(e, a, f"{path}[{i}]")
    elif isinstance(expected, (int, float)) and not isinstance(expected, bool):
        assert isinstance(actual, (int, float)) and not isinstance(actual, bool), f"{path}: expected {expected}, got {actual!r}"
        assert math.isclose(expected, actual, abs_tol=1e-9), f"{path}: expected {expected}, got {actual}"
    else:
        assert expected == actual, f"{path}: expected {expected!r}, got {actual!r}"


def lookup(v: Any, path: str) -> Any:
    for part in filter(None, path.split(".")):
        v = v[int(part)] if isinstance(v, list) else v[part]
    return v


def kwargs(args: Dict[str, Any]) -> Dict[str, Any]:
    return {(k + "_" if keyword.iskeyword(k) else k): v for k, v in args.items()}


def fresh_engine(name: str) -> timeledger.Engine:
    """In memory, or with TIMELEDGER_TEST_POSTGRES set, on a new PostgreSQL database there."""
    server = os.environ.get("TIMELEDGER_TEST_POSTGRES")
    if not server:
        return timeledger.Engine(":memory:")
    db = "timeledger_py_" + re.sub(r"[^a-z0-9]", "_", name.lower()) + f"_{os.getpid()}"
    for sql in (f"DROP DATABASE IF EXISTS {db} WITH (FORCE)", f"CREATE DATABASE {db}"):
        subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", server, "-c", sql], check=True, capture_output=True)
    return timeledger.Engine(server.rsplit("/", 1)[0] + "/" + db)


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_scenario(path: pathlib.Path, tmp_path: pathlib.Path) -> None:
    steps = json.loads(path.read_text())
    engine = fresh_engine(path.stem)
    # A file in a fresh temporary folder for import_file/export_file (pytest removes it).
    saved: Dict[str, Any] = {"export_path": str(tmp_path / "export.jsonl")}
    calls = 0
    for i, step in enumerate(steps):
        where = f"{path.name} step {i} ({step.get('op', '-')})"
        if "now" in step:
            engine.set_now(step["now"])
        if "op" not in step:
            continue
        calls += 1
        op = step["op"]
        args = substitute(step.get("args", {}), saved)
        if op in timeledger.Engine.operations():
            method = getattr(engine, op, None)
            assert callable(method), f"{where}: Engine.{op} is missing in Python"
            call = lambda: method(**kwargs(args))  # noqa: E731
        else:
            call = lambda: engine.call(op, args)  # noqa: E731  (unknown ops: the generic path)
        try:
            result = plain(call())
        except TypeError as e:
            assert step.get("error") == "INVALID_INPUT", f"{where}: unexpected TypeError {e}"
            field = step.get("expect", {}).get("field")
            assert field is None or field in str(e), f"{where}: TypeError does not name {field}: {e}"
            continue
        except timeledger.TimeledgerError as e:
            assert "error" in step, f"{where}: unexpected error {e.code}: {e}"
            assert e.code == step["error"], f"{where}: expected {step['error']}, got {e.code} ({e})"
            if "status" in step:
                assert e.status == step["status"], where
            if "expect" in step:
                matches(substitute(step["expect"], saved), e.to_dict(), f"{where}: error")
            continue
        assert "error" not in step, f"{where}: expected error {step['error']}, got {result!r}"
        if "expect" in step:
            matches(substitute(step["expect"], saved), result, f"{where}: result")
        for name, p in step.get("save", {}).items():
            saved[name] = lookup(result, p)
    assert calls > 0
