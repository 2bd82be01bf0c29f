// MemDb: the Db of the in-memory engine, over a MemDisk (mem-disk.ts). One MemTree per
// column family; a write builds new trees from the current ones and hands them to the disk
// in one step (atomic), a cursor keeps the trees it was created on (a consistent view).
// Keys and values are copied in and out, as RocksDB does, so no caller can change the
// disk through a buffer it holds.
//
// Durability is the disk's business: `write(ops, { sync: true })` makes this write and all
// earlier ones durable at once; the in-memory log writer uses writeUnsynced + syncThrough
// to model RocksDB's "write to the WAL, then fsync" with simulated time in between.
//
// After the disk crashed, this handle is dead (the process that held it is gone): writes
// are dropped (the disk counts them), reads see the state as it was at the crash.
import { ColumnFamily } from './column-families.js';
import type { BatchWriter, Cursor, Db, KeyValue, Seeker, SpanOptions } from './db.js';
import { invariant } from './errors.js';
import type { MemTree, TreeIterator } from './mem-tree.js';
import { forEachOp, WriteOps } from './write-ops.js';

const ZERO = Buffer.from([0]);

/** The three column families' trees, indexed by ColumnFamily. */
export type Trees = readonly [MemTree, MemTree, MemTree];

/** What a MemDb needs of its disk (given by MemDisk.openDb). */
export interface MemDbPort {
  /** The trees reads see now (frozen at the crash for a dead handle). */
  read(): Trees;
  /**
   * Installs `next` (built from read()) as the disk's state, as one write of `ops` (the
   * encoded ops, kept while the write is not durable); durable at once if `sync`. Returns
   * the write's sequence number, or null when the handle is dead (the write is dropped).
   */
  commit(next: Trees, ops: Uint8Array, sync: boolean): number | null;
  /** Makes write `seq` and every earlier one durable. Ignored for a dead handle. */
  syncThrough(seq: number): void;
  /** Releases the disk (close). */
  release(): void;
}

export class MemDb implements Db {
  #closed = false;

  constructor(private readonly port: MemDbPort) {}

  get(cf: ColumnFamily, key: Buffer): Buffer | undefined {
    this.#checkOpen();
    return copy(this.port.read()[cf].get(key));
  }

  getMany(cf: ColumnFamily, keys: Buffer[]): (Buffer | undefined)[] {
    this.#checkOpen();
    const t = this.port.read()[cf];
    return keys.map((k) => copy(t.get(k)));
  }

  scan(cf: ColumnFamily, span: SpanOptions): KeyValue[] {
    const cur = this.cursor(cf, span);
    const out: KeyValue[] = [];
    for (let kv = cur.next(); kv !== null; kv = cur.next()) out.push(kv);
    cur.close();
    return out;
  }

  scanKeys(cf: ColumnFamily, span: SpanOptions, limit: number): Buffer[] {
    const cur = this.cursor(cf, { ...span, limit: Math.min(limit, span.limit ?? Infinity) });
    const out: Buffer[] = [];
    for (let kv = cur.next(); kv !== null; kv = cur.next()) out.push(kv.key);
    cur.close();
    return out;
  }

  cursor(cf: ColumnFamily, span: SpanOptions): Cursor {
    this.#checkOpen();
    const it = this.port.read()[cf].iterate({ gte: span.gte, lt: span.lt, reverse: span.reverse });
    return new MemCursor(it, span.limit ?? Infinity);
  }

  seeker(cf: ColumnFamily, span: SpanOptions): Seeker {
    this.#checkOpen();
    const tree = this.port.read()[cf];
    let closed = false;
    return {
      seek: (target) => {
        invariant(!closed, 'seek on a closed seeker');
        // Forward: the span from max(gte, target); reverse: the span up to min(lt, target's successor).
        const reverse = span.reverse === true;
        const gte = !reverse && Buffer.compare(target, span.gte) > 0 ? target : span.gte;
        const after = Buffer.concat([target, ZERO]);
        const lt = reverse && (span.lt === undefined || Buffer.compare(after, span.lt) < 0) ? after : span.lt;
        if (lt !== undefined && Buffer.compare(gte, lt) >= 0) return null;
        const kv = tree.iterate({ gte, lt, reverse }).next();
        return kv === null ? null : { key: Buffer.from(kv.key), value: Buffer.from(kv.value) };
      },
      close: () => { closed = true; },
    };
  }

  write(ops: WriteOps | Uint8Array | readonly Uint8Array[], opts: { sync: boolean }): void {
    this.#commit(ops, opts.sync);
  }

  writeBatch(fill: (b: BatchWriter) => void, opts: { sync: boolean }): void {
    const ops = new WriteOps(256);
    fill({ put: (cf, key, value) => { ops.put(cf, key, value); }, del: (cf, key) => { ops.del(cf, key); } });
    this.#commit(ops, opts.sync);
  }

  /**
   * Writes `ops` as one batch without syncing it; returns its sequence number for
   * syncThrough, or null if nothing was written (no ops: like RocksDB, an empty batch
   * writes and syncs nothing; or a dead handle).
   */
  writeUnsynced(ops: readonly Uint8Array[]): number | null {
    return this.#commit(ops, false);
  }

  /** The fsync that completes a writeUnsynced: write `seq` and all before it become durable. */
  syncThrough(seq: number): void {
    this.#checkOpen();
    this.port.syncThrough(seq);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.port.release();
  }

  #checkOpen(): void {
    invariant(!this.#closed, 'MemDb used after close');
  }

  #commit(ops: WriteOps | Uint8Array | readonly Uint8Array[], sync: boolean): number | null {
    this.#checkOpen();
    const parts = ops instanceof Uint8Array ? [ops] : Array.isArray(ops) ? ops as readonly Uint8Array[] : [(ops as WriteOps).bytes()];
    let [d, r, m] = this.port.read();
    let n = 0;
    for (const bytes of parts) {
      n += forEachOp(bytes, (kind, cf, key, value) => {
        const k = Buffer.from(key);
        const apply = (t: MemTree): MemTree => kind === 'put' ? t.set(k, Buffer.from(value!)) : t.delete(k);
        if (cf === ColumnFamily.Default) d = apply(d);
        else if (cf === ColumnFamily.Raft) r = apply(r);
        else m = apply(m);
      });
    }
    if (n === 0) return null;
    return this.port.commit([d, r, m], Buffer.concat(parts), sync);
  }
}

function copy(b: Buffer | undefined): Buffer | undefined {
  return b === undefined ? undefined : Buffer.from(b);
}

class MemCursor implements Cursor {
  private ahead: KeyValue | null = null;
  private left: number;
  private closed = false;

  constructor(private readonly it: TreeIterator, limit: number) {
    this.left = limit;
  }

  peek(): KeyValue | null {
    if (this.ahead === null && !this.closed && this.left > 0) {
      const kv = this.it.next();
      if (kv !== null) this.ahead = { key: Buffer.from(kv.key), value: Buffer.from(kv.value) };
    }
    return this.ahead;
  }

  next(): KeyValue | null {
    const kv = this.peek();
    if (kv !== null) {
      this.ahead = null;
      this.left--;
    }
    return kv;
  }

  close(): void {
    this.closed = true;
    this.ahead = null;
  }
}
