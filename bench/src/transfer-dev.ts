// Leadership transfer as a user sees it: `rangekv dev` (PD + 3 stores, default timing), the
// product client (@rangekv/client: leader cache, retries, backoff) writing one key back to
// back, and PD transfer-leader operators moving that range's leadership round the stores.
// Per transfer: the longest gap between successive acknowledged writes (or reads, with
// `--op get` / `--op lease-get`) from the operator's start until 200 ms after PD reports
// the new leader. The groups bench's transfer probe
// measures the same with a bench client polling every 1 ms; this one measures the client
// users run.
//
//   node bench/dist/transfer-dev.js [--transfers 50] [--pause-ms 250] [--op put|get|lease-get] [--no-save]
//   # -> bench/results/transfer-dev.json (transfer-dev-get.json, transfer-dev-lease-get.json)
import { RangeKvClient } from '../../packages/client/dist/index.js';
import { summarize } from './groups-per-node-load.js';
import { startDevCluster } from './kv-vs-etcd-dev.js';
import { runningClusters } from './kv-vs-etcd-load.js';
import { Progress } from './progress.js';
import { writeResult } from './results.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** After PD reports the new leader, gaps are still counted for this long (the client may not have written yet). */
const settleMs = 200;

const OPS = ['put', 'get', 'lease-get'] as const;
type Op = (typeof OPS)[number];

interface Args {
  transfers: number;
  pauseMs: number;
  /** What the probe sends back to back: puts, linearizable gets or lease gets. */
  op: Op;
  save: boolean;
}

const USAGE = 'usage: transfer-dev [--transfers 50] [--pause-ms 250] [--op put|get|lease-get] [--no-save]';

function parseArgs(argv: readonly string[]): Args {
  const a: Args = { transfers: 50, pauseMs: 250, op: 'put', save: true };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    if (k === '--no-save') {
      a.save = false;
      continue;
    }
    const v = argv[++i];
    if (v === undefined) throw new Error(`${k} needs a value; ${USAGE}`);
    if (k === '--transfers') a.transfers = Number(v);
    else if (k === '--pause-ms') a.pauseMs = Number(v);
    else if (k === '--op') {
      if (!(OPS as readonly string[]).includes(v)) throw new Error(`--op must be one of ${OPS.join(', ')}; ${USAGE}`);
      a.op = v as Op;
    }
    else throw new Error(`unknown flag ${k}; ${USAGE}`);
  }
  if (!Number.isSafeInteger(a.transfers) || a.transfers < 1) throw new Error('--transfers must be a positive integer');
  if (!Number.isSafeInteger(a.pauseMs) || a.pauseMs < 0) throw new Error('--pause-ms must be a non-negative integer');
  return a;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const progress = new Progress();
  const sut = await startDevCluster({ splitKeys: [], progress });
  const pd = String(sut.info.pd);
  const kv = await RangeKvClient.connect({ pd: [pd], timeoutMs: 10_000 });
  try {
    // Nothing but the operators below moves the leader.
    await kv.setSchedulerPaused('balance-leader', true);
    const key = Buffer.from('transfer-probe');
    const value = Buffer.from('v');
    const acks: number[] = [];
    let failed = 0;
    let stop = false;
    await kv.put(key, value);
    const send = args.op === 'put' ? () => kv.put(key, value)
      : () => kv.get(key, { consistency: args.op === 'get' ? 'linearizable' : 'lease' });
    const probe = (async () => {
      while (!stop) {
        try {
          await send();
          acks.push(performance.now());
        } catch {
          failed++;
        }
      }
    })();
    await sleep(1000);
    const baseline: number[] = [];
    for (let i = 1; i < acks.length; i++) baseline.push(acks[i]! - acks[i - 1]!);
    const gaps: number[] = [];
    let timedOut = 0;
    for (let i = 0; i < args.transfers; i++) {
      const range = await kv.getRange(key);
      const stores = range.replicas.map((r) => r.storeId).sort((x, y) => x - y);
      const to = stores[(stores.indexOf(range.leaderStoreId) + 1) % stores.length]!;
      const t0 = performance.now();
      await kv.transferLeader(range.rangeId, to);
      let moved = -1;
      while (performance.now() - t0 < 5_000) {
        if ((await kv.getRange(key)).leaderStoreId === to) {
          moved = performance.now();
          break;
        }
        await sleep(5);
      }
      if (moved < 0) {
        timedOut++;
        continue;
      }
      await sleep(settleMs);
      const t1 = moved + settleMs;
      // The longest gap between acknowledged writes that ends inside [t0, t1].
      let gap = 0;
      for (let j = 1; j < acks.length; j++) if (acks[j]! >= t0 && acks[j]! <= t1) gap = Math.max(gap, acks[j]! - acks[j - 1]!);
      gaps.push(gap);
      progress.update(`transfers ${i + 1}/${args.transfers}`);
      await sleep(args.pauseMs);
    }
    stop = true;
    await probe;
    const g = summarize(gaps, 1);
    const b = summarize(baseline, 1);
    const ops = args.op === 'put' ? 'writes' : `${args.op}s`;
    progress.done(`transfers: ${gaps.length} (${timedOut} timed out), longest gap p50 ${g.p50Ms.toFixed(1)} / p99 ${g.p99Ms.toFixed(1)} / max ${g.maxMs.toFixed(1)} ms; between ${ops} without a transfer p50 ${b.p50Ms.toFixed(1)} / p99 ${b.p99Ms.toFixed(1)} ms; ${acks.length} ${ops}, ${failed} failed`);
    if (args.save) {
      console.log(`wrote ${writeResult(args.op === 'put' ? 'transfer-dev' : `transfer-dev-${args.op}`, {
        args, transfers: gaps.length, timedOut, failed, [ops]: acks.length,
        maxGapP50Ms: g.p50Ms, maxGapP99Ms: g.p99Ms, maxGapMaxMs: g.maxMs, baselineGapP50Ms: b.p50Ms, baselineGapP99Ms: b.p99Ms,
        maxGapsMs: gaps.map((x) => Math.round(x * 10) / 10),
      })}`);
    }
  } finally {
    kv.close();
    await sut.stop();
  }
}

main().catch(async (e: unknown) => {
  console.error(e instanceof Error ? e.stack ?? e.message : String(e));
  for (const stop of [...runningClusters]) await stop().catch(() => undefined);
  process.exit(1);
});
