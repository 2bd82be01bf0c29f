// The nemesis' clients: workers doing put, CAS and reads of every consistency on a small
// key set, each through its own RangeKvClient (its own caches and channels, as separate
// processes would have), and one probe per range writing its probe key back to back
// (availability.ts reads the probes). Every operation goes into one HistoryRecorder for
// the linearizability checker, except STALE reads, which promise no recency: they are
// only checked to return a value some client wrote (or nothing).
//
// A write that fails in any way is recorded with an unknown outcome (an earlier attempt
// of it may have been applied before a later one failed); a failed read is dropped.
import { AmbiguousWriteError, type RangeKvClient, type ReadConsistency } from '@rangekv/client';
import { Prng } from '@rangekv/raft';
import { HistoryRecorder, type KvOp, type KvResult, type ProbeOp } from '@rangekv/testkit';

export interface WorkloadOptions {
  /** Keys the workers use. */
  keys: readonly string[];
  /** One probe key per range, index = range. */
  probeKeys: readonly string[];
  /** Deadline of one client call, ms. */
  opTimeoutMs: number;
  /** Pause between a worker's operations, ms (keeps histories small enough to check). */
  thinkMs: number;
  /** A probe sends its next put this long after the last one was sent (or at once when that took longer), ms: the measure's resolution. */
  probeEveryMs: number;
  seed: number;
}

/** Mix of a worker's operations, in percent. */
const MIX: ReadonlyArray<readonly [number, 'put' | 'cas' | ReadConsistency]> = [
  [30, 'put'], [15, 'cas'], [25, 'linearizable'], [15, 'lease'], [10, 'follower'], [5, 'stale'],
];

/** Client ids: workers 0..n-1; probes PROBE_CLIENT + range; the final check FINAL_CLIENT. */
const PROBE_CLIENT = 1000;
export const FINAL_CLIENT = 999;

export class Workload {
  readonly history = new HistoryRecorder();
  readonly probes: ProbeOp[] = [];
  /** Stale reads: checked against the values written, not linearized. */
  readonly staleReads: Array<{ key: string; value: string | null }> = [];
  /** "put ok", "get lease failed: DeadlineExceededError", ... -> count. */
  readonly outcomes = new Map<string, number>();
  private stopping = false;
  private readonly loops: Promise<void>[] = [];
  private readonly t0 = performance.now();

  constructor(private readonly workers: readonly RangeKvClient[], private readonly prober: RangeKvClient, private readonly o: WorkloadOptions) {}

  /** Ms since the workload was created (the history's clock). */
  now(): number {
    return performance.now() - this.t0;
  }

  start(): void {
    this.workers.forEach((kv, i) => this.loops.push(this.worker(kv, i, new Prng(this.o.seed * 7919 + i))));
    this.o.probeKeys.forEach((key, range) => this.loops.push(this.probe(key, range)));
  }

  /** Lets every loop finish its operation in flight, then resolves. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
  }

  /** Reads every key linearizably (into the history) with `kv`; throws if one cannot be read. */
  async finalReads(kv: RangeKvClient): Promise<void> {
    for (const key of [...this.o.keys, ...this.o.probeKeys]) {
      const id = this.history.invoke(FINAL_CLIENT, { kind: 'get', key, mode: 'read-index' }, this.now());
      const v = await kv.get(key, { consistency: 'linearizable', timeoutMs: 30_000 });
      this.history.complete(id, { kind: 'get', value: v === undefined ? null : v.toString() }, this.now());
    }
  }

  /** Stale reads that returned a value no client ever wrote to that key. */
  badStaleReads(): string[] {
    const written = new Set<string>();
    for (const h of this.history.ops()) {
      if (h.op.kind === 'put' || h.op.kind === 'cas') written.add(`${h.op.key}\u0000${h.op.value}`);
    }
    return this.staleReads.filter((r) => r.value !== null && !written.has(`${r.key}\u0000${r.value}`))
      .map((r) => `stale read of ${r.key} returned ${r.value}, which no client wrote there`);
  }

