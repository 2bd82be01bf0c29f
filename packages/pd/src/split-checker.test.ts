// The split checker's planner: ranges at or past either threshold with a split key are
// split, largest first, within the budget; busy ranges and ranges without a key wait.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { planSplits, type SplitCandidate } from './split-checker.js';

const L = { rangeSplitBytes: 1_000, rangeSplitKeys: 100, maxOperators: 2 };
const key = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));

function r(rangeId: number, bytes: number, keys: number, o: { key?: string; busy?: boolean } = {}): SplitCandidate {
  return { rangeId, approximateBytes: bytes, approximateKeys: keys, splitKey: o.key === '' ? new Uint8Array(0) : key(o.key ?? `m${rangeId}`), busy: o.busy ?? false };
}

test('past a threshold with a key: split there, largest first, within the budget', () => {
  const plan = planSplits({ ranges: [r(1, 999, 99), r(2, 1_000, 1), r(3, 10, 300), r(4, 5_000, 1), r(5, 2_000, 1, { key: '' }), r(6, 9_000, 1, { busy: true })], running: 0 }, L);
  assert.deepEqual(plan.map((p) => [p.rangeId, Buffer.from(p.splitKey).toString()]), [[4, 'm4'], [3, 'm3']]);
  assert.deepEqual(planSplits({ ranges: [r(2, 1_000, 1)], running: 0 }, L).map((p) => p.rangeId), [2], 'at the threshold');
  assert.deepEqual(planSplits({ ranges: [r(4, 5_000, 1)], running: 2 }, L), [], 'the running splits use the budget up');
  assert.deepEqual(planSplits({ ranges: [r(1, 999, 99)], running: 0 }, L), [], 'below both');
});
