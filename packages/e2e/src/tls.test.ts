// TLS and peer authentication against real processes (1 PD, 3 stores), every certificate
// from a throwaway CA made here with openssl. What a hostile peer could do on the raft port
// before (forged Heartbeat, TimeoutNow, App, snapshot: see the deploy issue) is each sent
// with a real store's certificate while claiming another store, and must be refused with
// nothing changed. Also: who may call what on PD and the stores, the plaintext/TLS mismatch
// message, and a certificate reload on SIGHUP.
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { RangeKvClient } from '@rangekv/client';
import { adminpb, pdService, storeAdminService } from '@rangekv/proto';
import { EntryType, MessageType } from '@rangekv/raft';
import { CertificateSource, channelCredentials, type TlsFiles } from '@rangekv/runtime';
import { hasOpenssl, testPki, type TestPki } from '@rangekv/runtime/testing/test-pki';
import { E2eCluster, eventually, unary } from './cluster.js';
import { rawUnary, sendRaftBatch, sendSnapshot } from './hostile-wire.js';
import { WrittenKeys, leaderAndFollower, message, rangeStatus as rangeStatusOf, type RangeView } from './range-views.js';

const skip = hasOpenssl() ? false : 'openssl is not installed';

let dir: string;
let pki: TestPki;
let c: E2eCluster;
let kv: RangeKvClient;
const files = new Map<string, TlsFiles>();

function tlsArgs(f: TlsFiles): string[] {
  return ['--tls-ca-file', f.caFile, '--tls-cert-file', f.certFile, '--tls-key-file', f.keyFile];
}

function creds(name: string): grpc.ChannelCredentials {
  return channelCredentials(CertificateSource.load(files.get(name)!));
}

const keys = new WrittenKeys(() => kv, 3);
const writeSome = (tag: string): Promise<void> => keys.writeSome(tag);
const dataIntact = (): Promise<void> => keys.checkAll();

const rangeStatus = (storeId: number, rangeId: number): Promise<adminpb.RangeStatus | null> => rangeStatusOf(c, storeId, rangeId, creds('admin'));

/** The leader of range 1, a caught-up follower, and the third store. */
async function roles(): Promise<{ leader: RangeView; follower: RangeView; third: number }> {
  const { leader, follower } = await leaderAndFollower(c, 1, creds('admin'));
  const third = [...c.stores.keys()].find((id) => id !== leader.storeId && id !== follower.storeId)!;
  return { leader, follower, third };
}

function replicaOf(st: adminpb.RangeStatus, storeId: number): number {
  return Number(st.descriptor!.replicas!.find((r) => r.storeId === storeId)!.replicaId);
}

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'rangekv-tls-'));
  pki = testPki(dir);
  files.set('pd-1', pki.issue('pd-1', { uri: 'rangekv://pd/1' }));
  for (const id of [1, 2, 3]) files.set(`store-${id}`, pki.issue(`store-${id}`, { uri: `rangekv://store/${id}` }));
  files.set('admin', pki.issue('admin', { uri: 'rangekv://admin/ops' }));
  files.set('app', pki.issue('app', { uri: 'rangekv://client/app' }));
  c = await E2eCluster.start({ pdArgs: tlsArgs(files.get('pd-1')!), storeArgsFor: (id) => tlsArgs(files.get(`store-${id}`)!) });
  const a = files.get('admin')!;
  kv = await RangeKvClient.connect({ pd: c.pdAddresses(), tls: { caFile: a.caFile, certFile: a.certFile, keyFile: a.keyFile } });
  await writeSome('start');
  await kv.split('m', { timeoutMs: 30_000 });
  await writeSome('split');
});

after(async () => {
  kv?.close();
  await c?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a plaintext client is told the cluster speaks TLS; a client without a certificate is told one is required', { skip }, async () => {
  await assert.rejects(RangeKvClient.connect({ pd: c.pdAddresses(), timeoutMs: 3_000 }), /speaks TLS and this client connects in plaintext/);
  await assert.rejects(RangeKvClient.connect({ pd: c.pdAddresses(), timeoutMs: 3_000, tls: { caFile: pki.caFile } }), /requires a client certificate/);
});

