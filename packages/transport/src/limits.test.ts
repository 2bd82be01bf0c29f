import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageType } from '@rangekv/raft';
import { estimateMessageBytes } from './message-codec.js';
import { Cluster, exchange, heartbeat, msg, waitFor } from './test-helpers.js';

const app = (index: number, dataBytes = 0) => msg({
  type: MessageType.App, from: 1, to: 2, index,
  entries: dataBytes > 0 ? [{ term: 1, index, type: 0, data: new Uint8Array(dataBytes).fill(index & 0xff) }] : [],
});

test('a full queue drops further sends (send -> false) and counts them; what was queued still arrives', async () => {
  const c = new Cluster({ maxQueuedMsgsPerPeer: 50 });
  try {
    const a = await c.start(1);
    const b = await c.start(2);
    const results: boolean[] = [];
    // Heartbeats count toward the same bound as ordinary messages.
    for (let i = 1; i <= 30; i++) results.push(a.t.send(2, i, app(i)));
    for (let i = 1; i <= 30; i++) results.push(a.t.send(2, i, heartbeat(1, 2, 1, 0, i)));
    assert.deepEqual(results.map((r, i) => [i, r]).filter(([, r]) => !r).map(([i]) => i), Array.from({ length: 10 }, (_, i) => 50 + i));
    assert.equal(a.t.metrics().drops.queueFull, 10);
    assert.equal(a.t.metrics().peers[0]!.queuedMsgs, 50);
    a.t.flush();
    await waitFor(() => b.received().length === 50, '50 messages');
    assert.equal(a.t.metrics().peers[0]!.queuedMsgs, 0);
    assert.equal(a.t.metrics().peers[0]!.queuedBytes, 0);
    // Room again.
    await exchange(a, b, [{ rangeId: 1, msg: app(99) }]);
  } finally {
    await c.stopAll();
  }
});

test('the queued-bytes bound drops a message that would exceed it', async () => {
  const c = new Cluster({ maxQueuedBytesPerPeer: 10_000 });
  try {
    const a = await c.start(1);
    await c.start(2);
    let accepted = 0;
    for (let i = 1; i <= 10; i++) if (a.t.send(2, 1, app(i, 3_000))) accepted++;
    assert.equal(accepted, 3);
    assert.equal(a.t.metrics().drops.queueBytes, 7);
    assert.ok(a.t.metrics().peers[0]!.queuedBytes <= 10_000);
  } finally {
    await c.stopAll();
  }
});

test('a message larger than maxMsgBytes is dropped at send; one just under goes through', async () => {
  const c = new Cluster({ maxMsgBytes: 64 * 1024, maxBatchBytes: 16 * 1024 });
  try {
    const a = await c.start(1);
    const b = await c.start(2);
    const big = app(1, 64 * 1024);
    assert.ok(estimateMessageBytes(big) > 64 * 1024);
    assert.equal(a.t.send(2, 1, big), false);
    assert.equal(a.t.metrics().drops.oversize, 1);
    const snap = msg({
      type: MessageType.Snap, from: 1, to: 2,
      snapshot: { meta: { index: 5, term: 1, confState: { voters: [1, 2], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } }, data: new Uint8Array(60 * 1024).fill(7) },
    });
    // Larger than maxBatchBytes but within maxMsgBytes: travels alone, intact.
    const got = await exchange(a, b, [{ rangeId: 3, msg: snap }]);
    assert.deepEqual(got, [{ rangeId: 3, msg: snap }]);
  } finally {
    await c.stopAll();
  }
});

test('one flush larger than maxBatchBytes is cut into several batches; heartbeats ride in the first; order kept', async () => {
  const c = new Cluster({ maxBatchBytes: 4_096 });
  try {
    const a = await c.start(1);
    const b = await c.start(2);
    await exchange(a, b, [{ rangeId: 1, msg: app(0) }]); // stream open
    const before = a.t.metrics().batchesSent;
    for (let i = 1; i <= 20; i++) assert.equal(a.t.send(2, 1, app(i, 1_000)), true);
    for (let r = 1; r <= 10; r++) assert.equal(a.t.send(2, r, heartbeat(1, 2, 1, 0, 7)), true);
    a.t.flush();
    await waitFor(() => b.received().length === 1 + 20 + 10, 'all');
    const batches = b.batches.slice(1);
    const perBatch = Math.floor(4_096 / estimateMessageBytes(app(1, 1_000)));
    assert.equal(batches.length, Math.ceil(20 / perBatch));
    assert.equal(a.t.metrics().batchesSent - before, batches.length);
    assert.equal(a.t.metrics().heartbeatPacketsSent, 1);
    assert.equal(batches[0]!.msgs.filter((m) => m.msg.type === MessageType.Heartbeat).length, 10);
    for (const x of batches.slice(1)) assert.ok(x.msgs.every((m) => m.msg.type === MessageType.App));
    const indexes = batches.flatMap((x) => x.msgs).filter((m) => m.msg.type === MessageType.App).map((m) => m.msg.index);
    assert.deepEqual(indexes, Array.from({ length: 20 }, (_, i) => i + 1));
  } finally {
    await c.stopAll();
  }
});
