// Who may call what on a gRPC server: one policy per server process, checked per call.
//
//   const access = new AccessPolicy({ clientCerts: true, adminToken: null });
//   const denied = access.check(call, 'admin', 'SplitRange');   // null: go on
//   if (denied) return callback(denied);
//
// What a call needs:
//   'client'   any caller the transport let in (with mutual TLS: a certificate of the CA)
//   'admin'    an admin certificate (rangekv://admin/NAME) or the admin token
//   'operator' 'admin', or a PD node's certificate (PD drives the stores' admin RPCs)
//   'store'    a store's certificate; storeOf() gives its id, which the handler compares
//              with the id the request claims
//
// The admin token travels as gRPC metadata `authorization: Bearer <token>` and is compared
// in constant time. Without client certificates and without a token nothing can be told
// apart and everything is allowed (a development cluster); `open` says so, and the server
// logs a warning at start.
import { timingSafeEqual, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import { describeIdentity, peerIdentity, type Identity } from './tls.js';

export type Need = 'client' | 'admin' | 'operator' | 'store';

export interface AccessOptions {
  /** Client certificates are required and verified (mutual TLS): identities are known. */
  clientCerts: boolean;
  /** The admin token; null: none (admin only by certificate). */
  adminToken: string | null;
}

export interface Denial {
  code: grpc.status;
  details: string;
}

/** What a guarded call needs of its caller: its auth context and metadata. */
export interface CallerView {
  getAuthContext?: () => { sslPeerCertificate?: PeerCertificate } | null;
  metadata: grpc.Metadata;
}

export const MIN_ADMIN_TOKEN_CHARS = 16;
export const MAX_ADMIN_TOKEN_CHARS = 4096;

/** Reads an admin token file (the whole file, surrounding whitespace trimmed); an Error that
 *  names the file when it cannot be read or the token is too short or too long. */
export function readAdminToken(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (e) {
    throw new Error(`cannot read the admin token file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (text.length < MIN_ADMIN_TOKEN_CHARS || text.length > MAX_ADMIN_TOKEN_CHARS || /\s/.test(text)) {
    throw new Error(`the admin token in ${file} must be ${MIN_ADMIN_TOKEN_CHARS}-${MAX_ADMIN_TOKEN_CHARS} characters without whitespace`);
  }
  return text;
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

export class AccessPolicy {
  private readonly tokenDigest: Buffer | null;

  constructor(private readonly opts: AccessOptions) {
    this.tokenDigest = opts.adminToken === null ? null : digest(opts.adminToken);
  }

  /** Nothing is checked: no client certificates and no admin token. */
  get open(): boolean {
    return !this.opts.clientCerts && this.tokenDigest === null;
  }

  /** Null when `call` may go on; else the status to answer it with. */
  check(call: CallerView, need: Need, method: string): Denial | null {
    if (this.open || need === 'client') return null;
    const who = this.opts.clientCerts ? peerIdentity(call) : null;
    if (need === 'store') {
      if (!this.opts.clientCerts) return null;
      if (who?.role === 'store') return null;
      return this.deny(method, 'a store certificate (rangekv://store/ID)', who);
    }
    if (this.hasToken(call)) return null;
    if (who?.role === 'admin' || (need === 'operator' && who?.role === 'pd')) return null;
    const wanted = need === 'operator' ? 'an admin or PD certificate, or the admin token' : 'an admin certificate (rangekv://admin/NAME) or the admin token';
    return this.deny(method, wanted, who);
  }

  /**
   * The id of the store certificate on `call`, when client certificates are verified:
   * a request that claims another store id is refused with claimMismatch(). Null without
   * client certificates (the store's word, and its store token, are all there is).
   */
  storeOf(call: CallerView): number | null {
    if (!this.opts.clientCerts) return null;
    const who = peerIdentity(call);
    return who?.role === 'store' ? who.id! : null;
  }

  claimMismatch(method: string, claimed: number, certified: number): Denial {
    return { code: grpc.status.PERMISSION_DENIED, details: `${method}: the request is for store ${claimed}, but the certificate names store ${certified}` };
  }

  private hasToken(call: CallerView): boolean {
    if (this.tokenDigest === null) return false;
    for (const v of call.metadata.get('authorization')) {
      const s = typeof v === 'string' ? v : v.toString();
      if (s.startsWith('Bearer ') && timingSafeEqual(digest(s.slice(7)), this.tokenDigest)) return true;
    }
    return false;
  }

  private deny(method: string, wanted: string, who: Identity | null): Denial {
    if (who === null && !this.opts.clientCerts) {
      return { code: grpc.status.UNAUTHENTICATED, details: `${method} needs ${wanted}; the call carried no valid admin token` };
    }
    const got = who === null ? 'no certificate' : `a certificate of ${describeIdentity(who)}`;
    return { code: grpc.status.PERMISSION_DENIED, details: `${method} needs ${wanted}; the call presented ${got}` };
  }
}

/** Every call allowed: a server started without security options (tests, embedding). */
export const OPEN_ACCESS = new AccessPolicy({ clientCerts: false, adminToken: null });

/** Metadata carrying the admin token, for clients. */
export function adminTokenMetadata(token: string | null): grpc.Metadata {
  const md = new grpc.Metadata();
  if (token !== null) md.set('authorization', `Bearer ${token}`);
  return md;
}
