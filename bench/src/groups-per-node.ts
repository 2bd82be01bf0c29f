// groups-per-node: what N ranges per store cost on three real store processes.
//
// For each N (--ranges, default 1,100,1000,10000), on a FRESH 3-store cluster in a temp
// dir: split range 1 into N ranges through the store admin service, spread leadership
// over the stores, let it settle, then measure idle CPU / RSS / heartbeat traffic, a
// closed-loop write load, and kill -9 + restart of one store. Once (N = 1,000, else 100):
// leadership-transfer unavailability and lease vs ReadIndex read latency.
// Prints a table and writes bench/results/groups-per-node.json. Never run by the tests.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { arch, cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderLineCharts, type ChartPanel } from './charts.js';
import { BenchClient, sleep, type RangeEntry } from './groups-per-node-client.js';
import { summarizeCpuProfile, type ProfileSummary } from './groups-per-node-profile.js';
import { BenchCluster, STORE_IDS, procCpuSeconds, procRssBytes, scrapeMetrics, type StoreTiming } from './groups-per-node-cluster.js';
import {
  keyIn, readLatency, restartProbe, transferUnavailability, writeLoad, VALUE_BYTES,
  type ReadReport, type RestartReport, type TransferReport, type WriteLoadReport,
} from './groups-per-node-load.js';
import { balanceLeaders, splitInto, KEY_BYTES, type BalanceReport, type SplitReport } from './groups-per-node-ranges.js';
import { Progress } from './progress.js';

interface Args {
  ranges: number[];
  seconds: number;
  inflight: number;
  /** Unmeasured writes at --inflight before each range count's measured load (V8 compiles the hot code in the background). */
  jitWarmupSeconds: number;
  skipTransfer: boolean;
  skipReads: boolean;
  skipRestart: boolean;
  balance: boolean;
  dir: string;
  channelsPerStore: number;
  splitInflight: number;
  splitBudgetSeconds: number;
  settleSeconds: number;
  idleSeconds: number;
  transfers: number;
  readSeconds: number;
  restartSample: number;
  restartReadySeconds: number;
  balanceBudgetSeconds: number;
  cpuProfDir: string | null;
  timing: StoreTiming;
  /** The JSON; the SVG chart goes beside it (same name, .svg). */
  out: string;
}

const USAGE = `usage: pnpm bench:groups -- [--ranges 1,100,1000,10000] [--seconds 10] [--inflight 256] [--jit-warmup 10]
  [--skip-transfer] [--skip-reads] [--skip-restart] [--no-balance] [--dir DIR]
  [--channels 4] [--split-inflight 48] [--split-budget-seconds 600] [--settle-seconds 5]
  [--balance-budget-seconds 300] [--idle-seconds 10] [--transfers 50] [--read-seconds 3]
  [--restart-sample 1000] [--restart-ready-seconds 300] [--cpu-prof DIR (profile store 1 and the restarted store)]
  [--tick-ms 50] [--election-ticks 10] [--heartbeat-ticks 2] [--out bench/results/groups-per-node.json (the SVG chart goes beside it)]`;

