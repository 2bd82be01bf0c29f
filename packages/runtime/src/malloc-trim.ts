// Giving freed heap memory back to the kernel: glibc's malloc_trim(0), on a timer.
//
// glibc keeps memory freed in the middle of its heaps mapped (only the top of a heap is
// trimmed on free). A store's RocksDB memtables, gRPC buffers and write batches come and
// go in those heaps, and after a bulk load a store held 30-50 MiB that was free
// (store README, "Memory"). malloc_trim(0) returns those pages. Node cannot call it, so a
// small addon does (native/malloc-trim.c, built by tools/scripts/build-native.mjs into
// dist/native/); it runs on the libuv thread pool, not the main thread. Where the addon is
// not built (no C compiler, not glibc) `mallocTrimAddon()` is null with the reason, and
// the process runs as before. Once the whole process stayed quiet for two intervals in a
// row, periodic trims wait `idleIntervalMs` instead (an idle process frees little).
//
// After a burst (a bulk load, a load test's level) a store keeps what the burst freed: in
// glibc's heaps until the next periodic trim (up to `intervalMs`), and behind the
// JavaScript wrappers of request buffers, batches and messages that were promoted while
// in flight and wait for V8's next full collection (V8 lets tens of MiB of such external
// memory pile up before it collects). `reclaim` looks every `checkMs` at the resident set
// and at how busy the event loop was since the previous look. Once the resident set stands
// `growthBytes` above its low point since the last reclaim while the loop was quiet (busy
// at most `quietLoopPercent` of the time: the burst is over; background threads such as
// RocksDB's compactions do not count) it runs one full collection
// (`gc`, the global `--expose-gc` gives; skipped above `maxGcHeapBytes` of used heap, the
// pause growing with the heap) and a trim at once; the resident set after that trim is
// the new low point. A busy store is never paused, an idle one is not either (nothing
// grew): only the moment after a burst pays, at most once per `minIntervalMs`.
import { existsSync } from 'node:fs';
import { getHeapStatistics } from 'node:v8';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Logger } from './logger.js';

export interface MallocTrimAddon {
  /** Runs malloc_trim(0) on the thread pool; then `done(released, micros)`. */
  trim(done: (released: boolean, micros: number) => void): void;
}

/** Where the build puts the addon: beside this module, under native/. */
export const MALLOC_TRIM_ADDON_PATH = fileURLToPath(new URL('./native/malloc-trim.node', import.meta.url));

let cached: { addon: MallocTrimAddon | null; reason: string } | undefined;

/** The addon, or null with why not (loaded once per process). */
export function mallocTrimAddon(): { addon: MallocTrimAddon | null; reason: string } {
  if (cached !== undefined) return cached;
  if (process.platform !== 'linux') {
    cached = { addon: null, reason: `malloc_trim is glibc's; this is ${process.platform}` };
  } else if (!existsSync(MALLOC_TRIM_ADDON_PATH)) {
    cached = { addon: null, reason: `${MALLOC_TRIM_ADDON_PATH} was not built (tools/scripts/build-native.mjs needs a C compiler and Node's headers)` };
  } else {
    try {
      const addon = createRequire(import.meta.url)(MALLOC_TRIM_ADDON_PATH) as Partial<MallocTrimAddon>;
      cached = typeof addon.trim === 'function' ? { addon: addon as MallocTrimAddon, reason: 'loaded' } : { addon: null, reason: `${MALLOC_TRIM_ADDON_PATH} has no trim()` };
    } catch (e) {
      cached = { addon: null, reason: `${MALLOC_TRIM_ADDON_PATH} did not load: ${e instanceof Error ? e.message : String(e)}` };
    }
  }
  return cached;
}

