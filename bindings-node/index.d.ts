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
/** A guild or user id: a `bigint`, a decimal string, or a `number` that is a safe integer. */
export type Id = bigint | string | number;
/** An id as results return it: a decimal string (exact for every signed 64-bit id). */
export type IdString = string;
/** An instant: a `Date`, an RFC 3339 string, or Unix seconds (fractions allowed). */
export type Instant = Date | string | number;
/** An instant as results return it: RFC 3339 UTC with `Z`, e.g. `2025-10-10T14:30:00Z`. */
export type Rfc3339 = string;
/** A calendar or rolling window: `today`, `week`, `month`, `year`, `last_24_hours`, `last_7_days`, `last_30_days`, `all`. */
export type Timeframe = 'today' | 'week' | 'month' | 'year' | 'last_24_hours' | 'last_7_days' | 'last_30_days' | 'all' | (string & {});
/** A trust level (Hackatime): red users are left out of every leaderboard. */
export type TrustLevel = 'blue' | 'green' | 'yellow' | 'red';
/** Options of {@link Engine.updateGuild}. */
export interface GuildOptions {
    /** IANA zone, e.g. `Europe/Paris`. */
    timezone?: string;
    /** First day of the week, e.g. `monday` or `sunday`. */
    weekStart?: string;
    /** Longest a session may run before it is closed automatically; `0` removes the cap. */
    maxSessionSeconds?: number;
    /** Whether a user's entries may overlap. */
    allowOverlap?: boolean;
    /** Heartbeat timeout, 60..14400 seconds (1..240 minutes). */
    heartbeatTimeoutSeconds?: number;
}
/** Options of {@link Engine.upsertUser}. */
export interface UserOptions {
    displayName?: string;
    avatarUrl?: string;
    email?: string;
    slackUid?: string;
    trustLevel?: TrustLevel;
    /** Also make the user a member of this guild. */
    guildId?: Id;
    /** With `guildId`: make the user an admin of the guild, or not. */
    isAdmin?: boolean;
    /** The user's own IANA time zone for coding reads (`""` clears it: the guild's applies). */
    timeZone?: string;
}
/** Options of {@link Engine.createCategory}. */
export interface CategoryOptions {
    description?: string;
    /** A colour such as `#ff8800`. */
    color?: string;
}
/** Options of {@link Engine.updateCategory}. */
export interface CategoryUpdate {
    newName?: string;
    description?: string;
    color?: string;
    archived?: boolean;
}
/** Options of {@link Engine.clockIn}. */
export interface ClockInOptions {
    description?: string;
    /** When the session starts (default: now). */
    at?: Instant;
    /** Close a running session at the same instant instead of failing with `SESSION_ALREADY_ACTIVE`. */
    switch?: boolean;
}
/** Options of {@link Engine.clockOut}. */
export interface ClockOutOptions {
    /** When the session ends (default: now). */
    at?: Instant;
}
/** Options of {@link Engine.addEntry}. */
export interface EntryOptions {
    billable?: boolean;
    description?: string;
}
/** Options of {@link Engine.updateSession}: the fields to change. */
export interface SessionUpdate {
    category?: string;
    start?: Instant;
    end?: Instant;
    description?: string;
    billable?: boolean;
}
/** Options of {@link Engine.listSessions}. */
export interface SessionFilter {
    userId?: Id;
    category?: string;
    from?: Instant;
    to?: Instant;
    /** 1-based page (default 1). */
    page?: number;
    /** Page size (default 50). */
    perPage?: number;
}
/** A window: a named timeframe, or a custom `[from, to)`. */
export interface WindowOptions {
    timeframe?: Timeframe;
    from?: Instant;
    to?: Instant;
}
/** Options of {@link Engine.leaderboard}. */
export interface LeaderboardOptions extends WindowOptions {
    category?: string;
    limit?: number;
    offset?: number;
}
/** Options of {@link Engine.report}. */
export interface ReportOptions extends WindowOptions {
    /** Any of `user`, `category`, `day`. */
    groupBy?: Array<'user' | 'category' | 'day' | (string & {})>;
    userId?: Id;
    category?: string;
}
/** A heartbeat as WakaTime editor plugins send it (unknown fields are ignored). */
export interface HeartbeatInput {
    entity: string;
    /** Float Unix seconds (milliseconds, microseconds and nanoseconds are rescaled). */
    time: number;
    type?: 'file' | 'domain' | 'app' | 'url' | (string & {});
    category?: string;
    project?: string;
    branch?: string;
    language?: string;
    is_write?: boolean;
    lines?: number;
    lineno?: number;
    cursorpos?: number;
    line_additions?: number;
    line_deletions?: number;
    dependencies?: string[] | string;
    project_root_count?: number;
    user_agent?: string;
    editor?: string;
    operating_system?: string;
    machine?: string;
    [field: string]: unknown;
}
/** Options of {@link Engine.ingestHeartbeats}: request-level values plugins send as headers. */
export interface IngestOptions {
    /** The request's `User-Agent` (editor and OS are derived from it). */
    userAgent?: string;
    /** The request's `X-Machine-Name`. */
    machineName?: string;
    /** The request's `TimeZone`: becomes the user's zone while they have none. */
    timeZone?: string;
}
/** Options of {@link Engine.listHeartbeats}. */
export interface HeartbeatRange {
    /** Start of the range (default: start of today in the guild's zone). */
    start?: Instant;
    /** End of the range, exclusive. */
    end?: Instant;
    /** At most 100. */
    limit?: number;
}
/** Options of {@link Engine.codingLeaderboard}. */
export interface CodingLeaderboardOptions {
    /** `daily` (rolling 24 h, default) or `weekly` (last 7 days). */
    period?: 'daily' | 'weekly';
    limit?: number;
    offset?: number;
}
/** Options of {@link Engine.generateKey}. */
export interface KeyOptions {
    /** Tier name (default `SUPPORTER`), any case. */
    tier?: string;
    name?: string;
    expiresAt?: Instant;
    /** `live` (default), `test` or `uuid` (a WakaTime-compatible UUID v4 key). */
    form?: 'live' | 'test' | 'uuid';
}
/** Options of {@link Engine.mintSubKey}. */
export interface SubKeyOptions extends KeyOptions {
    /** Permissions no larger than the parent's. */
    permissions?: string[];
}
/** Options of {@link Engine.authorize}. */
export interface AuthorizeOptions {
    /** The user the action is about (for `*_admins` permissions). */
    targetUserId?: Id;
}
/** Options of {@link Engine.rotateKey}. */
export interface RotateOptions {
    /** How long the old key keeps working (capped at its expiry). */
    graceSeconds?: number;
}
/** Options of {@link Engine.updateKey}. */
export interface KeyUpdate {
    tier?: string;
    name?: string;
}
/** Options of {@link Engine.keyEvents}. */
export interface KeyEventFilter {
    keyId?: string;
    guildId?: Id;
    limit?: number;
}
/** A tier definition for {@link Engine.setTiers}. */
export interface TierInput {
    name: string;
    rank: number;
    per_minute?: number | null;
    per_hour?: number | null;
    per_day?: number | null;
    permissions: string[];
    all_guilds?: boolean;
}
/** Options of {@link Engine.extractKey}: the request's headers and query parameters. */
export interface KeySources {
    headers?: Record<string, string>;
    query?: Record<string, string>;
}
/** `{"success": true}`. */
export interface Success {
    success: true;
}
/** A guild's settings. */
export interface GuildSettings {
    guild_id: IdString;
    timezone: string;
    week_start: string;
    max_session_seconds: number | null;
    allow_overlap: boolean;
    heartbeat_timeout_seconds: number;
}
/** A user. */
export interface User {
    user_id: IdString;
    username: string;
    display_name: string | null;
    avatar_url: string | null;
    email: string | null;
    slack_uid: string | null;
    trust_level: TrustLevel;
    /** The user's own time zone for coding reads (null: the guild's). */
    time_zone: string | null;
}
/** A member of a guild: the user and whether they are an admin of it. */
export interface Member extends User {
    is_admin: boolean;
}
/** One entry of {@link Engine.importEntries}. */
export interface ImportEntry {
    user_id: Id;
    category: string;
    start: Instant;
    end: Instant;
    billable?: boolean;
    description?: string;
}
/** The result of {@link Engine.importEntries}. */
export interface ImportResult {
    imported: number;
    session_ids: string[];
    errors: {
        index: number;
        error: ErrorBody;
    }[];
}
/** Options of {@link Engine.importFile}. */
export interface ImportFileOptions {
    guildId?: Id;
    userId?: Id;
}
/** What {@link Engine.importFile} did. */
export interface ImportSummary {
    format: string;
    imported: Record<string, number>;
    duplicates: Record<string, number>;
    refused: number;
    reasons: {
        line: number;
        code: string;
        message: string;
    }[];
    skipped: Record<string, number>;
}
/** A page of {@link Engine.listMembers}. */
export interface MemberPage {
    data: Member[];
    meta: {
        total: number;
        page: number;
        per_page: number;
    };
}
/** Options of {@link Engine.listMembers}. */
export interface PageOptions {
    /** 1-based page (default 1). */
    page?: number;
    /** Page size, 1 to 500 (default 50). */
    perPage?: number;
}
/** A category with its totals. */
export interface Category {
    name: string;
    description: string | null;
    color: string | null;
    archived: boolean;
    sessions: number;
    total_seconds: number;
}
/** The result of {@link Engine.clockIn}, in the clock-in API's shape. */
export interface ClockIn {
    success: true;
    session_id: string;
    category: string;
    start_time: Rfc3339;
    user_id: IdString;
    description: string | null;
}
/** A session (time entry). */
export interface Session {
    id: string;
    guild_id: IdString;
    user_id: IdString;
    category: string;
    description: string | null;
    start_time: Rfc3339;
    end_time: Rfc3339 | null;
    duration: number;
    running: boolean;
    billable: boolean;
    auto_closed: boolean;
}
/** A page of sessions, newest first. */
export interface SessionPage {
    data: Session[];
    meta: {
        total: number;
        page: number;
        per_page: number;
    };
}
/** Guild status, in the clock-in API's shape. */
export interface GuildStatus {
    guild_id: IdString;
    total_time_seconds: number;
    total_time_hours: number;
    total_users: number;
    active_sessions: number;
    categories: Record<string, number>;
}
/** One leaderboard row. */
export interface LeaderboardEntry {
    rank: number;
    user_id: IdString;
    username: string;
    total_seconds: number;
    hours: number;
}
/** The session leaderboard. */
export interface Leaderboard {
    guild_id: IdString;
    timeframe: string;
    category: string | null;
    start: Rfc3339 | null;
    end: Rfc3339 | null;
    generated_at: Rfc3339;
    leaderboard: LeaderboardEntry[];
}
/** One report row: the grouping keys asked for, and the total. */
export interface ReportRow {
    user_id?: IdString;
    username?: string;
    category?: string;
    day?: string;
    total_seconds: number;
}
/** A summary report. */
export interface Report {
    guild_id: IdString;
    timeframe: string;
    start: Rfc3339 | null;
    end: Rfc3339 | null;
    group_by: string[];
    rows: ReportRow[];
    total_seconds: number;
    total_hours: number;
}
/** One item's outcome in a bulk ingest: `[body, 201 | 202 | 400]`. */
export type IngestResponse = [{
    data?: {
        id: string;
        entity: string;
        type: string;
        time: number;
    };
    error?: string;
}, number];
/** The result of {@link Engine.ingestHeartbeats}, in WakaTime's bulk shape. */
export interface IngestResult {
    responses: IngestResponse[];
}
/** A stored heartbeat. */
export interface Heartbeat {
    id: string;
    user_id: IdString;
    entity: string;
    type: string;
    category: string;
    time: number;
    project: string | null;
    branch: string | null;
    language: string | null;
    is_write: boolean;
    lines: number | null;
    lineno: number | null;
    cursorpos: number | null;
    line_additions: number | null;
    line_deletions: number | null;
    dependencies: string[] | null;
    project_root_count: number | null;
    user_agent: string | null;
    editor: string | null;
    operating_system: string | null;
    machine: string | null;
}
/** A duration in WakaTime's words. */
export interface Duration {
    total_seconds: number;
    text: string;
    digital: string;
    hours: number;
    minutes: number;
    decimal: string;
}
/** One row of a statusbar breakdown. */
export interface DurationItem extends Duration {
    name: string;
    percent: number;
}
/** Today's coding time, in WakaTime's `statusbar/today` shape. */
export interface Statusbar {
    data: {
        grand_total: Duration;
        categories: DurationItem[];
        languages: DurationItem[];
        projects: DurationItem[];
        editors: DurationItem[];
        operating_systems: DurationItem[];
        machines: DurationItem[];
        range: Record<string, unknown>;
    };
}
/** A named total in Hackatime's stats. */
export interface NamedSeconds {
    name: string;
    seconds: number;
}
/** A user's coding stats, in Hackatime's shape. */
export interface CodingStats {
    user: string;
    user_id: IdString;
    timeframe: string;
    start: Rfc3339 | null;
    end: Rfc3339 | null;
    total_seconds: number;
    languages: NamedSeconds[];
    projects: NamedSeconds[];
    editors: NamedSeconds[];
    operating_systems: NamedSeconds[];
    machines: NamedSeconds[];
    categories: NamedSeconds[];
    branches: NamedSeconds[];
}
/** A coding leaderboard, in Hackatime's shape. */
export interface CodingLeaderboard {
    period: 'daily' | 'weekly';
    start_date: Rfc3339;
    end_date: Rfc3339;
    date_range: string;
    generated_at: Rfc3339;
    entries: Array<{
        rank: number;
        user: {
            id: IdString;
            username: string;
            avatar_url: string | null;
        };
        total_seconds: number;
    }>;
}
/** A key just created: `api_key` is shown this once. */
export interface NewKey {
    api_key: string;
    key_id: string;
    guild_id: IdString;
    tier: string;
    name: string | null;
    display_prefix: string;
    created_at: Rfc3339;
    expires_at: Rfc3339 | null;
}
/** A key's metadata (never the key itself). */
export interface KeyInfo {
    key_id: string;
    guild_id: IdString;
    owner_user_id: IdString;
    parent_id: string | null;
    tier: string;
    name: string | null;
    form: 'live' | 'test' | 'uuid';
    display_prefix: string;
    permissions: string[] | null;
    status: string;
    created_at: Rfc3339;
    expires_at: Rfc3339 | null;
    revoked_at: Rfc3339 | null;
    grace_until: Rfc3339 | null;
    replaced_by: string | null;
    last_used_at: Rfc3339 | null;
    request_count: number;
}
/** A granted request: the budget left and the headers to send. */
export interface Grant {
    key_id: string;
    tier: string;
    guild_id: IdString;
    limit: number;
    remaining: number;
    reset_in: number;
    window: string;
    headers: Record<string, string>;
}
/** One entry of the key audit trail. */
export interface KeyEvent {
    id: IdString;
    key_id: string;
    guild_id: IdString;
    event: string;
    at: Rfc3339;
    detail: Record<string, unknown>;
}
/** A tier in force. */
export interface Tier {
    name: string;
    rank: number;
    per_minute: number | null;
    per_hour: number | null;
    per_day: number | null;
    permissions: string[];
    all_guilds: boolean;
}
/** The engine's error body, as the services' APIs send it (`toJSON()` of a {@link TimeledgerError}). */
export interface ErrorBody {
    error: string;
    code: string;
    message: string;
    [field: string]: unknown;
}
/**
 * An engine error: `code` (e.g. `NO_ACTIVE_SESSION`, `RATE_001`), the HTTP `status` a host
 * should answer with, the error `body` (also what `toJSON()` and so `JSON.stringify`
 * give), and `headers` to send (`Retry-After` and the rate-limit headers when limited).
 */
