// Several stores in one process for tests of the store's raft driving: real storage
// engines on disk (temp dirs), messages routed in memory (asynchronously, copied), a
// tiny KV state machine ("key=value" entries). Not the production server: that adds the
// transport and the KV/admin services.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EntryType, Prng, RawNode, type ConfState, type Message } from '@rangekv/raft';
import type { RangeDescriptor } from '@rangekv/proto';
import { ColumnFamily, StorageEngine } from '@rangekv/storage';
import { RaftScheduler, type ApplyEntry, type GroupHost } from '../raft-scheduler.js';
import { Replica } from '../replica.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Keys of range r start with this prefix (see LocalCluster.start). */
export function rangeKeyPrefix(r: number): string {
  return `r${String(r).padStart(6, '0')}/`;
}

export interface LocalStore {
  storeId: number;
  dir: string;
  engine: StorageEngine;
  scheduler: RaftScheduler<string>;
  timer: NodeJS.Timeout;
  up: boolean;
}

export class LocalCluster {
  readonly stores = new Map<number, LocalStore>();
  private readonly prng = new Prng(11);
  /** Messages routed between stores (for assertions on traffic). */
  messagesRouted = 0;
  fatal: unknown = null;

  private constructor(readonly root: string, readonly storeIds: number[], readonly tickMs: number) {}

  /**
   * Starts `n` stores hosting `ranges` ranges, every store a voter of each. Range r covers
   * keys from rangeKeyPrefix(r) up to rangeKeyPrefix(r + 1) (the first and last are open).
   */
  static async start(n: number, ranges = 1, tickMs = 5): Promise<LocalCluster> {
    const root = await mkdtemp(join(tmpdir(), 'rangekv-store-'));
    const ids = Array.from({ length: n }, (_, i) => i + 1);
    const c = new LocalCluster(root, ids, tickMs);
    const cs: ConfState = { voters: ids.slice(), learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
    for (const id of ids) {
      const dir = join(root, `store-${id}`);
      const engine = await StorageEngine.open(dir);
      for (let r = 1; r <= ranges; r++) {
        const desc: RangeDescriptor = {
          rangeId: r,
          startKey: r === 1 ? new Uint8Array(0) : enc.encode(rangeKeyPrefix(r)),
          endKey: r === ranges ? new Uint8Array(0) : enc.encode(rangeKeyPrefix(r + 1)),
          epoch: { confVer: 1, version: 1 },
          replicas: ids.map((sid) => ({ storeId: sid, replicaId: sid, role: 0 })),
        };
        await engine.createRange({ descriptor: desc, confState: cs });
      }
      await engine.close();
      await c.startStore(id);
    }
    return c;
  }

  /** Opens the store's engine and recreates every replica from what is on disk. */
  async startStore(id: number): Promise<LocalStore> {
    const dir = join(this.root, `store-${id}`);
    const engine = await StorageEngine.open(dir);
    const host = this.hostFor(id);
    const scheduler = new RaftScheduler<string>(engine, host);
    for (const rangeId of engine.rangeIds()) {
      const log = engine.range(rangeId);
      const node = new RawNode({
        id, storage: log, prng: this.prng.fork(), electionTimeoutTicks: 10, heartbeatIntervalTicks: 2,
        applied: log.applied.index,
      });
      scheduler.add(new Replica<string>(rangeId, node, log));
    }
    const timer = setInterval(() => scheduler.tick(), this.tickMs);
    const s: LocalStore = { storeId: id, dir, engine, scheduler, timer, up: true };
    this.stores.set(id, s);
    return s;
  }

  /** Graceful stop: in-flight persists finish, then the engine closes. */
  async stopStore(id: number): Promise<void> {
    const s = this.stores.get(id)!;
    s.up = false;
    clearInterval(s.timer);
    await s.scheduler.stop();
    await s.engine.close();
  }

  private hostFor(storeId: number): GroupHost<string> {
    return {
      send: (replica, msgs) => {
        for (const m of msgs) this.route(replica.rangeId, m);
      },
      flush: () => {},
      applyEntries: (replica, entries) => this.apply(storeId, replica, entries),
      onFatal: (e) => {
        this.fatal = e;
      },
    };
  }

  /** Stores cut off from every other (messages to and from them are lost). */
  readonly isolated = new Set<number>();

  private route(rangeId: number, m: Message): void {
    const target = this.stores.get(m.to);
    if (!target || !target.up || this.isolated.has(m.to) || this.isolated.has(m.from)) return;
    const copy = structuredClone(m);
    this.messagesRouted++;
    setImmediate(() => {
      if (target.up) target.scheduler.step(rangeId, copy);
    });
  }

  private apply(storeId: number, replica: Replica<string>, entries: readonly ApplyEntry[]): string[] {
    const s = this.stores.get(storeId)!;
    const puts: [Uint8Array, Uint8Array][] = [];
    const results: string[] = [];
    let confState: ConfState | undefined;
    for (const e of entries) {
      if (e.type === EntryType.ConfChange) {
        if (e.confState) confState = e.confState;
        results.push('');
        continue;
      }
      if (e.data.length === 0) {
        results.push('');
        continue;
      }
      const text = dec.decode(e.data);
      const eq = text.indexOf('=');
      puts.push([enc.encode(text.slice(0, eq)), enc.encode(text.slice(eq + 1))]);
      results.push(text.slice(eq + 1));
    }
    const last = entries[entries.length - 1]!;
    s.engine.apply(replica.rangeId, { puts, applied: { index: last.index, term: last.term }, ...(confState ? { confState } : {}) });
    return results;
  }

  /** Replicas (over all stores) that currently lead a range. */
  leaders(): number {
    let n = 0;
    for (const s of this.stores.values()) {
      if (!s.up) continue;
      for (const r of s.scheduler.all()) if (r.node.status().role === 2) n++;
    }
    return n;
  }

  leader(rangeId = 1): number {
    for (const s of this.stores.values()) {
      if (!s.up) continue;
      const r = s.scheduler.get(rangeId);
      if (r && r.node.status().lead === s.storeId && r.node.status().role === 2) return s.storeId;
    }
    return 0;
  }

  /** Proposes `key=value` on the leader; resolves when applied there. */
  put(key: string, value: string, rangeId = 1): Promise<string> {
    return new Promise((resolve, reject) => {
      const lead = this.leader(rangeId);
      if (lead === 0) {
        reject(new Error('no leader'));
        return;
      }
      const res = this.stores.get(lead)!.scheduler.propose(rangeId, enc.encode(`${key}=${value}`), (o) => {
        if (o.kind === 'applied') resolve(o.result);
        else reject(new Error(o.reason));
      });
      if (!res.ok) reject(new Error(`${res.reason}: ${res.detail}`));
    });
  }

  get(storeId: number, key: string): string | undefined {
    const v = this.stores.get(storeId)!.engine.db.get(ColumnFamily.Default, Buffer.from(key));
    return v === undefined ? undefined : dec.decode(v);
  }

  async waitFor(what: string, cond: () => boolean, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      if (this.fatal) throw this.fatal;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  async close(): Promise<void> {
    for (const s of this.stores.values()) if (s.up) await this.stopStore(s.storeId);
    await rm(this.root, { recursive: true, force: true });
  }
}
