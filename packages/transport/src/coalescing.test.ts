// Packets per store pair per flush must not grow with the number of ranges: with 1, 100
// and 1,000 ranges each sending a heartbeat per cycle, each pair sees one packet per
// flush carrying all of them, and one packet back with all the responses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageType, type Message } from '@rangekv/raft';
import { Cluster, heartbeat, heartbeatResp, waitFor, type Node } from './test-helpers.js';

const CYCLES = 4;

/** Followers answer every heartbeat at once, as raft would, and flush once per batch. */
function answerHeartbeats(n: Node): void {
  n.onBatch = (from, msgs) => {
    for (const { rangeId, msg: m } of msgs) {
      if (m.type === MessageType.Heartbeat) n.t.send(from, rangeId, heartbeatResp(m.to, m.from, m.term, m.index, m.context));
    }
    n.t.flush();
  };
}

function countOf(n: Node, type: Message['type']): number {
  return n.received().filter((m) => m.msg.type === type).length;
}

for (const ranges of [1, 100, 1_000]) {
  test(`${ranges} ranges heartbeating: one packet per store pair per flush, each way`, async () => {
    const c = new Cluster();
    try {
      const leader = await c.start(1);
      const followers = [await c.start(2), await c.start(3)];
      for (const f of followers) answerHeartbeats(f);
      // Open the streams first: before that, flushes only queue.
      for (const f of followers) leader.t.send(f.id, 1, heartbeat(1, 2, 1, 0, 0));
      leader.t.flush();
      await waitFor(() => countOf(leader, MessageType.HeartbeatResp) === 2, 'warm-up answers');

      for (let cycle = 1; cycle <= CYCLES; cycle++) {
        const before = leader.t.metrics();
        const followersBefore = followers.map((f) => f.t.metrics());
        const sent = new Map<number, Array<{ rangeId: number; msg: Message }>>();
        for (const f of followers) {
          const items = [];
          for (let r = 1; r <= ranges; r++) {
            // Replica ids differ per range; commit differs; term and stamp are shared.
            const m = heartbeat(10 * r + 1, 10 * r + f.id, 7, 1000 + r, 50 + cycle, r % 97 === 0 ? new Uint8Array([r & 0xff]) : null);
            assert.equal(leader.t.send(f.id, r, m), true);
            items.push({ rangeId: r, msg: m });
          }
          sent.set(f.id, items);
        }
        const fromFollowerBatches = followers.map((f) => f.batches.length);
        leader.t.flush();
        await waitFor(() => countOf(leader, MessageType.HeartbeatResp) === 2 + cycle * 2 * ranges, `cycle ${cycle} answers`);

        const after = leader.t.metrics();
        for (const [i, f] of followers.entries()) {
          const peerBefore = before.peers.find((p) => p.storeId === f.id)!;
          const peerAfter = after.peers.find((p) => p.storeId === f.id)!;
          // Leader -> follower: one batch, and it is a heartbeat packet with all of them.
          assert.equal(peerAfter.batchesSent - peerBefore.batchesSent, 1, `store 1 -> ${f.id} batches`);
          assert.equal(peerAfter.heartbeatPacketsSent - peerBefore.heartbeatPacketsSent, 1);
          assert.equal(peerAfter.heartbeatsSent - peerBefore.heartbeatsSent, ranges);
          const fm = f.t.metrics();
          assert.equal(fm.batchesReceived - followersBefore[i]!.batchesReceived, 1);
          assert.equal(fm.heartbeatsReceived - followersBefore[i]!.heartbeatsReceived, ranges);
          // What arrived is what was sent (range order is send order here).
          const got = f.batches.slice(fromFollowerBatches[i]!);
          assert.equal(got.length, 1);
          assert.deepEqual(got[0]!.msgs, sent.get(f.id));
          // Follower -> leader: one packet with every answer.
          const back = fm.peers.find((p) => p.storeId === 1)!;
          const backBefore = followersBefore[i]!.peers.find((p) => p.storeId === 1)!;
          assert.equal(back.batchesSent - backBefore.batchesSent, 1, `store ${f.id} -> 1 batches`);
          assert.equal(back.heartbeatsSent - backBefore.heartbeatsSent, ranges);
        }
        assert.equal(after.batchesReceived - before.batchesReceived, 2);
        assert.equal(after.heartbeatPacketsReceived - before.heartbeatPacketsReceived, 2);
      }
      const m = leader.t.metrics();
      assert.equal(m.heartbeatsPerPacketSent, (2 + CYCLES * 2 * ranges) / (2 + CYCLES * 2));
    } finally {
      await c.stopAll();
    }
  });
}
