// StoreLiveness with a fake clock: poll() is called by hand, one call per interval.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StoreLiveness, type StoreLivenessOptions } from './store-liveness.js';

interface Harness {
  l: StoreLiveness;
  pings: number[][];
  events: string[];
  advance(ms: number): void;
  peers: Set<number>;
}

function harness(extra: Partial<StoreLivenessOptions> = {}): Harness {
  let now = 0;
  const pings: number[][] = [];
  let batch: number[] = [];
  const events: string[] = [];
  const peers = new Set([2, 3]);
  const l = new StoreLiveness({
    storeId: 1, livenessIntervalMs: 100, livenessTimeoutMs: 350, peerRefreshMs: 100,
    peers: () => peers,
    ping: (s) => batch.push(s),
    flush: () => {
      pings.push(batch);
      batch = [];
    },
    onDown: (s) => events.push(`down ${s}`),
    onUp: (s) => events.push(`up ${s}`),
    now: () => now,
    ...extra,
  });
  return { l, pings, events, peers, advance: (ms) => { now += ms; } };
}

test('every poll pings every peer store once and flushes once', () => {
  const h = harness();
  h.l.poll();
  h.l.poll();
  assert.deepEqual(h.pings, [[2, 3], [2, 3]]);
  h.peers.add(4);
  h.l.poll();
  assert.deepEqual(h.pings[2], [2, 3, 4]);
});

test('a store is live from the first time it is heard until it is silent for livenessTimeoutMs', () => {
  const h = harness();
  h.l.poll();
  assert.equal(h.l.isLive(2), false, 'never heard: not live');
  h.l.heard(2);
  assert.equal(h.l.isLive(2), true);
  for (let i = 0; i < 3; i++) {
    h.advance(100);
    h.l.poll();
  }
  assert.equal(h.l.isLive(2), true, '300 ms silent is within the 350 ms timeout');
  h.advance(100);
  h.l.poll();
  assert.equal(h.l.isLive(2), true, '400 ms but only 4 polls: 350 / 100 rounds up to 4 silent polls needed, plus one');
  h.advance(100);
  h.l.poll();
  assert.equal(h.l.isLive(2), false);
  h.advance(1000);
  h.l.poll();
  assert.deepEqual(h.events, ['up 2', 'down 2'], 'one transition each way, no repeated downs');
  h.l.heard(2);
  assert.deepEqual(h.events, ['up 2', 'down 2', 'up 2']);
  assert.equal(h.l.status().find((p) => p.storeId === 2)!.downs, 1);
  assert.equal(h.l.isLive(3), false, 'store 3 was never heard');
});

test('the transport reporting a store unreachable declares it down at once; a store never heard is not reported', () => {
  const h = harness();
  h.l.unreachable(3);
  assert.deepEqual(h.events, []);
  assert.equal(h.l.isDown(3), false, 'never heard: not live, but not declared down either');
  h.l.heard(3);
  h.l.unreachable(3);
  assert.deepEqual(h.events, ['up 3', 'down 3']);
  assert.equal(h.l.isLive(3), false);
  assert.equal(h.l.isDown(3), true);
  h.l.heard(3);
  assert.equal(h.l.isDown(3), false, 'heard again');
});

test('a store heard from joins the pinged set; its own id is ignored', () => {
  const h = harness();
  h.l.heard(9);
  h.l.heard(1);
  h.l.unreachable(1);
  h.l.poll();
  assert.deepEqual([...h.pings[0]!].sort(), [2, 3, 9]);
  assert.equal(h.l.isLive(1), false);
});

test('options: the timeout must exceed the interval', () => {
  assert.throws(() => harness({ livenessIntervalMs: 100, livenessTimeoutMs: 100 }), RangeError);
  assert.throws(() => harness({ livenessIntervalMs: 0 }), RangeError);
});

test('our own stall does not declare peers down: silence counts in polls as well as in time', () => {
  const h = harness();
  h.l.heard(2);
  h.advance(5_000); // the event loop stalled: one late poll, the peer's batches still unread
  h.l.poll();
  assert.equal(h.l.isLive(2), true);
  h.l.heard(2); // read right after the late poll
  for (let i = 0; i < 4; i++) {
    h.advance(100);
    h.l.poll();
  }
  assert.equal(h.l.isLive(2), true);
  h.advance(100);
  h.l.poll();
  assert.equal(h.l.isLive(2), false, 'silent for 500 ms and 5 polls');
});
