import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageType, Prng } from '@rangekv/raft';
import { TransportFaults } from './faults.js';
import { Cluster, exchange, heartbeat, msg, waitFor } from './test-helpers.js';

const app = (from: number, to: number, index: number) => msg({ type: MessageType.App, from, to, index });

test('faults are off by default and cost nothing: nothing is dropped', async () => {
  const c = new Cluster();
  try {
    const a = await c.start(1);
    const b = await c.start(2);
    assert.equal(a.t.faults.active, false);
    await exchange(a, b, Array.from({ length: 100 }, (_, i) => ({ rangeId: i + 1, msg: app(1, 2, i) })));
    assert.equal(a.t.metrics().drops.fault, 0);
  } finally {
    await c.stopAll();
  }
});

test('dropRate loses exactly the messages its seeded Prng picks; send still returns true', async () => {
  const seed = 1234;
  const rate = 0.3;
  const faults = new TransportFaults(seed);
  faults.dropRate = rate;
  const c = new Cluster({}, faults);
  try {
    const a = await c.start(1);
    const b = await c.start(2);
    const reference = new Prng(seed);
    const expected: number[] = [];
    for (let i = 1; i <= 300; i++) {
      if (!reference.chance(rate)) expected.push(i);
      assert.equal(a.t.send(2, 1, app(1, 2, i)), true);
    }
    a.t.flush();
    await waitFor(() => b.received().length === expected.length, `${expected.length} survivors`);
    assert.deepEqual(b.received().map((m) => m.msg.index), expected);
    assert.equal(a.t.metrics().drops.fault, 300 - expected.length);
    assert.throws(() => { faults.dropRate = 1.5; }, /dropRate/);
  } finally {
    await c.stopAll();
  }
});

test('partition(a, b) cuts both directions between a and b only; heal restores them', async () => {
  const faults = new TransportFaults();
  const c = new Cluster({}, faults);
  try {
    const [n1, n2, n3] = [await c.start(1), await c.start(2), await c.start(3)];
    faults.partition(1, 2);
    n1.t.send(2, 1, app(1, 2, 1));
    n2.t.send(1, 1, app(2, 1, 2));
    // Messages that do cross, sent after the cut ones on the same senders:
    await exchange(n1, n3, [{ rangeId: 1, msg: app(1, 3, 3) }]);
    await exchange(n2, n3, [{ rangeId: 1, msg: app(2, 3, 4) }]);
    await exchange(n3, n1, [{ rangeId: 1, msg: app(3, 1, 5) }]);
    n1.t.flush();
    n2.t.flush();
    assert.deepEqual(n2.received(), []);
    assert.deepEqual(n1.received().map((m) => m.msg.index), [5]);
    assert.equal(n1.t.metrics().drops.fault + n2.t.metrics().drops.fault, 2);

    faults.heal();
    assert.equal(faults.active, false);
    await exchange(n1, n2, [{ rangeId: 1, msg: app(1, 2, 6) }]);
    await exchange(n2, n1, [{ rangeId: 1, msg: app(2, 1, 7) }]);
  } finally {
    await c.stopAll();
  }
});

test('blockOutbound silences one store; blockInbound discards what a store receives', async () => {
  const faults = new TransportFaults();
  const c = new Cluster({}, faults);
  try {
    const [n1, n2, n3] = [await c.start(1), await c.start(2), await c.start(3)];
    faults.blockOutbound(1);
    assert.equal(n1.t.send(2, 1, app(1, 2, 1)), true);
    assert.equal(n1.t.metrics().drops.fault, 1);
    await exchange(n2, n1, [{ rangeId: 1, msg: app(2, 1, 2) }]); // inbound still works
    faults.unblockOutbound(1);

    faults.blockInbound(3);
    n1.t.send(3, 1, app(1, 3, 3));
    n1.t.flush();
    await waitFor(() => n3.t.metrics().inboundFaultDrops === 1, 'discarded on arrival');
    assert.deepEqual(n3.received(), []);
    faults.unblockInbound(3);
    await exchange(n1, n3, [{ rangeId: 1, msg: app(1, 3, 4) }]);
    assert.deepEqual(n2.received(), []);
  } finally {
    await c.stopAll();
  }
});

