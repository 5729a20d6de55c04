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
  const code = /```js\n([\s\S]*?)```/.exec(section)[1]
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
