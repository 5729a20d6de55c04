// The Node API: every operation, errors and their codes, bigint ids, argument checks, and the
// async variants running beside synchronous calls.
'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Engine, TimeledgerError } = require('..')

const G = 123456789012345678n // guild: beyond 2^53
const BIG = 1234567890123456789n // a Discord-size user id
const NOW = '2025-10-10T14:30:00Z'
const MASTER = 'master-key-for-tests-0123456789abcdef'

function fresh() {
  const ledger = new Engine(':memory:')
  ledger.setNow(NOW)
  return ledger
}

function throwsCode(fn, code, status) {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof TimeledgerError, `expected a TimeledgerError, got ${e}`)
    assert.ok(e instanceof Error)
    assert.equal(e.code, code)
    if (status !== undefined) assert.equal(e.status, status)
    return true
  })
}

test('bigint ids go in exactly and come back as the same digits, as strings', () => {
  const ledger = fresh()
  ledger.createCategory(G, 'Dev')
  const r = ledger.clockIn(G, BIG, 'dev')
  assert.equal(r.user_id, '1234567890123456789')
  assert.equal(typeof r.user_id, 'string')
  // The same id as a decimal string and, where it fits, as a number, reach the same user.
  assert.equal(ledger.activeSession(G.toString(), '1234567890123456789').user_id, BIG.toString())
  ledger.createCategory(5, 'Ops')
  ledger.clockIn(5, 42, 'ops')
  assert.equal(ledger.activeSession(5n, 42n).guild_id, '5')
  // Results survive JSON.stringify (hosts send them straight back) and keep every digit.
  const text = JSON.stringify(ledger.guildStatus(G))
  assert.match(text, /"guild_id":"123456789012345678"/)
  assert.equal(BigInt(JSON.parse(text).guild_id), G)
})

test('ids that a number cannot hold exactly are refused with a TypeError, not rounded', () => {
  const ledger = fresh()
  assert.throws(() => ledger.guildStatus(1234567890123456789), TypeError)
  assert.throws(() => ledger.guildStatus(1.5), TypeError)
  assert.throws(() => ledger.guildStatus(2n ** 63n), RangeError)
  assert.equal(ledger.guildStatus(-(2n ** 63n)).guild_id, (-(2n ** 63n)).toString())
  throwsCode(() => ledger.guildStatus('12x'), 'INVALID_INPUT', 400)
})

test('wrong argument types are TypeErrors naming the argument; unknown options are refused', () => {
  const ledger = fresh()
  const cases = [
    [() => ledger.clockIn(1, 2, 42), /category/],
    [() => ledger.clockIn(1, {}, 'dev'), /userId/],
    [() => ledger.clockIn(1, 2, 'dev', { at: {} }), /at/],
    [() => ledger.clockIn(1, 2, 'dev', { switch: 'yes' }), /switch/],
    [() => ledger.clockIn(1, 2, 'dev', { descripton: 'typo' }), /descripton/],
    [() => ledger.clockIn(1, 2, 'dev', 'not options'), /options/],
    [() => ledger.leaderboard(1, { limit: 2.5 }), /limit/],
    [() => ledger.report(1, { groupBy: 'user' }), /groupBy/],
    [() => ledger.ingestHeartbeats(1, 2, 42), /heartbeats/],
    [() => ledger.ingestHeartbeats(1, 2, [{ entity: 'a', time: 1n }, { self: null }].map((x, i) => (i ? Object.assign(x, { self: x }) : x))), /circular/i],
    [() => ledger.setTiers('gold'), /tiers/],
    [() => ledger.call(42), /op/],
    [() => new Engine(42), /path/],
  ]
  for (const [fn, message] of cases) assert.throws(fn, (e) => e instanceof TypeError && message.test(e.message))
  assert.throws(() => ledger.clockIn(1, 2, 'dev', { at: new Date('nonsense') }), RangeError)
})

