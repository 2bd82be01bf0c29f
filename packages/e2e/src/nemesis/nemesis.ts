// The process nemesis: a real cluster (pd-main × 1 or 3, store-main × N, default raft
// timing, PD's leader balance on, as users run it), the workload of workload.ts, and the
// faults and admin operations of schedule.ts injected while it runs. At the end every
// fault is healed, the workers stop, every key is read back linearizably, and the
// history is checked. It reports operations by outcome, every fault with its recovery
// (availability.ts), admin operations by outcome, and the violations:
//   - the history is not linearizable (lost acknowledged write, stale or phantom read);
//   - a STALE read returned a value nobody wrote;
//   - a process exited that the nemesis did not kill;
//   - the cluster did not serve every key after the faults were healed.
//
//   const report = await runNemesis({ seed: 7, seconds: 120 });
//   console.log(formatReport(report)); process.exit(report.violations.length > 0 ? 1 : 0);
import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RangeKvClient, ReplicaRole } from '@rangekv/client';
import { Prng } from '@rangekv/raft';
import type { StoreProcess } from '@rangekv/store/testing/store-process';
import { E2eCluster, eventually, sleep } from '../cluster.js';
import { availabilityTable, checkKvHistory, formatAvailability, recoveryByRange, recoveryMs, type AvailabilityRow, type KvCheckResult } from '@rangekv/testkit';
import { ADMIN_KINDS, FAULT_KINDS, generateSchedule, type AdminEvent, type FaultEpisode, type FaultKind, type AdminKind } from './schedule.js';
import { Workload } from './workload.js';

export interface NemesisOptions {
  seed: number;
  seconds: number;
  faults?: readonly FaultKind[];
  admin?: readonly AdminKind[];
  pdNodes?: 1 | 3;
  /** Store processes; replicas are 3, so a fourth store gives moves somewhere to go. Default 4. */
  stores?: number;
  /** Ranges the key space is split into before the faults start. Default 4. */
  ranges?: number;
  keysPerRange?: number;
  clients?: number;
  /** Deadline of one client call, ms. Default 5,000. */
  opTimeoutMs?: number;
  /** fsync delay of the slow-disk fault, ms. Default 200. */
  slowDiskMs?: number;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
  /**
   * Keep every process' log in this directory (E2eClusterOptions.logDir), and around every
   * store kill the replicas' state of every running store (/debug/ranges every
   * RANGE_WATCH_EVERY_MS) in `ranges.jsonl` there; default none.
   */
  logDir?: string;
  /** Level of those logs; default info (debug adds the election message trace of multiraft). */
  logLevel?: 'debug' | 'info';
}

export interface FaultRecord extends FaultEpisode {
  /** What was done ("kill store 2", ...), or why nothing could be. */
  target: string;
  /** Recovery after the fault started and after it was healed, ms (null: not recovered). */
  faultRecoveryMs: number | null;
  healRecoveryMs: number | null;
  /** When it was healed (ms since start). */
  healedAtMs: number;
  /** Per probed range (index), its own recovery after the fault, ms: which range was slowest. */
  rangeRecoveryMs: Array<number | null>;
}

export interface NemesisReport {
  seed: number;
  seconds: number;
  pdNodes: number;
  stores: number;
  ranges: number;
  clients: number;
  outcomes: Record<string, number>;
  faults: FaultRecord[];
  admin: Record<string, number>;
  availability: AvailabilityRow[];
  check: KvCheckResult;
  violations: string[];
}

const rangeKey = (r: number): string => `r${r}`;

