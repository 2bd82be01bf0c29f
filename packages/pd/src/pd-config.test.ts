// Run-time settings and scheduler pauses on a 1-node PD: SetConfig checks the value with
// every other limit (a bad one is refused and nothing changes), the new value is the one in
// force, a reset goes back to the flag's; pauses and settings are committed, so they
// survive a PD restart; DecommissionStore's refusals.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { silentLogger } from '@rangekv/runtime';
import { PdServer } from './pd-server.js';
import { PdCallError, PdTestClient } from './testing/pd-test-client.js';

const start = (dir: string, port = 0): Promise<PdServer> =>
  PdServer.start({ pdId: 1, dataDir: dir, port, initialStores: 1, log: silentLogger, tickMs: 20, limits: { maxStoreDownTimeMs: 60_000 } });

type Entry = { key?: string | null; value?: number | null; overridden?: boolean | null } | null | undefined;
const plain = (e: Entry) => ({ key: e?.key, value: e?.value, overridden: e?.overridden === true });
type Sched = { name?: string | null; enabled?: boolean | null; paused?: boolean | null } | null | undefined;
const plainSched = (s: Sched) => ({ name: s?.name, enabled: s?.enabled === true, paused: s?.paused === true });

const refusedWith = (code: grpc.status, re: RegExp) => (e: unknown): boolean => e instanceof PdCallError && e.code === code && re.test(e.details);

test('settings: checked with the other limits, in force at once, reset to the flag, kept across a restart; schedulers paused and resumed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pd-config-'));
  let pd = await start(dir);
  const client = new PdTestClient([pd.address]);
  try {
    const cfg = await client.leader('getConfig', {});
    const entry = (k: string) => cfg.entries!.find((e) => e.key === k);
    assert.deepEqual(plain(entry('maxStoreDownTimeMs')), { key: 'maxStoreDownTimeMs', value: 60_000, overridden: false });
    assert.deepEqual(cfg.schedulers!.map((s) => Object.values(plainSched(s))),
      [['balance-leader', true, false], ['replica-checker', true, false], ['balance-replica', true, false], ['split-checker', true, false], ['balance-hot', true, false], ['merge-checker', true, false]]);
    const set = (key: string, value: number) => client.leader('setConfig', { key, value });
    await assert.rejects(set('maxStoreDownTimeMs', 5_000), refusedWith(grpc.status.INVALID_ARGUMENT, /must not be below storeDownAfterMs/));
    await assert.rejects(set('tickMs', 5), refusedWith(grpc.status.INVALID_ARGUMENT, /not a setting that can change at run time/));
    await assert.rejects(set('replicaCount', 8), refusedWith(grpc.status.INVALID_ARGUMENT, /replicaCount must be in 1\.\.7/));
    await assert.rejects(set('lowSpaceRatio', 1.5), refusedWith(grpc.status.INVALID_ARGUMENT, /lowSpaceRatio must be a ratio/));
    await assert.rejects(set('maxReplicaCheckerOperators', 2.5), refusedWith(grpc.status.INVALID_ARGUMENT, /positive integer/));
    await assert.rejects(set('splitMergeIntervalMs', 0), refusedWith(grpc.status.INVALID_ARGUMENT, /splitMergeIntervalMs must be a positive integer/));
    assert.deepEqual(plain(entry('mergeMaxSizeBytes')), { key: 'mergeMaxSizeBytes', value: 20 << 20, overridden: false });
    assert.equal(pd.service.limits.maxStoreDownTimeMs, 60_000, 'nothing changed');
    assert.deepEqual(plain((await set('maxStoreDownTimeMs', 600_000)).entry), { key: 'maxStoreDownTimeMs', value: 600_000, overridden: true });
    assert.equal(pd.service.limits.maxStoreDownTimeMs, 600_000);
    await set('replicaBalanceTolerance', 0.25);
    const paused = await client.leader('setScheduler', { name: 'balance-replica', paused: true });
    assert.deepEqual(plainSched(paused.scheduler), { name: 'balance-replica', enabled: true, paused: true });
    await assert.rejects(client.leader('setScheduler', { name: 'nope', paused: true }), refusedWith(grpc.status.INVALID_ARGUMENT, /no scheduler named nope/));
    // A restart on the same data dir: the settings and the pause are PD state.
    const port = Number(pd.address.split(':')[1]);
    await pd.stop();
    pd = await start(dir, port);
    assert.equal(pd.service.limits.maxStoreDownTimeMs, 600_000);
    assert.equal(pd.service.limits.replicaBalanceTolerance, 0.25);
    assert.equal(pd.group.state.config.paused.has('balance-replica'), true);
    assert.equal(await pd.service.replicaBalancer!.round(), 0, 'a paused scheduler plans nothing');
    await client.leader('setScheduler', { name: 'balance-replica', paused: false });
    assert.deepEqual(plain((await client.leader('setConfig', { key: 'maxStoreDownTimeMs', reset: true })).entry),
      { key: 'maxStoreDownTimeMs', value: 60_000, overridden: false });
    assert.equal(pd.service.limits.maxStoreDownTimeMs, 60_000);
    // Decommissioning refuses unknown stores and bad ids.
    await assert.rejects(client.leader('decommissionStore', { storeId: 9 }), refusedWith(grpc.status.NOT_FOUND, /store 9 is unknown/));
    await assert.rejects(client.leader('decommissionStore', { storeId: 2 ** 32 }), refusedWith(grpc.status.INVALID_ARGUMENT, /store id/));
  } finally {
    client.close();
    await pd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
