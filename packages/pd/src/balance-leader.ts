// The leader balance scheduler's planner: which range leaders to move, from plain data.
// Pure and deterministic (ties broken by store id, then range id), so it is tested on its
// own; pd-service.ts runs it in a SchedulerLoop (scheduler-loop.ts) on the PD leader and turns its plan into operators.
//
// The rule (TiKV PD's balance-leader in spirit, counted in leaders only): with `mean` =
// leaders on Up stores / Up stores, a store is over-loaded above floor(mean × (1 + t))
// and under-loaded below ceil(mean × (1 − t)), i.e. outside mean ± t in whole leaders. While some store is over- or
// under-loaded, move one leader from the most-loaded store that can give one to the
// least-loaded Up voter of that range, provided the two differ by at least 2 leaders (so
// a move never just swaps which store is ahead: every move shrinks the spread, and the
// plan cannot flap between two stores). Running TRANSFER_LEADER operators count as done.
//
//
// Evicted stores (a slow disk: slow-store.ts) come first: every leader on one is moved to
// the least-loaded Up voter of its range that is not evicted (tolerance aside), and an
// evicted store is neither counted in the mean nor ever a target.
//
//   planLeaderTransfers({ upStores: [1, 2, 3], ranges, running: 0 }, { tolerance: 0.1, maxOperators: 4 })
//     -> [{ rangeId: 7, fromStore: 1, toStore: 3 }, ...]

/** One range as the scheduler sees it. */
export interface BalanceRange {
  rangeId: number;
  /** The store of its current leader (from the newest report). */
  leaderStore: number;
  /** Stores holding a full voter of it: the only possible targets (never a learner or a joint role). */
  voterStores: readonly number[];
  /** Not to be moved now: an operator runs on it, or its configuration is changing. */
  busy: boolean;
  /** The target of a TRANSFER_LEADER running on it (counted as led there), else 0. */
  transferTo: number;
}

export interface LeaderBalanceView {
  /** Stores heartbeating within storeDownAfterMs: the only ones counted, and the only targets. */
  upStores: readonly number[];
  /** Ranges with a known leader and a fresh report (others are left out by the caller). */
  ranges: readonly BalanceRange[];
  /** The scheduler's operators still RUNNING (they use up maxOperators). */
  running: number;
  /** Stores to move every leader off (slow-store.ts), never targets. */
  evictStores?: readonly number[];
}

export interface LeaderBalancePlanLimits {
  /** Ratio, e.g. 0.1: how far from the mean a store may be before leaders move. */
  tolerance: number;
  /** Scheduler operators in flight at most, the running ones included. */
  maxOperators: number;
}

export interface LeaderTransfer {
  rangeId: number;
  fromStore: number;
  toStore: number;
  /** Moved off an evicted (slow) store rather than for balance. */
  evict?: true;
}

/** Floating point slack: 10 × 1.1 is 11.000000000000002, whose ceiling would be 12. */
const EPSILON = 1e-9;

/** Leaders per Up store (running transfers counted at their target). */
function leaderCounts(up: readonly number[], ranges: readonly BalanceRange[]): Map<number, number> {
  const count = new Map<number, number>(up.map((s) => [s, 0]));
  for (const r of ranges) {
    const s = r.transferTo !== 0 ? r.transferTo : r.leaderStore;
    const c = count.get(s);
    if (c !== undefined) count.set(s, c + 1);
  }
  return count;
}

/** Ranges that may move, by their leader's store, in range id order. */
function movableByStore(count: ReadonlyMap<number, number>, ranges: readonly BalanceRange[]): Map<number, BalanceRange[]> {
  const by = new Map<number, BalanceRange[]>();
  for (const r of [...ranges].sort((a, b) => a.rangeId - b.rangeId)) {
    if (r.busy || r.transferTo !== 0 || !count.has(r.leaderStore)) continue;
    const list = by.get(r.leaderStore) ?? [];
    list.push(r);
    by.set(r.leaderStore, list);
  }
  return by;
}

export interface Bounds {
  /** Over-loaded above this many leaders. */
  high: number;
  /** Under-loaded below this many leaders. */
  low: number;
}

