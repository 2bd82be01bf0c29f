// One destination store: its bounded send queue, its gRPC connection and stream, and the
// reconnect backoff.
//
// States:
//   idle        no connection; the next send connects
//   connecting  channel connecting; sends queue (bounded)
//   open        stream open; flush() writes the queue as batches
//   backoff     the last connection failed; sends are refused (dropped, send -> false)
//               until a jittered exponential delay passes, or the peer is heard from
//               (it is up again), then idle
//   stopped     the transport stopped
// A failure (connect refused or timed out, stream broken or rejected) discards the
// queue, reports the store unreachable once, and enters backoff.
import * as grpc from '@grpc/grpc-js';
import { MessageType, type Message } from '@rangekv/raft';
import { raftTransportService, RAFT_TRANSPORT_STREAM_PATH } from '@rangekv/proto';
import { encodeBatch } from './batch-codec.js';
import { isCoalescible } from './heartbeat-codec.js';
import { receiveLimitBytes, type TransportLimits } from './limits.js';
import { estimateMessageBytes } from './message-codec.js';
import type { DropCounts, PeerMetrics, PeerState, TransportCounters } from './metrics.js';
import type { OutboundMessage } from './types.js';

interface QueuedMessage extends OutboundMessage {
  /** Estimated encoded size (an upper bound). */
  bytes: number;
}

/** A backoff at least this old ends when the peer is heard from (heardFrom). */
const HEARD_BACKOFF_FLOOR_MS = 100;

/** What a peer needs from its transport. */
export interface PeerHost {
  readonly storeId: number;
  readonly limits: TransportLimits;
  readonly counters: TransportCounters;
  resolve(storeId: number): string | undefined;
  /** The channel credentials for a connection to `storeId` (plaintext or mutual TLS). */
  credentials(storeId: number): grpc.ChannelCredentials;
  /** Called once per connection failure (asynchronously, never inside send/flush). */
  unreachable(storeId: number): void;
  /** Uniform in [0, 1), for backoff jitter. */
  random(): number;
}

/** Bytes a coalesced heartbeat is charged in the queue accounting (flags byte, range id
 *  delta and up to five changed varints). */
const HEARTBEAT_QUEUE_BYTES = 48;

function channelOptions(l: TransportLimits): grpc.ChannelOptions {
  return {
    // Our own backoff decides when to reconnect: a fresh channel each time.
    'grpc.use_local_subchannel_pool': 1,
    'grpc.initial_reconnect_backoff_ms': l.initialBackoffMs,
    'grpc.max_reconnect_backoff_ms': l.maxBackoffMs,
    'grpc.max_send_message_length': receiveLimitBytes(l),
    'grpc.keepalive_time_ms': l.keepaliveTimeMs,
    'grpc.keepalive_timeout_ms': l.keepaliveTimeoutMs,
    'grpc.enable_retries': 0,
    'grpc.enable_channelz': 0,
  };
}

export class OutboundPeer {
  state: PeerState = 'idle';
  address = '';
  private lastError = '';
  private queue: QueuedMessage[] = [];
  private heartbeats: OutboundMessage[] = [];
  private heartbeatResps: OutboundMessage[] = [];
  private queuedBytes = 0;
  /** A store liveness ping waits for the next batch (its sequence number), or 0. */
  private livenessSeq = 0;
  private client: grpc.Client | null = null;
  private call: grpc.ClientDuplexStream<Buffer, Buffer> | null = null;
  /** The stream's buffer is over its high-water mark: wait for 'drain'. */
  private writeBlocked = false;
  /** Consecutive failures, for the backoff exponent. */
  private failures = 0;
  private openedAtMs = 0;
  /** When the current backoff began (Date.now()). */
  private backoffSinceMs = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly sent = { batches: 0, messages: 0, bytes: 0, heartbeatPackets: 0, heartbeats: 0, livenessPackets: 0, reconnects: 0 };

  constructor(readonly storeId: number, private readonly host: PeerHost) {}

  /** Queues `msg` (a Heartbeat may be flagged quiesce); false when dropped (counted in drops). */
  enqueue(rangeId: number, msg: Message, quiesce = false): boolean {
    const drops = this.host.counters.drops;
    if (this.state === 'stopped') return this.drop(drops, 'stopped');
    if (this.state === 'backoff') return this.drop(drops, 'disconnected');
    const l = this.host.limits;
    if (this.queuedMsgs() >= l.maxQueuedMsgsPerPeer) return this.drop(drops, 'queueFull');
    if (isCoalescible(msg)) {
      const bytes = HEARTBEAT_QUEUE_BYTES + (msg.context?.length ?? 0);
      if (this.queuedBytes + bytes > l.maxQueuedBytesPerPeer) return this.drop(drops, 'queueBytes');
      (msg.type === MessageType.Heartbeat ? this.heartbeats : this.heartbeatResps)
        .push(quiesce ? { rangeId, message: msg, quiesce: true } : { rangeId, message: msg });
      this.queuedBytes += bytes;
    } else {
      const bytes = estimateMessageBytes(msg);
      if (bytes > l.maxMsgBytes) return this.drop(drops, 'oversize');
      if (this.queuedBytes + bytes > l.maxQueuedBytesPerPeer) return this.drop(drops, 'queueBytes');
      this.queue.push(quiesce ? { rangeId, message: msg, bytes, quiesce: true } : { rangeId, message: msg, bytes });
      this.queuedBytes += bytes;
    }
    if (this.state === 'idle') this.connect();
    return true;
  }

