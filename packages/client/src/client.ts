// RangeKvClient: the KV and admin API over a rangekv cluster, reached through PD.
//
//   const c = await RangeKvClient.connect({ pd: ['127.0.0.1:2379'] });
//   await c.put('k', 'v'); (await c.get('k'))?.toString();   // 'v'
//   await c.scan('a', 'z', { limit: 10 });
//   await c.split('m');                                       // PD operator, waits for the result
//   c.close();
import * as grpc from '@grpc/grpc-js';
import { metapb, pdpb } from '@rangekv/proto';
import { Budget, realClock, type Clock } from './backoff.js';
import { ChannelPool } from './channels.js';
import { InvalidArgumentError, OperatorFailedError, PdRequestError } from './errors.js';
import { PdClient } from './pd-client.js';
import { rangeContains } from './range-cache.js';
import { loadClientTls, type ClientTlsOptions } from './tls.js';
import { Router, type KvMethodName, type KvReq, type KvRes, type RequestKind } from './router.js';
import {
  configEntryFromWire, consistencyToWire, operatorFromWire, operatorKindToWire, pdMembersFromWire, routeFromWire, storeFromWire, toBuffer,
  type Bytes, type ConfigEntryInfo, type KeyValue, type OperatorInfo, type OperatorKind, type PdConfigInfo, type PdMemberInfo, type PdMembership, type RangeInfo, type ReadConsistency,
  type SchedulerInfo, type StoreInfo,
} from './types.js';

export interface RangeKvClientOptions {
  /** PD client addresses ("host:port"); any node of the PD group will do. */
  pd: readonly string[];
  /** Default deadline of one call (all its retries), ms. Default 10,000. */
  timeoutMs?: number;
  /**
   * Deadline of one attempt that may be retried once sent, ms (capped by what is left of
   * the call's): reads, and put / batchPut / delete / deleteRange when retryAmbiguousWrites.
   * Short, so a paused store costs little. An attempt that cannot be retried once sent
   * (CAS; any write without retryAmbiguousWrites) gets the call's whole remaining deadline:
   * cutting it short would only turn a possible success into AmbiguousWriteError. PD
   * attempts follow the same rule (operator creation is the one that cannot be retried).
   * Default 1,000.
   */
  rpcTimeoutMs?: number;
  /** Retries per call (per range part for split calls) before RetriesExhaustedError. Default 30. */
  maxRetries?: number;
  /** Backoff: first wait cap and largest wait, ms. Defaults 10 and 500. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /**
   * Longest wait between two tries while a range has no known leader (a NotLeader without
   * a usable hint: an election), ms. Short, so a call finds the new leader soon after the
   * election; such polls do not count against maxRetries (at most 60 of them per call,
   * then the usual backoff). Default 50.
   */
  electionWaitMs?: number;
  /** Range cache bound (LRU beyond it). Default 100,000. */
  maxCachedRanges?: number;
  /** Calls in flight per store / PD channel; more wait. Default 1,024. */
  maxInflightPerChannel?: number;
  /** How long a call waits for a channel to connect before trying elsewhere, ms. Default 1,000. */
  connectTimeoutMs?: number;
  /**
   * Retry put / batchPut / delete / deleteRange whose outcome is unknown. Default false: a
   * retried write may apply twice, the second time after a concurrent writer's later
   * write of the same key, which undoes it (the nemesis found this: a put read back after
   * a newer acknowledged put). Safe to turn on when each key has one writer at a time.
   * CAS is never retried.
   */
  retryAmbiguousWrites?: boolean;
  /**
   * How long a store stays suspect after a sent attempt to it got no answer within
   * rpcTimeoutMs (or it could not be connected to), ms: voters are tried round-robin
   * without it and NotLeader hints naming it are not followed, until it answers or this
   * passes. About 2x a Raft election (500-1,000 ms). Default 2,000.
   */
  suspectStoreMs?: number;
  /**
   * How often the client learns every store's address from PD, ms (also once at connect),
   * so it can reach a store it never called while PD is down. Default 30,000.
   */
  storeRefreshMs?: number;
  /**
   * How often the client asks PD for its members (GetMembers), ms (also once at connect):
   * a PD node added later is used, and a client started with addresses of nodes replaced
   * since keeps reaching PD. Default 10,000.
   */
  pdMemberRefreshMs?: number;
  /**
   * PD addresses remembered (given, learned from GetMembers and redirects), the current
   * member list's first. Must be at least the number given. Default 16.
   */
  maxPdAddresses?: number;
  /**
   * Default deadline of addPdMember and removePdMember, ms: the new node catches up
   * before it is promoted (PD's log and snapshot), which can take tens of seconds.
   * Default 60,000.
   */
  pdMemberChangeTimeoutMs?: number;
  /** Keys per BatchGet / BatchPut request (a range's keys are cut into chunks of this size). Default 1,024 (the store's maxBatchKeys). */
  maxBatchKeys?: number;
  /** Key + value bytes per BatchPut request. Default 4 MiB (the store's maxBatchBytes). */
  maxBatchBytes?: number;
  /** Operator status poll interval, ms. Default 100. */
  operatorPollMs?: number;
  /** Default operator deadline when waiting, ms. Default 60,000. */
  operatorTimeoutMs?: number;
  /** Time and randomness (tests). */
  clock?: Clock;
  /**
   * TLS to PD and the stores: the cluster's CA, and a client certificate and key for
   * servers that require one (the default with TLS). Files are read once, at connect.
   * Absent: plaintext. A TLS mismatch with a server is named in the call's error.
   */
  tls?: ClientTlsOptions;
  /** Sent as "authorization: Bearer TOKEN" with every call: authorizes operators and
   *  configuration when PD was started with --admin-token-file. */
  adminToken?: string;
}

