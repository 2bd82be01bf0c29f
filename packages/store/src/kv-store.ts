// KvStore: the KV state machine plugged into a Multi-Raft host. Everything a store is
// without its network faces (gRPC servers, HTTP status, PD link, identity file): pending
// reads, the KV service, the admin service, the applier (inline or worker pool), and the
// host service that tells the host what committed entries mean. StoreServer wraps one for
// a real process; the whole-store simulation (packages/testkit) runs the same class over
// a simulated disk, network and clock.
//
//   const host = await RaftHost.open<KvResult>({ ... });
//   const store = new KvStore({ storeId, host, limits, log, storeKnown });
//   await store.start();                 // the applier, then host.start(store's service)
//   await store.kv.put({ header, key, value });
//   await store.stop();                  // what waits is answered; the host stops, the engine closes
import { StateRole } from '@rangekv/raft';
import type { RangeDescriptor } from '@rangekv/proto';
import type { IdAllocator } from '@rangekv/storage';
import type { ApplyEntry, HostService, RaftHost, Replica } from '@rangekv/multiraft';
import type { Logger } from '@rangekv/runtime';
import { AdminService } from './admin-service.js';
import { applyInOrder } from './apply-order.js';
import { PoolKvApplier, type ApplyPoolLimits } from './apply-pool.js';
import { RangeErrorReply, UnavailableError } from './errors.js';
import { InlineKvApplier, type KvApplier } from './kv-applier.js';
import { KvService } from './kv-service.js';
import type { KvResult } from './kv-state-machine.js';
import type { StoreLimits } from './limits.js';
import { LeaderWaits } from './leader-waits.js';
import { PendingReads } from './pending-reads.js';
import { applyRangeChange, type AdminApplyContext } from './range-admin-apply.js';
import { MergeWatchdog } from './merge-watchdog.js';
import { notLeader } from './range-errors.js';
import { DEFAULT_SIZE_CHECK_LIMITS, SizeChecker, type SizeCheckLimits } from './size-check.js';
import { Traffic } from './traffic.js';
import type { StoreMetrics } from './store-metrics.js';

/** What a store's surroundings (PD link, metrics) hear from its ranges. */
export interface KvStoreEvents {
  /** A split applied here. */
  onSplit?(left: RangeDescriptor, right: RangeDescriptor): void;
  /** A membership change applied here. */
  onMembership?(descriptor: RangeDescriptor): void;
  /** A merge applied here: `merged` covers the right range `rightRangeId`, now gone. */
  onMerge?(merged: RangeDescriptor, rightRangeId: number): void;
  /** This store's replica of `rangeId` became leader. */
  onBecameLeader?(rangeId: number): void;
  /** The host stopped on a fatal error (disk); the owner should stop. */
  onFatal?(err: unknown): void;
  /** A size check recorded new figures for `rangeId` (size-check.ts). */
  onSizeChecked?(rangeId: number): void;
}

export interface KvStoreOptions {
  storeId: number;
  /** Opened, not started. */
  host: RaftHost<KvResult>;
  limits: StoreLimits;
  log: Logger;
  /** Apply worker threads (piscina); 0 = inline on the main thread (the simulation's choice). */
  applyWorkers?: number;
  applyLimits?: Partial<Omit<ApplyPoolLimits, 'threads'>>;
  /** 4 bytes that differ between runs of this store (read contexts); default random. */
  incarnation?: Uint8Array;
  /** Whether this store can reach `storeId` (an address is known): AddReplica names only those. */
  storeKnown(storeId: number): boolean;
  /** Ids this store hands out itself; default the engine's id space for this store. */
  ids: IdAllocator;
  metrics?: StoreMetrics;
  events?: KvStoreEvents;
  /** Size checks of the ranges led here (size-check.ts). */
  sizeCheck?: Partial<SizeCheckLimits>;
}

