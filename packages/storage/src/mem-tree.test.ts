import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Prng } from '@rangekv/raft';
import { MemTree, type TreeSpan } from './mem-tree.js';

/** The reference model: a plain map, sorted on every read. */
class SortedModel {
  readonly rows = new Map<string, Buffer>();

  set(k: Buffer, v: Buffer): void {
    this.rows.set(k.toString('hex'), v);
  }

  delete(k: Buffer): void {
    this.rows.delete(k.toString('hex'));
  }

  span(s: TreeSpan): string[] {
    const keys = [...this.rows.keys()].map((h) => Buffer.from(h, 'hex')).sort(Buffer.compare)
      .filter((k) => Buffer.compare(k, s.gte) >= 0 && (s.lt === undefined || Buffer.compare(k, s.lt) < 0));
    if (s.reverse === true) keys.reverse();
    return keys.map((k) => `${k.toString('hex')}=${this.rows.get(k.toString('hex'))!.toString('hex')}`);
  }
}

function rows(t: MemTree, s: TreeSpan): string[] {
  const out: string[] = [];
  for (const it = t.iterate(s); ;) {
    const kv = it.next();
    if (kv === null) return out;
    out.push(`${kv.key.toString('hex')}=${kv.value.toString('hex')}`);
  }
}

/** Short keys from a small alphabet: many overwrites, deletes that hit, and keys that are prefixes of others. */
function randomKey(p: Prng): Buffer {
  return Buffer.from(Array.from({ length: p.int(4) }, () => p.int(4) * 60));
}

function randomSpan(p: Prng): TreeSpan {
  const a = randomKey(p);
  const b = randomKey(p);
  const [gte, lt] = Buffer.compare(a, b) <= 0 ? [a, b] : [b, a];
  return { gte, lt: p.float() < 0.3 ? undefined : lt, reverse: p.float() < 0.5 };
}

test('MemTree agrees with a sorted map: point reads and spans (forward, reverse, open-ended) after random sets and deletes', () => {
  const p = new Prng(7);
  const model = new SortedModel();
  let t = MemTree.EMPTY;
  for (let step = 0; step < 4000; step++) {
    const k = randomKey(p);
    if (p.float() < 0.35) {
      t = t.delete(k);
      model.delete(k);
    } else {
      const v = Buffer.from([step & 0xff, step >> 8]);
      t = t.set(k, v);
      model.set(k, v);
    }
    const probe = randomKey(p);
    assert.deepEqual(t.get(probe)?.toString('hex'), model.rows.get(probe.toString('hex'))?.toString('hex'), `get at step ${step}`);
    if (step % 50 === 0) {
      for (let i = 0; i < 5; i++) {
        const s = randomSpan(p);
        assert.deepEqual(rows(t, s), model.span(s), `span ${JSON.stringify(s)} at step ${step}`);
      }
      assert.deepEqual(rows(t, { gte: Buffer.alloc(0) }), model.span({ gte: Buffer.alloc(0) }));
    }
  }
  assert.equal(t.isEmpty, model.rows.size === 0);
});

test('an old MemTree is a snapshot: later sets and deletes leave it as it was', () => {
  const p = new Prng(11);
  let t = MemTree.EMPTY;
  for (let i = 0; i < 300; i++) t = t.set(randomKey(p), Buffer.from([i & 0xff]));
  const view = t;
  const before = rows(view, { gte: Buffer.alloc(0) });
  for (let i = 0; i < 300; i++) t = p.float() < 0.5 ? t.delete(randomKey(p)) : t.set(randomKey(p), Buffer.from('new'));
  assert.deepEqual(rows(view, { gte: Buffer.alloc(0) }), before);
  assert.notDeepEqual(rows(t, { gte: Buffer.alloc(0) }), before, 'the writes did change the newer tree');
});

test('deleting a missing key returns the same tree (no copy), and the empty tree iterates nothing', () => {
  const t = MemTree.EMPTY.set(Buffer.from('a'), Buffer.from('1'));
  assert.equal(t.delete(Buffer.from('b')), t);
  assert.deepEqual(rows(MemTree.EMPTY, { gte: Buffer.alloc(0), reverse: true }), []);
  assert.ok(t.delete(Buffer.from('a')).isEmpty);
});
