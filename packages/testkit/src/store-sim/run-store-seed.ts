// One seed of the whole-store simulation: four simulated stores (the real RaftHost and
// KvStore on a simulated disk and network), two ranges on stores 1-3 to begin with,
// clients writing and reading, and a fault schedule drawn from the seed: store crashes
// that lose what was not durable, pauses, partitions (both ways and one way), slow disks,
// lost messages; splits, leadership transfers, replicas added (learner, promote) and
// removed during the faults, adjacent ranges merged; logs compacted early so snapshots flow.
//
//   safety:    clients + faults for safetyMs; invariants after every event
//   heal:      every store up, links whole, disks fast, nothing lost
//   liveness:  within livenessMs a write to every key (so every range) completes
//   check:     the client history is linearizable, key by key
//
// runStoreSeed(seed) is a pure function of the seed: the same seed replays the same run.
import { Prng } from '@rangekv/raft';
import type { Replica } from '@rangekv/multiraft';
import type { KvResult } from '@rangekv/store';
import { ReplicaRole, metapb, type RangeDescriptor } from '@rangekv/proto';
import { keyInSpan, spansOverlap } from '@rangekv/storage';
import { checkKvHistory } from '../check/kv-check.js';
import { InvariantChecker } from './invariants.js';
import { SimClients } from './sim-clients.js';
import { SimNetwork } from './sim-network.js';
import { SimStore, clusterRecord, clusterVersion } from './sim-store.js';
import { SimWorld } from './world.js';

export interface StoreSeedOptions {
  seed: number;
  /** Length of the fault phase, simulated ms. */
  safetyMs?: number;
  /** Bound on recovery after healing, simulated ms. */
  livenessMs?: number;
  /** After the run, restart a follower right after a write and check every member catches up (convergesAfterRestart); default true. */
  converge?: boolean;
  /** One line per fault, admin action and client op outcome. */
  trace?: (line: string) => void;
}

export interface StoreSeedResult {
  seed: number;
  ok: boolean;
  /** What failed (an invariant, liveness, linearizability), or null. */
  failure: string | null;
  simMs: number;
  events: number;
  ops: { invoked: number; completed: number; unknown: number };
  faults: number;
  adminOps: number;
  leaderElections: number;
  snapshots: number;
  /** Removed replicas replica GC destroyed, all stores and incarnations. */
  replicasCollected: number;
  splits: number;
  /** Merges the invariant checker saw commit (a range's newest descriptor covering a neighbour's). */
  merges: number;
}

const STORES = 4;
const KEYS = Array.from({ length: 16 }, (_, i) => `k${String(i).padStart(2, '0')}`);
const SPLIT_KEYS = ['k02', 'k04', 'k06', 'k10', 'k12', 'k14'];
const WORLD = 0;

function initialRanges(): RangeDescriptor[] {
  const replicas = [1, 2, 3].map((id) => ({ storeId: id, replicaId: id, role: ReplicaRole.Voter }));
  const mid = Buffer.from('k08');
  return [
    { rangeId: 1, startKey: new Uint8Array(0), endKey: mid, epoch: { confVer: 1, version: 1 }, replicas },
    { rangeId: 2, startKey: mid, endKey: new Uint8Array(0), epoch: { confVer: 1, version: 1 }, replicas: replicas.map((r) => ({ ...r })) },
  ];
}

