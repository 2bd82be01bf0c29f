// PD's own raft group: one range (PD_RANGE_ID) over PD's own StorageEngine, on a RaftHost
// of @rangekv/multiraft (the one ready loop of the codebase, the same host the stores run),
// PD nodes talking over a RaftTransport (PD ids play the role of store ids; replica id =
// PD id). A new cluster's nodes all start with the same member ids; the membership then
// lives in the range's configuration on disk and changes at run time through raft's joint
// consensus (pd-membership.ts). A node added later starts with `join`: its data dir stays
// empty until the leader's first message creates PD's range there (an uninitialized
// replica, in no configuration, so it cannot campaign) and a snapshot fills it.
// Addresses: the raft address of a member comes from this node's flags (`peers`) or, for a
// member added at run time, from PD's state (the change's context carries it).
//
//   const g = await PdRaftGroup.start({ pdId: 1, members: [1, 2, 3], dataDir, peers, ... });
//   const res = await g.propose({ t: 'reserve', space: 'id', count: 100 });   // applied on this node
//   g.serving;        // leader that has applied an entry of its own term
//   await g.stop();
//
// The host compacts the log like a store's ranges; a follower behind the compacted log
// gets a storage snapshot of PD's range from the host's snapshot shipper over the same
// transport, and reloads PdState from the ingested rows.
//
// Reads: PD answers from the leader's applied state once that leader has applied an entry
// of its current term (raft appends an empty one on election), so everything committed by
// earlier leaders is visible. With check-quorum a leader cut off from the majority steps
// down within an election timeout; until then it may answer reads from a state a newer
// leader has moved past (documented bound, as etcd's serializable reads).
import { decodeConfChange, EntryType, StateRole, type ConfChangeV2, type ConfState } from '@rangekv/raft';
import { ColumnFamily, StorageEngine, type StorageEngineOptions } from '@rangekv/storage';
import {
  RaftHost, raftTransport, resolveSnapshotLimits, type ApplyEntry, type HostService, type LogCompactionLimits,
  type Replica, type SnapshotLimits,
} from '@rangekv/multiraft';
import type { CertificateSource, Logger } from '@rangekv/runtime';
import type { TransportFaults } from '@rangekv/transport';
import { decodePdCommand, encodePdCommand, type PdCommand, type PdCommandResult } from './pd-command.js';
import { newWrites, PdState, type PdMemberAddress, type PdStateLimits, type PdWrites } from './pd-state.js';
import { decodeMemberContext, isJointConfig, memberIdsOf, pdDescriptor, PD_RANGE_ID } from './pd-membership-codec.js';
import { PdDecodeError } from './pd-codec.js';
import { invalidArgument } from './errors.js';
import { commandProblem } from './pd-validate.js';

export { PD_RANGE_ID };

export interface PdRaftOptions {
  pdId: number;
  /**
   * A new cluster's members, this one included (same list on every node). Used only when
   * the data dir is empty and `join` is not set; afterwards the membership is the one on disk.
   */
  members: readonly number[];
  /** Join a running PD cluster: an empty data dir waits for the leader (AddPdMember) instead of starting a new group. */
  join?: boolean;
  dataDir: string;
  listenHost?: string;
  /** 0 = ephemeral; read `raftPort`. */
  raftPort?: number;
  /** Raft addresses of the other members (more can be set later with setPeer). */
  peers?: ReadonlyMap<number, string>;
  tickMs?: number;
  electionTimeoutTicks?: number;
  heartbeatIntervalTicks?: number;
  storage?: StorageEngineOptions;
  stateLimits?: Partial<PdStateLimits>;
  /** When PD's log is compacted (the store's LogCompactor limits; default the store's). */
  logCompaction?: Partial<LogCompactionLimits>;
  /** PD-to-PD snapshot streams (the store's SnapshotLimits). */
  snapshots?: Partial<SnapshotLimits>;
  transportFaults?: TransportFaults;
  /** Mutual TLS between PD nodes (certificates naming rangekv://pd/ID); default plaintext. */
  certs?: CertificateSource | null;
  log: Logger;
  /** A disk failure or broken invariant: the group stopped. */
  onFatal?: (err: unknown) => void;
  /** `serving` changed (became a leader with its term applied, or lost it). */
  onServingChange?: (serving: boolean) => void;
}

