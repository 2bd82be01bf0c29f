// What a certificate says, read with the openssl command line (the deploy tests' only
// dependency for certificates): its subject alternative names, and whether it verifies
// against a CA.
//
//   certNames('/tmp/pki/store-1.pem')   // { uri: ['rangekv://store/1'], dns: ['store-1', 'localhost'], ip: ['127.0.0.1'] }
//   verifiesAgainst(ca, cert)            // { ok: true, out: 'cert: OK' }
import { spawnSync } from 'node:child_process';

/** The URI, DNS and IP subject alternative names of a PEM certificate file; throws when openssl cannot read it. */
export function certNames(file) {
  const r = spawnSync('openssl', ['x509', '-in', file, '-noout', '-ext', 'subjectAltName'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl x509 -in ${file}: ${r.stderr}`);
  // "X509v3 Subject Alternative Name: \n    URI:rangekv://pd/1, DNS:pd-1, IP Address:127.0.0.1"
  const names = { uri: [], dns: [], ip: [] };
  const list = r.stdout.split('\n').slice(1).join(' ').trim();
  for (const entry of list === '' ? [] : list.split(/,\s*/)) {
    const m = /^(URI|DNS|IP Address):(.*)$/.exec(entry.trim());
    if (m === null) throw new Error(`${file}: unexpected subjectAltName entry "${entry}"`);
    names[{ URI: 'uri', DNS: 'dns', 'IP Address': 'ip' }[m[1]]].push(m[2]);
  }
  return names;
}

/** `openssl verify -CAfile ca cert`: { ok, out }. */
export function verifiesAgainst(caFile, certFile) {
  const r = spawnSync('openssl', ['verify', '-CAfile', caFile, certFile], { encoding: 'utf8' });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}`.trim() };
}

/** Whether a PEM private key file is the key of a PEM certificate file (their public keys agree). */
export function keyMatches(certFile, keyFile) {
  const fromCert = spawnSync('openssl', ['x509', '-in', certFile, '-noout', '-pubkey'], { encoding: 'utf8' });
  const fromKey = spawnSync('openssl', ['pkey', '-in', keyFile, '-pubout'], { encoding: 'utf8' });
  return fromCert.status === 0 && fromKey.status === 0 && fromCert.stdout === fromKey.stdout;
}