export async function runStoreSeed(o: StoreSeedOptions): Promise<StoreSeedResult> {
  const prng = new Prng(o.seed);
  const world = new SimWorld();
  const trace = o.trace ?? (() => {});
  const t = (line: string): void => trace(`${(world.now / 1000).toFixed(3).padStart(8)}s ${line}`);
  const { net, stores } = simStores(world, prng);
  const store = (id: number): SimStore => stores[id - 1]!;
  const checker = new InvariantChecker();
  const clients = new SimClients(world, new Prng(prng.nextUint32()), {
    clients: 3 + prng.int(3), keys: KEYS, attemptTimeoutMs: 600, opTimeoutMs: 4_000, thinkMsMax: 20,
  }, initialRanges());
  clients.service = (id) => store(id)?.store?.kv ?? null;
  const result: StoreSeedResult = {
    seed: o.seed, ok: false, failure: null, simMs: 0, events: 0, ops: { invoked: 0, completed: 0, unknown: 0 },
    faults: 0, adminOps: 0, leaderElections: 0, snapshots: 0, replicasCollected: 0, splits: 0, merges: 0,
  };
  const afterEach = (): void => checker.check(stores);
  const safetyMs = o.safetyMs ?? 8_000;
  const livenessMs = o.livenessMs ?? 15_000;
  try {
    for (const s of stores) if (s.id <= 3) await world.drive(s.bootstrap(initialRanges()));
    for (const s of stores) await world.drive(s.start());
    clients.start();
    scheduleFaults(world, prng, stores, net, safetyMs, t, result);
    await world.runUntil(safetyMs, afterEach);

    // Heal: everything up and whole.
    t('HEAL');
    net.heal();
    net.settings.dropRate = 0;
    for (const s of stores) {
      s.slowFactor = 1;
      world.resume(s.id);
      if (!s.running) {
        t(`HEAL restart store ${s.id}`);
        await world.drive(s.start(), afterEach);
      }
    }
    t('HEAL done; writing every key');
    const healedAt = world.now;
    // Each key is written until a write is acknowledged: an ambiguous answer (the attempt
    // reached a leader deposed as the partitions healed, or timed out) is a correct answer,
    // so the client asks again, as a real one would; the deadline below still bounds it.
    const writeUntilDone = async (client: number, key: string): Promise<unknown> => {
      for (let n = 1; ; n++) {
        const r = await clients.one(client, { kind: 'put', key, value: `live-${key}-${n}` });
        if (r !== null || world.now >= healedAt + livenessMs) return r;
      }
    };
    const pending = KEYS.map((k, i) => writeUntilDone(100 + i, k));
    let done = 0;
    const outcomes: (unknown)[] = [];
    for (const p of pending) void p.then((r) => { outcomes.push(r); done++; });
    while (done < pending.length && world.now < healedAt + livenessMs) await world.runUntil(world.now + 50, afterEach);
    if (done < pending.length || outcomes.some((r) => r === null)) {
      throw new Error(`liveness: ${outcomes.filter((r) => r !== null).length} of ${KEYS.length} writes completed within ${livenessMs} ms after healing`);
    }
    t('LIVENESS: every key written');
    await world.drive(clients.stop(), afterEach);
    await world.runUntil(world.now + 200, afterEach);
    if (o.converge !== false) {
      await convergesAfterRestart(world, stores, clients, KEYS[prng.int(KEYS.length)]!, t, afterEach);
      t('CONVERGED: a follower restarted right after a write applied every commit it holds');
    }
    const lin = checkKvHistory(clients.history.ops());
    if (lin.verdict === 'violation') throw new Error(`linearizability: key ${lin.key}: ${lin.explanation}`);
    if (clients.problems.length > 0) throw new Error(`client saw: ${clients.problems[0]}`);
    result.ok = true;
  } catch (e) {
    result.failure = e instanceof Error ? e.message : String(e);
    t(`FAILED: ${result.failure}`);
  } finally {
    result.simMs = world.now;
    result.events = world.steps;
    result.ops = { invoked: clients.stats.invoked, completed: clients.stats.completed, unknown: clients.stats.unknown };
    result.leaderElections = checker.leaderElections;
    result.snapshots = net.stats.snapshots;
    result.replicasCollected = stores.reduce((n, s) => n + s.replicasCollected, 0);
    result.merges = checker.merges;
    result.splits = checker.ranges().length - 2 + checker.merges;
  }
  return result;
}

/** Simulated ms an idle cluster gets to converge after a store restarts (run-store-seed). */
const CONVERGE_MS = 3_000;

/**
 * Convergence without further writes, once the clients stopped: a put of `key` is
 * acknowledged, and at once a store holding a follower replica of its range is killed
 * (its unsynced writes survive, as the OS outlives the process) before the commit reaches
 * it on the quiesce heartbeat, and restarted once the range's leader is quiescent; no
 * write follows. After CONVERGE_MS every replica in a range's current
 * membership, on every store, has applied its leader's commit, by appends or by a snapshot
 * (a follower restarted dormant with unapplied entries once did not: `merge.test.ts`).
 */
