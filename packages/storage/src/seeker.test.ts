// Db.seeker: RocksDb (the binding's seek) and MemDb answer every seek like a bounded scan
// of one row from the target, forward and reverse, with and without an upper bound,
// targets inside, between and outside the span's keys; and a seeker keeps the view of its
// creation.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Prng } from '@rangekv/raft';
import { ColumnFamily } from './column-families.js';
import type { Db, KeyValue, SpanOptions } from './db.js';
import { MemDisk } from './mem-disk.js';
import { RocksDb } from './rocks.js';
import { tempDir } from './testing/fixtures.js';

const SEEDS = 6;

function randomKey(p: Prng): Buffer {
  // Short keys over a small alphabet: many shared prefixes and neighbours.
  const k = Buffer.alloc(1 + p.int(4));
  for (let i = 0; i < k.length; i++) k[i] = 0x61 + p.int(4);
  return k;
}

/** The reference: the first row of the span from `target` (reverse: the last up to it). */
function expected(sorted: readonly Buffer[], span: SpanOptions, target: Buffer): Buffer | null {
  const inSpan = sorted.filter((k) => Buffer.compare(k, span.gte) >= 0 && (span.lt === undefined || Buffer.compare(k, span.lt) < 0));
  if (span.reverse === true) return inSpan.filter((k) => Buffer.compare(k, target) <= 0).at(-1) ?? null;
  return inSpan.find((k) => Buffer.compare(k, target) >= 0) ?? null;
}

function check(db: Db, sorted: readonly Buffer[], p: Prng, label: string): void {
  for (let n = 0; n < 40; n++) {
    const a = randomKey(p);
    const b = randomKey(p);
    const [lo, hi] = Buffer.compare(a, b) <= 0 ? [a, b] : [b, a];
    const span: SpanOptions = { gte: lo, ...(p.int(3) > 0 ? { lt: Buffer.concat([hi, Buffer.from([0x61])]) } : {}), ...(p.int(2) === 0 ? { reverse: true } : {}) };
    const s = db.seeker(ColumnFamily.Default, span);
    try {
      for (let i = 0; i < 30; i++) {
        const target = randomKey(p);
        const got: KeyValue | null = s.seek(target);
        const want = expected(sorted, span, target);
        const what = `${label}: span ${JSON.stringify({ gte: span.gte.toString(), lt: span.lt?.toString(), reverse: span.reverse === true })}, target ${target.toString()}`;
        assert.equal(got?.key.toString() ?? null, want?.toString() ?? null, what);
        if (got !== null) assert.equal(got.value.toString(), `v-${got.key.toString()}`, what);
      }
    } finally {
      s.close();
    }
  }
}

test('a seek answers like a one-row scan from the target, forward and reverse, RocksDB and MemDb alike', async () => {
  for (let seed = 1; seed <= SEEDS; seed++) {
    const p = new Prng(seed);
    const keys = new Map<string, Buffer>();
    for (let i = 0; i < 60; i++) {
      const k = randomKey(p);
      keys.set(k.toString('hex'), k);
    }
    const sorted = [...keys.values()].sort(Buffer.compare);
    const dir = tempDir();
    const rocks = await RocksDb.open(dir.path);
    const mem = new MemDisk().openDb();
    try {
      for (const db of [rocks, mem]) db.writeBatch((w) => { for (const k of sorted) w.put(ColumnFamily.Default, k, Buffer.from(`v-${k.toString()}`)); }, { sync: false });
      check(rocks, sorted, new Prng(seed * 1000), `seed ${seed}, RocksDb`);
      check(mem, sorted, new Prng(seed * 1000), `seed ${seed}, MemDb`);
    } finally {
      await rocks.close();
      await mem.close();
      dir.remove();
    }
  }
});

test('a seeker reads the view of its creation; seek after close throws', async () => {
  const dir = tempDir();
  const rocks = await RocksDb.open(dir.path);
  const mem = new MemDisk().openDb();
  try {
    for (const db of [rocks, mem]) {
      db.writeBatch((w) => w.put(ColumnFamily.Default, Buffer.from('b'), Buffer.from('1')), { sync: false });
      const s = db.seeker(ColumnFamily.Default, { gte: Buffer.from('a') });
      db.writeBatch((w) => { w.put(ColumnFamily.Default, Buffer.from('a'), Buffer.from('2')); w.del(ColumnFamily.Default, Buffer.from('b')); }, { sync: false });
      assert.equal(s.seek(Buffer.from('a'))?.key.toString(), 'b');
      s.close();
      assert.throws(() => s.seek(Buffer.from('a')), /closed seeker/);
      assert.equal(db.seeker(ColumnFamily.Default, { gte: Buffer.from('a') }).seek(Buffer.from('a'))?.key.toString(), 'a');
    }
  } finally {
    await rocks.close();
    await mem.close();
    dir.remove();
  }
});
