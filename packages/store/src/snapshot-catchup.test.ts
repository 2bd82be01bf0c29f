// Snapshots over the wire, end to end with three StoreServers in one process (real
// engines and transports on 127.0.0.1): a follower cut off while the leader compacts
// its log past it catches up by snapshot; a refused snapshot is reported failed and
// retried; a replica missing on its store is created by a leader's message and filled by
// snapshot, also across a restart while still uninitialized.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { metapb } from '@rangekv/proto';
import { StoreCluster } from './testing/store-cluster.js';
import type { StoreServer } from './store-server.js';

const b = (s: string): Buffer => Buffer.from(s);
const str = (v: Uint8Array | null | undefined): string => Buffer.from(v ?? new Uint8Array(0)).toString();
const C = metapb.ReadConsistency;

const server = {
  logCompaction: { logCompactionCheckTicks: 2, logCompactionThresholdEntries: 20, logCompactionKeepEntries: 5, maxFollowerLagEntries: 30 },
  // Small chunks: every snapshot here travels as many chunks.
  snapshots: { snapshotChunkBytes: 256 },
};

/** Writes the keys through whichever store leads (an election under load moves it; NotLeader / ServerBusy are retried). */
async function writeKeys(c: StoreCluster, _leader: StoreServer, prefix: string, n: number): Promise<void> {
  for (let i = 0; i < n; i += 10) {
    const batch: number[] = [];
    for (let j = i; j < Math.min(n, i + 10); j++) batch.push(j);
    const deadline = Date.now() + 30_000;
    let todo = batch;
    while (todo.length > 0) {
      const leader = await c.waitForLeader();
      const res = await Promise.all(todo.map((j) =>
        leader.kv.put({ header: c.header(), key: b(`${prefix}${String(j).padStart(4, '0')}`), value: b(`v${j}-${'x'.repeat(40)}`) })));
      const retry = todo.filter((_, k) => {
        const re = res[k]!.rangeError;
        if (re && !re.notLeader && !re.serverBusy) assert.fail(re.message ?? 'write failed');
        return re !== undefined;
      });
      if (retry.length > 0 && Date.now() > deadline) assert.fail(`writes kept failing: ${res.find((r) => r.rangeError)?.rangeError?.message}`);
      if (retry.length > 0) await new Promise((r) => setTimeout(r, 20));
      todo = retry;
    }
  }
}

function sendsFailed(c: StoreCluster): number {
  let n = 0;
  for (const s of c.servers.values()) n += s.counters.snapshotSendsFailed;
  return n;
}

function isolate(c: StoreCluster, id: number): void {
  for (const other of c.ids) if (other !== id) c.faults.partition(id, other);
}

/** Every key written reads back the same through `s` (STALE: its local state). */
async function assertServes(c: StoreCluster, s: StoreServer, prefix: string, n: number): Promise<void> {
  const scan = await s.kv.scan({ header: c.header(1, C.STALE), startKey: b(prefix), endKey: b(`${prefix}~`), limit: 0 });
  assert.equal(scan.rangeError, undefined);
  const pairs = scan.pairs ?? [];
  assert.equal(pairs.length, n);
  for (let j = 0; j < n; j++) {
    assert.equal(str(pairs[j]!.key), `${prefix}${String(j).padStart(4, '0')}`);
    assert.equal(str(pairs[j]!.value), `v${j}-${'x'.repeat(40)}`);
  }
}

