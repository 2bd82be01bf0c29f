// PoolKvApplier: applies KV entries in a piscina pool of apply workers (apply-worker.ts),
// each holding the store's RocksDB opened by handle. The main thread checks the batch
// against the RangeLogStore (storage's checkApplyBatch), packs the entries into a task,
// and when the worker has written the batch updates the RangeLogStore's in-memory applied
// state (RangeLogStore.onApplied). See kv-applier.ts for the contract.
//
//   const pool = await PoolKvApplier.start(engine, { threads: 2 });   // or create(): no wait
//   const results = await pool.apply(rangeId, desc, entries);   // one outstanding per range
//   await pool.close();                                        // before engine.close()
//
// Tasks: a call's entries are cut into chunks (at most maxApplyTaskEntries entries and
// maxApplyTaskBytes bytes, at least one entry) that run one after another, so a range's
// batches are written in log order. Chunks of different ranges queued in the same
// event-loop turn share a task (within the same limits): the worker writes each range's
// batch and sends all of them to RocksDB as one write, which amortizes the pool's
// per-task cost over many ranges. At most `maxApplyTasksInFlight` tasks are in flight;
// while they are, chunks queue (at most one per range: one outstanding apply per range,
// asserted) and the next free slot takes as many as fit.
//
// Small flushes run inline: when a flush finds at most `inlineApplyMaxEntries` entries
// queued (a lightly loaded store: one write at a time), it applies them on the main thread
// with the same code and the same one-write batching as a worker (apply-parts.ts): a
// worker round trip (piscina's post, the thread's wake-up, the answer) costs more CPU and
// latency than applying a few entries. Busier flushes go to the workers, where many
// ranges' entries share a task.
//
// Shutdown: close() refuses new calls, waits until every thread has opened the DB, then
// for every outstanding call (tasks always run to the end: a worker is never terminated
// in the middle of a batch), then destroys the pool, which terminates the now idle
// threads. The threads never close the DB; the engine may be closed once close() resolves.
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import type { RangeDescriptor } from '@rangekv/proto';
import type { StorageEngine } from '@rangekv/storage';
import {
  decodePartResults, encodeApplyTask, isApplyWorkerReady, type ApplyTask, type ApplyTaskResult, type ApplyWorkerInit,
} from './apply-task.js';
import { checkApplyInput, writeParts, type KvApplier, type QueuedPart } from './kv-applier.js';
import type { KvApplyExtra, KvResult } from './kv-state-machine.js';
import { EntryApplyError, type ApplyEntry } from '@rangekv/multiraft';

/** Cores a host needs before a store gives its applies a worker thread by default. */
export const APPLY_WORKER_MIN_CORES = 4;

/**
 * StoreServerOptions.applyWorkers when not given: one worker on a host with at least
 * APPLY_WORKER_MIN_CORES cores, else none (applies inline). A worker takes apply work off
 * the main thread but costs CPU per task (posting, waking the thread, the answer); with
 * no core to spare that CPU is simply lost (README "Apply workers" has the figures).
 */
export function defaultApplyWorkers(cores: number = availableParallelism()): number {
  return cores >= APPLY_WORKER_MIN_CORES ? 1 : 0;
}

export interface ApplyPoolLimits {
  /** Worker threads (>= 1). */
  threads: number;
  /** Tasks submitted to the pool and not finished, across all ranges; more wait for a slot. */
  maxApplyTasksInFlight: number;
  /** Entries in one task (one batch); a longer apply call is cut into several tasks, in order. */
  maxApplyTaskEntries: number;
  /** Entry data bytes in one task; a task holds at least one entry whatever its size. */
  maxApplyTaskBytes: number;
  /** How long start() waits for every thread to open the DB, in ms. */
  workerStartTimeoutMs: number;
  /** A flush with at most this many entries queued applies them on the main thread (0: never). */
  inlineApplyMaxEntries: number;
}

