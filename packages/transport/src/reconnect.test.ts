import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { MessageType } from '@rangekv/raft';
import { Cluster, exchange, heartbeat, msg, sleep, waitFor, type Node } from './test-helpers.js';

const FAST_RECONNECT = { initialBackoffMs: 5, maxBackoffMs: 40, connectTimeoutMs: 2_000, stopGraceMs: 200 };

/** A port nothing listens on (bound then released). */
async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** Stores 1 and 2 exchange a message, then store 2 stops and store 1 reports it unreachable. */
async function connectThenStopPeer(c: Cluster): Promise<{ a: Node; port: number }> {
  const a = await c.start(1);
  const b = await c.start(2);
  await exchange(a, b, [{ rangeId: 1, msg: msg({ type: MessageType.App, from: 1, to: 2, index: 1 }) }]);
  const port = b.t.port;
  await c.stop(2);
  await waitFor(() => a.unreachable.includes(2), 'store 2 reported unreachable');
  return { a, port };
}

test('a peer that stops is reported unreachable; after it restarts on the same port, messages flow again', async () => {
  const c = new Cluster(FAST_RECONNECT);
  try {
    const { a, port } = await connectThenStopPeer(c);
    assert.equal(a.t.metrics().streamBreaks, 1);

    const b2 = await c.start(2, port);
    assert.equal(b2.t.port, port);
    // Keep sending (as raft would, each cycle) until one gets through; sends refused
    // during backoff return false and are counted as disconnected drops.
    let index = 100;
    let refused = 0;
    await waitFor(() => {
      if (!a.t.send(2, 1, msg({ type: MessageType.App, from: 1, to: 2, index: ++index }))) refused++;
      a.t.flush();
      return b2.received().length > 0;
    }, 'delivery after restart');
    const m = a.t.metrics();
    assert.ok(m.reconnects >= 1, `reconnects ${m.reconnects}`);
    assert.equal(m.streamsOpened, 2);
    assert.equal(m.drops.disconnected >= refused, true);
    assert.equal(m.peers[0]!.state, 'open');
    // What arrives after the restart arrives in order.
    const got = b2.received().map((x) => x.msg.index);
    assert.deepEqual(got, [...got].sort((x, y) => x - y));
  } finally {
    await c.stopAll();
  }
});

test('connecting to a port nobody listens on fails, reports unreachable once, and backs off', async () => {
  const c = new Cluster(FAST_RECONNECT);
  try {
    const a = await c.start(1);
    c.addrs.set(2, `127.0.0.1:${await freePort()}`);
    assert.equal(a.t.send(2, 1, heartbeat(1, 2, 1, 0, 0)), true); // queued while connecting
    a.t.flush();
    await waitFor(() => a.unreachable.length === 1, 'unreachable');
    assert.deepEqual(a.unreachable, [2]);
    const m = a.t.metrics();
    assert.equal(m.connectFailures, 1);
    assert.equal(m.drops.disconnected, 1, 'the queued heartbeat was discarded');
    assert.match(m.peers[0]!.lastError, /connect to store 2 at 127\.0\.0\.1:\d+ failed/);
    // In backoff, or already past it and retrying: either way nothing is delivered and
    // each further failure is reported again.
    await waitFor(() => {
      a.t.send(2, 1, heartbeat(1, 2, 1, 0, 0));
      return a.unreachable.length >= 2;
    }, 'second failure');
    assert.ok(a.t.metrics().reconnects >= 1);
  } finally {
    await c.stopAll();
  }
});

test('a stream to a store that is not the one addressed is rejected and reported unreachable', async () => {
  const c = new Cluster(FAST_RECONNECT);
  try {
    const a = await c.start(1);
    const b = await c.start(2);
    c.addrs.set(3, c.addrs.get(2)!); // store 3's address points at store 2
    assert.equal(a.t.send(3, 1, heartbeat(1, 2, 1, 0, 0)), true);
    a.t.flush();
    await waitFor(() => a.unreachable.includes(3), 'unreachable 3');
    assert.equal(b.received().length, 0);
    assert.equal(b.t.metrics().inboundRejects, 1);
    assert.match(a.t.metrics().peers[0]!.lastError, /FAILED_PRECONDITION batch for store 3 reached store 2/);
    // Store 2 itself is still reachable from store 1 over its own stream.
    await exchange(a, b, [{ rangeId: 1, msg: heartbeat(1, 2, 1, 0, 0) }]);
  } finally {
    await c.stopAll();
  }
});

test('unreachable callbacks never run inside send or flush', async () => {
  const c = new Cluster(FAST_RECONNECT);
  try {
    const a = await c.start(1);
    c.addrs.set(2, `127.0.0.1:${await freePort()}`);
    let inside = false;
    let ranInside = false;
    a.t.onUnreachable(() => { if (inside) ranInside = true; });
    await waitFor(() => {
      inside = true;
      a.t.send(2, 1, heartbeat(1, 2, 1, 0, 0));
      a.t.flush();
      inside = false;
      return a.unreachable.length >= 2;
    }, 'two failures');
    await sleep(1);
    assert.equal(ranInside, false);
  } finally {
    await c.stopAll();
  }
});

test('a peer heard from again ends our backoff toward it: after a restart both directions come back together', async () => {
  // A ten-minute backoff: without the cut, store 1 could not reach store 2 within the test.
  const c = new Cluster({ initialBackoffMs: 600_000, maxBackoffMs: 600_000, connectTimeoutMs: 2_000, stopGraceMs: 200 });
  try {
    const { a, port } = await connectThenStopPeer(c);
    assert.equal(a.t.send(2, 1, msg({ type: MessageType.App, from: 1, to: 2, index: 2 })), false, 'refused: in backoff');
    // Past the floor below which hearing from the peer does not cut a backoff.
    await sleep(150);

    const b2 = await c.start(2, port);
    // Store 2 speaks first (its fresh transport has no backoff toward store 1).
    await exchange(b2, a, [{ rangeId: 1, msg: msg({ type: MessageType.App, from: 2, to: 1, index: 1 }) }]);
    assert.equal(a.t.metrics().backoffsCutShort, 1);
    await waitFor(() => {
      a.t.send(2, 1, msg({ type: MessageType.App, from: 1, to: 2, index: 3 }));
      a.t.flush();
      return b2.received().length > 0;
    }, 'store 1 reaches store 2 again');
  } finally {
    await c.stopAll();
  }
});
