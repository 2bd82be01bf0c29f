// groups-per-node: a light gRPC client for the benchmark. Several channels per store
// (each its own HTTP/2 connection), a range table sorted by start key (binary-search
// routing: 10,000 ranges), KV calls routed to the leader with NotLeader hints, and the
// store admin calls (ListRanges, SplitRange, TransferLeader).
import * as grpc from '@grpc/grpc-js';
import { kvService, metapb, storeAdminService, type MethodDefinition } from '@rangekv/proto';

type Desc = metapb.RangeDescriptor.$Properties;
type RangeErr = metapb.RangeError.$Properties;

export type Outcome<R> = { ok: true; res: R } | { ok: false; code: grpc.status; details: string };

export interface RangeEntry {
  desc: Desc;
  start: Buffer;
  /** Empty: the end of the keyspace. */
  end: Buffer;
  /** 0: unknown. */
  leaderStore: number;
}

const RAFT_ROLE_LEADER = 2;
/** ListRanges page size asked for (the store caps it at its own maximum). */
const listRangesPageSize = 1000;
/** A KV call's own gRPC deadline. */
const kvCallTimeoutMs = 5_000;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function bytes(b: Uint8Array | null | undefined): Buffer {
  if (!b) return Buffer.alloc(0);
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

function newer(a: Desc, b: Desc): boolean {
  const av = a.epoch?.version ?? 0;
  const bv = b.epoch?.version ?? 0;
  return av !== bv ? av > bv : (a.epoch?.confVer ?? 0) > (b.epoch?.confVer ?? 0);
}

export function entryOf(desc: Desc, leaderStore: number): RangeEntry {
  return { desc, start: bytes(desc.startKey), end: bytes(desc.endKey), leaderStore };
}

export function headerOf(desc: Desc, consistency: metapb.ReadConsistency = metapb.ReadConsistency.LINEARIZABLE): metapb.RequestHeader.$Properties {
  return { rangeId: desc.rangeId!, epoch: { confVer: desc.epoch?.confVer ?? 0, version: desc.epoch?.version ?? 0 }, readConsistency: consistency };
}

export interface KvStats {
  attempts: number;
  notLeader: number;
  staleRoute: number;
  busy: number;
  unavailable: number;
  failed: number;
}

export class BenchClient {
  private readonly channels = new Map<number, grpc.Client[]>();
  private readonly next = new Map<number, number>();
  private readonly addrs = new Map<number, string>();
  /** Sorted by start key, non-overlapping once refreshed. */
  ranges: RangeEntry[] = [];
  private refreshing: Promise<void> | null = null;
  readonly stats: KvStats = { attempts: 0, notLeader: 0, staleRoute: 0, busy: 0, unavailable: 0, failed: 0 };

  constructor(private readonly channelsPerStore: number) {}

  setAddress(storeId: number, addr: string): void {
    if (this.addrs.get(storeId) === addr) return;
    for (const c of this.channels.get(storeId) ?? []) c.close();
    this.channels.delete(storeId);
    this.addrs.set(storeId, addr);
  }

  get storeIds(): number[] {
    return [...this.addrs.keys()].sort((a, b) => a - b);
  }

  private channel(storeId: number): grpc.Client {
    let cs = this.channels.get(storeId);
    if (!cs) {
      const addr = this.addrs.get(storeId);
      if (addr === undefined) throw new Error(`no address for store ${storeId}`);
      cs = Array.from({ length: this.channelsPerStore }, () =>
        new grpc.Client(addr, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }));
      this.channels.set(storeId, cs);
    }
    const i = this.next.get(storeId) ?? 0;
    this.next.set(storeId, (i + 1) % cs.length);
    return cs[i]!;
  }

  /** One unary call; never throws for gRPC errors. */
  call<Req, Res>(storeId: number, m: MethodDefinition<Req, Res>, req: Req, timeoutMs = 3_000): Promise<Outcome<Res>> {
    return new Promise((resolve) => {
      this.channel(storeId).makeUnaryRequest(m.path, m.requestSerialize, m.responseDeserialize, req, new grpc.Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err: grpc.ServiceError | null, res?: Res) => {
          if (err) resolve({ ok: false, code: err.code, details: err.details });
          else resolve({ ok: true, res: res! });
        });
    });
  }

  /** Every range of every reachable store (ListRanges, paged); newest descriptor wins. */
  async listAll(): Promise<Map<number, RangeEntry>> {
    const all = new Map<number, RangeEntry>();
    await Promise.all(this.storeIds.map(async (sid) => {
      let after = 0;
      for (;;) {
        const out = await this.call(sid, storeAdminService.listRanges, { afterRangeId: after, limit: listRangesPageSize }, 10_000);
        if (!out.ok) return;
        for (const s of out.res.ranges ?? []) {
          const d = s.descriptor!;
          const id = d.rangeId!;
          const cur = all.get(id);
          const leads = s.role === RAFT_ROLE_LEADER;
          if (!cur || newer(d, cur.desc)) all.set(id, entryOf(d, leads ? sid : (cur?.leaderStore ?? 0)));
          else if (leads) cur.leaderStore = sid;
          after = id;
        }
        if (!out.res.more || (out.res.ranges ?? []).length === 0) return;
      }
    }));
    return all;
  }

  /** Rebuilds the routing table; concurrent callers share one refresh. */
  refresh(): Promise<void> {
    if (!this.refreshing) {
      this.refreshing = (async () => {
        try {
          const all = [...(await this.listAll()).values()];
          // Drop superseded descriptors (a store still behind on a split): keep, per start
          // key, the newest; then sort.
          const byStart = new Map<string, RangeEntry>();
          for (const e of all) {
            const k = e.start.toString('hex');
            const cur = byStart.get(k);
            if (!cur || newer(e.desc, cur.desc)) byStart.set(k, e);
          }
          this.ranges = [...byStart.values()].sort((a, b) => Buffer.compare(a.start, b.start));
        } finally {
          this.refreshing = null;
        }
      })();
    }
    return this.refreshing;
  }

  /** The range whose span holds `key` (binary search over start keys). */
  route(key: Buffer): RangeEntry | undefined {
    let lo = 0;
    let hi = this.ranges.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (Buffer.compare(this.ranges[mid]!.start, key) <= 0) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found < 0) return undefined;
    const r = this.ranges[found]!;
    return r.end.length === 0 || Buffer.compare(key, r.end) < 0 ? r : undefined;
  }

  /**
   * A KV request for `key` to its range's leader (or `target` when given, e.g. STALE
   * reads on one store) until it succeeds or `deadlineMs` passes. Returns the store that
   * answered, or 0 on failure.
   */
  async kv<Req extends { header?: metapb.RequestHeader.$Properties | null }, Res extends { rangeError?: RangeErr | null }>(
    m: MethodDefinition<Req, Res>, key: Buffer, make: (header: metapb.RequestHeader.$Properties) => Req,
    opts: { deadlineMs?: number; consistency?: metapb.ReadConsistency; target?: number; retryPauseMs?: number } = {},
  ): Promise<number> {
    const deadline = Date.now() + (opts.deadlineMs ?? 30_000);
    const pause = opts.retryPauseMs ?? 10;
    let rr = 0;
    while (Date.now() < deadline) {
      let r = this.route(key);
      if (!r) {
        this.stats.staleRoute++;
        await this.refresh();
        r = this.route(key);
        if (!r) {
          await sleep(pause);
          continue;
        }
      }
      const ids = this.storeIds;
      const target = opts.target ?? (r.leaderStore !== 0 ? r.leaderStore : ids[rr++ % ids.length]!);
      this.stats.attempts++;
      const out = await this.call(target, m, make(headerOf(r.desc, opts.consistency)), Math.min(kvCallTimeoutMs, Math.max(50, deadline - Date.now())));
      if (out.ok) {
        const re = out.res.rangeError;
        if (!re) {
          if (opts.target === undefined) r.leaderStore = target;
          return target;
        }
        if (re.notLeader) {
          this.stats.notLeader++;
          const hinted = Number(re.notLeader.leader?.storeId ?? 0);
          r.leaderStore = hinted !== target ? hinted : 0;
          if (r.leaderStore === 0) await sleep(pause);
        } else if (re.serverBusy) {
          this.stats.busy++;
          await sleep(Math.max(pause, re.serverBusy.backoffMs ?? 0));
        } else {
          this.stats.staleRoute++;
          await this.refresh();
        }
        continue;
      }
      this.stats.unavailable++;
      if (opts.target === undefined) r.leaderStore = 0;
      await sleep(pause);
    }
    this.stats.failed++;
    return 0;
  }

  put(key: Buffer, value: Buffer, opts: { deadlineMs?: number; retryPauseMs?: number } = {}): Promise<number> {
    return this.kv(kvService.put, key, (header) => ({ header, key, value }), opts);
  }

  get(key: Buffer, consistency: metapb.ReadConsistency, opts: { deadlineMs?: number; target?: number } = {}): Promise<number> {
    return this.kv(kvService.get, key, (header) => ({ header, key }), { ...opts, consistency });
  }

  close(): void {
    for (const cs of this.channels.values()) for (const c of cs) c.close();
    this.channels.clear();
  }
}
