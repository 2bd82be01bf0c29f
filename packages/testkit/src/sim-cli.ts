// The simulation command line (`pnpm sim`).
//
//   pnpm sim --seeds 1000 --start 1      sweep seeds 1..1000 on all cores
//   pnpm sim --seed 42                   run one seed, print its summary (and a trace tail on failure)
//   pnpm sim --seed 42 --trace           replay one seed printing every event
//   pnpm sim --seed 42 --shrink          find a smaller fault schedule that still fails
//   pnpm sim --seed 42 --keep-faults 3,7 --trace   replay with only those fault episodes
import { parseArgs } from 'node:util';
import { formatEpisode } from './sim/faults.js';
import { runSeed, type SeedResult } from './sim/run-seed.js';
import { runSeedsInPool, type SeedSummary } from './sim/seed-pool.js';
import { shrinkSeed } from './sim/shrink.js';

const USAGE = `usage:
  pnpm sim [--seeds N] [--start S] [--threads T]     sweep seeds S..S+N-1 (default 100 from 1)
  pnpm sim --seed S [--trace] [--trace-raft] [--trace-tail N]
  pnpm sim --seed S --shrink                         shrink a failing seed's fault schedule
options for all modes:
  --safety-ticks N    length of the fault phase (default 2000)
  --liveness-ticks N  bound on recovery after healing (default 300)
  --keep-faults a,b   run only these fault episodes (from --shrink)
  --max-failures N    stop a sweep after N failing seeds`;

interface Cli {
  seeds: number;
  start: number;
  threads: number | undefined;
  seed: number | undefined;
  trace: boolean;
  traceRaft: boolean;
  traceTail: number;
  shrink: boolean;
  safetyTicks: number | undefined;
  livenessTicks: number | undefined;
  keepFaults: number[] | null;
  /** Stop a sweep after this many failing seeds (0: never). */
  maxFailures: number;
}

