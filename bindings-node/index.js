"use strict";
/**
 * Timeledger for Node: an embedded time-tracking engine over SQLite.
 *
 * ```js
 * const { Engine } = require('timeledger')
 * const ledger = new Engine('timeledger.db')
 * ledger.createCategory(123456789n, 'Development')
 * ledger.clockIn(123456789n, 1234567890123456789n, 'development')
 * ```
 *
 * Ids (guild and user) are taken as `bigint`, decimal strings or safe-integer numbers and are
 * returned as decimal strings, so results stay exact and survive `JSON.stringify` (a host can
 * send them straight back as a response body). Instants are taken as `Date`, RFC 3339 strings or
 * Unix seconds and returned as RFC 3339 UTC strings. Results are plain objects in the documented JSON
 * shapes (snake_case keys, as the services' APIs have them). Engine errors are thrown as
 * {@link TimeledgerError}; arguments of the wrong type throw a `TypeError` before the engine runs.
 *
 * @packageDocumentation
 */
Object.defineProperty(exports, "__esModule", { value: true });
exports.Engine = exports.TimeledgerError = void 0;
const native_1 = require("./native");
/**
 * An engine error: `code` (e.g. `NO_ACTIVE_SESSION`, `RATE_001`), the HTTP `status` a host
 * should answer with, the error `body` (also what `toJSON()` and so `JSON.stringify`
 * give), and `headers` to send (`Retry-After` and the rate-limit headers when limited).
 */
class TimeledgerError extends Error {
    /** The engine's error code. */
    code;
    /** The HTTP status a host should answer with. */
    status;
    /** The error body. */
    body;
    /** Headers to send with the error response (may be empty). */
    headers;
    constructor(code, status, message, body, headers = {}) {
        super(message);
        this.name = 'TimeledgerError';
        this.code = code;
        this.status = status;
        this.body = body;
        this.headers = headers;
    }
    /** Requests left in the window, for `RATE_001`. */
    get remaining() {
        return typeof this.body.remaining === 'number' ? this.body.remaining : undefined;
    }
    /** Seconds until the window resets, for `RATE_001`. */
    get resetIn() {
        return typeof this.body.reset_in === 'number' ? this.body.reset_in : undefined;
    }
    /** The error body, so `JSON.stringify(err)` is the response body. */
    toJSON() {
        return this.body;
    }
}
exports.TimeledgerError = TimeledgerError;
const ENGINE_ERROR = 'TimeledgerError ';
const PANIC_ERROR = 'TimeledgerPanic ';
/**
 * WakaTime's bulk responses from the native flat array (`status, id, entity, type, time` per
 * stored or duplicate heartbeat, `status, message` per refused one): the same objects, keys in
 * the same order, as parsing the nested text would give.
 */
function unflatten(flat) {
    const out = [];
    for (let i = 0; i < flat.length;) {
        const status = flat[i];
        if (status >= 400) {
            out.push([{ error: flat[i + 1] }, status]);
            i += 2;
        }
        else {
            out.push([{ data: { entity: flat[i + 2], id: flat[i + 1], time: flat[i + 4], type: flat[i + 3] } }, status]);
            i += 5;
        }
    }
    return out;
}
function rethrow(e) {
    if (e instanceof Error && typeof e.message === 'string') {
        if (e.message.startsWith(ENGINE_ERROR)) {
            const d = JSON.parse(e.message.slice(ENGINE_ERROR.length));
            throw new TimeledgerError(d.code, d.status, d.message, d.body, d.headers);
        }
        if (e.message.startsWith(PANIC_ERROR)) {
            const message = e.message.slice(PANIC_ERROR.length);
            throw new TimeledgerError('INTERNAL', 500, message, { error: 'Internal Server Error', code: 'INTERNAL', message });
        }
    }
    throw e;
}
// ---------------------------------------------------------------------------------------------
// Argument checks: wrong types are TypeErrors, before the engine runs.
const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;
function kind(v) {
    if (v === null)
        return 'null';
    if (Array.isArray(v))
        return 'an array';
    if (v instanceof Date)
        return 'a Date';
    return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}
