// Coalesced heartbeats at the store level (the store issue): three StoreServers in one
// process with 1, 100 and 1,000 ranges. With quiescence off every range heartbeats, and
// the packets per store pair per heartbeat interval stay bounded by the scheduler's
// cycles, not by the number of ranges; with quiescence on, idle ranges send (almost) no
// heartbeats at all.
//
// Why a constant bound: a store writes at most one batch per peer per scheduler cycle,
// and a batch carries all the heartbeats (and responses) queued for that peer. Cycles
// that carry heartbeats are the tick's (leaders' heartbeats; with heartbeatInterval 2
// leaders are split between odd and even ticks) and one per heartbeat packet arriving
// from each peer (the responses). Measured (this file's diagnostics, loaded 2-core
// machine): ranges=1: 1.0 packet per pair per interval; 100: about 3-4; 1,000: about
// 3.5-4.2, carrying about 25-30 and 200-330 heartbeats per packet. Counts come from the transport's metrics(), over a window measured
// in store ticks (never in wall time).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { StoreCluster } from './testing/store-cluster.js';

const HEARTBEAT_INTERVAL_TICKS = 2; // StoreCluster's heartbeatIntervalTicks
const WINDOW_TICKS = 20;
/** Heartbeat packets per ordered store pair per heartbeat interval, whatever the ranges. */
const MAX_PACKETS_PER_PAIR_PER_INTERVAL = 8;

interface PairCount {
  from: number;
  to: number;
  packets: number;
  heartbeats: number;
  /** Most ticks either store of the pair made over the window. */
  ticks: number;
}

async function measure(c: StoreCluster): Promise<PairCount[]> {
  const servers = [...c.servers.values()];
  const snap = (): Map<string, { packets: number; heartbeats: number }> => {
    const m = new Map<string, { packets: number; heartbeats: number }>();
    for (const s of servers) {
      for (const p of s.transportMetrics().peers) m.set(`${s.storeId}>${p.storeId}`, { packets: p.heartbeatPacketsSent, heartbeats: p.heartbeatsSent });
    }
    return m;
  };
  const ticks0 = new Map(servers.map((s) => [s.storeId, s.scheduler.ticks]));
  const before = snap();
  await c.waitFor(`${WINDOW_TICKS} ticks on every store`, () => servers.every((s) => s.scheduler.ticks >= ticks0.get(s.storeId)! + WINDOW_TICKS));
  const after = snap();
  const ticks = new Map(servers.map((s) => [s.storeId, s.scheduler.ticks - ticks0.get(s.storeId)!]));
  const out: PairCount[] = [];
  for (const from of c.ids) {
    for (const to of c.ids) {
      if (from === to) continue;
      const a = after.get(`${from}>${to}`) ?? { packets: 0, heartbeats: 0 };
      const b = before.get(`${from}>${to}`) ?? { packets: 0, heartbeats: 0 };
      out.push({ from, to, packets: a.packets - b.packets, heartbeats: a.heartbeats - b.heartbeats, ticks: Math.max(ticks.get(from)!, ticks.get(to)!) });
    }
  }
  return out;
}

async function withLeaders(ranges: number, quiescence: boolean, f: (c: StoreCluster) => Promise<void>): Promise<void> {
  // 1,000 ranges x 3 stores in one process: slower ticks keep one CPU from saturating.
  const tickMs = ranges >= 1000 ? 100 : 20;
  const c = await StoreCluster.start({ ranges, quiescence, tickMs, livenessTimeoutMs: 10_000 });
  try {
    const servers = [...c.servers.values()];
    await c.waitFor(`a leader for each of ${ranges} ranges`, () => {
      for (let r = 1; r <= ranges; r++) if (!servers.some((s) => s.scheduler.get(r)!.isLeader)) return false;
      return true;
    }, 60_000);
    await f(c);
  } finally {
    await c.close();
  }
}

function perInterval(p: PairCount): number {
  return p.packets / (p.ticks / HEARTBEAT_INTERVAL_TICKS);
}

for (const ranges of [1, 100, 1000]) {
  test(`quiescence off, ${ranges} range(s) on 3 stores: heartbeat packets per store pair per interval do not grow with the ranges`, async (t: TestContext) => {
    await withLeaders(ranges, false, async (c) => {
      const pairs = await measure(c);
      let heartbeats = 0;
      for (const p of pairs) {
        assert.ok(perInterval(p) <= MAX_PACKETS_PER_PAIR_PER_INTERVAL, `${p.from}->${p.to}: ${p.packets} packets in ${p.ticks} ticks`);
        heartbeats += p.heartbeats;
      }
      // Every range heartbeats (leader -> 2 followers, answered) about once per interval.
      const expected = ranges * 2 * 2 * (WINDOW_TICKS / HEARTBEAT_INTERVAL_TICKS);
      assert.ok(heartbeats >= expected / 2, `${heartbeats} heartbeats carried, expected about ${expected}`);
      const packets = pairs.reduce((n, p) => n + p.packets, 0);
      // The heartbeats ride together: the packets carry more of them as ranges grow.
      if (ranges >= 100) assert.ok(heartbeats / packets >= ranges / 10, `${(heartbeats / packets).toFixed(1)} heartbeats per packet`);
      t.diagnostic(`ranges=${ranges}: packets/pair/interval max ${Math.max(...pairs.map(perInterval)).toFixed(2)}, ` +
        `heartbeats/packet ${(heartbeats / packets).toFixed(1)}`);
    });
  });
}

test('quiescence on, 1,000 idle ranges on 3 stores: (almost) no heartbeats once quiescent', async (t: TestContext) => {
  await withLeaders(1000, true, async (c) => {
    const servers = [...c.servers.values()];
    await c.waitFor('every range quiescent on every store', () => servers.every((s) => s.quiescentCount === 1000), 60_000);
    const pairs = await measure(c);
    const heartbeats = pairs.reduce((n, p) => n + p.heartbeats, 0);
    const unquiesced = 1000 * 2 * 2 * (WINDOW_TICKS / HEARTBEAT_INTERVAL_TICKS);
    assert.ok(heartbeats <= unquiesced / 1000, `${heartbeats} heartbeats in the window (${unquiesced} without quiescence)`);
    for (const s of servers) assert.equal(s.scheduler.tickingCount, 0);
    t.diagnostic(`1000 quiescent ranges: ${heartbeats} heartbeats in ${WINDOW_TICKS} ticks`);
  });
});
