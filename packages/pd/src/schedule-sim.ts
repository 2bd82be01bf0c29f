// The scheduling simulator: PD's planners (balance-leader.ts, replica-checker.ts,
// balance-replica.ts) against simulated stores and ranges in simulated time, with no raft
// and no network. Each scheduler plans every intervalMs with PD's default limits (the same
// operator budgets, tolerances and store timings as a real PD); an operator takes a fixed
// simulated time (SIM_TIMINGS) and then changes the range as the real one would. A case
// sets up a cluster and an event (stores join, a store dies, one is decommissioned), and
// runs until no planner has anything to do and no operator runs, or until its simulated
// time limit; it reports the simulated time to converge, the operators used per
// scheduler, and the final spread of leaders and replicas per store.
//
//   const r = runCase(SIM_CASES['scale-out']!);   // r.convergedAtMs, r.operators, r.spread
//
// Deterministic: no clock and no randomness but the case's seeded one.
import { ReplicaRole } from '@rangekv/proto';
import { planHotMoves } from './balance-hot.js';
import { planLeaderTransfers, type BalanceRange } from './balance-leader.js';
import { planReplicaMoves } from './balance-replica.js';
import { DEFAULT_PD_LIMITS, type PdLimits } from './pd-limits.js';
import { planReplicaFixes, type CheckerRange } from './replica-checker.js';
import {
  BALANCE_HOT_SCHEDULER, BALANCE_LEADER_SCHEDULER, BALANCE_REPLICA_SCHEDULER, EVICT_SLOW_STORE_SCHEDULER, REPLICA_CHECKER_SCHEDULER,
} from './scheduler-loop.js';

/** Simulated operator durations (a replica's snapshot dominates: ranges here are assumed small). */
export const SIM_TIMINGS = {
  /** TRANSFER_LEADER, start to end. */
  transferMs: 50,
  /** A new replica: learner added, snapshot shipped, caught up, promoted. */
  addReplicaMs: 2_000,
  /** REMOVE_REPLICA of a follower (a leader's is handed away first: + transferMs). */
  removeReplicaMs: 50,
};

export interface SimStore {
  id: number;
  /** Heartbeating. */
  up: boolean;
  /** When it stopped heartbeating (simulated ms), else null. */
  downSinceMs: number | null;
  state: 'serving' | 'offline' | 'tombstone';
}

export interface SimRange {
  rangeId: number;
  /** Voter stores (the simulator has no learners at rest: an add is one timed step). */
  voters: number[];
  leader: number;
  /** Write load (the hot-range scheduler's input); 0 when absent. */
  writesPerSecond?: number;
}

type OpKind = 'transfer' | 'move' | 'add' | 'remove';

interface SimOp {
  kind: OpKind;
  scheduler: string;
  rangeId: number;
  from: number;
  to: number;
  doneAtMs: number;
}

export interface SimCluster {
  stores: SimStore[];
  ranges: SimRange[];
}

export interface SimCase {
  name: string;
  description: string;
  /** The cluster at time 0, before the event. */
  setup(): SimCluster;
  /** What happens at time 0 (a store joins, dies, is decommissioned). */
  event(c: SimCluster): void;
  /** Later events (a hot spot moves), by simulated time. */
  later?: ReadonlyArray<{ atMs: number; apply(c: SimCluster): void }>;
  /** Stop after this much simulated time even if not converged. */
  maxSimMs: number;
  /** Stop after this many scheduler rounds (wall-clock bound for the big cases). */
  maxRounds?: number;
  limits?: Partial<PdLimits>;
}

export interface SimSpread {
  /** Over Up serving stores. */
  leadersMin: number;
  leadersMax: number;
  replicasMin: number;
  replicasMax: number;
}

export interface SimResult {
  name: string;
  converged: boolean;
  /** Simulated ms until the last operator finished and nothing more was planned (or when stopped). */
  simMs: number;
  /** Planning rounds run (rounds that could only repeat the previous empty plan are skipped). */
  rounds: number;
  operators: Record<string, number>;
  spread: SimSpread;
  /** Ranges with fewer voters than replicaCount on live stores at the end. */
  underReplicated: number;
  /** Replicas left on stores that are down, offline or tombstone. */
  replicasOnLeavingStores: number;
  /** Writes per second led by the most and the least loaded live store. */
  loadMax: number;
  loadMin: number;
  /** Wall-clock ms spent planning, total and per round. */
  planWallMs: number;
  wallMsPerRound: number;
}