test('engine errors carry code, status, the error body (toJSON) and headers', () => {
  const ledger = fresh()
  let err
  try {
    ledger.clockOut(1, 2)
  } catch (e) {
    err = e
  }
  assert.ok(err instanceof TimeledgerError)
  assert.equal(err.name, 'TimeledgerError')
  assert.equal(err.code, 'NO_ACTIVE_SESSION')
  assert.equal(err.status, 409)
  assert.deepEqual(JSON.parse(JSON.stringify(err)), { error: 'Conflict', code: 'NO_ACTIVE_SESSION', message: err.message })
  assert.match(err.stack, /engine\.test\.js/)
  throwsCode(() => ledger.getUser(99), 'USER_NOT_FOUND', 404)
  throwsCode(() => ledger.clockIn(1, 2, 'nope'), 'CATEGORY_NOT_FOUND', 404)
  throwsCode(() => ledger.call('no_such_op'), 'INVALID_INPUT', 400)
  throwsCode(() => ledger.call('clock_in', { guild_id: 1 }), 'INVALID_INPUT', 400)
  throwsCode(() => ledger.ingestHeartbeats(1, 2, '{not json'), 'INVALID_INPUT', 400)
  throwsCode(() => new Engine(path.join(os.tmpdir(), 'no-such-dir-ledger', 'x', 'db.sqlite')), 'STORAGE_ERROR')
})

test('guild settings, users, admins, trust', () => {
  const ledger = fresh()
  assert.equal(ledger.guildSettings(G).timezone, 'UTC')
  const s = ledger.updateGuild(G, { timezone: 'Europe/Paris', weekStart: 'sunday', maxSessionSeconds: 3600, allowOverlap: true, heartbeatTimeoutSeconds: 600 })
  assert.deepEqual(s, { guild_id: G.toString(), timezone: 'Europe/Paris', week_start: 'sunday', max_session_seconds: 3600, allow_overlap: true, heartbeat_timeout_seconds: 600 })
  throwsCode(() => ledger.updateGuild(G, { timezone: 'Mars/Base' }), 'INVALID_INPUT', 400)
  const u = ledger.upsertUser(BIG, 'alice', { displayName: 'Alice', email: 'Alice@Example.com', slackUid: 'U123', guildId: G, isAdmin: true })
  assert.equal(u.user_id, BIG.toString())
  assert.equal(u.display_name, 'Alice')
  assert.equal(ledger.getUser(BIG).username, 'alice')
  assert.equal(ledger.upsertUser(BIG, 'alice', { timeZone: 'Asia/Tokyo' }).time_zone, 'Asia/Tokyo')
  const imported = ledger.importEntries(G, [{ user_id: BIG, category: 'Imported', start: '2025-01-02T09:00:00Z', end: new Date('2025-01-02T10:00:00Z') }])
  assert.equal(imported.imported, 0)
  assert.equal(imported.errors[0].error.code, 'CATEGORY_NOT_FOUND')
  assert.throws(() => ledger.importEntries(G, 'nope'), TypeError)
  const dump = path.join(os.tmpdir(), `tl-node-export-${process.pid}.jsonl`)
  assert.equal(ledger.exportFile(dump, { guildId: G }).lines.guild, 1)
  assert.equal(ledger.importFile('timeledger', dump).refused, 0)
  throwsCode(() => ledger.importFile('toml', dump), 'INVALID_INPUT', 400)
  const members = ledger.listMembers(G, { perPage: 10 })
  assert.deepEqual(members.data.map((m) => [m.user_id, m.is_admin]), [[String(BIG), true]])
  assert.equal(ledger.findUserByEmail('alice@example.com').user_id, BIG.toString())
  assert.equal(ledger.findUserBySlackUid('U123').username, 'alice')
  assert.equal(ledger.setTrustLevel(BIG, 'red').trust_level, 'red')
  assert.deepEqual(ledger.isAdmin(G, BIG), { is_admin: true })
  assert.deepEqual(ledger.setAdmin(G, BIG, false), { success: true })
  assert.deepEqual(ledger.isAdmin(G, BIG), { is_admin: false })
})

