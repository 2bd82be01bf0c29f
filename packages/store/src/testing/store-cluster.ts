// Several real StoreServers in one process for tests: real engines in temp dirs, real
// transports on 127.0.0.1 (ephemeral ports, addresses shared through one map), one
// shared TransportFaults, fast ticks. Range r covers keys from rangeKeyPrefix(r) up to
// rangeKeyPrefix(r + 1) (the first and last are open), replicas on every store with
// replica id = store id, epoch {confVer: 1, version: 1}.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConfState } from '@rangekv/raft';
import { metapb, ReplicaRole, type RangeDescriptor } from '@rangekv/proto';
import { StorageEngine } from '@rangekv/storage';
import { TransportFaults } from '@rangekv/transport';
import { claimDataDir } from '../bootstrap.js';
import type { StoreLimits } from '../limits.js';
import { silentLogger } from '@rangekv/runtime';
import { StoreServer, type RaftTuning, type StoreServerOptions } from '../store-server.js';
import { rangeKeyPrefix } from '@rangekv/multiraft/testing/local-cluster';

const enc = new TextEncoder();

export interface StoreClusterOptions {
  stores?: number;
  ranges?: number;
  tickMs?: number;
  limits?: Partial<StoreLimits>;
  raft?: RaftTuning;
  /** Quiescence and store liveness knobs (StoreServerOptions); quiescence defaults on. */
  quiescence?: boolean;
  livenessIntervalMs?: number;
  livenessTimeoutMs?: number;
  /** Stores created without any range (their replicas, still named in every descriptor,
   *  must arrive by message + snapshot). */
  emptyStores?: number[];
  /** Any other StoreServer options, for every store (snapshots, logCompaction, ...). */
  server?: Partial<StoreServerOptions>;
}

export class StoreCluster {
  readonly servers = new Map<number, StoreServer>();
  readonly peers = new Map<number, string>();
  readonly faults = new TransportFaults(7);
  readonly ids: number[];

  private constructor(readonly root: string, private readonly opts: StoreClusterOptions) {
    this.ids = Array.from({ length: opts.stores ?? 3 }, (_, i) => i + 1);
  }

  static async start(opts: StoreClusterOptions = {}): Promise<StoreCluster> {
    const c = new StoreCluster(await mkdtemp(join(tmpdir(), 'rangekv-storecluster-')), opts);
    try {
      const ranges = opts.ranges ?? 1;
      const cs: ConfState = { voters: c.ids.slice(), learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
      for (const id of c.ids) {
        const dir = c.dir(id);
        claimDataDir(dir, id);
        if (opts.emptyStores?.includes(id)) continue;
        const engine = await StorageEngine.open(dir);
        try {
          for (let r = 1; r <= ranges; r++) await engine.createRange({ descriptor: c.descriptor(r), confState: cs });
        } finally {
          await engine.close();
        }
      }
      for (const id of c.ids) await c.startStore(id);
    } catch (e) {
      await c.close();
      throw e;
    }
    return c;
  }

  dir(id: number): string {
    return join(this.root, `store-${id}`);
  }

  descriptor(r: number): RangeDescriptor {
    const ranges = this.opts.ranges ?? 1;
    return {
      rangeId: r,
      startKey: r === 1 ? new Uint8Array(0) : enc.encode(rangeKeyPrefix(r)),
      endKey: r === ranges ? new Uint8Array(0) : enc.encode(rangeKeyPrefix(r + 1)),
      epoch: { confVer: 1, version: 1 },
      replicas: this.ids.map((sid) => ({ storeId: sid, replicaId: sid, role: ReplicaRole.Voter })),
    };
  }

  async startStore(id: number): Promise<StoreServer> {
    const s = await StoreServer.start({
      ...(this.opts.server ?? {}),
      storeId: id, dataDir: this.dir(id), resolve: (sid) => this.peers.get(sid),
      tickMs: this.opts.tickMs ?? 20, electionTimeoutTicks: 10, heartbeatIntervalTicks: 2,
      ...(this.opts.limits ? { limits: this.opts.limits } : {}),
      ...(this.opts.raft ? { raft: this.opts.raft } : {}),
      ...(this.opts.quiescence !== undefined ? { quiescence: this.opts.quiescence } : {}),
      ...(this.opts.livenessIntervalMs !== undefined ? { livenessIntervalMs: this.opts.livenessIntervalMs } : {}),
      ...(this.opts.livenessTimeoutMs !== undefined ? { livenessTimeoutMs: this.opts.livenessTimeoutMs } : {}),
      transportFaults: this.faults, log: silentLogger,
      transportLimits: { initialBackoffMs: 10, maxBackoffMs: 200 },
    });
    this.servers.set(id, s);
    this.peers.set(id, `127.0.0.1:${s.raftPort}`);
    return s;
  }

  /** Graceful stop; `transferLeaders` (default true) moves its leaderships away first. */
  async stopStore(id: number, opts: { transferLeaders?: boolean } = {}): Promise<void> {
    const s = this.servers.get(id);
    if (!s) return;
    this.servers.delete(id);
    await s.stop(opts);
  }

  server(id: number): StoreServer {
    const s = this.servers.get(id);
    if (!s) throw new Error(`store ${id} is not running`);
    return s;
  }

  /** The running store whose replica leads `rangeId` (by its own soft state), if any. */
  leader(rangeId = 1): StoreServer | undefined {
    for (const s of this.servers.values()) if (s.scheduler.get(rangeId)?.isLeader) return s;
    return undefined;
  }

  async waitForLeader(rangeId = 1, except?: number): Promise<StoreServer> {
    let found: StoreServer | undefined;
    await this.waitFor(`a leader of range ${rangeId}`, () => {
      found = this.leader(rangeId);
      return found !== undefined && found.storeId !== except;
    });
    return found!;
  }

  followers(rangeId = 1): StoreServer[] {
    return [...this.servers.values()].filter((s) => !s.scheduler.get(rangeId)?.isLeader);
  }

  header(rangeId = 1, readConsistency: metapb.ReadConsistency = metapb.ReadConsistency.LINEARIZABLE): metapb.RequestHeader.$Properties {
    return { rangeId, epoch: { confVer: 1, version: 1 }, readConsistency };
  }

  async waitFor(what: string, cond: () => boolean, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      for (const s of this.servers.values()) if (s.fatal !== null) throw s.fatal;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Polls an async condition (e.g. a read) until it holds. */
  async eventually(what: string, cond: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await cond())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async close(): Promise<void> {
    this.faults.reset();
    await Promise.allSettled([...this.servers.keys()].map((id) => this.stopStore(id, { transferLeaders: false })));
    await rm(this.root, { recursive: true, force: true });
  }
}

type RangeErr = { notLeader?: unknown; serverBusy?: unknown; message?: string | null } | null | undefined;

/**
 * Runs `call` on the range's current leader and tries again while leadership moves
 * (NotLeader) or the range is busy (ServerBusy): a loaded machine can stall the process
 * past an election timeout (200 ms here), and an election is not what these tests are about.
 */
export async function onLeader<R extends { rangeError?: RangeErr }>(c: StoreCluster, rangeId: number, call: (leader: StoreServer) => Promise<R>): Promise<R> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await call(await c.waitForLeader(rangeId));
    const re = res.rangeError;
    if (!re || !(re.serverBusy || re.notLeader) || Date.now() > deadline) return res;
    await new Promise((r) => setTimeout(r, 20));
  }
}
