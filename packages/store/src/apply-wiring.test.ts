// StoreServer with apply workers on and off: the same writes work either way, the data
// survives a restart in the other mode, and a stop while writes are applying is clean.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '@rangekv/runtime';
import { StoreServer } from './store-server.js';

const b = (s: string): Buffer => Buffer.from(s);
const header = { rangeId: 1, epoch: { confVer: 1, version: 1 } };

async function startAlone(dir: string, applyWorkers: number): Promise<StoreServer> {
  const s = await StoreServer.start({ storeId: 1, dataDir: dir, applyWorkers, tickMs: 10, log: silentLogger });
  const deadline = Date.now() + 30_000;
  while (!s.status()[0]?.isLeader) {
    if (Date.now() > deadline) {
      await s.stop();
      throw new Error('single store never led its range');
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return s;
}

test('a one-store range writes and reads the same with applyWorkers 0 and 2, across restarts in either mode', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rangekv-apply-wiring-'));
  try {
    await StoreServer.bootstrap(dir, { storeIds: [1], thisStore: 1 });
    for (const [round, workers] of [0, 2, 0].entries()) {
      const s = await startAlone(dir, workers);
      try {
        assert.equal(s.applyMode, workers === 0 ? 'inline' : 'pool');
        if (round > 0) assert.equal(Buffer.from((await s.kv.get({ header, key: b(`k${round - 1}`) })).value ?? []).toString(), `v${round - 1}`);
        await s.kv.put({ header, key: b(`k${round}`), value: b(`v${round}`) });
        const c = await s.kv.compareAndSwap({ header, key: b(`k${round}`), expectExists: true, expectedValue: b(`v${round}`), newValue: b(`v${round}`) });
        assert.equal(c.succeeded, true);
        const bad = await s.kv.put({ header: { rangeId: 1, epoch: { confVer: 1, version: 9 } }, key: b('x'), value: b('y') });
        assert.ok(bad.rangeError?.epochNotMatch, 'a stale epoch is refused the same way');
      } finally {
        await s.stop();
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('stopping a store while writes are applying in the workers settles every write and leaves a consistent store', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rangekv-apply-wiring-stop-'));
  try {
    await StoreServer.bootstrap(dir, { storeIds: [1], thisStore: 1 });
    let s = await startAlone(dir, 2);
    // Four closed-loop writers until the stop; stop once an apply is in the workers.
    const writes: Promise<string>[] = [];
    let stopping = false;
    const writer = async (w: number): Promise<void> => {
      for (let i = 0; !stopping; i++) {
        const p = s.kv.put({ header, key: b(`w${w}-${i}`), value: b(String(i)) }).then(() => 'ok', (e: unknown) => (e as Error).name);
        writes.push(p);
        await p;
      }
    };
    const writers = [0, 1, 2, 3].map(writer);
    const acked = async (): Promise<number> => (await Promise.all(writes.map((p) => Promise.race([p, 'pending'])))).filter((o) => o === 'ok').length;
    while ((await acked()) < 40 || !s.scheduler.get(1)!.applying) await new Promise((r) => setImmediate(r));
    stopping = true;
    await s.stop(); // an apply task is in a worker right now
    await Promise.all(writers);
    const outcomes = await Promise.all(writes);
    if (process.env.APPLY_WIRING_DEBUG) console.log(outcomes.filter((o) => o === 'ok').length, 'ok of', outcomes.length);
    assert.ok(outcomes.includes('ok'));
    assert.ok(outcomes.every((o) => o === 'ok' || o === 'AmbiguousResultError'), `every write applied or is ambiguous: ${[...new Set(outcomes)].join(',')}`);
    s = await startAlone(dir, 2);
    try {
      // Every write acknowledged before the stop is there after the restart.
      const keys = writes.length;
      let checked = 0;
      for (let w = 0; w < 4; w++) {
        for (let i = 0; ; i++) {
          const got = await s.kv.get({ header, key: b(`w${w}-${i}`) });
          if (!got.found) break;
          assert.equal(Buffer.from(got.value ?? []).toString(), String(i));
          checked++;
        }
      }
      const okCount = outcomes.filter((o) => o === 'ok').length;
      assert.ok(checked >= okCount && checked <= keys, `every acknowledged write is there (${checked} found, ${okCount} acknowledged)`);
    } finally {
      await s.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