test('categories: create, list, get, update, rename, archive, delete', () => {
  const ledger = fresh()
  const c = ledger.createCategory(1, 'Dev', { description: 'code', color: '#00ff00' })
  assert.deepEqual(c, { name: 'Dev', description: 'code', color: '#00ff00', archived: false, sessions: 0, total_seconds: 0 })
  throwsCode(() => ledger.createCategory(1, 'DEV'), 'CATEGORY_EXISTS')
  assert.equal(ledger.getCategory(1, 'dev').name, 'Dev')
  assert.equal(ledger.updateCategory(1, 'dev', { description: 'writing code' }).description, 'writing code')
  assert.equal(ledger.renameCategory(1, 'dev', 'Development').name, 'Development')
  assert.equal(ledger.archiveCategory(1, 'development').archived, true)
  assert.equal(ledger.listCategories(1).length, 0)
  assert.equal(ledger.listCategories(1, { includeArchived: true }).length, 1)
  throwsCode(() => ledger.clockIn(1, 2, 'development'), 'CATEGORY_ARCHIVED')
  assert.equal(ledger.updateCategory(1, 'development', { archived: false }).archived, false)
  ledger.clockIn(1, 2, 'development')
  throwsCode(() => ledger.deleteCategory(1, 'development'), 'CATEGORY_IN_USE', 409)
  ledger.createCategory(1, 'Spare')
  assert.deepEqual(ledger.deleteCategory(1, 'spare'), { success: true })
})

test('sessions: clock in/out with Date and seconds, switch, entries, get, update, delete, list', () => {
  const ledger = fresh()
  ledger.createCategory(1, 'Dev')
  ledger.createCategory(1, 'Meetings')
  const ci = ledger.clockIn(1, 2, 'dev', { description: 'API', at: new Date('2025-10-10T14:00:00Z') })
  assert.deepEqual(Object.keys(ci).sort(), ['category', 'description', 'session_id', 'start_time', 'success', 'user_id'])
  assert.equal(ci.start_time, '2025-10-10T14:00:00Z')
  throwsCode(() => ledger.clockIn(1, 2, 'dev'), 'SESSION_ALREADY_ACTIVE', 409)
  ledger.clockIn(1, 2, 'meetings', { switch: true })
  assert.equal(ledger.activeSession(1, 2).category, 'Meetings')
  ledger.setNow('2025-10-10T16:00:00Z')
  const out = ledger.clockOut(1, 2, { at: Date.parse('2025-10-10T15:00:00Z') / 1000 })
  assert.equal(out.duration, 1800)
  assert.equal(out.running, false)
  assert.equal(ledger.activeSession(1, 2), null)
  const e = ledger.addEntry(1, 2, 'dev', '2025-10-09T10:00:00Z', new Date('2025-10-09T12:00:00Z'), { billable: true, description: 'manual' })
  assert.equal(e.duration, 7200)
  assert.equal(e.billable, true)
  throwsCode(() => ledger.addEntry(1, 2, 'dev', '2025-10-09T11:00:00Z', '2025-10-09T11:30:00Z'), 'SESSION_OVERLAP', 409)
  assert.equal(ledger.getSession(1, e.id).description, 'manual')
  assert.equal(ledger.updateSession(1, e.id, { end: '2025-10-09T11:00:00Z', billable: false }).duration, 3600)
  const page = ledger.listSessions(1, { userId: 2, perPage: 2, page: 1 })
  assert.deepEqual(page.meta, { total: 3, page: 1, per_page: 2 })
  assert.equal(page.data.length, 2)
  assert.equal(ledger.listSessions(1, { category: 'meetings' }).meta.total, 1)
  assert.equal(ledger.listSessions(1, { from: '2025-10-10T00:00:00Z', to: new Date('2025-10-11T00:00:00Z') }).meta.total, 2)
  assert.deepEqual(ledger.deleteSession(1, e.id), { success: true })
  throwsCode(() => ledger.getSession(1, e.id), 'SESSION_NOT_FOUND', 404)
})