test('a follower cut off while the leader compacts past it catches up by snapshot and serves the same data', async () => {
  const c = await StoreCluster.start({ server });
  try {
    const leader = await c.waitForLeader();
    await writeKeys(c, leader, 'a', 10);
    const f = c.followers()[0]!;
    isolate(c, f.storeId);
    const fApplied = f.scheduler.get(1)!.log.applied.index;
    await writeKeys(c, leader, 'b', 120);
    const lr = leader.scheduler.get(1)!;
    await c.waitFor('the leader compacts its log past the cut-off follower', () => lr.log.firstIndex() > fApplied + 1);
    assert.ok(leader.counters.logCompactions > 0);
    assert.equal(f.counters.snapshotsReceived, 0);
    c.faults.heal();
    const target = lr.log.applied.index;
    await c.waitFor('the follower catches up', () => f.scheduler.get(1)!.log.applied.index >= target);
    assert.ok(f.counters.snapshotsReceived >= 1, 'caught up by snapshot');
    assert.ok(f.counters.snapshotBytesReceived > 256, 'in several chunks');
    await c.waitFor('the sender counts it sent (ack received)', () => leader.counters.snapshotsSent >= 1);
    await assertServes(c, f, 'a', 10);
    await assertServes(c, f, 'b', 120);
    // A FOLLOWER read through it sees a write made after the catch-up.
    await leader.kv.put({ header: c.header(), key: b('after'), value: b('1') });
    const fr = await f.kv.get({ header: c.header(1, C.FOLLOWER), key: b('after') });
    assert.equal(str(fr.value), '1');
    // No staging dir is left once the snapshot is ingested.
    await c.waitFor('staging cleaned', () => {
      try {
        return readdirSync(join(c.dir(f.storeId), 'snapshots')).length === 0;
      } catch {
        return true;
      }
    });
  } finally {
    await c.close();
  }
});

test('a snapshot the receiver refuses is reported failed and retried until it lands', async () => {
  const c = await StoreCluster.start({ server });
  try {
    const leader = await c.waitForLeader();
    const f = c.followers()[0]!;
    isolate(c, f.storeId);
    const fApplied = f.scheduler.get(1)!.log.applied.index;
    await writeKeys(c, leader, 'k', 80);
    const lr = leader.scheduler.get(1)!;
    await c.waitFor('compacted past the follower', () => lr.log.firstIndex() > fApplied + 1);
    f.snapshots.refuseNextReceives = 2;
    c.faults.heal();
    const target = lr.log.applied.index;
    await c.waitFor('the follower catches up', () => f.scheduler.get(1)!.log.applied.index >= target);
    assert.equal(f.counters.snapshotReceivesFailed >= 2, true, 'two refusals');
    assert.ok(sendsFailed(c) >= 2, 'the sender saw them fail');
    assert.ok(f.counters.snapshotsReceived >= 1, 'then one was accepted');
    await assertServes(c, f, 'k', 80);
  } finally {
    await c.close();
  }
});

test('a replica missing on its store is created by a leader message and filled by snapshot, also across a restart', async () => {
  // Store 3 is named in range 1's descriptor (voter 3) but holds no range: what a store
  // sees after AddReplica. Stores 1 and 2 elect a leader; its messages create the replica.
  const c = await StoreCluster.start({ server, emptyStores: [3] });
  try {
    let s = c.server(3);
    // First incarnation: refuses every snapshot, so its replica stays uninitialized. (Set
    // right after start: an election takes at least an election timeout.)
    s.snapshots.refuseNextReceives = 1_000_000;
    const leader = await c.waitForLeader();
    await writeKeys(c, leader, 'w', 40);
    await c.waitFor('an uninitialized replica created by a leader message', () => s.scheduler.get(1) !== undefined);
    assert.equal(s.scheduler.get(1)!.log.descriptor, null);
    assert.equal(s.scheduler.get(1)!.node.id, 3);
    assert.equal(s.uninitialized.counters.created, 1);
    await c.waitFor('a snapshot refused', () => s.counters.snapshotReceivesFailed > 0);
    // The sender learns of the refusal when its call's answer arrives (after the receiver
    // counted it), and the sender is whichever store led when raft asked for the snapshot.
    await c.waitFor('the sending store saw the snapshot fail', () => sendsFailed(c) > 0);
    await c.stopStore(3);
    // Restart: the uninitialized range comes back dormant; a leader message revives it.
    s = await c.startStore(3);
    assert.equal(s.uninitialized.counters.restored, 1);
    const lr = c.leader()!.scheduler.get(1)!;
    await c.waitFor('the new replica catches up', () => {
      const r = s.scheduler.get(1);
      return r !== undefined && r.log.descriptor !== null && r.log.applied.index >= lr.log.applied.index;
    });
    assert.ok(s.counters.snapshotsReceived >= 1);
    assert.equal(s.uninitialized.counters.created, 0, 'revived, not created again');
    await assertServes(c, s, 'w', 40);
    assert.equal(s.uninitialized.size, 0);
  } finally {
    await c.close();
  }
});
