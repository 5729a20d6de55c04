// Plays every tests/scenarios/*.json through the Node API (format: tests/scenarios/README.md).
//
// Each step calls the camelCase method of its operation: the arguments the method takes
// positionally (table below) are passed in order, the rest as its options object with camelCase
// keys. So the scenarios also check that every operation is reachable from Node under its
// documented name. Ids in the files are read exactly (integers beyond 2^53 become bigints) and
// results carry ids as decimal strings, which match the files' integers digit for digit. Where a
// scenario expects INVALID_INPUT for a missing or wrongly typed argument, Node may refuse the call
// itself with a TypeError; that counts, provided the message names the expected field.
'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const { execFileSync } = require('node:child_process')
const path = require('node:path')
const { Engine, TimeledgerError } = require('..')

const DIR = path.join(__dirname, '..', '..', 'tests', 'scenarios')

/** op -> [method, positional argument names]. Every other argument goes in the options object. */
const METHODS = {
  guild_settings: ['guildSettings', ['guild_id']],
  update_guild: ['updateGuild', ['guild_id']],
  upsert_user: ['upsertUser', ['user_id', 'username']],
  get_user: ['getUser', ['user_id']],
  list_members: ['listMembers', ['guild_id']],
  find_user_by_email: ['findUserByEmail', ['email']],
  find_user_by_slack_uid: ['findUserBySlackUid', ['slack_uid']],
  set_trust_level: ['setTrustLevel', ['user_id', 'trust_level']],
  set_admin: ['setAdmin', ['guild_id', 'user_id', 'is_admin']],
  is_admin: ['isAdmin', ['guild_id', 'user_id']],
  create_category: ['createCategory', ['guild_id', 'name']],
  list_categories: ['listCategories', ['guild_id']],
  get_category: ['getCategory', ['guild_id', 'name']],
  update_category: ['updateCategory', ['guild_id', 'name']],
  rename_category: ['renameCategory', ['guild_id', 'name', 'new_name']],
  archive_category: ['archiveCategory', ['guild_id', 'name']],
  delete_category: ['deleteCategory', ['guild_id', 'name']],
  clock_in: ['clockIn', ['guild_id', 'user_id', 'category']],
  clock_out: ['clockOut', ['guild_id', 'user_id']],
  active_session: ['activeSession', ['guild_id', 'user_id']],
  add_entry: ['addEntry', ['guild_id', 'user_id', 'category', 'start', 'end']],
  get_session: ['getSession', ['guild_id', 'session_id']],
  import_entries: ['importEntries', ['guild_id', 'entries']],
  import_file: ['importFile', ['format', 'path']],
  export_file: ['exportFile', ['path']],
  update_session: ['updateSession', ['guild_id', 'session_id']],
  delete_session: ['deleteSession', ['guild_id', 'session_id']],
  list_sessions: ['listSessions', ['guild_id']],
  guild_status: ['guildStatus', ['guild_id']],
  leaderboard: ['leaderboard', ['guild_id']],
  report: ['report', ['guild_id']],
  ingest_heartbeats: ['ingestHeartbeats', ['guild_id', 'user_id', 'heartbeats']],
  list_heartbeats: ['listHeartbeats', ['guild_id', 'user_id']],
  most_recent_heartbeat: ['mostRecentHeartbeat', ['guild_id', 'user_id']],
  statusbar_today: ['statusbarToday', ['guild_id', 'user_id']],
  coding_stats: ['codingStats', ['guild_id', 'user_id']],
  coding_summaries: ['codingSummaries', ['guild_id', 'user_id', 'start', 'end']],
  coding_leaderboard: ['codingLeaderboard', ['guild_id']],
  set_master_key: ['setMasterKey', ['master_key']],
  set_key_prefix: ['setKeyPrefix', ['prefix']],
  key_prefix: ['keyPrefix', []],
  generate_key: ['generateKey', ['guild_id', 'admin_user_id', 'master_key']],
  mint_sub_key: ['mintSubKey', ['parent_key', 'guild_id']],
  authorize: ['authorize', ['api_key', 'guild_id', 'action']],
  set_rate_limiter: ['setRateLimiter', ['mode']],
  set_durability: ['setDurability', ['mode']],
  list_keys: ['listKeys', ['guild_id']],
  get_key: ['getKey', ['key_id']],
  revoke_key: ['revokeKey', ['key_id']],
  rotate_key: ['rotateKey', ['key_id']],
  update_key: ['updateKey', ['key_id']],
  key_events: ['keyEvents', []],
  tiers: ['tiers', []],
  set_tiers: ['setTiers', ['tiers']],
  extract_key: ['extractKey', []],
}

const camel = (k) => k.replace(/_([a-z])/g, (_, c) => c.toUpperCase())

/** JSON.parse that keeps integers beyond 2^53 exact, as bigints. */
function parseExact(text) {
  const marked = text.replace(/"(?:[^"\\]|\\.)*"|(?<![\d.eE+-])-?\d{16,}(?![\d.eE])/g, (m) =>
    m[0] === '"' ? m : `{"$bigint":"${m}"}`)
  return JSON.parse(marked, (_k, v) =>
    v && typeof v === 'object' && typeof v.$bigint === 'string' && Object.keys(v).length === 1 ? BigInt(v.$bigint) : v)
}

