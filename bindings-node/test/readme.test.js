// The README's Node quickstart, run as written: copied into a fresh directory where
// `require('timeledger')` resolves to this package, as it would after `npm install`.
'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFileSync } = require('node:child_process')

test("the README's Node quickstart runs", () => {
  const readme = fs.readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8')
  const section = readme.split('## Node quickstart')[1]
  assert.ok(section, 'README has a Node quickstart')
  const code = /```js\n([\s\S]*?)```/.exec(section.split('\n## ')[0])[1]
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ledger-readme-'))
  fs.mkdirSync(path.join(dir, 'node_modules'))
  fs.symlinkSync(path.join(__dirname, '..'), path.join(dir, 'node_modules', 'timeledger'), 'dir')
  fs.writeFileSync(path.join(dir, 'quickstart.js'), code)
  for (const heartbeat of ['201', '202']) { // twice on the same file: the heartbeat is a duplicate the second time
    const out = execFileSync(process.execPath, ['quickstart.js'], { cwd: dir, encoding: 'utf8' })
    assert.match(out, /Session started: ses_\S+ at \S+Z for 1234567890123456789/)
    assert.match(out, /"guild_id":"123456789012345678"/)
    assert.match(out, /Total hours: 3\.5 /)
    assert.match(out, /NO_ACTIVE_SESSION 409/)
    assert.match(out, new RegExp(`heartbeat ${heartbeat}`))
  }
  assert.ok(fs.existsSync(path.join(dir, 'timeledger.db')))
})

test("the README's Node HTTP adapter serves the HTTP API", async () => {
  const readme = fs.readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8')
  const code = /```js\n([\s\S]*?)```/.exec(readme.split('### HTTP adapter (Node)')[1])[1]
  assert.ok(code.trim().split('\n').length <= 15, 'the adapter stays under 15 lines')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tl-adapter-'))
  fs.mkdirSync(path.join(dir, 'node_modules'))
  fs.symlinkSync(path.join(__dirname, '..'), path.join(dir, 'node_modules', 'timeledger'), 'dir')
  fs.writeFileSync(path.join(dir, 'server.js'), code)
  const { spawn } = require('node:child_process')
  const child = spawn(process.execPath, ['server.js'], { cwd: dir, env: { ...process.env, PORT: '0' } })
  try {
    const port = await new Promise((resolve, reject) => {
      child.stdout.on('data', (d) => {
        const m = /listening on (\d+)/.exec(String(d))
        if (m) resolve(Number(m[1]))
      })
      child.on('exit', (c) => reject(new Error(`adapter exited with ${c}`)))
    })
    const base = `http://127.0.0.1:${port}`
    const doc = await fetch(`${base}/api/v1/openapi.json`)
    assert.equal(doc.status, 200)
    assert.equal((await doc.json()).openapi, '3.1.0')
    const missing = await fetch(`${base}/api/v1/guild/1/status`)
    assert.equal(missing.status, 401)
    assert.equal((await missing.json()).code, 'MISSING_API_KEY')
    const bad = await fetch(`${base}/api/v1/auth/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"guild_id": ' })
    assert.equal(bad.status, 400)
    assert.equal((await bad.json()).field, 'body')
    const wrong = await fetch(`${base}/api/v1/guild/1/status`, { method: 'DELETE' })
    assert.equal(wrong.status, 405)
    assert.equal(wrong.headers.get('allow'), 'GET')
  } finally {
    child.kill()
  }
})
