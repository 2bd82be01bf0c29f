// A store's link to the placement driver (proto/pd.proto): it registers and heartbeats
// the store, learns the other stores' raft addresses and range 1's bootstrap from the
// answers, and reports the ranges it leads.
//
//   every heartbeatMs       StoreHeartbeat(addresses, stats) -> stores (peers), bootstrap
//   every rangeHeartbeatMs  RangeHeartbeat(reports of the ranges led here, in batches)
//   rangeChanged(id)        a report for that range soon (split, membership, new leader),
//                           debounced by reportDelayMs
//
// PD calls go to the PD leader: a `not_leader` answer names it; an unreachable node or an
// unknown leader moves on to the next endpoint. PD being down never stops the store: it
// keeps serving and retries at the next interval.
//
// PD's members change at run time (AddPdMember, RemovePdMember), so the endpoints given
// at start (--pd) may all be gone one day. The caller learns PD's members (GetMembers)
// every memberRefreshMs and after each not_leader hint, and tries them before the given
// endpoints, which stay as the fallback: a store started with --pd A,B,C keeps reaching
// PD after A, B and C were replaced one by one by D, E and F, as long as it heard of each
// new member before the last old one went.
import * as grpc from '@grpc/grpc-js';
import {
  descriptorFromWire, descriptorToWire, pdService, replicaToWire, type metapb, type MethodDefinition, type pdpb, type RangeDescriptor,
} from '@rangekv/proto';
import { removedByDescriptor, type ReplicaGcQuery } from '@rangekv/multiraft';
import { keyInSpan } from '@rangekv/storage';
import type { Logger } from '@rangekv/runtime';
import type { DiskFigures } from './data-dir-usage.js';

export interface PdLinkLimits {
  /** StoreHeartbeat interval. */
  heartbeatMs: number;
  /** RangeHeartbeat interval (all ranges led here). */
  rangeHeartbeatMs: number;
  /** Delay that batches the reports asked for by rangeChanged(). */
  reportDelayMs: number;
  /** Deadline of one PD call. */
  callTimeoutMs: number;
  /** Range reports per RangeHeartbeat request. */
  maxReportsPerRequest: number;
  /** How often PD's members are asked for (GetMembers), besides after each not_leader hint. */
  memberRefreshMs: number;
  /** PD addresses learned (members, hints) kept beside the given endpoints. */
  maxLearnedPdAddresses: number;
}

export const DEFAULT_PD_LINK_LIMITS: PdLinkLimits = {
  heartbeatMs: 1_000,
  rangeHeartbeatMs: 5_000,
  reportDelayMs: 50,
  callTimeoutMs: 2_000,
  maxReportsPerRequest: 1_000,
  memberRefreshMs: 10_000,
  maxLearnedPdAddresses: 16,
};

/** The same refusal of a store heartbeat (e.g. a tombstone store) is logged at most this often. */
const REFUSAL_LOG_INTERVAL_MS = 60_000;

export class PdUnavailableError extends Error {
  constructor(readonly endpoints: readonly string[], readonly lastError: string) {
    super(`no PD leader reachable at ${endpoints.join(', ')} (last: ${lastError})`);
    this.name = 'PdUnavailableError';
  }
}

type WithHeader = { header?: pdpb.ResponseHeader.$Properties | null };

/**
 * Calls PD's leader: follows not_leader hints, tries every address once per call: the
 * leader last seen, then the members learned, then the given endpoints.
 */
export class PdCaller {
  private readonly channels = new Map<string, grpc.Client>();
  private leader: string | null = null;
  /** PD's members' client addresses as last learned, then leaders named by hints since; at most maxLearned. */
  private learned: string[] = [];
  private refreshing = false;
  private closed = false;
  /** GetMembers calls made (tests, status). */
  memberRefreshes = 0;

