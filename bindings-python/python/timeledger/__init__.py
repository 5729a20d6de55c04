"""Timeledger: an embedded time-tracking engine over SQLite.

>>> import timeledger
>>> engine = timeledger.Engine(":memory:")
>>> engine.create_category(1, "Development").name
'Development'

Every method runs the engine with the GIL released. Results are :class:`Result` objects (a
``dict`` with attribute access; ``to_dict()`` gives the plain JSON shape). Errors are
:class:`TimeledgerError` subclasses carrying ``code``, ``status`` and ``to_dict()``.

Threads: one ``Engine`` may be shared by any number of threads. Processes: several processes may
open the same file. ``fork``: an ``Engine`` created before a fork (gunicorn/uvicorn workers with
preload) reopens its database connection the first time it is used in the child; the parent's
connection is never touched there. A ``":memory:"`` engine is not shared across a fork: the child
starts with an empty database.
"""

from __future__ import annotations

import datetime as _dt
import json as _json
import os as _os
import threading as _threading
from typing import Any, Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

from . import _native

__all__ = [
    "Engine",
    "HttpResponse",
    "Result",
    "TimeledgerError",
    "InvalidInputError",
    "UnauthorizedError",
    "ForbiddenError",
    "NotFoundError",
    "ConflictError",
    "RateLimitedError",
    "StorageError",
]

Id = Union[int, str]
Instant = Union[_dt.datetime, int, float, str]

_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1


class TimeledgerError(Exception):
    """Base of every engine error: ``code`` (e.g. ``SESSION_OVERLAP``), HTTP ``status``,
    ``message``, and ``to_dict()`` for the JSON body to send back."""

    def __init__(self, code: str, status: int, message: str, body: Optional[Dict[str, Any]] = None,
                 headers: Optional[Dict[str, str]] = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message
        self.headers: Dict[str, str] = dict(headers or {})
        self._body: Dict[str, Any] = dict(body) if body is not None else {"error": message, "message": message, "code": code}

    def to_dict(self) -> Dict[str, Any]:
        """The error body, e.g. ``{"error": ..., "message": ..., "code": ...}``."""
        return dict(self._body)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, status={self.status}, message={self.message!r})"


class InvalidInputError(TimeledgerError, ValueError):
    """400: a missing, malformed or out-of-range argument; ``field`` names it."""

    @property
    def field(self) -> Optional[str]:
        """The argument at fault."""
        value = self._body.get("field")
        return value if isinstance(value, str) else None


class UnauthorizedError(TimeledgerError):
    """401: missing, invalid, revoked or expired key, or a wrong master key."""


class ForbiddenError(TimeledgerError):
    """403: the key may not do this, or belongs to another guild."""


class NotFoundError(TimeledgerError, LookupError):
    """404: no such user, category, session or key."""


class ConflictError(TimeledgerError):
    """409: the state forbids it (already clocked in, overlap, category in use, ...)."""


class RateLimitedError(TimeledgerError):
    """429 (``RATE_001``): ``remaining``, ``reset_in`` (seconds), ``tier``; ``headers`` include
    ``Retry-After``."""

    @property
    def remaining(self) -> int:
        """Requests left in the window (0)."""
        return int(self._body.get("remaining", 0))

    @property
    def reset_in(self) -> int:
        """Seconds until a request can be admitted."""
        return int(self._body.get("reset_in", 0))

    @property
    def tier(self) -> str:
        """The key's tier."""
        return str(self._body.get("tier", ""))


class StorageError(TimeledgerError):
    """500: the storage layer failed."""


_BY_STATUS = {400: InvalidInputError, 401: UnauthorizedError, 403: ForbiddenError, 404: NotFoundError,
              409: ConflictError, 429: RateLimitedError}


def _error(e: BaseException) -> TimeledgerError:
    code, status, message, body, headers = e.args
    cls = _BY_STATUS.get(status, StorageError)
    return cls(code, status, message, _json.loads(body), _json.loads(headers))


def _invalid(field: str, message: str) -> InvalidInputError:
    """The engine's ``INVALID_INPUT`` for a value this module refuses before the call."""
    body = {"error": "Bad Request", "code": "INVALID_INPUT", "message": f"invalid {field}: {message}", "field": field}
    return InvalidInputError("INVALID_INPUT", 400, body["message"], body, {})


