// The replica checker's planner: which ranges need a replica replaced, added or removed so
// that each keeps `replicaCount` voters on distinct live stores. Pure and deterministic
// (ties broken by store id, then range id), so it is tested on its own; pd-service.ts runs
// it in a SchedulerLoop on the PD leader and turns each fix into an operator.
//
// The rules (TiKV PD's replica checker and CockroachDB's replicate queue in spirit):
//   - a store is DEAD once it has not heartbeated for maxStoreDownTimeMs (it is DOWN,
//     and so not a target, after storeDownAfterMs already; a DOWN store may come back and
//     is left alone until it is dead: moving every replica off a store that restarts for a
//     minute costs far more than waiting);
//   - an OFFLINE store (being decommissioned) is left like a dead one, though it still
//     serves while its replicas move, and it is never a target;
//   - a learner on a dead or offline store is removed (REMOVE_REPLICA);
//   - a voter on a dead or offline store is replaced (MOVE_REPLICA: a learner on the new
//     store catches up by snapshot, is promoted, then the old voter is removed, after its
//     leadership is handed away), while the range has no more than replicaCount voters;
//     with more, it is simply removed;
//   - a range with fewer voters than replicaCount gets one (ADD_REPLICA);
//   - a range with more voters than replicaCount loses one (REMOVE_REPLICA): a voter on a
//     DOWN store first, then the one on the store holding the most replicas (not the
//     leader's on ties);
//   - a learner on a live store that no operator is adding is left over from a failed or
//     timed-out move: it is removed once the range has its voters;
//   - with location levels (placement.ts), a range whose least isolated pair of voters
//     could be isolated further by moving one of them is (MOVE_REPLICA): e.g. two replicas
//     in one zone while a zone without one has a store.
// The new store of a replace or add is the Up store holding no replica of the range that
// isolates it best from the others (with location levels), then with the fewest replicas
// (counting the fixes planned in this round). Ranges with the fewest
// live voters are fixed first. A range with an operator running, a joint configuration,
// or no known leader is not touched (the caller leaves it out or marks it busy).
//
//   planReplicaFixes(view, { replicaCount: 3, maxStoreDownTimeMs: 1_800_000, maxOperators: 4 })
//     -> [{ kind: 'replace', rangeId: 7, fromStore: 4, toStore: 5 }, ...]
import { ReplicaRole } from '@rangekv/proto';
import { compareIsolation, isolationOf, type Isolation } from './placement.js';

export interface CheckerStore {
  id: number;
  /** Heartbeating within storeDownAfterMs. */
  up: boolean;
  /** Since its last heartbeat to this PD leader (or since the leader began serving). */
  downForMs: number;
  /** Being decommissioned (OFFLINE): every replica moves off it; never a target. */
  offline?: boolean;
}

export interface CheckerReplica {
  storeId: number;
  role: ReplicaRole;
}

export interface CheckerRange {
  rangeId: number;
  /** The store of its current leader (from the newest report). */
  leaderStore: number;
  replicas: readonly CheckerReplica[];
  /** An operator runs on it, or a replica is in a joint role: not to be touched now. */
  busy: boolean;
}

export interface ReplicaCheckView {
  /** Every registered store. */
  stores: readonly CheckerStore[];
  /** Ranges with a known leader and a fresh report. */
  ranges: readonly CheckerRange[];
  /** The checker's operators still RUNNING (they use up maxOperators). */
  running: number;
  /** Location levels and the stores' labels (placement.ts); absent or no levels: stores are all alike. */
  placement?: Placement;
}

export interface Placement {
  levels: readonly string[];
  labelsOf(storeId: number): Readonly<Record<string, string>>;
}

export interface ReplicaCheckLimits {
  /** Voters each range should have. */
  replicaCount: number;
  /** A store silent for this long is dead: its replicas are replaced. */
  maxStoreDownTimeMs: number;
  /** Checker operators in flight at most, the running ones included. */
  maxOperators: number;
}

export type ReplicaFix =
  | { kind: 'replace'; rangeId: number; fromStore: number; toStore: number; why?: 'isolation' }
  | { kind: 'add'; rangeId: number; toStore: number }
  | { kind: 'remove'; rangeId: number; fromStore: number; why: 'dead learner' | 'dead voter' | 'offline learner' | 'offline voter' | 'extra voter' | 'orphan learner' };

/** The fixes to start now (at most maxOperators − running, one per range). */
export function planReplicaFixes(view: ReplicaCheckView, limits: ReplicaCheckLimits): ReplicaFix[] {
  const budget = limits.maxOperators - view.running;
  if (budget <= 0) return [];
  const storeById = new Map(view.stores.map((s) => [s.id, s]));
  const offline = (id: number): boolean => storeById.get(id)?.offline === true;
  const up = (id: number): boolean => storeById.get(id)?.up === true;
  // Dead, or being decommissioned: its replicas must go.
  const leaving = (id: number): 'dead' | 'offline' | null => {
    const s = storeById.get(id);
    if (s === undefined) return null;
    if (s.offline === true) return 'offline';
    return !s.up && s.downForMs >= limits.maxStoreDownTimeMs ? 'dead' : null;
  };
  const load = replicaCounts(view);
  const liveVoters = (r: CheckerRange): number => r.replicas.filter((x) => x.role === ReplicaRole.Voter && up(x.storeId)).length;
  const order = view.ranges.filter((r) => !r.busy).sort((a, b) => liveVoters(a) - liveVoters(b) || a.rangeId - b.rangeId);
  const plan: ReplicaFix[] = [];
  for (const r of order) {
    if (plan.length >= budget) break;
    const fix = fixOf(r, limits.replicaCount, (id) => up(id) && !offline(id), leaving, load, view.placement);
    if (fix === null) continue;
    plan.push(fix);
    if (fix.kind !== 'add') load.set(fix.fromStore, (load.get(fix.fromStore) ?? 1) - 1);
    if (fix.kind !== 'remove') load.set(fix.toStore, (load.get(fix.toStore) ?? 0) + 1);
  }
  return plan;
}

