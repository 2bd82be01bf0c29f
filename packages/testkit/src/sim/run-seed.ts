// One simulation run, fully determined by its seed:
//   1. safety: clients run while the fault schedule plays (partitions, message faults,
//      crashes, pauses, membership changes, leadership transfers, compactions); every
//      invariant is checked at every step;
//   2. liveness: heal everything (links, paused and crashed nodes); within a bounded
//      number of ticks a leader must emerge, a new client write must be acknowledged and
//      every member must apply it; then clients drain;
//   3. the recorded client history must be linearizable.
import { Prng, type NodeId } from '@rangekv/raft';
import { checkKvHistory, type KvCheckResult } from '../check/kv-check.js';
import type { HistoryOp } from '../history.js';
import { Clients, type ClientStats } from './clients.js';
import { Cluster, type ClusterStats, type Sabotage, type SimRaftSettings } from './cluster.js';
import { FaultInjector, generateSchedule, type FaultEpisode } from './faults.js';
import { SafetyViolation } from './invariants.js';
import { UNITS_PER_TICK } from './time.js';

export interface SeedOptions {
  seed: number;
  /** Length of the fault phase. */
  safetyTicks?: number;
  /** Bound on the liveness phase (leader + acknowledged write + convergence). */
  livenessTicks?: number;
  /** Trace sink (one line per event); null/absent = no tracing. */
  trace?: ((line: string) => void) | null;
  /** Also trace raft's internal decisions. */
  traceRaft?: boolean;
  /** Run only these schedule entries (by index); absent = all. */
  keepFaults?: readonly number[] | null;
  /** false: no faults at all (a baseline run). */
  faults?: boolean;
  /** Deliberate driver bug (harness self-tests only). */
  sabotage?: Sabotage | null;
}

export type Phase = 'safety' | 'liveness' | 'linearizability' | 'done';

export interface SeedFailure {
  phase: Phase;
  /** Invariant name ("election-safety", "liveness", "linearizability", "exception", ...). */
  invariant: string;
  message: string;
  tick: number;
}

export interface SeedResult {
  seed: number;
  ok: boolean;
  failure: SeedFailure | null;
  settings: string;
  schedule: FaultEpisode[];
  faultLog: string[];
  cluster: ClusterStats;
  clients: ClientStats;
  check: KvCheckResult | null;
  /** Ticks from healing to the acknowledged liveness write. */
  recoveryTicks: number | null;
  history: readonly HistoryOp[];
}

export const DEFAULT_SAFETY_TICKS = 2000;
export const DEFAULT_LIVENESS_TICKS = 300;
const MAX_NODE_ID = 7;

/** Per-seed raft and environment settings, drawn from the seed. */
export interface SeedSettings {
  raft: SimRaftSettings;
  persistDelayUnitsMax: number;
  applyDelayUnitsMax: number;
  snapshotOnDemand: boolean;
  /** Max relative clock-rate error per node (0 = perfect clocks). */
  clockDrift: number;
  clients: number;
  keys: number;
}