test('an application certificate reads and writes, but cannot create operators or call store admin RPCs', { skip }, async () => {
  const a = files.get('app')!;
  const app = await RangeKvClient.connect({ pd: c.pdAddresses(), tls: { caFile: a.caFile, certFile: a.certFile, keyFile: a.keyFile } });
  try {
    await app.put('app-key', 'v', { timeoutMs: 20_000 });
    assert.equal((await app.get('app-key', { timeoutMs: 20_000 }))?.toString(), 'v');
    await assert.rejects(app.split('q', { timeoutMs: 10_000 }), /CreateOperator needs an admin certificate .* presented a certificate of client app/);
  } finally {
    app.close();
  }
  const res = await rawUnary(c.stores.get(1)!.kvAddress, storeAdminService.splitRange.path,
    storeAdminService.splitRange.requestSerialize({ header: { rangeId: 1 }, splitKey: Buffer.from('c') }), 5_000, undefined, creds('app'));
  assert.equal(res.code, grpc.status.PERMISSION_DENIED, res.details);
  assert.match(res.details, /SplitRange needs an admin or PD certificate/);
  // A store's certificate is no admin either.
  const fromStore = await rawUnary(c.stores.get(1)!.kvAddress, storeAdminService.transferLeader.path,
    storeAdminService.transferLeader.requestSerialize({ header: { rangeId: 1 }, toStore: 2 }), 5_000, undefined, creds('store-2'));
  assert.equal(fromStore.code, grpc.status.PERMISSION_DENIED, fromStore.details);
});

test('PD takes a store heartbeat only from the store its certificate names', { skip }, async () => {
  const pd = c.pds[0]!.address;
  const before = await unary(pd, pdService.getStore, { storeId: 1 }, creds('app'));
  const forged = await rawUnary(pd, pdService.storeHeartbeat.path, pdService.storeHeartbeat.requestSerialize({
    store: { id: 1, address: '127.0.0.1:1', raftAddress: '127.0.0.1:2' }, storeToken: 'y'.repeat(32),
  }), 5_000, undefined, creds('store-3'));
  assert.equal(forged.code, grpc.status.PERMISSION_DENIED, forged.details);
  assert.match(forged.details, /request is for store 1, but the certificate names store 3/);
  const byAdmin = await rawUnary(pd, pdService.rangeHeartbeat.path, pdService.rangeHeartbeat.requestSerialize({ storeId: 1, ranges: [] }),
    5_000, undefined, creds('admin'));
  assert.equal(byAdmin.code, grpc.status.PERMISSION_DENIED, byAdmin.details);
  const afterStore = await unary(pd, pdService.getStore, { storeId: 1 }, creds('app'));
  assert.deepEqual([afterStore.store?.address, afterStore.store?.raftAddress], [before.store?.address, before.store?.raftAddress]);
  await dataIntact();
});

test('forged Heartbeat at term+1 with another store\'s certificate: refused, the leader keeps leading at its term', { skip }, async () => {
  const { leader, follower, third } = await roles();
  const hb = message({
    type: MessageType.Heartbeat, to: Number(leader.status.replicaId), from: replicaOf(leader.status, follower.storeId), term: Number(leader.status.term) + 1,
  });
  const res = await sendRaftBatch(c.stores.get(leader.storeId)!.raftAddress, follower.storeId, leader.storeId, [{ rangeId: 1, message: hb }], creds(`store-${third}`));
  assert.equal(res?.code, grpc.status.PERMISSION_DENIED, res?.details);
  assert.match(res!.details, new RegExp(`claims to come from store ${follower.storeId}, but the certificate names store ${third}`));
  const st = await rangeStatus(leader.storeId, 1);
  assert.equal(st?.role, adminpb.RaftRole.LEADER);
  assert.equal(Number(st?.term), Number(leader.status.term));
  await dataIntact();
});

test('forged TimeoutNow with another store\'s certificate: refused, leadership does not move', { skip }, async () => {
  const { leader, follower, third } = await roles();
  const tn = message({
    type: MessageType.TimeoutNow, to: Number(follower.status.replicaId), from: replicaOf(follower.status, leader.storeId), term: Number(follower.status.term),
  });
  const res = await sendRaftBatch(c.stores.get(follower.storeId)!.raftAddress, leader.storeId, follower.storeId, [{ rangeId: 1, message: tn }], creds(`store-${third}`));
  assert.equal(res?.code, grpc.status.PERMISSION_DENIED, res?.details);
  const st = await rangeStatus(leader.storeId, 1);
  assert.equal(st?.role, adminpb.RaftRole.LEADER, 'the leader still leads');
  assert.equal(Number(st?.term), Number(leader.status.term));
  await dataIntact();
});