/** The proposal was not applied: not leader, dropped by a leader change, or stopping. */
export class PdProposalError extends Error {
  constructor(message: string, readonly leaderId: number, readonly ambiguous: boolean) {
    super(message);
    this.name = 'PdProposalError';
  }
}

export class PdRaftGroup {
  readonly pdId: number;
  /** Replaced in place (same object) when a snapshot is ingested. */
  readonly state: PdState;
  private readonly peers: Map<number, string>;
  private readonly host: RaftHost<PdCommandResult>;
  /** The applied index the in-memory state reflects (a jump past it = a snapshot was ingested). */
  private stateApplied = 0;
  private lastAppliedTerm = 0;
  private wasServing = false;
  private stopped = false;

  private constructor(private readonly opts: PdRaftOptions, host: RaftHost<PdCommandResult>, peers: Map<number, string>) {
    this.pdId = opts.pdId;
    this.host = host;
    this.peers = peers;
    this.state = PdState.load(this.rows(), opts.stateLimits ?? {});
  }

  static async start(opts: PdRaftOptions): Promise<PdRaftGroup> {
    if (!opts.join && !opts.members.includes(opts.pdId)) throw new RangeError(`PD ${opts.pdId} is not among the members ${opts.members.join(',')}`);
    const snapLimits: SnapshotLimits = resolveSnapshotLimits(opts.snapshots);
    const peers = new Map(opts.peers ?? []);
    // Filled in once the group exists: addresses and members added at run time live in its state.
    let group: PdRaftGroup | null = null;
    // PD ids play the part of store ids; replica id = PD id; PD's range exists on every member,
    // so nothing is created by message except on a joining node; the group never quiesces.
    const host = await RaftHost.open<PdCommandResult>({
      storeId: opts.pdId, log: opts.log,
      engine: () => StorageEngine.open(opts.dataDir, {
        ...(opts.storage ?? {}), limits: { maxSnapshotChunkBytes: snapLimits.snapshotChunkBytes, ...(opts.storage?.limits ?? {}) },
      }),
      transport: raftTransport({
        storeId: opts.pdId, listenHost: opts.listenHost ?? '127.0.0.1', listenPort: opts.raftPort ?? 0,
        resolve: (id) => peers.get(id) ?? group?.state.pdMembers.get(id)?.raft,
        ...(opts.transportFaults ? { faults: opts.transportFaults } : {}),
        snapshotLimits: snapLimits,
        ...(opts.certs ? { tls: { certs: opts.certs, peerRole: 'pd' as const } } : {}),
      }),
      timing: {
        ...(opts.tickMs !== undefined ? { tickMs: opts.tickMs } : {}),
        ...(opts.electionTimeoutTicks !== undefined ? { electionTimeoutTicks: opts.electionTimeoutTicks } : {}),
        ...(opts.heartbeatIntervalTicks !== undefined ? { heartbeatIntervalTicks: opts.heartbeatIntervalTicks } : {}),
      },
      raft: { checkQuorum: true, preVote: true },
      quiescence: false,
      // Only a joining node creates PD's range by message, and only PD's range.
      uninitialized: opts.join ? { maxUninitializedReplicas: 1, maxUninitializedReplicasPerPeer: 1, maxUninitializedReplicasOnDisk: 1 } : false,
      mayCreateByMessage: (rangeId) => rangeId === PD_RANGE_ID,
      snapshots: snapLimits,
      ...(opts.logCompaction ? { logCompaction: opts.logCompaction } : {}),
      knownPeers: () => group?.memberIds() ?? opts.members,
    });
    let g: PdRaftGroup;
    try {
      const engine = host.engine;
      if (!engine.hasRange(PD_RANGE_ID) && !opts.join) {
        // Every member of a new cluster starts from the same initial state (an empty snapshot at BOOTSTRAP_INDEX).
        const confState: ConfState = {
          voters: [...new Set(opts.members)].sort((a, b) => a - b), learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false,
        };
        await engine.createRange({ descriptor: pdDescriptor(confState, null), confState });
      }
      const onDisk = engine.hasRange(PD_RANGE_ID) ? engine.range(PD_RANGE_ID) : null;
      if (onDisk?.descriptor) {
        const have = memberIdsOf(onDisk.confState);
        if (!have.includes(opts.pdId)) {
          throw new Error(`PD ${opts.pdId} is not a member of the PD group in its data dir (members ${have.join(',')}): it was removed, `
            + 'or the data dir is another node\'s. To bring it back, empty its data dir, start it with --join and add it again (rangekv ctl pd members add)');
        }
        const given = [...new Set(opts.members)].sort((a, b) => a - b).join(',');
        if (!opts.join && have.join(',') !== given) {
          opts.log.info('PD membership comes from the data dir (changed at run time); the member list given at start is not used', {
            members: have, given: opts.members,
          });
        }
      }
      g = new PdRaftGroup(opts, host, peers);
      group = g;
    } catch (e) {
      await host.stop();
      throw e;
    }
    try {
      await g.startParts();
    } catch (e) {
      await g.stop().catch(() => {});
      throw e;
    }
    return g;
  }

