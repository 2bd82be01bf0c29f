// rangekv vs etcd 3.4: client-side throughput and latency of single-key puts and
// linearizable gets, from --clients Node client processes (default 2, so that the client
// is not what limits the figures; each process's CPU is reported) using the same
// machinery for both (@grpc/grpc-js channels, protobufjs codecs, one closed loop per
// request in flight; kv-vs-etcd-clients.ts shares the in-flight requests out).
//
//   etcd     3 members on 127.0.0.1 (/usr/bin/etcd, default fsync), requests round-robin
//            over the members (kv-vs-etcd-etcd.ts)
//   rangekv  3 store processes, static bootstrap, split into --ranges ranges with leaders
//            spread over the stores, requests routed to each range's leader
//            (kv-vs-etcd-rangekv.ts)
//
// Workload (kv-vs-etcd-load.ts): 16-byte keys, 256-byte values, keys uniform over
// --keys keys, all preloaded (untimed, batched: etcd Txn / rangekv BatchPut of 100 keys)
// so every get finds its key, then --settle-ms of pause, then --jit-warmup-seconds (20) of
// unmeasured puts and gets (V8 compiles rangekv's hot code in the background for tens of
// seconds; etcd gets the same load). For each system,
// one after the other (never concurrently), for each in-flight level: 1 s of warm-up,
// then --seconds measured, puts first, then gets. Reported per level: ops/s,
// p50/p99/p99.9 latency, the client processes' CPU, the servers' CPU and CPU per op, and
// rangekv/etcd ratios. Writes the JSON and, beside it, an SVG chart (charts.ts):
// throughput and p99 against in-flight, one line per system.
//
//   pnpm bench:etcd                                        # defaults: --seconds 5 --inflight 1,16,64,256 --ranges 1,1000 --clients 2
//   pnpm bench:etcd -- --seconds 1 --inflight 1,64 --ranges 1   # quick (~1 min)
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderLineCharts, type ChartPanel } from './charts.js';
import { ClientProcesses, type LevelResult } from './kv-vs-etcd-clients.js';
import { startEtcdCluster } from './kv-vs-etcd-etcd.js';
import { Keyspace, preload, procRssMiB, runningClusters, type Op, type SystemUnderTest } from './kv-vs-etcd-load.js';
import { startDevCluster } from './kv-vs-etcd-dev.js';
import { startRangekvCluster } from './kv-vs-etcd-rangekv.js';
import { Progress } from './progress.js';

interface Args {
  seconds: number;
  warmupMs: number;
  /** Pause after the preload, before the first level (background flushes settle). */
  settleMs: number;
  /**
   * Unmeasured load before the first level, every system alike (each op at 256 in flight,
   * then at 1): V8 optimizes rangekv's hot code in the background for tens of seconds, and
   * the first levels measured that compilation (the preload's batches do not run the
   * single-key paths). 0 = none.
   */
  jitWarmupSeconds: number;
  inflight: number[];
  keys: number;
  valueBytes: number;
  /** rangekv runs, one per range count. */
  ranges: number[];
  systems: ('etcd' | 'rangekv' | 'dev')[];
  ops: Op[];
  /** Preload batches (of 100 keys) in flight. */
  preloadInflight: number;
  /** Load client processes; each level's in-flight requests are shared out over them. */
  clients: number;
  etcdBinary: string;
  /** The JSON; the SVG chart goes beside it (same name, .svg). */
  out: string;
}

const BENCH_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');
const REPO_DIR = join(BENCH_DIR, '..');

