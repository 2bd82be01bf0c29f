import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SyncLatency } from './sync-latency.js';

test('sync latency: the mean since the last take, or the oldest waiting write when longer; each take starts a new window', () => {
  let waiting = 0;
  const l = new SyncLatency(() => waiting);
  assert.equal(l.take(), 0, 'idle: nothing to say');
  l.observe(1_000);
  l.observe(3_000);
  assert.equal(l.take(), 2_000);
  assert.equal(l.take(), 0, 'a new window');
  waiting = 1_500; // a hung disk: no batch completes, a write waits 1.5 s
  assert.equal(l.take(), 1_500_000);
  l.observe(900_000);
  waiting = 0.25;
  assert.equal(l.take(), 900_000, 'the mean when longer than the wait');
});