function parseArgs(argv: string[]): Args {
  const opt = new Map<string, string>();
  const bool = new Set<string>();
  const boolFlags = new Set(['--skip-transfer', '--skip-reads', '--skip-restart', '--no-balance']);
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    if (k === '--') continue;
    if (k === '--help' || k === '-h') {
      console.log(USAGE);
      process.exit(0);
    }
    if (boolFlags.has(k)) bool.add(k);
    else if (k.startsWith('--') && i + 1 < argv.length) opt.set(k, argv[++i]!);
    else {
      console.error(`unknown argument ${k}\n${USAGE}`);
      process.exit(2);
    }
  }
  const num = (k: string, d: number, min0 = false): number => {
    const v = opt.get(k);
    if (v === undefined) return d;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0 || (n === 0 && !min0)) {
      console.error(`${k} wants a ${min0 ? 'non-negative' : 'positive'} number, got ${v}`);
      process.exit(2);
    }
    return n;
  };
  const numOrNull = (k: string): number | null => (opt.has(k) ? num(k, 0) : null);
  const ranges = (opt.get('--ranges') ?? '1,100,1000,10000').split(',').map((s) => Number(s.trim()));
  if (ranges.some((n) => !Number.isInteger(n) || n < 1)) {
    console.error(`--ranges wants positive integers, got ${opt.get('--ranges')}`);
    process.exit(2);
  }
  for (const k of opt.keys()) {
    if (!['--ranges', '--seconds', '--inflight', '--jit-warmup', '--dir', '--channels', '--split-inflight', '--split-budget-seconds', '--settle-seconds',
      '--idle-seconds', '--transfers', '--read-seconds', '--restart-sample', '--restart-ready-seconds', '--balance-budget-seconds', '--cpu-prof', '--tick-ms', '--election-ticks', '--heartbeat-ticks', '--out'].includes(k)) {
      console.error(`unknown flag ${k}\n${USAGE}`);
      process.exit(2);
    }
  }
  const seconds = num('--seconds', 10);
  // Short runs (a smoke run: --seconds 2) shorten every phase with them.
  const quick = seconds < 10;
  return {
    ranges, seconds,
    inflight: num('--inflight', 256),
    jitWarmupSeconds: num('--jit-warmup', quick ? 0 : 10, true),
    skipTransfer: bool.has('--skip-transfer'),
    skipReads: bool.has('--skip-reads'),
    skipRestart: bool.has('--skip-restart'),
    balance: !bool.has('--no-balance'),
    dir: opt.get('--dir') ?? tmpdir(),
    channelsPerStore: num('--channels', 4),
    splitInflight: num('--split-inflight', 48),
    splitBudgetSeconds: num('--split-budget-seconds', 600),
    settleSeconds: num('--settle-seconds', quick ? Math.min(5, seconds) : 5),
    idleSeconds: num('--idle-seconds', quick ? Math.max(2, seconds) : 10),
    transfers: num('--transfers', quick ? 20 : 50),
    readSeconds: num('--read-seconds', quick ? Math.min(3, seconds) : 3),
    restartSample: num('--restart-sample', 1000),
    restartReadySeconds: num('--restart-ready-seconds', 300),
    balanceBudgetSeconds: num('--balance-budget-seconds', 300),
    cpuProfDir: opt.get('--cpu-prof') ?? null,
    timing: { tickMs: numOrNull('--tick-ms'), electionTicks: numOrNull('--election-ticks'), heartbeatTicks: numOrNull('--heartbeat-ticks') },
    out: opt.get('--out') ?? join(here, '..', 'results', 'groups-per-node.json'),
  };
}

type PerStore = Record<string, number>;

interface IdleReport {
  seconds: number;
  cpuPercent: PerStore;
  rssBytes: PerStore;
  /** (RSS at N - RSS of the same store at N = 1) / N; null for N = 1. */
  rssPerReplicaBytes: PerStore | null;
  generatorCpuPercent: number;
  heartbeatPacketsSentPerSecond: PerStore;
  /** Heartbeat packets from one store to one other store per second (sum over stores / 6 directed pairs). */
  heartbeatPacketsPerSecondPerStorePair: number;
  heartbeatsPerSecond: number;
  heartbeatsPerPacket: number;
  transportMessagesSentPerSecond: number;
  transportBytesSentPerSecond: number;
  schedulerCyclesPerSecond: PerStore;
  /** rangekv_ranges / rangekv_leader_ranges / rangekv_quiescent_ranges at the end of the window. */
  ranges: PerStore;
  leaderRanges: PerStore;
  quiescentRanges: PerStore;
}

interface WriteReport extends WriteLoadReport {
  storeCpuPercent: PerStore;
  /** Over the warm-up and the measured window: ranges wake under load, so heartbeats flow. */
  heartbeatPacketsPerSecondPerStorePair: number;
  heartbeatsPerPacket: number;
  clientStats: Record<string, number>;
}

interface RunReport {
  ranges: number;
  reached: number;
  split: SplitReport | null;
  balance: BalanceReport | null;
  idle: IdleReport | null;
  write: WriteReport | null;
  transfer: TransferReport | null;
  reads: ReadReport[] | null;
  restart: RestartReport | null;
  /** CPU profiles (--cpu-prof): store 1 over its whole life, the restarted store from its start. */
  profiles: ProfileSummary[];
  errors: string[];
  /** Only the idle figures (the RSS baseline, when --ranges lacks 1). */
  baselineOnly: boolean;
}

function perStore(f: (id: number) => number): PerStore {
  return Object.fromEntries(STORE_IDS.map((id) => [String(id), f(id)]));
}

function sum(p: PerStore): number {
  return Object.values(p).reduce((a, b) => a + b, 0);
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message.split('\n')[0]! : String(e);
}