function list(v: string): number[] {
  const out = v.split(',').map(Number);
  if (out.some((n) => !Number.isInteger(n) || n <= 0)) throw new Error(`expected a list of positive integers, got ${v}`);
  return out;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    seconds: 5, warmupMs: 1000, settleMs: 2000, jitWarmupSeconds: 20, inflight: [1, 16, 64, 256], keys: 100_000, valueBytes: 256, ranges: [1, 1000],
    systems: ['etcd', 'rangekv'], ops: ['put', 'get'], preloadInflight: 16, clients: 2, etcdBinary: '/usr/bin/etcd',
    out: join(BENCH_DIR, 'results', 'kv-vs-etcd.json'),
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = argv[i + 1] ?? '';
    const take = (): string => {
      i++;
      if (v === '') throw new Error(`${k} needs a value`);
      return v;
    };
    if (k === '--seconds') a.seconds = Number(take());
    else if (k === '--warmup-ms') a.warmupMs = Number(take());
    else if (k === '--settle-ms') a.settleMs = Number(take());
    else if (k === '--jit-warmup-seconds') a.jitWarmupSeconds = Number(take());
    else if (k === '--inflight') a.inflight = list(take());
    else if (k === '--keys') a.keys = list(take())[0]!;
    else if (k === '--value-bytes') a.valueBytes = list(take())[0]!;
    else if (k === '--ranges') a.ranges = list(take());
    else if (k === '--systems') a.systems = take().split(',').map((s) => {
      if (s !== 'etcd' && s !== 'rangekv' && s !== 'dev') throw new Error(`unknown system ${s} (etcd, rangekv, dev)`);
      return s;
    });
    else if (k === '--ops') a.ops = take().split(',').map((s) => {
      if (s !== 'put' && s !== 'get') throw new Error(`unknown op ${s}`);
      return s;
    });
    else if (k === '--preload-inflight') a.preloadInflight = list(take())[0]!;
    else if (k === '--clients') a.clients = list(take())[0]!;
    else if (k === '--etcd') a.etcdBinary = take();
    else if (k === '--out') a.out = take();
    else if (k === '--') continue;
    else throw new Error(`unknown flag ${k}`);
  }
  if (!(a.seconds > 0)) throw new Error('--seconds must be > 0');
  if (!(a.jitWarmupSeconds >= 0)) throw new Error('--jit-warmup-seconds must be >= 0');
  return a;
}

interface SystemRun {
  system: string;
  label: string;
  ranges: number | null;
  info: Record<string, unknown>;
  startSeconds: number;
  preloadSeconds: number;
  preloadKeysPerSec: number;
  loadAvgBefore: number[];
  loadAvgAfter: number[];
  /** Load client processes (their pids, for the record). */
  clientPids: number[];
  /** RSS of each data-holding server process (stores, etcd members), MiB: after the preload settled, and after the last level. */
  memberRssMiBAfterPreload: (number | null)[];
  memberRssMiBAtEnd: (number | null)[];
  levels: LevelResult[];
  /** The client processes' counters, summed (rangekv: NotLeader answers, table refreshes, ...). */
  clientStats?: Record<string, number>;
}

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { cwd: REPO_DIR, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const ms = (n: number): string => (n >= 10 ? fmt(n, 0) : n >= 1 ? fmt(n, 1) : fmt(n, 2));
const loads = (): number[] => loadavg().map((x) => Math.round(x * 100) / 100);

let interrupted = false;
let stopping: Promise<void> | null = null;
/** The client processes of the system being measured. */
let clients: ClientProcesses | null = null;

/** Stops the client processes and every running cluster (on Ctrl-C, SIGTERM, errors); concurrent callers share one stop. */
function stopAll(): Promise<void> {
  stopping ??= Promise.allSettled([clients?.kill(), ...[...runningClusters].map((stop) => stop())]).then(() => {
    stopping = null;
  });
  return stopping;
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    interrupted = true;
    console.error(`\n${sig}: stopping the clusters`);
    void stopAll().finally(() => process.exit(130));
  });
}

const pct = (v: number | null): string => (v === null ? '-' : fmt(v));

/** "83 (42+41)": all client processes' CPU and each one's. */
function clientCpu(l: LevelResult): string {
  return l.clientCpuPctByProcess.length > 1 ? `${fmt(l.clientCpuPct)} (${l.clientCpuPctByProcess.map((v) => fmt(v)).join('+')})` : fmt(l.clientCpuPct);
}

