// The simulated cluster: raft nodes over a simulated network and simulated disks, driven
// by one event queue in simulated time. Nothing here reads a clock or does I/O, so a run
// is a pure function of its seed.
//
// Time is in units; one raft tick is UNITS_PER_TICK units. Every tick, each running node
// ticks. Messages arrive after per-link delays; persists and applies complete after
// seeded delays, first-in first-out per node. The driver follows the Ready contract of
// @rangekv/raft:
//   ready()            -> send rd.messages now; queue a persist job; queue an apply job
//   persist completes  -> storage gets snapshot, entries, hard state; then send
//                         rd.messagesAfterPersist; then ackPersisted(rd)
//   apply completes    -> restore the snapshot (if any) then apply committedEntries in
//                         order, applyConfChange for ConfChange entries; appliedTo(last)
//   readStates         -> answer each read once applied >= its index
// Crash drops everything but the MemoryStorage; pause freezes a node (its clock too) and
// on resume it first catches up on the ticks it missed. A fault can also crash a node at a
// crash point, a protocol event seen in a Ready (see CrashPoint).
import {
  EntryType, MemoryStorage, MessageType, RawNode, StateRole, decodeConfChange, describeMessage,
  type ConfChangeV2, type ConfState, type Entry, type Message, type NodeId, type Prng, type Ready,
} from '@rangekv/raft';
import type { KvResult } from '../history.js';
import { EventQueue } from './event-queue.js';
import { Invariants, SafetyViolation } from './invariants.js';
import { UNITS_PER_TICK, formatTime } from './time.js';
import { decodeCommand, encodeCommand } from './kv-state-machine.js';
import { DEFAULT_NETWORK_OPTIONS, NetworkModel, type NetworkOptions } from './network.js';
import { copyMessage, describeConfChange, roleName, span } from './describe.js';
import { OnDemandSnapshotStorage, SimNode, formatConf, isMember, type ClientRequest } from './sim-node.js';

export interface SimRaftSettings {
  electionTimeoutTicks: number;
  heartbeatIntervalTicks: number;
  checkQuorum: boolean;
  preVote: boolean;
  leaseMarginTicks: number;
  /** Commit advances ride on the next append or heartbeat instead of empty appends. */
  lazyCommitBroadcast: boolean;
  /** A Ready carries one App per follower for contiguous entries (raft's coalesce.ts). */
  coalesceAppends?: boolean;
  /** Periodic heartbeats skip followers just sent entries (raft's skipHeartbeatsAfterAppends). */
  skipHeartbeatsAfterAppends?: boolean;
  /** Vote requests leave before the candidate's persist (raft's earlyVoteRequests). */
  earlyVoteRequests?: boolean;
  maxInflightMsgs: number;
  maxMsgBytes: number;
  maxUncommittedEntriesBytes: number;
  maxApplyBytes: number;
}

export interface ClusterOptions {
  prng: Prng;
  /** Initial voters; each starts from MemoryStorage.withMembership. */
  voters: NodeId[];
  raft: SimRaftSettings;
  network?: NetworkOptions;
  /** A persist completes 0..persistDelayUnitsMax units after it is queued (FIFO per node). */
  persistDelayUnitsMax: number;
  /** An apply completes 0..applyDelayUnitsMax units after it is queued (FIFO per node). */
  applyDelayUnitsMax: number;
  /** Client <-> node latency is 1..clientLatencyUnitsMax units each way. */
  clientLatencyUnitsMax: number;
  /** Leaders get a fresh snapshot (state at applied) when they need one; else the last compaction's. */
  snapshotOnDemand: boolean;
  /** Deliberate driver bugs, for proving the checks can fail. Never set in real runs. */
  sabotage?: Sabotage | null;
  /** Trace sink: one line per event. null = no tracing (fast). */
  trace: ((line: string) => void) | null;
  /** Each node's clock runs at a rate drawn from [1 - clockDrift, 1 + clockDrift]. */
  clockDrift?: number;
  /** Include raft's own trace lines (very verbose). */
  traceRaft?: boolean;
}

/**
 * Deliberate driver bugs (the harness's own mutation tests):
 *   ack-before-persist      send messagesAfterPersist as soon as the Ready is taken;
 *   serve-reads-early       answer reads without waiting for applied >= read index;
 *   forget-vote-on-crash    a crash loses the durable term and vote;
 *   skip-entry              one node silently skips applying one entry.
 */
export type Sabotage = 'ack-before-persist' | 'serve-reads-early' | 'forget-vote-on-crash' | 'skip-entry';

