// The coordinator's side of kv-vs-etcd's load: N forked client processes
// (kv-vs-etcd-client.ts), so that one Node process's CPU (grpc-js + protobufjs, ~300-400 µs
// per request) does not cap what the servers are measured at. Each level's in-flight
// requests are shared out over the processes (16 over 2: 8 each; 1 over 2: 1 and 0, the
// idle one still reports its CPU); the coordinator times one warm-up and one measured
// window for all of them, reads the servers' CPU over its window, and merges: ops/s is
// the sum of each process's ops over its own window, percentiles are of the union of every
// process's latencies.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { FromClient, ToClient } from './kv-vs-etcd-ipc.js';
import { quantile, serversCpuSeconds, type ClientSpec, type Op, type SystemUnderTest, type WindowResult } from './kv-vs-etcd-load.js';
import type { Progress } from './progress.js';

const CLIENT_MAIN = fileURLToPath(new URL('./kv-vs-etcd-client.js', import.meta.url));
/** connect (rangekv: a ListRanges of every store; dev: PD's range table) and close, ms. */
const connectTimeoutMs = 60_000;
/** A client's answer to start or stop (stop waits for its in-flight requests to end), ms. */
const answerTimeoutMs = 60_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

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
  /** The coordinator's measured window. */
  seconds: number;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  /** All client processes' CPU over the window, in % of one core (the sum of clientCpuPctByProcess). */
  clientCpuPct: number;
  /** Each client process's CPU over its window, % of one core. */
  clientCpuPctByProcess: number[];
  /** The requests in flight each client process ran. */
  inflightByProcess: number[];
  /** All client processes' CPU per op, µs. */
  clientCpuMicrosPerOp: number;
  /** The coordinator's own CPU over the window (it only waits), % of one core. */
  coordinatorCpuPct: number;
  /** All server processes' CPU over the window, in % of one core (null: not available). */
  serverCpuPct: number | null;
  /** All server processes' CPU per op, µs (null: not available). */
  serverCpuMicrosPerOp: number | null;
  errors: number;
  /** Gets that found no value (should be 0 after the preload). */
  misses: number;
}

/** `inflight` requests over `n` processes: as even as it gets, the first ones one more. */
export function shareOut(inflight: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => Math.floor(inflight / n) + (i < inflight % n ? 1 : 0));
}

/** One forked client and the answers it owes. */
class ClientProcess {
  readonly proc: ChildProcess;
  private readonly inbox: FromClient[] = [];
  private waiter: { resolve: (m: FromClient) => void; reject: (e: Error) => void } | null = null;
  private failure: Error | null = null;
  private readonly exited: Promise<void>;