test('aggregates: status, leaderboard, report (sync and async agree)', async () => {
  const ledger = fresh()
  ledger.createCategory(G, 'Dev')
  ledger.upsertUser(BIG, 'alice', { guildId: G })
  ledger.upsertUser(7, 'bob', { guildId: G })
  ledger.addEntry(G, BIG, 'dev', '2025-10-10T08:00:00Z', '2025-10-10T10:00:00Z')
  ledger.addEntry(G, 7, 'dev', '2025-10-10T08:00:00Z', '2025-10-10T09:00:00Z')
  const status = ledger.guildStatus(G)
  assert.deepEqual(status, { guild_id: G.toString(), total_time_seconds: 10800, total_time_hours: 3, total_users: 2, active_sessions: 0, categories: { Dev: 10800 } })
  const board = ledger.leaderboard(G, { timeframe: 'week', limit: 10 })
  assert.deepEqual(board.leaderboard.map((r) => [r.rank, r.user_id, r.username, r.hours]), [[1, BIG.toString(), 'alice', 2], [2, '7', 'bob', 1]])
  const report = ledger.report(G, { timeframe: 'today', groupBy: ['user', 'day'] })
  assert.equal(report.total_seconds, 10800)
  assert.equal(report.rows.length, 2)
  assert.deepEqual(await ledger.guildStatusAsync(G), status)
  assert.deepEqual(await ledger.leaderboardAsync(G, { timeframe: 'week', limit: 10 }), board)
  assert.deepEqual(await ledger.reportAsync(G, { timeframe: 'today', groupBy: ['user', 'day'] }), report)
  assert.deepEqual(await ledger.listSessionsAsync(G, { userId: BIG }), ledger.listSessions(G, { userId: BIG }))
  await assert.rejects(ledger.leaderboardAsync(G, { timeframe: 'fortnight' }), (e) => e instanceof TimeledgerError && e.code === 'INVALID_INPUT')
})

test('bulk ingest (flat native road) answers exactly what the generic JSON road answers', () => {
  const [a, b] = [fresh(), fresh()]
  const t0 = Date.parse('2025-10-10T12:00:00Z') / 1000
  const beats = [
    { entity: 'src/main.rs', type: 'file', time: t0 + 0.125, project: 'ledger' },
    { entity: 'dir/"quoted"\\ \u00fc \ud83c\udf89.rs', time: t0 + 30 },
    { type: 'file', time: t0 + 60 },
    { entity: 'https://example.com/a?b=c', type: 'url', time: t0 + 90.5 },
    { entity: 'src/main.rs', type: 'file', time: t0 + 0.125, project: 'ledger' },
    'not an object',
  ]
  const flat = a.ingestHeartbeats(G, BIG, beats)
  const nested = b.call('ingest_heartbeats', { guild_id: G, user_id: BIG, heartbeats: beats })
  assert.equal(JSON.stringify(flat), JSON.stringify(nested))
  assert.deepEqual(flat.responses.map((x) => x[1]), nested.responses.map((x) => x[1]))
  assert.ok(flat.responses.some((x) => x[1] === 400) && flat.responses.some((x) => x[1] === 201))
  assert.equal(flat.responses[1][0].data.entity, 'dir/"quoted"\\ \u00fc \ud83c\udf89.rs')
})

test('heartbeats: objects, raw JSON, Buffer; dedup; reads; stats; coding leaderboard', async () => {
  const ledger = fresh()
  ledger.upsertUser(BIG, 'alice', { guildId: G })
  const t0 = Date.parse('2025-10-10T12:00:00Z') / 1000
  const beats = [0, 60, 120].map((s) => ({ entity: 'src/main.rs', type: 'file', time: t0 + s, project: 'ledger', language: 'Rust' }))
  const r = ledger.ingestHeartbeats(G, BIG, beats, { userAgent: 'wakatime/1.0 (linux) vscode/1.90', machineName: 'laptop' })
  assert.deepEqual(r.responses.map((x) => x[1]), [201, 201, 201])
  // A retry of the same bulk is harmless, and a raw body (string or Buffer) is accepted.
  assert.deepEqual(ledger.ingestHeartbeats(G, BIG, JSON.stringify(beats)).responses.map((x) => x[1]), [202, 202, 202])
  const more = [{ entity: 'src/lib.rs', type: 'file', time: t0 + 180 }, { type: 'file', time: t0 + 200 }]
  const mixed = ledger.ingestHeartbeats(G, BIG, Buffer.from(JSON.stringify(more)))
  assert.deepEqual(mixed.responses.map((x) => x[1]), [201, 400])
  assert.match(mixed.responses[1][0].error, /entity/)
  const single = await ledger.ingestHeartbeatsAsync(G, BIG, { entity: 'README.md', type: 'file', time: t0 + 240 })
  assert.equal(single.responses[0][1], 201)
  const list = ledger.listHeartbeats(G, BIG, { start: '2025-10-10T00:00:00Z', end: new Date('2025-10-11T00:00:00Z'), limit: 100 })
  assert.equal(list.data.length, 5)
  assert.equal(list.data[0].user_id, BIG.toString())
  assert.equal(list.data[0].editor, 'VS Code')
  assert.equal(list.data[0].machine, 'laptop')
  assert.equal(ledger.mostRecentHeartbeat(G, BIG).data.entity, 'README.md')
  ledger.setNow('2025-10-10T18:00:00Z')
  const bar = ledger.statusbarToday(G, BIG)
  assert.equal(bar.data.grand_total.total_seconds, 240)
  assert.equal(bar.data.grand_total.text, '4 mins')
  const stats = ledger.codingStats(G, BIG, { timeframe: 'today' })
  assert.equal(stats.total_seconds, 240)
  assert.equal(stats.user_id, BIG.toString())
  assert.deepEqual(await ledger.codingStatsAsync(G, BIG, { timeframe: 'today' }), stats)
  const lb = ledger.codingLeaderboard(G, { period: 'daily' })
  assert.equal(lb.entries[0].user.id, BIG.toString())
  assert.equal(lb.entries[0].total_seconds, 240)
  assert.deepEqual(await ledger.codingLeaderboardAsync(G, { period: 'daily' }), lb)
  ledger.setTrustLevel(BIG, 'red')
  assert.equal(ledger.codingLeaderboard(G, { period: 'weekly' }).entries.length, 0)
})

