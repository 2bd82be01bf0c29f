// A store whose replica of the left range is behind a merge that committed: its right
// replica, frozen, is what its left replica needs to apply CommitMerge when it catches up
// (merge-apply.ts). Two ways that went wrong, one test each (found as todo tests, fixed in
// merge-watchdog.ts, which now reads the outcome the left range recorded, and raft-host.ts,
// which keeps a right replica its left replica may still need).
// Three stores, three ranges L = [-inf, k04), M = [k04, k08), R = [k08, +inf), all led by
// store 1; L's messages to store 3 are lost, so store 3's L stays behind.
//
// 1. The merge watchdog (store/src/merge-watchdog.ts) reads "L's epoch is not the planned
//    one" as "L moved past it without CommitMerge", and unfreezes the right range if it
//    leads it there. But an epoch that has not reached the plan says nothing: CommitMerge
//    may have committed and applied elsewhere.
//      - M merges into L (L v1 -> v2); store 3's L stays at v1.
//      - R merges into L, planned at v2. Store 2 appends CommitMerge; from then on L's
//        messages to store 2 are lost too, so it never learns the entry committed. Store 1
//        applies it: R is gone there, L covers [-inf, +inf).
//      - R's replicas on stores 2 and 3, frozen, elect a leader; it is moved to store 3.
//        Store 3's watchdog sees L at v1, not v2, and proposes Unfreeze; stores 2 and 3
//        commit it. R takes writes again although store 1's L covers its keys (a write
//        acknowledged there is lost), and stores 2 and 3 fail their L replica when
//        CommitMerge reaches them (their R is no longer frozen by the merge).
// 2. A snapshot of a range split off the merged range covers the merged-away range's span
//    with a newer version; the receiving store takes that as "merged away" and destroys its
//    frozen replica (multiraft/src/snapshot-shipper.ts, overlapping(): "only a merge does"),
//    though its own L has not applied CommitMerge yet and needs it (store-sim seed 5219).
//      - M merges into L; store 3's L stays at v1, its M frozen.
//      - The merged L splits at k04 again: N = [k04, k08), a new range, on stores 1-3.
//      - N's snapshot reaches store 3: M is destroyed there as "subsumed".
//      - L's messages reach store 3 again: its L applies CommitMerge and finds no M:
//        its L replica fails (EntryApplyError).
// 3. A left replica that is behind a merge, on a store whose leader compacted its log past
//    CommitMerge, can only catch up by a snapshot of the merged range, which covers its own
//    frozen right replica. The right replica stayed for the left one (its merge was still
//    pending there) and the snapshot was refused for it: a deadlock that left the range on
//    two of its three replicas for good (store-sim seed 42948, found once the simulation's
//    convergence check stopped excusing replicas that wait for a snapshot). The merged
//    range's own snapshot now replaces the pending merge (raft-host.ts, mergeSuperseded).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hdr, threeRanges } from './three-ranges.js';
import { AdminCommandType, decodeAdminCommand, isAdminCommand } from '@rangekv/store';

const [L, M, R] = [1, 2, 3];
const WAIT_MS = 10_000;

/** Three stores, L, M and R on each, all led by store 1; store 3's L hears nothing from the others. */
async function threeRangesLagging() {
  const { world, net, stores, replica, leaderOf } = await threeRanges([L, M, R]);
  const until = async (what: string, cond: () => boolean, each?: () => void): Promise<void> => {
    const deadline = world.now + WAIT_MS;
    while (!cond()) {
      if (world.now > deadline) assert.fail(`not within ${WAIT_MS} simulated ms: ${what}`);
      await world.runUntil(world.now + 1, each);
    }
  };
  const leadOn = async (rangeId: number, storeId: number): Promise<void> => {
    await until(`range ${rangeId} led by store ${storeId}`, () => {
      const l = leaderOf(rangeId);
      if (l === null || l.id === storeId) return l?.id === storeId;
      if (world.now % 100 === 0) void l.store!.admin.transferLeader({ header: hdr(replica(l.id, rangeId)!.log.descriptor!), toStore: storeId }).catch(() => {});
      return false;
    });
  };
  for (const id of [L, M, R]) await leadOn(id, 1);
  const coord = stores[0]!.store!;
  const lagging = new Set([3]);
  net.dropRangeMessage = (_from, to, rangeId) => rangeId === L && lagging.has(to);
  // A leader that just took over refuses a merge until it applied its first entry (its
  // tail may hold a membership change): retry as a client does on ServerBusy.
  let m0 = await world.drive(coord.admin.mergeRanges({ header: hdr(replica(1, L)!.log.descriptor!), rightRangeId: M }));
  for (let i = 0; i < 20 && m0.rangeError?.serverBusy; i++) {
    await world.runUntil(world.now + Number(m0.rangeError.serverBusy.backoffMs ?? 100));
    m0 = await world.drive(coord.admin.mergeRanges({ header: hdr(replica(1, L)!.log.descriptor!), rightRangeId: M }));
  }
  assert.equal(m0.merged?.epoch?.version, 2);
  assert.equal(replica(3, L)!.log.descriptor!.epoch.version, 1, 'store 3\'s L is behind: v1');
  assert.ok(replica(3, M)?.log.mergeFreeze != null, 'store 3\'s M is frozen');
  return { world, net, stores, replica, until, leadOn, coord, lagging };
}

