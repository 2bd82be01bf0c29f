// What the host needs of the store-to-store transport, injected so the simulation can put a
// simulated network in its place. Production: `raftTransport(options)` over
// @rangekv/transport's RaftTransport (gRPC streams, coalesced heartbeats, snapshot calls).
import type { Message } from '@rangekv/raft';
import {
  RaftTransport, type InboundReject, type OutboundSnapshot, type RaftTransportOptions, type RangeMessage,
  type SnapshotReceiveHandler, type SnapshotSendResult, type TransportMetrics,
} from '@rangekv/transport';

/** What arrives: the host registers these when it creates its transport. */
export interface TransportHandlers {
  /** One call per batch from `fromStore`, messages in delivery order. */
  onMessages(fromStore: number, msgs: ReadonlyArray<RangeMessage>): void;
  /** A snapshot call starts: accept (a sink) or refuse (throw SnapshotStreamError). */
  onSnapshot: SnapshotReceiveHandler;
  /** A connection to `toStore` failed; what was queued for it is lost. */
  onUnreachable(toStore: number): void;
  /** Any batch from `fromStore` arrived (store liveness). */
  onHeard(fromStore: number): void;
  /** A message or section from a peer was refused alone (malformed, out of range). */
  onInboundReject(r: InboundReject): void;
}

export interface HostTransport {
  /** The port peers reach this store's transport on (0 in the simulation). */
  readonly port: number;
  /** Queues `msg` for `toStore`; false when dropped here (the host reports it unreachable). */
  send(toStore: number, rangeId: number, msg: Message, quiesce?: boolean): boolean;
  /** Writes what was queued (end of a scheduler cycle). */
  flush(): void;
  sendLiveness(toStore: number): boolean;
  sendSnapshot(s: OutboundSnapshot): Promise<SnapshotSendResult>;
  metrics(): TransportMetrics;
  stop(): Promise<void>;
}

/** Creates a host's transport once the host can take what arrives. */
export type TransportFactory = (handlers: TransportHandlers) => Promise<HostTransport>;

/** The production transport: @rangekv/transport's RaftTransport with the host's handlers. */
export function raftTransport(opts: Omit<RaftTransportOptions, 'onSnapshot'>): TransportFactory {
  return async (h) => {
    const t = await RaftTransport.start({ ...opts, onSnapshot: (start) => h.onSnapshot(start) }, (from, msgs) => h.onMessages(from, msgs));
    t.onUnreachable((s) => h.onUnreachable(s));
    t.onHeard((s) => h.onHeard(s));
    t.onInboundReject((r) => h.onInboundReject(r));
    return t;
  };
}
