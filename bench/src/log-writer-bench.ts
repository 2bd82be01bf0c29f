// Log-writer figures: entries/s, fsyncs/s and time-to-durable for 1, 100, 1,000 and 10,000
// groups appending 256-byte entries (one entry plus its hard state per Ready), through the
// real path: encode -> bounded queue -> worker thread -> one WriteBatch + fsync per group
// commit -> RangeLogStore update. Three loads per group count, in the same run:
//
//   per-group  each group a closed-loop writer: persistReady, wait until durable, repeat
//              (one log-writer request per Ready; the writer merges whatever is queued);
//   cycle      a raft-scheduler-like loop: each cycle puts every group with nothing in
//              flight into one ReadyBatch (one request), at most 2 cycles in flight;
//   one-sync   the per-group load with group commit off (maxRequestsPerSync = 1: one sync
//              batch per entry). The ratio is per-group entries/s over one-sync entries/s.
//
//   pnpm bench:storage                               # defaults: --seconds 3
//   pnpm bench:storage -- --seconds 5 --groups 1,100,1000,10000 --dir /mnt/ssd/tmp
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EntryType, type Ready } from '@rangekv/raft';
import { ReplicaRole } from '@rangekv/proto';
import { StorageEngine } from '@rangekv/storage';

/** `out`: where the JSON goes (default bench/results/log-writer.json). */
interface Args { seconds: number; groups: number[]; entryBytes: number; dir: string; out: string; }

function parseArgs(argv: string[]): Args {
  const a: Args = {
    seconds: 3, groups: [1, 100, 1000, 10_000], entryBytes: 256, dir: tmpdir(),
    out: join(dirname(fileURLToPath(import.meta.url)), '..', 'results', 'log-writer.json'),
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    if (k === '--seconds' && Number(v) > 0) { a.seconds = Number(v); i++; }
    else if (k === '--groups' && v) { a.groups = v.split(',').map(Number); i++; }
    else if (k === '--entry-bytes' && Number(v) > 0) { a.entryBytes = Number(v); i++; }
    else if (k === '--dir' && v) { a.dir = v; i++; }
    else if (k === '--out' && v) { a.out = v; i++; }
    else if (k === '--help') { console.log('usage: log-writer-bench [--seconds S] [--groups 1,100,...] [--entry-bytes B] [--dir D] [--out FILE]'); process.exit(0); }
    else throw new Error(`unknown or invalid argument: ${k}`);
  }
  return a;
}