test('keys: master key, generate, authorize, sub-keys, update, rotate, revoke, events, tiers, extract', () => {
  const ledger = fresh()
  ledger.upsertUser(2, 'admin', { guildId: G, isAdmin: true })
  throwsCode(() => ledger.generateKey(G, 2, MASTER), 'INVALID_MASTER_KEY')
  assert.deepEqual(ledger.setMasterKey(MASTER), { success: true })
  assert.deepEqual(ledger.keyPrefix(), { key_prefix: 'tl' })
  throwsCode(() => ledger.setKeyPrefix('TL'), 'INVALID_INPUT', 400)
  throwsCode(() => ledger.generateKey(G, 2, 'wrong-master-key-xxxxxxxxxxxxxxxx'), 'INVALID_MASTER_KEY')
  const k = ledger.generateKey(G, 2, MASTER, { tier: 'enterprise', name: 'bot', expiresAt: new Date('2026-10-10T00:00:00Z') })
  assert.match(k.api_key, /^tl_live_[0-9A-Za-z]{49}$/)
  assert.equal(k.guild_id, G.toString())
  assert.equal(k.expires_at, '2026-10-10T00:00:00Z')
  const g = ledger.authorize(k.api_key, G, 'read_status')
  assert.equal(g.tier, 'ENTERPRISE')
  assert.equal(g.remaining, g.limit - 1)
  assert.equal(g.headers['X-RateLimit-Limit'], String(g.limit))
  assert.equal(ledger.getKey(k.key_id).request_count, 1)
  throwsCode(() => ledger.authorize(k.api_key, 999, 'read_status'), 'WRONG_GUILD', 403)
  throwsCode(() => ledger.authorize(k.api_key.slice(0, -1) + (k.api_key.endsWith('x') ? 'y' : 'x'), G, 'read_status'), 'INVALID_API_KEY', 401)
  const sub = ledger.mintSubKey(k.api_key, G, { tier: 'supporter', permissions: ['read_status'], name: 'sub', form: 'uuid' })
  assert.match(sub.api_key, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  assert.equal(ledger.authorize(`waka_${sub.api_key}`, G, 'read_status').tier, 'SUPPORTER')
  assert.equal(ledger.authorize(sub.api_key, G, 'read_status', { targetUserId: 2n }).tier, 'SUPPORTER')
  const keys = ledger.listKeys(G)
  assert.equal(keys.length, 2)
  assert.equal(keys[0].owner_user_id, '2')
  assert.equal(ledger.updateKey(k.key_id, { tier: 'premium', name: 'renamed' }).tier, 'PREMIUM')
  const rotated = ledger.rotateKey(k.key_id, { graceSeconds: 60 })
  assert.notEqual(rotated.api_key, k.api_key)
  assert.equal(ledger.getKey(k.key_id).status, 'rotated')
  assert.equal(ledger.revokeKey(rotated.key_id).status, 'revoked')
  throwsCode(() => ledger.authorize(rotated.api_key, G, 'read_status'), 'KEY_REVOKED', 401)
  const events = ledger.keyEvents({ guildId: G, limit: 3 })
  assert.equal(events.length, 3)
  assert.equal(events[0].event, 'revoked')
  assert.equal(typeof events[0].id, 'string')
  assert.ok(ledger.keyEvents({ keyId: k.key_id }).length >= 2)
  const tiers = ledger.tiers()
  assert.deepEqual(tiers.map((t) => t.name), ['SUPPORTER', 'PREMIUM', 'ENTERPRISE', 'ADMIN'])
  // Tiers in use must stay defined; the table can grow.
  throwsCode(() => ledger.setTiers([{ name: 'FREE', rank: 1, per_minute: 2, permissions: ['read_status'] }]), 'INVALID_INPUT', 400)
  const mine = ledger.setTiers([...tiers, { name: 'FREE', rank: 0, per_minute: 2, permissions: ['read_status'] }])
  assert.deepEqual(mine.map((t) => t.name).sort(), ['ADMIN', 'ENTERPRISE', 'FREE', 'PREMIUM', 'SUPPORTER'])
  assert.deepEqual(ledger.extractKey({ headers: { Authorization: 'Bearer abc' } }), { api_key: 'abc' })
  assert.deepEqual(ledger.extractKey({ query: { api_key: 'q' } }), { api_key: 'q' })
  assert.deepEqual(ledger.extractKey({}), { api_key: null })
  throwsCode(() => ledger.extractKey({ headers: { 'X-API-Key': 'a', Authorization: 'Bearer b' } }), 'CONFLICTING_KEYS', 400)
})

test('rate limited: RATE_001 with remaining, resetIn and Retry-After; the memory limiter', () => {
  const ledger = fresh()
  ledger.setMasterKey(MASTER)
  ledger.setTiers([{ name: 'TINY', rank: 1, per_minute: 2, permissions: ['read_status'] }])
  const k = ledger.generateKey(1, 2, MASTER, { tier: 'tiny' })
  ledger.authorize(k.api_key, 1, 'read_status')
  ledger.authorize(k.api_key, 1, 'read_status')
  let err
  try {
    ledger.authorize(k.api_key, 1, 'read_status')
  } catch (e) {
    err = e
  }
  assert.ok(err instanceof TimeledgerError)
  assert.equal(err.code, 'RATE_001')
  assert.equal(err.status, 429)
  assert.equal(err.remaining, 0)
  assert.ok(err.resetIn > 60 && err.resetIn <= 120, `Retry-After ${err.resetIn}: the earliest admission, in the next window`)
  assert.equal(err.headers['Retry-After'], String(err.resetIn))
  assert.equal(JSON.parse(JSON.stringify(err)).code, 'RATE_001')
  assert.deepEqual(ledger.setRateLimiter('memory'), { success: true })
  assert.equal(ledger.authorize(k.api_key, 1, 'read_status').remaining, 1)
  throwsCode(() => ledger.setRateLimiter('redis'), 'INVALID_INPUT', 400)
  assert.deepEqual(ledger.setDurability('full'), { durability: 'full' })
  throwsCode(() => ledger.setDurability('paranoid'), 'INVALID_INPUT', 400)
})

test('generic call and operations(): every operation is a method too', () => {
  const ledger = fresh()
  const ops = Engine.operations()
  assert.ok(ops.length >= 45)
  const camel = (k) => k.replace(/_([a-z])/g, (_, c) => c.toUpperCase())
  for (const op of ops) assert.equal(typeof ledger[camel(op)], 'function', `missing Engine.${camel(op)}`)
  ledger.call('create_category', { guild_id: G, name: 'Dev' })
  assert.equal(ledger.call('clock_in', { guild_id: G, user_id: BIG, category: 'dev' }).user_id, BIG.toString())
  // Nested bigints are passed exactly (here a nanosecond timestamp, rescaled by the engine).
  const r = ledger.call('ingest_heartbeats', { guild_id: 1, user_id: 2, heartbeats: [{ entity: 'a', time: 1760083380000000000n }] })
  assert.equal(r.responses[0][0].data.time, 1760083380)
})

test('async variants run off the main thread while sync calls go on', async () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ledger-node-')), 'async.db')
  const ledger = new Engine(file)
  ledger.setNow(NOW)
  ledger.createCategory(1, 'Dev')
  const t0 = Date.parse('2025-10-10T00:00:00Z') / 1000
  const batches = Array.from({ length: 8 }, (_, b) =>
    Array.from({ length: 500 }, (_, i) => ({ entity: `f${b}.rs`, type: 'file', time: t0 + b * 5000 + i * 10 })))
  let ticks = 0
  const timer = setInterval(() => ticks++, 0)
  const pending = batches.map((batch, b) => ledger.ingestHeartbeatsAsync(1, 100 + b, batch))
  // While the batches are ingested on the thread pool, the main thread keeps working.
  for (let u = 0; u < 50; u++) {
    ledger.clockIn(1, 1000 + u, 'dev')
    ledger.clockOut(1, 1000 + u)
  }
  const results = await Promise.all(pending)
  clearInterval(timer)
  for (const r of results) assert.deepEqual(new Set(r.responses.map((x) => x[1])), new Set([201]))
  for (let b = 0; b < 8; b++) assert.ok(ledger.listHeartbeats(1, 100 + b, { start: t0, end: t0 + 86400 }).data.length > 0)
  assert.equal(ledger.guildStatus(1).total_users, 50)
  assert.ok(ticks > 0, 'the event loop ran while async work was pending')
  // A file engine opened again (another process or worker would do the same) sees every write.
  const again = new Engine(file)
  again.setNow('2025-10-11T00:00:00Z')
  assert.equal(again.codingStats(1, 100, { timeframe: 'all' }).total_seconds, 499 * 10)
})

