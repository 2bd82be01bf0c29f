// PD's health gauges on /metrics of a 1-node PD (the leader): stores by state follow
// heartbeats and decommission, ranges under-replicated and without a leader follow the
// stores and range reports.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { silentLogger } from '@rangekv/runtime';
import { PdServer } from './pd-server.js';
import { PdTestClient } from './testing/pd-test-client.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let dir: string;
let pd: PdServer;
let client: PdTestClient;
const beating = new Set<number>();
let timer: NodeJS.Timeout;

async function until(what: string, cond: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(await gauges())}`);
    await sleep(50);
  }
}

const heartbeat = (id: number) => client.call(pd.address, 'storeHeartbeat', { store: { id, address: `127.0.0.1:${id}`, raftAddress: '127.0.0.1:1' } });

async function gauges(): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${pd.httpPort}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^(rangekv_pd_(?:stores_by_state\{state="\w+"\}|ranges_under_replicated|ranges_without_leader|ranges)) (\d+)$/gm)) {
    out[m[1]!.replace('rangekv_pd_', '').replace(/stores_by_state\{state="(\w+)"\}/, 'stores_$1')] = Number(m[2]);
  }
  return out;
}

function same(want: Record<string, number>): () => Promise<boolean> {
  return async () => {
    const g = await gauges();
    return Object.entries(want).every(([k, v]) => g[k] === v);
  };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pd-health-'));
  pd = await PdServer.start({
    pdId: 1, dataDir: dir, initialStores: 3, log: silentLogger, tickMs: 20, httpPort: 0,
    leaderBalance: false, replicaChecker: false, replicaBalance: false, splitChecker: false, hotBalance: false,
    limits: { storeDownAfterMs: 600, leaderBalanceMaxReportAgeMs: 1_500 },
  });
  client = new PdTestClient([pd.address]);
  timer = setInterval(() => {
    for (const id of beating) void heartbeat(id).catch(() => undefined);
  }, 100);
});

after(async () => {
  clearInterval(timer);
  client.close();
  await pd.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('stores by state, under-replicated and leaderless ranges as the leader sees them', async () => {
  for (const id of [1, 2, 3, 4]) {
    await heartbeat(id);
    beating.add(id);
  }
  // Range 1 is bootstrapped on stores 1-3: no leader has reported it yet.
  await until('bootstrap', same({ stores_up: 4, stores_down: 0, ranges: 1, ranges_under_replicated: 0, ranges_without_leader: 1 }));
  const boot = (await client.call(pd.address, 'getRange', { rangeId: 1 })).route!.descriptor!;
  const report = (term: number) => client.call(pd.address, 'rangeHeartbeat', {
    storeId: 1, ranges: [{ descriptor: boot, leader: { storeId: 1, replicaId: boot.replicas![0]!.replicaId }, term }],
  });
  await report(1);
  assert.deepEqual(await gauges(), { stores_up: 4, stores_down: 0, stores_offline: 0, stores_tombstone: 0, ranges: 1, ranges_under_replicated: 0, ranges_without_leader: 0 });

  await client.call(pd.address, 'decommissionStore', { storeId: 4 });
  assert.deepEqual([(await gauges()).stores_up, (await gauges()).stores_offline], [3, 1]);

  // Stores 2 and 3 stop heartbeating: down, and range 1 keeps one live voter.
  beating.delete(2);
  beating.delete(3);
  await until('stores 2, 3 down', same({ stores_up: 1, stores_down: 2, stores_offline: 1, ranges_under_replicated: 1 }));
  await report(1);
  assert.equal((await gauges()).ranges_without_leader, 0, 'its leader\'s store is up and reports');

  // No report for longer than leaderBalanceMaxReportAgeMs: no leader any more.
  await until('report stale', same({ ranges_without_leader: 1 }));
  await report(1);
  assert.equal((await gauges()).ranges_without_leader, 0);

  // The leader's store goes down: no leader, though its last report is fresh.
  beating.delete(1);
  await until('store 1 down', same({ stores_up: 0, stores_down: 3, ranges_without_leader: 1 }), 1_400);

  // Back: up again, a fresh report from the leader clears it.
  for (const id of [1, 2, 3]) beating.add(id);
  await until('stores back', same({ stores_up: 3, stores_down: 0, ranges_under_replicated: 0 }));
  await report(2);
  assert.equal((await gauges()).ranges_without_leader, 0);
});
