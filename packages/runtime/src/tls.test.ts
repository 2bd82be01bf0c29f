import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import {
  CertificateSource, TlsConfigError, channelCredentials, identityOfAltNames, parseIdentityUri, peerIdentity, serverCredentials, statusHttpServer,
  type Identity, type TlsFiles,
} from './tls.js';
import { hasOpenssl, testPki } from './testing/test-pki.js';

const skip = hasOpenssl() ? false : 'openssl is not installed';

test('identity URIs: store and pd carry a positive integer id; anything else is not an identity', () => {
  assert.deepEqual(parseIdentityUri('rangekv://store/3'), { role: 'store', name: '3', id: 3 });
  assert.deepEqual(parseIdentityUri('rangekv://pd/1'), { role: 'pd', name: '1', id: 1 });
  assert.deepEqual(parseIdentityUri('rangekv://admin/alice'), { role: 'admin', name: 'alice' });
  for (const bad of ['rangekv://store/0', 'rangekv://store/03', 'rangekv://store/9007199254740993', 'rangekv://store/x',
    'rangekv://root/1', 'https://store/1', 'rangekv://admin/', 'rangekv://admin/a/b']) {
    assert.equal(parseIdentityUri(bad), null, bad);
  }
  assert.deepEqual(identityOfAltNames('DNS:localhost, IP Address:127.0.0.1, URI:rangekv://store/2'), { role: 'store', name: '2', id: 2 });
  assert.deepEqual(identityOfAltNames('DNS:localhost'), { role: 'client', name: '' });
  assert.deepEqual(identityOfAltNames(undefined), { role: 'client', name: '' });
  assert.equal(identityOfAltNames('URI:rangekv://store/2, URI:rangekv://admin/x'), null, 'two principals');
});

test('load: the identity from the certificate; a clear error naming the file for each bad input', { skip }, (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const pki = testPki(dir);
  const s1 = pki.issue('store-1', { uri: 'rangekv://store/1' });
  const other = pki.issue('admin', { uri: 'rangekv://admin/ops' });
  assert.deepEqual(CertificateSource.load(s1).identity, { role: 'store', name: '1', id: 1 });

  const err = (f: () => unknown, re: RegExp): void => assert.throws(f, (e: unknown) => e instanceof TlsConfigError && re.test(e.message));
  err(() => CertificateSource.load({ ...s1, keyFile: other.keyFile }), /admin\.key is not the key of .*store-1\.pem/);
  err(() => CertificateSource.load({ ...s1, certFile: join(dir, 'nope.pem') }), /cannot read the certificate file .*nope\.pem: ENOENT/);
  err(() => CertificateSource.load({ ...s1, caFile: s1.keyFile }), /store-1\.key is not a PEM certificate/);
  err(() => CertificateSource.load({ ...s1, keyFile: s1.certFile }), /store-1\.pem is not a PEM private key/);
  err(() => CertificateSource.load(s1, Date.now() + 10 * 86_400_000), /store-1\.pem expired on/);
  const two = pki.issue('two', { uri: 'rangekv://store/2' });
  // A certificate signed by another CA is not refused at load (the CA file may hold several).
  const foreign = testPki(join(dir, 'other')).issue('x', { uri: 'rangekv://store/1' });
  assert.equal(CertificateSource.load({ ...foreign, caFile: s1.caFile }).identity.id, 1);
  assert.equal(CertificateSource.load(two).identity.id, 2);
});

interface Echo {
  server: grpc.Server;
  address: string;
}

const ECHO: grpc.MethodDefinition<Buffer, Buffer> = {
  path: '/test.Echo/Who', requestStream: false, responseStream: false,
  requestSerialize: (b) => b, requestDeserialize: (b) => b, responseSerialize: (b) => b, responseDeserialize: (b) => b,
};

async function echoServer(creds: grpc.ServerCredentials): Promise<Echo> {
  const server = new grpc.Server();
  server.addService({ who: ECHO }, {
    who: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      cb(null, Buffer.from(JSON.stringify(peerIdentity(call))));
    },
  });
  const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', creds, (e, p) => (e ? rej(e) : res(p))));
  return { server, address: `localhost:${port}` };
}

function who(address: string, creds: grpc.ChannelCredentials): Promise<Identity | null | Error> {
  const c = new grpc.Client(address, creds);
  return new Promise((resolve) => {
    c.makeUnaryRequest(ECHO.path, (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), { deadline: Date.now() + 3000 }, (err, res) => {
      c.close();
      resolve(err ? err : JSON.parse(res!.toString()));
    });
  });
}

