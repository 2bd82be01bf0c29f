// `pnpm sim:availability`: availability per fault kind in the whole-store simulation (one
// fault at a time on the store leading the most ranges; store-sim/availability-seed.ts).
//
//   pnpm sim:availability --seeds 20 --start 1            every kind on seeds 1..20: the table
//   pnpm sim:availability --seed 7 --kinds pause --trace  one run, its fault steps and result
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { availabilityTable, formatAvailability } from './check/availability.js';
import { runAvailabilitySeed, SIM_ELECTION_TIMEOUT_MS, SIM_FAULT_KINDS, type AvailabilitySeedResult, type SimFaultKind } from './store-sim/availability-seed.js';

const USAGE = `usage: pnpm sim:availability [--seeds N] [--start S] [--seed S] [--kinds K,..] [--trace] [--json FILE]
  --seeds N      seeds per fault kind (default 20), from --start (default 1)
  --seed S       one seed (with --trace: its fault steps)
  --kinds K,..   ${SIM_FAULT_KINDS.join(', ')} (default all)
  --json FILE    every run's result as JSON`;

const { values } = parseArgs({
  options: {
    seeds: { type: 'string' }, start: { type: 'string' }, seed: { type: 'string' }, kinds: { type: 'string' },
    trace: { type: 'boolean' }, json: { type: 'string' }, help: { type: 'boolean', short: 'h' },
  },
  strict: true,
});
if (values.help === true) {
  console.log(USAGE);
  process.exit(0);
}
function fail(why: string): never {
  console.error(`${why}\n${USAGE}`);
  process.exit(2);
}
const int = (name: string, v: string | undefined, dflt: number): number => {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) fail(`--${name} wants a positive integer, got "${v}"`);
  return n;
};
const kinds: SimFaultKind[] = values.kinds === undefined ? [...SIM_FAULT_KINDS] : values.kinds.split(',').map((k) => {
  if (!(SIM_FAULT_KINDS as readonly string[]).includes(k)) fail(`--kinds: unknown kind "${k}"`);
  return k as SimFaultKind;
});
const seeds = values.seed !== undefined ? [int('seed', values.seed, 1)]
  : Array.from({ length: int('seeds', values.seeds, 20) }, (_, i) => int('start', values.start, 1) + i);

const results: AvailabilitySeedResult[] = [];
const began = performance.now();
for (const kind of kinds) {
  for (const seed of seeds) {
    const r = await runAvailabilitySeed({ seed, kind, ...(values.trace === true ? { trace: (l: string) => console.log(l) } : {}) });
    results.push(r);
    if (r.failure !== null) console.log(`seed ${seed} ${kind} FAILED: ${r.failure}\n  replay: pnpm sim:availability --seed ${seed} --kinds ${kind} --trace`);
  }
}
const et = SIM_ELECTION_TIMEOUT_MS;
console.log(`${results.length} runs (${kinds.length} kinds x seeds ${seeds[0]}..${seeds[seeds.length - 1]}) in ${((performance.now() - began) / 1000).toFixed(1)} s, ` +
  `${results.filter((r) => r.failure !== null).length} failed; simulated election timeout ${et} ms (randomized to [${et}, ${2 * et}))`);
const rows = availabilityTable(results.flatMap((r) => [
  { what: r.kind, recoveryMs: r.recoveryMs }, { what: `${r.kind}:heal`, recoveryMs: r.healRecoveryMs },
]));
console.log(formatAvailability(rows, 'ms').join('\n'));
console.log('in election timeouts (p50 / p99 / max):');
for (const a of rows) {
  const f = (ms: number | null): string => (ms === null ? '-' : (ms / et).toFixed(1));
  console.log(`  ${a.what.padEnd(16)} ${f(a.p50Ms)} / ${f(a.p99Ms)} / ${f(a.maxMs)}`);
}
if (values.json !== undefined) writeFileSync(values.json, `${JSON.stringify(results, null, 1)}\n`);
process.exitCode = results.some((r) => r.failure !== null) ? 1 : 0;
