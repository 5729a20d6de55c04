// Type-checked by `tsc --noEmit -p test/tsconfig.json` (never run): keeps index.d.ts honest.
// Each `@ts-expect-error` line must fail to type-check, or tsc reports the directive as unused.
import { Engine, TimeledgerError, type ClockIn, type Grant, type IngestResult, type Leaderboard, type Report } from 'timeledger'

const ledger = new Engine(':memory:')
ledger.setNow(new Date('2025-10-10T14:30:00Z'))
ledger.createCategory(123456789n, 'Development', { color: '#00ff00' })
const ci: ClockIn = ledger.clockIn(123456789n, '1234567890123456789', 'development', { at: 1760106600, switch: true })
const userId: string = ci.user_id
const hours: number = ledger.guildStatus(1).total_time_hours
const board: Leaderboard = ledger.leaderboard(1, { timeframe: 'week', limit: 10 })
const first: string | undefined = board.leaderboard[0]?.username
const grant: Grant | null = null
const ingest: Promise<IngestResult> = ledger.ingestHeartbeatsAsync(1, 2, [{ entity: 'a.rs', time: 1760106600, type: 'file' }])
const report: Promise<Report> = ledger.reportAsync(1, { groupBy: ['user', 'day'] })
const active = ledger.activeSession(1, 2)
if (active !== null) {
  const end: string | null = active.end_time
  void end
}
try {
  ledger.clockOut(1, 2)
} catch (e) {
  if (e instanceof TimeledgerError) {
    const body: { code: string } = e.toJSON()
    const status: number = e.status
    const reset: number | undefined = e.resetIn
    void body, status, reset
  }
}

// @ts-expect-error: the category is a string
ledger.clockIn(1, 2, 42)
// @ts-expect-error: ids are bigint, string or number, not objects
ledger.guildStatus({ id: 1 })
// @ts-expect-error: unknown option
ledger.clockIn(1, 2, 'dev', { descripton: 'typo' })
// @ts-expect-error: async variants return promises
const wrong: Report = ledger.reportAsync(1)
// @ts-expect-error: ids come back as strings
const lossy: number = ci.user_id

void [userId, hours, first, grant, ingest, report, wrong, lossy]