/** Runs one case to convergence (or its limits). */
export function runCase(sc: SimCase): SimResult {
  const limits: PdLimits = { ...DEFAULT_PD_LIMITS, ...(sc.limits ?? {}) };
  const c = sc.setup();
  sc.event(c);
  const byId = new Map(c.ranges.map((r) => [r.rangeId, r]));
  const ops = new Map<number, SimOp>();
  const counts: Record<string, number> = {};
  let now = 0;
  let rounds = 0;
  let planWallMs = 0;
  let lastActivityMs = 0;
  const interval = Math.min(limits.leaderBalanceIntervalMs, limits.replicaCheckIntervalMs, limits.replicaBalanceIntervalMs);
  failLeaders(c);
  const pending = [...(sc.later ?? [])].sort((a, b) => a.atMs - b.atMs);
  let lastHotPlanMs = Number.NEGATIVE_INFINITY;
  for (;;) {
    while (pending.length > 0 && pending[0]!.atMs <= now) pending.shift()!.apply(c);
    // Operators that are done change their range.
    for (const [rangeId, op] of [...ops]) {
      if (op.doneAtMs > now) continue;
      finish(c, byId.get(rangeId)!, op);
      ops.delete(rangeId);
      lastActivityMs = op.doneAtMs;
    }
    tombstones(c);
    const t0 = performance.now();
    const hotDue = now - lastHotPlanMs >= limits.hotBalanceIntervalMs;
    if (hotDue) lastHotPlanMs = now;
    const planned = planRound(c, ops, now, limits, hotDue);
    planWallMs += performance.now() - t0;
    rounds++;
    for (const op of planned) {
      ops.set(op.rangeId, op);
      counts[op.scheduler] = (counts[op.scheduler] ?? 0) + 1;
      lastActivityMs = now;
    }
    const quiet = planned.length === 0 && ops.size === 0;
    // A dead store is replaced only after maxStoreDownTimeMs: quiet before that is not convergence.
    const waitingForDeath = c.stores.some((s) => !s.up && s.state !== 'tombstone' && s.downSinceMs !== null &&
      now - s.downSinceMs < limits.maxStoreDownTimeMs && c.ranges.some((r) => r.voters.includes(s.id)));
    // Converged only on a round where every scheduler planned (the hot one runs less often).
    if ((quiet && hotDue && !waitingForDeath && pending.length === 0) || now >= sc.maxSimMs || rounds >= (sc.maxRounds ?? Number.POSITIVE_INFINITY)) {
      return report(sc.name, c, limits, quiet && !waitingForDeath && pending.length === 0, quiet ? lastActivityMs : now, rounds, counts, planWallMs);
    }
    // Plans depend only on the layout, the running operators and the dead stores: after a
    // round that planned nothing, every round is the same until an operator finishes or a
    // store becomes dead, so the next round run is the first one after that.
    let next = now + interval;
    if (planned.length === 0) {
      const events = [...[...ops.values()].map((o) => o.doneAtMs), ...pending.map((p) => p.atMs), lastHotPlanMs + limits.hotBalanceIntervalMs,
        ...c.stores.filter((s) => !s.up && s.downSinceMs !== null).map((s) => s.downSinceMs! + limits.maxStoreDownTimeMs).filter((t) => t > now)];
      if (events.length > 0) next = Math.max(next, Math.ceil(Math.min(...events) / interval) * interval);
    }
    now = next;
  }
}

/** Leaders on stores that are not up move to another live voter (an election). */
function failLeaders(c: SimCluster): void {
  const up = new Set(c.stores.filter((s) => s.up).map((s) => s.id));
  for (const r of c.ranges) {
    if (up.has(r.leader)) continue;
    const next = r.voters.filter((s) => up.has(s)).sort((a, b) => a - b)[0];
    if (next !== undefined) r.leader = next;
  }
}

