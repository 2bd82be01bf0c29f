import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SyncLatency } from './sync-latency.js';

test('sync latency: the mean since the last take, or a write still oldest since the last take (a hung disk) when longer', () => {
  let now = 0;
  let oldest = 0;
  const l = new SyncLatency(() => oldest, () => now);
  now = 1_000;
  assert.equal(l.take(), 0, 'idle: nothing to say');
  l.observe(1_000);
  l.observe(3_000);
  now = 2_000;
  assert.equal(l.take(), 2_000, 'the mean');
  now = 3_000;
  assert.equal(l.take(), 0, 'a new window');
  oldest = 7; // write 7 starts waiting
  now = 4_000;
  assert.equal(l.take(), 0, 'first seen waiting: its age is unknown');
  now = 5_500;
  assert.equal(l.take(), 1_500_000, 'still the oldest 1.5 s later: the disk hangs');
  oldest = 8;
  l.observe(900);
  now = 6_500;
  assert.equal(l.take(), 900, 'another write: the mean again');
});