export declare class TimeledgerError extends Error {
    /** The engine's error code. */
    readonly code: string;
    /** The HTTP status a host should answer with. */
    readonly status: number;
    /** The error body. */
    readonly body: ErrorBody;
    /** Headers to send with the error response (may be empty). */
    readonly headers: Record<string, string>;
    constructor(code: string, status: number, message: string, body: ErrorBody, headers?: Record<string, string>);
    /** Requests left in the window, for `RATE_001`. */
    get remaining(): number | undefined;
    /** Seconds until the window resets, for `RATE_001`. */
    get resetIn(): number | undefined;
    /** The error body, so `JSON.stringify(err)` is the response body. */
    toJSON(): ErrorBody;
}
/** What {@link Engine.handle} answers: send it back as it is. */
export interface HttpResponse {
    /** Status code. */
    status: number;
    /** Header names and values. */
    headers: Record<string, string>;
    /** Body bytes (JSON). */
    body: Buffer;
}
/**
 * An open Timeledger database: a file (created if missing; WAL mode, safe to share between
 * processes) or `":memory:"`. One `Engine` serves the whole process: synchronous calls and the
 * Promise-returning `...Async` variants (which run on libuv's thread pool) share it and the engine
 * serialises writes itself. In `worker_threads`, open one `Engine` per worker on the same file.
 */
