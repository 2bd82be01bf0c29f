// Replicas created by message: a range this store holds no data for yet.
//
// When a leader's message (Append, Heartbeat, Snap) arrives for a range that is not on
// this store, the store creates an *uninitialized* replica: an empty range on disk
// (`engine.createRange({ rangeId })`, no descriptor, no keys) and a RawNode with
// `id = msg.to` and an empty configuration. It cannot campaign (it is in no
// configuration) and it owns no keys; raft's leader finds its log empty and sends a
// snapshot, whose ingest gives it a descriptor, data and membership. This is how a
// replica added by AddReplica (or a store whose data dir was lost) gets its data.
//
// Anyone who can reach the raft port can also send such messages for made-up ranges (the
// transport does not authenticate peers), so every step is bounded and collected:
// - Created: at most `maxUninitializedReplicas` live at once, at most
//   `maxUninitializedReplicasPerPeer` of them created by messages from one store, and at
//   most `maxUninitializedReplicasOnDisk` uninitialized ranges on disk (live + dormant).
//   Beyond a bound, messages for new ranges are dropped (a real leader retries).
// - Idle: a live one that has heard nothing for `uninitializedIdleMs` goes *dormant*: its
//   RawNode leaves the scheduler (memory and the live bound are freed), its range stays on
//   disk with its hard state (term, vote: raft must never forget them). A real leader
//   heartbeats its followers, so only made-up or abandoned ranges go idle; a dormant one
//   comes back at the next leader message.
// - Gone: a range dormant for `uninitializedGcAfterMs` is destroyed when the store's
//   authority (PD: `isGone`) says the range does not exist or has no replica on this
//   store; without PD it stays (bounded by maxUninitializedReplicasOnDisk).
// - Routing: an uninitialized replica has no descriptor, so the store learns
//   replica id -> store id from the messages it receives (the transport's `fromStore`)
//   and routes its answers with that.
// - Restart: an uninitialized range on disk comes back dormant (its replica id is not
//   stored); the next leader message instantiates its RawNode with `id = msg.to`.
// - `take(rangeId)` removes an uninitialized replica from the scheduler and returns it
//   (split apply takes over the right-hand range's uninitialized replica).
//
//   const u = new UninitializedReplicas({ engine, scheduler, makeNode, limits, log, now, isGone, busy });
//   u.restore(rangeId);                                  // at start, for ranges without a descriptor
//   const r = await u.ensure(rangeId, msg, fromStore);   // null: refused (bounds, bad id)
//   u.heard(rangeId);                                    // every message stepped into one
//   await u.sweep();                                     // periodically: idle -> dormant, gone -> destroyed
import { MessageType, type Message, type RawNode } from '@rangekv/raft';
import type { RangeLogStore, StorageEngine } from '@rangekv/storage';
import type { Logger } from '@rangekv/runtime';
import type { RaftScheduler } from './raft-scheduler.js';
import { Replica } from './replica.js';

/** Messages only a leader sends: they may create a replica here. */
export function createsReplica(type: MessageType): boolean {
  return type === MessageType.App || type === MessageType.Heartbeat || type === MessageType.Snap;
}

export interface UninitializedLimits {
  /** Live uninitialized replicas (RawNode in the scheduler) at once. */
  maxUninitializedReplicas: number;
  /** Of those, created by messages from one peer store. */
  maxUninitializedReplicasPerPeer: number;
  /** Uninitialized ranges on disk (live + dormant); each costs a few small rows and a RangeLogStore. */
  maxUninitializedReplicasOnDisk: number;
  /** A live uninitialized replica that heard nothing for this long goes dormant. */
  uninitializedIdleMs: number;
  /** A range dormant this long is checked with `isGone` and destroyed when gone. */
  uninitializedGcAfterMs: number;
}

export const DEFAULT_UNINITIALIZED_LIMITS: Readonly<UninitializedLimits> = Object.freeze({
  maxUninitializedReplicas: 1024,
  maxUninitializedReplicasPerPeer: 256,
  maxUninitializedReplicasOnDisk: 10_000,
  uninitializedIdleMs: 30_000,
  uninitializedGcAfterMs: 300_000,
});

