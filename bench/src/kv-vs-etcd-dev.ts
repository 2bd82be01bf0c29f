// The `rangekv dev` side of kv-vs-etcd: the local cluster users start (`rangekv dev`: one PD
// and three store processes, default store timing) and the product client
// (@rangekv/client: range cache from PD, leader cache, retries). The ranges are made by
// PD split operators at the same keys as the static-bootstrap run; their leaders are left
// to PD's leader balance (all start where range 1 led), and the time it took to bring every
// store within ±10% of the mean leader count is reported (info.leaderSpreadSeconds).
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { RangeKvClient } from '../../packages/client/dist/index.js';
import { runningClusters, type KvTarget, type SystemUnderTest } from './kv-vs-etcd-load.js';
import type { ProgressLine } from './progress.js';

const RANGEKV_BIN = fileURLToPath(new URL('../../tools/cli/dist/rangekv.js', import.meta.url));
/** Splits in flight while the ranges are made (PD runs one operator per range at a time). */
const splitInflight = 8;
/** A split refused because its range has a running operator (PD's own) is retried this often at most. */
const splitRetries = 100;
/** How long to wait for PD to spread the leaders before measuring anyway. */
const leaderSpreadTimeoutMs = 300_000;
/** Leaders per store must be within this ratio of the mean (the issue's ±10%). */
const leaderSpreadTolerance = 0.1;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface DevReady {
  pd: { address: string; pid: number };
  stores: { pid: number }[];
}

class ClientTarget implements KvTarget {
  constructor(private readonly kv: RangeKvClient) {}

  async put(key: Uint8Array, value: Uint8Array): Promise<void> {
    await this.kv.put(key, value);
  }

  async get(key: Uint8Array): Promise<Uint8Array | null> {
    return (await this.kv.get(key)) ?? null;
  }

  async putBatch(pairs: readonly { key: Uint8Array; value: Uint8Array }[]): Promise<void> {
    await this.kv.batchPut(pairs);
  }

  close(): void {
    this.kv.close();
  }
}

/** The product client on PD at `pd`, as a load target (what each client process runs). */
export async function connectDevTarget(pd: string): Promise<KvTarget> {
  return new ClientTarget(await RangeKvClient.connect({ pd: [pd], timeoutMs: 60_000 }));
}

/**
 * Splits at every key (ascending) by PD split operators, by binary subdivision: the middle
 * key first, then both halves, each in its own range. PD runs one operator per range at a
 * time and refuses a second (FAILED_PRECONDITION), so concurrent splits must be of
 * distinct ranges: ascending keys, 8 at a time, would all land on the last range. Returns
 * the splits done.
 */
async function splitTree(kv: RangeKvClient, keys: readonly Uint8Array[], progress: ProgressLine): Promise<number> {
  const queue: [lo: number, hi: number][] = keys.length > 0 ? [[0, keys.length]] : [];
  let done = 0;
  const splitAt = async (k: Uint8Array): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      try {
        const op = await kv.split(k);
        if (op.status !== 'succeeded') throw new Error(`split at ${Buffer.from(k).toString('hex')}: ${op.status} ${op.reason}`);
        return;
      } catch (e) {
        if ((e as { code?: string }).code !== 'FAILED_PRECONDITION' || attempt >= splitRetries) throw e;
        await sleep(50);
      }
    }
  };
  await new Promise<void>((resolve, reject) => {
    let running = 0;
    const pump = (): void => {
      while (running < splitInflight && queue.length > 0) {
        const [lo, hi] = queue.shift()!;
        const mid = (lo + hi) >> 1;
        running++;
        splitAt(keys[mid]!).then(() => {
          running--;
          progress.update(`splitting ${++done + 1}/${keys.length + 1} ranges (PD split operators)`);
          if (mid > lo) queue.push([lo, mid]);
          if (hi > mid + 1) queue.push([mid + 1, hi]);
          pump();
        }, reject);
      }
      if (running === 0 && queue.length === 0) resolve();
    };
    pump();
  });
  return done;
}

export async function startDevCluster(opts: { splitKeys: readonly Uint8Array[]; progress: ProgressLine }): Promise<SystemUnderTest> {
  const dev: ChildProcess = spawn(process.execPath, [RANGEKV_BIN, 'dev', '--base-port', '0', '--json', '--startup-timeout', '120s'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  dev.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => dev.once('exit', () => resolve()));
  /** The stop under way: a second caller (Ctrl-C during a stop) waits for the same one. */
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => (stopping ??= (async (): Promise<void> => {
    if (dev.exitCode === null && dev.signalCode === null) dev.kill('SIGINT');
    const t = setTimeout(() => dev.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(t);
    runningClusters.delete(stop);
  })());
  runningClusters.add(stop);
  const ready = await new Promise<DevReady>((resolve, reject) => {
    createInterface({ input: dev.stdout! }).on('line', (l) => {
      if (l.includes('"event":"ready"')) resolve(JSON.parse(l) as DevReady);
    });
    dev.once('exit', (code) => reject(new Error(`rangekv dev exited (${code}) before ready: ${stderr}`)));
  });
  const kv = await RangeKvClient.connect({ pd: [ready.pd.address], timeoutMs: 60_000 });
  const t0 = Date.now();
  const splits = await splitTree(kv, opts.splitKeys, opts.progress);
  if (splits > 0) opts.progress.done(`${splits + 1} ranges after ${splits} PD split operators in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  // PD alone spreads the leaders (balance-leader); the load starts once they are spread.
  const tSpread = Date.now();
  let spreadSeconds: number | null = null;
  let perStore: number[] = [];
  while (Date.now() - tSpread < leaderSpreadTimeoutMs) {
    const rs = await kv.listRanges();
    const stores = [...new Set(rs.flatMap((r) => r.replicas.map((x) => x.storeId)))].sort((a, b) => a - b);
    perStore = stores.map((s) => rs.filter((r) => r.leaderStoreId === s).length);
    const mean = rs.length / Math.max(1, stores.length);
    // Within ±10% of the mean, or as even as whole leaders allow (1 range: 1/0/0).
    if (perStore.every((n) => Math.abs(n - mean) <= mean * leaderSpreadTolerance) || Math.max(...perStore) - Math.min(...perStore) <= 1) {
      spreadSeconds = (Date.now() - tSpread) / 1000;
      break;
    }
    opts.progress.update(`PD spreading leaders: ${perStore.join('/')} per store`);
    await sleep(500);
  }
  opts.progress.done(spreadSeconds === null
    ? `leaders NOT within ±10% after ${leaderSpreadTimeoutMs / 1000} s: ${perStore.join('/')}`
    : `PD spread the leaders within ±10% in ${spreadSeconds.toFixed(1)} s: ${perStore.join('/')} per store`);
  const ranges = (await kv.listRanges()).length;
  return {
    name: 'rangekv dev',
    target: new ClientTarget(kv),
    client: { kind: 'dev', pd: ready.pd.address },
    serverPids: () => [ready.pd.pid, ...ready.stores.map((s) => s.pid)],
    memberPids: () => ready.stores.map((s) => s.pid),
    stop,
    info: {
      cluster: 'rangekv dev (PD + 3 stores, default timing)', client: '@rangekv/client', ranges, pd: ready.pd.address,
      leaderSpreadSeconds: spreadSeconds ?? -1, leadersPerStore: perStore.join('/'),
    },
  };
}
