// The KV service's logic, independent of gRPC: plain request objects in (the generated
// `$Properties` shapes, decoded messages fit), response objects out. kv-grpc.ts serves
// it; tests call it directly.
//
// Every request goes through the same checks, in this order, and the first that fails
// answers:
//   1. input (header present and well-formed, keys non-empty and within the limits,
//      spans ordered)                                   -> InvalidArgumentError
//   2. the range exists on this store                    -> RangeNotFound
//   3. leader-only operations (writes, LINEARIZABLE and LEASE reads) on a non-leader
//                                                        -> NotLeader{leader hint}
//   4. the request's epoch.version is the range's        -> EpochNotMatch{descriptor}
//   5. every key lies in the range's span                -> KeyNotInRange{descriptor}
//   6. queues have room (pending proposals / reads)      -> ServerBusy
//
// Writes are proposed on the leader and answered once applied there (the state
// machine's result; apply re-checks the epoch and the span). Reads wait for a ReadIndex
// (LINEARIZABLE, LEASE via the leader's lease while the store's clock can be trusted,
// FOLLOWER forwarded to the leader) and for
// apply to reach the read index, re-check epoch and span, then read RocksDB. STALE reads
// read the local applied state at once.
import { DropReason, StateRole, type ProposeResult } from '@rangekv/raft';
import { metapb, type kvpb, type RangeDescriptor } from '@rangekv/proto';
import { ColumnFamily, keyInSpan, type StorageEngine } from '@rangekv/storage';
import { InvalidArgumentError, RangeErrorReply } from './errors.js';
import { encodeKvCommand, KvCommandType, type KvCommand } from './kv-command.js';
import type { KvResult } from './kv-state-machine.js';
import type { StoreLimits } from './limits.js';
import type { Logger } from '@rangekv/runtime';
import type { PendingReads } from './pending-reads.js';
import { epochNotMatch, keyNotInRange, notLeader, rangeNotFound, serverBusy } from './range-errors.js';
import type { HostClock, RaftScheduler, Replica } from '@rangekv/multiraft';
import { awaitProposal } from './proposal-outcome.js';
import type { LeaderWaits } from './leader-waits.js';
import { secondsSince, type StoreMetrics } from './store-metrics.js';

/** What the KV service needs from its store. */
export interface KvStoreContext {
  storeId: number;
  /** The range a merged-away range merged into on this store, if remembered (merge-watchdog.ts). */
  mergedInto?: (rangeId: number) => number | undefined;
  /** How long a range has been frozen by a merge here, in ms (merge-watchdog.ts): the backoff asked of clients grows with it. */
  frozenForMs?: (rangeId: number) => number;
  engine: StorageEngine;
  scheduler: RaftScheduler<KvResult>;
  reads: PendingReads;
  limits: StoreLimits;
  log: Logger;
  /**
   * Whether `replica` may serve a LEASE read from raft's lease now. False while the raft
   * clock lost ticks recently (tick-clock.ts), and while the replica is quiescent or has
   * not ticked an election timeout + margin since it woke (multiraft README, "Quiescence and leases"); LEASE
   * reads then use a quorum ReadIndex.
   */
  leaseUsable: (replica: Replica<KvResult>) => boolean;
  /** A request found `replica` not leading: wake it if it knows no leader (RaftHost.wakeLeaderless checks). */
  wakeLeaderless?: (replica: Replica<KvResult>) => void;
  /**
   * Writes and leader reads with no leader to go to (a transfer in progress, an election
   * deciding) wait here for one (leader-waits.ts); absent: answered at once (ServerBusy,
   * NotLeader without hint).
   */
  leaderWaits?: LeaderWaits;
  /** Timers (proposal timeouts). */
  clock: HostClock;
  /** Commit and ReadIndex latency histograms (store-metrics.ts); absent: not measured. */
  metrics?: Pick<StoreMetrics, 'commitSeconds' | 'readIndexSeconds' | 'writeStageSeconds'>;
  /**
   * A write of `bytes` (its encoded command) and `keys` keys was proposed to `rangeId` here
   * (size checks, traffic); `deletes`: it may delete keys (Delete, DeleteRange, a deleting CAS).
   */
  onWrite?(rangeId: number, bytes: number, keys: number, deletes: boolean): void;
  /** A read of `rangeId` was answered with `bytes` of keys and values over `keys` keys (traffic). */
  onRead?(rangeId: number, bytes: number, keys: number): void;
}