/** Bounds and default of `mallocTrimIntervalMs` (0 = off). A trim takes 1-15 ms of one pool thread. */
export const DEFAULT_MALLOC_TRIM_INTERVAL_MS = 5_000;
export const MIN_MALLOC_TRIM_INTERVAL_MS = 100;
export const MAX_MALLOC_TRIM_INTERVAL_MS = 3_600_000;
/** Default of `idleIntervalMs`: periodic trims of a quiet process. */
export const DEFAULT_MALLOC_TRIM_IDLE_INTERVAL_MS = 60_000;
/** A quiet process for the periodic trims: all threads together at most this share of one core (%). */
const QUIET_CPU_PERCENT = 10;

/** Bounds and default of `reclaim.growthBytes` (0 = off). */
export const DEFAULT_RECLAIM_GROWTH_BYTES = 16 << 20;
export const MIN_RECLAIM_GROWTH_BYTES = 1 << 20;
export const MAX_RECLAIM_GROWTH_BYTES = 2 ** 40;

/**
 * The process's resident set, V8's used heap and external (malloc'd, e.g. Buffer) memory,
 * bytes; the event loop's busy time and the CPU time of all its threads so far, ms.
 */
export interface MemoryFigures {
  rssBytes: number;
  usedHeapBytes: number;
  externalBytes: number;
  loopActiveMs: number;
  cpuMs: number;
}

export function processMemoryFigures(): MemoryFigures {
  const h = getHeapStatistics();
  const c = process.cpuUsage();
  return {
    rssBytes: process.memoryUsage.rss(), usedHeapBytes: h.used_heap_size, externalBytes: h.external_memory,
    loopActiveMs: performance.eventLoopUtilization().active, cpuMs: (c.user + c.system) / 1000,
  };
}

/** What one reclaim did. */
export interface ReclaimReport {
  /** The full collection's pause, or null when there was none (no `gc`, or the heap above maxGcHeapBytes). */
  gcSeconds: number | null;
  /** Used heap + external memory before minus after (0 without a collection). */
  freedBytes: number;
}

export interface ReclaimOptions {
  /** Reclaim once the resident set stands this far above its low point since the last reclaim; 0 = never. */
  growthBytes: number;
  /** V8's full collection (globalThis.gc under --expose-gc); null: the trim alone. */
  gc: (() => void) | null;
  /** How often memory is looked at. Default 500. */
  checkMs?: number;
  /** Quiet: the event loop was busy at most this share (%) of the time since the previous look. Default 10. */
  quietLoopPercent?: number;
  /** Least time between two reclaims. Default 10,000. */
  minIntervalMs?: number;
  /** No collection while the used heap is above this (only the trim): the pause grows with it. Default 64 MiB. */
  maxGcHeapBytes?: number;
  onReclaim?: (r: ReclaimReport) => void;
}

export interface MallocTrimmerOptions {
  /** How often to trim; 0 = never. */
  intervalMs: number;
  log: Logger;
  /** After each trim: whether memory was released, and the seconds it took. */
  onTrim?: (released: boolean, seconds: number) => void;
  /**
   * Once the process stayed quiet for two intervals in a row (all its threads together
   * used at most 10 % of a core: not the event loop's share, as RocksDB's flushes and
   * compactions free memory too), periodic trims wait this long instead of intervalMs: an
   * idle process frees little, and a trim costs its pool thread 5-15 ms. The interval in
   * which work ended and the quiet one after it still trim (what the work's tail freed).
   * Default 60,000; intervalMs or less: never skipped.
   */
  idleIntervalMs?: number;
  /** Reclaiming after a burst (see the header); absent = never. */
  reclaim?: ReclaimOptions;
  /** Tests: figures of their own (default processMemoryFigures), and a clock in ms (default performance.now). */
  memory?: () => MemoryFigures;
  now?: () => number;
  /** Tests: an addon of their own (null: as if not built). */
  addon?: MallocTrimAddon | null;
}

/**
 * Trims every `intervalMs` (one trim at a time; a timer that fires while one runs skips),
 * and reclaims after bursts when `reclaim` is set. The timers do not keep the process
 * alive. `stop()` ends them; a trim under way finishes on its thread and reports nothing.
 */
