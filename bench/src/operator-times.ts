// How long PD operators take end to end: a real PD and four store processes
// (packages/e2e's cluster), a client (@rangekv/client) creating operators with
// `wait: true`, timed from the call to the final status. Figures only, never asserted.
//
//   pnpm bench:operators                         # defaults: --ranges 8 --rounds 3 --keys 2000
//   pnpm bench:operators -- --rounds 1 --keys 0   # quick
//
// Per round and range: ADD_REPLICA to the store without one (learner, catch-up by snapshot,
// promote), REMOVE_REPLICA of it again, MOVE_REPLICA (add + remove) from one store to
// another, TRANSFER_LEADER, and SPLIT. The ranges hold `--keys` keys of 256 bytes each in
// total, so the learners' snapshots carry data.
import { RangeKvClient, type OperatorInfo, type RangeInfo } from '../../packages/client/dist/index.js';
import { E2eCluster } from '../../packages/e2e/dist/cluster.js';
import { parseIntFlags, pct, waitWritable, writeResult } from './results.js';

interface Args { ranges: number; rounds: number; keys: number }

function parseArgs(argv: string[]): Args {
  return parseIntFlags(argv, { ranges: 8, rounds: 3, keys: 2000 }, { ranges: 1, rounds: 1 });
}

const key = (i: number): string => `k${String(i).padStart(6, '0')}`;

async function timed(times: Map<string, number[]>, kind: string, f: () => Promise<OperatorInfo>): Promise<OperatorInfo> {
  const t0 = performance.now();
  const op = await f();
  const ms = performance.now() - t0;
  if (op.status !== 'succeeded') throw new Error(`${kind} operator ${op.id} ended ${op.status}: ${op.reason}`);
  const l = times.get(kind) ?? [];
  l.push(ms);
  times.set(kind, l);
  return op;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const c = await E2eCluster.start({ pdNodes: 1, stores: 4, initialStores: 3 });
  const kv = await RangeKvClient.connect({ pd: c.pdAddresses(), timeoutMs: 60_000 });
  const times = new Map<string, number[]>();
  try {
    await waitWritable(() => kv.put('probe', '1'));
    const value = 'v'.repeat(256);
    for (let i = 0; i < args.keys; i += 200) {
      await kv.batchPut(Array.from({ length: Math.min(200, args.keys - i) }, (_, j) => ({ key: key(i + j), value })));
    }
    for (let r = 1; r < args.ranges; r++) await kv.split(key(Math.floor((r * Math.max(args.keys, args.ranges)) / args.ranges)));
    for (let round = 0; round < args.rounds; round++) {
      const ranges: RangeInfo[] = await kv.listRanges();
      for (const r of ranges) {
        const stores = new Set(r.replicas.map((x) => x.storeId));
        const spare = [1, 2, 3, 4].find((s) => !stores.has(s))!;
        await timed(times, 'add-replica', () => kv.addReplica(r.rangeId, spare));
        await timed(times, 'remove-replica', () => kv.removeReplica(r.rangeId, spare));
        const from = r.replicas.find((x) => x.storeId !== r.leaderStoreId)?.storeId ?? r.replicas[0]!.storeId;
        await timed(times, 'move-replica', () => kv.moveReplica(r.rangeId, from, spare));
        const after = (await kv.listRanges()).find((x) => x.rangeId === r.rangeId)!;
        const to = after.replicas.find((x) => x.storeId !== after.leaderStoreId)!.storeId;
        await timed(times, 'transfer-leader', () => kv.transferLeader(r.rangeId, to));
      }
      const rs = await kv.listRanges();
      const last = rs[rs.length - 1]!;
      await timed(times, 'split', () => kv.split(`${Buffer.from(last.startKey).toString()}~${round}`));
    }
  } finally {
    kv.close();
    await c.close();
  }
  const rows = [...times].map(([kind, ms]) => ({ kind, n: ms.length, p50Ms: pct(ms, 50), p99Ms: pct(ms, 99), maxMs: Math.max(...ms) }));
  console.log('operator         n    p50 ms   p99 ms   max ms');
  for (const r of rows) console.log(`${r.kind.padEnd(16)} ${String(r.n).padStart(3)} ${r.p50Ms.toFixed(0).padStart(8)} ${r.p99Ms.toFixed(0).padStart(8)} ${r.maxMs.toFixed(0).padStart(8)}`);
  const out = writeResult('operators', {
    args,
    setup: 'PD (1 node) + 4 store-main --pd processes on 127.0.0.1, tick 20 ms, election 10 ticks; client @rangekv/client; time = CreateOperator(wait) call to final status',
    rows,
  });
  console.log(`wrote ${out}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exit(1);
});
