// Size checks of the ranges this store leads: their bytes and keys, and the key near the
// middle of their bytes, reported to PD with each range report (RangeStats); PD's split
// checker splits a range grown past its thresholds at that key.
//
// A check scans the range's user keys from RocksDB in the background, at most
// sizeCheckKeysPerTurn keys per turn of the event loop (the binding exposes no approximate
// sizes, so the scan reads the keys and values; it never blocks the loop for long). It
// runs when the bytes proposed to the range since its last check reach
// splitCheckDiffBytes (TiKV's region-split-check-diff), at the range's first write here or
// when this store starts leading it while no figure is known, after a split or merge
// changed its span (spanChanged), and deleteRecheckMs after a delete (a delete proposes
// few bytes but may empty the range, which PD's merge checker needs to see). One check at
// a time; a check whose range changed epoch (a split, a membership change) meanwhile is
// thrown away and queued again. While scanning it
// keeps a bounded list of sample keys (every sampleBytes of data; the list is halved and
// the step doubled beyond maxSizeSamples), so a range of any size costs O(maxSizeSamples)
// memory.
//
//   const sc = new SizeChecker(deps, limits);
//   sc.wrote(rangeId, bytes);   // on the leader, for each proposed write
//   sc.sizeOf(rangeId);         // { bytes, keys, splitKey } once checked
import { ColumnFamily, type Db } from '@rangekv/storage';
import type { RangeDescriptor } from '@rangekv/proto';
import type { Logger } from '@rangekv/runtime';

export interface SizeCheckLimits {
  /** Bytes proposed to a range since its last check that start a new one. */
  splitCheckDiffBytes: number;
  /** Keys read per turn of the event loop by a check. */
  sizeCheckKeysPerTurn: number;
  /** Sample keys kept by a check (memory bound). */
  maxSizeSamples: number;
  /** A delete proposed to a range re-checks it this many ms later (once it applied; deletes in between share the check). */
  deleteRecheckMs: number;
}

export const DEFAULT_SIZE_CHECK_LIMITS: SizeCheckLimits = {
  splitCheckDiffBytes: 8 << 20,
  sizeCheckKeysPerTurn: 1_000,
  maxSizeSamples: 1_024,
  deleteRecheckMs: 1_000,
};

/** First distance between two sample keys, bytes (doubled each time the list is halved). */
const FIRST_SAMPLE_BYTES = 4_096;

export interface RangeSize {
  bytes: number;
  keys: number;
  /** The key with about half of the bytes before it; strictly inside the span, or empty. */
  splitKey: Uint8Array;
  /** The descriptor epoch the figures are for. */
  confVer: number;
  version: number;
}

export interface SizeCheckDeps {
  db: Db;
  /** The range's descriptor if this store leads it now, else null (no check). */
  ledDescriptor(rangeId: number): RangeDescriptor | null;
  nextTurn(fn: () => void): void;
  /** Runs `fn` once, `ms` from now (delete re-checks); without it deletes start no check. */
  setTimer?(ms: number, fn: () => void): void;
  /** A check recorded new figures for `rangeId` (the store reports it to PD soon). */
  onChecked?(rangeId: number): void;
  log: Logger;
}

export class SizeChecker {
  private readonly sizes = new Map<number, RangeSize>();
  /** Bytes proposed since the last check, by range. */
  private readonly diff = new Map<number, number>();
  private readonly queue = new Set<number>();
  /** Ranges with a delete re-check scheduled. */
  private readonly recheck = new Set<number>();
  private running = false;
  private stopped = false;
  readonly counters = { checks: 0, keysScanned: 0, discarded: 0 };

  constructor(private readonly d: SizeCheckDeps, readonly limits: SizeCheckLimits = DEFAULT_SIZE_CHECK_LIMITS) {
    for (const [k, v] of Object.entries(limits)) {
      if (!Number.isSafeInteger(v) || v <= 0) throw new RangeError(`size check limit ${k} must be a positive integer, got ${String(v)}`);
    }
  }

  /** A write of `bytes` was proposed to `rangeId` on its leader here. */
  wrote(rangeId: number, bytes: number): void {
    if (this.stopped) return;
    const n = (this.diff.get(rangeId) ?? 0) + bytes;
    this.diff.set(rangeId, n);
    if (n >= this.limits.splitCheckDiffBytes || !this.sizes.has(rangeId)) this.enqueue(rangeId);
  }

  /** A delete was proposed to `rangeId` on its leader here: check it again deleteRecheckMs later. */
  deleted(rangeId: number): void {
    const setTimer = this.d.setTimer;
    if (this.stopped || setTimer === undefined || this.recheck.has(rangeId)) return;
    this.recheck.add(rangeId);
    setTimer(this.limits.deleteRecheckMs, () => {
      this.recheck.delete(rangeId);
      if (!this.stopped) this.enqueue(rangeId);
    });
  }

