// The receiving end of one store pair's stream: decode, check, apply inbound faults,
// hand each batch to the handler in arrival order.
//
// The stream is failed (and the sender reconnects with backoff) when a batch's envelope
// does not decode (INVALID_ARGUMENT) or is not for this store / changes its sender
// mid-stream (FAILED_PRECONDITION). A bad message or coalesced section inside a good
// envelope is refused alone (batch-codec.ts): counted, reported to the host, and the rest
// of the batch delivered. Nothing a peer sends can throw out of here.
import * as grpc from '@grpc/grpc-js';
import { decodeBatch, type DecodedBatch } from './batch-codec.js';
import type { TransportFaults } from './faults.js';
import type { TransportCounters } from './metrics.js';
import type { InboundHandler, InboundReject } from './types.js';

export interface InboundHost {
  readonly storeId: number;
  readonly counters: TransportCounters;
  readonly faults: TransportFaults;
  readonly handler: InboundHandler;
  /** The store the stream's client certificate names (mutual TLS); 0: not authenticated,
   *  the batches' from_store is taken at its word. */
  readonly authenticatedStore: number;
  /** A batch claimed another store than the certificate names (the stream is failed). */
  forged(claimedStore: number, reason: string): void;
  /** Every delivered batch, before the handler (store liveness). */
  heard(fromStore: number): void;
  /** Each message or coalesced section refused alone, as its batch arrives. */
  rejected(r: InboundReject): void;
}

interface Delayed {
  dueMs: number;
  batch: DecodedBatch;
}

export class InboundStream {
  /** The sending store, known from the first batch. */
  fromStore = 0;
  private closed = false;
  /** Batches held back by the delay fault, in arrival order. */
  private delayed: Delayed[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly call: grpc.ServerDuplexStream<Buffer, Buffer>,
    private readonly host: InboundHost,
    private readonly onClose: (s: InboundStream) => void,
  ) {
    call.on('data', (buf: Buffer) => this.onData(buf));
    call.on('end', () => {
      this.close();
      call.end();
    });
    call.on('error', () => this.close());
    call.on('close', () => this.close());
  }

  /** Ends the stream from this side (transport stopping). */
  end(): void {
    if (this.closed) return;
    this.close();
    this.call.end();
  }

  private onData(buf: Buffer): void {
    if (this.closed) return;
    const h = this.host;
    h.counters.bytesReceived += buf.length;
    let batch: DecodedBatch;
    try {
      batch = decodeBatch(buf);
    } catch (e) {
      // A CodecError; anything else would be a bug in a decoder, and still only this
      // stream's business, never the process's.
      this.reject(grpc.status.INVALID_ARGUMENT, e instanceof Error ? e.message : String(e));
      return;
    }
    if (batch.toStore !== h.storeId) {
      this.reject(grpc.status.FAILED_PRECONDITION, `batch for store ${batch.toStore} reached store ${h.storeId}`);
      return;
    }
    if (h.authenticatedStore !== 0 && batch.fromStore !== h.authenticatedStore) {
      const why = `batch claims to come from store ${batch.fromStore}, but the certificate names store ${h.authenticatedStore}`;
      h.forged(batch.fromStore, why);
      this.close();
      this.call.emit('error', { code: grpc.status.PERMISSION_DENIED, details: why });
      return;
    }
    if (this.fromStore === 0) {
      this.fromStore = batch.fromStore;
    } else if (batch.fromStore !== this.fromStore) {
      this.reject(grpc.status.FAILED_PRECONDITION, `stream from store ${this.fromStore} carried a batch from store ${batch.fromStore}`);
      return;
    }
    const faults = h.faults;
    if (faults.active && faults.dropsInbound(h.storeId, batch.fromStore)) {
      h.counters.inboundFaultDrops++;
      return;
    }
    if (batch.rejects.length > 0) this.report(batch.rejects);
    if (this.delayed.length > 0 || (faults.active && faults.delayMs > 0)) {
      this.delayed.push({ dueMs: Date.now() + faults.delayMs, batch });
      this.arm();
      return;
    }
    this.deliver(batch);
  }

  private deliver(batch: DecodedBatch): void {
    const c = this.host.counters;
    c.batchesReceived++;
    c.messagesReceived += batch.msgs.length;
    const coalesced = batch.heartbeats + batch.heartbeatResps;
    if (coalesced > 0) {
      c.heartbeatPacketsReceived++;
      c.heartbeatsReceived += coalesced;
    }
    if (batch.liveness) c.livenessPacketsReceived++;
    try {
      this.host.heard(batch.fromStore);
      if (batch.msgs.length > 0) this.host.handler(batch.fromStore, batch.msgs);
    } catch (e) {
      // A bug in the handler: fail loudly, outside grpc-js's event machinery.
      process.nextTick(() => { throw e; });
    }
  }

  private report(rejects: ReadonlyArray<InboundReject>): void {
    this.host.counters.inboundMessageRejects += rejects.length;
    try {
      for (const r of rejects) this.host.rejected(r);
    } catch (e) {
      // A bug in the hook: fail loudly, outside grpc-js's event machinery.
      process.nextTick(() => { throw e; });
    }
  }

  private arm(): void {
    if (this.timer !== null || this.delayed.length === 0) return;
    const wait = Math.max(0, this.delayed[0]!.dueMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      const now = Date.now();
      while (!this.closed && this.delayed.length > 0 && this.delayed[0]!.dueMs <= now) {
        this.deliver(this.delayed.shift()!.batch);
      }
      this.arm();
    }, wait);
  }

  private reject(code: grpc.status, details: string): void {
    this.host.counters.inboundRejects++;
    this.close();
    this.call.emit('error', { code, details });
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.delayed = [];
    this.onClose(this);
  }
}