type Bytes = Uint8Array | null | undefined;
export type Header = metapb.RequestHeader.$Properties | null | undefined;
type RangeErrorProps = metapb.RangeError.$Properties;

export interface ParsedHeader {
  rangeId: number;
  epoch: { confVer: number; version: number };
  consistency: metapb.ReadConsistency;
}

const EMPTY = Buffer.alloc(0);

/** Keys a write command names (a range delete counts once: its keys are not known here). */
function commandKeys(c: KvCommand): number {
  return c.type === KvCommandType.BatchPut ? c.pairs.length : 1;
}

/** Bytes and keys of a read's answer: a value (Get) or pairs (BatchGet, Scan). */
function readSize(out: unknown): { bytes: number; keys: number } {
  const o = out as { value?: Uint8Array | null; pairs?: Array<{ key?: Uint8Array | null; value?: Uint8Array | null }> };
  if (Array.isArray(o.pairs)) {
    let bytes = 0;
    for (const p of o.pairs) bytes += (p.key?.length ?? 0) + (p.value?.length ?? 0);
    return { bytes, keys: o.pairs.length };
  }
  return { bytes: o.value?.length ?? 0, keys: 1 };
}

/** EpochNotMatch carries at most this many split-off neighbours besides the range itself. */
const MAX_SPLIT_OFF_IN_ERRORS = 16;

