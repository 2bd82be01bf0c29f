// The crash test's writer process: opens a store, creates `groups` ranges, then drives the
// GroupModel workload through ReadyBatch (one log-writer request per cycle, up to
// MAX_INFLIGHT_PER_GROUP Readies of a group in flight), compacting now and then. After each
// request is durable it prints "a <group> <step>" per Ready in it, then keeps going until
// it is killed (SIGKILL, by the parent) or reaches maxCycles.
//
//   node crash-child.js <dir> <seed> <groups> <maxCycles>
import { ReplicaRole } from '@rangekv/proto/range-descriptor';
import { StorageEngine } from '../engine.js';
import { GroupModel, MAX_INFLIGHT_PER_GROUP, rangeStart } from './crash-model.js';
import { confState, ready } from './fixtures.js';
import { Prng } from '@rangekv/raft';

const [dir, seedArg, groupsArg, cyclesArg] = process.argv.slice(2);
if (dir === undefined || seedArg === undefined || groupsArg === undefined || cyclesArg === undefined) {
  throw new Error('usage: crash-child <dir> <seed> <groups> <maxCycles>');
}
const seed = Number(seedArg);
const groups = Number(groupsArg);
const maxCycles = Number(cyclesArg);
const engine = await StorageEngine.open(dir, { limits: { maxCachedEntries: 16, deleteBatchKeys: 64 } });
await Promise.all(Array.from({ length: groups }, (_, i) => engine.createRange({
  descriptor: {
    rangeId: i + 1, startKey: Buffer.from(rangeStart(i + 1)), endKey: Buffer.from(rangeStart(i + 2)),
    epoch: { confVer: 1, version: 1 }, replicas: [{ storeId: 1, replicaId: 1, role: ReplicaRole.Voter }],
  },
  confState: confState([1]),
})));
const models = Array.from({ length: groups + 1 }, (_, g) => new GroupModel(g, seed));
const inflight = new Array<number>(groups + 1).fill(0);
const prng = new Prng(seed);
process.stdout.write('ready\n');

const pending: Promise<void>[] = [];
for (let cycle = 0; cycle < maxCycles; cycle++) {
  const batch = engine.readyBatch();
  const members: [number, number][] = [];
  for (let g = 1; g <= groups; g++) {
    if (inflight[g]! >= MAX_INFLIGHT_PER_GROUP || prng.float() < 0.3) continue;
    const m = models[g]!;
    const { entries, hardState } = m.step();
    batch.add(g, ready({ entries, hardState }));
    members.push([g, m.steps]);
    inflight[g]!++;
  }
  pending.push(batch.submit().then(() => {
    let out = '';
    for (const [g, k] of members) {
      out += `a ${g} ${k}\n`;
      inflight[g]!--;
    }
    if (out) process.stdout.write(out);
  }));
  if (cycle % 7 === 3) {
    // Apply up to the durable commit and compact a little below it.
    const g = 1 + prng.int(groups);
    const s = engine.range(g);
    const c = s.hardState.commit;
    if (c > s.applied.index && c <= s.lastIndex()) engine.apply(g, { applied: { index: c, term: s.term(c) } });
    const to = s.applied.index - 1;
    if (to > s.truncated.index) pending.push(engine.compactLog(g, to).then(() => {}));
  }
  while (pending.length > 3) await pending.shift();
  await new Promise<void>((resolve) => setImmediate(resolve));
}
await Promise.all(pending);
await engine.close();
process.stdout.write('done\n');
