// pd-main as a process: three nodes wired over --admin-stdin elect a leader and serve
// through it; /health and /metrics answer; SIGTERM exits 0 after "stopped"; bad flags exit
// 2 with the usage; --help exits 0.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { PdProcess } from './testing/pd-process.js';
import { PdTestClient } from './testing/pd-test-client.js';

const root = mkdtempSync(join(tmpdir(), 'pd-proc-'));
const procs: PdProcess[] = [];

after(() => {
  for (const p of procs) p.kill();
  rmSync(root, { recursive: true, force: true });
});

async function exitOf(args: string[]): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const p = PdProcess.spawnRaw(args);
  procs.push(p);
  const e = await p.exited;
  await new Promise((r) => setImmediate(r));
  return { code: e.code, stderr: p.stderrTail.join('\n'), stdout: p.events.map((x) => JSON.stringify(x)).join('\n') };
}

test('bad flags exit 2 with the usage; --help exits 0', async () => {
  const bad = await exitOf(['--id', 'x', '--data-dir', join(root, 'x')]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--id needs an integer/);
  assert.match(bad.stderr, /usage: pd-main/);
  assert.equal((await exitOf(['--data-dir', join(root, 'x')])).code, 2);
  assert.equal((await exitOf(['--id', '1', '--data-dir', join(root, 'x'), '--peers', '2=nohost'])).code, 2);
  assert.equal((await exitOf(['--id', '1', '--data-dir', join(root, 'x'), '--bogus'])).code, 2);
  const help = await exitOf(['--help']);
  assert.equal(help.code, 0);
});

test('three pd-main processes: ready lines, a leader serves, followers point at it; kill -9 of the leader; SIGTERM exits 0', async () => {
  const ps: PdProcess[] = [];
  for (const id of [1, 2, 3]) {
    const p = await PdProcess.start({ id, dataDir: join(root, `pd${id}`), peerIds: [1, 2, 3].filter((x) => x !== id), extraArgs: ['--tick-ms', '20'] });
    procs.push(p);
    ps.push(p);
    assert.ok(p.port > 0 && p.raftPort > 0 && p.httpPort !== null && p.httpPort > 0);
  }
  for (const p of ps) await p.setPeers(ps);
  const client = new PdTestClient(ps.map((p) => p.address));
  try {
    const ids = await client.leader('allocIds', { count: 10 });
    assert.ok(ids.first! > 0 && ids.header?.error == null);
    const members = await client.call(ps[0]!.address, 'getMembers', {});
    const leaders = members.members!.filter((m) => m.isLeader);
    assert.equal(leaders.length, 1);
    const follower = ps.find((p) => p.id !== leaders[0]!.id)!;
    const nl = await client.call(follower.address, 'listStores', {});
    assert.equal(nl.header?.error?.notLeader?.leaderAddress, leaders[0]!.address);
    const health = await fetch(`http://127.0.0.1:${follower.httpPort}/health`);
    assert.equal(health.status, 200);
    assert.equal(((await health.json()) as { pdId: number }).pdId, follower.id);
    const metrics = await (await fetch(`http://127.0.0.1:${follower.httpPort}/metrics`)).text();
    assert.match(metrics, /rangekv_pd_is_leader 0/);
    assert.match(metrics, /rangekv_pd_grpc_request_duration_seconds_count\{method="ListStores",code="OK"\} 1/);
    // kill -9 of the leader: the other two elect a new one, which keeps the metadata and fresh ids.
    const lead = ps.find((p) => p.id === leaders[0]!.id)!;
    lead.kill();
    await lead.exited;
    client.addresses = ps.filter((p) => p !== lead).map((p) => p.address);
    const after = await client.leader('allocIds', { count: 10 });
    assert.ok(after.first! >= ids.first! + 10, `${after.first} after ${ids.first}`);
    assert.equal(after.header?.clusterId, ids.header?.clusterId);
    ps.splice(ps.indexOf(lead), 1);
  } finally {
    client.close();
  }
  for (const p of ps) {
    const e = await p.stop();
    assert.equal(e.code, 0, p.stderrTail.join('\n'));
    assert.ok(p.events.some((x) => x['event'] === 'stopped'));
  }
});
