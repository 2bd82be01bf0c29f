// write-path: where a write's time and CPU go, on three real store processes.
//
// One fresh 3-store cluster (the groups-per-node harness), optionally split into N ranges
// with leadership spread; then, for each in-flight level, a closed-loop Put load while it
// samples every thread of every store from /proc (CPU per acknowledged write, by thread:
// main, log writer, apply workers, the rest) and the stores' /metrics (the per-stage
// write histograms: proposed -> appended -> persisted locally -> committed -> applied ->
// answered, scheduler cycles, fsyncs). With --cpu-prof, store 1 (or --cpu-prof-store N) runs under the V8 sampling
// profiler (restarted at each level's measured window, so the profile covers the last
// level's window and the shutdown only) and its top self-time functions are printed.
//
//   pnpm bench:write-path                                   # 1 range, 1,16,256 in flight, 8 s each
//   pnpm bench:write-path -- --ranges 1000 --inflight 256 --cpu-prof /tmp/prof
//
// Writes bench/results/write-path.json (or --out FILE). Never run by the tests.
import { readFileSync, readdirSync, writeFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { storeAdminService } from '@rangekv/proto';
import { BenchClient, headerOf, sleep } from './groups-per-node-client.js';
import { BenchCluster, STORE_IDS, scrapeMetrics } from './groups-per-node-cluster.js';
import { writeLoad, type WriteLoadReport } from './groups-per-node-load.js';
import { summarizeCpuProfile } from './groups-per-node-profile.js';
import { balanceLeaders, splitInto } from './groups-per-node-ranges.js';

interface Args {
  ranges: number;
  inflight: number[];
  seconds: number;
  warmupSeconds: number;
  /** Seconds of writes before the first level (half at 256 in flight, half at 1), not measured: V8's optimizing compiler. */
  jitWarmupSeconds: number;
  channels: number;
  dir: string;
  cpuProfDir: string | null;
  /** The store --cpu-prof profiles (1 leads the one range; 2 and 3 follow it). */
  cpuProfStore: number;
  applyWorkers: number | null;
  /** Store flag --max-direct-persist-groups (null: the store's default, 0 = off). */
  maxDirectPersistGroups: number | null;
  /** Where the JSON goes (default bench/results/write-path.json). */
  out: string;
  /** Store flags --heartbeat-ticks / --election-ticks (null: the store's defaults). */
  heartbeatTicks: number | null;
  electionTicks: number | null;
}

const USAGE = `usage: pnpm bench:write-path -- [--ranges 1] [--inflight 1,16,256] [--seconds 8] [--warmup 2] [--jit-warmup 20]
  [--channels 4] [--dir DIR] [--cpu-prof DIR (profile store 1)] [--cpu-prof-store 1|2|3]
  [--apply-workers N (store flag)] [--max-direct-persist-groups N (store flag)]
  [--heartbeat-ticks N] [--election-ticks N (store flags)] [--out FILE (default bench/results/write-path.json)]`;

function parseArgs(argv: string[]): Args {
  const a: Args = { ranges: 1, inflight: [1, 16, 256], seconds: 8, warmupSeconds: 2, jitWarmupSeconds: 20, channels: 4, dir: tmpdir(), cpuProfDir: null, cpuProfStore: 1, applyWorkers: null, maxDirectPersistGroups: null, heartbeatTicks: null, electionTicks: null,
    out: join(dirname(fileURLToPath(import.meta.url)), '..', 'results', 'write-path.json') };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    if (k === '--') continue;
    if (k === '--help' || k === '-h') {
      console.log(USAGE);
      process.exit(0);
    }
    const v = argv[++i];
    if (v === undefined) throw new Error(`${k} needs a value\n${USAGE}`);
    const num = (): number => {
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0) throw new Error(`${k}: not a number: ${v}`);
      return n;
    };
    switch (k) {
      case '--ranges': a.ranges = num(); break;
      case '--inflight': a.inflight = v.split(',').map(Number); break;
      case '--seconds': a.seconds = num(); break;
      case '--warmup': a.warmupSeconds = num(); break;
      case '--jit-warmup': a.jitWarmupSeconds = num(); break;
      case '--channels': a.channels = num(); break;
      case '--dir': a.dir = v; break;
      case '--cpu-prof': a.cpuProfDir = v; break;
      case '--cpu-prof-store': a.cpuProfStore = num(); break;
      case '--apply-workers': a.applyWorkers = num(); break;
      case '--max-direct-persist-groups': a.maxDirectPersistGroups = num(); break;
      case '--out': a.out = v; break;
      case '--heartbeat-ticks': a.heartbeatTicks = num(); break;
      case '--election-ticks': a.electionTicks = num(); break;
      default: throw new Error(`unknown option ${k}\n${USAGE}`);
    }
  }
  if (![1, 2, 3].includes(a.cpuProfStore)) throw new Error(`--cpu-prof-store: 1, 2 or 3, got ${a.cpuProfStore}`);
  if (a.inflight.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--inflight: positive integers: ${a.inflight.join(',')}`);
  return a;
}

const CLK_TCK = ((): number => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU seconds per thread of a process (/proc/<pid>/task/<tid>/stat), with its name. */
function threadCpu(pid: number): Map<number, { name: string; seconds: number }> {
  const out = new Map<number, { name: string; seconds: number }>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const s = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = s.slice(s.indexOf('(') + 1, s.lastIndexOf(')'));
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      out.set(Number(tid), { name, seconds: (Number(f[11]) + Number(f[12])) / CLK_TCK });
    } catch {
      // the thread ended between readdir and read
    }
  }
  return out;
}

/** Node's V8 platform threads (GC helpers, the optimizing compiler): on this Node they are named `node` like the worker threads, and are the first threads the process starts after the main one. */
const V8_PLATFORM_THREADS = 4;

/** The tids of `pid`'s V8 platform threads: the lowest `node`-named tids but the main thread's. */
function platformTids(pid: number, threads: ReadonlyMap<number, { name: string }>): Set<number> {
  const named = [...threads].filter(([tid, t]) => tid !== pid && t.name === 'node').map(([tid]) => tid).sort((a, b) => a - b);
  return new Set(named.slice(0, V8_PLATFORM_THREADS));
}

/**
 * Thread classes. The main thread's tid is the pid. Worker threads (log writer, apply
 * workers) are named by the store (`rangekv-*` via the worker's name, when node sets
 * it) or else grouped by node's names: libuv threadpool, V8 platform workers (by name, or
 * `platform`, see platformTids), the rest.
 */
function classOf(pid: number, tid: number, name: string, platform: ReadonlySet<number>): string {
  if (tid === pid) return 'main';
  if (name.startsWith('libuv-worker')) return 'libuv';
  if (name.startsWith('V8 ') || platform.has(tid)) return 'v8';
  if (name === 'node' || name.startsWith('rangekv')) return 'workers';
  return 'other';
}

interface StageSummary {
  count: number;
  meanMs: number;
}

/** Stage histograms (rangekv_write_stage_seconds{stage}) from a metrics delta: count and mean per stage. */
function stageDelta(m0: Map<string, number>, m1: Map<string, number>): Record<string, StageSummary> {
  const out: Record<string, StageSummary> = {};
  for (const [k, v] of m1) {
    const m = /^rangekv_write_stage_seconds_sum\{stage="([a-z_]+)"\}$/.exec(k);
    if (!m) continue;
    const stage = m[1]!;
    const sum = v - (m0.get(k) ?? 0);
    const countKey = `rangekv_write_stage_seconds_count{stage="${stage}"}`;
    const count = (m1.get(countKey) ?? 0) - (m0.get(countKey) ?? 0);
    out[stage] = { count, meanMs: count > 0 ? (sum / count) * 1000 : NaN };
  }
  return out;
}

function grpcMeanMs(m0: Map<string, number>, m1: Map<string, number>, method: string): number {
  let sum = 0;
  let count = 0;
  for (const [k, v] of m1) {
    if (!k.includes(`method="${method}"`)) continue;
    if (k.startsWith('rangekv_grpc_request_duration_seconds_sum{')) sum += v - (m0.get(k) ?? 0);
    else if (k.startsWith('rangekv_grpc_request_duration_seconds_count{')) count += v - (m0.get(k) ?? 0);
  }
  return count > 0 ? (sum / count) * 1000 : NaN;
}

function delta(m0: Map<string, number>, m1: Map<string, number>, name: string): number {
  return (m1.get(name) ?? 0) - (m0.get(name) ?? 0);
}

interface StoreLevel {
  cpuMsPerWrite: Record<string, number>;
  cpuPercent: number;
  stages: Record<string, StageSummary>;
  cyclesPerWrite: number;
  fsyncsPerWrite: number;
  /** Mean wall time of one synced log write (write + fsync, rangekv_wal_fsync_duration_seconds), ms. */
  fsyncMeanMs: number;
  /** Full V8 collections the store's memory reclaim ran in the window (it should run none under load). */
  reclaimGcs: number;
  /** Log-writer requests the store's main thread wrote itself, per write (rangekv_wal_direct_writes_total). */
  directWritesPerWrite: number;
  transportMessagesPerWrite: number;
  /** Heartbeats and their answers sent per write (inside coalesced packets; included in transportMessagesPerWrite). */
  heartbeatsPerWrite: number;
  /** Raft snapshots sent during the window (not per write): a steady write load should send none. */
  snapshotsSent: number;
  /** Mean of the store's own Put gRPC handling time (rangekv_grpc_request_duration_seconds{method="Put"}), ms. */
  grpcPutMeanMs: number;
}

interface Level {
  inflight: number;
  load: WriteLoadReport;
  /** The client's retries in the window: attempts, NotLeader, ServerBusy, ... */
  client: Record<string, number>;
  stores: Record<string, StoreLevel>;
}

async function measureLevel(cluster: BenchCluster, client: BenchClient, inflight: number, args: Args): Promise<Level> {
  // writeLoad warms up, then measures; sample /proc and /metrics around its measured window
  // by starting the samples after the warm-up.
  const pids = new Map(STORE_IDS.map((id) => [id, cluster.pid(id)]));
  let t0: Map<number, Map<number, { name: string; seconds: number }>> = new Map();
  let m0: Map<number, Map<string, number>> = new Map();
  const startSampling = (async (): Promise<void> => {
    await sleep(args.warmupSeconds * 1000);
    // The profiled store starts its profile afresh: it covers the last level's window.
    if (args.cpuProfDir !== null) process.kill(pids.get(args.cpuProfStore)!, 'SIGUSR2');
    t0 = new Map(STORE_IDS.map((id) => [id, threadCpu(pids.get(id)!)]));
    m0 = new Map(await Promise.all(STORE_IDS.map(async (id) => [id, await scrapeMetrics(cluster.httpPort(id))] as const)));
  })();
  const stats0 = { ...client.stats };
  const load = await writeLoad(client, inflight, args.warmupSeconds, args.seconds);
  const clientStats: Record<string, number> = {};
  for (const [k, v] of Object.entries(client.stats)) clientStats[k] = v - stats0[k as keyof typeof stats0];
  await startSampling;
  const t1 = new Map(STORE_IDS.map((id) => [id, threadCpu(pids.get(id)!)]));
  const m1 = new Map(await Promise.all(STORE_IDS.map(async (id) => [id, await scrapeMetrics(cluster.httpPort(id))] as const)));
  const writes = Math.max(1, load.ops);
  const stores: Record<string, StoreLevel> = {};
  for (const id of STORE_IDS) {
    const pid = pids.get(id)!;
    const per: Record<string, number> = { main: 0, workers: 0, libuv: 0, v8: 0, other: 0 };
    let total = 0;
    const platform = platformTids(pid, t0.get(id)!);
    for (const [tid, after] of t1.get(id)!) {
      const before = t0.get(id)!.get(tid)?.seconds ?? 0;
      const d = after.seconds - before;
      per[classOf(pid, tid, after.name, platform)]! += d;
      total += d;
    }
    const cpuMsPerWrite: Record<string, number> = {};
    for (const [k, v] of Object.entries(per)) cpuMsPerWrite[k] = (v * 1000) / writes;
    cpuMsPerWrite.total = (total * 1000) / writes;
    const a = m0.get(id)!;
    const b = m1.get(id)!;
    stores[String(id)] = {
      cpuMsPerWrite,
      cpuPercent: (total / load.seconds) * 100,
      stages: stageDelta(a, b),
      cyclesPerWrite: delta(a, b, 'rangekv_scheduler_cycles_total') / writes,
      fsyncsPerWrite: delta(a, b, 'rangekv_wal_fsync_duration_seconds_count') / writes,
      fsyncMeanMs: (delta(a, b, 'rangekv_wal_fsync_duration_seconds_sum') * 1000) / Math.max(1, delta(a, b, 'rangekv_wal_fsync_duration_seconds_count')),
      reclaimGcs: delta(a, b, 'rangekv_reclaim_gc_duration_seconds_count'),
      directWritesPerWrite: delta(a, b, 'rangekv_wal_direct_writes_total') / writes,
      transportMessagesPerWrite: delta(a, b, 'rangekv_transport_messages_sent_total') / writes,
      heartbeatsPerWrite: delta(a, b, 'rangekv_heartbeats_sent_total') / writes,
      snapshotsSent: delta(a, b, 'rangekv_snapshots_sent_total'),
      grpcPutMeanMs: grpcMeanMs(a, b, 'Put'),
    };
  }
  return { inflight, load, client: clientStats, stores };
}

const STAGES = ['appended', 'persisted', 'committed', 'applied', 'answered'];

function printLevel(l: Level): void {
  const w = l.load;
  console.log(`\n${l.inflight} in flight: ${w.opsPerSecond.toFixed(0)} writes/s, p50 ${w.p50Ms.toFixed(2)} ms, p99 ${w.p99Ms.toFixed(2)} ms, failed ${w.failed}, generator CPU ${w.generatorCpuPercent.toFixed(0)} %, client calls ${JSON.stringify(l.client)} (whole run, warm-up included)`);
  console.log('| store | CPU % | CPU ms/write: total | main | workers | libuv | v8 | other | cycles/write | fsyncs/write | fsync ms (mean) | direct writes/write | msgs/write | of which heartbeats | snapshots sent | reclaim GCs |');
  console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const [id, s] of Object.entries(l.stores)) {
    const c = s.cpuMsPerWrite;
    console.log(`| ${id} | ${s.cpuPercent.toFixed(0)} | ${c.total!.toFixed(2)} | ${c.main!.toFixed(2)} | ${c.workers!.toFixed(2)} | ${c.libuv!.toFixed(2)} | ${c.v8!.toFixed(2)} | ${c.other!.toFixed(2)} | ${s.cyclesPerWrite.toFixed(2)} | ${s.fsyncsPerWrite.toFixed(2)} | ${s.fsyncMeanMs.toFixed(2)} | ${s.directWritesPerWrite.toFixed(2)} | ${s.transportMessagesPerWrite.toFixed(2)} | ${s.heartbeatsPerWrite.toFixed(2)} | ${s.snapshotsSent} | ${s.reclaimGcs} |`);
  }
  const rows = Object.entries(l.stores).filter(([, s]) => (s.stages.answered?.count ?? 0) > 0);
  if (rows.length > 0) {
    console.log(`stage means on the leaders, ms since proposed (${STAGES.join(' -> ')}):`);
    for (const [id, s] of rows) {
      console.log(`  store ${id}: ${STAGES.map((st) => `${st} ${s.stages[st] ? s.stages[st]!.meanMs.toFixed(2) : '-'}`).join(', ')} (${s.stages.answered!.count} writes); gRPC Put handled in ${s.grpcPutMeanMs.toFixed(2)} ms`);
    }
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const root = mkdtempSync(join(args.dir, 'rangekv-write-path-'));
  console.log(`write-path: ${args.ranges} range(s), in flight ${args.inflight.join(',')}, ${args.seconds} s each after ${args.warmupSeconds} s warm-up, ${cpus().length} cpus, load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  if (args.cpuProfDir) mkdirSync(args.cpuProfDir, { recursive: true });
  const profile = args.cpuProfDir ? { storeId: args.cpuProfStore, dir: args.cpuProfDir, tag: `write-path-N${args.ranges}` } : null;
  const extra = [
    ...(args.applyWorkers !== null ? ['--apply-workers', String(args.applyWorkers)] : []),
    ...(args.maxDirectPersistGroups !== null ? ['--max-direct-persist-groups', String(args.maxDirectPersistGroups)] : []),
  ];
  const cluster = await BenchCluster.start(root, { tickMs: null, electionTicks: args.electionTicks, heartbeatTicks: args.heartbeatTicks }, profile, extra);
  const client = new BenchClient(args.channels);
  const levels: Level[] = [];
  try {
    for (const id of STORE_IDS) client.setAddress(id, cluster.kvAddress(id));
    const split = await splitInto(client, args.ranges, 48, 600_000, () => undefined);
    if (args.ranges > 1) {
      const bal = await balanceLeaders(client, 48, 300_000);
      console.log(`${split.reached} ranges, leaders per store ${JSON.stringify(bal.leadersPerStore)}`);
    } else {
      // One range: lead it from store 1 (--cpu-prof-store 1, the default, profiles the leader).
      await client.refresh();
      const r = client.ranges[0]!;
      if (r.leaderStore !== 1) await client.call(r.leaderStore, storeAdminService.transferLeader, { header: headerOf(r.desc), toStore: 1 }, 5_000);
      await sleep(1000);
      await client.refresh();
      console.log(`1 range, led by store ${client.ranges[0]!.leaderStore}`);
    }
    if (args.jitWarmupSeconds > 0) {
      // V8 optimizes the stores' hot code in the background for tens of seconds: without
      // this, the first levels measured that compilation (a third of a store's CPU per write
      // at 1 in flight). Half at 256 in flight (the shared paths hot at once), half at 1 (the
      // paths only a light load takes, e.g. the direct writes, while the queued compilations finish).
      console.log(`JIT warm-up: ${args.jitWarmupSeconds} s, half at 256 in flight, half at 1 (not measured)`);
      await writeLoad(client, 256, 0, args.jitWarmupSeconds / 2);
      await writeLoad(client, 1, 0, args.jitWarmupSeconds / 2);
    }
    for (const n of args.inflight) {
      const l = await measureLevel(cluster, client, n, args);
      levels.push(l);
      printLevel(l);
    }
  } finally {
    client.close();
    await cluster.destroy();
  }
  for (const f of cluster.profileFiles) {
    try {
      const s = summarizeCpuProfile(f, 25);
      console.log(`\nCPU profile ${f}: busy ${(s.busyMs / 1000).toFixed(1)} s of ${(s.wallMs / 1000).toFixed(1)} s, top self time:`);
      for (const e of s.top) console.log(`  ${e.percent.toFixed(1).padStart(5)} %  ${e.fn} ${e.where}`);
    } catch (e) {
      console.log(`CPU profile ${f}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  writeFileSync(args.out, JSON.stringify({ args, loadAverage: loadavg(), levels }, null, 2) + '\n');
  console.log(`\nwrote ${args.out}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