async function measureIdle(cluster: BenchCluster, seconds: number): Promise<IdleReport> {
  const pids = perStore((id) => cluster.pid(id));
  const m0 = new Map(await Promise.all(STORE_IDS.map(async (id) => [id, await scrapeMetrics(cluster.httpPort(id))] as const)));
  const c0 = perStore((id) => procCpuSeconds(pids[String(id)]!));
  const g0 = process.cpuUsage();
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const c1 = perStore((id) => procCpuSeconds(pids[String(id)]!));
  const wall = (performance.now() - t0) / 1000;
  const g = process.cpuUsage(g0);
  const m1 = new Map(await Promise.all(STORE_IDS.map(async (id) => [id, await scrapeMetrics(cluster.httpPort(id))] as const)));
  const delta = (id: number, name: string): number => (m1.get(id)!.get(name) ?? 0) - (m0.get(id)!.get(name) ?? 0);
  const packets = perStore((id) => delta(id, 'rangekv_heartbeat_packets_sent_total') / wall);
  const hbs = sum(perStore((id) => delta(id, 'rangekv_heartbeats_sent_total'))) / wall;
  const pairs = STORE_IDS.length * (STORE_IDS.length - 1);
  return {
    seconds: wall,
    cpuPercent: perStore((id) => ((c1[String(id)]! - c0[String(id)]!) / wall) * 100),
    rssBytes: perStore((id) => procRssBytes(pids[String(id)]!)),
    rssPerReplicaBytes: null,
    generatorCpuPercent: ((g.user + g.system) / 1e6 / wall) * 100,
    heartbeatPacketsSentPerSecond: packets,
    heartbeatPacketsPerSecondPerStorePair: sum(packets) / pairs,
    heartbeatsPerSecond: hbs,
    heartbeatsPerPacket: sum(packets) > 0 ? hbs / sum(packets) : 0,
    transportMessagesSentPerSecond: sum(perStore((id) => delta(id, 'rangekv_transport_messages_sent_total'))) / wall,
    transportBytesSentPerSecond: sum(perStore((id) => delta(id, 'rangekv_transport_sent_bytes_total'))) / wall,
    schedulerCyclesPerSecond: perStore((id) => delta(id, 'rangekv_scheduler_cycles_total') / wall),
    ranges: perStore((id) => m1.get(id)!.get('rangekv_ranges') ?? 0),
    leaderRanges: perStore((id) => m1.get(id)!.get('rangekv_leader_ranges') ?? 0),
    quiescentRanges: perStore((id) => m1.get(id)!.get('rangekv_quiescent_ranges') ?? 0),
  };
}

async function measureWrites(cluster: BenchCluster, client: BenchClient, args: Args, progress: Progress): Promise<WriteReport> {
  const pids = perStore((id) => cluster.pid(id));
  if (args.jitWarmupSeconds > 0) {
    // Each range count runs on fresh store processes, whose hot code V8 optimizes in the
    // background for tens of seconds (bench README, write-path, "JIT warm-up").
    const t0 = performance.now();
    const stop = progress.every(1000, () => `JIT warm-up ${Math.floor((performance.now() - t0) / 1000)}/${args.jitWarmupSeconds} s`);
    try {
      await writeLoad(client, args.inflight, 0, args.jitWarmupSeconds);
    } finally {
      stop();
    }
  }
  const warmup = Math.min(2, Math.max(1, args.seconds / 5));
  const started = performance.now();
  const stopTicking = progress.every(1000, () => {
    const s = (performance.now() - started) / 1000;
    return s < warmup ? `write load: warm-up ${Math.floor(s)}/${warmup} s` : `write load ${Math.floor(s - warmup)}/${args.seconds} s`;
  });
  // Store CPU over the measured window only: sample after the warm-up from a side timer.
  let c0: PerStore = {};
  let c1: PerStore = {};
  const t = setTimeout(() => {
    c0 = perStore((id) => procCpuSeconds(pids[String(id)]!));
    setTimeout(() => { c1 = perStore((id) => procCpuSeconds(pids[String(id)]!)); }, args.seconds * 1000).unref();
  }, warmup * 1000);
  t.unref();
  const before = { ...client.stats };
  const m0 = await Promise.all(STORE_IDS.map((id) => scrapeMetrics(cluster.httpPort(id))));
  const tm0 = performance.now();
  let w: WriteLoadReport;
  try {
    w = await writeLoad(client, args.inflight, warmup, args.seconds);
  } finally {
    stopTicking();
    progress.done();
  }
  const m1 = await Promise.all(STORE_IDS.map((id) => scrapeMetrics(cluster.httpPort(id))));
  const tm = (performance.now() - tm0) / 1000;
  const d = (name: string): number => m1.reduce((a, m, i) => a + (m.get(name) ?? 0) - (m0[i]!.get(name) ?? 0), 0);
  const packets = d('rangekv_heartbeat_packets_sent_total');
  if (Object.keys(c1).length === 0) c1 = perStore((id) => procCpuSeconds(pids[String(id)]!));
  const clientStats = Object.fromEntries(Object.entries(client.stats).map(([k, v]) => [k, v - (before as Record<string, number>)[k]!]));
  return {
    ...w,
    storeCpuPercent: perStore((id) => ((c1[String(id)]! - (c0[String(id)] ?? c1[String(id)]!)) / w.seconds) * 100),
    heartbeatPacketsPerSecondPerStorePair: packets / tm / (STORE_IDS.length * (STORE_IDS.length - 1)),
    heartbeatsPerPacket: packets > 0 ? d('rangekv_heartbeats_sent_total') / packets : 0,
    clientStats,
  };
}

