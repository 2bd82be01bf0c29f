// The workload of kv-vs-etcd, identical for every system: closed-loop clients (each
// awaits its request, then sends the next) picking keys uniformly from a fixed keyspace,
// against a `KvTarget`, the one thing a system adapter implements. Latencies are measured
// client-side per request (send to answer, retries included), over a measured window that
// follows a warm-up; CPU is this client process's (process.cpuUsage) and the servers'
// (Linux /proc/<pid>/stat, 10 ms ticks).
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** What a system under test offers the load: single-key put and linearizable get. */
export interface KvTarget {
  put(key: Uint8Array, value: Uint8Array): Promise<void>;
  /** Linearizable read; null when the key does not exist. */
  get(key: Uint8Array): Promise<Uint8Array | null>;
  /** Optional, used by the untimed preload only: puts many pairs in few requests. */
  putBatch?(pairs: readonly { key: Uint8Array; value: Uint8Array }[]): Promise<void>;
  close(): void | Promise<void>;
}

/** A running system: its target plus what the bench reports about its servers. */
export interface SystemUnderTest {
  name: string;
  target: KvTarget;
  /** Server process ids (their CPU is read from /proc); empty when unknown. */
  serverPids(): number[];
  /** Stops every server process and removes its data; idempotent. */
  stop(): Promise<void>;
  /** Free-form facts for the JSON (ranges, leaders, versions). */
  info: Record<string, unknown>;
}

/**
 * Stop functions of every cluster started and not yet stopped, registered as soon as the
 * first process is spawned, so that Ctrl-C during a (long) start still cleans up.
 */
export const runningClusters = new Set<() => Promise<void>>();

export type Op = 'put' | 'get';

export interface LoadSpec {
  op: Op;
  inflight: number;
  warmupMs: number;
  measureMs: number;
}

export interface LevelResult {
  op: Op;
  inflight: number;
  ops: number;
  seconds: number;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  /** Client process CPU over the window, in % of one core. */
  clientCpuPct: number;
  /** Client process CPU per op, µs. */
  clientCpuMicrosPerOp: number;
  /** All server processes' CPU over the window, in % of one core (null: not available). */
  serverCpuPct: number | null;
  errors: number;
  /** Gets that found no value (should be 0 after the preload). */
  misses: number;
}

const CLOCK_TICKS_PER_SEC = 100;

/** utime + stime of a process in seconds, null if it cannot be read. */
function procCpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // rest[0] is field 3 (state): utime is field 14, stime field 15.
    return (Number(rest[11]) + Number(rest[12])) / CLOCK_TICKS_PER_SEC;
  } catch {
    return null;
  }
}

function serversCpuSeconds(pids: number[]): number | null {
  if (pids.length === 0) return null;
  let sum = 0;
  for (const pid of pids) {
    const s = procCpuSeconds(pid);
    if (s === null) return null;
    sum += s;
  }
  return sum;
}

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The fixed keyspace: `count` 16-byte keys `k` + 15 decimal digits, and one value. */
export class Keyspace {
  readonly keys: Buffer[];
  readonly value: Buffer;

  constructor(readonly count: number, readonly valueBytes: number) {
    this.keys = Array.from({ length: count }, (_, i) => Keyspace.key(i));
    this.value = Buffer.alloc(valueBytes);
    for (let i = 0; i < valueBytes; i++) this.value[i] = (i * 131 + 7) & 0xff;
  }

  static key(i: number): Buffer {
    return Buffer.from(`k${String(i).padStart(15, '0')}`);
  }

  random(): Buffer {
    return this.keys[Math.floor(Math.random() * this.count)]!;
  }
}

/**
 * Puts every key once (untimed): batches of `batchKeys` consecutive keys through
 * putBatch when the target has it (`batchInflight` batches at a time), else single puts
 * (`singleInflight` at a time). Returns the seconds it took.
 */
export async function preload(target: KvTarget, ks: Keyspace, batchInflight = 16, singleInflight = 256, batchKeys = 100): Promise<number> {
  const t0 = performance.now();
  const step = target.putBatch ? batchKeys : 1;
  const inflight = target.putBatch ? batchInflight : singleInflight;
  let next = 0;
  await Promise.all(Array.from({ length: inflight }, async () => {
    while (next < ks.count) {
      const from = next;
      next = Math.min(ks.count, next + step);
      const to = next;
      for (let attempt = 0; ; attempt++) {
        try {
          if (target.putBatch) await target.putBatch(ks.keys.slice(from, to).map((key) => ({ key, value: ks.value })));
          else await target.put(ks.keys[from]!, ks.value);
          break;
        } catch (e) {
          if (attempt >= 20) throw e;
          await sleep(50);
        }
      }
    }
  }));
  return (performance.now() - t0) / 1000;
}

/** One closed-loop level: `inflight` loops for warm-up + measured window. */
export async function runLevel(sut: SystemUnderTest, ks: Keyspace, spec: LoadSpec): Promise<LevelResult> {
  const target = sut.target;
  let measuring = false;
  let stop = false;
  let ops = 0;
  let errors = 0;
  let misses = 0;
  let lat = new Float64Array(1 << 16);
  let n = 0;
  const record = (ms: number): void => {
    if (n === lat.length) {
      const bigger = new Float64Array(lat.length * 2);
      bigger.set(lat);
      lat = bigger;
    }
    lat[n++] = ms;
  };

  const loops = Array.from({ length: spec.inflight }, async () => {
    while (!stop) {
      const key = ks.random();
      const t0 = performance.now();
      try {
        if (spec.op === 'put') {
          await target.put(key, ks.value);
        } else {
          const v = await target.get(key);
          if (v === null && measuring) misses++;
        }
      } catch {
        if (measuring) errors++;
        await sleep(10);
        continue;
      }
      if (measuring) {
        ops++;
        record(performance.now() - t0);
      }
    }
  });

  await sleep(spec.warmupMs);
  const cpu0 = process.cpuUsage();
  const srv0 = serversCpuSeconds(sut.serverPids());
  const w0 = performance.now();
  measuring = true;
  await sleep(spec.measureMs);
  measuring = false;
  const seconds = (performance.now() - w0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const srv1 = serversCpuSeconds(sut.serverPids());
  stop = true;
  await Promise.all(loops);

  const sorted = lat.subarray(0, n).sort();
  const clientCpuSec = (cpu.user + cpu.system) / 1e6;
  return {
    op: spec.op,
    inflight: spec.inflight,
    ops,
    seconds,
    opsPerSec: ops / seconds,
    p50Ms: quantile(sorted, 0.5),
    p99Ms: quantile(sorted, 0.99),
    p999Ms: quantile(sorted, 0.999),
    maxMs: n > 0 ? sorted[n - 1]! : 0,
    clientCpuPct: (100 * clientCpuSec) / seconds,
    clientCpuMicrosPerOp: ops > 0 ? (clientCpuSec * 1e6) / ops : 0,
    serverCpuPct: srv0 !== null && srv1 !== null ? (100 * (srv1 - srv0)) / seconds : null,
    errors,
    misses,
  };
}