/**
 * Protocol events at which a fault may crash a leader (crash points, as in TigerBeetle's
 * VOPR): random crash times rarely land in the few units between a leader taking a step
 * and the network delivering it, and those are the moments a leader's state differs most
 * from its followers'.
 *   elected     it became leader (its Ready carries the term's first, empty entry);
 *   appended    it appended entries (a client's proposal, a conf change);
 *   committed   its commit index advanced.
 */
export type CrashPoint = 'elected' | 'appended' | 'committed';

export type ClientResponse =
  | { client: number; opId: number; attempt: number; kind: 'ok'; result: KvResult; node: NodeId }
  | { client: number; opId: number; attempt: number; kind: 'dropped'; leaderHint: NodeId; node: NodeId; why: string };

type SimEvent =
  | { k: 'tick' }
  | { k: 'deliver'; msg: Message; fromInc: number }
  | { k: 'persist'; node: NodeId; inc: number }
  | { k: 'apply'; node: NodeId; inc: number }
  | { k: 'request'; node: NodeId; req: ClientRequest }
  | { k: 'response'; resp: ClientResponse }
  | { k: 'timer'; run: () => void };

export interface ClusterStats {
  ticks: number;
  messagesSent: number;
  messagesDelivered: number;
  messagesLost: number;
  readies: number;
  entriesApplied: number;
  snapshotsDelivered: number;
  snapshotsRestored: number;
  compactions: number;
  crashes: number;
  pauses: number;
  leaderElections: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class Cluster {
  now = 0;
  readonly nodes = new Map<NodeId, SimNode>();
  readonly net: NetworkModel;
  readonly inv: Invariants;
  /**
   * More events than this at one instant (time unit) is a livelock: something multiplies
   * (a message ping-pong under duplication, say) without letting time pass. The seed then
   * fails instead of spinning for ever. A normal seed has a few thousand events per tick.
   */
  static readonly MAX_EVENTS_PER_UNIT = 100_000;
  private eventsAtNow = 0;
  private eventsAtTime = -1;
  /** Committed index when each read request reached its node: its read index may not be lower. */
  private readonly readFloors = new WeakMap<ClientRequest, number>();
  readonly stats: ClusterStats = {
    ticks: 0, messagesSent: 0, messagesDelivered: 0, messagesLost: 0, readies: 0, entriesApplied: 0,
    snapshotsDelivered: 0, snapshotsRestored: 0, compactions: 0, crashes: 0, pauses: 0, leaderElections: 0,
  };
  /** Called after every tick (fault schedule, background compaction, periodic checks). */
  readonly tickHooks: ((tick: number) => void)[] = [];
  /**
   * Called at the end of a leader's Ready for each crash point it hits (in CrashPoint
   * order, until the node is no longer up); a hook may crash the node there.
   */
  readonly crashPointHooks: ((node: SimNode, point: CrashPoint) => void)[] = [];

  /** Client responses land here (set by the client driver). */
  onResponse: (resp: ClientResponse) => void = () => {};
  /** Called when any node applies a ConfChange (index, resulting membership). */
  onConfApplied: (node: NodeId, index: number, cs: ConfState) => void = () => {};
  /** The newest membership any node applied, and its index. */
  latestConf: { index: number; cs: ConfState };

  private readonly queue = new EventQueue<SimEvent>();
  private readonly prng: Prng;
  private readonly tracing: boolean;

  constructor(readonly opts: ClusterOptions) {
    this.prng = opts.prng.fork();
    this.net = new NetworkModel(opts.prng.fork(), opts.network ?? DEFAULT_NETWORK_OPTIONS);
    this.inv = new Invariants(() => this.now, { earlyVoteRequests: opts.raft.earlyVoteRequests === true });
    this.tracing = opts.trace !== null;
    const cs: ConfState = { voters: [...opts.voters].sort((a, b) => a - b), learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
    this.latestConf = { index: 0, cs };
    for (const id of opts.voters) {
      const node = new SimNode(id, MemoryStorage.withMembership(structuredClone(cs)));
      this.nodes.set(id, node);
      this.setClock(node);
      this.start(node);
    }
    this.queue.push(UNITS_PER_TICK, { k: 'tick' });
  }

  // ---- running ------------------------------------------------------------------------

  get tick(): number {
    return Math.floor(this.now / UNITS_PER_TICK);
  }

  /** Processes events up to and including `endTime`, or until `stop()` says so. */
  runUntil(endTime: number, stop?: () => boolean): void {
    while (this.queue.peekTime() <= endTime) {
      const ev = this.queue.pop()!;
      if (ev.time !== this.eventsAtTime) {
        this.eventsAtTime = ev.time;
        this.eventsAtNow = 0;
      }
      if (++this.eventsAtNow > Cluster.MAX_EVENTS_PER_UNIT) {
        this.inv.fail('livelock', `over ${Cluster.MAX_EVENTS_PER_UNIT} events at time ${formatTime(ev.time)}: messages multiply faster than time passes`);
      }
      this.now = ev.time;
      this.handle(ev.item);
      if (stop !== undefined && stop()) return;
    }
    this.now = Math.max(this.now, endTime);
  }

  runTicks(ticks: number, stop?: () => boolean): void {
    this.runUntil(this.now + ticks * UNITS_PER_TICK, stop);
  }

  /** Runs `fn` after `delay` units (client timers, fault ends). */
  schedule(delay: number, fn: () => void): void {
    this.queue.push(this.now + Math.max(0, Math.floor(delay)), { k: 'timer', run: fn });
  }

  trace(node: NodeId | null, what: string): void {
    if (this.opts.trace !== null) this.opts.trace(`${formatTime(this.now).padStart(7)} ${node === null ? '  ' : `n${node}`} ${what}`);
  }

  get isTracing(): boolean {
    return this.tracing;
  }

  private handle(ev: SimEvent): void {
    switch (ev.k) {
      case 'tick':
        this.onTick();
        return;
      case 'timer':
        ev.run();
        return;
      case 'response':
        this.onResponse(ev.resp);
        return;
      case 'deliver': {
        const from = this.nodes.get(ev.msg.from);
        if (from !== undefined && from.incarnation !== ev.fromInc) {
          this.stats.messagesLost++;
          if (this.tracing) this.trace(ev.msg.to, `lost (sender crashed) ${describeMessage(ev.msg)}`);
          return;
        }
        this.nodeEvent(ev.msg.to, ev);
        return;
      }
      default:
        this.nodeEvent(ev.node, ev);
    }
  }

  /** Events addressed to one node: dropped if it is down, deferred if it is paused. */
  private readonly deferred = new Map<NodeId, SimEvent[]>();

  private nodeEvent(id: NodeId, ev: SimEvent): void {
    const node = this.nodes.get(id);
    if (node === undefined || node.status === 'crashed' || node.status === 'destroyed') {
      if (ev.k === 'deliver') {
        this.stats.messagesLost++;
        if (this.tracing) this.trace(id, `lost (node down) ${describeMessage(ev.msg)}`);
      }
      return;
    }
    if ((ev.k === 'persist' || ev.k === 'apply') && ev.inc !== node.incarnation) return;
    if (node.status === 'paused') {
      let list = this.deferred.get(id);
      if (list === undefined) this.deferred.set(id, (list = []));
      list.push(ev);
      return;
    }
    switch (ev.k) {
      case 'deliver':
        this.stats.messagesDelivered++;
        if (this.tracing) this.trace(id, `recv ${describeMessage(ev.msg)}`);
        if (ev.msg.type === MessageType.Snap) this.stats.snapshotsDelivered++;
        node.raw!.step(ev.msg);
        break;
      case 'persist':
        this.onPersist(node);
        break;
      case 'apply':
        this.onApply(node);
        break;
      case 'request':
        this.onRequest(node, ev.req);
        break;
      default:
        throw new Error(`cluster: unexpected node event ${ev.k}`);
    }
    this.drive(node);
  }

  private onTick(): void {
    this.stats.ticks++;
    for (const node of this.nodes.values()) {
      if (node.status !== 'up' && node.status !== 'paused') continue;
      // Clock drift: a node's clock runs at clockRate; it gets floor(accumulated) ticks.
      node.clockAcc += node.clockRate;
      const n = Math.floor(node.clockAcc);
      node.clockAcc -= n;
      if (node.status === 'paused') {
        node.missedTicks += n;
        continue;
      }
      for (let i = 0; i < n; i++) node.raw!.tick();
      this.drive(node);
    }
    const t = this.tick;
    for (const hook of this.tickHooks) hook(t);
    this.queue.push(this.now + UNITS_PER_TICK, { k: 'tick' });
  }

  // ---- the Ready loop -----------------------------------------------------------------

  private drive(node: SimNode): void {
    const raw = node.raw;
    if (raw === null || node.status !== 'up') return;
    while (node.raw === raw && raw.hasReady()) this.onReady(node, raw.ready());
  }

  private onReady(node: SimNode, rd: Ready): void {
    this.stats.readies++;
    const raw = node.raw!;
    let elected = false;
    let committed = false;
    if (rd.softState !== null) {
      const wasLeader = node.role === StateRole.Leader;
      node.role = rd.softState.role;
      node.lead = rd.softState.lead;
      if (node.role === StateRole.Leader && !wasLeader) {
        elected = true;
        const term = raw.status().term;
        this.stats.leaderElections++;
        if (this.tracing) this.trace(node.id, `became LEADER of term ${term}`);
        this.inv.onLeader(node.id, term, node.storage);
      } else if (this.tracing) {
        this.trace(node.id, `role ${roleName(node.role)} lead=n${node.lead}`);
      }
    }
    if (rd.hardState !== null && rd.hardState.commit > node.commitSeen) {
      node.commitSeen = rd.hardState.commit;
      if (node.role === StateRole.Leader) {
        committed = true;
        this.inv.onLeaderCommit(node.id, rd.hardState.term, rd.hardState.commit, node.storage);
      }
    }
    if (this.tracing && (rd.entries.length > 0 || rd.snapshot !== null || rd.hardState !== null || rd.committedEntries.length > 0)) {
      const parts: string[] = [`ready #${rd.seq}`];
      if (rd.hardState !== null) parts.push(`hs=t${rd.hardState.term}/v${rd.hardState.vote}/c${rd.hardState.commit}`);
      if (rd.entries.length > 0) parts.push(`append ${span(rd.entries)}`);
      if (rd.snapshot !== null) parts.push(`snapshot ${rd.snapshot.meta.index}/t${rd.snapshot.meta.term}`);
      if (rd.committedEntries.length > 0) parts.push(`commit ${span(rd.committedEntries)}`);
      this.trace(node.id, parts.join(' '));
    }
    for (const m of rd.messages) this.send(node, m);
    if (this.opts.sabotage === 'ack-before-persist') {
      for (const m of rd.messagesAfterPersist) this.send(node, m);
      rd.messagesAfterPersist = [];
    }
    for (const rs of rd.readStates) {
      const key = decoder.decode(rs.requestCtx);
      const req = node.pendingReads.get(key);
      if (req === undefined) continue;
      node.pendingReads.delete(key);
      if (this.tracing) this.trace(node.id, `read index ${rs.index} for client ${req.client} op #${req.opId}`);
      const floor = this.readFloors.get(req);
      if (floor !== undefined) this.inv.onReadIndex(node.id, rs.index, floor, `client ${req.client} op #${req.opId}`);
      node.readyReads.push({ index: rs.index, req });
    }
    // Persist job: FIFO, completes after a seeded delay (a non-sync Ready may be quick).
    node.persistJobs.push(rd);
    const pDelay = rd.mustSync ? 1 + this.prng.int(this.opts.persistDelayUnitsMax) : this.prng.int(2);
    node.persistDueAt = Math.max(node.persistDueAt, this.now + pDelay);
    this.queue.push(node.persistDueAt, { k: 'persist', node: node.id, inc: node.incarnation });
    if (rd.committedEntries.length > 0 || rd.snapshot !== null) {
      node.applyJobs.push(rd);
      // A snapshot is restored only after it is persisted (same time: persist runs first).
      const earliest = rd.snapshot !== null ? node.persistDueAt : 0;
      node.applyDueAt = Math.max(node.applyDueAt, earliest, this.now + this.prng.int(this.opts.applyDelayUnitsMax + 1));
      this.queue.push(node.applyDueAt, { k: 'apply', node: node.id, inc: node.incarnation });
    }
    this.serveReads(node);
    if (this.crashPointHooks.length > 0 && node.role === StateRole.Leader) {
      if (elected) this.crashPoint(node, 'elected');
      // The election's own empty entry is the 'elected' point, not an append.
      if (rd.entries.length > (elected ? 1 : 0)) this.crashPoint(node, 'appended');
      if (committed) this.crashPoint(node, 'committed');
    }
  }

  private crashPoint(node: SimNode, point: CrashPoint): void {
    for (const hook of this.crashPointHooks) {
      if (node.status !== 'up') return;
      hook(node, point);
    }
  }

  private onPersist(node: SimNode): void {
    const rd = node.persistJobs.shift();
    if (rd === undefined) throw new Error(`cluster: n${node.id} persist event without a job`);
    this.writeDurable(node, rd);
    for (const m of rd.messagesAfterPersist) this.send(node, m);
    node.raw!.ackPersisted(rd);
  }

  /** The disk write of one Ready: snapshot, entries, hard state. */
  private writeDurable(node: SimNode, rd: Ready): void {
    const st = node.storage;
    if (rd.snapshot !== null) st.applySnapshot(rd.snapshot);
    if (rd.entries.length > 0) {
      this.inv.onPersistEntries(node.id, st, rd.entries);
      st.append(rd.entries);
    }
    if (rd.hardState !== null) {
      this.inv.onPersistHardState(node.id, st.hardState, rd.hardState);
      st.setHardState(rd.hardState);
    }
    if (this.tracing && rd.mustSync) this.trace(node.id, `persisted ready #${rd.seq} (log ${st.firstIndex()}..${st.lastIndex()}, hs t${st.hardState.term}/v${st.hardState.vote}/c${st.hardState.commit})`);
  }

  private onApply(node: SimNode): void {
    const rd = node.applyJobs.shift();
    if (rd === undefined) throw new Error(`cluster: n${node.id} apply event without a job`);
    const raw = node.raw!;
    if (rd.snapshot !== null) {
      const meta = rd.snapshot.meta;
      this.inv.onSnapshotRestore(node.id, meta.index, meta.term);
      node.loadSnapshot(rd.snapshot);
      this.stats.snapshotsRestored++;
      this.inv.onState(node.id, meta.index, node.sm.digest(), 'snapshot');
      if (this.tracing) this.trace(node.id, `restored snapshot ${meta.index}/t${meta.term} ${formatConf(meta.confState)}`);
      // Writes waiting on entries the snapshot covers get no apply callback: let the
      // client retry (the dedup table answers a retry of an applied write).
      for (const [client, p] of node.pendingWrites) {
        if (p.index <= meta.index) {
          node.pendingWrites.delete(client);
          this.respondDropped(node, p.req, 'covered by snapshot');
        }
      }
      raw.appliedTo(meta.index);
    }
    for (const e of rd.committedEntries) this.applyEntry(node, e);
    if (rd.committedEntries.length > 0) raw.appliedTo(node.applied);
    // With no snapshot still on its way to the state machine, raft's membership must be
    // exactly what the applied entries (or the restored snapshot) say.
    if ((rd.snapshot !== null || rd.committedEntries.some((e) => e.type === EntryType.ConfChange)) &&
        !node.applyJobs.some((j) => j.snapshot !== null)) {
      this.inv.checkConfig(node.id, node.applied, formatConf(raw.status().config), formatConf(node.confState));
    }
    this.serveReads(node);
  }

  private applyEntry(node: SimNode, e: Entry): void {
    if (this.opts.sabotage === 'skip-entry' && node.id === 2 && e.index === 7 && e.data.length > 0 && e.type === EntryType.Normal) {
      node.applied = e.index;
      return;
    }
    this.inv.onApply(node.id, e, node.applied, node.commitSeen);
    this.stats.entriesApplied++;
    node.applied = e.index;
    if (e.type === EntryType.ConfChange) {
      const cc = decodeConfChange(e.data);
      node.applyingConfChange = true;
      let cs: ConfState | null;
      try {
        cs = node.raw!.applyConfChange(cc);
      } finally {
        node.applyingConfChange = false;
      }
      if (cs === null) {
        // Superseded by a snapshot raft restored meanwhile; the snapshot (applied next)
        // carries the membership.
        if (this.tracing) this.trace(node.id, `apply ${e.index}/t${e.term} conf change ${describeConfChange(cc)} -> superseded by snapshot`);
      } else {
        node.confState = cs;
        this.inv.onConfChange(node.id, e.index, formatConf(cs));
        if (this.tracing) this.trace(node.id, `apply ${e.index}/t${e.term} conf change ${describeConfChange(cc)} -> ${formatConf(cs)}`);
        if (e.index > this.latestConf.index) this.latestConf = { index: e.index, cs };
        this.onConfApplied(node.id, e.index, cs);
      }
    } else if (e.data.length > 0) {
      const cmd = decodeCommand(e.data);
      const out = node.sm.apply(cmd);
      if (this.tracing) this.trace(node.id, `apply ${e.index}/t${e.term} ${decoder.decode(e.data)} -> ${out.status}`);
      const p = node.pendingWrites.get(cmd.client);
      if (p !== undefined && p.req.seq === cmd.seq && out.status !== 'stale') {
        node.pendingWrites.delete(cmd.client);
        this.respond(node, p.req, out.result);
      }
    }
    // A pending write whose slot was taken by another entry will never commit.
    for (const [client, p] of node.pendingWrites) {
      if (p.index === e.index && p.term !== e.term) {
        node.pendingWrites.delete(client);
        this.respondDropped(node, p.req, `entry ${e.index}/t${p.term} superseded by t${e.term}`);
      }
    }
    this.inv.onState(node.id, e.index, node.sm.digest(), 'apply');
  }

  private serveReads(node: SimNode): void {
    if (node.readyReads.length === 0) return;
    const waiting: { index: number; req: ClientRequest }[] = [];
    for (const r of node.readyReads) {
      if (r.index > node.applied && this.opts.sabotage !== 'serve-reads-early') {
        waiting.push(r);
        continue;
      }
      const op = r.req.op;
      if (op.kind !== 'get') throw new Error('cluster: read state for a non-read');
      this.respond(node, r.req, { kind: 'get', value: node.sm.get(op.key) });
    }
    node.readyReads = waiting;
  }

  // ---- messages ---------------------------------------------------------------------

  private send(node: SimNode, m: Message): void {
    this.inv.onSend(m, node.storage);
    this.stats.messagesSent++;
    const delays = this.nodes.has(m.to) ? this.net.route(m.from, m.to) : [];
    if (delays.length === 0) {
      this.stats.messagesLost++;
      if (this.tracing) this.trace(node.id, `send ${describeMessage(m)} -- LOST`);
      const cut = this.net.isCut(m.from, m.to);
      const inc = node.incarnation;
      // The transport notices a dead link (not a silent drop) and tells raft.
      if (cut || m.type === MessageType.Snap) {
        this.schedule(1 + this.prng.int(5), () => {
          if (node.incarnation !== inc || node.status !== 'up') return;
          if (cut) node.raw!.reportUnreachable(m.to);
          if (m.type === MessageType.Snap) node.raw!.reportSnapshot(m.to, false);
          this.drive(node);
        });
      }
      return;
    }
    if (this.tracing) this.trace(node.id, `send ${describeMessage(m)} (+${delays.join(',+')})`);
    for (const d of delays) this.queue.push(this.now + d, { k: 'deliver', msg: copyMessage(m), fromInc: node.incarnation });
    if (m.type === MessageType.Snap) {
      const inc = node.incarnation;
      this.schedule(delays[0]! + 1, () => {
        if (node.incarnation !== inc || node.status !== 'up') return;
        const to = this.nodes.get(m.to);
        node.raw!.reportSnapshot(m.to, to !== undefined && to.isAlive());
        this.drive(node);
      });
    }
  }

  // ---- clients ------------------------------------------------------------------------

  /** A client sends `req` to node `id` (arrives after client latency). */
  request(id: NodeId, req: ClientRequest): void {
    this.queue.push(this.now + 1 + this.prng.int(this.opts.clientLatencyUnitsMax), { k: 'request', node: id, req });
  }

  private onRequest(node: SimNode, req: ClientRequest): void {
    const raw = node.raw!;
    const op = req.op;
    if (op.kind === 'get') {
      const key = `${req.client}:${req.opId}:${req.attempt}`;
      const lease = op.mode === 'lease';
      this.readFloors.set(req, this.inv.leaderCommittedIndex());
      if (!raw.readIndex(encoder.encode(key), { lease })) {
        this.respondDropped(node, req, 'no leader for read');
        return;
      }
      if (this.tracing) this.trace(node.id, `client ${req.client} op #${req.opId} ${lease ? 'lease' : 'read-index'} read of ${op.key}`);
      node.pendingReads.set(key, req);
      return;
    }
    const data = op.kind === 'put'
      ? encodeCommand({ client: req.client, seq: req.seq, kind: 'put', key: op.key, value: op.value })
      : encodeCommand({ client: req.client, seq: req.seq, kind: 'cas', key: op.key, expected: op.expected, value: op.value });
    const r = raw.propose(data);
    if (!r.ok) {
      this.respondDropped(node, req, r.reason, r.leader);
      return;
    }
    if (this.tracing) this.trace(node.id, `client ${req.client} op #${req.opId} proposed at ${r.index}/t${r.term}`);
    node.pendingWrites.set(req.client, { req, index: r.index, term: r.term });
  }

  private respond(node: SimNode, req: ClientRequest, result: KvResult): void {
    const resp: ClientResponse = { client: req.client, opId: req.opId, attempt: req.attempt, kind: 'ok', result, node: node.id };
    this.queue.push(this.now + 1 + this.prng.int(this.opts.clientLatencyUnitsMax), { k: 'response', resp });
  }

  private respondDropped(node: SimNode, req: ClientRequest, why: string, leaderHint: NodeId = node.lead): void {
    const resp: ClientResponse = { client: req.client, opId: req.opId, attempt: req.attempt, kind: 'dropped', leaderHint, node: node.id, why };
    this.queue.push(this.now + 1 + this.prng.int(this.opts.clientLatencyUnitsMax), { k: 'response', resp });
  }

  // ---- node lifecycle ----------------------------------------------------------------

  private start(node: SimNode): void {
    node.loadFromStorage();
    const r = this.opts.raft;
    const raw = new RawNode({
      id: node.id, storage: this.opts.snapshotOnDemand ? new OnDemandSnapshotStorage(node) : node.storage, prng: this.prng.fork(),
      electionTimeoutTicks: r.electionTimeoutTicks, heartbeatIntervalTicks: r.heartbeatIntervalTicks,
      applied: node.applied, checkQuorum: r.checkQuorum, preVote: r.preVote, leaseMarginTicks: r.leaseMarginTicks,
      lazyCommitBroadcast: r.lazyCommitBroadcast, coalesceAppends: r.coalesceAppends === true,
      skipHeartbeatsAfterAppends: r.skipHeartbeatsAfterAppends === true,
      earlyVoteRequests: r.earlyVoteRequests === true,
      maxInflightMsgs: r.maxInflightMsgs, maxMsgBytes: r.maxMsgBytes,
      maxUncommittedEntriesBytes: r.maxUncommittedEntriesBytes, maxApplyBytes: r.maxApplyBytes,
      ...(this.opts.traceRaft === true && this.opts.trace !== null ? { trace: (line: string) => this.trace(node.id, `raft: ${line}`) } : {}),
    });
    node.raw = raw;
    node.status = 'up';
    node.persistDueAt = this.now;
    node.applyDueAt = this.now;
    const st = raw.status();
    this.inv.onRestart(node.id, st.term, st.vote, st.commit);
    this.drive(node);
  }

  private setClock(node: SimNode): void {
    const d = this.opts.clockDrift ?? 0;
    node.clockRate = d > 0 ? 1 - d + 2 * d * this.prng.float() : 1;
    if (this.tracing && d > 0) this.trace(node.id, `clock rate ${node.clockRate.toFixed(4)}`);
  }

  /** Adds a node with empty storage (it learns everything from the leader). */
  addNode(id: NodeId): SimNode {
    if (this.nodes.has(id)) throw new Error(`cluster: node ${id} exists`);
    const node = new SimNode(id, new MemoryStorage());
    this.nodes.set(id, node);
    this.setClock(node);
    if (this.tracing) this.trace(id, 'created (empty storage)');
    this.start(node);
    return node;
  }

  /**
   * Stops a node, dropping everything not durable and every message it sent that is still
   * in flight. `diskCaughtUp`: the crash comes just after the disk finished every write the
   * node had queued (and before it sent what waits for them), so what it just appended is
   * durable on it and, not yet delivered, on no other node.
   */
  crash(id: NodeId, diskCaughtUp = false): void {
    const node = this.mustGet(id);
    if (!node.isAlive()) return;
    if (diskCaughtUp) for (let rd = node.persistJobs.shift(); rd !== undefined; rd = node.persistJobs.shift()) this.writeDurable(node, rd);
    this.stats.crashes++;
    if (this.tracing) this.trace(id, `CRASH (durable: log ${node.storage.firstIndex()}..${node.storage.lastIndex()}, hs t${node.storage.hardState.term}/v${node.storage.hardState.vote}/c${node.storage.hardState.commit}; lost ${node.persistJobs.length} unpersisted readies)`);
    this.inv.onCrash(id, node.storage.hardState);
    node.dropVolatile();
    node.status = 'crashed';
    if (this.opts.sabotage === 'forget-vote-on-crash') {
      node.storage.setHardState({ term: 0, vote: 0, commit: node.storage.hardState.commit });
    }
    this.deferred.delete(id);
  }

  restart(id: NodeId): void {
    const node = this.mustGet(id);
    if (node.status !== 'crashed') return;
    if (this.tracing) this.trace(id, 'RESTART');
    this.start(node);
  }

  /** Stops a node for good (it was removed from the group). */
  destroy(id: NodeId): void {
    const node = this.mustGet(id);
    if (node.status === 'destroyed') return;
    if (this.tracing) this.trace(id, 'DESTROYED (removed from the group)');
    node.dropVolatile();
    node.status = 'destroyed';
    this.deferred.delete(id);
  }

  pause(id: NodeId): void {
    const node = this.mustGet(id);
    if (node.status !== 'up') return;
    this.stats.pauses++;
    if (this.tracing) this.trace(id, 'PAUSE');
    node.status = 'paused';
  }

  resume(id: NodeId): void {
    const node = this.mustGet(id);
    if (node.status !== 'paused') return;
    if (this.tracing) this.trace(id, `RESUME (catching up ${node.missedTicks} ticks)`);
    node.status = 'up';
    const raw = node.raw!;
    for (; node.missedTicks > 0; node.missedTicks--) raw.tick();
    this.drive(node);
    const evs = this.deferred.get(id) ?? [];
    this.deferred.delete(id);
    for (const ev of evs) {
      if (node.status !== 'up') break;
      this.nodeEvent(id, ev);
    }
  }

  // ---- operator actions ---------------------------------------------------------------

  /** The running node that leads the highest term, if any. */
  leader(): SimNode | null {
    let best: SimNode | null = null;
    let bestTerm = -1;
    for (const node of this.nodes.values()) {
      if (node.status !== 'up' || node.role !== StateRole.Leader) continue;
      const term = node.raw!.status().term;
      if (term > bestTerm) {
        best = node;
        bestTerm = term;
      }
    }
    return best;
  }

  proposeConfChange(via: NodeId, cc: ConfChangeV2): boolean {
    const node = this.mustGet(via);
    if (node.status !== 'up') return false;
    const r = node.raw!.proposeConfChange(cc);
    if (this.tracing) this.trace(via, `propose conf change ${describeConfChange(cc)}: ${r.ok ? `at ${r.index}/t${r.term}` : `dropped (${r.reason}: ${r.detail})`}`);
    this.drive(node);
    return r.ok;
  }

  transferLeader(via: NodeId, to: NodeId): void {
    const node = this.mustGet(via);
    if (node.status !== 'up') return;
    if (this.tracing) this.trace(via, `transfer leadership to n${to}`);
    node.raw!.transferLeader(to);
    this.drive(node);
  }

  campaign(id: NodeId): void {
    const node = this.mustGet(id);
    if (node.status !== 'up') return;
    if (this.tracing) this.trace(id, 'campaign');
    node.raw!.campaign();
    this.drive(node);
  }

  /**
   * Snapshots node `id`'s state machine at its applied index and compacts its log,
   * keeping `keepEntries` entries before the snapshot for slightly lagging followers.
   */
  compact(id: NodeId, keepEntries: number): boolean {
    const node = this.mustGet(id);
    if (node.status !== 'up') return false;
    const st = node.storage;
    const index = node.applied;
    if (index <= st.snapshot().meta.index || index > st.lastIndex() || index < st.firstIndex()) return false;
    st.createSnapshot(index, structuredClone(node.confState), node.sm.encodeSnapshot());
    const to = Math.max(st.firstIndex() - 1, index - keepEntries);
    st.compact(to);
    this.stats.compactions++;
    if (this.tracing) this.trace(id, `snapshot at ${index}, log compacted to ${st.firstIndex()}..${st.lastIndex()}`);
    return true;
  }

  /** Full log-matching check over every non-destroyed node's durable log. */
  checkLogs(): void {
    const logs = new Map<NodeId, MemoryStorage>();
    for (const n of this.nodes.values()) if (n.status !== 'destroyed') logs.set(n.id, n.storage);
    this.inv.checkLogMatching(logs);
  }

  /** Ids of nodes in the newest applied membership. */
  members(): NodeId[] {
    return [...this.nodes.keys()].filter((id) => isMember(this.latestConf.cs, id)).sort((a, b) => a - b);
  }

  mustGet(id: NodeId): SimNode {
    const node = this.nodes.get(id);
    if (node === undefined) throw new Error(`cluster: no node ${id}`);
    return node;
  }

  /** Wraps a raft exception so the run reports it like an invariant failure. */
  static asViolation(e: unknown, time: number): SafetyViolation {
    if (e instanceof SafetyViolation) return e;
    const err = e instanceof Error ? e : new Error(String(e));
    return new SafetyViolation('exception', `${err.message}\n${err.stack ?? ''}`, time);
  }
}
