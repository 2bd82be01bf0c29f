// Clients of the simulated cluster: each runs operations (put, get linearizable or lease,
// compare-and-set) on a small set of keys spread over the ranges, one at a time, routing
// like the real client: a range cache learned from the stores' range errors (NotLeader
// hints, EpochNotMatch and KeyNotInRange descriptors), retries while nothing was done, and
// an unknown outcome for a write whose fate it cannot learn (ambiguous, or the store it
// asked went silent). Every operation is recorded for the linearizability checker.
import type { Prng } from '@rangekv/raft';
import { metapb, descriptorFromWire, type RangeDescriptor } from '@rangekv/proto';
import type { KvService } from '@rangekv/store';
import { HistoryRecorder, type KvOp, type KvResult as OpResult } from '../history.js';
import type { SimWorld } from './world.js';

const CLIENT = 0; // the world owns client events
/** A range id no store has: a request naming it asks the store which of its ranges holds the key. */
const NO_SUCH_RANGE = Number.MAX_SAFE_INTEGER;

export interface ClientSettings {
  clients: number;
  keys: readonly string[];
  /** One attempt on one store, then the client gives up on that store (ms). */
  attemptTimeoutMs: number;
  /** A whole operation (all its retries), ms. */
  opTimeoutMs: number;
  /** Pause between two operations of a client, ms. */
  thinkMsMax: number;
}

interface CachedRange {
  d: RangeDescriptor;
  leaderStore: number;
}

type Attempt =
  | { kind: 'ok'; result: OpResult }
  | { kind: 'retry'; reason: string }
  | { kind: 'ambiguous'; reason: string };

function buf(s: string): Buffer {
  return Buffer.from(s);
}

function inSpan(d: RangeDescriptor, key: Buffer): boolean {
  return Buffer.compare(key, Buffer.from(d.startKey)) >= 0 && (d.endKey.length === 0 || Buffer.compare(key, Buffer.from(d.endKey)) < 0);
}

export class SimClients {
  readonly history = new HistoryRecorder();
  private readonly cache = new Map<number, CachedRange>();
  private running = false;
  private active = 0;
  private counter = 0;
  readonly stats = { invoked: 0, completed: 0, unknown: 0, retries: 0, failedToRoute: 0 };
  /** Set by the runner: a store's KV service if it runs, else null. */
  service: (storeId: number) => KvService | null = () => null;
  /** Invariant violations the clients saw (a store refusing a well-formed request as invalid). */
  readonly problems: string[] = [];
  /** Store id -> how to fail each attempt in flight to it (storeCrashed). */
  private readonly inflight = new Map<number, Set<() => void>>();

  constructor(private readonly world: SimWorld, private readonly prng: Prng, private readonly s: ClientSettings, initial: readonly RangeDescriptor[]) {
    for (const d of initial) this.cache.set(d.rangeId, { d, leaderStore: 0 });
  }

  start(): void {
    this.running = true;
    for (let c = 0; c < this.s.clients; c++) this.world.at(CLIENT, this.prng.int(10), () => void this.loop(c));
  }

  /** Stops starting operations; resolves when every client is idle. */
  async stop(): Promise<void> {
    this.running = false;
    while (this.active > 0) await this.world.sleep(CLIENT, 10);
  }

  /**
   * The store's process died: its attempts in flight fail now, as the reset connection of a
   * killed process tells a real client (without this, a crash looks like a silent store,
   * as a power loss would: each attempt waits attemptTimeoutMs). The availability runs call
   * it; the sweep does not.
   */
  storeCrashed(storeId: number): void {
    const fails = this.inflight.get(storeId);
    this.inflight.delete(storeId);
    for (const f of fails ?? []) f();
  }

  get idle(): boolean {
    return this.active === 0;
  }

  private async loop(c: number): Promise<void> {
    this.active++;
    try {
      while (this.running) {
        await this.one(c, this.randomOp());
        await this.world.sleep(CLIENT, this.prng.int(this.s.thinkMsMax + 1));
      }
    } finally {
      this.active--;
    }
  }