export const DEFAULT_APPLY_POOL_LIMITS: Readonly<ApplyPoolLimits> = Object.freeze({
  threads: 1,
  maxApplyTasksInFlight: 64,
  maxApplyTaskEntries: 1024,
  maxApplyTaskBytes: 4 << 20,
  workerStartTimeoutMs: 10_000,
  inlineApplyMaxEntries: 8,
});

export function resolveApplyPoolLimits(l: Partial<ApplyPoolLimits> = {}): ApplyPoolLimits {
  const r: ApplyPoolLimits = { ...DEFAULT_APPLY_POOL_LIMITS, ...l };
  for (const [k, v] of Object.entries(r)) {
    const min = k === 'inlineApplyMaxEntries' ? 0 : 1;
    if (!Number.isSafeInteger(v) || v < min) throw new RangeError(`apply pool limit ${k} must be an integer >= ${min}, got ${String(v)}`);
  }
  return r;
}

/** apply() after close() began: a caller outlived the store's stop sequence. */
export class ApplyPoolClosedError extends Error {
  constructor() {
    super('apply pool is closed');
    this.name = 'ApplyPoolClosedError';
  }
}

export interface ApplyPoolStats {
  /** Tasks finished (one RocksDB write each, one batch per range in it). */
  tasks: number;
  entries: number;
  /** Flushes applied on the main thread (at most inlineApplyMaxEntries entries each), and their entries. */
  inlineFlushes: number;
  inlineEntries: number;
  /** Times chunks were left queued because maxApplyTasksInFlight tasks were in flight. */
  slotWaits: number;
  /** Most tasks in flight at once. */
  maxInFlight: number;
}

type PendingPart = QueuedPart;

const WORKER_URL = new URL('./apply-worker.js', import.meta.url);

export class PoolKvApplier implements KvApplier {
  readonly kind = 'pool';
  private readonly outstanding = new Set<number>();
  private inFlight = 0;
  /** Chunks waiting for a task, in submission order. */
  private pending: PendingPart[] = [];
  private pendingHead = 0;
  private flushScheduled = false;
  private idleWaiters: (() => void)[] = [];
  private closing: Promise<void> | null = null;
  private readonly st: ApplyPoolStats = { tasks: 0, entries: 0, inlineFlushes: 0, inlineEntries: 0, slotWaits: 0, maxInFlight: 0 };

  /** Resolves once every thread has opened the DB; rejects if one could not. */
  readonly ready: Promise<void>;
  readonly limits: ApplyPoolLimits;
  private readonly pool: Piscina<ApplyTask, ApplyTaskResult>;
  private isReady = false;

  private constructor(private readonly engine: StorageEngine, limits: Partial<ApplyPoolLimits>) {
    const l = resolveApplyPoolLimits(limits);
    this.limits = l;
    const init: ApplyWorkerInit = { handle: engine.nativeDbHandle() };
    this.pool = new Piscina<ApplyTask, ApplyTaskResult>({
      filename: WORKER_URL.href, name: 'applyTask', workerData: init,
      minThreads: l.threads, maxThreads: l.threads, concurrentTasksPerWorker: 1, recordTiming: false,
      // Our own slots bound the tasks; piscina's queue can then never overflow.
      maxQueue: l.maxApplyTasksInFlight,
    });
    this.ready = this.whenOpened();
    this.ready.then(() => { this.isReady = true; }, () => {});
  }

  /**
   * Starts `limits.threads` workers without waiting for them. Applies wait until every
   * thread has opened the DB by handle, and so does close(): a thread still opening when
   * the engine closed would open a closed native DB.
   */
  static create(engine: StorageEngine, limits: Partial<ApplyPoolLimits> = {}): PoolKvApplier {
    return new PoolKvApplier(engine, limits);
  }