export class MallocTrimmer {
  private timer: NodeJS.Timeout | null = null;
  private checkTimer: NodeJS.Timeout | null = null;
  private addon: MallocTrimAddon | null = null;
  private running = false;
  private stopped = false;
  /** The last trim's start (ms); the previous tick's time and the process's CPU time then (ms); quiet intervals in a row. */
  private lastTrimAt = 0;
  private lastTickAt = 0;
  private cpuMsAtTick = 0;
  private quietTicks = 0;
  /** Periodic trims skipped because the process stayed quiet. */
  skippedTrims = 0;
  /** The previous look: its time and the event loop's busy time then (ms). */
  private lastLookAt = 0;
  private lastLoopActiveMs = 0;
  /** The resident set's low point since the last reclaim (its trim included). */
  private lowRssBytes = 0;
  private lastReclaimAt = Number.NEGATIVE_INFINITY;
  /** Trims finished since start. */
  trims = 0;
  /** Reclaims since start (each a collection, if any, and a trim). */
  reclaims = 0;

  constructor(private readonly o: MallocTrimmerOptions) {
    if (!Number.isInteger(o.intervalMs) || o.intervalMs < 0 || (o.intervalMs > 0 && o.intervalMs < MIN_MALLOC_TRIM_INTERVAL_MS) || o.intervalMs > MAX_MALLOC_TRIM_INTERVAL_MS) {
      throw new RangeError(`mallocTrimIntervalMs must be 0 (off) or an integer from ${MIN_MALLOC_TRIM_INTERVAL_MS} to ${MAX_MALLOC_TRIM_INTERVAL_MS}, not ${o.intervalMs}`);
    }
    const idle = o.idleIntervalMs;
    if (idle !== undefined && (!Number.isInteger(idle) || idle < 0 || idle > MAX_MALLOC_TRIM_INTERVAL_MS)) {
      throw new RangeError(`idleIntervalMs must be an integer from 0 to ${MAX_MALLOC_TRIM_INTERVAL_MS}, not ${idle}`);
    }
    const g = o.reclaim?.growthBytes;
    if (g !== undefined && (!Number.isInteger(g) || g < 0 || (g > 0 && g < MIN_RECLAIM_GROWTH_BYTES) || g > MAX_RECLAIM_GROWTH_BYTES)) {
      throw new RangeError(`reclaim growthBytes must be 0 (off) or an integer from ${MIN_RECLAIM_GROWTH_BYTES} to ${MAX_RECLAIM_GROWTH_BYTES}, not ${g}`);
    }
    if (o.reclaim !== undefined) {
      const m = this.figures();
      this.lastLookAt = this.now();
      this.lastLoopActiveMs = m.loopActiveMs;
      this.lowRssBytes = m.rssBytes;
    }
  }

  /**
   * Starts the timers; false when neither runs: trimming off (interval 0) and no reclaim, or
   * the addon missing (one log line with the reason) and no `gc` to reclaim with.
   */
  start(): boolean {
    const r = this.o.reclaim;
    const reclaimOn = r !== undefined && r.growthBytes > 0;
    if (this.o.intervalMs === 0 && !reclaimOn) return false;
    const { addon, reason } = this.o.addon !== undefined ? { addon: this.o.addon, reason: 'not built (test)' } : mallocTrimAddon();
    if (addon === null) this.o.log.info('freed heap memory is not given back to the kernel (malloc_trim unavailable)', { reason });
    this.addon = addon;
    if (addon !== null && this.o.intervalMs > 0) {
      this.lastTickAt = this.now();
      this.cpuMsAtTick = this.figures().cpuMs;
      this.timer = setInterval(() => this.tick(), this.o.intervalMs);
      this.timer.unref();
    }
    if (reclaimOn && (addon !== null || r.gc !== null)) {
      this.checkTimer = setInterval(() => this.look(), r.checkMs ?? 500);
      this.checkTimer.unref();
    }
    return this.timer !== null || this.checkTimer !== null;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    if (this.checkTimer !== null) clearInterval(this.checkTimer);
    this.timer = null;
    this.checkTimer = null;
  }

