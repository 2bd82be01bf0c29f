// Fault injection into three real store processes (store-main --admin-stdin
// --fault-injection), through StoreProcess.faults: the leader's store cut off both ways
// (dropTo + dropFrom), another store leads and the cut one hears nothing; heal, it catches
// up; a refused command answers ok:false, changes nothing, and the store keeps serving;
// syncDelayMs slows the disks and writes still succeed. Every process is killed in `after`.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { metapb } from '@rangekv/proto';
import { header, KvTestClient } from './testing/kv-test-client.js';
import { eventually, ProcessCluster } from './testing/process-cluster.js';
import { StoreProcess } from './testing/store-process.js';

const C = metapb.ReadConsistency;
const b = (s: string): Buffer => Buffer.from(s);
const str = (v: Uint8Array | null | undefined): string => Buffer.from(v ?? new Uint8Array(0)).toString();
const IDS = [1, 2, 3];
const ARGS = ['--tick-ms', '20', '--election-ticks', '10', '--heartbeat-ticks', '2', '--fault-injection'];

describe('fault injection into three store processes', () => {
  let cluster: ProcessCluster;
  const client = new KvTestClient();
  const proc = (id: number): StoreProcess => cluster.procs.get(id)!;

  const put = async (c: KvTestClient, key: string, value: string): Promise<void> => {
    assert.equal((await c.routed('put', { header: header(), key: b(key), value: b(value) })).rangeError, null);
  };
  /** What store `id` has applied itself (STALE: no raft round trip); null when not found. */
  const localValue = async (id: number, key: string): Promise<string | null> => {
    const out = await client.call(id, 'get', { header: header(C.STALE), key: b(key) });
    assert.ok(out.ok, `STALE get on store ${id}`);
    return out.res.found ? str(out.res.value) : null;
  };
  /** Range 1's raft status on store `id` (/debug/ranges). */
  type RaftStatus = { rangeId: number; replicaId: number; isLeader: boolean; lead: number; term: number };
  const range1 = async (id: number): Promise<RaftStatus> => {
    const page = (await (await fetch(`http://127.0.0.1:${proc(id).httpPort}/debug/ranges`)).json()) as { ranges: RaftStatus[] };
    const r = page.ranges.find((x) => x.rangeId === 1);
    assert.ok(r, `store ${id} has range 1`);
    return r;
  };
  /** Raft messages store `id` lost to its sender-side faults so far (its /metrics). */
  const faultDrops = async (id: number): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${proc(id).httpPort}/metrics`)).text();
    return Number(/^rangekv_transport_dropped_messages_total\{reason="fault"\} (\d+)$/m.exec(text)?.[1] ?? 0);
  };

  before(async () => {
    cluster = await ProcessCluster.create({ ids: IDS, extraArgs: ARGS, onStart: (p) => client.setAddress(p.storeId, p.kvAddress) });
    for (const id of IDS) await cluster.startStore(id, true);
    await cluster.exchangePeers();
  });

  after(async () => {
    client.close();
    if (cluster) await cluster.close();
  });

  test('the leader store cut off both ways: another store leads, the cut one hears nothing; after heal it catches up', async () => {
    await put(client, 'before', '1');
    const old = client.leaderHint;
    const others = IDS.filter((id) => id !== old);
    await proc(old).faults({ dropTo: others });
    await proc(old).faults({ dropFrom: others });
    // A client of the two others only: one of them must lead for its write to succeed.
    const majority = new KvTestClient();
    try {
      for (const id of others) majority.setAddress(id, proc(id).kvAddress);
      await put(majority, 'during', '2');
      assert.ok(others.includes(majority.leaderHint), `store ${majority.leaderHint} leads`);
    } finally {
      majority.close();
    }
    for (const id of others) await eventually(`store ${id} applied "during"`, async () => (await localValue(id, 'during')) === '2');
    // The new leader's messages (sent to it since the election) were discarded by dropFrom:
    // it never saw the new term nor the new leader (pre-vote keeps its own term), nor the write.
    const fresh = await range1(majority.leaderHint);
    const cut = await range1(old);
    assert.ok(fresh.isLeader);
    assert.ok(cut.term < fresh.term, `cut-off store at term ${cut.term}, the new leader at ${fresh.term}`);
    assert.notEqual(cut.lead, fresh.replicaId);
    assert.equal(await localValue(old, 'during'), null, 'the cut-off store received nothing');
    assert.ok((await faultDrops(old)) > 0, 'its sends were lost to dropTo');

    await proc(old).faults({ heal: true });
    await eventually('the healed store caught up', async () => (await localValue(old, 'during')) === '2');
    await put(client, 'after-heal', '3');
  });

  test('a refused faults command answers ok:false with the reason, changes nothing, and the store keeps serving', async () => {
    const p = proc(IDS[0]!);
    const others = IDS.filter((id) => id !== p.storeId);
    await assert.rejects(p.faults({ syncDelayMs: 20_000 }), /refused faults .*syncDelayMs must be an integer in \[0, 10000\], got 20000/);
    await assert.rejects(p.faults({ dropTo: [p.storeId] }), /dropTo: store 1 is this store/);
    await assert.rejects(p.faults({ heal: false }), /heal must be true/);
    // One bad key refuses the whole command: the cut it also asked for is not made.
    const dropsBefore = await faultDrops(p.storeId);
    await assert.rejects(p.faults({ dropTo: others, syncDelayMs: -1 }), /syncDelayMs/);
    await put(client, 'after-refused', '4');
    await eventually(`store ${p.storeId} applied "after-refused"`, async () => (await localValue(p.storeId, 'after-refused')) === '4');
    assert.equal(await faultDrops(p.storeId), dropsBefore, 'nothing it sent was lost');
    // Lines that are not a command at all are logged and not answered; the next one is.
    p.proc.stdin!.write('not json\n{"faults":1,"peers":{}}\n');
    await p.faults({ heal: true });
    assert.ok(p.running);
  });

  test('syncDelayMs slows every store\'s log writer: writes succeed with it on and after it is off', async () => {
    for (const id of IDS) await proc(id).faults({ syncDelayMs: 100 });
    for (let i = 0; i < 3; i++) await put(client, `slow-${i}`, `${i}`);
    for (const id of IDS) await proc(id).faults({ syncDelayMs: 0 });
    await put(client, 'fast', 'x');
    const got = await client.routed('get', { header: header(), key: b('slow-2') });
    assert.equal(str(got.value), '2');
  });

  test('without --fault-injection faults commands are refused; the flag itself needs --admin-stdin', async () => {
    const plain = cluster.track(await StoreProcess.spawn({ storeId: 9, dataDir: join(cluster.root, 'plain'), bootstrap: [9] }));
    await assert.rejects(plain.faults({ heal: true }), /fault injection is off: start the store with --fault-injection/);
    plain.kill();

    const bad = cluster.track(StoreProcess.spawnRaw(['--store-id', '8', '--data-dir', join(cluster.root, 'bad'), '--fault-injection']));
    assert.equal((await bad.exited).code, 2);
    assert.match(bad.stderr(), /--fault-injection requires --admin-stdin/);
  });
});
