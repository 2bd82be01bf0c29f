// Store metrics and the HTTP status server on real StoreServers (StoreCluster: three
// stores in this process, three ranges): names, values that move with traffic, health
// through start / stop / fatal, /debug/ranges paging. Plus the replica aggregates alone.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { metapb } from '@rangekv/proto';
import { header, KvTestClient } from './testing/kv-test-client.js';
import { StoreCluster } from './testing/store-cluster.js';
import { aggregateReplicas, METRIC_PREFIX, StoreMetrics, type ReplicaView } from './store-metrics.js';
import type { StoreServer } from './store-server.js';

const b = (s: string): Buffer => Buffer.from(s);

/** Parses the Prometheus text format: sample line "name{labels} value" -> value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

async function scrape(s: StoreServer): Promise<{ text: string; values: Map<string, number> }> {
  const res = await fetch(`http://127.0.0.1:${s.httpPort}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
  const text = await res.text();
  return { text, values: samples(text) };
}

/** The minimum set of metrics (store README), by name (histograms: their _count series). */
const REQUIRED = [
  'rangekv_leader_changes_total', 'rangekv_wal_fsync_duration_seconds_count', 'rangekv_commit_latency_seconds_count',
  'rangekv_follower_lag_max_entries', 'rangekv_follower_lag_sum_entries', 'rangekv_raft_term_max', 'rangekv_ranges',
  'rangekv_leader_ranges', 'rangekv_quiescent_ranges', 'rangekv_heartbeat_packets_sent_total', 'rangekv_heartbeats_sent_total',
  'rangekv_heartbeats_per_packet_sent', 'rangekv_apply_duration_seconds_count', 'rangekv_snapshots_sent_total',
  'rangekv_snapshots_received_total', 'rangekv_splits_total',
];

describe('store metrics and status HTTP on a 3-store cluster', () => {
  let c: StoreCluster;
  const client = new KvTestClient();

  before(async () => {
    c = await StoreCluster.start({ ranges: 3 });
    for (const s of c.servers.values()) client.setAddress(s.storeId, `127.0.0.1:${s.kvPort}`);
    for (const r of [1, 2, 3]) await c.waitForLeader(r);
  });

  after(async () => {
    client.close();
    await c.close();
  });

  test('every metric is prefixed rangekv_ and the listed ones are exported', async () => {
    const { text, values } = await scrape(c.server(1));
    for (const name of REQUIRED) assert.ok(values.has(name), `${name} missing`);
    for (const line of text.split('\n')) {
      const m = /^# TYPE (\S+) /.exec(line);
      if (m) assert.ok(m[1]!.startsWith(METRIC_PREFIX), `${m[1]} is not prefixed`);
    }
    assert.equal(values.get('rangekv_ranges'), 3);
  });

  test('writes through gRPC move commit, apply, fsync and the Put latency series', async () => {
    for (let i = 0; i < 5; i++) await client.routed('put', { header: header(), key: b(`m${i}`), value: b('v') });
    const leader = c.leader(1)!;
    await client.routed('get', { header: header(), key: b('m0') });
    await client.routed('get', { header: header(metapb.ReadConsistency.LEASE), key: b('m0') });
    const { values } = await scrape(leader);
    assert.ok(values.get('rangekv_commit_latency_seconds_count')! >= 5, 'a commit per write on the leader');
    assert.ok(values.get('rangekv_apply_duration_seconds_count')! > 0);
    assert.ok(values.get('rangekv_wal_fsync_duration_seconds_count')! > 0);
    // Lone writes take the direct path unless a slow fsync paused it (maxDirectSyncMicros): >= 0 either way.
    assert.ok(values.get('rangekv_wal_direct_writes_total')! >= 0);
    assert.ok(values.get('rangekv_wal_direct_pauses_total')! >= 0);
    assert.ok(values.get('rangekv_grpc_request_duration_seconds_count{method="Put",code="OK"}')! >= 5);
    assert.ok(values.get('rangekv_grpc_request_duration_seconds_count{method="Get",code="OK"}')! >= 1);
    assert.ok((values.get('rangekv_read_index_latency_seconds_count{mode="quorum"}') ?? 0) >= 1, 'linearizable get went through ReadIndex');
    assert.ok(values.get('rangekv_leader_changes_total')! >= 1, 'each replica learned its leader');
    assert.ok(values.get('rangekv_raft_term_max')! >= 1);
    assert.ok(values.get('rangekv_leader_ranges')! >= 1);
  });

  test('an invalid request is counted under its status code', async () => {
    const out = await client.call(1, 'put', { header: header(), key: b(''), value: b('v') });
    assert.equal(out.ok, false);
    const { values } = await scrape(c.server(1));
    assert.ok(values.get('rangekv_grpc_request_duration_seconds_count{method="Put",code="INVALID_ARGUMENT"}')! >= 1);
  });

  test('coalesced heartbeats are counted: packets and heartbeats per packet', async () => {
    const s = c.server(1);
    let values = (await scrape(s)).values;
    const deadline = Date.now() + 10_000;
    while ((values.get('rangekv_heartbeat_packets_sent_total') ?? 0) === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      values = (await scrape(s)).values;
    }
    assert.ok(values.get('rangekv_heartbeat_packets_sent_total')! > 0);
    assert.ok(values.get('rangekv_heartbeats_per_packet_sent')! >= 1);
  });

  test('splits.inc() is the split hook', async () => {
    const s = c.server(2);
    s.metrics.splits.inc();
    assert.equal((await scrape(s)).values.get('rangekv_splits_total'), 1);
  });

  test('/health answers 200 with ranges and leaders while serving', async () => {
    let leaders = 0;
    for (const s of c.servers.values()) {
      const res = await fetch(`http://127.0.0.1:${s.httpPort}/health`);
      assert.equal(res.status, 200);
      const h = (await res.json()) as { storeId: number; status: string; ranges: number; leaders: number };
      assert.equal(h.storeId, s.storeId);
      assert.equal(h.status, 'serving');
      assert.equal(h.ranges, 3);
      leaders += h.leaders;
    }
    assert.ok(leaders >= 3, 'every range has a leader somewhere');
  });

  test('/debug/ranges lists the ranges in pages of ?limit', async () => {
    const base = `http://127.0.0.1:${c.server(3).httpPort}/debug/ranges`;
    const p1 = (await (await fetch(`${base}?limit=2`)).json()) as { storeId: number; ranges: { rangeId: number; replicaId: number; term: number; descriptor: { startKey: string } }[]; next: number | null };
    assert.equal(p1.storeId, 3);
    assert.deepEqual(p1.ranges.map((r) => r.rangeId), [1, 2]);
    assert.equal(p1.ranges[0]!.replicaId, 3);
    assert.ok(p1.ranges[0]!.term >= 1);
    assert.equal(typeof p1.ranges[1]!.descriptor.startKey, 'string', 'keys as hex');
    assert.equal(p1.next, 2);
    const p2 = (await (await fetch(`${base}?limit=2&after=2`)).json()) as { ranges: { rangeId: number }[]; next: number | null };
    assert.deepEqual(p2.ranges.map((r) => r.rangeId), [3]);
    assert.equal(p2.next, null);
    assert.equal((await fetch(`${base}?limit=100000`)).status, 400, 'above maxDebugRangesPerPage');
    assert.equal((await fetch(`http://127.0.0.1:${c.server(3).httpPort}/nope`)).status, 404);
  });

  test('health says stopping once stop() began, and the HTTP port closes when it ends', async () => {
    const s = c.server(3);
    const url = `http://127.0.0.1:${s.httpPort}/health`;
    const stopped = c.stopStore(3);
    assert.deepEqual(s.health(), { storeId: 3, status: 'stopping', reason: 'store is stopping' });
    await stopped;
    await assert.rejects(fetch(url));
  });

  test('a fatal error turns health to failed (503) with the reason', async () => {
    const s = c.server(2);
    s.host.onFatal(new Error('disk on fire'));
    const h = s.health();
    assert.equal(h.status, 'failed');
    assert.match(h.status === 'failed' ? h.reason : '', /disk on fire/);
    await s.stop();
    c.servers.delete(2);
  });
});

