// The replica balance scheduler's planner: which voters to move so that every Up store
// holds about the same number of replicas (a new store fills up, a crowded one sheds).
// Pure and deterministic (ties broken by store id, then range id), so it is tested on its
// own; pd-service.ts runs it in a SchedulerLoop and turns each move into a MOVE_REPLICA.
//
// The rule (TiKV PD's balance-region in spirit, counted in replicas, not bytes): with
// `mean` = replicas on Up stores / Up stores, a store is over-loaded above
// floor(mean × (1 + t)) and under-loaded below ceil(mean × (1 − t)) (the same bounds as
// balance-leader). While one is, move one voter from the most-loaded store to the
// least-loaded Up store holding no replica of that range, provided the two differ by at
// least 2 replicas (every move shrinks the spread; no flapping) and the target is not
// short of space (used above lowSpaceRatio of its disk). A non-leader voter is moved before
// a leader's (no transfer needed); ranges with a learner, a joint role, a replica on a
// store that is not Up, or a running operator are left alone (the replica checker's
// business first). Running MOVE_REPLICA operators of this scheduler count as done. With
// location levels (placement.ts), a move never leaves the range's least isolated pair
// less isolated than before.
//
//   planReplicaMoves(view, { tolerance: 0.05, maxOperators: 2, lowSpaceRatio: 0.8 })
//     -> [{ rangeId: 7, fromStore: 1, toStore: 4 }, ...]
import { ReplicaRole } from '@rangekv/proto';
import { bounds, worthMoving, type Bounds } from './balance-leader.js';
import { isolationOf } from './placement.js';
import type { CheckerRange, Placement } from './replica-checker.js';

export interface BalanceStore {
  id: number;
  /** Bytes of the data dir's filesystem (0: not reported yet). */
  capacityBytes: number;
  availableBytes: number;
}

export interface ReplicaBalanceView {
  /** Up stores that may hold replicas (not offline). */
  upStores: readonly BalanceStore[];
  /** Ranges with a known leader and a fresh report. */
  ranges: readonly CheckerRange[];
  /** The scheduler's moves still RUNNING, as planned (counted as done). */
  running: readonly ReplicaMove[];
  /** Location levels and labels: moves keep each range's isolation (absent: stores are alike). */
  placement?: Placement;
}

export interface ReplicaBalanceLimits {
  /** Ratio: how far from the mean a store may be before replicas move. */
  tolerance: number;
  /** Scheduler operators in flight at most, the running ones included. */
  maxOperators: number;
  /** A store whose used fraction of its disk is above this takes no replica. */
  lowSpaceRatio: number;
}

export interface ReplicaMove {
  rangeId: number;
  fromStore: number;
  toStore: number;
}

/** Whether a store is short of space: used above `ratio` of its disk (unknown capacity: not short). */
export function lowSpace(s: BalanceStore, ratio: number): boolean {
  return s.capacityBytes > 0 && (s.capacityBytes - s.availableBytes) / s.capacityBytes > ratio;
}

/** The moves to start now: at most maxOperators − running, deterministic for a given view. */
export function planReplicaMoves(view: ReplicaBalanceView, limits: ReplicaBalanceLimits): ReplicaMove[] {
  const budget = limits.maxOperators - view.running.length;
  const up = new Map([...view.upStores].sort((a, b) => a.id - b.id).map((s) => [s.id, s]));
  if (budget <= 0 || up.size < 2) return [];
  const count = new Map<number, number>([...up.keys()].map((id) => [id, 0]));
  const members = new Map<number, Set<number>>();
  for (const r of view.ranges) {
    const set = new Set(r.replicas.map((x) => x.storeId));
    members.set(r.rangeId, set);
    for (const s of set) if (count.has(s)) count.set(s, count.get(s)! + 1);
  }
  // Running moves count as done: at their target, not at their source.
  const moving = new Set<number>();
  for (const m of view.running) {
    moving.add(m.rangeId);
    if (members.get(m.rangeId)?.has(m.toStore) !== true && count.has(m.toStore)) count.set(m.toStore, count.get(m.toStore)! + 1);
    if (members.get(m.rangeId)?.has(m.fromStore) === true && count.has(m.fromStore)) count.set(m.fromStore, count.get(m.fromStore)! - 1);
  }
  const b = bounds(count, limits.tolerance);
  const movable = view.ranges
    .filter((r) => !r.busy && !moving.has(r.rangeId) && r.replicas.every((x) => x.role === ReplicaRole.Voter && up.has(x.storeId)))
    .sort((x, y) => x.rangeId - y.rangeId);
  const plan: ReplicaMove[] = [];
  const used = new Set<number>();
  while (plan.length < budget) {
    const m = nextMove(count, movable.filter((r) => !used.has(r.rangeId)), up, b, limits.lowSpaceRatio, view.placement);
    if (m === null) break;
    plan.push(m);
    used.add(m.rangeId);
    count.set(m.fromStore, count.get(m.fromStore)! - 1);
    count.set(m.toStore, count.get(m.toStore)! + 1);
  }
  return plan;
}

/** From the most-loaded store that has a movable voter, to the least-loaded target worth it; a follower's replica before a leader's. */
function nextMove(
  count: ReadonlyMap<number, number>, ranges: readonly CheckerRange[], up: ReadonlyMap<number, BalanceStore>,
  b: Bounds, lowSpaceRatio: number, placement?: Placement,
): ReplicaMove | null {
  const levels = placement?.levels ?? [];
  const keepsIsolation = (r: CheckerRange, from: number, to: number): boolean => {
    if (levels.length === 0) return true;
    const stores = r.replicas.map((x) => x.storeId);
    const before = isolationOf(stores, (id) => placement!.labelsOf(id), levels);
    const after = isolationOf(stores.map((s) => (s === from ? to : s)), (id) => placement!.labelsOf(id), levels);
    return after.min >= before.min;
  };
  const sources = [...count.keys()].sort((x, y) => count.get(y)! - count.get(x)! || x - y);
  const targets = [...count.keys()].filter((s) => !lowSpace(up.get(s)!, lowSpaceRatio)).sort((x, y) => count.get(x)! - count.get(y)! || x - y);
  for (const from of sources) {
    let pick: ReplicaMove | null = null;
    let pickIsLeader = true;
    for (const r of ranges) {
      if (!r.replicas.some((x) => x.storeId === from)) continue;
      const to = targets.find((t) => !r.replicas.some((x) => x.storeId === t) && worthMoving(count.get(from)!, count.get(t)!, b) && keepsIsolation(r, from, t));
      if (to === undefined) continue;
      const isLeader = r.leaderStore === from;
      const better = pick === null || count.get(to)! < count.get(pick.toStore)! || (count.get(to)! === count.get(pick.toStore)! && pickIsLeader && !isLeader);
      if (better) {
        pick = { rangeId: r.rangeId, fromStore: from, toStore: to };
        pickIsLeader = isLeader;
      }
    }
    if (pick !== null) return pick;
  }
  return null;
}
