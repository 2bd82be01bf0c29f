import assert from 'node:assert/strict';
import { test } from 'node:test';
import { entrySizeBytes } from '@rangekv/raft';
import { CacheBudget, LogCache } from './log-cache.js';
import { entries } from './testing/fixtures.js';

test('the cache keeps a contiguous tail within maxEntries and maxBytes, evicting the oldest', () => {
  const budget = new CacheBudget(1 << 30);
  const size = entrySizeBytes(entries(1, 1, 1, 1, 100)[0]!);
  const c = new LogCache(1, 10, size * 6, budget);
  c.put(entries(1, 1, 5, 1, 100));
  assert.deepEqual([c.first, c.last, c.length], [1, 5, 5]);
  c.put(entries(1, 6, 9, 1, 100));
  assert.deepEqual([c.first, c.last, c.length], [4, 9, 6], 'bounded by bytes');
  assert.equal(c.bytes, size * 6);
  assert.equal(budget.totalBytes, size * 6);
  assert.equal(c.get(3), undefined);
  assert.equal(c.get(4)?.index, 4);
});

test('an overwrite replaces the suffix; one starting before the cached run restarts the cache', () => {
  const c = new LogCache(1, 100, 1 << 20, new CacheBudget(1 << 30));
  c.put(entries(1, 10, 20, 1));
  c.put(entries(1, 15, 16, 2));
  assert.deepEqual([c.first, c.last], [10, 16]);
  assert.equal(c.get(15)?.term, 2);
  assert.equal(c.get(14)?.term, 1);
  c.put(entries(1, 5, 6, 3));
  assert.deepEqual([c.first, c.last, c.length], [5, 6, 2]);
  c.compactTo(5);
  assert.deepEqual([c.first, c.last, c.length], [6, 6, 1]);
  c.compactTo(6);
  assert.equal(c.length, 0);
  assert.equal(c.bytes, 0);
});

test('the shared budget clears the least recently appended cache, never the one being appended while others exist', () => {
  const size = entrySizeBytes(entries(1, 1, 1, 1, 100)[0]!);
  const budget = new CacheBudget(size * 10);
  const a = new LogCache(1, 100, 1 << 20, budget);
  const b = new LogCache(2, 100, 1 << 20, budget);
  a.put(entries(1, 1, 6, 1, 100));
  b.put(entries(2, 1, 3, 1, 100));
  a.put(entries(1, 7, 7, 1, 100)); // a is now the most recent
  b.put(entries(2, 4, 6, 1, 100)); // over budget: a (least recent) goes
  assert.equal(a.length, 0);
  assert.equal(b.length, 6);
  b.put(entries(2, 7, 14, 1, 100)); // alone and over budget: its own oldest entries go
  assert.equal(b.last, 14);
  assert.ok(budget.totalBytes <= size * 10);
});
