import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlagError } from '@rangekv/runtime';
import { parseStoreFlags, STORE_USAGE, type StoreFlags } from './store-flags.js';
import { APPLY_WORKER_MIN_CORES, defaultApplyWorkers } from './apply-pool.js';

test('store flags parse with defaults, peers and bootstrap list', () => {
  const f = parseStoreFlags(['--store-id', '2', '--data-dir', '/d', '--peers', '1=127.0.0.1:7001,3=[::1]:7003', '--bootstrap', '1,2,3', '--admin-stdin']);
  assert.equal(f.storeId, 2);
  assert.equal(f.host, '127.0.0.1');
  assert.equal(f.port, 0);
  assert.equal(f.raftPort, 0);
  assert.equal(f.httpPort, 0, 'the HTTP status server is on, on an ephemeral port, by default');
  assert.deepEqual([...f.peers], [[1, '127.0.0.1:7001'], [3, '[::1]:7003']]);
  assert.deepEqual(f.bootstrap, [1, 2, 3]);
  assert.equal(f.adminStdin, true);
  assert.deepEqual([f.tickMs, f.electionTicks, f.heartbeatTicks], [50, 10, 2]);
});

test('bad store flags are refused with a message naming the flag', () => {
  const bad = (args: string[], msg: RegExp): void => {
    assert.throws(() => parseStoreFlags(args), (e: unknown) => e instanceof FlagError && msg.test(e.message));
  };
  const base = ['--store-id', '1', '--data-dir', '/d'];
  bad(['--data-dir', '/d'], /--store-id is required/);
  bad(['--store-id', '1'], /--data-dir is required/);
  bad(['--store-id', '0', '--data-dir', '/d'], /--store-id must be in \[1/);
  bad([...base, '--port', '70000'], /--port must be in/);
  bad([...base, '--http-port', 'none'], /--http-port needs an integer/);
  bad([...base, '--peers', '2=localhost'], /not host:port/);
  bad([...base, '--peers', '1=127.0.0.1:5'], /lists this store/);
  bad([...base, '--peers', '2=a:1,2=b:2'], /listed twice/);
  bad([...base, '--bootstrap', '2,3'], /must include this store/);
  bad([...base, '--heartbeat-ticks', '10'], /below --election-ticks/);
  bad([...base, '--frobnicate'], /unknown flag/);
  bad([...base, '--host'], /--host needs a value/);
  bad([...base, '--store-id', '1'], /given twice/);
});

test('--fault-injection: off by default, for tests, and only with --admin-stdin (its commands come on stdin)', () => {
  const base = ['--store-id', '1', '--data-dir', '/d'];
  assert.equal(parseStoreFlags(base).faultInjection, false);
  assert.equal(parseStoreFlags([...base, '--admin-stdin', '--fault-injection']).faultInjection, true);
  assert.throws(() => parseStoreFlags([...base, '--fault-injection']),
    (e: unknown) => e instanceof FlagError && e.message === '--fault-injection requires --admin-stdin (fault commands are read on stdin)');
  assert.throws(() => parseStoreFlags(base, { env: { RANGEKV_FAULT_INJECTION: 'true' } }), /--fault-injection requires --admin-stdin/);
  assert.match(STORE_USAGE, /\n {2}--fault-injection +for tests: .*\n.*requires --admin-stdin/);
});

test('--http-port takes a port or "off"', () => {
  const base = ['--store-id', '1', '--data-dir', '/d'];
  assert.equal(parseStoreFlags([...base, '--http-port', '9100']).httpPort, 9100);
  assert.equal(parseStoreFlags([...base, '--http-port', 'off']).httpPort, null);
});

test('log compaction flags: absent means defaults; given ones are checked integers', () => {
  const base = ['--store-id', '1', '--data-dir', '/d'];
  assert.deepEqual(parseStoreFlags(base).logCompaction, {});
  assert.deepEqual(parseStoreFlags([...base, '--log-compaction-threshold-entries', '40', '--log-compaction-keep-entries', '0',
    '--max-follower-lag-entries', '20']).logCompaction, { logCompactionThresholdEntries: 40, logCompactionKeepEntries: 0, maxFollowerLagEntries: 20 });
  assert.throws(() => parseStoreFlags([...base, '--log-compaction-threshold-entries', '0']), FlagError);
  assert.throws(() => parseStoreFlags([...base, '--log-compaction-keep-entries', 'x']), FlagError);
});

test('--apply-workers: 0..16; absent, the store decides by the host (defaultApplyWorkers)', () => {
  const base = ['--store-id', '1', '--data-dir', '/d'];
  assert.equal(parseStoreFlags(base).applyWorkers, undefined);
  assert.equal(parseStoreFlags([...base, '--apply-workers', '1']).applyWorkers, 1);
  assert.equal(defaultApplyWorkers(2), 0);
  assert.equal(defaultApplyWorkers(APPLY_WORKER_MIN_CORES), 1);
  assert.equal(parseStoreFlags([...base, '--apply-workers', '0']).applyWorkers, 0);
  assert.throws(() => parseStoreFlags([...base, '--apply-workers', '17']), FlagError);
});

test('--pd: store id optional (from the data dir or PD), --bootstrap refused, endpoints checked; --help', () => {
  const f = parseStoreFlags(['--data-dir', '/d', '--pd', '127.0.0.1:2379,127.0.0.1:2380']);
  assert.equal(f.storeId, 0);
  assert.deepEqual(f.pd, ['127.0.0.1:2379', '127.0.0.1:2380']);
  assert.equal(parseStoreFlags(['--data-dir', '/d', '--pd', '127.0.0.1:2379', '--store-id', '4']).storeId, 4);
  assert.throws(() => parseStoreFlags(['--data-dir', '/d', '--pd', 'nope']), /not host:port/);
  assert.throws(() => parseStoreFlags(['--data-dir', '/d', '--pd', '127.0.0.1:2379', '--bootstrap', '1']), /clusters without PD/);
  assert.throws(() => parseStoreFlags(['--data-dir', '/d']), /--store-id is required/);
  assert.equal(parseStoreFlags(['--help']).help, true);
});

test('every flag may come from RANGEKV_* variables or a --config file; the command line wins, then the environment', () => {
  const dir = mkdtempSync(join(tmpdir(), 'store-flags-'));
  try {
    const file = join(dir, 'store.json');
    writeFileSync(file, JSON.stringify({
      dataDir: '/from-file', 'store-id': 2, peers: '1=127.0.0.1:7001', bootstrap: [1, 2], tickMs: 30, httpPort: 'off',
      adminStdin: true, 'uninitialized-idle-ms': 5000, logCompactionKeepEntries: 0,
    }));
    const env = { RANGEKV_TICK_MS: '40', RANGEKV_APPLY_WORKERS: '0', RANGEKV_UNINITIALIZED_GC_AFTER_MS: '60000' };
    const f = parseStoreFlags(['--config', file, '--tick-ms', '20', '--log-level', 'warn'], { env });
    assert.deepEqual([f.dataDir, f.storeId, [...f.peers], f.bootstrap, f.tickMs, f.applyWorkers, f.httpPort, f.adminStdin, f.logLevel],
      ['/from-file', 2, [[1, '127.0.0.1:7001']], [1, 2], 20, 0, null, true, 'warn']);
    assert.deepEqual(f.uninitialized, { uninitializedIdleMs: 5000, uninitializedGcAfterMs: 60_000 });
    assert.deepEqual(f.logCompaction, { logCompactionKeepEntries: 0 });
    assert.equal(parseStoreFlags(['--config', file], { env }).tickMs, 40, 'the environment over the file');
    assert.equal(parseStoreFlags(['--config', file]).tickMs, 30);
    // Checks between flags see the merged values: the file's --bootstrap with --pd from the environment.
    assert.throws(() => parseStoreFlags(['--config', file], { env: { RANGEKV_PD: '127.0.0.1:2379' } }), /--bootstrap is for clusters without PD/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad values from the environment or the config file are refused naming the flag, the value and the source', () => {
  const dir = mkdtempSync(join(tmpdir(), 'store-flags-'));
  try {
    const file = join(dir, 'store.json');
    writeFileSync(file, JSON.stringify({ 'data-dir': '/d', 'store-id': 1, 'apply-workers': 17 }));
    assert.throws(() => parseStoreFlags(['--config', file]), (e: unknown) => e instanceof FlagError
      && e.message === `--apply-workers must be in [0, 16], got 17 (from config file ${file})`);
    assert.equal(parseStoreFlags(['--config', file, '--apply-workers', '2']).applyWorkers, 2, 'the command line hides the bad file value');
    writeFileSync(file, JSON.stringify({ 'data-dir': '/d', storeId: 1, uninitialisedIdleMs: 5 }));
    assert.throws(() => parseStoreFlags(['--config', file]), /unknown key "uninitialisedIdleMs"/);
    const env = (e: Record<string, string>): StoreFlags => parseStoreFlags(['--store-id', '1', '--data-dir', '/d'], { env: e });
    assert.throws(() => env({ RANGEKV_PEERS: '2=localhost' }), /^FlagError: --peers store 2: "localhost" is not host:port \(from RANGEKV_PEERS\)$/);
    assert.throws(() => env({ RANGEKV_UNINITIALIZED_IDLE_MS: '0' }), /--uninitialized-idle-ms must be in \[1, .*\], got 0 \(from RANGEKV_UNINITIALIZED_IDLE_MS\)/);
    assert.throws(() => env({ RANGEKV_HTTP_PORT: 'none' }), /--http-port needs an integer, got "none" \(from RANGEKV_HTTP_PORT\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--uninitialized-idle-ms and --uninitialized-gc-after-ms: absent means defaults; given ones are positive integers', () => {
  const base = ['--store-id', '1', '--data-dir', '/d'];
  assert.deepEqual(parseStoreFlags(base).uninitialized, {});
  assert.deepEqual(parseStoreFlags([...base, '--uninitialized-idle-ms', '100', '--uninitialized-gc-after-ms', '200']).uninitialized,
    { uninitializedIdleMs: 100, uninitializedGcAfterMs: 200 });
  assert.throws(() => parseStoreFlags([...base, '--uninitialized-gc-after-ms', '0']), /--uninitialized-gc-after-ms must be in \[1/);
});

test('--labels: KEY=VALUE pairs for PD; bad, repeated or too many are refused', () => {
  const base = ['--store-id', '1', '--data-dir', '/d'];
  assert.deepEqual(parseStoreFlags(base).labels, {});
  assert.deepEqual(parseStoreFlags([...base, '--labels', 'zone=z1,host=h-1.a']).labels, { zone: 'z1', host: 'h-1.a' });
  assert.throws(() => parseStoreFlags([...base, '--labels', 'zone']), /is not KEY=VALUE/);
  assert.throws(() => parseStoreFlags([...base, '--labels', 'zone=a b']), /is not KEY=VALUE/);
  assert.throws(() => parseStoreFlags([...base, '--labels', 'zone=a,zone=b']), /zone given twice/);
  assert.throws(() => parseStoreFlags([...base, '--labels', Array.from({ length: 9 }, (_, i) => `k${i}=v`).join(',')]), /at most 8 labels/);
});

test('--replica-gc-interval-ms: absent means the default; a given one is a positive integer', () => {
  const base = ['--store-id', '1', '--data-dir', '/d'];
  assert.deepEqual(parseStoreFlags(base).replicaGc, {});
  assert.deepEqual(parseStoreFlags([...base, '--replica-gc-interval-ms', '500']).replicaGc, { replicaGcIntervalMs: 500 });
  assert.throws(() => parseStoreFlags([...base, '--replica-gc-interval-ms', '0']), /--replica-gc-interval-ms must be in \[1/);
});

test('--memtable-budget-bytes and --block-cache-bytes: absent means the storage defaults; given ones are checked', () => {
  const base = ['--store-id', '1', '--data-dir', '/d'];
  assert.deepEqual(parseStoreFlags(base).storageMemory, {});
  assert.deepEqual(parseStoreFlags([...base, '--memtable-budget-bytes', String(64 << 20), '--block-cache-bytes', String(1 << 20)]).storageMemory,
    { memtableBudgetBytes: 64 << 20, blockCacheBytes: 1 << 20 });
  assert.throws(() => parseStoreFlags([...base, '--memtable-budget-bytes', String(1 << 20)]), /--memtable-budget-bytes must be in \[4194304/);
  assert.throws(() => parseStoreFlags([...base, '--block-cache-bytes', String(2 ** 32)]), /--block-cache-bytes must be in \[1/);
});

test('--malloc-trim-interval-ms: 5000 by default, 0 turns it off, else at least 100 and at most an hour', () => {
  const base = ['--store-id', '1', '--data-dir', '/d'];
  assert.equal(parseStoreFlags(base).mallocTrimIntervalMs, 5_000);
  assert.equal(parseStoreFlags([...base, '--malloc-trim-interval-ms', '0']).mallocTrimIntervalMs, 0);
  assert.equal(parseStoreFlags(base, { env: { RANGEKV_MALLOC_TRIM_INTERVAL_MS: '60000' } }).mallocTrimIntervalMs, 60_000);
  assert.throws(() => parseStoreFlags([...base, '--malloc-trim-interval-ms', '50']), /--malloc-trim-interval-ms must be 0 \(never\) or at least 100/);
  assert.throws(() => parseStoreFlags([...base, '--malloc-trim-interval-ms', '3600001']), /--malloc-trim-interval-ms must be in \[0/);
});

test('--reclaim-growth-bytes: 16 MiB by default, 0 turns it off, else at least 1 MiB', () => {
  const base = ['--store-id', '1', '--data-dir', '/d'];
  assert.equal(parseStoreFlags(base).reclaimGrowthBytes, 16 << 20);
  assert.equal(parseStoreFlags([...base, '--reclaim-growth-bytes', '0']).reclaimGrowthBytes, 0);
  assert.equal(parseStoreFlags(base, { env: { RANGEKV_RECLAIM_GROWTH_BYTES: String(64 << 20) } }).reclaimGrowthBytes, 64 << 20);
  assert.throws(() => parseStoreFlags([...base, '--reclaim-growth-bytes', '1000']), /--reclaim-growth-bytes must be 0 \(never\) or at least 1048576/);
  assert.throws(() => parseStoreFlags([...base, '--reclaim-growth-bytes', String(2 ** 41)]), /--reclaim-growth-bytes must be in \[0/);
});

test('--max-direct-persist-groups: the scheduler\'s default when absent, 0 (off) to 1024', () => {
  const base = ['--store-id', '1', '--data-dir', '/d'];
  assert.deepEqual(parseStoreFlags(base).scheduler, {});
  assert.deepEqual(parseStoreFlags([...base, '--max-direct-persist-groups', '0']).scheduler, { maxDirectPersistGroups: 0 });
  assert.deepEqual(parseStoreFlags([...base, '--max-direct-persist-groups', '16']).scheduler, { maxDirectPersistGroups: 16 });
  assert.throws(() => parseStoreFlags([...base, '--max-direct-persist-groups', '1025']), /--max-direct-persist-groups must be in \[0/);
  assert.throws(() => parseStoreFlags([...base, '--max-direct-persist-groups', '-1']), /--max-direct-persist-groups/);
});

test('the usage lists every declared flag, --config and --help', () => {
  for (const name of ['--data-dir DIR', '--store-id N', '--pd H:P', '--http-port P|off', '--uninitialized-gc-after-ms MS', '--config FILE', '--help']) {
    assert.ok(STORE_USAGE.includes(`  ${name}`), name);
  }
  assert.match(STORE_USAGE, /^usage: store-main /);
});

test('--advertise-host: defaults to --host; a wildcard --host (0.0.0.0, ::) requires it; it must be a plain, non-wildcard host', () => {
  const base = ['--store-id', '1', '--data-dir', '/d'];
  const hosts = (args: string[], env: Record<string, string> = {}): [string, string] => {
    const f = parseStoreFlags([...base, ...args], { env });
    return [f.host, f.advertiseHost];
  };
  assert.deepEqual(hosts([]), ['127.0.0.1', '127.0.0.1'], 'the default listen host is also the advertised one');
  assert.deepEqual(hosts(['--host', '10.0.0.21']), ['10.0.0.21', '10.0.0.21']);
  assert.deepEqual(hosts(['--host', '0.0.0.0', '--advertise-host', 'store-1.rangekv.svc']), ['0.0.0.0', 'store-1.rangekv.svc']);
  assert.deepEqual(hosts(['--host', '::', '--advertise-host', 'fd00::21']), ['::', 'fd00::21']);
  assert.deepEqual(hosts(['--host', '10.0.0.21', '--advertise-host', '203.0.113.7']), ['10.0.0.21', '203.0.113.7'], 'NAT: listen on one address, give out another');
  assert.deepEqual(hosts([], { RANGEKV_HOST: '0.0.0.0', RANGEKV_ADVERTISE_HOST: '10.0.0.21' }), ['0.0.0.0', '10.0.0.21'], 'from the environment');
  for (const wildcard of ['0.0.0.0', '::', '[::]']) {
    assert.throws(() => parseStoreFlags([...base, '--host', wildcard]), (e: unknown) => e instanceof FlagError
      && e.message === `--host ${wildcard} listens on every interface: --advertise-host is required (the address PD, the other stores and clients reach this store at)`);
  }
  assert.throws(() => parseStoreFlags([...base], { env: { RANGEKV_HOST: '0.0.0.0' } }), /--advertise-host is required/);
  assert.throws(() => parseStoreFlags([...base, '--advertise-host', '0.0.0.0']), (e: unknown) => e instanceof FlagError
    && /^--advertise-host: "0.0.0.0" is a wildcard address/.test(e.message));
  assert.throws(() => parseStoreFlags([...base, '--host', '0.0.0.0', '--advertise-host', '10.0.0.21:20160']), /--advertise-host: "10.0.0.21:20160" is not a host name or IP address \(no port\)/);
  assert.throws(() => parseStoreFlags([...base], { env: { RANGEKV_ADVERTISE_HOST: '::' } }), /is a wildcard address.*\(from RANGEKV_ADVERTISE_HOST\)$/);
  assert.match(STORE_USAGE, /\n {2}--advertise-host H +host given to PD for this store's KV, raft and HTTP addresses\n/);
});
