"""The clock-in API's own Python client, as its public page prints it, against `timeledger serve`.

The client class is read from ../shared/seeds at run time (the page prints it without its
indentation, so it is re-indented here); only its base URL is changed. Every method it has is
called over a real socket, and the answers are checked against the engine's own numbers.

    python tests/e2e/seed_client.py target/debug/timeledger
"""
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT.parent / "shared" / "seeds"
MASTER = "seed-client-master-key-0001"
GUILD, ADMIN, WORKER = 123456789, 987654321, 555


def client_source(base_url: str) -> tuple[str, str]:
    """The printed Python client, re-indented, with `base_url` in place of the service's."""
    page = next(SEEDS.glob("000_*.txt")).read_text()
    start = page.index("import requests\n")
    end = page.index("# Usage", start)
    lines, depth, opened_block = [], 0, False
    for raw in page[start:end].splitlines():
        line = raw.strip()
        if not line:
            continue
        if depth > 0:
            indent = 12  # inside brackets any indent is valid
        elif line.startswith(("import ", "from ", "class ")):
            indent = 0
        elif line.startswith("def "):
            indent = 4
        elif opened_block:
            indent = 12  # the one-line body of an `if` in a method
        else:
            indent = 8
        opened_block = depth == 0 and indent == 8 and line.endswith(":")
        lines.append(" " * indent + line)
        depth += sum(line.count(c) for c in "([{") - sum(line.count(c) for c in ")]}")
    source = "\n".join(lines) + "\n"
    urls = re.findall(r'self\.base_url = "([^"]+)"', source)
    assert len(urls) == 1, f"expected one base URL in the printed client, found {urls}"
    name = re.search(r"^class (\w+):", source, re.M)
    assert name, "no class in the printed client"
    return source.replace(urls[0], base_url), name.group(1)


def main() -> None:
    binary = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "target" / "debug" / "timeledger")
    if not SEEDS.is_dir():
        sys.exit(f"{SEEDS} is missing: this test needs the seed pages beside the repository")
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, TIMELEDGER_MASTER_KEY=MASTER)
        server = subprocess.Popen(
            [binary, "serve", "--db", str(Path(tmp) / "seed.db"), "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True,
        )
        try:
            base = server.stdout.readline().strip().removeprefix("listening on ")
            assert base.startswith("http://127.0.0.1:"), base
            run(base)
        finally:
            server.terminate()
            assert server.wait(timeout=10) == 0, "serve did not stop cleanly on SIGTERM"
    print("seed client: every method answered as the engine says")


def run(base: str) -> None:
    source, class_name = client_source(base)
    namespace: dict = {}
    exec(compile(source, "seed_000_client.py", "exec"), namespace)
    client_class = namespace[class_name]
    methods = sorted(m for m in vars(client_class) if not m.startswith("_"))
    assert methods == ["clock_in", "get_guild_status", "get_leaderboard"], methods

    # A key as the page says: POST /api/v1/auth/generate with the master key.
    r = requests.post(f"{base}/api/v1/auth/generate", json={
        "guild_id": GUILD, "admin_user_id": ADMIN, "master_key": MASTER, "tier": "ENTERPRISE"})
    assert r.status_code == 201, r.text
    key = r.json()["api_key"]
    r = requests.post(f"{base}/api/v1/guild/{GUILD}/categories", json={"name": "Development"},
                      headers={"X-API-Key": key})
    assert r.status_code == 201, r.text

    api = client_class(key)
    status = api.get_guild_status(GUILD)
    assert status["total_time_hours"] == 0 and status["active_sessions"] == 0, status

    result = api.clock_in(guild_id=GUILD, user_id=ADMIN, category="Development", description="API integration")
    assert result["success"] is True and result["session_id"].startswith("ses_"), result
    assert result["category"] == "Development" and str(result["user_id"]) == str(ADMIN), result
    result = api.clock_in(GUILD, WORKER, "Development")
    assert "description" not in result or result["description"] is None, result

    # A second clock-in is refused with the engine's typed error; the client raises it.
    try:
        api.clock_in(GUILD, ADMIN, "Development")
        raise AssertionError("a second clock-in was accepted")
    except requests.HTTPError as e:
        assert e.response.status_code == 409 and e.response.json()["code"] == "SESSION_ALREADY_ACTIVE", e.response.text

    # Close both (the client has no clock-out), then give them known lengths by moving their
    # starts back, as an admin fixing a forgotten clock-in would.
    for user, minutes in [(ADMIN, 90), (WORKER, 30)]:
        r = requests.post(f"{base}/api/v1/guild/{GUILD}/clockout", headers={"X-API-Key": key}, json={"user_id": user})
        assert r.status_code == 200, r.text
        session = requests.get(f"{base}/api/v1/guild/{GUILD}/sessions", params={"user_id": user},
                               headers={"X-API-Key": key}).json()["data"][0]
        r = requests.put(f"{base}/api/v1/guild/{GUILD}/sessions/{session['id']}", headers={"X-API-Key": key},
                         json={"start": shift(session["end_time"], -minutes)})
        assert r.status_code == 200 and r.json()["duration"] == minutes * 60, r.text

    status = api.get_guild_status(GUILD)
    assert status["active_sessions"] == 0 and status["total_users"] == 2, status
    assert status["total_time_hours"] == 2.0, status

    board = api.get_leaderboard(GUILD, timeframe="all")
    top = [(e["rank"], str(e["user_id"]), e["hours"]) for e in board["leaderboard"]]
    assert top == [(1, str(ADMIN), 1.5), (2, str(WORKER), 0.5)], board
    assert all("username" in e for e in board["leaderboard"]), board
    only = api.get_leaderboard(GUILD, category="Development", timeframe="week")
    assert [e["hours"] for e in only["leaderboard"]] == [1.5, 0.5], only
    try:
        api.get_leaderboard(GUILD, timeframe="fortnight")
        raise AssertionError("an unknown timeframe was accepted")
    except requests.HTTPError as e:
        assert e.response.status_code == 400 and e.response.json()["code"] == "INVALID_INPUT", e.response.text


def shift(rfc3339: str, minutes: int) -> str:
    from datetime import datetime, timedelta
    t = datetime.fromisoformat(rfc3339.replace("Z", "+00:00")) + timedelta(minutes=minutes)
    return t.isoformat().replace("+00:00", "Z")


if __name__ == "__main__":
    main()
