// What PD's health gauges count (pd-http.ts: rangekv_pd_stores_by_state,
// rangekv_pd_ranges_under_replicated, rangekv_pd_ranges_without_leader). Pure: the PD
// leader (pd-service.ts, clusterHealth) passes its view in at scrape time.
//
// The rules are the ones PD's schedulers use:
//   - a store is `tombstone` or `offline` by its decommission state, else `up` when it
//     heartbeated within storeDownAfterMs (a store this leader has not heard from yet
//     counts from when the leader began serving), else `down` (what `rangekv ctl stores`
//     shows);
//   - a range is under-replicated when fewer than replicaCount of its voters (Voter or
//     VoterIncoming: the voters once a joint configuration is left) are on live stores
//     (`up`, or `offline` still heartbeating: a decommission moves replicas without losing
//     one, so it is not counted here);
//   - a range is without a leader when its newest record names none, its leader's store
//     is not live, or no leader has reported it within maxReportAgeMs (stores report the
//     ranges they lead every few seconds; a leader that stopped reporting, e.g. cut off
//     in a minority, no longer counts).
import { ReplicaRole } from '@rangekv/proto';

export type StoreHealthState = 'up' | 'down' | 'offline' | 'tombstone';
export const STORE_HEALTH_STATES: readonly StoreHealthState[] = ['up', 'down', 'offline', 'tombstone'];

export interface HealthStore {
  id: number;
  /** The decommission state PD persists. */
  state: 'serving' | 'offline' | 'tombstone';
  /** Since its last heartbeat to this leader (or since this leader began serving). */
  heartbeatAgeMs: number;
}

export interface HealthRange {
  rangeId: number;
  replicas: readonly { storeId: number; role: ReplicaRole }[];
  /** The store of the leader its newest record names; 0 = none. */
  leaderStore: number;
  /** Since a leader last reported it to this PD leader (or since this leader began serving). */
  reportAgeMs: number;
}

export interface HealthLimits {
  storeDownAfterMs: number;
  replicaCount: number;
  /** A range report older than this does not count as a leader. */
  maxReportAgeMs: number;
}

export interface ClusterHealth {
  storesByState: Record<StoreHealthState, number>;
  rangesUnderReplicated: number;
  rangesWithoutLeader: number;
}

/** All zero: what a PD follower exports (it does not hear heartbeats). */
export function emptyClusterHealth(): ClusterHealth {
  return { storesByState: { up: 0, down: 0, offline: 0, tombstone: 0 }, rangesUnderReplicated: 0, rangesWithoutLeader: 0 };
}

export function storeHealthState(s: HealthStore, storeDownAfterMs: number): StoreHealthState {
  if (s.state === 'tombstone') return 'tombstone';
  if (s.state === 'offline') return 'offline';
  return s.heartbeatAgeMs <= storeDownAfterMs ? 'up' : 'down';
}

export function clusterHealth(stores: Iterable<HealthStore>, ranges: Iterable<HealthRange>, limits: HealthLimits): ClusterHealth {
  const h = emptyClusterHealth();
  /** Stores that heartbeat (up, or offline and still heartbeating). */
  const live = new Set<number>();
  for (const s of stores) {
    h.storesByState[storeHealthState(s, limits.storeDownAfterMs)]++;
    if (s.state !== 'tombstone' && s.heartbeatAgeMs <= limits.storeDownAfterMs) live.add(s.id);
  }
  for (const r of ranges) {
    let voters = 0;
    for (const x of r.replicas) {
      if ((x.role === ReplicaRole.Voter || x.role === ReplicaRole.VoterIncoming) && live.has(x.storeId)) voters++;
    }
    if (voters < limits.replicaCount) h.rangesUnderReplicated++;
    if (r.leaderStore === 0 || !live.has(r.leaderStore) || r.reportAgeMs > limits.maxReportAgeMs) h.rangesWithoutLeader++;
  }
  return h;
}
