// Availability in the whole-store simulation: one fault at a time, measured the way the
// process nemesis measures it (check/availability.ts), on simulated time. Four simulated
// stores, four ranges on stores 1-3 (cut at k04, k08, k12), workers doing puts, reads and
// CAS, and one probe per range writing its probe key back to back. After a warm-up, one
// fault hits the store leading the most ranges, is held, then healed; the result is the
// time from the fault (and from the heal) until every range completed a probe put sent at
// or after it. The history is checked for linearizability as in the sweep.
//
//   runAvailabilitySeed({ seed: 7, kind: 'pause' })   // -> { recoveryMs: 260, healRecoveryMs: 3, ... }
//
// Simulated timing (SIM_TIMING): 10 ms ticks, election timeout 100 ms (raft randomizes it
// within [100, 200) ms), store liveness timeout 400 ms; the simulated client gives up on
// a silent store after 600 ms. The real defaults are 5x longer (50 ms ticks, 500 ms);
// compare in election timeouts, not milliseconds.
import { Prng } from '@rangekv/raft';
import { ReplicaRole, type RangeDescriptor } from '@rangekv/proto';
import { checkKvHistory } from '../check/kv-check.js';
import { recoveryByRange, type ProbeOp } from '../check/availability.js';
import { InvariantChecker } from './invariants.js';
import { leaderOf, SIM_TIMING, simStores } from './run-store-seed.js';
import { SimClients } from './sim-clients.js';
import type { SimStore } from './sim-store.js';
import { SimWorld } from './world.js';

export const SIM_FAULT_KINDS = ['crash', 'pause', 'isolate', 'oneway', 'slow-disk'] as const;
export type SimFaultKind = (typeof SIM_FAULT_KINDS)[number];

export interface AvailabilitySeedOptions {
  seed: number;
  kind: SimFaultKind;
  /** One line per fault step and the result. */
  trace?: (line: string) => void;
}

export interface AvailabilitySeedResult {
  seed: number;
  kind: SimFaultKind;
  /** The store the fault hit (it led the most ranges). */
  storeId: number;
  /** How long the fault was held, simulated ms. */
  holdMs: number;
  /** Simulated ms from the fault until every range completed a probe put sent at or after it; null: not within the run. */
  recoveryMs: number | null;
  /** The same from the heal. */
  healRecoveryMs: number | null;
  /** Per range, from the fault. */
  byRange: Array<number | null>;
  /** A broken invariant or a history that is not linearizable; null when clean. */
  failure: string | null;
}

const KEYS = Array.from({ length: 16 }, (_, i) => `k${String(i).padStart(2, '0')}`);
const CUTS = ['k04', 'k08', 'k12'];
const RANGES = CUTS.length + 1;
const PROBE_CLIENT = 200;
/** Warm-up before the fault, and the time watched after the heal, simulated ms. */
const WARMUP_MS = 1_500;
const AFTER_HEAL_MS = 3_000;
/** A slow disk's fsyncs take this many times longer (1-5 ms -> 50-250 ms). */
const SLOW_DISK_FACTOR = 50;

function ranges(): RangeDescriptor[] {
  const bounds = ['', ...CUTS, ''];
  return Array.from({ length: RANGES }, (_, i) => ({
    rangeId: i + 1, startKey: Buffer.from(bounds[i]!), endKey: Buffer.from(bounds[i + 1]!), epoch: { confVer: 1, version: 1 },
    replicas: [1, 2, 3].map((id) => ({ storeId: id, replicaId: id, role: ReplicaRole.Voter })),
  }));
}

