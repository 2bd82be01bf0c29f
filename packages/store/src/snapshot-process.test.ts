// Three real store processes: a follower killed while the leader writes and compacts its
// log far past it restarts and catches up by snapshot (its own log line says so), then
// serves the same data. Every process is killed in `finally`, whatever happened.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { metapb } from '@rangekv/proto';
import { header, KvTestClient } from './testing/kv-test-client.js';
import { StoreProcess } from './testing/store-process.js';

const C = metapb.ReadConsistency;
const b = (s: string): Buffer => Buffer.from(s);
const str = (v: Uint8Array | null | undefined): string => Buffer.from(v ?? new Uint8Array(0)).toString();
const IDS = [1, 2, 3];
const ARGS = [
  '--tick-ms', '20', '--election-ticks', '10', '--heartbeat-ticks', '2',
  '--log-compaction-threshold-entries', '40', '--log-compaction-keep-entries', '5', '--max-follower-lag-entries', '20',
];
const key = (i: number): string => `far${String(i).padStart(4, '0')}`;

test('a follower far behind catches up by snapshot', async () => {
  const root = await mkdtemp(join(tmpdir(), 'rangekv-snapprocs-'));
  const procs = new Map<number, StoreProcess>();
  const spawned: StoreProcess[] = [];
  const client = new KvTestClient();
  const logLines = new Map<number, string[]>();
  const start = async (id: number, bootstrap: boolean): Promise<StoreProcess> => {
    const p = await StoreProcess.spawn({ storeId: id, dataDir: join(root, `store-${id}`), extraArgs: ARGS, ...(bootstrap ? { bootstrap: IDS } : {}) });
    spawned.push(p);
    procs.set(id, p);
    client.setAddress(id, p.kvAddress);
    const lines: string[] = [];
    logLines.set(id, lines);
    createInterface({ input: p.proc.stderr! }).on('line', (l) => {
      if (l.includes('snapshot')) lines.push(l);
    });
    return p;
  };
  const exchangePeers = async (): Promise<void> => {
    const peers = new Map([...procs].filter(([, p]) => p.running).map(([id, p]) => [id, p.raftAddress] as [number, string]));
    await Promise.all([...procs.values()].filter((p) => p.running).map((p) => p.setPeers(peers)));
  };
  const eventually = async (what: string, cond: () => Promise<boolean>, timeoutMs = 45_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (!(await cond())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  try {
    for (const id of IDS) await start(id, true);
    await exchangePeers();
    for (let i = 0; i < 5; i++) await client.routed('put', { header: header(), key: b(key(i)), value: b(`v${i}`) });
    const leader = client.leaderHint;
    const victim = IDS.find((id) => id !== leader)!;
    procs.get(victim)!.kill('SIGKILL');
    await procs.get(victim)!.exited;
    const N = 200;
    for (let i = 5; i < N; i += 10) {
      const batch = [];
      for (let j = i; j < Math.min(N, i + 10); j++) batch.push(client.routed('put', { header: header(), key: b(key(j)), value: b(`v${j}`) }));
      for (const r of await Promise.all(batch)) assert.equal(r.rangeError, null);
    }
    await start(victim, false);
    await exchangePeers();
    await eventually('the restarted follower applied every write', async () => {
      const out = await client.call(victim, 'get', { header: header(C.STALE), key: b(key(N - 1)) });
      return out.ok && str(out.res.value) === `v${N - 1}`;
    });
    assert.ok(logLines.get(victim)!.some((l) => l.includes('"snapshot received"')), `caught up by snapshot:\n${logLines.get(victim)!.join('\n')}`);
    const scan = await client.call(victim, 'scan', { header: header(C.STALE), startKey: b('far'), endKey: b('fas'), limit: 0 });
    assert.ok(scan.ok);
    const pairs = scan.res.pairs ?? [];
    assert.equal(pairs.length, N);
    pairs.forEach((kv, i) => assert.deepEqual([str(kv.key), str(kv.value)], [key(i), `v${i}`]));
  } finally {
    client.close();
    for (const p of spawned) p.kill('SIGKILL');
    await Promise.all(spawned.map((p) => p.exited));
    await rm(root, { recursive: true, force: true });
  }
});