  constructor(readonly index: number) {
    this.proc = fork(CLIENT_MAIN, [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.proc.on('message', (m: FromClient) => {
      if (m.type === 'error') this.fail(new Error(`client process ${index}: ${m.message}`));
      else if (this.waiter) {
        this.waiter.resolve(m);
        this.waiter = null;
      } else this.inbox.push(m);
    });
    this.exited = new Promise((resolve) => {
      this.proc.once('exit', (code, signal) => {
        this.fail(new Error(`client process ${index} exited (${signal ?? code})`));
        resolve();
      });
    });
  }

  private fail(e: Error): void {
    this.failure ??= e;
    this.waiter?.reject(this.failure);
    this.waiter = null;
  }

  send(m: ToClient): void {
    if (this.failure) throw this.failure;
    this.proc.send(m);
  }

  /** The next answer, which must be of `type`. */
  async next<T extends FromClient['type']>(type: T, timeoutMs: number): Promise<Extract<FromClient, { type: T }>> {
    const queued = this.inbox.shift();
    const m = queued ?? await new Promise<FromClient>((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new Error(`client process ${this.index}: no ${type} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiter = {
        resolve: (x) => { clearTimeout(timer); resolve(x); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      };
    });
    if (m.type !== type) throw new Error(`client process ${this.index}: expected ${type}, got ${m.type}`);
    return m as Extract<FromClient, { type: T }>;
  }

  /** Ends the process (if still running) and waits for its exit. */
  async kill(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
    await this.exited;
  }

  async closed(): Promise<void> {
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 5_000);
    await this.exited;
    clearTimeout(t);
  }
}

/** N client processes connected to one running system. */
export class ClientProcesses {
  private constructor(private readonly clients: ClientProcess[]) {}

  /** Forks `n` clients and connects each to the system. */
  static async start(n: number, spec: ClientSpec, keyspace: { keys: number; valueBytes: number }): Promise<ClientProcesses> {
    const clients = Array.from({ length: n }, (_, i) => new ClientProcess(i + 1));
    const all = new ClientProcesses(clients);
    try {
      for (const c of clients) c.send({ type: 'connect', spec, ...keyspace });
      await Promise.all(clients.map((c) => c.next('connected', connectTimeoutMs)));
    } catch (e) {
      await all.kill();
      throw e;
    }
    return all;
  }

  get pids(): number[] {
    return this.clients.map((c) => c.proc.pid ?? 0);
  }

  get count(): number {
    return this.clients.length;
  }

  /** One level: warm-up, then the measured window, over every client at once. */
  async runLevel(sut: SystemUnderTest, spec: LoadSpec, progress: Progress): Promise<LevelResult> {
    const shares = shareOut(spec.inflight, this.clients.length);
    const what = `${spec.op} ${spec.inflight} in flight`;
    this.clients.forEach((c, i) => c.send({ type: 'start', op: spec.op, inflight: shares[i]! }));
    await Promise.all(this.clients.map((c) => c.next('started', answerTimeoutMs)));
    const t0 = performance.now();
    const stopTicking = progress.every(1000, () => {
      const s = (performance.now() - t0) / 1000;
      return s < spec.warmupMs / 1000
        ? `${what}: warm-up ${Math.floor(s)}/${spec.warmupMs / 1000} s`
        : `${what}: load ${Math.floor(s - spec.warmupMs / 1000)}/${spec.measureMs / 1000} s`;
    });
    let results: WindowResult[];
    let seconds: number;
    let cpu: NodeJS.CpuUsage;
    let srv0: number | null;
    let srv1: number | null;
    try {
      await sleep(spec.warmupMs);
      const cpu0 = process.cpuUsage();
      srv0 = serversCpuSeconds(sut.serverPids());
      const w0 = performance.now();
      for (const c of this.clients) c.send({ type: 'measure' });
      await sleep(spec.measureMs);
      for (const c of this.clients) c.send({ type: 'stop' });
      seconds = (performance.now() - w0) / 1000;
      srv1 = serversCpuSeconds(sut.serverPids());
      cpu = process.cpuUsage(cpu0);
      results = (await Promise.all(this.clients.map((c) => c.next('result', answerTimeoutMs)))).map((m) => m.result);
    } finally {
      stopTicking();
      progress.done();
    }
    return merge(spec, results, seconds, cpu, srv0 !== null && srv1 !== null ? srv1 - srv0 : null);
  }

  /** Closes every client (its target first) and returns their summed counters. */
  async close(): Promise<Record<string, number>> {
    const stats: Record<string, number> = {};
    try {
      for (const c of this.clients) c.send({ type: 'close' });
      for (const c of this.clients) {
        const m = await c.next('closed', connectTimeoutMs);
        for (const [k, v] of Object.entries(m.stats)) stats[k] = (stats[k] ?? 0) + v;
      }
      await Promise.all(this.clients.map((c) => c.closed()));
    } finally {
      await this.kill();
    }
    return stats;
  }

  /** Kills whatever client is still running (errors, Ctrl-C); idempotent. */
  async kill(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.kill()));
  }
}

function merge(spec: LoadSpec, results: WindowResult[], seconds: number, cpu: NodeJS.CpuUsage, serverCpuSec: number | null): LevelResult {
  const n = results.reduce((a, r) => a + r.ops, 0);
  const all = new Float64Array(n);
  let at = 0;
  for (const r of results) {
    all.set(r.latenciesMs, at);
    at += r.latenciesMs.length;
  }
  const sorted = all.sort();
  const opsPerSec = results.reduce((a, r) => a + (r.seconds > 0 ? r.ops / r.seconds : 0), 0);
  const clientCpuPctByProcess = results.map((r) => (r.seconds > 0 ? r.cpuMicros / 1e4 / r.seconds : 0));
  const clientCpuMicros = results.reduce((a, r) => a + r.cpuMicros, 0);
  return {
    op: spec.op,
    inflight: spec.inflight,
    ops: n,
    seconds,
    opsPerSec,
    p50Ms: quantile(sorted, 0.5),
    p99Ms: quantile(sorted, 0.99),
    p999Ms: quantile(sorted, 0.999),
    maxMs: n > 0 ? sorted[n - 1]! : 0,
    clientCpuPct: clientCpuPctByProcess.reduce((a, b) => a + b, 0),
    clientCpuPctByProcess,
    inflightByProcess: results.map((r) => r.inflight),
    clientCpuMicrosPerOp: n > 0 ? clientCpuMicros / n : 0,
    coordinatorCpuPct: ((cpu.user + cpu.system) / 1e4) / seconds,
    serverCpuPct: serverCpuSec === null ? null : (100 * serverCpuSec) / seconds,
    serverCpuMicrosPerOp: serverCpuSec === null || n === 0 ? null : (serverCpuSec * 1e6) / (opsPerSec * seconds),
    errors: results.reduce((a, r) => a + r.errors, 0),
    misses: results.reduce((a, r) => a + r.misses, 0),
  };
}