  constructor(
    readonly endpoints: readonly string[], private readonly timeoutMs = DEFAULT_PD_LINK_LIMITS.callTimeoutMs,
    private readonly credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
    private readonly maxLearned = DEFAULT_PD_LINK_LIMITS.maxLearnedPdAddresses,
  ) {
    if (endpoints.length === 0) throw new RangeError('PdCaller needs at least one PD endpoint');
    if (!Number.isSafeInteger(maxLearned) || maxLearned <= 0) throw new RangeError(`maxLearnedPdAddresses must be a positive integer, got ${maxLearned}`);
  }

  /** Every address a call may try, in order: learned ones, then the given endpoints. */
  addresses(): string[] {
    return [...new Set([...this.learned, ...this.endpoints])];
  }

  private channel(addr: string): grpc.Client {
    let c = this.channels.get(addr);
    if (!c) {
      c = new grpc.Client(addr, this.credentials);
      this.channels.set(addr, c);
    }
    return c;
  }

  private once<Req, Res>(addr: string, m: MethodDefinition<Req, Res>, req: Req): Promise<Res> {
    return new Promise((resolve, reject) => {
      this.channel(addr).makeUnaryRequest(m.path, m.requestSerialize, m.responseDeserialize, req, new grpc.Metadata(),
        { deadline: Date.now() + this.timeoutMs },
        (err: grpc.ServiceError | null, res?: Res) => (err ? reject(err) : resolve(res!)));
    });
  }

  async call<Req, Res extends WithHeader>(m: MethodDefinition<Req, Res>, req: Req): Promise<Res> {
    const tried = new Set<string>();
    const untried = (): string | undefined => this.addresses().find((x) => !tried.has(x));
    let next: string | undefined = this.leader ?? untried();
    let last = 'no endpoint tried';
    // Each address at most once, plus the hinted leaders (which may not be in the list).
    const maxHops = this.addresses().length * 2 + 2;
    for (let hops = 0; next !== undefined && hops < maxHops; hops++) {
      if (this.closed) throw new PdUnavailableError(this.addresses(), 'the PD caller was closed');
      tried.add(next);
      try {
        const res: Res = await this.once(next, m, req);
        const e: pdpb.PdError.$Properties | null | undefined = res.header?.error;
        if (e?.notLeader) {
          last = `${next}: not the PD leader`;
          const hint: string = e.notLeader.leaderAddress ?? '';
          if (hint !== '') {
            this.learn(hint);
            // The leader changed: PD's membership may have too.
            void this.refreshMembers();
          }
          next = hint !== '' && !tried.has(hint) ? hint : untried();
          continue;
        }
        this.leader = next;
        return res;
      } catch (err) {
        // PD's own answer (a refusal: INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED, ...)
        // is the caller's; only a node that did not answer sends us to the next one.
        if (isAnswer(err)) throw err;
        last = `${next}: ${err instanceof Error ? err.message : String(err)}`;
        if (this.leader === next) this.leader = null;
        next = untried();
      }
    }
    throw new PdUnavailableError(this.addresses(), last);
  }

  /**
   * Learns PD's members (GetMembers, answered by any PD node): their client addresses
   * replace the learned ones. One at a time; a failure (PD down, a PD without addresses)
   * keeps what was known.
   */
  async refreshMembers(): Promise<void> {
    if (this.refreshing || this.closed) return;
    this.refreshing = true;
    try {
      this.memberRefreshes++;
      const res = await this.call(pdService.getMembers, {});
      if (!res.header?.error) this.setMembers((res.members ?? []).map((x) => x.address ?? ''));
    } catch {
      // Kept: the next turn asks again.
    } finally {
      this.refreshing = false;
    }
  }

  /** The members' client addresses ('' skipped); an empty list changes nothing. */
  setMembers(addresses: readonly string[]): void {
    const named = [...new Set(addresses.filter((a) => a !== ''))].slice(0, this.maxLearned);
    if (named.length === 0 || this.closed) return;
    this.learned = named;
    if (this.leader !== null && !this.addresses().includes(this.leader)) this.leader = null;
    this.closeUnused();
  }

