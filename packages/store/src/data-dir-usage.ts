// The data dir's disk figures for PD's store heartbeat: the filesystem's capacity and free
// space (statfs: one syscall per heartbeat) and the bytes of the files under the dir (a
// walk, run in the background at most every usedBytesRefreshMs, so a heartbeat never
// waits on it; the first heartbeats report 0 until the first walk is done).
import type { Dirent } from 'node:fs';
import { readdir, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';

export interface DiskFigures {
  capacityBytes: number;
  availableBytes: number;
  usedBytes: number;
}

export interface DataDirUsageLimits {
  /** The used-bytes walk runs at most this often, ms. */
  usedBytesRefreshMs: number;
  /** A walk stops after this many files (the figure is then a lower bound). */
  maxFilesWalked: number;
}

export const DEFAULT_DATA_DIR_USAGE_LIMITS: DataDirUsageLimits = { usedBytesRefreshMs: 10_000, maxFilesWalked: 100_000 };

export class DataDirUsage {
  private usedBytes = 0;
  private walkedAtMs = -Infinity;
  private walking: Promise<void> | null = null;

  constructor(private readonly dir: string, private readonly limits: DataDirUsageLimits = DEFAULT_DATA_DIR_USAGE_LIMITS) {}

  /** Never throws: a figure that cannot be read is 0 (not reported). */
  async figures(): Promise<DiskFigures> {
    if (this.walking === null && Date.now() - this.walkedAtMs >= this.limits.usedBytesRefreshMs) {
      this.walking = this.walk().finally(() => {
        this.walking = null;
      });
    }
    try {
      const fs = await statfs(this.dir);
      return { capacityBytes: fs.blocks * fs.bsize, availableBytes: fs.bavail * fs.bsize, usedBytes: this.usedBytes };
    } catch {
      return { capacityBytes: 0, availableBytes: 0, usedBytes: this.usedBytes };
    }
  }

  /** Resolves once a walk started by figures() (if any) is done; for tests. */
  async settled(): Promise<void> {
    await this.walking;
  }

  private async walk(): Promise<void> {
    let total = 0;
    let files = 0;
    const dirs = [this.dir];
    while (dirs.length > 0 && files < this.limits.maxFilesWalked) {
      const d = dirs.pop()!;
      let entries: Dirent[];
      try {
        entries = await readdir(d, { withFileTypes: true });
      } catch {
        continue; // removed while we walked (a snapshot staging dir, say)
      }
      for (const e of entries) {
        const p = join(d, e.name);
        if (e.isDirectory()) {
          dirs.push(p);
        } else if (e.isFile() && files < this.limits.maxFilesWalked) {
          files++;
          try {
            total += (await stat(p)).size;
          } catch {
            // deleted meanwhile (RocksDB compaction)
          }
        }
      }
    }
    this.usedBytes = total;
    this.walkedAtMs = Date.now();
  }
}
