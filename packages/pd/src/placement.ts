// Location-aware placement: how well a set of stores isolates a range's replicas from
// shared failures, by the stores' labels at PD's location levels (`--location-labels
// zone,rack,host`, outermost first; TiKV's location-labels). Two stores in different zones
// are isolated at every level; in one zone but different racks, at all but the first; on
// one host, at none. A range is as safe as its least isolated pair.
//
//   const iso = isolationOf([1, 2, 3], labelsOf, ['zone', 'rack', 'host']);   // { min, sum }
//   betterIsolation(a, b)   // a spreads wider than b
//
// A store without a label at a level counts as having the empty value there (two
// unlabelled stores share it; a labelled and an unlabelled one differ).

export interface Isolation {
  /** Over every pair: the fewest levels at which they differ (levels − levels shared from the top). */
  min: number;
  /** Summed over every pair (a finer tie-break). */
  sum: number;
}

/** The levels two stores share from the outermost down, before their values differ. */
export function sharedLevels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>, levels: readonly string[]): number {
  let n = 0;
  for (const l of levels) {
    if ((a[l] ?? '') !== (b[l] ?? '')) return n;
    n++;
  }
  return n;
}

export function isolationOf(stores: readonly number[], labelsOf: (id: number) => Readonly<Record<string, string>>, levels: readonly string[]): Isolation {
  let min = levels.length;
  let sum = 0;
  for (let i = 0; i < stores.length; i++) {
    for (let j = i + 1; j < stores.length; j++) {
      const d = levels.length - sharedLevels(labelsOf(stores[i]!), labelsOf(stores[j]!), levels);
      min = Math.min(min, d);
      sum += d;
    }
  }
  return { min, sum };
}

/** Compares isolations: > 0 when `a` spreads wider than `b` (the least isolated pair first, then the sum). */
export function compareIsolation(a: Isolation, b: Isolation): number {
  return a.min - b.min || a.sum - b.sum;
}
