// Client traffic this store served, as running totals: bytes and keys of the writes
// proposed to the ranges it leads and of the reads it answered, and reads per range. The
// PD link turns them into per-second rates between two heartbeats (StoreStats) or two
// range reports (RangeStats.reads_per_second) for PD's schedulers and `ctl stores`.
export class Traffic {
  writeBytes = 0;
  writeKeys = 0;
  readBytes = 0;
  readKeys = 0;
  private readonly readsByRange = new Map<number, number>();

  wrote(bytes: number, keys: number): void {
    this.writeBytes += bytes;
    this.writeKeys += keys;
  }

  read(rangeId: number, bytes: number, keys: number): void {
    this.readBytes += bytes;
    this.readKeys += keys;
    this.readsByRange.set(rangeId, (this.readsByRange.get(rangeId) ?? 0) + 1);
  }

  /** Reads answered on `rangeId` since start (0 for a range never read here). */
  readsOf(rangeId: number): number {
    return this.readsByRange.get(rangeId) ?? 0;
  }

  /** The range left this store. */
  forget(rangeId: number): void {
    this.readsByRange.delete(rangeId);
  }
}
