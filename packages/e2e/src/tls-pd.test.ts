// Three PD nodes and three stores, all with mutual TLS: PD's own raft group runs over
// authenticated streams (certificates naming rangekv://pd/ID), and losing the PD leader
// changes nothing for a client.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { RangeKvClient } from '@rangekv/client';
import { hasOpenssl, testPki } from '@rangekv/runtime/testing/test-pki';
import { CertificateSource, channelCredentials, type TlsFiles } from '@rangekv/runtime';
import { E2eCluster, eventually } from './cluster.js';

const skip = hasOpenssl() ? false : 'openssl is not installed';
const tlsArgs = (f: TlsFiles): string[] => ['--tls-ca-file', f.caFile, '--tls-cert-file', f.certFile, '--tls-key-file', f.keyFile];

let c: E2eCluster | undefined;
let kv: RangeKvClient | undefined;
let dir = '';
after(async () => {
  kv?.close();
  await c?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('3 PD nodes with mutual TLS elect, serve, and survive the loss of their leader', { skip }, async () => {
  dir = mkdtempSync(join(tmpdir(), 'rangekv-tls-pd-'));
  const pki = testPki(dir);
  const pdFiles = new Map([1, 2, 3].map((id) => [id, pki.issue(`pd-${id}`, { uri: `rangekv://pd/${id}` })]));
  const storeFiles = new Map([1, 2, 3].map((id) => [id, pki.issue(`store-${id}`, { uri: `rangekv://store/${id}` })]));
  const admin = pki.issue('admin', { uri: 'rangekv://admin/ops' });
  c = await E2eCluster.start({ pdNodes: 3, pdArgsFor: (id) => tlsArgs(pdFiles.get(id)!), storeArgsFor: (id) => tlsArgs(storeFiles.get(id)!) });
  kv = await RangeKvClient.connect({ pd: c.pdAddresses(), tls: { caFile: admin.caFile, certFile: admin.certFile, keyFile: admin.keyFile } });
  await kv.put('a', '1', { timeoutMs: 30_000 });
  await kv.split('m', { timeoutMs: 30_000 });
  const creds = channelCredentials(CertificateSource.load(admin));
  let leader = await c.pdLeader(creds);
  await eventually('a PD leader', async () => (leader = await c!.pdLeader(creds)) !== undefined, 30_000);
  leader!.kill();
  await leader!.exited;
  await kv.put('n', '2', { timeoutMs: 30_000 });
  await kv.split('t', { timeoutMs: 30_000 });
  assert.equal((await kv.get('a', { timeoutMs: 20_000 }))?.toString(), '1');
  assert.equal((await kv.get('n', { timeoutMs: 20_000 }))?.toString(), '2');
  assert.equal((await kv.listRanges({ timeoutMs: 20_000 })).length, 3);
});
