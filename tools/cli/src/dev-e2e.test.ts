// End to end with real processes: `rangekv dev` (the real PD and 3 real stores), the
// client library and the CLI binary against it. Skipped when packages/pd is not built.
import { AmbiguousWriteError, RangeKvClient } from '@rangekv/client';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { PD_MAIN, STORE_MAIN } from './server-commands.js';
import { BIN, run } from './testing/run-cli.js';

const built = existsSync(PD_MAIN) && existsSync(STORE_MAIN);

interface Ready {
  pd: { address: string };
  stores: Array<{ storeId: number; pid: number }>;
}

const key = (i: number): string => `k${String(i).padStart(4, '0')}`;

describe('rangekv dev end to end (real PD and stores)', { skip: built ? false : 'packages/pd is not built' }, () => {
  let dev: ChildProcess;
  let ready: Ready;
  let kv: RangeKvClient;
  let stderr = '';

  before(async () => {
    dev = spawn(process.execPath, [BIN, 'dev', '--base-port', '0', '--json', '--startup-timeout', '60s'], { stdio: ['ignore', 'pipe', 'pipe'] });
    dev.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    ready = await new Promise<Ready>((resolve, reject) => {
      createInterface({ input: dev.stdout! }).on('line', (l) => {
        if (l.includes('"event":"ready"')) resolve(JSON.parse(l) as Ready);
      });
      dev.on('exit', (code) => reject(new Error(`rangekv dev exited with ${code}: ${stderr}`)));
    });
    kv = await RangeKvClient.connect({ pd: [ready.pd.address], timeoutMs: 20_000 });
  });

  after(async () => {
    kv?.close();
    if (dev && dev.exitCode === null) {
      const exited = new Promise<number | null>((resolve) => dev.on('exit', (code) => resolve(code)));
      dev.kill('SIGINT');
      assert.equal(await exited, 0, stderr);
    }
  });

  test('client CRUD, batches and scans across ten ranges', async () => {
    const n = 200;
    await kv.batchPut(Array.from({ length: n }, (_, i) => ({ key: key(i), value: `v${i}` })));
    for (let i = 20; i < n; i += 20) {
      const op = await kv.split(key(i));
      assert.equal(op.status, 'succeeded');
    }
    const ranges = await kv.listRanges();
    assert.ok(ranges.length >= 10, `ranges: ${ranges.length}`);
    const all = await kv.scan('k', 'l');
    assert.deepEqual(all.map((p) => p.key.toString()), Array.from({ length: n }, (_, i) => key(i)));
    const last = await kv.scan('k', 'l', { reverse: true, limit: 30 });
    assert.deepEqual(last.map((p) => p.key.toString()), Array.from({ length: 30 }, (_, i) => key(n - 1 - i)));
    const got = await kv.batchGet([key(3), key(77), 'nope', key(199)]);
    assert.deepEqual(got.map((b) => b?.toString()), ['v3', 'v77', undefined, 'v199']);
    await kv.deleteRange(key(50), key(150));
    assert.equal((await kv.scan('k', 'l')).length, 100);
    assert.equal(await kv.get(key(100)), undefined);
    await kv.put(key(100), 'back');
    assert.equal((await kv.get(key(100), { consistency: 'lease' }))?.toString(), 'back');
    assert.equal((await kv.compareAndSwap(key(100), { expected: 'back', newValue: 'swapped' })).succeeded, true);
    assert.equal((await kv.compareAndSwap(key(100), { expected: 'back', newValue: 'again' })).succeeded, false);
    await kv.delete(key(100));
    assert.equal(await kv.get(key(100), { consistency: 'follower' }), undefined);
  });

  test('the CLI against the dev cluster: kv, ctl split, transfer-leader, stores', async () => {
    const pd = ['--pd', ready.pd.address];
    assert.equal((await run(['kv', 'put', 'hello', 'world', ...pd])).stdout, 'OK\n');
    assert.equal((await run(['kv', 'get', 'hello', ...pd])).stdout, 'world\n');
    let r = await run(['ctl', 'split', 'm', ...pd]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /split range \d+ at m: succeeded/);
    const range = await kv.getRange('m');
    assert.equal(Buffer.from(range.startKey).toString(), 'm');
    const to = range.replicas.map((x) => x.storeId).find((s) => s !== range.leaderStoreId)!;
    r = await run(['ctl', 'transfer-leader', '--range', String(range.rangeId), '--to', String(to), '--json', ...pd]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).status, 'succeeded');
    await kv.put('mm', 'written after the transfer');
    assert.equal((await kv.get('mm'))?.toString(), 'written after the transfer');
    r = await run(['ctl', 'stores', '--json', ...pd]);
    const stores = JSON.parse(r.stdout) as Array<{ id: number; state: string }>;
    assert.deepEqual(stores.map((s) => s.id).sort(), ready.stores.map((s) => s.storeId).sort());
    r = await run(['ctl', 'split', 'm', ...pd]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /refused by PD: FAILED_PRECONDITION/);
  });

  test('the client survives a store kill: writes go on, every acknowledged write reads back', async () => {
    const leader = (await kv.getRange('w')).leaderStoreId;
    const victim = ready.stores.find((s) => s.storeId === leader) ?? ready.stores[0]!;
    const acked: string[] = [];
    let stop = false;
    // Each key has one writer, so a put whose outcome is unknown (in flight to the killed
    // store: AmbiguousWriteError) is safely sent again, as an application would.
    const writer = async (w: number): Promise<void> => {
      for (let i = 0; !stop; i++) {
        for (;;) {
          try {
            await kv.put(`w${w}-${i}`, 'x');
            break;
          } catch (e) {
            if (!(e instanceof AmbiguousWriteError)) throw e;
          }
        }
        acked.push(`w${w}-${i}`);
      }
    };
    const writers = [0, 1, 2, 3].map(writer);
    while (acked.length < 50) await new Promise((r) => setTimeout(r, 20));
    process.kill(victim.pid, 'SIGKILL');
    const before = acked.length;
    while (acked.length < before + 200) await new Promise((r) => setTimeout(r, 20));
    stop = true;
    await Promise.all(writers);
    const got = await kv.batchGet(acked);
    assert.equal(got.filter((v) => v === undefined).length, 0, 'no acknowledged write lost');
  });
});
