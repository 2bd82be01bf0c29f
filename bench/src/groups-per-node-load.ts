// groups-per-node: the load generator (closed-loop Puts, 256 in flight over random keys),
// the leadership-transfer probe, lease vs ReadIndex reads, and the restart probe.
import { randomFillSync } from 'node:crypto';
import { metapb, storeAdminService } from '@rangekv/proto';
import { BenchClient, headerOf, sleep, type RangeEntry } from './groups-per-node-client.js';
import { KEY_BYTES } from './groups-per-node-ranges.js';
import { scrapeMetrics, type BenchCluster } from './groups-per-node-cluster.js';

export const VALUE_BYTES = 256;
/** A KV operation of the load gives up (counted as failed) after this long. */
const opDeadlineMs = 10_000;

export interface LatencySummary {
  ops: number;
  opsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export function summarize(samples: number[], seconds: number): LatencySummary {
  const s = Float64Array.from(samples).sort();
  return { ops: s.length, opsPerSecond: s.length / seconds, p50Ms: quantile(s, 0.5), p99Ms: quantile(s, 0.99), maxMs: s.length ? s[s.length - 1]! : NaN };
}

/** A key inside the range (its start key, or 16 zero bytes for the first range, plus a tag byte). */
export function keyIn(r: RangeEntry, tag: number): Buffer {
  const k = Buffer.alloc(KEY_BYTES);
  r.start.copy(k, 0, 0, Math.min(r.start.length, KEY_BYTES - 1));
  k[KEY_BYTES - 1] = tag;
  return k;
}

export interface WriteLoadReport extends LatencySummary {
  inflight: number;
  seconds: number;
  failed: number;
  /** The generator's own CPU (this process, all threads) over the measured window, % of one core. */
  generatorCpuPercent: number;
}

/** Closed-loop Puts of random 16-byte keys and 256-byte values, `inflight` at a time. */
export async function writeLoad(client: BenchClient, inflight: number, warmupSeconds: number, seconds: number): Promise<WriteLoadReport> {
  const value = Buffer.alloc(VALUE_BYTES, 0x61);
  const samples: number[] = [];
  let failed = 0;
  let stop = false;
  let measuring = false;
  const workers = Array.from({ length: inflight }, async () => {
    while (!stop) {
      const key = randomFillSync(Buffer.alloc(KEY_BYTES));
      const t = performance.now();
      const ok = await client.put(key, value, { deadlineMs: opDeadlineMs });
      if (!measuring) continue;
      if (ok === 0) failed++;
      else samples.push(performance.now() - t);
    }
  });
  await sleep(warmupSeconds * 1000);
  measuring = true;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await sleep(seconds * 1000);
  measuring = false;
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  stop = true;
  await Promise.all(workers);
  return {
    ...summarize(samples, wall), inflight, seconds: wall, failed,
    generatorCpuPercent: ((cpu.user + cpu.system) / 1e6 / wall) * 100,
  };
}

export interface TransferReport {
  transfers: number;
  timedOut: number;
  rangeId: number;
  /** TransferLeader sent -> first successful probe write answered by the new leader. */
  toFirstWriteP50Ms: number;
  toFirstWriteP99Ms: number;
  /** Longest gap between successive successful probe writes around each transfer. */
  maxGapP50Ms: number;
  maxGapP99Ms: number;
  maxGapMaxMs: number;
  /** Each transfer's longest gap, in the order they ran (ms, 0.1 ms steps). */
  maxGapsMs: number[];
  /** Gap between successive probe writes with no transfer (one write's latency). */
  baselineGapP50Ms: number;
  baselineGapP99Ms: number;
  probeWrites: number;
  probeFailed: number;
}

/**
 * One probe loop writes a small value to one range back to back (each Put waits for
 * fsync on a quorum); TransferLeader moves its leadership round the stores `count` times.
 */
export async function transferUnavailability(client: BenchClient, count: number, pauseMs: number): Promise<TransferReport> {
  await client.refresh();
  const r = client.ranges[client.ranges.length >> 1]!;
  const key = keyIn(r, 0x7f);
  const value = Buffer.from('probe');
  const ok: { t: number; store: number }[] = [];
  let probeFailed = 0;
  let stop = false;
  const probe = (async () => {
    while (!stop) {
      const store = await client.put(key, value, { deadlineMs: opDeadlineMs, retryPauseMs: 1 });
      if (store === 0) probeFailed++;
      else ok.push({ t: performance.now(), store });
    }
  })();
  await sleep(1000);
  const baselineEnd = ok.length;
  const toFirst: number[] = [];
  const gaps: number[] = [];
  let timedOut = 0;
  const ids = client.storeIds;
  for (let i = 0; i < count; i++) {
    const cur = client.route(key);
    const leader = cur?.leaderStore ?? 0;
    if (!cur || leader === 0) {
      await sleep(pauseMs);
      continue;
    }
    const to = ids[(ids.indexOf(leader) + 1) % ids.length]!;
    const from = ok.length;
    const t0 = performance.now();
    const out = await client.call(leader, storeAdminService.transferLeader, { header: headerOf(cur.desc), toStore: to }, 5_000);
    if (!out.ok || out.res.rangeError) {
      await sleep(pauseMs);
      continue;
    }
    const deadline = t0 + 5_000;
    let at = -1;
    for (let j = from; at < 0; ) {
      for (; j < ok.length; j++) if (ok[j]!.store === to) {
        at = j;
        break;
      }
      if (at >= 0) break;
      if (performance.now() > deadline) break;
      await sleep(1);
    }
    if (at < 0) {
      timedOut++;
      await sleep(pauseMs);
      continue;
    }
    toFirst.push(ok[at]!.t - t0);
    // The gap spanning the transfer: from the last success before it to the first at the new leader.
    let gap = 0;
    for (let j = Math.max(1, from); j <= at; j++) gap = Math.max(gap, ok[j]!.t - ok[j - 1]!.t);
    if (from === at) gap = Math.max(gap, ok[at]!.t - t0);
    gaps.push(gap);
    await sleep(pauseMs);
  }
  stop = true;
  await probe;
  const base: number[] = [];
  for (let j = 1; j < baselineEnd; j++) base.push(ok[j]!.t - ok[j - 1]!.t);
  const tf = summarize(toFirst, 1);
  const g = summarize(gaps, 1);
  const b = summarize(base, 1);
  return {
    transfers: toFirst.length, timedOut, rangeId: Number(r.desc.rangeId),
    toFirstWriteP50Ms: tf.p50Ms, toFirstWriteP99Ms: tf.p99Ms,
    maxGapP50Ms: g.p50Ms, maxGapP99Ms: g.p99Ms, maxGapMaxMs: g.maxMs, maxGapsMs: gaps.map((x) => Math.round(x * 10) / 10),
    baselineGapP50Ms: b.p50Ms, baselineGapP99Ms: b.p99Ms,
    probeWrites: ok.length, probeFailed,
  };
}

export interface ReadReport extends LatencySummary {
  consistency: 'LEASE' | 'LINEARIZABLE';
  inflight: number;
  /** How many keys (each in its own range) the reads cycle over. */
  keys: number;
  failed: number;
  /** Reads the stores served from the lease / through a quorum ReadIndex (rangekv_read_index_latency_seconds{mode}). */
  servedByLease: number;
  servedByQuorum: number;
}

/** Gets of `keys` (written first) with one consistency, `inflight` at a time, for `seconds`. */
export async function readLatency(client: BenchClient, keys: Buffer[], consistency: 'LEASE' | 'LINEARIZABLE', inflight: number, seconds: number): Promise<ReadReport> {
  const c = consistency === 'LEASE' ? metapb.ReadConsistency.LEASE : metapb.ReadConsistency.LINEARIZABLE;
  const samples: number[] = [];
  let failed = 0;
  let stop = false;
  let n = 0;
  const t0 = performance.now();
  const workers = Array.from({ length: inflight }, async () => {
    while (!stop) {
      const key = keys[n++ % keys.length]!;
      const t = performance.now();
      const ok = await client.get(key, c, { deadlineMs: opDeadlineMs });
      if (ok === 0) failed++;
      else samples.push(performance.now() - t);
    }
  });
  await sleep(seconds * 1000);
  stop = true;
  await Promise.all(workers);
  return { ...summarize(samples, (performance.now() - t0) / 1000), consistency, inflight, keys: keys.length, failed, servedByLease: 0, servedByQuorum: 0 };
}

export interface RestartReport {
  storeId: number;
  ranges: number;
  /** Spawn of the restarted process -> its ready line. */
  readyMs: number;
  /** Spawn -> every sampled range answered a STALE Get on the restarted store. */
  servingMs: number;
  /** Spawn -> the first / the median sampled range answered. */
  firstServedMs: number;
  medianServedMs: number;
  sampled: number;
  failed: number;
  /** The client's retries while the sample was read (NotLeader, RangeNotFound, UNAVAILABLE, ...). */
  clientStats: Record<string, number>;
  /** The restarted store's ranges not quiescent at its ready line (restored awake, or woken since), and when every sample was served. */
  awakeAtReady: number;
  awakeAtServed: number;
  /** Raft messages the restarted store received / sent between its ready line and the last sampled read. */
  messagesReceived: number;
  messagesSent: number;
}

/** kill -9 of `storeId`, restart, then STALE Gets of `sample` ranges on it (64 in flight). */
export async function restartProbe(cluster: BenchCluster, client: BenchClient, storeId: number, sample: RangeEntry[], readyTimeoutMs: number): Promise<RestartReport> {
  const { readyMs, spawnedAt } = await cluster.killAndRestart(storeId, readyTimeoutMs);
  client.setAddress(storeId, cluster.kvAddress(storeId));
  const m0 = await scrapeMetrics(cluster.httpPort(storeId));
  let failed = 0;
  let next = 0;
  const served: number[] = [];
  const before = { ...client.stats };
  const workers = Array.from({ length: Math.min(64, sample.length) }, async () => {
    while (next < sample.length) {
      const r = sample[next++]!;
      const ok = await client.get(keyIn(r, 0), metapb.ReadConsistency.STALE, { target: storeId, deadlineMs: 60_000 });
      if (ok === 0) failed++;
      else served.push(performance.now() - spawnedAt);
    }
  });
  await Promise.all(workers);
  const servingMs = performance.now() - spawnedAt;
  const m1 = await scrapeMetrics(cluster.httpPort(storeId));
  const awake = (m: Map<string, number>): number => (m.get('rangekv_ranges') ?? 0) - (m.get('rangekv_quiescent_ranges') ?? 0);
  const delta = (name: string): number => (m1.get(name) ?? 0) - (m0.get(name) ?? 0);
  const s = summarize(served, 1);
  const clientStats = Object.fromEntries(Object.entries(client.stats).map(([k, v]) => [k, v - (before as unknown as Record<string, number>)[k]!]));
  return {
    storeId, ranges: client.ranges.length, readyMs, servingMs,
    firstServedMs: served.length ? Math.min(...served) : NaN, medianServedMs: s.p50Ms, sampled: sample.length, failed, clientStats,
    awakeAtReady: awake(m0), awakeAtServed: awake(m1),
    messagesReceived: delta('rangekv_transport_messages_received_total'), messagesSent: delta('rangekv_transport_messages_sent_total'),
  };
}