/** How often the merge watchdog looks at the frozen ranges, in ms. */
const MERGE_WATCHDOG_INTERVAL_MS = 1_000;
/** How often a merge's apply looks whether the right range reached the freeze, in ms. */
const MERGE_APPLY_POLL_MS = 5;

export class KvStore {
  readonly storeId: number;
  readonly host: RaftHost<KvResult>;
  readonly reads: PendingReads;
  /** Writes and leader reads waiting for a leader to be known: a transfer's outcome, an election's (leader-waits.ts). */
  readonly leaderWaits: LeaderWaits;
  readonly kv: KvService;
  readonly admin: AdminService;
  /** Bytes, keys and middle key of the ranges led here, for PD's split checker. */
  readonly sizeCheck: SizeChecker;
  /** Client traffic served here (totals), for PD's statistics. */
  readonly traffic = new Traffic();
  /** Frozen ranges, merges coordinated here, merged-away routes, and the rollback watchdog. */
  readonly merges: MergeWatchdog;
  private applier: KvApplier;
  private readonly adminApplyCtx: AdminApplyContext;
  private beforeClose: Promise<void> = Promise.resolve();

  constructor(private readonly o: KvStoreOptions) {
    const host = o.host;
    const engine = host.engine;
    this.storeId = o.storeId;
    this.host = host;
    this.applier = new InlineKvApplier(engine);
    this.reads = new PendingReads(o.storeId, o.limits, o.incarnation, host.clock);
    // Never past two election timeouts: a transfer raft gives up ends within one, an election
    // that failed is retried after one, and the client had better look elsewhere.
    const electionTimeoutMs = host.timing.tickMs * host.timing.electionTimeoutTicks;
    this.leaderWaits = new LeaderWaits(host.clock, Math.min(o.limits.leaderWaitMs, 2 * electionTimeoutMs), o.limits.maxPendingProposalsPerRange);
    this.sizeCheck = new SizeChecker({
      db: engine.db,
      ledDescriptor: (id) => {
        const r = host.scheduler.get(id);
        return r !== undefined && r.isLeader && !r.destroyed ? r.log.descriptor : null;
      },
      nextTurn: (fn) => host.clock.nextTurn(fn),
      setTimer: (ms, fn) => void host.clock.setTimer(ms, fn),
      onChecked: (id) => o.events?.onSizeChecked?.(id),
      log: o.log,
    }, { ...DEFAULT_SIZE_CHECK_LIMITS, ...(o.sizeCheck ?? {}) });
    this.merges = new MergeWatchdog({
      scheduler: host.scheduler, clock: host.clock, log: o.log, frozenTimeoutMs: o.limits.mergeFrozenTimeoutMs, intervalMs: MERGE_WATCHDOG_INTERVAL_MS,
    });
    this.kv = new KvService({
      mergedInto: (id) => this.merges.mergedInto(id),
      frozenForMs: (id) => this.merges.frozenForMs(id),
      storeId: o.storeId, engine, scheduler: host.scheduler, reads: this.reads, limits: o.limits, log: o.log, clock: host.clock,
      leaseUsable: (r) => host.leaseUsable(r),
      wakeLeaderless: (r) => host.wakeLeaderless(r),
      leaderWaits: this.leaderWaits,
      onWrite: (rangeId, bytes, keys, deletes) => {
        this.sizeCheck.wrote(rangeId, bytes);
        if (deletes) this.sizeCheck.deleted(rangeId);
        this.traffic.wrote(bytes, keys);
      },
      onRead: (rangeId, bytes, keys) => this.traffic.read(rangeId, bytes, keys),
      ...(o.metrics ? { metrics: o.metrics } : {}),
    });
    this.admin = new AdminService({
      wakeLeaderless: (r) => host.wakeLeaderless(r),
      storeId: o.storeId, scheduler: host.scheduler, limits: o.limits, log: o.log, clock: host.clock, allocateId: () => o.ids.allocate(),
      storeKnown: (id) => o.storeKnown(id),
      storeLive: (id) => id === o.storeId || host.liveness.isLive(id),
      storeDown: (id) => id !== o.storeId && host.liveness.isDown(id),
      merges: this.merges,
      ...(o.metrics ? { metrics: o.metrics } : {}),
    });
    this.adminApplyCtx = {
      storeId: o.storeId, engine, scheduler: host.scheduler, log: o.log,
      takeUninitialized: async (rangeId) => {
        await host.uninitialized.settled(rangeId);
        return host.uninitialized.take(rangeId);
      },
      startReplica: (rangeId) => host.startReplica(rangeId),
      onSplit: (left, right) => {
        o.metrics?.splits.inc();
        this.sizeCheck.spanChanged(left.rangeId);
        this.sizeCheck.spanChanged(right.rangeId);
        o.events?.onSplit?.(left, right);
      },
      onMembership: (d) => o.events?.onMembership?.(d),
      rightAtFreeze: (rightRangeId, index, term) => this.rightAtFreeze(rightRangeId, index, term),
      takeForMerge: (rightRangeId) => host.takeForMerge(rightRangeId),
      onFreezeChanged: (rangeId, freeze) => this.merges.onFreezeChanged(rangeId, freeze),
      onMerged: (merged, rightRangeId) => {
        this.merges.noteMerged(rightRangeId, merged.rangeId);
        this.sizeCheck.spanChanged(merged.rangeId);
        o.events?.onMerge?.(merged, rightRangeId);
      },
      onRemoved: (rangeId) => host.clock.nextTurn(() => void host.destroyReplica(rangeId, { clearData: true })),
    };
  }

