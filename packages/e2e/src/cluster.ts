// A real cluster for end-to-end tests: 1 or 3 PD processes (pd-main) and store processes
// (store-main --pd) on 127.0.0.1 with ephemeral ports, in a temp dir. Stores register
// with PD, learn their peers from it, and PD bootstraps range 1 on the first
// `initialStores`. Everything is killed by close(), whatever happened.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { pdService, type pdpb } from '@rangekv/proto';
import { PdProcess } from '@rangekv/pd/testing/pd-process';
import { StoreProcess } from '@rangekv/store/testing/store-process';
import { withFreshPorts } from './ports.js';

/** Fast raft timing for tests (ms per tick, ticks). */
const FAST_TIMING = ['--tick-ms', '20', '--election-ticks', '10', '--heartbeat-ticks', '2'];
const QUIET_LOGS = ['--log-level', 'warn'];

export interface E2eClusterOptions {
  pdNodes?: 1 | 3;
  stores?: number;
  initialStores?: number;
  /** More store-main flags for every store. */
  storeArgs?: string[];
  /** More store-main flags for one store (e.g. its --labels), after storeArgs. */
  storeArgsFor?: (storeId: number) => string[];
  /**
   * Run PD's leader balance scheduler (default false: e2e tests and benchmarks place
   * leaders themselves, and a scheduler moving them would race their assertions).
   */
  leaderBalance?: boolean;
  /** Run PD's replica checker (default false, for the same reason: tests remove and add replicas themselves). */
  replicaChecker?: boolean;
  /** Run PD's replica balance scheduler (default false, likewise). */
  replicaBalance?: boolean;
  /** Run PD's split checker (default false: tests split where they want). */
  splitChecker?: boolean;
  /** Run PD's hot-range scheduler (default false: tests place leaders themselves). */
  hotBalance?: boolean;
  /** More pd-main flags for every PD node. */
  pdArgs?: string[];
  /** More pd-main flags for one PD node (e.g. its TLS certificate), after pdArgs. */
  pdArgsFor?: (pdId: number) => string[];
  /**
   * Raft timing of every process: 'fast' (default: 20 ms ticks, elections in 200-400 ms)
   * or 'default' (the processes' own defaults, as users run them).
   */
  timing?: 'fast' | 'default';
  /**
   * Keep the processes' logs: every store's and PD's stderr, at info level instead of
   * warn, appended to `logDir/store-<id>.log` / `pd-<id>.log` (restarts append). Created
   * if missing; never removed by close(). Default: only the in-memory tails.
   */
  logDir?: string;
  /** The processes' --log-level with `logDir`; default info. */
  logLevel?: 'debug' | 'info';
}

export class E2eCluster {
  readonly pds: PdProcess[] = [];
  readonly stores = new Map<number, StoreProcess>();
  private readonly spawned: StoreProcess[] = [];
  private nextStoreId = 1;
  private initialStores = 3;
  private storeArgs: readonly string[] = [];
  private storeArgsFor: (storeId: number) => readonly string[] = () => [];
  private pdArgs: readonly string[] = [];
  private pdArgsFor: (pdId: number) => readonly string[] = () => [];
  private timingArgs: readonly string[] = FAST_TIMING;
  private logArgs: readonly string[] = QUIET_LOGS;
  private logDir: string | undefined;

  private constructor(readonly root: string) {}

  static async start(opts: E2eClusterOptions = {}): Promise<E2eCluster> {
    const c = new E2eCluster(await mkdtemp(join(tmpdir(), 'rangekv-e2e-')));
    try {
      const n = opts.pdNodes ?? 1;
      const ids = Array.from({ length: n }, (_, i) => i + 1);
      c.initialStores = opts.initialStores ?? 3;
      c.storeArgs = opts.storeArgs ?? [];
      if (opts.storeArgsFor) c.storeArgsFor = opts.storeArgsFor;
      if (opts.timing === 'default') c.timingArgs = [];
      if (opts.logDir !== undefined) {
        await mkdir(opts.logDir, { recursive: true });
        c.logDir = opts.logDir;
        c.logArgs = ['--log-level', opts.logLevel ?? 'info'];
      }
      c.pdArgs = [...c.timingArgs, ...c.logArgs, '--initial-stores', String(c.initialStores), ...(opts.leaderBalance === true ? [] : ['--no-leader-balance']),
        ...(opts.replicaChecker === true ? [] : ['--no-replica-checker']), ...(opts.replicaBalance === true ? [] : ['--no-replica-balance']),
        ...(opts.splitChecker === true ? [] : ['--no-split-checker']), ...(opts.hotBalance === true ? [] : ['--no-hot-balance']),
        ...(opts.pdArgs ?? [])];
      if (opts.pdArgsFor) c.pdArgsFor = opts.pdArgsFor;
      for (const id of ids) {
        const extra = [...c.pdArgs, ...c.pdArgsFor(id)];
        c.pds.push(await withFreshPorts(2, ([port, raftPort]) => PdProcess.start({
          id, dataDir: join(c.root, `pd-${id}`), port: port!, raftPort: raftPort!, ...(n > 1 ? { peerIds: ids } : {}), extraArgs: extra, ...c.pdLog(id),
        })));
      }
      if (n > 1) await Promise.all(c.pds.map((p) => p.setPeers(c.pds)));
      for (let i = 0; i < (opts.stores ?? 3); i++) await c.addStore();
    } catch (e) {
      await c.close();
      throw e;
    }
    return c;
  }