/** Defaults overridden by `partial`; throws RangeError on a bound that makes no sense. */
export function resolveUninitializedLimits(partial: Partial<UninitializedLimits> | undefined): UninitializedLimits {
  const l: UninitializedLimits = { ...DEFAULT_UNINITIALIZED_LIMITS, ...(partial ?? {}) };
  for (const [name, v] of Object.entries(l)) {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`uninitialized replica limit ${name} must be a non-negative integer, got ${String(v)}`);
  }
  if (l.maxUninitializedReplicasPerPeer > l.maxUninitializedReplicas) {
    throw new RangeError(`maxUninitializedReplicasPerPeer ${l.maxUninitializedReplicasPerPeer} exceeds maxUninitializedReplicas ${l.maxUninitializedReplicas}`);
  }
  if (l.maxUninitializedReplicas > l.maxUninitializedReplicasOnDisk) {
    throw new RangeError(`maxUninitializedReplicas ${l.maxUninitializedReplicas} exceeds maxUninitializedReplicasOnDisk ${l.maxUninitializedReplicasOnDisk}`);
  }
  return l;
}

export interface UninitializedReplicasDeps<R> {
  engine: StorageEngine;
  scheduler: RaftScheduler<R>;
  /** A RawNode for `replicaId` over `log` (the store's raft tuning, fresh PRNG). */
  makeNode(replicaId: number, log: RangeLogStore): RawNode;
  limits: UninitializedLimits;
  log: Logger;
  /** Monotonic milliseconds; default performance.now. */
  now?: () => number;
  /**
   * Whether the range has no replica on this store by the cluster's own record (PD):
   * true = destroy it, false = keep it, null = cannot tell now (keep, ask later).
   * Absent: dormant ranges are never destroyed.
   */
  isGone?: (rangeId: number) => Promise<boolean | null>;
  /** A snapshot for the range is being received now: not idle. */
  busy?: (rangeId: number) => boolean;
}

export interface UninitializedCounters {
  created: number;
  restored: number;
  /** Messages for a new range dropped: a bound was reached or creation failed. */
  refused: number;
  /** Live ones that went dormant after uninitializedIdleMs without a message. */
  collected: number;
  /** Dormant ones destroyed because the cluster says the range has no replica here. */
  destroyed: number;
}

interface Live {
  /** The store whose message created it (per-peer bound). */
  createdBy: number;
  lastHeardMs: number;
}

export class UninitializedReplicas<R> {
  /** Uninitialized ranges on disk whose RawNode does not exist now -> since when (ms). */
  private readonly dormant = new Map<number, number>();
  /** Ranges being created on disk now, and the store whose message asked. */
  private readonly creating = new Map<number, { p: Promise<Replica<R> | null>; by: number }>();
  /** Ranges whose replica was created uninitialized (until a descriptor appears). */
  private readonly live = new Map<number, Live>();
  /** Learned replica id -> store id, per uninitialized range. */
  private readonly routes = new Map<number, Map<number, number>>();
  private sweeping = false;
  readonly counters: UninitializedCounters = { created: 0, restored: 0, refused: 0, collected: 0, destroyed: 0 };
  private readonly now: () => number;

  constructor(private readonly d: UninitializedReplicasDeps<R>) {
    this.now = d.now ?? (() => performance.now());
  }

  /** At start: an uninitialized range found on disk. */
  restore(rangeId: number): void {
    this.dormant.set(rangeId, this.now());
    this.counters.restored++;
  }

  /** Uninitialized replicas live now (being created included): what maxUninitializedReplicas bounds. */
  get size(): number {
    this.prune();
    return this.creating.size + this.live.size;
  }

  /** Uninitialized ranges on disk: live, being created and dormant. */
  get onDisk(): number {
    return this.size + this.dormant.size;
  }

  get dormantCount(): number {
    return this.dormant.size;
  }

  isUninitialized(rangeId: number): boolean {
    if (this.dormant.has(rangeId) || this.creating.has(rangeId)) return true;
    if (!this.live.has(rangeId)) return false;
    const r = this.d.scheduler.get(rangeId);
    return r !== undefined && r.log.descriptor === null;
  }

