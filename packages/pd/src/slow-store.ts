// Slow-store detection (in the spirit of TiKV's evict-slow-store): a store whose disk is
// far slower than its peers' turns every write it leads into a slow write, so its leaders
// are moved away (balance-leader.ts plans the transfers) until it has been fast again for
// a while. Read from each store heartbeat's sync_latency_micros (the store's mean fsync
// time since its last heartbeat, or its oldest waiting write's age: sync-latency.ts).
//
// Rules, on the PD leader's memory (a new leader starts empty):
//   - a heartbeat is slow when its latency is above slowStoreMinSyncMicros AND above
//     slowStoreRatio × the median of the other Up stores' latest latencies;
//   - after slowStoreHeartbeats slow heartbeats in a row a store is evicted, unless
//     another store is evicted already (one at a time, as TiKV: two slow disks out of
//     three are not fixed by moving leaders) or fewer than 3 stores are Up;
//   - an evicted store is let back once it sent no slow heartbeat for slowStoreRecoverMs;
//     leader balance then gives it leaders again.
//
//   const s = new SlowStores(limits, log);
//   s.heartbeat(3, 210_000, now, upLatencies);   // per store heartbeat
//   s.evicted(now)                               // -> [3]: move its leaders, give it none

import type { Logger } from '@rangekv/runtime';
import type { PdLimits } from './pd-limits.js';

export type SlowStoreLimits = Pick<PdLimits, 'slowStoreMinSyncMicros' | 'slowStoreRatio' | 'slowStoreHeartbeats' | 'slowStoreRecoverMs'>;

interface StoreSlowness {
  latestMicros: number;
  /** Slow heartbeats in a row. */
  slowInARow: number;
  lastSlowAtMs: number;
}

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export class SlowStores {
  private readonly stores = new Map<number, StoreSlowness>();
  private evictedStore = 0;

  constructor(private readonly limits: SlowStoreLimits, private readonly log: Logger) {}

  /**
   * One store heartbeat. `upStores`: the stores Up now (the median is over their latest
   * figures, this one's excepted).
   */
  heartbeat(storeId: number, syncLatencyMicros: number, nowMs: number, upStores: readonly number[]): void {
    const s = this.stores.get(storeId) ?? { latestMicros: 0, slowInARow: 0, lastSlowAtMs: Number.NEGATIVE_INFINITY };
    this.stores.set(storeId, s);
    s.latestMicros = syncLatencyMicros;
    const others = upStores.filter((id) => id !== storeId).map((id) => this.stores.get(id)?.latestMicros ?? 0);
    const slow = syncLatencyMicros > this.limits.slowStoreMinSyncMicros && syncLatencyMicros > this.limits.slowStoreRatio * median(others);
    if (!slow) {
      s.slowInARow = 0;
      return;
    }
    s.slowInARow++;
    s.lastSlowAtMs = nowMs;
    if (this.evictedStore === 0 && s.slowInARow >= this.limits.slowStoreHeartbeats && upStores.length >= 3) {
      this.evictedStore = storeId;
      this.log.warn('slow store: moving its leaders away', { store: storeId, syncLatencyMicros, othersMedianMicros: median(others) });
    }
  }

  /** The store whose leaders are being moved away (at most one), after letting back one that recovered. */
  evicted(nowMs: number): number[] {
    if (this.evictedStore === 0) return [];
    const s = this.stores.get(this.evictedStore)!;
    if (nowMs - s.lastSlowAtMs >= this.limits.slowStoreRecoverMs) {
      this.log.info('slow store recovered: it may lead again', { store: this.evictedStore });
      this.evictedStore = 0;
      return [];
    }
    return [this.evictedStore];
  }

}