/** Reads served from the lease / by a quorum ReadIndex so far, summed over the stores. */
async function readModes(cluster: BenchCluster): Promise<{ lease: number; quorum: number }> {
  const ms = await Promise.all(STORE_IDS.map((id) => scrapeMetrics(cluster.httpPort(id))));
  const get = (mode: string): number => ms.reduce((a, m) => a + (m.get(`rangekv_read_index_latency_seconds_count{mode="${mode}"}`) ?? 0), 0);
  return { lease: get('lease'), quorum: get('quorum') };
}

/** Up to `max` ranges spread evenly over the table. */
function sampleRanges(ranges: RangeEntry[], max: number): RangeEntry[] {
  if (ranges.length <= max) return [...ranges];
  return Array.from({ length: max }, (_, i) => ranges[Math.floor((i * ranges.length) / max)]!);
}

async function runOne(n: number, args: Args, opts: { probes: boolean; baselineOnly: boolean }): Promise<RunReport> {
  const rep: RunReport = { ranges: n, reached: 0, split: null, balance: null, idle: null, write: null, transfer: null, reads: null, restart: null, profiles: [], errors: [], baselineOnly: opts.baselineOnly };
  const root = mkdtempSync(join(args.dir, 'rangekv-groups-per-node-'));
  const log = (s: string): void => console.log(`[N=${n}] ${s}`);
  const progress = new Progress(`[N=${n}] `);
  let cluster: BenchCluster | null = null;
  let profileFiles: string[] = [];
  const client = new BenchClient(args.channelsPerStore);
  try {
    const t0 = performance.now();
    const profile = args.cpuProfDir ? { storeId: STORE_IDS[0]!, dir: args.cpuProfDir, tag: `N${n}` } : null;
    cluster = await BenchCluster.start(root, args.timing, profile);
    log(`3 stores ready in ${((performance.now() - t0) / 1000).toFixed(1)} s (pids ${STORE_IDS.map((id) => cluster!.pid(id)).join(', ')})`);
    for (const id of STORE_IDS) client.setAddress(id, cluster.kvAddress(id));
    rep.split = await splitInto(client, n, args.splitInflight, args.splitBudgetSeconds * 1000,
      (d) => progress.update(`splitting ${(d + 1).toLocaleString('en-US')}/${n.toLocaleString('en-US')} ranges`));
    progress.done();
    rep.reached = rep.split.reached;
    log(`${rep.split.splits} splits in ${(rep.split.ms / 1000).toFixed(1)} s (${rep.split.splitsPerSecond.toFixed(0)}/s), ${rep.reached} ranges${rep.split.capped ? ` — ${rep.split.capped}` : ''}`);
    if (args.balance && rep.reached > 1) {
      rep.balance = await balanceLeaders(client, args.splitInflight, args.balanceBudgetSeconds * 1000,
        (sent, wrong, round) => progress.update(`balancing leaders ${sent.toLocaleString('en-US')}/${wrong.toLocaleString('en-US')} moved (round ${round})`));
      progress.done();
      log(`leaders per store ${JSON.stringify(rep.balance.leadersPerStore)} after ${rep.balance.transfers} transfers in ${(rep.balance.ms / 1000).toFixed(1)} s`);
    }
    log(`settling ${args.settleSeconds} s, then idle for ${args.idleSeconds} s`);
    await sleep(args.settleSeconds * 1000);
    rep.idle = await measureIdle(cluster, args.idleSeconds);
    log(`idle CPU % ${JSON.stringify(rounded(rep.idle.cpuPercent, 1))}, quiescent ranges ${JSON.stringify(rep.idle.quiescentRanges)}, RSS MB ${JSON.stringify(rounded(mb(rep.idle.rssBytes), 0))}, heartbeat packets/s per pair ${rep.idle.heartbeatPacketsPerSecondPerStorePair.toFixed(1)}, ${rep.idle.heartbeatsPerPacket.toFixed(1)} heartbeats/packet, raft messages ${rep.idle.transportMessagesSentPerSecond.toFixed(0)}/s and ${(rep.idle.transportBytesSentPerSecond / 1024).toFixed(1)} KiB/s sent (all stores)`);
    if (opts.baselineOnly) return rep;

    try {
      rep.write = await measureWrites(cluster, client, args, progress);
      log(`writes: ${rep.write.opsPerSecond.toFixed(0)}/s, p50 ${rep.write.p50Ms.toFixed(1)} ms, p99 ${rep.write.p99Ms.toFixed(1)} ms, failed ${rep.write.failed}, store CPU % ${JSON.stringify(rounded(rep.write.storeCpuPercent, 0))}, generator CPU ${rep.write.generatorCpuPercent.toFixed(0)} %, heartbeat packets/s per pair ${rep.write.heartbeatPacketsPerSecondPerStorePair.toFixed(1)} (${rep.write.heartbeatsPerPacket.toFixed(1)} heartbeats/packet)`);
    } catch (e) {
      rep.errors.push(`write load: ${errText(e)}`);
    }

    if (opts.probes && !args.skipTransfer) {
      try {
        rep.transfer = await transferUnavailability(client, args.transfers, 250);
        log(`transfers: ${rep.transfer.transfers} (${rep.transfer.timedOut} timed out), to first write p50 ${rep.transfer.toFirstWriteP50Ms.toFixed(1)} / p99 ${rep.transfer.toFirstWriteP99Ms.toFixed(1)} ms, longest gap p50 ${rep.transfer.maxGapP50Ms.toFixed(1)} / p99 ${rep.transfer.maxGapP99Ms.toFixed(1)} ms (baseline gap p50 ${rep.transfer.baselineGapP50Ms.toFixed(1)} ms)`);
      } catch (e) {
        rep.errors.push(`transfer: ${errText(e)}`);
      }
    }
    if (opts.probes && !args.skipReads) {
      try {
        await client.refresh();
        const keys = sampleRanges(client.ranges, 256).map((r) => keyIn(r, 0x42));
        const v = Buffer.alloc(VALUE_BYTES, 0x62);
        for (const k of keys) await client.put(k, v);
        rep.reads = [];
        // One hot range (always awake) and 256 ranges (each read every ~N ms: with
        // quiescence, a range may sleep between reads, and a just-woken leader serves
        // LEASE reads by ReadIndex until its lease is usable again).
        for (const set of [keys.slice(0, 1), keys]) {
          for (const inflight of [1, 64]) {
            for (const c of ['LEASE', 'LINEARIZABLE'] as const) {
              const modes0 = await readModes(cluster);
              const r = await readLatency(client, set, c, inflight, args.readSeconds);
              const modes1 = await readModes(cluster);
              r.servedByLease = modes1.lease - modes0.lease;
              r.servedByQuorum = modes1.quorum - modes0.quorum;
              rep.reads.push(r);
              log(`reads ${c} x${inflight} over ${set.length} range(s): ${r.opsPerSecond.toFixed(0)}/s, p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms (lease ${r.servedByLease}, quorum ${r.servedByQuorum})`);
            }
          }
        }
      } catch (e) {
        rep.errors.push(`reads: ${errText(e)}`);
      }
    }
    if (!args.skipRestart) {
      try {
        await client.refresh();
        const sample = sampleRanges(client.ranges, args.restartSample);
        rep.restart = await restartProbe(cluster, client, STORE_IDS[STORE_IDS.length - 1]!, sample, args.restartReadySeconds * 1000);
        const rs = rep.restart;
        log(`restart of store ${rs.storeId}: ready in ${(rs.readyMs / 1000).toFixed(2)} s; STALE reads of ${rs.sampled} ranges on it: first ${(rs.firstServedMs / 1000).toFixed(2)} s, median ${(rs.medianServedMs / 1000).toFixed(2)} s, all ${(rs.servingMs / 1000).toFixed(2)} s after spawn (${rs.failed} failed; client ${JSON.stringify(rs.clientStats)}); ranges awake at ready ${rs.awakeAtReady}, when served ${rs.awakeAtServed}; raft messages received ${rs.messagesReceived}, sent ${rs.messagesSent} meanwhile`);
      } catch (e) {
        rep.errors.push(`restart: ${errText(e)}`);
      }
    }
  } catch (e) {
    rep.errors.push(errText(e));
    log(`failed: ${errText(e)}`);
  } finally {
    client.close();
    if (cluster) {
      await cluster.destroy();
      profileFiles = cluster.profileFiles;
    }
    rmSync(root, { recursive: true, force: true });
  }
  for (const file of profileFiles.filter((x) => existsSync(x))) {
    try {
      const p = summarizeCpuProfile(file, 15);
      rep.profiles.push(p);
      log(`CPU profile ${file}: busy ${(p.busyMs / 1000).toFixed(1)} s of ${(p.wallMs / 1000).toFixed(1)} s, top self time:`);
      for (const e of p.top.slice(0, 10)) log(`  ${e.percent.toFixed(1).padStart(5)} %  ${e.fn} ${e.where}`);
    } catch (e) {
      rep.errors.push(`profile ${file}: ${errText(e)}`);
    }
  }
  return rep;
}

