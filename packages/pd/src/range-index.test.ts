import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { RangeIndex } from './range-index.js';
import type { RangeRecord } from './types.js';

const b = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));

function rec(rangeId: number, start: string, end: string, version = 1): RangeRecord {
  return { descriptor: { rangeId, startKey: b(start), endKey: b(end), epoch: { confVer: 1, version }, replicas: [] }, leader: null, term: 1 };
}

test('byKey: the range holding the key; empty end is unbounded; a gap finds nothing', () => {
  const recs = [rec(1, '', 'f'), rec(2, 'f', 'p'), rec(3, 'x', '')];
  const ix = new RangeIndex(() => recs);
  ix.invalidate();
  assert.equal(ix.byKey(b(''))?.descriptor.rangeId, 1);
  assert.equal(ix.byKey(b('f'))?.descriptor.rangeId, 2);
  assert.equal(ix.byKey(b('ozz'))?.descriptor.rangeId, 2);
  assert.equal(ix.byKey(b('q')), null, 'gap [p, x)');
  assert.equal(ix.byKey(b('zzzz'))?.descriptor.rangeId, 3);
});

test('overlapping stale record: lookups walk back past narrower ranges that do not hold the key', () => {
  // Range 1 is stale (pre-split, whole keyspace); 5 = [c, d) and 7 = [m, ) are newer.
  const recs = [rec(1, '', '', 1), rec(5, 'c', 'd', 2), rec(7, 'm', '', 3)];
  const ix = new RangeIndex(() => recs);
  ix.invalidate();
  assert.equal(ix.byKey(b('e'))?.descriptor.rangeId, 1, 'walks back from 5 to 1');
  assert.equal(ix.byKey(b('c'))?.descriptor.rangeId, 5);
  assert.equal(ix.byKey(b('z'))?.descriptor.rangeId, 7);
});

test('scan: start inside a range includes it; end is exclusive; limit sets more', () => {
  const recs = [rec(1, '', 'f'), rec(2, 'f', 'p'), rec(3, 'p', '')];
  const ix = new RangeIndex(() => recs);
  ix.invalidate();
  assert.deepEqual(ix.scan(b('g'), b('p'), 10).ranges.map((r) => r.descriptor.rangeId), [2]);
  assert.deepEqual(ix.scan(b('g'), b(''), 10).ranges.map((r) => r.descriptor.rangeId), [2, 3]);
  const cut = ix.scan(b(''), b(''), 2);
  assert.deepEqual([cut.ranges.map((r) => r.descriptor.rangeId), cut.more], [[1, 2], true]);
  assert.equal(ix.scan(b(''), b(''), 3).more, false);
});
