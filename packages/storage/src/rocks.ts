// A small typed face over @nxtedition/rocksdb (the production Db, see db.ts): open with our
// column families, synchronous point reads and scans, cursors over a consistent view, and
// batch writes of encoded ops. Everything here runs on the calling thread;
// `write(..., { sync: true })` blocks it for an fsync, which is why only the log-writer
// worker does sync writes.
import { RocksLevel, type RocksChainedBatch, type RocksColumn, type RocksColumnOptions, type RocksIteratorOptions } from '@nxtedition/rocksdb';
import { COLUMN_FAMILY_NAMES, ColumnFamily } from './column-families.js';
import type { BatchWriter, Cursor, Db, KeyValue, Seeker, SpanOptions } from './db.js';
import { invariant } from './errors.js';
import { DEFAULT_LIMITS } from './limits.js';
import { forEachOp, type WriteOps } from './write-ops.js';

const BUFFERS = { keyEncoding: 'buffer', valueEncoding: 'buffer' } as const;

/** The memory RocksDB may hold for the default (user data) column family; the others get a share. */
export interface RocksMemoryLimits {
  /** Memtable bytes the default family's write buffers are sized from (buffers of a quarter, at most 6). */
  memtableBudgetBytes: number;
  /** Block cache bytes of the default family. */
  blockCacheBytes: number;
}

/**
 * Each family's share of the limits: the raft log is written once and deleted soon after,
 * read back only for a lagging follower; meta is a few rows per range.
 */
const FAMILY_SHARE: Readonly<Record<string, number>> = { default: 1, raft: 1 / 2, meta: 1 / 4 };
const MIN_FAMILY_BYTES = 1 << 20;

/**
 * Per column family options: level compaction with memtables sized from a budget (the
 * binding's defaults are two 64 MiB write buffers per family, which the raft log and the
 * data of a store each filled: RSS grew by both) and a block cache of its own.
 */
export function columnFamilyOptions(m: RocksMemoryLimits): Record<string, RocksColumnOptions> {
  const out: Record<string, RocksColumnOptions> = {};
  for (const name of COLUMN_FAMILY_NAMES) {
    const share = FAMILY_SHARE[name] ?? 1;
    const part = (bytes: number): number => Math.max(MIN_FAMILY_BYTES, Math.floor(bytes * share));
    out[name] = { compaction: 'level', memtableMemoryBudget: part(m.memtableBudgetBytes), cacheSize: part(m.blockCacheBytes) };
  }
  return out;
}

export class RocksDb implements Db {
  readonly #db: RocksLevel;
  readonly #cols: { column: RocksColumn }[];
  readonly #byHandle: boolean;
  #closed = false;