  private figures(): MemoryFigures {
    return (this.o.memory ?? processMemoryFigures)();
  }

  private now(): number {
    const now = this.o.now;
    return now !== undefined ? now() : performance.now();
  }

  /**
   * The periodic timer's step (tests call it themselves): a trim, unless the process
   * stayed quiet for the last two intervals and idleIntervalMs has not passed since the
   * last trim.
   */
  tick(): void {
    if (this.addon === null || this.running || this.stopped) return;
    const now = this.now();
    const cpuMs = this.figures().cpuMs;
    const cpuPercent = ((cpuMs - this.cpuMsAtTick) / Math.max(1, now - this.lastTickAt)) * 100;
    this.lastTickAt = now;
    this.cpuMsAtTick = cpuMs;
    this.quietTicks = cpuPercent <= QUIET_CPU_PERCENT ? this.quietTicks + 1 : 0;
    const idleIntervalMs = this.o.idleIntervalMs ?? DEFAULT_MALLOC_TRIM_IDLE_INTERVAL_MS;
    if (idleIntervalMs > this.o.intervalMs && this.trims > 0 && this.quietTicks >= 2 && now - this.lastTrimAt < idleIntervalMs) {
      this.skippedTrims++;
      return;
    }
    this.trim();
  }

  /** One trim on the pool (none while one runs); `after` once it finished, unless stopped. */
  private trim(after?: () => void): void {
    const addon = this.addon;
    if (addon === null || this.running || this.stopped) return;
    this.running = true;
    this.lastTrimAt = this.now();
    addon.trim((released, micros) => {
      this.running = false;
      if (this.stopped) return;
      this.trims++;
      this.o.onTrim?.(released, micros / 1e6);
      after?.();
    });
  }

  /**
   * One look (the timer's, every checkMs; tests call it themselves): reclaims when the
   * resident set grew and the process went quiet (the header). Nothing unless `reclaim`
   * is set.
   */
  look(): void {
    const r = this.o.reclaim;
    if (r === undefined || r.growthBytes === 0 || this.stopped) return;
    const m = this.figures();
    const now = this.now();
    const busyPercent = ((m.loopActiveMs - this.lastLoopActiveMs) / Math.max(1, now - this.lastLookAt)) * 100;
    this.lastLookAt = now;
    this.lastLoopActiveMs = m.loopActiveMs;
    if (m.rssBytes < this.lowRssBytes) this.lowRssBytes = m.rssBytes;
    if (busyPercent > (r.quietLoopPercent ?? 10) || m.rssBytes - this.lowRssBytes < r.growthBytes || this.running) return;
    if (now - this.lastReclaimAt < (r.minIntervalMs ?? 10_000)) return;
    this.lastReclaimAt = now;
    let gcSeconds: number | null = null;
    let freedBytes = 0;
    if (r.gc !== null && m.usedHeapBytes <= (r.maxGcHeapBytes ?? 64 << 20)) {
      const t0 = performance.now();
      r.gc();
      gcSeconds = (performance.now() - t0) / 1000;
      const after = this.figures();
      freedBytes = Math.max(0, m.usedHeapBytes + m.externalBytes - after.usedHeapBytes - after.externalBytes);
    }
    this.reclaims++;
    r.onReclaim?.({ gcSeconds, freedBytes });
    // The new low point: the resident set once the trim gave back what it could (without
    // the addon, now).
    const settle = (): void => { this.lowRssBytes = this.figures().rssBytes; };
    if (this.addon !== null) this.trim(settle);
    else settle();
  }
}