function id(name, v) {
    if (typeof v === 'bigint') {
        if (v < I64_MIN || v > I64_MAX)
            throw new RangeError(`${name} does not fit in a signed 64-bit integer`);
        return v.toString();
    }
    if (typeof v === 'string')
        return v;
    if (typeof v === 'number') {
        if (!Number.isSafeInteger(v)) {
            throw new TypeError(`${name} must be a safe integer when given as a number (pass a bigint or a decimal string for large ids)`);
        }
        return String(v);
    }
    throw new TypeError(`${name} must be a bigint, a decimal string or a safe integer, not ${kind(v)}`);
}
function instant(name, v) {
    if (v instanceof Date) {
        if (Number.isNaN(v.getTime()))
            throw new RangeError(`${name} is an invalid Date`);
        return v.toISOString();
    }
    if (typeof v === 'string')
        return v;
    if (typeof v === 'number') {
        if (!Number.isFinite(v))
            throw new RangeError(`${name} must be a finite number of Unix seconds`);
        return v;
    }
    throw new TypeError(`${name} must be a Date, an RFC 3339 string or Unix seconds, not ${kind(v)}`);
}
function str(name, v) {
    if (typeof v !== 'string')
        throw new TypeError(`${name} must be a string, not ${kind(v)}`);
    return v;
}
function int(name, v) {
    if (typeof v !== 'number' || !Number.isInteger(v))
        throw new TypeError(`${name} must be an integer, not ${kind(v)}`);
    return v;
}
function bool(name, v) {
    if (typeof v !== 'boolean')
        throw new TypeError(`${name} must be a boolean, not ${kind(v)}`);
    return v;
}
function strs(name, v) {
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))
        throw new TypeError(`${name} must be an array of strings`);
    return v;
}
function record(name, v) {
    if (typeof v !== 'object' || v === null || Array.isArray(v))
        throw new TypeError(`${name} must be an object, not ${kind(v)}`);
    return v;
}
const CHECKS = { id, instant, str, int, bool, strs, record, any: (_, v) => v };
const snakeCache = new Map();
function snake(k) {
    let s = snakeCache.get(k);
    if (s === undefined) {
        s = k.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());
        snakeCache.set(k, s);
    }
    return s;
}
/** Checks an options object against its schema and adds its entries (snake_case) to `out`. */
function opts(out, options, schema, what) {
    if (options === undefined || options === null)
        return out;
    const o = record(what, options);
    for (const k of Object.keys(o)) {
        const v = o[k];
        const check = schema[k];
        if (check === undefined) {
            throw new TypeError(`unknown option ${JSON.stringify(k)} for ${what} (known: ${Object.keys(schema).join(', ')})`);
        }
        if (v === undefined || v === null)
            continue;
        out[snake(k)] = CHECKS[check](k, v);
    }
    return out;
}
// A bigint nested in free-form data (the generic call, heartbeats) is written as an exact JSON
// integer: the fast native JSON.stringify first, and only if it meets a bigint, a second pass.
const BIG = `\u0000tl-bigint-${Math.random().toString(36).slice(2)}:`;
const BIG_RE = new RegExp(`"${JSON.stringify(BIG).slice(1, -1).replace(/\\/g, '\\\\')}(-?\\d+)"`, 'g');
/** The engine's `INVALID_INPUT` for a value refused before the call. */
function invalidInput(field, message) {
    const text = `invalid ${field}: ${message}`;
    return new TimeledgerError('INVALID_INPUT', 400, text, { error: 'Bad Request', code: 'INVALID_INPUT', message: text, field });
}
function toJson(v, field = 'args') {
    try {
        const s = JSON.stringify(v);
        if (s === undefined)
            throw new TypeError(`cannot pass ${kind(v)} to the engine`);
        return s;
    }
    catch (e) {
        // Nested past the stack: the engine would refuse it anyway (it reads 128 levels at most).
        if (e instanceof RangeError)
            throw invalidInput(field, 'nested too deep');
        if (!(e instanceof TypeError) || !/BigInt/i.test(e.message))
            throw e;
        return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? BIG + x.toString() : x)).replace(BIG_RE, '$1');
    }
}
const UTF8 = new TextDecoder('utf-8', { fatal: true });
const GUILD = {
    timezone: 'str',
    weekStart: 'str',
    maxSessionSeconds: 'int',
    allowOverlap: 'bool',
    heartbeatTimeoutSeconds: 'int',
};
const USER = {
    displayName: 'str',
    avatarUrl: 'str',
    email: 'str',
    slackUid: 'str',
    trustLevel: 'str',
    guildId: 'id',
    isAdmin: 'bool',
    timeZone: 'str',
};
const PAGE = { page: 'int', perPage: 'int' };
const IMPORT_FILE = { guildId: 'id', userId: 'id' };
const CATEGORY = { description: 'str', color: 'str' };
const CATEGORY_UPDATE = { newName: 'str', description: 'str', color: 'str', archived: 'bool' };
const CLOCK_IN = { description: 'str', at: 'instant', switch: 'bool' };
const CLOCK_OUT = { at: 'instant' };
const ENTRY = { billable: 'bool', description: 'str' };
const SESSION_UPDATE = { category: 'str', start: 'instant', end: 'instant', description: 'str', billable: 'bool' };
const SESSION_FILTER = { userId: 'id', category: 'str', from: 'instant', to: 'instant', page: 'int', perPage: 'int' };
const WINDOW = { timeframe: 'str', from: 'instant', to: 'instant' };
const LEADERBOARD = { ...WINDOW, category: 'str', limit: 'int', offset: 'int' };
const REPORT = { ...WINDOW, groupBy: 'strs', userId: 'id', category: 'str' };
const INGEST = { userAgent: 'str', machineName: 'str', timeZone: 'str' };
const HB_RANGE = { start: 'instant', end: 'instant', limit: 'int' };
const CODING_LB = { period: 'str', limit: 'int', offset: 'int' };
const KEY = { tier: 'str', name: 'str', expiresAt: 'instant', form: 'str' };
const SUB_KEY = { ...KEY, permissions: 'strs' };
const AUTHORIZE = { targetUserId: 'id' };
const ROTATE = { graceSeconds: 'int' };
const KEY_UPDATE = { tier: 'str', name: 'str' };
const KEY_EVENTS = { keyId: 'str', guildId: 'id', limit: 'int' };
const SOURCES = { headers: 'record', query: 'record' };
// ---------------------------------------------------------------------------------------------
// The engine
/**
 * An open Timeledger database: a file (created if missing; WAL mode, safe to share between
 * processes) or `":memory:"`. One `Engine` serves the whole process: synchronous calls and the
 * Promise-returning `...Async` variants (which run on libuv's thread pool) share it and the engine
 * serialises writes itself. In `worker_threads`, open one `Engine` per worker on the same file.
 */
