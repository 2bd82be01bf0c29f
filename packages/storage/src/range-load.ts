// Loads every range's durable state at open with a handful of prefix scans (applied,
// descriptor, conf state, truncated state, hard state) plus two seeks per range on two
// shared iterators, for its first and last log entries. Every range has an applied state
// record; that is what makes it exist.
import { emptyConfState, type HardState } from '@rangekv/raft';
import { ColumnFamily } from './column-families.js';
import {
  decodeAppliedState, decodeConfState, decodeDescriptor, decodeMergeFreeze, decodeMergeOutcomes, decodeEntryTerm, decodeHardState, decodeTruncatedState,
} from './encoding.js';
import { DecodeError } from './errors.js';
import { KeyPrefix, MAX_INDEX_EXCLUSIVE, entryKey, parseEntryKey, parseRangeKey, prefixSpan } from './keys.js';
import type { RangeState } from './log-store.js';
import type { Db, Seeker } from './db.js';

function scanPrefix<T>(db: Db, cf: ColumnFamily, prefix: KeyPrefix, decode: (v: Uint8Array) => T): Map<number, T> {
  const out = new Map<number, T>();
  const cur = db.cursor(cf, prefixSpan(prefix), 1024);
  try {
    for (let kv = cur.next(); kv !== null; kv = cur.next()) out.set(parseRangeKey(prefix, kv.key), decode(kv.value));
  } finally {
    cur.close();
  }
  return out;
}

/**
 * The first and last log entries of ranges, by seeks on two iterators over the raft log
 * (one seek per range each: creating an iterator per range was ~14 % of a 10,000-range
 * store's restart CPU).
 */
class LogEnds {
  private readonly first: Seeker;
  private readonly last: Seeker;

  constructor(db: Db) {
    const span = prefixSpan(KeyPrefix.Entry);
    this.first = db.seeker(ColumnFamily.Raft, span);
    this.last = db.seeker(ColumnFamily.Raft, { ...span, reverse: true });
  }

  /** The lowest index stored for `rangeId`, or null (no entry). */
  firstIndexOf(rangeId: number): number | null {
    const kv = this.first.seek(entryKey(rangeId, 0));
    if (kv === null) return null;
    const k = parseEntryKey(kv.key);
    return k.rangeId === rangeId ? k.index : null;
  }

  /** The last entry of `rangeId`, if any: [index, term]. */
  lastOf(rangeId: number): [number, number] | null {
    const kv = this.last.seek(entryKey(rangeId, MAX_INDEX_EXCLUSIVE));
    if (kv === null) return null;
    const k = parseEntryKey(kv.key);
    return k.rangeId === rangeId ? [k.index, decodeEntryTerm(kv.value)] : null;
  }

  close(): void {
    this.first.close();
    this.last.close();
  }
}

/** A range as loaded at open, with the lowest log index it still stores (null: none). */
export interface LoadedRange extends RangeState {
  firstStoredIndex: number | null;
}

export function loadRanges(db: Db): LoadedRange[] {
  const applied = scanPrefix(db, ColumnFamily.Meta, KeyPrefix.Applied, decodeAppliedState);
  const descs = scanPrefix(db, ColumnFamily.Meta, KeyPrefix.Descriptor, decodeDescriptor);
  const confs = scanPrefix(db, ColumnFamily.Meta, KeyPrefix.ConfState, decodeConfState);
  const truncs = scanPrefix(db, ColumnFamily.Meta, KeyPrefix.Truncated, decodeTruncatedState);
  const hards = scanPrefix(db, ColumnFamily.Raft, KeyPrefix.HardState, decodeHardState);
  const freezes = scanPrefix(db, ColumnFamily.Meta, KeyPrefix.MergeFreeze, decodeMergeFreeze);
  const outcomes = scanPrefix(db, ColumnFamily.Meta, KeyPrefix.MergeOutcomes, decodeMergeOutcomes);
  const out: LoadedRange[] = [];
  const ends = new LogEnds(db);
  try {
    for (const [rangeId, ap] of applied) {
      const truncated = truncs.get(rangeId);
      if (truncated === undefined) throw new DecodeError('range state', `range ${rangeId} has an applied state but no truncated state`);
      let hardState: HardState = hards.get(rangeId) ?? { term: 0, vote: 0, commit: 0 };
      // A hard state that only moved the commit index is written without a sync, or later
      // (persist-ready.ts), so the commit found here may be below the truncated index: the
      // log was compacted through applied entries whose commit was not yet durable. Those
      // entries were committed (they were applied), and raft requires commit >= the
      // truncated index: raise it, as snapshot ingest does.
      if (hardState.commit < truncated.index) hardState = { ...hardState, commit: truncated.index };
      const last = ends.lastOf(rangeId);
      // Entries at or below the truncated index are leftovers of a lost background delete.
      const [lastIndex, lastTerm] = last !== null && last[0] > truncated.index ? last : [truncated.index, truncated.term];
      out.push({
        rangeId, descriptor: descs.get(rangeId) ?? null, hardState, confState: confs.get(rangeId) ?? emptyConfState(),
        applied: ap, truncated, lastIndex, lastTerm, mergeFreeze: freezes.get(rangeId) ?? null,
        mergeOutcomes: outcomes.get(rangeId) ?? [], firstStoredIndex: ends.firstIndexOf(rangeId),
      });
    }
  } finally {
    ends.close();
  }
  return out;
}