async function runSystem(args: Args, ks: Keyspace, label: string, start: (p: Progress) => Promise<SystemUnderTest>, ranges: number | null): Promise<SystemRun> {
  const loadAvgBefore = loads();
  console.log(`\n== ${label} (load average ${loadAvgBefore.join(' ')})`);
  const progress = new Progress('  ');
  const t0 = Date.now();
  const sut = await start(progress);
  try {
    const startSeconds = (Date.now() - t0) / 1000;
    console.log(`  started in ${startSeconds.toFixed(1)} s: ${JSON.stringify(sut.info)}`);
    const preloadSeconds = await preload(sut.target, ks, (n) => progress.update(`preload ${fmt(n)}/${fmt(ks.count)} keys`), args.preloadInflight);
    progress.done(`preloaded ${fmt(ks.count)} keys in ${preloadSeconds.toFixed(1)} s (${fmt(ks.count / preloadSeconds)} keys/s${sut.target.putBatch ? `, batches of 100, ${args.preloadInflight} in flight` : ', single puts'})`);
    await new Promise((r) => setTimeout(r, args.settleMs));
    const memberRssMiBAfterPreload = sut.memberPids().map(procRssMiB);
    console.log(`  RSS after the preload, MiB per ${sut.name === 'etcd' ? 'member' : 'store'}: ${memberRssMiBAfterPreload.map((v) => v ?? '-').join(', ')}`);
    clients = await ClientProcesses.start(args.clients, sut.client, { keys: ks.count, valueBytes: ks.valueBytes });
    console.log(`  ${clients.count} client processes (pids ${clients.pids.join(', ')}) connected`);
    if (args.jitWarmupSeconds > 0) {
      const shareMs = (args.jitWarmupSeconds * 1000) / (args.ops.length * 2);
      for (const op of args.ops) for (const inflight of [256, 1]) await clients.runLevel(sut, { op, inflight, warmupMs: 0, measureMs: shareMs }, progress);
      progress.done(`JIT warm-up: ${args.jitWarmupSeconds} s (${args.ops.join(', ')} at 256 in flight, then at 1; not measured)`);
    }
    const levels: LevelResult[] = [];
    for (const op of args.ops) {
      for (const inflight of args.inflight) {
        const r = await clients.runLevel(sut, { op, inflight, warmupMs: args.warmupMs, measureMs: args.seconds * 1000 }, progress);
        levels.push(r);
        console.log(`  ${op.padEnd(3)} ${String(inflight).padStart(4)} in flight: ${fmt(r.opsPerSec).padStart(7)} ops/s  p50 ${ms(r.p50Ms)}  p99 ${ms(r.p99Ms)}  p99.9 ${ms(r.p999Ms)} ms  `
          + `client cpu ${clientCpu(r)}%  servers cpu ${pct(r.serverCpuPct)}% (${r.serverCpuMicrosPerOp === null ? '-' : fmt(r.serverCpuMicrosPerOp)} µs/op)`
          + `${r.errors ? `  errors ${r.errors}` : ''}${r.misses ? `  misses ${r.misses}` : ''}`);
      }
    }
    const clientPids = clients.pids;
    const memberRssMiBAtEnd = sut.memberPids().map(procRssMiB);
    console.log(`  RSS at the end, MiB: ${memberRssMiBAtEnd.map((v) => v ?? '-').join(', ')}`);
    const clientStats = await clients.close();
    clients = null;
    const run: SystemRun = {
      system: sut.name, label, ranges, info: sut.info, startSeconds, preloadSeconds, preloadKeysPerSec: ks.count / preloadSeconds,
      loadAvgBefore, loadAvgAfter: loads(), clientPids, memberRssMiBAfterPreload, memberRssMiBAtEnd, levels,
    };
    if (Object.keys(clientStats).length > 0) run.clientStats = clientStats;
    return run;
  } finally {
    await clients?.kill();
    clients = null;
    await sut.stop();
  }
}

interface Comparison {
  label: string;
  op: Op;
  inflight: number;
  etcdOpsPerSec: number;
  rangekvOpsPerSec: number;
  /** rangekv / etcd ops/s. */
  throughputRatio: number;
  /** rangekv / etcd p99 latency (lower is better for rangekv). */
  p99Ratio: number;
}

function compare(runs: SystemRun[]): Comparison[] {
  const etcd = runs.find((r) => r.system === 'etcd');
  if (!etcd) return [];
  const out: Comparison[] = [];
  for (const run of runs.filter((r) => r.system !== 'etcd')) {
    for (const l of run.levels) {
      const e = etcd.levels.find((x) => x.op === l.op && x.inflight === l.inflight);
      if (!e) continue;
      out.push({
        label: run.label, op: l.op, inflight: l.inflight, etcdOpsPerSec: e.opsPerSec, rangekvOpsPerSec: l.opsPerSec,
        throughputRatio: e.opsPerSec > 0 ? l.opsPerSec / e.opsPerSec : 0, p99Ratio: e.p99Ms > 0 ? l.p99Ms / e.p99Ms : 0,
      });
    }
  }
  return out;
}

function printTable(runs: SystemRun[], cmp: Comparison[]): void {
  console.log(`\n| system | op | in flight | ops/s | p50 ms | p99 ms | p99.9 ms | client cpu % (by process) | servers cpu % | servers cpu µs/op | rangekv/etcd ops/s |`);
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const run of runs) {
    for (const l of run.levels) {
      const c = cmp.find((x) => x.label === run.label && x.op === l.op && x.inflight === l.inflight);
      console.log(`| ${run.label} | ${l.op} | ${l.inflight} | ${fmt(l.opsPerSec)} | ${ms(l.p50Ms)} | ${ms(l.p99Ms)} | ${ms(l.p999Ms)} | ${clientCpu(l)} | ${pct(l.serverCpuPct)} | ${l.serverCpuMicrosPerOp === null ? '-' : fmt(l.serverCpuMicrosPerOp)} | ${c ? `${c.throughputRatio.toFixed(2)}x` : '-'} |`);
    }
  }
}

