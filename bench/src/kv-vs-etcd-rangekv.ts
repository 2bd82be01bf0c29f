// The rangekv side of kv-vs-etcd (static bootstrap, before PD): three store processes
// (packages/store's StoreProcess, `--bootstrap 1,2,3`, OS-picked ports, peers exchanged
// through --admin-stdin), optionally split into R ranges through the store admin
// service, leaders spread round-robin over the stores; and `RangekvKvTarget`, a lean
// range-routing KvTarget: a range table sorted by start key (binary search per request,
// so 1,000 ranges cost the client no more than one), requests to the range's leader,
// NotLeader hints followed, the table refreshed from the stores' ListRanges on
// KeyNotInRange / EpochNotMatch / RangeNotFound.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { kvService, metapb, storeAdminService, type MethodDefinition } from '@rangekv/proto';
import { StoreProcess } from '../../packages/store/dist/testing/store-process.js';
import { runningClusters, type KvTarget, type SystemUnderTest } from './kv-vs-etcd-load.js';
import type { ProgressLine } from './progress.js';

const STORE_IDS = [1, 2, 3];
const LEADER_ROLE = 2; // adminpb.RaftRole.LEADER
const listRangesPageLimit = 1000;
const requestDeadlineMs = 30_000;
const attemptTimeoutMs = 5_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

type Outcome<R> = { ok: true; res: R } | { ok: false; code: grpc.status; details: string };

interface RouteEntry {
  rangeId: number;
  confVer: number;
  version: number;
  start: Buffer;
  /** Empty: +infinity. */
  end: Buffer;
  /** 0: unknown. */
  leader: number;
}

