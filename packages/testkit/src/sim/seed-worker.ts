// Worker-thread entry: runs seeds sent by a SeedPool and posts back their summaries.
import { parentPort } from 'node:worker_threads';
import { runSeed } from './run-seed.js';
import { summarize, type SeedJob, type SeedSummary } from './seed-pool.js';

if (parentPort === null) throw new Error('seed-worker must run in a worker thread');
const port = parentPort;
port.on('message', (job: SeedJob) => {
  const started = performance.now();
  try {
    const r = runSeed({ seed: job.seed, safetyTicks: job.safetyTicks, livenessTicks: job.livenessTicks });
    port.postMessage(summarize(r, performance.now() - started));
  } catch (e) {
    // runSeed reports raft failures itself; this is a harness bug. Report it per seed.
    const err = e instanceof Error ? e : new Error(String(e));
    const failed: SeedSummary = {
      seed: job.seed, ok: false, durationMs: performance.now() - started, ticks: 0, opsInvoked: 0, opsCompleted: 0,
      opsUnknown: 0, leaderElections: 0, snapshotsRestored: 0, recoveryTicks: null,
      failure: { phase: 'safety', invariant: 'harness-error', message: `${err.message}\n${err.stack ?? ''}`, tick: 0 },
    };
    port.postMessage(failed);
  }
});
