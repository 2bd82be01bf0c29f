// Range merge on real stores (3 StoreServers in one process): the coordinator, the apply
// on every replica, rollback, the watchdog, and requests routed to a merged-away range.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { metapb } from '@rangekv/proto';
import { AdminCommandType, encodeAdminCommand } from './admin-command.js';
import { FailedPreconditionError } from './errors.js';
import { mergeBackoffMs } from './kv-service.js';
import type { StoreServer } from './store-server.js';
import { StoreCluster, onLeader } from './testing/store-cluster.js';
import { rangeKeyPrefix } from '@rangekv/multiraft/testing/local-cluster';

const b = (s: string): Buffer => Buffer.from(s);
type Epoch = { confVer: number; version: number };
type Desc = metapb.RangeDescriptor.$Properties;
const E1: Epoch = { confVer: 1, version: 1 };

function hdr(rangeId: number, epoch: Epoch, rc = metapb.ReadConsistency.LINEARIZABLE): metapb.RequestHeader.$Properties {
  return { rangeId, epoch, readConsistency: rc };
}

function epochOf(d: Desc | null | undefined): Epoch {
  return { confVer: d?.epoch?.confVer ?? 0, version: d?.epoch?.version ?? 0 };
}

/** A key of range `r` in a StoreCluster (range r covers rangeKeyPrefix(r) up to the next). */
function keyOf(r: number, k: string): string {
  return `${rangeKeyPrefix(r)}${k}`;
}

async function put(c: StoreCluster, rangeId: number, epoch: Epoch, key: string, value: string): Promise<void> {
  const res = await onLeader(c, rangeId, (l) => l.kv.put({ header: hdr(rangeId, epoch), key: b(key), value: b(value) }));
  assert.equal(res.rangeError, undefined, res.rangeError?.message ?? '');
}

async function get(c: StoreCluster, rangeId: number, epoch: Epoch, key: string): Promise<string | null> {
  const res = await onLeader(c, rangeId, (l) => l.kv.get({ header: hdr(rangeId, epoch), key: b(key) }));
  assert.equal(res.rangeError, undefined, res.rangeError?.message ?? '');
  return res.found ? Buffer.from(res.value!).toString() : null;
}

