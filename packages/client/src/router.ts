// Routing: key -> range (range cache, filled from PD), range -> store (leader cache,
// NotLeader hints, round-robin over the voters when unknown; FOLLOWER and STALE reads go
// to any voter, round-robin, on their first try), store -> address (PD GetStore, cached),
// and one attempt of a KV request with the reaction to each answer.
//
// Attempt timeout: `rpcTimeoutMs` (capped by the call's deadline) for attempts that may be
// retried once sent (reads; put / batchPut / delete / deleteRange when
// `retryAmbiguousWrites`), so a paused store costs one short attempt; the call's whole
// remaining deadline for the others (CAS; writes without `retryAmbiguousWrites`): cutting
// them short would only turn a possible success into an AmbiguousWriteError.
//
// Suspect stores: a store that did not answer a sent attempt given at least rpcTimeoutMs
// (DEADLINE_EXCEEDED), or could not be connected to, or left an attempt that is not cut
// short (CAS, ...) unanswered for rpcTimeoutMs while answering no other call of this
// client (watchSilence), is suspect for `suspectStoreMs` (client clock). The round-robin
// skips suspect voters while another voter is not suspect,
// and a NotLeader hint naming a suspect store is treated as no hint: a follower that has
// not noticed a paused leader keeps naming it until the election (0.5-1 s). Any OK answer
// (a range error too) from a store clears its suspicion.
//
// | answer | reaction |
// | --- | --- |
// | OK | remember the store as the range's leader; it is no longer suspect |
// | NotLeader with a hint (another store, not suspect) | remember the hint, retry at once |
// | NotLeader without a hint, or hinting a suspect store | forget the leader, poll (an election: at most electionWaitMs, not counted in maxRetries, for MAX_ELECTION_POLLS polls), try the next voter (not suspect) |
// | EpochNotMatch{current} | replace the range by `current` (split halves), retry at once (back off when empty) |
// | RangeNotFound | forget the range, back off, ask PD again |
// | KeyNotInRange{descriptor} | replace the range by `descriptor` (or forget it), back off |
// | ServerBusy{backoff_ms} | back off at least backoff_ms |
// | could not connect to the store | suspect it, forget its address and the leader, back off, next voter |
// | INVALID_ARGUMENT | InvalidArgumentError (final) |
// | write: UNKNOWN + `rangekv-ambiguous`, or UNAVAILABLE / DEADLINE_EXCEEDED / CANCELLED after sending | CAS: AmbiguousWriteError (final); other writes: retried when `retryAmbiguousWrites`, else AmbiguousWriteError |
// | read: UNAVAILABLE / DEADLINE_EXCEEDED / CANCELLED / UNKNOWN | back off, retry |
// | DEADLINE_EXCEEDED after sending, to an attempt given at least rpcTimeoutMs | also: suspect the store |
// | any other status | StoreError (final) |
import * as grpc from '@grpc/grpc-js';
import { descriptorFromWire, kvService, metapb, ReplicaRole, type MethodDefinition } from '@rangekv/proto';
import type { Budget, Clock } from './backoff.js';
import type { ChannelPool } from './channels.js';
import { AmbiguousWriteError, InvalidArgumentError, StoreError } from './errors.js';
import type { PdClient } from './pd-client.js';
import { rangeContains, RangeCache } from './range-cache.js';
import { routeFromWire, toBuffer, type RangeInfo } from './types.js';

type KvMethods = typeof kvService;
export type KvMethodName = keyof KvMethods;
export type KvReq<K extends KvMethodName> = Parameters<KvMethods[K]['requestSerialize']>[0];
export type KvRes<K extends KvMethodName> = ReturnType<KvMethods[K]['responseDeserialize']>;

/** How a request may be retried: reads always; idempotent writes per `retryAmbiguousWrites`; CAS never once sent. */
export type RequestKind = 'read' | 'write' | 'cas';

interface WithRangeError {
  rangeError?: metapb.RangeError.$Properties | null;
}

/** Ranges fetched per PD ScanRanges page. */
export const SCAN_RANGES_PAGE = 256;
/** Ranges asked of PD on a cache miss: the one holding the key and those after it. */
export const LOCATE_PREFETCH_RANGES = 64;
const EMPTY = Buffer.alloc(0);

