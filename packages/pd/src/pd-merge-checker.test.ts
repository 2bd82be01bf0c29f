// The merge checker on one in-process PD with three fake stores: 1,000 ranges, of which
// every tenth holds 30 MiB and the other 900 are empty, reported by their leader with
// their size figures. With the default splitMergeIntervalMs (1 h) nothing merges (the
// ranges were just split); paused, nothing merges either; once the interval is lowered
// and the checker resumed, the empty ranges merge down, run by run, to one range each
// between the big ones, through `merge-checker` MERGE operators only, never touching a big one.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { descriptorFromWire, descriptorToWire, pdpb, ReplicaRole, type RangeDescriptor } from '@rangekv/proto';
import { silentLogger } from '@rangekv/runtime';
import { PdServer } from './pd-server.js';
import { FakeCluster } from './testing/fake-stores.js';
import { PdTestClient } from './testing/pd-test-client.js';
import { sleep, until } from './testing/wait.js';

const RANGES = 1_000;
const BIG_BYTES = 30 << 20;
const key = (i: number): Uint8Array => new Uint8Array(Buffer.from(`k${String(i).padStart(4, '0')}`));
/** Range i (0-based) starts at key(i) (range 0 at the start of the keyspace); every tenth is big. */
const indexOf = (d: RangeDescriptor): number => (d.startKey.length === 0 ? 0 : Number(Buffer.from(d.startKey).toString().slice(1)));
const big = (d: RangeDescriptor): boolean => indexOf(d) % 10 === 0;

let dir: string;
let pd: PdServer;
let fake: FakeCluster;
let client: PdTestClient;
let reporting: NodeJS.Timeout | undefined;

/** Store 1 leads every range and reports them all, with sizes: 30 MiB for a big range, 0 (measured) for the others. */
async function reportAll(): Promise<void> {
  const ranges = [...fake.ranges.values()].map((r) => ({
    descriptor: descriptorToWire(r.desc), leader: r.desc.replicas.find((x) => x.storeId === 1)!, term: r.term,
    stats: big(r.desc) ? { approximateBytes: BIG_BYTES, approximateKeys: 30_000 } : { approximateBytes: 0, approximateKeys: 0 },
  }));
  const res = await client.call(pd.address, 'rangeHeartbeat', { storeId: 1, ranges });
  assert.deepEqual(res.rejected, []);
}

const mergeOps = () => [...pd.group.state.operators.values()].filter((o) => o.kind === pdpb.OperatorKind.MERGE);

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pd-merge-checker-'));
  fake = new FakeCluster();
  const addrs = new Map<number, string>();
  for (const id of [1, 2, 3]) addrs.set(id, await fake.startStore(id));
  pd = await PdServer.start({
    pdId: 1, dataDir: dir, initialStores: 3, log: silentLogger, tickMs: 20,
    leaderBalance: false, replicaChecker: false, replicaBalance: false, splitChecker: false, hotBalance: false,
    limits: { mergeCheckIntervalMs: 50 },
    operatorLimits: { operatorTickMs: 20, retryActionMs: 100, rangeStatusTimeoutMs: 500 },
  });
  client = new PdTestClient([pd.address]);
  let boot: pdpb.IBootstrapRange | null | undefined;
  for (const id of [1, 2, 3]) {
    const res = await client.call(pd.address, 'storeHeartbeat', { store: { id, address: addrs.get(id)!, raftAddress: `127.0.0.1:${9000 + id}` } });
    boot ??= res.bootstrap;
  }
  // The stores split range 1 into 1,000 (as the split checker would have); PD hears of it from the reports.
  const first = descriptorFromWire(boot!.descriptor!);
  const ids = await client.call(pd.address, 'allocIds', { count: RANGES });
  for (let i = 0; i < RANGES; i++) {
    const d: RangeDescriptor = {
      ...first, rangeId: i === 0 ? first.rangeId : ids.first! + i, startKey: i === 0 ? new Uint8Array(0) : key(i),
      endKey: i === RANGES - 1 ? new Uint8Array(0) : key(i + 1), epoch: { confVer: 1, version: 2 },
      replicas: first.replicas.map((x) => ({ ...x, replicaId: x.replicaId + 10 * i, role: ReplicaRole.Voter })),
    };
    fake.createRange(d, 1);
  }
  await reportAll();
  reporting = setInterval(() => void reportAll().catch(() => undefined), 200);
});

after(async () => {
  clearInterval(reporting);
  client.close();
  await pd.stop();
  await fake.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('1,000 ranges, 900 emptied: nothing merges within splitMergeIntervalMs or while paused; then the empty runs merge down to one range each', async () => {
  assert.equal(pd.group.state.ranges.size, RANGES);
  await sleep(300);
  assert.equal(mergeOps().length, 0, 'the ranges were split just now (and this leader just began serving)');
  await client.call(pd.address, 'setScheduler', { name: 'merge-checker', paused: true });
  const set = await client.call(pd.address, 'setConfig', { key: 'splitMergeIntervalMs', value: 1 });
  assert.equal(set.entry?.value, 1);
  await client.call(pd.address, 'setConfig', { key: 'mergeScheduleLimit', value: 32 });
  await sleep(300);
  assert.equal(mergeOps().length, 0, 'paused');
  await client.call(pd.address, 'setScheduler', { name: 'merge-checker', paused: false });
  // 100 big ranges, and each run of 9 empty ones after a big one merged into one.
  await until('the empty ranges to merge down', () => pd.group.state.ranges.size === 200 && mergeOps().every((o) => o.status !== pdpb.OperatorStatus.RUNNING), 60_000);
  assert.equal(fake.mergesDone, 800, 'nine ranges become one in eight merges, for each of 100 runs');
  // PD keeps the last 256 finished operators.
  assert.ok(mergeOps().every((o) => o.createdBy === 'merge-checker' && o.status === pdpb.OperatorStatus.SUCCEEDED), 'merge-checker operators, all succeeded');
  const after = [...pd.group.state.ranges.values()].map((r) => r.descriptor).sort((a, b) => indexOf(a) - indexOf(b));
  assert.deepEqual(after.map(indexOf), Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? 5 * i : 5 * i - 4)), 'a big range, then one merged range of the nine after it');
  for (let i = 0; i < after.length; i++) {
    const d = after[i]!;
    const end = i + 1 < after.length ? after[i + 1]!.startKey : new Uint8Array(0);
    assert.equal(Buffer.compare(d.endKey, end), 0, `range ${d.rangeId} ends where the next one starts`);
    if (big(d)) assert.equal(d.epoch.version, 2, 'a big range was not touched');
  }
  assert.equal(fake.ranges.size, 200, 'the stores agree');
});
