/* Types of the native addon (src/lib.rs); kept by hand beside it. */
/* eslint-disable */

/** An HTTP response: status, header pairs, body. */
export interface HttpReply {
  /** Status code. */
  status: number
  /** `[name, value]` pairs. */
  headers: Array<Array<string>>
  /** Body bytes (JSON). */
  body: Buffer
}

/**
 * An open engine: a SQLite file (or `:memory:`) and its caches. Calls from the main thread and
 * from the async variants share it; the engine takes its own lock.
 */
export declare class NativeEngine {
  /** Opens a database file (created if missing) or `":memory:"`. */
  constructor(path: string)
  /** Runs operation `op` (snake_case) with arguments as JSON text; returns the result as JSON text. */
  call(op: string, argsJson: string): string
  /**
   * `ingest_heartbeats` with its outcomes as one flat JSON array: `status, id, entity, type,
   * time` per stored or duplicate heartbeat, `status, message` per refused one (status >= 400).
   */
  ingest(argsJson: string): string
  /** Like `call`, on libuv's thread pool: the promise resolves to the result as JSON text. */
  callAsync(op: string, argsJson: string): Promise<string>
  /** Freezes the clock at `ms` (Unix milliseconds), or returns to the wall clock with `null`. */
  setNow(ms?: number | undefined | null): void
  /** The engine's current instant in Unix milliseconds. */
  nowMs(): number
  /** Answers an HTTP request (method, path with query, header pairs, body) with the engine's HTTP API. */
  handle(method: string, url: string, headers: Array<Array<string>>, body: Buffer): HttpReply
  /** Every operation name `call` accepts. */
  static operations(): Array<string>
}
