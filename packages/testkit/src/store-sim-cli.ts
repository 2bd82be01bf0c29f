// The whole-store simulation's command line (`pnpm sim:store`).
//
//   pnpm sim:store --seeds 1000 --start 1     sweep seeds 1..1000 on all cores: seeds/s, failures
//   pnpm sim:store --seed 42                  one seed: its summary, and the trace tail on failure
//   pnpm sim:store --seed 42 --trace          replay one seed printing every fault, admin action and failure
import { parseArgs } from 'node:util';
import { runStoreSeed, type StoreSeedResult } from './store-sim/run-store-seed.js';
import { runStoreSeedsInPool, type StoreSeedSummary } from './store-sim/seed-pool.js';

const USAGE = `usage:
  pnpm sim:store [--seeds N] [--start S] [--threads T]    sweep seeds S..S+N-1 (default 100 from 1)
  pnpm sim:store --seed S [--trace] [--trace-tail N]
options: --safety-ms N (fault phase, default 8000)  --liveness-ms N (recovery bound, default 15000)
         --max-failures N (stop a sweep after N failing seeds)
         --no-converge (skip the last phase: a follower restarted right after a write on the
                        idle cluster, then every member must apply its leader's commit)`;

const { values } = parseArgs({
  options: {
    seeds: { type: 'string' }, start: { type: 'string' }, threads: { type: 'string' }, seed: { type: 'string' },
    trace: { type: 'boolean' }, 'trace-tail': { type: 'string' }, 'safety-ms': { type: 'string' }, 'liveness-ms': { type: 'string' },
    'max-failures': { type: 'string' }, 'no-converge': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
  strict: true,
});
if (values.help === true) {
  console.log(USAGE);
  process.exit(0);
}
const int = (name: string, v: string | undefined): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`--${name} wants a non-negative integer, got "${v}"\n${USAGE}`);
    process.exit(2);
  }
  return n;
};
const safetyMs = int('safety-ms', values['safety-ms']);
const livenessMs = int('liveness-ms', values['liveness-ms']);
const noConverge = values['no-converge'] === true;
const opts = { ...(safetyMs !== undefined ? { safetyMs } : {}), ...(livenessMs !== undefined ? { livenessMs } : {}), ...(noConverge ? { converge: false } : {}) };

function replay(seed: number): string {
  return `pnpm sim:store --seed ${seed}${safetyMs !== undefined ? ` --safety-ms ${safetyMs}` : ''}${livenessMs !== undefined ? ` --liveness-ms ${livenessMs}` : ''}${noConverge ? ' --no-converge' : ''} --trace`;
}

function describe(r: StoreSeedResult): string {
  return [
    `seed ${r.seed}: ${r.ok ? 'OK' : 'FAILED'}`,
    `  ${(r.simMs / 1000).toFixed(1)} s simulated, ${r.events} events, ${r.faults} faults, ${r.adminOps} admin actions, ` +
      `${r.leaderElections} leaderships, ${r.snapshots} snapshots sent, ${r.splits} splits, ${r.merges} merges, ${r.replicasCollected} removed replicas collected`,
    `  clients: ${r.ops.invoked} ops, ${r.ops.completed} returned, ${r.ops.unknown} unknown`,
    ...(r.failure ? [`  FAILURE: ${r.failure}`] : []),
  ].join('\n');
}

async function single(seed: number): Promise<number> {
  if (values.trace === true) {
    const r = await runStoreSeed({ seed, ...opts, trace: (l) => console.log(l) });
    console.log(`\n${describe(r)}`);
    return r.ok ? 0 : 1;
  }
  const r = await runStoreSeed({ seed, ...opts });
  console.log(describe(r));
  if (r.ok) return 0;
  const tailN = int('trace-tail', values['trace-tail']) ?? 60;
  const tail: string[] = [];
  await runStoreSeed({ seed, ...opts, trace: (l) => tail.push(l) });
  console.log(`\nlast ${tailN} trace lines:`);
  for (const l of tail.slice(-tailN)) console.log(`  ${l}`);
  console.log(`\nreplay: ${replay(seed)}`);
  return 1;
}

async function sweep(): Promise<number> {
  const n = int('seeds', values.seeds) ?? 100;
  const start = int('start', values.start) ?? 1;
  const jobs = Array.from({ length: n }, (_, i) => ({ seed: start + i, ...opts }));
  const began = performance.now();
  const maxFailures = int('max-failures', values['max-failures']) ?? 0;
  const failed: StoreSeedSummary[] = [];
  let done = 0;
  let last = 0;
  /** Seeds where replica GC collected a replica, and replicas collected in all. */
  let gcSeeds = 0;
  let collected = 0;
  const rate = (): string => (done / ((performance.now() - began) / 1000)).toFixed(2);
  console.log(`sweeping store-simulation seeds ${start}..${start + n - 1}`);
  await runStoreSeedsInPool(jobs, (r) => {
    done++;
    if (r.replicasCollected > 0) gcSeeds++;
    collected += r.replicasCollected;
    if (!r.ok) {
      failed.push(r);
      console.log(`  seed ${r.seed} FAILED: ${(r.failure ?? '').split('\n')[0]}\n    replay: ${replay(r.seed)}`);
    }
    const now = performance.now();
    if (now - last > 5_000 || done === jobs.length) {
      last = now;
      console.log(`  ${done}/${jobs.length} seeds, ${failed.length} failed, ${rate()} seeds/s`);
    }
  }, int('threads', values.threads), () => maxFailures > 0 && failed.length >= maxFailures);
  console.log(`done: ${jobs.length} seeds in ${((performance.now() - began) / 1000).toFixed(1)} s (${rate()} seeds/s), ${failed.length} failed; replica GC collected ${collected} replicas in ${gcSeeds} seeds`);
  for (const r of failed) console.log(`  ${r.seed}: ${replay(r.seed)}`);
  return failed.length > 0 ? 1 : 0;
}

const seed = int('seed', values.seed);
process.exitCode = seed !== undefined ? await single(seed) : await sweep();
