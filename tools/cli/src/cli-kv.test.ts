// `rangekv kv` and `rangekv ctl` through the real binary against an in-process fake
// cluster (fake PD + fake stores from @rangekv/client/testing): output, --json shapes, exit codes.
import { FakeCluster } from '@rangekv/client/testing';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { run, runAll } from './testing/run-cli.js';

describe('kv and ctl against a fake cluster', () => {
  let cluster: FakeCluster;
  let pd: string[];
  before(async () => {
    cluster = await FakeCluster.start({ stores: 3 });
    pd = ['--pd', cluster.pdAddress()];
  });
  after(() => cluster.stop());

  test('kv put, get, missing key (exit 1), --json shapes', async () => {
    let r = await run(['kv', 'put', 'hello', 'world', ...pd]);
    assert.deepEqual([r.code, r.stdout], [0, 'OK\n']);
    r = await run(['kv', 'get', 'hello', ...pd]);
    assert.deepEqual([r.code, r.stdout], [0, 'world\n']);
    r = await run(['kv', 'get', 'hello', '--json', ...pd]);
    assert.deepEqual(JSON.parse(r.stdout), { key: 'hello', found: true, value: 'world' });
    r = await run(['kv', 'get', 'nope', ...pd]);
    assert.deepEqual([r.code, r.stdout], [1, '']);
    assert.match(r.stderr, /key not found: nope/);
    r = await run(['kv', 'get', 'nope', '--json', ...pd]);
    assert.equal(r.code, 1);
    assert.deepEqual(JSON.parse(r.stdout), { key: 'nope', found: false });
    r = await run(['kv', 'put', '6869', '00ff', '--hex', '--json', ...pd]);
    assert.deepEqual(JSON.parse(r.stdout), { ok: true });
    r = await run(['kv', 'get', 'hi', ...pd]);
    assert.equal(r.stdout, '\u0000\ufffd\n');
  });

  test('kv scan across ranges: table, --json, --limit, --reverse, --prefix; kv del', async () => {
    const puts = await runAll(['a/1', 'a/2', 'b/1', 'c/1', 'c/2'].map((k) => ['kv', 'put', k, `v${k}`, ...pd]));
    assert.deepEqual(puts.map((r) => r.code), [0, 0, 0, 0, 0]);
    cluster.split('b');
    cluster.split('c/2');
    let r = await run(['kv', 'scan', 'a', 'd', ...pd]);
    assert.equal(r.code, 0);
    assert.deepEqual(r.stdout.trimEnd().split('\n').map((l) => l.split(/\s+/)), [['KEY', 'VALUE'], ['a/1', 'va/1'], ['a/2', 'va/2'], ['b/1', 'vb/1'], ['c/1', 'vc/1'], ['c/2', 'vc/2']]);
    r = await run(['kv', 'scan', 'a', 'd', '--json', '--limit', '3', '--reverse', ...pd]);
    assert.deepEqual(JSON.parse(r.stdout), [{ key: 'c/2', value: 'vc/2' }, { key: 'c/1', value: 'vc/1' }, { key: 'b/1', value: 'vb/1' }]);
    r = await run(['kv', 'scan', '--prefix', 'c/', '--keys-only', ...pd]);
    assert.equal(r.stdout, 'c/1\nc/2\n');
    r = await run(['kv', 'del', 'a/1', ...pd]);
    assert.deepEqual([r.code, r.stdout], [0, 'OK\n']);
    r = await run(['kv', 'del', 'c/', '--prefix', ...pd]);
    assert.equal(r.code, 0);
    r = await run(['kv', 'scan', 'a', 'd', '--json', ...pd]);
    assert.deepEqual(JSON.parse(r.stdout).map((p: { key: string }) => p.key), ['a/2', 'b/1']);
    r = await run(['kv', 'scan', 'x', 'y', ...pd]);
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, '', '(no keys)\n']);
  });

  test('ctl store decommission / cancel-decommission: the state PD answers; bad verbs and ids exit 2', async () => {
    let r = await run(['ctl', 'store', 'decommission', '3', ...pd]);
    assert.deepEqual([r.code, r.stdout], [0, 'store 3: offline\n']);
    r = await run(['ctl', 'stores', '--json', ...pd]);
    assert.equal((JSON.parse(r.stdout) as Array<{ id: number; state: string }>).find((s) => s.id === 3)!.state, 'offline');
    r = await run(['ctl', 'store', 'cancel-decommission', '3', '--json', ...pd]);
    assert.deepEqual([r.code, JSON.parse(r.stdout)], [0, { id: 3, state: 'up' }]);
    r = await run(['ctl', 'store', 'retire', '3', ...pd]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /'retire' is not decommission or cancel-decommission/);
    r = await run(['ctl', 'store', 'decommission', '0', ...pd]);
    assert.equal(r.code, 2);
  });

  test('ctl scheduler list / pause / resume and ctl config show / set / reset; bad verbs and values exit 2', async () => {
    let r = await run(['ctl', 'scheduler', 'pause', 'balance-replica', ...pd]);
    assert.deepEqual([r.code, r.stdout], [0, 'balance-replica: paused\n']);
    r = await run(['ctl', 'scheduler', 'list', ...pd]);
    assert.match(r.stdout, /^balance-leader +running\nreplica-checker +running\nbalance-replica +paused\n$/);
    r = await run(['ctl', 'scheduler', 'resume', 'balance-replica', '--json', ...pd]);
    assert.deepEqual(JSON.parse(r.stdout), { name: 'balance-replica', enabled: true, paused: false });
    r = await run(['ctl', 'config', 'set', 'maxStoreDownTimeMs', '600000', ...pd]);
    assert.deepEqual([r.code, r.stdout], [0, 'maxStoreDownTimeMs = 600000\n']);
    r = await run(['ctl', 'config', 'show', '--json', ...pd]);
    assert.deepEqual((JSON.parse(r.stdout) as Array<{ key: string }>).find((e) => e.key === 'maxStoreDownTimeMs'),
      { key: 'maxStoreDownTimeMs', value: 600_000, overridden: true });
    r = await run(['ctl', 'config', 'reset', 'maxStoreDownTimeMs', ...pd]);
    assert.equal(r.code, 0);
    for (const bad of [['scheduler', 'stop', 'x'], ['scheduler', 'pause'], ['config', 'set', 'replicaCount'], ['config', 'set', 'replicaCount', 'three'],
      ['config', 'reset', 'replicaCount', '3'], ['config', 'drop']]) {
      r = await run(['ctl', ...bad, ...pd]);
      assert.equal(r.code, 2, bad.join(' '));
    }
  });

  test('ctl pd members list / add / remove: table and --json; the members after a change; PD refusing exits 1', async () => {
    let r = await run(['ctl', 'pd', 'members', 'list', ...pd]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trimEnd().split('\n').map((l) => l.split(/\s+/)),
      [['ID', 'ADDRESS', 'RAFT-ADDRESS', 'ROLE', 'MATCH-INDEX'], ['1', cluster.pdAddress(), '127.0.0.1:23800', 'leader', '0'], ['commit', 'index', '100']]);
    r = await run(['ctl', 'pd', 'members', 'add', '2', '--raft-address', '127.0.0.1:2390', '--client-address', 'localhost:2391', ...pd]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ID +ADDRESS +RAFT-ADDRESS +ROLE +MATCH-INDEX\n1 .* leader +0\n2 +localhost:2391 +127\.0\.0\.1:2390 +voter +100\n$/);
    r = await run(['ctl', 'pd', 'members', 'add', '3', '--raft-address', '127.0.0.1:2392', '--client-address', '127.0.0.1:2393', '--replace', '2', '--json', ...pd]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((JSON.parse(r.stdout) as Array<{ id: number }>).map((m) => m.id), [1, 3]);
    r = await run(['ctl', 'pd', 'members', 'list', '--json', ...pd]);
    const listed = JSON.parse(r.stdout) as { members: Array<Record<string, unknown>>; commitIndex: number };
    assert.equal(listed.commitIndex, 100);
    assert.deepEqual(listed.members[1], { id: 3, address: '127.0.0.1:2393', raftAddress: '127.0.0.1:2392', role: 'voter', matchIndex: 100 });
    r = await run(['ctl', 'pd', 'members', 'remove', '3', '--json', ...pd]);
    assert.deepEqual([r.code, (JSON.parse(r.stdout) as Array<{ id: number }>).map((m) => m.id)], [0, [1]]);
    r = await run(['ctl', 'pd', 'members', 'remove', '3', ...pd]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /refused by PD: PD 3 is not a member/);
    assert.deepEqual(cluster.pdMembers.map((m) => m.id), [1]);
  });

  test('ctl stores and ranges: tables and --json', async () => {
    let r = await run(['ctl', 'stores', ...pd]);
    assert.equal(r.code, 0);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^ID\s+ADDRESS\s+STATE\s+RANGES\s+LEADERS\s+USED\s+AVAILABLE\s+CAPACITY\s+HEARTBEAT\s+HTTP$/);
    assert.equal(lines.length, 4);
    assert.match(lines[1]!, /^1\s+127\.0\.0\.1:\d+\s+up\s/);
    r = await run(['ctl', 'stores', '--json', ...pd]);
    const stores = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
    assert.deepEqual(stores.map((s) => s.id), [1, 2, 3]);
    assert.deepEqual(Object.keys(stores[0]!).sort(), ['address', 'availableBytes', 'capacityBytes', 'httpAddress', 'id', 'labels', 'lastHeartbeatAgeMs', 'leaders', 'raftAddress', 'ranges',
      'readBytesPerSecond', 'readKeysPerSecond', 'snapshotsReceiving', 'snapshotsSending', 'state', 'usedBytes', 'writeBytesPerSecond', 'writeKeysPerSecond']);
    r = await run(['ctl', 'ranges', ...pd]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^RANGE\s+START\s+END\s+VERSION\s+CONF\s+LEADER\s+REPLICAS\n1\s+-inf\s+/);
    r = await run(['ctl', 'ranges', '--json', ...pd]);
    const ranges = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
    assert.equal(ranges[0]!.startKey, '');
    assert.equal(ranges.at(-1)!.endKey, '');
    assert.deepEqual(Object.keys(ranges[0]!).sort(), ['endKey', 'epoch', 'leaderStoreId', 'rangeId', 'replicas', 'startKey']);
    // Roles are shown by name (replicaRoleName), not as the wire's numbers.
    assert.deepEqual(ranges[0]!.replicas, [1, 2, 3].map((id) => ({ storeId: id, replicaId: id, role: 'voter' })));
  });

  test('ctl split, transfer-leader, move-replica wait for the final status; a failed operator exits 1', async () => {
    let r = await run(['ctl', 'split', 'm', ...pd]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^operator \d+: split range \d+ at m: succeeded\n/);
    const right = cluster.rangeOf(Buffer.from('m')).desc.rangeId;
    r = await run(['ctl', 'transfer-leader', '--range', String(right), '--to', '2', '--json', ...pd]);
    assert.equal(r.code, 0, r.stderr);
    const op = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.equal(op.kind, 'transfer-leader');
    assert.equal(op.status, 'succeeded');
    assert.equal(cluster.ranges.get(right)!.leader, 2);
    r = await run(['ctl', 'move-replica', '--range', String(right), '--from', '3', '--to', '1', ...pd]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /move the replica of range \d+ from store 3 to store 1: succeeded/);
    r = await run(['ctl', 'split', 'm', ...pd]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /failed \(split key not strictly inside the range\)/);
    assert.match(r.stderr, /operator \d+ \(split on range \d+\) failed/);
    r = await run(['ctl', 'transfer-leader', '--range', '1', '--to', '3', '--no-wait', '--json', ...pd]);
    assert.equal(JSON.parse(r.stdout).status, 'running');
    r = await run(['ctl', 'operators', ...pd]);
    assert.equal(r.code, 0);
    assert.ok(r.stdout.trimEnd().split('\n').filter((l) => l.startsWith('operator ')).length >= 4);
  });

  test('ctl merge waits for the final status (text and --json); the last range has nothing to merge with (exit 1)', async () => {
    const split = await run(['ctl', 'split', 'q', ...pd]);
    assert.equal(split.code, 0, split.stderr);
    const left = cluster.rangeOf(Buffer.from('p')).desc.rangeId;
    const right = cluster.rangeOf(Buffer.from('q')).desc.rangeId;
    let r = await run(['ctl', 'merge', '--range', String(left), ...pd]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^operator \\d+: merge range ${right} into range ${left}: succeeded\n  range ${left} \\[m, \\+inf\\) .*\n  range ${right} \\[q, \\+inf\\) `));
    assert.equal(cluster.rangeOf(Buffer.from('z')).desc.rangeId, left);
    r = await run(['ctl', 'merge', '--range', String(left), '--json', ...pd]);
    assert.equal(r.code, 1);
    const op = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.deepEqual([op.kind, op.status], ['merge', 'failed']);
    assert.match(r.stderr, /operator \d+ \(merge on range \d+\) failed/);
  });
});