export function bounds(count: ReadonlyMap<number, number>, tolerance: number): Bounds {
  let total = 0;
  for (const c of count.values()) total += c;
  const mean = total / count.size;
  return { high: Math.floor(mean * (1 + tolerance) + EPSILON), low: Math.ceil(mean * (1 - tolerance) - EPSILON) };
}

/** Whether moving one leader from a store with `from` leaders to one with `to` is worth it. */
export function worthMoving(from: number, to: number, b: Bounds): boolean {
  return from - to >= 2 && (from > b.high || to < b.low);
}

/** The best target of `r` led from `source`: the least-loaded Up voter worth moving to (lowest id on ties), or null. */
function bestTarget(r: BalanceRange, source: number, count: ReadonlyMap<number, number>, b: Bounds): number | null {
  const from = count.get(source)!;
  let best: number | null = null;
  for (const t of r.voterStores) {
    const to = count.get(t);
    if (t === source || to === undefined || !worthMoving(from, to, b)) continue;
    if (best === null || to < count.get(best)! || (to === count.get(best)! && t < best)) best = t;
  }
  return best;
}

/** The next move: from the most-loaded store that has a movable range, to the least-loaded target. */
function nextTransfer(count: ReadonlyMap<number, number>, movable: ReadonlyMap<number, BalanceRange[]>, b: Bounds): LeaderTransfer | null {
  const sources = [...count.keys()].sort((x, y) => count.get(y)! - count.get(x)! || x - y);
  for (const source of sources) {
    let pick: LeaderTransfer | null = null;
    for (const r of movable.get(source) ?? []) {
      const t = bestTarget(r, source, count, b);
      // Ranges come in id order: a later range wins only with a strictly less-loaded target.
      if (t !== null && (pick === null || count.get(t)! < count.get(pick.toStore)!)) pick = { rangeId: r.rangeId, fromStore: source, toStore: t };
    }
    if (pick !== null) return pick;
  }
  return null;
}

/**
 * The leader transfers to start now: at most maxOperators − running; first every leader
 * on an evicted store (to an Up full voter that is not evicted), then balance moves, each
 * from an Up store to an Up full voter of the range, none on a busy range, none while
 * every store is within tolerance. Deterministic for a given view.
 */
export function planLeaderTransfers(view: LeaderBalanceView, limits: LeaderBalancePlanLimits): LeaderTransfer[] {
  const evict = new Set(view.evictStores ?? []);
  const up = [...new Set(view.upStores)].filter((s) => !evict.has(s)).sort((a, b) => a - b);
  const budget = limits.maxOperators - view.running;
  if (budget <= 0 || up.length === 0) return [];
  const count = leaderCounts(up, view.ranges);
  const plan = planEvictions(view.ranges, evict, count, budget);
  if (up.length < 2) return plan;
  const b = bounds(count, limits.tolerance);
  const movable = movableByStore(count, view.ranges);
  while (plan.length < budget) {
    const t = nextTransfer(count, movable, b);
    if (t === null) break;
    plan.push(t);
    count.set(t.fromStore, count.get(t.fromStore)! - 1);
    count.set(t.toStore, count.get(t.toStore)! + 1);
    const list = movable.get(t.fromStore)!;
    list.splice(list.findIndex((r) => r.rangeId === t.rangeId), 1);
  }
  return plan;
}

/**
 * Leaders on evicted stores, each to the least-loaded voter of its range among `count`'s
 * stores (lowest id on ties), in range id order, at most `budget`; `count` is updated.
 */
function planEvictions(ranges: readonly BalanceRange[], evict: ReadonlySet<number>, count: Map<number, number>, budget: number): LeaderTransfer[] {
  const plan: LeaderTransfer[] = [];
  if (evict.size === 0) return plan;
  for (const r of [...ranges].sort((a, b) => a.rangeId - b.rangeId)) {
    if (plan.length >= budget) break;
    if (!evict.has(r.leaderStore) || r.busy || r.transferTo !== 0) continue;
    let best: number | null = null;
    for (const t of r.voterStores) {
      const c = count.get(t);
      if (c === undefined) continue;
      if (best === null || c < count.get(best)! || (c === count.get(best)! && t < best)) best = t;
    }
    if (best === null) continue;
    plan.push({ rangeId: r.rangeId, fromStore: r.leaderStore, toStore: best, evict: true });
    count.set(best, count.get(best)! + 1);
  }
  return plan;
}