  /** Where committed entries are applied: 'pool' (apply workers) or 'inline'. */
  get applyMode(): KvApplier['kind'] {
    return this.applier.kind;
  }

  /** Starts the applier (its threads open the DB), then the host with this store's service. */
  async start(): Promise<void> {
    const workers = this.o.applyWorkers ?? 0;
    if (!Number.isSafeInteger(workers) || workers < 0) throw new RangeError(`applyWorkers must be an integer >= 0, got ${workers}`);
    if (workers > 0) this.applier = PoolKvApplier.create(this.host.engine, { ...this.o.applyLimits, threads: workers }); // applies wait for its threads
    await this.host.start(this.service());
    this.merges.start();
  }

  /**
   * Stops the host; once its loop stopped, waiting reads fail (UNAVAILABLE), `beforeClose`
   * is awaited (the gRPC server's shutdown), the applier closes, then the engine.
   */
  stop(beforeClose: Promise<void> = Promise.resolve()): Promise<void> {
    this.beforeClose = beforeClose;
    this.sizeCheck.stop();
    this.merges.stop();
    return this.host.stop();
  }

  /**
   * This store's replica of a merge's right range once it applied the freeze entry at
   * `index` (merge-apply.ts), or why it cannot: the entry is committed (the left range's
   * log holds the commit), so the replica's commit index is moved there if its log holds
   * it; polled every MERGE_APPLY_POLL_MS up to mergeApplyWaitMs.
   */
  private async rightAtFreeze(rightRangeId: number, index: number, term: number): Promise<Replica<KvResult> | string> {
    const { scheduler, clock } = this.host;
    const deadline = clock.now() + this.o.limits.mergeApplyWaitMs;
    for (;;) {
      const r = scheduler.get(rightRangeId);
      if (!r || r.destroyed || r.log.descriptor === null) return `no initialized replica of range ${rightRangeId} here`;
      if (r.log.appliedIndex >= index) return r;
      scheduler.withNode(rightRangeId, (x) => x.node.commitKnown(index, term));
      if (clock.now() >= deadline) {
        return `range ${rightRangeId} applied ${r.log.appliedIndex}, not the freeze at ${index}, within mergeApplyWaitMs (${this.o.limits.mergeApplyWaitMs} ms)`;
      }
      await new Promise<void>((resolve) => clock.setTimer(MERGE_APPLY_POLL_MS, resolve));
    }
  }

