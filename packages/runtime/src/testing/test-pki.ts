// A throwaway CA and certificates for tests, made with the openssl command line.
//
//   const pki = testPki(dir);                          // CA in dir/ca.pem, dir/ca.key
//   const s1 = pki.issue('store-1', { uri: 'rangekv://store/1' });   // { caFile, certFile, keyFile }
//   const other = testPki(dir2).issue('x', ...);        // signed by a different CA
//
// Leaf certificates name localhost and 127.0.0.1 (plus what `dns`/`ip` add) and are good
// for both server and client authentication, for `days` days (default 2). To test expiry,
// load them with a clock in the future (CertificateSource.load(files, nowMs)).
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TlsFiles } from '../tls.js';

export interface IssueOptions {
  /** A URI subject alternative name, e.g. rangekv://store/1. */
  uri?: string;
  dns?: string[];
  ip?: string[];
  days?: number;
}

export interface TestPki {
  readonly dir: string;
  readonly caFile: string;
  issue(name: string, o?: IssueOptions): TlsFiles;
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Whether the openssl command is on PATH (tests skip with a message otherwise). */
export function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function testPki(dir: string): TestPki {
  mkdirSync(dir, { recursive: true });
  const caFile = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca.key');
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', caKey, '-out', caFile,
    '-days', '3', '-subj', '/CN=rangekv test CA']);
  let serial = 1;
  return {
    dir,
    caFile,
    issue(name, o = {}) {
      const keyFile = join(dir, `${name}.key`);
      const certFile = join(dir, `${name}.pem`);
      const csr = join(dir, `${name}.csr`);
      const ext = join(dir, `${name}.ext`);
      const sans = ['DNS:localhost', 'IP:127.0.0.1', ...(o.dns ?? []).map((d) => `DNS:${d}`), ...(o.ip ?? []).map((i) => `IP:${i}`)];
      if (o.uri !== undefined) sans.push(`URI:${o.uri}`);
      writeFileSync(ext, `subjectAltName=${sans.join(',')}\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature\n`);
      openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile, '-out', csr, '-subj', `/CN=${name}`]);
      openssl(['x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-set_serial', String(++serial + Math.floor(Math.random() * 1e9)),
        '-out', certFile, '-extfile', ext, '-days', String(o.days ?? 2)]);
      return { caFile, certFile, keyFile };
    },
  };
}
