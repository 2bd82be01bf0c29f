// Apply figures: how fast committed KV entries are applied, and how much of the main
// thread that costs, with apply inline on the main thread (InlineKvApplier) and in a
// piscina pool of 1 or 2 apply workers (PoolKvApplier). Entries are 256-byte puts with
// 16-byte keys, applied in batches of 1, 16 and 64 entries (one apply call per batch, as
// the raft scheduler does per committed-entries Ready) over 1 and 100 ranges.
//
// For each (ranges, batch) a fresh store gets, per mode, its own `ranges` ranges whose
// logs hold the entries already (durable, untimed). The first half is applied untimed
// (JIT warm-up, also of the fresh worker threads); then every range runs a closed loop
// (apply the next batch, await it, repeat) until its log is applied; all ranges at once,
// as the scheduler keeps one apply outstanding per range. Measured:
//
//   entries/s  entries applied / wall time of the run
//   ELU        main-thread event-loop utilization during the run (performance.eventLoopUtilization):
//              1.0 = the main thread never idled (in a store it also runs raft, the
//              transport and gRPC, so what apply leaves idle is what they can use)
//   main busy µs/e main-thread busy (not idle) wall time / entries: the apply cost the
//              main thread pays, inflated when other processes hold the cores
//   main cpu µs/e  main-thread CPU time / entries (Linux /proc; 10 ms ticks)
//   proc cpu µs/e  whole-process CPU / entries (main + workers + RocksDB threads)
//   e/task     entries per pool task (chunks of ranges queued together share a task)
//
// This is the applier alone (no raft, no network): the upper bound apply puts on a
// store's write throughput, and its share of the main thread.
//
// Then whole-store runs: one StoreServer (raft, log writer with fsync, apply, KV service;
// single-replica ranges, no network) over 1, 100 and 1,000 ranges, 256 closed-loop
// writers of 256-byte puts, per mode: puts/s, main-thread ELU, process CPU per put.
//
//   pnpm bench:apply                                   # defaults
//   pnpm bench:apply -- --entries 20000 --ranges 1,100 --batches 1,16,64 --modes inline,1,2
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { EntryType, type Entry } from '@rangekv/raft';
import { ReplicaRole, type RangeDescriptor } from '@rangekv/proto';
import { StorageEngine } from '@rangekv/storage';
import {
  claimDataDir, encodeKvCommand, InlineKvApplier, KvCommandType, PoolKvApplier, StoreServer, type KvApplier,
} from '@rangekv/store';
import type { ApplyEntry } from '@rangekv/multiraft';
import { silentLogger } from '@rangekv/runtime';

interface Args {
  /** Entries applied per run at batch size 1; larger batches apply `entries * batchScale` (capped). */
  entries: number;
  ranges: number[];
  batches: number[];
  modes: Mode[];
  valueBytes: number;
  dir: string;
  /** Store runs: seconds measured per run (0 = skip them). */
  storeSeconds: number;
  storeRanges: number[];
  storeWriters: number;
}

type Mode = 'inline' | 'w1' | 'w2';

function parseMode(s: string): Mode {
  if (s === 'inline' || s === '0') return 'inline';
  if (s === '1' || s === 'w1') return 'w1';
  if (s === '2' || s === 'w2') return 'w2';
  throw new Error(`unknown mode ${s} (inline, 1, 2)`);
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    entries: 20_000, ranges: [1, 100], batches: [1, 16, 64], modes: ['inline', 'w1', 'w2'], valueBytes: 256, dir: tmpdir(),
    storeSeconds: 4, storeRanges: [1, 100, 1000], storeWriters: 256,
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    if (k === '--entries' && Number(v) > 0) { a.entries = Number(v); i++; }
    else if (k === '--ranges' && v) { a.ranges = v.split(',').map(Number); i++; }
    else if (k === '--batches' && v) { a.batches = v.split(',').map(Number); i++; }
    else if (k === '--modes' && v) { a.modes = v.split(',').map(parseMode); i++; }
    else if (k === '--value-bytes' && Number(v) > 0) { a.valueBytes = Number(v); i++; }
    else if (k === '--dir' && v) { a.dir = v; i++; }
    else if (k === '--store-seconds' && Number(v) >= 0) { a.storeSeconds = Number(v); i++; }
    else if (k === '--store-ranges' && v) { a.storeRanges = v.split(',').map(Number); i++; }
    else if (k === '--store-writers' && Number(v) > 0) { a.storeWriters = Number(v); i++; }
    else if (k === '--help') {
      console.log('usage: apply-bench [--entries N] [--ranges 1,100] [--batches 1,16,64] [--modes inline,1,2] [--value-bytes B] [--dir D]\n'
        + '                   [--store-seconds S (0 = skip)] [--store-ranges 1,100,1000] [--store-writers 256]');
      process.exit(0);
    } else throw new Error(`unknown or invalid argument: ${k}`);
  }
  return a;
}

