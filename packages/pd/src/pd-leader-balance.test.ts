// The leader balance scheduler in a 1-node PD with three fake stores (real admin gRPC
// servers over a shared model) that heartbeat and report the ranges they lead like real
// stores: ranges split by PD all stay led by store 1; the scheduler creates
// TRANSFER_LEADER operators (created_by balance-leader, counted in /metrics) until every
// store leads within ±1 of the mean; a store that stops heartbeating is never a target; a
// store whose heartbeats report a slow disk loses every leader (evict-slow-store) and gets
// them back once it is fast again.
// Deadlines are generous: the machine is shared; nothing here asserts a duration.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { descriptorFromWire, descriptorToWire, pdpb } from '@rangekv/proto';
import { silentLogger } from '@rangekv/runtime';
import { PdServer } from './pd-server.js';
import { FakeCluster } from './testing/fake-stores.js';
import { PdCallError, PdTestClient } from './testing/pd-test-client.js';

const K = pdpb.OperatorKind;
const S = pdpb.OperatorStatus;
const STORES = [1, 2, 3];
const RANGES = 24;
/** Store heartbeats and range reports, as a store's PD link sends them (faster, for the test). */
const REPORT_EVERY_MS = 150;
const CONVERGE_DEADLINE_MS = 60_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const key = (i: number): Uint8Array => new Uint8Array(Buffer.from(`k${String(i).padStart(4, '0')}`));

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

let dir: string;
let pd: PdServer;
let fake: FakeCluster;
let client: PdTestClient;
/** Stores that heartbeat (a store taken out stops, and PD turns it DOWN). */
const alive = new Set(STORES);
/** The sync latency each store's heartbeat reports, µs (a fast disk unless set). */
const syncLatencyMicros = new Map<number, number>();
let reporter: NodeJS.Timeout | null = null;

/** One round of what the stores' PD links send: store heartbeats, then each leader's range reports. */
async function reportAll(): Promise<void> {
  for (const id of alive) {
    await client.call(pd.address, 'storeHeartbeat', {
      store: { id, address: fake.address(id), raftAddress: `127.0.0.1:${9000 + id}` }, stats: { syncLatencyMicros: syncLatencyMicros.get(id) ?? 1_000 },
    });
  }
  for (const id of alive) {
    const led = [...fake.ranges.values()].filter((r) => r.leaderStore === id);
    if (led.length === 0) continue;
    await client.call(pd.address, 'rangeHeartbeat', {
      storeId: id,
      ranges: led.map((r) => ({
        descriptor: descriptorToWire(r.desc), term: r.term,
        leader: r.desc.replicas.find((x) => x.storeId === id)!,
      })),
    });
  }
}

function leadersPerStore(stores: readonly number[]): number[] {
  return stores.map((s) => [...fake.ranges.values()].filter((r) => r.leaderStore === s).length);
}

async function operators(): Promise<pdpb.Operator.$Properties[]> {
  return (await client.call(pd.address, 'listOperators', {})).operators ?? [];
}

/** A split that a running balance transfer on the range refuses for now: retried. */
async function split(at: Uint8Array): Promise<void> {
  const rangeId = (await client.call(pd.address, 'getRangeByKey', { key: at })).route!.descriptor!.rangeId!;
  for (;;) {
    try {
      const res = await client.call(pd.address, 'createOperator', { kind: K.SPLIT, rangeId, splitKey: at, wait: true }, 30_000);
      assert.equal(res.operator?.status, S.SUCCEEDED, res.operator?.reason ?? '');
      return;
    } catch (e) {
      if (!(e instanceof PdCallError) || !/already has running operator/.test(e.details)) throw e;
      await sleep(100);
    }
  }
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pd-balance-'));
  fake = new FakeCluster();
  for (const id of STORES) await fake.startStore(id);
  pd = await PdServer.start({
    pdId: 1, dataDir: dir, initialStores: 3, log: silentLogger, tickMs: 20, httpPort: 0,
    limits: { storeDownAfterMs: 1_500, leaderBalanceIntervalMs: 100, leaderBalanceWarmupMs: 300, slowStoreRecoverMs: 1_000 },
    operatorLimits: { operatorTickMs: 20, retryActionMs: 200, rangeStatusTimeoutMs: 500 },
  });
  client = new PdTestClient([pd.address]);
  await reportAll();
  const hb = await client.call(pd.address, 'storeHeartbeat', { store: { id: 1, address: fake.address(1), raftAddress: '127.0.0.1:9001' } });
  fake.createRange(descriptorFromWire(hb.bootstrap!.descriptor!), 1);
  await reportAll();
  reporter = setInterval(() => void reportAll().catch(() => undefined), REPORT_EVERY_MS);
});