  private count(what: string): void {
    this.outcomes.set(what, (this.outcomes.get(what) ?? 0) + 1);
  }

  private async worker(kv: RangeKvClient, client: number, prng: Prng): Promise<void> {
    let seq = 0;
    /** The last value this worker saw per key: what its CAS expects. */
    const seen = new Map<string, string | null>();
    while (!this.stopping) {
      const key = this.o.keys[prng.int(this.o.keys.length)]!;
      let roll = prng.int(100);
      const kind = MIX.find(([pct]) => (roll -= pct) < 0)![1];
      const value = `${client}.${++seq}`;
      if (kind === 'put') {
        if (await this.write(client, { kind: 'put', key, value }, () => kv.put(key, value, { timeoutMs: this.o.opTimeoutMs }).then(() => ({ kind: 'put' }))) !== null) seen.set(key, value);
      } else if (kind === 'cas') {
        const expected = seen.get(key) ?? null;
        const r = await this.write(client, { kind: 'cas', key, expected, value }, async () => {
          const out = await kv.compareAndSwap(key, { expected, newValue: value, timeoutMs: this.o.opTimeoutMs });
          return { kind: 'cas', ok: out.succeeded };
        });
        if (r?.kind === 'cas') seen.set(key, r.ok ? value : null);
      } else {
        const v = await this.read(kv, client, key, kind);
        if (v !== undefined) seen.set(key, v);
      }
      await new Promise((r) => setTimeout(r, this.o.thinkMs));
    }
  }

  /** Runs a write; its result, or null when its outcome is unknown. */
  private async write(client: number, op: KvOp, run: () => Promise<KvResult>): Promise<KvResult | null> {
    const id = this.history.invoke(client, op, this.now());
    try {
      const r = await run();
      this.history.complete(id, r, this.now());
      this.count(r.kind === 'cas' ? `cas ${r.ok ? 'matched' : 'mismatched'}` : `${op.kind} ok`);
      return r;
    } catch (e) {
      this.history.abandon(id, this.now());
      this.count(`${op.kind} unknown: ${e instanceof AmbiguousWriteError ? 'ambiguous' : errorName(e)}`);
      return null;
    }
  }

  /** A read; the value (null: absent), or undefined when it failed. */
  private async read(kv: RangeKvClient, client: number, key: string, consistency: ReadConsistency): Promise<string | null | undefined> {
    const stale = consistency === 'stale';
    const id = stale ? -1 : this.history.invoke(client, { kind: 'get', key, mode: consistency === 'lease' ? 'lease' : 'read-index' }, this.now());
    try {
      const got = await kv.get(key, { consistency, timeoutMs: this.o.opTimeoutMs });
      const value = got === undefined ? null : got.toString();
      if (stale) this.staleReads.push({ key, value });
      else this.history.complete(id, { kind: 'get', value }, this.now());
      this.count(`get ${consistency} ok`);
      return stale ? undefined : value;
    } catch (e) {
      if (!stale) this.history.abandon(id, this.now());
      this.count(`get ${consistency} failed: ${errorName(e)}`);
      return undefined;
    }
  }

  private async probe(key: string, range: number): Promise<void> {
    let seq = 0;
    while (!this.stopping) {
      const value = `p${range}.${++seq}`;
      const invokeMs = this.now();
      const r = await this.write(PROBE_CLIENT + range, { kind: 'put', key, value }, () =>
        this.prober.put(key, value, { timeoutMs: this.o.opTimeoutMs }).then(() => ({ kind: 'put' })));
      this.probes.push({ range, invokeMs, okMs: r === null ? null : this.now() });
      const wait = invokeMs + this.o.probeEveryMs - this.now();
      if (wait > 0) await new Promise((res) => setTimeout(res, wait));
    }
  }
}

function errorName(e: unknown): string {
  return e instanceof Error ? e.constructor.name : typeof e;
}