test('mutual TLS: the server sees the client certificate\'s identity; other CAs, plaintext and a wrong expected peer fail', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tls-'));
  const pki = testPki(dir);
  const server = CertificateSource.load(pki.issue('store-1', { uri: 'rangekv://store/1' }));
  const client = CertificateSource.load(pki.issue('store-2', { uri: 'rangekv://store/2' }));
  const app = CertificateSource.load(pki.issue('app'));
  const foreign = CertificateSource.load(testPki(join(dir, 'other')).issue('store-2', { uri: 'rangekv://store/2' }));
  const e = await echoServer(serverCredentials(server, { requireClientCert: true }));
  t.after(() => {
    e.server.forceShutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  assert.deepEqual(await who(e.address, channelCredentials(client)), { role: 'store', name: '2', id: 2 });
  assert.deepEqual(await who(e.address, channelCredentials(app)), { role: 'client', name: '' });
  assert.deepEqual(await who(e.address, channelCredentials(client, { expectPeer: { role: 'store', name: '1', id: 1 } })), { role: 'store', name: '2', id: 2 });
  const wrongPeer = await who(e.address, channelCredentials(client, { expectPeer: { role: 'store', name: '3', id: 3 } }));
  assert.ok(wrongPeer instanceof Error && (wrongPeer as grpc.ServiceError).code === grpc.status.UNAVAILABLE, String(wrongPeer));
  const fromForeign = await who(e.address, channelCredentials(foreign));
  assert.ok(fromForeign instanceof Error && (fromForeign as grpc.ServiceError).code === grpc.status.UNAVAILABLE, String(fromForeign));
  const plain = await who(e.address, grpc.credentials.createInsecure());
  assert.ok(plain instanceof Error && (plain as grpc.ServiceError).code === grpc.status.UNAVAILABLE, String(plain));

  // Plaintext server: peerIdentity is null.
  const p = await echoServer(serverCredentials(null, { requireClientCert: false }));
  t.after(() => p.server.forceShutdown());
  assert.equal(await who(p.address, channelCredentials(null)), null);
});

/** The files a process was started with, and a way to put another pair in their place. */
function liveFiles(dir: string, caFile: string): { live: TlsFiles; install: (f: { certFile: string; keyFile: string }) => void } {
  const live = { caFile, certFile: join(dir, 'live.pem'), keyFile: join(dir, 'live.key') };
  return {
    live,
    install: (f) => {
      copyFileSync(f.certFile, live.certFile);
      copyFileSync(f.keyFile, live.keyFile);
    },
  };
}

test('reload: a new pair with the same identity is taken; a bad one or another identity keeps the old; watch notices a change', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const pki = testPki(dir);
  const { live, install } = liveFiles(dir, pki.caFile);
  install(pki.issue('v1', { uri: 'rangekv://store/1' }));
  const src = CertificateSource.load(live);
  const before = src.notAfter.getTime();
  install(pki.issue('v2', { uri: 'rangekv://store/1', days: 30 }));
  assert.equal(src.reload(), null);
  assert.equal(src.reloads, 1);
  assert.ok(src.notAfter.getTime() > before);

  install(pki.issue('v3', { uri: 'rangekv://store/9' }));
  assert.match(src.reload()?.message ?? '', /names store 9, not store 1; kept the old certificate/);
  copyFileSync(join(dir, 'v2.key'), live.keyFile);
  copyFileSync(join(dir, 'v1.pem'), live.certFile);
  assert.match(src.reload()?.message ?? '', /live\.key is not the key of/);
  assert.equal(src.reloads, 1);

  // The provider hands a reload to its listeners (every server and channel built from it).
  const seen: string[] = [];
  src.addIdentityCertificateListener((u) => seen.push(u === null ? 'none' : 'pair'));
  await new Promise((r) => setImmediate(r));
  install(pki.issue('v4', { uri: 'rangekv://store/1' }));
  const results: Array<string | null> = [];
  src.watch(20, (err) => results.push(err?.message ?? null));
  t.after(() => src.stopWatching());
  for (let i = 0; i < 100 && results.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(results, [null]);
  assert.equal(src.reloads, 2);
  assert.deepEqual(seen, ['pair', 'pair']);
});

test('statusHttpServer: HTTPS verified with the CA, and a reload serves the new certificate to new connections', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tls-'));
  const pki = testPki(dir);
  const { live, install } = liveFiles(dir, pki.caFile);
  install(pki.issue('h1', { uri: 'rangekv://store/1' }));
  const certs = CertificateSource.load(live);
  const server = statusHttpServer(certs, (_req, res) => res.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const port = (server.address() as { port: number }).port;
  const get = (): Promise<{ body: string; serial: string }> => new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path: '/', ca: readFileSync(pki.caFile), servername: 'localhost', agent: false }, (res) => {
      const serial = (res.socket as import('node:tls').TLSSocket).getPeerCertificate().serialNumber;
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ body, serial }));
    });
    req.on('error', reject);
    req.end();
  });
  const first = await get();
  assert.equal(first.body, 'ok');
  install(pki.issue('h2', { uri: 'rangekv://store/1' }));
  assert.equal(certs.reload(), null);
  await new Promise((r) => setImmediate(r));
  const second = await get();
  assert.equal(second.body, 'ok');
  assert.notEqual(second.serial, first.serial);
});
