// One grpc-js channel per address (stores and PD nodes), reused by every call, with at
// most `maxInflightPerChannel` calls in flight on it (more wait in FIFO order).
//
// Before a call is sent the channel must be READY (waiting up to `connectTimeoutMs` while
// it connects; a failed connection attempt, or a channel in TRANSIENT_FAILURE, fails at once). A call that fails that way
// was never sent (`sent: false`): safe to retry anywhere, even for CompareAndSwap. A
// call that fails after it was sent may have reached the server (`sent: true`).
import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@rangekv/proto';
import { explainConnectFailure, type ClientTls } from './tls.js';

export type RpcOutcome<R> =
  | { ok: true; res: R }
  | { ok: false; code: grpc.status; details: string; ambiguousMetadata: boolean; sent: boolean };

export interface ChannelPoolOptions {
  maxInflightPerChannel: number;
  connectTimeoutMs: number;
  /** grpc-js reconnect backoff cap for a channel whose server went away, in ms. */
  maxReconnectBackoffMs: number;
  /** TLS for every channel; null/absent: plaintext. */
  tls?: ClientTls | null;
  /** Channel credentials of the caller's own (overrides `tls` for the channels). */
  credentials?: grpc.ChannelCredentials;
  /** Sent with every call (the admin token). */
  metadata?: grpc.Metadata;
}

/** A connection failure to one address is explained (one TLS handshake) at most this often. */
export const EXPLAIN_COOLDOWN_MS = 10_000;
const EXPLAIN_TIMEOUT_MS = 1_000;
/** Addresses whose last explanation is remembered (oldest forgotten first). */
const MAX_EXPLAINED_ADDRESSES = 1_000;

/** Trailing metadata key a store sets on a write whose outcome it does not know. */
export const AMBIGUOUS_METADATA_KEY = 'rangekv-ambiguous';

class Semaphore {
  private inUse = 0;
  private readonly waiters: Array<() => void> = [];
  constructor(private readonly limit: number) {}
  async acquire(): Promise<void> {
    if (this.inUse < this.limit) {
      this.inUse++;
      return;
    }
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }
  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.inUse--;
  }
}

interface Channel {
  client: grpc.Client;
  slots: Semaphore;
}

export class ChannelPool {
  private readonly channels = new Map<string, Channel>();
  private closed = false;
  private readonly credentials: grpc.ChannelCredentials;
  /** Per address: when a connection failure was last explained, and what was found. */
  private readonly explained = new Map<string, { atMs: number; why: string | null }>();

  constructor(private readonly opts: ChannelPoolOptions) {
    this.credentials = opts.credentials ?? opts.tls?.credentials ?? grpc.credentials.createInsecure();
  }

  /**
   * What is known of why connecting to `address` fails (a TLS mismatch), from an earlier
   * probe; starts a probe when none ran within EXPLAIN_COOLDOWN_MS. Never waits for it:
   * the call fails over at once, its retries carry the sentence.
   */
  private connectFailure(address: string): string {
    const now = Date.now();
    const e = this.explained.get(address);
    if (e === undefined || now - e.atMs > EXPLAIN_COOLDOWN_MS) {
      const entry = { atMs: now, why: e?.why ?? null };
      this.explained.set(address, entry);
      if (this.explained.size > MAX_EXPLAINED_ADDRESSES) this.explained.delete(this.explained.keys().next().value!);
      void explainConnectFailure(address, this.opts.tls ?? null, EXPLAIN_TIMEOUT_MS).then((why) => {
        entry.why = why;
      });
    }
    const why = this.explained.get(address)?.why ?? null;
    return why === null ? `could not connect to ${address}` : `could not connect to ${address}: ${why}`;
  }

  private channel(address: string): Channel {
    if (this.closed) throw new Error('client is closed');
    let ch = this.channels.get(address);
    if (!ch) {
      const client = new grpc.Client(address, this.credentials, {
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': this.opts.maxReconnectBackoffMs,
        'grpc.keepalive_time_ms': 10_000,
        'grpc.keepalive_timeout_ms': 5_000,
        'grpc.max_receive_message_length': 16 << 20,
        // No channelz: it tracks every call (client CPU per request) and nothing reads it.
        'grpc.enable_channelz': 0,
      });
      ch = { client, slots: new Semaphore(this.opts.maxInflightPerChannel) };
      this.channels.set(address, ch);
    }
    return ch;
  }

  /**
   * Whether the channel is READY, connecting first if it is idle: false as soon as the
   * connection attempt fails (a refused or reset connection is known at once, there is no
   * point waiting out connectTimeoutMs for it), or when it is still connecting after
   * connectTimeoutMs.
   */
  private ready(ch: Channel, timeoutMs: number): Promise<boolean> {
    const channel = ch.client.getChannel();
    const deadline = Date.now() + Math.max(1, Math.min(timeoutMs, this.opts.connectTimeoutMs));
    return new Promise((resolve) => {
      const check = (): void => {
        const state = channel.getConnectivityState(true);
        if (state === grpc.connectivityState.READY) return resolve(true);
        if (state === grpc.connectivityState.TRANSIENT_FAILURE || state === grpc.connectivityState.SHUTDOWN) return resolve(false);
        channel.watchConnectivityState(state, deadline, (err) => (err ? resolve(false) : check()));
      };
      check();
    });
  }

  /** One unary call; never throws for gRPC failures. */
  async call<Req, Res>(address: string, method: MethodDefinition<Req, Res>, req: Req, timeoutMs: number): Promise<RpcOutcome<Res>> {
    const deadline = Date.now() + Math.max(1, timeoutMs);
    const ch = this.channel(address);
    if (!(await this.ready(ch, timeoutMs))) {
      return { ok: false, code: grpc.status.UNAVAILABLE, details: this.connectFailure(address), ambiguousMetadata: false, sent: false };
    }
    await ch.slots.acquire();
    try {
      if (Date.now() >= deadline) {
        return { ok: false, code: grpc.status.DEADLINE_EXCEEDED, details: `waited past the deadline for a slot on ${address}`, ambiguousMetadata: false, sent: false };
      }
      return await new Promise<RpcOutcome<Res>>((resolve) => {
        ch.client.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, req, this.opts.metadata?.clone() ?? new grpc.Metadata(),
          { deadline },
          (err: grpc.ServiceError | null, res?: Res) => {
            if (err) {
              const amb = err.metadata?.get(AMBIGUOUS_METADATA_KEY) ?? [];
              // grpc-js says "No connection established" when no transport took the call: never sent.
              const sent = !(err.code === grpc.status.UNAVAILABLE && err.details.startsWith('No connection established'));
              resolve({ ok: false, code: err.code, details: err.details, ambiguousMetadata: amb.length > 0, sent });
            } else {
              resolve({ ok: true, res: res! });
            }
          });
      });
    } finally {
      ch.slots.release();
    }
  }

  /** Drops the channel to `address` (its server moved or is gone). */
  forget(address: string): void {
    const ch = this.channels.get(address);
    if (!ch) return;
    this.channels.delete(address);
    ch.client.close();
  }

  close(): void {
    this.closed = true;
    for (const ch of this.channels.values()) ch.client.close();
    this.channels.clear();
  }
}
