// One store's Prometheus metrics (prom-client), in a Registry of its own: several
// StoreServers share a process in tests, so nothing goes to prom-client's global registry.
//
//   const m = new StoreMetrics(sources);
//   m.commitSeconds.observe(0.004);          // observation points: one line where it happens
//   m.splits.inc();
//   await m.text();                          // refresh the pulled values, then the text format
//
// Two kinds of values:
// - observed: histograms and counters fed where the event happens (commit latency in
//   kv-service.ts, apply latency in raft-scheduler.ts, gRPC latency in kv-grpc.ts, WAL
//   fsync duration from the log writer's sync observer, leader changes on soft state).
// - pulled: gauges and totals read from plain stats that already exist (replicas, the
//   transport's metrics(), store counters) ONCE per scrape in refresh(), not one collect()
//   per metric: with 10,000 ranges a scrape walks the replicas once. Per-range values are
//   aggregated (max / sum), never one label set per range.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { TransportMetrics } from '@rangekv/transport';

/** Every metric name starts with this. */
export const METRIC_PREFIX = 'rangekv_';

/** Request-path latencies (commit, ReadIndex, gRPC), seconds: 0.25 ms .. 10 s. */
export const LATENCY_BUCKETS_SECONDS: readonly number[] = [
  0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** Disk-bound steps (WAL fsync, apply batch), seconds: 50 µs .. 2.5 s. */
export const DISK_BUCKETS_SECONDS: readonly number[] = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
];

/** What refresh() needs to know about one replica (a Replica fits). */
export interface ReplicaView {
  readonly isLeader: boolean;
  /** Set by quiescence when present; absent counts as not quiescent. */
  readonly quiescent?: boolean;
  readonly pendingProposals: number;
  readonly node: {
    status(): { term: number; lastIndex: number; progress: ReadonlyMap<number, { match: number }> | null };
  };
}

/** Plain totals read at each scrape. */
export interface StoreMetricsSources {
  replicas(): Iterable<ReplicaView>;
  /** null before the transport started. */
  transport(): TransportMetrics | null;
  snapshots(): { sent: number; received: number };
  scheduler(): { cycles: number; persistBatches: number };
  reads(): { served: number; failed: number; timedOut: number };
  /** Replicas failed by a committed entry they could not apply (StoreServer.failedRanges). */
  failedReplicas(): number;
  /** Replicas created by message and not initialized yet: live (in the loop) and dormant (on disk only). */
  uninitialized(): { live: number; dormant: number };
  /** Replica GC (replica-gc.ts): suspects checked with PD, removed replicas destroyed (absent: 0). */
  replicaGc?(): { checks: number; collected: number; keptForMerge: number };
  /** Log writer requests written on the main thread, and times a slow disk paused that (storage LogWriter stats; absent: 0). */
  logWriter?(): { directWrites: number; directPauses: number };
}

export interface StoreMetricsOptions {
  /** Also export prom-client's process metrics (CPU, RSS, event loop lag, GC) as rangekv_process_*; one per process. */
  processMetrics?: boolean;
}

/** Aggregates over all replicas, computed once per scrape. */
export interface ReplicaAggregates {
  ranges: number;
  leaders: number;
  quiescent: number;
  termMax: number;
  /** Leader's view: lastIndex - match of each follower, over all ranges this store leads. */
  followerLagMaxEntries: number;
  followerLagSumEntries: number;
  pendingProposals: number;
}

export function aggregateReplicas(replicas: Iterable<ReplicaView>): ReplicaAggregates {
  const a: ReplicaAggregates = {
    ranges: 0, leaders: 0, quiescent: 0, termMax: 0, followerLagMaxEntries: 0, followerLagSumEntries: 0, pendingProposals: 0,
  };
  for (const r of replicas) {
    a.ranges++;
    if (r.quiescent === true) a.quiescent++;
    a.pendingProposals += r.pendingProposals;
    const st = r.node.status();
    if (st.term > a.termMax) a.termMax = st.term;
    if (!r.isLeader) continue;
    a.leaders++;
    if (st.progress === null) continue;
    for (const pr of st.progress.values()) {
      const lag = Math.max(0, st.lastIndex - pr.match);
      a.followerLagSumEntries += lag;
      if (lag > a.followerLagMaxEntries) a.followerLagMaxEntries = lag;
    }
  }
  return a;
}

export class StoreMetrics {
  readonly registry = new Registry();

