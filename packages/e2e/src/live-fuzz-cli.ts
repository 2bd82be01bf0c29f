// `pnpm fuzz --seconds N [--seed S] [--concurrency C] [--json FILE]`: the live fuzzer
// (live-fuzz/live-fuzz.ts) against a real cluster it starts and stops itself. Prints a
// progress line, then inputs per second, outcomes per input kind, the processes' RSS and
// every violation; exits 1 when there was any violation.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { runLiveFuzz } from './live-fuzz/live-fuzz.js';

const USAGE = `usage: pnpm fuzz [--seconds N] [--seed S] [--concurrency C] [--json FILE]
  --seconds N       how long to fuzz                    (default 60)
  --seed S          first fast-check seed               (default: the time)
  --concurrency C   inputs in flight at once            (default 8)
  --json FILE       also write the report as JSON`;

function int(name: string, v: string | undefined, dflt: number, min: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) {
    process.stderr.write(`--${name} must be an integer >= ${min}, got ${v}\n${USAGE}\n`);
    process.exit(2);
  }
  return n;
}

let args;
try {
  args = parseArgs({
    options: { seconds: { type: 'string' }, seed: { type: 'string' }, concurrency: { type: 'string' }, json: { type: 'string' }, help: { type: 'boolean' } },
    strict: true,
  }).values;
} catch (e) {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n${USAGE}\n`);
  process.exit(2);
}
if (args.help === true) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const seconds = int('seconds', args.seconds, 60, 1);
const seed = int('seed', args.seed, Date.now() % 2 ** 31, 0);
const concurrency = int('concurrency', args.concurrency, 8, 1);
const log = (line: string): void => {
  process.stdout.write(`[fuzz] ${line}\n`);
};

const report = await runLiveFuzz({ seconds, seed, concurrency, progressEveryMs: 10_000, checkEveryMs: 5_000, log });
log(`done: ${report.inputs} inputs in ${report.seconds.toFixed(0)} s = ${report.inputsPerSecond.toFixed(0)} inputs/s; ${report.checks} checks of ${report.sentinelKeys} sentinel keys; seed ${seed}`);
for (const [what, m] of Object.entries(report.outcomes).sort()) {
  log(`  ${what.padEnd(34)} ${Object.entries(m).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')}`);
}
log(`RSS MiB (start -> end): ${Object.entries(report.rssMiB).map(([p, [a, b]]) => `${p} ${a}->${b}`).join(', ')}`);
if (args.json !== undefined) writeFileSync(args.json, JSON.stringify({ seed, ...report }, null, 2) + '\n');
if (report.violations.length > 0) {
  log(`${report.violations.length} VIOLATIONS:`);
  for (const v of report.violations.slice(0, 50)) log(`  ${v}`);
  process.exit(1);
}
log('no violations: every process stayed up, answered with clear statuses, and kept every acknowledged key');
process.exit(0);
