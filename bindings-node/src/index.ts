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

import { NativeEngine } from './native'

// ---------------------------------------------------------------------------------------------
// Argument types

/** A guild or user id: a `bigint`, a decimal string, or a `number` that is a safe integer. */
export type Id = bigint | string | number
/** An id as results return it: a decimal string (exact for every signed 64-bit id). */
export type IdString = string
/** An instant: a `Date`, an RFC 3339 string, or Unix seconds (fractions allowed). */
export type Instant = Date | string | number
/** An instant as results return it: RFC 3339 UTC with `Z`, e.g. `2025-10-10T14:30:00Z`. */
export type Rfc3339 = string
/** A calendar or rolling window: `today`, `week`, `month`, `year`, `last_24_hours`, `last_7_days`, `last_30_days`, `all`. */
export type Timeframe = 'today' | 'week' | 'month' | 'year' | 'last_24_hours' | 'last_7_days' | 'last_30_days' | 'all' | (string & {})
/** A trust level (Hackatime): red users are left out of every leaderboard. */
export type TrustLevel = 'blue' | 'green' | 'yellow' | 'red'

/** Options of {@link Engine.updateGuild}. */
export interface GuildOptions {
  /** IANA zone, e.g. `Europe/Paris`. */
  timezone?: string
  /** First day of the week, e.g. `monday` or `sunday`. */
  weekStart?: string
  /** Longest a session may run before it is closed automatically; `0` removes the cap. */
  maxSessionSeconds?: number
  /** Whether a user's entries may overlap. */
  allowOverlap?: boolean
  /** Heartbeat timeout, 60..14400 seconds (1..240 minutes). */
  heartbeatTimeoutSeconds?: number
}

/** Options of {@link Engine.upsertUser}. */
export interface UserOptions {
  displayName?: string
  avatarUrl?: string
  email?: string
  slackUid?: string
  trustLevel?: TrustLevel
  /** Also make the user a member of this guild. */
  guildId?: Id
  /** With `guildId`: make the user an admin of the guild, or not. */
  isAdmin?: boolean
  /** The user's own IANA time zone for coding reads (`""` clears it: the guild's applies). */
  timeZone?: string
}

/** Options of {@link Engine.createCategory}. */
export interface CategoryOptions {
  description?: string
  /** A colour such as `#ff8800`. */
  color?: string
}

/** Options of {@link Engine.updateCategory}. */
export interface CategoryUpdate {
  newName?: string
  description?: string
  color?: string
  archived?: boolean
}

/** Options of {@link Engine.clockIn}. */
export interface ClockInOptions {
  description?: string
  /** When the session starts (default: now). */
  at?: Instant
  /** Close a running session at the same instant instead of failing with `SESSION_ALREADY_ACTIVE`. */
  switch?: boolean
}

/** Options of {@link Engine.clockOut}. */
export interface ClockOutOptions {
  /** When the session ends (default: now). */
  at?: Instant
}

/** Options of {@link Engine.addEntry}. */
export interface EntryOptions {
  billable?: boolean
  description?: string
}

/** Options of {@link Engine.updateSession}: the fields to change. */
export interface SessionUpdate {
  category?: string
  start?: Instant
  end?: Instant
  description?: string
  billable?: boolean
}

/** Options of {@link Engine.listSessions}. */
export interface SessionFilter {
  userId?: Id
  category?: string
  from?: Instant
  to?: Instant
  /** 1-based page (default 1). */
  page?: number
  /** Page size (default 50). */
  perPage?: number
}

/** A window: a named timeframe, or a custom `[from, to)`. */
export interface WindowOptions {
  timeframe?: Timeframe
  from?: Instant
  to?: Instant
}

/** Options of {@link Engine.leaderboard}. */
export interface LeaderboardOptions extends WindowOptions {
  category?: string
  limit?: number
  offset?: number
}

/** Options of {@link Engine.report}. */
export interface ReportOptions extends WindowOptions {
  /** Any of `user`, `category`, `day`. */
  groupBy?: Array<'user' | 'category' | 'day' | (string & {})>
  userId?: Id
  category?: string
}

/** A heartbeat as WakaTime editor plugins send it (unknown fields are ignored). */
export interface HeartbeatInput {
  entity: string
  /** Float Unix seconds (milliseconds, microseconds and nanoseconds are rescaled). */
  time: number
  type?: 'file' | 'domain' | 'app' | 'url' | (string & {})
  category?: string
  project?: string
  branch?: string
  language?: string
  is_write?: boolean
  lines?: number
  lineno?: number
  cursorpos?: number
  line_additions?: number
  line_deletions?: number
  dependencies?: string[] | string
  project_root_count?: number
  user_agent?: string
  editor?: string
  operating_system?: string
  machine?: string
  [field: string]: unknown
}

/** Options of {@link Engine.ingestHeartbeats}: request-level values plugins send as headers. */
export interface IngestOptions {
  /** The request's `User-Agent` (editor and OS are derived from it). */
  userAgent?: string
  /** The request's `X-Machine-Name`. */
  machineName?: string
  /** The request's `TimeZone`: becomes the user's zone while they have none. */
  timeZone?: string
}

/** Options of {@link Engine.listHeartbeats}. */
export interface HeartbeatRange {
  /** Start of the range (default: start of today in the guild's zone). */
  start?: Instant
  /** End of the range, exclusive. */
  end?: Instant
  /** At most 100. */
  limit?: number
}

/** Options of {@link Engine.codingLeaderboard}. */
export interface CodingLeaderboardOptions {
  /** `daily` (rolling 24 h, default) or `weekly` (last 7 days). */
  period?: 'daily' | 'weekly'
  limit?: number
  offset?: number
}

/** Options of {@link Engine.generateKey}. */
export interface KeyOptions {
  /** Tier name (default `SUPPORTER`), any case. */
  tier?: string
  name?: string
  expiresAt?: Instant
  /** `live` (default), `test` or `uuid` (a WakaTime-compatible UUID v4 key). */
  form?: 'live' | 'test' | 'uuid'
}

/** Options of {@link Engine.mintSubKey}. */
export interface SubKeyOptions extends KeyOptions {
  /** Permissions no larger than the parent's. */
  permissions?: string[]
}

/** Options of {@link Engine.authorize}. */
export interface AuthorizeOptions {
  /** The user the action is about (for `*_admins` permissions). */
  targetUserId?: Id
}