class Engine {
    #native;
    /** Opens `path` (a file, created if missing, or `":memory:"`, the default). */
    constructor(path = ':memory:') {
        str('path', path);
        try {
            this.#native = new native_1.NativeEngine(path);
        }
        catch (e) {
            rethrow(e);
        }
    }
    #run(op, json) {
        let out;
        try {
            out = this.#native.call(op, json);
        }
        catch (e) {
            rethrow(e);
        }
        return JSON.parse(out);
    }
    async #runAsync(op, json) {
        let out;
        try {
            out = await this.#native.callAsync(op, json);
        }
        catch (e) {
            rethrow(e);
        }
        return JSON.parse(out);
    }
    // -- generic --------------------------------------------------------------------------------
    /**
     * Runs any operation by its snake_case name (see {@link Engine.operations}) with an object of
     * snake_case arguments, as the cross-language scenarios do. Nested `bigint`s are passed exactly.
     */
    call(op, args = {}) {
        return this.#run(str('op', op), toJson(record('args', args)));
    }
    /** {@link Engine.call} off the main thread. */
    callAsync(op, args = {}) {
        return this.#runAsync(str('op', op), toJson(record('args', args)));
    }
    /**
     * Answers an HTTP request with the engine's HTTP API (the routes in the README): the method,
     * the path with its query, the request's headers (Node's `req.headers`, or `[name, value]`
     * pairs) and its body. Keys, permissions, rate limits, status codes, headers and error bodies
     * are all decided by the engine; a server only passes the request through.
     */
    handle(method, url, headers, body) {
        const pairs = [];
        if (Array.isArray(headers)) {
            for (const [k, v] of headers)
                pairs.push([String(k), String(v)]);
        }
        else if (headers !== undefined && headers !== null) {
            for (const [k, v] of Object.entries(headers)) {
                if (v === undefined)
                    continue;
                for (const one of Array.isArray(v) ? v : [v])
                    pairs.push([k, String(one)]);
            }
        }
        let bytes;
        if (body === undefined || body === null)
            bytes = Buffer.alloc(0);
        else if (typeof body === 'string')
            bytes = Buffer.from(body, 'utf8');
        else if (body instanceof Uint8Array)
            bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
        else
            throw new TypeError(`body must be a Buffer, a Uint8Array or a string, not ${kind(body)}`);
        const r = this.#native.handle(str('method', method), str('url', url), pairs, bytes);
        const out = {};
        for (const [k, v] of r.headers)
            out[k] = v;
        return { status: r.status, headers: out, body: r.body };
    }
    /** Every operation name {@link Engine.call} accepts. */
    static operations() {
        return native_1.NativeEngine.operations();
    }
    /** Freezes the engine's clock (tests, replays); `null` returns to the wall clock. */
    setNow(when) {
        if (when === null || when === undefined) {
            this.#native.setNow(null);
            return;
        }
        const v = instant('when', when);
        const ms = typeof v === 'number' ? Math.round(v * 1000) : Date.parse(v);
        if (Number.isNaN(ms))
            throw new RangeError(`when is not an RFC 3339 instant: ${JSON.stringify(v)}`);
        try {
            this.#native.setNow(ms);
        }
        catch (e) {
            rethrow(e); // INVALID_INPUT outside years 1000 to 9999
        }
    }
    /** The engine's current instant (the frozen one, if {@link Engine.setNow} froze it). */
    now() {
        return new Date(this.#native.nowMs());
    }
    // -- guilds and users -----------------------------------------------------------------------
    /** A guild's settings (defaults for a guild never seen). */
    guildSettings(guildId) {
        return this.#run('guild_settings', JSON.stringify({ guild_id: id('guildId', guildId) }));
    }
    /** Changes a guild's settings; a zone change rebuilds its day totals. */
    updateGuild(guildId, options) {
        return this.#run('update_guild', JSON.stringify(opts({ guild_id: id('guildId', guildId) }, options, GUILD, 'updateGuild options')));
    }
    /** Creates or updates a user; with `guildId` also a member of that guild. */
    upsertUser(userId, username, options) {
        const a = { user_id: id('userId', userId), username: str('username', username) };
        return this.#run('upsert_user', JSON.stringify(opts(a, options, USER, 'upsertUser options')));
    }
    /** A guild's members by user id, each with `is_admin`, paginated (`{data, meta}`). */
    listMembers(guildId, options) {
        return this.#run('list_members', JSON.stringify(opts({ guild_id: id('guildId', guildId) }, options, PAGE, 'listMembers options')));
    }
    /** A user by id (`USER_NOT_FOUND` otherwise). */
    getUser(userId) {
        return this.#run('get_user', JSON.stringify({ user_id: id('userId', userId) }));
    }
    /** A user by e-mail, ignoring case. */
    findUserByEmail(email) {
        return this.#run('find_user_by_email', JSON.stringify({ email: str('email', email) }));
    }
    /** A user by Slack id. */
    findUserBySlackUid(slackUid) {
        return this.#run('find_user_by_slack_uid', JSON.stringify({ slack_uid: str('slackUid', slackUid) }));
    }
    /** Sets `blue`, `green`, `yellow` or `red` (red users leave every leaderboard). */
    setTrustLevel(userId, trustLevel) {
        return this.#run('set_trust_level', JSON.stringify({ user_id: id('userId', userId), trust_level: str('trustLevel', trustLevel) }));
    }
    /** Makes a user an admin of a guild, or not. */
    setAdmin(guildId, userId, isAdmin) {
        const a = { guild_id: id('guildId', guildId), user_id: id('userId', userId), is_admin: bool('isAdmin', isAdmin) };
        return this.#run('set_admin', JSON.stringify(a));
    }
    /** Whether a user is an admin of a guild. */
    isAdmin(guildId, userId) {
        return this.#run('is_admin', JSON.stringify({ guild_id: id('guildId', guildId), user_id: id('userId', userId) }));
    }
    // -- categories -----------------------------------------------------------------------------
    /** Creates a category (1..64 characters, unique ignoring case). */
    createCategory(guildId, name, options) {
        const a = { guild_id: id('guildId', guildId), name: str('name', name) };
        return this.#run('create_category', JSON.stringify(opts(a, options, CATEGORY, 'createCategory options')));
    }
    /** A guild's categories with their totals (archived ones too when asked). */
    listCategories(guildId, options) {
        const a = opts({ guild_id: id('guildId', guildId) }, options, { includeArchived: 'bool' }, 'listCategories options');
        return this.#run('list_categories', JSON.stringify(a));
    }
    /** One category by name, any case. */
    getCategory(guildId, name) {
        return this.#run('get_category', JSON.stringify({ guild_id: id('guildId', guildId), name: str('name', name) }));
    }
    /** Renames, re-describes, re-colours, archives or restores a category. */
    updateCategory(guildId, name, changes) {
        const a = { guild_id: id('guildId', guildId), name: str('name', name) };
        return this.#run('update_category', JSON.stringify(opts(a, changes, CATEGORY_UPDATE, 'updateCategory changes')));
    }
    /** Renames a category; its history follows. */
    renameCategory(guildId, name, newName) {
        const a = { guild_id: id('guildId', guildId), name: str('name', name), new_name: str('newName', newName) };
        return this.#run('rename_category', JSON.stringify(a));
    }
    /** Archives a category: hidden by default, no new sessions in it. */
    archiveCategory(guildId, name) {
        return this.#run('archive_category', JSON.stringify({ guild_id: id('guildId', guildId), name: str('name', name) }));
    }
    /** Deletes a category no session uses (`CATEGORY_IN_USE` otherwise). */
    deleteCategory(guildId, name) {
        return this.#run('delete_category', JSON.stringify({ guild_id: id('guildId', guildId), name: str('name', name) }));
    }
    // -- sessions -------------------------------------------------------------------------------
    /** Clocks a user in; `{ switch: true }` closes a running session at the same instant. */
    clockIn(guildId, userId, category, options) {
        const a = { guild_id: id('guildId', guildId), user_id: id('userId', userId), category: str('category', category) };
        return this.#run('clock_in', JSON.stringify(opts(a, options, CLOCK_IN, 'clockIn options')));
    }
    /** Clocks a user out and returns the closed session (`NO_ACTIVE_SESSION` if none runs). */
    clockOut(guildId, userId, options) {
        const a = { guild_id: id('guildId', guildId), user_id: id('userId', userId) };
        return this.#run('clock_out', JSON.stringify(opts(a, options, CLOCK_OUT, 'clockOut options')));
    }
    /** The user's running session, or `null`. */
    activeSession(guildId, userId) {
        return this.#run('active_session', JSON.stringify({ guild_id: id('guildId', guildId), user_id: id('userId', userId) }));
    }
    /** Adds a closed manual entry `[start, end)`. */
    addEntry(guildId, userId, category, start, end, options) {
        const a = {
            guild_id: id('guildId', guildId),
            user_id: id('userId', userId),
            category: str('category', category),
            start: instant('start', start),
            end: instant('end', end),
        };
        return this.#run('add_entry', JSON.stringify(opts(a, options, ENTRY, 'addEntry options')));
    }
    /**
     * Imports up to 10,000 closed entries (`{user_id, category, start, end, billable?,
     * description?}`) in one transaction, all or nothing: `{imported, session_ids, errors}`, where
     * `errors` lists every refused entry as `{index, error}`.
     */
    importEntries(guildId, entries) {
        if (!Array.isArray(entries))
            throw new TypeError(`entries must be an array, not ${kind(entries)}`);
        return this.#run('import_entries', `{"guild_id":${JSON.stringify(id('guildId', guildId))},"entries":${toJson(entries, 'entries')}}`);
    }
    /**
     * Imports a file, streaming and idempotent: `timeledger` (this engine's export), `wakatime`
     * (a data dump; needs `guildId` and `userId`), `toggl` or `clockify` (CSV; needs `guildId`).
     */
    importFile(format, path, options) {
        const a = { format: str('format', format), path: str('path', path) };
        return this.#run('import_file', JSON.stringify(opts(a, options, IMPORT_FILE, 'importFile options')));
    }
    /** Writes this engine's export (JSON lines, never a key's secret). */
    exportFile(path, options) {
        return this.#run('export_file', JSON.stringify(opts({ path: str('path', path) }, options, { guildId: 'id' }, 'exportFile options')));
    }
    /** One session by id. */
    getSession(guildId, sessionId) {
        return this.#run('get_session', JSON.stringify({ guild_id: id('guildId', guildId), session_id: str('sessionId', sessionId) }));
    }
    /** Changes a session; totals follow. */
    updateSession(guildId, sessionId, changes) {
        const a = { guild_id: id('guildId', guildId), session_id: str('sessionId', sessionId) };
        return this.#run('update_session', JSON.stringify(opts(a, changes, SESSION_UPDATE, 'updateSession changes')));
    }
    /** Deletes a session. */
    deleteSession(guildId, sessionId) {
        return this.#run('delete_session', JSON.stringify({ guild_id: id('guildId', guildId), session_id: str('sessionId', sessionId) }));
    }
    /** Sessions newest first, filtered and paginated (`data` + `meta`). */
    listSessions(guildId, filter) {
        return this.#run('list_sessions', JSON.stringify(opts({ guild_id: id('guildId', guildId) }, filter, SESSION_FILTER, 'listSessions filter')));
    }
    /** {@link Engine.listSessions} off the main thread. */
    listSessionsAsync(guildId, filter) {
        return this.#runAsync('list_sessions', JSON.stringify(opts({ guild_id: id('guildId', guildId) }, filter, SESSION_FILTER, 'listSessions filter')));
    }
    // -- aggregates -----------------------------------------------------------------------------
    /** Guild status: all-time totals, users, running sessions, seconds per category. */
    guildStatus(guildId) {
        return this.#run('guild_status', JSON.stringify({ guild_id: id('guildId', guildId) }));
    }
    /** {@link Engine.guildStatus} off the main thread. */
    guildStatusAsync(guildId) {
        return this.#runAsync('guild_status', JSON.stringify({ guild_id: id('guildId', guildId) }));
    }
    /** The session leaderboard over a window (default `all`); ties share a rank. */
    leaderboard(guildId, options) {
        return this.#run('leaderboard', JSON.stringify(opts({ guild_id: id('guildId', guildId) }, options, LEADERBOARD, 'leaderboard options')));
    }
    /** {@link Engine.leaderboard} off the main thread. */
    leaderboardAsync(guildId, options) {
        return this.#runAsync('leaderboard', JSON.stringify(opts({ guild_id: id('guildId', guildId) }, options, LEADERBOARD, 'leaderboard options')));
    }
    /** A summary report over a window, grouped by any of `user`, `category`, `day`. */
    report(guildId, options) {
        return this.#run('report', JSON.stringify(opts({ guild_id: id('guildId', guildId) }, options, REPORT, 'report options')));
    }
    /** {@link Engine.report} off the main thread. */
    reportAsync(guildId, options) {
        return this.#runAsync('report', JSON.stringify(opts({ guild_id: id('guildId', guildId) }, options, REPORT, 'report options')));
    }
    // -- heartbeats -----------------------------------------------------------------------------
    #ingestArgs(guildId, userId, heartbeats, options) {
        const head = JSON.stringify(opts({ guild_id: id('guildId', guildId), user_id: id('userId', userId) }, options, INGEST, 'ingestHeartbeats options'));
        let body;
        if (typeof heartbeats === 'string') {
            body = heartbeats; // a raw request body: the engine parses and validates it
        }
        else if (heartbeats instanceof Uint8Array) {
            try {
                body = UTF8.decode(heartbeats); // never a silent U+FFFD in place of a bad byte
            }
            catch {
                throw invalidInput('heartbeats', 'the body is not UTF-8');
            }
        }
        else if (typeof heartbeats === 'object' && heartbeats !== null) {
            body = toJson(heartbeats, 'heartbeats');
        }
        else {
            throw new TypeError(`heartbeats must be an array, an object, a JSON string or a Buffer, not ${kind(heartbeats)}`);
        }
        return head.slice(0, -1) + ',"heartbeats":' + body + '}';
    }
    /**
     * Ingests one heartbeat or a bulk array, as WakaTime plugins send them: objects (what a web
     * framework hands over), or the raw JSON body as a string or Buffer. One transaction; returns
     * one `[body, status]` per heartbeat in order: 201 stored, 202 duplicate, 400 invalid.
     */
    ingestHeartbeats(guildId, userId, heartbeats, options) {
        const args = this.#ingestArgs(guildId, userId, heartbeats, options);
        let out;
        try {
            out = this.#native.ingest(args);
        }
        catch (e) {
            rethrow(e);
        }
        return { responses: unflatten(JSON.parse(out)) };
    }
    /** {@link Engine.ingestHeartbeats} off the main thread. */
    ingestHeartbeatsAsync(guildId, userId, heartbeats, options) {
        let args;
        try {
            args = this.#ingestArgs(guildId, userId, heartbeats, options);
        }
        catch (e) {
            return Promise.reject(e);
        }
        return this.#runAsync('ingest_heartbeats', args);
    }
    /** Raw heartbeats in `[start, end)` (default: today), at most `limit` (<= 100). */
    listHeartbeats(guildId, userId, range) {
        const a = { guild_id: id('guildId', guildId), user_id: id('userId', userId) };
        return this.#run('list_heartbeats', JSON.stringify(opts(a, range, HB_RANGE, 'listHeartbeats range')));
    }
    /** The user's latest heartbeat: `{ data: heartbeat | null }`. */
    mostRecentHeartbeat(guildId, userId) {
        return this.#run('most_recent_heartbeat', JSON.stringify({ guild_id: id('guildId', guildId), user_id: id('userId', userId) }));
    }
    /** Today's coding time in WakaTime's `statusbar/today` shape. */
    statusbarToday(guildId, userId) {
        return this.#run('statusbar_today', JSON.stringify({ guild_id: id('guildId', guildId), user_id: id('userId', userId) }));
    }
    /**
     * WakaTime's summaries: one item per local day from `start` to `end` (`YYYY-MM-DD`, `today`
     * or `yesterday`), with `cumulative_total`.
     */
    codingSummaries(guildId, userId, start, end) {
        const a = { guild_id: id('guildId', guildId), user_id: id('userId', userId), start: str('start', start), end: str('end', end) };
        return this.#run('coding_summaries', JSON.stringify(a));
    }
    /** A user's coding stats over a window (default `all`) in Hackatime's shape. */
    codingStats(guildId, userId, options) {
        const a = { guild_id: id('guildId', guildId), user_id: id('userId', userId) };
        return this.#run('coding_stats', JSON.stringify(opts(a, options, WINDOW, 'codingStats options')));
    }
    /** {@link Engine.codingStats} off the main thread. */
    codingStatsAsync(guildId, userId, options) {
        const a = { guild_id: id('guildId', guildId), user_id: id('userId', userId) };
        return this.#runAsync('coding_stats', JSON.stringify(opts(a, options, WINDOW, 'codingStats options')));
    }
    /** Hackatime's `daily` (rolling 24 h) or `weekly` coding leaderboard, without red users. */
    codingLeaderboard(guildId, options) {
        return this.#run('coding_leaderboard', JSON.stringify(opts({ guild_id: id('guildId', guildId) }, options, CODING_LB, 'codingLeaderboard options')));
    }
    /** {@link Engine.codingLeaderboard} off the main thread. */
    codingLeaderboardAsync(guildId, options) {
        return this.#runAsync('coding_leaderboard', JSON.stringify(opts({ guild_id: id('guildId', guildId) }, options, CODING_LB, 'codingLeaderboard options')));
    }
    // -- API keys -------------------------------------------------------------------------------
    /** Sets the host's master key (stored hashed), required to generate keys. */
    setMasterKey(masterKey) {
        return this.#run('set_master_key', JSON.stringify({ master_key: str('masterKey', masterKey) }));
    }
    /**
     * `normal` (default: survives a process crash) or `full` (also a power loss: an fsync per
     * write). Applies to this engine's connection.
     */
    setDurability(mode) {
        return this.#run('set_durability', JSON.stringify({ mode: str('mode', mode) }));
    }
    /**
     * Sets this deployment's key prefix (2-12 lowercase letters and digits, default `tl`): `hk`
     * gives `hk_live_...` keys. Keys of an earlier prefix keep working.
     */
    setKeyPrefix(prefix) {
        return this.#run('set_key_prefix', JSON.stringify({ prefix: str('prefix', prefix) }));
    }
    /** The deployment's key prefix (`tl` until {@link Engine.setKeyPrefix} is called). */
    keyPrefix() {
        return this.#run('key_prefix', '{}');
    }
    /** Generates a key for a guild; `api_key` is in this result only. */
    generateKey(guildId, adminUserId, masterKey, options) {
        const a = { guild_id: id('guildId', guildId), admin_user_id: id('adminUserId', adminUserId), master_key: str('masterKey', masterKey) };
        return this.#run('generate_key', JSON.stringify(opts(a, options, KEY, 'generateKey options')));
    }
    /** Mints a sub-key from an Enterprise or Admin key (it shares the parent's budget). */
    mintSubKey(parentKey, guildId, options) {
        const a = { parent_key: str('parentKey', parentKey), guild_id: id('guildId', guildId) };
        return this.#run('mint_sub_key', JSON.stringify(opts(a, options, SUB_KEY, 'mintSubKey options')));
    }
    /**
     * May this key do `action` on this guild now? A {@link Grant} with the headers to send, or a
     * {@link TimeledgerError} (`RATE_001` with `Retry-After` when over the limit).
     */
    authorize(apiKey, guildId, action, options) {
        const a = { api_key: str('apiKey', apiKey), guild_id: id('guildId', guildId), action: str('action', action) };
        return this.#run('authorize', JSON.stringify(options === undefined ? a : opts(a, options, AUTHORIZE, 'authorize options')));
    }
    /** `shared` (default: exact across processes) or `memory` (this process only, counts from zero). */
    setRateLimiter(mode) {
        return this.#run('set_rate_limiter', JSON.stringify({ mode: str('mode', mode) }));
    }
    /** A guild's keys (metadata only). */
    listKeys(guildId) {
        return this.#run('list_keys', JSON.stringify({ guild_id: id('guildId', guildId) }));
    }
    /** One key's metadata. */
    getKey(keyId) {
        return this.#run('get_key', JSON.stringify({ key_id: str('keyId', keyId) }));
    }
    /** Revokes a key and its sub-keys. */
    revokeKey(keyId) {
        return this.#run('revoke_key', JSON.stringify({ key_id: str('keyId', keyId) }));
    }
    /** Replaces a key with a new one; the old one works for `graceSeconds`. */
    rotateKey(keyId, options) {
        return this.#run('rotate_key', JSON.stringify(opts({ key_id: str('keyId', keyId) }, options, ROTATE, 'rotateKey options')));
    }
    /** Changes a key's tier (the key itself stays) or name. */
    updateKey(keyId, changes) {
        return this.#run('update_key', JSON.stringify(opts({ key_id: str('keyId', keyId) }, changes, KEY_UPDATE, 'updateKey changes')));
    }
    /** The key audit trail, newest first. */
    keyEvents(filter) {
        return this.#run('key_events', JSON.stringify(opts({}, filter, KEY_EVENTS, 'keyEvents filter')));
    }
    /** The tier table in force. */
    tiers() {
        return this.#run('tiers', '{}');
    }
    /** Replaces the tier table. */
    setTiers(tiers) {
        if (!Array.isArray(tiers))
            throw new TypeError(`tiers must be an array, not ${kind(tiers)}`);
        return this.#run('set_tiers', toJson({ tiers }));
    }
    /** Finds the key in a request's headers (`X-API-Key`, `Authorization`) or query (`api_key`). */
    extractKey(sources) {
        return this.#run('extract_key', JSON.stringify(opts({}, sources, SOURCES, 'extractKey sources')));
    }
}
exports.Engine = Engine;
