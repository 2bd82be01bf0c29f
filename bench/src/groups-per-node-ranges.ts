// groups-per-node: N ranges made by splitting range 1 through the store admin service
// (binary subdivision: every split cuts a range in two halves of split keys, so up to
// `inflight` splits run at once, each on a distinct range), then leadership spread over
// the three stores by TransferLeader.
import * as grpc from '@grpc/grpc-js';
import { metapb, storeAdminService } from '@rangekv/proto';
import { BenchClient, headerOf, sleep, type RangeEntry } from './groups-per-node-client.js';

type Desc = metapb.RangeDescriptor.$Properties;

/** Key bytes (split keys and load keys). */
export const KEY_BYTES = 16;
/** One split call's gRPC deadline. */
const splitCallTimeoutMs = 10_000;
/** One split gives up (left to the fix-up pass) after this long. */
const splitTaskTimeoutMs = 60_000;

/** Split key i of n (1 <= i < n): 16 bytes, the first 4 = floor(i * 2^32 / n) big-endian. */
export function splitKey(i: number, n: number): Buffer {
  const k = Buffer.alloc(KEY_BYTES);
  k.writeUInt32BE(Math.floor((i * 2 ** 32) / n), 0);
  return k;
}

export interface SplitReport {
  target: number;
  reached: number;
  splits: number;
  /** Splits that failed in the tree pass and were redone by the fix-up pass. */
  retriedByFixup: number;
  ms: number;
  splitsPerSecond: number;
  capped: string | null;
}

interface Task {
  lo: number;
  hi: number;
  desc: Desc;
  leader: number;
}

async function waitForLeaderOfAll(client: BenchClient, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await client.refresh();
    if (client.ranges.length > 0 && client.ranges.every((r) => r.leaderStore !== 0)) return;
    if (Date.now() > deadline) throw new Error('ranges have no leader');
    await sleep(100);
  }
}

/** Splits once at `key` (which must lie inside t.desc); returns [left, right] or null (failed). */
async function splitAt(client: BenchClient, t: { desc: Desc; leader: number }, key: Buffer, deadline: number): Promise<{ left: Desc; right: Desc; leader: number } | null> {
  const ids = client.storeIds;
  let target = t.leader;
  let rr = 0;
  while (Date.now() < deadline) {
    if (target === 0) target = ids[rr++ % ids.length]!;
    const out = await client.call(target, storeAdminService.splitRange, { header: headerOf(t.desc), splitKey: key }, splitCallTimeoutMs);
    if (out.ok) {
      const re = out.res.rangeError;
      if (!re) return { left: out.res.left!, right: out.res.right!, leader: target };
      if (re.notLeader) {
        const hinted = Number(re.notLeader.leader?.storeId ?? 0);
        if (hinted === 0 || hinted === target) {
          // The right half of a fresh split campaigns at once: give it a moment.
          await sleep(20);
          if (rr++ > 5) target = 0;
        } else target = hinted;
        continue;
      }
      if (re.serverBusy) {
        await sleep(Math.max(20, re.serverBusy.backoffMs ?? 0));
        continue;
      }
      if (re.epochNotMatch) {
        // A retried split that had applied after all: the current descriptors show it.
        const cur = re.epochNotMatch.current ?? [];
        const start = Buffer.from(t.desc.startKey ?? []);
        const left = cur.find((d) => Buffer.compare(Buffer.from(d.startKey ?? []), start) === 0 && Buffer.compare(Buffer.from(d.endKey ?? []), key) === 0);
        const right = cur.find((d) => Buffer.compare(Buffer.from(d.startKey ?? []), key) === 0);
        if (left && right) return { left, right, leader: target };
      }
      return null;
    }
    if (out.code !== grpc.status.UNAVAILABLE && out.code !== grpc.status.DEADLINE_EXCEEDED) return null;
    await sleep(50);
  }
  return null;
}

/** Runs `work` over tasks from `queue` (which `work` may grow), `inflight` at a time. */
async function pool<T>(queue: T[], inflight: number, work: (t: T) => Promise<void>, stop: () => boolean): Promise<void> {
  let head = 0;
  let running = 0;
  await new Promise<void>((resolve, reject) => {
    const pump = (): void => {
      while (running < inflight && head < queue.length && !stop()) {
        const t = queue[head++]!;
        running++;
        work(t).then(() => {
          running--;
          if (running === 0 && (head >= queue.length || stop())) resolve();
          else pump();
        }, reject);
      }
      if (running === 0) resolve();
    };
    pump();
  });
}

/**
 * Splits range 1 into `n` ranges at splitKey(1..n-1). `budgetMs` caps the whole thing
 * (then it reports how many ranges exist). `progress` gets the splits done after each
 * one. Leaves client.ranges refreshed.
 */
