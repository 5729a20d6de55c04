"""The Python binding: parity, results, exceptions, argument types, threads, the GIL, fork and the
README quickstart."""

import datetime as dt
import json
import os
import pathlib
import re
import sys
import threading

import pytest

import timeledger

ROOT = pathlib.Path(__file__).resolve().parents[2]
UTC = dt.timezone.utc
MASTER = "python-tests-master-key-0000"


@pytest.fixture
def engine() -> timeledger.Engine:
    e = timeledger.Engine(":memory:")
    e.set_now(dt.datetime(2025, 10, 10, 12, 0, tzinfo=UTC))
    e.create_category(1, "Development")
    return e


def test_every_engine_operation_has_a_python_method() -> None:
    missing = [op for op in timeledger.Engine.operations() if not callable(getattr(timeledger.Engine, op, None))]
    assert missing == []


def test_every_method_has_a_docstring() -> None:
    for op in timeledger.Engine.operations():
        assert getattr(timeledger.Engine, op).__doc__, op


def test_results_have_attribute_access_and_plain_to_dict(engine: timeledger.Engine) -> None:
    r = engine.clock_in(1, 987654321, "development", description="API", at=dt.datetime(2025, 10, 10, 10, 30, tzinfo=UTC))
    assert r.success is True and r.session_id.startswith("ses_")
    assert r.start_time == "2025-10-10T10:30:00Z"
    status = engine.guild_status(1)
    assert status.total_time_hours == 1.5
    assert status.categories.Development == 5400
    d = status.to_dict()
    assert type(d) is dict and type(d["categories"]) is dict
    assert d == {"guild_id": 1, "total_time_seconds": 5400, "total_time_hours": 1.5, "total_users": 1,
                 "active_sessions": 1, "categories": {"Development": 5400}}
    with pytest.raises(AttributeError):
        status.nope


def test_instants_as_datetime_unix_seconds_or_strings(engine: timeledger.Engine) -> None:
    a = engine.add_entry(1, 1, "Development", dt.datetime(2025, 10, 9, 11, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))),
                         1760007600.0)
    assert (a.start_time, a.end_time, a.duration) == ("2025-10-09T09:00:00Z", "2025-10-09T11:00:00Z", 7200)
    b = engine.add_entry(1, 2, "Development", "2025-10-09T09:00:00Z", 1760007600)
    assert b.duration == 7200
    with pytest.raises(ValueError, match="timezone-aware"):
        engine.add_entry(1, 3, "Development", dt.datetime(2025, 10, 9, 9), 1760007600)


def test_ids_as_int_or_decimal_string_and_past_2_53(engine: timeledger.Engine) -> None:
    big = 1234567890123456789
    r = engine.clock_in(1, str(big), "Development")
    assert r.user_id == big
    assert engine.active_session(1, big).user_id == big


def test_wrong_python_types_raise_type_or_value_errors(engine: timeledger.Engine) -> None:
    with pytest.raises(TypeError):
        engine.clock_in(1, True, "Development")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        engine.clock_in(1, 2.5, "Development")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        engine.clock_in(1, 2, None)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        engine.clock_in(1, 2**64, "Development")
    with pytest.raises(TypeError):
        engine.clock_in(1, 2, "Development", at=object())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        engine.call("guild_status", {"guild_id": {1, 2}})
    # Engine-level bad input is an InvalidInputError, which is a ValueError too.
    with pytest.raises(ValueError) as info:
        engine.leaderboard(1, timeframe="fortnight")
    assert isinstance(info.value, timeledger.InvalidInputError) and info.value.field == "timeframe"


