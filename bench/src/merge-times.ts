// Range merge under load: a real PD and three store processes (packages/e2e's cluster), a
// client (@rangekv/client) writing to both ranges of each merge while a MERGE operator
// runs. Figures only, never asserted.
//
//   pnpm bench:merge                          # defaults: --merges 10 --keys 2000 --writers 2
//   pnpm bench:merge -- --merges 3 --keys 0   # quick
//
// Setup: `--keys` keys of 256 bytes, split into 2 * merges ranges (PD's own schedulers
// that move or merge ranges are paused, so only the bench's operators run). Then for each
// pair (left, right): `--writers` writers per range put keys of that range in a loop, one
// at a time, and a MERGE operator on the left range is timed from the call to its final
// status. For each merge:
//   - merge time: the operator, end to end (co-location is not needed: every range has
//     replicas on the same 3 stores; it includes moving the right range's leadership);
//   - write stall: the longest time one of those writers waited for a put to be
//     acknowledged (retries on ServerBusy and re-routing included), from the operator's
//     start until 1 s after it ended.
import { RangeKvClient, type RangeInfo } from '../../packages/client/dist/index.js';
import { E2eCluster } from '../../packages/e2e/dist/cluster.js';
import { parseIntFlags, pct, waitWritable, writeResult } from './results.js';

interface Args { merges: number; keys: number; writers: number }

function parseArgs(argv: string[]): Args {
  return parseIntFlags(argv, { merges: 10, keys: 2000, writers: 2 }, { merges: 1, writers: 1 });
}

/** Range boundaries: key(i) for i in [0, 2 * merges * STEP). */
const STEP = 1000;
const key = (i: number): string => `m${String(i).padStart(7, '0')}`;

/** Schedulers that would move, split or merge ranges on their own during the bench. */
const PAUSED = ['balance-leader', 'balance-replica', 'balance-hot', 'split-checker', 'merge-checker', 'replica-checker'];

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const c = await E2eCluster.start({ pdNodes: 1, stores: 3 });
  const kv = await RangeKvClient.connect({ pd: c.pdAddresses(), timeoutMs: 60_000 });
  const mergeMs: number[] = [];
  const stallMs: number[] = [];
  let writes = 0;
  const progress = (line: string): void => {
    process.stderr.write(`\r${line.padEnd(70)}`);
  };
  try {
    await waitWritable(() => kv.put('probe', '1'));
    for (const name of PAUSED) await kv.setSchedulerPaused(name, true).catch(() => {});
    const ranges = 2 * args.merges;
    const value = 'v'.repeat(256);
    const perRange = Math.max(1, Math.floor(args.keys / ranges));
    for (let r = 0; r < ranges; r++) {
      progress(`loading: range ${r + 1}/${ranges}`);
      for (let i = 0; i < perRange && args.keys > 0; i += 200) {
        await kv.batchPut(Array.from({ length: Math.min(200, perRange - i) }, (_, j) => ({ key: key(r * STEP + i + j), value })));
      }
    }
    for (let r = 1; r < ranges; r++) {
      progress(`splitting: ${r}/${ranges - 1}`);
      await kv.split(key(r * STEP));
    }
    for (let m = 0; m < args.merges; m++) {
      const all: RangeInfo[] = await kv.listRanges();
      const left = all.find((x) => Buffer.from(x.startKey).toString() === key(2 * m * STEP))
        ?? (m === 0 ? all.find((x) => x.startKey.length === 0) : undefined);
      if (!left) throw new Error(`no range starts at ${key(2 * m * STEP)}`);
      progress(`merging: ${m + 1}/${args.merges} (range ${left.rangeId})`);
      let stop = false;
      let watchFrom = Infinity;
      let watchTo = Infinity;
      let worst = 0;
      const writer = async (base: number, w: number): Promise<void> => {
        for (let n = 0; !stop; n++) {
          const t0 = performance.now();
          await kv.put(key(base + ((w * 7919 + n) % STEP)), value);
          const t1 = performance.now();
          writes++;
          if (t1 >= watchFrom && t0 <= watchTo) worst = Math.max(worst, t1 - t0);
        }
      };
      const loops: Promise<void>[] = [];
      for (let w = 0; w < args.writers; w++) {
        loops.push(writer(2 * m * STEP, w), writer((2 * m + 1) * STEP, w));
      }
      await new Promise((r) => setTimeout(r, 300));
      watchFrom = performance.now();
      const t0 = performance.now();
      const op = await kv.merge(left.rangeId, { timeoutMs: 180_000 });
      const took = performance.now() - t0;
      if (op.status !== 'succeeded') throw new Error(`merge of range ${left.rangeId} ended ${op.status}: ${op.reason}`);
      watchTo = performance.now() + 1000;
      await new Promise((r) => setTimeout(r, 1000));
      stop = true;
      await Promise.all(loops);
      mergeMs.push(took);
      stallMs.push(worst);
    }
    process.stderr.write('\n');
  } finally {
    kv.close();
    await c.close();
  }
  const row = (name: string, xs: number[]): string =>
    `${name.padEnd(22)} ${String(xs.length).padStart(3)} ${pct(xs, 50).toFixed(0).padStart(8)} ${pct(xs, 99).toFixed(0).padStart(8)} ${Math.max(...xs).toFixed(0).padStart(8)}`;
  console.log('                         n   p50 ms   p99 ms   max ms');
  console.log(row('merge (operator)', mergeMs));
  console.log(row('longest write stall', stallMs));
  console.log(`${writes} puts acknowledged by the writers`);
  const out = writeResult('merge', {
    args,
    setup: 'PD (1 node) + 3 store-main --pd processes on 127.0.0.1, tick 20 ms, election 10 ticks; client @rangekv/client; merge = MERGE operator call to final status; stall = longest put of the writers of the two ranges, from the operator call until 1 s after',
    mergeMs, stallMs, writes,
    merge: { p50Ms: pct(mergeMs, 50), p99Ms: pct(mergeMs, 99), maxMs: Math.max(...mergeMs) },
    stall: { p50Ms: pct(stallMs, 50), p99Ms: pct(stallMs, 99), maxMs: Math.max(...stallMs) },
  });
  console.log(`wrote ${out}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exit(1);
});