interface Result {
  ranges: number;
  batch: number;
  mode: Mode;
  entries: number;
  seconds: number;
  entriesPerSec: number;
  /** Main-thread event-loop utilization during the run, 0..1. */
  elu: number;
  /** Main-thread busy (event loop not idle) microseconds per applied entry: wall time, inflated when other processes take the cores. */
  mainMicrosPerEntry: number;
  /** Main-thread CPU microseconds per entry (Linux /proc, 10 ms ticks; NaN elsewhere). */
  mainCpuMicrosPerEntry: number;
  /** Whole-process CPU microseconds per entry (main + workers + RocksDB threads). */
  processCpuMicrosPerEntry: number;
  /** Entries per pool task (several ranges' chunks share a task); 0 for inline. */
  entriesPerTask: number;
}

/** CPU time of the main thread in microseconds (Linux: /proc/self/task/<pid>/stat utime + stime), or NaN. */
function mainThreadCpuMicros(): number {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After the command: state is field 3, utime 14 and stime 15 (1-based), in clock ticks (100 Hz).
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return NaN;
  }
}

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

function descriptor(rangeId: number): RangeDescriptor {
  return {
    rangeId, startKey: u32(rangeId), endKey: u32(rangeId + 1), epoch: { confVer: 1, version: 1 },
    replicas: [{ storeId: 1, replicaId: 1, role: ReplicaRole.Voter }],
  };
}

/** A 16-byte key in range r: 4-byte range id, 12-byte counter. */
function key(rangeId: number, i: number): Buffer {
  const k = Buffer.alloc(16);
  k.writeUInt32BE(rangeId, 0);
  k.writeUInt32BE(Math.floor(i / 2 ** 32), 8);
  k.writeUInt32BE(i % 2 ** 32, 12);
  return k;
}

const PREFILL_ENTRIES_PER_READY = 1024;

/** Appends `n` put entries (durably) to range r's log, from index 2 (range creation leaves applied = 1). */
async function prefill(engine: StorageEngine, rangeId: number, n: number, value: Uint8Array): Promise<ApplyEntry[]> {
  const out: ApplyEntry[] = [];
  let index = engine.range(rangeId).lastIndex();
  for (let done = 0; done < n;) {
    const es: Entry[] = [];
    for (let j = 0; j < PREFILL_ENTRIES_PER_READY && done < n; j++, done++) {
      index++;
      const data = encodeKvCommand({ type: KvCommandType.Put, epochVersion: 1, key: key(rangeId, index), value });
      es.push({ index, term: 1, type: EntryType.Normal, data });
      out.push({ index, term: 1, type: EntryType.Normal, data });
    }
    await engine.persistReady(rangeId, {
      seq: index, softState: null, hardState: { term: 1, vote: 1, commit: index }, entries: es, snapshot: null,
      committedEntries: [], messages: [], messagesAfterPersist: [], readStates: [], mustSync: true,
    });
  }
  return out;
}

