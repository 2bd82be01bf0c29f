// The raft core's plain-data vocabulary: log entries, messages, persistent state,
// membership, snapshots and the Ready value handed to the caller.
//
// Everything here is plain data (no classes) so it can be copied, logged, encoded on the
// wire and compared in tests without surprises.

/** A replica id inside one raft group. Ids are positive; 0 means "nobody". */
export type NodeId = number;
export const NONE: NodeId = 0;

export const EntryType = {
  Normal: 0,
  /** `data` is an encoded ConfChangeV2 (see confchange/codec.ts). */
  ConfChange: 1,
} as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  data: Uint8Array;
}

export const MessageType = {
  /** Candidate asks for a vote. */
  Vote: 1,
  VoteResp: 2,
  /** Pre-candidate asks whether it could win at term+1 (no state change on receipt). */
  PreVote: 3,
  PreVoteResp: 4,
  /** Leader appends entries (may be empty: a probe or commit update). */
  App: 5,
  AppResp: 6,
  Heartbeat: 7,
  HeartbeatResp: 8,
  /** Leader sends a snapshot (InstallSnapshot). */
  Snap: 9,
  /** Leader tells the transfer target to campaign at once (skips pre-vote and lease). */
  TimeoutNow: 10,
  /** A follower forwards a ReadIndex request to its leader. */
  ReadIndex: 11,
  ReadIndexResp: 12,
  /** A follower forwards a leadership-transfer request to its leader. */
  TransferLeader: 13,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/**
 * One raft message. Every field is always present (a fixed shape keeps V8 fast);
 * fields a type does not use are 0 / false / empty / null.
 */
export interface Message {
  type: MessageType;
  to: NodeId;
  from: NodeId;
  term: number;
  /** App: term of the entry at `index` (prevLogTerm). Vote/PreVote: candidate's last term.
   *  AppResp reject: term of the follower's entry at `rejectHint` (the term hint). */
  logTerm: number;
  /** App: prevLogIndex. Vote/PreVote: candidate's last index. AppResp: the acked index
   *  (accept) or the rejected prevLogIndex (reject). ReadIndexResp: the read index. */
  index: number;
  entries: Entry[];
  commit: number;
  reject: boolean;
  /** AppResp reject: the follower's suggested probe index (see fast backtracking). */
  rejectHint: number;
  /** Vote/PreVote sent because of a leadership transfer (TimeoutNow). */
  transfer: boolean;
  snapshot: Snapshot | null;
  /** Heartbeat(Resp)/ReadIndex(Resp): the read request context. */
  context: Uint8Array | null;
}

/** What must be durable before a node answers votes or appends. */
export interface HardState {
  term: number;
  vote: NodeId;
  commit: number;
}

/** Membership, as stored in snapshots and returned by applyConfChange. Ids sorted. */
export interface ConfState {
  voters: NodeId[];
  learners: NodeId[];
  /** Non-empty only in a joint configuration: the outgoing voters. */
  votersOutgoing: NodeId[];
  /** Learners that become learners when the joint configuration is left
   *  (voters being demoted that must stay voters in the outgoing half meanwhile). */
  learnersNext: NodeId[];
  /** Leave the joint configuration automatically once it is applied. */
  autoLeave: boolean;
}

export interface SnapshotMeta {
  index: number;
  term: number;
  confState: ConfState;
}

export interface Snapshot {
  meta: SnapshotMeta;
  /** The state machine's state at meta.index (opaque to raft). */
  data: Uint8Array;
}

export const ConfChangeType = {
  AddNode: 0,
  RemoveNode: 1,
  AddLearnerNode: 2,
} as const;
export type ConfChangeType = (typeof ConfChangeType)[keyof typeof ConfChangeType];

export const ConfChangeTransition = {
  /** Single-step change when possible (one voter added/removed), else joint with auto-leave. */
  Auto: 0,
  /** Always joint, leave automatically. */
  JointImplicit: 1,
  /** Always joint, stay until an empty ConfChangeV2 is proposed. */
  JointExplicit: 2,
} as const;
export type ConfChangeTransition = (typeof ConfChangeTransition)[keyof typeof ConfChangeTransition];

export interface ConfChangeSingle {
  type: ConfChangeType;
  nodeId: NodeId;
}

/** A membership change. No changes + transition Auto = "leave the joint configuration". */
export interface ConfChangeV2 {
  transition: ConfChangeTransition;
  changes: ConfChangeSingle[];
  /** Opaque caller data carried through the log (e.g. store addresses). */
  context: Uint8Array;
}

export const StateRole = {
  Follower: 0,
  Candidate: 1,
  Leader: 2,
  PreCandidate: 3,
} as const;
export type StateRole = (typeof StateRole)[keyof typeof StateRole];

export interface SoftState {
  lead: NodeId;
  role: StateRole;
}

/** A ReadIndex result: once applied >= index, a read tagged `requestCtx` is linearizable. */
export interface ReadState {
  index: number;
  requestCtx: Uint8Array;
}

/**
 * Everything the caller must do for one group, returned by RawNode.ready().
 *
 * Order of work for the caller:
 *   1. send `messages` now (they do not depend on local durability);
 *   2. persist `snapshot` (if any), then `entries` (they may overwrite a conflicting
 *      suffix: truncate from entries[0].index), then `hardState`; make them visible through
 *      the RaftStorage interface;
 *   3. once durable: send `messagesAfterPersist`, then call RawNode.ackPersisted(ready).
 *      Readies are acknowledged in the order they were returned, every one of them.
 *   4. apply `committedEntries` in order (and restore `snapshot` into the state machine
 *      first, if any, after it is persisted); call RawNode.appliedTo(index) as apply
 *      progresses. For ConfChange entries call RawNode.applyConfChange(cc) when applying.
 *   5. serve each read in `readStates` once applied >= its index.
 */
export interface Ready {
  /** Monotonic per RawNode; ackPersisted checks readies come back in order. */
  seq: number;
  softState: SoftState | null;
  hardState: HardState | null;
  entries: Entry[];
  snapshot: Snapshot | null;
  committedEntries: Entry[];
  messages: Message[];
  messagesAfterPersist: Message[];
  readStates: ReadState[];
  /** True when hardState, entries or snapshot must be fsynced before step 3. */
  mustSync: boolean;
}

/** Why a proposal was not appended. The caller answers the client (e.g. NotLeader). */
export const DropReason = {
  NotLeader: 'not-leader',
  Transferring: 'leader-transfer-in-progress',
  UncommittedSizeLimit: 'uncommitted-size-limit',
  ConfChangePending: 'conf-change-pending',
  InvalidConfChange: 'invalid-conf-change',
  EntryTooLarge: 'entry-too-large',
  /** The entries would take the last index past MAX_INDEX (see bounds.ts). */
  IndexLimit: 'index-limit',
} as const;
export type DropReason = (typeof DropReason)[keyof typeof DropReason];

export type ProposeResult =
  | { ok: true; index: number; term: number }
  | { ok: false; reason: DropReason; leader: NodeId; detail: string };

export const ProgressState = {
  Probe: 0,
  Replicate: 1,
  Snapshot: 2,
} as const;
export type ProgressState = (typeof ProgressState)[keyof typeof ProgressState];