async function convergesAfterRestart(world: SimWorld, stores: readonly SimStore[], clients: SimClients, key: string, t: (line: string) => void, afterEach: () => void): Promise<void> {
  let acked = false;
  void clients.one(300, { kind: 'put', key, value: `converge-${key}` }).then((r) => { acked = r !== null; });
  const deadline = world.now + 5_000;
  while (!acked && world.now < deadline) await world.runUntil(world.now + 1, afterEach);
  if (!acked) throw new Error(`convergence: the put of ${key} was not acknowledged within 5 s of an idle cluster`);
  const enc = new TextEncoder().encode(key);
  const holds = (d: RangeDescriptor | null): boolean => d !== null && keyInSpan(enc, d.startKey, d.endKey);
  const leader = stores.find((s) => [...(s.store?.host.scheduler.all() ?? [])].some((r) => r.isLeader && holds(r.log.descriptor)));
  const victim = stores.find((s) => s !== leader && [...(s.store?.host.scheduler.all() ?? [])].some((r) => !r.isLeader && holds(r.log.descriptor)));
  if (victim === undefined) return;
  t(`CONVERGE put ${key} acknowledged; store ${victim.id} (a follower of its range) killed at once`);
  victim.crash(Number.MAX_SAFE_INTEGER);
  // Restarted once the leader went quiescent without it (nothing more is sent to it then).
  const lead = [...leader!.store!.host.scheduler.all()].find((r) => r.isLeader && holds(r.log.descriptor));
  const quietBy = world.now + 2_000;
  while (lead !== undefined && !lead.quiescent && world.now < quietBy) await world.runUntil(world.now + 10, afterEach);
  // A restart the fault schedule still had pending may have come first.
  if (!victim.running) {
    t(`CONVERGE restart store ${victim.id}`);
    await world.drive(victim.start(), afterEach);
  }
  await world.runUntil(world.now + CONVERGE_MS, afterEach);
  const replicas = stores.flatMap((s) => (s.store === null ? [] : [...s.store.host.scheduler.all()].map((r) => ({ storeId: s.id, r }))));
  for (const { storeId, r: head } of replicas) {
    if (!head.isLeader) continue;
    const commit = head.node.basicStatus().commit;
    // Members as (store, replica id): a replica removed while its store was down keeps an
    // old id the leader no longer sends to, until replica GC collects it.
    const members = new Set(head.log.descriptor?.replicas.map((x) => `${x.storeId}/${x.replicaId}`) ?? []);
    for (const { storeId: sid, r } of replicas) {
      const id = r.node.status().id;
      if (r.rangeId !== head.rangeId || !members.has(`${sid}/${id}`) || r.log.applied.index >= commit) continue;
      // A replica the leader must send a snapshot may first wait for replica GC to collect
      // a stale overlapping replica on its store (SIM_REPLICA_GC: a few hundred ms), or for
      // a snapshot that subsumes a merged-away one.
      const pr = head.node.status().progress?.get(id);
      const span = head.log.descriptor!;
      const overlapping = replicas.filter((x) => x.storeId === sid && x.r !== r && x.r.log.descriptor !== null && spansOverlap(x.r.log.descriptor.startKey, x.r.log.descriptor.endKey, span.startKey, span.endKey))
        .map((x) => `range ${x.r.rangeId} v${x.r.log.descriptor!.epoch.version}/c${x.r.log.descriptor!.epoch.confVer} replica ${x.r.node.status().id} applied ${x.r.log.applied.index}` +
          ` (${x.r.isLeader ? 'leader' : `knows leader ${x.r.lead}`}, ${x.r.quiescent ? 'quiescent' : 'awake'}; its leader's: ${describeRange(replicas, x.r.rangeId)})`);
      throw new Error(`convergence: ${CONVERGE_MS} ms after store ${victim.id} restarted, store ${sid}'s replica of range ${r.rangeId} applied ${r.log.applied.index} of its leader's (store ${storeId}) commit ${commit}` +
        ` (its last index ${r.log.lastIndex()}, ${r.quiescent ? 'quiescent' : 'awake'}, knows leader ${r.lead}; the leader's progress for it ${pr ? `match ${pr.match} next ${pr.next} ${['probe', 'replicate', 'snapshot'][pr.state] ?? pr.state}` : 'none'};` +
        ` its store's replicas overlapping the range: ${overlapping.length > 0 ? overlapping.join(', ') : 'none'})`);
    }
  }
}

