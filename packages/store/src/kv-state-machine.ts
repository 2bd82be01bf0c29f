// The KV state machine: what a batch of committed raft entries does to a range's user
// keys. `runKvEntries` is the pure part: entries + the range's descriptor + a reader of
// the range's current data -> one result per entry and ONE ApplyBatch (the puts and
// deletes of every entry plus the applied index, membership and an optional new
// descriptor), so the applied index on disk always matches the data it covers. It runs on
// the main thread (`applyKvEntries`: inline, one engine.apply) or in an apply worker
// (apply-worker.ts: same function over the worker's handle-opened RocksDb); both write
// the same batch and return the same results.
//
// Commands that read (CompareAndSwap, DeleteRange) must see the writes of earlier
// entries of the same batch, which are not in RocksDB yet: an overlay (key -> value, or
// null for deleted) holds the batch's writes and is consulted before the DB. The final
// overlay is the batch's write set.
//
// Every replica runs this on the same entries against the same state, so the results
// (and the refusals: a key outside the range, a stale epoch) are the same everywhere.
// An entry that does not decode is a broken contract (only this store's encoder
// proposes; or a newer format): it throws EntryApplyError before anything is written, and
// the scheduler fails this replica only (it stops serving the range) rather than guess
// and let replicas diverge, or stop every other range of the store.
import { EntryType, type ConfState } from '@rangekv/raft';
import type { RangeDescriptor } from '@rangekv/proto';
import { ColumnFamily, keyInSpan, type ApplyBatch, type Db, type StorageEngine } from '@rangekv/storage';
import { decodeKvCommand, KvCommandDecodeError, KvCommandType, type KvCommand } from './kv-command.js';
import { EntryApplyError, type ApplyEntry } from '@rangekv/multiraft';

/** What applying one entry did, for its proposer. */
export type KvResult =
  /** An empty entry (new leader's no-op) or a membership change. */
  | { kind: 'noop' }
  | { kind: 'ok' }
  | { kind: 'cas'; succeeded: boolean; previousExists: boolean; previousValue: Uint8Array | null }
  /** Nothing written: the key is outside the range's span at apply time. */
  | { kind: 'key-not-in-range'; key: Uint8Array; descriptor: RangeDescriptor }
  /** Nothing written: the range's epoch.version changed since the proposer checked it. */
  | { kind: 'epoch-not-match'; descriptor: RangeDescriptor }
  /** A split applied (range-admin-apply.ts). */
  | { kind: 'split'; left: RangeDescriptor; right: RangeDescriptor }
  /** A membership change applied: the descriptor after it. */
  | { kind: 'conf-change'; descriptor: RangeDescriptor }
  /** An admin command refused at apply, the same way on every replica. */
  | { kind: 'refused'; reason: string; descriptor: RangeDescriptor }
  /** Merge (merge-apply.ts): the left range recorded the merge as pending. */
  | { kind: 'merge-begun' }
  /** Merge: the right range froze at this entry. */
  | { kind: 'frozen'; index: number; term: number; descriptor: RangeDescriptor }
  /** Merge: the right range unfroze (rolled back), or was not frozen by that merge (no-op). */
  | { kind: 'unfrozen'; changed: boolean }
  /** Merge: the left range covers both now; the right range is gone from this store. */
  | { kind: 'merged'; descriptor: RangeDescriptor; rightRangeId: number }
  /** Merge: the left range rolled the merge back (its epoch version moved, so the merge can never commit). */
  | { kind: 'merge-aborted'; descriptor: RangeDescriptor }
  /** A KV entry ordered after a merge froze the range: nothing written, the client retries. */
  | { kind: 'merge-frozen'; mergeId: number; leftRangeId: number };

function keyString(k: Uint8Array): string {
  return Buffer.from(k.buffer, k.byteOffset, k.byteLength).toString('latin1');
}

function buf(k: Uint8Array): Buffer {
  return Buffer.isBuffer(k) ? k : Buffer.from(k.buffer, k.byteOffset, k.byteLength);
}

/** What the state machine reads: the range's user keys as of before the batch. */
export interface KvReader {
  get(key: Uint8Array): Uint8Array | undefined;
  /** Calls `visit` for every key in [start, end) (empty end = no bound), in order. */
  forEachKey(start: Uint8Array, end: Uint8Array, visit: (key: Uint8Array) => void): void;
}

/** A KvReader over the `default` column family of a Db (the engine's, or a worker's handle-opened RocksDb). */
export function dbKvReader(db: Db): KvReader {
  return {
    get: (key) => db.get(ColumnFamily.Default, buf(key)),
    forEachKey: (start, end, visit) => {
      const span = end.length === 0 ? { gte: buf(start) } : { gte: buf(start), lt: buf(end) };
      const cur = db.cursor(ColumnFamily.Default, span);
      try {
        for (let kv = cur.next(); kv !== null; kv = cur.next()) visit(kv.key);
      } finally {
        cur.close();
      }
    },
  };
}

/** The batch's writes so far: latin1 key string -> value, or null for deleted. */
class Overlay {
  readonly writes = new Map<string, { key: Uint8Array; value: Uint8Array | null }>();

  constructor(private readonly reader: KvReader) {}

  get(key: Uint8Array): Uint8Array | undefined {
    const w = this.writes.get(keyString(key));
    if (w !== undefined) return w.value ?? undefined;
    return this.reader.get(key);
  }

  put(key: Uint8Array, value: Uint8Array): void {
    this.writes.set(keyString(key), { key, value });
  }

  del(key: Uint8Array): void {
    this.writes.set(keyString(key), { key, value: null });
  }