/** Options of {@link Engine.rotateKey}. */
export interface RotateOptions {
  /** How long the old key keeps working (capped at its expiry). */
  graceSeconds?: number
}

/** Options of {@link Engine.updateKey}. */
export interface KeyUpdate {
  tier?: string
  name?: string
}

/** Options of {@link Engine.keyEvents}. */
export interface KeyEventFilter {
  keyId?: string
  guildId?: Id
  limit?: number
}

/** A tier definition for {@link Engine.setTiers}. */
export interface TierInput {
  name: string
  rank: number
  per_minute?: number | null
  per_hour?: number | null
  per_day?: number | null
  permissions: string[]
  all_guilds?: boolean
}

/** Options of {@link Engine.extractKey}: the request's headers and query parameters. */
export interface KeySources {
  headers?: Record<string, string>
  query?: Record<string, string>
}

// ---------------------------------------------------------------------------------------------
// Result shapes

/** `{"success": true}`. */
export interface Success {
  success: true
}

/** A guild's settings. */
export interface GuildSettings {
  guild_id: IdString
  timezone: string
  week_start: string
  max_session_seconds: number | null
  allow_overlap: boolean
  heartbeat_timeout_seconds: number
}

/** A user. */
export interface User {
  user_id: IdString
  username: string
  display_name: string | null
  avatar_url: string | null
  email: string | null
  slack_uid: string | null
  trust_level: TrustLevel
  /** The user's own time zone for coding reads (null: the guild's). */
  time_zone: string | null
}

/** A member of a guild: the user and whether they are an admin of it. */
export interface Member extends User {
  is_admin: boolean
}

/** One entry of {@link Engine.importEntries}. */
export interface ImportEntry {
  user_id: Id
  category: string
  start: Instant
  end: Instant
  billable?: boolean
  description?: string
}

/** The result of {@link Engine.importEntries}. */
export interface ImportResult {
  imported: number
  session_ids: string[]
  errors: { index: number; error: ErrorBody }[]
}

/** Options of {@link Engine.importFile}. */
export interface ImportFileOptions {
  guildId?: Id
  userId?: Id
}

/** What {@link Engine.importFile} did. */
export interface ImportSummary {
  format: string
  imported: Record<string, number>
  duplicates: Record<string, number>
  refused: number
  reasons: { line: number; code: string; message: string }[]
  skipped: Record<string, number>
}

/** A page of {@link Engine.listMembers}. */
export interface MemberPage {
  data: Member[]
  meta: { total: number; page: number; per_page: number }
}

/** Options of {@link Engine.listMembers}. */
export interface PageOptions {
  /** 1-based page (default 1). */
  page?: number
  /** Page size, 1 to 500 (default 50). */
  perPage?: number
}

/** A category with its totals. */
export interface Category {
  name: string
  description: string | null
  color: string | null
  archived: boolean
  sessions: number
  total_seconds: number
}

/** The result of {@link Engine.clockIn}, in the clock-in API's shape. */
export interface ClockIn {
  success: true
  session_id: string
  category: string
  start_time: Rfc3339
  user_id: IdString
  description: string | null
}

/** A session (time entry). */
export interface Session {
  id: string
  guild_id: IdString
  user_id: IdString
  category: string
  description: string | null
  start_time: Rfc3339
  end_time: Rfc3339 | null
  duration: number
  running: boolean
  billable: boolean
  auto_closed: boolean
}

/** A page of sessions, newest first. */
export interface SessionPage {
  data: Session[]
  meta: { total: number; page: number; per_page: number }
}

/** Guild status, in the clock-in API's shape. */
export interface GuildStatus {
  guild_id: IdString
  total_time_seconds: number
  total_time_hours: number
  total_users: number
  active_sessions: number
  categories: Record<string, number>
}

/** One leaderboard row. */
export interface LeaderboardEntry {
  rank: number
  user_id: IdString
  username: string
  total_seconds: number
  hours: number
}

/** The session leaderboard. */
export interface Leaderboard {
  guild_id: IdString
  timeframe: string
  category: string | null
  start: Rfc3339 | null
  end: Rfc3339 | null
  generated_at: Rfc3339
  leaderboard: LeaderboardEntry[]
}

/** One report row: the grouping keys asked for, and the total. */
export interface ReportRow {
  user_id?: IdString
  username?: string
  category?: string
  day?: string
  total_seconds: number
}

/** A summary report. */
export interface Report {
  guild_id: IdString
  timeframe: string
  start: Rfc3339 | null
  end: Rfc3339 | null
  group_by: string[]
  rows: ReportRow[]
  total_seconds: number
  total_hours: number
}

/** One item's outcome in a bulk ingest: `[body, 201 | 202 | 400]`. */
export type IngestResponse = [{ data?: { id: string; entity: string; type: string; time: number }; error?: string }, number]

/** The result of {@link Engine.ingestHeartbeats}, in WakaTime's bulk shape. */
export interface IngestResult {
  responses: IngestResponse[]
}

/** A stored heartbeat. */
export interface Heartbeat {
  id: string
  user_id: IdString
  entity: string
  type: string
  category: string
  time: number
  project: string | null
  branch: string | null
  language: string | null
  is_write: boolean
  lines: number | null
  lineno: number | null
  cursorpos: number | null
  line_additions: number | null
  line_deletions: number | null
  dependencies: string[] | null
  project_root_count: number | null
  user_agent: string | null
  editor: string | null
  operating_system: string | null
  machine: string | null
}

/** A duration in WakaTime's words. */
export interface Duration {
  total_seconds: number
  text: string
  digital: string
  hours: number
  minutes: number
  decimal: string
}

/** One row of a statusbar breakdown. */
export interface DurationItem extends Duration {
  name: string
  percent: number
}

/** Today's coding time, in WakaTime's `statusbar/today` shape. */
export interface Statusbar {
  data: {
    grand_total: Duration
    categories: DurationItem[]
    languages: DurationItem[]
    projects: DurationItem[]
    editors: DurationItem[]
    operating_systems: DurationItem[]
    machines: DurationItem[]
    range: Record<string, unknown>
  }
}

/** A named total in Hackatime's stats. */
export interface NamedSeconds {
  name: string
  seconds: number
}

