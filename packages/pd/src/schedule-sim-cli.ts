// pnpm sim:schedule [--case NAME] [--json FILE]: runs the scheduling simulator's cases
// (schedule-sim.ts) and prints, per case, the simulated time to converge, the operators
// each scheduler created, and the final spread of leaders and replicas per store.
import { writeFileSync } from 'node:fs';
import { runCase, SIM_CASES, SIM_TIMINGS, type SimResult } from './schedule-sim.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function hms(ms: number): string {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m${String(s % 60).padStart(2, '0')}s`;
}

const only = arg('case');
if (only !== undefined && !SIM_CASES[only]) {
  process.stderr.write(`unknown case ${only}; one of: ${Object.keys(SIM_CASES).join(', ')}\n`);
  process.exit(2);
}
process.stdout.write(`operator times (simulated): transfer ${SIM_TIMINGS.transferMs} ms, new replica ${SIM_TIMINGS.addReplicaMs} ms, remove ${SIM_TIMINGS.removeReplicaMs} ms; PD's default limits\n\n`);
const results: SimResult[] = [];
for (const c of Object.values(SIM_CASES)) {
  if (only !== undefined && c.name !== only) continue;
  const r = runCase(c);
  results.push(r);
  const ops = Object.entries(r.operators).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
  process.stdout.write([
    `${c.name}: ${c.description}`,
    `  ${r.converged ? 'converged' : 'NOT converged, stopped'} after ${hms(r.simMs)} simulated (${r.rounds} planning rounds run)`,
    `  operators: ${ops}`,
    `  leaders per live store ${r.spread.leadersMin}..${r.spread.leadersMax}, replicas per live store ${r.spread.replicasMin}..${r.spread.replicasMax}` +
      (r.loadMax > 0 ? `, writes/s led per live store ${r.loadMin}..${r.loadMax}` : ''),
    `  under-replicated ranges ${r.underReplicated}, replicas left on leaving stores ${r.replicasOnLeavingStores}`,
    `  planning: ${r.planWallMs} ms wall in all, ${r.wallMsPerRound} ms per round`,
    '',
  ].join('\n') + '\n');
}
const out = arg('json');
if (out !== undefined) writeFileSync(out, JSON.stringify(results, null, 2));
