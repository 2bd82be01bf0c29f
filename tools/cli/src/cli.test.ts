// The real `rangekv` binary: --help everywhere, bad flags (exit 2), unreachable endpoints
// (exit 3), config files, and `dev` / `store` / `pd` over fake server entry points.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, test } from 'node:test';
import { STORE_GLIBC_TUNABLES, STORE_NODE_FLAGS } from '@rangekv/runtime';
import { BIN, FAKE_PD, FAKE_STORE, run, runAll } from './testing/run-cli.js';

const COMMANDS = [
  'dev', 'pd', 'store', 'kv get', 'kv put', 'kv del', 'kv scan', 'ctl stores', 'ctl store', 'ctl ranges', 'ctl split', 'ctl merge', 'ctl transfer-leader',
  'ctl add-replica', 'ctl remove-replica', 'ctl move-replica', 'ctl operators', 'ctl scheduler', 'ctl config', 'ctl pd members',
];

describe('help and usage', () => {
  test('--help of every command prints its usage and exits 0', async () => {
    const runs = await runAll(COMMANDS.map((c) => [...c.split(' '), '--help']));
    for (const [i, c] of COMMANDS.entries()) {
      const r = runs[i]!;
      assert.equal(r.code, 0, c);
      assert.match(r.stdout, new RegExp(`^Usage: rangekv ${c} `), c);
      assert.match(r.stdout, /Flags:/, c);
      assert.equal(r.stderr, '', c);
    }
    // pd and store list the servers' own flags (their declarations), with this command's defaults.
    const store = runs[COMMANDS.indexOf('store')]!.stdout;
    assert.match(store, /--uninitialized-gc-after-ms MS +.*\(default 300000\)/);
    assert.match(store, /--port P +KV gRPC port.*\(default 20160\)/);
    assert.match(store, /RANGEKV_DATA_DIR/);
    assert.match(store, /--advertise-host H +host given to PD for this store's KV, raft and HTTP addresses.*\(default --host\)/);
    assert.match(runs[COMMANDS.indexOf('pd')]!.stdout, /--advertise-host H +host of this node's client address as PD gives it out/);
    assert.match(runs[COMMANDS.indexOf('pd')]!.stdout, /--initial-stores N +stores that must join before range 1 is created \(default 3\)/);
    for (const args of [['--help'], ['kv', '--help'], ['ctl', '-h'], ['ctl', 'pd', '--help']]) {
      const r = await run(args);
      assert.equal(r.code, 0);
      assert.match(r.stdout, /^Usage: rangekv /);
    }
  });

  test('no command, unknown commands and bad flags exit 2 with a short usage and no stack trace', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['nope'], /unknown command 'nope'/],
      [['kv', 'fetch'], /unknown kv subcommand 'fetch'/],
      [['kv', 'get'], /missing argument/],
      [['kv', 'get', 'a', 'b'], /unexpected argument 'b'/],
      [['kv', 'get', 'a', '--bogus'], /Unknown option '--bogus'/],
      [['kv', 'get', 'a', '--timeout', 'soon'], /--timeout must be a duration/],
      [['kv', 'get', 'a', '--consistency', 'eventual'], /--consistency must be one of/],
      [['kv', 'get', 'a', '--pd', 'localhost'], /--pd: 'localhost' is not a host:port address/],
      [['kv', 'scan', '--limit', '-1'], /--limit/],
      [['kv', 'del', 'b', 'a'], /END must be above KEY/],
      [['ctl', 'transfer-leader', '--range', '1'], /--to is required/],
      [['ctl', 'merge'], /--range is required/],
      [['ctl', 'merge', '--range', '0'], /--range must be/],
      [['ctl', 'merge', '--range', '1', '2'], /unexpected argument '2'/],
      [['ctl', 'merge', '--range', '1', '--to', '2'], /Unknown option '--to'/],
      [['ctl', 'move-replica', '--range', 'x', '--from', '1', '--to', '2'], /--range must be an integer/],
      [['store', '--data-dir', 'd'], /--pd is required/],
      [['store', '--data-dir', 'd', '--pd', '127.0.0.1:2379', '--port', '70000'], /--port must be in \[0, 65535\], got 70000/],
      [['pd'], /--data-dir is required/],
      [['pd', '--data-dir', 'd', '--log-level', 'loud'], /--log-level must be one of debug, info, warn, error, got "loud"/],
      [['store', '--data-dir', 'd', '--pd', '127.0.0.1:1', 'extra'], /unexpected argument "extra"/],
      [['pd', '--data-dir', 'd', '--peers', '2=nope'], /--peers PD 2: "nope" is not RAFTHOST:RAFTPORT\/HOST:PORT/],
      [['store', '--data-dir', 'd', '--pd', '127.0.0.1:1', '--bootstrap', '1'], /--bootstrap is for clusters without PD/],
      [['store', '--data-dir', 'd', '--pd', '127.0.0.1:1', '--host', '0.0.0.0'], /--host 0.0.0.0 listens on every interface: --advertise-host is required/],
      [['pd', '--data-dir', 'd', '--host', '::'], /--host :: listens on every interface: --advertise-host is required/],
      [['pd', '--data-dir', 'd', '--host', '0.0.0.0', '--advertise-host', '10.0.0.1:2379'], /--advertise-host: "10.0.0.1:2379" is not a host name/],
      [['store', '--data-dir', 'd', '--pd', '127.0.0.1:1', '--tick-ms', '0'], /--tick-ms must be in \[1, 60000\], got 0/],
      [['store', '--data-dir', 'd', '--pd', '127.0.0.1:1', '--fault-injection'], /--fault-injection requires --admin-stdin/],
      [['pd', '--config', '/nonexistent/pd.json'], /config file \/nonexistent\/pd.json: not found/],
      [['dev', '--stores', '0'], /--stores must be between 1 and 9/],
      [['ctl', 'pd', 'nodes'], /unknown ctl pd subcommand 'nodes' \(one of: members\)/],
      [['ctl', 'pd', 'members'], /missing argument/],
      [['ctl', 'pd', 'members', 'rename', '1'], /'rename' is not list, add or remove/],
      [['ctl', 'pd', 'members', 'list', '1'], /list takes no ID/],
      [['ctl', 'pd', 'members', 'list', '--replace', '1'], /--replace is only for add/],
      [['ctl', 'pd', 'members', 'remove'], /remove needs the member's ID/],
      [['ctl', 'pd', 'members', 'remove', '0'], /ID must be between 1 and 9007199254740991, got 0/],
      [['ctl', 'pd', 'members', 'remove', '9007199254740992'], /ID must be between 1 and 9007199254740991/],
      [['ctl', 'pd', 'members', 'add', '-1'], /Unknown option '-1'/],
      [['ctl', 'pd', 'members', 'add', 'x4', '--raft-address', 'h:1', '--client-address', 'h:2'], /ID must be an integer, got 'x4'/],
      [['ctl', 'pd', 'members', 'add', '4', '--client-address', 'h:2'], /--raft-address is required/],
      [['ctl', 'pd', 'members', 'add', '4', '--raft-address', 'h:1'], /--client-address is required/],
      [['ctl', 'pd', 'members', 'add', '4', '--raft-address', 'h', '--client-address', 'h:2'], /--raft-address: 'h' is not a host:port address \(port 1\.\.65535\)/],
      [['ctl', 'pd', 'members', 'add', '4', '--raft-address', 'h:1', '--client-address', 'h:65536'], /--client-address: 'h:65536' is not a host:port address/],
      [['ctl', 'pd', 'members', 'add', '4', '--raft-address', 'h:1', '--client-address', 'h:2', '--replace', '4'], /--replace must name another member than ID 4/],
      [['ctl', 'pd', 'members', 'add', '4', '--raft-address', 'h:1', '--client-address', 'h:2', '--replace', '0'], /--replace must be between 1/],
    ];
    const runs = await runAll(cases.map(([args]) => args));
    for (const [i, [args, re]] of cases.entries()) {
      const r = runs[i]!;
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re, args.join(' '));
      assert.match(r.stderr, /Usage: rangekv|Run 'rangekv/, args.join(' '));
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    }
    const none = await run([]);
    assert.equal(none.code, 2);
    assert.match(none.stdout, /Commands:/);
    // `ctl pd` alone lists its subcommands, like `ctl` alone.
    const pd = await run(['ctl', 'pd']);
    assert.equal(pd.code, 2);
    assert.match(pd.stdout, /^Usage: rangekv ctl pd SUBCOMMAND \[flags\]\n\nSubcommands:\n {2}members +List PD's own members/);
  });

  test('a config file is validated: unknown keys and bad values are named', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rangekv-cli-'));
    try {
      const f = join(dir, 'pd.json');
      writeFileSync(f, JSON.stringify({ dataDir: '/tmp/x', colour: 'blue' }));
      let r = await run(['pd', '--config', f]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /unknown key "colour"/);
      writeFileSync(f, JSON.stringify({ 'data-dir': '/tmp/x', port: 'high' }));
      r = await run(['pd', '--config', f]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /--port needs an integer, got "high" \(from config file .*pd\.json\)/);
      writeFileSync(f, '{ not json');
      r = await run(['pd', '--config', f]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /config file .*pd\.json: /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('unreachable endpoints', () => {
  test('an unreachable --pd exits 3 naming the address', async () => {
    const cases = [['kv', 'get', 'a'], ['kv', 'put', 'a', 'b'], ['ctl', 'stores'], ['ctl', 'split', 'm']];
    const runs = await runAll(cases.map((args) => [...args, '--pd', '127.0.0.1:1', '--timeout', '500ms']));
    for (const [i, args] of cases.entries()) {
      const r = runs[i]!;
      assert.equal(r.code, 3, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /cannot reach the placement driver at 127\.0\.0\.1:1/);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    }
  });

  test('$RANGEKV_PD is the default --pd', async () => {
    const r = await run(['kv', 'get', 'a', '--timeout', '300ms'], { RANGEKV_PD: '127.0.0.1:2' });
    assert.equal(r.code, 3);
    assert.match(r.stderr, /127\.0\.0\.1:2/);
  });
});

function waitForLine(proc: ReturnType<typeof spawn>, pred: (line: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: proc.stdout! });
    rl.on('line', (l) => {
      if (pred(l)) {
        rl.close();
        resolve(l);
      }
    });
    proc.on('exit', (code) => reject(new Error(`exited with ${code} before the expected line`)));
  });
}

function exitOf(proc: ReturnType<typeof spawn>): Promise<number | null> {
  return new Promise((resolve) => {
    if (proc.exitCode !== null) resolve(proc.exitCode);
    else proc.on('exit', (code) => resolve(code));
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('dev, store and pd with fake server entry points', () => {
  const env = { ...process.env, RANGEKV_PD_MAIN: FAKE_PD, RANGEKV_STORE_MAIN: FAKE_STORE };

  test('dev: progress, a ready line with every endpoint, and Ctrl-C (to the process group) stops every child and exits 0', async () => {
    // Own process group, signalled as a whole like a terminal's Ctrl-C.
    const proc = spawn(process.execPath, [BIN, 'dev', '--base-port', '0', '--json'], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      const ready = JSON.parse(await waitForLine(proc, (l) => l.includes('"event":"ready"'))) as {
        dataDir: string; pd: { address: string; pid: number }; stores: Array<{ storeId: number; pid: number; args: string[] }>;
      };
      assert.match(stderr, /waiting for the cluster: /);
      assert.equal(ready.stores.length, 3);
      assert.deepEqual(ready.stores.map((s) => s.storeId), [1, 2, 3]);
      assert.ok(ready.stores[0]!.args.includes(ready.pd.address), 'stores point at PD');
      const r = await run(['kv', 'put', 'k', 'v', '--pd', ready.pd.address]);
      assert.equal(r.code, 0, 'the endpoint printed serves');
      process.kill(-proc.pid!, 'SIGINT');
      assert.equal(await exitOf(proc), 0);
      for (const pid of [ready.pd.pid, ...ready.stores.map((s) => s.pid)]) assert.equal(alive(pid), false, `child ${pid} stopped`);
      assert.match(stderr, /stopped; data dir removed/);
    } finally {
      if (proc.exitCode === null) proc.kill('SIGKILL');
    }
  });

  test('dev: a store that dies once the cluster is up is reported, the others keep running; PD dying stops everything (exit 1)', async () => {
    const crash = join(mkdtempSync(join(tmpdir(), 'rangekv-cli-')), 'crash-store-2');
    const proc = spawn(process.execPath, [BIN, 'dev', '--base-port', '0', '--json'], {
      env: { ...env, FAKE_STORE_CRASH_FILE: crash }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      const ready = JSON.parse(await waitForLine(proc, (l) => l.includes('"event":"ready"'))) as { pd: { pid: number }; stores: Array<{ pid: number; storeId: number }> };
      writeFileSync(crash, '');
      while (!/keeps running with 2 stores/.test(stderr)) await new Promise((r) => setTimeout(r, 50));
      assert.match(stderr, /store-2 exited with code 1; the end of .*store-2\.log:\n[\s\S]*fake store crashed/);
      assert.equal(proc.exitCode, null, 'still running');
      process.kill(ready.pd.pid, 'SIGKILL');
      assert.equal(await exitOf(proc), 1);
      assert.match(stderr, /pd exited on SIGKILL/);
      for (const s of ready.stores) assert.equal(alive(s.pid), false, `store ${s.storeId} stopped`);
    } finally {
      if (proc.exitCode === null) proc.kill('SIGKILL');
      rmSync(dirname(crash), { recursive: true, force: true });
    }
  });

  test('store: flags (command line over RANGEKV_* over a config file, with the store defaults of this command) are passed to the store main; SIGTERM is passed on; exit 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rangekv-cli-'));
    try {
      const cfg = join(dir, 'store.json');
      writeFileSync(cfg, JSON.stringify({ dataDir: join(dir, 's7'), pd: '127.0.0.1:2379', port: 7000, httpPort: 'off' }));
      // A lone `--` (once: "pass the rest on unchecked") is still accepted; every server flag is known here now.
      const proc = spawn(process.execPath, [BIN, 'store', '--config', cfg, '--port', '7100', '--host', '0.0.0.0', '--log-level', 'warn', '--', '--apply-workers', '2'],
        { env: { ...env, RANGEKV_TICK_MS: '20', RANGEKV_HTTP_PORT: '9100', RANGEKV_ADVERTISE_HOST: 'store-7.example' }, stdio: ['ignore', 'pipe', 'pipe'] });
      try {
        const ready = JSON.parse(await waitForLine(proc, (l) => l.includes('"ready"'))) as { storeId: number; args: string[]; execArgv: string[]; glibcTunables: string | null };
        assert.equal(ready.storeId, 7);
        // Launched with the store's memory settings (runtime store-process-settings.ts).
        assert.deepEqual(ready.execArgv, [...STORE_NODE_FLAGS]);
        assert.equal(ready.glibcTunables, STORE_GLIBC_TUNABLES);
        assert.deepEqual(ready.args, ['--data-dir', join(dir, 's7'), '--pd', '127.0.0.1:2379', '--host', '0.0.0.0', '--advertise-host', 'store-7.example',
          '--port', '7100', '--raft-port', '20161',
          '--http-port', '9100', '--tick-ms', '20', '--apply-workers', '2', '--log-level', 'warn']);
      } finally {
        proc.kill('SIGTERM'); // also when an assertion failed: a live child would hold the test run open
      }
      assert.equal(await exitOf(proc), 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("store: the operator's own GLIBC_TUNABLES and semi-space size in NODE_OPTIONS are kept, not overridden", async () => {
    const proc = spawn(process.execPath, [BIN, 'store', '--data-dir', '/tmp/unused-s8', '--pd', '127.0.0.1:2379'], {
      env: { ...env, GLIBC_TUNABLES: 'glibc.malloc.arena_max=2', NODE_OPTIONS: '--max-semi-space-size=2' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const ready = JSON.parse(await waitForLine(proc, (l) => l.includes('"ready"'))) as { execArgv: string[]; glibcTunables: string | null };
      assert.deepEqual(ready.execArgv, ['--expose-gc'], 'ours less the semi-space size NODE_OPTIONS sets');
      assert.equal(ready.glibcTunables, 'glibc.malloc.arena_max=2');
    } finally {
      proc.kill('SIGTERM');
    }
    assert.equal(await exitOf(proc), 0);
  });

  test('pd: flags are passed to the PD main', async () => {
    const proc = spawn(process.execPath, [BIN, 'pd', '--data-dir', '/tmp/unused', '--port', '0', '--initial-stores', '1', '--advertise-host', 'pd-1.example'],
      { env: { ...env, RANGEKV_HOST: '0.0.0.0' }, stdio: ['ignore', 'pipe', 'pipe'] });
    const ready = JSON.parse(await waitForLine(proc, (l) => l.includes('"ready"'))) as { pdId: number; args: string[] };
    assert.equal(ready.pdId, 1);
    assert.deepEqual(ready.args, ['--id', '1', '--data-dir', '/tmp/unused', '--host', '0.0.0.0', '--advertise-host', 'pd-1.example', '--port', '0', '--raft-port', '2380',
      '--initial-stores', '1']);
    proc.kill('SIGINT');
    assert.equal(await exitOf(proc), 0);
  });
});
