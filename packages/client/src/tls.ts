// TLS for the client's channels, and why a connection failed when TLS is the reason.
//
//   const tls = loadClientTls({ caFile, certFile, keyFile });   // Error naming a bad file
//   tls.credentials                     // grpc ChannelCredentials for every channel
//   await explainConnectFailure(address, tls, 1_000)   // "the server speaks TLS; ..." or null
//
// grpc-js reports a TLS mismatch as a bare connection failure. When a connection fails,
// the pool asks explainConnectFailure once per address and cooldown: it opens one raw TLS
// handshake to the address and turns what happened into a sentence (plaintext client vs
// TLS server, TLS client vs plaintext server, a server certificate the CA did not sign,
// a server that wants a client certificate).
import { readFileSync } from 'node:fs';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import * as grpc from '@grpc/grpc-js';

export interface ClientTlsOptions {
  /** PEM CA that signed the cluster's certificates. */
  caFile: string;
  /** PEM client certificate (mutual TLS: required by servers started with
   *  --tls-client-auth require, the default); with keyFile. */
  certFile?: string;
  keyFile?: string;
}

export interface ClientTls {
  credentials: grpc.ChannelCredentials;
  ca: Buffer;
  cert: Buffer | null;
  key: Buffer | null;
}

function read(what: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new Error(`cannot read the TLS ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** Reads the files once (a client that must pick up new certificates reconnects). */
export function loadClientTls(o: ClientTlsOptions): ClientTls {
  if ((o.certFile === undefined) !== (o.keyFile === undefined)) throw new Error('TLS: certFile and keyFile go together');
  const ca = read('CA file', o.caFile);
  const cert = o.certFile !== undefined ? read('certificate file', o.certFile) : null;
  const key = o.keyFile !== undefined ? read('key file', o.keyFile) : null;
  let credentials: grpc.ChannelCredentials;
  try {
    credentials = grpc.credentials.createSsl(ca, key, cert);
  } catch (e) {
    throw new Error(`TLS: ${o.certFile ?? o.caFile}: ${(e as Error).message}`);
  }
  return { credentials, ca, cert, key };
}

function splitAddress(address: string): { host: string; port: number } | null {
  const i = address.lastIndexOf(':');
  if (i <= 0) return null;
  const host = address.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  const port = Number(address.slice(i + 1));
  return Number.isInteger(port) && port > 0 && port < 65536 ? { host, port } : null;
}

const VERIFY_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID',
]);

/**
 * Why a connection to `address` fails, when TLS is the reason: one handshake, at most
 * `timeoutMs`. Null when the handshake says nothing useful (refused, unreachable, fine).
 */
export function explainConnectFailure(address: string, tls: ClientTls | null, timeoutMs: number): Promise<string | null> {
  const hp = splitAddress(address);
  if (hp === null) return Promise.resolve(null);
  return new Promise((resolve) => {
    let done = false;
    let sock: TLSSocket | null = null;
    const finish = (why: string | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock?.destroy();
      resolve(why);
    };
    const timer = setTimeout(() => finish(null), timeoutMs);
    const servername = /^[\d.:]+$/.test(hp.host) ? undefined : hp.host;
    sock = tlsConnect({
      host: hp.host, port: hp.port, ALPNProtocols: ['h2'], ...(servername ? { servername } : {}),
      rejectUnauthorized: tls !== null,
      ...(tls !== null ? { ca: tls.ca, ...(tls.cert && tls.key ? { cert: tls.cert, key: tls.key } : {}) } : {}),
    });
    sock.on('secureConnect', () => {
      if (tls === null) {
        finish(`the server at ${address} speaks TLS and this client connects in plaintext: give the client the cluster's CA (--tls-ca-file, or the tls option)`);
        return;
      }
      // The server may still refuse us after the handshake (TLS 1.3 sends the alert
      // later): wait a moment for it.
      sock!.once('data', () => finish(null));
      setTimeout(() => finish(null), Math.min(200, timeoutMs)).unref();
    });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      const code = e.code ?? '';
      if (tls === null) return finish(null);
      if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG' || (code === 'ECONNRESET' && !sock!.encrypted)) {
        return finish(`the server at ${address} does not speak TLS (a plaintext server?) and this client connects with TLS`);
      }
      if (code.includes('CERTIFICATE_REQUIRED') || (code.includes('HANDSHAKE_FAILURE') && tls.cert === null)) {
        return finish(`the server at ${address} requires a client certificate: give the client --tls-cert-file and --tls-key-file`);
      }
      if (code.includes('ALERT_UNKNOWN_CA') || code.includes('ALERT_BAD_CERTIFICATE')) {
        return finish(`the server at ${address} refused this client's certificate (${code}): is it signed by the cluster's CA?`);
      }
      if (VERIFY_CODES.has(code)) return finish(`the certificate of the server at ${address} does not verify against the client's CA: ${code}: ${e.message}`);
      if (code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENOTFOUND') return finish(null);
      return finish(code.startsWith('ERR_SSL') ? `TLS handshake with ${address} failed: ${code}` : null);
    });
  });
}
