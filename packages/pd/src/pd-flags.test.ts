import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlagError } from '@rangekv/runtime';
import { parsePdFlags, parsePdPeers } from './pd-flags.js';

test('defaults: 1-node PD on 127.0.0.1, ephemeral ports, 3 initial stores, HTTP on', () => {
  const f = parsePdFlags(['--id', '1', '--data-dir', '/tmp/pd1']);
  assert.deepEqual([f.id, f.host, f.port, f.raftPort, f.httpPort, f.peers.size, f.initialStores, f.adminStdin, f.logLevel],
    [1, '127.0.0.1', 0, 0, 0, 0, 3, false, 'info']);
});

test('leader balance: on by default; --no-leader-balance turns it off; interval and warm-up in ms', () => {
  const on = parsePdFlags(['--id', '1', '--data-dir', 'd']);
  assert.deepEqual([on.leaderBalance, on.leaderBalanceIntervalMs, on.leaderBalanceWarmupMs], [true, 1_000, 10_000]);
  const off = parsePdFlags(['--id', '1', '--data-dir', 'd', '--no-leader-balance', '--leader-balance-interval-ms', '200', '--leader-balance-warmup-ms', '500']);
  assert.deepEqual([off.leaderBalance, off.leaderBalanceIntervalMs, off.leaderBalanceWarmupMs], [false, 200, 500]);
  assert.equal(parsePdFlags(['--id', '1', '--data-dir', 'd'], { env: { RANGEKV_NO_LEADER_BALANCE: 'true' } }).leaderBalance, false);
  assert.throws(() => parsePdFlags(['--id', '1', '--data-dir', 'd', '--leader-balance-interval-ms', '0']), /--leader-balance-interval-ms must be in/);
});

test('replica checker: on by default with 3 replicas, dead after 30 min; --no-replica-checker; DOWN before dead', () => {
  const on = parsePdFlags(['--id', '1', '--data-dir', 'd']);
  assert.deepEqual([on.replicaChecker, on.replicaCount, on.maxStoreDownTimeMs, on.storeDownAfterMs], [true, 3, 1_800_000, 10_000]);
  const f = parsePdFlags(['--id', '1', '--data-dir', 'd', '--no-replica-checker', '--replica-count', '5', '--max-store-down-time-ms', '60000',
    '--store-down-after-ms', '5000']);
  assert.deepEqual([f.replicaChecker, f.replicaCount, f.maxStoreDownTimeMs, f.storeDownAfterMs], [false, 5, 60_000, 5_000]);
  assert.throws(() => parsePdFlags(['--id', '1', '--data-dir', 'd', '--max-store-down-time-ms', '5000']),
    /--max-store-down-time-ms must not be below --store-down-after-ms/);
  assert.throws(() => parsePdFlags(['--id', '1', '--data-dir', 'd', '--replica-count', '0']), /--replica-count must be in/);
  assert.deepEqual([on.replicaBalance, parsePdFlags(['--id', '1', '--data-dir', 'd', '--no-replica-balance']).replicaBalance], [true, false]);
  assert.deepEqual([on.locationLabels, parsePdFlags(['--id', '1', '--data-dir', 'd', '--location-labels', 'zone,rack,host']).locationLabels],
    [[], ['zone', 'rack', 'host']]);
  assert.throws(() => parsePdFlags(['--id', '1', '--data-dir', 'd', '--location-labels', 'zone,a b']), /is not a label key/);
});

test('peers: raft address / client address per member; a bare id waits for --admin-stdin', () => {
  const f = parsePdFlags(['--id', '1', '--data-dir', 'd', '--peers', '2=10.0.0.2:7201/10.0.0.2:7200,3', '--http-port', 'off', '--initial-stores', '1']);
  assert.deepEqual(f.peers.get(2), { raft: '10.0.0.2:7201', client: '10.0.0.2:7200' });
  assert.deepEqual(f.peers.get(3), { raft: '', client: '' });
  assert.equal(f.httpPort, null);
  assert.equal(f.initialStores, 1);
  assert.deepEqual(parsePdFlags(['--id=2', '--data-dir=d', '--port=7000']).port, 7000);
  // The same member list on every node: the node's own entry is dropped.
  const same = parsePdFlags(['--id', '2', '--data-dir', 'd', '--peers', '1=a:1/a:2,2=b:1/b:2,3=c:1/c:2']);
  assert.deepEqual([...same.peers.keys()], [1, 3]);
});