  /** A message was stepped into the uninitialized replica of `rangeId`: it is not idle. */
  heard(rangeId: number): void {
    const l = this.live.get(rangeId);
    if (l !== undefined) l.lastHeardMs = this.now();
  }

  /** Remembers that replica `replicaId` of `rangeId` lives on `storeId` (from an inbound message). */
  learn(rangeId: number, replicaId: number, storeId: number): void {
    let m = this.routes.get(rangeId);
    if (m === undefined) {
      m = new Map();
      this.routes.set(rangeId, m);
    }
    // A handful of peers per range at most; a flood of made-up ids must not grow it.
    if (m.size >= 16 && !m.has(replicaId)) return;
    m.set(replicaId, storeId);
  }

  /** Where replica `replicaId` of an uninitialized range lives, as learned from its messages. */
  storeOf(rangeId: number, replicaId: number): number | undefined {
    return this.routes.get(rangeId)?.get(replicaId);
  }

  /**
   * The replica for a message to a range this store may not have yet: the existing one,
   * a dormant one instantiated with `id = msg.to`, or a new uninitialized one. Null when
   * refused (not a leader message, a bound reached, being created, creation failed).
   */
  async ensure(rangeId: number, msg: Message, fromStore: number): Promise<Replica<R> | null> {
    const s = this.d.scheduler;
    const existing = s.get(rangeId);
    if (existing) return existing;
    if (!createsReplica(msg.type) || msg.to === 0 || msg.from === 0) return null;
    const lim = this.d.limits;
    if (this.creating.has(rangeId)) return null; // the message that started the creation is stepped; raft retries the rest
    const refuse = (why: string): null => {
      this.counters.refused++;
      this.d.log.debug(`uninitialized replica refused: ${why}`, { rangeId, fromStore });
      return null;
    };
    if (this.size >= lim.maxUninitializedReplicas) return refuse('maxUninitializedReplicas reached');
    if (this.createdBy(fromStore) >= lim.maxUninitializedReplicasPerPeer) return refuse('maxUninitializedReplicasPerPeer reached');
    if (this.dormant.has(rangeId)) {
      this.dormant.delete(rangeId);
      return this.instantiate(rangeId, msg.to, this.d.engine.range(rangeId), fromStore, msg.from);
    }
    if (this.onDisk >= lim.maxUninitializedReplicasOnDisk) return refuse('maxUninitializedReplicasOnDisk reached');
    const p = (async (): Promise<Replica<R> | null> => {
      try {
        const log = this.d.engine.hasRange(rangeId) ? this.d.engine.range(rangeId) : await this.d.engine.createRange({ rangeId });
        if (s.get(rangeId)) return s.get(rangeId)!; // someone else (split) created it meanwhile
        this.counters.created++;
        this.d.log.info('created uninitialized replica', { rangeId, replicaId: msg.to, fromStore });
        return this.instantiate(rangeId, msg.to, log, fromStore, msg.from);
      } catch (e) {
        this.counters.refused++;
        this.d.log.warn('could not create an uninitialized replica', { rangeId, err: e });
        return null;
      } finally {
        this.creating.delete(rangeId);
      }
    })();
    this.creating.set(rangeId, { p, by: fromStore });
    return p;
  }

  /** Resolves once no creation of `rangeId` is in progress (split apply waits for it before taking over). */
  async settled(rangeId: number): Promise<void> {
    await this.creating.get(rangeId)?.p;
  }

  /**
   * Removes the uninitialized replica of `rangeId` from the scheduler and returns it (its
   * range stays on disk); undefined when there is none or it is initialized. For split
   * apply, which takes the right-hand range over.
   */
  take(rangeId: number): Replica<R> | undefined {
    this.dormant.delete(rangeId);
    const r = this.d.scheduler.get(rangeId);
    if (!r || r.log.descriptor !== null) return undefined;
    this.live.delete(rangeId);
    this.routes.delete(rangeId);
    return this.d.scheduler.remove(rangeId);
  }