function mb(p: PerStore): PerStore {
  return Object.fromEntries(Object.entries(p).map(([k, v]) => [k, v / 1048576]));
}

function rounded(p: PerStore, digits: number): PerStore {
  return Object.fromEntries(Object.entries(p).map(([k, v]) => [k, Number(v.toFixed(digits))]));
}

function mean(p: PerStore): number {
  const v = Object.values(p);
  return v.length ? sum(p) / v.length : NaN;
}

function max(p: PerStore): number {
  return Math.max(...Object.values(p));
}

const f = (v: number | null | undefined, d = 1): string => (v === null || v === undefined || !Number.isFinite(v) ? '-' : v.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));

function printTable(runs: RunReport[]): void {
  const head = ['ranges', 'splits/s', 'idle CPU % (max store)', 'RSS MB (mean)', 'KB/replica', 'hb pkts/s/pair idle / load', 'hb/pkt idle / load', 'writes/s', 'p50/p99 ms', 'store CPU % (load)', 'gen CPU %', 'restart ready / serving s'];
  const rows = runs.filter((r) => !r.baselineOnly).map((r) => [
    r.reached === r.ranges ? r.ranges.toLocaleString('en-US') : `${r.reached.toLocaleString('en-US')} of ${r.ranges.toLocaleString('en-US')}`,
    r.split && r.split.splits > 0 ? f(r.split.splitsPerSecond, 0) : '-',
    r.idle ? f(max(r.idle.cpuPercent)) : '-',
    r.idle ? f(mean(mb(r.idle.rssBytes)), 0) : '-',
    r.idle?.rssPerReplicaBytes ? f(mean(r.idle.rssPerReplicaBytes) / 1024) : '-',
    `${r.idle ? f(r.idle.heartbeatPacketsPerSecondPerStorePair) : '-'} / ${r.write ? f(r.write.heartbeatPacketsPerSecondPerStorePair) : '-'}`,
    `${r.idle ? f(r.idle.heartbeatsPerPacket) : '-'} / ${r.write ? f(r.write.heartbeatsPerPacket) : '-'}`,
    r.write ? f(r.write.opsPerSecond, 0) : '-',
    r.write ? `${f(r.write.p50Ms)} / ${f(r.write.p99Ms)}` : '-',
    r.write ? Object.values(r.write.storeCpuPercent).map((v) => f(v, 0)).join(', ') : '-',
    r.write ? f(r.write.generatorCpuPercent, 0) : '-',
    r.restart ? `${f(r.restart.readyMs / 1000, 2)} / ${f(r.restart.servingMs / 1000, 2)}` : '-',
  ]);
  console.log(`\n| ${head.join(' | ')} |\n| ${head.map(() => '---:').join(' | ')} |`);
  for (const row of rows) console.log(`| ${row.join(' | ')} |`);
  for (const r of runs) {
    if (r.transfer) {
      const t = r.transfer;
      console.log(`\nleadership transfer (N=${r.reached}, ${t.transfers} transfers, ${t.timedOut} timed out): TransferLeader -> first write at new leader p50 ${f(t.toFirstWriteP50Ms)} / p99 ${f(t.toFirstWriteP99Ms)} ms; longest write gap p50 ${f(t.maxGapP50Ms)} / p99 ${f(t.maxGapP99Ms)} / max ${f(t.maxGapMaxMs)} ms; gap without transfer p50 ${f(t.baselineGapP50Ms)} / p99 ${f(t.baselineGapP99Ms)} ms`);
    }
    if (r.reads) {
      console.log(`\nreads (N=${r.reached}):\n| ranges read | consistency | in flight | reads/s | p50 ms | p99 ms | served by lease / quorum |\n| ---: | --- | ---: | ---: | ---: | ---: | ---: |`);
      for (const x of r.reads) console.log(`| ${x.keys} | ${x.consistency} | ${x.inflight} | ${f(x.opsPerSecond, 0)} | ${f(x.p50Ms, 2)} | ${f(x.p99Ms, 2)} | ${x.servedByLease} / ${x.servedByQuorum} |`);
    }
    for (const e of r.errors) console.log(`N=${r.ranges}: error: ${e}`);
  }
}