  /** A leader named by a hint goes first among the learned addresses (the last one falls off at the bound). */
  private learn(address: string): void {
    if (this.closed) return;
    this.learned = [address, ...this.learned.filter((a) => a !== address)].slice(0, this.maxLearned);
    this.closeUnused();
  }

  /** Channels only to addresses still tried: the map is bounded by maxLearned + the endpoints (+ the leader). */
  private closeUnused(): void {
    const keep = new Set(this.addresses());
    for (const [addr, c] of this.channels) {
      if (!keep.has(addr) && addr !== this.leader) {
        c.close();
        this.channels.delete(addr);
      }
    }
  }

  close(): void {
    this.closed = true;
    for (const c of this.channels.values()) c.close();
    this.channels.clear();
  }
}

/** A gRPC error that PD itself answered (not a node that could not be reached or timed out). */
function isAnswer(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' && code !== grpc.status.UNAVAILABLE && code !== grpc.status.DEADLINE_EXCEEDED &&
    code !== grpc.status.CANCELLED && code !== grpc.status.UNKNOWN && code !== grpc.status.INTERNAL &&
    code !== grpc.status.RESOURCE_EXHAUSTED && code !== grpc.status.UNIMPLEMENTED;
}

/** A range led here, as reported to PD. */
export interface LedRange {
  rangeId: number;
  descriptor: RangeDescriptor;
  replicaId: number;
  term: number;
  applied: number;
  /** Reads answered on it here since start (traffic.ts). */
  reads?: number;
  /** Its last size check (size-check.ts), if any. */
  size?: { bytes: number; keys: number; splitKey: Uint8Array; confVer: number; version: number } | undefined;
}

/** What the link needs from its store. */
export interface PdLinkHost {
  storeId: number;
  /** The store's identity token (store-ident.json): PD refuses this store id without it. */
  token: string;
  /** The store's advertised addresses. */
  addresses(): { address: string; raftAddress: string; httpAddress: string };
  /** Location labels (zone, rack, host, ...) sent with every heartbeat. */
  labels?: Record<string, string>;
  /**
   * Counts, the disk's sync latency since the last call (sync-latency.ts; each call starts
   * a new window), snapshots in flight, and client traffic totals since start (traffic.ts).
   */
  stats(): {
    ranges: number; leaders: number; syncLatencyMicros: number;
    snapshots?: { sending: number; receiving: number };
    traffic?: { writeBytes: number; writeKeys: number; readBytes: number; readKeys: number };
  };
  /** The data dir's filesystem capacity and free space, and the bytes under it (never throws). */
  disk(): Promise<DiskFigures>;
  /** The ranges led here now, for reports. */
  ledRanges(): Iterable<LedRange>;
  /** Is `rangeId` led here now? (for rangeChanged reports) */
  ledRange(rangeId: number): LedRange | null;
  setPeer(storeId: number, raftAddress: string): void;
  /** PD says range 1 starts on this store with this descriptor (a range id, replicas with ids: checked). */
  bootstrap(descriptor: RangeDescriptor): Promise<void>;
  log: Logger;
}

export class PdLink {
  readonly limits: PdLinkLimits;
  private readonly pd: PdCaller;
  private timers: NodeJS.Timeout[] = [];
  private changed = new Set<number>();
  private reportTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Applied index at the last report, per range: write rate. */
  private lastApplied = new Map<number, { applied: number; at: number }>();
  private heartbeatInFlight = false;
  private lastRefusal = { why: '', atMs: 0 };
  /** Traffic totals at the previous heartbeat: rates are their growth per second. */
  private lastTraffic: { at: number; writeBytes: number; writeKeys: number; readBytes: number; readKeys: number } | null = null;
  /** Reads of each range at its previous report. */
  private lastReads = new Map<number, number>();
  readonly counters = { storeHeartbeats: 0, storeHeartbeatFailures: 0, rangeReports: 0, rangeReportsRejected: 0, rangeHeartbeatFailures: 0 };