  // ---- observed --------------------------------------------------------------------------
  /** A replica here learned of a new leader (soft state with a different, known lead). */
  readonly leaderChanges: Counter;
  readonly walFsyncSeconds: Histogram;
  /** Propose on the leader -> applied there (what a writer waits for). */
  readonly commitSeconds: Histogram;
  /** One apply task (a batch of committed entries of one range -> one engine.apply). */
  readonly applySeconds: Histogram;
  /** One malloc_trim on the thread pool (store-main's MallocTrimmer), by whether it gave memory back. */
  readonly mallocTrimSeconds: Histogram<'released'>;
  /** One full V8 collection of a reclaim after a burst (store-main's MallocTrimmer). */
  readonly reclaimGcSeconds: Histogram;
  /** Bytes of V8 heap + external memory one reclaim's collection freed. */
  readonly reclaimFreedBytes: Counter;
  /**
   * A write on its leader, from proposed to each later stage (label stage: appended,
   * persisted, committed, applied, answered; see multiraft's WriteStages).
   */
  readonly writeStageSeconds: Histogram<'stage'>;
  /** ReadIndex asked -> applied up to the read index; label mode: lease | quorum. */
  readonly readIndexSeconds: Histogram<'mode'>;
  /** Per KV gRPC call: labels method (Put, Get, ...) and code (OK, INVALID_ARGUMENT, ...). */
  readonly grpcSeconds: Histogram<'method' | 'code'>;
  /** Splits applied on this store (the split code calls splits.inc()). */
  readonly splits: Counter;
  /** Merges coordinated by this store, by outcome: started, committed, rolled_back, unknown. */
  readonly merges: Counter<'outcome'>;
  /** Merges coordinated here: how long the right range was frozen (freeze applied until merged or unfrozen). */
  readonly mergeFrozenSeconds: Histogram;

  // ---- pulled (refresh) ------------------------------------------------------------------
  private readonly ranges: Gauge;
  private readonly leaders: Gauge;
  private readonly quiescent: Gauge;
  private readonly failed: Gauge;
  private readonly uninitLive: Gauge;
  private readonly uninitDormant: Gauge;
  private readonly termMax: Gauge;
  private readonly lagMax: Gauge;
  private readonly lagSum: Gauge;
  private readonly pendingProposals: Gauge;
  private readonly hbPacketsSent: Counter;
  private readonly hbPacketsReceived: Counter;
  private readonly hbSent: Counter;
  private readonly hbReceived: Counter;
  private readonly hbPerPacketSent: Gauge;
  private readonly hbPerPacketReceived: Gauge;
  private readonly msgsSent: Counter;
  private readonly msgsReceived: Counter;
  private readonly bytesSent: Counter;
  private readonly bytesReceived: Counter;
  private readonly drops: Counter<'reason'>;
  private readonly inboundRejects: Counter;
  private readonly snapSent: Counter;
  private readonly snapReceived: Counter;
  private readonly cycles: Counter;
  private readonly persistBatches: Counter;
  private readonly walDirectWrites: Counter;
  private readonly walDirectPauses: Counter;
  private readonly readsTimedOut: Counter;
  private readonly gcChecks: Counter;
  private readonly gcCollected: Counter;
  private readonly gcKeptForMerge: Counter;