test('forged App carrying an entry with another store\'s certificate: refused, the follower\'s log does not grow', { skip }, async () => {
  const { leader, follower, third } = await roles();
  const st = follower.status;
  const last = Number(st.lastIndex);
  const term = Number(st.term);
  const app = message({
    type: MessageType.App, to: Number(st.replicaId), from: replicaOf(st, leader.storeId), term, logTerm: term, index: last,
    entries: [{ term, index: last + 1, type: EntryType.Normal, data: new Uint8Array([0x01, 0x63, 0x00]) }], commit: last + 1,
  });
  const res = await sendRaftBatch(c.stores.get(follower.storeId)!.raftAddress, leader.storeId, follower.storeId, [{ rangeId: 1, message: app }], creds(`store-${third}`));
  assert.equal(res?.code, grpc.status.PERMISSION_DENIED, res?.details);
  const now = await rangeStatus(follower.storeId, 1);
  assert.ok(now !== null && now.role === adminpb.RaftRole.FOLLOWER, 'the follower runs');
  await dataIntact();
  // The forged entry never reached the log: every replica agrees on the leader's log.
  const again = await roles();
  assert.equal(Number(again.follower.status.lastIndex), Number(again.leader.status.lastIndex));
});

test('forged snapshot with another store\'s certificate: refused before the receiver looks at it', { skip }, async () => {
  const { leader, follower, third } = await roles();
  const st = follower.status;
  const snap = message({
    type: MessageType.Snap, to: Number(st.replicaId), from: replicaOf(st, leader.storeId), term: Number(st.term),
    snapshot: { meta: { index: Number(st.lastIndex) + 1000, term: Number(st.term), confState: { voters: [1, 2, 3], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } }, data: new Uint8Array(0) },
  });
  const res = await sendSnapshot(c.stores.get(follower.storeId)!.raftAddress, {
    fromStore: leader.storeId, toStore: follower.storeId, rangeId: 1, message: snap, header: new Uint8Array([1, 2, 3]),
  }, new Uint8Array(64), creds(`store-${third}`));
  assert.notEqual(res.code, grpc.status.OK);
  assert.match(res.details, new RegExp(`claims to come from store ${leader.storeId}, but the certificate names store ${third}`));
  const now = await rangeStatus(follower.storeId, 1);
  assert.ok(now !== null && Number(now.applied) < Number(st.lastIndex) + 1000, 'no snapshot was applied');
  await dataIntact();
});

test('the raft port refuses an application or admin certificate outright', { skip }, async () => {
  const { leader, follower } = await roles();
  const hb = message({ type: MessageType.Heartbeat, to: Number(leader.status.replicaId), from: replicaOf(leader.status, follower.storeId), term: Number(leader.status.term) });
  for (const who of ['app', 'admin']) {
    const res = await sendRaftBatch(c.stores.get(leader.storeId)!.raftAddress, follower.storeId, leader.storeId, [{ rangeId: 1, message: hb }], creds(who));
    assert.equal(res?.code, grpc.status.PERMISSION_DENIED, `${who}: ${res?.details}`);
    assert.match(res!.details, /raft port takes store certificates only/);
  }
});

function servedSerial(address: string): Promise<string> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host, port, ALPNProtocols: ['h2'], rejectUnauthorized: false }, () => {
      const serial = s.getPeerCertificate().serialNumber;
      s.destroy();
      resolve(serial);
    });
    s.on('error', reject);
  });
}

test('SIGHUP: a store serves its new certificate on new connections; a bad one is refused and the old kept', { skip }, async () => {
  const store = c.stores.get(2)!;
  const live = files.get('store-2')!;
  const first = await servedSerial(store.kvAddress);
  const next = pki.issue('store-2-next', { uri: 'rangekv://store/2' });
  copyFileSync(next.certFile, live.certFile);
  copyFileSync(next.keyFile, live.keyFile);
  store.proc.kill('SIGHUP');
  let served = first;
  await eventually('the new certificate is served', async () => {
    served = await servedSerial(store.kvAddress);
    return served !== first;
  }, 20_000);
  // A certificate naming another store is not taken.
  const wrong = pki.issue('store-2-wrong', { uri: 'rangekv://store/7' });
  copyFileSync(wrong.certFile, live.certFile);
  copyFileSync(wrong.keyFile, live.keyFile);
  store.proc.kill('SIGHUP');
  await eventually('the store logs the refused reload', () => /names store 7, not store 2; kept the old certificate/.test(store.stderr()), 20_000);
  assert.equal(await servedSerial(store.kvAddress), served);
  assert.equal(store.proc.exitCode, null, 'the store still runs');
  await dataIntact();
});
