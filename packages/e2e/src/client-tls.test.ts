// The client's explanation of a TLS mismatch (explainConnectFailure), against plain gRPC
// servers: a TLS client and a plaintext server, a server whose certificate another CA
// signed, a server that wants a client certificate, and nothing to explain.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { explainConnectFailure, loadClientTls } from '@rangekv/client';
import { CertificateSource, serverCredentials } from '@rangekv/runtime';
import { hasOpenssl, testPki } from '@rangekv/runtime/testing/test-pki';

const skip = hasOpenssl() ? false : 'openssl is not installed';

async function serve(creds: grpc.ServerCredentials): Promise<{ address: string; stop(): void }> {
  const server = new grpc.Server();
  const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', creds, (e, p) => (e ? rej(e) : res(p))));
  return { address: `127.0.0.1:${port}`, stop: () => server.forceShutdown() };
}

test('explainConnectFailure names each TLS mismatch', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'client-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const pki = testPki(dir);
  const server = CertificateSource.load(pki.issue('srv', { uri: 'rangekv://store/1' }));
  const app = pki.issue('app');
  const other = testPki(join(dir, 'other'));

  const plain = await serve(grpc.ServerCredentials.createInsecure());
  const mtls = await serve(serverCredentials(server, { requireClientCert: true }));
  const tlsOnly = await serve(serverCredentials(server, { requireClientCert: false }));
  t.after(() => [plain, mtls, tlsOnly].forEach((s) => s.stop()));

  const withCert = loadClientTls({ caFile: app.caFile, certFile: app.certFile, keyFile: app.keyFile });
  const caOnly = loadClientTls({ caFile: pki.caFile });
  const foreignCa = loadClientTls({ caFile: other.caFile });

  assert.match(await explainConnectFailure(plain.address, withCert, 2_000) ?? '', /does not speak TLS \(a plaintext server\?\)/);
  assert.match(await explainConnectFailure(mtls.address, null, 2_000) ?? '', /speaks TLS and this client connects in plaintext/);
  assert.match(await explainConnectFailure(mtls.address, caOnly, 2_000) ?? '', /requires a client certificate/);
  assert.match(await explainConnectFailure(tlsOnly.address, foreignCa, 2_000) ?? '', /does not verify against the client's CA/);
  assert.equal(await explainConnectFailure(mtls.address, withCert, 2_000), null, 'nothing to explain');
  assert.equal(await explainConnectFailure(plain.address, null, 2_000), null, 'nothing to explain');
  assert.equal(await explainConnectFailure('127.0.0.1:1', withCert, 2_000), null, 'refused: not a TLS matter');
  assert.throws(() => loadClientTls({ caFile: join(dir, 'nope.pem') }), /cannot read the TLS CA file .*nope\.pem: ENOENT/);
  assert.throws(() => loadClientTls({ caFile: pki.caFile, certFile: app.certFile }), /certFile and keyFile go together/);
});
