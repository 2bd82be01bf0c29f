// TLS for every gRPC server and channel of rangekv, and who is on the other end.
//
//   const certs = CertificateSource.load({ caFile, certFile, keyFile });   // throws TlsConfigError
//   certs.identity;                        // { role: 'store', id: 3 } from the certificate
//   serverCredentials(certs, { requireClientCert: true });
//   channelCredentials(certs, { expectPeer: { role: 'store', id: 2 } });
//   certs.watch(10_000, (err) => log.warn(...));   // reload when a file changes
//   certs.reload();                        // SIGHUP; keeps the old pair if the new is bad
//   peerIdentity(call);                    // the verified client certificate's identity
//
// Identities are URI subject alternative names (one per certificate):
//   rangekv://store/<id>   a store (its raft peers and PD check the id against what it claims)
//   rangekv://pd/<id>      a PD node
//   rangekv://admin/<name> an operator: admin RPCs and PD operators
//   rangekv://client/<name> (or no rangekv URI) an application: KV and reads only
// A certificate may carry DNS and IP names besides (hostname verification uses those).
//
// Reload: the files are read again on reload() (the mains call it on SIGHUP) and when
// watch() sees a file's size or mtime change. A new pair is used only if it parses, the
// key matches the certificate and the certificate is within its validity; otherwise the
// old pair stays and the error goes to the caller. Connections made before keep their
// certificate; new handshakes use the new one.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';

export interface TlsFiles {
  /** PEM CA certificate(s) that sign every certificate of the cluster. */
  caFile: string;
  /** PEM certificate of this process (may hold a chain after it). */
  certFile: string;
  /** PEM private key of certFile. */
  keyFile: string;
}

export class TlsConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TlsConfigError';
  }
}

export type IdentityRole = 'store' | 'pd' | 'admin' | 'client';

export interface Identity {
  role: IdentityRole;
  /** The name after the role: a decimal id for store and pd. */
  name: string;
  /** store and pd: the positive integer id. */
  id?: number;
}

const IDENTITY_URI = /^rangekv:\/\/(store|pd|admin|client)\/([A-Za-z0-9._-]{1,64})$/;

/** The identity a URI names, or null if it is not a rangekv identity URI. */
export function parseIdentityUri(uri: string): Identity | null {
  const m = IDENTITY_URI.exec(uri);
  if (m === null) return null;
  const role = m[1] as IdentityRole;
  const name = m[2]!;
  if (role === 'store' || role === 'pd') {
    if (!/^[1-9]\d{0,15}$/.test(name) || !Number.isSafeInteger(Number(name))) return null;
    return { role, name, id: Number(name) };
  }
  return { role, name };
}

/**
 * The identity of a certificate's subject alternative names (Node's "DNS:a, URI:b" text).
 * A certificate without a rangekv URI is a plain client; one with two different rangekv
 * URIs is refused (null): a certificate names one principal.
 */
export function identityOfAltNames(subjectAltName: string | undefined): Identity | null {
  let found: Identity | null = null;
  for (const part of (subjectAltName ?? '').split(/,\s*/)) {
    if (!part.startsWith('URI:')) continue;
    const id = parseIdentityUri(part.slice(4));
    if (id === null) continue;
    if (found !== null && (found.role !== id.role || found.name !== id.name)) return null;
    found = id;
  }
  return found ?? { role: 'client', name: '' };
}

export function describeIdentity(id: Identity): string {
  return id.name === '' ? id.role : `${id.role} ${id.name}`;
}

interface Loaded {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
  identity: Identity;
  notAfter: Date;
  /** size:mtime of each file, to notice changes. */
  stamp: string;
}

