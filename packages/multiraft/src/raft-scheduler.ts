// The one ready loop: drives every raft group on a store (and PD's own group) that has
// work. Each cycle it collects the Readies of the groups in its ready queue (not a scan
// of all groups), sends their messages, hands ONE combined persist request for all of
// them to the log writer (one fsync: group commit) and queues their committed entries for
// apply. When the persist is durable it sends the messages that had to wait for it and
// acknowledges the Readies, cycle by cycle, in order.
//
// Readies that need no fsync (raft's mustSync unset: only the commit index moved, or
// nothing to persist at all, e.g. a leader's appends and heartbeats) of groups with no
// Ready in flight skip the log writer: the engine takes them at once (engine.deferReady:
// their hard state is written later, with the next batch) and they are acknowledged in
// the same cycle, so a follower answers a commit-only append or a heartbeat without
// waiting for the disk. A group with a Ready in flight keeps the usual path (its
// acknowledgements stay in order). Deferred hard states left over are written on ticks.
//
//   const s = new RaftScheduler(engine, host);
//   s.add(replica);               // after creating its RawNode over engine.range(id)
//   s.step(rangeId, msg);         // from the transport
//   s.tick();                     // on the store's tick timer: ticks only non-quiescent groups
//   s.propose(rangeId, data, onOutcome);
//
// Quiescence (quiescence.ts) lives here too: idle groups leave the ticking set, and any
// proposal, admin call or inbound message (but an accepted quiesce heartbeat) wakes them.
import {
  EntryType, MessageRefusedError, StateRole, decodeConfChange,
  type ConfChangeV2, type ConfState, type Entry, type Message, type ProposeResult, type ReadState, type Ready, type SoftState,
} from '@rangekv/raft';
import type { StorageEngine } from '@rangekv/storage';
import {
  followerStatusQuiescent, isLateAck, leaderStatusQuiescent, plainHeartbeatCount, WAKE_READ_CTX, type WakeReason,
} from './quiescence.js';
import { realClock, type HostClock } from './host-clock.js';
import { Replica, type ApplyWork, type ProposalOutcome, type WriteStages } from './replica.js';

export interface GroupHost<R> {
  /** Raft messages of `replica` for its peers. */
  send(replica: Replica<R>, msgs: Message[]): void;
  /** End of a cycle's sends (flush transports). */
  flush(): void;
  /**
   * Applies entries (in order; one call at a time per range) and returns each entry's
   * result, in order, for its proposer. ConfChange entries are applied to raft by the
   * scheduler; the host persists the returned membership with the data.
   */
  applyEntries(replica: Replica<R>, entries: readonly ApplyEntry[]): R[] | Promise<R[]>;
  /**
   * ReadIndex answers. Delivered before the same Ready's soft state: a read state was
   * confirmed before any role change that follows it and stays valid.
   */
  onReadStates?(replica: Replica<R>, states: ReadState[]): void;
  /** Leader or role changed. replica.lead / replica.role still hold the previous values; they are updated when this returns. */
  onSoftState?(replica: Replica<R>, ss: SoftState): void;
  /** The range's applied state moved (entries applied or a snapshot ingested). */
  onApplied?(replica: Replica<R>): void;
  /** A failure the scheduler cannot recover from (disk error): the store must stop. */
  onFatal(err: unknown): void;
  /**
   * The replica failed (ReplicaFailedError: a committed entry it cannot apply, or raft
   * broke an invariant while stepping a message): the scheduler took it out (as `remove`
   * does); the host stops serving the range and keeps it from coming back until a
   * restart. The store and its other ranges go on.
   */
  onReplicaFailed?(replica: Replica<R>, err: ReplicaFailedError): void;
  /**
   * Quiescence: the host's own conditions for `replica` to quiesce (as leader or
   * follower: e.g. no reads waiting).
   * Absent: groups never quiesce (every group ticks every tick).
   */
  mayQuiesce?(replica: Replica<R>, asLeader: boolean): boolean;
  /** Quiescence: the member `replicaId` of `replica`'s group is on a store that is not live (it may lag; quiescence.ts). */
  memberAbsent?(replica: Replica<R>, replicaId: number): boolean;
  /** Metrics: one applyEntries call took `seconds` (from the call until its results). */
  observeApplySeconds?(seconds: number): void;
  /** Metrics: a proposal of this store applied as proposed; when it reached each stage. */
  observeWriteStages?(stages: WriteStages): void;
}

