// Node binding overhead: authorize (shared limiter), clockIn / clockOut, bulk ingest of 1000
// heartbeats, each against the same operation through the Rust API, measured in the same run.
//
//     bash scripts/bench-node.sh      # builds the addon in release mode, then runs this
//
// Targets: per call within 2x of Rust; bulk ingest at least 0.7x the Rust rate.
'use strict'
const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Engine } = require('.')

const ROOT = path.join(__dirname, '..')
const MASTER = 'bench-master-key-0123456789'

function beats(batch, n) {
  const out = []
  for (let i = 0; i < n; i++) {
    const k = batch * n + i
    out.push({ entity: `src/file${k % 17}.rs`, time: 1735689600.0 + k * 30.0, project: 'bench', language: 'Rust', is_write: k % 5 === 0 })
  }
  return out
}

function median(v) {
  v.sort((a, b) => a - b)
  return v[Math.floor(v.length / 2)]
}

function nodeSide() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ledger-node-bench-'))
  const e = new Engine(path.join(dir, 'ops.db'))
  e.setMasterKey(MASTER)
  e.setTiers([{ name: 'BENCH', rank: 1, per_minute: 1_000_000_000, permissions: ['read_status'] }])
  const key = e.generateKey(1, 1, MASTER, { tier: 'BENCH' }).api_key
  e.createCategory(1, 'Dev')
  const us = (t) => Number(process.hrtime.bigint() - t) / 1e3
  const auth = []
  for (let i = 0; i < 3000; i++) {
    const t = process.hrtime.bigint()
    e.authorize(key, 1, 'read_status')
    auth.push(us(t))
  }
  const cin = []
  const cout = []
  for (let i = 0; i < 1500; i++) {
    let t = process.hrtime.bigint()
    e.clockIn(1, 7, 'Dev')
    cin.push(us(t))
    t = process.hrtime.bigint()
    e.clockOut(1, 7)
    cout.push(us(t))
  }
  const ingest = []
  for (let b = 0; b < 40; b++) {
    const body = beats(b, 1000) // an array of objects, as a web framework hands it over
    const t = process.hrtime.bigint()
    e.ingestHeartbeats(1, 9, body)
    ingest.push(1000 / (us(t) / 1e6))
  }
  fs.rmSync(dir, { recursive: true, force: true })
  return { authorize_us: median(auth), clock_in_us: median(cin), clock_out_us: median(cout), ingest_per_s: median(ingest) }
}

const rust = JSON.parse(execFileSync('cargo', ['run', '--release', '-q', '-p', 'timeledger', '--example', 'bench_ops'], { cwd: ROOT, encoding: 'utf8' }))
const js = nodeSide()
const pad = (s, n) => String(s).padStart(n)
console.log(`${'operation'.padEnd(14)} ${pad('rust', 12)} ${pad('node', 12)} ${pad('ratio', 8)}  target`)
for (const k of ['authorize_us', 'clock_in_us', 'clock_out_us']) {
  console.log(`${k.slice(0, -3).padEnd(14)} ${pad(rust[k].toFixed(1), 10)}us ${pad(js[k].toFixed(1), 10)}us ${pad((js[k] / rust[k]).toFixed(2), 7)}x  <= 2x`)
}
const k = 'ingest_per_s'
console.log(`${'bulk ingest'.padEnd(14)} ${pad(rust[k].toFixed(0), 10)}/s ${pad(js[k].toFixed(0), 10)}/s ${pad((js[k] / rust[k]).toFixed(2), 7)}x  >= 0.7x`)