export interface CallOptions {
  /** This call's deadline, ms (default: the client's timeoutMs). */
  timeoutMs?: number;
}

export interface ReadOptions extends CallOptions {
  consistency?: ReadConsistency;
}

export interface ScanOptions extends ReadOptions {
  /** Most pairs returned; 0 or absent: every pair in the span. */
  limit?: number;
  /** Descending from the end of the span. */
  reverse?: boolean;
}

export interface CasOptions extends CallOptions {
  /** The value the key must hold; null: the key must not exist. */
  expected: Bytes | null;
  /** The value to set on a match (ignored with `delete`). */
  newValue?: Bytes;
  /** Delete the key on a match. */
  delete?: boolean;
}

export interface CasResult {
  succeeded: boolean;
  /** The key's value before the call; undefined when it did not exist. */
  previous: Buffer | undefined;
}

export interface OperatorOptions extends CallOptions {
  /** Wait until the operator is final (default true); false returns it RUNNING. */
  wait?: boolean;
}

export interface ListRangesOptions extends CallOptions {
  startKey?: Bytes;
  endKey?: Bytes;
  /** Most ranges returned; default all. */
  limit?: number;
}

type Resolved = Required<Omit<RangeKvClientOptions, 'clock' | 'tls' | 'adminToken'>> & { clock: Clock };

const DEFAULTS = {
  timeoutMs: 10_000,
  rpcTimeoutMs: 1_000,
  maxRetries: 30,
  backoffBaseMs: 10,
  backoffMaxMs: 500,
  electionWaitMs: 50,
  maxCachedRanges: 100_000,
  maxInflightPerChannel: 1_024,
  connectTimeoutMs: 1_000,
  retryAmbiguousWrites: false,
  suspectStoreMs: 2_000,
  storeRefreshMs: 30_000,
  pdMemberRefreshMs: 10_000,
  maxPdAddresses: 16,
  pdMemberChangeTimeoutMs: 60_000,
  maxBatchKeys: 1_024,
  maxBatchBytes: 4 << 20,
  operatorPollMs: 100,
  operatorTimeoutMs: 60_000,
};

const EMPTY = Buffer.alloc(0);

function header(route: RangeInfo, consistency?: ReadConsistency): metapb.RequestHeader.$Properties {
  return { rangeId: route.rangeId, epoch: route.epoch, readConsistency: consistencyToWire(consistency) };
}

function positiveInt(name: string, v: number): void {
  if (!Number.isSafeInteger(v) || v <= 0) throw new RangeError(`${name} must be a positive integer, got ${v}`);
}

/** A PD member id given to a call: a positive safe integer (0 means "none" on the wire). */
function memberId(name: string, v: number): void {
  if (!Number.isSafeInteger(v) || v <= 0) throw new InvalidArgumentError(`${name} must be a positive integer, got ${v}`, '');
}

/** "host:port" with a port in 1..65535 ("[v6]:port" too). */
function hostPort(name: string, v: string): void {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/.exec(v);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65_535) throw new InvalidArgumentError(`${name} must be host:port with a port in 1..65535, got '${v}'`, '');
}