  constructor(
    endpoints: readonly string[], private readonly host: PdLinkHost, limits: Partial<PdLinkLimits> = {},
    credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  ) {
    this.limits = { ...DEFAULT_PD_LINK_LIMITS, ...limits };
    for (const [k, v] of Object.entries(this.limits)) {
      if (!Number.isSafeInteger(v) || v <= 0) throw new RangeError(`PD link limit ${k} must be a positive integer, got ${String(v)}`);
    }
    this.pd = new PdCaller(endpoints, this.limits.callTimeoutMs, credentials, this.limits.maxLearnedPdAddresses);
  }

  start(): void {
    void this.storeHeartbeat();
    void this.pd.refreshMembers();
    this.timers.push(setInterval(() => void this.storeHeartbeat(), this.limits.heartbeatMs));
    this.timers.push(setInterval(() => void this.reportAll(), this.limits.rangeHeartbeatMs));
    this.timers.push(setInterval(() => void this.pd.refreshMembers(), this.limits.memberRefreshMs));
  }

  /** The PD addresses the link tries: the members learned, then the given endpoints. */
  pdAddresses(): string[] {
    return this.pd.addresses();
  }

  /** Reports `rangeId` (if led here) soon: its descriptor or leader changed. */
  rangeChanged(rangeId: number): void {
    if (this.stopped) return;
    this.changed.add(rangeId);
    if (this.reportTimer === null) {
      this.reportTimer = setTimeout(() => {
        this.reportTimer = null;
        const ids = [...this.changed];
        this.changed.clear();
        const reports = ids.map((id) => this.host.ledRange(id)).filter((x) => x !== null);
        void this.send(reports);
      }, this.limits.reportDelayMs);
    }
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    if (this.reportTimer !== null) clearTimeout(this.reportTimer);
    this.pd.close();
  }

  private async storeHeartbeat(): Promise<void> {
    if (this.stopped || this.heartbeatInFlight) return;
    this.heartbeatInFlight = true;
    try {
      const a = this.host.addresses();
      const st = this.host.stats();
      const disk = await this.host.disk();
      const rates = this.trafficRates(st.traffic);
      const res = await this.pd.call(pdService.storeHeartbeat, {
        store: {
          id: this.host.storeId, address: a.address, raftAddress: a.raftAddress, httpAddress: a.httpAddress,
          labels: Object.entries(this.host.labels ?? {}).map(([key, value]) => ({ key, value })),
        },
        stats: {
          ranges: st.ranges, leaders: st.leaders, syncLatencyMicros: st.syncLatencyMicros, ...disk,
          snapshotsSending: st.snapshots?.sending ?? 0, snapshotsReceiving: st.snapshots?.receiving ?? 0, ...rates,
        },
        storeToken: this.host.token,
      });
      if (this.stopped) return;
      this.counters.storeHeartbeats++;
      for (const s of res.stores ?? []) {
        if (s.id && s.id !== this.host.storeId && s.raftAddress) this.host.setPeer(s.id, s.raftAddress);
      }
      if (res.bootstrap?.descriptor) await this.bootstrap(res.bootstrap.descriptor);
    } catch (e) {
      this.counters.storeHeartbeatFailures++;
      // PD refusing this store (another store's id or token, a bad address, a tombstone)
      // needs an operator; being unreachable does not. The same refusal is logged once a minute.
      if (isAnswer(e)) {
        const why = e instanceof Error ? e.message : String(e);
        const now = Date.now();
        if (why !== this.lastRefusal.why || now - this.lastRefusal.atMs >= REFUSAL_LOG_INTERVAL_MS) {
          this.lastRefusal = { why, atMs: now };
          this.host.log.warn('PD refused the store heartbeat', { err: e });
        }
      } else this.host.log.debug('PD store heartbeat failed', { err: e });
    } finally {
      this.heartbeatInFlight = false;
    }
  }