export function settingsFor(prng: Prng): SeedSettings {
  const pick = <T>(xs: readonly T[]): T => xs[prng.int(xs.length)]!;
  const checkQuorum = prng.chance(0.75);
  const electionTimeoutTicks = 10;
  const leaseMarginTicks = 1 + prng.int(3);
  // Clock drift within what the lease margin covers: a leader's lease of (ET - m) of its
  // ticks must end before a follower's ET ticks do, with one tick of quantization on top:
  // (ET - m + 1)(1 + d) <= ET (1 - d)  =>  d <= (m - 1) / (2 ET - m + 1). Keep 10% slack.
  const clockDrift = prng.chance(0.5) ? 0.9 * (leaseMarginTicks - 1) / (2 * electionTimeoutTicks - leaseMarginTicks + 1) : 0;
  const settings: SeedSettings = {
    raft: {
      lazyCommitBroadcast: false,
      electionTimeoutTicks,
      heartbeatIntervalTicks: 1 + prng.int(3),
      checkQuorum,
      preVote: prng.chance(0.75),
      leaseMarginTicks,
      maxInflightMsgs: pick([1, 2, 4, 16, 256]),
      maxMsgBytes: pick([1, 100, 400, 1 << 20]),
      maxUncommittedEntriesBytes: pick([400, 4000, 64 << 20]),
      maxApplyBytes: pick([100, 1000, 8 << 20]),
    },
    persistDelayUnitsMax: 1 + prng.int(15),
    applyDelayUnitsMax: prng.int(10),
    snapshotOnDemand: prng.chance(0.7),
    clockDrift,
    clients: 3 + prng.int(2),
    keys: 2 + prng.int(3),
  };
  // Drawn last, so every earlier setting of a seed stays what it was before this one existed.
  settings.raft.lazyCommitBroadcast = prng.chance(0.5);
  settings.raft.coalesceAppends = prng.chance(0.5);
  settings.raft.skipHeartbeatsAfterAppends = prng.chance(0.5);
  settings.raft.earlyVoteRequests = prng.chance(0.5);
  return settings;
}