export async function runNemesis(o: NemesisOptions): Promise<NemesisReport> {
  const log = o.log ?? ((): void => {});
  const n = {
    stores: o.stores ?? 4, ranges: o.ranges ?? 4, keysPerRange: o.keysPerRange ?? 3, clients: o.clients ?? 6,
    opTimeoutMs: o.opTimeoutMs ?? 5_000, slowDiskMs: o.slowDiskMs ?? 200, pdNodes: o.pdNodes ?? 1,
  };
  const schedule = generateSchedule(o.seed, { seconds: o.seconds, faults: o.faults ?? FAULT_KINDS, admin: o.admin ?? ADMIN_KINDS });
  const violations: string[] = [];
  const cluster = await E2eCluster.start({
    pdNodes: n.pdNodes, stores: n.stores, initialStores: 3, timing: 'default', leaderBalance: true,
    storeArgs: ['--admin-stdin', '--fault-injection'], pdArgs: ['--leader-balance-warmup-ms', '2000'],
    ...(o.logDir !== undefined ? { logDir: o.logDir, logLevel: o.logLevel ?? 'info' } : {}),
  });
  const rangeWatch = o.logDir !== undefined ? new RangeWatch(cluster, join(o.logDir, 'ranges.jsonl')) : null;
  const clients: RangeKvClient[] = [];
  const connect = async (retryAmbiguousWrites = false): Promise<RangeKvClient> => {
    const kv = await RangeKvClient.connect({ pd: cluster.pdAddresses(), timeoutMs: n.opTimeoutMs, retryAmbiguousWrites });
    clients.push(kv);
    return kv;
  };
  try {
    const admin = await connect();
    await eventually('the cluster serves a write', () => admin.put('probe', '1').then(() => true, () => false));
    for (let r = 1; r < n.ranges; r++) await splitWhenFree(admin, rangeKey(r));
    const keys = Array.from({ length: n.ranges * n.keysPerRange }, (_, i) => `${rangeKey(Math.floor(i / n.keysPerRange))}-k${i % n.keysPerRange}`);
    const probeKeys = Array.from({ length: n.ranges }, (_, r) => `${rangeKey(r)}-probe`);
    const workers = await Promise.all(Array.from({ length: n.clients }, () => connect()));
    // The probes retry puts whose outcome is unknown (after rpcTimeoutMs, not the call's
    // deadline): each probe key has one writer, one put at a time, which is when the client
    // says that is safe. The workers do not: their keys have several writers.
    const w = new Workload(workers, await connect(true), { keys, probeKeys, opTimeoutMs: n.opTimeoutMs, thinkMs: 10, probeEveryMs: 20, seed: o.seed });
    const watch = watchExits(cluster, violations, w);
    log(`nemesis seed ${o.seed}: ${schedule.faults.length} faults, ${schedule.admin.length} admin operations over ${o.seconds} s`);
    w.start();
    const adminOutcomes = new Map<string, number>();
    const adminDone = runAdmin(schedule.admin, admin, w, adminOutcomes, n);
    const records: FaultRecord[] = [];
    for (const f of schedule.faults) {
      await sleepUntil(w, f.atMs);
      const rec = await injectFault(f, cluster, watch, n.slowDiskMs, w, rangeWatch);
      log(`${(rec.atMs / 1000).toFixed(1)}s ${rec.kind}: ${rec.target} for ${rec.holdMs} ms`);
      records.push(rec);
    }
    await sleepUntil(w, o.seconds * 1000);
    await adminDone;
    // Every fault is healed by now; clients must be served again.
    await w.stop();
    watch.stop();
    const final = await connect();
    try {
      await w.finalReads(final);
    } catch (e) {
      violations.push(`the cluster did not serve every key after the faults were healed: ${e instanceof Error ? e.message : String(e)}`);
    }
    for (const r of records) {
      r.faultRecoveryMs = recoveryMs(w.probes, n.ranges, r.atMs);
      r.rangeRecoveryMs = recoveryByRange(w.probes, n.ranges, r.atMs);
      r.healRecoveryMs = recoveryMs(w.probes, n.ranges, r.healedAtMs);
    }
    const check = checkKvHistory(w.history.ops());
    if (check.verdict === 'violation') violations.push(`history not linearizable: ${check.explanation}`);
    if (check.verdict === 'gave-up') violations.push(`checker gave up on key ${check.key} (${check.ops} ops): raise maxStepsPerKey or shorten the run`);
    violations.push(...w.badStaleReads());
    const availability = availabilityTable(records.flatMap((r) => [
      { what: r.kind, recoveryMs: r.faultRecoveryMs },
      { what: `${r.kind}:heal`, recoveryMs: r.healRecoveryMs },
    ]));
    return {
      seed: o.seed, seconds: o.seconds, pdNodes: n.pdNodes, stores: n.stores, ranges: n.ranges, clients: n.clients,
      outcomes: Object.fromEntries([...w.outcomes].sort()), faults: records, admin: Object.fromEntries([...adminOutcomes].sort()),
      availability, check, violations,
    };
  } finally {
    for (const kv of clients) kv.close();
    await cluster.close();
  }
}