/** An entry to apply, with raft's membership after it when it is a conf change. */
export interface ApplyEntry {
  index: number;
  term: number;
  type: EntryType;
  data: Uint8Array;
  /** ConfChange entries: the configuration after applying it, or null if superseded by a snapshot. */
  confState?: ConfState | null;
}

/**
 * A committed entry this replica cannot apply (it does not decode, or names a command this
 * version does not know). Raft committed it, so every replica holds it: guessing would let
 * replicas diverge, and stopping the store would stop every other range too. The
 * scheduler fails only this replica (GroupHost.onReplicaFailed). Thrown by
 * GroupHost.applyEntries before anything of the batch is written.
 */
export class EntryApplyError extends Error {
  constructor(readonly rangeId: number, readonly index: number, readonly reason: string) {
    super(`range ${rangeId}: committed entry ${index} cannot be applied: ${reason}`);
    this.name = 'EntryApplyError';
  }
}

/** Why the scheduler took a replica out (GroupHost.onReplicaFailed). */
export class ReplicaFailedError extends Error {
  constructor(readonly rangeId: number, readonly reason: string, options?: { cause?: unknown }) {
    super(`range ${rangeId}: replica failed: ${reason}`, options);
    this.name = 'ReplicaFailedError';
  }
}

export interface SchedulerLimits {
  /** Persist requests (cycles) in flight to the log writer at once; more wait a cycle. */
  maxInflightPersistCycles: number;
  /** Readies taken from one group in one cycle. */
  maxReadiesPerGroupPerCycle: number;
  /** A leader quiesces only after this many ticks without a proposal, admin call or wake. */
  quiesceIdleTicks: number;
  /**
   * Ranges in a cycle whose persist may be written on the main thread when the log writer
   * is idle (LogWriter.tryWriteNow / submitSoon); a cycle of more goes to the log writer.
   */
  maxDirectPersistGroups: number;
  /**
   * Groups woken per tick from the paced queue (wakePaced): wakes that can wait, such as
   * catching up a peer store's lagging members when it is back, instead of thousands at
   * once flooding that store with heartbeats and appends it cannot answer in time.
   */
  maxPacedWakesPerTick: number;
  /**
   * Groups woken by the paced queue that may be awake at once: the next are woken only as
   * these quiesce again, so a slow peer paces the wakes it causes (a window, as TCP's). A
   * group counts for PACED_AWAKE_MAX_TICKS at most, so busy ranges never stall the queue.
   */
  maxPacedAwakeGroups: number;
}

/** Ticks a group woken by the paced queue counts in maxPacedAwakeGroups at most (1 s at 50 ms ticks). */
export const PACED_AWAKE_MAX_TICKS = 20;

export const DEFAULT_SCHEDULER_LIMITS: SchedulerLimits = {
  maxInflightPersistCycles: 4,
  maxReadiesPerGroupPerCycle: 4,
  quiesceIdleTicks: 2,
  maxDirectPersistGroups: 4,
  maxPacedWakesPerTick: 64,
  maxPacedAwakeGroups: 256,
};

export interface SchedulerStats {
  cycles: number;
  readies: number;
  persistBatches: number;
  /** Readies acknowledged in their own cycle (no fsync needed, nothing of the group in flight). */
  readiesAckedAtOnce: number;
  groupsPerBatchMax: number;
  applies: number;
  /** Times a group quiesced (leader: sent its quiesce heartbeats; follower: accepted one). */
  quiesced: number;
  /** Times a quiescent group was woken. */
  wakes: number;
  /** Quiesce heartbeats a follower refused (stepped as plain heartbeats). */
  quiesceRefused: number;
  /** Late acknowledgements a quiescent leader stepped without waking (quiescence.ts). */
  lateAcksAbsorbed: number;
  /** Replicas failed (an entry they could not apply, raft broke an invariant in step). */
  replicasFailed: number;
}