function finish(c: SimCluster, r: SimRange, op: SimOp): void {
  const otherLeader = (): number => r.voters.filter((s) => s !== op.from && c.stores.find((x) => x.id === s)?.up === true).sort((a, b) => a - b)[0] ?? r.leader;
  switch (op.kind) {
    case 'transfer': r.leader = op.to; break;
    case 'add': r.voters = [...r.voters, op.to]; break;
    case 'remove':
      if (r.leader === op.from) r.leader = otherLeader();
      r.voters = r.voters.filter((s) => s !== op.from);
      break;
    case 'move':
      if (r.leader === op.from) r.leader = otherLeader();
      r.voters = r.voters.map((s) => (s === op.from ? op.to : s));
      break;
  }
}

/** Offline stores holding nothing become tombstone (as the replica checker's loop does). */
function tombstones(c: SimCluster): void {
  for (const s of c.stores) {
    if (s.state === 'offline' && !c.ranges.some((r) => r.voters.includes(s.id))) s.state = 'tombstone';
  }
}

function planRound(c: SimCluster, ops: ReadonlyMap<number, SimOp>, now: number, limits: PdLimits, hotDue: boolean): SimOp[] {
  const out: SimOp[] = [];
  const busy = (id: number): boolean => ops.has(id) || out.some((o) => o.rangeId === id);
  const running = (names: string[]): SimOp[] => [...ops.values(), ...out].filter((o) => names.includes(o.scheduler));
  const serving = c.stores.filter((s) => s.state !== 'tombstone');
  const upServing = serving.filter((s) => s.up && s.state === 'serving').map((s) => s.id);
  const checkerRanges = (): CheckerRange[] => c.ranges.map((r) => ({
    rangeId: r.rangeId, leaderStore: r.leader, busy: busy(r.rangeId),
    replicas: r.voters.map((storeId) => ({ storeId, role: ReplicaRole.Voter })),
  }));
  // Replica checker.
  for (const f of planReplicaFixes({
    stores: serving.map((s) => ({
      id: s.id, up: s.up, downForMs: s.downSinceMs === null ? 0 : now - s.downSinceMs, offline: s.state === 'offline',
    })),
    ranges: checkerRanges(), running: running([REPLICA_CHECKER_SCHEDULER]).length,
  }, { replicaCount: limits.replicaCount, maxStoreDownTimeMs: limits.maxStoreDownTimeMs, maxOperators: limits.maxReplicaCheckerOperators })) {
    const r = c.ranges.find((x) => x.rangeId === f.rangeId)!;
    if (f.kind === 'replace') out.push(op('move', REPLICA_CHECKER_SCHEDULER, f.rangeId, f.fromStore, f.toStore, now, r));
    else if (f.kind === 'add') out.push(op('add', REPLICA_CHECKER_SCHEDULER, f.rangeId, 0, f.toStore, now, r));
    else out.push(op('remove', REPLICA_CHECKER_SCHEDULER, f.rangeId, f.fromStore, 0, now, r));
  }
  // Leader balance (offline stores' leaders evicted).
  const balanceRanges: BalanceRange[] = c.ranges.map((r) => {
    const o = ops.get(r.rangeId) ?? out.find((x) => x.rangeId === r.rangeId);
    return { rangeId: r.rangeId, leaderStore: r.leader, voterStores: r.voters, busy: o !== undefined, transferTo: o?.kind === 'transfer' ? o.to : 0 };
  });
  for (const t of planLeaderTransfers({
    upStores: upServing, ranges: balanceRanges, running: running([BALANCE_LEADER_SCHEDULER, EVICT_SLOW_STORE_SCHEDULER]).length,
    evictStores: serving.filter((s) => s.state === 'offline').map((s) => s.id),
  }, { tolerance: limits.leaderBalanceTolerance, maxOperators: limits.maxLeaderBalanceOperators })) {
    if (busy(t.rangeId)) continue;
    out.push({ kind: 'transfer', scheduler: BALANCE_LEADER_SCHEDULER, rangeId: t.rangeId, from: t.fromStore, to: t.toStore, doneAtMs: now + SIM_TIMINGS.transferMs });
  }
  // Hot ranges (every hotBalanceIntervalMs: the rates' measuring period).
  if (hotDue) {
    for (const m of planHotMoves({
      upStores: upServing, running: running([BALANCE_HOT_SCHEDULER]).length,
      ranges: c.ranges.map((r) => ({ rangeId: r.rangeId, leaderStore: r.leader, voterStores: r.voters, writesPerSecond: r.writesPerSecond ?? 0, busy: busy(r.rangeId) })),
    }, { hotLoadRatio: limits.hotLoadRatio, minHotWritesPerSecond: limits.minHotWritesPerSecond, maxOperators: limits.maxHotOperators })) {
      if (busy(m.rangeId)) continue;
      if (m.kind === 'move') out.push(op('move', BALANCE_HOT_SCHEDULER, m.rangeId, m.fromStore, m.toStore, now, c.ranges.find((x) => x.rangeId === m.rangeId)!));
      else out.push({ kind: 'transfer', scheduler: BALANCE_HOT_SCHEDULER, rangeId: m.rangeId, from: m.fromStore, to: m.toStore, doneAtMs: now + SIM_TIMINGS.transferMs });
    }
  }
  // Replica balance.
  for (const m of planReplicaMoves({
    upStores: upServing.map((id) => ({ id, capacityBytes: 0, availableBytes: 0 })),
    ranges: checkerRanges(),
    running: running([BALANCE_REPLICA_SCHEDULER]).map((o) => ({ rangeId: o.rangeId, fromStore: o.from, toStore: o.to })),
  }, { tolerance: limits.replicaBalanceTolerance, maxOperators: limits.maxReplicaBalanceOperators, lowSpaceRatio: limits.lowSpaceRatio })) {
    if (busy(m.rangeId)) continue;
    out.push(op('move', BALANCE_REPLICA_SCHEDULER, m.rangeId, m.fromStore, m.toStore, now, c.ranges.find((x) => x.rangeId === m.rangeId)!));
  }
  return out;
}