function readPem(what: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new TlsConfigError(`cannot read the ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

function stampOf(files: TlsFiles): string {
  return [files.caFile, files.certFile, files.keyFile].map((f) => {
    try {
      const s = statSync(f);
      return `${s.size}:${s.mtimeMs}`;
    } catch {
      return 'missing';
    }
  }).join('|');
}

function loadFiles(files: TlsFiles, nowMs: number): Loaded {
  const stamp = stampOf(files);
  const ca = readPem('CA file', files.caFile);
  const cert = readPem('certificate file', files.certFile);
  const key = readPem('key file', files.keyFile);
  let caX: X509Certificate;
  let x: X509Certificate;
  try {
    caX = new X509Certificate(ca);
  } catch (e) {
    throw new TlsConfigError(`${files.caFile} is not a PEM certificate: ${(e as Error).message}`);
  }
  try {
    x = new X509Certificate(cert);
  } catch (e) {
    throw new TlsConfigError(`${files.certFile} is not a PEM certificate: ${(e as Error).message}`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (e) {
    throw new TlsConfigError(`${files.keyFile} is not a PEM private key: ${(e as Error).message}`);
  }
  if (!x.checkPrivateKey(privateKey)) throw new TlsConfigError(`${files.keyFile} is not the key of ${files.certFile}`);
  const notBefore = new Date(x.validFrom);
  const notAfter = new Date(x.validTo);
  if (nowMs < notBefore.getTime()) throw new TlsConfigError(`${files.certFile} is not valid before ${x.validFrom}`);
  if (nowMs > notAfter.getTime()) throw new TlsConfigError(`${files.certFile} expired on ${x.validTo}`);
  if (x.checkIssued(caX) && !x.verify(caX.publicKey)) {
    throw new TlsConfigError(`${files.certFile} names ${files.caFile} as its issuer but its signature does not verify`);
  }
  const identity = identityOfAltNames(x.subjectAltName);
  if (identity === null) throw new TlsConfigError(`${files.certFile} names more than one rangekv identity (URI subject alternative names)`);
  return { ca, cert, key, identity, notAfter, stamp };
}

type CaListener = (u: grpc.experimental.CaCertificateUpdate | null) => void;
type IdentityListener = (u: grpc.experimental.IdentityCertificateUpdate | null) => void;

/**
 * This process's CA, certificate and key, loaded and checked, and reloaded on demand. It is
 * the grpc-js certificate provider of every server and channel built from it, so a reload
 * reaches them all.
 */
export class CertificateSource implements grpc.experimental.CertificateProvider {
  private current: Loaded;
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();
  private timer: NodeJS.Timeout | null = null;
  /** Successful reloads (tests, logs). */
  reloads = 0;

  private constructor(readonly files: TlsFiles, loaded: Loaded) {
    this.current = loaded;
  }

  /** Reads and checks the three files; TlsConfigError says which file is wrong and why. */
  static load(files: TlsFiles, nowMs = Date.now()): CertificateSource {
    return new CertificateSource(files, loadFiles(files, nowMs));
  }

  get identity(): Identity {
    return this.current.identity;
  }

  get notAfter(): Date {
    return this.current.notAfter;
  }

  /** The current CA, certificate and key (PEM), for a node TLS context. */
  pems(): { ca: Buffer; cert: Buffer; key: Buffer } {
    const { ca, cert, key } = this.current;
    return { ca, cert, key };
  }

  /** Reads the files again. On success the new pair serves new handshakes and null is
   *  returned; on failure the old pair stays and the error is returned. */
  reload(nowMs = Date.now()): TlsConfigError | null {
    let next: Loaded;
    try {
      next = loadFiles(this.files, nowMs);
    } catch (e) {
      return e instanceof TlsConfigError ? e : new TlsConfigError(String(e));
    }
    const old = this.current.identity;
    if (next.identity.role !== old.role || next.identity.name !== old.name) {
      return new TlsConfigError(`the new ${this.files.certFile} names ${describeIdentity(next.identity)}, not ${describeIdentity(old)}; kept the old certificate`);
    }
    this.current = next;
    this.reloads++;
    for (const l of this.caListeners) l({ caCertificate: next.ca });
    for (const l of this.identityListeners) l({ certificate: next.cert, privateKey: next.key });
    return null;
  }

  /** Checks the files' size and mtime every `intervalMs` and reloads when one changed;
   *  `onResult` hears each reload (null on success). The timer does not hold the process. */
  watch(intervalMs: number, onResult: (err: TlsConfigError | null) => void): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => {
      if (stampOf(this.files) === this.current.stamp) return;
      const err = this.reload();
      if (err !== null) this.current = { ...this.current, stamp: stampOf(this.files) };
      onResult(err);
    }, intervalMs);
    this.timer.unref();
  }

  stopWatching(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  addCaCertificateListener(l: CaListener): void {
    this.caListeners.add(l);
    const ca = this.current.ca;
    process.nextTick(() => {
      if (this.caListeners.has(l)) l({ caCertificate: ca });
    });
  }

  removeCaCertificateListener(l: CaListener): void {
    this.caListeners.delete(l);
  }

  addIdentityCertificateListener(l: IdentityListener): void {
    this.identityListeners.add(l);
    const { cert, key } = this.current;
    process.nextTick(() => {
      if (this.identityListeners.has(l)) l({ certificate: cert, privateKey: key });
    });
  }

  removeIdentityCertificateListener(l: IdentityListener): void {
    this.identityListeners.delete(l);
  }
}

export interface ServerTlsOptions {
  /** Refuse a handshake without a client certificate signed by the CA. */
  requireClientCert: boolean;
}

/** Insecure without `certs`; else TLS from `certs` (reloads included). */
export function serverCredentials(certs: CertificateSource | null, opts: ServerTlsOptions): grpc.ServerCredentials {
  if (certs === null) return grpc.ServerCredentials.createInsecure();
  return grpc.experimental.createCertificateProviderServerCredentials(certs, certs, opts.requireClientCert);
}

export interface ChannelTlsOptions {
  /** The server must present this identity (a store's raft peer, a PD node); checked
   *  besides the usual hostname verification. */
  expectPeer?: Identity;
}

/** Insecure without `certs`; else TLS that trusts the CA of `certs` and presents its
 *  certificate (mutual TLS). */
export function channelCredentials(certs: CertificateSource | null, opts: ChannelTlsOptions = {}): grpc.ChannelCredentials {
  if (certs === null) return grpc.credentials.createInsecure();
  const expect = opts.expectPeer;
  return grpc.experimental.createCertificateProviderChannelCredentials(certs, certs, {
    checkServerIdentity: (hostname, cert) => {
      const err = checkServerIdentity(hostname, cert);
      if (err !== undefined) return err;
      if (expect === undefined) return undefined;
      const got = identityOfAltNames(cert.subjectaltname);
      if (got === null || got.role !== expect.role || got.name !== expect.name) {
        return new Error(`${hostname} presented a certificate of ${got === null ? 'several identities' : describeIdentity(got)}, expected ${describeIdentity(expect)}`);
      }
      return undefined;
    },
  });
}

/**
 * The identity of the verified client certificate on a server call: null when the call
 * came over plaintext or without a client certificate.
 */
export function peerIdentity(call: { getAuthContext?: () => { sslPeerCertificate?: PeerCertificate } | null }): Identity | null {
  const ctx = call.getAuthContext?.() ?? null;
  const cert = ctx?.sslPeerCertificate;
  if (cert === undefined || cert === null || Object.keys(cert).length === 0) return null;
  // A certificate naming two principals gets the least: a plain client.
  return identityOfAltNames(cert.subjectaltname) ?? { role: 'client', name: '' };
}

type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * An HTTP server for /metrics, /health and /debug: plain HTTP without `certs`, else HTTPS
 * with this process's certificate (no client certificate asked: scrapers verify the server
 * with the CA), following reloads of `certs` for new connections.
 */
export function statusHttpServer(certs: CertificateSource | null, handler: RequestHandler): HttpServer {
  if (certs === null) return createHttpServer(handler);
  const options = (): { ca: Buffer; cert: Buffer; key: Buffer } => certs.pems();
  const server = createHttpsServer(options(), handler);
  const onReload = (): void => server.setSecureContext(options());
  certs.addIdentityCertificateListener(onReload);
  server.on('close', () => certs.removeIdentityCertificateListener(onReload));
  return server;
}