export async function splitInto(client: BenchClient, n: number, inflight: number, budgetMs: number, progress: (splits: number) => void): Promise<SplitReport> {
  const t0 = performance.now();
  const budgetEnd = Date.now() + budgetMs;
  await waitForLeaderOfAll(client, 30_000);
  let splits = 0;
  let failed = 0;
  let retriedByFixup = 0;
  if (n > 1) {
    const root = client.ranges[0]!;
    const queue: Task[] = [{ lo: 0, hi: n, desc: root.desc, leader: root.leaderStore }];
    await pool(queue, inflight, async (t) => {
      const mid = (t.lo + t.hi) >> 1;
      const r = await splitAt(client, t, splitKey(mid, n), Math.min(budgetEnd, Date.now() + splitTaskTimeoutMs));
      if (!r) {
        failed++;
        return;
      }
      splits++;
      progress(splits);
      if (mid - t.lo > 1) queue.push({ lo: t.lo, hi: mid, desc: r.left, leader: r.leader });
      if (t.hi - mid > 1) queue.push({ lo: mid, hi: t.hi, desc: r.right, leader: r.leader });
    }, () => Date.now() > budgetEnd);
    // Fix-up: whatever split failed (or a subtree under it), from the stores' own view.
    while (Date.now() < budgetEnd) {
      await client.refresh();
      const starts = new Set(client.ranges.map((r) => r.start.toString('hex')));
      const missing: Buffer[] = [];
      for (let i = 1; i < n; i++) {
        const k = splitKey(i, n);
        if (!starts.has(k.toString('hex'))) missing.push(k);
      }
      if (missing.length === 0) break;
      // One split per range per round (the middle missing key of that range).
      const perRange = new Map<RangeEntry, Buffer[]>();
      for (const k of missing) {
        const r = client.route(k);
        if (!r) continue;
        const l = perRange.get(r) ?? [];
        l.push(k);
        perRange.set(r, l);
      }
      const round = [...perRange].map(([r, ks]) => ({ r, key: ks[ks.length >> 1]! }));
      await pool(round, inflight, async ({ r, key }) => {
        const done = await splitAt(client, { desc: r.desc, leader: r.leaderStore }, key, Math.min(budgetEnd, Date.now() + splitTaskTimeoutMs));
        if (done) {
          splits++;
          retriedByFixup++;
          progress(splits);
        }
      }, () => Date.now() > budgetEnd);
      await sleep(100);
    }
  }
  const ms = performance.now() - t0;
  await client.refresh();
  const reached = client.ranges.length;
  return {
    target: n, reached, splits, retriedByFixup, ms, splitsPerSecond: splits / (ms / 1000),
    capped: reached < n ? `stopped at ${reached} of ${n} ranges after the split budget (${Math.round(budgetMs / 1000)} s)` : null,
  };
}

export interface BalanceReport {
  transfers: number;
  rounds: number;
  ms: number;
  leadersPerStore: Record<string, number>;
  leaderless: number;
}

/**
 * Moves leaderships so range i (by start key) is led by store ids[i % 3], in rounds (at
 * most 5, until at most 1 % of the ranges is led elsewhere). `progress` gets, after each
 * TransferLeader answered, the round's calls so far, its ranges to move and the round.
 */
export async function balanceLeaders(
  client: BenchClient, inflight: number, budgetMs: number, progress: (sent: number, wrong: number, round: number) => void = () => {},
): Promise<BalanceReport> {
  const t0 = performance.now();
  const end = Date.now() + budgetMs;
  const ids = client.storeIds;
  let transfers = 0;
  let rounds = 0;
  for (; rounds < 5 && Date.now() < end; rounds++) {
    await client.refresh();
    const wrong = client.ranges.map((r, i) => ({ r, to: ids[i % ids.length]! })).filter(({ r, to }) => r.leaderStore !== 0 && r.leaderStore !== to);
    if (wrong.length <= client.ranges.length / 100) break;
    let sent = 0;
    await pool(wrong, inflight, async ({ r, to }) => {
      const out = await client.call(r.leaderStore, storeAdminService.transferLeader, { header: headerOf(r.desc), toStore: to }, 5_000);
      if (out.ok && !out.res.rangeError) transfers++;
      progress(++sent, wrong.length, rounds + 1);
    }, () => Date.now() > end);
    // Transfers answer when started; give the elections a moment.
    await sleep(500);
  }
  await client.refresh();
  const leadersPerStore: Record<string, number> = {};
  for (const id of ids) leadersPerStore[String(id)] = 0;
  let leaderless = 0;
  for (const r of client.ranges) {
    if (r.leaderStore === 0) leaderless++;
    else leadersPerStore[String(r.leaderStore)] = (leadersPerStore[String(r.leaderStore)] ?? 0) + 1;
  }
  return { transfers, rounds, ms: performance.now() - t0, leadersPerStore, leaderless };
}

