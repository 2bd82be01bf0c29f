// Encoding a log append (entries + hard state of one Ready) into write ops, after checking
// it against the range: entry sizes, contiguity, no gap, nothing at or below the truncated
// index. A refused append throws before anything is encoded or changed.
import type { Entry, HardState } from '@rangekv/raft';
import { ColumnFamily } from './column-families.js';
import { encodeEntry, encodeHardState } from './encoding.js';
import { EntryTooLargeError, invariant } from './errors.js';
import { entryKey, hardStateKey } from './keys.js';
import type { RangeLogStore } from './log-store.js';
import type { WriteOps } from './write-ops.js';

/** What a Ready asks to persist, apart from a snapshot. */
export interface LogAppend {
  entries: readonly Entry[];
  hardState: HardState | null;
}

/**
 * Checks `a` against the range (entry sizes, contiguity, no gap after `base`) before
 * anything is encoded, so a refused append leaves `ops` and the range untouched.
 * `base` is the index the entries may follow at the latest (the range's highest written
 * index, or a snapshot's index).
 */
export function checkAppend(store: RangeLogStore, a: LogAppend, maxEntryBytes: number, lowest: number, base: number): void {
  const es = a.entries;
  if (es.length === 0) return;
  const first = es[0]!.index;
  for (let i = 0; i < es.length; i++) {
    const e = es[i]!;
    if (e.data.length > maxEntryBytes) throw new EntryTooLargeError(store.rangeId, e.index, e.data.length, maxEntryBytes);
    invariant(e.index === first + i, () => `range ${store.rangeId}: entries not contiguous: ${e.index} at position ${i} after ${first}`);
    invariant(Number.isSafeInteger(e.term) && e.term >= 0, () => `range ${store.rangeId}: entry ${e.index} has term ${e.term}`);
  }
  invariant(first > lowest, () => `range ${store.rangeId}: appending at ${first}, at or below the truncated index ${lowest}`);
  invariant(first <= base + 1, () => `range ${store.rangeId}: appending at ${first} leaves a gap after ${base}`);
}

/**
 * Encodes entries (deleting any stale suffix beyond the new last index, which a conflicting
 * append truncates) and the hard state. Advances store.maxWrittenIndex.
 */
export function encodeAppend(store: RangeLogStore, a: LogAppend, ops: WriteOps): void {
  const r = store.rangeId;
  const es = a.entries;
  if (es.length > 0) {
    for (const e of es) ops.put(ColumnFamily.Raft, entryKey(r, e.index), encodeEntry(e));
    const end = es[es.length - 1]!.index;
    for (let i = end + 1; i <= store.maxWrittenIndex; i++) ops.del(ColumnFamily.Raft, entryKey(r, i));
    store.maxWrittenIndex = end;
  }
  if (a.hardState) ops.put(ColumnFamily.Raft, hardStateKey(r), encodeHardState(a.hardState));
}

