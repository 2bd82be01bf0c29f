// A right range frozen by a merge whose left range then merges away into its own left
// neighbour would never unfreeze (found as a todo test). Three stores, K = [-inf, k04),
// L = [k04, k08), R = [k08, +inf); store 1 leads L and R, store 2 leads K.
//
//   1. Store 1 merges R into L; its messages to store 3 are lost, so its catch-up wait
//      waits; store 1 crashes in it (R frozen on stores 1 and 2, then 3), and restarts.
//   2. Within mergeFrozenTimeoutMs (3 s here), L's leadership moves to store 2, which
//      merges L into K. That used to be accepted, and L was destroyed everywhere with
//      its merge undecided, so the watchdog (which reads the outcome L recorded) found no
//      left range to decide from, and R refused every write and read but STALE ones for
//      good. Now L recorded the merge as pending (BeginMerge), and a range with a merge
//      pending refuses to be frozen: the merge of L into K is refused.
//   3. The watchdog aborts the first merge (L records it aborted) and unfreezes R; then L
//      merges into K.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdminCommandType, encodeAdminCommand } from '@rangekv/store';
import { hdr, threeRanges } from './three-ranges.js';

const [K, L, R] = [1, 2, 3];
const WAIT_MS = 10_000;

/**
 * K led by store 2, L and R by store 1; store 1 merges R into L and crashes in its catch-up
 * wait (its messages to store 3 lost), so R is frozen in L's name with no coordinator; then
 * it restarts.
 */
async function frozenByLostCoordinator() {
  const { world, net, stores, replica, leaderOf } = await threeRanges([K, L, R]);
  const leadOn = async (rangeId: number, storeId: number): Promise<void> => {
    const deadline = world.now + WAIT_MS;
    while (leaderOf(rangeId)?.id !== storeId) {
      if (world.now > deadline) assert.fail(`range ${rangeId} not led by store ${storeId} within ${WAIT_MS} simulated ms`);
      const l = leaderOf(rangeId);
      if (l) void l.store!.admin.transferLeader({ header: hdr(replica(l.id, rangeId)!.log.descriptor!), toStore: storeId }).catch(() => {});
      await world.runUntil(world.now + 100);
    }
  };
  for (const id of [L, R]) await leadOn(id, 1);
  await leadOn(K, 2);
  net.cut(1, 3);
  void stores[0]!.store!.admin.mergeRanges({ header: hdr(replica(1, L)!.log.descriptor!), rightRangeId: R }).catch(() => {});
  while (replica(1, R)?.log.mergeFreeze == null) await world.runUntil(world.now + 1);
  await world.runUntil(world.now + 100);
  stores[0]!.crash(0);
  net.heal(1, 3);
  await world.runUntil(world.now + 300);
  await world.drive(stores[0]!.start());
  await world.runUntil(world.now + 300);
  return { world, stores, replica, leadOn };
}

test('a right range frozen in the name of a left range that merged away is unfrozen', async () => {
  // 1. The coordinator crashes in its catch-up wait.
  const { world, stores, replica, leadOn } = await frozenByLostCoordinator();

  // 2. L merges into K before the watchdog rolls the first merge back.
  await leadOn(L, 2);
  assert.ok(replica(2, R)?.log.mergeFreeze != null, 'R is frozen, in L\'s name');
  const refused = await world.drive(stores[1]!.store!.admin.mergeRanges({ header: hdr(replica(2, K)!.log.descriptor!), rightRangeId: L }).then(
    () => 'merged', (e: unknown) => String(e)));
  assert.match(refused, /has merge \d+ of its own pending/, 'L cannot be merged away while its merge is undecided');

  // 3. Within mergeFrozenTimeoutMs and a bit, R takes writes again; then L merges into K.
  const deadline = world.now + WAIT_MS;
  const frozenOn = () => stores.filter((s) => (replica(s.id, R)?.log.mergeFreeze ?? null) !== null).map((s) => s.id);
  while (frozenOn().length > 0) {
    if (world.now > deadline) assert.fail(`R is still frozen on stores ${frozenOn().join(',')} after ${WAIT_MS} simulated ms`);
    await world.runUntil(world.now + 10);
  }
  await leadOn(L, 2);
  const res = await world.drive(stores[1]!.store!.admin.mergeRanges({ header: hdr(replica(2, K)!.log.descriptor!), rightRangeId: L }));
  assert.equal(Buffer.from(res.merged!.endKey!).toString(), 'k08', 'L merged into K');
  for (const s of stores) await world.drive(s.store!.stop());
});

// Store-sim seeds 2236 and 2632: the first merge is rolled back on L (recorded aborted) but
// its Unfreeze of R never came (the coordinator was gone), and L is merged into K before
// the watchdog's next look: L is no longer there to read the rollback from. K takes L's
// outcomes with it, and the watchdog reads the rollback there (a merge id is recorded only
// by its left range and carried only by the ranges that absorbed it).
test('a right range frozen by a rolled-back merge whose left range then merged away is unfrozen from the merged range', async () => {
  const { world, stores, replica, leadOn } = await frozenByLostCoordinator();

  // The rollback reaches L (as the coordinator or the watchdog would record it), no Unfreeze follows yet.
  await leadOn(L, 2);
  const f = replica(2, R)!.log.mergeFreeze!;
  assert.ok(f, 'R is frozen, in L\'s name');
  const abort = encodeAdminCommand({ type: AdminCommandType.AbortMerge, mergeId: f.mergeId, leftConfVer: f.leftConfVer, leftVersion: f.leftVersion });
  stores[1]!.store!.host.scheduler.propose(L, abort, () => {}, { broadcastCommit: true });
  const abortedEverywhere = () => stores.every((s) => replica(s.id, L)?.log.mergeOutcomes.some((o) => o.mergeId === f.mergeId && o.state === 'aborted'));
  while (!abortedEverywhere()) await world.runUntil(world.now + 1);
  // Before the watchdog looks (R has been frozen less than mergeFrozenTimeoutMs), L merges into K.
  assert.ok(stores.every((s) => replica(s.id, R)?.log.mergeFreeze != null), 'R is still frozen everywhere');
  const res = await world.drive(stores[1]!.store!.admin.mergeRanges({ header: hdr(replica(2, K)!.log.descriptor!), rightRangeId: L }));
  assert.equal(Buffer.from(res.merged!.endKey!).toString(), 'k08', 'L merged into K');
  const mergedEverywhere = () => stores.every((s) => Buffer.from(replica(s.id, K)?.log.descriptor?.endKey ?? []).toString() === 'k08');
  while (!mergedEverywhere()) await world.runUntil(world.now + 1);
  for (const s of stores) {
    assert.ok(replica(s.id, K)?.log.mergeOutcomes.some((o) => o.mergeId === f.mergeId && o.state === 'aborted'), `store ${s.id}: K took L's outcomes`);
  }

  // The watchdog unfreezes R from K's record.
  const deadline = world.now + WAIT_MS;
  const frozenOn = () => stores.filter((s) => (replica(s.id, R)?.log.mergeFreeze ?? null) !== null).map((s) => s.id);
  while (frozenOn().length > 0) {
    if (world.now > deadline) assert.fail(`R is still frozen on stores ${frozenOn().join(',')} after ${WAIT_MS} simulated ms`);
    await world.runUntil(world.now + 10);
  }
  for (const s of stores) await world.drive(s.store!.stop());
});
