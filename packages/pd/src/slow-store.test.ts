import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '@rangekv/runtime';
import { DEFAULT_PD_LIMITS } from './pd-limits.js';
import { SlowStores } from './slow-store.js';

const UP = [1, 2, 3];

function detector(): SlowStores {
  return new SlowStores({ ...DEFAULT_PD_LIMITS, slowStoreHeartbeats: 2, slowStoreRecoverMs: 10_000 }, silentLogger);
}

/** One heartbeat round: every store in `latencies` reports at `now`. */
function round(s: SlowStores, now: number, latencies: Record<number, number>, up = UP): void {
  for (const [id, us] of Object.entries(latencies)) s.heartbeat(Number(id), us, now, up);
}

test('a store is evicted after slowStoreHeartbeats heartbeats in a row above the floor and the ratio to the others\' median', () => {
  const s = detector();
  round(s, 0, { 1: 1_000, 2: 2_000, 3: 300_000 });
  assert.deepEqual(s.evicted(0), [], 'one slow heartbeat is not enough');
  round(s, 1_000, { 1: 1_000, 2: 2_000, 3: 300_000 });
  assert.deepEqual(s.evicted(1_000), [3]);
});

test('not slow: under the floor (50 ms) however far from the others, or within the ratio of their median; a fast heartbeat resets the count', () => {
  const s = detector();
  for (let t = 0; t < 5; t++) round(s, t * 1_000, { 1: 100, 2: 100, 3: 40_000 });
  assert.deepEqual(s.evicted(5_000), [], 'under slowStoreMinSyncMicros');
  for (let t = 5; t < 10; t++) round(s, t * 1_000, { 1: 60_000, 2: 80_000, 3: 500_000 });
  assert.deepEqual(s.evicted(10_000), [], 'every disk is slow: within 10x of the median');
  const r = detector();
  round(r, 0, { 1: 1_000, 2: 1_000, 3: 300_000 });
  round(r, 1_000, { 1: 1_000, 2: 1_000, 3: 1_000 });
  round(r, 2_000, { 1: 1_000, 2: 1_000, 3: 300_000 });
  assert.deepEqual(r.evicted(2_000), [], 'slow heartbeats must come in a row');
});

test('one store at a time, never with fewer than 3 Up stores; let back after slowStoreRecoverMs without a slow heartbeat', () => {
  const s = detector();
  round(s, 0, { 1: 1_000, 2: 300_000, 3: 300_000, 4: 1_000 }, [1, 2, 3, 4]);
  round(s, 1_000, { 1: 1_000, 2: 300_000, 3: 300_000, 4: 1_000 }, [1, 2, 3, 4]);
  assert.deepEqual(s.evicted(1_000), [2], 'the first to qualify; store 3 waits');
  round(s, 2_000, { 2: 1_000 }, [1, 2, 3, 4]);
  assert.deepEqual(s.evicted(10_999), [2], 'under slowStoreRecoverMs since its last slow heartbeat');
  assert.deepEqual(s.evicted(11_000), [], 'recovered');
  round(s, 13_000, { 3: 300_000 }, [1, 2, 3, 4]);
  assert.deepEqual(s.evicted(13_000), [3], 'store 3, still slow, is next');

  const two = detector();
  round(two, 0, { 1: 1_000, 2: 300_000 }, [1, 2]);
  round(two, 1_000, { 1: 1_000, 2: 300_000 }, [1, 2]);
  assert.deepEqual(two.evicted(1_000), [], 'two Up stores: moving leaders fixes nothing');
});
