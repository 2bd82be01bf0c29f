// groups-per-node: three real store processes (store-main) in a temp dir, their pids,
// /proc CPU and RSS, /metrics scrapes, and kill -9 + restart of one store.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StoreProcess, type StoreProcessOptions } from '@rangekv/store/testing/store-process';

export const STORE_IDS: readonly number[] = [1, 2, 3];

export interface StoreTiming {
  tickMs: number | null;
  electionTicks: number | null;
  heartbeatTicks: number | null;
}

const CLOCK_TICKS_PER_SECOND = ((): number => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of a process, in seconds (/proc/<pid>/stat). */
export function procCpuSeconds(pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at field 3 (state).
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLOCK_TICKS_PER_SECOND;
}

/** VmRSS of a process, in bytes (/proc/<pid>/status). */
export function procRssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/** Prometheus text -> value per metric name (summed over label sets) and per series (`name{labels}`). */
export async function scrapeMetrics(httpPort: number): Promise<Map<string, number>> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/metrics`);
  const text = await res.text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    const brace = line.indexOf('{');
    const name = brace >= 0 && brace < sp ? line.slice(0, brace) : line.slice(0, sp);
    const v = Number(line.slice(sp + 1));
    if (!Number.isFinite(v)) continue;
    out.set(name, (out.get(name) ?? 0) + v);
    if (brace >= 0 && brace < sp) out.set(line.slice(0, sp), v);
  }
  return out;
}

/** The preload that profiles a store (node refuses --cpu-prof in NODE_OPTIONS). */
const PROFILER_PRELOAD = fileURLToPath(new URL('./groups-per-node-cpu-prof.js', import.meta.url));

function restoreEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

/**
 * Profiles store `storeId` from its start, and the store restarted by killAndRestart,
 * into `dir` as `store<id>-<tag>.cpuprofile` / `store<id>-restart-<tag>.cpuprofile`
 * (written when they stop gracefully, at destroy()).
 */
export interface CpuProfileOption {
  storeId: number;
  dir: string;
  tag: string;
}

/** Spawns a store; with `profileFile`, under the profiler preload. */
function spawnStore(o: StoreProcessOptions, profileFile: string | null): Promise<StoreProcess> {
  // spawn() starts the child synchronously, so the environment is set for that child only.
  const saved = { opts: process.env.NODE_OPTIONS, file: process.env.RANGEKV_CPU_PROF_FILE };
  if (profileFile !== null) {
    process.env.NODE_OPTIONS = `${saved.opts ?? ''} --import ${PROFILER_PRELOAD}`.trim();
    process.env.RANGEKV_CPU_PROF_FILE = profileFile;
  }
  try {
    return StoreProcess.spawn(o);
  } finally {
    restoreEnv('NODE_OPTIONS', saved.opts);
    restoreEnv('RANGEKV_CPU_PROF_FILE', saved.file);
  }
}

export class BenchCluster {
  readonly procs = new Map<number, StoreProcess>();
  private readonly spawned: StoreProcess[] = [];
  private readonly profiled: StoreProcess[] = [];
  /** Profile files written (or to be written at destroy()). */
  readonly profileFiles: string[] = [];

  private constructor(readonly root: string, private readonly timing: StoreTiming, private readonly profile: CpuProfileOption | null, private readonly storeArgs: readonly string[]) {}

  private extraArgs(): string[] {
    const a = ['--log-level', 'warn', '--http-port', '0', ...this.storeArgs];
    if (this.timing.tickMs !== null) a.push('--tick-ms', String(this.timing.tickMs));
    if (this.timing.electionTicks !== null) a.push('--election-ticks', String(this.timing.electionTicks));
    if (this.timing.heartbeatTicks !== null) a.push('--heartbeat-ticks', String(this.timing.heartbeatTicks));
    return a;
  }

  private dataDir(id: number): string {
    return join(this.root, `store-${id}`);
  }

  /** Bootstraps and starts three stores (ports 0, then the peers exchange over stdin); `storeArgs` go to every store. */
  static async start(root: string, timing: StoreTiming, profile: CpuProfileOption | null = null, storeArgs: readonly string[] = []): Promise<BenchCluster> {
    await mkdir(root, { recursive: true });
    const c = new BenchCluster(root, timing, profile, storeArgs);
    try {
      const started = await Promise.allSettled(STORE_IDS.map(async (id) => {
        const file = profile?.storeId === id ? join(profile.dir, `store${id}-${profile.tag}.cpuprofile`) : null;
        const p = await spawnStore({ storeId: id, dataDir: c.dataDir(id), bootstrap: [...STORE_IDS], extraArgs: c.extraArgs() }, file);
        c.spawned.push(p);
        c.procs.set(id, p);
        if (file !== null) {
          c.profiled.push(p);
          c.profileFiles.push(file);
        }
      }));
      for (const s of started) if (s.status === 'rejected') throw s.reason;
      await c.exchangePeers();
    } catch (e) {
      await c.destroy();
      throw e;
    }
    return c;
  }

  async exchangePeers(): Promise<void> {
    const running = [...this.procs].filter(([, p]) => p.running);
    const peers = new Map(running.map(([id, p]) => [id, p.raftAddress] as [number, string]));
    await Promise.all(running.map(([, p]) => p.setPeers(peers)));
  }

  proc(id: number): StoreProcess {
    const p = this.procs.get(id);
    if (!p) throw new Error(`no store ${id}`);
    return p;
  }

  pid(id: number): number {
    const pid = this.proc(id).proc.pid;
    if (pid === undefined) throw new Error(`store ${id} has no pid`);
    return pid;
  }

  httpPort(id: number): number {
    const port = this.proc(id).httpPort;
    if (port === null) throw new Error(`store ${id} has no HTTP port`);
    return port;
  }

  kvAddress(id: number): string {
    return this.proc(id).kvAddress;
  }

  /**
   * kill -9 of one store, then a restart on the same data dir (no --bootstrap). Returns
   * the time from spawn to its ready line and the spawn time (performance.now()); the
   * peers exchange follows (new raft port).
   */
  async killAndRestart(id: number, readyTimeoutMs: number): Promise<{ readyMs: number; peersMs: number; spawnedAt: number }> {
    const old = this.proc(id);
    old.kill('SIGKILL');
    await old.exited;
    const t0 = performance.now();
    const file = this.profile ? join(this.profile.dir, `store${id}-restart-${this.profile.tag}.cpuprofile`) : null;
    const p = await spawnStore({ storeId: id, dataDir: this.dataDir(id), extraArgs: this.extraArgs(), readyTimeoutMs }, file);
    const readyMs = performance.now() - t0;
    this.spawned.push(p);
    if (file !== null) {
      this.profiled.push(p);
      this.profileFiles.push(file);
    }
    this.procs.set(id, p);
    await this.exchangePeers();
    return { readyMs, peersMs: performance.now() - t0, spawnedAt: t0 };
  }

  /** Kills every process this cluster spawned and removes the data dirs. */
  async destroy(): Promise<void> {
    // A profiled store writes its profile only on a graceful exit.
    await Promise.all(this.profiled.filter((p) => p.running).map((p) => p.stop('SIGTERM', 60_000)));
    for (const p of this.spawned) p.kill('SIGKILL');
    await Promise.all(this.spawned.map((p) => p.exited));
    await rm(this.root, { recursive: true, force: true });
  }
}
