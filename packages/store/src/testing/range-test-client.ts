// A range-aware test client over gRPC: a range cache filled from the stores' ListRanges,
// routing by key, leader hints from NotLeader, refresh on KeyNotInRange / EpochNotMatch /
// RangeNotFound, retries under a deadline. Plus the store admin calls. Just enough to
// drive multi-range tests against real store processes (the product client is
// packages/client).
import * as grpc from '@grpc/grpc-js';
import { kvService, metapb, storeAdminService, type MethodDefinition } from '@rangekv/proto';
import { AMBIGUOUS_METADATA_KEY } from '../errors.js';

type Desc = metapb.RangeDescriptor.$Properties;
type RangeErr = metapb.RangeError.$Properties | null | undefined;

export type Outcome<R> = { ok: true; res: R } | { ok: false; code: grpc.status; details: string; ambiguous: boolean };

interface CachedRange {
  desc: Desc;
  leaderStore: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function cmp(a: Uint8Array | null | undefined, b: Uint8Array | null | undefined): number {
  return Buffer.compare(Buffer.from(a ?? []), Buffer.from(b ?? []));
}

function contains(d: Desc, key: Uint8Array): boolean {
  const end = d.endKey ?? new Uint8Array(0);
  return cmp(key, d.startKey) >= 0 && (end.length === 0 || cmp(key, end) < 0);
}

function newer(a: Desc, b: Desc): boolean {
  const av = a.epoch?.version ?? 0;
  const bv = b.epoch?.version ?? 0;
  return av !== bv ? av > bv : (a.epoch?.confVer ?? 0) > (b.epoch?.confVer ?? 0);
}

export interface RangeClientStats {
  attempts: number;
  notLeader: number;
  refreshes: number;
  ambiguous: number;
  unavailable: number;
  busy: number;
}

export class RangeTestClient {
  private readonly channels = new Map<number, grpc.Client>();
  private readonly addrs = new Map<number, string>();
  private ranges = new Map<number, CachedRange>();
  readonly stats: RangeClientStats = { attempts: 0, notLeader: 0, refreshes: 0, ambiguous: 0, unavailable: 0, busy: 0 };

  setAddress(storeId: number, addr: string): void {
    if (this.addrs.get(storeId) === addr) return;
    this.channels.get(storeId)?.close();
    this.channels.delete(storeId);
    this.addrs.set(storeId, addr);
  }

  get storeIds(): number[] {
    return [...this.addrs.keys()].sort((a, b) => a - b);
  }

  private channel(storeId: number): grpc.Client {
    let c = this.channels.get(storeId);
    if (!c) {
      const addr = this.addrs.get(storeId);
      if (addr === undefined) throw new Error(`no address for store ${storeId}`);
      c = new grpc.Client(addr, grpc.credentials.createInsecure());
      this.channels.set(storeId, c);
    }
    return c;
  }

  /** One unary call; never throws for gRPC errors. */
  call<Req, Res>(storeId: number, m: MethodDefinition<Req, Res>, req: Req, timeoutMs = 3_000): Promise<Outcome<Res>> {
    return new Promise((resolve) => {
      this.channel(storeId).makeUnaryRequest(m.path, m.requestSerialize, m.responseDeserialize, req, new grpc.Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err: grpc.ServiceError | null, res?: Res) => {
          if (err) resolve({ ok: false, code: err.code, details: err.details, ambiguous: (err.metadata?.get(AMBIGUOUS_METADATA_KEY) ?? []).length > 0 });
          else resolve({ ok: true, res: res! });
        });
    });
  }

  /** Rebuilds the range cache from every reachable store's ListRanges (newest descriptor per range wins). */
  async refresh(): Promise<void> {
    this.stats.refreshes++;
    const next = new Map<number, CachedRange>();
    await Promise.all(this.storeIds.map(async (sid) => {
      let after = 0;
      for (;;) {
        const out = await this.call(sid, storeAdminService.listRanges, { afterRangeId: after, limit: 1000 }, 2_000);
        if (!out.ok) return;
        for (const s of out.res.ranges ?? []) {
          const d = s.descriptor!;
          const id = d.rangeId!;
          const cur = next.get(id);
          const leads = s.role === 2; // LEADER
          if (!cur || newer(d, cur.desc)) next.set(id, { desc: d, leaderStore: leads ? sid : (cur?.leaderStore ?? 0) });
          else if (leads) cur.leaderStore = sid;
          after = id;
        }
        if (!out.res.more) return;
      }
    }));
    this.ranges = next;
  }