  /** Applies one batch of a range's committed entries: KV runs and range changes in log order. */
  private applyEntries(replica: Replica<KvResult>, entries: readonly ApplyEntry[]): Promise<KvResult[]> {
    return applyInOrder(
      entries,
      (run) => {
        // Each run reads the descriptor left by the entries before it (a split cuts it).
        const desc = replica.log.descriptor;
        if (desc === null) throw new Error(`range ${replica.rangeId}: apply on an uninitialized range`);
        const freeze = replica.log.mergeFreeze;
        if (freeze !== null) {
          // Frozen by a merge: KV entries after the freeze write nothing, on every replica alike.
          const last = run[run.length - 1]!;
          this.host.engine.apply(replica.rangeId, { applied: { index: last.index, term: last.term } });
          return run.map((): KvResult => ({ kind: 'merge-frozen', mergeId: freeze.mergeId, leftRangeId: freeze.leftRangeId }));
        }
        return this.applier.apply(replica.rangeId, desc, run);
      },
      (e) => applyRangeChange(this.adminApplyCtx, replica, e),
    );
  }

  /** The KV store as a host service: what entries mean, reads, and what the store hears. */
  private service(): HostService<KvResult> {
    const o = this.o;
    return {
      applyEntries: (replica, entries) => this.applyEntries(replica, entries),
      onReadStates: (replica, states) => this.reads.onReadStates(replica.rangeId, replica.log.appliedIndex, states),
      onSoftState: (replica, ss) => {
        // Info when this replica gains or loses leadership; other changes at debug (many ranges).
        const level = ss.role === StateRole.Leader || replica.isLeader ? 'info' : 'debug';
        if (ss.lead !== 0 && ss.lead !== replica.lead) o.metrics?.leaderChanges.inc();
        this.leaderWaits.leaderKnown(replica.rangeId, ss.lead);
        o.log[level]('raft leader changed', { rangeId: replica.rangeId, lead: ss.lead, role: ss.role });
        if (ss.role === StateRole.Leader) {
          this.sizeCheck.led(replica.rangeId);
          o.events?.onBecameLeader?.(replica.rangeId);
        }
        this.reads.failUnconfirmed(replica.rangeId, () =>
          new RangeErrorReply(notLeader(replica.rangeId, replica.log.descriptor, ss.lead, 'leadership changed while the read waited')));
      },
      onApplied: (replica) => this.reads.onApplied(replica.rangeId, replica.log.appliedIndex),
      mayQuiesce: (replica) => this.reads.pending(replica.rangeId) === 0,
      onReplicaFailed: (r) => {
        this.leaderWaits.release(r.rangeId);
        this.reads.failAll(() => new RangeErrorReply(notLeader(r.rangeId, r.log.descriptor, 0, 'replica failed on this store')), r.rangeId);
      },
      observeApplySeconds: (sec) => o.metrics?.applySeconds.observe(sec),
      observeWriteStages: (st) => {
        const h = o.metrics?.writeStageSeconds;
        if (h === undefined) return;
        for (const stage of ['appended', 'persisted', 'committed', 'applied'] as const) {
          if (st[stage] !== 0) h.observe({ stage }, (st[stage] - st.proposed) / 1000);
        }
      },
      onLoopStopped: async () => {
        this.leaderWaits.releaseAll();
        this.reads.failAll(() => new UnavailableError('store stopping; safe to retry elsewhere'));
        await this.beforeClose;
        // Every apply finished with the loop; the workers never close the DB they share.
        await this.applier.close().catch((e: unknown) => o.log.error('apply pool close failed', { err: e }));
      },
      onFatal: (err) => o.events?.onFatal?.(err),
    };
  }
}