function op(kind: OpKind, scheduler: string, rangeId: number, from: number, to: number, now: number, r: SimRange): SimOp {
  const handAway = (kind === 'move' || kind === 'remove') && r.leader === from ? SIM_TIMINGS.transferMs : 0;
  const ms = kind === 'add' ? SIM_TIMINGS.addReplicaMs
    : kind === 'remove' ? SIM_TIMINGS.removeReplicaMs + handAway
      : SIM_TIMINGS.addReplicaMs + SIM_TIMINGS.removeReplicaMs + handAway;
  return { kind, scheduler, rangeId, from, to, doneAtMs: now + ms };
}

function report(
  name: string, c: SimCluster, limits: PdLimits, converged: boolean, simMs: number, rounds: number, operators: Record<string, number>, planWallMs: number,
): SimResult {
  const live = c.stores.filter((s) => s.up && s.state === 'serving').map((s) => s.id);
  const leaving = new Set(c.stores.filter((s) => !s.up || s.state !== 'serving').map((s) => s.id));
  const leaders = live.map((s) => c.ranges.filter((r) => r.leader === s).length);
  const replicas = live.map((s) => c.ranges.filter((r) => r.voters.includes(s)).length);
  const load = live.map((s) => c.ranges.filter((r) => r.leader === s).reduce((n, r) => n + (r.writesPerSecond ?? 0), 0));
  return {
    name, converged, simMs, rounds, operators,
    spread: { leadersMin: Math.min(...leaders), leadersMax: Math.max(...leaders), replicasMin: Math.min(...replicas), replicasMax: Math.max(...replicas) },
    loadMax: Math.max(...load), loadMin: Math.min(...load),
    underReplicated: c.ranges.filter((r) => r.voters.filter((s) => !leaving.has(s)).length < limits.replicaCount).length,
    replicasOnLeavingStores: c.ranges.reduce((n, r) => n + r.voters.filter((s) => leaving.has(s)).length, 0),
    planWallMs: Math.round(planWallMs), wallMsPerRound: Math.round((planWallMs / Math.max(1, rounds)) * 100) / 100,
  };
}

// ---- cases ---------------------------------------------------------------------------

function stores(n: number): SimStore[] {
  return Array.from({ length: n }, (_, i) => ({ id: i + 1, up: true, downSinceMs: null, state: 'serving' as const }));
}

/** `n` ranges with 3 voters spread round-robin over `over` stores; leaders on `leaderOf(i)`. */
function ranges(n: number, over: number, leaderOf: (i: number, voters: number[]) => number): SimRange[] {
  return Array.from({ length: n }, (_, i) => {
    const voters = [0, 1, 2].map((k) => ((i + k) % over) + 1);
    return { rangeId: i + 1, voters, leader: leaderOf(i, voters) };
  });
}