/** A split, retried while PD refuses it because leader balance runs an operator on the range. */
async function splitWhenFree(kv: RangeKvClient, at: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      const op = await kv.split(at, { timeoutMs: 30_000 });
      if (op.status !== 'succeeded') throw new Error(`split at ${at}: ${op.status} ${op.reason}`);
      return;
    } catch (e) {
      if ((e as { code?: string }).code !== 'FAILED_PRECONDITION' || attempt >= 100) throw e;
      await sleep(100);
    }
  }
}

async function sleepUntil(w: Workload, atMs: number): Promise<void> {
  const wait = atMs - w.now();
  if (wait > 0) await sleep(wait);
}

interface ExitWatch {
  /** The nemesis is about to stop this process: its exit is no violation. */
  expect(p: { proc: { pid?: number } }): void;
  stop(): void;
}

/** Records a violation for every store or PD process that exits without the nemesis killing it. */
function watchExits(c: E2eCluster, violations: string[], w: Workload): ExitWatch {
  const expected = new Set<number>();
  const watched = new Set<number>();
  let stopped = false;
  const timer = setInterval(() => {
    const procs: Array<{ name: string; proc: { pid?: number }; exited: Promise<unknown>; stderr: () => string }> = [
      ...[...c.stores.values()].map((s) => ({ name: `store ${s.storeId}`, proc: s.proc, exited: s.exited, stderr: () => s.stderr() })),
      ...c.pds.map((p) => ({ name: `PD ${p.id}`, proc: p.proc, exited: p.exited, stderr: () => p.stderrTail.join('\n') })),
    ];
    for (const p of procs) {
      const pid = p.proc.pid ?? 0;
      if (watched.has(pid)) continue;
      watched.add(pid);
      void p.exited.then((how) => {
        if (!stopped && !expected.has(pid)) violations.push(`${p.name} exited unasked at ${(w.now() / 1000).toFixed(1)} s (${JSON.stringify(how)}):\n${p.stderr()}`);
      });
    }
  }, 100);
  return {
    expect: (p) => void expected.add(p.proc.pid ?? 0),
    stop: () => {
      stopped = true;
      clearInterval(timer);
    },
  };
}

function runningStores(c: E2eCluster): StoreProcess[] {
  return [...c.stores.values()].filter((s) => s.running).sort((a, b) => a.storeId - b.storeId);
}

/** The store leading most ranges (PD's view), or undefined when PD cannot tell now. */
async function leaderHeavyStore(c: E2eCluster, kv: RangeKvClient): Promise<number | undefined> {
  const ranges = await kv.listRanges({ timeoutMs: 2_000 }).catch(() => []);
  const count = new Map<number, number>();
  for (const r of ranges) if (r.leaderStoreId !== 0) count.set(r.leaderStoreId, (count.get(r.leaderStoreId) ?? 0) + 1);
  const best = [...count].filter(([s]) => c.stores.get(s)?.running).sort((a, b) => b[1] - a[1] || a[0] - b[0])[0];
  return best?.[0];
}

/** How long after a store kill RangeWatch polls, ms. */
const RANGE_WATCH_AFTER_KILL_MS = 8_000;
/** RangeWatch's poll interval, ms. */
const RANGE_WATCH_EVERY_MS = 100;
/** Deadline of one /debug/ranges request, ms. */
const RANGE_WATCH_REQUEST_TIMEOUT_MS = 500;

