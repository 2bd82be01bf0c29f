import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import { AccessPolicy, readAdminToken, type CallerView } from './access.js';

const TOKEN = 'a-token-of-some-length-0123456789';

function caller(uri: string | null, token?: string): CallerView {
  const md = new grpc.Metadata();
  if (token !== undefined) md.set('authorization', `Bearer ${token}`);
  const cert = uri === null ? undefined : ({ subjectaltname: `DNS:localhost, URI:${uri}` } as PeerCertificate);
  return { metadata: md, getAuthContext: () => (cert ? { sslPeerCertificate: cert } : {}) };
}

test('open: no client certificates and no token, everything goes', () => {
  const p = new AccessPolicy({ clientCerts: false, adminToken: null });
  assert.ok(p.open);
  for (const need of ['client', 'admin', 'operator', 'store'] as const) assert.equal(p.check(caller(null), need, 'M'), null);
  assert.equal(p.storeOf(caller('rangekv://store/2')), null);
});

test('certificates: admin needs an admin certificate, operator also takes PD, store needs a store certificate', () => {
  const p = new AccessPolicy({ clientCerts: true, adminToken: null });
  assert.equal(p.check(caller('rangekv://client/app'), 'client', 'Get'), null);
  assert.equal(p.check(caller('rangekv://admin/ops'), 'admin', 'SetConfig'), null);
  assert.equal(p.check(caller('rangekv://pd/1'), 'operator', 'SplitRange'), null);
  const d = p.check(caller('rangekv://pd/1'), 'admin', 'SetConfig');
  assert.equal(d?.code, grpc.status.PERMISSION_DENIED);
  assert.match(d!.details, /SetConfig needs an admin certificate .* presented a certificate of pd 1/);
  assert.equal(p.check(caller('rangekv://store/3'), 'operator', 'SplitRange')?.code, grpc.status.PERMISSION_DENIED);
  assert.equal(p.check(caller('rangekv://store/3'), 'store', 'StoreHeartbeat'), null);
  assert.equal(p.check(caller('rangekv://admin/ops'), 'store', 'StoreHeartbeat')?.code, grpc.status.PERMISSION_DENIED);
  assert.equal(p.storeOf(caller('rangekv://store/3')), 3);
  assert.match(p.claimMismatch('StoreHeartbeat', 1, 3).details, /request is for store 1, but the certificate names store 3/);
  // Two principals in one certificate: a plain client.
  const two = caller('rangekv://admin/ops');
  (two.getAuthContext!()!.sslPeerCertificate as { subjectaltname: string }).subjectaltname += ', URI:rangekv://store/1';
  assert.equal(p.check(two, 'admin', 'SetConfig')?.code, grpc.status.PERMISSION_DENIED);
});

test('token: the right token is admin (not a store); a wrong or missing one is UNAUTHENTICATED without certificates', () => {
  const p = new AccessPolicy({ clientCerts: false, adminToken: TOKEN });
  assert.ok(!p.open);
  assert.equal(p.check(caller(null, TOKEN), 'admin', 'CreateOperator'), null);
  assert.equal(p.check(caller(null, TOKEN), 'operator', 'SplitRange'), null);
  assert.equal(p.check(caller(null, `${TOKEN}x`), 'admin', 'CreateOperator')?.code, grpc.status.UNAUTHENTICATED);
  assert.equal(p.check(caller(null), 'admin', 'CreateOperator')?.code, grpc.status.UNAUTHENTICATED);
  assert.equal(p.check(caller(null), 'client', 'Get'), null);
  // Without client certificates nothing tells stores apart: their reports are taken (with their store token).
  assert.equal(p.check(caller(null), 'store', 'StoreHeartbeat'), null);
  const both = new AccessPolicy({ clientCerts: true, adminToken: TOKEN });
  assert.equal(both.check(caller('rangekv://client/app', TOKEN), 'admin', 'CreateOperator'), null);
});

test('readAdminToken: trimmed; too short, whitespace inside or unreadable is an error naming the file', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'token-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const f = join(dir, 'token');
  writeFileSync(f, `  ${TOKEN}\n`);
  assert.equal(readAdminToken(f), TOKEN);
  writeFileSync(f, 'short');
  assert.throws(() => readAdminToken(f), /token in .*token must be 16-4096 characters/);
  writeFileSync(f, 'a'.repeat(10) + ' ' + 'b'.repeat(10));
  assert.throws(() => readAdminToken(f), /without whitespace/);
  assert.throws(() => readAdminToken(join(dir, 'nope')), /cannot read the admin token file .*nope: ENOENT/);
});
