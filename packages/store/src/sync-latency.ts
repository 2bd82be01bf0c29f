// How slow this store's disk is, as PD's slow-store detection reads it (StoreStats
// sync_latency_micros in every store heartbeat): the mean write + fsync time of the log
// writer's sync batches since the last heartbeat, or, when the same write was the oldest
// one waiting at this heartbeat and the last, the time between them if longer (a disk
// that hangs completes no batch, so the mean alone would say nothing, or look fast).
//
//   const l = new SyncLatency(() => logWriter.oldestInflightId(), () => performance.now());
//   logWriter.onSync = (us) => l.observe(us);
//   heartbeat: stats.syncLatencyMicros = l.take();
export class SyncLatency {
  private sumMicros = 0;
  private count = 0;
  private lastTakeMs: number;
  private oldestAtLastTake = 0;

  constructor(private readonly oldestWaitingId: () => number, private readonly now: () => number) {
    this.lastTakeMs = now();
  }

  observe(syncMicros: number): void {
    this.sumMicros += syncMicros;
    this.count++;
  }

  /** The figure since the last take (µs, an integer), and a new window starts. */
  take(): number {
    const now = this.now();
    const oldest = this.oldestWaitingId();
    const stuckMs = oldest !== 0 && oldest === this.oldestAtLastTake ? now - this.lastTakeMs : 0;
    const mean = this.count > 0 ? this.sumMicros / this.count : 0;
    this.sumMicros = 0;
    this.count = 0;
    this.lastTakeMs = now;
    this.oldestAtLastTake = oldest;
    return Math.round(Math.max(mean, stuckMs * 1000));
  }
}