/** A user's coding stats, in Hackatime's shape. */
export interface CodingStats {
  user: string
  user_id: IdString
  timeframe: string
  start: Rfc3339 | null
  end: Rfc3339 | null
  total_seconds: number
  languages: NamedSeconds[]
  projects: NamedSeconds[]
  editors: NamedSeconds[]
  operating_systems: NamedSeconds[]
  machines: NamedSeconds[]
  categories: NamedSeconds[]
  branches: NamedSeconds[]
}

/** A coding leaderboard, in Hackatime's shape. */
export interface CodingLeaderboard {
  period: 'daily' | 'weekly'
  start_date: Rfc3339
  end_date: Rfc3339
  date_range: string
  generated_at: Rfc3339
  entries: Array<{ rank: number; user: { id: IdString; username: string; avatar_url: string | null }; total_seconds: number }>
}

/** A key just created: `api_key` is shown this once. */
export interface NewKey {
  api_key: string
  key_id: string
  guild_id: IdString
  tier: string
  name: string | null
  display_prefix: string
  created_at: Rfc3339
  expires_at: Rfc3339 | null
}

/** A key's metadata (never the key itself). */
export interface KeyInfo {
  key_id: string
  guild_id: IdString
  owner_user_id: IdString
  parent_id: string | null
  tier: string
  name: string | null
  form: 'live' | 'test' | 'uuid'
  display_prefix: string
  permissions: string[] | null
  status: string
  created_at: Rfc3339
  expires_at: Rfc3339 | null
  revoked_at: Rfc3339 | null
  grace_until: Rfc3339 | null
  replaced_by: string | null
  last_used_at: Rfc3339 | null
  request_count: number
}

/** A granted request: the budget left and the headers to send. */
export interface Grant {
  key_id: string
  tier: string
  guild_id: IdString
  limit: number
  remaining: number
  reset_in: number
  window: string
  headers: Record<string, string>
}

/** One entry of the key audit trail. */
export interface KeyEvent {
  id: IdString
  key_id: string
  guild_id: IdString
  event: string
  at: Rfc3339
  detail: Record<string, unknown>
}

/** A tier in force. */
export interface Tier {
  name: string
  rank: number
  per_minute: number | null
  per_hour: number | null
  per_day: number | null
  permissions: string[]
  all_guilds: boolean
}

// ---------------------------------------------------------------------------------------------
// Errors

/** The engine's error body, as the services' APIs send it (`toJSON()` of a {@link TimeledgerError}). */
export interface ErrorBody {
  error: string
  code: string
  message: string
  [field: string]: unknown
}

/**
 * An engine error: `code` (e.g. `NO_ACTIVE_SESSION`, `RATE_001`), the HTTP `status` a host
 * should answer with, the error `body` (also what `toJSON()` and so `JSON.stringify`
 * give), and `headers` to send (`Retry-After` and the rate-limit headers when limited).
 */
export class TimeledgerError extends Error {
  /** The engine's error code. */
  readonly code: string
  /** The HTTP status a host should answer with. */
  readonly status: number
  /** The error body. */
  readonly body: ErrorBody
  /** Headers to send with the error response (may be empty). */
  readonly headers: Record<string, string>

  constructor(code: string, status: number, message: string, body: ErrorBody, headers: Record<string, string> = {}) {
    super(message)
    this.name = 'TimeledgerError'
    this.code = code
    this.status = status
    this.body = body
    this.headers = headers
  }

  /** Requests left in the window, for `RATE_001`. */
  get remaining(): number | undefined {
    return typeof this.body.remaining === 'number' ? this.body.remaining : undefined
  }

  /** Seconds until the window resets, for `RATE_001`. */
  get resetIn(): number | undefined {
    return typeof this.body.reset_in === 'number' ? this.body.reset_in : undefined
  }

  /** The error body, so `JSON.stringify(err)` is the response body. */
  toJSON(): ErrorBody {
    return this.body
  }
}

const ENGINE_ERROR = 'TimeledgerError '
const PANIC_ERROR = 'TimeledgerPanic '

/**
 * WakaTime's bulk responses from the native flat array (`status, id, entity, type, time` per
 * stored or duplicate heartbeat, `status, message` per refused one): the same objects, keys in
 * the same order, as parsing the nested text would give.
 */
function unflatten(flat: Array<string | number>): IngestResponse[] {
  const out: IngestResponse[] = []
  for (let i = 0; i < flat.length; ) {
    const status = flat[i] as number
    if (status >= 400) {
      out.push([{ error: flat[i + 1] as string }, status])
      i += 2
    } else {
      out.push([{ data: { entity: flat[i + 2] as string, id: flat[i + 1] as string, time: flat[i + 4] as number, type: flat[i + 3] as string } }, status])
      i += 5
    }
  }
  return out
}

function rethrow(e: unknown): never {
  if (e instanceof Error && typeof e.message === 'string') {
    if (e.message.startsWith(ENGINE_ERROR)) {
      const d = JSON.parse(e.message.slice(ENGINE_ERROR.length))
      throw new TimeledgerError(d.code, d.status, d.message, d.body, d.headers)
    }
    if (e.message.startsWith(PANIC_ERROR)) {
      const message = e.message.slice(PANIC_ERROR.length)
      throw new TimeledgerError('INTERNAL', 500, message, { error: 'Internal Server Error', code: 'INTERNAL', message })
    }
  }
  throw e
}

// ---------------------------------------------------------------------------------------------
// Argument checks: wrong types are TypeErrors, before the engine runs.

const I64_MIN = -(2n ** 63n)
const I64_MAX = 2n ** 63n - 1n

