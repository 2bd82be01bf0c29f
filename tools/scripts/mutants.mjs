// `pnpm mutants`: proves the simulations have teeth. Plants known bugs, one at a time, in
// a scratch copy of the repository, rebuilds, and runs both simulations (the raft core's,
// `pnpm sim`, and the whole-store one, `pnpm sim:store`) with a fixed seed budget. A
// mutant is caught when a simulation reports a failing seed. The unmutated copy runs the
// same budget first and must pass (or the verdicts mean nothing).
//
//   pnpm mutants [--raft-seeds N] [--store-seeds M] [--only name,name]
//
// Each mutant is an exact text replacement that must match exactly once, so a change to
// the code it targets is noticed here (the script stops with the mutant's name).
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureBuilt, repoRoot } from './ensure-built.mjs';

export const MUTANTS = [
  {
    name: 'commit-earlier-term',
    what: "a leader commits an earlier term's entry by counting replicas",
    edits: [['packages/raft/src/log.ts', 'if (maxIndex > this.committed && this.termAt(maxIndex) === term) {', 'if (maxIndex > this.committed) {']],
  },
  {
    name: 'vote-without-log-check',
    what: 'a vote is granted without the log check',
    edits: [['packages/raft/src/raft.ts', 'const grant = canVote && this.log.isUpToDate(m.index, m.logTerm);', 'const grant = canVote;']],
  },
  {
    name: 'lease-never-expires',
    what: 'a lease that never expires',
    edits: [['packages/raft/src/raft-leader.ts', 'return now < stamp + r.cfg.electionTimeoutTicks - r.cfg.leaseMarginTicks;', 'return stamp >= 0;']],
  },
  {
    name: 'read-index-before-term-commit',
    what: "ReadIndex answered before the term's first commit",
    edits: [['packages/raft/src/raft-leader.ts', 'if (!r.committedEntryInCurrentTerm()) {\n    const held', 'if (!r.committedEntryInCurrentTerm() && r.term < 0) {\n    const held']],
  },
  {
    name: 'apply-ahead-of-durable',
    what: 'apply running ahead of the durable commit (entries applied before they are durable locally)',
    edits: [['packages/raft/src/log.ts', 'return Math.min(this.committed, this.unstable.offset - 1);', 'return this.committed;']],
  },
  {
    name: 'split-applied-twice',
    what: 'entries applied again after a restart (a split among them): the replica restarts below its applied state and re-applies',
    edits: [
      ['packages/multiraft/src/raft-host.ts', 'applied: log.applied.index,\n    });', 'applied: Math.max(log.truncated.index, log.applied.index - 3),\n    });'],
      ['packages/multiraft/src/raft-scheduler.ts', 'if (e.index <= r.log.applied.index) {', 'if (e.index <= r.log.applied.index && e.index < 0) {'],
    ],
  },
  {
    name: 'ack-before-persist',
    what: 'an acknowledgement sent before the persist (messages that must wait for durability go out at once)',
    edits: [
      ['packages/multiraft/src/raft-scheduler.ts', 'if (rd.messages.length > 0) this.host.send(r, rd.messages);',
        'if (rd.messages.length > 0) this.host.send(r, rd.messages);\n        if (rd.messagesAfterPersist.length > 0) this.host.send(r, rd.messagesAfterPersist);'],
      ['packages/multiraft/src/raft-scheduler.ts', "if (rd.messagesAfterPersist.length > 0) this.host.send(r, rd.messagesAfterPersist);\n    r.stamp(rd.entries, 'persisted');",
        "r.stamp(rd.entries, 'persisted');"],
    ],
  },
];

/** A sweep that runs longer than this is stopped and reported as timed out (not as caught). */
const SWEEP_TIMEOUT_MS = 15 * 60_000;

function run(cwd, args, label) {
  const started = Date.now();
  const r = spawnSync(process.execPath, [...args, '--max-failures', '1'], { cwd, encoding: 'utf8', maxBuffer: 64 << 20, timeout: SWEEP_TIMEOUT_MS });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  const failed = out.split('\n').filter((l) => /FAILED/.test(l)).slice(0, 2).map((l) => l.trim());
  const timedOut = r.error?.code === 'ETIMEDOUT' || r.signal !== null;
  // caught: the sweep exited reporting a failing seed; 0: it passed.
  const code = timedOut ? -1 : r.status ?? -1;
  return { code, caught: code === 1 && failed.length > 0, timedOut, seconds: (Date.now() - started) / 1000, failed, tail: out.split('\n').slice(-4).join('\n'), label };
}