/**
 * With a log dir: every running store's replicas (/debug/ranges: term, leader, commit,
 * applied, quiescent) polled every RANGE_WATCH_EVERY_MS within the windows asked for,
 * one JSON line per store per poll: {atMs, storeId, ranges} or {atMs, storeId, error}.
 */
class RangeWatch {
  private untilMs = 0;
  private running = false;

  constructor(private readonly c: E2eCluster, private readonly file: string) {}

  /** Polls from now (or keeps polling) until `toMs` (workload time). */
  watch(w: Workload, _fromMs: number, toMs: number): void {
    this.untilMs = Math.max(this.untilMs, toMs);
    if (this.running) return;
    this.running = true;
    void (async () => {
      while (w.now() < this.untilMs) {
        const atMs = Math.round(w.now());
        const lines = await Promise.all(runningStores(this.c).filter((s) => s.httpPort !== null).map(async (s) => {
          try {
            const res = await fetch(`http://127.0.0.1:${s.httpPort}/debug/ranges?limit=1000`, { signal: AbortSignal.timeout(RANGE_WATCH_REQUEST_TIMEOUT_MS) });
            const body = await res.json() as { ranges: Array<Record<string, unknown>> };
            const ranges = body.ranges.map((r) => ({
              rangeId: r.rangeId, replicaId: r.replicaId, isLeader: r.isLeader, lead: r.lead, term: r.term, commit: r.commit, applied: r.applied, quiescent: r.quiescent,
              ...(r.failed !== undefined ? { failed: r.failed } : {}),
            }));
            return JSON.stringify({ atMs, storeId: s.storeId, ranges });
          } catch (e) {
            return JSON.stringify({ atMs, storeId: s.storeId, error: e instanceof Error ? e.message : String(e) });
          }
        }));
        await appendFile(this.file, lines.map((l) => `${l}\n`).join(''));
        await sleep(RANGE_WATCH_EVERY_MS);
      }
      this.running = false;
    })();
  }
}