export interface RouterOptions {
  maxCachedRanges: number;
  /** Timeout of an attempt that may be retried once sent, ms. */
  rpcTimeoutMs: number;
  retryAmbiguousWrites: boolean;
  /** How long a store that timed out or could not be reached stays suspect, ms. */
  suspectStoreMs: number;
  clock: Clock;
}

export class Router {
  readonly cache: RangeCache;
  private readonly storeAddresses = new Map<number, string>();
  /** Store id -> client-clock time its suspicion ends; one entry per store id, expired ones dropped when read. */
  private readonly suspectUntil = new Map<number, number>();
  /** Store id -> OK answers so far (silence watch); one entry per store id this client called. */
  private readonly answers = new Map<number, number>();
  private probe = 0;

  constructor(
    readonly pd: PdClient,
    private readonly pool: ChannelPool,
    private readonly o: RouterOptions,
  ) {
    this.cache = new RangeCache(o.maxCachedRanges);
  }

  /**
   * The range holding `key`: from the cache, else from PD, with the ranges after it
   * (LOCATE_PREFETCH_RANGES in one ScanRanges page): a client meeting a keyspace of many
   * ranges learns it a page at a time, not one PD round trip per range.
   */
  async locate(key: Buffer, budget: Budget): Promise<RangeInfo> {
    for (;;) {
      const hit = this.cache.lookup(key);
      if (hit) return hit;
      const res = await this.pd.call('scanRanges', { startKey: key, endKey: EMPTY, limit: LOCATE_PREFETCH_RANGES }, budget);
      const routes = (res.routes ?? []).map(routeFromWire).filter((r): r is RangeInfo => r !== undefined);
      const own = routes.find((r) => rangeContains(r, key));
      if (own) this.cache.insert(own);
      // The neighbours only fill gaps, and never evict: what the cache holds may be newer
      // than PD's view (a split or merge a store told us of).
      for (const r of routes) {
        if (r !== own && this.cache.size < this.cache.maxCachedRanges && !this.cache.overlaps(r)) this.cache.insert(r);
      }
      const found = this.cache.lookup(key);
      if (found) return found;
      // A gap in PD's map is transient: a split's two halves are reported separately, and
      // a new PD leader may not have heard every report yet. Retry under the deadline.
      await budget.retry(`PD knows no range holding key ${key.toString('hex')} yet`);
    }
  }

  /** The range holding the keys just below `end` (empty: the keyspace's end), for reverse walks of [start, end). */
  async locateBefore(end: Buffer, start: Buffer, budget: Budget): Promise<RangeInfo> {
    for (;;) {
      const hit = this.cache.lookupBefore(end);
      if (hit) return hit;
      await this.fetchRanges(start, end, budget, Number.POSITIVE_INFINITY);
      const again = this.cache.lookupBefore(end);
      if (again) return again;
      await budget.retry(`PD knows no range ending at ${end.toString('hex') || 'the end of the keyspace'}`);
    }
  }

  /** Ranges meeting [start, end) from PD (at most `max`), inserted into the cache and returned. */
  async fetchRanges(start: Buffer, end: Buffer, budget: Budget, max: number): Promise<RangeInfo[]> {
    const out: RangeInfo[] = [];
    let cursor = start;
    for (;;) {
      const res = await this.pd.call('scanRanges', { startKey: cursor, endKey: end, limit: SCAN_RANGES_PAGE }, budget);
      const routes = (res.routes ?? []).map(routeFromWire).filter((r): r is RangeInfo => r !== undefined);
      for (const r of routes) {
        this.cache.insert(r);
        out.push(r);
      }
      const last = routes[routes.length - 1];
      if (!res.more || !last || last.endKey.length === 0 || out.length >= max) return out;
      if (end.length > 0 && Buffer.compare(last.endKey, end) >= 0) return out;
      cursor = toBuffer(last.endKey);
    }
  }

  /**
   * The leader when known and not suspect, else the voters round-robin; `spread`
   * (FOLLOWER / STALE reads): any voter, round-robin. The round-robin skips suspect
   * stores unless all are.
   */
  private pickStore(route: RangeInfo, spread: boolean): number {
    const voters = route.replicas.filter((r) => r.role !== ReplicaRole.Learner);
    const all = voters.length > 0 ? voters : route.replicas;
    const live = all.filter((r) => !this.isSuspect(r.storeId));
    // A cached leader that is suspect is tried last too: every range it led would
    // otherwise pay one more attempt timeout (a CAS its whole deadline) to find out.
    if (route.leaderStoreId !== 0 && !spread && (live.length === 0 || !this.isSuspect(route.leaderStoreId))) return route.leaderStoreId;
    const from = live.length > 0 ? live : all;
    if (from.length === 0) return 0;
    return from[this.probe++ % from.length]!.storeId;
  }