async function runOne(engine: StorageEngine, firstRangeId: number, args: Args, ranges: number, batch: number, mode: Mode, total: number): Promise<Result> {
  const perRange = Math.max(batch, Math.ceil(total / ranges / batch) * batch);
  // Warm-up (untimed): the same number of entries first, so both the main thread's and
  // fresh workers' JIT are warm when timing starts.
  const warm = perRange;
  const ids = Array.from({ length: ranges }, (_, i) => firstRangeId + i);
  const cs = { voters: [1], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
  for (const id of ids) await engine.createRange({ descriptor: descriptor(id), confState: cs });
  const value = new Uint8Array(args.valueBytes).fill(0x61);
  const logs = await Promise.all(ids.map((id) => prefill(engine, id, warm + perRange, value)));
  const applier: KvApplier = mode === 'inline' ? new InlineKvApplier(engine) : await PoolKvApplier.start(engine, { threads: mode === 'w1' ? 1 : 2 });
  try {
    const descs = ids.map(descriptor);
    const applyAll = (from0: number, to: number): Promise<unknown> => Promise.all(ids.map(async (id, i) => {
      const log = logs[i]!;
      for (let from = from0; from < to; from += batch) await applier.apply(id, descs[i]!, log.slice(from, Math.min(to, from + batch)));
    }));
    await applyAll(0, warm);
    const stats0 = applier instanceof PoolKvApplier ? applier.stats() : null;
    const elu0 = performance.eventLoopUtilization();
    const cpu0 = process.cpuUsage();
    const main0 = mainThreadCpuMicros();
    const t0 = performance.now();
    await applyAll(warm, warm + perRange);
    const seconds = (performance.now() - t0) / 1000;
    const elu = performance.eventLoopUtilization(elu0);
    const mainCpu = mainThreadCpuMicros() - main0;
    const cpu = process.cpuUsage(cpu0);
    const entries = perRange * ranges;
    for (const id of ids) {
      const applied = engine.range(id).applied.index;
      if (applied !== logs[ids.indexOf(id)]!.at(-1)!.index) throw new Error(`range ${id}: applied ${applied}, expected the whole log`);
    }
    return {
      ranges, batch, mode, entries, seconds, entriesPerSec: Math.round(entries / seconds), elu: elu.utilization,
      mainMicrosPerEntry: (elu.active * 1000) / entries, mainCpuMicrosPerEntry: mainCpu / entries,
      processCpuMicrosPerEntry: (cpu.user + cpu.system) / entries,
      entriesPerTask: applier instanceof PoolKvApplier && stats0 ? (applier.stats().entries - stats0.entries) / (applier.stats().tasks - stats0.tasks) : 0,
    };
  } finally {
    await applier.close();
  }
}

interface StoreResult {
  ranges: number;
  writers: number;
  mode: Mode;
  putsPerSec: number;
  elu: number;
  processCpuMicrosPerPut: number;
}

/**
 * A whole store: one StoreServer whose ranges have a single replica (raft, log writer,
 * apply, KV service; no network), `writers` closed-loop writers putting 256-byte values
 * through `s.kv.put` spread over the ranges. One second of warm-up, then `seconds` measured.
 */
async function runStore(args: Args, ranges: number, mode: Mode): Promise<StoreResult> {
  const dir = mkdtempSync(join(args.dir, 'rangekv-apply-bench-store-'));
  try {
    claimDataDir(dir, 1);
    const engine = await StorageEngine.open(dir);
    const cs = { voters: [1], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
    for (let r = 1; r <= ranges; r++) {
      const d = descriptor(r);
      await engine.createRange({ descriptor: { ...d, startKey: r === 1 ? new Uint8Array(0) : d.startKey, endKey: r === ranges ? new Uint8Array(0) : d.endKey }, confState: cs });
    }
    await engine.close();
    const s = await StoreServer.start({ storeId: 1, dataDir: dir, applyWorkers: mode === 'inline' ? 0 : mode === 'w1' ? 1 : 2, tickMs: 20, log: silentLogger });
    try {
      while (s.status().some((x) => !x.isLeader)) await new Promise((r) => setTimeout(r, 20));
      const value = Buffer.alloc(args.valueBytes, 0x61);
      let done = 0;
      let failed = 0;
      let stop = false;
      const writer = async (w: number): Promise<void> => {
        for (let i = 0; !stop; i++) {
          const r = 1 + ((w * 7919 + i) % ranges);
          const res = await s.kv.put({ header: { rangeId: r, epoch: { confVer: 1, version: 1 } }, key: key(r, w * 1e9 + i), value });
          if (res.rangeError) failed++;
          else done++;
        }
      };
      const ws = Array.from({ length: args.storeWriters }, (_, w) => writer(w));
      await new Promise((r) => setTimeout(r, 1000));
      const d0 = done;
      const t0 = performance.now();
      const elu0 = performance.eventLoopUtilization();
      const cpu0 = process.cpuUsage();
      await new Promise((r) => setTimeout(r, args.storeSeconds * 1000));
      const n = done - d0;
      const seconds = (performance.now() - t0) / 1000;
      const elu = performance.eventLoopUtilization(elu0);
      const cpu = process.cpuUsage(cpu0);
      stop = true;
      await Promise.all(ws);
      if (failed > 0) throw new Error(`${failed} puts answered with a range error`);
      return {
        ranges, writers: args.storeWriters, mode, putsPerSec: Math.round(n / seconds), elu: elu.utilization,
        processCpuMicrosPerPut: (cpu.user + cpu.system) / n,
      };
    } finally {
      await s.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function pad(v: string | number, n: number): string {
  return String(v).padStart(n);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  console.log(`apply bench: ${args.valueBytes}-byte puts, 16-byte keys, ${args.entries} entries per run at batch 1 (x4 at 16, x8 at 64), ${cpus().length} cpus, dir ${args.dir}`);
  const head = `${pad('ranges', 6)} ${pad('batch', 5)} ${pad('mode', 6)} | ${pad('entries', 8)} ${pad('seconds', 7)} ${pad('entries/s', 10)} ${pad('ELU', 5)} ${pad('main busy µs/e', 14)} ${pad('main cpu µs/e', 13)} ${pad('proc cpu µs/e', 13)} ${pad('e/task', 6)}`;
  console.log(head);
  console.log('-'.repeat(head.length));
  const results: Result[] = [];
  for (const ranges of args.ranges) {
    for (const batch of args.batches) {
      const total = args.entries * (batch >= 64 ? 8 : batch >= 16 ? 4 : 1);
      const dir = mkdtempSync(join(args.dir, 'rangekv-apply-bench-'));
      const engine = await StorageEngine.open(dir);
      try {
        let firstRangeId = 1;
        for (const mode of args.modes) {
          const r = await runOne(engine, firstRangeId, args, ranges, batch, mode, total);
          firstRangeId += ranges;
          results.push(r);
          console.log(`${pad(ranges, 6)} ${pad(batch, 5)} ${pad(mode, 6)} | ${pad(r.entries, 8)} ${pad(r.seconds.toFixed(2), 7)} ${pad(r.entriesPerSec, 10)} ${pad(r.elu.toFixed(2), 5)} ${pad(r.mainMicrosPerEntry.toFixed(1), 14)} ${pad(r.mainCpuMicrosPerEntry.toFixed(1), 13)} ${pad(r.processCpuMicrosPerEntry.toFixed(1), 13)} ${pad(r.entriesPerTask.toFixed(1), 6)}`);
        }
      } finally {
        await engine.close();
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  const storeResults: StoreResult[] = [];
  if (args.storeSeconds > 0) {
    console.log(`\nstore: one StoreServer, single-replica ranges, ${args.storeWriters} closed-loop writers, ${args.storeSeconds}s per run`);
    const h = `${pad('ranges', 6)} ${pad('mode', 6)} | ${pad('puts/s', 8)} ${pad('ELU', 5)} ${pad('proc cpu µs/put', 15)}`;
    console.log(h);
    console.log('-'.repeat(h.length));
    for (const ranges of args.storeRanges) {
      for (const mode of args.modes) {
        const r = await runStore(args, ranges, mode);
        storeResults.push(r);
        console.log(`${pad(ranges, 6)} ${pad(mode, 6)} | ${pad(r.putsPerSec, 8)} ${pad(r.elu.toFixed(2), 5)} ${pad(r.processCpuMicrosPerPut.toFixed(1), 15)}`);
      }
    }
  }
  const out = {
    bench: 'apply',
    when: new Date().toISOString(),
    machine: { node: process.version, cpus: cpus().length, dir: args.dir },
    args: { entries: args.entries, valueBytes: args.valueBytes, keyBytes: 16, storeSeconds: args.storeSeconds, storeWriters: args.storeWriters },
    results,
    store: storeResults,
  };
  const here = dirname(fileURLToPath(import.meta.url));
  const resultsDir = join(here, '..', 'results');
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, 'apply.json'), JSON.stringify(out, null, 2) + '\n');
  console.log(`wrote ${join(resultsDir, 'apply.json')}`);
}

await main();
