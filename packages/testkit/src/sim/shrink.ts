// Shrinking a failing seed: replay it with fewer fault episodes (and a shorter fault phase)
// while it still fails the same invariant, so the trace to read is as short as possible.
// A simple delta-debugging loop over the schedule's episode indices.
import { runSeed, type SeedOptions, type SeedResult } from './run-seed.js';

export interface ShrinkResult {
  seed: number;
  invariant: string;
  /** Episode indices still needed to fail. */
  keepFaults: number[];
  safetyTicks: number | undefined;
  originalFaults: number;
  runs: number;
  result: SeedResult;
}

export function shrinkSeed(
  base: Omit<SeedOptions, 'trace' | 'keepFaults'>,
  maxRuns = 300,
  progress: (line: string) => void = () => {},
): ShrinkResult | null {
  let runs = 1;
  const first = runSeed(base);
  if (first.failure === null) return null;
  const invariant = first.failure.invariant;
  let best = first;
  let safetyTicks = base.safetyTicks;
  const tryRun = (keep: number[], ticks: number | undefined): SeedResult | null => {
    runs++;
    const r = runSeed({ ...base, keepFaults: keep, safetyTicks: ticks });
    return r.failure?.invariant === invariant ? r : null;
  };

  let keep = first.schedule.map((e) => e.index);
  if (first.failure.phase === 'safety') {
    // Nothing scheduled after the failure mattered; try stopping the run right there too.
    const t = first.failure.tick;
    keep = first.schedule.filter((e) => e.startTick <= t).map((e) => e.index);
    // Faults are scheduled up to 20 ticks before the end of the fault phase.
    const r = tryRun(keep, t + 21);
    if (r !== null) {
      safetyTicks = t + 21;
      best = r;
    } else if (keep.length < first.schedule.length) {
      const r2 = tryRun(keep, safetyTicks);
      if (r2 !== null) best = r2;
      else keep = first.schedule.map((e) => e.index);
    }
  }
  progress(`shrinking seed ${base.seed} [${invariant}]: ${keep.length} fault episodes`);

  let n = 2;
  while (keep.length > 0 && runs < maxRuns) {
    const size = Math.ceil(keep.length / n);
    let reduced = false;
    for (let i = 0; i < keep.length && runs < maxRuns; i += size) {
      const candidate = [...keep.slice(0, i), ...keep.slice(i + size)];
      const r = tryRun(candidate, safetyTicks);
      if (r !== null) {
        keep = candidate;
        best = r;
        reduced = true;
        progress(`  ${keep.length} episodes still fail`);
        break;
      }
    }
    if (reduced) {
      n = Math.max(n - 1, 2);
    } else {
      if (size <= 1) break;
      n = Math.min(n * 2, keep.length);
    }
  }
  return {
    seed: base.seed, invariant, keepFaults: keep, safetyTicks, originalFaults: first.schedule.length, runs, result: best,
  };
}
