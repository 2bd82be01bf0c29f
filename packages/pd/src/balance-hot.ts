// The hot-range scheduler's planner: moves write load (not leader counts) off a store
// whose ranges' leaders take far more writes than the others'. Pure and deterministic;
// pd-service.ts runs it in a SchedulerLoop and turns each move into TRANSFER_LEADER
// operators (createdBy balance-hot).
//
// Load: a store's load = the sum, over the ranges it leads, of the writes (applied entries)
// and reads answered per second their leader measured between two reports (reads are
// served by leaders, so moving a leadership moves both). A store is hot
// when its load is above hotLoadRatio × the mean of the Up stores' loads and above
// minHotWritesPerSecond (an idle cluster has no hot spot). Then the hottest range led
// there whose rate is at most half the gap to the coldest store holding a voter of it
// moves its leadership to that store, and, so that leader counts stay as balance-leader
// left them, the coldest range led by the target with a voter on the hot store moves the
// other way (a swap; without one the single transfer still goes). Every move shrinks the
// gap between the two stores, so the plan cannot flap. When no range of the hot store
// has a voter on a store cold enough, the hottest one that fits moves its replica off the
// hot store to the coldest Up store without one (MOVE_REPLICA: the leadership is handed
// away first, so the load leaves with it).
//
//   planHotMoves({ upStores, ranges, running: 0 }, { hotLoadRatio: 1.5, minHotWritesPerSecond: 100, maxOperators: 2 })
//     -> [{ rangeId: 7, fromStore: 1, toStore: 3 }, { rangeId: 9, fromStore: 3, toStore: 1 }]

export interface HotRange {
  rangeId: number;
  leaderStore: number;
  /** Stores holding a full voter of it (possible targets). */
  voterStores: readonly number[];
  writesPerSecond: number;
  /** Reads answered per second (0 when not reported). */
  readsPerSecond?: number;
  busy: boolean;
}

export interface HotView {
  upStores: readonly number[];
  ranges: readonly HotRange[];
  /** The scheduler's operators still RUNNING. */
  running: number;
}

export interface HotLimits {
  /** A store above this many times the mean load is hot (a ratio > 1). */
  hotLoadRatio: number;
  /** ...and above this many writes per second. */
  minHotWritesPerSecond: number;
  maxOperators: number;
}

export interface HotMove {
  /** A leadership transfer (default), or a replica moved off the hot store. */
  kind?: 'transfer' | 'move';
  rangeId: number;
  fromStore: number;
  toStore: number;
}

const loadOf = (r: HotRange): number => r.writesPerSecond + (r.readsPerSecond ?? 0);

/** Writes per second led by each Up store. */
export function storeLoads(view: HotView): Map<number, number> {
  const load = new Map<number, number>(view.upStores.map((s) => [s, 0]));
  for (const r of view.ranges) {
    const l = load.get(r.leaderStore);
    if (l !== undefined) load.set(r.leaderStore, l + loadOf(r));
  }
  return load;
}

export function planHotMoves(view: HotView, limits: HotLimits): HotMove[] {
  if (limits.maxOperators - view.running < 1 || view.upStores.length < 2) return [];
  const load = storeLoads(view);
  let total = 0;
  for (const l of load.values()) total += l;
  const mean = total / load.size;
  const stores = [...load.keys()].sort((a, b) => load.get(b)! - load.get(a)! || a - b);
  const hot = stores[0]!;
  const hotLoad = load.get(hot)!;
  if (hotLoad <= mean * limits.hotLoadRatio || hotLoad < limits.minHotWritesPerSecond) return [];
  const movable = view.ranges.filter((r) => !r.busy).sort((a, b) => loadOf(b) - loadOf(a) || a.rangeId - b.rangeId);
  for (const r of movable) {
    if (r.leaderStore !== hot || loadOf(r) <= 0) continue;
    // The coldest Up store with a voter of r, if r's load fits in half the gap.
    const targets = r.voterStores.filter((s) => s !== hot && load.has(s)).sort((a, b) => load.get(a)! - load.get(b)! || a - b);
    const to = targets[0];
    if (to === undefined || loadOf(r) > (hotLoad - load.get(to)!) / 2) continue;
    const plan: HotMove[] = [{ rangeId: r.rangeId, fromStore: hot, toStore: to }];
    if (limits.maxOperators - view.running >= 2) {
      // The swap: the coldest range led by `to` with a voter on the hot store comes back.
      const back = [...movable].reverse().find((x) => x.leaderStore === to && x.voterStores.includes(hot) && loadOf(x) < loadOf(r));
      if (back) plan.push({ rangeId: back.rangeId, fromStore: to, toStore: hot });
    }
    return plan;
  }
  // No leadership can move far enough: move the hottest fitting range's replica to a cold store it is not on.
  for (const r of movable) {
    if (r.leaderStore !== hot || loadOf(r) <= 0) continue;
    const to = [...load.keys()].filter((s) => !r.voterStores.includes(s)).sort((a, b) => load.get(a)! - load.get(b)! || a - b)[0];
    if (to === undefined || loadOf(r) > (hotLoad - load.get(to)!) / 2) continue;
    return [{ kind: 'move', rangeId: r.rangeId, fromStore: hot, toStore: to }];
  }
  return [];
}