  /** Per-second traffic since the previous heartbeat (none at the first). */
  private trafficRates(t: ReturnType<PdLinkHost['stats']>['traffic']): Record<string, number> {
    if (t === undefined) return {};
    const now = Date.now();
    const prev = this.lastTraffic;
    this.lastTraffic = { at: now, ...t };
    if (prev === null || now <= prev.at) return {};
    const per = (a: number, b: number): number => Math.max(0, ((a - b) * 1000) / (now - prev.at));
    return {
      writeBytesPerSecond: per(t.writeBytes, prev.writeBytes), writeKeysPerSecond: per(t.writeKeys, prev.writeKeys),
      readBytesPerSecond: per(t.readBytes, prev.readBytes), readKeysPerSecond: per(t.readKeys, prev.readKeys),
    };
  }

  /** PD's bootstrap descriptor, handed to the host unless it names no range or a replica without ids. */
  private async bootstrap(wire: metapb.RangeDescriptor.$Properties): Promise<void> {
    const d = descriptorFromWire(wire);
    if (d.rangeId <= 0 || d.replicas.some((r) => r.storeId <= 0 || r.replicaId <= 0)) {
      this.host.log.warn('PD sent a bootstrap descriptor without a range id or replica ids: ignored', { rangeId: d.rangeId });
      return;
    }
    await this.host.bootstrap(d);
  }

  /**
   * PD's descriptor of a range (wire form), 'unknown' when PD answers NOT_FOUND, or null
   * when PD cannot say now (stopping, unreachable, not bootstrapped, no leader).
   */
  private async pdRange(rangeId: number): Promise<metapb.RangeDescriptor.$Properties | 'unknown' | null> {
    if (this.stopped) return null;
    try {
      const res = await this.pd.call(pdService.getRange, { rangeId });
      if (res.header?.error) return null;
      return res.route?.descriptor ?? null;
    } catch (e) {
      return (e as { code?: unknown } | null)?.code === grpc.status.NOT_FOUND ? 'unknown' : null;
    }
  }

  /**
   * Whether PD says range `rangeId` has no replica on this store (unknown range, or a
   * descriptor without this store): true / false, or null when PD cannot be asked now.
   */
  async rangeGone(rangeId: number): Promise<boolean | null> {
    const d = await this.pdRange(rangeId);
    if (d === 'unknown') return true;
    if (d === null) return null;
    return !(d.replicas ?? []).some((x) => Number(x.storeId ?? 0) === this.host.storeId);
  }

  /** PD's current epoch version of a range (replica GC's merge guard); null when PD cannot say or does not know it. */
  async rangeVersion(rangeId: number): Promise<number | null> {
    const d = await this.pdRange(rangeId);
    return d === null || d === 'unknown' ? null : Number(d.epoch?.version ?? 0);
  }

  /**
   * Whether PD's record of the range holds a newer configuration (greater confVer) without
   * this replica id: the replica was removed for good (replica-gc.ts). null when PD cannot
   * be asked now or does not know the range (no doubt may destroy an initialized replica).
   */
  async replicaRemoved(q: ReplicaGcQuery): Promise<boolean | null> {
    const d = await this.pdRange(q.rangeId);
    if (d === null) return null;
    if (d !== 'unknown') {
      return removedByDescriptor(q, {
        confVer: Number(d.epoch?.confVer ?? 0),
        replicaIds: (d.replicas ?? []).map((x) => Number(x.replicaId ?? 0)),
      });
    }
    // Unknown to PD: merged away when the range PD has at its start key has a newer
    // version (mergedAway).
    if (q.span === undefined) return null;
    try {
      const res = await this.pd.call(pdService.getRangeByKey, { key: q.span.startKey });
      const atStart = res.route?.descriptor;
      if (res.header?.error || !atStart) return null;
      return mergedAway(q.rangeId, q.span, descriptorFromWire(atStart));
    } catch {
      return null;
    }
  }

  private async reportAll(): Promise<void> {
    if (this.stopped) return;
    await this.send([...this.host.ledRanges()]);
  }

