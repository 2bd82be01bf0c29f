// How slow this store's disk is, as PD's slow-store detection reads it (StoreStats
// sync_latency_micros in every store heartbeat): the mean write + fsync time of the log
// writer's sync batches since the last heartbeat, or the age of the oldest write still
// waiting to be durable when that is longer (a disk that hangs completes no batch, so
// the mean alone would say nothing, or look fast).
//
//   const l = new SyncLatency(() => logWriter.oldestInflightAgeMs());
//   logWriter.onSync = (us) => l.observe(us);
//   heartbeat: stats.syncLatencyMicros = l.take();
export class SyncLatency {
  private sumMicros = 0;
  private count = 0;

  constructor(private readonly oldestWaitingMs: () => number) {}

  observe(syncMicros: number): void {
    this.sumMicros += syncMicros;
    this.count++;
  }

  /** The figure since the last take (µs, an integer), and a new window starts. */
  take(): number {
    const mean = this.count > 0 ? this.sumMicros / this.count : 0;
    this.sumMicros = 0;
    this.count = 0;
    return Math.round(Math.max(mean, this.oldestWaitingMs() * 1000));
  }
}