interface Target {
  target: string;
  measured: string;
  met: boolean | null;
}

function evaluateTargets(runs: RunReport[]): Target[] {
  const real = runs.filter((r) => !r.baselineOnly && r.idle);
  const top = real.reduce<RunReport | undefined>((a, r) => (!a || r.reached > a.reached ? r : a), undefined);
  const at = (r: RunReport | undefined): string => (r ? `at ${r.reached.toLocaleString('en-US')} ranges` : '');
  const out: Target[] = [];
  const full = top !== undefined && top.reached >= 10_000;
  if (top?.idle) {
    const cpu = max(top.idle.cpuPercent);
    out.push({ target: 'idle CPU < 3 % of a core per store with 10,000 ranges', measured: `${f(cpu)} % (max store) ${at(top)}`, met: full ? cpu < 3 : null });
    const per = top.idle.rssPerReplicaBytes ? mean(top.idle.rssPerReplicaBytes) : NaN;
    out.push({ target: '< 20 KB RSS per replica', measured: `${f(per / 1024)} KB ${at(top)}`, met: Number.isFinite(per) && full ? per < 20 * 1024 : null });
  }
  // With one range only one store leads (one direction of heartbeats per pair); from 100
  // ranges on, leaders are on every store: compare those runs (or all, if none).
  const hb = runs.filter((r) => r.idle && !r.baselineOnly && r.reached >= 100);
  const hbRuns = hb.length >= 2 ? hb : runs.filter((r) => r.idle);
  if (hbRuns.length >= 2) {
    const v = hbRuns.map((r) => r.idle!.heartbeatPacketsPerSecondPerStorePair);
    // No heartbeat packets at all at every N (quiescence) counts as independent.
    const ratio = Math.max(...v) === Math.min(...v) ? 1 : Math.max(...v) / Math.max(1e-9, Math.min(...v));
    out.push({
      target: 'heartbeat packets per store pair independent of range count',
      measured: `${hbRuns.map((r) => `${f(r.idle!.heartbeatPacketsPerSecondPerStorePair)}/s ${at(r)}`).join(', ')} (max/min ${f(ratio, 2)}x)`,
      met: hbRuns.every((r) => r.reached === r.ranges) ? ratio < 1.5 : null,
    });
  }
  const lease = (runs.find((r) => r.reads)?.reads ?? []).filter((x) => x.consistency === 'LEASE' && x.inflight === 1);
  if (lease.length > 0) {
    out.push({
      target: 'lease read p50 < 1 ms',
      measured: lease.map((x) => `${f(x.p50Ms, 2)} ms over ${x.keys} range(s)`).join(', ') + ' (1 in flight)',
      met: lease[0]!.p50Ms < 1,
    });
  }
  const tr = runs.find((r) => r.transfer)?.transfer;
  if (tr) out.push({ target: 'leadership transfer unavailability < 10 ms', measured: `longest write gap p50 ${f(tr.maxGapP50Ms)} / p99 ${f(tr.maxGapP99Ms)} ms`, met: tr.maxGapP99Ms < 10 });
  if (top?.restart) out.push({ target: 'restart with 10,000 ranges serving in < 5 s', measured: `${f(top.restart.servingMs / 1000, 2)} s ${at(top)} (ready line ${f(top.restart.readyMs / 1000, 2)} s)`, met: full ? top.restart.servingMs < 5_000 : null });
  return out;
}