  /** Deletes every key in [start, end) (empty end = no bound), on disk or written in this batch. */
  delSpan(start: Uint8Array, end: Uint8Array): void {
    this.reader.forEachKey(start, end, (k) => this.del(k));
    for (const w of this.writes.values()) {
      if (w.value !== null && keyInSpan(w.key, start, end)) w.value = null;
    }
  }
}

function maxKey(a: Uint8Array, b: Uint8Array): Uint8Array {
  return Buffer.compare(a, b) >= 0 ? a : b;
}

/** min of two span ends where empty = +infinity. */
function minEnd(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  return Buffer.compare(a, b) <= 0 ? a : b;
}

function commandKeys(c: KvCommand): Uint8Array[] {
  switch (c.type) {
    case KvCommandType.Put:
    case KvCommandType.Delete:
    case KvCommandType.CompareAndSwap:
      return [c.key];
    case KvCommandType.BatchPut:
      return c.pairs.map((p) => p.key);
    case KvCommandType.DeleteRange:
      return [c.startKey];
  }
}

function applyCommand(c: KvCommand, desc: RangeDescriptor, o: Overlay): KvResult {
  if (c.epochVersion !== desc.epoch.version) return { kind: 'epoch-not-match', descriptor: desc };
  for (const k of commandKeys(c)) {
    if (!keyInSpan(k, desc.startKey, desc.endKey)) return { kind: 'key-not-in-range', key: k, descriptor: desc };
  }
  switch (c.type) {
    case KvCommandType.Put:
      o.put(c.key, c.value);
      return { kind: 'ok' };
    case KvCommandType.BatchPut:
      for (const p of c.pairs) o.put(p.key, p.value);
      return { kind: 'ok' };
    case KvCommandType.Delete:
      o.del(c.key);
      return { kind: 'ok' };
    case KvCommandType.DeleteRange: {
      // The span is clipped to the range (the proposer checked it lies inside).
      const start = maxKey(c.startKey, desc.startKey);
      const end = minEnd(c.endKey, desc.endKey);
      if (end.length === 0 || Buffer.compare(start, end) < 0) o.delSpan(start, end);
      return { kind: 'ok' };
    }
    case KvCommandType.CompareAndSwap: {
      const cur = o.get(c.key);
      const matches = c.expectExists ? cur !== undefined && Buffer.compare(cur, c.expectedValue) === 0 : cur === undefined;
      if (matches) {
        if (c.delete) o.del(c.key);
        else o.put(c.key, c.newValue);
      }
      return { kind: 'cas', succeeded: matches, previousExists: cur !== undefined, previousValue: cur === undefined ? null : new Uint8Array(cur) };
    }
  }
}

/** Extra writes of an apply batch, decided by the caller (not by the entries). */
export interface KvApplyExtra {
  /** A new descriptor for the range (membership change, split), written in the same batch. */
  descriptor?: RangeDescriptor;
}

/** What a batch of entries does: one result per entry and the one batch to write. */
export interface KvApplyOutput {
  results: KvResult[];
  batch: ApplyBatch;
}

/** The command an entry carries; EntryApplyError when it does not decode. */
function commandOf(rangeId: number, e: ApplyEntry): KvCommand {
  try {
    return decodeKvCommand(e.data);
  } catch (err) {
    if (err instanceof KvCommandDecodeError) throw new EntryApplyError(rangeId, e.index, err.message);
    throw err;
  }
}

/**
 * The pure state machine: runs `entries` (in order, non-empty, all above the range's
 * applied index) against `desc` and the data `reader` sees. Writes nothing. Throws
 * EntryApplyError for an entry that does not decode.
 */
export function runKvEntries(reader: KvReader, desc: RangeDescriptor, entries: readonly ApplyEntry[], extra: KvApplyExtra = {}): KvApplyOutput {
  if (entries.length === 0) throw new Error('runKvEntries: no entries');
  const overlay = new Overlay(reader);
  const results: KvResult[] = [];
  let confState: ConfState | undefined;
  for (const e of entries) {
    if (e.type === EntryType.ConfChange) {
      if (e.confState) confState = e.confState;
      results.push({ kind: 'noop' });
      continue;
    }
    if (e.data.length === 0) {
      results.push({ kind: 'noop' });
      continue;
    }
    results.push(applyCommand(commandOf(desc.rangeId, e), desc, overlay));
  }
  const puts: [Uint8Array, Uint8Array][] = [];
  const deletes: Uint8Array[] = [];
  for (const w of overlay.writes.values()) {
    if (w.value === null) deletes.push(w.key);
    else puts.push([w.key, w.value]);
  }
  const last = entries[entries.length - 1]!;
  const batch: ApplyBatch = { puts, deletes, applied: { index: last.index, term: last.term } };
  if (confState) batch.confState = confState;
  if (extra.descriptor) batch.descriptor = extra.descriptor;
  return { results, batch };
}

/**
 * Applies `entries` (in order, all above the range's applied index) to range `rangeId`
 * on the calling thread and returns one result per entry. Writes exactly one engine.apply
 * batch (with `extra.descriptor` when given).
 */
export function applyKvEntries(engine: StorageEngine, rangeId: number, entries: readonly ApplyEntry[], extra: KvApplyExtra = {}): KvResult[] {
  if (entries.length === 0) return [];
  const desc = engine.range(rangeId).descriptor;
  if (desc === null) throw new Error(`range ${rangeId}: apply on an uninitialized range`);
  const out = runKvEntries(dbKvReader(engine.db), desc, entries, extra);
  engine.apply(rangeId, out.batch);
  return out.results;
}
