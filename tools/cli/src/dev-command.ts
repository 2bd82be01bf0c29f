// rangekv dev: a local cluster (1 PD + N stores on 127.0.0.1) in one command.
//
// Starts PD, waits for its ready line, starts the stores pointed at it, then polls PD
// until every store is up and range 1 has a leader (printing a progress line whenever
// that changes), prints the endpoints and a first command to try, and runs until
// SIGINT/SIGTERM: then every child gets SIGTERM, and SIGKILL after `--grace` if still
// alive; the command exits 0. A child that dies during startup, PD dying, or the last
// store dying stops the others (exit 1), printing the end of its log; a store that dies
// once the cluster is up is reported and the others keep running.
//
// Data: `--dir DIR` (kept, and reused by the next run with the same DIR) or a fresh
// directory under the OS temp dir, removed on exit unless `--keep`. Each child's stdout
// and stderr go to DIR/<name>.log.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { RangeKvClient } from '@rangekv/client';
import { DEFAULT_PD } from './client-flags.js';
import { durationFlag, EXIT, intFlag, str, type CommandSpec, type Parsed } from './command.js';
import { serverMains, storeLaunch, type ChildLaunch } from './server-commands.js';

export const devCommand: CommandSpec = {
  name: 'dev', args: '[flags]', minPositionals: 0, maxPositionals: 0,
  summary: 'Run a local cluster: one PD and 3 stores on 127.0.0.1, until Ctrl-C.',
  details: [
    'Ports from --base-port N: PD client N, PD raft N+1, PD HTTP N+2; store i (1..) KV N+10i, raft N+10i+1, HTTP N+10i+2.',
    'Data lives in a new temporary directory removed on exit, or in --dir (kept and reused).',
    'Each process logs to <data dir>/<name>.log.',
  ].join('\n'),
  flags: {
    dir: { type: 'string', value: 'DIR', description: 'data directory (kept after exit, reused next time; default: a new temp dir)' },
    stores: { type: 'string', value: 'N', description: 'number of stores', default: '3' },
    'base-port': { type: 'string', value: 'PORT', description: 'first port (see above); 0 = any free ports', default: '2379' },
    keep: { type: 'boolean', description: 'keep the temporary data dir after exit' },
    'startup-timeout': { type: 'string', value: 'DURATION', description: 'give up when the cluster is not healthy by then', default: '60s' },
    grace: { type: 'string', value: 'DURATION', description: 'on stop, wait this long after SIGTERM before SIGKILL', default: '5s' },
    json: { type: 'boolean', description: 'print one JSON line {"event":"ready",...} with the endpoints (progress goes to stderr)' },
  },
  examples: ['rangekv dev', 'rangekv dev --dir .rangekv-dev --base-port 4000', 'npm run dev   # from the repo root: builds first'],
};

interface Child {
  name: string;
  proc: ChildProcess;
  logPath: string;
  log: WriteStream;
  ready: Record<string, unknown> | undefined;
  exited: boolean;
  exitedAtMs: number;
  exitCode: number | null;
  exitSignal: NodeJS.Signals | null;
}

/** How long a child's exit waits for a signal to us before it counts as a failure, ms. */
const CHILD_EXIT_SETTLE_MS = 300;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function tail(path: string, lines: number): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).map((l) => `    ${l}`).join('\n');
  } catch {
    return '    (no log)';
  }
}

function startChild(name: string, main: string, args: string[], dir: string, launch: ChildLaunch = {}): Child {
  const logPath = join(dir, `${name}.log`);
  const log = createWriteStream(logPath, { flags: 'a' });
  const proc = spawn(process.execPath, [...(launch.nodeFlags ?? []), main, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: launch.env ?? process.env });
  const child: Child = { name, proc, logPath, log, ready: undefined, exited: false, exitedAtMs: 0, exitCode: null, exitSignal: null };
  proc.stderr!.pipe(log, { end: false });
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    log.write(`${line}\n`);
    if (child.ready !== undefined || !line.startsWith('{')) return;
    try {
      const ev = JSON.parse(line) as Record<string, unknown>;
      if (ev.event === 'ready') child.ready = ev;
    } catch {
      // not an event line
    }
  });
  proc.on('exit', (code, signal) => {
    child.exitedAtMs = Date.now();
    child.exited = true;
    child.exitCode = code;
    child.exitSignal = signal;
  });
  proc.on('error', (e) => {
    log.write(`could not start: ${e.message}\n`);
    child.exitedAtMs = Date.now();
    child.exited = true;
  });
  return child;
}