export declare class Engine {
    #private;
    /** Opens `path` (a file, created if missing, or `":memory:"`, the default). */
    constructor(path?: string);
    /**
     * Runs any operation by its snake_case name (see {@link Engine.operations}) with an object of
     * snake_case arguments, as the cross-language scenarios do. Nested `bigint`s are passed exactly.
     */
    call(op: string, args?: Record<string, unknown>): any;
    /** {@link Engine.call} off the main thread. */
    callAsync(op: string, args?: Record<string, unknown>): Promise<any>;
    /**
     * Answers an HTTP request with the engine's HTTP API (the routes in the README): the method,
     * the path with its query, the request's headers (Node's `req.headers`, or `[name, value]`
     * pairs) and its body. Keys, permissions, rate limits, status codes, headers and error bodies
     * are all decided by the engine; a server only passes the request through.
     */
    handle(method: string, url: string, headers?: Record<string, string | string[] | undefined> | Array<[string, string]>, body?: Uint8Array | string): HttpResponse;
    /** Every operation name {@link Engine.call} accepts. */
    static operations(): string[];
    /** Freezes the engine's clock (tests, replays); `null` returns to the wall clock. */
    setNow(when: Instant | null): void;
    /** The engine's current instant (the frozen one, if {@link Engine.setNow} froze it). */
    now(): Date;
    /** A guild's settings (defaults for a guild never seen). */
    guildSettings(guildId: Id): GuildSettings;
    /** Changes a guild's settings; a zone change rebuilds its day totals. */
    updateGuild(guildId: Id, options: GuildOptions): GuildSettings;
    /** Creates or updates a user; with `guildId` also a member of that guild. */
    upsertUser(userId: Id, username: string, options?: UserOptions): User;
    /** A guild's members by user id, each with `is_admin`, paginated (`{data, meta}`). */
    listMembers(guildId: Id, options?: PageOptions): MemberPage;
    /** A user by id (`USER_NOT_FOUND` otherwise). */
    getUser(userId: Id): User;
    /** A user by e-mail, ignoring case. */
    findUserByEmail(email: string): User;
    /** A user by Slack id. */
    findUserBySlackUid(slackUid: string): User;
    /** Sets `blue`, `green`, `yellow` or `red` (red users leave every leaderboard). */
    setTrustLevel(userId: Id, trustLevel: TrustLevel): User;
    /** Makes a user an admin of a guild, or not. */
    setAdmin(guildId: Id, userId: Id, isAdmin: boolean): Success;
    /** Whether a user is an admin of a guild. */
    isAdmin(guildId: Id, userId: Id): {
        is_admin: boolean;
    };
    /** Creates a category (1..64 characters, unique ignoring case). */
    createCategory(guildId: Id, name: string, options?: CategoryOptions): Category;
    /** A guild's categories with their totals (archived ones too when asked). */
    listCategories(guildId: Id, options?: {
        includeArchived?: boolean;
    }): Category[];
    /** One category by name, any case. */
    getCategory(guildId: Id, name: string): Category;
    /** Renames, re-describes, re-colours, archives or restores a category. */
    updateCategory(guildId: Id, name: string, changes: CategoryUpdate): Category;
    /** Renames a category; its history follows. */
    renameCategory(guildId: Id, name: string, newName: string): Category;
    /** Archives a category: hidden by default, no new sessions in it. */
    archiveCategory(guildId: Id, name: string): Category;
    /** Deletes a category no session uses (`CATEGORY_IN_USE` otherwise). */
    deleteCategory(guildId: Id, name: string): Success;
    /** Clocks a user in; `{ switch: true }` closes a running session at the same instant. */
    clockIn(guildId: Id, userId: Id, category: string, options?: ClockInOptions): ClockIn;
    /** Clocks a user out and returns the closed session (`NO_ACTIVE_SESSION` if none runs). */
    clockOut(guildId: Id, userId: Id, options?: ClockOutOptions): Session;
    /** The user's running session, or `null`. */
    activeSession(guildId: Id, userId: Id): Session | null;
    /** Adds a closed manual entry `[start, end)`. */
    addEntry(guildId: Id, userId: Id, category: string, start: Instant, end: Instant, options?: EntryOptions): Session;
    /**
     * Imports up to 10,000 closed entries (`{user_id, category, start, end, billable?,
     * description?}`) in one transaction, all or nothing: `{imported, session_ids, errors}`, where
     * `errors` lists every refused entry as `{index, error}`.
     */
    importEntries(guildId: Id, entries: ImportEntry[]): ImportResult;
    /**
     * Imports a file, streaming and idempotent: `timeledger` (this engine's export), `wakatime`
     * (a data dump; needs `guildId` and `userId`), `toggl` or `clockify` (CSV; needs `guildId`).
     */
    importFile(format: string, path: string, options?: ImportFileOptions): ImportSummary;
    /** Writes this engine's export (JSON lines, never a key's secret). */
    exportFile(path: string, options?: {
        guildId?: Id;
    }): {
        path: string;
        lines: Record<string, number>;
    };
    /** One session by id. */
    getSession(guildId: Id, sessionId: string): Session;
    /** Changes a session; totals follow. */
    updateSession(guildId: Id, sessionId: string, changes: SessionUpdate): Session;
    /** Deletes a session. */
    deleteSession(guildId: Id, sessionId: string): Success;
    /** Sessions newest first, filtered and paginated (`data` + `meta`). */
    listSessions(guildId: Id, filter?: SessionFilter): SessionPage;
    /** {@link Engine.listSessions} off the main thread. */
    listSessionsAsync(guildId: Id, filter?: SessionFilter): Promise<SessionPage>;
    /** Guild status: all-time totals, users, running sessions, seconds per category. */
    guildStatus(guildId: Id): GuildStatus;
    /** {@link Engine.guildStatus} off the main thread. */
    guildStatusAsync(guildId: Id): Promise<GuildStatus>;
    /** The session leaderboard over a window (default `all`); ties share a rank. */
    leaderboard(guildId: Id, options?: LeaderboardOptions): Leaderboard;
    /** {@link Engine.leaderboard} off the main thread. */
    leaderboardAsync(guildId: Id, options?: LeaderboardOptions): Promise<Leaderboard>;
    /** A summary report over a window, grouped by any of `user`, `category`, `day`. */
    report(guildId: Id, options?: ReportOptions): Report;
    /** {@link Engine.report} off the main thread. */
    reportAsync(guildId: Id, options?: ReportOptions): Promise<Report>;
    /**
     * Ingests one heartbeat or a bulk array, as WakaTime plugins send them: objects (what a web
     * framework hands over), or the raw JSON body as a string or Buffer. One transaction; returns
     * one `[body, status]` per heartbeat in order: 201 stored, 202 duplicate, 400 invalid.
     */
    ingestHeartbeats(guildId: Id, userId: Id, heartbeats: HeartbeatInput | HeartbeatInput[] | string | Uint8Array, options?: IngestOptions): IngestResult;
    /** {@link Engine.ingestHeartbeats} off the main thread. */
    ingestHeartbeatsAsync(guildId: Id, userId: Id, heartbeats: HeartbeatInput | HeartbeatInput[] | string | Uint8Array, options?: IngestOptions): Promise<IngestResult>;
    /** Raw heartbeats in `[start, end)` (default: today), at most `limit` (<= 100). */
    listHeartbeats(guildId: Id, userId: Id, range?: HeartbeatRange): {
        data: Heartbeat[];
    };
    /** The user's latest heartbeat: `{ data: heartbeat | null }`. */
    mostRecentHeartbeat(guildId: Id, userId: Id): {
        data: Heartbeat | null;
    };
    /** Today's coding time in WakaTime's `statusbar/today` shape. */
    statusbarToday(guildId: Id, userId: Id): Statusbar;
    /**
     * WakaTime's summaries: one item per local day from `start` to `end` (`YYYY-MM-DD`, `today`
     * or `yesterday`), with `cumulative_total`.
     */
    codingSummaries(guildId: Id, userId: Id, start: string, end: string): Record<string, any>;
    /** A user's coding stats over a window (default `all`) in Hackatime's shape. */
    codingStats(guildId: Id, userId: Id, options?: WindowOptions): CodingStats;
    /** {@link Engine.codingStats} off the main thread. */
    codingStatsAsync(guildId: Id, userId: Id, options?: WindowOptions): Promise<CodingStats>;
    /** Hackatime's `daily` (rolling 24 h) or `weekly` coding leaderboard, without red users. */
    codingLeaderboard(guildId: Id, options?: CodingLeaderboardOptions): CodingLeaderboard;
    /** {@link Engine.codingLeaderboard} off the main thread. */
    codingLeaderboardAsync(guildId: Id, options?: CodingLeaderboardOptions): Promise<CodingLeaderboard>;
    /** Sets the host's master key (stored hashed), required to generate keys. */
    setMasterKey(masterKey: string): Success;
    /**
     * `normal` (default: survives a process crash) or `full` (also a power loss: an fsync per
     * write). Applies to this engine's connection.
     */
    setDurability(mode: 'normal' | 'full'): {
        durability: string;
    };
    /**
     * Sets this deployment's key prefix (2-12 lowercase letters and digits, default `tl`): `hk`
     * gives `hk_live_...` keys. Keys of an earlier prefix keep working.
     */
    setKeyPrefix(prefix: string): {
        key_prefix: string;
    };
    /** The deployment's key prefix (`tl` until {@link Engine.setKeyPrefix} is called). */
    keyPrefix(): {
        key_prefix: string;
    };
    /** Generates a key for a guild; `api_key` is in this result only. */
    generateKey(guildId: Id, adminUserId: Id, masterKey: string, options?: KeyOptions): NewKey;
    /** Mints a sub-key from an Enterprise or Admin key (it shares the parent's budget). */
    mintSubKey(parentKey: string, guildId: Id, options?: SubKeyOptions): NewKey;
    /**
     * May this key do `action` on this guild now? A {@link Grant} with the headers to send, or a
     * {@link TimeledgerError} (`RATE_001` with `Retry-After` when over the limit).
     */
    authorize(apiKey: string, guildId: Id, action: string, options?: AuthorizeOptions): Grant;
    /** `shared` (default: exact across processes) or `memory` (this process only, counts from zero). */
    setRateLimiter(mode: 'shared' | 'memory'): Success;
    /** A guild's keys (metadata only). */
    listKeys(guildId: Id): KeyInfo[];
    /** One key's metadata. */
    getKey(keyId: string): KeyInfo;
    /** Revokes a key and its sub-keys. */
    revokeKey(keyId: string): KeyInfo;
    /** Replaces a key with a new one; the old one works for `graceSeconds`. */
    rotateKey(keyId: string, options?: RotateOptions): NewKey;
    /** Changes a key's tier (the key itself stays) or name. */
    updateKey(keyId: string, changes: KeyUpdate): KeyInfo;
    /** The key audit trail, newest first. */
    keyEvents(filter?: KeyEventFilter): KeyEvent[];
    /** The tier table in force. */
    tiers(): Tier[];
    /** Replaces the tier table. */
    setTiers(tiers: TierInput[]): Tier[];
    /** Finds the key in a request's headers (`X-API-Key`, `Authorization`) or query (`api_key`). */
    extractKey(sources: KeySources): {
        api_key: string | null;
    };
}