  constructor(private readonly sources: StoreMetricsSources, opts: StoreMetricsOptions = {}) {
    const registers = [this.registry];
    const P = METRIC_PREFIX;
    const counter = (name: string, help: string): Counter => new Counter({ name: P + name, help, registers });
    const gauge = (name: string, help: string): Gauge => new Gauge({ name: P + name, help, registers });
    const lat = [...LATENCY_BUCKETS_SECONDS];
    const disk = [...DISK_BUCKETS_SECONDS];

    this.leaderChanges = counter('leader_changes_total', 'Times a replica on this store learned of a new raft leader');
    this.walFsyncSeconds = new Histogram({ name: P + 'wal_fsync_duration_seconds', help: 'Log writer sync batch write + fsync', buckets: disk, registers });
    this.commitSeconds = new Histogram({ name: P + 'commit_latency_seconds', help: 'Write proposed on the leader until applied there', buckets: lat, registers });
    this.mallocTrimSeconds = new Histogram({
      name: P + 'malloc_trim_duration_seconds', help: 'Freed heap memory given back to the kernel (glibc malloc_trim on the thread pool), by whether any was',
      labelNames: ['released'], buckets: disk, registers,
    });
    this.reclaimGcSeconds = new Histogram({
      name: P + 'reclaim_gc_duration_seconds', help: 'The pause of one full V8 collection run after a burst, once memory went quiet (store-main only)', buckets: disk, registers,
    });
    this.reclaimFreedBytes = counter('reclaim_freed_bytes_total', 'V8 heap + external memory freed by the collections run after bursts (store-main only)');
    this.applySeconds = new Histogram({ name: P + 'apply_duration_seconds', help: 'One apply task: a batch of committed entries of one range', buckets: disk, registers });
    this.writeStageSeconds = new Histogram({
      name: P + 'write_stage_seconds',
      help: 'A write on its leader, from proposed until each stage (appended: handed out by raft; persisted: local write durable; committed: handed out as committed; applied; answered)',
      labelNames: ['stage'], buckets: lat, registers,
    });
    this.readIndexSeconds = new Histogram({
      name: P + 'read_index_latency_seconds', help: 'ReadIndex asked until applied up to the read index (mode: lease | quorum)',
      labelNames: ['mode'], buckets: lat, registers,
    });
    this.grpcSeconds = new Histogram({
      name: P + 'grpc_request_duration_seconds', help: 'KV gRPC calls by method and status code',
      labelNames: ['method', 'code'], buckets: lat, registers,
    });
    this.splits = counter('splits_total', 'Range splits applied on this store');
    this.merges = new Counter({ name: P + 'merges_total', help: 'Range merges coordinated by this store, by outcome (started, committed, rolled_back, unknown)', labelNames: ['outcome'], registers });
    this.mergeFrozenSeconds = new Histogram({ name: P + 'merge_frozen_seconds', help: 'Merges coordinated here: the right range frozen (no writes, no reads) until merged or unfrozen', buckets: lat, registers });

    this.ranges = gauge('ranges', 'Replicas (ranges) on this store');
    this.leaders = gauge('leader_ranges', 'Ranges whose replica on this store leads');
    this.quiescent = gauge('quiescent_ranges', 'Ranges on this store that are quiescent (not ticking)');
    this.uninitLive = gauge('uninitialized_replicas', 'Replicas created by a raft message and waiting for a snapshot (live in the ready loop)');
    this.uninitDormant = gauge('dormant_replicas', 'Uninitialized replicas that went idle: on disk only, back at the next leader message');
    this.failed = gauge('failed_replicas', 'Replicas on this store stopped by a committed entry they cannot apply (serve nothing; a restart meets the same entry and fails them again)');
    this.termMax = gauge('raft_term_max', 'Highest raft term over the ranges on this store');
    this.lagMax = gauge('follower_lag_max_entries', 'Leader view: largest lastIndex - match of a follower over the ranges led here');
    this.lagSum = gauge('follower_lag_sum_entries', 'Leader view: sum of lastIndex - match over all followers of ranges led here');
    this.pendingProposals = gauge('pending_proposals', 'Writes proposed and waiting to apply');
    this.hbPacketsSent = counter('heartbeat_packets_sent_total', 'Transport batches carrying coalesced heartbeats, sent');
    this.hbPacketsReceived = counter('heartbeat_packets_received_total', 'Transport batches carrying coalesced heartbeats, received');
    this.hbSent = counter('heartbeats_sent_total', 'Raft heartbeats and responses sent inside coalesced packets');
    this.hbReceived = counter('heartbeats_received_total', 'Raft heartbeats and responses received inside coalesced packets');
    this.hbPerPacketSent = gauge('heartbeats_per_packet_sent', 'heartbeats_sent_total / heartbeat_packets_sent_total since start');
    this.hbPerPacketReceived = gauge('heartbeats_per_packet_received', 'heartbeats_received_total / heartbeat_packets_received_total since start');
    this.inboundRejects = counter('transport_inbound_rejects_total', 'Raft messages (or coalesced sections) from peers refused alone as malformed or out of range');
    this.msgsSent = counter('transport_messages_sent_total', 'Raft messages written to peer streams');
    this.msgsReceived = counter('transport_messages_received_total', 'Raft messages received from peer streams');
    this.bytesSent = counter('transport_sent_bytes_total', 'Encoded transport batch bytes sent');
    this.bytesReceived = counter('transport_received_bytes_total', 'Encoded transport batch bytes received');
    this.drops = new Counter({ name: P + 'transport_dropped_messages_total', help: 'Raft messages dropped at the sender, by reason', labelNames: ['reason'], registers });
    this.snapSent = counter('snapshots_sent_total', 'Raft snapshots sent to peer stores');
    this.snapReceived = counter('snapshots_received_total', 'Raft snapshots received from peer stores');
    this.cycles = counter('scheduler_cycles_total', 'Ready loop cycles');
    this.persistBatches = counter('scheduler_persist_batches_total', 'Persist batches (one log writer request each) submitted by the ready loop');
    this.walDirectWrites = counter('wal_direct_writes_total', 'Log writer requests written and fsynced on the main thread (a cycle of a few ranges while the log writer was idle)');
    this.walDirectPauses = counter('wal_direct_pauses_total', 'Times the direct path was paused: sync batches averaged over maxDirectSyncMicros (a slow disk)');
    this.readsTimedOut = counter('reads_timed_out_total', 'Reads failed after readTimeoutMs');
    this.gcChecks = counter('replica_gc_checks_total', 'Leaderless replicas checked with PD for removal (replica GC)');
    this.gcCollected = counter('replicas_collected_total', 'Replicas removed from their range while this store was away, destroyed by replica GC');
    this.gcKeptForMerge = counter('replicas_kept_for_merge_total', 'Removed replicas replica GC kept because the replica before them here was not current (a merge may still need them)');
    if (opts.processMetrics === true) collectDefaultMetrics({ register: this.registry, prefix: P });
  }

