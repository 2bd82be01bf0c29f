// Raft core figures: committed entries/s through an in-memory 3-node cluster (single and
// batched proposals), and heap bytes per idle group with 10,000 groups.
//
//   pnpm bench                       # all figures, JSON to bench/results/raft-bench.json
//   pnpm bench --seconds 5 --groups 10000
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MemoryStorage, MessageType, Prng, RawNode, emptyMessage, type Ready } from '@rangekv/raft';
import { MiniCluster } from './mini-cluster.js';

interface Args { seconds: number; groups: number; }

function parseArgs(argv: string[]): Args {
  const a: Args = { seconds: 3, groups: 10_000 };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = Number(argv[i + 1]);
    if (k === '--seconds' && v > 0) { a.seconds = v; i++; }
    else if (k === '--groups' && v > 0) { a.groups = v; i++; }
    else if (k === '--help') { console.log('usage: raft-bench [--seconds S] [--groups N]'); process.exit(0); }
    else throw new Error(`unknown or invalid argument: ${k}`);
  }
  return a;
}

/**
 * Proposes on the leader keeping `inflight` entries uncommitted at most, `batch` entries
 * per proposal call, for `seconds`. Returns entries committed+applied on the leader per second.
 */
function throughput(seconds: number, batch: number, inflight: number, payloadBytes: number): number {
  const c = new MiniCluster([1, 2, 3], 7);
  c.electLeader(1);
  const leader = c.nodes.get(1)!;
  const payload = new Uint8Array(payloadBytes).fill(7);
  const datas = Array.from({ length: batch }, () => payload);
  let proposed = 0;
  const start = performance.now();
  const deadline = start + seconds * 1000;
  let cycles = 0;
  while (performance.now() < deadline) {
    for (let k = 0; k < 64; k++) {
      const applied = c.appliedCount.get(1)!;
      while (proposed - applied < inflight) {
        const r = batch === 1 ? leader.propose(payload) : leader.proposeBatch(datas);
        if (!r.ok) throw new Error(`proposal dropped: ${r.detail}`);
        proposed += batch;
      }
      c.cycle();
      if (++cycles % 256 === 0) c.compact(1000);
    }
  }
  const elapsed = (performance.now() - start) / 1000;
  return c.appliedCount.get(1)! / elapsed;
}

function heapUsed(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) { gc(); gc(); }
  return process.memoryUsage().heapUsed;
}

function drain(node: RawNode, storage: MemoryStorage): Ready[] {
  const out: Ready[] = [];
  while (node.hasReady()) {
    const rd = node.ready();
    storage.append(rd.entries);
    if (rd.hardState) storage.setHardState(rd.hardState);
    node.ackPersisted(rd);
    if (rd.committedEntries.length > 0) node.appliedTo(rd.committedEntries[rd.committedEntries.length - 1]!.index);
    out.push(rd);
  }
  return out;
}

/** Heap bytes per idle replica: `groups` RawNodes, as followers or as elected leaders. */
function heapPerGroup(groups: number, asLeader: boolean): number {
  const keep: RawNode[] = [];
  const prng = new Prng(3);
  const before = heapUsed();
  const cs = { voters: [1, 2, 3], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
  for (let g = 0; g < groups; g++) {
    const storage = MemoryStorage.withMembership(cs);
    const node = new RawNode({ id: 1, storage, prng: prng.fork(), electionTimeoutTicks: 10, heartbeatIntervalTicks: 1, preVote: false });
    if (asLeader) {
      node.campaign();
      drain(node, storage);
      const v = emptyMessage();
      v.type = MessageType.VoteResp; v.from = 2; v.to = 1; v.term = node.status().term;
      node.step(v);
      drain(node, storage);
      const last = node.status().lastIndex;
      for (const from of [2, 3]) {
        const a = emptyMessage();
        a.type = MessageType.AppResp; a.from = from; a.to = 1; a.term = node.status().term; a.index = last;
        node.step(a);
      }
      drain(node, storage);
      if (node.status().commit !== last) throw new Error('leader setup failed');
    }
    keep.push(node);
  }
  const after = heapUsed();
  if (keep.length !== groups) throw new Error('unreachable');
  return (after - before) / groups;
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  if (!(globalThis as { gc?: unknown }).gc) {
    console.error('note: run with node --expose-gc for exact heap figures (pnpm bench does)');
  }
  const results = {
    machine: { node: process.version, cpus: 2 },
    seconds: args.seconds,
    singleProposalsEntriesPerSec: Math.round(throughput(args.seconds, 1, 256, 256)),
    batchedProposals64EntriesPerSec: Math.round(throughput(args.seconds, 64, 4096, 256)),
    groups: args.groups,
    heapBytesPerIdleFollower: Math.round(heapPerGroup(args.groups, false)),
    heapBytesPerIdleLeader: Math.round(heapPerGroup(args.groups, true)),
  };
  console.log('raft core, in-memory 3-node cluster, 256-byte entries:');
  console.log(`  single proposals (256 in flight):        ${results.singleProposalsEntriesPerSec.toLocaleString()} committed entries/s`);
  console.log(`  batched proposals (64 per call):         ${results.batchedProposals64EntriesPerSec.toLocaleString()} committed entries/s`);
  console.log(`heap per idle group (${args.groups.toLocaleString()} groups, RawNode + MemoryStorage):`);
  console.log(`  follower: ${results.heapBytesPerIdleFollower.toLocaleString()} bytes   leader (3 voters, elected): ${results.heapBytesPerIdleLeader.toLocaleString()} bytes`);
  const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'results', 'raft-bench.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(results, null, 2) + '\n');
  console.log(`wrote ${out}`);
}

main();
