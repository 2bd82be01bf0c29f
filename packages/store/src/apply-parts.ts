// Applying a group of range parts (each one range's entries) with ONE RocksDB write: what
// an apply worker does with a task, and what the pool does on the main thread when a
// flush holds only a few entries (a worker round trip costs more than the work then).
//
//   const outs = applyParts(db, dbKvReader(db), parts);   // one write (sync: false)
//   for (const o of outs) if (!o.ok) ...                   // that part wrote nothing
import type { ConfState } from '@rangekv/raft';
import { encodeApplyWrites, type AppliedState, type Db } from '@rangekv/storage';
import { EntryApplyError } from '@rangekv/multiraft';
import type { ApplyPartInput } from './apply-task.js';
import { runKvEntries, type KvReader, type KvResult } from './kv-state-machine.js';

export type PartOutcome =
  | { ok: true; results: KvResult[]; applied: AppliedState; confState: ConfState | null }
  /** An entry of the part cannot be applied (EntryApplyError): nothing of the part was written. */
  | { ok: false; index: number; reason: string };

/**
 * Runs each part's entries through the KV state machine (reads through `reader`) and
 * writes every successful part's batch (data, applied state, ConfState, new descriptor)
 * in one `db.write` without sync: each range's batch stays atomic, and the parts, being
 * ranges, are disjoint. One part's unappliable entry fails that part only.
 */
export function applyParts(db: Db, reader: KvReader, parts: readonly ApplyPartInput[]): PartOutcome[] {
  const writes: Uint8Array[] = [];
  const out: PartOutcome[] = [];
  for (const p of parts) {
    let r;
    try {
      r = runKvEntries(reader, p.desc, p.entries, p.newDesc === null ? {} : { descriptor: p.newDesc });
    } catch (e) {
      if (!(e instanceof EntryApplyError)) throw e;
      out.push({ ok: false, index: e.index, reason: e.reason });
      continue;
    }
    writes.push(encodeApplyWrites(p.rangeId, p.desc, r.batch).bytes());
    out.push({ ok: true, results: r.results, applied: r.batch.applied, confState: r.batch.confState ?? null });
  }
  if (writes.length > 0) db.write(writes, { sync: false });
  return out;
}
