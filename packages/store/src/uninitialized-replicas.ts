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
// - Bounded: at most `maxUninitializedReplicas` at once (creating ones included); beyond
//   it messages for new ranges are dropped (the leader retries).
// - Routing: an uninitialized replica has no descriptor, so the store learns
//   replica id -> store id from the messages it receives (the transport's `fromStore`)
//   and routes its answers with that.
// - Restart: an uninitialized range on disk comes back *dormant* (its replica id is not
//   stored); the next leader message instantiates its RawNode with `id = msg.to`.
// - `take(rangeId)` removes an uninitialized replica from the scheduler and returns it
//   (split apply takes over the right-hand range's uninitialized replica).
//
//   const u = new UninitializedReplicas({ engine, scheduler, makeNode, limits, log });
//   u.restore(rangeId);                            // at start, for ranges without a descriptor
//   const r = await u.ensure(rangeId, msg, fromStore);   // null: refused (bound, bad id)
import { MessageType, type Message, type RawNode } from '@rangekv/raft';
import type { RangeLogStore, StorageEngine } from '@rangekv/storage';
import type { Logger } from './logger.js';
import type { RaftScheduler } from './raft-scheduler.js';
import { Replica } from './replica.js';

/** Messages only a leader sends: they may create a replica here. */
export function createsReplica(type: MessageType): boolean {
  return type === MessageType.App || type === MessageType.Heartbeat || type === MessageType.Snap;
}

export interface UninitializedReplicasDeps<R> {
  engine: StorageEngine;
  scheduler: RaftScheduler<R>;
  /** A RawNode for `replicaId` over `log` (the store's raft tuning, fresh PRNG). */
  makeNode(replicaId: number, log: RangeLogStore): RawNode;
  maxUninitializedReplicas: number;
  log: Logger;
}

export interface UninitializedCounters {
  created: number;
  restored: number;
  /** Messages for a new range dropped: the bound was reached or creation failed. */
  refused: number;
}

export class UninitializedReplicas<R> {
  /** Uninitialized ranges on disk whose RawNode is not created yet (after a restart). */
  private readonly dormant = new Set<number>();
  /** Ranges being created on disk now. */
  private readonly creating = new Map<number, Promise<Replica<R> | null>>();
  /** Ranges whose replica was created uninitialized (until a descriptor appears). */
  private readonly uninit = new Set<number>();
  /** Learned replica id -> store id, per uninitialized range. */
  private readonly routes = new Map<number, Map<number, number>>();
  readonly counters: UninitializedCounters = { created: 0, restored: 0, refused: 0 };

  constructor(private readonly d: UninitializedReplicasDeps<R>) {}

  /** At start: an uninitialized range found on disk. */
  restore(rangeId: number): void {
    this.dormant.add(rangeId);
    this.counters.restored++;
  }

  /** Uninitialized replicas (dormant, being created, or live without a descriptor). */
  get size(): number {
    this.prune();
    return this.dormant.size + this.creating.size + this.uninit.size;
  }

  isUninitialized(rangeId: number): boolean {
    if (this.dormant.has(rangeId) || this.creating.has(rangeId)) return true;
    if (!this.uninit.has(rangeId)) return false;
    const r = this.d.scheduler.get(rangeId);
    return r !== undefined && r.log.descriptor === null;
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
   * refused (not a leader message, bound reached, being created, creation failed).
   */
  async ensure(rangeId: number, msg: Message, fromStore: number): Promise<Replica<R> | null> {
    const s = this.d.scheduler;
    const existing = s.get(rangeId);
    if (existing) return existing;
    if (!createsReplica(msg.type) || msg.to === 0 || msg.from === 0) return null;
    if (this.dormant.has(rangeId)) {
      this.dormant.delete(rangeId);
      return this.instantiate(rangeId, msg.to, this.d.engine.range(rangeId), fromStore, msg.from);
    }
    const pending = this.creating.get(rangeId);
    if (pending) return null; // the message that started the creation is stepped; raft retries the rest
    if (this.size >= this.d.maxUninitializedReplicas) {
      this.counters.refused++;
      this.d.log.debug('uninitialized replica refused: maxUninitializedReplicas reached', { rangeId, max: this.d.maxUninitializedReplicas });
      return null;
    }
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
    this.creating.set(rangeId, p);
    return p;
  }

  /** Resolves once no creation of `rangeId` is in progress (split apply waits for it before taking over). */
  async settled(rangeId: number): Promise<void> {
    await this.creating.get(rangeId);
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
    this.uninit.delete(rangeId);
    this.routes.delete(rangeId);
    return this.d.scheduler.remove(rangeId);
  }

  private instantiate(rangeId: number, replicaId: number, log: RangeLogStore, fromStore: number, fromReplica: number): Replica<R> {
    const r = new Replica<R>(rangeId, this.d.makeNode(replicaId, log), log);
    this.uninit.add(rangeId);
    this.learn(rangeId, fromReplica, fromStore);
    this.d.scheduler.add(r);
    return r;
  }

  /** Forgets ranges that got a descriptor (snapshot ingested) or left the scheduler. */
  private prune(): void {
    for (const id of this.uninit) {
      const r = this.d.scheduler.get(id);
      if (r === undefined || r.log.descriptor !== null) {
        this.uninit.delete(id);
        this.routes.delete(id);
      }
    }
  }
}