  /**
   * Asks for a store liveness ping (sequence `seq` > 0) in the next batch; a newer ask
   * replaces one not yet written. False when refused (backoff, stopped): no stream.
   */
  enqueueLiveness(seq: number): boolean {
    const drops = this.host.counters.drops;
    if (this.state === 'stopped') return this.drop(drops, 'stopped');
    if (this.state === 'backoff') return this.drop(drops, 'disconnected');
    this.livenessSeq = seq;
    if (this.state === 'idle') this.connect();
    return true;
  }

  queuedMsgs(): number {
    return this.queue.length + this.heartbeats.length + this.heartbeatResps.length;
  }

  hasWork(): boolean {
    return this.queue.length > 0 || this.heartbeats.length > 0 || this.heartbeatResps.length > 0 || this.livenessSeq !== 0;
  }

  /**
   * Writes everything queued: one batch, or several when the ordinary messages exceed
   * maxBatchBytes; the coalesced heartbeat sections ride in the first. Stops early (the
   * rest stays queued) while the stream applies backpressure. A no-op unless open.
   */
  flush(): void {
    if (this.state !== 'open' || this.writeBlocked || !this.hasWork()) return;
    const call = this.call!;
    const l = this.host.limits;
    const c = this.host.counters;
    const queue = this.queue;
    const heartbeats = this.heartbeats;
    const heartbeatResps = this.heartbeatResps;
    const livenessSeq = this.livenessSeq;
    this.livenessSeq = 0;
    this.queue = [];
    if (heartbeats.length > 0) this.heartbeats = [];
    if (heartbeatResps.length > 0) this.heartbeatResps = [];
    let i = 0;
    let first = true;
    while (first || i < queue.length) {
      const start = i;
      let bytes = 0;
      while (i < queue.length) {
        const b = queue[i]!.bytes;
        if (i > start && bytes + b > l.maxBatchBytes) break;
        bytes += b;
        i++;
      }
      const hb = first ? heartbeats : [];
      const hbr = first ? heartbeatResps : [];
      const encoded = encodeBatch({
        fromStore: this.host.storeId,
        toStore: this.storeId,
        messages: start === 0 && i === queue.length ? queue : queue.slice(start, i),
        heartbeats: hb,
        heartbeatResps: hbr,
        ...(first && livenessSeq !== 0 ? { livenessSeq } : {}),
      });
      if (encoded.length > receiveLimitBytes(l)) {
        throw new Error(`transport: batch of ${encoded.length} bytes exceeds the receive limit; size estimate is not an upper bound`);
      }
      const coalesced = hb.length + hbr.length;
      const msgs = i - start + coalesced;
      this.queuedBytes -= bytes + coalesced * HEARTBEAT_QUEUE_BYTES;
      for (const h of hb) this.queuedBytes -= h.message.context?.length ?? 0;
      for (const h of hbr) this.queuedBytes -= h.message.context?.length ?? 0;
      c.batchesSent++; this.sent.batches++;
      c.messagesSent += msgs; this.sent.messages += msgs;
      c.bytesSent += encoded.length; this.sent.bytes += encoded.length;
      if (coalesced > 0) {
        c.heartbeatPacketsSent++; this.sent.heartbeatPackets++;
        c.heartbeatsSent += coalesced; this.sent.heartbeats += coalesced;
      }
      if (first && livenessSeq !== 0) { c.livenessPacketsSent++; this.sent.livenessPackets++; }
      first = false;
      const buf = Buffer.isBuffer(encoded) ? encoded : Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength);
      const more = call.write(buf);
      if (this.call !== call) return; // failed while writing: the queue was discarded
      if (!more) {
        this.writeBlocked = true;
        break;
      }
    }
    if (i < queue.length) this.queue = i === 0 ? queue : queue.slice(i);
  }

  metrics(): PeerMetrics {
    return {
      storeId: this.storeId,
      state: this.state,
      address: this.address,
      queuedMsgs: this.queuedMsgs(),
      queuedBytes: this.queuedBytes,
      batchesSent: this.sent.batches,
      messagesSent: this.sent.messages,
      bytesSent: this.sent.bytes,
      heartbeatPacketsSent: this.sent.heartbeatPackets,
      heartbeatsSent: this.sent.heartbeats,
      livenessPacketsSent: this.sent.livenessPackets,
      reconnects: this.sent.reconnects,
      lastError: this.lastError,
    };
  }

  /**
   * The peer store was just heard from (one of its streams to us delivered): it is up, so a
   * backoff from an earlier failure ends now rather than on its timer. After a restart or a
   * healed partition both directions of a store pair then come back together, not up to
   * maxBackoffMs apart. A backoff younger than HEARD_BACKOFF_FLOOR_MS is kept, so a peer we
   * hear but cannot reach (a one-way cut) sees at most one connection attempt per floor.
   */
  heardFrom(): void {
    if (this.state !== 'backoff' || Date.now() - this.backoffSinceMs < HEARD_BACKOFF_FLOOR_MS) return;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.state = 'idle';
    this.host.counters.backoffsCutShort++;
  }

  /** Half-closes the stream, waits up to stopGraceMs for the peer to finish, closes. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.discardQueue('stopped');
    const call = this.call;
    const client = this.client;
    this.call = null;
    this.client = null;
    if (call !== null) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => { call.cancel(); resolve(); }, this.host.limits.stopGraceMs);
        call.on('status', () => { clearTimeout(timer); resolve(); });
        call.end();
      });
    }
    client?.close();
  }

  private drop(drops: DropCounts, reason: keyof DropCounts): false {
    drops[reason]++;
    return false;
  }

  private connect(): void {
    const c = this.host.counters;
    if (this.failures > 0) { c.reconnects++; this.sent.reconnects++; }
    const address = this.host.resolve(this.storeId);
    if (address === undefined) {
      this.state = 'connecting';
      setImmediate(() => this.fail(`no address known for store ${this.storeId}`, false));
      return;
    }
    this.address = address;
    const l = this.host.limits;
    const client = new grpc.Client(address, this.host.credentials(this.storeId), channelOptions(l));
    this.client = client;
    this.state = 'connecting';
    const deadline = Date.now() + l.connectTimeoutMs;
    const channel = client.getChannel();
    const check = (): void => {
      if (this.client !== client) return;
      const s = channel.getConnectivityState(true);
      if (s === grpc.connectivityState.READY) {
        this.openStream(client);
      } else if (s === grpc.connectivityState.TRANSIENT_FAILURE || s === grpc.connectivityState.SHUTDOWN) {
        this.fail(`connect to store ${this.storeId} at ${address} failed`, false);
      } else {
        channel.watchConnectivityState(s, deadline, (err) => {
          if (this.client !== client) return;
          if (err !== undefined) {
            this.fail(`connect to store ${this.storeId} at ${address} timed out after ${l.connectTimeoutMs} ms`, false);
          } else {
            check();
          }
        });
      }
    };
    check();
  }

  private openStream(client: grpc.Client): void {
    const desc = raftTransportService.stream;
    const call = client.makeBidiStreamRequest(RAFT_TRANSPORT_STREAM_PATH, desc.requestSerialize, desc.responseDeserialize);
    this.call = call;
    this.state = 'open';
    this.openedAtMs = Date.now();
    this.writeBlocked = false;
    this.host.counters.streamsOpened++;
    call.on('data', () => { /* acks: none are sent today (proto RaftStreamAck) */ });
    call.on('drain', () => {
      if (this.call !== call) return;
      this.writeBlocked = false;
      this.flush();
    });
    call.on('error', (e: grpc.ServiceError) => {
      if (this.call === call) this.fail(`stream to store ${this.storeId} at ${this.address} broke: ${grpc.status[e.code] ?? e.code} ${e.details}`, true);
    });
    call.on('end', () => {
      if (this.call === call) this.fail(`stream to store ${this.storeId} at ${this.address} was closed by the peer`, true);
    });
    this.flush();
  }

  private fail(reason: string, streamBroke: boolean): void {
    if (this.state === 'stopped' || this.state === 'backoff') return;
    const l = this.host.limits;
    const c = this.host.counters;
    // A stream that stayed up for a full maximum backoff was healthy: start over.
    const healthy = streamBroke && Date.now() - this.openedAtMs >= l.maxBackoffMs;
    const call = this.call;
    const client = this.client;
    this.call = null;
    this.client = null;
    call?.cancel();
    client?.close();
    if (streamBroke) c.streamBreaks++;
    else c.connectFailures++;
    this.lastError = reason;
    this.discardQueue('disconnected');
    this.failures = healthy ? 1 : this.failures + 1;
    const base = Math.min(l.maxBackoffMs, l.initialBackoffMs * 2 ** Math.min(this.failures - 1, 30));
    const delayMs = Math.max(1, Math.floor(base / 2 + (this.host.random() * base) / 2));
    this.state = 'backoff';
    this.backoffSinceMs = Date.now();
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.state === 'backoff') this.state = 'idle';
    }, delayMs);
    this.retryTimer.unref();
    this.host.unreachable(this.storeId);
  }

  private discardQueue(reason: 'disconnected' | 'stopped'): void {
    this.livenessSeq = 0;
    const n = this.queuedMsgs();
    if (n === 0) return;
    this.host.counters.drops[reason] += n;
    this.queue = [];
    this.heartbeats = [];
    this.heartbeatResps = [];
    this.queuedBytes = 0;
  }
}
