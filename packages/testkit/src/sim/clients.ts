// Simulated KV clients. Each client runs one operation at a time: it picks a node it
// believes leads, sends the request, and retries elsewhere when the node drops it (not
// leader, no leader for a read) or does not answer in time. Writes carry (client, seq) so
// a retry of a write that did land is answered from the dedup table, not applied twice.
// When an operation's deadline passes the client gives up: a write's outcome is then
// unknown (no return in the history), a read is simply forgotten.
import type { NodeId, Prng } from '@rangekv/raft';
import { formatOp, formatResult, HistoryRecorder, type KvOp, type ReadMode } from '../history.js';
import type { Cluster, ClientResponse } from './cluster.js';
import { UNITS_PER_TICK } from './time.js';
import type { ClientRequest } from './sim-node.js';

export interface ClientOptions {
  clients: number;
  keys: number;
  /** Lease reads are only correct with check-quorum; off otherwise. */
  leaseReads: boolean;
  /** A write attempt with no answer after this many ticks is retried on another node. */
  attemptTimeoutTicks: number;
  /**
   * The same for a read. Reads add nothing to the log, so a client gives up on a silent
   * node sooner (while a write's retries would pile up proposals); a deposed leader then
   * keeps seeing reads, which is where a lease that outlives its leadership shows.
   */
  readAttemptTimeoutTicks: number;
  /** An operation still unanswered after this many ticks is abandoned. */
  opDeadlineTicks: number;
  /** Pause between a client's operations: 0..thinkTicksMax ticks. */
  thinkTicksMax: number;
}

interface InFlight {
  opId: number;
  op: KvOp;
  seq: number;
  attempt: number;
  target: NodeId;
  deadline: number;
  /** Called when this op finishes (returned or abandoned). */
  done: ((ok: boolean) => void) | null;
}

class SimClient {
  seq = 0;
  inflight: InFlight | null = null;
  leaderHint: NodeId = 0;
  stopped = false;
  /** The last value this client saw per key (for CAS expectations). */
  readonly lastSeen = new Map<string, string | null>();
  constructor(readonly id: number) {}
}

export interface ClientStats {
  invoked: number;
  completed: number;
  unknown: number;
  abandonedReads: number;
  retries: number;
}

export class Clients {
  readonly history = new HistoryRecorder();
  readonly stats: ClientStats = { invoked: 0, completed: 0, unknown: 0, abandonedReads: 0, retries: 0 };
  private readonly clients: SimClient[] = [];
  private readonly recentValues: string[] = [];
  private probeClient: SimClient | null = null;

  constructor(private readonly cluster: Cluster, private readonly prng: Prng, private readonly opts: ClientOptions) {
    for (let i = 1; i <= opts.clients; i++) this.clients.push(new SimClient(i));
    cluster.onResponse = (r) => this.onResponse(r);
  }

  /** Starts every client's loop. */
  start(): void {
    for (const c of this.clients) this.cluster.schedule(this.prng.int(UNITS_PER_TICK * 5), () => this.next(c));
  }

  /** Clients finish their current operation and start no more. */
  stop(): void {
    for (const c of this.clients) c.stopped = true;
  }

  idle(): boolean {
    return this.clients.every((c) => c.inflight === null) && (this.probeClient?.inflight ?? null) === null;
  }

  /**
   * Writes `put(key, value)` through a dedicated client, retrying until it returns or the
   * deadline passes; `done(true)` only on an acknowledged write.
   */
  probeWrite(key: string, value: string, deadlineTicks: number, done: (ok: boolean) => void): void {
    if (this.probeClient === null) this.probeClient = new SimClient(this.opts.clients + 1);
    const c = this.probeClient;
    this.invoke(c, { kind: 'put', key, value }, deadlineTicks, done);
  }

  private next(c: SimClient): void {
    if (c.stopped || c.inflight !== null) return;
    this.invoke(c, this.chooseOp(c), this.opts.opDeadlineTicks, null);
  }

  private chooseOp(c: SimClient): KvOp {
    const key = `k${this.prng.int(this.opts.keys)}`;
    const roll = this.prng.float();
    if (roll < 0.35) {
      const mode: ReadMode = this.opts.leaseReads && this.prng.chance(0.5) ? 'lease' : 'read-index';
      return { kind: 'get', key, mode };
    }
    const value = `c${c.id}.${c.seq + 1}`;
    if (roll < 0.7) return { kind: 'put', key, value };
    // CAS: usually from the value this client last saw, sometimes from a guess.
    let expected: string | null;
    if (c.lastSeen.has(key) && this.prng.chance(0.7)) expected = c.lastSeen.get(key)!;
    else if (this.recentValues.length > 0 && this.prng.chance(0.8)) expected = this.recentValues[this.prng.int(this.recentValues.length)]!;
    else expected = null;
    return { kind: 'cas', key, expected, value };
  }