interface Item {
  key: Buffer;
  index: number;
  value?: Buffer;
}

export class RangeKvClient {
  private readonly pool: ChannelPool;
  private readonly router: Router;
  /** The timers of the refresh loops (stores, PD members): at most one per loop. */
  private readonly refreshTimers = new Set<ReturnType<typeof setTimeout>>();
  private closed = false;
  private readonly o: Resolved;

  private constructor(options: RangeKvClientOptions) {
    this.o = { ...DEFAULTS, clock: realClock, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as Resolved;
    for (const k of ['timeoutMs', 'rpcTimeoutMs', 'backoffBaseMs', 'backoffMaxMs', 'electionWaitMs', 'maxCachedRanges', 'maxInflightPerChannel',
      'connectTimeoutMs', 'suspectStoreMs', 'storeRefreshMs', 'pdMemberRefreshMs', 'maxPdAddresses', 'pdMemberChangeTimeoutMs', 'maxBatchKeys', 'maxBatchBytes',
      'operatorPollMs', 'operatorTimeoutMs'] as const) positiveInt(k, this.o[k]);
    if (!Number.isSafeInteger(this.o.maxRetries) || this.o.maxRetries < 0) throw new RangeError(`maxRetries must be >= 0, got ${this.o.maxRetries}`);
    const md = new grpc.Metadata();
    if (options.adminToken !== undefined) md.set('authorization', `Bearer ${options.adminToken}`);
    this.pool = new ChannelPool({
      maxInflightPerChannel: this.o.maxInflightPerChannel,
      connectTimeoutMs: this.o.connectTimeoutMs,
      maxReconnectBackoffMs: 1_000,
      tls: options.tls ? loadClientTls(options.tls) : null,
      metadata: md,
    });
    const pd = new PdClient(options.pd, this.pool, this.o.rpcTimeoutMs, this.o.maxPdAddresses);
    this.router = new Router(pd, this.pool, this.o);
  }

  /** Connects: finds the PD leader and learns the other PD members. Throws PdUnavailableError when no PD node answers in time. */
  static async connect(options: RangeKvClientOptions): Promise<RangeKvClient> {
    const c = new RangeKvClient(options);
    try {
      await c.refreshPdMembers(c.budget('connect', {}));
    } catch (e) {
      // A PD that answers but refuses GetMembers is still a PD: connect with the given addresses.
      if (!(e instanceof PdRequestError)) {
        c.close();
        throw e;
      }
    }
    await c.router.learnStores(c.refreshBudget('learnStores')).catch(() => undefined);
    // Connect did each once: every store's address (Router.learnStores), PD's members.
    c.every(c.o.storeRefreshMs, () => c.router.learnStores(c.refreshBudget('learnStores')));
    c.every(c.o.pdMemberRefreshMs, () => c.refreshPdMembers(c.refreshBudget('getMembers')));
    return c;
  }

  /** Closes every channel and stops the refresh loops. Calls in flight fail. */
  close(): void {
    this.closed = true;
    for (const t of this.refreshTimers) clearTimeout(t);
    this.refreshTimers.clear();
    this.pool.close();
  }

  /** Runs `work` `everyMs` after its previous run ended, until close; a failure waits for the next turn. */
  private every(everyMs: number, work: () => Promise<unknown>): void {
    if (this.closed) return;
    const t = setTimeout(() => {
      this.refreshTimers.delete(t);
      void work().catch(() => undefined).finally(() => this.every(everyMs, work));
    }, everyMs);
    t.unref();
    this.refreshTimers.add(t);
  }

  /** Asks PD for its members and remembers their client addresses (PdClient.setMembers). */
  private async refreshPdMembers(budget: Budget): Promise<void> {
    const res = await this.router.pd.call('getMembers', {}, budget);
    this.router.pd.setMembers((res.members ?? []).map((m) => m.address ?? ''));
  }

  /** The PD addresses known (the last member list's first, then given ones and redirects; at most maxPdAddresses). */
  pdAddresses(): string[] {
    return this.router.pd.addresses();
  }

  /** The cached ranges, ascending (debugging and tests). */
  cachedRanges(): RangeInfo[] {
    return this.router.cache.all();
  }

  /** Learning the stores (and, later, PD's members) is an optimization: one rpcTimeoutMs and a few retries at most (a PD not bootstrapped yet must not hold up connect). */
  private refreshBudget(op: string): Budget {
    return new Budget(op, this.o.clock.now() + this.o.rpcTimeoutMs, this.o.rpcTimeoutMs, 2, this.o, this.o.clock);
  }

  private budget(op: string, opts: CallOptions): Budget {
    const timeoutMs = opts.timeoutMs ?? this.o.timeoutMs;
    return new Budget(op, this.o.clock.now() + timeoutMs, timeoutMs, this.o.maxRetries, this.o, this.o.clock);
  }

  /** Retries `method` on the range holding `key` until it succeeds. */
  private async single<K extends KvMethodName>(key: Buffer, method: K, kind: RequestKind, budget: Budget, build: (route: RangeInfo) => KvReq<K>): Promise<KvRes<K>> {
    for (;;) {
      const route = await this.router.locate(key, budget);
      const res = await this.router.attempt(route, method, build(route), kind, budget);
      if (res !== undefined) return res;
    }
  }

  // ---- reads ----------------------------------------------------------------------------

  /** The key's value, undefined when absent. */
  async get(key: Bytes, opts: ReadOptions = {}): Promise<Buffer | undefined> {
    const k = toBuffer(key);
    const res = await this.single(k, 'get', 'read', this.budget('get', opts), (r) => ({ header: header(r, opts.consistency), key: k }));
    return res.found ? toBuffer(res.value ?? EMPTY) : undefined;
  }

  /** Values of `keys` in order (undefined where absent). Keys are grouped per range; one BatchGet per range (chunked by maxBatchKeys), in parallel. */
  async batchGet(keys: readonly Bytes[], opts: ReadOptions = {}): Promise<Array<Buffer | undefined>> {
    const out: Array<Buffer | undefined> = new Array(keys.length).fill(undefined);
    const items = keys.map((k, index) => ({ key: toBuffer(k), index }));
    await this.perRange(items, this.budget('batchGet', opts), async (route, part, b) => {
      const res = await this.router.attempt(route, 'batchGet', { header: header(route, opts.consistency), keys: part.map((i) => i.key) }, 'read', b);
      if (res === undefined) return false;
      const found = new Map<string, Buffer>();
      for (const p of res.pairs ?? []) found.set(toBuffer(p.key ?? EMPTY).toString('latin1'), toBuffer(p.value ?? EMPTY));
      for (const i of part) out[i.index] = found.get(i.key.toString('latin1'));
      return true;
    });
    return out;
  }

  /**
   * Pairs with keys in [start, end) (empty end: to the end of the keyspace), ascending
   * (descending with `reverse`), at most `limit`. Walks the ranges in order and
   * continues across range boundaries; each range answers at one point of its state
   * (a scan across ranges is not one snapshot).
   */
  async scan(start: Bytes, end: Bytes, opts: ScanOptions = {}): Promise<KeyValue[]> {
    const s = toBuffer(start);
    const e = toBuffer(end);
    const limit = opts.limit ?? 0;
    if (!Number.isSafeInteger(limit) || limit < 0) throw new InvalidArgumentError(`limit must be a non-negative integer, got ${limit}`, '');
    if (e.length > 0 && Buffer.compare(s, e) >= 0) return [];
    const budget = this.budget('scan', opts);
    const out: KeyValue[] = [];
    const want = (): number => (limit === 0 ? 0 : Math.min(limit - out.length, 10_000));
    const push = (pairs: Array<{ key?: Uint8Array | null; value?: Uint8Array | null }>): void => {
      for (const p of pairs) out.push({ key: toBuffer(p.key ?? EMPTY), value: toBuffer(p.value ?? EMPTY) });
    };
    if (!opts.reverse) {
      let cursor = s;
      // Each range piece has its own retry count (a new one once the cursor moves on).
      let part = budget.fork();
      for (;;) {
        const route = await this.router.locate(cursor, part);
        const res = await this.router.attempt(route, 'scan',
          { header: header(route, opts.consistency), startKey: cursor, endKey: e, limit: want(), reverse: false }, 'read', part);
        if (res === undefined) continue;
        part = budget.fork();
        const pairs = res.pairs ?? [];
        push(pairs);
        if (limit > 0 && out.length >= limit) return out.slice(0, limit);
        const last = pairs[pairs.length - 1];
        if (res.more && last) {
          cursor = Buffer.concat([toBuffer(last.key ?? EMPTY), Buffer.from([0])]);
        } else {
          if (route.endKey.length === 0 || (e.length > 0 && Buffer.compare(route.endKey, e) >= 0)) return out;
          cursor = toBuffer(route.endKey);
        }
        if (e.length > 0 && Buffer.compare(cursor, e) >= 0) return out;
      }
    }
    let upper = e;
    let part = budget.fork();
    for (;;) {
      const route = await this.router.locateBefore(upper, s, part);
      const res = await this.router.attempt(route, 'scan',
        { header: header(route, opts.consistency), startKey: s, endKey: upper, limit: want(), reverse: true }, 'read', part);
      if (res === undefined) continue;
      part = budget.fork();
      const pairs = res.pairs ?? [];
      push(pairs);
      if (limit > 0 && out.length >= limit) return out.slice(0, limit);
      const last = pairs[pairs.length - 1];
      if (res.more && last) {
        upper = toBuffer(last.key ?? EMPTY);
      } else {
        if (route.startKey.length === 0 || Buffer.compare(route.startKey, s) <= 0) return out;
        upper = toBuffer(route.startKey);
      }
      if (Buffer.compare(upper, s) <= 0) return out;
    }
  }

  // ---- writes ---------------------------------------------------------------------------

  async put(key: Bytes, value: Bytes, opts: CallOptions = {}): Promise<void> {
    const k = toBuffer(key);
    const v = toBuffer(value);
    await this.single(k, 'put', 'write', this.budget('put', opts), (r) => ({ header: header(r), key: k, value: v }));
  }

  /**
   * Writes every pair. Pairs are grouped per range: one BatchPut per range (chunked by
   * maxBatchKeys / maxBatchBytes), sent in parallel. Atomic per request (one range,
   * one chunk), not across ranges. A key given twice keeps its last value.
   */
  async batchPut(pairs: ReadonlyArray<{ key: Bytes; value: Bytes }>, opts: CallOptions = {}): Promise<void> {
    const last = new Map<string, Item>();
    pairs.forEach((p, index) => {
      const key = toBuffer(p.key);
      last.set(key.toString('latin1'), { key, index, value: toBuffer(p.value) });
    });
    await this.perRange([...last.values()], this.budget('batchPut', opts), async (route, part, b) => {
      const res = await this.router.attempt(route, 'batchPut', { header: header(route), pairs: part.map((i) => ({ key: i.key, value: i.value! })) }, 'write', b);
      return res !== undefined;
    });
  }

  async delete(key: Bytes, opts: CallOptions = {}): Promise<void> {
    const k = toBuffer(key);
    await this.single(k, 'delete', 'write', this.budget('delete', opts), (r) => ({ header: header(r), key: k }));
  }

  /** Deletes every key in [start, end) (empty end: to the end of the keyspace), one DeleteRange per range, in key order. Not atomic across ranges. */
  async deleteRange(start: Bytes, end: Bytes, opts: CallOptions = {}): Promise<void> {
    const s = toBuffer(start);
    const e = toBuffer(end);
    if (e.length > 0 && Buffer.compare(s, e) > 0) throw new InvalidArgumentError('deleteRange: start must not be above end', '');
    if (e.length > 0 && Buffer.compare(s, e) === 0) return;
    const budget = this.budget('deleteRange', opts);
    let cursor = s;
    let part = budget.fork();
    for (;;) {
      const route = await this.router.locate(cursor, part);
      const pieceEnd = route.endKey.length === 0 ? e : e.length === 0 ? route.endKey : Buffer.compare(e, route.endKey) < 0 ? e : route.endKey;
      const res = await this.router.attempt(route, 'deleteRange', { header: header(route), startKey: cursor, endKey: pieceEnd }, 'write', part);
      if (res === undefined) continue;
      part = budget.fork();
      if (route.endKey.length === 0 || (e.length > 0 && Buffer.compare(route.endKey, e) >= 0)) return;
      cursor = toBuffer(route.endKey);
    }
  }

  /**
   * Sets (or deletes) `key` when its current state matches `expected`. Never retried once
   * sent: a lost answer is AmbiguousWriteError.
   */
  async compareAndSwap(key: Bytes, opts: CasOptions): Promise<CasResult> {
    const k = toBuffer(key);
    const res = await this.single(k, 'compareAndSwap', 'cas', this.budget('compareAndSwap', opts), (r) => ({
      header: header(r),
      key: k,
      expectExists: opts.expected !== null,
      expectedValue: opts.expected === null ? EMPTY : toBuffer(opts.expected),
      newValue: opts.newValue === undefined ? EMPTY : toBuffer(opts.newValue),
      delete: opts.delete === true,
    }));
    return { succeeded: res.succeeded === true, previous: res.previousExists ? toBuffer(res.previousValue ?? EMPTY) : undefined };
  }

  /**
   * Runs `fn` on the items of each range (chunked), in parallel. `fn` returns false after
   * a retryable failure: the part's keys are located again (a split may have moved some
   * to another range) and retried under the part's own retry budget.
   */
  private async perRange(items: Item[], budget: Budget, fn: (route: RangeInfo, part: Item[], b: Budget) => Promise<boolean>): Promise<void> {
    const groups = new Map<number, { route: RangeInfo; items: Item[] }>();
    for (const it of items) {
      const route = await this.router.locate(it.key, budget);
      let g = groups.get(route.rangeId);
      if (!g) groups.set(route.rangeId, (g = { route, items: [] }));
      g.items.push(it);
    }
    const parts: Item[][] = [];
    for (const g of groups.values()) parts.push(...this.chunk(g.items));
    await Promise.all(parts.map((p) => this.runPart(p, budget.fork(), fn)));
  }

  private chunk(items: Item[]): Item[][] {
    const out: Item[][] = [];
    let cur: Item[] = [];
    let bytes = 0;
    for (const it of items) {
      const size = it.key.length + (it.value?.length ?? 0);
      if (cur.length > 0 && (cur.length >= this.o.maxBatchKeys || bytes + size > this.o.maxBatchBytes)) {
        out.push(cur);
        cur = [];
        bytes = 0;
      }
      cur.push(it);
      bytes += size;
    }
    if (cur.length > 0) out.push(cur);
    return out;
  }

  private async runPart(items: Item[], b: Budget, fn: (route: RangeInfo, part: Item[], b: Budget) => Promise<boolean>): Promise<void> {
    const elsewhere: Array<Promise<void>> = [];
    try {
      let part = items;
      for (;;) {
        const route = await this.router.locate(part[0]!.key, b);
        const inside = part.filter((i) => rangeContains(route, i.key));
        const outside = part.filter((i) => !rangeContains(route, i.key));
        if (outside.length > 0) elsewhere.push(this.perRange(outside, b.fork(), fn));
        part = inside;
        if (await fn(route, part, b)) break;
      }
    } finally {
      await Promise.allSettled(elsewhere);
    }
    await Promise.all(elsewhere);
  }

  // ---- admin (PD) -----------------------------------------------------------------------

  async listStores(opts: CallOptions = {}): Promise<StoreInfo[]> {
    const res = await this.router.pd.call('listStores', {}, this.budget('listStores', opts));
    return (res.stores ?? []).map((s) => storeFromWire(s.store, s.stats)).sort((a, b) => a.id - b.id);
  }

  async getStore(storeId: number, opts: CallOptions = {}): Promise<StoreInfo | undefined> {
    const res = await this.router.pd.call('getStore', { storeId }, this.budget('getStore', opts));
    return res.store ? storeFromWire(res.store, res.stats) : undefined;
  }

  /**
   * Starts decommissioning a store: PD moves every replica and leader off it (it shows
   * 'offline'), then marks it 'tombstone' and refuses it for good. `cancel` stops a
   * decommission in progress. Setting the same state again is harmless, so it is retried.
   */
  async decommissionStore(storeId: number, opts: CallOptions & { cancel?: boolean } = {}): Promise<StoreInfo> {
    const res = await this.router.pd.call('decommissionStore', { storeId, cancel: opts.cancel === true }, this.budget('decommissionStore', opts));
    if (!res.store) throw new PdRequestError('decommissionStore', 'PD answered without the store');
    return storeFromWire(res.store, null);
  }

  /** PD's members (its raft group's voters and learners), ascending by id, and the leader's commit index. */
  async listPdMembers(opts: CallOptions = {}): Promise<PdMembership> {
    const res = await this.router.pd.call('getMembers', {}, this.budget('getMembers', opts));
    this.router.pd.setMembers((res.members ?? []).map((m) => m.address ?? ''));
    return { members: pdMembersFromWire(res.members), commitIndex: Number(res.commitIndex ?? 0) };
  }

  /**
   * Adds PD node `id` (started with `rangekv pd --join`, listening at `raftAddress`) to
   * PD's raft group: PD's leader adds it as a learner, waits until it caught up, then
   * promotes it to voter, removing `replaceId` (when given) in the same joint step. Returns
   * the members after the change. Deadline: `timeoutMs`, default pdMemberChangeTimeoutMs.
   * Not retried once sent (AmbiguousWriteError: list the members to see what happened;
   * calling it again for a learner left behind promotes it); a `not_leader` answer (nothing
   * done) is followed to the leader.
   */
  async addPdMember(member: { id: number; raftAddress: string; clientAddress: string; replaceId?: number }, opts: CallOptions = {}): Promise<PdMemberInfo[]> {
    memberId('id', member.id);
    if (member.replaceId !== undefined) {
      memberId('replaceId', member.replaceId);
      if (member.replaceId === member.id) throw new InvalidArgumentError(`replaceId must differ from id (${member.id})`, '');
    }
    hostPort('raftAddress', member.raftAddress);
    hostPort('clientAddress', member.clientAddress);
    const req = { id: member.id, raftAddress: member.raftAddress, clientAddress: member.clientAddress, replaceId: member.replaceId ?? 0 };
    const res = await this.router.pd.call('addPdMember', req, this.budget('addPdMember', { timeoutMs: opts.timeoutMs ?? this.o.pdMemberChangeTimeoutMs }), true);
    return this.membersAfterChange(res.members);
  }

  /**
   * Removes PD node `id` from PD's raft group (joint consensus); returns the members after
   * the change. Removing the leader makes it hand leadership to another voter first (its
   * `not_leader` answer is followed to the new one). Same deadline and retry rules as
   * addPdMember.
   */
  async removePdMember(id: number, opts: CallOptions = {}): Promise<PdMemberInfo[]> {
    memberId('id', id);
    const res = await this.router.pd.call('removePdMember', { id }, this.budget('removePdMember', { timeoutMs: opts.timeoutMs ?? this.o.pdMemberChangeTimeoutMs }), true);
    return this.membersAfterChange(res.members);
  }

  private membersAfterChange(wire: pdpb.PdMember.$Properties[] | null | undefined): PdMemberInfo[] {
    const members = pdMembersFromWire(wire);
    this.router.pd.setMembers(members.map((m) => m.address));
    return members;
  }

  /** PD's run-time settings (value now, whether set at run time) and its schedulers (enabled, paused). */
  async getConfig(opts: CallOptions = {}): Promise<PdConfigInfo> {
    const res = await this.router.pd.call('getConfig', {}, this.budget('getConfig', opts));
    return {
      entries: (res.entries ?? []).map(configEntryFromWire),
      schedulers: (res.schedulers ?? []).map((s) => ({ name: s.name ?? '', enabled: s.enabled === true, paused: s.paused === true })),
    };
  }

  /** Sets a run-time setting (persisted in PD's state); `reset` instead goes back to the flag's value. */
  async setConfig(key: string, value: number | 'reset', opts: CallOptions = {}): Promise<ConfigEntryInfo> {
    const req = value === 'reset' ? { key, reset: true } : { key, value };
    const res = await this.router.pd.call('setConfig', req, this.budget('setConfig', opts));
    if (!res.entry) throw new PdRequestError('setConfig', 'PD answered without the setting');
    return configEntryFromWire(res.entry);
  }

  /** Pauses (or resumes) a PD scheduler by name: balance-leader, replica-checker, balance-replica, split-checker, balance-hot, merge-checker. */
  async setSchedulerPaused(name: string, paused: boolean, opts: CallOptions = {}): Promise<SchedulerInfo> {
    const res = await this.router.pd.call('setScheduler', { name, paused }, this.budget('setScheduler', opts));
    const s = res.scheduler;
    if (!s) throw new PdRequestError('setScheduler', 'PD answered without the scheduler');
    return { name: s.name ?? '', enabled: s.enabled === true, paused: s.paused === true };
  }

  /** The ranges meeting [startKey, endKey) as PD knows them, ascending. */
  async listRanges(opts: ListRangesOptions = {}): Promise<RangeInfo[]> {
    const budget = this.budget('listRanges', opts);
    const out = await this.router.fetchRanges(toBuffer(opts.startKey ?? EMPTY), toBuffer(opts.endKey ?? EMPTY), budget, opts.limit ?? Number.POSITIVE_INFINITY);
    return opts.limit === undefined ? out : out.slice(0, opts.limit);
  }

  /** The range holding `key`, asked of PD (not the cache). */
  async getRange(key: Bytes, opts: CallOptions = {}): Promise<RangeInfo> {
    const k = toBuffer(key);
    const res = await this.router.pd.call('getRangeByKey', { key: k }, this.budget('getRange', opts));
    const info = res.route ? routeFromWire(res.route) : undefined;
    if (!info) throw new PdRequestError('getRangeByKey', `no range holds key ${k.toString('hex')}`);
    return info;
  }

  /** Splits the range holding `key` at `key`. */
  async split(key: Bytes, opts: OperatorOptions = {}): Promise<OperatorInfo> {
    const k = toBuffer(key);
    const range = await this.getRange(k, opts);
    return this.runOperator('split', { rangeId: range.rangeId, splitKey: k }, opts);
  }

  async transferLeader(rangeId: number, toStore: number, opts: OperatorOptions = {}): Promise<OperatorInfo> {
    return this.runOperator('transfer-leader', { rangeId, toStore }, opts);
  }

  async addReplica(rangeId: number, storeId: number, opts: OperatorOptions = {}): Promise<OperatorInfo> {
    return this.runOperator('add-replica', { rangeId, toStore: storeId }, opts);
  }

  async removeReplica(rangeId: number, storeId: number, opts: OperatorOptions = {}): Promise<OperatorInfo> {
    return this.runOperator('remove-replica', { rangeId, fromStore: storeId }, opts);
  }

  async moveReplica(rangeId: number, fromStore: number, toStore: number, opts: OperatorOptions = {}): Promise<OperatorInfo> {
    return this.runOperator('move-replica', { rangeId, fromStore, toStore }, opts);
  }

  /**
   * Merges range `rangeId` with the range to its right (PD moves that one's replicas and
   * leadership to this one's stores first when they differ). The result's `descriptor` is
   * the merged range, `right` the right range as it was. PD's own timeout for it is 180 s:
   * give `timeoutMs` to match when its stores differ.
   */
  async merge(rangeId: number, opts: OperatorOptions = {}): Promise<OperatorInfo> {
    return this.runOperator('merge', { rangeId }, opts);
  }

  async getOperator(id: number, opts: CallOptions = {}): Promise<OperatorInfo> {
    const res = await this.router.pd.call('getOperator', { id }, this.budget('getOperator', opts));
    if (!res.operator) throw new PdRequestError('getOperator', `no operator ${id}`);
    return operatorFromWire(res.operator);
  }

  async listOperators(opts: CallOptions = {}): Promise<OperatorInfo[]> {
    const res = await this.router.pd.call('listOperators', {}, this.budget('listOperators', opts));
    return (res.operators ?? []).map(operatorFromWire);
  }

  /**
   * Creates the operator (not waiting at PD, so a PD leader change cannot lose the
   * answer), then polls it every operatorPollMs until it is final or the deadline
   * (default operatorTimeoutMs) passes. FAILED / TIMED_OUT: OperatorFailedError.
   */
  private async runOperator(kind: OperatorKind, fields: Partial<Pick<pdpb.CreateOperatorRequest.$Properties, 'rangeId' | 'toStore' | 'fromStore' | 'splitKey'>>, opts: OperatorOptions): Promise<OperatorInfo> {
    const timeoutMs = opts.timeoutMs ?? this.o.operatorTimeoutMs;
    const budget = this.budget(kind, { timeoutMs });
    const res = await this.router.pd.call('createOperator',
      { kind: operatorKindToWire(kind), ...fields, wait: false, timeoutMs: opts.timeoutMs ?? 0 }, budget, true);
    if (!res.operator) throw new PdRequestError('createOperator', 'PD answered without an operator');
    let op = operatorFromWire(res.operator);
    if (fields.rangeId) this.router.cache.remove(Number(fields.rangeId));
    if (opts.wait === false) return op;
    while (op.status === 'running') {
      const wait = Math.min(this.o.operatorPollMs, budget.remainingMs());
      if (wait <= 0) break;
      await this.o.clock.sleep(wait);
      const got = await this.router.pd.call('getOperator', { id: op.id }, budget.fork());
      if (got.operator) op = operatorFromWire(got.operator);
    }
    if (op.status === 'running') budget.check();
    if (fields.rangeId) this.router.cache.remove(Number(fields.rangeId));
    if (kind === 'merge' && op.right) this.router.cache.remove(op.right.rangeId);
    if (op.status === 'failed' || op.status === 'timed-out') throw new OperatorFailedError(op);
    return op;
  }
}