def test_each_exception_class(engine: timeledger.Engine, tmp_path: pathlib.Path) -> None:
    cases = [
        (lambda: engine.clock_out(1, 5), timeledger.ConflictError, "NO_ACTIVE_SESSION", 409),
        (lambda: engine.get_session(1, "ses_nope"), timeledger.NotFoundError, "SESSION_NOT_FOUND", 404),
        (lambda: engine.create_category(1, " "), timeledger.InvalidInputError, "INVALID_INPUT", 400),
        (lambda: engine.authorize("tl_live_nope", 1, "read_status"), timeledger.UnauthorizedError, "INVALID_API_KEY", 401),
    ]
    for call, cls, code, status in cases:
        with pytest.raises(cls) as info:
            call()
        e = info.value
        assert isinstance(e, timeledger.TimeledgerError)
        assert (e.code, e.status) == (code, status)
        assert e.to_dict()["code"] == code and "message" in e.to_dict()
    engine.set_master_key(MASTER)
    key = engine.generate_key(1, 10, MASTER, tier="SUPPORTER").api_key
    with pytest.raises(timeledger.ForbiddenError) as forbidden:
        engine.authorize(key, 1, "read_sessions")
    assert forbidden.value.status == 403
    with pytest.raises(timeledger.ForbiddenError) as wrong:
        engine.authorize(key, 2, "read_status")
    assert wrong.value.code == "WRONG_GUILD"
    with pytest.raises(timeledger.StorageError) as storage:
        timeledger.Engine(tmp_path / "missing-dir" / "x.db")
    assert storage.value.status == 500


def test_rate_limited_error_carries_numbers_and_headers(engine: timeledger.Engine) -> None:
    engine.set_master_key(MASTER)
    engine.set_tiers([{"name": "TINY", "rank": 1, "per_minute": 1, "permissions": ["read_status"]}])
    key = engine.generate_key(1, 10, MASTER, tier="TINY").api_key
    grant = engine.authorize(key, 1, "read_status")
    assert grant.headers == {"X-API-Tier": "TINY", "X-RateLimit-Limit": "1", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "60"}
    with pytest.raises(timeledger.RateLimitedError) as info:
        engine.authorize(key, 1, "read_status")
    e = info.value
    # Retry-After is the earliest admission: the request made this minute weighs on the sliding
    # window until the end of the next one.
    assert (e.code, e.status, e.remaining, e.reset_in, e.tier) == ("RATE_001", 429, 0, 120, "TINY")
    assert e.headers["Retry-After"] == "120"
    assert e.to_dict() == {"error": "Rate limit exceeded", "message": "Limit: 1 requests/minute", "code": "RATE_001",
                           "remaining": 0, "reset_in": 120, "tier": "TINY"}


def test_bulk_heartbeats_as_list_of_dicts_or_json_string(engine: timeledger.Engine) -> None:
    beats = [{"entity": "a.py", "time": 1760083200.0, "language": "Python"}, {"entity": "a.py", "time": 1760083260.0, "language": "Python"}]
    r = engine.ingest_heartbeats(1, 7, beats, user_agent="wakatime/v1 (linux-6) go1 vim/9 vim-wakatime/10", machine_name="box")
    assert [s for _, s in r.responses] == [201, 201]
    again = engine.ingest_heartbeats(1, 7, '[{"entity": "a.py", "time": 1760083200.0, "language": "Python"}]')
    assert again.responses[0][1] == 202
    one = engine.ingest_heartbeats(1, 7, {"entity": "b.py", "time": 1760083320.0})
    assert one.responses[0][1] == 201
    with pytest.raises(timeledger.InvalidInputError):
        engine.ingest_heartbeats(1, 7, "{not json")
    recent = engine.most_recent_heartbeat(1, 7).data
    assert (recent.entity, recent.editor, recent.machine) == ("b.py", None, None)
    listed = engine.list_heartbeats(1, 7, start=dt.datetime(2025, 10, 10, tzinfo=UTC), limit=2).data
    assert [h.editor for h in listed] == ["Vim", "Vim"]
    assert engine.statusbar_today(1, 7).data.grand_total.total_seconds == 120.0


def test_bulk_responses_are_the_engine_shape_whatever_the_input_form(engine: timeledger.Engine) -> None:
    beats = [{"entity": "src/\u00e9\"x\".rs", "time": 1760083200.5, "type": "FILE"}, {"time": 1760083201},
             {"entity": "d.com", "time": 1760083202000, "type": "domain"}, [1, 2]]
    r = engine.ingest_heartbeats(1, 7, beats)
    generic = timeledger.Engine(":memory:").call("ingest_heartbeats", {"guild_id": 1, "user_id": 7, "heartbeats": beats})
    assert r.to_dict() == generic.to_dict()
    assert [s for _, s in r.responses] == [201, 400, 201, 400]
    assert r.responses[0][0].data.to_dict() == {"entity": "src/\u00e9\"x\".rs", "id": r.responses[0][0].data.id,
                                                "time": 1760083200.5, "type": "file"}
    assert r.responses[1][0].to_dict() == {"error": "entity is required"}
    assert r.responses[3][0].error == "heartbeat must be a JSON object"
    as_bytes = engine.ingest_heartbeats(1, 7, json.dumps(beats).encode())
    assert [s for _, s in as_bytes.responses] == [202, 400, 202, 400]
    with pytest.raises(timeledger.InvalidInputError):
        engine.ingest_heartbeats(1, 7, [{"entity": "a", "time": float("nan")}])
    with pytest.raises(TypeError):
        engine.ingest_heartbeats(1, 7, [{"entity": "a", "time": dt.datetime.now(UTC)}])


