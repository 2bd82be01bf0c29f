// Three real store processes, many ranges: splits and leadership transfers through the
// store admin gRPC service while writers run, then kill -9 and restart of a store that
// holds every range. Checks that no acknowledged write is lost or served by the wrong
// range. Every process is killed in `after`, whatever happened.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { kvService, metapb, storeAdminService } from '@rangekv/proto';
import { RangeTestClient } from './testing/range-test-client.js';
import { eventually, ProcessCluster } from './testing/process-cluster.js';
import { StoreProcess } from './testing/store-process.js';

const b = (s: string): Buffer => Buffer.from(s);
const str = (v: Uint8Array | null | undefined): string => Buffer.from(v ?? new Uint8Array(0)).toString();
const IDS = [1, 2, 3];
const TIMING = ['--tick-ms', '20', '--election-ticks', '10', '--heartbeat-ticks', '2'];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Writer w owns keys key(w, 0..KEYS_PER_WRITER-1): one writer per key, so its last ack is the value. */
const WRITERS = 8;
const KEYS_PER_WRITER = 40;
const key = (w: number, i: number): string => `k${String(i * WRITERS + w).padStart(4, '0')}`;

describe('three store processes with many ranges', () => {
  let cluster: ProcessCluster;
  const client = new RangeTestClient();
  /** key -> last acknowledged value; keys with an unknown last outcome are removed. */
  const acked = new Map<string, string>();
  /** Writes completed (acknowledged or ambiguous). */
  let writes = 0;

  const startStore = (id: number, bootstrap: boolean): Promise<StoreProcess> => cluster.startStore(id, bootstrap);
  const exchangePeers = (): Promise<void> => cluster.exchangePeers();
  const procs = {
    get: (id: number): StoreProcess | undefined => cluster.procs.get(id),
    values: (): IterableIterator<StoreProcess> => cluster.procs.values(),
  };

  /** Splits the range holding `at` through its leader (following hints). Returns the right range's id. */
  async function split(at: string): Promise<number> {
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      await client.refresh();
      const r = client.route(b(at));
      if (r && r.leaderStore !== 0) {
        const out = await client.call(r.leaderStore, storeAdminService.splitRange, {
          header: { rangeId: r.desc.rangeId!, epoch: r.desc.epoch! }, splitKey: b(at),
        }, 10_000);
        if (out.ok && !out.res.rangeError) return out.res.right!.rangeId!;
        if (!out.ok && out.code !== grpc.status.UNAVAILABLE && !out.ambiguous) throw new Error(`split at ${at}: ${out.details}`);
      }
      await sleep(50);
    }
    throw new Error(`split at ${at} did not succeed`);
  }

  async function transfer(rangeKey: string): Promise<void> {
    await client.refresh();
    const r = client.route(b(rangeKey));
    if (!r || r.leaderStore === 0) return;
    const to = IDS.find((id) => id !== r.leaderStore && procs.get(id)?.running)!;
    const out = await client.call(r.leaderStore, storeAdminService.transferLeader, { header: { rangeId: r.desc.rangeId!, epoch: r.desc.epoch! }, toStore: to });
    assert.ok(out.ok, out.ok ? '' : out.details);
  }

  async function write(w: number, i: number, value: string): Promise<void> {
    const k = key(w, i);
    const { ambiguous } = await client.put(b(k), b(value), 60_000);
    if (ambiguous) acked.delete(k);
    else acked.set(k, value);
    writes++;
  }

  /** Waits until the writers completed `n` more writes. */
  async function moreWrites(n: number): Promise<void> {
    const mark = writes + n;
    await eventually(`${n} more writes`, async () => writes >= mark);
  }

  before(async () => {
    cluster = await ProcessCluster.create({ ids: IDS, extraArgs: TIMING, onStart: (p) => client.setAddress(p.storeId, p.kvAddress) });
    for (const id of IDS) await startStore(id, true);
    await exchangePeers();
  });

  after(async () => {
    client.close();
    if (cluster) await cluster.close();
  });

  test('split under load and leadership transfer under load: no acknowledged write lost or misrouted', async () => {
    let stop = false;
    let failure: unknown = null;
    const writers = Array.from({ length: WRITERS }, async (_, w) => {
      try {
        for (let n = 0; !stop; n++) await write(w, n % KEYS_PER_WRITER, `${w}-${n}`);
      } catch (e) {
        failure = e;
      }
    });
    try {
      await moreWrites(WRITERS);
      // Split the keyspace into 16 ranges, moving each new right range's leadership away.
      for (let s = 1; s < 16; s++) {
        const at = key(0, Math.floor((s * KEYS_PER_WRITER) / 16));
        await split(at);
        await transfer(at);
        if (failure !== null) break;
      }
      // Transfers of the first range's leadership back and forth while writes continue.
      for (let t = 0; t < 4 && failure === null; t++) {
        await transfer(key(0, 0));
        await moreWrites(WRITERS);
      }
    } finally {
      stop = true;
      await Promise.all(writers);
    }
    if (failure !== null) throw failure;
    await client.refresh();
    assert.equal(client.rangeCount(), 16);
    assert.ok(acked.size > KEYS_PER_WRITER, `writers made progress (${acked.size} keys checked)`);
    for (const [k, v] of acked) assert.equal(str(await client.get(b(k))), v, `key ${k}`);
    // Every store holds every range with the same descriptor.
    for (const id of IDS) {
      const out = await client.call(id, storeAdminService.listRanges, {});
      assert.ok(out.ok);
      assert.equal(out.res.ranges!.length, 16, `store ${id} has 16 ranges`);
    }
  });

  test('kill -9 of a store holding leaders of many ranges, writes resume; it restarts with every range and catches up', async () => {
    await client.refresh();
    const victim = client.route(b(key(0, 0)))!.leaderStore;
    assert.notEqual(victim, 0);
    procs.get(victim)!.kill('SIGKILL');
    await procs.get(victim)!.exited;
    for (let i = 0; i < KEYS_PER_WRITER; i += 4) await write(1, i, `after-kill-${i}`);
    const p = await startStore(victim, false);
    await exchangePeers();
    const listed = await client.call(victim, storeAdminService.listRanges, {});
    assert.ok(listed.ok);
    assert.equal(listed.res.ranges!.length, 16, 'the restarted store recreated every range from its data dir');
    // Its own applied state (STALE: no raft round trip) reaches every acknowledged write.
    for (const [k, v] of acked) {
      await eventually(`store ${victim} applied ${k}`, async () => {
        const r = client.route(b(k))!;
        const out = await client.call(victim, kvService.get, { header: { rangeId: r.desc.rangeId!, epoch: r.desc.epoch!, readConsistency: metapb.ReadConsistency.STALE }, key: b(k) });
        return out.ok && !out.res.rangeError && str(out.res.value) === v;
      });
    }
    assert.ok(p.running);
  });
});
