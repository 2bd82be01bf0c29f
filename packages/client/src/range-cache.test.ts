import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RangeCache } from './range-cache.js';
import type { RangeInfo } from './types.js';

const B = (s: string): Buffer => Buffer.from(s);
function r(rangeId: number, start: string, end: string, version = 1): RangeInfo {
  return { rangeId, startKey: B(start), endKey: B(end), epoch: { confVer: 1, version }, replicas: [], leaderStoreId: 0 };
}

test('lookup finds the range holding a key; empty end key is unbounded', () => {
  const c = new RangeCache(10);
  c.insert(r(1, '', 'g'));
  c.insert(r(2, 'g', 'p'));
  c.insert(r(3, 'p', ''));
  assert.equal(c.lookup(B(''))?.rangeId, 1);
  assert.equal(c.lookup(B('f'))?.rangeId, 1);
  assert.equal(c.lookup(B('g'))?.rangeId, 2);
  assert.equal(c.lookup(B('zzz'))?.rangeId, 3);
});

test('lookupBefore finds the range holding the keys just below an end key', () => {
  const c = new RangeCache(10);
  c.insert(r(1, '', 'g'));
  c.insert(r(2, 'g', 'p'));
  assert.equal(c.lookupBefore(B('g'))?.rangeId, 1, 'g is the end of range 1');
  assert.equal(c.lookupBefore(B('h'))?.rangeId, 2);
  assert.equal(c.lookupBefore(B('')), undefined, 'the last range is not cached');
  c.insert(r(3, 'p', ''));
  assert.equal(c.lookupBefore(B(''))?.rangeId, 3);
});

test('a new descriptor replaces the ranges it overlaps', () => {
  const c = new RangeCache(10);
  c.insert(r(1, '', 'g'));
  c.insert(r(2, 'g', 'p'));
  c.insert(r(3, 'p', ''));
  c.insert(r(4, 'f', 'q'));
  assert.deepEqual(c.all().map((x) => x.rangeId), [4]);
  assert.equal(c.lookup(B('a')), undefined);
});

test('a stale descriptor (older version of a cached range) is not inserted', () => {
  const c = new RangeCache(10);
  c.insert(r(1, '', 'm', 2));
  c.insert(r(5, 'm', '', 2));
  assert.equal(c.insert(r(1, '', '', 1)), false, 'PD has not heard of the split yet');
  assert.deepEqual(c.all().map((x) => x.rangeId), [1, 5]);
});

test('maxCachedRanges evicts the least recently used range', () => {
  const c = new RangeCache(2);
  c.insert(r(1, 'a', 'b'));
  c.insert(r(2, 'b', 'c'));
  c.lookup(B('a'));
  c.insert(r(3, 'c', 'd'));
  assert.deepEqual(c.all().map((x) => x.rangeId), [1, 3]);
});

test('setLeader and remove', () => {
  const c = new RangeCache(10);
  c.insert(r(1, '', ''));
  c.setLeader(1, 3);
  assert.equal(c.lookup(B('x'))?.leaderStoreId, 3);
  c.remove(1);
  assert.equal(c.lookup(B('x')), undefined);
  assert.equal(c.size, 0);
});

test('overlaps tells whether any cached range meets a span', () => {
  const c = new RangeCache(10);
  c.insert(r(2, 'g', 'p'));
  assert.equal(c.overlaps(r(9, 'a', 'g')), false, 'ends where the cached one starts');
  assert.equal(c.overlaps(r(9, 'p', 'z')), false, 'starts where the cached one ends');
  assert.equal(c.overlaps(r(9, 'a', 'h')), true);
  assert.equal(c.overlaps(r(9, 'h', 'i')), true, 'inside');
  assert.equal(c.overlaps(r(9, 'o', '')), true, 'unbounded end');
  assert.equal(c.overlaps(r(9, '', '')), true, 'the whole keyspace');
  c.insert(r(3, 'x', ''));
  assert.equal(c.overlaps(r(9, 'q', 'w')), false, 'in the gap between two cached ranges');
});