  private isSuspect(storeId: number): boolean {
    const until = this.suspectUntil.get(storeId);
    if (until === undefined) return false;
    if (until > this.o.clock.now()) return true;
    this.suspectUntil.delete(storeId);
    return false;
  }

  private suspect(storeId: number): void {
    this.suspectUntil.set(storeId, this.o.clock.now() + this.o.suspectStoreMs);
  }

  async storeAddress(storeId: number, budget: Budget): Promise<string | undefined> {
    const known = this.storeAddresses.get(storeId);
    if (known !== undefined) return known;
    const res = await this.pd.call('getStore', { storeId }, budget);
    const address = res.store?.address ?? '';
    if (address === '') return undefined;
    this.storeAddresses.set(storeId, address);
    return address;
  }

  /**
   * Learns every store's address from PD (ListStores) ahead of need, so a leader that
   * moved to a store this client never called can be reached while PD is down (the likely
   * cause of a nemesis outlier: a probe stalled 4.6 s, until PD came back; the test
   * "PD down: a leader that moved ..." shows the case). Addresses already known are
   * replaced (a store may have moved).
   */
  async learnStores(budget: Budget): Promise<number> {
    const res = await this.pd.call('listStores', {}, budget);
    let n = 0;
    for (const st of res.stores ?? []) {
      const id = Number(st.store?.id ?? 0);
      const address = st.store?.address ?? '';
      if (id === 0 || address === '') continue;
      const old = this.storeAddresses.get(id);
      if (old !== undefined && old !== address) this.pool.forget(old);
      this.storeAddresses.set(id, address);
      n++;
    }
    return n;
  }

  /** Forgets what PD said about stores (addresses may have changed). */
  forgetStore(storeId: number): void {
    const a = this.storeAddresses.get(storeId);
    this.storeAddresses.delete(storeId);
    if (a !== undefined) this.pool.forget(a);
  }

  /**
   * One attempt of `method` on `route`'s range. Returns the response when it succeeded;
   * undefined when it failed in a retryable way (after updating the caches and waiting
   * out the backoff: the caller locates again and retries). Throws final errors.
   */
  async attempt<K extends KvMethodName>(route: RangeInfo, method: K, req: KvReq<K>, kind: RequestKind, budget: Budget): Promise<KvRes<K> | undefined> {
    budget.check();
    const consistency = (req as { header?: metapb.RequestHeader.$Properties | null }).header?.readConsistency;
    const spread = kind === 'read' && (consistency === metapb.ReadConsistency.FOLLOWER || consistency === metapb.ReadConsistency.STALE)
      && budget.retries === 0;
    const storeId = this.pickStore(route, spread);
    if (storeId === 0) {
      this.cache.remove(route.rangeId);
      await budget.retry(`range ${route.rangeId} has no replicas in the cached descriptor`);
      return undefined;
    }
    const address = await this.storeAddress(storeId, budget);
    if (address === undefined) {
      this.cache.setLeader(route.rangeId, 0);
      await budget.retry(`PD has no address for store ${storeId}`);
      return undefined;
    }
    const def = kvService[method] as unknown as MethodDefinition<KvReq<K>, KvRes<K>>;
    const retriable = kind === 'read' || (kind === 'write' && this.o.retryAmbiguousWrites);
    const timeoutMs = Math.max(1, retriable ? Math.min(this.o.rpcTimeoutMs, budget.remainingMs()) : budget.remainingMs());
    const out = await this.watchSilence(storeId, timeoutMs, this.pool.call(address, def, req, timeoutMs));
    if (out.ok) {
      // It answered: whatever it says, the process is not paused.
      this.suspectUntil.delete(storeId);
      this.answers.set(storeId, (this.answers.get(storeId) ?? 0) + 1);
      const re = (out.res as WithRangeError).rangeError;
      if (!re) {
        if (!spread && route.leaderStoreId !== storeId) this.cache.setLeader(route.rangeId, storeId);
        return out.res;
      }
      await this.onRangeError(route, storeId, re, budget);
      return undefined;
    }
    if (!out.sent && out.code === grpc.status.DEADLINE_EXCEEDED) {
      await budget.retry(out.details);
      return undefined;
    }
    if (!out.sent) {
      this.suspect(storeId);
      this.cache.setLeader(route.rangeId, 0);
      this.forgetStore(storeId);
      await budget.retry(out.details, { unreachable: address });
      return undefined;
    }
    const what = `store ${storeId} (${address}): ${grpc.status[out.code]}: ${out.details}`;
    if (out.code === grpc.status.INVALID_ARGUMENT) throw new InvalidArgumentError(out.details, address);
    const transient = out.code === grpc.status.UNAVAILABLE || out.code === grpc.status.DEADLINE_EXCEEDED
      || out.code === grpc.status.CANCELLED || out.code === grpc.status.UNKNOWN;
    if (!transient) throw new StoreError(grpc.status[out.code] ?? String(out.code), out.details, address);
    // Only a whole attempt's silence counts: a call whose own deadline cut the wait short
    // says little, and a false suspicion keeps hints to a live leader unfollowed.
    if (out.code === grpc.status.DEADLINE_EXCEEDED && timeoutMs >= this.o.rpcTimeoutMs) this.suspect(storeId);
    // A broken channel says nothing about leadership, but the next try should probe; an
    // ambiguous answer came from a live leader.
    if (out.code !== grpc.status.UNKNOWN) this.cache.setLeader(route.rangeId, 0);
    // A write that reached the store and did not come back: it may have applied.
    if (!retriable) throw new AmbiguousWriteError(method, address, `${grpc.status[out.code]}: ${out.details}`);
    await budget.retry(what);
    return undefined;
  }