function buf(b: Uint8Array | null | undefined): Buffer {
  if (!b) return Buffer.alloc(0);
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** Range-routing KV client over one channel per store. */
export class RangekvKvTarget implements KvTarget {
  private readonly clients = new Map<number, grpc.Client>();
  private table: RouteEntry[] = [];
  private refreshing: Promise<void> | null = null;
  private rr = 0;
  readonly stats = { notLeader: 0, refreshes: 0, unavailable: 0, busy: 0 };

  constructor(addrs: ReadonlyMap<number, string>) {
    for (const [id, addr] of addrs) this.clients.set(id, new grpc.Client(addr, grpc.credentials.createInsecure()));
  }

  get rangeCount(): number {
    return this.table.length;
  }

  get ranges(): readonly RouteEntry[] {
    return this.table;
  }

  call<Req, Res>(storeId: number, m: MethodDefinition<Req, Res>, req: Req, timeoutMs = attemptTimeoutMs): Promise<Outcome<Res>> {
    const c = this.clients.get(storeId);
    if (!c) return Promise.resolve({ ok: false, code: grpc.status.UNAVAILABLE, details: `no store ${storeId}` });
    return new Promise((resolve) => {
      c.makeUnaryRequest(m.path, m.requestSerialize, m.responseDeserialize, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs },
        (err: grpc.ServiceError | null, res?: Res) => resolve(err ? { ok: false, code: err.code, details: err.details } : { ok: true, res: res! }));
    });
  }

  /** Rebuilds the table from every store's ListRanges; concurrent callers share one refresh. */
  refresh(): Promise<void> {
    if (!this.refreshing) {
      this.refreshing = this.doRefresh().finally(() => {
        this.refreshing = null;
      });
    }
    return this.refreshing;
  }

  private async doRefresh(): Promise<void> {
    this.stats.refreshes++;
    const byId = new Map<number, RouteEntry>();
    await Promise.all([...this.clients.keys()].map(async (sid) => {
      let after = 0;
      for (;;) {
        const out = await this.call(sid, storeAdminService.listRanges, { afterRangeId: after, limit: listRangesPageLimit }, 3_000);
        if (!out.ok) return;
        for (const s of out.res.ranges ?? []) {
          const d = s.descriptor!;
          const e: RouteEntry = {
            rangeId: d.rangeId ?? 0, confVer: d.epoch?.confVer ?? 0, version: d.epoch?.version ?? 0,
            start: buf(d.startKey), end: buf(d.endKey), leader: s.role === LEADER_ROLE ? sid : 0,
          };
          const cur = byId.get(e.rangeId);
          if (!cur || e.version > cur.version || (e.version === cur.version && e.confVer > cur.confVer)) {
            if (cur && e.leader === 0 && cur.version === e.version) e.leader = cur.leader;
            byId.set(e.rangeId, e);
          } else if (e.leader !== 0 && e.version === cur.version) {
            cur.leader = sid;
          }
          after = e.rangeId;
        }
        if (!out.res.more) return;
      }
    }));
    // Overlaps (a store that has not applied a split yet) resolve to the newer version.
    const all = [...byId.values()].sort((a, b) => Buffer.compare(a.start, b.start) || b.version - a.version);
    const table: RouteEntry[] = [];
    for (const e of all) {
      const prev = table[table.length - 1];
      if (prev && Buffer.compare(prev.start, e.start) === 0) continue;
      table.push(e);
    }
    this.table = table;
  }

  /** The range whose [start, end) holds `key`, by binary search over start keys. */
  route(key: Buffer): RouteEntry | undefined {
    const t = this.table;
    let lo = 0;
    let hi = t.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (Buffer.compare(t[mid]!.start, key) <= 0) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    if (found < 0) return undefined;
    const e = t[found]!;
    return e.end.length === 0 || Buffer.compare(key, e.end) < 0 ? e : undefined;
  }

  private async kv<Req, Res extends { rangeError?: metapb.RangeError.$Properties | null }>(
    m: MethodDefinition<Req, Res>, key: Buffer, make: (header: metapb.RequestHeader.$Properties) => Req,
  ): Promise<Res> {
    const deadline = Date.now() + requestDeadlineMs;
    let last = '';
    while (Date.now() < deadline) {
      const r = this.route(key);
      if (!r) {
        await this.refresh();
        if (!this.route(key)) await sleep(20);
        continue;
      }
      const target = r.leader !== 0 ? r.leader : STORE_IDS[this.rr++ % STORE_IDS.length]!;
      const header = { rangeId: r.rangeId, epoch: { confVer: r.confVer, version: r.version }, readConsistency: metapb.ReadConsistency.LINEARIZABLE };
      const out = await this.call(target, m, make(header));
      if (out.ok) {
        const re = out.res.rangeError;
        if (!re) {
          r.leader = target;
          return out.res;
        }
        last = re.message ?? 'range error';
        if (re.notLeader) {
          this.stats.notLeader++;
          const hinted = re.notLeader.leader?.storeId ?? 0;
          r.leader = hinted !== target ? hinted : 0;
          if (r.leader === 0) await sleep(20);
        } else if (re.serverBusy) {
          this.stats.busy++;
          await sleep(Math.max(10, re.serverBusy.backoffMs ?? 0));
        } else {
          await this.refresh();
        }
        continue;
      }
      if (out.code !== grpc.status.UNAVAILABLE && out.code !== grpc.status.DEADLINE_EXCEEDED) {
        throw new Error(`${m.path} on store ${target}: ${grpc.status[out.code]}: ${out.details}`);
      }
      this.stats.unavailable++;
      last = `${grpc.status[out.code]}: ${out.details}`;
      r.leader = 0;
      await sleep(20);
    }
    throw new Error(`${m.path} did not succeed within ${requestDeadlineMs} ms (last: ${last})`);
  }

  async put(key: Uint8Array, value: Uint8Array): Promise<void> {
    await this.kv(kvService.put, buf(key), (header) => ({ header, key, value }));
  }

  /** One BatchPut per range the pairs fall into (in parallel). */
  async putBatch(pairs: readonly { key: Uint8Array; value: Uint8Array }[]): Promise<void> {
    const groups = new Map<number, { key: Buffer; value: Uint8Array }[]>();
    for (const p of pairs) {
      const key = buf(p.key);
      const id = this.route(key)?.rangeId ?? 0;
      const g = groups.get(id);
      if (g) g.push({ key, value: p.value });
      else groups.set(id, [{ key, value: p.value }]);
    }
    await Promise.all([...groups.values()].map((g) => this.putGroup(g)));
  }

  private async putGroup(g: { key: Buffer; value: Uint8Array }[]): Promise<void> {
    const r = this.route(g[0]!.key);
    const last = g[g.length - 1]!.key;
    // The table changed under us (or had no route): fall back to one put per key.
    if (!r || (r.end.length > 0 && Buffer.compare(last, r.end) >= 0)) {
      await Promise.all(g.map((p) => this.put(p.key, p.value)));
      return;
    }
    await this.kv(kvService.batchPut, g[0]!.key, (header) => ({ header, pairs: g }));
  }

  async get(key: Uint8Array): Promise<Uint8Array | null> {
    const res = await this.kv(kvService.get, buf(key), (header) => ({ header, key }));
    return res.found ? (res.value ?? new Uint8Array(0)) : null;
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}

export interface RangekvClusterOptions {
  /** Split points (ascending); the cluster ends with splitKeys.length + 1 ranges. */
  splitKeys?: Buffer[];
  /** Move range i's leadership to store (i mod 3) + 1 after the splits (default true). */
  spreadLeaders?: boolean;
  /** Extra store-main flags. */
  extraArgs?: string[];
  /** Where the split and balance phases report. */
  progress?: ProgressLine;
}

async function eventually(what: string, cond: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Splits at `keys` from the highest down, so every split is of the first range. */
async function splitAll(t: RangekvKvTarget, keys: Buffer[], progress: ProgressLine): Promise<void> {
  const t0 = Date.now();
  const desc = [...keys].sort(Buffer.compare).reverse();
  let cur: RouteEntry | undefined;
  for (let i = 0; i < desc.length; i++) {
    const at = desc[i]!;
    for (let attempt = 0; ; attempt++) {
      if (!cur || cur.leader === 0) {
        await t.refresh();
        cur = t.route(at);
        if (!cur || cur.leader === 0) {
          await sleep(50);
          continue;
        }
      }
      const out = await t.call(cur.leader, storeAdminService.splitRange, {
        header: { rangeId: cur.rangeId, epoch: { confVer: cur.confVer, version: cur.version } }, splitKey: at,
      }, 10_000);
      if (out.ok && !out.res.rangeError && out.res.left) {
        const l = out.res.left;
        cur = { rangeId: l.rangeId ?? 0, confVer: l.epoch?.confVer ?? 0, version: l.epoch?.version ?? 0, start: buf(l.startKey), end: buf(l.endKey), leader: cur.leader };
        break;
      }
      if (attempt > 200) throw new Error(`split at ${at.toString()} failed: ${out.ok ? out.res.rangeError?.message : out.details}`);
      cur = undefined;
      await sleep(20);
    }
    progress.update(`splitting ${i + 2}/${desc.length + 1} ranges (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  }
  progress.done(`${desc.length + 1} ranges after ${desc.length} splits in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

/** Rounds of transfers at most (each re-reads the leaders); TransferLeader calls in flight. */
const balanceRounds = 5;
const balanceTransfersInflight = 16;

/**
 * Transfers range i's (by start key) leadership to store STORE_IDS[i % 3], 16 at a time,
 * in rounds: a transfer answers when it starts and may not happen (the target lagging, an
 * election in between), so each round re-reads the leaders and moves what is still wrong.
 * Returns the ranges still led elsewhere after the last round.
 */
async function spreadLeaders(t: RangekvKvTarget, progress: ProgressLine): Promise<number> {
  const t0 = Date.now();
  let moved = 0;
  for (let round = 1; round <= balanceRounds; round++) {
    await t.refresh();
    const work = t.ranges.map((r, i) => ({ r, to: STORE_IDS[i % STORE_IDS.length]! })).filter((w) => w.r.leader !== w.to);
    if (work.length === 0) break;
    let next = 0;
    let sent = 0;
    await Promise.all(Array.from({ length: balanceTransfersInflight }, async () => {
      while (next < work.length) {
        const w = work[next++]!;
        if (w.r.leader === 0) continue;
        const out = await t.call(w.r.leader, storeAdminService.transferLeader, {
          header: { rangeId: w.r.rangeId, epoch: { confVer: w.r.confVer, version: w.r.version } }, toStore: w.to,
        });
        if (out.ok && !out.res.rangeError) moved++;
        progress.update(`balancing leaders ${++sent}/${work.length} moved (round ${round})`);
      }
    }));
    // Transfers answer when started; give the elections a moment before re-reading.
    await sleep(500);
    await eventually('leaders after the transfers', async () => {
      await t.refresh();
      return t.ranges.every((r) => r.leader !== 0);
    }, 60_000);
  }
  const wrong = t.ranges.filter((r, i) => r.leader !== STORE_IDS[i % STORE_IDS.length]).length;
  progress.done(`leaders spread by ${moved} transfers in ${((Date.now() - t0) / 1000).toFixed(1)} s${wrong > 0 ? `, ${wrong} ranges still led by another store` : ''}`);
  return wrong;
}

/** Starts three bootstrapped store processes, splits and spreads leaders, waits for every leader. */
export async function startRangekvCluster(o: RangekvClusterOptions = {}): Promise<SystemUnderTest> {
  const progress = o.progress ?? { update: () => {}, done: () => {} };
  const root = await mkdtemp(join(tmpdir(), 'kv-vs-etcd-rangekv-'));
  const procs: StoreProcess[] = [];
  let target: RangekvKvTarget | null = null;
  /** The stop under way: a second caller (Ctrl-C during a stop) waits for the same one. */
  let stopping: Promise<void> | null = null;
  let misplacedLeaders = 0;

  /** A store being spawned (not in procs until it is ready): a stop waits for it. */
  let spawning: Promise<StoreProcess> | null = null;

  const stop = (): Promise<void> => (stopping ??= (async (): Promise<void> => {
    target?.close();
    await spawning?.catch(() => {});
    await Promise.all(procs.map((p) => p.stop('SIGTERM', 5_000)));
    await rm(root, { recursive: true, force: true });
    runningClusters.delete(stop);
  })());

  runningClusters.add(stop);
  try {
    for (const id of STORE_IDS) {
      if (stopping) throw new Error('stopped while starting');
      spawning = StoreProcess.spawn({ storeId: id, dataDir: join(root, `store-${id}`), bootstrap: STORE_IDS, extraArgs: o.extraArgs ?? [] });
      procs.push(await spawning);
      spawning = null;
    }
    const peers = new Map(procs.map((p) => [p.storeId, p.raftAddress] as [number, string]));
    await Promise.all(procs.map((p) => p.setPeers(peers)));
    target = new RangekvKvTarget(new Map(procs.map((p) => [p.storeId, p.kvAddress] as [number, string])));
    const t = target;
    const allLed = async (): Promise<boolean> => {
      await t.refresh();
      return t.rangeCount > 0 && t.ranges.every((r) => r.leader !== 0);
    };
    await eventually('a leader of the first range', allLed, 30_000);
    const splitKeys = o.splitKeys ?? [];
    if (splitKeys.length > 0) {
      await splitAll(t, splitKeys, progress);
      await eventually(`${splitKeys.length + 1} ranges with leaders`, async () => (await allLed()) && t.rangeCount === splitKeys.length + 1, 120_000);
    }
    if (o.spreadLeaders ?? true) misplacedLeaders = await spreadLeaders(t, progress);
  } catch (e) {
    await stop();
    throw e;
  }

  const t = target;
  const leaders: Record<string, number> = {};
  for (const r of t.ranges) leaders[String(r.leader)] = (leaders[String(r.leader)] ?? 0) + 1;
  return {
    name: 'rangekv',
    target: t,
    client: { kind: 'rangekv', stores: procs.map((p) => [p.storeId, p.kvAddress] as [number, string]) },
    serverPids: () => procs.map((p) => p.proc.pid ?? 0).filter((pid) => pid > 0),
    memberPids: () => procs.map((p) => p.proc.pid ?? 0).filter((pid) => pid > 0),
    stop,
    info: { stores: STORE_IDS.length, ranges: t.rangeCount, leadersPerStore: leaders, misplacedLeaders, extraArgs: o.extraArgs ?? [] },
  };
}