def test_dicts_read_field_by_field_answer_as_the_json_text_does() -> None:
    import collections
    import enum

    class Kind(str, enum.Enum):
        FILE = "file"

    class Lines(enum.IntEnum):
        TEN = 10

    t0 = 1760083200
    tricky = [
        {"entity": "src/main.rs", "time": t0 + 0.5, "project": "tk", "language": "Rust", "is_write": True},
        {"entity": "src/\u00e9\"q\".rs", "time": t0 + 10, "branch": "main", "lines": Lines.TEN, "type": Kind.FILE},
        {"entity": "a.rs", "time": str(t0 + 20), "is_write": "1", "lines": "42", "lineno": 7.9},
        {"entity": "b.rs", "time": (t0 + 30) * 1000, "project": 123, "dependencies": ["serde", "tokio"]},
        {"entity": "c.rs", "time": (t0 + 40) * 10**6, "dependencies": "a, b,,c", "extra": None},
        {"entity": "e.rs", "time": t0 + 60, "type": "DOMAIN", "category": ""},
        {"entity": "f.rs", "time": t0 + 70, "user_agent": "wakatime/1.0 (Linux) neovim/0.9", "machine": "box"},
        {"entity": "g.rs", "time": t0 + 80, "editor": "Helix", "operating_system": None, "cursorpos": None},
        {"time": t0 + 90}, {"entity": "h.rs"}, {"entity": "i.rs", "time": True}, {"entity": "j.rs", "time": 12},
        {"entity": "k.rs", "time": t0 + 100, "type": "folder"}, {"entity": "l.rs", "time": t0 + 110, "project": ["x"]},
        {"entity": "o.rs", "time": t0 + 140, "is_write": "maybe"}, {"entity": "p.rs", "time": t0 + 150, "lines": "many"},
        {"entity": "", "time": t0 + 160}, {"entity": "x" * 5000, "time": t0 + 170},
        {"entity": "q.rs", "time": t0 + 180, "cursorpos": 2**64 - 1},
    ]
    # Values the extension leaves to the JSON road (it answers None for them).
    odd = [
        {"entity": "m.rs", "time": t0 + 120, "dependencies": [1, "a"]},
        {"entity": "n.rs", "time": t0 + 130, "dependencies": {"a": 1}},
        {"entity": "r.rs", "time": t0 + 190, "lines": 2**70},
        {"entity": "s.rs", "time": t0 + 200, "branch": ("a", "b")},
        {"entity": "t\ud800.rs", "time": t0 + 210},
        {1: "x", "entity": "u.rs", "time": t0 + 220},
        [1, 2], "just a string", None,
        collections.OrderedDict(entity="v.rs", time=t0 + 230),
    ]
    plain = timeledger.Engine(":memory:")
    assert plain._engine().ingest_dicts(1, 7, tricky) is not None
    for item in odd:
        assert timeledger.Engine(":memory:")._engine().ingest_dicts(1, 7, [tricky[0], item]) is None, item
    for ua in [None, "wakatime/1.2 (Darwin) vscode/1.90"]:
        for beats in [tricky, tricky + odd[:4], list(reversed(tricky))]:
            by_dicts, by_text = timeledger.Engine(":memory:"), timeledger.Engine(":memory:")
            try:
                text = json.dumps(beats)
            except (TypeError, ValueError):
                continue
            a = by_dicts.ingest_heartbeats(1, 7, beats, user_agent=ua, machine_name="laptop" if ua else None)
            b = by_text.ingest_heartbeats(1, 7, text, user_agent=ua, machine_name="laptop" if ua else None)
            assert a.to_dict() == b.to_dict()
            assert 201 in [s for _, s in a.responses] and 400 in [s for _, s in a.responses]
            window = {"start": dt.datetime(2001, 1, 1, tzinfo=UTC), "end": dt.datetime(2099, 1, 1, tzinfo=UTC), "limit": 100}
            assert by_dicts.list_heartbeats(1, 7, **window).to_dict() == by_text.list_heartbeats(1, 7, **window).to_dict()
    # A lone surrogate is not UTF-8: the item takes the JSON road and is refused there.
    r = plain.ingest_heartbeats(1, 7, [{"entity": "t\ud800.rs", "time": t0}])
    assert r.responses[0][1] == 400 and "not valid JSON" in r.responses[0][0].error