test('bad flags name what is wrong', () => {
  const bad: [string[], RegExp][] = [
    [['--data-dir', 'd'], /--id is required/],
    [['--id', '1'], /--data-dir is required/],
    [['--id', '0', '--data-dir', 'd'], /--id must be in/],
    [['--id', '1', '--data-dir', 'd', '--peers', '2=a:1'], /RAFTHOST:RAFTPORT\/HOST:PORT/],
    [['--id', '1', '--data-dir', 'd', '--peers', '2=a:1/b'], /not host:port/],
    [['--id', '1', '--data-dir', 'd', '--peers', '2,2'], /listed twice/],
    [['--id', '1', '--data-dir', 'd', '--log-level', 'loud'], /--log-level/],
    [['--id', '1', '--data-dir', 'd', '--port'], /--port needs a value/],
    [['--id', '1', '--data-dir', 'd', '--id', '2'], /given twice/],
    [['--id', '1', '--data-dir', 'd', '--initial-stores', '0'], /--initial-stores must be in/],
    [['--id', '1', '--data-dir', 'd', '--heartbeat-ticks', '10'], /below --election-ticks/],
    [['--nope'], /unknown flag/],
  ];
  for (const [argv, re] of bad) assert.throws(() => parsePdFlags(argv), (e: unknown) => e instanceof FlagError && re.test(e.message), argv.join(' '));
  assert.equal(parsePdFlags(['--help']).help, true);
  assert.equal(parsePdPeers('--peers', '').size, 0);
});

test('flags from RANGEKV_* variables and a --config file: command line over environment over file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pd-flags-'));
  try {
    const file = join(dir, 'pd.json');
    writeFileSync(file, JSON.stringify({ id: 2, dataDir: '/pd', peers: '1=a:1/a:2,2=b:1/b:2,3', 'initial-stores': 1, httpPort: 'off' }));
    const env = { RANGEKV_INITIAL_STORES: '5', RANGEKV_TICK_MS: '20', RANGEKV_ADMIN_STDIN: 'true' };
    const f = parsePdFlags(['--config', file, '--tick-ms', '10'], { env });
    assert.deepEqual([f.id, f.dataDir, [...f.peers.keys()], f.initialStores, f.httpPort, f.tickMs, f.adminStdin], [2, '/pd', [1, 3], 5, null, 10, true]);
    assert.equal(parsePdFlags(['--config', file]).initialStores, 1);
    assert.equal(parsePdFlags(['--id', '4', '--data-dir', 'd'], { env: { RANGEKV_CONFIG: file } }).id, 4, 'RANGEKV_CONFIG names the file; argv wins');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad values from the environment or the config file name the flag, the value and the source', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pd-flags-'));
  try {
    const file = join(dir, 'pd.json');
    writeFileSync(file, JSON.stringify({ id: 1, dataDir: 'd', port: 'high' }));
    assert.throws(() => parsePdFlags(['--config', file]), (e: unknown) => e instanceof FlagError && e.message === `--port needs an integer, got "high" (from config file ${file})`);
    writeFileSync(file, JSON.stringify({ id: 1, dataDir: 'd', colour: 'blue' }));
    assert.throws(() => parsePdFlags(['--config', file]), /unknown key "colour"/);
    const base = ['--id', '1', '--data-dir', 'd'];
    assert.throws(() => parsePdFlags(base, { env: { RANGEKV_PEERS: '2=a:1' } }), /RAFTHOST:RAFTPORT\/HOST:PORT \(from RANGEKV_PEERS\)/);
    assert.throws(() => parsePdFlags(base, { env: { RANGEKV_LOG_LEVEL: 'loud' } }), /--log-level must be one of debug, info, warn, error, got "loud" \(from RANGEKV_LOG_LEVEL\)/);
    assert.throws(() => parsePdFlags(['--data-dir', 'd'], { env: { RANGEKV_ID: '0' } }), /--id must be in \[1, 4294967295\], got 0 \(from RANGEKV_ID\)/);
    assert.throws(() => parsePdFlags(['--data-dir', 'd'], { env: { RANGEKV_ID: '' } }), /--id is required/, 'an empty variable is unset');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--advertise-host: defaults to --host; a wildcard --host (0.0.0.0, ::) requires it; it must be a plain, non-wildcard host', () => {
  const base = ['--id', '1', '--data-dir', 'd'];
  const hosts = (args: string[], env: Record<string, string> = {}): [string, string] => {
    const f = parsePdFlags([...base, ...args], { env });
    return [f.host, f.advertiseHost];
  };
  assert.deepEqual(hosts([]), ['127.0.0.1', '127.0.0.1']);
  assert.deepEqual(hosts(['--host', '10.0.0.11']), ['10.0.0.11', '10.0.0.11']);
  assert.deepEqual(hosts(['--host', '0.0.0.0', '--advertise-host', 'pd-0.pd.rangekv.svc']), ['0.0.0.0', 'pd-0.pd.rangekv.svc']);
  assert.deepEqual(hosts([], { RANGEKV_HOST: '::', RANGEKV_ADVERTISE_HOST: '[fd00::11]' }), ['::', '[fd00::11]']);
  for (const wildcard of ['0.0.0.0', '::']) {
    assert.throws(() => parsePdFlags([...base, '--host', wildcard]), (e: unknown) => e instanceof FlagError
      && e.message === `--host ${wildcard} listens on every interface: --advertise-host is required (the address stores, clients and the other PD members reach this node at)`);
  }
  assert.throws(() => parsePdFlags([...base, '--host', '0.0.0.0', '--advertise-host', '::']), /--advertise-host: "::" is a wildcard address/);
  assert.throws(() => parsePdFlags([...base, '--advertise-host', 'pd-1:2379']), /--advertise-host: "pd-1:2379" is not a host name or IP address/);
  assert.equal(parsePdFlags(['--help']).help, true);
});