export class RaftScheduler<R> {
  private readonly replicas = new Map<number, Replica<R>>();
  /** Groups that tick: every group but the quiescent ones. tick() visits only these. */
  private readonly ticking = new Set<Replica<R>>();
  /** Quiescent groups waiting for a paced wake (wakePaced), oldest first. */
  private readonly pacedWakes = new Map<Replica<R>, WakeReason>();
  /** Groups woken by the paced queue and not yet quiescent again (at most maxPacedAwakeGroups). */
  private readonly pacedAwake = new Set<Replica<R>>();
  /** tick() calls so far: the scheduler's clock for idleness and lease checks. */
  private tickCount = 0;
  private readyQueue: Replica<R>[] = [];
  private cycleScheduled = false;
  private inflightCycles = 0;
  /** Completion of the newest cycle's persist; every cycle acknowledges after the previous. */
  private tail: Promise<void> = Promise.resolve();
  private stopped = false;
  readonly limits: SchedulerLimits;
  readonly stats: SchedulerStats = {
    cycles: 0, readies: 0, persistBatches: 0, readiesAckedAtOnce: 0, groupsPerBatchMax: 0, applies: 0, quiesced: 0, wakes: 0, quiesceRefused: 0,
    lateAcksAbsorbed: 0, replicasFailed: 0,
  };