  private randomOp(): KvOp {
    const key = this.s.keys[this.prng.int(this.s.keys.length)]!;
    const r = this.prng.int(10);
    if (r < 4) return { kind: 'put', key, value: `v${++this.counter}` };
    if (r < 8) return { kind: 'get', key, mode: this.prng.chance(0.5) ? 'lease' : 'read-index' };
    return { kind: 'cas', key, expected: this.prng.chance(0.3) ? null : `v${this.prng.int(this.counter + 1)}`, value: `v${++this.counter}` };
  }

  /** Runs one operation to an outcome and records it. Also used by the runner (liveness writes). */
  async one(client: number, op: KvOp): Promise<OpResult | null> {
    const id = this.history.invoke(client, op, this.world.now);
    this.stats.invoked++;
    const deadline = this.world.now + this.s.opTimeoutMs;
    while (this.world.now < deadline) {
      const a = await this.attempt(op);
      if (a.kind === 'ok') {
        this.history.complete(id, a.result, this.world.now);
        this.stats.completed++;
        return a.result;
      }
      if (a.kind === 'ambiguous') break;
      this.stats.retries++;
      await this.world.sleep(CLIENT, 1 + this.prng.int(20));
    }
    // A write may or may not have applied; a read that never answered tells nothing (the checker drops it).
    this.history.abandon(id, this.world.now);
    this.stats.unknown++;
    return null;
  }

  private route(key: Buffer): { range: CachedRange; storeId: number } | null {
    let best: CachedRange | null = null;
    for (const r of this.cache.values()) {
      if (!inSpan(r.d, key)) continue;
      if (best === null || r.d.epoch.version > best.d.epoch.version) best = r;
    }
    if (best === null) return null;
    const voters = best.d.replicas.filter((x) => x.role === 0).map((x) => x.storeId);
    const storeId = best.leaderStore !== 0 ? best.leaderStore : voters[this.prng.int(voters.length)] ?? 0;
    return { range: best, storeId };
  }

  private learn(d: metapb.RangeDescriptor.$Properties): void {
    const desc = descriptorFromWire(d);
    const cur = this.cache.get(desc.rangeId);
    if (cur && (cur.d.epoch.version > desc.epoch.version || (cur.d.epoch.version === desc.epoch.version && cur.d.epoch.confVer >= desc.epoch.confVer))) return;
    // A newer descriptor replaces older ones it overlaps (a split's halves).
    for (const [id, r] of this.cache) {
      if (id !== desc.rangeId && r.d.epoch.version < desc.epoch.version && overlaps(r.d, desc)) this.cache.delete(id);
    }
    this.cache.set(desc.rangeId, { d: desc, leaderStore: cur?.leaderStore ?? 0 });
  }

  /**
   * No cached range holds `key` (a merged range's descriptor evicted the stale ones around
   * it, and the range now holding the key was never named to this client): ask a store, as
   * the real client asks PD. A read naming a range no store has is answered EpochNotMatch
   * with the store's range holding the key, and changes nothing.
   */
  private async discover(key: Buffer): Promise<void> {
    const ids = [...new Set([...this.cache.values()].flatMap((r) => r.d.replicas.map((x) => x.storeId)))].sort((a, b) => a - b);
    const up = ids.filter((id) => this.service(id) !== null);
    if (up.length === 0) return;
    const svc = this.service(up[this.prng.int(up.length)]!)!;
    const header = { rangeId: NO_SUCH_RANGE, epoch: { confVer: 0, version: 0 }, readConsistency: metapb.ReadConsistency.STALE };
    try {
      const res = await Promise.race([svc.get({ header, key }), this.world.sleep(CLIENT, this.s.attemptTimeoutMs).then(() => null)]);
      for (const d of res?.rangeError?.epochNotMatch?.current ?? []) this.learn(d);
    } catch {
      // The store went away meanwhile: the next attempt asks again.
    }
  }