interface Result {
  groups: number;
  entriesPerSec: number;
  fsyncsPerSec: number;
  entriesPerFsync: number;
  p50Ms: number;
  p99Ms: number;
  /** Share of the wall time the log-writer thread spent inside sync batch writes. */
  writerBusyPct: number;
  /** Mean time of one sync batch write (write + fsync), in ms. */
  syncMs: number;
  /** Submits that waited for queue space (backpressure engaged). */
  waits: number;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

function readyOf(index: number, term: number, data: Uint8Array): Ready {
  return {
    seq: 0, softState: null, hardState: { term, vote: 1, commit: index - 1 },
    entries: [{ index, term, type: EntryType.Normal, data }], snapshot: null,
    committedEntries: [], messages: [], messagesAfterPersist: [], readStates: [], mustSync: true,
  };
}

type Mode = 'per-group' | 'cycle' | 'one-sync';

async function run(args: Args, groups: number, mode: Mode): Promise<Result> {
  const dir = mkdtempSync(join(args.dir, 'rangekv-logwriter-bench-'));
  const engine = await StorageEngine.open(dir, { limits: mode === 'one-sync' ? { maxRequestsPerSync: 1 } : {} });
  try {
    const creates: Promise<unknown>[] = [];
    for (let g = 1; g <= groups; g++) {
      creates.push(engine.createRange({
        descriptor: {
          rangeId: g, startKey: Buffer.from(`r${g}`), endKey: Buffer.from(`r${g}~`), epoch: { confVer: 1, version: 1 },
          replicas: [{ storeId: 1, replicaId: 1, role: ReplicaRole.Voter }],
        },
        confState: { voters: [1], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false },
      }));
    }
    await Promise.all(creates);
    const data = new Uint8Array(args.entryBytes).fill(7);
    const next = new Array<number>(groups + 1).fill(2);
    const latencies = new Float64Array(4_000_000);
    let nLat = 0;
    let measuring = false;
    let stopping = false;
    let entries = 0;
    const writer = (g: number): Promise<void> => new Promise((resolveDone) => {
      const loop = (): void => {
        if (stopping) { resolveDone(); return; }
        const t0 = performance.now();
        engine.persistReady(g, readyOf(next[g]!, 1, data)).then(() => {
          next[g]!++;
          if (measuring) {
            entries++;
            if (nLat < latencies.length) latencies[nLat++] = performance.now() - t0;
          }
          loop();
        }, (e: unknown) => { console.error(e); process.exit(1); });
      };
      loop();
    });
    // The scheduler-like loop: one ReadyBatch per cycle over the groups with nothing in flight.
    const busy = new Uint8Array(groups + 1);
    const cycles = async (): Promise<void> => {
      const inflight = new Set<Promise<void>>();
      while (!stopping) {
        const batch = engine.readyBatch();
        const members: number[] = [];
        for (let g = 1; g <= groups; g++) {
          if (busy[g]) continue;
          batch.add(g, readyOf(next[g]!, 1, data));
          busy[g] = 1;
          members.push(g);
        }
        if (members.length === 0) {
          await Promise.race(inflight);
          continue;
        }
        const t0 = performance.now();
        const p: Promise<void> = batch.submit().then(() => {
          const dt = performance.now() - t0;
          for (const g of members) {
            next[g]!++;
            busy[g] = 0;
            if (measuring) {
              entries++;
              if (nLat < latencies.length) latencies[nLat++] = dt;
            }
          }
          inflight.delete(p);
        });
        inflight.add(p);
        if (inflight.size >= 2) await Promise.race(inflight);
      }
      await Promise.all(inflight);
    };
    const done: Promise<void>[] = [];
    if (mode === 'cycle') done.push(cycles());
    else for (let g = 1; g <= groups; g++) done.push(writer(g));
    await new Promise((r) => setTimeout(r, Math.min(1000, args.seconds * 200))); // warm up
    const st0 = engine.writerStats();
    measuring = true;
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, args.seconds * 1000));
    measuring = false;
    const elapsed = (performance.now() - t0) / 1000;
    const st1 = engine.writerStats();
    stopping = true;
    await Promise.all(done);
    const syncs = st1.syncs - st0.syncs;
    const lat = latencies.slice(0, nLat).sort();
    return {
      groups,
      entriesPerSec: Math.round(entries / elapsed),
      fsyncsPerSec: Math.round(syncs / elapsed),
      entriesPerFsync: Math.round((entries / Math.max(1, syncs)) * 10) / 10,
      p50Ms: Math.round(percentile(lat, 0.5) * 1000) / 1000,
      p99Ms: Math.round(percentile(lat, 0.99) * 1000) / 1000,
      writerBusyPct: Math.round(((st1.syncMicrosTotal - st0.syncMicrosTotal) / 1e6 / elapsed) * 1000) / 10,
      syncMs: Math.round(((st1.syncMicrosTotal - st0.syncMicrosTotal) / 1000 / Math.max(1, syncs)) * 1000) / 1000,
      waits: st1.waits - st0.waits,
    };
  } finally {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function pad(s: string | number, n: number): string {
  return String(s).padStart(n);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  console.log(`log-writer bench: ${args.entryBytes}-byte entries, ${args.seconds}s per run, dir ${args.dir}, ${cpus().length} cpus`);
  const rows: { groups: number; perGroup: Result; cycle: Result; oneSyncPerEntry: Result; ratio: number }[] = [];
  const head = `${pad('groups', 6)} ${pad('load', 9)} | ${pad('entries/s', 9)} ${pad('fsyncs/s', 8)} ${pad('ent/fsync', 9)} ${pad('sync ms', 8)} ${pad('busy%', 6)} ${pad('p50 ms', 8)} ${pad('p99 ms', 8)} | ${pad('ratio', 5)}`;
  console.log(head);
  console.log('-'.repeat(head.length));
  const line = (g: number, mode: Mode, r: Result, ratio: string): void => {
    console.log(`${pad(g, 6)} ${pad(mode, 9)} | ${pad(r.entriesPerSec, 9)} ${pad(r.fsyncsPerSec, 8)} ${pad(r.entriesPerFsync, 9)} ${pad(r.syncMs.toFixed(2), 8)} ${pad(r.writerBusyPct.toFixed(1), 6)} ${pad(r.p50Ms.toFixed(2), 8)} ${pad(r.p99Ms.toFixed(2), 8)} | ${pad(ratio, 5)}`);
  };
  for (const g of args.groups) {
    const perGroup = await run(args, g, 'per-group');
    const cycle = await run(args, g, 'cycle');
    const one = await run(args, g, 'one-sync');
    const ratio = Math.round((perGroup.entriesPerSec / Math.max(1, one.entriesPerSec)) * 10) / 10;
    rows.push({ groups: g, perGroup, cycle, oneSyncPerEntry: one, ratio });
    line(g, 'per-group', perGroup, `${ratio}x`);
    line(g, 'cycle', cycle, '');
    line(g, 'one-sync', one, '1x');
  }
  const out = {
    machine: { node: process.version, cpus: cpus().length, dir: args.dir },
    seconds: args.seconds,
    entryBytes: args.entryBytes,
    rows,
  };
  mkdirSync(dirname(args.out), { recursive: true });
  writeFileSync(args.out, JSON.stringify(out, null, 2) + '\n');
  console.log(`wrote ${args.out}`);
}

await main();
