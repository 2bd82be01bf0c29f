// `pnpm nemesis --seed S --seconds N [--runs R] [--faults K,..] [--admin K,..] [--pd-nodes 1|3] [--json FILE]`:
// the process nemesis (nemesis/nemesis.ts) on a cluster it starts and stops itself, once
// per seed S, S+1, ..., S+R-1. Prints each run's report, then (with R > 1) the
// availability table over all runs; exits 1 when any run had a violation.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { availabilityTable, formatAvailability } from '@rangekv/testkit';
import { formatReport, runNemesis, type NemesisReport } from './nemesis/nemesis.js';
import { ADMIN_KINDS, EXTRA_FAULT_KINDS, FAULT_KINDS, NAMED_FAULT_KINDS, parseKinds } from './nemesis/schedule.js';

const USAGE = `usage: pnpm nemesis [--seed S] [--seconds N] [--runs R] [--faults K,..] [--admin K,..] [--pd-nodes 1|3] [--stores N] [--json FILE] [--log-dir DIR [--log-level L]]
  --seed S        first seed; run i uses S+i              (default 1)
  --seconds N     length of one run                       (default 120)
  --runs R        runs, one after the other               (default 1)
  --faults K,..   ${FAULT_KINDS.join(', ')}; all, none    (default all)
                  also by name only (not in all): ${EXTRA_FAULT_KINDS.join(', ')}
  --admin K,..    ${ADMIN_KINDS.join(', ')}; all, none    (default all)
  --pd-nodes 1|3  PD members                              (default 1)
  --stores N      store processes (3 replicas per range)  (default 4)
  --json FILE     also write every run's report as JSON
  --log-dir DIR   keep every store's and PD's stderr in DIR/seed-S/, and the replicas' state
                  around every store kill in DIR/seed-S/ranges.jsonl (default: none kept)
  --log-level L   info or debug (the election message trace), with --log-dir  (default info)`;

function fail(msg: string): never {
  process.stderr.write(`${msg}\n${USAGE}\n`);
  process.exit(2);
}

function int(name: string, v: string | undefined, dflt: number, min: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) fail(`--${name} must be an integer >= ${min}, got ${v}`);
  return n;
}

let args;
try {
  args = parseArgs({
    options: {
      seed: { type: 'string' }, seconds: { type: 'string' }, runs: { type: 'string' }, faults: { type: 'string' }, admin: { type: 'string' },
      'pd-nodes': { type: 'string' }, stores: { type: 'string' }, json: { type: 'string' }, 'log-dir': { type: 'string' }, 'log-level': { type: 'string' }, help: { type: 'boolean' },
    },
    strict: true,
  }).values;
} catch (e) {
  fail(e instanceof Error ? e.message : String(e));
}
if (args.help === true) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const seed = int('seed', args.seed, 1, 0);
const seconds = int('seconds', args.seconds, 120, 10);
const runs = int('runs', args.runs, 1, 1);
const stores = int('stores', args.stores, 4, 3);
const pdNodes = int('pd-nodes', args['pd-nodes'], 1, 1);
if (pdNodes !== 1 && pdNodes !== 3) fail(`--pd-nodes must be 1 or 3, got ${pdNodes}`);
const logLevel = args['log-level'] ?? 'info';
if (logLevel !== 'info' && logLevel !== 'debug') fail(`--log-level must be info or debug, got ${logLevel}`);
let faults, admin;
try {
  faults = parseKinds('fault', args.faults ?? 'all', FAULT_KINDS, NAMED_FAULT_KINDS);
  admin = parseKinds('admin', args.admin ?? 'all', ADMIN_KINDS);
} catch (e) {
  fail(e instanceof Error ? e.message : String(e));
}

const reports: NemesisReport[] = [];
for (let i = 0; i < runs; i++) {
  const r = await runNemesis({
    seed: seed + i, seconds, faults, admin, pdNodes, stores,
    ...(args['log-dir'] !== undefined ? { logDir: join(args['log-dir'], `seed-${seed + i}`), logLevel } : {}),
    log: (line) => process.stdout.write(`[nemesis ${seed + i}] ${line}\n`),
  });
  reports.push(r);
  process.stdout.write(`${formatReport(r)}\n\n`);
  if (args.json !== undefined) writeFileSync(args.json, JSON.stringify(reports, null, 2) + '\n');
}
const bad = reports.filter((r) => r.violations.length > 0);
if (runs > 1) {
  process.stdout.write(`${runs} runs (seeds ${seed}..${seed + runs - 1}, ${seconds} s each): ${bad.length} with violations${bad.length > 0 ? ` (seeds ${bad.map((r) => r.seed).join(', ')})` : ''}\n`);
  const all = reports.flatMap((r) => r.faults.flatMap((f) => [
    { what: f.kind, recoveryMs: f.faultRecoveryMs }, { what: `${f.kind}:heal`, recoveryMs: f.healRecoveryMs },
  ]));
  process.stdout.write(`${formatAvailability(availabilityTable(all)).join('\n')}\n`);
}
process.exit(bad.length > 0 ? 1 : 0);