/** Injects one fault, holds it, heals it. */
async function injectFault(f: FaultEpisode, c: E2eCluster, watch: ExitWatch, slowDiskMs: number, w: Workload, rw: RangeWatch | null): Promise<FaultRecord> {
  const rec: FaultRecord = { ...f, atMs: w.now(), target: '', faultRecoveryMs: null, healRecoveryMs: null, healedAtMs: 0, rangeRecoveryMs: [] };
  const prng = new Prng(Math.floor(f.pick * 2 ** 31));
  const stores = runningStores(c);
  const pickStore = (from: StoreProcess[] = stores): StoreProcess => from[prng.int(from.length)]!;
  let heal: () => Promise<void>;
  let holdMs = f.holdMs;
  try {
    switch (f.kind) {
      case 'kill-after-restart': {
        const a = pickStore();
        watch.expect(a);
        const firstAtMs = w.now();
        await c.killStore(a.storeId);
        await sleepUntil(w, firstAtMs + f.holdMs);
        await c.restartStore(a.storeId);
        const restartedAtMs = w.now();
        rw?.watch(w, restartedAtMs, restartedAtMs + (f.secondKillGapMs ?? 0) + RANGE_WATCH_AFTER_KILL_MS);
        await sleepUntil(w, restartedAtMs + (f.secondKillGapMs ?? 0));
        const b = pickStore(runningStores(c).filter((x) => x.storeId !== a.storeId));
        rec.atMs = w.now();
        watch.expect(b);
        await c.killStore(b.storeId);
        holdMs = f.secondHoldMs ?? f.holdMs;
        rec.target = `kill -9 store ${a.storeId} at ${(firstAtMs / 1000).toFixed(1)} s, serving again at ${(restartedAtMs / 1000).toFixed(1)} s; `
          + `kill -9 store ${b.storeId} ${Math.round(rec.atMs - restartedAtMs)} ms later`;
        heal = async () => void (await c.restartStore(b.storeId));
        break;
      }
      case 'kill':
      case 'kill-leader': {
        let s = pickStore();
        if (f.kind === 'kill-leader') {
          const kv = await RangeKvClient.connect({ pd: c.pdAddresses(), timeoutMs: 2_000 });
          try {
            const heavy = await leaderHeavyStore(c, kv);
            if (heavy !== undefined) s = c.stores.get(heavy)!;
          } finally {
            kv.close();
          }
        }
        rec.atMs = w.now();
        rw?.watch(w, rec.atMs, rec.atMs + RANGE_WATCH_AFTER_KILL_MS);
        watch.expect(s);
        await c.killStore(s.storeId);
        rec.target = `kill -9 store ${s.storeId}`;
        heal = async () => void (await c.restartStore(s.storeId));
        break;
      }
      case 'pause': {
        const s = pickStore();
        rec.atMs = w.now();
        s.proc.kill('SIGSTOP');
        rec.target = `SIGSTOP store ${s.storeId}`;
        heal = async () => void s.proc.kill('SIGCONT');
        break;
      }
      case 'partition': {
        const s = pickStore();
        const others = stores.filter((x) => x !== s);
        rec.atMs = w.now();
        await Promise.all([s.faults({ dropTo: others.map((x) => x.storeId) }), ...others.map((x) => x.faults({ dropTo: [s.storeId] }))]);
        rec.target = `store ${s.storeId} cut from stores ${others.map((x) => x.storeId).join(',')}`;
        heal = async () => void (await Promise.all(stores.map((x) => x.faults({ heal: true }))));
        break;
      }
      case 'partition-pair': {
        const a = pickStore();
        const b = pickStore(stores.filter((x) => x !== a));
        rec.atMs = w.now();
        await Promise.all([a.faults({ dropTo: [b.storeId] }), b.faults({ dropTo: [a.storeId] })]);
        rec.target = `stores ${a.storeId} and ${b.storeId} cut from each other`;
        heal = async () => void (await Promise.all([a.faults({ heal: true }), b.faults({ heal: true })]));
        break;
      }
      case 'partition-oneway': {
        const s = pickStore();
        const others = stores.filter((x) => x !== s);
        rec.atMs = w.now();
        await s.faults({ dropTo: others.map((x) => x.storeId) });
        rec.target = `everything store ${s.storeId} sends to stores ${others.map((x) => x.storeId).join(',')} lost`;
        heal = async () => void (await s.faults({ heal: true }));
        break;
      }
      case 'slow-disk': {
        const s = pickStore();
        rec.atMs = w.now();
        await s.faults({ syncDelayMs: slowDiskMs });
        rec.target = `store ${s.storeId} fsync +${slowDiskMs} ms`;
        heal = async () => void (await s.faults({ syncDelayMs: 0 }));
        break;
      }
      case 'pd-kill': {
        const leader = (await c.pdLeader()) ?? c.pds[0]!;
        const i = c.pds.indexOf(leader);
        rec.atMs = w.now();
        watch.expect(leader);
        leader.kill();
        await leader.exited;
        rec.target = `kill -9 PD ${leader.id}`;
        heal = async () => void (await c.startPdAgain(i));
        break;
      }
    }
  } catch (e) {
    rec.target = `not injected: ${e instanceof Error ? e.message : String(e)}`;
    heal = async () => {};
  }
  await sleepUntil(w, rec.atMs + holdMs);
  rec.healedAtMs = w.now();
  try {
    await heal();
  } catch (e) {
    rec.target += `; heal failed: ${e instanceof Error ? e.message : String(e)}`;
  }
  return rec;
}

/** Runs the admin operations at their times, each on its own (they overlap faults and each other). */
interface Shape {
  stores: number;
  ranges: number;
  keysPerRange: number;
}