const spreadLeaders = (i: number, voters: number[]): number => voters[i % 3]!;

export const SIM_CASES: Record<string, SimCase> = {
  'leaders-on-one': {
    name: 'leaders-on-one', description: '3 stores, 1,000 ranges split from one range: every leader on store 1',
    setup: () => ({ stores: stores(3), ranges: ranges(1_000, 3, () => 1) }), event: () => undefined, maxSimMs: 3_600_000,
  },
  'scale-out': {
    name: 'scale-out', description: '3 stores with 10,000 ranges, then 3 empty stores join (3 -> 6)',
    setup: () => ({ stores: stores(3), ranges: ranges(10_000, 3, spreadLeaders) }),
    event: (c) => c.stores.push(...stores(6).slice(3)), maxSimMs: 48 * 3_600_000,
  },
  'dead-store': {
    name: 'dead-store', description: '6 stores, 3,000 ranges; store 6 dies for good (replaced after maxStoreDownTimeMs, 30 min)',
    setup: () => ({ stores: stores(6), ranges: ranges(3_000, 6, spreadLeaders) }),
    event: (c) => {
      const s = c.stores.find((x) => x.id === 6)!;
      s.up = false;
      s.downSinceMs = 0;
    },
    maxSimMs: 24 * 3_600_000,
  },
  'decommission': {
    name: 'decommission', description: '6 stores, 3,000 ranges; store 6 is decommissioned',
    setup: () => ({ stores: stores(6), ranges: ranges(3_000, 6, spreadLeaders) }),
    event: (c) => {
      c.stores.find((x) => x.id === 6)!.state = 'offline';
    },
    maxSimMs: 24 * 3_600_000,
  },
  'hot-spot': {
    name: 'hot-spot',
    description: '3 stores, 300 ranges at 1 w/s; ranges 1-10 take 200 w/s each, all led by store 1; after 10 min the hot spot moves to 10 ranges led by store 2',
    setup: () => ({
      stores: stores(3),
      ranges: ranges(300, 3, spreadLeaders).map((r, i) => ({ ...r, leader: i < 10 ? 1 : r.leader, writesPerSecond: i < 10 ? 200 : 1 })),
    }),
    event: () => undefined,
    later: [{
      atMs: 600_000,
      apply: (c) => {
        for (const r of c.ranges) r.writesPerSecond = 1;
        for (const r of c.ranges.filter((x) => x.leader === 2).slice(0, 10)) r.writesPerSecond = 200;
      },
    }],
    maxSimMs: 3_600_000,
  },
  'large': {
    name: 'large',
    description: '100,000 ranges on 90 stores, every leader on its range\'s first store; 10 empty stores join (100 stores); bounded to 100 rounds (planner cost)',
    setup: () => ({ stores: stores(90), ranges: ranges(100_000, 90, (_i, v) => v[0]!) }),
    event: (c) => c.stores.push(...stores(100).slice(90)),
    maxSimMs: 24 * 3_600_000, maxRounds: 100,
  },
};

/** A small case for tests: `n` ranges on 3 stores, then `join` more stores. */
export function scaleOutCase(n: number, join: number): SimCase {
  return {
    name: `scale-out-${n}`, description: `3 stores with ${n} ranges, then ${join} join`,
    setup: () => ({ stores: stores(3), ranges: ranges(n, 3, spreadLeaders) }),
    event: (c) => c.stores.push(...stores(3 + join).slice(3)), maxSimMs: 24 * 3_600_000,
  };
}

/** A small case for tests: `n` ranges on `s` stores; store `s` dies (or is decommissioned). */
export function leaveCase(n: number, s: number, how: 'dies' | 'decommissioned'): SimCase {
  return {
    name: `${how}-${n}`, description: `${s} stores, ${n} ranges; store ${s} ${how}`,
    setup: () => ({ stores: stores(s), ranges: ranges(n, s, spreadLeaders) }),
    event: (c) => {
      const st = c.stores.find((x) => x.id === s)!;
      if (how === 'dies') {
        st.up = false;
        st.downSinceMs = 0;
      } else st.state = 'offline';
    },
    maxSimMs: 24 * 3_600_000,
  };
}