  private async attempt(op: KvOp): Promise<Attempt> {
    const key = buf(op.key);
    const rt = this.route(key);
    if (rt === null) {
      this.stats.failedToRoute++;
      await this.discover(key);
      return { kind: 'retry', reason: 'no range' };
    }
    const { range, storeId } = rt;
    const svc = this.service(storeId);
    if (svc === null) {
      range.leaderStore = 0;
      return { kind: 'retry', reason: `store ${storeId} down` };
    }
    const header = {
      rangeId: range.d.rangeId, epoch: { confVer: range.d.epoch.confVer, version: range.d.epoch.version },
      readConsistency: op.kind === 'get' && op.mode === 'lease' ? metapb.ReadConsistency.LEASE : metapb.ReadConsistency.LINEARIZABLE,
    };
    const call: Promise<{ rangeError?: metapb.RangeError.$Properties | null } & Record<string, unknown>> =
      op.kind === 'put' ? svc.put({ header, key, value: buf(op.value) }) as never
        : op.kind === 'get' ? svc.get({ header, key }) as never
          : svc.compareAndSwap({
            header, key, expectExists: op.expected !== null, expectedValue: op.expected === null ? new Uint8Array(0) : buf(op.expected), newValue: buf(op.value),
          }) as never;
    const TIMEOUT: unique symbol = Symbol('timeout');
    const RESET: unique symbol = Symbol('reset');
    let reset!: () => void;
    const gone = new Promise<typeof RESET>((resolve) => {
      reset = () => resolve(RESET);
    });
    const inflight = this.inflight.get(storeId) ?? new Set<() => void>();
    this.inflight.set(storeId, inflight);
    inflight.add(reset);
    let res: Awaited<typeof call> | typeof TIMEOUT | typeof RESET;
    try {
      res = await Promise.race([call, gone, this.world.sleep(CLIENT, this.s.attemptTimeoutMs).then((): typeof TIMEOUT => TIMEOUT)]);
    } catch (e) {
      const name = e instanceof Error ? e.name : '';
      if (name === 'AmbiguousResultError') return op.kind === 'get' ? { kind: 'retry', reason: 'ambiguous read' } : { kind: 'ambiguous', reason: (e as Error).message };
      if (name === 'UnavailableError') return { kind: 'retry', reason: (e as Error).message };
      this.problems.push(`${op.kind} ${op.key} on store ${storeId}: ${name} ${e instanceof Error ? e.message : String(e)}`);
      return { kind: 'retry', reason: 'unexpected error' };
    } finally {
      inflight.delete(reset);
    }
    if (res === RESET) {
      range.leaderStore = 0;
      return op.kind === 'get' ? { kind: 'retry', reason: 'connection reset' } : { kind: 'ambiguous', reason: 'connection reset' };
    }
    if (res === TIMEOUT) {
      range.leaderStore = 0;
      // The store went silent: a write may still apply later.
      return op.kind === 'get' ? { kind: 'retry', reason: 'timeout' } : { kind: 'ambiguous', reason: 'timeout' };
    }
    const re = res.rangeError;
    if (re) {
      if (re.notLeader) range.leaderStore = Number(re.notLeader.leader?.storeId ?? 0);
      else range.leaderStore = 0;
      for (const d of re.epochNotMatch?.current ?? []) this.learn(d);
      if (re.keyNotInRange?.descriptor) this.learn(re.keyNotInRange.descriptor);
      if (re.rangeNotFound) range.leaderStore = 0;
      return { kind: 'retry', reason: re.message ?? 'range error' };
    }
    range.leaderStore = storeId;
    switch (op.kind) {
      case 'put': return { kind: 'ok', result: { kind: 'put' } };
      case 'get': return { kind: 'ok', result: { kind: 'get', value: res['found'] === true ? Buffer.from(res['value'] as Uint8Array).toString() : null } };
      case 'cas': return { kind: 'ok', result: { kind: 'cas', ok: res['succeeded'] === true } };
    }
  }
}

function overlaps(a: RangeDescriptor, b: RangeDescriptor): boolean {
  const aBeforeBEnd = b.endKey.length === 0 || Buffer.compare(Buffer.from(a.startKey), Buffer.from(b.endKey)) < 0;
  const bBeforeAEnd = a.endKey.length === 0 || Buffer.compare(Buffer.from(b.startKey), Buffer.from(a.endKey)) < 0;
  return aBeforeBEnd && bBeforeAEnd;
}