function substitute(v, saved) {
  if (typeof v === 'string' && v.startsWith('$')) {
    assert.ok(v.slice(1) in saved, `nothing saved as ${v}`)
    return saved[v.slice(1)]
  }
  if (Array.isArray(v)) return v.map((x) => substitute(x, saved))
  if (v && typeof v === 'object' && typeof v !== 'bigint') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, substitute(x, saved)]))
  }
  return v
}

function matches(expected, actual, where) {
  if (expected === null) {
    assert.ok(actual === null || actual === undefined, `${where}: expected null, got ${JSON.stringify(actual)}`)
  } else if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), `${where}: expected an array, got ${JSON.stringify(actual)}`)
    assert.equal(actual.length, expected.length, `${where}: expected ${expected.length} items, got ${JSON.stringify(actual)}`)
    expected.forEach((e, i) => matches(e, actual[i], `${where}[${i}]`))
  } else if (typeof expected === 'object') {
    assert.ok(actual && typeof actual === 'object', `${where}: expected an object, got ${JSON.stringify(actual)}`)
    for (const [k, e] of Object.entries(expected)) matches(e, actual[k], `${where}.${k}`)
  } else if (typeof expected === 'number' || typeof expected === 'bigint') {
    if (typeof actual === 'string') {
      // Ids come back as decimal strings: the same digits as the file's integer.
      assert.equal(actual, BigInt(expected).toString(), `${where}: expected ${expected}, got ${JSON.stringify(actual)}`)
    } else {
      assert.equal(typeof actual, 'number', `${where}: expected ${expected}, got ${JSON.stringify(actual)}`)
      assert.ok(Math.abs(Number(expected) - actual) <= 1e-9, `${where}: expected ${expected}, got ${actual}`)
    }
  } else {
    assert.equal(actual, expected, `${where}`)
  }
}

function lookup(v, dotted) {
  for (const part of dotted.split('.').filter(Boolean)) v = v[part]
  return v
}

function invoke(engine, op, args) {
  const entry = METHODS[op]
  if (!entry) return engine.call(op, args) // unknown ops: the generic path answers INVALID_INPUT
  const [method, positional] = entry
  assert.equal(typeof engine[method], 'function', `Engine.${method} is missing in Node`)
  const options = {}
  for (const [k, v] of Object.entries(args)) if (!positional.includes(k)) options[camel(k)] = v
  return engine[method](...positional.map((k) => args[k]), options)
}

test('every operation has a method in the runner table', () => {
  assert.deepEqual(Object.keys(METHODS).sort(), Engine.operations().slice().sort())
})

// In memory, or with TIMELEDGER_TEST_POSTGRES set, on a new PostgreSQL database there.
function freshEngine (name) {
  const server = process.env.TIMELEDGER_TEST_POSTGRES
  if (!server) return new Engine(':memory:')
  const db = `timeledger_js_${name.toLowerCase().replace(/[^a-z0-9]/g, '_')}_${process.pid}`
  for (const sql of [`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`, `CREATE DATABASE ${db}`]) {
    execFileSync('psql', ['-q', '-v', 'ON_ERROR_STOP=1', server, '-c', sql], { stdio: 'pipe' })
  }
  return new Engine(server.slice(0, server.lastIndexOf('/') + 1) + db)
}

for (const file of fs.readdirSync(DIR).filter((f) => f.endsWith('.json')).sort()) {
  test(`scenario ${file}`, () => {
    const steps = parseExact(fs.readFileSync(path.join(DIR, file), 'utf8'))
    const engine = freshEngine(path.basename(file, '.json'))
    // A file in a fresh temporary folder for import_file/export_file, removed afterwards.
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'timeledger-scenario-'))
    test.after(() => fs.rmSync(scratch, { recursive: true, force: true }))
    const saved = { export_path: path.join(scratch, 'export.jsonl') }
    let calls = 0
    steps.forEach((step, i) => {
      const where = `${file} step ${i} (${step.op ?? '-'})`
      if ('now' in step) engine.setNow(step.now)
      if (!('op' in step)) return
      calls++
      const args = substitute(step.args ?? {}, saved)
      let result
      try {
        result = invoke(engine, step.op, args)
      } catch (e) {
        if (e instanceof TimeledgerError) {
          assert.ok('error' in step, `${where}: unexpected error ${e.code}: ${e.message}`)
          assert.equal(e.code, step.error, `${where}: expected ${step.error}, got ${e.code} (${e.message})`)
          if ('status' in step) assert.equal(e.status, step.status, where)
          if ('expect' in step) matches(substitute(step.expect, saved), JSON.parse(JSON.stringify(e)), `${where}: error`)
          return
        }
        if (e instanceof TypeError || e instanceof RangeError) {
          assert.equal(step.error, 'INVALID_INPUT', `${where}: unexpected ${e.name}: ${e.message}`)
          const field = step.expect?.field
          if (field) {
            assert.ok(e.message.includes(field) || e.message.includes(camel(field)), `${where}: ${e.name} does not name ${field}: ${e.message}`)
          }
          return
        }
        throw e
      }
      assert.ok(!('error' in step), `${where}: expected error ${step.error}, got ${JSON.stringify(result)}`)
      if ('expect' in step) matches(substitute(step.expect, saved), result, `${where}: result`)
      for (const [name, p] of Object.entries(step.save ?? {})) saved[name] = lookup(result, p)
    })
    assert.ok(calls > 0)
  })
}
