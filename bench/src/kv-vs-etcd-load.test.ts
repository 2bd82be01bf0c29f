// Not in the default suite: `pnpm test:bench`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { shareOut } from './kv-vs-etcd-clients.js';
import { ClosedLoops, Keyspace, type KvTarget } from './kv-vs-etcd-load.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Answers after `ms`; counts the requests in flight; gets find nothing; with `fail`, every request throws. */
class FakeTarget implements KvTarget {
  inflight = 0;
  maxInflight = 0;
  completed = 0;
  constructor(private readonly ms: number, private readonly fail = false) {}
  private async op(): Promise<void> {
    this.inflight++;
    this.maxInflight = Math.max(this.maxInflight, this.inflight);
    await sleep(this.ms);
    this.inflight--;
    this.completed++;
    if (this.fail) throw new Error('unavailable');
  }
  async put(): Promise<void> {
    await this.op();
  }
  async get(): Promise<Uint8Array | null> {
    await this.op();
    return null;
  }
  close(): void {}
}

test('in-flight requests are shared out as evenly as possible, the first processes one more', () => {
  assert.deepEqual(shareOut(16, 2), [8, 8]);
  assert.deepEqual(shareOut(1, 2), [1, 0]);
  assert.deepEqual(shareOut(64, 3), [22, 21, 21]);
  assert.deepEqual(shareOut(256, 1), [256]);
});

test('closed loops keep `inflight` requests out and count exactly what completes inside the window', async () => {
  const t = new FakeTarget(2);
  const loops = new ClosedLoops(t, new Keyspace(10, 8), 'put', 4);
  loops.start();
  await sleep(30);
  // measure() and stop() run between macrotasks, so no completion is half-counted.
  const before = t.completed;
  loops.measure();
  await sleep(60);
  const inWindow = t.completed - before;
  const r = await loops.stop();
  assert.equal(t.maxInflight, 4);
  assert.equal(t.inflight, 0, 'stop() waits for the loops to end');
  assert.equal(r.inflight, 4);
  assert.ok(before > 0, 'the warm-up ran requests');
  assert.equal(r.ops, inWindow);
  assert.equal(r.latenciesMs.length, r.ops);
  assert.ok(r.latenciesMs.every((ms) => ms > 0));
  assert.equal(r.errors, 0);
});

test('a get that finds nothing is a miss; a failed request is an error, not an op', async () => {
  const gets = new ClosedLoops(new FakeTarget(1), new Keyspace(10, 8), 'get', 2);
  gets.start();
  gets.measure();
  await sleep(20);
  const g = await gets.stop();
  assert.ok(g.misses > 0);
  assert.equal(g.misses, g.ops);

  const puts = new ClosedLoops(new FakeTarget(1, true), new Keyspace(10, 8), 'put', 2);
  puts.start();
  puts.measure();
  await sleep(30);
  const p = await puts.stop();
  assert.equal(p.ops, 0);
  assert.ok(p.errors > 0);
});
