// The security flags every server takes (PD and store, and the CLI's pd/store commands):
// spread TLS_FLAGS into a flag table, then securityFrom(values) checks them together and
// loads the certificates and token.
//
//   --tls-ca-file F --tls-cert-file F --tls-key-file F   all three or none: TLS on every
//       gRPC listener and channel of the process (the raft port always mutual)
//   --tls-client-auth require|none   KV/PD clients must present a certificate (default require)
//   --tls-reload-check-ms MS         how often the files are checked for a change (SIGHUP: now)
//   --admin-token-file F             a token that grants admin RPCs besides admin certificates
import { bool, int, oneOf, str } from './flag-kinds.js';
import { FlagError } from './flag-error.js';
import { AccessPolicy, readAdminToken } from './access.js';
import { CertificateSource, TlsConfigError } from './tls.js';

export const TLS_FLAGS = {
  tlsCaFile: str({ help: 'TLS: PEM CA that signs every certificate of the cluster\n(with --tls-cert-file and --tls-key-file; none of the three = plaintext)', value: 'FILE' }),
  tlsCertFile: str({ help: 'TLS: this process\'s PEM certificate; its URI name rangekv://store/ID\nor rangekv://pd/ID is what peers authenticate', value: 'FILE' }),
  tlsKeyFile: str({ help: 'TLS: the PEM private key of --tls-cert-file', value: 'FILE' }),
  tlsClientAuth: oneOf({ help: 'TLS: clients of the KV/PD port must present a certificate of the CA\n(the raft port always requires one)', choices: ['require', 'none'], default: 'require' }),
  tlsReloadCheckMs: int({ help: 'TLS: check the files for a change this often (SIGHUP reloads at once)', value: 'MS', min: 100, max: 86_400_000, default: 10_000 }),
  httpTls: bool({ help: 'TLS: serve --http-port (/metrics, /health, /debug) over HTTPS with this\nprocess\'s certificate (no client certificate asked)' }),
  adminTokenFile: str({ help: 'a file holding a token (16+ characters) that authorizes admin RPCs\nand PD operators, sent as "authorization: Bearer TOKEN"', value: 'FILE' }),
};

export interface TlsFlagValues {
  tlsCaFile?: string | undefined;
  tlsCertFile?: string | undefined;
  tlsKeyFile?: string | undefined;
  tlsClientAuth: 'require' | 'none';
  tlsReloadCheckMs: number;
  adminTokenFile?: string | undefined;
  httpTls?: boolean;
}

export interface Security {
  /** Null: plaintext. */
  certs: CertificateSource | null;
  /** KV/PD port: client certificates required. */
  clientCerts: boolean;
  access: AccessPolicy;
  /** The admin token, which PD also sends with its admin calls to the stores. */
  adminToken: string | null;
  reloadCheckMs: number;
  /** The HTTP status port serves HTTPS with `certs`. */
  httpTls: boolean;
}

/** Checks the flags together and loads the files; FlagError naming the flag or file. */
export function securityFrom(v: TlsFlagValues): Security {
  const given = [v.tlsCaFile, v.tlsCertFile, v.tlsKeyFile].filter((f) => f !== undefined && f !== '').length;
  if (given !== 0 && given !== 3) throw new FlagError('--tls-ca-file, --tls-cert-file and --tls-key-file go together: give all three or none');
  let certs: CertificateSource | null = null;
  if (given === 3) {
    try {
      certs = CertificateSource.load({ caFile: v.tlsCaFile!, certFile: v.tlsCertFile!, keyFile: v.tlsKeyFile! });
    } catch (e) {
      if (e instanceof TlsConfigError) throw new FlagError(`TLS: ${e.message}`);
      throw e;
    }
  }
  let adminToken: string | null = null;
  if (v.adminTokenFile !== undefined && v.adminTokenFile !== '') {
    try {
      adminToken = readAdminToken(v.adminTokenFile);
    } catch (e) {
      throw new FlagError(`--admin-token-file: ${(e as Error).message}`);
    }
  }
  if (v.httpTls === true && certs === null) throw new FlagError('--http-tls needs --tls-ca-file, --tls-cert-file and --tls-key-file');
  const clientCerts = certs !== null && v.tlsClientAuth === 'require';
  return { certs, clientCerts, access: new AccessPolicy({ clientCerts, adminToken }), adminToken, reloadCheckMs: v.tlsReloadCheckMs, httpTls: v.httpTls === true };
}

/** Minimal logger view (runtime Logger fits). */
interface ReloadLog {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
}

/**
 * A server main's certificate reloads: on SIGHUP, and when a file's size or mtime changes
 * (checked every `security.reloadCheckMs`). Each reload is logged; a bad new pair is
 * logged at warn and the old one kept. Also warns once when admin RPCs are open.
 */
export function installSecurity(security: Security, log: ReloadLog, what: string): void {
  if (security.access.open) {
    log.warn(`${what}: admin RPCs are open to anyone who reaches the port (no TLS client certificates, no --admin-token-file)`);
  }
  const certs = security.certs;
  if (certs === null) return;
  const report = (trigger: string) => (err: TlsConfigError | null): void => {
    if (err === null) log.info('TLS certificate reloaded', { trigger, certFile: certs.files.certFile, notAfter: certs.notAfter.toISOString() });
    else log.warn('TLS certificate reload refused; the old certificate stays', { trigger, err: err.message });
  };
  process.on('SIGHUP', () => report('SIGHUP')(certs.reload()));
  certs.watch(security.reloadCheckMs, report('file change'));
  log.info('TLS on', {
    identity: certs.identity, clientCerts: security.clientCerts, certFile: certs.files.certFile, notAfter: certs.notAfter.toISOString(),
  });
}