test('cutOneWay loses one direction at the sender; blockInboundFrom discards one source at the receiver, liveness pings too; heal(a, b) undoes both', async () => {
  const faults = new TransportFaults();
  const c = new Cluster({}, faults);
  try {
    const [n1, n2, n3] = [await c.start(1), await c.start(2), await c.start(3)];
    const heard: number[] = [];
    n3.t.onHeard((s) => heard.push(s));
    faults.cutOneWay(1, 2);
    assert.equal(n1.t.send(2, 1, app(1, 2, 1)), true);
    assert.equal(n1.t.metrics().drops.fault, 1);
    await exchange(n2, n1, [{ rangeId: 1, msg: app(2, 1, 2) }]); // the other direction flows

    await exchange(n1, n3, [{ rangeId: 1, msg: app(1, 3, 0) }]); // stream open: one batch per flush from here
    faults.blockInboundFrom(3, 1);
    n1.t.send(3, 1, app(1, 3, 3));
    n1.t.flush();
    await waitFor(() => n3.t.metrics().inboundFaultDrops === 1, 'the batch discarded on arrival');
    n1.t.sendLiveness(3);
    n1.t.flush();
    await waitFor(() => n3.t.metrics().inboundFaultDrops === 2, 'the ping discarded on arrival');
    assert.equal(n1.t.metrics().drops.fault, 1, 'sent: the receiver discards them');
    await exchange(n2, n3, [{ rangeId: 1, msg: app(2, 3, 4) }]); // another source still gets through
    assert.deepEqual(n3.received().map((m) => m.msg.index), [0, 4]);
    assert.deepEqual(heard, [1, 2], 'the discarded ping is not heard');

    faults.heal(3, 1);
    assert.equal(faults.active, true, 'the cut 1 -> 2 stays');
    await exchange(n1, n3, [{ rangeId: 1, msg: app(1, 3, 5) }]);
    faults.heal(2, 1);
    assert.equal(faults.active, false);
    await exchange(n1, n2, [{ rangeId: 1, msg: app(1, 2, 6) }]);
    assert.deepEqual(n2.received().map((m) => m.msg.index), [6]);
  } finally {
    await c.stopAll();
  }
});

test('heal() with no stores clears every cut and per-source block', () => {
  const faults = new TransportFaults();
  faults.cutOneWay(1, 2);
  faults.blockInboundFrom(3, 1);
  assert.equal(faults.dropsOutbound(1, 2), true);
  assert.equal(faults.dropsOutbound(2, 1), false);
  assert.equal(faults.dropsInbound(3, 1), true);
  assert.equal(faults.dropsInbound(3, 2), false);
  assert.equal(faults.dropsInbound(1, 3), false);
  faults.heal();
  assert.equal(faults.active, false);
  assert.equal(faults.dropsOutbound(1, 2), false);
  assert.equal(faults.dropsInbound(3, 1), false);
});

test('delayMs holds each batch at the receiver and keeps the stream order', async () => {
  const faults = new TransportFaults();
  const c = new Cluster({}, faults);
  try {
    const a = await c.start(1);
    const b = await c.start(2);
    await exchange(a, b, [{ rangeId: 1, msg: app(1, 2, 0) }]); // stream open
    faults.delayMs = 40;
    const deliveredAt: number[] = [];
    b.onBatch = () => deliveredAt.push(Date.now());
    const sentAt = Date.now();
    for (let i = 1; i <= 5; i++) {
      a.t.send(2, 1, app(1, 2, i));
      a.t.send(2, i, heartbeat(1, 2, 1, 0, i));
      a.t.flush();
    }
    await waitFor(() => b.received().length === 11, 'delayed batches');
    // Lower bounds only (a timer never fires meaningfully early); no upper bound asserted.
    for (const t of deliveredAt) assert.ok(t - sentAt >= 35, `delivered ${t - sentAt} ms after sending`);
    assert.deepEqual(b.batches.slice(1).map((x) => x.msgs.map((m) => m.msg.index)), [1, 2, 3, 4, 5].map((i) => [i, i]));
    faults.reset();
    assert.equal(faults.active, false);
  } finally {
    await c.stopAll();
  }
});