/** Throughput and p99 against in-flight, one line per system, a row of two panels per op. */
function chartPanels(runs: SystemRun[], ops: Op[], inflight: number[]): ChartPanel[] {
  const panels: ChartPanel[] = [];
  for (const op of ops) {
    const what = op === 'put' ? 'puts' : 'linearizable gets';
    const points = (y: (l: LevelResult) => number): ChartPanel['points'] =>
      runs.flatMap((r) => r.levels.filter((l) => l.op === op).map((l) => ({ series: r.label, x: l.inflight, y: y(l) })));
    panels.push({ title: `${what}: throughput`, xTitle: 'requests in flight', yTitle: 'ops/s', xScale: 'log', xTicks: inflight, points: points((l) => l.opsPerSec) });
    panels.push({ title: `${what}: p99 latency`, xTitle: 'requests in flight', yTitle: 'p99 ms', xScale: 'log', xTicks: inflight, points: points((l) => l.p99Ms) });
  }
  return panels;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const ks = new Keyspace(args.keys, args.valueBytes);
  const commit = sh('git', ['rev-parse', 'HEAD']);
  const dirty = sh('git', ['status', '--porcelain', '--untracked-files=no']) !== '';
  const etcdVersion = sh(args.etcdBinary, ['--version']).split('\n')[0] ?? '';
  const uptimeBefore = sh('uptime', []);
  console.log(`kv-vs-etcd: ${args.ops.join('+')} at ${args.inflight.join(',')} in flight over ${args.clients} client processes, ${args.seconds} s each after ${args.warmupMs} ms warm-up, `
    + `16-byte keys over ${fmt(args.keys)} keys, ${args.valueBytes}-byte values; ${etcdVersion}; ${cpus().length} cpus; ${uptimeBefore}`);

  const runs: SystemRun[] = [];
  try {
    if (args.systems.includes('etcd')) {
      runs.push(await runSystem(args, ks, 'etcd', () => startEtcdCluster({ binary: args.etcdBinary }), null));
    }
    if (args.systems.includes('rangekv')) {
      for (const r of args.ranges) {
        const splitKeys = Array.from({ length: r - 1 }, (_, i) => Keyspace.key(Math.floor(((i + 1) * args.keys) / r)));
        runs.push(await runSystem(args, ks, `rangekv ${r} range${r === 1 ? '' : 's'}`,
          (progress) => startRangekvCluster({ splitKeys, progress }), r));
      }
    }
    if (args.systems.includes('dev')) {
      for (const r of args.ranges) {
        const splitKeys = Array.from({ length: r - 1 }, (_, i) => Keyspace.key(Math.floor(((i + 1) * args.keys) / r)));
        runs.push(await runSystem(args, ks, `rangekv dev + client ${r} range${r === 1 ? '' : 's'}`,
          (progress) => startDevCluster({ splitKeys, progress }), r));
      }
    }
  } finally {
    await stopAll();
  }

  const cmp = compare(runs);
  printTable(runs, cmp);
  const out = {
    bench: 'kv-vs-etcd',
    when: new Date().toISOString(),
    commit,
    dirty,
    machine: {
      node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '', totalMemBytes: totalmem(),
      uptimeBefore, uptimeAfter: sh('uptime', []), etcdVersion,
    },
    args: { ...args, keyBytes: 16, out: undefined },
    runs,
    comparisons: cmp,
  };
  mkdirSync(dirname(args.out), { recursive: true });
  writeFileSync(args.out, JSON.stringify(out, null, 2) + '\n');
  console.log(`\nwrote ${args.out}`);
  const svgPath = args.out.replace(/\.json$/, '') + '.svg';
  const svg = await renderLineCharts({
    title: 'rangekv vs etcd 3.4: single-key puts and linearizable gets, closed loops',
    subtitle: [
      `3 server processes, ${args.clients} client processes, ${cpus().length} cpus; ${args.seconds} s per level`,
      `${out.when.slice(0, 16).replace('T', ' ')} UTC, commit ${commit.slice(0, 7)}${dirty ? ' (dirty)' : ''}`,
    ],
    series: runs.map((r) => r.label),
    panels: chartPanels(runs, args.ops, args.inflight),
  });
  writeFileSync(svgPath, svg);
  console.log(`wrote ${svgPath}`);
}

main().catch(async (e: unknown) => {
  if (!interrupted) console.error(e);
  await stopAll();
  process.exit(interrupted ? 130 : 1);
});