/**
 * Replica GC on the simulated clock: rounds every 500 ms (production: 10 s), so a replica
 * removed while its store was away is collected within a run and every seed's faults meet
 * the collector too (it must never take a member).
 */
export const SIM_REPLICA_GC = { replicaGcIntervalMs: 500, replicaGcOverlapCheckMs: 200 } as const;

/** The simulated timing: 10 ms ticks, election timeout 10 ticks (100-200 ms), liveness 400 ms. */
export const SIM_TIMING = { tickMs: 10, electionTimeoutTicks: 10, heartbeatIntervalTicks: 2, leaseMarginTicks: 2, livenessIntervalMs: 50, livenessTimeoutMs: 400 } as const;

/**
 * The network (1-6 ms latency) and STORES stores (1-5 ms fsyncs, or 0-5 ms: an instant fsync
 * lets a cycle write its batch directly, LogWriter.tryWriteNow; early log compaction), all
 * drawn from `prng`.
 */
export function simStores(world: SimWorld, prng: Prng): { net: SimNetwork; stores: SimStore[] } {
  const net = new SimNetwork(world, new Prng(prng.nextUint32()), { latencyMsMin: 1, latencyMsMax: 1 + prng.int(5), dropRate: 0 });
  const stores: SimStore[] = [];
  for (let id = 1; id <= STORES; id++) {
    stores.push(new SimStore(id, world, net, new Prng(prng.nextUint32()), {
      timing: SIM_TIMING,
      syncMsMin: prng.int(2), syncMsMax: 1 + prng.int(4),
      compactThresholdEntries: 20 + prng.int(80), compactKeepEntries: prng.int(10),
      isRemoved: clusterRecord(() => stores), rangeVersion: clusterVersion(() => stores), replicaGc: SIM_REPLICA_GC,
    }));
  }
  return { net, stores };
}

/** The leader store of `rangeId` now (by the stores' own state), or null. */
export function leaderOf(stores: readonly SimStore[], rangeId: number): SimStore | null {
  for (const s of stores) if (s.store?.host.scheduler.get(rangeId)?.isLeader === true) return s;
  return null;
}

function scheduleFaults(
  world: SimWorld, prng: Prng, stores: SimStore[], net: SimNetwork, untilMs: number, t: (l: string) => void, result: StoreSeedResult,
): void {
  const pick = <T>(xs: readonly T[]): T => xs[prng.int(xs.length)]!;
  const later = (ms: number, fn: () => void | Promise<void>): void => {
    world.at(WORLD, ms, () => void Promise.resolve(fn()).catch((e: unknown) => t(`(fault action failed: ${String(e)})`)));
  };
  const down = (): number => stores.filter((s) => !s.running || world.isPaused(s.id)).length;
  const next = (): void => {
    if (world.now >= untilMs - 500) return;
    result.faults++;
    const r = prng.int(100);
    const s = pick(stores);
    if (r < 14 && s.running && down() < 1) {
      const keep = prng.int(3);
      t(`FAULT crash store ${s.id} (keeps ${keep} unsynced writes)`);
      s.crash(keep);
      later(100 + prng.int(2_000), async () => {
        if (!s.running) {
          t(`FAULT restart store ${s.id}`);
          await s.start();
        }
      });
    } else if (r < 24 && s.running && !world.isPaused(s.id) && down() < 1) {
      t(`FAULT pause store ${s.id}`);
      world.pause(s.id);
      later(100 + prng.int(2_000), () => {
        t(`FAULT resume store ${s.id}`);
        world.resume(s.id);
      });
    } else if (r < 30 && s.running) {
      // The store cut off from every other store (both ways): its leaders go on believing
      // they lead until check-quorum, while the others elect new ones.
      t(`FAULT isolate store ${s.id}`);
      for (const o of stores) if (o.id !== s.id) {
        net.cut(s.id, o.id);
        net.cut(o.id, s.id);
      }
      later(100 + prng.int(2_000), () => {
        t(`FAULT heal store ${s.id}`);
        for (const o of stores) if (o.id !== s.id) {
          net.heal(s.id, o.id);
          net.heal(o.id, s.id);
        }
      });
    } else if (r < 40) {
      const a = pick(stores).id;
      const b = pick(stores.filter((x) => x.id !== a)).id;
      const oneWay = prng.chance(0.3);
      t(`FAULT partition ${a}${oneWay ? ' ->' : ' <->'} ${b}`);
      net.cut(a, b);
      if (!oneWay) net.cut(b, a);
      later(100 + prng.int(2_000), () => {
        t(`FAULT heal ${a} / ${b}`);
        net.heal(a, b);
        net.heal(b, a);
      });
    } else if (r < 47) {
      const f = 10 + prng.int(40);
      t(`FAULT slow disk on store ${s.id} (x${f})`);
      s.slowFactor = f;
      later(200 + prng.int(2_000), () => {
        s.slowFactor = 1;
      });
    } else if (r < 52) {
      const rate = 0.02 + prng.int(8) / 100;
      t(`FAULT drop ${rate.toFixed(2)} of batches`);
      net.settings.dropRate = rate;
      later(200 + prng.int(1_500), () => {
        net.settings.dropRate = 0;
      });
    } else {
      adminAction(stores, prng, t, result, later);
    }
    later(50 + prng.int(400), next);
  };
  later(200 + prng.int(300), next);
}