function tsc(cwd) {
  const r = spawnSync(process.execPath, [join(cwd, 'node_modules', 'typescript', 'bin', 'tsc'), '-b'], { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`build failed in ${cwd}:\n${r.stdout}${r.stderr}`);
}

function simulate(cwd, budget) {
  const raft = run(cwd, ['packages/testkit/dist/sim-cli.js', '--seeds', String(budget.raftSeeds), '--start', '1'], 'raft sim');
  const store = run(cwd, ['packages/testkit/dist/store-sim-cli.js', '--seeds', String(budget.storeSeeds), '--start', '1'], 'store sim');
  return { raft, store };
}

const { values } = parseArgs({
  options: { 'raft-seeds': { type: 'string' }, 'store-seeds': { type: 'string' }, only: { type: 'string' }, help: { type: 'boolean' } },
  strict: true,
});
if (values.help) {
  console.log('usage: pnpm mutants [--raft-seeds N (default 300)] [--store-seeds M (default 40)] [--only name,name]');
  process.exit(0);
}
const budget = { raftSeeds: Number(values['raft-seeds'] ?? 300), storeSeeds: Number(values['store-seeds'] ?? 40) };
const only = values.only ? new Set(values.only.split(',')) : null;
const chosen = MUTANTS.filter((m) => only === null || only.has(m.name));

ensureBuilt();
const scratch = mkdtempSync(join(tmpdir(), 'rangekv-mutants-'));
try {
  console.log(`scratch copy: ${scratch}`);
  cpSync(repoRoot, scratch, { recursive: true, verbatimSymlinks: true, filter: (src) => !/\/(\.git|node_modules)$/.test(src) || /packages\/[^/]+\/node_modules$|tools\/cli\/node_modules$|bench\/node_modules$/.test(src) });
  symlinkSync(join(repoRoot, 'node_modules'), join(scratch, 'node_modules'));
  tsc(scratch);
  console.log(`budget: ${budget.raftSeeds} raft-sim seeds, ${budget.storeSeeds} store-sim seeds per mutant`);
  const base = simulate(scratch, budget);
  console.log(`baseline (no mutant): raft sim ${base.raft.code === 0 ? 'pass' : 'FAIL'} (${base.raft.seconds.toFixed(0)} s), store sim ${base.store.code === 0 ? 'pass' : 'FAIL'} (${base.store.seconds.toFixed(0)} s)`);
  if (base.raft.code !== 0 || base.store.code !== 0) {
    console.log(base.raft.tail, '\n', base.store.tail);
    throw new Error('the unmutated code fails the budget: fix that first');
  }
  const rows = [];
  for (const m of chosen) {
    const originals = new Map();
    for (const [file, find, replace] of m.edits) {
      const path = join(scratch, file);
      const text = originals.get(path) ?? readFileSync(path, 'utf8');
      if (!originals.has(path)) originals.set(path, text);
      const current = readFileSync(path, 'utf8');
      const n = current.split(find).length - 1;
      if (n !== 1) throw new Error(`mutant ${m.name}: expected one match of ${JSON.stringify(find)} in ${file}, found ${n}`);
      writeFileSync(path, current.replace(find, replace));
    }
    try {
      tsc(scratch);
      const r = simulate(scratch, budget);
      const caughtBy = [r.raft.caught ? 'raft sim' : null, r.store.caught ? 'store sim' : null].filter(Boolean);
      rows.push({ m, r, caughtBy });
      console.log(`${caughtBy.length > 0 ? 'CAUGHT ' : 'MISSED '} ${m.name.padEnd(30)} ${m.what}`);
      const verdict = (x) => (x.caught ? 'caught' : x.timedOut ? 'timed out' : 'missed');
      console.log(`         raft sim: ${verdict(r.raft)} (${r.raft.seconds.toFixed(0)} s)${r.raft.failed[0] ? ` - ${r.raft.failed[0]}` : ''}`);
      console.log(`         store sim: ${verdict(r.store)} (${r.store.seconds.toFixed(0)} s)${r.store.failed[0] ? ` - ${r.store.failed[0]}` : ''}`);
    } finally {
      for (const [path, text] of originals) writeFileSync(path, text);
    }
  }
  tsc(scratch);
  const missed = rows.filter((x) => x.caughtBy.length === 0);
  console.log(`\n${rows.length - missed.length} of ${rows.length} mutants caught by the simulations (${budget.raftSeeds} raft-sim seeds, ${budget.storeSeeds} store-sim seeds each)`);
  process.exitCode = missed.length > 0 ? 1 : 0;
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