  private constructor(db: RocksLevel, byHandle: boolean) {
    this.#db = db;
    this.#byHandle = byHandle;
    const cols = db.columns;
    this.#cols = COLUMN_FAMILY_NAMES.map((name) => {
      const column = cols[name];
      invariant(column !== undefined, `column family ${name} is not open`);
      return { column };
    });
  }

  /** Opens (creating if needed) the DB at `dir` with exactly the column families of ColumnFamily. */
  static async open(dir: string, memory: RocksMemoryLimits = DEFAULT_LIMITS): Promise<RocksDb> {
    const db = new RocksLevel(dir, BUFFERS);
    await db.open({ createIfMissing: true, columns: columnFamilyOptions(memory), walCompression: false });
    return new RocksDb(db, false);
  }

  /** Shares a DB opened on another thread (`handle` from its RocksDb.handle). Never close it. */
  static async openByHandle(handle: bigint): Promise<RocksDb> {
    const db = new RocksLevel(handle, BUFFERS);
    await db.open({ createIfMissing: false });
    return new RocksDb(db, true);
  }

  get handle(): bigint {
    return this.#db.handle;
  }

  get location(): string {
    return this.#db.location;
  }

  get(cf: ColumnFamily, key: Buffer): Buffer | undefined {
    return this.getMany(cf, [key])[0];
  }

  getMany(cf: ColumnFamily, keys: Buffer[]): (Buffer | undefined)[] {
    const rows = this.#db._getManySync(keys, this.#cols[cf]!);
    return rows.map((v) => {
      invariant(v !== null, 'RocksDB read was aborted or timed out');
      return v;
    });
  }

  /** All rows in a span, in key order (or reverse). For bounded spans only. */
  scan(cf: ColumnFamily, span: SpanOptions): KeyValue[] {
    const cur = this.cursor(cf, span);
    try {
      const out: KeyValue[] = [];
      for (let kv = cur.next(); kv !== null; kv = cur.next()) out.push(kv);
      return out;
    } finally {
      cur.close();
    }
  }

  /** Keys only, at most `limit` of them. */
  scanKeys(cf: ColumnFamily, span: SpanOptions, limit: number): Buffer[] {
    const it = this.#db.iterator({ ...this.#iterOptions(cf, span), limit, values: false });
    try {
      const { rows } = it._nextvSync(limit, {});
      const keys: Buffer[] = [];
      for (let i = 0; i < rows.length; i += 2) keys.push(rows[i]!);
      return keys;
    } finally {
      it._closeSync();
      this.#db.detachResource(it);
    }
  }

  /**
   * A cursor over a span. A RocksDB iterator reads from the state as of its creation (an
   * implicit snapshot), so everything a cursor returns comes from one consistent view.
   */
  cursor(cf: ColumnFamily, span: SpanOptions, blockRows = 256): Cursor {
    const it = this.#db.iterator(this.#iterOptions(cf, span));
    return new RocksCursor(it, () => this.#db.detachResource(it), blockRows);
  }

  /**
   * One iterator, positioned by each seek. The binding ends an iterator sought outside its
   * bounds, so targets are clamped; a reverse iterator is opened without its upper bound
   * (the last row below it is then reachable by a seek to the bound itself).
   */
  seeker(cf: ColumnFamily, span: SpanOptions): Seeker {
    const reverse = span.reverse === true;
    const lt = span.lt;
    const it = this.#db.iterator(this.#iterOptions(cf, reverse ? { gte: span.gte, reverse } : { gte: span.gte, ...(lt !== undefined ? { lt } : {}) }));
    let closed = false;
    return {
      seek: (target) => {
        invariant(!closed, 'seek on a closed seeker');
        const below = Buffer.compare(target, span.gte) < 0;
        const above = lt !== undefined && Buffer.compare(target, lt) >= 0;
        if (reverse ? below : above) return null;
        it._seekSync(reverse ? (above ? lt! : target) : (below ? span.gte : target));
        // Reverse, the row at the bound itself is out of the span: take the one after it.
        const { rows } = it._nextvSync(reverse ? 2 : 1, {});
        for (let i = 0; i + 1 < rows.length; i += 2) {
          const key = rows[i]!;
          if (!reverse || lt === undefined || Buffer.compare(key, lt) < 0) return { key, value: rows[i + 1]! };
        }
        return null;
      },
      close: () => {
        if (closed) return;
        closed = true;
        it._closeSync();
        this.#db.detachResource(it);
      },
    };
  }

  #iterOptions(cf: ColumnFamily, span: SpanOptions): RocksIteratorOptions {
    const o: RocksIteratorOptions = { column: this.#cols[cf]!.column, gte: span.gte };
    if (span.lt !== undefined) o.lt = span.lt;
    if (span.reverse === true) o.reverse = true;
    if (span.limit !== undefined) o.limit = span.limit;
    return o;
  }

  /** Writes encoded ops (one or several buffers) as one atomic batch. */
  write(ops: WriteOps | Uint8Array | readonly Uint8Array[], opts: { sync: boolean }): void {
    const batch = this.#db.batch();
    try {
      const add = (bytes: Uint8Array): void => {
        forEachOp(bytes, (kind, cf, key, value) => {
          if (kind === 'put') batch._put(key, value!, this.#cols[cf]!);
          else batch._del(key, this.#cols[cf]!);
        });
      };
      if (ops instanceof Uint8Array) add(ops);
      else if (Array.isArray(ops)) for (const b of ops as readonly Uint8Array[]) add(b);
      else add((ops as WriteOps).bytes());
      if (batch.length > 0) batch._writeSync({ sync: opts.sync });
    } finally {
      this.#releaseBatch(batch);
    }
  }

  /** Writes one batch built by `fill` (no intermediate encoding). */
  writeBatch(fill: (b: BatchWriter) => void, opts: { sync: boolean }): void {
    const batch = this.#db.batch();
    try {
      fill({
        put: (cf, key, value) => batch._put(key, Buffer.from(value.buffer, value.byteOffset, value.byteLength), this.#cols[cf]!),
        del: (cf, key) => batch._del(key, this.#cols[cf]!),
      });
      if (batch.length > 0) batch._writeSync({ sync: opts.sync });
    } finally {
      this.#releaseBatch(batch);
    }
  }

  #releaseBatch(batch: RocksChainedBatch): void {
    batch._closeSync();
    this.#db.detachResource(batch);
  }

  getProperty(name: string): string {
    return this.#db.getProperty(name);
  }

  /** Closes the DB (flushes the WAL). Refused for a DB opened by handle: that crashes the process. */
  async close(): Promise<void> {
    invariant(!this.#byHandle, 'a RocksDb opened by handle must never be closed (the native DB is shared; closing it crashes the process)');
    if (this.#closed) return;
    this.#closed = true;
    await this.#db.close();
  }
}

/** The binding's synchronous iterator calls a Cursor uses. */
export interface NativeIterator {
  _nextvSync(size: number, options: object): { rows: (Buffer | undefined)[]; finished: boolean };
  _closeSync(): void;
}

export class RocksCursor implements Cursor {
  private rows: (Buffer | undefined)[] = [];
  private pos = 0;
  private finished = false;
  private closed = false;

  constructor(private readonly it: NativeIterator, private readonly detach: () => void, private readonly blockRows: number) {}

  private fill(): boolean {
    while (this.pos >= this.rows.length) {
      if (this.finished || this.closed) return false;
      const r = this.it._nextvSync(this.blockRows, {});
      this.rows = r.rows;
      this.pos = 0;
      this.finished = r.finished;
    }
    return true;
  }

  /** The next row without consuming it. */
  peek(): KeyValue | null {
    if (!this.fill()) return null;
    return { key: this.rows[this.pos]!, value: this.rows[this.pos + 1]! };
  }

  next(): KeyValue | null {
    if (!this.fill()) return null;
    const kv = { key: this.rows[this.pos]!, value: this.rows[this.pos + 1]! };
    this.pos += 2;
    return kv;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.rows = [];
    this.it._closeSync();
    this.detach();
  }
}
