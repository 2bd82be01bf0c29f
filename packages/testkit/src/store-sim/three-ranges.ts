// A small fixed world for targeted merge tests: three simulated stores, and three ranges
// [-inf, k04), [k04, k08), [k08, +inf) with ids `ids` on each (replica id = store id).
import { Prng } from '@rangekv/raft';
import { ReplicaRole, metapb, type RangeDescriptor } from '@rangekv/proto';
import { SIM_TIMING } from './run-store-seed.js';
import { SimNetwork } from './sim-network.js';
import { SimStore } from './sim-store.js';
import { SimWorld } from './world.js';

export function hdr(d: RangeDescriptor): metapb.RequestHeader.$Properties {
  return { rangeId: d.rangeId, epoch: { confVer: d.epoch.confVer, version: d.epoch.version }, readConsistency: metapb.ReadConsistency.LINEARIZABLE };
}

export async function threeRanges(ids: readonly [number, number, number]) {
  const world = new SimWorld();
  const net = new SimNetwork(world, new Prng(5), { latencyMsMin: 1, latencyMsMax: 3, dropRate: 0 });
  const stores = [1, 2, 3].map((id) => new SimStore(id, world, net, new Prng(50 + id), {
    timing: SIM_TIMING, syncMsMin: 1, syncMsMax: 2, compactThresholdEntries: 1000, compactKeepEntries: 10,
  }));
  const replicas = () => [1, 2, 3].map((id) => ({ storeId: id, replicaId: id, role: ReplicaRole.Voter }));
  const span = (rangeId: number, start: string, end: string): RangeDescriptor => ({
    rangeId, startKey: Buffer.from(start), endKey: Buffer.from(end), epoch: { confVer: 1, version: 1 }, replicas: replicas(),
  });
  for (const s of stores) await world.drive(s.bootstrap([span(ids[0], '', 'k04'), span(ids[1], 'k04', 'k08'), span(ids[2], 'k08', '')]));
  for (const s of stores) await world.drive(s.start());
  const replica = (storeId: number, rangeId: number) => stores[storeId - 1]!.store?.host.scheduler.get(rangeId);
  const leaderOf = (rangeId: number) => stores.find((s) => replica(s.id, rangeId)?.isLeader === true) ?? null;
  return { world, net, stores, replica, leaderOf };
}
