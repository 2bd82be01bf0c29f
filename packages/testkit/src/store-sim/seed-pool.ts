// Runs store-simulation seeds on worker threads (one per core by default) and reports each
// result as it finishes.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { StoreSeedResult } from './run-store-seed.js';
import type { StoreSeedJob } from './seed-worker.js';

export type StoreSeedSummary = StoreSeedResult & { durationMs: number };

export async function runStoreSeedsInPool(
  jobs: readonly StoreSeedJob[],
  onResult: (r: StoreSeedSummary) => void = () => {},
  threads = Math.min(availableParallelism(), Math.max(1, jobs.length)),
  /** Checked before each new job: true stops the sweep (e.g. after the first failure). */
  stop: () => boolean = () => false,
): Promise<StoreSeedSummary[]> {
  const results: StoreSeedSummary[] = [];
  let next = 0;
  const url = new URL('./seed-worker.js', import.meta.url);
  const one = (): Promise<void> => new Promise((resolve, reject) => {
    const w = new Worker(url);
    const feed = (): void => {
      if (next >= jobs.length || stop()) {
        void w.terminate().then(() => resolve());
        return;
      }
      w.postMessage(jobs[next++]);
    };
    w.on('message', (r: StoreSeedSummary) => {
      results.push(r);
      onResult(r);
      feed();
    });
    w.on('error', reject);
    feed();
  });
  await Promise.all(Array.from({ length: threads }, one));
  return results.sort((a, b) => a.seed - b.seed);
}