  /**
   * Idle live replicas go dormant; ranges dormant for uninitializedGcAfterMs that the
   * cluster says are gone are destroyed. Call periodically; a call while one runs returns.
   */
  async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      await this.collectIdle();
      await this.destroyGone();
    } finally {
      this.sweeping = false;
    }
  }

  private async collectIdle(): Promise<void> {
    const idleBefore = this.now() - this.d.limits.uninitializedIdleMs;
    const idle = (rangeId: number): Replica<R> | null => {
      const l = this.live.get(rangeId);
      if (l === undefined || l.lastHeardMs > idleBefore || this.d.busy?.(rangeId) === true) return null;
      const r = this.d.scheduler.get(rangeId);
      if (r === undefined || r.log.descriptor !== null) return null; // prune() forgets it
      if (r.applying || r.blocked || r.queued || r.applyQueue.length > 0 || r.node.hasReady()) return null;
      return r;
    };
    const candidates = [...this.live.keys()].filter((id) => idle(id) !== null);
    if (candidates.length === 0) return;
    // Whatever these replicas persisted (term, vote) is durable before their RawNodes go:
    // a dormant range comes back from its durable hard state.
    await this.d.scheduler.whenPersisted();
    for (const rangeId of candidates) {
      if (idle(rangeId) === null) continue; // heard from, or busy, meanwhile
      const l = this.live.get(rangeId)!;
      this.d.scheduler.remove(rangeId);
      this.live.delete(rangeId);
      this.routes.delete(rangeId);
      this.dormant.set(rangeId, this.now());
      this.counters.collected++;
      this.d.log.info('uninitialized replica idle: now dormant', { rangeId, idleMs: Math.round(this.now() - l.lastHeardMs) });
    }
  }

  private async destroyGone(): Promise<void> {
    const isGone = this.d.isGone;
    if (isGone === undefined) return;
    const before = this.now() - this.d.limits.uninitializedGcAfterMs;
    const due = [...this.dormant].filter(([, since]) => since <= before).map(([id]) => id);
    for (const rangeId of due) {
      let gone: boolean | null;
      try {
        gone = await isGone(rangeId);
      } catch {
        gone = null;
      }
      // Still dormant and still uninitialized (a message or a split may have taken it meanwhile)?
      if (gone !== true || !this.dormant.has(rangeId) || this.d.scheduler.get(rangeId) !== undefined) {
        if (gone === false) this.dormant.set(rangeId, this.now()); // ask again after another period
        continue;
      }
      if (!this.d.engine.hasRange(rangeId) || this.d.engine.range(rangeId).descriptor !== null) continue;
      this.dormant.delete(rangeId);
      try {
        await this.d.engine.destroyRange(rangeId, { clearData: false });
        this.counters.destroyed++;
        this.d.log.info('uninitialized replica of a range without a replica here: destroyed', { rangeId });
      } catch (e) {
        this.d.log.warn('destroying an uninitialized replica failed', { rangeId, err: e });
      }
    }
  }

  /** Live ones (and ones being created) that a message from `storeId` created. */
  private createdBy(storeId: number): number {
    let n = 0;
    for (const l of this.live.values()) if (l.createdBy === storeId) n++;
    for (const c of this.creating.values()) if (c.by === storeId) n++;
    return n;
  }

  private instantiate(rangeId: number, replicaId: number, log: RangeLogStore, fromStore: number, fromReplica: number): Replica<R> {
    const r = new Replica<R>(rangeId, this.d.makeNode(replicaId, log), log);
    this.live.set(rangeId, { createdBy: fromStore, lastHeardMs: this.now() });
    this.learn(rangeId, fromReplica, fromStore);
    this.d.scheduler.add(r);
    return r;
  }

  /** Forgets ranges that got a descriptor (snapshot ingested) or left the scheduler. */
  private prune(): void {
    for (const id of this.live.keys()) {
      const r = this.d.scheduler.get(id);
      if (r === undefined || r.log.descriptor !== null) {
        this.live.delete(id);
        this.routes.delete(id);
      }
    }
  }
}
