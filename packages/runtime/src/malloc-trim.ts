// Giving freed heap memory back to the kernel: glibc's malloc_trim(0), on a timer.
//
// glibc keeps memory freed in the middle of its heaps mapped (only the top of a heap is
// trimmed on free). A store's RocksDB memtables, gRPC buffers and write batches come and
// go in those heaps, and after a bulk load a store held 30-50 MiB that was free
// (store README, "Memory"). malloc_trim(0) returns those pages. Node cannot call it, so a
// small addon does (native/malloc-trim.c, built by tools/scripts/build-native.mjs into
// dist/native/); it runs on the libuv thread pool, not the main thread. Where the addon is
// not built (no C compiler, not glibc) `mallocTrimAddon()` is null with the reason, and
// the process runs as before.
import { existsSync } from 'node:fs';
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

export interface MallocTrimmerOptions {
  /** How often to trim; 0 = never. */
  intervalMs: number;
  log: Logger;
  /** After each trim: whether memory was released, and the seconds it took. */
  onTrim?: (released: boolean, seconds: number) => void;
  /** Tests: an addon of their own (null: as if not built). */
  addon?: MallocTrimAddon | null;
}

/**
 * Trims every `intervalMs` (one trim at a time; a timer that fires while one runs skips).
 * The timer does not keep the process alive. `stop()` ends it; a trim under way finishes
 * on its thread and reports nothing.
 */
export class MallocTrimmer {
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private stopped = false;
  /** Trims finished since start. */
  trims = 0;

  constructor(private readonly o: MallocTrimmerOptions) {
    if (!Number.isInteger(o.intervalMs) || o.intervalMs < 0 || (o.intervalMs > 0 && o.intervalMs < MIN_MALLOC_TRIM_INTERVAL_MS) || o.intervalMs > MAX_MALLOC_TRIM_INTERVAL_MS) {
      throw new RangeError(`mallocTrimIntervalMs must be 0 (off) or an integer from ${MIN_MALLOC_TRIM_INTERVAL_MS} to ${MAX_MALLOC_TRIM_INTERVAL_MS}, not ${o.intervalMs}`);
    }
  }

  /** Starts the timer; false (and one log line) when trimming is off or the addon is missing. */
  start(): boolean {
    if (this.o.intervalMs === 0) return false;
    const { addon, reason } = this.o.addon !== undefined ? { addon: this.o.addon, reason: 'not built (test)' } : mallocTrimAddon();
    if (addon === null) {
      this.o.log.info('freed heap memory is not given back to the kernel (malloc_trim unavailable)', { reason });
      return false;
    }
    this.timer = setInterval(() => this.tick(addon), this.o.intervalMs);
    this.timer.unref();
    return true;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private tick(addon: MallocTrimAddon): void {
    if (this.running || this.stopped) return;
    this.running = true;
    addon.trim((released, micros) => {
      this.running = false;
      if (this.stopped) return;
      this.trims++;
      this.o.onTrim?.(released, micros / 1e6);
    });
  }
}