function parse(): Cli {
  const { values } = parseArgs({
    options: {
      seeds: { type: 'string' }, start: { type: 'string' }, threads: { type: 'string' }, seed: { type: 'string' },
      trace: { type: 'boolean' }, 'trace-raft': { type: 'boolean' }, 'trace-tail': { type: 'string' },
      shrink: { type: 'boolean' }, 'safety-ticks': { type: 'string' }, 'liveness-ticks': { type: 'string' },
      'keep-faults': { type: 'string' }, 'max-failures': { type: 'string' }, help: { type: 'boolean', short: 'h' },
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
  const keep = values['keep-faults'];
  return {
    seeds: int('seeds', values.seeds) ?? 100,
    start: int('start', values.start) ?? 1,
    threads: int('threads', values.threads),
    seed: int('seed', values.seed),
    trace: values.trace === true || values['trace-raft'] === true,
    traceRaft: values['trace-raft'] === true,
    traceTail: int('trace-tail', values['trace-tail']) ?? 60,
    shrink: values.shrink === true,
    safetyTicks: int('safety-ticks', values['safety-ticks']),
    livenessTicks: int('liveness-ticks', values['liveness-ticks']),
    keepFaults: keep === undefined ? null : keep === '' ? [] : keep.split(',').map((x) => int('keep-faults', x)!),
    maxFailures: int('max-failures', values['max-failures']) ?? 0,
  };
}

function replayCommand(seed: number, cli: Pick<Cli, 'safetyTicks' | 'livenessTicks' | 'keepFaults'>): string {
  let s = `pnpm sim --seed ${seed}`;
  if (cli.keepFaults !== null) s += ` --keep-faults ${cli.keepFaults.join(',')}`;
  if (cli.safetyTicks !== undefined) s += ` --safety-ticks ${cli.safetyTicks}`;
  if (cli.livenessTicks !== undefined) s += ` --liveness-ticks ${cli.livenessTicks}`;
  return `${s} --trace`;
}

function describeResult(r: SeedResult): string {
  const c = r.clients;
  const lines = [
    `seed ${r.seed}: ${r.ok ? 'OK' : 'FAILED'}`,
    `  settings: ${r.settings}`,
    `  ${r.cluster.ticks} ticks, ${r.cluster.messagesSent} messages (${r.cluster.messagesLost} lost), ${r.cluster.leaderElections} elections, ` +
      `${r.cluster.crashes} crashes, ${r.cluster.pauses} pauses, ${r.cluster.compactions} compactions, ${r.cluster.snapshotsRestored} snapshots restored`,
    `  clients: ${c.invoked} ops, ${c.completed} returned, ${c.unknown} writes with unknown outcome, ${c.retries} retries`,
  ];
  if (r.recoveryTicks !== null) lines.push(`  recovered ${r.recoveryTicks} ticks after healing`);
  if (r.check !== null) lines.push(`  history: ${r.check.verdict}${r.check.verdict === 'linearizable' ? ` (${r.check.ops} ops on ${r.check.keys} keys)` : ''}`);
  if (r.failure !== null) {
    lines.push(`  FAILURE [${r.failure.invariant}] in ${r.failure.phase} phase at tick ${r.failure.tick}:`);
    for (const l of r.failure.message.split('\n')) lines.push(`    ${l}`);
  }
  return lines.join('\n');
}

function single(cli: Cli, seed: number): number {
  const base = { seed, safetyTicks: cli.safetyTicks, livenessTicks: cli.livenessTicks, keepFaults: cli.keepFaults };
  if (cli.shrink) {
    const s = shrinkSeed(base, 300, (l) => console.log(l));
    if (s === null) {
      console.log(`seed ${seed} passes; nothing to shrink`);
      return 0;
    }
    console.log(`\nseed ${seed} still fails [${s.invariant}] with ${s.keepFaults.length} of ${s.originalFaults} fault episodes (${s.runs} runs):`);
    const keep = new Set(s.keepFaults);
    for (const e of s.result.schedule) if (keep.has(e.index)) console.log(`  ${formatEpisode(e)}`);
    console.log(describeResult(s.result));
    console.log(`\nreplay: ${replayCommand(seed, { ...cli, keepFaults: s.keepFaults, safetyTicks: s.safetyTicks })}`);
    return 1;
  }
  if (cli.trace) {
    const r = runSeed({ ...base, trace: (l) => console.log(l), traceRaft: cli.traceRaft });
    console.log(`\n${describeResult(r)}`);
    return r.ok ? 0 : 1;
  }
  const r = runSeed(base);
  console.log(describeResult(r));
  if (r.ok) return 0;
  const tail: string[] = [];
  runSeed({ ...base, trace: (l) => {
    tail.push(l);
    if (tail.length > cli.traceTail * 2) tail.splice(0, tail.length - cli.traceTail);
  } });
  console.log(`\nlast ${cli.traceTail} trace lines:`);
  for (const l of tail.slice(-cli.traceTail)) console.log(`  ${l}`);
  console.log(`\nreplay: ${replayCommand(seed, cli)}`);
  console.log(`shrink: pnpm sim --seed ${seed} --shrink`);
  return 1;
}

async function sweep(cli: Cli): Promise<number> {
  const jobs = [];
  for (let s = cli.start; s < cli.start + cli.seeds; s++) jobs.push({ seed: s, safetyTicks: cli.safetyTicks, livenessTicks: cli.livenessTicks });
  const started = performance.now();
  let done = 0;
  const failed: SeedSummary[] = [];
  let lastPrint = 0;
  const rate = (): string => (done / ((performance.now() - started) / 1000)).toFixed(1);
  console.log(`sweeping seeds ${cli.start}..${cli.start + cli.seeds - 1}`);
  await runSeedsInPool(jobs, (s) => {
    done++;
    if (!s.ok) {
      failed.push(s);
      const f = s.failure!;
      console.log(`  seed ${s.seed} FAILED [${f.invariant}] in ${f.phase} at tick ${f.tick}: ${f.message.split('\n')[0]}`);
      console.log(`    replay: ${replayCommand(s.seed, { ...cli, keepFaults: null })}`);
    }
    const now = performance.now();
    if (now - lastPrint > 2000 || done === jobs.length) {
      lastPrint = now;
      console.log(`  ${done}/${jobs.length} seeds, ${failed.length} failed, ${rate()} seeds/s`);
    }
  }, cli.threads, () => cli.maxFailures > 0 && failed.length >= cli.maxFailures);
  const secs = (performance.now() - started) / 1000;
  console.log(`done: ${jobs.length} seeds in ${secs.toFixed(1)} s (${rate()} seeds/s), ${failed.length} failed`);
  if (failed.length > 0) {
    console.log('failing seeds:');
    for (const s of failed.sort((a, b) => a.seed - b.seed)) {
      console.log(`  ${s.seed} [${s.failure!.invariant}]  ${replayCommand(s.seed, { ...cli, keepFaults: null })}`);
    }
  }
  return failed.length > 0 ? 1 : 0;
}

const cli = parse();
process.exitCode = cli.seed !== undefined ? single(cli, cli.seed) : await sweep(cli);
