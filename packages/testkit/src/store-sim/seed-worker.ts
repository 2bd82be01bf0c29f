// Worker-thread entry of the store simulation sweep: runs the seeds it is sent, one at a
// time, and posts back their results.
import { parentPort } from 'node:worker_threads';
import { runStoreSeed, type StoreSeedResult } from './run-store-seed.js';

export interface StoreSeedJob {
  seed: number;
  safetyMs?: number;
  livenessMs?: number;
  converge?: boolean;
}

if (parentPort === null) throw new Error('store-sim seed-worker must run in a worker thread');
const port = parentPort;
let chain = Promise.resolve();
port.on('message', (job: StoreSeedJob) => {
  chain = chain.then(async () => {
    const started = performance.now();
    let r: StoreSeedResult;
    try {
      r = await runStoreSeed({ seed: job.seed, ...(job.safetyMs ? { safetyMs: job.safetyMs } : {}), ...(job.livenessMs ? { livenessMs: job.livenessMs } : {}), ...(job.converge === false ? { converge: false } : {}) });
    } catch (e) {
      r = {
        seed: job.seed, ok: false, failure: `harness error: ${e instanceof Error ? `${e.message}\n${e.stack ?? ''}` : String(e)}`, simMs: 0, events: 0,
        ops: { invoked: 0, completed: 0, unknown: 0 }, faults: 0, adminOps: 0, leaderElections: 0, snapshots: 0, replicasCollected: 0, splits: 0, merges: 0,
      };
    }
    port.postMessage({ ...r, durationMs: performance.now() - started });
  });
});
