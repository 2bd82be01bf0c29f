// The crash test's writer process: opens a store and runs the crash workload
// (crash-workload.ts), printing "a <group> <step>" for every acknowledged Ready, until it
// is killed (SIGKILL, by the parent) or reaches maxCycles.
//
//   node crash-child.js <dir> <seed> <groups> <maxCycles>
import { StorageEngine } from '../engine.js';
import { setImmediateTurn } from '../storage-clock.js';
import { WORKLOAD_LIMITS, runWorkload } from './crash-workload.js';

const [dir, seedArg, groupsArg, cyclesArg] = process.argv.slice(2);
if (dir === undefined || seedArg === undefined || groupsArg === undefined || cyclesArg === undefined) {
  throw new Error('usage: crash-child <dir> <seed> <groups> <maxCycles>');
}
const engine = await StorageEngine.open(dir, { limits: WORKLOAD_LIMITS });
await runWorkload(engine, {
  seed: Number(seedArg), groups: Number(groupsArg), maxCycles: Number(cyclesArg), nextTurn: setImmediateTurn,
  onStart: () => process.stdout.write('ready\n'),
  onAck: (acks) => {
    let out = '';
    for (const [g, k] of acks) out += `a ${g} ${k}\n`;
    process.stdout.write(out);
  },
});
await engine.close();
process.stdout.write('done\n');