async function runAdmin(events: readonly AdminEvent[], kv: RangeKvClient, w: Workload, outcomes: Map<string, number>, shape: Shape): Promise<void> {
  const count = (what: string): void => void outcomes.set(what, (outcomes.get(what) ?? 0) + 1);
  const running: Promise<void>[] = [];
  for (const ev of events) {
    await sleepUntil(w, ev.atMs);
    running.push(adminOp(ev, kv, shape).then((what) => count(`${ev.kind} ${what}`), (e: unknown) => {
      const code = (e as { code?: string }).code;
      count(`${ev.kind} failed: ${e instanceof Error ? e.constructor.name : 'error'}${code ? ` ${code}` : ''}`);
    }));
  }
  await Promise.all(running);
}

/** One admin operation; what became of it ("succeeded", "skipped: ...", an operator's final status). */
async function adminOp(ev: AdminEvent, kv: RangeKvClient, shape: Shape): Promise<string> {
  const prng = new Prng(Math.floor(ev.pick * 2 ** 31));
  const opts = { timeoutMs: 20_000 };
  if (ev.kind === 'split') {
    // A key between two workload keys: `r<i>-k<j>~` sorts after `r<i>-k<j>` and before `r<i>-k<j+1>`.
    const at = `${rangeKey(prng.int(shape.ranges))}-k${prng.int(shape.keysPerRange)}~`;
    return (await kv.split(at, opts)).status;
  }
  const ranges = await kv.listRanges(opts);
  const r = ranges[prng.int(ranges.length)];
  if (!r || r.leaderStoreId === 0) return 'skipped: no range with a known leader';
  const voters = r.replicas.filter((x) => x.role === ReplicaRole.Voter).map((x) => x.storeId);
  if (ev.kind === 'transfer') {
    const to = voters.filter((s) => s !== r.leaderStoreId);
    if (to.length === 0) return 'skipped: no other voter';
    return (await kv.transferLeader(r.rangeId, to[prng.int(to.length)]!, opts)).status;
  }
  const from = voters.filter((s) => s !== r.leaderStoreId);
  const to = Array.from({ length: shape.stores }, (_, i) => i + 1).filter((s) => !r.replicas.some((x) => x.storeId === s));
  if (from.length === 0 || to.length === 0) return 'skipped: no store to move to';
  return (await kv.moveReplica(r.rangeId, from[prng.int(from.length)]!, to[prng.int(to.length)]!, opts)).status;
}

/** The report as text: outcomes, faults, admin, availability, verdict. */
export function formatReport(r: NemesisReport): string {
  const lines: string[] = [];
  lines.push(`nemesis seed ${r.seed}: ${r.seconds} s, ${r.pdNodes} PD, ${r.stores} stores, ${r.ranges} ranges, ${r.clients} clients`);
  lines.push('operations:');
  for (const [k, v] of Object.entries(r.outcomes)) lines.push(`  ${k.padEnd(48)} ${v}`);
  lines.push(`faults: ${r.faults.length}`);
  const s = (ms: number | null): string => (ms === null ? 'not recovered' : `${(ms / 1000).toFixed(2)} s`);
  for (const f of r.faults) {
    lines.push(`  ${(f.atMs / 1000).toFixed(1).padStart(6)} s ${f.kind.padEnd(16)} ${f.target} for ${(f.holdMs / 1000).toFixed(1)} s: writes on every range after ${s(f.faultRecoveryMs)} (per range ${f.rangeRecoveryMs.map(s).join(' / ')}), after heal ${s(f.healRecoveryMs)}`);
  }
  lines.push('admin operations:');
  for (const [k, v] of Object.entries(r.admin)) lines.push(`  ${k.padEnd(48)} ${v}`);
  lines.push(...formatAvailability(r.availability));
  lines.push(`history: ${r.check.verdict}${r.check.verdict === 'linearizable' ? ` (${r.check.keys} keys, ${r.check.ops} ops)` : ''}`);
  lines.push(r.violations.length === 0 ? 'violations: none' : `violations: ${r.violations.length}`);
  for (const v of r.violations) lines.push(`  ${v}`);
  return lines.join('\n');
}

