// The workload of kv-vs-etcd, identical for every system: closed loops (each awaits its
// request, then sends the next) picking keys uniformly from a fixed keyspace, against a
// `KvTarget`, the one thing a system adapter implements. The loops run in client
// processes (kv-vs-etcd-client.ts, driven by kv-vs-etcd-clients.ts), each of which builds
// its own target from the system's `ClientSpec`. Latencies are measured client-side per
// request (send to answer, retries included) over a measured window that follows a
// warm-up; CPU is each client process's (process.cpuUsage) and the servers' (Linux
// /proc/<pid>/stat, 10 ms ticks).
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

/**
 * How a client process connects to a running system (plain data: it crosses the IPC
 * channel): etcd members' endpoints, rangekv stores' KV addresses, or PD's address.
 */
export type ClientSpec =
  | { kind: 'etcd'; endpoints: string[] }
  | { kind: 'rangekv'; stores: [storeId: number, kvAddress: string][] }
  | { kind: 'dev'; pd: string };

/** A running system: its target (the preload's) plus what the bench reports about its servers. */
export interface SystemUnderTest {
  name: string;
  target: KvTarget;
  /** What each load client process connects with. */
  client: ClientSpec;
  /** Server process ids (their CPU is read from /proc); empty when unknown. */
  serverPids(): number[];
  /** The processes that hold the data (stores, etcd members; not PD): their RSS is reported. */
  memberPids(): number[];
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

const CLOCK_TICKS_PER_SEC = 100;

/** utime + stime of a process in seconds, null if it cannot be read. */
export function procCpuSeconds(pid: number): number | null {
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

/** Resident set size of a process in MiB (/proc/<pid>/status VmRSS), or null when unreadable. */
export function procRssMiB(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : null;
  } catch {
    return null;
  }
}

export function serversCpuSeconds(pids: number[]): number | null {
  if (pids.length === 0) return null;
  let sum = 0;
  for (const pid of pids) {
    const s = procCpuSeconds(pid);
    if (s === null) return null;
    sum += s;
  }
  return sum;
}

export function quantile(sorted: Float64Array, q: number): number {
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
 * (`singleInflight` at a time); `progress` gets the keys written so far. Returns the
 * seconds it took.
 */
export async function preload(
  target: KvTarget, ks: Keyspace, progress: (keys: number) => void = () => {}, batchInflight = 16, singleInflight = 256, batchKeys = 100,
): Promise<number> {
  const t0 = performance.now();
  const step = target.putBatch ? batchKeys : 1;
  const inflight = target.putBatch ? batchInflight : singleInflight;
  let next = 0;
  let written = 0;
  await Promise.all(Array.from({ length: inflight }, async () => {
    while (next < ks.count) {
      const from = next;
      next = Math.min(ks.count, next + step);
      const to = next;
      for (let attempt = 0; ; attempt++) {
        try {
          if (target.putBatch) await target.putBatch(ks.keys.slice(from, to).map((key) => ({ key, value: ks.value })));
          else await target.put(ks.keys[from]!, ks.value);
          written += to - from;
          progress(written);
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

/** What one client process measured over one window. */
export interface WindowResult {
  inflight: number;
  ops: number;
  errors: number;
  /** Gets that found no value (should be 0 after the preload). */
  misses: number;
  /** The window as this process saw it (measure() to stop()). */
  seconds: number;
  /** This process's CPU (all threads) over the window, µs. */
  cpuMicros: number;
  /** One latency per op of the window, ms, in completion order. */
  latenciesMs: Float64Array;
}

/**
 * `inflight` closed loops of one op against a target: start() runs them (warm-up: nothing
 * is counted), measure() opens the measured window, stop() closes it, ends the loops and
 * reports. One instance per level.
 */
export class ClosedLoops {
  private measuring = false;
  private stopped = false;
  private ops = 0;
  private errors = 0;
  private misses = 0;
  private lat = new Float64Array(1 << 16);
  private loops: Promise<void>[] = [];
  private cpu0: NodeJS.CpuUsage | null = null;
  private w0 = 0;

  constructor(private readonly target: KvTarget, private readonly ks: Keyspace, private readonly op: Op, private readonly inflight: number) {}

  start(): void {
    if (this.loops.length > 0) throw new Error('ClosedLoops started twice');
    this.loops = Array.from({ length: this.inflight }, () => this.loop());
  }

  measure(): void {
    if (this.cpu0 !== null) throw new Error('ClosedLoops measured twice');
    this.cpu0 = process.cpuUsage();
    this.w0 = performance.now();
    this.measuring = true;
  }

  async stop(): Promise<WindowResult> {
    if (this.cpu0 === null) throw new Error('ClosedLoops stopped before measure()');
    this.measuring = false;
    const seconds = (performance.now() - this.w0) / 1000;
    const cpu = process.cpuUsage(this.cpu0);
    this.stopped = true;
    await Promise.all(this.loops);
    return {
      inflight: this.inflight, ops: this.ops, errors: this.errors, misses: this.misses, seconds,
      cpuMicros: cpu.user + cpu.system, latenciesMs: this.lat.slice(0, this.ops),
    };
  }

  private record(ms: number): void {
    if (this.ops === this.lat.length) {
      const bigger = new Float64Array(this.lat.length * 2);
      bigger.set(this.lat);
      this.lat = bigger;
    }
    this.lat[this.ops++] = ms;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const key = this.ks.random();
      const t0 = performance.now();
      try {
        if (this.op === 'put') {
          await this.target.put(key, this.ks.value);
        } else {
          const v = await this.target.get(key);
          if (v === null && this.measuring) this.misses++;
        }
      } catch {
        if (this.measuring) this.errors++;
        await sleep(10);
        continue;
      }
      if (this.measuring) this.record(performance.now() - t0);
    }
  }
}