/** Two adjacent ranges that can merge: voters only, on the same stores (null if none). */
function mergeablePair(ranges: ReadonlyMap<number, RangeDescriptor>, prng: Prng): [RangeDescriptor, RangeDescriptor] | null {
  const stores = (d: RangeDescriptor): string | null =>
    (d.replicas.every((x) => x.role === ReplicaRole.Voter) ? d.replicas.map((x) => x.storeId).sort().join(',') : null);
  const pairs: [RangeDescriptor, RangeDescriptor][] = [];
  for (const l of ranges.values()) {
    if (l.endKey.length === 0) continue;
    for (const r of ranges.values()) {
      if (Buffer.compare(Buffer.from(l.endKey), Buffer.from(r.startKey)) === 0 && stores(l) !== null && stores(l) === stores(r)) pairs.push([l, r]);
    }
  }
  return pairs.length === 0 ? null : pairs[prng.int(pairs.length)]!;
}

/**
 * A merge of two adjacent ranges: the right range's leadership moves to the left's leader
 * store first when it is elsewhere, and the merge is asked a little later.
 */
function mergeAction(
  stores: SimStore[], ranges: ReadonlyMap<number, RangeDescriptor>, prng: Prng, t: (l: string) => void,
  later: (ms: number, fn: () => void | Promise<void>) => void,
): void {
  const pair = mergeablePair(ranges, prng);
  if (pair === null) return;
  const [l, r] = pair;
  const ll = leaderOf(stores, l.rangeId);
  const rl = leaderOf(stores, r.rangeId);
  if (ll === null || ll.store === null || rl === null || rl.store === null) return;
  const hdr = (d: RangeDescriptor): metapb.RequestHeader.$Properties => ({ rangeId: d.rangeId, epoch: { ...d.epoch }, readConsistency: metapb.ReadConsistency.LINEARIZABLE });
  const show = (p: Promise<unknown>, what: string): void => {
    void p.then(
      (res) => t(`ADMIN ${what}: ${(res as { rangeError?: { message?: string } | null })?.rangeError?.message ?? 'done'}`),
      (e: unknown) => t(`ADMIN ${what}: refused: ${e instanceof Error ? e.message : String(e)}`),
    );
  };
  const ask = (): void => {
    const s = leaderOf(stores, l.rangeId);
    if (s === null || s.store === null) return;
    const what = `merge ${r.rangeId} into ${l.rangeId}`;
    t(`ADMIN ${what} (on leader store ${s.id})`);
    show(s.store.admin.mergeRanges({ header: hdr(l), rightRangeId: r.rangeId, rightEpoch: { ...r.epoch } }), what);
  };
  if (rl.id !== ll.id) {
    t(`ADMIN transfer leader of range ${r.rangeId} to store ${ll.id} for a merge`);
    show(rl.store.admin.transferLeader({ header: hdr(r), toStore: ll.id }), `transfer leader of range ${r.rangeId} for a merge`);
    later(100 + prng.int(300), ask);
  } else {
    ask();
  }
}