/** Moves range `rangeId`'s leadership to `storeId` and waits for it. */
async function leadOn(c: StoreCluster, rangeId: number, storeId: number): Promise<void> {
  await c.waitForLeader(rangeId);
  const deadline = Date.now() + 20_000;
  while (c.leader(rangeId)?.storeId !== storeId) {
    const l = c.leader(rangeId);
    if (l) await l.admin.transferLeader({ header: hdr(rangeId, epochOf({ epoch: l.scheduler.get(rangeId)!.log.descriptor!.epoch })), toStore: storeId });
    if (Date.now() > deadline) throw new Error(`range ${rangeId}: leadership did not move to store ${storeId}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Both ranges led by the same store: the one leading `left`. */
async function colocateLeaders(c: StoreCluster, left: number, right: number): Promise<StoreServer> {
  const l = await c.waitForLeader(left);
  await leadOn(c, right, l.storeId);
  if (c.leader(left)?.storeId !== l.storeId) await leadOn(c, left, l.storeId);
  return l;
}

/** Proposes an admin entry on `s`'s replica of `rangeId` (which must lead it) and resolves with its result at apply. */
function proposeOn(s: StoreServer, rangeId: number, data: Uint8Array): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const res = s.scheduler.propose(rangeId, data, (o) => (o.kind === 'applied' ? resolve(o.result) : reject(new Error(o.kind))));
    if (!res.ok) reject(new Error(res.reason));
  });
}

async function merge(s: StoreServer, left: number, leftEpoch: Epoch, right: number): Promise<Desc> {
  const res = await s.admin.mergeRanges({ header: hdr(left, leftEpoch), rightRangeId: right });
  if (res.rangeError) assert.fail(res.rangeError.message ?? 'merge failed');
  return res.merged!;
}

test('merge: the left range covers both, the right range is gone on every store, its keys are served by the left, and it stays so after a restart', async () => {
  const c = await StoreCluster.start({ ranges: 2 });
  try {
    for (const k of ['a', 'b']) await put(c, 1, E1, keyOf(1, k), `L-${k}`);
    for (const k of ['a', 'b']) await put(c, 2, E1, keyOf(2, k), `R-${k}`);
    const coord = await colocateLeaders(c, 1, 2);
    const merged = await merge(coord, 1, E1, 2);
    assert.equal(merged.rangeId, 1);
    assert.deepEqual(Buffer.from(merged.startKey!), b(''));
    assert.deepEqual(Buffer.from(merged.endKey!), b(''));
    assert.deepEqual(epochOf(merged), { confVer: 1, version: 2 });
    await c.waitFor('range 2 gone and range 1 widened on every store', () => [...c.servers.values()].every((s) =>
      s.scheduler.get(2) === undefined && s.scheduler.get(1)?.log.descriptor?.endKey.length === 0));
    const e2 = epochOf(merged);
    for (const r of [1, 2]) for (const k of ['a', 'b']) assert.equal(await get(c, 1, e2, keyOf(r, k)), `${r === 1 ? 'L' : 'R'}-${k}`);
    await put(c, 1, e2, keyOf(2, 'c'), 'after');
    // A request still routed to range 2 learns where its keys went, without asking PD.
    const stale = await coord.kv.get({ header: hdr(2, E1), key: b(keyOf(2, 'a')) });
    assert.deepEqual(stale.rangeError?.epochNotMatch?.current?.map((d) => d.rangeId), [1], stale.rangeError?.message ?? 'no error');
    assert.match(stale.rangeError?.message ?? '', /merged into range 1/);
    // Restart a follower: the merge is on disk.
    const sid = c.followers(1)[0]!.storeId;
    await c.stopStore(sid);
    const again = await c.startStore(sid);
    assert.deepEqual(again.status().map((s) => s.rangeId), [1]);
    await c.waitFor('the restarted store applies the write after the merge', () => (again.scheduler.get(1)?.log.applied.index ?? 0) >= (c.leader(1)?.scheduler.get(1)?.log.applied.index ?? Infinity));
    const stale2 = await again.kv.get({ header: hdr(1, e2, metapb.ReadConsistency.STALE), key: b(keyOf(2, 'c')) });
    assert.equal(Buffer.from(stale2.value!).toString(), 'after');
    assert.equal(coord.metrics.merges.get !== undefined, true);
  } finally {
    await c.close();
  }
});

test('merge refusals: not adjacent, the right leader elsewhere, wrong epochs, itself, a follower; nothing changes', async () => {
  const c = await StoreCluster.start({ ranges: 3 });
  try {
    const coord = await colocateLeaders(c, 1, 2);
    await leadOn(c, 3, c.ids.find((id) => id !== coord.storeId)!);
    await assert.rejects(coord.admin.mergeRanges({ header: hdr(1, E1), rightRangeId: 1 }), FailedPreconditionError);
    const far = await c.waitForLeader(3);
    await leadOn(c, 3, coord.storeId);
    await assert.rejects(coord.admin.mergeRanges({ header: hdr(1, E1), rightRangeId: 3 }), /not adjacent/);
    await leadOn(c, 3, far.storeId === coord.storeId ? c.ids.find((id) => id !== coord.storeId)! : far.storeId);
    await colocateLeaders(c, 2, 2);
    const l2 = c.leader(2)!;
    if (c.leader(3)?.storeId !== l2.storeId) {
      await assert.rejects(l2.admin.mergeRanges({ header: hdr(2, E1), rightRangeId: 3 }), /transfer it to store/);
    }
    const wrong = await coord.admin.mergeRanges({ header: hdr(1, { confVer: 1, version: 7 }), rightRangeId: 2 });
    assert.ok(wrong.rangeError?.epochNotMatch, 'left epoch checked');
    const wrongRight = await coord.admin.mergeRanges({ header: hdr(1, E1), rightRangeId: 2, rightEpoch: { confVer: 1, version: 9 } });
    assert.ok(wrongRight.rangeError?.epochNotMatch, 'right epoch checked');
    const follower = c.followers(1)[0]!;
    const nl = await follower.admin.mergeRanges({ header: hdr(1, E1), rightRangeId: 2 });
    assert.ok(nl.rangeError?.notLeader, 'a follower answers NotLeader');
    for (const s of c.servers.values()) {
      assert.deepEqual(s.status().map((x) => [x.rangeId, x.descriptor!.epoch!.version]), [[1, 1], [2, 1], [3, 1]]);
      assert.equal(s.scheduler.get(2)!.log.mergeFreeze, null);
    }
  } finally {
    await c.close();
  }
});

test('merge rolls back when a replica of the right range cannot reach the freeze: the right range unfreezes and serves, nothing is lost', async () => {
  const c = await StoreCluster.start({ ranges: 2, limits: { mergeCatchUpMs: 300 } });
  try {
    await put(c, 2, E1, keyOf(2, 'a'), 'before');
    const coord = await colocateLeaders(c, 1, 2);
    const down = c.ids.find((id) => id !== coord.storeId)!;
    await c.stopStore(down, { transferLeaders: false });
    await assert.rejects(coord.admin.mergeRanges({ header: hdr(1, E1), rightRangeId: 2 }), (e: unknown) =>
      e instanceof FailedPreconditionError && /merge rolled back|did not reach the freeze/.test(e.message));
    await c.waitFor('range 2 unfrozen on the live stores', () => [...c.servers.values()].every((s) => s.scheduler.get(2)?.log.mergeFreeze === null));
    // The left range's version moved (the abort), the right range's did not.
    const ld = coord.scheduler.get(1)!.log.descriptor!;
    assert.equal(ld.epoch.version, 2);
    await put(c, 2, E1, keyOf(2, 'b'), 'after');
    assert.equal(await get(c, 2, E1, keyOf(2, 'a')), 'before');
    await c.startStore(down);
    await c.waitFor('the store that was down applies the rollback', () => c.server(down).scheduler.get(2)?.log.mergeFreeze === null
      && c.server(down).scheduler.get(1)?.log.descriptor?.epoch.version === 2);
    // With every replica back, the merge goes through.
    const coord2 = await colocateLeaders(c, 1, 2);
    const merged = await merge(coord2, 1, { confVer: 1, version: 2 }, 2);
    assert.deepEqual(epochOf(merged), { confVer: 1, version: 3 });
    assert.equal(await get(c, 1, epochOf(merged), keyOf(2, 'b')), 'after');
  } finally {
    await c.close();
  }
});

test('a freeze whose coordinator went away is rolled back by the watchdog; a frozen range refuses writes, reads and splits meanwhile', async () => {
  const c = await StoreCluster.start({ ranges: 2, limits: { mergeFrozenTimeoutMs: 500 } });
  try {
    const coord = await colocateLeaders(c, 1, 2);
    await proposeOn(coord, 2, encodeAdminCommand({ type: AdminCommandType.Freeze, mergeId: 77, leftRangeId: 1, leftConfVer: 1, leftVersion: 1, confVer: 1, version: 1 }));
    assert.equal(coord.scheduler.get(2)!.log.mergeFreeze?.mergeId, 77);
    const w = await coord.kv.put({ header: hdr(2, E1), key: b(keyOf(2, 'x')), value: b('v') });
    assert.match(w.rangeError?.serverBusy ? w.rangeError.message ?? '' : 'not busy', /merging into range 1/);
    assert.ok(Number(w.rangeError?.serverBusy?.backoffMs ?? 0) >= 20, 'clients are asked to back off');
    const rd = await coord.kv.get({ header: hdr(2, E1), key: b(keyOf(2, 'x')) });
    assert.ok(rd.rangeError?.serverBusy, 'a linearizable read of a frozen range is refused');
    const stale = await coord.kv.get({ header: hdr(2, E1, metapb.ReadConsistency.STALE), key: b(keyOf(2, 'x')) });
    assert.equal(stale.rangeError, undefined, 'a STALE read promises no recency and is served');
    const sp = await coord.admin.splitRange({ header: hdr(2, E1), splitKey: b(keyOf(2, 'm')) });
    assert.ok(sp.rangeError?.serverBusy, 'no split of a frozen range');
    // No coordinator: after mergeFrozenTimeoutMs the watchdog aborts on the left, then unfreezes the right.
    await c.waitFor('the watchdog rolls the merge back', () => [...c.servers.values()].every((s) =>
      s.scheduler.get(2)?.log.mergeFreeze === null && s.scheduler.get(1)?.log.descriptor?.epoch.version === 2), 20_000);
    await put(c, 2, E1, keyOf(2, 'x'), 'served again');
    assert.ok(coord.store.merges.stats.aborts >= 1 && coord.store.merges.stats.unfreezes >= 1);
  } finally {
    await c.close();
  }
});

test('a split of the left range racing a merge wins: the commit that follows it is a no-op everywhere, and the right range unfreezes', async () => {
  const c = await StoreCluster.start({ ranges: 2, limits: { mergeFrozenTimeoutMs: 300 } });
  try {
    const coord = await colocateLeaders(c, 1, 2);
    // The freeze of a merge planned against range 1 at epoch {1, 1} (its coordinator gone)...
    const frozen = await proposeOn(coord, 2, encodeAdminCommand({ type: AdminCommandType.Freeze, mergeId: 91, leftRangeId: 1, leftConfVer: 1, leftVersion: 1, confVer: 1, version: 1 })) as { kind: string; index: number; term: number };
    assert.equal(frozen.kind, 'frozen');
    // ... then a split of range 1 comes first in its log.
    const sp = await coord.admin.splitRange({ header: hdr(1, E1), splitKey: b(keyOf(1, 'm')) });
    assert.equal(sp.rangeError, undefined, sp.rangeError?.message ?? '');
    const rd = coord.scheduler.get(2)!.log.descriptor!;
    const commit = await proposeOn(coord, 1, encodeAdminCommand({
      type: AdminCommandType.CommitMerge, mergeId: 91, leftConfVer: 1, leftVersion: 1, rightRangeId: 2, rightVersion: 1, rightEndKey: rd.endKey,
      freezeIndex: frozen.index, freezeTerm: frozen.term,
    })) as { kind: string };
    assert.equal(commit.kind, 'epoch-not-match', 'the left epoch moved: the commit does nothing');
    await c.waitFor('the watchdog unfreezes range 2 everywhere', () => [...c.servers.values()].every((s) => s.scheduler.get(2)?.log.mergeFreeze === null), 20_000);
    await put(c, 2, E1, keyOf(2, 'after'), 'served');
    for (const s of c.servers.values()) assert.ok(s.scheduler.get(2) && s.scheduler.get(1)!.log.descriptor!.epoch.version === 2);
  } finally {
    await c.close();
  }
});

test('a left range with a merge pending cannot be merged away until that merge is decided (the watchdog aborts a stale one)', async () => {
  const c = await StoreCluster.start({ ranges: 3, limits: { mergeFrozenTimeoutMs: 500 } });
  try {
    const coord = await colocateLeaders(c, 1, 2);
    await leadOn(c, 3, coord.storeId);
    // A merge of 3 into 2 began (its coordinator gone before freezing 3).
    const begun = await proposeOn(coord, 2, encodeAdminCommand({ type: AdminCommandType.BeginMerge, mergeId: 55, leftConfVer: 1, leftVersion: 1, rightRangeId: 3 }));
    assert.deepEqual(begun, { kind: 'merge-begun' });
    await assert.rejects(coord.admin.mergeRanges({ header: hdr(1, E1), rightRangeId: 2 }), /has merge 55 of its own pending/);
    // That attempt rolled back: range 1's version moved (its own abort), range 2 never froze.
    assert.equal(coord.scheduler.get(1)!.log.descriptor!.epoch.version, 2);
    assert.equal(coord.scheduler.get(2)!.log.mergeFreeze, null);
    // The watchdog aborts the stale pending merge (range 2's version moves); then 2 merges into 1.
    await c.waitFor('merge 55 aborted on every store', () => [...c.servers.values()].every((s) =>
      s.scheduler.get(2)?.log.mergeOutcomes.some((o) => o.mergeId === 55 && o.state === 'aborted')), 20_000);
    await c.waitFor('range 2 applied the abort here', () => coord.scheduler.get(2)!.log.descriptor!.epoch.version === 2);
    const merged = await merge(coord, 1, { confVer: 1, version: 2 }, 2);
    assert.equal(Buffer.from(merged.endKey!).toString(), rangeKeyPrefix(3));
  } finally {
    await c.close();
  }
});

test('the backoff asked of clients grows with how long a range has been frozen, so their retries outlast a lost coordinator', () => {
  assert.equal(mergeBackoffMs(0), 20);
  assert.equal(mergeBackoffMs(200), 50);
  assert.equal(mergeBackoffMs(2_000), 500);
  assert.equal(mergeBackoffMs(60_000), 1_000);
});
