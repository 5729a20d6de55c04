#!/usr/bin/env node
// `npm install` hook: builds the native addon (timekeeper.node) from the Rust sources beside this
// package, unless one is already there. Needs cargo (https://rustup.rs). Developers rebuild with
// `npm run build` (napi build + tsc), which also regenerates src/native.d.ts and index.d.ts.
'use strict'
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const here = path.join(__dirname, '..')
const addon = path.join(here, 'timekeeper.node')
if (fs.existsSync(addon) && !process.env.TIMEKEEPER_REBUILD) process.exit(0)

const manifest = path.join(here, 'Cargo.toml')
const build = spawnSync('cargo', ['build', '--release', '--manifest-path', manifest, '--message-format=json-render-diagnostics'], {
  cwd: here,
  stdio: ['ignore', 'pipe', 'inherit'],
  encoding: 'utf8',
  maxBuffer: 256 * 1024 * 1024,
})
if (build.error) {
  console.error(`timekeeper: could not run cargo (${build.error.message}); install Rust from https://rustup.rs and retry`)
  process.exit(1)
}
if (build.status !== 0) process.exit(build.status ?? 1)

// The cdylib cargo just produced (libtimekeeper_node.so / .dylib, or timekeeper_node.dll).
let lib = null
for (const line of build.stdout.split('\n')) {
  if (!line.startsWith('{')) continue
  const msg = JSON.parse(line)
  if (msg.reason === 'compiler-artifact' && msg.target?.name === 'timekeeper_node' && msg.target.kind.includes('cdylib')) {
    lib = msg.filenames.find((f) => /\.(so|dylib|dll)$/.test(f)) ?? lib
  }
}
if (!lib) {
  console.error('timekeeper: cargo did not report the addon it built')
  process.exit(1)
}
fs.copyFileSync(lib, addon)
console.error(`timekeeper: built ${path.relative(process.cwd(), addon)}`)