  /** create(), then wait until every thread is ready (or fail, with the threads stopped). */
  static async start(engine: StorageEngine, limits: Partial<ApplyPoolLimits> = {}): Promise<PoolKvApplier> {
    const p = new PoolKvApplier(engine, limits);
    try {
      await p.ready;
    } catch (e) {
      await p.close();
      throw e;
    }
    return p;
  }

  /** Each thread posts ApplyWorkerReady once its DB is open (piscina loads the module before the first task). */
  private whenOpened(): Promise<void> {
    const pool = this.pool;
    const n = this.limits.threads;
    const opened = new Set<number>();
    return new Promise<void>((resolve, reject) => {
      const onMessage = (m: unknown): void => {
        if (!isApplyWorkerReady(m)) return;
        opened.add(m.applyWorkerReady);
        if (opened.size < n) return;
        done();
        resolve();
      };
      const onError = (e: unknown): void => {
        done();
        reject(e instanceof Error ? e : new Error(String(e)));
      };
      const timer = setTimeout(() => onError(new Error(`apply workers not ready after ${this.limits.workerStartTimeoutMs} ms (${opened.size}/${n})`)),
        this.limits.workerStartTimeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        pool.off('message', onMessage);
        pool.off('error', onError);
      };
      pool.on('message', onMessage);
      pool.on('error', onError);
    });
  }

  stats(): ApplyPoolStats {
    return { ...this.st };
  }

  /** Tasks submitted to the pool and not finished. */
  get tasksInFlight(): number {
    return this.inFlight;
  }

  async apply(rangeId: number, desc: RangeDescriptor, entries: readonly ApplyEntry[], extra: KvApplyExtra = {}): Promise<KvResult[]> {
    if (this.closing !== null) throw new ApplyPoolClosedError();
    if (entries.length === 0) return [];
    if (this.outstanding.has(rangeId)) throw new Error(`range ${rangeId}: a second apply while one is outstanding (apply must be one at a time per range)`);
    this.outstanding.add(rangeId);
    try {
      if (!this.isReady) await this.ready;
      const results: KvResult[] = [];
      for (let from = 0; from < entries.length;) {
        const to = this.taskEnd(entries, from);
        const last = to === entries.length;
        const part = entries.slice(from, to);
        const r = await this.runPart(rangeId, desc, part, last ? extra.descriptor ?? null : null);
        for (const x of r) results.push(x);
        from = to;
      }
      return results;
    } finally {
      this.outstanding.delete(rangeId);
      this.notifyIdle();
    }
  }

  /** End (exclusive) of the chunk starting at `from`: within both per-task limits, at least one entry. */
  private taskEnd(entries: readonly ApplyEntry[], from: number): number {
    let bytes = entries[from]!.data.length;
    let to = from + 1;
    while (to < entries.length && to - from < this.limits.maxApplyTaskEntries && bytes + entries[to]!.data.length <= this.limits.maxApplyTaskBytes) {
      bytes += entries[to]!.data.length;
      to++;
    }
    return to;
  }

