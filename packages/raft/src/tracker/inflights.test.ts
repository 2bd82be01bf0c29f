import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Prng } from '../prng.js';
import { Inflights } from './inflights.js';

test('window is full once maxCount messages are in flight', () => {
  const inf = new Inflights(3, 0);
  inf.add(1, 10);
  inf.add(2, 10);
  assert.equal(inf.full(), false);
  inf.add(3, 10);
  assert.equal(inf.full(), true);
  assert.equal(inf.count(), 3);
  assert.equal(inf.bytes(), 30);
});

test('window is full once maxBytes are in flight, even below maxCount', () => {
  const inf = new Inflights(10, 100);
  inf.add(1, 60);
  assert.equal(inf.full(), false);
  inf.add(2, 40);
  assert.equal(inf.full(), true);
});

test('one oversized message fills the byte window but is still accepted', () => {
  const inf = new Inflights(10, 100);
  inf.add(5, 1000);
  assert.equal(inf.full(), true);
  inf.freeLE(5);
  assert.equal(inf.full(), false);
});

test('maxBytes 0 means no byte limit', () => {
  const inf = new Inflights(2, 0);
  inf.add(1, 1e12);
  assert.equal(inf.full(), false);
});

test('freeLE frees every message up to and including the acked index', () => {
  const inf = new Inflights(10, 0);
  for (const [index, bytes] of [[3, 1], [5, 2], [9, 4], [12, 8]]) inf.add(index, bytes);
  inf.freeLE(4);
  assert.deepEqual([inf.count(), inf.bytes()], [3, 14]);
  inf.freeLE(9);
  assert.deepEqual([inf.count(), inf.bytes()], [1, 8]);
  inf.freeLE(8); // stale ack: nothing below the oldest message left
  assert.deepEqual([inf.count(), inf.bytes()], [1, 8]);
  inf.freeLE(100);
  assert.deepEqual([inf.count(), inf.bytes()], [0, 0]);
});

test('adding into a full window is a broken invariant', () => {
  const inf = new Inflights(1, 0);
  inf.add(1, 0);
  assert.throws(() => inf.add(2, 0), /full window/);
});

test('in-flight indexes must strictly increase', () => {
  const inf = new Inflights(5, 0);
  inf.add(4, 0);
  assert.throws(() => inf.add(4, 0), /not above last in-flight index 4/);
  assert.throws(() => inf.add(3, 0), /not above/);
});

test('an idle window holds no buffer, and reset releases it', () => {
  const inf = new Inflights(256, 0);
  assert.equal(inf.capacity(), 0);
  inf.add(1, 1);
  assert.equal(inf.capacity(), 4, 'first add allocates a small buffer, not maxCount slots');
  inf.reset();
  assert.deepEqual([inf.capacity(), inf.count(), inf.bytes()], [0, 0, 0]);
});

test('the buffer doubles on demand and never exceeds maxCount', () => {
  const inf = new Inflights(10, 0);
  const caps: number[] = [];
  for (let i = 1; i <= 10; i++) {
    inf.add(i, 1);
    caps.push(inf.capacity());
  }
  assert.deepEqual(caps, [4, 4, 4, 4, 8, 8, 8, 8, 10, 10]);
});

test('growing a wrapped ring keeps messages in order', () => {
  const inf = new Inflights(16, 0);
  for (let i = 1; i <= 4; i++) inf.add(i, i);
  inf.freeLE(2); // start moves to slot 2
  inf.add(5, 5);
  inf.add(6, 6); // wraps into slots 0 and 1
  inf.add(7, 7); // forces growth while wrapped
  assert.equal(inf.capacity(), 8);
  inf.freeLE(5);
  assert.deepEqual([inf.count(), inf.bytes()], [2, 13]);
  assert.throws(() => inf.add(7, 0), /not above last in-flight index 7/);
});

test('clone is independent of the original', () => {
  const inf = new Inflights(4, 0);
  inf.add(1, 10);
  const copy = inf.clone();
  copy.add(2, 20);
  inf.freeLE(1);
  assert.deepEqual([inf.count(), inf.bytes()], [0, 0]);
  assert.deepEqual([copy.count(), copy.bytes()], [2, 30]);
});

test('window matches a plain-array reference model under random add/free', () => {
  const rng = new Prng(11);
  for (let round = 0; round < 200; round++) {
    const maxCount = 1 + rng.int(12);
    const maxBytes = rng.chance(0.5) ? 0 : 1 + rng.int(200);
    const inf = new Inflights(maxCount, maxBytes);
    const ref: Array<{ index: number; bytes: number }> = [];
    let next = 1;
    for (let step = 0; step < 200; step++) {
      const refBytes = ref.reduce((s, m) => s + m.bytes, 0);
      const refFull = ref.length >= maxCount || (maxBytes > 0 && refBytes >= maxBytes);
      assert.equal(inf.full(), refFull);
      assert.equal(inf.count(), ref.length);
      assert.equal(inf.bytes(), refBytes);
      assert.ok(inf.capacity() <= maxCount);
      if (!refFull && rng.chance(0.6)) {
        next += 1 + rng.int(3);
        const bytes = rng.int(50);
        inf.add(next, bytes);
        ref.push({ index: next, bytes });
      } else if (rng.chance(0.05)) {
        inf.reset();
        ref.length = 0;
      } else {
        const to = next - rng.int(8);
        inf.freeLE(to);
        while (ref.length > 0 && ref[0].index <= to) ref.shift();
      }
    }
  }
});