class Result(dict):  # type: ignore[type-arg]
    """A result in the documented JSON shape: a ``dict`` with attribute access
    (``status.total_time_hours``, nested too: ``board.leaderboard[0].username``);
    ``to_dict()`` returns plain ``dict``/``list`` values."""

    def __getattr__(self, name: str) -> Any:
        try:
            value = self[name]
        except KeyError:
            raise AttributeError(name) from None
        return _wrap(value)

    def to_dict(self) -> Dict[str, Any]:
        """A deep copy as plain JSON types."""
        return _plain(self)  # type: ignore[no-any-return]


def _wrap(v: Any) -> Any:
    # Shallow: nested values are wrapped when they are reached through attribute access.
    if type(v) is dict:
        return Result(v)
    if type(v) is list:
        return [_wrap(x) for x in v]
    return v


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def _id(name: str, v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, str)):
        raise TypeError(f"{name} must be an int or a decimal string, not {type(v).__name__}")
    if isinstance(v, int) and not _I64_MIN <= v <= _I64_MAX:
        raise ValueError(f"{name} does not fit in a signed 64-bit integer")
    return v


def _instant(name: str, v: Any) -> Any:
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, _dt.datetime):
        if v.tzinfo is None or v.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware (naive datetimes are ambiguous)")
        return v.isoformat()
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"{name} must be a datetime, Unix seconds or an RFC 3339 string, not {type(v).__name__}")
    return v


def _str(name: str, v: Any) -> Any:
    """A required string argument."""
    if not isinstance(v, str):
        raise TypeError(f"{name} must be a str, not {type(v).__name__}")
    return v


def _opt_str(name: str, v: Any) -> Any:
    """An optional string argument."""
    return None if v is None else _str(name, v)


# Native engines replaced after a fork are kept here so the child never closes the parent's
# connection.
_ABANDONED: List[Any] = []


class HttpResponse(NamedTuple):
    """What :meth:`Engine.handle` answers: send it back as it is."""

    status: int
    headers: List[Tuple[str, str]]
    body: bytes