  /** This store leads `rangeId` now: check it if no figure is known (PD merges only measured ranges). */
  led(rangeId: number): void {
    if (!this.stopped && !this.sizes.has(rangeId)) this.enqueue(rangeId);
  }

  /**
   * The range's span changed (a split cut it, a merge grew it): its figures are stale, so
   * it is checked again now if led here (else when a store here starts leading it), without
   * waiting for splitCheckDiffBytes of new writes. Without this a range split after its
   * writes ended was never measured again and PD never split it further.
   */
  spanChanged(rangeId: number): void {
    if (this.stopped) return;
    this.sizes.delete(rangeId);
    this.diff.delete(rangeId);
    this.enqueue(rangeId);
  }

  /** The last figures of `rangeId`, if checked. */
  sizeOf(rangeId: number): RangeSize | undefined {
    return this.sizes.get(rangeId);
  }

  /** The range left this store (or was destroyed): its figures go. */
  forget(rangeId: number): void {
    this.sizes.delete(rangeId);
    this.diff.delete(rangeId);
    this.queue.delete(rangeId);
  }

  stop(): void {
    this.stopped = true;
    this.queue.clear();
  }

  private enqueue(rangeId: number): void {
    this.queue.add(rangeId);
    if (!this.running) {
      this.running = true;
      this.d.nextTurn(() => this.next());
    }
  }

  private next(): void {
    const rangeId = this.queue.values().next().value;
    if (rangeId === undefined || this.stopped) {
      this.running = false;
      return;
    }
    this.queue.delete(rangeId);
    const desc = this.d.ledDescriptor(rangeId);
    if (desc === null) {
      this.d.log.debug('size check skipped: not led here', { rangeId });
      this.d.nextTurn(() => this.next());
      return;
    }
    this.diff.set(rangeId, 0);
    this.scan(desc, () => this.d.nextTurn(() => this.next()));
  }

  /** Scans `desc`'s span over several turns; records the figures unless the range changed meanwhile. */
  private scan(desc: RangeDescriptor, done: () => void): void {
    const span = desc.endKey.length === 0 ? { gte: Buffer.from(desc.startKey) } : { gte: Buffer.from(desc.startKey), lt: Buffer.from(desc.endKey) };
    let cursor: ReturnType<Db['cursor']>;
    try {
      cursor = this.d.db.cursor(ColumnFamily.Default, span);
    } catch (e) {
      this.d.log.warn('size check could not start', { rangeId: desc.rangeId, err: e });
      done();
      return;
    }
    let bytes = 0;
    let keys = 0;
    let step = FIRST_SAMPLE_BYTES;
    let nextSampleAt = step;
    let samples: Array<{ key: Buffer; cum: number }> = [];
    const turn = (): void => {
      try {
        for (let i = 0; i < this.limits.sizeCheckKeysPerTurn; i++) {
          const kv = cursor.next();
          if (kv !== null) this.counters.keysScanned++;
          if (kv === null) {
            cursor.close();
            this.finish(desc, bytes, keys, samples);
            done();
            return;
          }
          bytes += kv.key.length + kv.value.length;
          keys++;
          if (bytes >= nextSampleAt) {
            samples.push({ key: kv.key, cum: bytes });
            nextSampleAt = bytes + step;
            if (samples.length > this.limits.maxSizeSamples) {
              samples = samples.filter((_, j) => j % 2 === 1);
              step *= 2;
            }
          }
        }
        if (this.stopped) {
          cursor.close();
          done();
          return;
        }
        this.d.nextTurn(turn);
      } catch (e) {
        cursor.close();
        this.d.log.warn('size check failed', { rangeId: desc.rangeId, err: e });
        done();
      }
    };
    turn();
  }

  private finish(desc: RangeDescriptor, bytes: number, keys: number, samples: ReadonlyArray<{ key: Buffer; cum: number }>): void {
    const now = this.d.ledDescriptor(desc.rangeId);
    if (now === null || now.epoch.version !== desc.epoch.version || now.epoch.confVer !== desc.epoch.confVer) {
      // Split, merged, moved or no longer led here while scanning: the figures are for a span that is gone.
      this.counters.discarded++;
      this.d.log.debug('size check discarded: the range changed', { rangeId: desc.rangeId, led: now !== null });
      if (now !== null) this.enqueue(desc.rangeId);
      return;
    }
    this.counters.checks++;
    // The first sample with half of the bytes before or at it: the left part [start, key) holds about half.
    const half = samples.find((s) => s.cum >= bytes / 2);
    const splitKey = half !== undefined && Buffer.compare(half.key, Buffer.from(desc.startKey)) > 0 ? new Uint8Array(half.key) : new Uint8Array(0);
    this.sizes.set(desc.rangeId, { bytes, keys, splitKey, confVer: desc.epoch.confVer, version: desc.epoch.version });
    this.d.log.debug('size checked', { rangeId: desc.rangeId, bytes, keys, splitKey: splitKey.length, version: desc.epoch.version, confVer: desc.epoch.confVer });
    this.d.onChecked?.(desc.rangeId);
  }
}