  private pdLog(id: number): { stderrFile?: string } {
    return this.logDir === undefined ? {} : { stderrFile: join(this.logDir, `pd-${id}.log`) };
  }

  /** Client addresses of the PD nodes still running. */
  pdAddresses(): string[] {
    return this.pds.filter((p) => p.proc.exitCode === null && p.proc.signalCode === null).map((p) => p.address);
  }

  /** Starts store-main --pd with the next store id on a new data dir. */
  async addStore(): Promise<StoreProcess> {
    return this.startStore(this.nextStoreId++);
  }

  /**
   * Starts store `id` on its data dir; `ports` (a restart's old ones) default to fresh ones
   * below the ephemeral range (ports.ts), so that a restart finds them free.
   */
  async startStore(id: number, extraArgs: readonly string[] = this.storeArgs, ports?: { kv: number; raft: number }): Promise<StoreProcess> {
    const start = (kv: number, raft: number): Promise<StoreProcess> => StoreProcess.startWith([
      '--store-id', String(id), '--data-dir', join(this.root, `store-${id}`), '--pd', this.pdAddresses().join(','),
      '--host', '127.0.0.1', '--port', String(kv), '--raft-port', String(raft), ...this.timingArgs, ...this.logArgs, ...extraArgs,
      ...this.storeArgsFor(id)], id, undefined, this.logDir === undefined ? undefined : join(this.logDir, `store-${id}.log`));
    const p = ports ? await start(ports.kv, ports.raft) : await withFreshPorts(2, ([kv, raft]) => start(kv!, raft!));
    this.spawned.push(p);
    this.stores.set(id, p);
    return p;
  }

  /**
   * Kills PD node `i` (index in `pds`, kill -9) and starts it again on its data dir and
   * ports; a member of 3 is sent its peers' addresses again.
   */
  async restartPd(i = 0): Promise<PdProcess> {
    const old = this.pds[i]!;
    old.kill();
    await old.exited;
    return this.startPdAgain(i);
  }

  /** Starts PD node `i` (killed earlier) on its data dir and ports. */
  async startPdAgain(i: number): Promise<PdProcess> {
    const old = this.pds[i]!;
    const members = this.pds.length > 1 ? { peerIds: this.pds.map((p) => p.id) } : {};
    const p = await PdProcess.start({
      id: old.id, dataDir: join(this.root, `pd-${old.id}`), port: old.port, raftPort: old.raftPort, ...members,
      extraArgs: [...this.pdArgs, ...this.pdArgsFor(old.id)], ...this.pdLog(old.id),
    });
    this.pds[i] = p;
    if (this.pds.length > 1) await p.setPeers(this.pds);
    return p;
  }

  /**
   * Starts PD node `id` with --join on a new data dir, given the running members'
   * addresses; it waits to be added (AddPdMember). Joins `pds`.
   */
  async joinPd(id: number): Promise<PdProcess> {
    const running = this.pds.filter((p) => p.proc.exitCode === null && p.proc.signalCode === null);
    const peers = running.map((p) => `${p.id}=127.0.0.1:${p.raftPort}/${p.address}`).join(',');
    const p = await PdProcess.start({
      id, dataDir: join(this.root, `pd-${id}`), extraArgs: [...this.pdArgs, '--join', '--peers', peers, ...this.pdArgsFor(id)], ...this.pdLog(id),
    });
    this.pds.push(p);
    return p;
  }

  /** Starts store `id` again (after killStore) on its data dir and its old ports. */
  async restartStore(id: number): Promise<StoreProcess> {
    const old = this.stores.get(id);
    if (!old) throw new Error(`no store ${id}`);
    if (old.running) throw new Error(`store ${id} is still running`);
    return this.startStore(id, this.storeArgs, { kv: old.kvPort, raft: old.raftPort });
  }

  async killStore(id: number): Promise<void> {
    const p = this.stores.get(id);
    if (!p) return;
    p.kill('SIGKILL');
    await p.exited;
  }

  /** The PD node that says it leads (GetMembers), or undefined during an election. */
  async pdLeader(creds?: grpc.ChannelCredentials): Promise<PdProcess | undefined> {
    for (const p of this.pds) {
      if (p.proc.exitCode !== null || p.proc.signalCode !== null) continue;
      const res = await unary(p.address, pdService.getMembers, {}, creds).catch(() => null);
      const leader = res?.members?.find((m) => m.isLeader);
      if (leader) return this.pds.find((x) => x.id === leader.id);
    }
    return undefined;
  }

  async close(): Promise<void> {
    for (const s of this.spawned) s.kill('SIGKILL');
    for (const p of this.pds) p.kill();
    await Promise.all([...this.spawned.map((s) => s.exited), ...this.pds.map((p) => p.exited)]);
    await rm(this.root, { recursive: true, force: true });
  }
}

export function unary<Req, Res>(
  addr: string, m: { path: string; requestSerialize: (r: Req) => Buffer; responseDeserialize: (b: Buffer) => Res }, req: Req,
  creds: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
): Promise<Res> {
  const client = new grpc.Client(addr, creds);
  return new Promise<Res>((resolve, reject) => {
    client.makeUnaryRequest(m.path, m.requestSerialize, m.responseDeserialize, req, new grpc.Metadata(), { deadline: Date.now() + 2_000 },
      (err: grpc.ServiceError | null, res?: Res) => (err ? reject(err) : resolve(res!)));
  }).finally(() => client.close());
}

export type { pdpb };

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function eventually(what: string, cond: () => Promise<boolean> | boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
