// The crash tests' writer: creates `groups` ranges, then drives the GroupModel workload
// through ReadyBatch (one log-writer request per cycle, up to MAX_INFLIGHT_PER_GROUP
// Readies of a group in flight), applying and compacting now and then. After each request
// is durable it reports every Ready in it (`onAck(group, step)`). It runs until maxCycles,
// or forever if the process (or the MemDisk under the engine) dies first.
//
// Used by the child process of crash.test.ts (RocksDB, SIGKILL) and by mem-crash.test.ts
// (MemDisk, crash()); checkGroup is what both expect of each group after reopening.
import assert from 'node:assert/strict';
import { ReplicaRole } from '@rangekv/proto/range-descriptor';
import { Prng } from '@rangekv/raft';
import { ColumnFamily } from '../column-families.js';
import type { StorageEngine } from '../engine.js';
import { MAX_INDEX_EXCLUSIVE, entryKey, parseEntryKey } from '../keys.js';
import type { NextTurn } from '../storage-clock.js';
import { ENTRY_BYTES, GroupModel, MAX_INFLIGHT_PER_GROUP, rangeStart } from './crash-model.js';
import { confState, payload, ready } from './fixtures.js';

export interface WorkloadOptions {
  seed: number;
  groups: number;
  maxCycles: number;
  /** The ranges exist; the cycles start. */
  onStart?: () => void;
  /** Yields between cycles (setImmediate for a real process). */
  nextTurn: NextTurn;
  /** Group `group`'s Ready number `step` (from 1, in order) is durable. */
  onAck(acks: readonly [group: number, step: number][]): void;
}

/** The limits the workload runs with (small caches and delete batches: more disk reads and background turns). */
export const WORKLOAD_LIMITS = { maxCachedEntries: 16, deleteBatchKeys: 64 };

export async function runWorkload(engine: StorageEngine, o: WorkloadOptions): Promise<void> {
  await Promise.all(Array.from({ length: o.groups }, (_, i) => engine.createRange({
    descriptor: {
      rangeId: i + 1, startKey: Buffer.from(rangeStart(i + 1)), endKey: Buffer.from(rangeStart(i + 2)),
      epoch: { confVer: 1, version: 1 }, replicas: [{ storeId: 1, replicaId: 1, role: ReplicaRole.Voter }],
    },
    confState: confState([1]),
  })));
  const models = Array.from({ length: o.groups + 1 }, (_, g) => new GroupModel(g, o.seed));
  const inflight = new Array<number>(o.groups + 1).fill(0);
  const prng = new Prng(o.seed);
  o.onStart?.();
  const pending: Promise<void>[] = [];
  for (let cycle = 0; cycle < o.maxCycles; cycle++) {
    const batch = engine.readyBatch();
    const members: [number, number][] = [];
    for (let g = 1; g <= o.groups; g++) {
      if (inflight[g]! >= MAX_INFLIGHT_PER_GROUP || prng.float() < 0.3) continue;
      const m = models[g]!;
      const { entries, hardState } = m.step();
      batch.add(g, ready({ entries, hardState }));
      members.push([g, m.steps]);
      inflight[g]!++;
    }
    pending.push(batch.submit().then(() => {
      for (const [g] of members) inflight[g]!--;
      if (members.length > 0) o.onAck(members);
    }));
    if (cycle % 7 === 3) {
      // Apply up to the durable commit and compact a little below it.
      const g = 1 + prng.int(o.groups);
      const s = engine.range(g);
      const c = s.hardState.commit;
      if (c > s.applied.index && c <= s.lastIndex()) engine.apply(g, { applied: { index: c, term: s.term(c) } });
      const to = s.applied.index - 1;
      if (to > s.truncated.index) pending.push(engine.compactLog(g, to).then(() => {}));
    }
    while (pending.length > 3) await pending.shift();
    await new Promise<void>((resolve) => o.nextTurn(resolve));
  }
  await Promise.all(pending);
}

/**
 * After a crash and reopen: group `g`'s log and hard state equal the workload's state after
 * its last acknowledged step `acked` or a later one (requests in flight may have landed),
 * the log has no gap, and the hard state agrees with the log.
 */
export function checkGroup(engine: StorageEngine, seed: number, g: number, acked: number): void {
  const s = engine.range(g);
  const first = s.firstIndex();
  const last = s.lastIndex();
  const hs = s.hardState;
  // No gap: exactly the keys first..last exist (older ones may linger below first only).
  const keys = engine.db.scan(ColumnFamily.Raft, { gte: entryKey(g, first), lt: entryKey(g, MAX_INDEX_EXCLUSIVE) }).map((kv) => parseEntryKey(kv.key).index);
  assert.deepEqual(keys, Array.from({ length: last - first + 1 }, (_, i) => first + i), `group ${g}: log keys are not exactly [${first}, ${last}]`);
  const ents = last >= first ? s.entries(first, last + 1, Infinity) : [];
  assert.ok(hs.commit <= last, `group ${g}: commit ${hs.commit} beyond last index ${last}`);
  assert.ok(hs.term >= s.term(last), `group ${g}: hard state term ${hs.term} below the last entry's term`);
  const model = new GroupModel(g, seed);
  for (let k = 0; k < acked; k++) model.step();
  const tried: string[] = [];
  for (let j = acked; j <= acked + MAX_INFLIGHT_PER_GROUP; j++) {
    const c = model.snapshot();
    const cLast = c.terms.length - 1;
    const same = cLast === last && c.hardState.term === hs.term && c.hardState.vote === hs.vote && c.hardState.commit === hs.commit &&
      ents.every((e) => e.term === c.terms[e.index] && Buffer.from(e.data).equals(Buffer.from(payload(g, e.index, e.term, ENTRY_BYTES))));
    if (same) return;
    tried.push(`step ${j}: last ${cLast} hs ${JSON.stringify(c.hardState)}`);
    model.step();
  }
  assert.fail(`group ${g}: recovered state (first ${first}, last ${last}, hs ${JSON.stringify(hs)}) matches no state from its last acked step ${acked} on: ${tried.join('; ')}`);
}

/** Checks every group of a reopened store against the acks seen before the crash. */
export function checkStore(engine: StorageEngine, seed: number, groups: number, acks: ReadonlyMap<number, number>): void {
  for (let g = 1; g <= groups; g++) {
    if (!engine.hasRange(g)) {
      assert.equal(acks.get(g) ?? 0, 0, `group ${g} acknowledged writes but its range is missing`);
      continue;
    }
    checkGroup(engine, seed, g, acks.get(g) ?? 0);
  }
}