class Engine:
    """An open Timeledger database (a file path, created if missing, or ``":memory:"``)."""

    def __init__(self, path: Union[str, "_os.PathLike[str]"] = ":memory:") -> None:
        self._path = _os.fspath(path)
        if not isinstance(self._path, str):
            raise TypeError("path must be a str or os.PathLike[str]")
        self._lock = _threading.Lock()
        self._now: Optional[int] = None
        self._pid = _os.getpid()
        try:
            self._native = _native.NativeEngine(self._path)
        except _native.NativeError as e:
            raise _error(e) from None

    def _engine(self) -> Any:
        if self._pid != _os.getpid():
            with self._lock:
                if self._pid != _os.getpid():
                    _ABANDONED.append(self._native)
                    try:
                        self._native = _native.NativeEngine(self._path)
                    except _native.NativeError as e:
                        raise _error(e) from None
                    self._native.set_now(self._now)
                    self._pid = _os.getpid()
        return self._native

    def _call(self, op: str, **args: Any) -> Any:
        """Runs an operation on Python values, converted in Rust without JSON text."""
        try:
            out = self._engine().call_obj(op, {k: v for k, v in args.items() if v is not None})
        except _native.NativeError as e:
            raise _error(e) from None
        return _wrap(out)

    # -- generic ---------------------------------------------------------------------------

    def call(self, op: str, args: Optional[Mapping[str, Any]] = None) -> Any:
        """Runs any operation by name with a mapping of JSON arguments (the README's table)."""
        _str("op", op)
        try:
            out = self._engine().call_obj(op, dict(args or {}))
        except _native.NativeError as e:
            raise _error(e) from None
        return _wrap(out)

    def handle(self, method: str, url: str,
               headers: Union[Mapping[str, str], Iterable[Tuple[str, str]], None] = None,
               body: Union[bytes, bytearray, memoryview, str] = b"") -> HttpResponse:
        """Answers an HTTP request with the engine's HTTP API (the routes in the README): the
        method, the path with its query (``/api/v1/guild/1/status?x=1``), the request's headers
        and its body bytes. Keys, permissions, rate limits, status codes, headers and error bodies
        are all decided by the engine; a web framework only passes the request through."""
        pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers or [])
        if not isinstance(body, (bytes, bytearray, memoryview, str)):
            raise TypeError(f"body must be bytes or str, not {type(body).__name__}")
        data = body.encode() if isinstance(body, str) else bytes(body)
        status, out_headers, out_body = self._engine().handle(_str("method", method), _str("url", url),
                                                              [(str(k), str(v)) for k, v in pairs], data)
        return HttpResponse(status, out_headers, out_body)

    @staticmethod
    def operations() -> List[str]:
        """Every operation name :meth:`call` accepts."""
        return list(_native.NativeEngine.operations())

    def set_now(self, when: Optional[Instant]) -> None:
        """Freezes the engine's clock (tests, replays); ``None`` returns to the wall clock."""
        if when is None:
            ms = None
        elif isinstance(when, str):
            ms = int(_dt.datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp() * 1000)
        else:
            v = _instant("when", when)
            ms = int(_dt.datetime.fromisoformat(v).timestamp() * 1000) if isinstance(v, str) else round(v * 1000)
        self._now = ms
        self._engine().set_now(ms)

    # -- guilds and users --------------------------------------------------------------------

    def guild_settings(self, guild_id: Id) -> Result:
        """A guild's settings (defaults for a guild never seen)."""
        return self._call("guild_settings", guild_id=_id("guild_id", guild_id))  # type: ignore[no-any-return]

    def update_guild(self, guild_id: Id, *, timezone: Optional[str] = None, week_start: Optional[str] = None,
                     max_session_seconds: Optional[int] = None, allow_overlap: Optional[bool] = None,
                     heartbeat_timeout_seconds: Optional[int] = None) -> Result:
        """Changes a guild's settings (``max_session_seconds=0`` removes the cap)."""
        return self._call("update_guild", guild_id=_id("guild_id", guild_id), timezone=_opt_str("timezone", timezone),  # type: ignore[no-any-return]
                          week_start=_opt_str("week_start", week_start), max_session_seconds=max_session_seconds,
                          allow_overlap=allow_overlap, heartbeat_timeout_seconds=heartbeat_timeout_seconds)

    def upsert_user(self, user_id: Id, username: str, *, display_name: Optional[str] = None,
                    avatar_url: Optional[str] = None, email: Optional[str] = None, slack_uid: Optional[str] = None,
                    trust_level: Optional[str] = None, guild_id: Optional[Id] = None,
                    is_admin: Optional[bool] = None, time_zone: Optional[str] = None) -> Result:
        """Creates or updates a user; with ``guild_id`` also a member (``is_admin`` sets admin).
        ``time_zone`` is the user's own IANA zone for coding reads (``""`` clears it)."""
        return self._call("upsert_user", user_id=_id("user_id", user_id), username=_str("username", username),  # type: ignore[no-any-return]
                          display_name=display_name, avatar_url=avatar_url, email=email, slack_uid=slack_uid,
                          trust_level=trust_level, guild_id=_id("guild_id", guild_id), is_admin=is_admin,
                          time_zone=time_zone)

    def list_members(self, guild_id: Id, *, page: Optional[int] = None, per_page: Optional[int] = None) -> Result:
        """A guild's members by user id, each with ``is_admin``: ``{data, meta {total, page, per_page}}``."""
        return self._call("list_members", guild_id=_id("guild_id", guild_id), page=page, per_page=per_page)  # type: ignore[no-any-return]

    def get_user(self, user_id: Id) -> Result:
        """A user by id."""
        return self._call("get_user", user_id=_id("user_id", user_id))  # type: ignore[no-any-return]

    def find_user_by_email(self, email: str) -> Result:
        """A user by e-mail (case-insensitive)."""
        return self._call("find_user_by_email", email=_str("email", email))  # type: ignore[no-any-return]

    def find_user_by_slack_uid(self, slack_uid: str) -> Result:
        """A user by Slack id."""
        return self._call("find_user_by_slack_uid", slack_uid=_str("slack_uid", slack_uid))  # type: ignore[no-any-return]

    def set_trust_level(self, user_id: Id, trust_level: str) -> Result:
        """Sets ``blue``, ``green``, ``yellow`` or ``red`` (red users leave every leaderboard)."""
        return self._call("set_trust_level", user_id=_id("user_id", user_id), trust_level=_str("trust_level", trust_level))  # type: ignore[no-any-return]

    def set_admin(self, guild_id: Id, user_id: Id, is_admin: bool) -> Result:
        """Makes a user an admin of a guild, or not."""
        return self._call("set_admin", guild_id=_id("guild_id", guild_id), user_id=_id("user_id", user_id), is_admin=is_admin)  # type: ignore[no-any-return]

    def is_admin(self, guild_id: Id, user_id: Id) -> Result:
        """``{"is_admin": bool}``."""
        return self._call("is_admin", guild_id=_id("guild_id", guild_id), user_id=_id("user_id", user_id))  # type: ignore[no-any-return]

    # -- categories --------------------------------------------------------------------------

    def create_category(self, guild_id: Id, name: str, *, description: Optional[str] = None,
                        color: Optional[str] = None) -> Result:
        """Creates a category (names unique ignoring case)."""
        return self._call("create_category", guild_id=_id("guild_id", guild_id), name=_str("name", name),  # type: ignore[no-any-return]
                          description=description, color=color)

    def list_categories(self, guild_id: Id, *, include_archived: bool = False) -> List[Result]:
        """A guild's categories with totals."""
        return self._call("list_categories", guild_id=_id("guild_id", guild_id), include_archived=include_archived)  # type: ignore[no-any-return]

    def get_category(self, guild_id: Id, name: str) -> Result:
        """One category by name (any case)."""
        return self._call("get_category", guild_id=_id("guild_id", guild_id), name=_str("name", name))  # type: ignore[no-any-return]

    def update_category(self, guild_id: Id, name: str, *, new_name: Optional[str] = None,
                        description: Optional[str] = None, color: Optional[str] = None,
                        archived: Optional[bool] = None) -> Result:
        """Renames, re-describes, re-colours, archives or restores a category."""
        return self._call("update_category", guild_id=_id("guild_id", guild_id), name=_str("name", name),  # type: ignore[no-any-return]
                          new_name=new_name, description=description, color=color, archived=archived)

    def rename_category(self, guild_id: Id, name: str, new_name: str) -> Result:
        """Renames a category; its history follows."""
        return self._call("rename_category", guild_id=_id("guild_id", guild_id), name=_str("name", name), new_name=_str("new_name", new_name))  # type: ignore[no-any-return]

    def archive_category(self, guild_id: Id, name: str) -> Result:
        """Archives a category: no new sessions, hidden by default."""
        return self._call("archive_category", guild_id=_id("guild_id", guild_id), name=_str("name", name))  # type: ignore[no-any-return]

    def delete_category(self, guild_id: Id, name: str) -> Result:
        """Deletes an unused category (``CATEGORY_IN_USE`` otherwise)."""
        return self._call("delete_category", guild_id=_id("guild_id", guild_id), name=_str("name", name))  # type: ignore[no-any-return]

    # -- sessions ----------------------------------------------------------------------------

    def clock_in(self, guild_id: Id, user_id: Id, category: str, *, description: Optional[str] = None,
                 at: Optional[Instant] = None, switch: bool = False) -> Result:
        """Clocks a user in; ``switch=True`` closes a running session at the same instant."""
        return self._call("clock_in", guild_id=_id("guild_id", guild_id), user_id=_id("user_id", user_id),  # type: ignore[no-any-return]
                          category=_str("category", category), description=description, at=_instant("at", at),
                          switch=switch or None)

    def clock_out(self, guild_id: Id, user_id: Id, *, at: Optional[Instant] = None) -> Result:
        """Clocks a user out (``NO_ACTIVE_SESSION`` if nothing runs)."""
        return self._call("clock_out", guild_id=_id("guild_id", guild_id), user_id=_id("user_id", user_id), at=_instant("at", at))  # type: ignore[no-any-return]

    def active_session(self, guild_id: Id, user_id: Id) -> Optional[Result]:
        """The user's running session, or ``None``."""
        return self._call("active_session", guild_id=_id("guild_id", guild_id), user_id=_id("user_id", user_id))  # type: ignore[no-any-return]

    def add_entry(self, guild_id: Id, user_id: Id, category: str, start: Instant, end: Instant, *,
                  billable: bool = False, description: Optional[str] = None) -> Result:
        """Adds a closed manual entry."""
        return self._call("add_entry", guild_id=_id("guild_id", guild_id), user_id=_id("user_id", user_id),  # type: ignore[no-any-return]
                          category=_str("category", category), start=_instant("start", start), end=_instant("end", end),
                          billable=billable, description=description)

    def import_entries(self, guild_id: Id, entries: Sequence[Mapping[str, Any]]) -> Result:
        """Imports up to 10,000 closed entries (``{user_id, category, start, end, billable?,
        description?}``) in one transaction, all or nothing: ``{imported, session_ids, errors}``,
        where ``errors`` lists every refused entry as ``{index, error}``."""
        if isinstance(entries, (str, bytes)) or not isinstance(entries, Sequence):
            raise TypeError(f"entries must be a list of entries, not {type(entries).__name__}")
        return self._call("import_entries", guild_id=_id("guild_id", guild_id), entries=list(entries))  # type: ignore[no-any-return]

    def import_file(self, format: str, path: str, *, guild_id: Optional[Id] = None, user_id: Optional[Id] = None) -> Result:
        """Imports a file, streaming and idempotent: ``timeledger`` (this engine's export),
        ``wakatime`` (a data dump; needs ``guild_id`` and ``user_id``), ``toggl`` or ``clockify``
        (CSV; needs ``guild_id``). Returns ``{format, imported, duplicates, refused, reasons, skipped}``."""
        return self._call("import_file", format=_str("format", format), path=_str("path", path),  # type: ignore[no-any-return]
                          guild_id=_id("guild_id", guild_id), user_id=_id("user_id", user_id))

    def export_file(self, path: str, *, guild_id: Optional[Id] = None) -> Result:
        """Writes this engine's export (JSON lines, never a key's secret): ``{path, lines}``."""
        return self._call("export_file", path=_str("path", path), guild_id=_id("guild_id", guild_id))  # type: ignore[no-any-return]

    def get_session(self, guild_id: Id, session_id: str) -> Result:
        """One session by id."""
        return self._call("get_session", guild_id=_id("guild_id", guild_id), session_id=_str("session_id", session_id))  # type: ignore[no-any-return]

    def update_session(self, guild_id: Id, session_id: str, *, category: Optional[str] = None,
                       start: Optional[Instant] = None, end: Optional[Instant] = None,
                       description: Optional[str] = None, billable: Optional[bool] = None) -> Result:
        """Changes a session; aggregates follow."""
        return self._call("update_session", guild_id=_id("guild_id", guild_id), session_id=_str("session_id", session_id),  # type: ignore[no-any-return]
                          category=category, start=_instant("start", start), end=_instant("end", end),
                          description=description, billable=billable)

    def delete_session(self, guild_id: Id, session_id: str) -> Result:
        """Deletes a session."""
        return self._call("delete_session", guild_id=_id("guild_id", guild_id), session_id=_str("session_id", session_id))  # type: ignore[no-any-return]

    def list_sessions(self, guild_id: Id, *, user_id: Optional[Id] = None, category: Optional[str] = None,
                      from_: Optional[Instant] = None, to: Optional[Instant] = None, page: Optional[int] = None,
                      per_page: Optional[int] = None) -> Result:
        """Sessions newest first: ``{"data": [...], "meta": {"total", "page", "per_page"}}``."""
        return self._call("list_sessions", guild_id=_id("guild_id", guild_id), user_id=_id("user_id", user_id),  # type: ignore[no-any-return]
                          category=category, **{"from": _instant("from_", from_)}, to=_instant("to", to),
                          page=page, per_page=per_page)

    # -- aggregates --------------------------------------------------------------------------

    def guild_status(self, guild_id: Id) -> Result:
        """Guild status in the clock-in API's shape."""
        return self._call("guild_status", guild_id=_id("guild_id", guild_id))  # type: ignore[no-any-return]

    def leaderboard(self, guild_id: Id, *, timeframe: Optional[str] = None, from_: Optional[Instant] = None,
                    to: Optional[Instant] = None, category: Optional[str] = None, limit: Optional[int] = None,
                    offset: Optional[int] = None) -> Result:
        """The session leaderboard (``timeframe`` default ``all``)."""
        return self._call("leaderboard", guild_id=_id("guild_id", guild_id), timeframe=timeframe,  # type: ignore[no-any-return]
                          **{"from": _instant("from_", from_)}, to=_instant("to", to), category=category,
                          limit=limit, offset=offset)

    def report(self, guild_id: Id, *, timeframe: Optional[str] = None, from_: Optional[Instant] = None,
               to: Optional[Instant] = None, group_by: Optional[Sequence[str]] = None,
               user_id: Optional[Id] = None, category: Optional[str] = None) -> Result:
        """A summary report grouped by ``user``, ``category`` and/or ``day``."""
        return self._call("report", guild_id=_id("guild_id", guild_id), timeframe=timeframe,  # type: ignore[no-any-return]
                          **{"from": _instant("from_", from_)}, to=_instant("to", to),
                          group_by=list(group_by) if group_by is not None else None,
                          user_id=_id("user_id", user_id), category=category)

    # -- heartbeats --------------------------------------------------------------------------

    def ingest_heartbeats(self, guild_id: Id, user_id: Id,
                          heartbeats: Union[Sequence[Mapping[str, Any]], Mapping[str, Any], str, bytes], *,
                          user_agent: Optional[str] = None, machine_name: Optional[str] = None,
                          time_zone: Optional[str] = None) -> Result:
        """Ingests a heartbeat or a bulk list (dicts as a web framework hands them over, or the
        raw JSON body); returns ``{"responses": [[body, status], ...]}``. ``time_zone`` (the
        plugin's ``TimeZone`` header) becomes the user's zone while they have none."""
        head = {"guild_id": _id("guild_id", guild_id), "user_id": _id("user_id", user_id)}
        if user_agent is not None:
            head["user_agent"] = _str("user_agent", user_agent)
        if machine_name is not None:
            head["machine_name"] = _str("machine_name", machine_name)
        if time_zone is not None:
            head["time_zone"] = _str("time_zone", time_zone)
        if isinstance(heartbeats, (bytes, bytearray)):
            try:
                heartbeats = heartbeats.decode("utf-8")
            except UnicodeDecodeError as e:
                raise _invalid("heartbeats", f"the body is not UTF-8: {e.reason} at byte {e.start}") from None
        if not isinstance(heartbeats, str):
            if isinstance(heartbeats, Mapping):
                value: Any = dict(heartbeats)
            elif isinstance(heartbeats, Sequence):
                value = heartbeats if isinstance(heartbeats, list) else list(heartbeats)
            else:
                value = heartbeats  # the engine answers INVALID_INPUT (a ValueError)
            if type(head["guild_id"]) is int and type(head["user_id"]) is int and isinstance(value, (list, dict)):
                # Plain dicts are read field by field by the extension, without JSON text; it
                # answers None for anything it does not read exactly as json.dumps would, and
                # the list then takes the JSON road below.
                try:
                    out = self._engine().ingest_dicts(head["guild_id"], head["user_id"],
                                                      value if isinstance(value, list) else [value],
                                                      user_agent, machine_name, time_zone)
                except _native.NativeError as e:
                    raise _error(e) from None
                if out is not None:
                    return _wrap(out)  # type: ignore[no-any-return]
            # Bulk bodies cross as JSON text both ways: the C encoder and decoder of the json
            # module are faster than converting thousands of small objects one by one, and the
            # engine reads heartbeats straight from the text.
            try:
                heartbeats = _json.dumps(value, allow_nan=False)
            except (ValueError, RecursionError) as e:  # NaN/infinity, or nested past the stack
                raise _invalid("heartbeats", f"invalid heartbeats: {e}") from None
            except TypeError as e:
                raise TypeError(f"heartbeats: {e}") from None
        # Splice the body in: no parse in Python, the engine validates it.
        payload = _json.dumps(head)[:-1] + ', "heartbeats": ' + heartbeats + "}"
        try:
            out = self._engine().ingest_text(payload)
        except _native.NativeError as e:
            raise _error(e) from None
        return _wrap(out)  # type: ignore[no-any-return]

    def list_heartbeats(self, guild_id: Id, user_id: Id, *, start: Optional[Instant] = None,
                        end: Optional[Instant] = None, limit: Optional[int] = None) -> Result:
        """Raw heartbeats in ``[start, end)`` (default today), at most ``limit`` (<= 100)."""
        return self._call("list_heartbeats", guild_id=_id("guild_id", guild_id), user_id=_id("user_id", user_id),  # type: ignore[no-any-return]
                          start=_instant("start", start), end=_instant("end", end), limit=limit)

    def most_recent_heartbeat(self, guild_id: Id, user_id: Id) -> Result:
        """``{"data": heartbeat or None}``."""
        return self._call("most_recent_heartbeat", guild_id=_id("guild_id", guild_id), user_id=_id("user_id", user_id))  # type: ignore[no-any-return]

    def statusbar_today(self, guild_id: Id, user_id: Id) -> Result:
        """Today's coding time in WakaTime's ``statusbar/today`` shape."""
        return self._call("statusbar_today", guild_id=_id("guild_id", guild_id), user_id=_id("user_id", user_id))  # type: ignore[no-any-return]

    def coding_summaries(self, guild_id: Id, user_id: Id, start: str, end: str) -> Result:
        """WakaTime's summaries: one item per local day from ``start`` to ``end`` (``YYYY-MM-DD``,
        ``today`` or ``yesterday``), with ``cumulative_total``."""
        return self._call("coding_summaries", guild_id=_id("guild_id", guild_id), user_id=_id("user_id", user_id),  # type: ignore[no-any-return]
                          start=_str("start", start), end=_str("end", end))

    def coding_stats(self, guild_id: Id, user_id: Id, *, timeframe: Optional[str] = None,
                     from_: Optional[Instant] = None, to: Optional[Instant] = None) -> Result:
        """A user's coding stats in Hackatime's shape."""
        return self._call("coding_stats", guild_id=_id("guild_id", guild_id), user_id=_id("user_id", user_id),  # type: ignore[no-any-return]
                          timeframe=timeframe, **{"from": _instant("from_", from_)}, to=_instant("to", to))

    def coding_leaderboard(self, guild_id: Id, *, period: Optional[str] = None, limit: Optional[int] = None,
                           offset: Optional[int] = None) -> Result:
        """Hackatime's ``daily`` (rolling 24 h) or ``weekly`` coding leaderboard."""
        return self._call("coding_leaderboard", guild_id=_id("guild_id", guild_id), period=period, limit=limit, offset=offset)  # type: ignore[no-any-return]

    # -- API keys ----------------------------------------------------------------------------

    def set_master_key(self, master_key: str) -> Result:
        """Sets the host's master key (stored hashed)."""
        return self._call("set_master_key", master_key=_str("master_key", master_key))  # type: ignore[no-any-return]

    def set_key_prefix(self, prefix: str) -> Result:
        """Sets this deployment's key prefix (2-12 lowercase letters/digits, default ``tl``);
        keys of an earlier prefix keep working. Returns ``{key_prefix}``."""
        return self._call("set_key_prefix", prefix=_str("prefix", prefix))  # type: ignore[no-any-return]

    def key_prefix(self) -> Result:
        """The deployment's key prefix: ``{key_prefix}``."""
        return self._call("key_prefix")  # type: ignore[no-any-return]

    def generate_key(self, guild_id: Id, admin_user_id: Id, master_key: str, *, tier: Optional[str] = None,
                     name: Optional[str] = None, expires_at: Optional[Instant] = None,
                     form: Optional[str] = None) -> Result:
        """Generates a key (``form``: ``live``, ``test`` or ``uuid``); ``api_key`` is shown once."""
        return self._call("generate_key", guild_id=_id("guild_id", guild_id), admin_user_id=_id("admin_user_id", admin_user_id),  # type: ignore[no-any-return]
                          master_key=_str("master_key", master_key), tier=tier, name=name,
                          expires_at=_instant("expires_at", expires_at), form=form)

    def mint_sub_key(self, parent_key: str, guild_id: Id, *, tier: Optional[str] = None,
                     permissions: Optional[Sequence[str]] = None, name: Optional[str] = None,
                     expires_at: Optional[Instant] = None, form: Optional[str] = None) -> Result:
        """Mints a sub-key from an Enterprise or Admin key."""
        return self._call("mint_sub_key", parent_key=_str("parent_key", parent_key), guild_id=_id("guild_id", guild_id),  # type: ignore[no-any-return]
                          tier=tier, permissions=list(permissions) if permissions is not None else None, name=name,
                          expires_at=_instant("expires_at", expires_at), form=form)

    def authorize(self, api_key: str, guild_id: Id, action: str, *, target_user_id: Optional[Id] = None) -> Result:
        """May this key do ``action`` on this guild now? A grant with ``limit``, ``remaining``,
        ``reset_in`` and ``headers``, or an error (``RateLimitedError`` for ``RATE_001``)."""
        return self._call("authorize", api_key=_str("api_key", api_key), guild_id=_id("guild_id", guild_id),  # type: ignore[no-any-return]
                          action=_str("action", action), target_user_id=_id("target_user_id", target_user_id))

    def set_durability(self, mode: str) -> Result:
        """``normal`` (default: survives a process crash) or ``full`` (also a power loss: an fsync
        per write). Applies to this engine's connection. Returns ``{durability}``."""
        return self._call("set_durability", mode=_str("mode", mode))  # type: ignore[no-any-return]

    def set_rate_limiter(self, mode: str) -> Result:
        """``shared`` (default, across processes) or ``memory`` (this process only; counts from zero)."""
        return self._call("set_rate_limiter", mode=_str("mode", mode))  # type: ignore[no-any-return]

    def list_keys(self, guild_id: Id) -> List[Result]:
        """A guild's keys (metadata only)."""
        return self._call("list_keys", guild_id=_id("guild_id", guild_id))  # type: ignore[no-any-return]

    def get_key(self, key_id: str) -> Result:
        """One key's metadata."""
        return self._call("get_key", key_id=_str("key_id", key_id))  # type: ignore[no-any-return]

    def revoke_key(self, key_id: str) -> Result:
        """Revokes a key and, with it, its sub-keys."""
        return self._call("revoke_key", key_id=_str("key_id", key_id))  # type: ignore[no-any-return]

    def rotate_key(self, key_id: str, *, grace_seconds: Optional[int] = None) -> Result:
        """Replaces a key; the old one works for ``grace_seconds``."""
        return self._call("rotate_key", key_id=_str("key_id", key_id), grace_seconds=grace_seconds)  # type: ignore[no-any-return]

    def update_key(self, key_id: str, *, tier: Optional[str] = None, name: Optional[str] = None) -> Result:
        """Changes a key's tier (the key stays) or name."""
        return self._call("update_key", key_id=_str("key_id", key_id), tier=tier, name=name)  # type: ignore[no-any-return]

    def key_events(self, *, key_id: Optional[str] = None, guild_id: Optional[Id] = None,
                   limit: Optional[int] = None) -> List[Result]:
        """The audit trail, newest first."""
        return self._call("key_events", key_id=key_id, guild_id=_id("guild_id", guild_id), limit=limit)  # type: ignore[no-any-return]

    def tiers(self) -> List[Result]:
        """The tier table in force."""
        return self._call("tiers")  # type: ignore[no-any-return]

    def set_tiers(self, tiers: Sequence[Mapping[str, Any]]) -> List[Result]:
        """Replaces the tier table."""
        return self._call("set_tiers", tiers=[dict(t) for t in tiers])  # type: ignore[no-any-return]

    def extract_key(self, *, headers: Optional[Mapping[str, str]] = None,
                    query: Optional[Mapping[str, str]] = None) -> Result:
        """Finds the key in request headers / query: ``{"api_key": str or None}``."""
        return self._call("extract_key", headers=dict(headers) if headers is not None else None,  # type: ignore[no-any-return]
                          query=dict(query) if query is not None else None)