  /**
   * An attempt that is not cut short after rpcTimeoutMs (CAS; writes without
   * retryAmbiguousWrites) still tells on a silent store: once it has waited rpcTimeoutMs
   * and the store answered none of this client's calls meanwhile, the store is suspect.
   * The attempt goes on waiting; the calls after it try the other voters instead of
   * queueing behind a paused or cut-off leader until their deadlines.
   */
  private async watchSilence<T>(storeId: number, timeoutMs: number, call: Promise<T>): Promise<T> {
    if (timeoutMs <= this.o.rpcTimeoutMs) return call;
    const answeredBefore = this.answers.get(storeId) ?? 0;
    const timer = setTimeout(() => {
      if ((this.answers.get(storeId) ?? 0) === answeredBefore) this.suspect(storeId);
    }, this.o.rpcTimeoutMs);
    timer.unref();
    try {
      return await call;
    } finally {
      clearTimeout(timer);
    }
  }

  private async onRangeError(route: RangeInfo, storeId: number, re: metapb.RangeError.$Properties, budget: Budget): Promise<void> {
    const msg = `range ${route.rangeId} on store ${storeId}: ${re.message || 'range error'}`;
    if (re.notLeader) {
      const hint = Number(re.notLeader.leader?.storeId ?? 0);
      if (hint !== 0 && hint !== storeId && !this.isSuspect(hint)) {
        this.cache.setLeader(route.rangeId, hint);
        await budget.retry(msg, { immediate: true });
      } else {
        // A hint to a suspect store is likely a follower that has not noticed its leader stop.
        this.cache.setLeader(route.rangeId, 0);
        await budget.retry(hint !== 0 && hint !== storeId ? `${msg} (hint: store ${hint}, suspect)` : msg, { election: true });
      }
    } else if (re.epochNotMatch) {
      const current = (re.epochNotMatch.current ?? []).map(descriptorFromWire);
      this.cache.remove(route.rangeId);
      // The store passed the leader check before the epoch check: a good first guess for the halves too.
      for (const d of current) this.cache.insert({ ...d, leaderStoreId: storeId });
      await budget.retry(msg, { immediate: current.length > 0 && budget.retries < 3 });
    } else if (re.rangeNotFound) {
      this.cache.remove(route.rangeId);
      await budget.retry(msg);
    } else if (re.keyNotInRange) {
      this.cache.remove(route.rangeId);
      const d = re.keyNotInRange.descriptor;
      if (d) this.cache.insert({ ...descriptorFromWire(d), leaderStoreId: storeId });
      await budget.retry(msg);
    } else if (re.serverBusy) {
      await budget.retry(msg, { minWaitMs: Number(re.serverBusy.backoffMs ?? 0) });
    } else {
      await budget.retry(msg);
    }
  }
}
