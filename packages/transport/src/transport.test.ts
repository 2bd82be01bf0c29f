import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageType, Prng } from '@rangekv/raft';
import { RaftTransport } from './transport.js';
import { ALL_MESSAGE_TYPES, Cluster, exchange, heartbeat, msg, randomMessage, waitFor } from './test-helpers.js';

test('two transports exchange batches both ways; every message arrives equal to what was sent', async () => {
  const c = new Cluster();
  try {
    const a = await c.start(1);
    const b = await c.start(2);
    const prng = new Prng(1);
    const ab = ALL_MESSAGE_TYPES.map((t, i) => ({ rangeId: 100 + i, msg: randomMessage(prng, t) }))
      .filter((x) => x.msg.type !== MessageType.Heartbeat && x.msg.type !== MessageType.HeartbeatResp);
    assert.deepEqual(await exchange(a, b, ab), ab);
    const ba = [{ rangeId: 7, msg: msg({ type: MessageType.AppResp, from: 2, to: 1, term: 4, index: 10 }) }];
    assert.deepEqual(await exchange(b, a, ba), ba);
    assert.deepEqual(b.batches.map((x) => x.from), [1]);
    assert.deepEqual(a.batches.map((x) => x.from), [2]);
    assert.equal(a.t.metrics().streamsOpened, 1);
    assert.equal(b.t.metrics().streamsOpened, 1);
    assert.equal(a.t.metrics().inboundStreams, 1);
  } finally {
    await c.stopAll();
  }
});

test('three transports: each store reaches the other two, one stream per ordered pair', async () => {
  const c = new Cluster();
  try {
    const nodes = [await c.start(1), await c.start(2), await c.start(3)];
    for (let round = 0; round < 3; round++) {
      for (const from of nodes) {
        for (const to of nodes) {
          if (from === to) continue;
          assert.equal(from.t.send(to.id, 10 + round, msg({ type: MessageType.App, from: from.id, to: to.id, term: round })), true);
        }
      }
      for (const n of nodes) n.t.flush();
      await waitFor(() => nodes.every((n) => n.received().length === 2 * (round + 1)), `round ${round}`);
    }
    for (const n of nodes) {
      const froms = n.batches.map((b) => b.from).sort();
      assert.deepEqual(new Set(froms), new Set(nodes.filter((x) => x !== n).map((x) => x.id)));
      for (const b of n.batches) for (const m of b.msgs) assert.equal(m.msg.from, b.from);
      const mt = n.t.metrics();
      assert.equal(mt.streamsOpened, 2);
      assert.equal(mt.inboundStreams, 2);
      assert.deepEqual(mt.peers.map((p) => p.storeId), nodes.filter((x) => x !== n).map((x) => x.id));
    }
  } finally {
    await c.stopAll();
  }
});

test('messages on one stream arrive in send order across many flushes, one handler call per batch', async () => {
  const c = new Cluster();
  try {
    const a = await c.start(1);
    const b = await c.start(2);
    let seq = 0;
    const flushes = 40;
    for (let f = 0; f < flushes; f++) {
      for (let i = 0; i < 25; i++) {
        seq++;
        assert.equal(a.t.send(2, 1 + (seq % 7), msg({ type: MessageType.App, from: 1, to: 2, index: seq })), true);
      }
      a.t.flush();
    }
    await waitFor(() => b.received().length === seq, 'all messages');
    assert.deepEqual(b.received().map((m) => m.msg.index), Array.from({ length: seq }, (_, i) => i + 1));
    // Flushes before the stream opened were held and sent together: never more
    // batches than flushes, and the handler ran once per batch.
    const sent = a.t.metrics().batchesSent;
    assert.ok(sent <= flushes);
    assert.equal(b.batches.length, sent);
    assert.equal(b.t.metrics().batchesReceived, sent);
    assert.equal(b.t.metrics().messagesReceived, seq);
  } finally {
    await c.stopAll();
  }
});

test('a heartbeat with a field outside the coalesced set travels as an ordinary message, intact', async () => {
  const c = new Cluster();
  try {
    const a = await c.start(1);
    const b = await c.start(2);
    const odd = msg({ type: MessageType.Heartbeat, from: 1, to: 2, term: 3, commit: 4, index: 5, logTerm: 2 });
    const plain = heartbeat(1, 2, 3, 4, 5);
    const got = await exchange(a, b, [{ rangeId: 8, msg: odd }, { rangeId: 9, msg: plain }]);
    // The coalesced section is delivered first, then the ordinary messages.
    assert.deepEqual(got, [{ rangeId: 9, msg: plain }, { rangeId: 8, msg: odd }]);
    assert.equal(a.t.metrics().heartbeatsSent, 1);
    assert.equal(a.t.metrics().messagesSent, 2);
  } finally {
    await c.stopAll();
  }
});

test('send refuses unknown stores and itself; flush with nothing queued writes nothing', async () => {
  const c = new Cluster();
  try {
    const a = await c.start(1);
    assert.equal(a.t.send(9, 1, heartbeat(1, 2, 1, 0, 0)), false);
    assert.equal(a.t.metrics().drops.unknownPeer, 1);
    assert.throws(() => a.t.send(1, 1, heartbeat(1, 2, 1, 0, 0)), /to itself/);
    a.t.flush();
    assert.equal(a.t.metrics().batchesSent, 0);
  } finally {
    await c.stopAll();
  }
});

test('stop closes everything: later sends are refused, stop is idempotent, the port is free again', async () => {
  const c = new Cluster();
  const a = await c.start(1);
  const b = await c.start(2);
  await exchange(a, b, [{ rangeId: 1, msg: heartbeat(1, 2, 1, 0, 0) }]);
  const port = b.t.port;
  await Promise.all([a.t.stop(), a.t.stop()]);
  await b.t.stop();
  assert.equal(a.t.send(2, 1, heartbeat(1, 2, 1, 0, 0)), false);
  assert.equal(a.t.metrics().drops.stopped, 1);
  const again = await RaftTransport.start({ storeId: 2, listenPort: port, resolve: () => undefined }, () => {});
  assert.equal(again.port, port);
  await again.stop();
});

test('invalid options are refused at start', async () => {
  await assert.rejects(RaftTransport.start({ storeId: 0, resolve: () => undefined }, () => {}), /storeId/);
  await assert.rejects(RaftTransport.start({ storeId: 1, resolve: () => undefined, limits: { maxBatchBytes: 0 } }, () => {}), /maxBatchBytes/);
  await assert.rejects(RaftTransport.start({ storeId: 1, resolve: () => undefined, limits: { initialBackoffMs: 10, maxBackoffMs: 5 } }, () => {}), /initialBackoffMs/);
});
