// Listen on one address, advertise another: PD and three stores started with
// --host 127.0.0.1 --advertise-host localhost give out `localhost` (PD's member list; the
// stores' KV, raft and HTTP addresses registered with PD, with their bound ephemeral
// ports), the stores replicate range 1 to each other over those raft addresses, and a
// client that finds the stores through PD writes and reads. (Tests listen on 127.0.0.1
// only, so the wildcard case, --host 0.0.0.0, is covered by the flag tests and the
// in-process refusal below, not by a bound socket.) In process, StoreServer and PdServer
// refuse a wildcard listen host with nothing to advertise.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pdService } from '@rangekv/proto';
import { RangeKvClient } from '@rangekv/client';
import { PdServer } from '@rangekv/pd';
import { silentLogger } from '@rangekv/runtime';
import { StoreServer } from '@rangekv/store';
import { PdProcess } from '@rangekv/pd/testing/pd-process';
import { StoreProcess } from '@rangekv/store/testing/store-process';
import { eventually, unary } from './cluster.js';

const FAST = ['--tick-ms', '20', '--election-ticks', '10', '--heartbeat-ticks', '2', '--log-level', 'warn'];
const SPLIT = ['--host', '127.0.0.1', '--advertise-host', 'localhost'];

test('PD and stores listening on 127.0.0.1 with --advertise-host localhost register localhost and serve a client', async () => {
  const root = await mkdtemp(join(tmpdir(), 'rangekv-advertise-'));
  const stores: StoreProcess[] = [];
  let pd: PdProcess | undefined;
  let kv: RangeKvClient | undefined;
  try {
    pd = await PdProcess.start({ id: 1, dataDir: join(root, 'pd'), extraArgs: [...SPLIT, ...FAST, '--initial-stores', '3', '--http-port', 'off'] });
    const members = await unary(pd.address, pdService.getMembers, {});
    assert.deepEqual(members.members?.map((m) => [m.id, m.address]), [[1, `localhost:${pd.port}`]], 'PD gives out its advertised address');
    for (let id = 1; id <= 3; id++) {
      stores.push(await StoreProcess.startWith(['--store-id', String(id), '--data-dir', join(root, `store-${id}`), '--pd', pd.address,
        ...SPLIT, '--port', '0', '--raft-port', '0', ...FAST], id));
    }
    kv = await RangeKvClient.connect({ pd: [pd.address], timeoutMs: 10_000 });
    const client = kv;
    await eventually('the cluster serves a write', () => client.put('advertised', 'yes').then(() => true, () => false), 30_000);
    assert.equal((await kv.get('advertised'))?.toString(), 'yes');
    const registered = (await kv.listStores()).sort((a, b) => a.id - b.id);
    assert.deepEqual(registered.map((s) => [s.id, s.address, s.raftAddress, s.httpAddress]),
      stores.map((s) => [s.storeId, `localhost:${s.kvPort}`, `localhost:${s.raftPort}`, `localhost:${s.httpPort}`]),
      'every store registered its advertised host with its bound ports');
    const range1 = await kv.getRange('');
    assert.equal(range1.replicas.length, 3, 'range 1 has a replica on every store (raft between them over the advertised addresses)');
  } finally {
    kv?.close();
    for (const s of stores) s.kill('SIGKILL');
    pd?.kill();
    await Promise.all([...stores.map((s) => s.exited), ...(pd ? [pd.exited] : [])]);
    await rm(root, { recursive: true, force: true });
  }
});

test('StoreServer and PdServer refuse a wildcard listen host without an advertise host (before touching the data dir)', async () => {
  const dataDir = join(tmpdir(), 'rangekv-advertise-never-created');
  const log = silentLogger;
  await assert.rejects(StoreServer.start({ storeId: 1, dataDir, listenHost: '0.0.0.0', log }),
    /store 1: listenHost 0.0.0.0 \(every interface\) without advertiseHost: no address to register with PD/);
  await assert.rejects(StoreServer.start({ storeId: 1, dataDir, listenHost: '0.0.0.0', advertiseHost: '::', log }), /advertiseHost ::/);
  await assert.rejects(PdServer.start({ pdId: 1, dataDir, listenHost: '::', log }), /PD 1: listenHost :: \(every interface\) without advertiseHost/);
});