test('1. a store whose left replica is behind the planned epoch does not unfreeze a right range whose merge committed', async () => {
  const { world, net, stores, replica, until, coord, lagging } = await threeRangesLagging();
  // Store 2 appends CommitMerge of R and then hears nothing more of L.
  let commitAt = 0;
  const sched = coord.host.scheduler;
  const propose = sched.propose.bind(sched);
  sched.propose = (rangeId, data, done, opts) => {
    const res = propose(rangeId, data, done, opts);
    const commit = isAdminCommand(data) && decodeAdminCommand(data).type === AdminCommandType.CommitMerge;
    if (rangeId === L && commit && res.ok && commitAt === 0) commitAt = res.index;
    return res;
  };
  void coord.admin.mergeRanges({ header: hdr(replica(1, L)!.log.descriptor!), rightRangeId: R }).catch(() => {});
  await until('CommitMerge in store 2\'s log', () => commitAt > 0 && (replica(2, L)?.log.lastIndex() ?? 0) >= commitAt, () => {
    if (commitAt > 0 && (replica(2, L)?.log.lastIndex() ?? 0) >= commitAt) lagging.add(2);
  });
  await until('the merge applied on store 1', () => replica(1, R) === undefined && replica(1, L)!.log.descriptor!.endKey.length === 0);
  assert.ok(replica(2, R)?.log.mergeFreeze != null && replica(3, R)?.log.mergeFreeze != null, 'R frozen on stores 2 and 3');

  // R's leader moves to store 3, whose L is behind the plan; its watchdog looks.
  // (Its replicas sit quiescent under a leader that is gone, as a merged-away range's do:
  // store 3 campaigns, which it would after store 1 went down.)
  await until('R leads on store 3', () => {
    if (world.now % 200 === 0) stores[2]!.store!.host.scheduler.withNode(R, (x) => x.node.campaignKind('transfer'));
    return replica(3, R)?.isLeader === true;
  });
  await world.runUntil(world.now + 5_000);
  const r3 = replica(3, R);
  assert.ok(r3 !== undefined && r3.isLeader, 'R leads on store 3, not merged there');
  const unfreezes = stores[2]!.store!.merges.stats.unfreezes;
  assert.ok(r3.log.mergeFreeze !== null,
    `R must stay frozen: its merge committed in L's log and applied on store 1 (store 3's watchdog proposed ${unfreezes} Unfreeze; ` +
    `a write to k09 through R now: ${await world.drive(stores[2]!.store!.kv.put({ header: hdr(r3.log.descriptor!), key: Buffer.from('k09'), value: Buffer.from('lost') }).then((x) => x.rangeError?.message ?? 'acknowledged', (e: unknown) => String(e)))})`);

  net.dropRangeMessage = null;
  await world.runUntil(world.now + 3_000);
  for (const s of stores) assert.deepEqual([...s.store!.host.failedRanges], [], `store ${s.id} has failed replicas`);
  for (const s of stores) await world.drive(s.store!.stop());
});

test('2. a snapshot of a range split off a merged range does not destroy the frozen right replica a lagging left replica still needs', async () => {
  const { world, net, stores, replica, until } = await threeRangesLagging();
  const merged = replica(1, L)!.log.descriptor!;
  const split = await world.drive(stores[0]!.store!.admin.splitRange({ header: hdr(merged), splitKey: Buffer.from('k04') }));
  const n = Number(split.right!.rangeId);
  await world.runUntil(world.now + 3_000);
  assert.ok(replica(3, M) !== undefined, 'store 3 keeps M, frozen, for its L\'s CommitMerge (the split-off range\'s snapshot waits for that)');
  assert.equal(replica(3, n)?.log.descriptor ?? null, null, 'the split-off range\'s snapshot waits');
  net.dropRangeMessage = null;
  await until('store 3\'s L applies the merge, M goes, and the split-off range is filled', () =>
    replica(3, M) === undefined && (replica(3, n)?.log.descriptor ?? null) !== null);
  await world.runUntil(world.now + 1_000);
  for (const s of stores) assert.deepEqual([...s.store!.host.failedRanges], [], `store ${s.id} has failed replicas`);
  for (const s of stores) await world.drive(s.store!.stop());
});

test('3. a left replica behind a merge whose log was compacted past it takes the merged range\'s snapshot instead, and its frozen right replica goes', async () => {
  const { world, net, stores, replica, until } = await threeRangesLagging();
  // Store 1 leads L: its log loses everything through the merge; store 3's L needs a snapshot.
  const leader = stores[0]!.store!.host;
  await world.drive(leader.engine.compactLog(L, replica(1, L)!.log.applied.index));
  assert.ok(replica(3, M)?.log.mergeFreeze != null, 'store 3\'s M is frozen, waiting for its L');
  net.dropRangeMessage = null;
  await until('store 3\'s L takes the merged range\'s snapshot and its M is gone', () =>
    replica(3, M) === undefined && replica(3, L)?.log.descriptor?.epoch.version === 2);
  assert.equal(Buffer.from(replica(3, L)!.log.descriptor!.endKey).toString(), 'k08', 'store 3\'s L covers M\'s span');
  assert.ok(stores[2]!.store!.host.counters.snapshotsReceived > 0, 'by a snapshot');
  await world.runUntil(world.now + 1_000);
  for (const s of stores) assert.deepEqual([...s.store!.host.failedRanges], [], `store ${s.id} has failed replicas`);
  for (const s of stores) await world.drive(s.store!.stop());
});
