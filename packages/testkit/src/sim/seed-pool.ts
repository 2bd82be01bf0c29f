// Runs many seeds on worker threads (one per core by default). Results come back as small
// summaries; a failing seed is replayed in-process (with tracing) by whoever needs detail.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { SeedFailure, SeedResult } from './run-seed.js';

export interface SeedJob {
  seed: number;
  safetyTicks?: number;
  livenessTicks?: number;
}

export interface SeedSummary {
  seed: number;
  ok: boolean;
  failure: SeedFailure | null;
  durationMs: number;
  ticks: number;
  opsInvoked: number;
  opsCompleted: number;
  opsUnknown: number;
  leaderElections: number;
  snapshotsRestored: number;
  recoveryTicks: number | null;
}

export function summarize(r: SeedResult, durationMs: number): SeedSummary {
  return {
    seed: r.seed, ok: r.ok, failure: r.failure, durationMs, ticks: r.cluster.ticks,
    opsInvoked: r.clients.invoked, opsCompleted: r.clients.completed, opsUnknown: r.clients.unknown,
    leaderElections: r.cluster.leaderElections, snapshotsRestored: r.cluster.snapshotsRestored,
    recoveryTicks: r.recoveryTicks,
  };
}

/**
 * Runs `jobs` on `threads` workers, calling `onResult` as each finishes (in completion
 * order). Resolves with all summaries sorted by seed.
 */
export async function runSeedsInPool(
  jobs: readonly SeedJob[],
  onResult: (s: SeedSummary) => void = () => {},
  threads = Math.min(availableParallelism(), Math.max(1, jobs.length)),
  /** Checked before each new job: true stops the sweep (e.g. after the first failure). */
  stop: () => boolean = () => false,
): Promise<SeedSummary[]> {
  const results: SeedSummary[] = [];
  let next = 0;
  const workerUrl = new URL('./seed-worker.js', import.meta.url);
  const runWorker = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const w = new Worker(workerUrl);
      const feed = (): void => {
        if (next >= jobs.length || stop()) {
          void w.terminate().then(() => resolve());
          return;
        }
        w.postMessage(jobs[next++]);
      };
      w.on('message', (s: SeedSummary) => {
        results.push(s);
        onResult(s);
        feed();
      });
      w.on('error', reject);
      feed();
    });
  await Promise.all(Array.from({ length: threads }, runWorker));
  return results.sort((a, b) => a.seed - b.seed);
}