  /** The cached range holding `key` (the newest if the cache has overlapping versions). */
  route(key: Uint8Array): CachedRange | undefined {
    let best: CachedRange | undefined;
    for (const r of this.ranges.values()) if (contains(r.desc, key) && (!best || newer(r.desc, best.desc))) best = r;
    return best;
  }

  rangeCount(): number {
    return this.ranges.size;
  }

  /**
   * Sends a KV request for `key` to its range's leader until it succeeds or the deadline
   * passes. `ambiguous` is true if some attempt's outcome was unknown (a write may have
   * applied then).
   */
  async kv<Req extends { header?: metapb.RequestHeader.$Properties | null }, Res extends { rangeError?: RangeErr }>(
    m: MethodDefinition<Req, Res>, key: Uint8Array, make: (header: metapb.RequestHeader.$Properties) => Req,
    opts: { deadlineMs?: number; consistency?: metapb.ReadConsistency } = {},
  ): Promise<{ res: Res; ambiguous: boolean }> {
    const deadline = Date.now() + (opts.deadlineMs ?? 30_000);
    let ambiguous = false;
    let rr = 0;
    let last = '';
    while (Date.now() < deadline) {
      let r = this.route(key);
      if (!r) {
        await this.refresh();
        r = this.route(key);
        if (!r) {
          await sleep(20);
          continue;
        }
      }
      const ids = this.storeIds;
      const target = r.leaderStore !== 0 ? r.leaderStore : ids[rr++ % ids.length]!;
      this.stats.attempts++;
      const header = { rangeId: r.desc.rangeId!, epoch: { confVer: r.desc.epoch?.confVer ?? 0, version: r.desc.epoch?.version ?? 0 }, readConsistency: opts.consistency ?? metapb.ReadConsistency.LINEARIZABLE };
      const out = await this.call(target, m, make(header), Math.min(3_000, Math.max(100, deadline - Date.now())));
      if (out.ok) {
        const re = out.res.rangeError;
        if (!re) {
          r.leaderStore = target;
          return { res: out.res, ambiguous };
        }
        last = re.message ?? 'range error';
        if (re.notLeader) {
          this.stats.notLeader++;
          const hinted = re.notLeader.leader?.storeId ?? 0;
          r.leaderStore = hinted !== target ? hinted : 0;
          if (r.leaderStore === 0) await sleep(20);
        } else if (re.serverBusy) {
          this.stats.busy++;
          await sleep(Math.max(20, re.serverBusy.backoffMs ?? 0));
        } else {
          // KeyNotInRange, EpochNotMatch, RangeNotFound: the cache is stale.
          await this.refresh();
          await sleep(5);
        }
        continue;
      }
      if (out.ambiguous) {
        this.stats.ambiguous++;
        ambiguous = true;
      } else if ([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED, grpc.status.CANCELLED].includes(out.code)) {
        this.stats.unavailable++;
        // A write that timed out on the wire may have applied.
        if (out.code !== grpc.status.UNAVAILABLE) ambiguous = true;
      } else {
        throw new Error(`${m.path} on store ${target}: ${grpc.status[out.code]}: ${out.details}`);
      }
      last = `${grpc.status[out.code]}: ${out.details}`;
      r.leaderStore = 0;
      await sleep(20);
    }
    throw new Error(`${m.path} for key ${Buffer.from(key).toString()} did not succeed in time (last: ${last})`);
  }

  put(key: Uint8Array, value: Uint8Array, deadlineMs?: number): Promise<{ ambiguous: boolean }> {
    return this.kv(kvService.put, key, (header) => ({ header, key, value }), deadlineMs !== undefined ? { deadlineMs } : {});
  }

  async get(key: Uint8Array, consistency?: metapb.ReadConsistency): Promise<Uint8Array | null> {
    const { res } = await this.kv(kvService.get, key, (header) => ({ header, key }), consistency !== undefined ? { consistency } : {});
    return res.found ? (res.value ?? new Uint8Array(0)) : null;
  }

  close(): void {
    for (const c of this.channels.values()) c.close();
    this.channels.clear();
  }
}
