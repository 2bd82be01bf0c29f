// The merge checker's planner: adjacent ranges both small, quiet, idle and not split lately
// are merged in pairs, smallest first, within the budget; anything it does not know or
// that would be cut again is left alone.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { planMerges, type MergeCandidate } from './merge-checker.js';

const L = {
  mergeMaxSizeBytes: 1_000, mergeMaxKeys: 100, splitMergeIntervalMs: 60_000, minHotWritesPerSecond: 50,
  rangeSplitBytes: 1_500, rangeSplitKeys: 150, maxOperators: 4,
};
const k = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));

/** Range `id` over [start, end) ('' end: to the end), small and idle unless told otherwise. */
function r(id: number, start: string, end: string, o: Partial<MergeCandidate> = {}): MergeCandidate {
  return {
    rangeId: id, startKey: k(start), endKey: k(end), approximateBytes: 10, approximateKeys: 1, loadPerSecond: 0,
    sinceSplitMs: 3_600_000, voters: 3, busy: false, ...o,
  };
}

const plan = (ranges: MergeCandidate[], running = 0, limits = L) => planMerges({ ranges, running }, limits).map((m) => [m.rangeId, m.rightRangeId]);

test('small idle neighbours merge in pairs, a range in one pair at most, smallest pairs first within the budget', () => {
  const ranges = [
    r(1, '', 'b', { approximateBytes: 400 }), r(2, 'b', 'c', { approximateBytes: 400 }),
    r(3, 'c', 'd', { approximateBytes: 0, approximateKeys: 0 }), r(4, 'd', 'e', { approximateBytes: 0, approximateKeys: 0 }),
    r(5, 'e', 'f'), r(6, 'f', ''),
  ];
  assert.deepEqual(plan(ranges), [[3, 4], [5, 6], [1, 2]]);
  assert.deepEqual(plan(ranges, 2), [[3, 4], [5, 6]], 'the running merges use the budget');
  assert.deepEqual(plan(ranges, 4), []);
  assert.deepEqual(plan([...ranges].reverse()), plan(ranges), 'the same view in any order gives the same plan');
  assert.deepEqual(plan([r(1, '', 'b'), r(2, 'b', 'c'), r(3, 'c', '')]), [[1, 2]], 'three in a row: one pair now, the third next round');
});

test('a range that is big, of unknown size, hot, split lately, busy, or of another voter count is not merged', () => {
  const pairWith = (o: Partial<MergeCandidate>) => plan([r(1, '', 'm'), r(2, 'm', '', o)]);
  assert.deepEqual(pairWith({}), [[1, 2]]);
  assert.deepEqual(pairWith({ approximateBytes: 999 }), [[1, 2]], 'just below mergeMaxSizeBytes');
  assert.deepEqual(pairWith({ approximateBytes: 1_000 }), [], 'at mergeMaxSizeBytes');
  assert.deepEqual(pairWith({ approximateKeys: 100 }), [], 'at mergeMaxKeys');
  assert.deepEqual(pairWith({ approximateBytes: null, approximateKeys: null }), [], 'size unknown');
  assert.deepEqual(pairWith({ loadPerSecond: 50 }), [], 'hot');
  assert.deepEqual(pairWith({ sinceSplitMs: 59_999 }), [], 'split within splitMergeIntervalMs');
  assert.deepEqual(pairWith({ busy: true }), [], 'an operator, a learner or a joint configuration');
  assert.deepEqual(pairWith({ voters: 5 }), [], 'as many voters on each side');
});

test('only true neighbours, and never a pair that the split checker would cut again', () => {
  assert.deepEqual(plan([r(1, '', 'b'), r(2, 'c', '')]), [], 'a gap in PD\'s view');
  assert.deepEqual(plan([r(1, 'a', '')]), [], 'the last range has no right-hand neighbour');
  assert.deepEqual(plan([r(1, '', 'm', { approximateBytes: 800 }), r(2, 'm', '', { approximateBytes: 700 })]), [], 'together at rangeSplitBytes');
  assert.deepEqual(plan([r(1, '', 'm', { approximateKeys: 80 }), r(2, 'm', '', { approximateKeys: 70 })]), [], 'together at rangeSplitKeys');
  // A big range between two small ones: the small ones are not neighbours.
  assert.deepEqual(plan([r(1, '', 'b'), r(2, 'b', 'c', { approximateBytes: 5_000 }), r(3, 'c', '')]), []);
});
