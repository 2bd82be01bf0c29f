// Store liveness pings and quiesce-flagged heartbeats over real streams.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageType } from '@rangekv/raft';
import { TransportFaults } from './faults.js';
import { Cluster, heartbeat, heartbeatResp, msg, waitFor } from './test-helpers.js';

test('a liveness ping alone reaches the peer as "heard" without a handler call; with raft messages it rides in their batch', async () => {
  const c = new Cluster();
  try {
    const a = await c.start(1);
    const b = await c.start(2);
    const heard: number[] = [];
    b.t.onHeard((s) => heard.push(s));
    assert.equal(a.t.sendLiveness(2), true);
    a.t.flush();
    await waitFor(() => heard.length === 1, 'ping heard');
    assert.deepEqual(heard, [1]);
    assert.equal(b.batches.length, 0, 'no handler call for a ping alone');
    assert.equal(b.t.metrics().livenessPacketsReceived, 1);

    assert.equal(a.t.sendLiveness(2), true);
    assert.equal(a.t.send(2, 5, heartbeat(1, 2, 3, 4, 5)), true);
    a.t.flush();
    await waitFor(() => b.batches.length === 1, 'batch with the heartbeat');
    assert.equal(heard.length, 2);
    const m = a.t.metrics();
    assert.deepEqual({ batches: m.batchesSent, pings: m.livenessPacketsSent, hbPackets: m.heartbeatPacketsSent }, { batches: 2, pings: 2, hbPackets: 1 });
    assert.throws(() => a.t.sendLiveness(1), RangeError);
  } finally {
    await c.stopAll();
  }
});

test('quiesce-flagged heartbeats arrive flagged, coalesced or not; other types cannot be flagged', async () => {
  const c = new Cluster();
  try {
    const a = await c.start(1);
    const b = await c.start(2);
    a.t.send(2, 7, heartbeat(1, 2, 3, 9, 5), true);
    a.t.send(2, 8, heartbeat(1, 2, 3, 9, 5));
    a.t.send(2, 9, msg({ type: MessageType.Heartbeat, from: 1, to: 2, term: 3, logTerm: 1 }), true);
    a.t.flush();
    await waitFor(() => b.received().length === 3, 'three heartbeats');
    assert.deepEqual(b.received().map((r) => [r.rangeId, r.quiesce === true]), [[7, true], [8, false], [9, true]]);
    assert.equal(b.t.metrics().heartbeatsReceived, 2);
    assert.throws(() => a.t.send(2, 7, heartbeatResp(1, 2, 3, 4), true), RangeError);
  } finally {
    await c.stopAll();
  }
});

test('liveness pings obey faults: a partition loses them (counted) and send still says true', async () => {
  const faults = new TransportFaults(3);
  const c = new Cluster({}, faults);
  try {
    const a = await c.start(1);
    const b = await c.start(2);
    const heard: number[] = [];
    b.t.onHeard((s) => heard.push(s));
    faults.partition(1, 2);
    assert.equal(a.t.sendLiveness(2), true);
    a.t.flush();
    assert.equal(a.t.metrics().drops.fault, 1);
    faults.heal();
    assert.equal(a.t.sendLiveness(2), true);
    a.t.flush();
    await waitFor(() => heard.length === 1, 'ping after heal');
  } finally {
    await c.stopAll();
  }
});
