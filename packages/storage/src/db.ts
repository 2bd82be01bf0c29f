// Db: what the engine and its parts use of a key-value database with our three column
// families. Two implementations: RocksDb (rocks.ts, production) and MemDb (mem-db.ts, the
// in-memory disk of the simulation). Everything here is synchronous and runs on the
// calling thread.
//
// Contract both keep:
// - a write (one call) is atomic: all of its ops are visible at once, or none;
// - a write is visible to every read that starts after it returns, sync or not;
// - `sync: true` returns once the write and every earlier write are durable; a write
//   without it may be lost by a crash, but only as a suffix (writes are durable in order);
// - a cursor (or seeker) reads from the state as of its creation (a consistent view),
//   however long it stays open and whatever is written meanwhile.
import type { ColumnFamily } from './column-families.js';
import type { WriteOps } from './write-ops.js';

export interface KeyValue {
  key: Buffer;
  value: Buffer;
}

export interface SpanOptions {
  /** Inclusive lower bound. */
  gte: Buffer;
  /** Exclusive upper bound; omitted = no bound. */
  lt?: Buffer;
  reverse?: boolean;
  limit?: number;
}

export interface BatchWriter {
  put(cf: ColumnFamily, key: Buffer, value: Uint8Array): void;
  del(cf: ColumnFamily, key: Buffer): void;
}

/** Rows of one span from one consistent view, in key order (or reverse). */
export interface Cursor {
  /** The next row without consuming it; null at the end. */
  peek(): KeyValue | null;
  next(): KeyValue | null;
  /** Releases the view; later calls return null. */
  close(): void;
}

/**
 * Point lookups by position in one consistent view (Db.seeker): many for the price of one
 * iterator (creating a RocksDB iterator costs far more than a seek on one).
 */
export interface Seeker {
  /** The first row of the span at or after `target`; for a reverse span, the last at or before it. null: none. */
  seek(target: Buffer): KeyValue | null;
  /** Releases the view; seek() after close throws. */
  close(): void;
}

export interface Db {
  get(cf: ColumnFamily, key: Buffer): Buffer | undefined;
  getMany(cf: ColumnFamily, keys: Buffer[]): (Buffer | undefined)[];
  /** All rows in a span, in key order (or reverse). For bounded spans only. */
  scan(cf: ColumnFamily, span: SpanOptions): KeyValue[];
  /** Keys only, at most `limit` of them. */
  scanKeys(cf: ColumnFamily, span: SpanOptions, limit: number): Buffer[];
  /** A cursor over a span, reading from the state as of this call. `blockRows` is a read-ahead hint. */
  cursor(cf: ColumnFamily, span: SpanOptions, blockRows?: number): Cursor;
  /** Seeks within a span (`limit` ignored), reading from the state as of this call. */
  seeker(cf: ColumnFamily, span: SpanOptions): Seeker;
  /** Writes encoded ops (one or several buffers) as one atomic batch. */
  write(ops: WriteOps | Uint8Array | readonly Uint8Array[], opts: { sync: boolean }): void;
  /** Writes one atomic batch built by `fill`. */
  writeBatch(fill: (b: BatchWriter) => void, opts: { sync: boolean }): void;
  close(): Promise<void>;
}