  /** Reads the pulled values (one pass over the replicas). */
  refresh(): ReplicaAggregates {
    const a = aggregateReplicas(this.sources.replicas());
    this.ranges.set(a.ranges);
    this.leaders.set(a.leaders);
    this.quiescent.set(a.quiescent);
    this.failed.set(this.sources.failedReplicas());
    const u = this.sources.uninitialized();
    this.uninitLive.set(u.live);
    this.uninitDormant.set(u.dormant);
    this.termMax.set(a.termMax);
    this.lagMax.set(a.followerLagMaxEntries);
    this.lagSum.set(a.followerLagSumEntries);
    this.pendingProposals.set(a.pendingProposals);
    const t = this.sources.transport();
    if (t !== null) {
      setTotal(this.hbPacketsSent, t.heartbeatPacketsSent);
      setTotal(this.hbPacketsReceived, t.heartbeatPacketsReceived);
      setTotal(this.hbSent, t.heartbeatsSent);
      setTotal(this.hbReceived, t.heartbeatsReceived);
      this.hbPerPacketSent.set(t.heartbeatsPerPacketSent);
      this.hbPerPacketReceived.set(t.heartbeatsPerPacketReceived);
      setTotal(this.msgsSent, t.messagesSent);
      setTotal(this.msgsReceived, t.messagesReceived);
      setTotal(this.bytesSent, t.bytesSent);
      setTotal(this.bytesReceived, t.bytesReceived);
      setTotal(this.inboundRejects, t.inboundMessageRejects);
      this.drops.reset();
      for (const [reason, n] of Object.entries(t.drops)) if (n > 0) this.drops.inc({ reason }, n);
    }
    const lw = this.sources.logWriter?.() ?? { directWrites: 0, directPauses: 0 };
    setTotal(this.walDirectWrites, lw.directWrites);
    setTotal(this.walDirectPauses, lw.directPauses);
    const gc = this.sources.replicaGc?.() ?? { checks: 0, collected: 0, keptForMerge: 0 };
    setTotal(this.gcChecks, gc.checks);
    setTotal(this.gcCollected, gc.collected);
    setTotal(this.gcKeptForMerge, gc.keptForMerge);
    const snaps = this.sources.snapshots();
    setTotal(this.snapSent, snaps.sent);
    setTotal(this.snapReceived, snaps.received);
    const sch = this.sources.scheduler();
    setTotal(this.cycles, sch.cycles);
    setTotal(this.persistBatches, sch.persistBatches);
    setTotal(this.readsTimedOut, this.sources.reads().timedOut);
    return a;
  }

  /** The Prometheus text exposition, refreshed. */
  async text(): Promise<string> {
    this.refresh();
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/** A counter whose total lives elsewhere: set it to that total. */
function setTotal(c: Counter, total: number): void {
  c.reset();
  if (total > 0) c.inc(total);
}

/** Seconds since `startNs` (process.hrtime.bigint()). */
export function secondsSince(startNs: bigint): number {
  return Number(process.hrtime.bigint() - startNs) / 1e9;
}