describe('replica aggregates (one pass per scrape)', () => {
  const replica = (o: { leader: boolean; term: number; last: number; matches?: number[]; quiescent?: boolean; pending?: number }): ReplicaView => ({
    isLeader: o.leader,
    ...(o.quiescent !== undefined ? { quiescent: o.quiescent } : {}),
    pendingProposals: o.pending ?? 0,
    node: {
      status: () => ({
        term: o.term, lastIndex: o.last,
        progress: o.matches ? new Map(o.matches.map((m, i) => [i + 1, { match: m }])) : null,
      }),
    },
  });

  test('ranges, leaders, quiescent, max term, follower lag (max and sum) from the leaders only', () => {
    const a = aggregateReplicas([
      replica({ leader: true, term: 4, last: 100, matches: [100, 90, 97], pending: 2 }),
      replica({ leader: true, term: 6, last: 50, matches: [50, 49, 20] }),
      replica({ leader: false, term: 9, last: 10, quiescent: true }),
      replica({ leader: false, term: 2, last: 1, quiescent: false, pending: 1 }),
    ]);
    assert.deepEqual(a, {
      ranges: 4, leaders: 2, quiescent: 1, termMax: 9,
      followerLagMaxEntries: 30, followerLagSumEntries: 10 + 3 + 1 + 30, pendingProposals: 3,
    });
  });

  test('two StoreMetrics in one process keep separate registries', async () => {
    const src = {
      replicas: () => [replica({ leader: false, term: 1, last: 1 })],
      transport: () => null,
      snapshots: () => ({ sent: 2, received: 5 }),
      scheduler: () => ({ cycles: 0, persistBatches: 0 }),
      reads: () => ({ served: 0, failed: 0, timedOut: 0 }),
      failedReplicas: () => 0,
      uninitialized: () => ({ live: 0, dormant: 0 }),
    };
    const m1 = new StoreMetrics(src);
    const m2 = new StoreMetrics(src);
    m1.splits.inc(3);
    const v1 = samples(await m1.text());
    const v2 = samples(await m2.text());
    assert.equal(v1.get('rangekv_splits_total'), 3);
    assert.equal(v2.get('rangekv_splits_total'), 0);
    assert.equal(v1.get('rangekv_snapshots_sent_total'), 2);
    assert.equal(v1.get('rangekv_snapshots_received_total'), 5);
    // Pulled totals are set, not added, at every scrape.
    assert.equal(samples(await m1.text()).get('rangekv_snapshots_received_total'), 5);
  });
});