after(async () => {
  if (reporter) clearInterval(reporter);
  client.close();
  await pd.stop();
  await fake.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('leaders split onto one store are spread by balance-leader operators to within ±1 of the mean', async () => {
  for (let i = 1; i < RANGES; i++) await split(key(i));
  assert.equal(fake.ranges.size, RANGES);
  const mean = RANGES / STORES.length;
  const balanced = async (): Promise<boolean> =>
    leadersPerStore(STORES).every((n) => Math.abs(n - mean) <= 1) && (await operators()).every((o) => o.status !== S.RUNNING);
  await until('leaders within ±1 of the mean, no operator running', balanced, CONVERGE_DEADLINE_MS);
  // Settled: a balanced layout gets no more operators (10 scheduler intervals). PD balances
  // to its own bounds, floor(mean x 1.1) and ceil(mean x 0.9) at the default tolerance (8
  // each here), tighter than this test's ±1: it may still make a move or two after the
  // condition above holds (the CI flake at cd99842: 39 operators, then 38). So wait for a
  // quiet second, at most 3 more rounds.
  let ops = await operators();
  for (let attempt = 0; ; attempt++) {
    await sleep(1_000);
    const now = await operators();
    if (now.length === ops.length) break;
    assert.ok(attempt < 3, `operators kept coming on a balanced layout: ${ops.length} -> ${now.length}`);
    await until('balanced again', balanced, CONVERGE_DEADLINE_MS);
    ops = await operators();
  }
  const transfers = ops.filter((o) => o.kind === K.TRANSFER_LEADER);
  assert.ok(transfers.length >= mean - 1, `${transfers.length} transfers`);
  assert.ok(transfers.every((o) => o.createdBy === 'balance-leader'), 'no transfer was asked for by hand');
  assert.ok(ops.filter((o) => o.kind === K.SPLIT).every((o) => o.createdBy === 'admin'));
  assert.ok(transfers.every((o) => o.status !== S.FAILED), JSON.stringify(transfers.filter((o) => o.status === S.FAILED)));
  const metrics = await (await fetch(`http://127.0.0.1:${pd.httpPort}/metrics`)).text();
  const created = (by: string): number => Number(new RegExp(`rangekv_pd_operators_created_total\\{scheduler="${by}"\\} (\\d+)`).exec(metrics)?.[1] ?? -1);
  assert.equal(created('balance-leader'), transfers.length);
  assert.equal(created('admin'), RANGES - 1);
  const finished = (by: string, status: string): number =>
    Number(new RegExp(`rangekv_pd_operators_finished_total\\{scheduler="${by}",status="${status}"\\} (\\d+)`).exec(metrics)?.[1] ?? 0);
  assert.equal(finished('admin', 'succeeded'), RANGES - 1, 'the splits, finished');
  assert.equal(finished('balance-leader', 'succeeded') + finished('balance-leader', 'timed_out'), transfers.filter((o) => o.status !== S.RUNNING).length);
});

test('a store that stops heartbeating is DOWN: never a target, its leaders not counted', async () => {
  alive.delete(3);
  await until('store 3 DOWN', async () => (await client.call(pd.address, 'getStore', { storeId: 3 })).store?.state === 1, CONVERGE_DEADLINE_MS);
  const since = Math.max(0, ...(await operators()).map((o) => o.id ?? 0));
  // Every leader of stores 1 and 2 back on store 1 (as if store 2 had handed them over).
  for (const r of fake.ranges.values()) {
    if (r.leaderStore === 2) {
      r.leaderStore = 1;
      r.term++;
    }
  }
  const live = [1, 2];
  const mean = leadersPerStore(live).reduce((a, b) => a + b, 0) / live.length;
  // Within the default tolerance (10 %) of their mean: 17 leaders over 2 stores may end 10 / 7.
  const within = (n: number): boolean => n >= Math.floor(mean * 0.9) && n <= Math.ceil(mean * 1.1);
  await until('stores 1 and 2 within 10 % of their mean', () => leadersPerStore(live).every(within), CONVERGE_DEADLINE_MS);
  const newer = (await operators()).filter((o) => (o.id ?? 0) > since);
  assert.ok(newer.length > 0);
  assert.ok(newer.every((o) => o.kind === K.TRANSFER_LEADER && o.toStore === 2 && o.createdBy === 'balance-leader'), JSON.stringify(newer.map((o) => [o.rangeId, o.toStore])));
});

test('a store reporting a slow disk loses every leader to evict-slow-store operators, and gets leaders back once fast again', async () => {
  alive.add(3);
  await until('store 3 Up again', async () => (await client.call(pd.address, 'getStore', { storeId: 3 })).store?.state === 0, CONVERGE_DEADLINE_MS);
  const since = Math.max(0, ...(await operators()).map((o) => o.id ?? 0));
  // Store 2's fsyncs take 200 ms; the others' 1 ms.
  syncLatencyMicros.set(2, 200_000);
  await until('store 2 leads nothing', () => leadersPerStore([2])[0] === 0, CONVERGE_DEADLINE_MS);
  const evictions = (await operators()).filter((o) => (o.id ?? 0) > since && o.createdBy === 'evict-slow-store');
  assert.ok(evictions.length > 0);
  assert.ok(evictions.every((o) => o.kind === K.TRANSFER_LEADER && o.toStore !== 2));
  // While slow it is never a target (10 scheduler intervals).
  await sleep(1_000);
  assert.equal(leadersPerStore([2])[0], 0, 'no leader moved back to the slow store');
  const slowDone = Math.max(0, ...(await operators()).map((o) => o.id ?? 0));
  syncLatencyMicros.set(2, 1_000);
  const mean = RANGES / STORES.length;
  await until('store 2 leads its share again', () => Math.abs(leadersPerStore([2])[0]! - mean) <= 1, CONVERGE_DEADLINE_MS);
  const back = (await operators()).filter((o) => (o.id ?? 0) > slowDone);
  assert.ok(back.some((o) => o.createdBy === 'balance-leader' && o.toStore === 2), JSON.stringify(back.map((o) => [o.createdBy, o.toStore])));
  assert.ok(back.every((o) => o.createdBy !== 'evict-slow-store'));
});