export function runSeed(o: SeedOptions): SeedResult {
  const safetyTicks = o.safetyTicks ?? DEFAULT_SAFETY_TICKS;
  const livenessTicks = o.livenessTicks ?? DEFAULT_LIVENESS_TICKS;
  const root = new Prng(o.seed);
  const s = settingsFor(root.fork());
  const clusterPrng = root.fork();
  const schedulePrng = root.fork();
  const clientPrng = root.fork();
  const injectorPrng = root.fork();

  const settings = [
    `heartbeat=${s.raft.heartbeatIntervalTicks}`, `checkQuorum=${s.raft.checkQuorum}`, `preVote=${s.raft.preVote}`,
    `inflight=${s.raft.maxInflightMsgs}`, `msgBytes=${s.raft.maxMsgBytes}`, `uncommittedBytes=${s.raft.maxUncommittedEntriesBytes}`,
    `applyBytes=${s.raft.maxApplyBytes}`, `persistDelay<=${s.persistDelayUnitsMax}`, `applyDelay<=${s.applyDelayUnitsMax}`, `snapshotOnDemand=${s.snapshotOnDemand}`, `leaseMargin=${s.raft.leaseMarginTicks}`, `clockDrift=${s.clockDrift.toFixed(3)}`, `lazyCommit=${s.raft.lazyCommitBroadcast}`, `coalesceAppends=${s.raft.coalesceAppends === true}`, `skipHeartbeats=${s.raft.skipHeartbeatsAfterAppends === true}`, `earlyVotes=${s.raft.earlyVoteRequests === true}`,
    `clients=${s.clients}`, `keys=${s.keys}`,
  ].join(' ');

  const trace = o.trace ?? null;
  const cluster = new Cluster({
    prng: clusterPrng, voters: [1, 2, 3], raft: s.raft, persistDelayUnitsMax: s.persistDelayUnitsMax,
    applyDelayUnitsMax: s.applyDelayUnitsMax, clientLatencyUnitsMax: 3, snapshotOnDemand: s.snapshotOnDemand, clockDrift: s.clockDrift,
    sabotage: o.sabotage ?? null, trace, traceRaft: o.traceRaft === true,
  });
  const clients = new Clients(cluster, clientPrng, {
    clients: s.clients, keys: s.keys, leaseReads: s.raft.checkQuorum,
    attemptTimeoutTicks: 25, readAttemptTimeoutTicks: 5, opDeadlineTicks: 80, thinkTicksMax: 3,
  });
  let schedule = o.faults === false ? [] : generateSchedule(schedulePrng, { startTick: 20, endTick: safetyTicks - 20, maxNodeId: MAX_NODE_ID });
  if (o.keepFaults !== undefined && o.keepFaults !== null) {
    const keep = new Set(o.keepFaults);
    schedule = schedule.filter((e) => keep.has(e.index));
  }
  const injector = new FaultInjector(cluster, schedule, MAX_NODE_ID, injectorPrng);
  const compactPrng = clusterPrng.fork();
  cluster.tickHooks.push((tick) => {
    // Background compaction: now and then a node snapshots and trims its log.
    for (const n of cluster.nodes.values()) {
      if (n.status === 'up' && compactPrng.chance(1 / 60) && n.applied - n.storage.snapshot().meta.index >= 5) {
        cluster.compact(n.id, compactPrng.int(20));
      }
    }
    if (tick % 100 === 0) cluster.checkLogs();
  });
  if (trace !== null) trace(`seed ${o.seed}: ${settings}`);

  let phase: Phase = 'safety';
  let recoveryTicks: number | null = null;
  let check: KvCheckResult | null = null;
  const result = (failure: SeedFailure | null): SeedResult => ({
    seed: o.seed, ok: failure === null, failure, settings, schedule, faultLog: injector.applied,
    cluster: cluster.stats, clients: clients.stats, check, recoveryTicks, history: clients.history.ops(),
  });
  const fail = (invariant: string, message: string): SeedResult => {
    if (trace !== null) trace(`FAILED [${invariant}] in ${phase} at tick ${cluster.tick}: ${message}`);
    return result({ phase, invariant, message, tick: cluster.tick });
  };

  try {
    // ---- phase 1: safety under faults ----
    clients.start();
    cluster.runTicks(safetyTicks);

    // ---- phase 2: heal, then the cluster must make progress ----
    phase = 'liveness';
    injector.disable();
    injector.healAll();
    cluster.trace(null, 'HEAL: all links restored, paused nodes resumed, crashed nodes restarted');
    const healedAt = cluster.now;
    const deadline = healedAt + livenessTicks * UNITS_PER_TICK;
    const probe: { state: 'waiting' | 'ok' | 'failed' } = { state: 'waiting' };
    clients.probeWrite('live', `probe-${o.seed}`, livenessTicks, (ok) => (probe.state = ok ? 'ok' : 'failed'));
    cluster.runUntil(deadline, () => probe.state !== 'waiting');
    if (probe.state !== 'ok') {
      return fail('liveness', `no acknowledged write within ${livenessTicks} ticks after healing (${describeNodes(cluster)})`);
    }
    recoveryTicks = Math.ceil((cluster.now - healedAt) / UNITS_PER_TICK);
    const leader = cluster.leader();
    const target = cluster.inv.committedIndex();
    const lagging = (): NodeId[] => cluster.members().filter((id) => {
      const n = cluster.mustGet(id);
      return n.status !== 'destroyed' && n.applied < target;
    });
    cluster.runUntil(deadline, () => lagging().length === 0);
    if (lagging().length > 0) {
      return fail('liveness', `members [${lagging().join(',')}] did not apply index ${target} within ${livenessTicks} ticks after healing (leader ${leader === null ? 'none' : `n${leader.id}`}; ${describeNodes(cluster)})`);
    }
    clients.stop();
    cluster.runTicks(100, () => clients.idle());
    cluster.checkLogs();

    // ---- phase 3: linearizability of the client history ----
    phase = 'linearizability';
    check = checkKvHistory(clients.history.ops());
    if (check.verdict === 'violation') return fail('linearizability', check.explanation);
    phase = 'done';
    return result(null);
  } catch (e) {
    const v = Cluster.asViolation(e, cluster.now);
    if (v instanceof SafetyViolation && v.invariant !== 'exception') return fail(v.invariant, v.detail);
    return fail('exception', v.detail);
  }
}

function describeNodes(cluster: Cluster): string {
  const parts: string[] = [];
  for (const n of cluster.nodes.values()) {
    if (n.status === 'destroyed') continue;
    const st = n.raw?.status();
    parts.push(st === undefined ? `n${n.id} ${n.status}` :
      `n${n.id} ${n.status} t${st.term} ${['follower', 'candidate', 'leader', 'pre-candidate'][st.role]} lead=n${st.lead} commit=${st.commit} applied=${n.applied} last=${st.lastIndex}`);
  }
  return parts.join('; ');
}
