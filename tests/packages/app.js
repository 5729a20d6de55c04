// Installed-tarball check: opens a file, records 3.5 hours in the past, reads them back.
const { Engine } = require('timeledger')

const engine = new Engine(process.argv[2])
if (engine.listCategories(1n).length === 0) engine.createCategory(1n, 'Development')
engine.addEntry(1n, 42n, 'Development', '2026-01-05T09:00:00Z', '2026-01-05T12:30:00Z')
console.log('node hours', engine.guildStatus(1n).total_time_hours)
