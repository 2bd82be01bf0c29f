// Three real store processes (dist/store-main.js) on 127.0.0.1 with temp data dirs,
// driven through the gRPC KV service: writes and reads, bad requests, kill -9 of the
// leader store, restart and catch-up, graceful SIGTERM. Every process is killed in
// `after`, whatever happened.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { kvpb, metapb } from '@rangekv/proto';
import { mallocTrimAddon, STORE_GLIBC_TUNABLES, storeNodeFlags } from '@rangekv/runtime';
import { header, KvTestClient } from './testing/kv-test-client.js';
import { eventually, ProcessCluster } from './testing/process-cluster.js';
import { StoreProcess } from './testing/store-process.js';

const C = metapb.ReadConsistency;
const b = (s: string): Buffer => Buffer.from(s);
const str = (v: Uint8Array | null | undefined): string => Buffer.from(v ?? new Uint8Array(0)).toString();
const IDS = [1, 2, 3];
const TIMING = ['--tick-ms', '20', '--election-ticks', '10', '--heartbeat-ticks', '2', '--malloc-trim-interval-ms', '200'];
const trimAddon = mallocTrimAddon();

describe('a cluster of three store processes', () => {
  let cluster: ProcessCluster;
  const client = new KvTestClient();

  const startStore = (id: number, bootstrap: boolean): Promise<StoreProcess> => cluster.startStore(id, bootstrap);
  const exchangePeers = (): Promise<void> => cluster.exchangePeers();
  const procs = {
    get: (id: number): StoreProcess | undefined => cluster.procs.get(id),
    values: (): IterableIterator<StoreProcess> => cluster.procs.values(),
  };

  before(async () => {
    cluster = await ProcessCluster.create({ ids: IDS, extraArgs: TIMING, onStart: (p) => client.setAddress(p.storeId, p.kvAddress) });
    // Started one after another, each told the others' addresses only afterwards: the
    // transport must cope with peers that are not there yet.
    for (const id of IDS) await startStore(id, true);
    await exchangePeers();
  });

  after(async () => {
    client.close();
    if (cluster) await cluster.close();
  });

  test('puts, batch puts, gets, scans and CAS through the gRPC KV service', async () => {
    for (let i = 0; i < 20; i++) {
      const r = await client.routed('put', { header: header(), key: b(`k${String(i).padStart(2, '0')}`), value: b(`v${i}`) });
      assert.equal(r.rangeError, null);
    }
    await client.routed('batchPut', { header: header(), pairs: [{ key: b('b1'), value: b('x') }, { key: b('b2'), value: b('y') }] });
    const got = await client.routed('get', { header: header(), key: b('k07') });
    assert.equal(got.found, true);
    assert.equal(str(got.value), 'v7');
    const lease = await client.routed('get', { header: header(C.LEASE), key: b('b2') });
    assert.equal(str(lease.value), 'y');
    const scan = await client.routed('scan', { header: header(), startKey: b('k'), endKey: b('l'), limit: 5, reverse: true });
    assert.deepEqual((scan.pairs ?? []).map((kv) => str(kv.key)), ['k19', 'k18', 'k17', 'k16', 'k15']);
    assert.equal(scan.more, true);
    const cas = await client.routed('compareAndSwap', { header: header(), key: b('k00'), expectExists: true, expectedValue: b('v0'), newValue: b('v0b') });
    assert.equal(cas.succeeded, true);
    // A follower answers linearizable reads with NotLeader naming the leader's store.
    const follower = IDS.find((id) => id !== client.leaderHint)!;
    const nl = await client.call(follower, 'get', { header: header(), key: b('k00') });
    assert.ok(nl.ok);
    assert.equal(nl.res.rangeError?.notLeader?.leader?.storeId, client.leaderHint);
    // ...and serves follower reads itself.
    const fr = await client.call(follower, 'get', { header: header(C.FOLLOWER), key: b('k00') });
    assert.ok(fr.ok);
    assert.equal(str(fr.res.value), 'v0b');
  });

  test('each process serves /health and /metrics on the httpPort of its ready line, and logs pino JSON on stderr', async () => {
    for (const p of procs.values()) {
      assert.ok(p.httpPort !== null && p.httpPort > 0, 'ready line carries httpPort');
      const health = await fetch(`http://127.0.0.1:${p.httpPort}/health`);
      assert.equal(health.status, 200);
      assert.deepEqual(((await health.json()) as { storeId: number; status: string }).status, 'serving');
      const metrics = await (await fetch(`http://127.0.0.1:${p.httpPort}/metrics`)).text();
      assert.match(metrics, /^rangekv_ranges 1$/m);
      assert.match(metrics, /^rangekv_process_resident_memory_bytes \d+/m, 'process metrics in store-main');
      // Launched as `rangekv store` launches one, and giving freed memory back (where built).
      const cmdline = readFileSync(`/proc/${p.proc.pid}/cmdline`, 'utf8').split('\0');
      for (const f of storeNodeFlags()) assert.ok(cmdline.includes(f), `${f} in ${cmdline.join(' ')}`);
      // (glibc cuts the variable in /proc/PID/environ at its first ':' as it parses it.)
      const tunables = (process.env.GLIBC_TUNABLES ?? STORE_GLIBC_TUNABLES).split(':')[0]!;
      assert.ok(readFileSync(`/proc/${p.proc.pid}/environ`, 'utf8').split('\0').includes(`GLIBC_TUNABLES=${tunables}`), 'GLIBC_TUNABLES');
      if (trimAddon.addon !== null) {
        await eventually('a trim within a few intervals', async () => /^rangekv_malloc_trim_duration_seconds_count\{released="(true|false)"\} [1-9]/m.test(
          await (await fetch(`http://127.0.0.1:${p.httpPort}/metrics`)).text()));
      }
      const lines = p.stderrHead.map((l) => JSON.parse(l) as { level: string; msg: string; storeId: number });
      const serving = lines.find((l) => l.msg === 'store serving');
      if (trimAddon.addon === null) assert.ok(lines.some((l) => /malloc_trim unavailable/.test(l.msg)), 'says it cannot trim');
      assert.ok(serving, 'the "store serving" line');
      assert.equal(serving.storeId, p.storeId);
      assert.equal(serving.level, 'info');
    }
  });

  test('bad requests get INVALID_ARGUMENT or a typed range error, and the stores keep serving', async () => {
    const leader = client.leaderHint;
    assert.notEqual(leader, 0);
    const invalid = async (method: 'put' | 'get', req: kvpb.PutRequest.$Properties, reason: RegExp): Promise<void> => {
      const out = await client.call(leader, method, req);
      assert.ok(!out.ok, `${method} should fail`);
      assert.equal(out.code, grpc.status.INVALID_ARGUMENT);
      assert.match(out.details, reason);
    };
    await invalid('put', { header: header(), key: b(''), value: b('v') }, /key is empty/);
    await invalid('put', { header: header(), key: b('big'), value: Buffer.alloc((1 << 20) + 1) }, /maxValueBytes/);
    await invalid('get', { key: b('k') }, /header is required/);
    const garbage = await client.callBytes(leader, 'put', Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]));
    assert.ok(!garbage.ok);
    assert.equal(garbage.code, grpc.status.INVALID_ARGUMENT);
    assert.match(garbage.details, /malformed request/);

    const stale = await client.call(leader, 'put', { header: header(C.LINEARIZABLE, 1, 5), key: b('k'), value: b('v') });
    assert.ok(stale.ok);
    assert.equal(stale.res.rangeError?.epochNotMatch?.current?.[0]?.epoch?.version, 1);
    // A range the store does not have: the range here that holds the key, so the client re-routes without PD...
    const unknown = await client.call(leader, 'get', { header: header(C.LINEARIZABLE, 42), key: b('k') });
    assert.ok(unknown.ok);
    assert.equal(unknown.res.rangeError?.epochNotMatch?.current?.[0]?.rangeId, 1);
    // ... and RangeNotFound when the request names no key (a scan).
    const unknownScan = await client.call(leader, 'scan', { header: header(C.LINEARIZABLE, 42), startKey: b('k') });
    assert.ok(unknownScan.ok);
    assert.equal(unknownScan.res.rangeError?.rangeNotFound?.rangeId, 42);

    const still = await client.routed('put', { header: header(), key: b('after-bad'), value: b('ok') });
    assert.equal(still.rangeError, null);
    assert.equal(str((await client.routed('get', { header: header(), key: b('after-bad') })).value), 'ok');
    for (const p of procs.values()) assert.ok(p.running, `store ${p.storeId} still running`);
  });

  let killed = 0;

  test('kill -9 of the leader store: writes resume on the two others', async () => {
    await client.routed('put', { header: header(), key: b('before-kill'), value: b('1') });
    killed = client.leaderHint;
    assert.notEqual(killed, 0);
    const p = procs.get(killed)!;
    p.kill('SIGKILL');
    const exit = await p.exited;
    assert.equal(exit.signal, 'SIGKILL');
    for (let i = 0; i < 10; i++) {
      const r = await client.routed('put', { header: header(), key: b(`after-kill-${i}`), value: b(`${i}`) }, 30_000);
      assert.equal(r.rangeError, null);
    }
    assert.notEqual(client.leaderHint, killed);
    const got = await client.routed('get', { header: header(), key: b('before-kill') });
    assert.equal(str(got.value), '1', 'a write acknowledged before the kill survives it');
  });

  test('the killed store restarts from its data dir and catches up', async () => {
    assert.notEqual(killed, 0, 'needs the kill test');
    const p = await startStore(killed, false);
    await exchangePeers();
    // Its own applied state (STALE: no raft round trip) must reach the writes it missed.
    await eventually('the restarted store applied the writes it missed', async () => {
      const out = await client.call(killed, 'get', { header: header(C.STALE), key: b('after-kill-9') });
      return out.ok && str(out.res.value) === '9';
    });
    // A linearizable (follower) read through it sees a write made just now elsewhere.
    await client.routed('put', { header: header(), key: b('fresh'), value: b('now') });
    await eventually('a follower read through the restarted store', async () => {
      const out = await client.call(killed, 'get', { header: header(C.FOLLOWER), key: b('fresh') });
      if (!out.ok || out.res.rangeError?.notLeader) return false; // it may not know the leader yet
      assert.equal(str(out.res.value), 'now');
      return true;
    });
    assert.ok(p.running);
  });

  test('bootstrap refuses a non-empty data dir and bad flags exit non-zero with a reason', async () => {
    const again = StoreProcess.spawnRaw(StoreProcess.args({ storeId: 1, dataDir: cluster.dir(1), bootstrap: IDS }), 1);
    cluster.track(again);
    const exit = await again.exited;
    assert.equal(exit.code, 1);
    assert.match(again.stderr(), /refusing to bootstrap: data dir .* is not empty/);

    const bad = StoreProcess.spawnRaw(['--store-id', 'x', '--data-dir', join(cluster.root, 'unused')]);
    cluster.track(bad);
    assert.equal((await bad.exited).code, 2);
    assert.match(bad.stderr(), /--store-id needs an integer/);
  });

  test('SIGTERM stops a store gracefully (exit 0, "stopped" event)', async () => {
    const id = IDS.find((x) => x !== client.leaderHint)!;
    const p = procs.get(id)!;
    const exit = await p.stop('SIGTERM');
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.ok(p.events.some((e) => e.event === 'stopped'));
  });
});