def test_threads_share_one_engine_without_losing_writes(tmp_path: pathlib.Path) -> None:
    e = timeledger.Engine(tmp_path / "threads.db")
    e.create_category(1, "Dev")
    errors = []

    def work(user: int) -> None:
        try:
            for i in range(20):
                start = 1_700_000_000 + i * 3600
                e.add_entry(1, user, "Dev", start, start + 60)
                e.ingest_heartbeats(1, user, [{"entity": "x", "time": start + j} for j in range(0, 60, 10)])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(u,)) for u in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert e.guild_status(1).total_time_seconds == 8 * 20 * 60
    assert e.list_sessions(1, per_page=1).meta.total == 160
    assert sum(e.coding_stats(1, u).total_seconds for u in range(8)) == 8 * 20 * 50


def test_engine_calls_release_the_gil() -> None:
    e = timeledger.Engine(":memory:")
    counter = [0]
    running = threading.Event()
    stop = threading.Event()

    def spin() -> None:
        running.set()
        while not stop.is_set():
            counter[0] += 1

    t = threading.Thread(target=spin)
    t.start()
    running.wait()
    # One long engine call: 10 000 heartbeats in one bulk (the maximum).
    body = "[" + ",".join(f'{{"entity": "f{i % 7}", "time": {1_700_000_000 + i}}}' for i in range(10_000)) + "]"
    old = sys.getswitchinterval()
    sys.setswitchinterval(1.0)  # with the GIL held, the spinner would get no turn during the call
    try:
        before = counter[0]
        e.ingest_heartbeats(1, 1, body)
        during = counter[0] - before
    finally:
        sys.setswitchinterval(old)
        stop.set()
        t.join()
    assert during > 1000, f"the spinning thread advanced only {during} times during the call"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_an_engine_created_before_fork_works_in_the_child(tmp_path: pathlib.Path) -> None:
    e = timeledger.Engine(tmp_path / "fork.db")
    e.create_category(1, "Dev")
    pid = os.fork()
    if pid == 0:  # child: use the inherited engine, then leave without running pytest's teardown
        try:
            e.clock_in(1, 42, "Dev")
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert e.active_session(1, 42) is not None
    assert e.guild_status(1).active_sessions == 1


