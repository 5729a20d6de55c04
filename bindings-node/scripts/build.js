#!/usr/bin/env node
// Developer build (`npm run build`): compiles the native addon with cargo (release) into
// ./timeledger.node, then index.js and index.d.ts from src/index.ts with tsc. The published
// package (scripts/package.sh) carries the built addon, so installing it runs nothing.
'use strict'
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const here = path.join(__dirname, '..')
const manifest = path.join(here, 'Cargo.toml')
const build = spawnSync('cargo', ['build', '--release', '--manifest-path', manifest, '--message-format=json-render-diagnostics'], {
  cwd: here,
  stdio: ['ignore', 'pipe', 'inherit'],
  encoding: 'utf8',
  maxBuffer: 256 * 1024 * 1024,
})
if (build.error) {
  console.error(`timeledger: could not run cargo (${build.error.message}); a Rust toolchain is needed to build from source`)
  process.exit(1)
}
if (build.status !== 0) process.exit(build.status ?? 1)

// The cdylib cargo just produced (libtimeledger_node.so / .dylib, or timeledger_node.dll).
let lib = null
for (const line of build.stdout.split('\n')) {
  if (!line.startsWith('{')) continue
  const msg = JSON.parse(line)
  if (msg.reason === 'compiler-artifact' && msg.target?.name === 'timeledger_node' && msg.target.kind.includes('cdylib')) {
    lib = msg.filenames.find((f) => /\.(so|dylib|dll)$/.test(f)) ?? lib
  }
}
if (!lib) {
  console.error('timeledger: cargo did not report the addon it built')
  process.exit(1)
}
fs.copyFileSync(lib, path.join(here, 'timeledger.node'))
const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: here, stdio: 'inherit' })
process.exit(tsc.status ?? 1)