export async function runAvailabilitySeed(o: AvailabilitySeedOptions): Promise<AvailabilitySeedResult> {
  const prng = new Prng(o.seed);
  const world = new SimWorld();
  const trace = o.trace ?? (() => {});
  const t = (line: string): void => trace(`${(world.now / 1000).toFixed(3).padStart(8)}s ${line}`);
  const { net, stores } = simStores(world, prng);
  const checker = new InvariantChecker();
  const afterEach = (): void => checker.check(stores);
  const clients = new SimClients(world, new Prng(prng.nextUint32()), {
    clients: 3, keys: KEYS, attemptTimeoutMs: 600, opTimeoutMs: 4_000, thinkMsMax: 20,
  }, ranges());
  clients.service = (id) => stores[id - 1]?.store?.kv ?? null;
  const holdMs = 500 + prng.int(1_500);
  const result: AvailabilitySeedResult = {
    seed: o.seed, kind: o.kind, storeId: 0, holdMs, recoveryMs: null, healRecoveryMs: null, byRange: [], failure: null,
  };
  const probes: ProbeOp[] = [];
  let probing = true;
  const probe = async (range: number): Promise<void> => {
    const key = `${range === 0 ? 'k00' : CUTS[range - 1]!}-probe`;
    for (let seq = 1; probing; seq++) {
      const invokeMs = world.now;
      const r = await clients.one(PROBE_CLIENT + range, { kind: 'put', key, value: `p${range}.${seq}` });
      probes.push({ range, invokeMs, okMs: r === null ? null : world.now });
      await world.sleep(0, 5);
    }
  };
  try {
    for (const s of stores) if (s.id <= 3) await world.drive(s.bootstrap(ranges()));
    for (const s of stores) await world.drive(s.start());
    clients.start();
    const probeLoops = Array.from({ length: RANGES }, (_, r) => probe(r));
    await world.runUntil(WARMUP_MS, afterEach);

    const target = mostLeaders(stores);
    result.storeId = target.id;
    const faultAt = world.now;
    t(`FAULT ${o.kind} store ${target.id} for ${holdMs} ms`);
    const heal = inject(o.kind, target, stores, world, net, prng);
    if (o.kind === 'crash') clients.storeCrashed(target.id);
    await world.runUntil(faultAt + holdMs, afterEach);
    const healAt = world.now;
    t(`HEAL ${o.kind} store ${target.id}`);
    await world.drive(heal(), afterEach);
    await world.runUntil(healAt + AFTER_HEAL_MS, afterEach);

    probing = false;
    await world.drive(clients.stop(), afterEach);
    await world.drive(Promise.all(probeLoops), afterEach);
    result.byRange = recoveryByRange(probes, RANGES, faultAt);
    result.recoveryMs = worst(result.byRange);
    result.healRecoveryMs = worst(recoveryByRange(probes, RANGES, healAt));
    const lin = checkKvHistory(clients.history.ops());
    if (lin.verdict === 'violation') throw new Error(`linearizability: key ${lin.key}: ${lin.explanation}`);
    if (clients.problems.length > 0) throw new Error(`client saw: ${clients.problems[0]}`);
    t(`RECOVERED after ${String(result.recoveryMs)} ms (per range ${result.byRange.join(' / ')}), after heal ${String(result.healRecoveryMs)} ms`);
  } catch (e) {
    result.failure = e instanceof Error ? e.message : String(e);
    t(`FAILED: ${result.failure}`);
  }
  return result;
}

function worst(each: ReadonlyArray<number | null>): number | null {
  return each.some((v) => v === null) ? null : Math.max(...(each as number[]));
}

/** The running store leading the most ranges (lowest id on a tie). */
function mostLeaders(stores: readonly SimStore[]): SimStore {
  const led = new Map<SimStore, number>();
  for (let r = 1; r <= RANGES; r++) {
    const l = leaderOf(stores, r);
    if (l !== null) led.set(l, (led.get(l) ?? 0) + 1);
  }
  let best = stores[0]!;
  for (const s of stores) if ((led.get(s) ?? 0) > (led.get(best) ?? 0)) best = s;
  return best;
}

/** Applies the fault now; returns what heals it. */
function inject(kind: SimFaultKind, s: SimStore, stores: readonly SimStore[], world: SimWorld, net: ReturnType<typeof simStores>['net'], prng: Prng): () => Promise<void> {
  const others = stores.filter((x) => x.id !== s.id);
  switch (kind) {
    case 'crash':
      s.crash(prng.int(3));
      return () => s.start();
    case 'pause':
      world.pause(s.id);
      return async () => world.resume(s.id);
    case 'isolate':
      for (const x of others) {
        net.cut(s.id, x.id);
        net.cut(x.id, s.id);
      }
      return async () => net.heal();
    case 'oneway':
      for (const x of others) net.cut(s.id, x.id);
      return async () => net.heal();
    case 'slow-disk':
      s.slowFactor = SLOW_DISK_FACTOR;
      return async () => {
        s.slowFactor = 1;
      };
  }
}

/** Election timeouts in the simulation (the lower bound of raft's randomized timeout), ms. */
export const SIM_ELECTION_TIMEOUT_MS = SIM_TIMING.tickMs * SIM_TIMING.electionTimeoutTicks;
