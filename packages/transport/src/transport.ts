// RaftTransport: a store's raft messaging with every other store.
//
// Outbound, one OutboundPeer per destination store (queue + connection + stream);
// inbound, one gRPC server whose RaftTransport.Stream calls are InboundStreams.
// send() only queues; flush() (once per scheduler cycle) writes one batch per
// destination with something queued.
import * as grpc from '@grpc/grpc-js';
import { MessageType, Prng, type Message } from '@rangekv/raft';
import { raftTransportService } from '@rangekv/proto';
import { channelCredentials, describeIdentity, hostPort, peerIdentity, serverCredentials, type CertificateSource, type Identity } from '@rangekv/runtime';
import { TransportFaults } from './faults.js';
import { InboundStream } from './inbound-stream.js';
import { receiveLimitBytes, resolveLimits, type TransportLimits } from './limits.js';
import { TransportCounters, type TransportMetrics } from './metrics.js';
import { OutboundPeer, type PeerHost } from './outbound-peer.js';
import { InboundSnapshot, type SnapshotReceiveHandler } from './snapshot-inbound.js';
import { resolveSnapshotStreamLimits, type SnapshotStreamLimits } from './snapshot-limits.js';
import { streamSnapshot, type OutboundSnapshot, type SnapshotSendResult } from './snapshot-outbound.js';
import { SnapshotStreamError } from './snapshot-stream.js';
import type { InboundHandler, InboundReject } from './types.js';

export interface RaftTransportOptions {
  storeId: number;
  /** Interface to listen on; default 127.0.0.1. */
  listenHost?: string;
  /** 0 (default) picks an ephemeral port; read it back from `port`. */
  listenPort?: number;
  /** The "host:port" of a store's transport, or undefined if unknown. Asked when a
   *  store is first sent to and again at every (re)connect. */
  resolve: (storeId: number) => string | undefined;
  limits?: Partial<TransportLimits>;
  /** Share one TransportFaults between transports (tests); default: a private one. */
  faults?: TransportFaults;
  /** Bounds of the snapshot calls (RaftTransport.Snapshot), both directions. */
  snapshotLimits?: Partial<SnapshotStreamLimits>;
  /** Receives snapshots; without it every snapshot call is refused. */
  onSnapshot?: SnapshotReceiveHandler;
  /** Mutual TLS with authenticated peers; default plaintext, senders taken at their word. */
  tls?: TransportTls;
}

/**
 * Mutual TLS between the members of one transport. Every connection, both ways, presents a
 * certificate of `certs`' CA naming `${peerRole}/<id>`. A stream or snapshot call whose
 * certificate names another role is refused at once; one whose batches claim another
 * from_store than the certificate's id is failed (PERMISSION_DENIED), and nothing in it
 * is delivered. Outbound, the server must present the certificate of the store dialled.
 */
export interface TransportTls {
  certs: CertificateSource;
  /** 'store' for stores, 'pd' for PD's own group (PD ids play the store ids). */
  peerRole: 'store' | 'pd';
}

export class RaftTransport {
  readonly storeId: number;
  readonly port: number;
  readonly limits: TransportLimits;
  readonly faults: TransportFaults;
  private readonly counters = new TransportCounters();
  private readonly peers = new Map<number, OutboundPeer>();
  /** Peers with something queued since the last flush. */
  private dirty: OutboundPeer[] = [];
  private readonly dirtySet = new Set<OutboundPeer>();
  private readonly inbound = new Set<InboundStream>();
  private readonly unreachableCbs: Array<(toStore: number) => void> = [];
  private readonly heardCbs: Array<(fromStore: number) => void> = [];
  private readonly rejectCbs: Array<(r: InboundReject) => void> = [];
  private readonly peerHost: PeerHost;
  private stopping: Promise<void> | null = null;
  private livenessSeq = 0;
  readonly snapshotLimits: SnapshotStreamLimits;
  private readonly snapshotHandler: SnapshotReceiveHandler | null;
  private readonly inboundSnapshots = new Set<InboundSnapshot>();
  private readonly outboundSnapshotCancels = new Set<() => void>();
  private snapshotSends = 0;
  private readonly tls: TransportTls | null;

