import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Prng } from '@rangekv/raft';
import {
  KeyPrefix, compareKeys, entryKey, hardStateKey, keyInSpan, parseEntryKey, parseRangeKey, rangeKey, spanContains, spansOverlap,
} from './keys.js';
import { DecodeError } from './errors.js';

test('entry keys sort by range id, then numerically by index (fixed-width big-endian)', () => {
  const pairs: [number, number][] = [];
  for (const r of [1, 2, 255, 256, 70_000, 2 ** 32 + 5]) {
    for (const i of [0, 1, 9, 10, 255, 256, 65_535, 65_536, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 40, Number.MAX_SAFE_INTEGER - 1]) pairs.push([r, i]);
  }
  const prng = new Prng(7);
  const shuffled = [...pairs];
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = prng.nextUint32() % (i + 1);
    [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
  }
  const byKey = shuffled.map(([r, i]) => ({ r, i, k: entryKey(r, i) })).sort((a, b) => compareKeys(a.k, b.k));
  const byNumber = [...pairs].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  assert.deepEqual(byKey.map(({ r, i }) => [r, i]), byNumber);
});

test('entry and range keys round trip; wrong shapes are refused clearly', () => {
  assert.deepEqual(parseEntryKey(entryKey(7, 2 ** 40 + 3)), { rangeId: 7, index: 2 ** 40 + 3 });
  assert.equal(parseRangeKey(KeyPrefix.Applied, rangeKey(KeyPrefix.Applied, 2 ** 33)), 2 ** 33);
  assert.throws(() => parseEntryKey(hardStateKey(7)), DecodeError);
  assert.throws(() => parseRangeKey(KeyPrefix.Descriptor, rangeKey(KeyPrefix.Applied, 1)), /expected prefix 0x44/);
  assert.throws(() => entryKey(1, -1), RangeError);
  assert.throws(() => entryKey(1, 2 ** 53), RangeError);
});

test('a range\'s entries are contiguous: no other key sorts between two of its entries', () => {
  const lo = entryKey(5, 10);
  const hi = entryKey(5, 11);
  for (const k of [hardStateKey(5), entryKey(4, 2 ** 40), entryKey(6, 0), hardStateKey(4)]) {
    assert.ok(compareKeys(k, lo) < 0 || compareKeys(k, hi) > 0);
  }
});

test('spans: [start, end) with an empty end meaning the end of the keyspace', () => {
  const b = (s: string): Buffer => Buffer.from(s);
  assert.ok(keyInSpan(b('a'), b('a'), b('b')));
  assert.ok(!keyInSpan(b('b'), b('a'), b('b')));
  assert.ok(keyInSpan(b('zzz'), b('m'), b('')));
  assert.ok(spansOverlap(b('a'), b('c'), b('b'), b('d')));
  assert.ok(!spansOverlap(b('a'), b('b'), b('b'), b('c')));
  assert.ok(spansOverlap(b('x'), b(''), b('a'), b('')));
  assert.ok(!spansOverlap(b('x'), b(''), b('a'), b('x')));
});

test('spanContains: a span contains another when it starts no later and ends no earlier (empty end = keyspace end)', () => {
  const k = (s: string): Uint8Array => Buffer.from(s);
  assert.equal(spanContains(k('a'), k('z'), k('m'), k('t')), true);
  assert.equal(spanContains(k('m'), k('t'), k('m'), k('t')), true, 'the same span');
  assert.equal(spanContains(k(''), k(''), k('m'), k('')), true, 'the whole keyspace');
  assert.equal(spanContains(k('a'), k('z'), k('m'), k('')), false, 'a span to the end is not inside one that ends');
  assert.equal(spanContains(k('n'), k('z'), k('m'), k('t')), false, 'starts later');
  assert.equal(spanContains(k('a'), k('p'), k('m'), k('t')), false, 'ends earlier');
});
