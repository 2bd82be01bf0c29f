// Helpers of the e2e tests that write while PD changes the cluster: a split tried again
// while PD refuses it because a scheduler's operator runs on the range, and a writer that
// keeps writing one key at a time and remembers what was acknowledged.
import assert from 'node:assert/strict';
import { AmbiguousWriteError, type RangeKvClient } from '@rangekv/client';
import { sleep } from './cluster.js';

/** Splits at `key` through PD, again while PD refuses it (FAILED_PRECONDITION: an operator runs on the range). */
export async function splitWhenFree(kv: RangeKvClient, key: string, timeoutMs = 30_000): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      const op = await kv.split(key, { timeoutMs });
      assert.equal(op.status, 'succeeded', `split at ${key}: ${op.reason}`);
      return;
    } catch (e) {
      if ((e as { code?: string }).code !== 'FAILED_PRECONDITION' || attempt >= 200) throw e;
      await sleep(50);
    }
  }
}

/**
 * Writes key `keyOf(i)` = `v${i}` for i = 0, 1, ... until stopped, one put at a time; a put
 * that ends ambiguous is sent again with the same value (the writer owns its keys, so the
 * last acknowledged value is the one to read back).
 */
export class Writer {
  readonly acked = new Map<string, string>();
  writes = 0;
  private stopped = false;
  private readonly done: Promise<void>;

  constructor(private readonly kv: RangeKvClient, private readonly keyOf: (i: number) => string, readonly name = 'v') {
    this.done = this.run();
    // Observed by stop(); until then a writer that failed early must not be an unhandled rejection.
    this.done.catch(() => undefined);
  }

  private async run(): Promise<void> {
    for (let i = 0; !this.stopped; i++) {
      const k = this.keyOf(i);
      const v = `${this.name}${i}`;
      for (;;) {
        try {
          await this.kv.put(k, v);
          this.acked.set(k, v);
          this.writes++;
          break;
        } catch (e) {
          if (!(e instanceof AmbiguousWriteError) || this.stopped) throw e;
        }
      }
    }
  }

  /** Stops after the put in flight; rejects with the error that stopped it early, if any. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }

  /** Reads every acknowledged key back. */
  async verify(): Promise<void> {
    for (const [k, v] of this.acked) assert.equal((await this.kv.get(k))?.toString(), v, `key ${k}`);
  }
}