  private async startParts(): Promise<void> {
    if (this.host.engine.hasRange(PD_RANGE_ID)) {
      const log = this.host.engine.range(PD_RANGE_ID);
      this.lastAppliedTerm = log.applied.term;
      this.stateApplied = log.applied.index;
    }
    await this.host.start(this.service());
    // A single-member group elects itself at once instead of waiting an election timeout.
    const r = this.replica;
    if (r?.log.descriptor && r.log.confState.voters.length === 1 && r.log.confState.voters[0] === this.pdId) {
      this.host.scheduler.withNode(PD_RANGE_ID, (x) => x.node.campaign());
    }
  }

  /** PD's replica on this node; undefined on a joining node the leader has not reached yet. */
  private get replica(): Replica<PdCommandResult> | undefined {
    return this.host.scheduler.get(PD_RANGE_ID);
  }

  /** Whether this node holds PD's state (false: joined, waiting for the leader's snapshot). */
  get initialized(): boolean {
    return this.replica?.log.descriptor != null;
  }

  /** PD's raft configuration as this node has applied it (empty before a joining node got its snapshot). */
  get config(): ConfState {
    const r = this.replica;
    return r?.log.descriptor ? r.log.confState : { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
  }

  /** Every member's id (voters, learners, and outgoing voters of a joint configuration), ascending. */
  memberIds(): number[] {
    return memberIdsOf(this.config);
  }

  /** Whether this node is a member of the configuration it has applied. */
  get isMember(): boolean {
    return this.memberIds().includes(this.pdId);
  }

  /** The raft address this node knows for PD `pdId` (flags first, then PD's state), or ''. */
  raftAddressOf(pdId: number): string {
    return this.peers.get(pdId) ?? this.state.pdMembers.get(pdId)?.raft ?? '';
  }

  /** Whether PD `pdId` answered this node's liveness pings lately (this node: always). */
  isLive(pdId: number): boolean {
    return pdId === this.pdId || this.host.liveness.isLive(pdId);
  }

  /** The leader's view of each member's matched log index (empty on a follower). */
  matchIndexes(): Map<number, number> {
    const out = new Map<number, number>();
    for (const [id, p] of this.replica?.node.status().progress ?? []) out.set(id, p.match);
    return out;
  }

  get commitIndex(): number {
    return this.replica?.node.basicStatus().commit ?? 0;
  }

  /** Whether the applied configuration is joint (a change in progress). */
  get joint(): boolean {
    return isJointConfig(this.config);
  }

  /** Proposes a membership change and resolves once it applied on this node. */
  proposeConfChange(cc: ConfChangeV2): Promise<void> {
    if (this.stopped) return Promise.reject(new PdProposalError('PD is stopping', 0, false));
    return new Promise((resolve, reject) => {
      const res = this.host.scheduler.proposeConfChange(PD_RANGE_ID, cc, (o) => {
        if (o.kind === 'applied') resolve();
        else reject(new PdProposalError(`membership change ${o.kind}: ${o.reason}`, this.leaderId, o.kind === 'unknown'));
      });
      if (!res.ok) reject(new PdProposalError(`membership change not proposed: ${res.reason}`, this.leaderId, false));
    });
  }

  /** The error that stopped the group (disk failure), or null. */
  get fatal(): unknown {
    return this.host.fatal;
  }

  get raftPort(): number {
    return this.host.transport.port;
  }

  setPeer(pdId: number, raftAddress: string): void {
    this.peers.set(pdId, raftAddress);
  }

  /** The leader's PD id as this node knows it (0: unknown). */
  get leaderId(): number {
    return this.replica?.lead ?? 0;
  }

  get isLeader(): boolean {
    return this.replica?.role === StateRole.Leader;
  }

  /** Last index of PD's raft log on this node (tests: how many entries commands took). */
  get lastIndex(): number {
    return this.replica?.node.status().lastIndex ?? 0;
  }

  /** First index still in PD's raft log on this node (moves up as the log is compacted). */
  get firstIndex(): number {
    return this.replica?.log.firstIndex() ?? 0;
  }

  /** Snapshots sent / received by this node (PD-to-PD catch-up). */
  get snapshotCounters(): Readonly<{ snapshotsSent: number; snapshotsReceived: number }> {
    return this.host.counters;
  }

  get appliedIndex(): number {
    return this.replica?.log.applied.index ?? 0;
  }

  get term(): number {
    return this.replica?.node.basicStatus().term ?? 0;
  }

  /** Leader whose own term has an applied entry: its applied state holds every committed command. */
  get serving(): boolean {
    return !this.stopped && this.isLeader && this.lastAppliedTerm === this.term;
  }

  /** Proposes `cmd` and resolves with its result once it applied on this node. */
  propose(cmd: PdCommand): Promise<PdCommandResult> {
    if (this.stopped) return Promise.reject(new PdProposalError('PD is stopping', 0, false));
    // Nothing enters the log that apply would refuse as malformed (pd-validate.ts).
    const problem = commandProblem(cmd);
    if (problem !== null) return Promise.reject(invalidArgument(`PD command ${cmd.t} refused: ${problem}`));
    return new Promise((resolve, reject) => {
      const res = this.host.scheduler.propose(PD_RANGE_ID, encodePdCommand(cmd), (o) => {
        if (o.kind === 'applied') resolve(o.result);
        else reject(new PdProposalError(`proposal ${o.kind}: ${o.reason}`, this.leaderId, o.kind === 'unknown'));
      });
      if (!res.ok) reject(new PdProposalError(`not proposed: ${res.reason}`, this.leaderId, false));
    });
  }

  /** Asks raft to hand leadership to `pdId` (tests, graceful stop). */
  transferLeader(pdId: number): void {
    this.host.scheduler.withNode(PD_RANGE_ID, (r) => r.node.transferLeader(pdId));
  }

  /**
   * Graceful stop of a leader: hands leadership to the most caught-up other member and
   * waits (at most `timeoutMs`) until this node follows the new leader (it heard from it).
   */
  async handOffLeadership(timeoutMs: number): Promise<void> {
    const voters = this.config.voters;
    if (this.stopped || !this.isLeader || voters.length < 2) return;
    const progress = this.replica?.node.status().progress;
    let to = 0;
    let best = -1;
    for (const [id, p] of progress ?? []) {
      if (id !== this.pdId && voters.includes(id) && p.match > best) {
        best = p.match;
        to = id;
      }
    }
    if (to === 0) return;
    this.transferLeader(to);
    const end = Date.now() + timeoutMs;
    while ((this.isLeader || this.leaderId === 0) && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.checkServing();
    await this.host.stop();
  }

  private checkServing(): void {
    const s = this.serving;
    if (s !== this.wasServing) {
      this.wasServing = s;
      this.opts.onServingChange?.(s);
    }
  }

  private applyEntries(entries: readonly ApplyEntry[]): PdCommandResult[] {
    const w = newWrites();
    const results: PdCommandResult[] = [];
    let confState: ConfState | undefined;
    for (const e of entries) {
      if (e.type === EntryType.Normal && e.data.length > 0) {
        results.push(this.applyCommand(e, w));
      } else {
        if (e.type === EntryType.ConfChange && e.confState) {
          confState = e.confState;
          this.applyMembership(e, e.confState, w);
        }
        results.push({ ok: true, error: '', first: 0 });
      }
    }
    const last = entries[entries.length - 1]!;
    const descriptor = confState ? pdDescriptor(confState, this.replica?.log.descriptor ?? null) : undefined;
    this.host.engine.apply(PD_RANGE_ID, {
      puts: w.puts, deletes: w.deletes, applied: { index: last.index, term: last.term },
      ...(confState ? { confState, descriptor } : {}),
    });
    this.lastAppliedTerm = last.term;
    this.stateApplied = last.index;
    return results;
  }

  /** A committed membership change: the added members' addresses kept, the departed ones dropped. */
  private applyMembership(e: ApplyEntry, cs: ConfState, w: PdWrites): void {
    let added: Map<number, PdMemberAddress>;
    try {
      added = decodeMemberContext(decodeConfChange(e.data).context);
    } catch (err) {
      // Never proposed by this code (pd-membership.ts encodes it): the change stands, its addresses are lost.
      this.opts.log.error('committed PD membership change has a context that does not decode: addresses not kept', { index: e.index, err });
      added = new Map();
    }
    const members = memberIdsOf(cs);
    this.state.applyMembership(added, new Set(members), w);
    this.opts.log.info('PD membership changed', {
      index: e.index, voters: cs.voters, learners: cs.learners, ...(cs.votersOutgoing.length > 0 ? { votersOutgoing: cs.votersOutgoing } : {}),
    });
    if (!members.includes(this.pdId)) this.opts.log.warn('this PD node is no longer a member of the PD group: it will not vote or serve', { pdId: this.pdId });
  }

  /**
   * One committed command. One that does not decode or fails PD's checks was never
   * proposed by this code (propose checks first): it is refused here, the same way on
   * every node, and logged loudly; apply never throws on a committed entry, so a bad
   * entry cannot stop PD or loop on restart.
   */
  private applyCommand(e: ApplyEntry, w: PdWrites): PdCommandResult {
    let cmd: PdCommand;
    try {
      cmd = decodePdCommand(e.data);
    } catch (err) {
      if (!(err instanceof PdDecodeError)) throw err;
      this.opts.log.error('committed PD entry does not decode: refused', { index: e.index, err });
      return { ok: false, error: `entry ${e.index} does not decode: ${err.message}`, first: 0 };
    }
    const problem = commandProblem(cmd);
    if (problem !== null) {
      this.opts.log.error('committed PD command fails its checks: refused', { index: e.index, command: cmd.t, problem });
      return { ok: false, error: `entry ${e.index}: ${problem}`, first: 0 };
    }
    return this.state.apply(cmd, w);
  }

  private rows(): { key: Uint8Array; value: Uint8Array }[] {
    return this.host.engine.db.scan(ColumnFamily.Default, { gte: Buffer.alloc(0) }).map((kv) => ({ key: kv.key, value: kv.value }));
  }

  /** After a snapshot was ingested: the state is whatever the snapshot's rows say. */
  private onAppliedState(): void {
    const applied = this.replica?.log.applied;
    if (!applied) return;
    if (applied.index > this.stateApplied) {
      this.state.replaceWith(PdState.load(this.rows(), this.opts.stateLimits ?? {}));
      this.stateApplied = applied.index;
      this.lastAppliedTerm = applied.term;
      this.opts.log.info('PD state loaded from a snapshot', { index: applied.index, term: applied.term });
    }
    this.checkServing();
  }

  /** PD's metadata as a host service. */
  private service(): HostService<PdCommandResult> {
    return {
      applyEntries: (_r, entries) => this.applyEntries(entries),
      onSoftState: (r, ss) => {
        if (ss.lead !== r.lead) this.opts.log.info('PD raft leader changed', { lead: ss.lead, role: ss.role });
        // replica.role is updated when this returns.
        this.host.clock.nextTurn(() => this.checkServing());
      },
      onApplied: () => this.onAppliedState(),
      onFatal: (err) => {
        this.opts.log.error('PD raft group failed', { err });
        this.opts.onFatal?.(err);
      },
    };
  }
}