def test_readme_python_quickstart_runs(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (ROOT / "README.md").read_text().split("## Python quickstart")[1].split("\n## ")[0]
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert blocks, "the README has a Python quickstart"
    monkeypatch.chdir(tmp_path)
    for _ in range(2):  # twice on the same file, as a newcomer re-running it would
        for code in blocks:
            exec(compile(code, "README.md", "exec"), {"__name__": "__readme__"})
    e = timeledger.Engine(str(tmp_path / "timeledger.db"))
    assert e.guild_status(123456789).total_time_hours == 3.5


def test_every_operation_is_callable_from_python(engine: timeledger.Engine, tmp_path: pathlib.Path) -> None:
    called = set()

    def run(op: str, *args, **kwargs):  # type: ignore[no-untyped-def]
        called.add(op)
        return getattr(engine, op)(*args, **kwargs)

    assert run("guild_settings", 1).timezone == "UTC"
    assert run("update_guild", 1, timezone="Europe/Paris", week_start="sunday").week_start == "sunday"
    assert run("upsert_user", 5, "ana", email="ana@example.org", slack_uid="U5", guild_id=1).username == "ana"
    assert run("get_user", 5).email == "ana@example.org"
    assert run("upsert_user", 5, "ana", time_zone="Asia/Tokyo").time_zone == "Asia/Tokyo"
    assert [(m.user_id, m.is_admin) for m in run("list_members", 1, per_page=10).data] == [(5, False)]
    assert run("find_user_by_email", "ANA@example.org").user_id == 5
    assert run("find_user_by_slack_uid", "U5").user_id == 5
    assert run("set_trust_level", 5, "green").trust_level == "green"
    assert run("set_admin", 1, 5, True).success is True
    assert run("is_admin", 1, 5).is_admin is True
    assert run("create_category", 1, "Ops").name == "Ops"
    assert [c.name for c in run("list_categories", 1)] == ["Development", "Ops"]
    assert run("get_category", 1, "ops").name == "Ops"
    assert run("update_category", 1, "Ops", color="#123456").color == "#123456"
    assert run("rename_category", 1, "Ops", "Operations").name == "Operations"
    assert run("archive_category", 1, "Operations").archived is True
    assert run("delete_category", 1, "Operations").success is True
    s = run("clock_in", 1, 5, "Development", at="2025-10-10T09:00:00Z")
    assert run("active_session", 1, 5).id == s.session_id
    assert run("clock_out", 1, 5, at="2025-10-10T10:00:00Z").duration == 3600
    entry = run("add_entry", 1, 5, "Development", "2025-10-09T09:00:00Z", "2025-10-09T09:30:00Z")
    assert run("get_session", 1, entry.id).duration == 1800
    assert run("update_session", 1, entry.id, billable=True).billable is True
    assert run("list_sessions", 1, user_id=5, from_="2025-10-09T00:00:00Z").meta.total == 2
    assert run("delete_session", 1, entry.id).success is True
    assert run("guild_status", 1).total_time_seconds == 3600
    assert run("leaderboard", 1, timeframe="custom", from_="2025-10-10T00:00:00Z", to="2025-10-11T00:00:00Z").leaderboard[0].total_seconds == 3600
    assert run("report", 1, timeframe="all", group_by=["user"]).rows[0].total_seconds == 3600
    imported = run("import_entries", 1, [{"user_id": 5, "category": "Development", "start": "2025-01-02T09:00:00Z", "end": "2025-01-02T10:00:00Z"}])
    assert imported.imported == 1 and imported.errors == []
    dump = str(tmp_path / "export.jsonl")
    assert run("export_file", dump, guild_id=1).lines.session >= 1
    assert run("import_file", "timeledger", dump).refused == 0
    r = run("ingest_heartbeats", 1, 5, [{"entity": "a", "time": 1760083200}, {"entity": "a", "time": 1760083500}])
    assert [x[1] for x in r.responses] == [201, 201]
    assert len(run("list_heartbeats", 1, 5, start=1760083200, end=1760083600).data) == 2
    assert run("most_recent_heartbeat", 1, 5).data.time == 1760083500
    assert run("statusbar_today", 1, 5).data.grand_total.total_seconds == 300  # 08:00-08:05Z is today
    assert run("coding_stats", 1, 5).total_seconds == 300
    assert run("coding_summaries", 1, 5, "today", "today").cumulative_total.seconds == 300
    assert run("coding_leaderboard", 1, period="weekly").period == "last_7_days"
    assert run("set_master_key", MASTER).success is True
    assert run("key_prefix").key_prefix == "tl"
    assert run("set_key_prefix", "hk").key_prefix == "hk"
    ent = run("generate_key", 1, 5, MASTER, tier="ENTERPRISE", name="main")
    sub = run("mint_sub_key", ent.api_key, 1, tier="PREMIUM")
    assert run("authorize", sub.api_key, 1, "read_status").tier == "PREMIUM"
    assert ent.api_key.startswith("hk_live_") and sub.api_key.startswith("hk_live_")
    assert run("set_rate_limiter", "memory").success is True
    # The in-memory limiter counts from zero: it does not load the shared counters.
    assert run("authorize", sub.api_key, 1, "read_status").remaining == 59
    assert run("set_rate_limiter", "shared").success is True
    assert run("set_durability", "full").durability == "full"
    assert {k.key_id for k in run("list_keys", 1)} == {ent.key_id, sub.key_id}
    assert run("get_key", sub.key_id).parent_id == ent.key_id
    assert run("update_key", sub.key_id, name="customer").name == "customer"
    new = run("rotate_key", sub.key_id, grace_seconds=0)
    assert run("get_key", sub.key_id).replaced_by == new.key_id
    assert run("revoke_key", new.key_id).status == "revoked"
    assert run("key_events", key_id=sub.key_id)[0].event == "rotated"
    assert [t.name for t in run("tiers")][:2] == ["SUPPORTER", "PREMIUM"]
    assert len(run("set_tiers", [t.to_dict() for t in engine.tiers()])) == 4
    assert run("extract_key", headers={"Authorization": "Bearer abc"}).api_key == "abc"
    assert called == set(timeledger.Engine.operations())


def test_deeply_nested_arguments_are_invalid_input_not_a_crash(engine: timeledger.Engine) -> None:
    deep: object = 1
    for _ in range(10_000):
        deep = [deep]
    with pytest.raises(timeledger.InvalidInputError) as info:
        engine.call("guild_status", {"guild_id": deep})
    assert info.value.field == "guild_id"
    with pytest.raises(timeledger.InvalidInputError) as info:
        engine.ingest_heartbeats(1, 2, [deep])
    assert info.value.field == "heartbeats"


@pytest.mark.parametrize("value", [2**64, -(2**63) - 1, float("nan"), float("inf")])
def test_numbers_no_json_caller_could_send_are_invalid_input(engine: timeledger.Engine, value: object) -> None:
    with pytest.raises(timeledger.InvalidInputError) as info:
        engine.call("guild_status", {"guild_id": value})
    assert info.value.field == "guild_id" and info.value.code == "INVALID_INPUT"


def test_a_heartbeat_body_that_is_not_utf8_is_invalid_input(engine: timeledger.Engine) -> None:
    with pytest.raises(timeledger.InvalidInputError) as info:
        engine.ingest_heartbeats(1, 2, b'[{"entity": "\xff\xfe"}]')
    assert info.value.field == "heartbeats"


def test_opening_an_empty_path_or_a_missing_folder_says_why(tmp_path: pathlib.Path) -> None:
    with pytest.raises(timeledger.InvalidInputError) as info:
        timeledger.Engine("")
    assert info.value.field == "path"
    with pytest.raises(timeledger.StorageError) as storage:
        timeledger.Engine(tmp_path / "no-such-folder" / "x.db")
    assert "no such directory" in str(storage.value) and "no-such-folder" in str(storage.value)
    (tmp_path / "junk.db").write_bytes(b"this is not a database file at all, just some text" * 100)
    with pytest.raises(timeledger.StorageError) as storage:
        timeledger.Engine(tmp_path / "junk.db")
    assert "not a database" in str(storage.value)


def test_readme_flask_adapter_serves_the_http_api(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (ROOT / "README.md").read_text().split("### HTTP adapter (Python)")[1]
    code = re.findall(r"```python\n(.*?)```", readme, re.S)[0]
    assert len(code.strip().splitlines()) <= 15
    monkeypatch.chdir(tmp_path)
    ns: dict = {"__name__": "adapter"}
    exec(compile(code, "README.md", "exec"), ns)
    engine, client = ns["engine"], ns["app"].test_client()
    engine.set_master_key(MASTER)
    created = client.post("/api/v1/auth/generate", json={"guild_id": 1, "admin_user_id": 2, "master_key": MASTER, "tier": "ENTERPRISE"})
    assert created.status_code == 201
    key = created.get_json()["api_key"]
    assert client.post("/api/v1/guild/1/categories", json={"name": "Dev"}, headers={"X-API-Key": key}).status_code == 201
    res = client.get("/api/v1/guild/1/status?_=1", headers={"X-API-Key": key})
    assert res.status_code == 200 and res.headers["X-API-Tier"] == "ENTERPRISE"
    assert res.get_json()["guild_id"] == 1
    missing = client.get("/api/v1/guild/1/status")
    assert missing.status_code == 401 and missing.get_json()["code"] == "MISSING_API_KEY"
    assert client.get("/nowhere").status_code == 404


def test_handle_answers_bad_requests_with_the_error_shape(engine: timeledger.Engine) -> None:
    r = engine.handle("G E T", "/")
    assert r.status == 400 and b"INVALID_INPUT" in r.body
    r = engine.handle("POST", "/api/v1/auth/generate", [("Content-Type", "application/json")], b"{\xff")
    assert r.status == 400 and b"body" in r.body
    with pytest.raises(TypeError):
        engine.handle("GET", "/", None, 5)  # type: ignore[arg-type]