function gitInfo(): { commit: string; dirty: boolean } {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repoRoot }).toString().trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: repoRoot }).toString().trim() !== '';
    return { commit, dirty };
  } catch {
    return { commit: 'unknown', dirty: false };
  }
}

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..');

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const startedAt = new Date().toISOString();
  const load0 = loadavg();
  console.log(`groups-per-node: ranges ${args.ranges.join(',')}, ${args.seconds} s load, ${args.inflight} in flight, ${args.channelsPerStore} channels per store, ${KEY_BYTES}-byte keys, ${VALUE_BYTES}-byte values, dir ${args.dir}, ${cpus().length} cpus, load average ${load0.map((x) => x.toFixed(1)).join(' ')}`);
  const probeAt = args.ranges.includes(1000) ? 1000 : args.ranges.includes(100) ? 100 : [...args.ranges].sort((a, b) => a - b).filter((n) => n <= 1000).pop() ?? args.ranges[0]!;
  if (args.cpuProfDir) mkdirSync(args.cpuProfDir, { recursive: true });
  const runs: RunReport[] = [];
  if (!args.ranges.includes(1)) runs.push(await runOne(1, args, { probes: false, baselineOnly: true }));
  for (const n of args.ranges) runs.push(await runOne(n, args, { probes: n === probeAt, baselineOnly: false }));
  // RSS per replica: against the same store's RSS with one range, measured in this run.
  const base = runs.find((r) => r.ranges === 1 && r.idle)?.idle?.rssBytes;
  for (const r of runs) {
    if (!base || !r.idle || r.reached <= 1) continue;
    r.idle.rssPerReplicaBytes = perStore((id) => (r.idle!.rssBytes[String(id)]! - base[String(id)]!) / r.reached);
  }
  printTable(runs);
  const targets = evaluateTargets(runs);
  console.log('\ntargets (bench README):');
  for (const t of targets) console.log(`  ${t.met === null ? 'n/a ' : t.met ? 'met ' : 'MISS'}  ${t.target}: ${t.measured}`);
  const out = {
    bench: 'groups-per-node',
    startedAt,
    finishedAt: new Date().toISOString(),
    git: gitInfo(),
    machine: { node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', arch: arch(), kernel: release(), totalMemBytes: totalmem(), loadAverageAtStart: load0, loadAverageAtEnd: loadavg(), dir: args.dir },
    args,
    notes: 'Each N on a fresh 3-store cluster (store-main processes, --log-level warn); heartbeat packets per store pair = heartbeat packets sent by all stores / 6 directed pairs; RSS per replica = (RSS at N - RSS of the same store at N=1) / N; CPU % = utime+stime from /proc over the window, 100 % = one core.',
    runs,
    targets,
  };
  mkdirSync(dirname(args.out), { recursive: true });
  writeFileSync(args.out, JSON.stringify(out, null, 2) + '\n');
  console.log(`wrote ${args.out}`);
  const svgPath = args.out.replace(/\.json$/, '') + '.svg';
  const git = out.git;
  writeFileSync(svgPath, await renderLineCharts({
    title: 'groups per node: closed-loop puts against ranges per store',
    subtitle: [
      `3 store processes, each a replica of every range, leaders spread; ${args.inflight} in flight, ${args.seconds} s per N`,
      `${cpus().length} cpus; ${startedAt.slice(0, 16).replace('T', ' ')} UTC, commit ${git.commit.slice(0, 7)}${git.dirty ? ' (dirty)' : ''}`,
    ],
    series: [WRITE_SERIES],
    panels: chartPanels(runs),
  }));
  console.log(`wrote ${svgPath}`);
}

const WRITE_SERIES = 'rangekv 3 stores';

/** Put throughput and p99 against the ranges reached, one point per N that ran the write load. */
function chartPanels(runs: RunReport[]): ChartPanel[] {
  const loaded = runs.filter((r) => r.write && !r.baselineOnly);
  const ticks = loaded.map((r) => r.reached);
  const points = (y: (w: WriteReport) => number): ChartPanel['points'] => loaded.map((r) => ({ series: WRITE_SERIES, x: r.reached, y: y(r.write!) }));
  return [
    { title: 'put throughput', xTitle: 'ranges (per store)', yTitle: 'puts/s', xScale: 'log', xTicks: ticks, points: points((w) => w.opsPerSecond) },
    { title: 'put p99 latency', xTitle: 'ranges (per store)', yTitle: 'p99 ms', xScale: 'log', xTicks: ticks, points: points((w) => w.p99Ms) },
  ];
}

main().then(() => process.exit(0), (e: unknown) => {
  console.error(e);
  process.exit(1);
});