  constructor(
    private readonly engine: StorageEngine,
    private readonly host: GroupHost<R>,
    limits: Partial<SchedulerLimits> = {},
    /** Turns of the loop (setImmediate in production, the simulation's queue in tests). */
    private readonly clock: HostClock = realClock,
  ) {
    this.limits = { ...DEFAULT_SCHEDULER_LIMITS, ...limits };
    for (const k of ['maxPacedWakesPerTick', 'maxPacedAwakeGroups'] as const) {
      const v = this.limits[k];
      if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`${k} must be a positive integer, got ${v}`);
    }
  }

  add(r: Replica<R>): void {
    if (this.replicas.has(r.rangeId)) throw new Error(`range ${r.rangeId} is already scheduled`);
    this.replicas.set(r.rangeId, r);
    r.quiescent = false;
    r.lastActiveTick = r.wokeAtTick = this.tickCount;
    this.ticking.add(r);
    this.wake(r);
  }

  /**
   * Adds a replica restored from disk as a quiescent follower: it does not tick until a
   * message, a request or the host wakes it (raft-host.ts, "Dormant at start"). Its first
   * Ready (committed entries not yet applied) is still taken, as for any quiescent group.
   */
  addDormant(r: Replica<R>): void {
    if (this.replicas.has(r.rangeId)) throw new Error(`range ${r.rangeId} is already scheduled`);
    this.replicas.set(r.rangeId, r);
    r.quiescent = true;
    r.lastActiveTick = r.wokeAtTick = r.quiescedAtTick = this.tickCount;
    if (r.node.hasReady()) this.wake(r);
  }

  remove(rangeId: number): Replica<R> | undefined {
    const r = this.replicas.get(rangeId);
    if (!r) return undefined;
    r.destroyed = true;
    r.failAll(`range ${rangeId} removed from this store`);
    this.replicas.delete(rangeId);
    this.ticking.delete(r);
    this.pacedWakes.delete(r);
    this.pacedAwake.delete(r);
    return r;
  }

  get(rangeId: number): Replica<R> | undefined {
    return this.replicas.get(rangeId);
  }

  get size(): number {
    return this.replicas.size;
  }

  all(): IterableIterator<Replica<R>> {
    return this.replicas.values();
  }

  /** Groups out of the ticking set now. */
  get quiescentCount(): number {
    return this.replicas.size - this.ticking.size;
  }

  get tickingCount(): number {
    return this.ticking.size;
  }

  /** tick() calls so far. */
  get ticks(): number {
    return this.tickCount;
  }

  /** Ticks `r` has ticked since it last woke (or was added); -1 while quiescent. */
  ticksAwake(r: Replica<R>): number {
    return r.quiescent ? -1 : this.tickCount - r.wokeAtTick;
  }

  /**
   * A message from a peer. Malformed messages throw (the caller answers the sender).
   * `quiesce`: the leader flagged this Heartbeat (quiescence.ts): accepted, the group
   * quiesces without stepping it; refused, it is stepped as a plain heartbeat.
   */
  step(rangeId: number, m: Message, quiesce = false): boolean {
    const r = this.replicas.get(rangeId);
    if (!r) return false;
    if (quiesce) {
      if (this.followerMayQuiesce(r, m)) {
        // The commit it carries (lazy commit broadcast): applied while quiescent.
        if (r.node.basicStatus().commit < m.commit && r.node.commitFromQuiesce(m)) this.wake(r);
        if (!r.quiescent) this.quiesce(r);
        return true;
      }
      this.stats.quiesceRefused++;
    }
    if (r.quiescent && r.isLeader && isLateAck(m, r.quiesceStamp)) {
      // An answer to a heartbeat or append sent before the quiesce heartbeats: raft
      // absorbs it; the group stays quiescent unless raft now has something to do.
      if (!this.stepNode(r, m)) return true;
      if (!r.node.hasReady()) {
        this.stats.lateAcksAbsorbed++;
        return true;
      }
      this.unquiesce(r, 'message');
      return true;
    }
    if (r.quiescent) this.unquiesce(r, !r.isLeader && m.from === r.lead ? 'leader-message' : 'message');
    if (this.stepNode(r, m)) this.wake(r);
    return true;
  }

  /**
   * Steps `m` into raft. MessageRefusedError (a malformed or out-of-range message; raft
   * changed nothing) goes to the caller, who logs and drops it. Anything else is raft
   * breaking an invariant on this input: the replica fails, the store goes on. False when
   * the replica failed.
   */
  private stepNode(r: Replica<R>, m: Message): boolean {
    try {
      r.node.step(m);
      return true;
    } catch (e) {
      if (e instanceof MessageRefusedError) throw e;
      this.fail(r, new ReplicaFailedError(r.rangeId, `raft failed stepping a ${m.type} from ${m.from}: ${e instanceof Error ? e.message : String(e)}`, { cause: e }));
      return false;
    }
  }

  /** One tick for every group that is not quiescent (quiescent ones are not visited). */
  tick(): void {
    this.tickCount++;
    if (this.engine.deferredHardStates > 0 && this.inflightCycles === 0 && !this.stopped) {
      // Nothing else is being written: write the leftover commit-only hard states now.
      this.engine.flushDeferredHardStates().catch((e: unknown) => {
        this.stopped = true;
        this.host.onFatal(e);
      });
    }
    for (const r of this.ticking) {
      r.node.tick();
      if (r.node.hasReady()) this.wake(r);
    }
    if (this.pacedWakes.size > 0 || this.pacedAwake.size > 0) this.wakePacedGroups();
  }

  private wakePacedGroups(): void {
    for (const r of this.pacedAwake) {
      // A group kept awake by its own traffic stops holding a place in the window.
      if (r.quiescent || r.destroyed || this.tickCount - r.wokeAtTick > PACED_AWAKE_MAX_TICKS) this.pacedAwake.delete(r);
    }
    let budget = Math.min(this.limits.maxPacedWakesPerTick, this.limits.maxPacedAwakeGroups - this.pacedAwake.size);
    for (const [r, reason] of this.pacedWakes) {
      if (budget <= 0) break;
      this.pacedWakes.delete(r);
      if (!r.quiescent || r.destroyed || this.replicas.get(r.rangeId) !== r) continue;
      this.unquiesce(r, reason);
      this.pacedAwake.add(r);
      budget--;
    }
  }

  /**
   * Wakes `r` as unquiesce does, at a later tick, in the order asked: at most
   * maxPacedWakesPerTick a tick, and only while fewer than maxPacedAwakeGroups groups it
   * woke are still awake. For wakes nothing waits on, asked for many groups at once.
   */
  wakePaced(r: Replica<R>, reason: WakeReason): void {
    if (r.quiescent && !r.destroyed && !this.pacedWakes.has(r)) this.pacedWakes.set(r, reason);
  }

  /** Groups waiting for a paced wake. */
  get pacedWakesQueued(): number {
    return this.pacedWakes.size;
  }

  /**
   * Wakes a quiescent group: it ticks again. A leader heartbeats at once (so its
   * followers wake); a follower woken by anything but its leader asks the leader for a
   * read index (so the leader wakes). No-op for a group that is not quiescent.
   */
  unquiesce(r: Replica<R>, reason: WakeReason): void {
    r.lastActiveTick = this.tickCount;
    if (!r.quiescent || r.destroyed) return;
    this.rejoin(r);
    this.announceWake(r, reason);
    this.wake(r);
  }

  /**
   * The one raft call that broadcasts a heartbeat now (leader) or reaches the leader
   * (follower: forwarded). Its ReadState carries WAKE_READ_CTX and is ignored.
   */
  private announceWake(r: Replica<R>, reason: WakeReason): void {
    if (r.isLeader || (reason !== 'leader-message' && r.lead !== 0)) r.node.readIndex(WAKE_READ_CTX);
  }

  /**
   * Runs `act` on a group's node, waking the group first if it is quiescent. A leader
   * whose act itself reached its followers (`reached(result)`) sends no wake round: a
   * proposal raft accepted sends an append, a quorum read a heartbeat round, and either
   * wakes them (measured with 1,000 ranges under load, the wake heartbeats and their
   * answers were about a third of the transport messages; a LINEARIZABLE read of a
   * quiescent range sent two heartbeat rounds). Otherwise the wake is announced as
   * unquiesce announces it.
   */
  private wakeFor<T>(r: Replica<R>, reason: WakeReason, act: () => T, reached: (res: T) => boolean): T {
    r.lastActiveTick = this.tickCount;
    if (!r.quiescent || r.destroyed) return act();
    this.rejoin(r);
    const res = act();
    if (!r.isLeader || !reached(res)) this.announceWake(r, reason);
    this.wake(r);
    return res;
  }

  /**
   * Wakes a quiescent follower whose leader's store was declared down, with catch-up
   * ticks: the ticks it spent quiescent (real time: it heard nothing from the leader
   * since), at most `maxCatchUpTicks` (an election timeout), so it may campaign soon.
   */
  wakeForLostLeader(r: Replica<R>, maxCatchUpTicks: number): void {
    if (!r.quiescent || r.destroyed) return;
    const catchUp = Math.min(this.tickCount - r.quiescedAtTick, maxCatchUpTicks);
    r.lastActiveTick = this.tickCount;
    this.rejoin(r);
    for (let i = 0; i < catchUp; i++) r.node.tick();
    this.wake(r);
  }

  private rejoin(r: Replica<R>): void {
    r.quiescent = false;
    r.wokeAtTick = this.tickCount;
    this.ticking.add(r);
    this.stats.wakes++;
  }

  private quiesce(r: Replica<R>): void {
    r.quiescent = true;
    r.quiescedAtTick = this.tickCount;
    this.ticking.delete(r);
    this.stats.quiesced++;
  }

  /** Leader side, on a Ready taken from `r` (see quiescence.ts). */
  private leaderMayQuiesce(r: Replica<R>, rd: Ready): boolean {
    const host = this.host;
    if (host.mayQuiesce === undefined || r.quiescent || !r.isLeader) return false;
    if (this.tickCount - r.lastActiveTick < this.limits.quiesceIdleTicks) return false;
    if (r.pendingProposals > 0 || r.applying || r.applyQueue.length > 0 || r.blocked) return false;
    const heartbeats = plainHeartbeatCount(rd);
    if (heartbeats <= 0) return false;
    const st = r.node.status();
    // One heartbeat to every other member: the whole group hears the quiesce flag.
    if (st.progress === null || heartbeats !== st.progress.size - 1) return false;
    return leaderStatusQuiescent(st, (id) => host.memberAbsent?.(r, id) === true) && host.mayQuiesce(r, true);
  }

  /** Follower side, for a heartbeat flagged quiesce (see quiescence.ts). */
  private followerMayQuiesce(r: Replica<R>, m: Message): boolean {
    const host = this.host;
    if (host.mayQuiesce === undefined || r.destroyed || r.isLeader) return false;
    // A Ready still pending (e.g. the answer to the previous heartbeat) is no reason to
    // refuse: it is processed as usual, and the leader absorbs late answers. Nor is an
    // apply: it needs nothing from the leader.
    if (r.pendingProposals > 0 || r.blocked) return false;
    return followerStatusQuiescent(r.node.status(), m) && host.mayQuiesce(r, false);
  }

  /**
   * Proposes `data`; `done` is called once the entry applied (or will never apply).
   * `broadcastCommit`: followers hear of its commit at once (RawNode.propose).
   */
  propose(rangeId: number, data: Uint8Array, done: (o: ProposalOutcome<R>) => void, opts?: { broadcastCommit?: boolean }): ProposeResult {
    const r = this.replicas.get(rangeId);
    if (!r) return { ok: false, reason: 'not-leader', leader: 0, detail: `range ${rangeId} is not on this store` };
    const res = this.wakeFor(r, 'proposal', () => r.node.propose(data, opts), (x) => x.ok);
    if (res.ok) {
      r.track(res.index, res.term, done);
      this.wake(r);
    }
    return res;
  }

  /** Proposes a membership change; `done` is called once it applied (or will never apply). */
  proposeConfChange(rangeId: number, cc: ConfChangeV2, done: (o: ProposalOutcome<R>) => void): ProposeResult {
    const r = this.replicas.get(rangeId);
    if (!r) return { ok: false, reason: 'not-leader', leader: 0, detail: `range ${rangeId} is not on this store` };
    const res = this.wakeFor(r, 'proposal', () => r.node.proposeConfChange(cc), (x) => x.ok);
    if (res.ok) {
      r.track(res.index, res.term, done);
      this.wake(r);
    }
    return res;
  }

  /** Resolves when every persist submitted so far is durable and acknowledged. */
  whenPersisted(): Promise<void> {
    return this.tail;
  }

  /** Runs `f` on a group's node (conf changes, transfers, reads) and schedules it. */
  withNode<T>(rangeId: number, f: (r: Replica<R>) => T): T | undefined {
    const r = this.replicas.get(rangeId);
    if (!r) return undefined;
    this.unquiesce(r, 'admin');
    const out = f(r);
    this.wake(r);
    return out;
  }

  /**
   * A ReadIndex on a group's node (the KV service's reads), scheduled; a quiescent group
   * wakes (wakeFor: a leader whose read sends a heartbeat round needs no wake round).
   * Undefined if the group is not here; false if raft refused the read.
   */
  readIndex(rangeId: number, ctx: Uint8Array, opts: { lease: boolean }): boolean | undefined {
    const r = this.replicas.get(rangeId);
    if (!r) return undefined;
    const ok = this.wakeFor(r, 'admin', () => r.node.readIndex(ctx, opts), (asked) => asked && r.node.readIndexBroadcasts(opts.lease));
    this.wake(r);
    return ok;
  }

  wake(r: Replica<R>): void {
    if (!r.queued && !r.destroyed) {
      r.queued = true;
      this.readyQueue.push(r);
    }
    if (!this.cycleScheduled && !this.stopped) {
      this.cycleScheduled = true;
      this.clock.nextTurn(() => this.cycle());
    }
  }

  /** Stops cycling; resolves when every in-flight persist has been acknowledged. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.tail;
    for (const r of this.replicas.values()) await r.whenApplyIdle();
  }

  private cycle(): void {
    this.cycleScheduled = false;
    if (this.stopped) return;
    if (this.inflightCycles >= this.limits.maxInflightPersistCycles) {
      // Backpressure: the disk is behind; the queued groups wait for a persist to finish.
      return;
    }
    const queue = this.readyQueue;
    this.readyQueue = [];
    if (queue.length === 0) return;
    this.stats.cycles++;
    const batch = this.engine.readyBatch();
    const acks: [Replica<R>, Ready][] = [];
    const snapshots: [Replica<R>, Ready][] = [];
    // Readies acknowledged in this cycle (see the header).
    const atOnceAcks: [Replica<R>, Ready][] = [];
    /** Some message left in this cycle, before the persist: a blocking write would hold it back. */
    let sent = false;
    for (const r of queue) {
      r.queued = false;
      if (r.destroyed) continue;
      for (let n = 0; n < this.limits.maxReadiesPerGroupPerCycle && !r.blocked && r.node.hasReady(); n++) {
        const rd = r.node.ready();
        this.stats.readies++;
        if (rd.readStates.length > 0 && this.host.onReadStates) this.host.onReadStates(r, rd.readStates);
        if (rd.softState) {
          if (this.host.onSoftState) this.host.onSoftState(r, rd.softState);
          if (r.role === StateRole.Leader && rd.softState.role !== StateRole.Leader && r.pendingProposals > 0) {
            r.failUncommitted(r.node.status().commit, `leadership lost at term ${r.node.status().term} while the write waited; it may still apply`);
          }
          r.lead = rd.softState.lead;
          r.role = rd.softState.role;
        }
        // Quiescence: a heartbeat-only Ready of an idle leader goes out flagged quiesce
        // (the host reads replica.quiescent) and the group stops ticking.
        if (this.leaderMayQuiesce(r, rd)) {
          this.quiesce(r);
          r.quiesceStamp = rd.messages[0]!.index;
        }
        if (rd.messages.length > 0) {
          this.host.send(r, rd.messages);
          sent = true;
        }
        r.stamp(rd.entries, 'appended');
        if (rd.committedEntries.length > 0) {
          r.stamp(rd.committedEntries, 'committed');
          // Committed entries are durable locally already (raft hands out nothing else).
          r.applyQueue.push({ kind: 'entries', entries: rd.committedEntries });
          this.pumpApply(r);
        }
        if (rd.snapshot) {
          r.blocked = true;
          snapshots.push([r, rd]);
          break;
        }
        if (!rd.mustSync && r.readiesInFlight === 0) {
          this.engine.deferReady(r.rangeId, rd);
          atOnceAcks.push([r, rd]);
          continue;
        }
        batch.add(r.rangeId, rd);
        r.readiesInFlight++;
        acks.push([r, rd]);
      }
      if (!r.blocked && r.node.hasReady()) this.wake(r); // more than this cycle's share
    }
    if (atOnceAcks.length > 0) {
      this.stats.readiesAckedAtOnce += atOnceAcks.length;
      for (const [r, rd] of atOnceAcks) {
        if (rd.messagesAfterPersist.length > 0) sent = true;
        this.acknowledge(r, rd);
      }
    }
    this.host.flush();
    if (acks.length === 0 && snapshots.length === 0) return;
    if (batch.groups > 0) {
      this.stats.persistBatches++;
      this.stats.groupsPerBatchMax = Math.max(this.stats.groupsPerBatchMax, batch.groups);
    }
    this.inflightCycles++;
    // A cycle of a few ranges writes its small batch on this thread when the log writer is
    // idle: one fsync instead of two thread hand-offs more. One that sent nothing (a
    // follower taking appends, a voter) writes it now, and answers after it; one that sent
    // (a leader's appends) at the next turn, once the transport has written them out (a
    // blocking fsync now would hold them back). Not a cycle of many ranges: a store
    // blocked in an fsync holds back every other range's messages (with no bound on the
    // ranges, 1,000 ranges lost throughput; store README, "Write path").
    const direct = batch.groups <= this.limits.maxDirectPersistGroups;
    const durable = batch.groups === 0 ? Promise.resolve()
      : batch.submit(direct ? { direct: sent ? 'soon' : 'now' } : {});
    const prev = this.tail;
    this.tail = Promise.all([prev, durable])
      .then(() => {
        for (const [r, rd] of acks) {
          r.readiesInFlight--;
          this.acknowledge(r, rd);
        }
        this.host.flush();
      })
      .then(() => Promise.all(snapshots.map(([r, rd]) => this.persistSnapshot(r, rd))))
      .then(() => undefined)
      .catch((e: unknown) => {
        this.stopped = true;
        this.host.onFatal(e);
      })
      .finally(() => {
        this.inflightCycles--;
        if (this.readyQueue.length > 0 && !this.cycleScheduled && !this.stopped) {
          this.cycleScheduled = true;
          this.clock.nextTurn(() => this.cycle());
        }
      });
  }

  private acknowledge(r: Replica<R>, rd: Ready): void {
    if (r.destroyed) return;
    if (rd.messagesAfterPersist.length > 0) this.host.send(r, rd.messagesAfterPersist);
    r.stamp(rd.entries, 'persisted');
    r.node.ackPersisted(rd);
    this.wake(r);
  }

  /** A Ready with a snapshot: after the group's earlier applies, ingest it, then ack. */
  private async persistSnapshot(r: Replica<R>, rd: Ready): Promise<void> {
    await r.whenApplyIdle();
    if (r.destroyed) return;
    await this.engine.persistReady(r.rangeId, rd);
    r.blocked = false;
    r.applyQueue.push({ kind: 'snapshot', index: rd.snapshot!.meta.index });
    this.acknowledge(r, rd);
    this.host.flush();
    this.pumpApply(r);
  }

  private pumpApply(r: Replica<R>): void {
    if (r.applying || r.destroyed) return;
    const work = r.applyQueue.shift();
    if (!work) {
      r.notifyApplyIdle();
      return;
    }
    r.applying = true;
    void this.runApply(r, work)
      .catch((e: unknown) => {
        if (e instanceof EntryApplyError && e.rangeId === r.rangeId) {
          this.fail(r, new ReplicaFailedError(r.rangeId, e.message, { cause: e }));
          return;
        }
        this.stopped = true;
        this.host.onFatal(e);
      })
      .finally(() => {
        r.applying = false;
        if (r.destroyed) {
          r.applyQueue.length = 0;
          r.notifyApplyIdle();
          return;
        }
        this.wake(r);
        this.pumpApply(r);
      });
  }

  /** Takes a failed replica out of the loop (see GroupHost.onReplicaFailed). */
  private fail(r: Replica<R>, e: ReplicaFailedError): void {
    if (this.replicas.get(r.rangeId) !== r) return;
    this.stats.replicasFailed++;
    this.remove(r.rangeId);
    this.host.onReplicaFailed?.(r, e);
  }

  private async runApply(r: Replica<R>, work: ApplyWork): Promise<void> {
    this.stats.applies++;
    if (work.kind === 'snapshot') {
      r.node.appliedTo(work.index);
      this.host.onApplied?.(r);
      return;
    }
    const entries: ApplyEntry[] = [];
    for (const e of work.entries) {
      if (e.index <= r.log.appliedIndex) {
        // Below the applied state on disk (a snapshot covered it): raft still needs to
        // see every conf change it handed out.
        if (e.type === EntryType.ConfChange) applyConfChange(r, e);
        continue;
      }
      const ae: ApplyEntry = { index: e.index, term: e.term, type: e.type, data: e.data };
      if (e.type === EntryType.ConfChange) ae.confState = applyConfChange(r, e);
      entries.push(ae);
    }
    if (entries.length > 0) {
      const applyNs = process.hrtime.bigint();
      const results = await this.host.applyEntries(r, entries);
      this.host.observeApplySeconds?.(Number(process.hrtime.bigint() - applyNs) / 1e9);
      const observe = this.host.observeWriteStages;
      for (let i = 0; i < entries.length; i++) {
        const stages = r.settle(entries[i]!.index, entries[i]!.term, results[i] as R);
        if (stages !== null && observe !== undefined) observe.call(this.host, stages);
      }
    }
    const last = work.entries[work.entries.length - 1]!;
    r.node.appliedTo(last.index);
    if (entries.length > 0) this.host.onApplied?.(r);
  }
}

/** Hands a committed conf change to raft; one that does not decode or that raft refuses fails the replica. */
function applyConfChange<R>(r: Replica<R>, e: Entry): ConfState | null {
  let cc: ConfChangeV2;
  try {
    cc = decodeConfChange(e.data);
  } catch (err) {
    throw new EntryApplyError(r.rangeId, e.index, `conf change does not decode: ${err instanceof Error ? err.message : String(err)}`);
  }
  try {
    return r.node.applyConfChange(cc);
  } catch (err) {
    throw new EntryApplyError(r.rangeId, e.index, `raft refused the committed conf change: ${err instanceof Error ? err.message : String(err)}`);
  }
}