/** A split, transfer, membership change or merge on a random range, asked of its leader. */
function adminAction(
  stores: SimStore[], prng: Prng, t: (l: string) => void, result: StoreSeedResult, later: (ms: number, fn: () => void | Promise<void>) => void,
): void {
  const ranges = new Map<number, RangeDescriptor>();
  for (const s of stores) for (const r of s.store?.host.scheduler.all() ?? []) if (r.log.descriptor) ranges.set(r.rangeId, r.log.descriptor);
  if (ranges.size === 0) return;
  const ids = [...ranges.keys()].sort((a, b) => a - b);
  const rangeId = ids[prng.int(ids.length)]!;
  const leader = leaderOf(stores, rangeId);
  if (leader === null || leader.store === null) return;
  const d = leader.store.host.scheduler.get(rangeId)!.log.descriptor!;
  const header = { rangeId, epoch: { confVer: d.epoch.confVer, version: d.epoch.version }, readConsistency: metapb.ReadConsistency.LINEARIZABLE };
  const admin = leader.store.admin;
  const voters = d.replicas.filter((x) => x.role === ReplicaRole.Voter);
  const learners = d.replicas.filter((x) => x.role === ReplicaRole.Learner);
  const absent = stores.filter((s) => !d.replicas.some((x) => x.storeId === s.id)).map((s) => s.id);
  result.adminOps++;
  const report = (what: string, p: Promise<unknown>): void => {
    t(`ADMIN ${what} (range ${rangeId} on leader store ${leader.id})`);
    void p.then(
      (res) => t(`ADMIN ${what}: ${(res as { rangeError?: { message?: string } | null })?.rangeError?.message ?? 'done'}`),
      (e: unknown) => t(`ADMIN ${what}: refused: ${e instanceof Error ? e.message : String(e)}`),
    );
  };
  const r = prng.int(100);
  if (r >= 86) {
    mergeAction(stores, ranges, prng, t, later);
  } else if (r < 32) {
    const key = SPLIT_KEYS[prng.int(SPLIT_KEYS.length)]!;
    report(`split at ${key}`, admin.splitRange({ header, splitKey: Buffer.from(key) }));
  } else if (r < 55) {
    const to = voters.filter((x) => x.storeId !== leader.id);
    if (to.length > 0) report('transfer leader', admin.transferLeader({ header, toStore: to[prng.int(to.length)]!.storeId }));
  } else if (r < 68 && absent.length > 0 && learners.length === 0) {
    const to = absent[prng.int(absent.length)]!;
    report(`add learner on store ${to}`, admin.addReplica({ header, storeId: to, role: metapb.ReplicaRole.LEARNER }));
  } else if (r < 78 && learners.length > 0) {
    report(`promote learner on store ${learners[0]!.storeId}`, admin.promoteLearner({ header, storeId: learners[0]!.storeId }));
  } else if (voters.length > 3) {
    const victims = voters.filter((x) => x.storeId !== leader.id);
    const v = victims[prng.int(victims.length)]!;
    report(`remove replica on store ${v.storeId}`, admin.removeReplica({ header, storeId: v.storeId }));
  }
}

/** A range as its leader sees it, for a failure message: "leader on store S: vV/cC replicas [..], commit N" or "no leader". */
function describeRange(replicas: readonly { storeId: number; r: Replica<KvResult> }[], rangeId: number): string {
  const l = replicas.find((x) => x.r.rangeId === rangeId && x.r.isLeader);
  const d = l?.r.log.descriptor;
  if (l === undefined || !d) return 'no leader';
  return `leader on store ${l.storeId}: v${d.epoch.version}/c${d.epoch.confVer} replicas ${d.replicas.map((x) => `${x.storeId}/${x.replicaId}`).join(',')}, commit ${l.r.node.basicStatus().commit}`;
}
