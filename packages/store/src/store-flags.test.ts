import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlagError, parseStoreFlags } from './store-flags.js';

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

test('--apply-workers: 0..16, default 1', () => {
  const base = ['--store-id', '1', '--data-dir', '/d'];
  assert.equal(parseStoreFlags(base).applyWorkers, 1);
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