  private async send(ranges: ReturnType<PdLinkHost['ledRange']>[]): Promise<void> {
    const now = Date.now();
    const reports: pdpb.RangeReport.$Properties[] = [];
    for (const r of ranges) {
      if (r === null) continue;
      const prev = this.lastApplied.get(r.rangeId);
      const rate = prev && now > prev.at ? ((r.applied - prev.applied) * 1000) / (now - prev.at) : 0;
      const reads = r.reads ?? 0;
      const readRate = prev && now > prev.at ? Math.max(0, ((reads - (this.lastReads.get(r.rangeId) ?? reads)) * 1000) / (now - prev.at)) : 0;
      this.lastApplied.set(r.rangeId, { applied: r.applied, at: now });
      this.lastReads.set(r.rangeId, reads);
      const me = r.descriptor.replicas.find((x) => x.replicaId === r.replicaId);
      // Size figures only for the span they were measured on.
      const sz = r.size !== undefined && r.size.version === r.descriptor.epoch.version && r.size.confVer === r.descriptor.epoch.confVer ? r.size : undefined;
      reports.push({
        descriptor: descriptorToWire(r.descriptor),
        leader: me ? replicaToWire(me) : { storeId: this.host.storeId, replicaId: r.replicaId },
        term: r.term,
        stats: {
          writesPerSecond: Math.max(0, rate),
          readsPerSecond: readRate,
          ...(sz ? { approximateBytes: sz.bytes, approximateKeys: sz.keys, splitKey: sz.splitKey } : {}),
        },
      });
    }
    for (let i = 0; i < reports.length && !this.stopped; i += this.limits.maxReportsPerRequest) {
      try {
        const res = await this.pd.call(pdService.rangeHeartbeat, {
          storeId: this.host.storeId, ranges: reports.slice(i, i + this.limits.maxReportsPerRequest), storeToken: this.host.token,
        });
        this.counters.rangeReports += Math.min(this.limits.maxReportsPerRequest, reports.length - i);
        for (const r of res.rejected ?? []) {
          this.counters.rangeReportsRejected++;
          this.host.log.warn('PD refused a range report', { rangeId: r.rangeId, reason: r.reason });
        }
      } catch (e) {
        this.counters.rangeHeartbeatFailures++;
        this.host.log.debug('PD range heartbeat failed', { err: e });
        return;
      }
    }
  }
}

/** For a store starting on a new data dir without an id: one from PD. */
export async function allocStoreId(
  endpoints: readonly string[], timeoutMs = 10_000, credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
): Promise<number> {
  const pd = new PdCaller(endpoints, Math.min(timeoutMs, DEFAULT_PD_LINK_LIMITS.callTimeoutMs), credentials);
  const deadline = Date.now() + timeoutMs;
  try {
    let last: unknown = null;
    while (Date.now() < deadline) {
      try {
        const res = await pd.call(pdService.allocStoreId, {});
        if (res.header?.error) throw new Error(res.header.error.message ?? 'PD refused');
        if (res.storeId) return res.storeId;
      } catch (e) {
        last = e;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw last instanceof Error ? last : new PdUnavailableError(endpoints, 'no store id');
  } finally {
    pd.close();
  }
}

/**
 * Whether `d` (PD's range at the start of `span`) shows that the range `rangeId`, which had
 * `span` at `span.version`, merged away: another range holds its start key at a newer
 * version. A range keeps its start key for life (a split keeps the left part's id), and
 * every split and merge gives the new owner of a key a greater version than its old owner
 * had, so a key's owners' versions only grow: another range holding the start key at a
 * greater version owned it after this one, which it only loses by being merged away.
 * (It need not cover the whole span: the range may have split before it merged.)
 */
export function mergedAway(rangeId: number, span: { startKey: Uint8Array; endKey: Uint8Array; version: number }, d: RangeDescriptor): boolean {
  return d.rangeId !== rangeId && d.epoch.version > span.version && keyInSpan(span.startKey, d.startKey, d.endKey);
}
