// The nemesis' plan: which faults, when, for how long, and which admin operations run
// meanwhile, all drawn from one seed. Pure: the same seed and options give the same plan
// (what the processes then do with it is not deterministic; a seed replays the faults,
// not the interleaving).
//
// Faults come one at a time: quiet, fault held for holdMs, healed (restart, SIGCONT,
// partition healed, disk fast again), quiet again. One at a time so each fault's
// recovery is measured on its own. Admin operations (split, transfer, move) are drawn
// independently and run whenever they fall, also during faults.
//
//   generateSchedule(7, { seconds: 120, faults: [...FAULT_KINDS], admin: [...ADMIN_KINDS] })
//     -> { faults: [{ kind: 'pause', atMs: 3120, holdMs: 2410, pick: 0.61 }, ...], admin: [...] }
import { Prng } from '@rangekv/raft';

export const FAULT_KINDS = [
  /** kill -9 of a random store, restarted after holdMs on its data dir and ports. */
  'kill',
  /** kill -9 of the store leading most ranges. */
  'kill-leader',
  /** SIGSTOP of a random store, SIGCONT after holdMs. */
  'pause',
  /** One store cut from every other store, both ways (clients still reach it). */
  'partition',
  /** Two stores cut from each other, both ways. */
  'partition-pair',
  /** Everything one store sends to the other stores is lost; it still hears them. */
  'partition-oneway',
  /** A store's log writer sleeps before every fsync. */
  'slow-disk',
  /** kill -9 of the PD leader, restarted after holdMs. */
  'pd-kill',
] as const;
/**
 * Kinds drawn only when asked for by name (`--faults kill-after-restart`): not in
 * FAULT_KINDS, so "all" and every existing seed's plan stay as they were.
 */
export const EXTRA_FAULT_KINDS = [
  /**
   * kill -9 of a random store A, restarted after holdMs; then, `secondKillGapMs` (1-3 s)
   * after A is serving again, kill -9 of another store B, restarted after
   * `secondHoldMs`. The recovery measured is the second kill's: a range on {A, B, X}
   * needs A's just-restarted replica for its quorum (issue 14's outliers).
   */
  'kill-after-restart',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number] | (typeof EXTRA_FAULT_KINDS)[number];
/** Every kind --faults accepts by name. */
export const NAMED_FAULT_KINDS: readonly FaultKind[] = [...FAULT_KINDS, ...EXTRA_FAULT_KINDS];

export const ADMIN_KINDS = ['split', 'transfer', 'move'] as const;
export type AdminKind = (typeof ADMIN_KINDS)[number];

export interface FaultEpisode {
  kind: FaultKind;
  /** Since the start of the run. */
  atMs: number;
  holdMs: number;
  /** A number in [0, 1) from which the target is chosen when the fault starts. */
  pick: number;
  /** kill-after-restart: from the first store's restart (serving again) to the second kill, ms. */
  secondKillGapMs?: number;
  /** kill-after-restart: how long the second store stays down, ms. */
  secondHoldMs?: number;
}

export interface AdminEvent {
  kind: AdminKind;
  atMs: number;
  pick: number;
}

export interface ScheduleOptions {
  seconds: number;
  faults: readonly FaultKind[];
  admin: readonly AdminKind[];
  /** Quiet time before each fault, ms (uniform). Default [2000, 4000]. */
  quietMs?: readonly [number, number];
  /** How long a fault is held, ms (uniform). Default [1000, 5000]. */
  holdMs?: readonly [number, number];
  /** Mean time between admin operations, ms. Default 4000. */
  adminEveryMs?: number;
  /** kill-after-restart: restart of the first store to the second kill, ms (uniform). Default [1000, 3000]. */
  secondKillGapMs?: readonly [number, number];
}

export interface Schedule {
  faults: FaultEpisode[];
  admin: AdminEvent[];
}

function uniform(prng: Prng, [lo, hi]: readonly [number, number]): number {
  return lo + Math.floor(prng.float() * (hi - lo + 1));
}

/** The plan of one run: every fault healed and every admin operation started before `seconds`. */
export function generateSchedule(seed: number, o: ScheduleOptions): Schedule {
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
  const endMs = o.seconds * 1000;
  const quiet = o.quietMs ?? [2000, 4000];
  const hold = o.holdMs ?? [1000, 5000];
  const faultPrng = new Prng(seed);
  const adminPrng = new Prng(seed ^ 0x5bd1e995);
  const faults: FaultEpisode[] = [];
  let t = 0;
  while (o.faults.length > 0) {
    const atMs = t + uniform(faultPrng, quiet);
    const holdMs = uniform(faultPrng, hold);
    const kind = o.faults[faultPrng.int(o.faults.length)]!;
    const pick = faultPrng.float();
    // Drawn only for this kind, so plans without it are the same as before it existed.
    const second = kind === 'kill-after-restart'
      ? { secondKillGapMs: uniform(faultPrng, o.secondKillGapMs ?? [1000, 3000]), secondHoldMs: uniform(faultPrng, hold) }
      : null;
    const lastsMs = holdMs + (second ? second.secondKillGapMs + second.secondHoldMs : 0);
    // The last fault must be healed with a quiet period left to see the recovery.
    if (atMs + lastsMs + quiet[0] > endMs) break;
    faults.push({ kind, atMs, holdMs, pick, ...second });
    t = atMs + lastsMs;
  }
  const admin: AdminEvent[] = [];
  const every = o.adminEveryMs ?? 4000;
  let a = 0;
  while (o.admin.length > 0) {
    a += Math.max(1, Math.round(-Math.log(1 - adminPrng.float()) * every));
    if (a > endMs - quiet[0]) break;
    admin.push({ kind: o.admin[adminPrng.int(o.admin.length)]!, atMs: a, pick: adminPrng.float() });
  }
  return { faults, admin };
}

/**
 * Parses a --faults / --admin list ("all", "none" or kinds separated by commas). "all" is
 * `all`; a name may also be one of `named` (kinds drawn only when asked for).
 */
export function parseKinds<K extends string>(what: string, text: string, all: readonly K[], named: readonly K[] = all): K[] {
  if (text === 'all') return [...all];
  if (text === 'none' || text === '') return [];
  const out: K[] = [];
  for (const k of text.split(',')) {
    if (!(named as readonly string[]).includes(k)) throw new RangeError(`unknown ${what} kind "${k}" (known: ${named.join(', ')})`);
    out.push(k as K);
  }
  return out;
}