test('hostile arguments get TimeledgerError INVALID_INPUT, never a crash or an untyped error', () => {
  const ledger = fresh()
  let deep = 1
  for (let i = 0; i < 200000; i++) deep = [deep]
  throwsCode(() => ledger.call('guild_status', { guild_id: deep }), 'INVALID_INPUT', 400)
  throwsCode(() => ledger.ingestHeartbeats(1, 2, [deep]), 'INVALID_INPUT', 400)
  let shallow = 1
  for (let i = 0; i < 1000; i++) shallow = [shallow]
  throwsCode(() => ledger.call('guild_status', { guild_id: shallow }), 'INVALID_INPUT', 400)
  const bad = Buffer.from([0x5b, 0x7b, 0x22, 0x65, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d, 0x5d]) // [{"e":"\xff\xfe"}]
  try {
    ledger.ingestHeartbeats(1, 2, bad)
    assert.fail('expected INVALID_INPUT')
  } catch (e) {
    assert.ok(e instanceof TimeledgerError)
    assert.equal(e.code, 'INVALID_INPUT')
    assert.equal(e.body.field, 'heartbeats')
  }
  throwsCode(() => ledger.call('guild_status', { guild_id: 2n ** 64n }), 'INVALID_INPUT', 400)
  throwsCode(() => new Engine(''), 'INVALID_INPUT', 400)
})

test('handle: the HTTP API in process, with headers as an object or pairs', () => {
  const ledger = fresh()
  ledger.setMasterKey(MASTER)
  const created = ledger.handle('POST', '/api/v1/auth/generate', { 'content-type': 'application/json' },
    JSON.stringify({ guild_id: 1, admin_user_id: 2, master_key: MASTER, tier: 'PREMIUM' }))
  assert.equal(created.status, 201)
  const key = JSON.parse(created.body.toString()).api_key
  const r = ledger.handle('GET', '/api/v1/guild/1/status', [['X-API-Key', key]])
  assert.equal(r.status, 200)
  assert.equal(r.headers['x-api-tier'], 'PREMIUM')
  assert.equal(JSON.parse(r.body.toString()).guild_id, 1)
  assert.equal(ledger.handle('G E T', '/').status, 400)
  assert.throws(() => ledger.handle('GET', '/', {}, 5), TypeError)
})