function kind(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  if (v instanceof Date) return 'a Date'
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`
}

function id(name: string, v: unknown): string {
  if (typeof v === 'bigint') {
    if (v < I64_MIN || v > I64_MAX) throw new RangeError(`${name} does not fit in a signed 64-bit integer`)
    return v.toString()
  }
  if (typeof v === 'string') return v
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) {
      throw new TypeError(`${name} must be a safe integer when given as a number (pass a bigint or a decimal string for large ids)`)
    }
    return String(v)
  }
  throw new TypeError(`${name} must be a bigint, a decimal string or a safe integer, not ${kind(v)}`)
}

function instant(name: string, v: unknown): string | number {
  if (v instanceof Date) {
    if (Number.isNaN(v.getTime())) throw new RangeError(`${name} is an invalid Date`)
    return v.toISOString()
  }
  if (typeof v === 'string') return v
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new RangeError(`${name} must be a finite number of Unix seconds`)
    return v
  }
  throw new TypeError(`${name} must be a Date, an RFC 3339 string or Unix seconds, not ${kind(v)}`)
}

function str(name: string, v: unknown): string {
  if (typeof v !== 'string') throw new TypeError(`${name} must be a string, not ${kind(v)}`)
  return v
}

function int(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new TypeError(`${name} must be an integer, not ${kind(v)}`)
  return v
}

function bool(name: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw new TypeError(`${name} must be a boolean, not ${kind(v)}`)
  return v
}

function strs(name: string, v: unknown): string[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new TypeError(`${name} must be an array of strings`)
  return v
}

function record(name: string, v: unknown): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TypeError(`${name} must be an object, not ${kind(v)}`)
  return v as Record<string, unknown>
}

type Check = (name: string, v: unknown) => unknown
const CHECKS = { id, instant, str, int, bool, strs, record, any: (_: string, v: unknown) => v }
type Schema = Record<string, keyof typeof CHECKS>

const snakeCache = new Map<string, string>()
function snake(k: string): string {
  let s = snakeCache.get(k)
  if (s === undefined) {
    s = k.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase())
    snakeCache.set(k, s)
  }
  return s
}

/** Checks an options object against its schema and adds its entries (snake_case) to `out`. */
function opts(out: Record<string, unknown>, options: unknown, schema: Schema, what: string): Record<string, unknown> {
  if (options === undefined || options === null) return out
  const o = record(what, options)
  for (const k of Object.keys(o)) {
    const v = o[k]
    const check = schema[k]
    if (check === undefined) {
      throw new TypeError(`unknown option ${JSON.stringify(k)} for ${what} (known: ${Object.keys(schema).join(', ')})`)
    }
    if (v === undefined || v === null) continue
    out[snake(k)] = (CHECKS[check] as Check)(k, v)
  }
  return out
}

// A bigint nested in free-form data (the generic call, heartbeats) is written as an exact JSON
// integer: the fast native JSON.stringify first, and only if it meets a bigint, a second pass.
const BIG = `\u0000tl-bigint-${Math.random().toString(36).slice(2)}:`
const BIG_RE = new RegExp(`"${JSON.stringify(BIG).slice(1, -1).replace(/\\/g, '\\\\')}(-?\\d+)"`, 'g')

/** The engine's `INVALID_INPUT` for a value refused before the call. */
function invalidInput(field: string, message: string): TimeledgerError {
  const text = `invalid ${field}: ${message}`
  return new TimeledgerError('INVALID_INPUT', 400, text, { error: 'Bad Request', code: 'INVALID_INPUT', message: text, field })
}

function toJson(v: unknown, field = 'args'): string {
  try {
    const s = JSON.stringify(v)
    if (s === undefined) throw new TypeError(`cannot pass ${kind(v)} to the engine`)
    return s
  } catch (e) {
    // Nested past the stack: the engine would refuse it anyway (it reads 128 levels at most).
    if (e instanceof RangeError) throw invalidInput(field, 'nested too deep')
    if (!(e instanceof TypeError) || !/BigInt/i.test(e.message)) throw e
    return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? BIG + x.toString() : x)).replace(BIG_RE, '$1')
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true })

const GUILD: Schema = {
  timezone: 'str',
  weekStart: 'str',
  maxSessionSeconds: 'int',
  allowOverlap: 'bool',
  heartbeatTimeoutSeconds: 'int',
}
const USER: Schema = {
  displayName: 'str',
  avatarUrl: 'str',
  email: 'str',
  slackUid: 'str',
  trustLevel: 'str',
  guildId: 'id',
  isAdmin: 'bool',
  timeZone: 'str',
}
const PAGE: Schema = { page: 'int', perPage: 'int' }
const IMPORT_FILE: Schema = { guildId: 'id', userId: 'id' }
const CATEGORY: Schema = { description: 'str', color: 'str' }
const CATEGORY_UPDATE: Schema = { newName: 'str', description: 'str', color: 'str', archived: 'bool' }
const CLOCK_IN: Schema = { description: 'str', at: 'instant', switch: 'bool' }
const CLOCK_OUT: Schema = { at: 'instant' }
const ENTRY: Schema = { billable: 'bool', description: 'str' }
const SESSION_UPDATE: Schema = { category: 'str', start: 'instant', end: 'instant', description: 'str', billable: 'bool' }
const SESSION_FILTER: Schema = { userId: 'id', category: 'str', from: 'instant', to: 'instant', page: 'int', perPage: 'int' }
const WINDOW: Schema = { timeframe: 'str', from: 'instant', to: 'instant' }
const LEADERBOARD: Schema = { ...WINDOW, category: 'str', limit: 'int', offset: 'int' }
const REPORT: Schema = { ...WINDOW, groupBy: 'strs', userId: 'id', category: 'str' }
const INGEST: Schema = { userAgent: 'str', machineName: 'str', timeZone: 'str' }
const HB_RANGE: Schema = { start: 'instant', end: 'instant', limit: 'int' }
const CODING_LB: Schema = { period: 'str', limit: 'int', offset: 'int' }
const KEY: Schema = { tier: 'str', name: 'str', expiresAt: 'instant', form: 'str' }
const SUB_KEY: Schema = { ...KEY, permissions: 'strs' }
const AUTHORIZE: Schema = { targetUserId: 'id' }
const ROTATE: Schema = { graceSeconds: 'int' }
const KEY_UPDATE: Schema = { tier: 'str', name: 'str' }
const KEY_EVENTS: Schema = { keyId: 'str', guildId: 'id', limit: 'int' }
const SOURCES: Schema = { headers: 'record', query: 'record' }

/** What {@link Engine.handle} answers: send it back as it is. */
export interface HttpResponse {
  /** Status code. */
  status: number
  /** Header names and values. */
  headers: Record<string, string>
  /** Body bytes (JSON). */
  body: Buffer
}

// ---------------------------------------------------------------------------------------------
// The engine

/**
 * An open Timeledger database: a file (created if missing; WAL mode, safe to share between
 * processes) or `":memory:"`. One `Engine` serves the whole process: synchronous calls and the
 * Promise-returning `...Async` variants (which run on libuv's thread pool) share it and the engine
 * serialises writes itself. In `worker_threads`, open one `Engine` per worker on the same file.
 */
export class Engine {
  readonly #native: NativeEngine

  /** Opens `path` (a file, created if missing, or `":memory:"`, the default). */
  constructor(path: string = ':memory:') {
    str('path', path)
    try {
      this.#native = new NativeEngine(path)
    } catch (e) {
      rethrow(e)
    }
  }

  #run(op: string, json: string): any {
    let out: string
    try {
      out = this.#native.call(op, json)
    } catch (e) {
      rethrow(e)
    }
    return JSON.parse(out)
  }

  async #runAsync(op: string, json: string): Promise<any> {
    let out: string
    try {
      out = await this.#native.callAsync(op, json)
    } catch (e) {
      rethrow(e)
    }
    return JSON.parse(out)
  }

  // -- generic --------------------------------------------------------------------------------

  /**
   * Runs any operation by its snake_case name (see {@link Engine.operations}) with an object of
   * snake_case arguments, as the cross-language scenarios do. Nested `bigint`s are passed exactly.
   */
  call(op: string, args: Record<string, unknown> = {}): any {
    return this.#run(str('op', op), toJson(record('args', args)))
  }

  /** {@link Engine.call} off the main thread. */
  callAsync(op: string, args: Record<string, unknown> = {}): Promise<any> {
    return this.#runAsync(str('op', op), toJson(record('args', args)))
  }

  /**
   * Answers an HTTP request with the engine's HTTP API (the routes in the README): the method,
   * the path with its query, the request's headers (Node's `req.headers`, or `[name, value]`
   * pairs) and its body. Keys, permissions, rate limits, status codes, headers and error bodies
   * are all decided by the engine; a server only passes the request through.
   */
  handle(
    method: string,
    url: string,
    headers?: Record<string, string | string[] | undefined> | Array<[string, string]>,
    body?: Uint8Array | string,
  ): HttpResponse {
    const pairs: string[][] = []
    if (Array.isArray(headers)) {
      for (const [k, v] of headers) pairs.push([String(k), String(v)])
    } else if (headers !== undefined && headers !== null) {
      for (const [k, v] of Object.entries(headers)) {
        if (v === undefined) continue
        for (const one of Array.isArray(v) ? v : [v]) pairs.push([k, String(one)])
      }
    }
    let bytes: Buffer
    if (body === undefined || body === null) bytes = Buffer.alloc(0)
    else if (typeof body === 'string') bytes = Buffer.from(body, 'utf8')
    else if (body instanceof Uint8Array) bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength)
    else throw new TypeError(`body must be a Buffer, a Uint8Array or a string, not ${kind(body)}`)
    const r = this.#native.handle(str('method', method), str('url', url), pairs, bytes)
    const out: Record<string, string> = {}
    for (const [k, v] of r.headers) out[k] = v
    return { status: r.status, headers: out, body: r.body }
  }

  /** Every operation name {@link Engine.call} accepts. */
  static operations(): string[] {
    return NativeEngine.operations()
  }

  /** Freezes the engine's clock (tests, replays); `null` returns to the wall clock. */
  setNow(when: Instant | null): void {
    if (when === null || when === undefined) {
      this.#native.setNow(null)
      return
    }
    const v = instant('when', when)
    const ms = typeof v === 'number' ? Math.round(v * 1000) : Date.parse(v)
    if (Number.isNaN(ms)) throw new RangeError(`when is not an RFC 3339 instant: ${JSON.stringify(v)}`)
    try {
      this.#native.setNow(ms)
    } catch (e) {
      rethrow(e) // INVALID_INPUT outside years 1000 to 9999
    }
  }

  /** The engine's current instant (the frozen one, if {@link Engine.setNow} froze it). */
  now(): Date {
    return new Date(this.#native.nowMs())
  }

  // -- guilds and users -----------------------------------------------------------------------

  /** A guild's settings (defaults for a guild never seen). */
  guildSettings(guildId: Id): GuildSettings {
    return this.#run('guild_settings', JSON.stringify({ guild_id: id('guildId', guildId) }))
  }

  /** Changes a guild's settings; a zone change rebuilds its day totals. */
  updateGuild(guildId: Id, options: GuildOptions): GuildSettings {
    return this.#run('update_guild', JSON.stringify(opts({ guild_id: id('guildId', guildId) }, options, GUILD, 'updateGuild options')))
  }

  /** Creates or updates a user; with `guildId` also a member of that guild. */
  upsertUser(userId: Id, username: string, options?: UserOptions): User {
    const a = { user_id: id('userId', userId), username: str('username', username) }
    return this.#run('upsert_user', JSON.stringify(opts(a, options, USER, 'upsertUser options')))
  }

  /** A guild's members by user id, each with `is_admin`, paginated (`{data, meta}`). */
  listMembers(guildId: Id, options?: PageOptions): MemberPage {
    return this.#run('list_members', JSON.stringify(opts({ guild_id: id('guildId', guildId) }, options, PAGE, 'listMembers options')))
  }

  /** A user by id (`USER_NOT_FOUND` otherwise). */
  getUser(userId: Id): User {
    return this.#run('get_user', JSON.stringify({ user_id: id('userId', userId) }))
  }

  /** A user by e-mail, ignoring case. */
  findUserByEmail(email: string): User {
    return this.#run('find_user_by_email', JSON.stringify({ email: str('email', email) }))
  }

  /** A user by Slack id. */
  findUserBySlackUid(slackUid: string): User {
    return this.#run('find_user_by_slack_uid', JSON.stringify({ slack_uid: str('slackUid', slackUid) }))
  }

  /** Sets `blue`, `green`, `yellow` or `red` (red users leave every leaderboard). */
  setTrustLevel(userId: Id, trustLevel: TrustLevel): User {
    return this.#run('set_trust_level', JSON.stringify({ user_id: id('userId', userId), trust_level: str('trustLevel', trustLevel) }))
  }

  /** Makes a user an admin of a guild, or not. */
  setAdmin(guildId: Id, userId: Id, isAdmin: boolean): Success {
    const a = { guild_id: id('guildId', guildId), user_id: id('userId', userId), is_admin: bool('isAdmin', isAdmin) }
    return this.#run('set_admin', JSON.stringify(a))
  }

  /** Whether a user is an admin of a guild. */
  isAdmin(guildId: Id, userId: Id): { is_admin: boolean } {
    return this.#run('is_admin', JSON.stringify({ guild_id: id('guildId', guildId), user_id: id('userId', userId) }))
  }

  // -- categories -----------------------------------------------------------------------------

  /** Creates a category (1..64 characters, unique ignoring case). */
  createCategory(guildId: Id, name: string, options?: CategoryOptions): Category {
    const a = { guild_id: id('guildId', guildId), name: str('name', name) }
    return this.#run('create_category', JSON.stringify(opts(a, options, CATEGORY, 'createCategory options')))
  }

  /** A guild's categories with their totals (archived ones too when asked). */
  listCategories(guildId: Id, options?: { includeArchived?: boolean }): Category[] {
    const a = opts({ guild_id: id('guildId', guildId) }, options, { includeArchived: 'bool' }, 'listCategories options')
    return this.#run('list_categories', JSON.stringify(a))
  }

  /** One category by name, any case. */
  getCategory(guildId: Id, name: string): Category {
    return this.#run('get_category', JSON.stringify({ guild_id: id('guildId', guildId), name: str('name', name) }))
  }

  /** Renames, re-describes, re-colours, archives or restores a category. */
  updateCategory(guildId: Id, name: string, changes: CategoryUpdate): Category {
    const a = { guild_id: id('guildId', guildId), name: str('name', name) }
    return this.#run('update_category', JSON.stringify(opts(a, changes, CATEGORY_UPDATE, 'updateCategory changes')))
  }

  /** Renames a category; its history follows. */
  renameCategory(guildId: Id, name: string, newName: string): Category {
    const a = { guild_id: id('guildId', guildId), name: str('name', name), new_name: str('newName', newName) }
    return this.#run('rename_category', JSON.stringify(a))
  }

  /** Archives a category: hidden by default, no new sessions in it. */
  archiveCategory(guildId: Id, name: string): Category {
    return this.#run('archive_category', JSON.stringify({ guild_id: id('guildId', guildId), name: str('name', name) }))
  }

  /** Deletes a category no session uses (`CATEGORY_IN_USE` otherwise). */
  deleteCategory(guildId: Id, name: string): Success {
    return this.#run('delete_category', JSON.stringify({ guild_id: id('guildId', guildId), name: str('name', name) }))
  }

  // -- sessions -------------------------------------------------------------------------------

  /** Clocks a user in; `{ switch: true }` closes a running session at the same instant. */
  clockIn(guildId: Id, userId: Id, category: string, options?: ClockInOptions): ClockIn {
    const a = { guild_id: id('guildId', guildId), user_id: id('userId', userId), category: str('category', category) }
    return this.#run('clock_in', JSON.stringify(opts(a, options, CLOCK_IN, 'clockIn options')))
  }

  /** Clocks a user out and returns the closed session (`NO_ACTIVE_SESSION` if none runs). */
  clockOut(guildId: Id, userId: Id, options?: ClockOutOptions): Session {
    const a = { guild_id: id('guildId', guildId), user_id: id('userId', userId) }
    return this.#run('clock_out', JSON.stringify(opts(a, options, CLOCK_OUT, 'clockOut options')))
  }

  /** The user's running session, or `null`. */
  activeSession(guildId: Id, userId: Id): Session | null {
    return this.#run('active_session', JSON.stringify({ guild_id: id('guildId', guildId), user_id: id('userId', userId) }))
  }

  /** Adds a closed manual entry `[start, end)`. */
  addEntry(guildId: Id, userId: Id, category: string, start: Instant, end: Instant, options?: EntryOptions): Session {
    const a = {
      guild_id: id('guildId', guildId),
      user_id: id('userId', userId),
      category: str('category', category),
      start: instant('start', start),
      end: instant('end', end),
    }
    return this.#run('add_entry', JSON.stringify(opts(a, options, ENTRY, 'addEntry options')))
  }

  /**
   * Imports up to 10,000 closed entries (`{user_id, category, start, end, billable?,
   * description?}`) in one transaction, all or nothing: `{imported, session_ids, errors}`, where
   * `errors` lists every refused entry as `{index, error}`.
   */
  importEntries(guildId: Id, entries: ImportEntry[]): ImportResult {
    if (!Array.isArray(entries)) throw new TypeError(`entries must be an array, not ${kind(entries)}`)
    return this.#run('import_entries', `{"guild_id":${JSON.stringify(id('guildId', guildId))},"entries":${toJson(entries, 'entries')}}`)
  }

  /**
   * Imports a file, streaming and idempotent: `timeledger` (this engine's export), `wakatime`
   * (a data dump; needs `guildId` and `userId`), `toggl` or `clockify` (CSV; needs `guildId`).
   */
  importFile(format: string, path: string, options?: ImportFileOptions): ImportSummary {
    const a = { format: str('format', format), path: str('path', path) }
    return this.#run('import_file', JSON.stringify(opts(a, options, IMPORT_FILE, 'importFile options')))
  }

  /** Writes this engine's export (JSON lines, never a key's secret). */
  exportFile(path: string, options?: { guildId?: Id }): { path: string; lines: Record<string, number> } {
    return this.#run('export_file', JSON.stringify(opts({ path: str('path', path) }, options, { guildId: 'id' }, 'exportFile options')))
  }

  /** One session by id. */
  getSession(guildId: Id, sessionId: string): Session {
    return this.#run('get_session', JSON.stringify({ guild_id: id('guildId', guildId), session_id: str('sessionId', sessionId) }))
  }

  /** Changes a session; totals follow. */
  updateSession(guildId: Id, sessionId: string, changes: SessionUpdate): Session {
    const a = { guild_id: id('guildId', guildId), session_id: str('sessionId', sessionId) }
    return this.#run('update_session', JSON.stringify(opts(a, changes, SESSION_UPDATE, 'updateSession changes')))
  }

  /** Deletes a session. */
  deleteSession(guildId: Id, sessionId: string): Success {
    return this.#run('delete_session', JSON.stringify({ guild_id: id('guildId', guildId), session_id: str('sessionId', sessionId) }))
  }

  /** Sessions newest first, filtered and paginated (`data` + `meta`). */
  listSessions(guildId: Id, filter?: SessionFilter): SessionPage {
    return this.#run('list_sessions', JSON.stringify(opts({ guild_id: id('guildId', guildId) }, filter, SESSION_FILTER, 'listSessions filter')))
  }

  /** {@link Engine.listSessions} off the main thread. */
  listSessionsAsync(guildId: Id, filter?: SessionFilter): Promise<SessionPage> {
    return this.#runAsync('list_sessions', JSON.stringify(opts({ guild_id: id('guildId', guildId) }, filter, SESSION_FILTER, 'listSessions filter')))
  }

  // -- aggregates -----------------------------------------------------------------------------

  /** Guild status: all-time totals, users, running sessions, seconds per category. */
  guildStatus(guildId: Id): GuildStatus {
    return this.#run('guild_status', JSON.stringify({ guild_id: id('guildId', guildId) }))
  }

  /** {@link Engine.guildStatus} off the main thread. */
  guildStatusAsync(guildId: Id): Promise<GuildStatus> {
    return this.#runAsync('guild_status', JSON.stringify({ guild_id: id('guildId', guildId) }))
  }

  /** The session leaderboard over a window (default `all`); ties share a rank. */
  leaderboard(guildId: Id, options?: LeaderboardOptions): Leaderboard {
    return this.#run('leaderboard', JSON.stringify(opts({ guild_id: id('guildId', guildId) }, options, LEADERBOARD, 'leaderboard options')))
  }

  /** {@link Engine.leaderboard} off the main thread. */
  leaderboardAsync(guildId: Id, options?: LeaderboardOptions): Promise<Leaderboard> {
    return this.#runAsync('leaderboard', JSON.stringify(opts({ guild_id: id('guildId', guildId) }, options, LEADERBOARD, 'leaderboard options')))
  }

  /** A summary report over a window, grouped by any of `user`, `category`, `day`. */
  report(guildId: Id, options?: ReportOptions): Report {
    return this.#run('report', JSON.stringify(opts({ guild_id: id('guildId', guildId) }, options, REPORT, 'report options')))
  }

  /** {@link Engine.report} off the main thread. */
  reportAsync(guildId: Id, options?: ReportOptions): Promise<Report> {
    return this.#runAsync('report', JSON.stringify(opts({ guild_id: id('guildId', guildId) }, options, REPORT, 'report options')))
  }

  // -- heartbeats -----------------------------------------------------------------------------

  #ingestArgs(guildId: Id, userId: Id, heartbeats: unknown, options: unknown): string {
    const head = JSON.stringify(opts({ guild_id: id('guildId', guildId), user_id: id('userId', userId) }, options, INGEST, 'ingestHeartbeats options'))
    let body: string
    if (typeof heartbeats === 'string') {
      body = heartbeats // a raw request body: the engine parses and validates it
    } else if (heartbeats instanceof Uint8Array) {
      try {
        body = UTF8.decode(heartbeats) // never a silent U+FFFD in place of a bad byte
      } catch {
        throw invalidInput('heartbeats', 'the body is not UTF-8')
      }
    } else if (typeof heartbeats === 'object' && heartbeats !== null) {
      body = toJson(heartbeats, 'heartbeats')
    } else {
      throw new TypeError(`heartbeats must be an array, an object, a JSON string or a Buffer, not ${kind(heartbeats)}`)
    }
    return head.slice(0, -1) + ',"heartbeats":' + body + '}'
  }

  /**
   * Ingests one heartbeat or a bulk array, as WakaTime plugins send them: objects (what a web
   * framework hands over), or the raw JSON body as a string or Buffer. One transaction; returns
   * one `[body, status]` per heartbeat in order: 201 stored, 202 duplicate, 400 invalid.
   */
  ingestHeartbeats(guildId: Id, userId: Id, heartbeats: HeartbeatInput | HeartbeatInput[] | string | Uint8Array, options?: IngestOptions): IngestResult {
    const args = this.#ingestArgs(guildId, userId, heartbeats, options)
    let out: string
    try {
      out = this.#native.ingest(args)
    } catch (e) {
      rethrow(e)
    }
    return { responses: unflatten(JSON.parse(out)) }
  }

  /** {@link Engine.ingestHeartbeats} off the main thread. */
  ingestHeartbeatsAsync(guildId: Id, userId: Id, heartbeats: HeartbeatInput | HeartbeatInput[] | string | Uint8Array, options?: IngestOptions): Promise<IngestResult> {
    let args: string
    try {
      args = this.#ingestArgs(guildId, userId, heartbeats, options)
    } catch (e) {
      return Promise.reject(e)
    }
    return this.#runAsync('ingest_heartbeats', args)
  }

  /** Raw heartbeats in `[start, end)` (default: today), at most `limit` (<= 100). */
  listHeartbeats(guildId: Id, userId: Id, range?: HeartbeatRange): { data: Heartbeat[] } {
    const a = { guild_id: id('guildId', guildId), user_id: id('userId', userId) }
    return this.#run('list_heartbeats', JSON.stringify(opts(a, range, HB_RANGE, 'listHeartbeats range')))
  }

  /** The user's latest heartbeat: `{ data: heartbeat | null }`. */
  mostRecentHeartbeat(guildId: Id, userId: Id): { data: Heartbeat | null } {
    return this.#run('most_recent_heartbeat', JSON.stringify({ guild_id: id('guildId', guildId), user_id: id('userId', userId) }))
  }

  /** Today's coding time in WakaTime's `statusbar/today` shape. */
  statusbarToday(guildId: Id, userId: Id): Statusbar {
    return this.#run('statusbar_today', JSON.stringify({ guild_id: id('guildId', guildId), user_id: id('userId', userId) }))
  }

  /**
   * WakaTime's summaries: one item per local day from `start` to `end` (`YYYY-MM-DD`, `today`
   * or `yesterday`), with `cumulative_total`.
   */
  codingSummaries(guildId: Id, userId: Id, start: string, end: string): Record<string, any> {
    const a = { guild_id: id('guildId', guildId), user_id: id('userId', userId), start: str('start', start), end: str('end', end) }
    return this.#run('coding_summaries', JSON.stringify(a))
  }

  /** A user's coding stats over a window (default `all`) in Hackatime's shape. */
  codingStats(guildId: Id, userId: Id, options?: WindowOptions): CodingStats {
    const a = { guild_id: id('guildId', guildId), user_id: id('userId', userId) }
    return this.#run('coding_stats', JSON.stringify(opts(a, options, WINDOW, 'codingStats options')))
  }

  /** {@link Engine.codingStats} off the main thread. */
  codingStatsAsync(guildId: Id, userId: Id, options?: WindowOptions): Promise<CodingStats> {
    const a = { guild_id: id('guildId', guildId), user_id: id('userId', userId) }
    return this.#runAsync('coding_stats', JSON.stringify(opts(a, options, WINDOW, 'codingStats options')))
  }

  /** Hackatime's `daily` (rolling 24 h) or `weekly` coding leaderboard, without red users. */
  codingLeaderboard(guildId: Id, options?: CodingLeaderboardOptions): CodingLeaderboard {
    return this.#run('coding_leaderboard', JSON.stringify(opts({ guild_id: id('guildId', guildId) }, options, CODING_LB, 'codingLeaderboard options')))
  }

  /** {@link Engine.codingLeaderboard} off the main thread. */
  codingLeaderboardAsync(guildId: Id, options?: CodingLeaderboardOptions): Promise<CodingLeaderboard> {
    return this.#runAsync('coding_leaderboard', JSON.stringify(opts({ guild_id: id('guildId', guildId) }, options, CODING_LB, 'codingLeaderboard options')))
  }

  // -- API keys -------------------------------------------------------------------------------

  /** Sets the host's master key (stored hashed), required to generate keys. */
  setMasterKey(masterKey: string): Success {
    return this.#run('set_master_key', JSON.stringify({ master_key: str('masterKey', masterKey) }))
  }

  /**
   * `normal` (default: survives a process crash) or `full` (also a power loss: an fsync per
   * write). Applies to this engine's connection.
   */
  setDurability(mode: 'normal' | 'full'): { durability: string } {
    return this.#run('set_durability', JSON.stringify({ mode: str('mode', mode) }))
  }

  /**
   * Sets this deployment's key prefix (2-12 lowercase letters and digits, default `tl`): `hk`
   * gives `hk_live_...` keys. Keys of an earlier prefix keep working.
   */
  setKeyPrefix(prefix: string): { key_prefix: string } {
    return this.#run('set_key_prefix', JSON.stringify({ prefix: str('prefix', prefix) }))
  }

  /** The deployment's key prefix (`tl` until {@link Engine.setKeyPrefix} is called). */
  keyPrefix(): { key_prefix: string } {
    return this.#run('key_prefix', '{}')
  }

  /** Generates a key for a guild; `api_key` is in this result only. */
  generateKey(guildId: Id, adminUserId: Id, masterKey: string, options?: KeyOptions): NewKey {
    const a = { guild_id: id('guildId', guildId), admin_user_id: id('adminUserId', adminUserId), master_key: str('masterKey', masterKey) }
    return this.#run('generate_key', JSON.stringify(opts(a, options, KEY, 'generateKey options')))
  }

  /** Mints a sub-key from an Enterprise or Admin key (it shares the parent's budget). */
  mintSubKey(parentKey: string, guildId: Id, options?: SubKeyOptions): NewKey {
    const a = { parent_key: str('parentKey', parentKey), guild_id: id('guildId', guildId) }
    return this.#run('mint_sub_key', JSON.stringify(opts(a, options, SUB_KEY, 'mintSubKey options')))
  }

  /**
   * May this key do `action` on this guild now? A {@link Grant} with the headers to send, or a
   * {@link TimeledgerError} (`RATE_001` with `Retry-After` when over the limit).
   */
  authorize(apiKey: string, guildId: Id, action: string, options?: AuthorizeOptions): Grant {
    const a = { api_key: str('apiKey', apiKey), guild_id: id('guildId', guildId), action: str('action', action) }
    return this.#run('authorize', JSON.stringify(options === undefined ? a : opts(a, options, AUTHORIZE, 'authorize options')))
  }

  /** `shared` (default: exact across processes) or `memory` (this process only, counts from zero). */
  setRateLimiter(mode: 'shared' | 'memory'): Success {
    return this.#run('set_rate_limiter', JSON.stringify({ mode: str('mode', mode) }))
  }

  /** A guild's keys (metadata only). */
  listKeys(guildId: Id): KeyInfo[] {
    return this.#run('list_keys', JSON.stringify({ guild_id: id('guildId', guildId) }))
  }

  /** One key's metadata. */
  getKey(keyId: string): KeyInfo {
    return this.#run('get_key', JSON.stringify({ key_id: str('keyId', keyId) }))
  }

  /** Revokes a key and its sub-keys. */
  revokeKey(keyId: string): KeyInfo {
    return this.#run('revoke_key', JSON.stringify({ key_id: str('keyId', keyId) }))
  }

  /** Replaces a key with a new one; the old one works for `graceSeconds`. */
  rotateKey(keyId: string, options?: RotateOptions): NewKey {
    return this.#run('rotate_key', JSON.stringify(opts({ key_id: str('keyId', keyId) }, options, ROTATE, 'rotateKey options')))
  }

  /** Changes a key's tier (the key itself stays) or name. */
  updateKey(keyId: string, changes: KeyUpdate): KeyInfo {
    return this.#run('update_key', JSON.stringify(opts({ key_id: str('keyId', keyId) }, changes, KEY_UPDATE, 'updateKey changes')))
  }

  /** The key audit trail, newest first. */
  keyEvents(filter?: KeyEventFilter): KeyEvent[] {
    return this.#run('key_events', JSON.stringify(opts({}, filter, KEY_EVENTS, 'keyEvents filter')))
  }

  /** The tier table in force. */
  tiers(): Tier[] {
    return this.#run('tiers', '{}')
  }

  /** Replaces the tier table. */
  setTiers(tiers: TierInput[]): Tier[] {
    if (!Array.isArray(tiers)) throw new TypeError(`tiers must be an array, not ${kind(tiers)}`)
    return this.#run('set_tiers', toJson({ tiers }))
  }

  /** Finds the key in a request's headers (`X-API-Key`, `Authorization`) or query (`api_key`). */
  extractKey(sources: KeySources): { api_key: string | null } {
    return this.#run('extract_key', JSON.stringify(opts({}, sources, SOURCES, 'extractKey sources')))
  }
}