function buf(b: Bytes): Buffer {
  if (b === null || b === undefined) return EMPTY;
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

function isUint(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Checks a request header's shape (InvalidArgumentError otherwise). */
export function parseHeader(h: Header): ParsedHeader {
  if (h === null || h === undefined) throw new InvalidArgumentError('header is required (range id and epoch)');
  const rangeId = h.rangeId ?? 0;
  if (!isUint(rangeId) || rangeId === 0) throw new InvalidArgumentError(`header.rangeId must be a positive integer, got ${String(rangeId)}`);
  const e = h.epoch;
  if (e === null || e === undefined) throw new InvalidArgumentError('header.epoch is required');
  const confVer = e.confVer ?? 0;
  const version = e.version ?? 0;
  if (!isUint(confVer) || !isUint(version)) throw new InvalidArgumentError('header.epoch fields must be non-negative integers');
  const consistency = h.readConsistency ?? metapb.ReadConsistency.LINEARIZABLE;
  if (!(consistency in metapb.ReadConsistency) || typeof consistency !== 'number') {
    throw new InvalidArgumentError(`header.readConsistency ${String(consistency)} is not a known consistency`);
  }
  return { rangeId, epoch: { confVer, version }, consistency };
}

/** min of two span ends where empty = +infinity. */
function minEnd(a: Buffer, b: Uint8Array): Buffer {
  if (b.length === 0) return a;
  const bb = buf(b);
  if (a.length === 0) return bb;
  return Buffer.compare(a, bb) <= 0 ? a : bb;
}

function maxStart(a: Buffer, b: Uint8Array): Buffer {
  const bb = buf(b);
  return Buffer.compare(a, bb) >= 0 ? a : bb;
}

/**
 * Backoff asked of clients while a range is frozen by a merge, in ms: MERGE_BACKOFF_MS at
 * first (a merge freezes for about a hundred ms), then a quarter of how long it has been
 * frozen, up to MAX_MERGE_BACKOFF_MS, so a client's retries outlast a merge whose
 * coordinator went away (the watchdog ends it after mergeFrozenTimeoutMs, 10 s).
 */
const MERGE_BACKOFF_MS = 20;
const MAX_MERGE_BACKOFF_MS = 1_000;

export function mergeBackoffMs(frozenForMs: number): number {
  return Math.min(MAX_MERGE_BACKOFF_MS, Math.max(MERGE_BACKOFF_MS, Math.floor(frozenForMs / 4)));
}

/**
 * `r` follows no leader but gave its vote in its current term to another replica: an
 * election is deciding, and its winner will tell `r` within a round trip. Not a replica
 * cut off from the others (it voted for itself, or it is campaigning): a write there would
 * only wait out leaderWaitMs (the simulation's isolated leader showed it).
 */
function votedForAnother(r: Replica<KvResult>): boolean {
  const st = r.node.status();
  return st.role === StateRole.Follower && st.lead === 0 && st.vote !== 0 && st.vote !== st.id;
}

/** A write's proposal was refused because a leadership transfer is in progress (nothing appended). */
class TransferInProgress extends Error {
  constructor(readonly refusal: Extract<ProposeResult, { ok: false }>) {
    super(refusal.detail);
  }
}

export class KvService {
  /** LEASE reads served through a quorum ReadIndex (clock lost ticks, or the replica was quiescent / just woke). */
  leaseFallbacks = 0;
  /** LEASE reads served at once, without a ReadIndex through the ready loop (leaseReadNow). */
  leaseReadsAtOnce = 0;
  /** Writes that found a leadership transfer in progress and waited for its outcome (leader-waits.ts). */
  transferWaits = 0;
  /** Writes and leader reads that found their replica knowing no leader and waited for one (leader-waits.ts). */
  leaderlessWaits = 0;

  constructor(private readonly s: KvStoreContext) {}

  // ---- input checks ---------------------------------------------------------------------

  private key(k: Bytes, what = 'key'): Buffer {
    const b = buf(k);
    if (b.length === 0) throw new InvalidArgumentError(`${what} is empty`);
    if (b.length > this.s.limits.maxKeyBytes) {
      throw new InvalidArgumentError(`${what} is ${b.length} bytes, above maxKeyBytes (${this.s.limits.maxKeyBytes})`);
    }
    return b;
  }

  /** A span bound: may be empty (start or end of keyspace), else bounded like a key. */
  private bound(k: Bytes, what: string): Buffer {
    const b = buf(k);
    if (b.length > this.s.limits.maxKeyBytes) {
      throw new InvalidArgumentError(`${what} is ${b.length} bytes, above maxKeyBytes (${this.s.limits.maxKeyBytes})`);
    }
    return b;
  }

  private span(start: Bytes, end: Bytes): { start: Buffer; end: Buffer } {
    const s = this.bound(start, 'start_key');
    const e = this.bound(end, 'end_key');
    if (e.length > 0 && Buffer.compare(s, e) >= 0) throw new InvalidArgumentError('start_key must be below end_key when end_key is set');
    return { start: s, end: e };
  }

  private value(v: Bytes, what = 'value'): Buffer {
    const b = buf(v);
    if (b.length > this.s.limits.maxValueBytes) {
      throw new InvalidArgumentError(`${what} is ${b.length} bytes, above maxValueBytes (${this.s.limits.maxValueBytes})`);
    }
    return b;
  }

  // ---- routing checks -------------------------------------------------------------------

  /**
   * The header's range here, or a range error that lets the client re-route without
   * asking PD where this store can tell: the range it merged into, or (scanning this
   * store's ranges: error path only) the range here that holds `routeKey`.
   */
  private replica(h: ParsedHeader, routeKey?: Buffer): Replica<KvResult> {
    const r = this.s.scheduler.get(h.rangeId);
    if (r && !r.destroyed && r.log.descriptor !== null) return r;
    const into = this.s.mergedInto?.(h.rangeId);
    const l = into === undefined ? undefined : this.s.scheduler.get(into);
    const ld = l && !l.destroyed ? l.log.descriptor : null;
    if (ld !== null) {
      const e = epochNotMatch(ld, h.epoch);
      e.message = `range ${h.rangeId} merged into range ${ld.rangeId} on store ${this.s.storeId}`;
      throw new RangeErrorReply(e);
    }
    if (routeKey !== undefined) {
      for (const x of this.s.scheduler.all()) {
        const d = x.log.descriptor;
        if (d !== null && !x.destroyed && keyInSpan(routeKey, d.startKey, d.endKey)) {
          const e = epochNotMatch(d, h.epoch);
          e.message = `range ${h.rangeId} is not on store ${this.s.storeId}; the key is in range ${d.rangeId} here`;
          throw new RangeErrorReply(e);
        }
      }
    }
    throw new RangeErrorReply(rangeNotFound(h.rangeId, this.s.storeId));
  }

  private mergeBackoffMs(rangeId: number): number {
    return mergeBackoffMs(this.s.frozenForMs?.(rangeId) ?? 0);
  }

  /** A range frozen by a merge takes no writes and serves no reads but STALE ones (store README, "Merge"). */
  private notFrozen(r: Replica<KvResult>): void {
    const f = r.log.mergeFreeze;
    if (f !== null) throw new RangeErrorReply(serverBusy(`range ${r.rangeId} is merging into range ${f.leftRangeId} (merge ${f.mergeId}); retry`, this.mergeBackoffMs(r.rangeId)));
  }

  private descriptor(r: Replica<KvResult>, h: ParsedHeader): RangeDescriptor {
    const d = r.log.descriptor;
    if (d === null || r.destroyed) throw new RangeErrorReply(rangeNotFound(r.rangeId, this.s.storeId));
    if (d.epoch.version !== h.epoch.version) throw new RangeErrorReply(epochNotMatch(d, h.epoch, this.splitOff(d, h.epoch.version)));
    return d;
  }

  /**
   * The ranges split off `d` since epoch version `since`: on this store, the chain of
   * right-hand neighbours (each starts where the previous ends) with a newer version,
   * at most `maxSplitOffInErrors` of them. Scans the store's ranges: error path only.
   */
  private splitOff(d: RangeDescriptor, since: number): RangeDescriptor[] {
    if (d.epoch.version <= since || d.endKey.length === 0) return [];
    const byStart = new Map<string, RangeDescriptor>();
    for (const r of this.s.scheduler.all()) {
      const x = r.log.descriptor;
      if (x !== null && x.epoch.version > since) byStart.set(Buffer.from(x.startKey).toString('latin1'), x);
    }
    const out: RangeDescriptor[] = [];
    let end = d.endKey;
    while (end.length > 0 && out.length < MAX_SPLIT_OFF_IN_ERRORS) {
      const next = byStart.get(Buffer.from(end).toString('latin1'));
      if (!next) break;
      out.push(next);
      end = next.endKey;
    }
    return out;
  }

  /**
   * A write or leader read found `r` knowing no leader while an election it voted in decides (the old
   * leader of a transfer between the new leader's vote request and its first append; a
   * voter in an election): wait until a leader is known (leader-waits.ts, at most
   * leaderWaitMs) rather than send the client off to poll.
   */
  private async untilLeaderKnown(r: Replica<KvResult>): Promise<void> {
    this.s.wakeLeaderless?.(r);
    const waited = this.s.leaderWaits?.wait(r.rangeId);
    if (!waited) return;
    this.leaderlessWaits++;
    await waited;
  }

  private requireLeader(r: Replica<KvResult>, what: string): void {
    if (r.isLeader) return;
    this.s.wakeLeaderless?.(r);
    throw new RangeErrorReply(notLeader(r.rangeId, r.log.descriptor, r.lead, what));
  }

  private inRange(key: Buffer, d: RangeDescriptor): void {
    if (!keyInSpan(key, d.startKey, d.endKey)) throw new RangeErrorReply(keyNotInRange(key, d));
  }

  /** Turns a RangeErrorReply into a response with range_error; anything else propagates. */
  private async answer<T>(f: () => Promise<T> | T): Promise<T | { rangeError: RangeErrorProps }> {
    try {
      return await f();
    } catch (e) {
      if (e instanceof RangeErrorReply) return { rangeError: e.rangeError };
      throw e;
    }
  }

  // ---- reads ----------------------------------------------------------------------------

  /**
   * Runs `serve` at a point allowed by the header's consistency. `check` validates keys
   * against the descriptor; both run again on the descriptor current at serve time.
   */
  private async read<T>(header: Header, check: (d: RangeDescriptor) => void, serve: (d: RangeDescriptor) => T, routeKey?: Buffer): Promise<T> {
    const h = parseHeader(header);
    const r = this.replica(h, routeKey);
    const C = metapb.ReadConsistency;
    const leaderRead = h.consistency === C.LINEARIZABLE || h.consistency === C.LEASE;
    if (leaderRead) {
      if (!r.isLeader && r.lead === 0 && votedForAnother(r)) await this.untilLeaderKnown(r);
      this.requireLeader(r, `${C[h.consistency]} reads are served by the leader`);
    }
    check(this.descriptor(r, h));
    if (h.consistency !== C.STALE) this.notFrozen(r);
    if (h.consistency !== C.STALE) {
      let lease = h.consistency === C.LEASE;
      if (lease && !this.s.leaseUsable(r)) {
        lease = false;
        this.leaseFallbacks++;
      }
      const askedNs = process.hrtime.bigint();
      if (lease && this.leaseReadNow(r)) {
        this.leaseReadsAtOnce++;
      } else {
        // A FOLLOWER read asks the leader through raft; only leader reads wait out an election here.
        await (leaderRead ? this.readIndexThroughElection(r, lease) : this.readIndex(r, lease));
      }
      this.s.metrics?.readIndexSeconds.observe({ mode: lease ? 'lease' : 'quorum' }, secondsSince(askedNs));
    }
    const d = this.descriptor(r, h);
    check(d);
    // Checked again at the read point: a freeze applied before it ends every lease and
    // read of this range, as the left range may own its keys from then on.
    if (h.consistency !== C.STALE) this.notFrozen(r);
    const out = serve(d);
    if (this.s.onRead) {
      const { bytes, keys } = readSize(out);
      this.s.onRead(r.rangeId, bytes, keys);
    }
    return out;
  }

  /**
   * A LEASE read served at once: raft's lease holds now (`RawNode.leaseReadIndex`, the
   * answer its ReadIndex would give in the next Ready) and this replica has applied up to
   * that index, so the read point is here without a Ready, a cycle or a wait. The range
   * counts as active (it does not quiesce under a stream of such reads).
   */
  private leaseReadNow(r: Replica<KvResult>): boolean {
    const index = r.node.leaseReadIndex();
    if (index === null || r.log.appliedIndex < index) return false;
    this.s.scheduler.unquiesce(r, 'admin');
    return true;
  }

  /**
   * `readIndex`, but a read failed because its leader stepped down for an election this
   * replica voted in (a leadership transfer: the target's vote request reached it first)
   * waits for the election's outcome (leader-waits.ts): asked again here if this replica
   * leads again, else answered NotLeader with the new leader as hint, not without one.
   */
  private async readIndexThroughElection(r: Replica<KvResult>, lease: boolean): Promise<void> {
    try {
      await this.readIndex(r, lease);
    } catch (e) {
      if (!(e instanceof RangeErrorReply) || !e.rangeError.notLeader || r.isLeader || r.lead !== 0 || !votedForAnother(r)) throw e;
      await this.untilLeaderKnown(r);
      this.requireLeader(r, 'leadership moved while the read waited for its confirmation');
      await this.readIndex(r, lease);
    }
  }

  private readIndex(r: Replica<KvResult>, lease: boolean): Promise<void> {
    const reads = this.s.reads;
    const ctx = reads.nextCtx();
    const ready = reads.register(r.rangeId, ctx);
    const asked = this.s.scheduler.readIndex(r.rangeId, ctx, { lease }) ?? false;
    if (!asked) {
      const err = r.isLeader
        ? new RangeErrorReply(serverBusy(`range ${r.rangeId}: raft refused the read (too many pending reads on the leader)`))
        : new RangeErrorReply(notLeader(r.rangeId, r.log.descriptor, r.lead, 'no leader known to confirm the read'));
      reads.cancel(r.rangeId, ctx, err);
    }
    return ready;
  }

  private getValue(key: Buffer): Buffer | undefined {
    return this.s.engine.db.get(ColumnFamily.Default, key);
  }

  get(req: kvpb.GetRequest.$Properties): Promise<kvpb.GetResponse.$Properties> {
    return this.answer(() => {
      const key = this.key(req.key);
      return this.read(req.header, (d) => this.inRange(key, d), () => {
        const v = this.getValue(key);
        return v === undefined ? { found: false } : { found: true, value: v };
      }, key);
    });
  }

  batchGet(req: kvpb.BatchGetRequest.$Properties): Promise<kvpb.BatchGetResponse.$Properties> {
    return this.answer(() => {
      const raw = req.keys ?? [];
      if (raw.length > this.s.limits.maxBatchKeys) {
        throw new InvalidArgumentError(`${raw.length} keys, above maxBatchKeys (${this.s.limits.maxBatchKeys})`);
      }
      const keys = raw.map((k, i) => this.key(k, `keys[${i}]`));
      return this.read(req.header, (d) => keys.forEach((k) => this.inRange(k, d)), () => {
        // One synchronous MultiGet: no apply runs in between, so one point in the applied state.
        const vals = keys.length === 0 ? [] : this.s.engine.db.getMany(ColumnFamily.Default, keys);
        const pairs: kvpb.KeyValue.$Properties[] = [];
        vals.forEach((v, i) => {
          if (v !== undefined) pairs.push({ key: keys[i]!, value: v });
        });
        return { pairs };
      });
    });
  }

  scan(req: kvpb.ScanRequest.$Properties): Promise<kvpb.ScanResponse.$Properties> {
    return this.answer(() => {
      const { start, end } = this.span(req.startKey, req.endKey);
      const lim = this.s.limits;
      const limit = req.limit ?? 0;
      if (!isUint(limit) || limit > lim.maxScanLimit) throw new InvalidArgumentError(`limit ${String(limit)} is above maxScanLimit (${lim.maxScanLimit})`);
      const max = limit === 0 ? lim.maxScanLimit : limit;
      const reverse = req.reverse === true;
      // The span must meet the range; it is clipped to it.
      const check = (d: RangeDescriptor): void => {
        const startsAfter = d.endKey.length > 0 && Buffer.compare(start, buf(d.endKey)) >= 0;
        const endsBefore = end.length > 0 && Buffer.compare(end, buf(d.startKey)) <= 0;
        if (startsAfter || endsBefore) throw new RangeErrorReply(keyNotInRange(startsAfter ? start : end, d));
      };
      return this.read(req.header, check, (d) => {
        const gte = maxStart(start, d.startKey);
        const lt = minEnd(end, d.endKey);
        const cur = this.s.engine.db.cursor(ColumnFamily.Default, lt.length === 0 ? { gte, reverse } : { gte, lt, reverse });
        const pairs: kvpb.KeyValue.$Properties[] = [];
        let bytes = 0;
        let more = false;
        try {
          for (let kv = cur.next(); kv !== null; kv = cur.next()) {
            if (pairs.length >= max || (pairs.length > 0 && bytes + kv.key.length + kv.value.length > lim.maxScanResponseBytes)) {
              more = true;
              break;
            }
            pairs.push({ key: kv.key, value: kv.value });
            bytes += kv.key.length + kv.value.length;
          }
        } finally {
          cur.close();
        }
        return { pairs, more };
      });
    });
  }

  // ---- writes ---------------------------------------------------------------------------

  /**
   * Proposes the command built by `build` (which checks keys against the descriptor) and
   * resolves with the state machine's result once it applied on this replica.
   */
  private async write(header: Header, build: (d: RangeDescriptor) => KvCommand, routeKey?: Buffer): Promise<KvResult> {
    const h = parseHeader(header);
    const r = this.replica(h, routeKey);
    if (!r.isLeader && r.lead === 0 && votedForAnother(r)) await this.untilLeaderKnown(r);
    this.requireLeader(r, 'writes are proposed on the leader');
    this.notFrozen(r);
    const cmd = build(this.descriptor(r, h));
    const lim = this.s.limits;
    if (r.pendingProposals >= lim.maxPendingProposalsPerRange) {
      throw new RangeErrorReply(serverBusy(`range ${r.rangeId}: ${lim.maxPendingProposalsPerRange} proposals pending (maxPendingProposalsPerRange)`));
    }
    const data = encodeKvCommand(cmd);
    const deletes = cmd.type === KvCommandType.Delete || cmd.type === KvCommandType.DeleteRange || (cmd.type === KvCommandType.CompareAndSwap && cmd.delete);
    this.s.onWrite?.(r.rangeId, data.length, commandKeys(cmd), deletes);
    const proposedNs = process.hrtime.bigint();
    const propose = (): Promise<KvResult> => awaitProposal(this.s.clock, r, lim.proposalTimeoutMs, (done) => this.s.scheduler.propose(r.rangeId, data, (o) => {
      if (o.kind === 'applied') this.s.metrics?.commitSeconds.observe(secondsSince(proposedNs));
      done(o);
    }), (res) => (res.reason === DropReason.Transferring ? new TransferInProgress(res) : this.refused(r, res)));
    let result: KvResult;
    try {
      result = await propose();
    } catch (e) {
      if (!(e instanceof TransferInProgress)) throw e;
      // Nothing was appended. Wait for the transfer's outcome, then propose here again or
      // send the client to the new leader (leader-waits.ts).
      const waited = this.s.leaderWaits?.wait(r.rangeId);
      if (!waited) throw this.refused(r, e.refusal);
      this.transferWaits++;
      await waited;
      this.requireLeader(r, 'leadership moved to another store while the write waited for the transfer; nothing was written');
      this.notFrozen(r);
      try {
        result = await propose();
      } catch (again) {
        if (again instanceof TransferInProgress) throw this.refused(r, again.refusal);
        throw again;
      }
    }
    this.s.metrics?.writeStageSeconds.observe({ stage: 'answered' }, secondsSince(proposedNs));
    if (result.kind === 'key-not-in-range') throw new RangeErrorReply(keyNotInRange(result.key, result.descriptor));
    if (result.kind === 'epoch-not-match') throw new RangeErrorReply(epochNotMatch(result.descriptor, h.epoch, this.splitOff(result.descriptor, h.epoch.version)));
    if (result.kind === 'merge-frozen') {
      throw new RangeErrorReply(serverBusy(`range ${r.rangeId} froze for merge ${result.mergeId} into range ${result.leftRangeId} before this write: nothing was written; retry`, this.mergeBackoffMs(r.rangeId)));
    }
    return result;
  }

  /** Raft refused to append: nothing was done. */
  private refused(r: Replica<KvResult>, res: Extract<ProposeResult, { ok: false }>): Error {
    switch (res.reason) {
      case DropReason.NotLeader:
        return new RangeErrorReply(notLeader(r.rangeId, r.log.descriptor, res.leader, res.detail));
      case DropReason.Transferring: // writes wait first (write()); other proposals are answered busy
      case DropReason.UncommittedSizeLimit:
        return new RangeErrorReply(serverBusy(`range ${r.rangeId}: ${res.reason}: ${res.detail}`));
      case DropReason.EntryTooLarge:
        return new InvalidArgumentError(`request too large for one raft entry: ${res.detail}`);
      default:
        // Writes never answer UNAVAILABLE from the store: a client sees that status only
        // from a broken channel, which it must treat as ambiguous.
        return new RangeErrorReply(serverBusy(`range ${r.rangeId}: proposal refused (${res.reason}): ${res.detail}`));
    }
  }

  put(req: kvpb.PutRequest.$Properties): Promise<kvpb.PutResponse.$Properties> {
    return this.answer(async () => {
      const key = this.key(req.key);
      const value = this.value(req.value);
      await this.write(req.header, (d) => {
        this.inRange(key, d);
        return { type: KvCommandType.Put, epochVersion: d.epoch.version, key, value };
      }, key);
      return {};
    });
  }

  batchPut(req: kvpb.BatchPutRequest.$Properties): Promise<kvpb.BatchPutResponse.$Properties> {
    return this.answer(async () => {
      const raw = req.pairs ?? [];
      const lim = this.s.limits;
      if (raw.length === 0) throw new InvalidArgumentError('pairs is empty');
      if (raw.length > lim.maxBatchKeys) throw new InvalidArgumentError(`${raw.length} pairs, above maxBatchKeys (${lim.maxBatchKeys})`);
      let bytes = 0;
      const pairs = raw.map((p, i) => {
        const key = this.key(p.key, `pairs[${i}].key`);
        const value = this.value(p.value, `pairs[${i}].value`);
        bytes += key.length + value.length;
        return { key, value };
      });
      if (bytes > lim.maxBatchBytes) throw new InvalidArgumentError(`batch holds ${bytes} bytes, above maxBatchBytes (${lim.maxBatchBytes})`);
      await this.write(req.header, (d) => {
        for (const p of pairs) this.inRange(p.key, d);
        return { type: KvCommandType.BatchPut, epochVersion: d.epoch.version, pairs };
      });
      return {};
    });
  }

  delete(req: kvpb.DeleteRequest.$Properties): Promise<kvpb.DeleteResponse.$Properties> {
    return this.answer(async () => {
      const key = this.key(req.key);
      await this.write(req.header, (d) => {
        this.inRange(key, d);
        return { type: KvCommandType.Delete, epochVersion: d.epoch.version, key };
      }, key);
      return {};
    });
  }

  deleteRange(req: kvpb.DeleteRangeRequest.$Properties): Promise<kvpb.DeleteRangeResponse.$Properties> {
    return this.answer(async () => {
      const { start, end } = this.span(req.startKey, req.endKey);
      await this.write(req.header, (d) => {
        this.inRange(start, d);
        // An empty end_key means the range's end; a set one must not pass it.
        const resolvedEnd = end.length === 0 ? buf(d.endKey) : end;
        if (end.length > 0 && d.endKey.length > 0 && Buffer.compare(end, buf(d.endKey)) > 0) {
          throw new RangeErrorReply(keyNotInRange(end, d));
        }
        return { type: KvCommandType.DeleteRange, epochVersion: d.epoch.version, startKey: start, endKey: resolvedEnd };
      });
      return {};
    });
  }

  compareAndSwap(req: kvpb.CompareAndSwapRequest.$Properties): Promise<kvpb.CompareAndSwapResponse.$Properties> {
    return this.answer(async () => {
      const key = this.key(req.key);
      const expectedValue = this.value(req.expectedValue, 'expected_value');
      const newValue = this.value(req.newValue, 'new_value');
      const result = await this.write(req.header, (d) => {
        this.inRange(key, d);
        return {
          type: KvCommandType.CompareAndSwap, epochVersion: d.epoch.version, key,
          expectExists: req.expectExists === true, expectedValue, newValue, delete: req.delete === true,
        };
      }, key);
      if (result.kind !== 'cas') throw new Error(`compare-and-swap applied with result ${result.kind}`);
      return {
        succeeded: result.succeeded,
        previousExists: result.previousExists,
        ...(result.previousValue ? { previousValue: result.previousValue } : {}),
      };
    });
  }
}