/** Replicas per store over the view's ranges (every store listed, 0 for none). */
function replicaCounts(view: ReplicaCheckView): Map<number, number> {
  const load = new Map<number, number>(view.stores.map((s) => [s.id, 0]));
  for (const r of view.ranges) for (const x of r.replicas) load.set(x.storeId, (load.get(x.storeId) ?? 0) + 1);
  return load;
}

/** The one fix a range needs first, or null. `up`: a store that may take a replica (Up, not offline). */
function fixOf(
  r: CheckerRange, replicaCount: number, up: (id: number) => boolean, leaving: (id: number) => 'dead' | 'offline' | null,
  load: ReadonlyMap<number, number>, placement?: Placement,
): ReplicaFix | null {
  const voters = r.replicas.filter((x) => x.role === ReplicaRole.Voter);
  const learners = r.replicas.filter((x) => x.role === ReplicaRole.Learner);
  const goneLearner = learners.find((x) => leaving(x.storeId) !== null);
  if (goneLearner) {
    return { kind: 'remove', rangeId: r.rangeId, fromStore: goneLearner.storeId, why: `${leaving(goneLearner.storeId)!} learner` };
  }
  const goneVoter = voters.find((x) => leaving(x.storeId) !== null);
  if (goneVoter) {
    if (voters.length > replicaCount) {
      return { kind: 'remove', rangeId: r.rangeId, fromStore: goneVoter.storeId, why: `${leaving(goneVoter.storeId)!} voter` };
    }
    const to = target(r, up, load, placement, goneVoter.storeId);
    // No store to move to (every live store holds a replica): keep the voter, which still
    // counts towards the quorum's size; removing it would not make the range safer.
    return to === null ? null : { kind: 'replace', rangeId: r.rangeId, fromStore: goneVoter.storeId, toStore: to };
  }
  if (voters.length < replicaCount) {
    const to = target(r, up, load, placement);
    return to === null ? null : { kind: 'add', rangeId: r.rangeId, toStore: to };
  }
  if (voters.length > replicaCount) {
    const victim = [...voters].sort((a, b) =>
      Number(up(a.storeId)) - Number(up(b.storeId))
      || (load.get(b.storeId) ?? 0) - (load.get(a.storeId) ?? 0)
      || Number(a.storeId === r.leaderStore) - Number(b.storeId === r.leaderStore)
      || b.storeId - a.storeId)[0]!;
    return { kind: 'remove', rangeId: r.rangeId, fromStore: victim.storeId, why: 'extra voter' };
  }
  const orphan = learners.find((x) => up(x.storeId));
  if (orphan) return { kind: 'remove', rangeId: r.rangeId, fromStore: orphan.storeId, why: 'orphan learner' };
  return placement === undefined || placement.levels.length === 0 ? null : betterPlacement(r, voters.map((x) => x.storeId), up, load, placement);
}

/** A move of one voter that isolates the range's least isolated pair further, or null. */
function betterPlacement(
  r: CheckerRange, voters: readonly number[], up: (id: number) => boolean, load: ReadonlyMap<number, number>, p: Placement,
): ReplicaFix | null {
  const now = isolationOf(voters, (id) => p.labelsOf(id), p.levels);
  if (now.min >= p.levels.length) return null; // every pair differs at the outermost level already
  let best: { from: number; to: number; iso: Isolation } | null = null;
  for (const from of voters) {
    const to = target(r, up, load, p, from);
    if (to === null) continue;
    const iso = isolationOf([...voters.filter((s) => s !== from), to], (id) => p.labelsOf(id), p.levels);
    if (iso.min <= now.min) continue; // only a better least isolated pair is worth a move
    const better = best === null || compareIsolation(iso, best.iso) > 0 ||
      (compareIsolation(iso, best.iso) === 0 && (load.get(from) ?? 0) > (load.get(best.from) ?? 0));
    if (better) best = { from, to, iso };
  }
  return best === null ? null : { kind: 'replace', rangeId: r.rangeId, fromStore: best.from, toStore: best.to, why: 'isolation' };
}

/**
 * The Up store holding no replica of `r` that isolates best from the replicas staying (all
 * but `leaving`; with location levels), then with the fewest replicas, then the lowest id;
 * or null.
 */
function target(r: CheckerRange, up: (id: number) => boolean, load: ReadonlyMap<number, number>, p?: Placement, leaving?: number): number | null {
  const holds = new Set(r.replicas.map((x) => x.storeId));
  const staying = r.replicas.filter((x) => x.storeId !== leaving && x.role !== ReplicaRole.Learner).map((x) => x.storeId);
  const levels = p?.levels ?? [];
  let best: { id: number; iso: Isolation | null } | null = null;
  for (const [id, n] of load) {
    if (holds.has(id) || !up(id)) continue;
    const iso = levels.length > 0 ? isolationOf([...staying, id], (s) => p!.labelsOf(s), levels) : null;
    const c = best === null ? 1 : iso !== null && best.iso !== null ? compareIsolation(iso, best.iso) : 0;
    if (best === null || c > 0 || (c === 0 && (n < load.get(best.id)! || (n === load.get(best.id)! && id < best.id)))) best = { id, iso };
  }
  return best?.id ?? null;
}