  private invoke(c: SimClient, op: KvOp, deadlineTicks: number, done: ((ok: boolean) => void) | null): void {
    const opId = this.history.invoke(c.id, op, this.cluster.now);
    this.stats.invoked++;
    const seq = op.kind === 'get' ? 0 : ++c.seq;
    if (op.kind !== 'get') {
      this.recentValues.push(op.value);
      if (this.recentValues.length > 16) this.recentValues.shift();
    }
    c.inflight = { opId, op, seq, attempt: 0, target: 0, deadline: this.cluster.now + deadlineTicks * UNITS_PER_TICK, done };
    if (this.cluster.isTracing) this.cluster.trace(null, `client ${c.id} invokes #${opId} ${formatOp(op)}`);
    this.attempt(c, this.pickTarget(c, 0));
  }

  private attempt(c: SimClient, target: NodeId): void {
    const f = c.inflight!;
    f.attempt++;
    f.target = target;
    if (f.attempt > 1) this.stats.retries++;
    const req: ClientRequest = { client: c.id, opId: f.opId, attempt: f.attempt, seq: f.seq, op: f.op };
    this.cluster.request(target, req);
    const attempt = f.attempt;
    const timeoutTicks = f.op.kind === 'get' ? this.opts.readAttemptTimeoutTicks : this.opts.attemptTimeoutTicks;
    this.cluster.schedule(timeoutTicks * UNITS_PER_TICK, () => {
      if (c.inflight === f && f.attempt === attempt) this.retry(c, 'timeout', 0);
    });
  }

  private retry(c: SimClient, why: string, hint: NodeId): void {
    const f = c.inflight!;
    const now = this.cluster.now;
    if (now >= f.deadline) {
      this.giveUp(c, why);
      return;
    }
    const target = this.pickTarget(c, hint !== f.target ? hint : 0);
    const backoff = hint !== 0 ? 1 + this.prng.int(3) : 2 + this.prng.int(UNITS_PER_TICK * 2);
    this.cluster.schedule(backoff, () => {
      if (c.inflight === f) this.attempt(c, target);
    });
  }

  private pickTarget(c: SimClient, hint: NodeId): NodeId {
    const ids = [...this.cluster.nodes.values()].filter((n) => n.status !== 'destroyed').map((n) => n.id);
    if (hint !== 0 && ids.includes(hint)) return hint;
    if (c.leaderHint !== 0 && ids.includes(c.leaderHint) && this.prng.chance(0.5)) return c.leaderHint;
    return ids[this.prng.int(ids.length)]!;
  }

  private onResponse(r: ClientResponse): void {
    const c = r.client === this.probeClient?.id ? this.probeClient : this.clients[r.client - 1];
    if (c === undefined) throw new Error(`clients: response for unknown client ${r.client}`);
    const f = c.inflight;
    if (f === null || f.opId !== r.opId || f.attempt !== r.attempt) return; // stale answer
    if (r.kind === 'dropped') {
      if (this.cluster.isTracing) this.cluster.trace(r.node, `client ${c.id} #${f.opId} dropped: ${r.why} (hint n${r.leaderHint})`);
      c.leaderHint = r.leaderHint;
      this.retry(c, r.why, r.leaderHint);
      return;
    }
    if (f.op.kind === 'get' && r.result.kind === 'get') c.lastSeen.set(f.op.key, r.result.value);
    if (f.op.kind === 'put') c.lastSeen.set(f.op.key, f.op.value);
    if (f.op.kind === 'cas' && r.result.kind === 'cas' && r.result.ok) c.lastSeen.set(f.op.key, f.op.value);
    c.leaderHint = r.node;
    this.history.complete(f.opId, r.result, this.cluster.now);
    this.stats.completed++;
    if (this.cluster.isTracing) this.cluster.trace(null, `client ${c.id} #${f.opId} ${formatOp(f.op)} returns ${formatResult(r.result)} (via n${r.node})`);
    this.finish(c, true);
  }

  private giveUp(c: SimClient, why: string): void {
    const f = c.inflight!;
    if (f.op.kind === 'get') this.stats.abandonedReads++;
    else this.stats.unknown++;
    this.history.abandon(f.opId, this.cluster.now);
    if (this.cluster.isTracing) this.cluster.trace(null, `client ${c.id} #${f.opId} gives up (${why}): outcome unknown`);
    this.finish(c, false);
  }

  private finish(c: SimClient, ok: boolean): void {
    const f = c.inflight!;
    c.inflight = null;
    if (f.done !== null) {
      f.done(ok);
      return;
    }
    if (!c.stopped) this.cluster.schedule(this.prng.int(this.opts.thinkTicksMax * UNITS_PER_TICK + 1), () => this.next(c));
  }
}