async function stopAll(children: Child[], graceMs: number): Promise<void> {
  const live = (): Child[] => children.filter((c) => !c.exited);
  // Stores first (they say goodbye to PD), then PD.
  for (const c of [...live()].reverse()) c.proc.kill('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (live().length > 0 && Date.now() < deadline) await sleep(50);
  for (const c of live()) c.proc.kill('SIGKILL');
  const hard = Date.now() + 2_000;
  while (live().length > 0 && Date.now() < hard) await sleep(20);
  for (const c of children) c.log.end();
}

export async function runDev(spec: CommandSpec, p: Parsed): Promise<number> {
  const n = intFlag(p, 'stores', spec, 1, 9)!;
  const base = intFlag(p, 'base-port', spec, 0, 65535 - 100)!;
  const startupMs = durationFlag(p, 'startup-timeout', spec)!;
  const graceMs = durationFlag(p, 'grace', spec)!;
  const json = p.values.json === true;
  const { pd: pdMain, store: storeMain } = serverMains();
  for (const m of [pdMain, storeMain]) {
    if (!existsSync(m)) {
      process.stderr.write(`error: ${m} not found: build the workspace first (npm run build)\n`);
      return EXIT.failed;
    }
  }
  const given = str(p, 'dir', spec);
  const dir = given ?? mkdtempSync(join(tmpdir(), 'rangekv-dev-'));
  const removeDir = given === undefined && p.values.keep !== true;
  mkdirSync(dir, { recursive: true });
  const port = (offset: number): string => String(base === 0 ? 0 : base + offset);
  const say = (s: string): void => {
    (json ? process.stderr : process.stdout).write(`${s}\n`);
  };

  const children: Child[] = [];
  let stopping: 'signal' | 'failure' | undefined;
  let signalled: () => void = () => {};
  const signalledP = new Promise<void>((resolve) => (signalled = resolve));
  const onSignal = (): void => {
    if (stopping) {
      for (const c of children) if (!c.exited) c.proc.kill('SIGKILL');
      return;
    }
    stopping = 'signal';
    signalled();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  // Ctrl-C in a terminal signals the whole process group, children included: a child that
  // exits is a failure only if no signal reached us shortly after.
  const failed = (): Child | undefined => children.find((c) => c.exited && Date.now() - c.exitedAtMs > CHILD_EXIT_SETTLE_MS);
  const cleanup = async (code: number): Promise<number> => {
    say('stopping the cluster…');
    await stopAll(children, graceMs);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (removeDir) rmSync(dir, { recursive: true, force: true });
    say(removeDir ? 'stopped; data dir removed' : `stopped; data kept in ${dir}`);
    return code;
  };
  const died = (c: Child): number => {
    const end = tail(c.logPath, 15);
    process.stderr.write(`error: ${c.name} exited${c.exitCode !== null ? ` with code ${c.exitCode}` : c.exitSignal ? ` on ${c.exitSignal}` : ''}; the end of ${c.logPath}:\n${end}\n`);
    if (/EADDRINUSE|address already in use/i.test(end)) process.stderr.write('hint: a port is taken; try --base-port N (another range) or --base-port 0 (any free ports)\n');
    return EXIT.failed;
  };

  say(`starting PD and ${n} stores on 127.0.0.1 (data: ${dir})`);
  // --advertise-host too: a RANGEKV_ADVERTISE_HOST in the environment (set for a real
  // deployment) must not make these 127.0.0.1 processes give out another address.
  const local = ['--host', '127.0.0.1', '--advertise-host', '127.0.0.1'];
  const pd = startChild('pd', pdMain, ['--id', '1', '--data-dir', join(dir, 'pd'), ...local, '--port', port(0),
    '--raft-port', port(1), '--http-port', port(2), '--initial-stores', String(n)], dir);
  children.push(pd);
  const deadline = Date.now() + startupMs;
  let last = '';
  const progress = (s: string): void => {
    if (s !== last) say(`waiting for the cluster: ${s}`);
    last = s;
  };
  // Each step returns when done, or early when signalled / a child died / the deadline passed.
  const blocked = (): boolean => stopping !== undefined || failed() !== undefined || Date.now() >= deadline;
  while (!pd.ready && !blocked()) {
    progress('starting PD');
    await Promise.race([sleep(50), signalledP]);
  }
  const pdPort = Number(pd.ready?.port ?? 0);
  const pdAddress = `127.0.0.1:${pdPort}`;
  if (pd.ready) {
    for (let i = 1; i <= n; i++) {
      children.push(startChild(`store-${i}`, storeMain, ['--data-dir', join(dir, `store-${i}`), '--pd', pdAddress, ...local,
        '--port', port(10 * i), '--raft-port', port(10 * i + 1), '--http-port', port(10 * i + 2)], dir, storeLaunch()));
    }
  }
  let client: RangeKvClient | undefined;
  let healthy = false;
  try {
    while (pd.ready && !blocked()) {
      const storesReady = children.filter((c) => c.name.startsWith('store-') && c.ready).length;
      let up = 0;
      let leader = 0;
      if (storesReady === n) {
        try {
          client ??= await (await import('@rangekv/client')).RangeKvClient.connect({ pd: [pdAddress], timeoutMs: 1_000 });
          up = (await client.listStores({ timeoutMs: 1_000 })).filter((s) => s.state === 'up').length;
          leader = (await client.getRange('', { timeoutMs: 1_000 })).leaderStoreId;
        } catch {
          // not bootstrapped yet, or PD busy electing: poll again
        }
      }
      progress(`PD ready, stores started ${storesReady}/${n}, registered ${up}/${n}, range 1 leader: ${leader === 0 ? 'none yet' : `store ${leader}`}`);
      if (up >= n && leader !== 0) {
        healthy = true;
        break;
      }
      await Promise.race([sleep(200), signalledP]);
    }
  } finally {
    client?.close();
  }
  if (!healthy) {
    if (stopping === 'signal') return cleanup(EXIT.ok);
    const dead = failed();
    if (dead) return cleanup(died(dead));
    process.stderr.write(`error: the cluster was not healthy within ${startupMs} ms (last: ${last}); logs in ${dir}\n`);
    for (const c of children) process.stderr.write(`  ${c.name} (${c.logPath}):\n${tail(c.logPath, 5)}\n`);
    return cleanup(EXIT.failed);
  }

  const stores = children.filter((c) => c.name.startsWith('store-')).sort((a, b) => Number(a.ready?.storeId ?? 0) - Number(b.ready?.storeId ?? 0));
  const http = (ev: Record<string, unknown> | undefined): string => (ev?.httpPort ? `http://127.0.0.1:${String(ev.httpPort)}/metrics` : '-');
  const cli = relative(process.cwd(), fileURLToPath(new URL('./rangekv.js', import.meta.url))) || 'rangekv.js';
  if (json) {
    process.stdout.write(`${JSON.stringify({
      event: 'ready', dataDir: dir, pd: { address: pdAddress, pid: pd.proc.pid, ...pd.ready },
      stores: stores.map((s) => ({ name: s.name, pid: s.proc.pid, ...s.ready })),
    })}\n`);
  } else {
    const rows = [['PD', pdAddress, `raft :${String(pd.ready?.raftPort ?? '?')}`, http(pd.ready)],
      ...stores.map((s) => [`store ${String(s.ready?.storeId ?? '?')}`, `127.0.0.1:${String(s.ready?.kvPort ?? '?')}`, `raft :${String(s.ready?.raftPort ?? '?')}`, http(s.ready)])];
    say('');
    say('rangekv dev cluster is up:');
    for (const r of rows) say(`  ${r[0]!.padEnd(8)} ${r[1]!.padEnd(16)} ${r[2]!.padEnd(11)} ${r[3]}`);
    say(`logs: ${dir}/*.log${removeDir ? ' (removed on exit; --dir DIR keeps them)' : ''}`);
    say('');
    const pdFlag = pdAddress === DEFAULT_PD ? '' : ` --pd ${pdAddress}`;
    say('try:');
    say(`  node ${cli} kv put hello world${pdFlag}`);
    say(`  node ${cli} kv get hello${pdFlag}`);
    say(`  node ${cli} ctl ranges${pdFlag}`);
    const metrics = stores[0]?.ready?.httpPort;
    if (metrics) say(`  curl -s http://127.0.0.1:${String(metrics)}/metrics | grep ^rangekv_`);
    say('');
    say('Ctrl-C stops the cluster.');
  }
  // Serving: a store that dies is reported and the cluster keeps running without it (try
  // killing one: the client carries on); PD dying, or every store, ends the run.
  const reported = new Set<Child>();
  for (;;) {
    if (stopping === 'signal') return cleanup(EXIT.ok);
    const gone = children.filter((c) => c.exited && Date.now() - c.exitedAtMs > CHILD_EXIT_SETTLE_MS);
    if (gone.includes(pd)) return cleanup(died(pd));
    if (gone.length === stores.length) return cleanup(died(gone[gone.length - 1]!));
    for (const c of gone) {
      if (reported.has(c)) continue;
      reported.add(c);
      died(c);
      say(`${c.name} (store ${String(c.ready?.storeId ?? '?')}) is gone; the cluster keeps running with ${stores.length - gone.length} stores (Ctrl-C stops it)`);
    }
    await Promise.race([sleep(200), signalledP]);
  }
}