  /** Queues one range's chunk for the next task; resolves with its results once written and shown in the RangeLogStore. */
  private runPart(rangeId: number, desc: RangeDescriptor, entries: readonly ApplyEntry[], newDesc: RangeDescriptor | null): Promise<KvResult[]> {
    checkApplyInput(this.engine, rangeId, entries, newDesc);
    let bytes = 0;
    for (const e of entries) bytes += e.data.length;
    return new Promise<KvResult[]>((resolve, reject) => {
      this.pending.push({ input: { rangeId, desc, entries, newDesc }, bytes, resolve, reject });
      this.scheduleFlush();
    });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // After the current microtasks: every range whose apply just finished has queued its
    // next chunk by then, so they share a task.
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Sends queued chunks, several ranges per task (within the per-task limits), while slots are free; a few entries run inline. */
  private flush(): void {
    if (this.pendingHead < this.pending.length && this.queuedEntriesAtMost(this.limits.inlineApplyMaxEntries)) {
      const parts = this.pending.slice(this.pendingHead);
      this.pending = [];
      this.pendingHead = 0;
      this.runInline(parts);
      return;
    }
    while (this.pendingHead < this.pending.length && this.inFlight < this.limits.maxApplyTasksInFlight) {
      const parts: PendingPart[] = [];
      let entries = 0;
      let bytes = 0;
      while (this.pendingHead < this.pending.length) {
        const p = this.pending[this.pendingHead]!;
        const n = p.input.entries.length;
        if (parts.length > 0 && (entries + n > this.limits.maxApplyTaskEntries || bytes + p.bytes > this.limits.maxApplyTaskBytes)) break;
        parts.push(p);
        entries += n;
        bytes += p.bytes;
        this.pendingHead++;
      }
      this.runTask(parts, entries);
    }
    if (this.pendingHead === this.pending.length) {
      this.pending = [];
      this.pendingHead = 0;
    } else if (this.pendingHead > 0) {
      this.st.slotWaits++;
    }
  }

  /** True when the queued chunks hold at most `max` entries in all. */
  private queuedEntriesAtMost(max: number): boolean {
    let n = 0;
    for (let i = this.pendingHead; i < this.pending.length; i++) {
      n += this.pending[i]!.input.entries.length;
      if (n > max) return false;
    }
    return true;
  }

  /** Applies queued chunks on the main thread: one RocksDB write, as a worker would. */
  private runInline(parts: PendingPart[]): void {
    if (!writeParts(this.engine, parts, (n) => {
      this.st.inlineEntries += n;
    })) return;
    this.st.inlineFlushes++;
  }

  private runTask(parts: PendingPart[], entries: number): void {
    this.inFlight++;
    this.st.maxInFlight = Math.max(this.st.maxInFlight, this.inFlight);
    let task: ApplyTask;
    try {
      task = encodeApplyTask(parts.map((p) => p.input));
    } catch (e) {
      this.inFlight--;
      for (const p of parts) p.reject(e);
      return;
    }
    this.pool.run(task, { transferList: [task.data] }).then((out) => {
      if (out.parts.length !== parts.length) throw new Error(`apply worker returned ${out.parts.length} parts for ${parts.length}`);
      this.st.tasks++;
      this.st.entries += entries;
      for (let i = 0; i < parts.length; i++) {
        const { input, resolve, reject } = parts[i]!;
        const r = out.parts[i]!;
        if (r.failed !== undefined) {
          reject(new EntryApplyError(input.rangeId, r.failed.index, r.failed.reason));
          continue;
        }
        const last = input.entries[input.entries.length - 1]!;
        if (r.kinds.length !== input.entries.length || r.applied.index !== last.index) {
          throw new Error(`range ${input.rangeId}: apply worker returned ${r.kinds.length} results up to ${r.applied.index} for ${input.entries.length} entries up to ${last.index}`);
        }
        const results = decodePartResults(r, input.desc);
        this.engine.range(input.rangeId).onApplied(r.applied, r.confState, input.newDesc);
        resolve(results);
      }
    }).catch((e: unknown) => {
      for (const p of parts) p.reject(e);
    }).finally(() => {
      this.inFlight--;
      if (this.pendingHead < this.pending.length) this.flush();
    });
  }

  private notifyIdle(): void {
    if (this.outstanding.size > 0 || this.idleWaiters.length === 0) return;
    const ws = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of ws) w();
  }

  /** Refuses new applies, waits for the outstanding ones to finish, then stops the threads. */
  close(): Promise<void> {
    if (this.closing === null) this.closing = this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    await this.ready.catch(() => {});
    if (this.outstanding.size > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    // Every task has finished, so the threads are idle: destroy() terminates them now.
    // (Piscina's close() would do the same but leaves its closeTimeout timer, 30 s by
    // default, holding the event loop open.)
    await this.pool.destroy();
  }
}