  /** Starts listening; resolves once the server is bound. */
  static async start(opts: RaftTransportOptions, onMessages: InboundHandler): Promise<RaftTransport> {
    if (!Number.isSafeInteger(opts.storeId) || opts.storeId <= 0) {
      throw new RangeError(`transport: storeId must be a positive integer, got ${opts.storeId}`);
    }
    const limits = resolveLimits(opts.limits);
    const server = new grpc.Server({
      // No channelz: it tracks every call (CPU per request) and nothing here reads it.
      'grpc.enable_channelz': 0,
      'grpc.max_receive_message_length': receiveLimitBytes(limits),
      'grpc.max_send_message_length': receiveLimitBytes(limits),
      // Pings towards senders too, so a stream from a vanished peer is noticed.
      'grpc.keepalive_time_ms': limits.keepaliveTimeMs,
      'grpc.keepalive_timeout_ms': limits.keepaliveTimeoutMs,
    });
    const host = opts.listenHost ?? '127.0.0.1';
    let transport: RaftTransport | null = null;
    server.addService(raftTransportService, {
      stream: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        if (transport === null || transport.stopping !== null) {
          call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'transport not running' });
          return;
        }
        const from = transport.authenticate(call);
        if (typeof from === 'string') {
          call.emit('error', { code: grpc.status.PERMISSION_DENIED, details: from });
          return;
        }
        transport.accept(call, from);
      },
      snapshot: (call: grpc.ServerReadableStream<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        if (transport === null || transport.stopping !== null) {
          callback({ code: grpc.status.UNAVAILABLE, details: 'transport not running' });
          return;
        }
        const from = transport.authenticate(call);
        if (typeof from === 'string') {
          callback({ code: grpc.status.PERMISSION_DENIED, details: from });
          return;
        }
        transport.acceptSnapshot(call, callback, from);
      },
    });
    const port = await new Promise<number>((resolve, reject) => {
      const creds = serverCredentials(opts.tls?.certs ?? null, { requireClientCert: true });
      server.bindAsync(hostPort(host, opts.listenPort ?? 0), creds, (err, p) => {
        if (err) reject(err);
        else resolve(p);
      });
    });
    transport = new RaftTransport(opts, limits, server, port, onMessages);
    return transport;
  }

  private constructor(
    opts: RaftTransportOptions,
    limits: TransportLimits,
    private readonly server: grpc.Server,
    port: number,
    private readonly onMessages: InboundHandler,
  ) {
    this.storeId = opts.storeId;
    this.port = port;
    this.limits = limits;
    this.faults = opts.faults ?? new TransportFaults(opts.storeId);
    this.snapshotLimits = resolveSnapshotStreamLimits(opts.snapshotLimits);
    this.snapshotHandler = opts.onSnapshot ?? null;
    const prng = new Prng(opts.storeId * 7919 + port);
    this.tls = opts.tls ?? null;
    const tls = this.tls;
    this.peerHost = {
      storeId: opts.storeId,
      credentials: (toStore) => tls === null
        ? channelCredentials(null)
        : channelCredentials(tls.certs, { expectPeer: { role: tls.peerRole, name: String(toStore), id: toStore } }),
      limits,
      counters: this.counters,
      resolve: opts.resolve,
      unreachable: (toStore) => this.notifyUnreachable(toStore),
      random: () => prng.float(),
    };
  }

  /**
   * Queues `msg` for range `rangeId`'s replica on `toStore`. False when dropped here
   * (queue full, message too large, store unknown, connection failed and in backoff,
   * stopped): the caller treats the replica as unreachable. A message lost to a
   * configured fault returns true, as a network loss would.
   */
  send(toStore: number, rangeId: number, msg: Message, quiesce = false): boolean {
    if (toStore === this.storeId) {
      throw new RangeError(`transport: store ${this.storeId} sending range ${rangeId} message to itself`);
    }
    if (quiesce && msg.type !== MessageType.Heartbeat) {
      throw new RangeError(`transport: only a Heartbeat can be flagged quiesce (range ${rangeId}, type ${msg.type})`);
    }
    const peer = this.outboundPeer(toStore);
    if (typeof peer === 'boolean') return peer;
    if (!peer.enqueue(rangeId, msg, quiesce)) return false;
    this.markDirty(peer);
    return true;
  }

  /**
   * The outbound peer for `toStore` (created on first use), or what send() answers
   * without one: false when stopping or the store's address is unknown, true when a fault
   * hook drops the message (as the network would).
   */
  private outboundPeer(toStore: number): OutboundPeer | boolean {
    const c = this.counters;
    if (this.stopping !== null) {
      c.drops.stopped++;
      return false;
    }
    if (this.faults.active && this.faults.dropsOutbound(this.storeId, toStore)) {
      c.drops.fault++;
      return true;
    }
    let peer = this.peers.get(toStore);
    if (peer === undefined) {
      if (this.peerHost.resolve(toStore) === undefined) {
        c.drops.unknownPeer++;
        return false;
      }
      peer = new OutboundPeer(toStore, this.peerHost);
      this.peers.set(toStore, peer);
    }
    return peer;
  }

  /**
   * Queues a store liveness ping for `toStore`: it rides in the next batch to that store
   * (one batch of its own if nothing else is queued). Same return and fault semantics
   * as send(); the caller flushes.
   */
  sendLiveness(toStore: number): boolean {
    if (toStore === this.storeId) throw new RangeError(`transport: store ${this.storeId} pinging itself`);
    const peer = this.outboundPeer(toStore);
    if (typeof peer === 'boolean') return peer;
    if (!peer.enqueueLiveness(++this.livenessSeq)) return false;
    this.markDirty(peer);
    return true;
  }

  private markDirty(peer: OutboundPeer): void {
    if (!this.dirtySet.has(peer)) {
      this.dirtySet.add(peer);
      this.dirty.push(peer);
    }
  }

  /** Writes what is queued: one batch per destination store (more only when one would
   *  exceed maxBatchBytes). Peers still connecting keep their queue for a later flush. */
  flush(): void {
    if (this.dirty.length === 0) return;
    const peers = this.dirty;
    this.dirty = [];
    this.dirtySet.clear();
    for (const peer of peers) {
      peer.flush();
      // Still queued (connecting, backpressure): flush again next cycle.
      if (peer.hasWork() && !this.dirtySet.has(peer)) {
        this.dirtySet.add(peer);
        this.dirty.push(peer);
      }
    }
  }

  /**
   * Streams one snapshot to `s.toStore` on its own call. Resolves when the receiver
   * acknowledged it (staged and handed to raft); rejects with a SnapshotStreamError
   * otherwise: 'busy' at once when maxConcurrentSnapshotSends calls are running,
   * 'unavailable' when the store is unknown, a fault drops it, or we are stopping.
   */
  async sendSnapshot(s: OutboundSnapshot): Promise<SnapshotSendResult> {
    if (this.stopping !== null) throw new SnapshotStreamError('unavailable', 'transport stopping');
    if (this.snapshotSends >= this.snapshotLimits.maxConcurrentSnapshotSends) {
      throw new SnapshotStreamError('busy', `maxConcurrentSnapshotSends ${this.snapshotLimits.maxConcurrentSnapshotSends} snapshots already being sent`);
    }
    const address = this.peerHost.resolve(s.toStore);
    if (address === undefined) throw new SnapshotStreamError('unavailable', `no address for store ${s.toStore}`);
    if (this.faults.active && this.faults.dropsOutbound(this.storeId, s.toStore)) {
      this.counters.drops.fault++;
      throw new SnapshotStreamError('unavailable', `snapshot to store ${s.toStore} lost to a fault`);
    }
    this.snapshotSends++;
    let cancel: (() => void) | null = null;
    try {
      return await streamSnapshot({
        address, fromStore: this.storeId, snapshot: s, limits: this.snapshotLimits, credentials: this.peerHost.credentials(s.toStore),
        channelOptions: { 'grpc.max_send_message_length': receiveLimitBytes(this.limits) },
        onCancelable: (c) => {
          cancel = c;
          this.outboundSnapshotCancels.add(c);
        },
      });
    } finally {
      this.snapshotSends--;
      if (cancel) this.outboundSnapshotCancels.delete(cancel);
    }
  }

  /** Snapshot calls running now, each direction. */
  get snapshotsInFlight(): { sending: number; receiving: number } {
    return { sending: this.snapshotSends, receiving: this.inboundSnapshots.size };
  }

  /** `cb(toStore)` runs once per connection failure to that store (connect refused or
   *  timed out, stream broken): its queued messages were discarded. */
  onUnreachable(cb: (toStore: number) => void): void {
    this.unreachableCbs.push(cb);
  }

  /** `cb(fromStore)` runs for every batch handed over from that store (raft messages or
   *  a liveness ping alone): proof that the store is alive. Runs before the handler. */
  onHeard(cb: (fromStore: number) => void): void {
    this.heardCbs.push(cb);
  }

  /** `cb(r)` runs once per raft message (or whole coalesced section) refused on arrival
   *  while the rest of its batch was delivered: who sent it, its range if known, why.
   *  Counted in metrics().inboundMessageRejects. The store logs these at warn. */
  onInboundReject(cb: (r: InboundReject) => void): void {
    this.rejectCbs.push(cb);
  }

  metrics(): TransportMetrics {
    const peers = [...this.peers.values()].sort((a, b) => a.storeId - b.storeId).map((p) => p.metrics());
    return this.counters.snapshot(this.inbound.size, peers);
  }

  /** Stops sending and listening; closes every stream. Idempotent. */
  stop(): Promise<void> {
    if (this.stopping === null) this.stopping = this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    this.dirty = [];
    this.dirtySet.clear();
    const peers = [...this.peers.values()];
    for (const s of [...this.inbound]) s.end();
    for (const s of [...this.inboundSnapshots]) s.cancel();
    for (const c of [...this.outboundSnapshotCancels]) c();
    await Promise.all(peers.map((p) => p.stop()));
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, this.limits.stopGraceMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Callbacks run on a later turn: never inside send() or flush(). */
  private notifyUnreachable(toStore: number): void {
    if (this.unreachableCbs.length === 0) return;
    setImmediate(() => {
      if (this.stopping !== null) return;
      for (const cb of this.unreachableCbs) cb(toStore);
    });
  }

  /**
   * The store id an inbound call is authenticated as: 0 without TLS (senders taken at
   * their word), the certificate's id with it; else why it is refused (counted in
   * inboundRejects and reported to onInboundReject, which the host logs rate-limited).
   */
  private authenticate(call: grpc.ServerDuplexStream<Buffer, Buffer> | grpc.ServerReadableStream<Buffer, Buffer>): number | string {
    if (this.tls === null) return 0;
    const who: Identity | null = peerIdentity(call);
    if (who !== null && who.role === this.tls.peerRole && who.id !== undefined) return who.id;
    const what = who === null ? 'no client certificate' : `a certificate of ${describeIdentity(who)}`;
    const why = `the raft port takes ${this.tls.peerRole} certificates only, got ${what}`;
    this.refused(0, `${call.getPeer()}: ${why}`);
    return why;
  }

  /** A call or stream refused as a whole for who sent it (mutual TLS). */
  private refused(fromStore: number, reason: string): void {
    this.counters.inboundRejects++;
    for (const cb of this.rejectCbs) cb({ fromStore, rangeId: null, reason });
  }

  private acceptSnapshot(call: grpc.ServerReadableStream<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>, authenticatedStore: number): void {
    const max = this.snapshotLimits.maxConcurrentSnapshotReceives;
    if (this.inboundSnapshots.size >= max) {
      callback({ code: grpc.status.RESOURCE_EXHAUSTED, details: `maxConcurrentSnapshotReceives ${max} snapshots already being received` });
      return;
    }
    const s: InboundSnapshot = new InboundSnapshot(call, callback, {
      storeId: this.storeId, limits: this.snapshotLimits, faults: this.faults, handler: this.snapshotHandler, authenticatedStore,
    }, () => this.inboundSnapshots.delete(s));
    this.inboundSnapshots.add(s);
  }

  private accept(call: grpc.ServerDuplexStream<Buffer, Buffer>, authenticatedStore: number): void {
    const s = new InboundStream(call, {
      storeId: this.storeId,
      authenticatedStore,
      forged: (claimed, reason) => this.refused(claimed, reason),
      counters: this.counters,
      faults: this.faults,
      handler: this.onMessages,
      heard: (fromStore) => {
        this.peers.get(fromStore)?.heardFrom();
        for (const cb of this.heardCbs) cb(fromStore);
      },
      rejected: (r) => {
        for (const cb of this.rejectCbs) cb(r);
      },
    }, (closed) => this.inbound.delete(closed));
    this.inbound.add(s);
  }
}
