import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { parsePdFlags, parsePdPeers, PdFlagError } from './pd-flags.js';

test('defaults: 1-node PD on 127.0.0.1, ephemeral ports, 3 initial stores, HTTP on', () => {
  const f = parsePdFlags(['--id', '1', '--data-dir', '/tmp/pd1']);
  assert.deepEqual([f.id, f.host, f.port, f.raftPort, f.httpPort, f.peers.size, f.initialStores, f.adminStdin, f.logLevel],
    [1, '127.0.0.1', 0, 0, 0, 0, 3, false, 'info']);
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
  for (const [argv, re] of bad) assert.throws(() => parsePdFlags(argv), (e: unknown) => e instanceof PdFlagError && re.test(e.message), argv.join(' '));
  assert.equal(parsePdFlags(['--help']).help, true);
  assert.equal(parsePdPeers('--peers', '').size, 0);
});
