// Loads the compiled addon (built by `npm install` / `npm run build`, see scripts/install.js).
'use strict'
const path = require('path')
try {
  module.exports = require(path.join(__dirname, 'timeledger.node'))
} catch (e) {
  e.message = `timeledger: the native addon could not be loaded (${e.message}); build it with \`npm run build\` in ${__dirname} (needs cargo)`
  throw e
}
