// The PD gRPC server's decode step: a request holding a number its field cannot take is
// answered INVALID_ARGUMENT naming the field, and never reaches the service (a uint64 over
// 2^53 would otherwise be rounded and blow up later, in the state machine's apply).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { pdService } from '@rangekv/proto';
import { AccessPolicy, adminTokenMetadata, silentLogger } from '@rangekv/runtime';
import { addPdService } from './pd-grpc.js';
import type { PdService } from './pd-service.js';

function varint(v: bigint): number[] {
  const out: number[] = [];
  for (; v >= 0x80n; v >>= 7n) out.push(Number(v & 0x7fn) | 0x80);
  out.push(Number(v));
  return out;
}

function callBytes(address: string, path: string, body: number[]): Promise<grpc.ServiceError | null> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, Buffer.from(body), new grpc.Metadata(),
      { deadline: Date.now() + 5_000 }, (err) => {
        client.close();
        resolve(err);
      });
  });
}

test('out-of-range numbers in PD requests are INVALID_ARGUMENT naming the field', async () => {
  const untouchable = new Proxy({}, { get: (_, name) => () => assert.fail(`PD method ${String(name)} called`) }) as PdService;
  const server = new grpc.Server();
  addPdService(server, untouchable, silentLogger);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });
  try {
    const cases: Array<[string, number[], RegExp]> = [
      // AllocIdsRequest{count: 2^32}
      [pdService.allocIds.path, [0x08, ...varint(2n ** 32n)], /AllocIdsRequest\.count: uint32 4294967296 does not fit 32 bits/],
      // GetStoreRequest{store_id: 2^64 - 1}
      [pdService.getStore.path, [0x08, ...varint(2n ** 64n - 1n)], /GetStoreRequest\.storeId: uint64 18446744073709551615 is over 2\^53 - 1/],
      // CreateOperatorRequest{kind: 77}
      [pdService.createOperator.path, [0x08, 77], /CreateOperatorRequest\.kind: 77 is not a rangekv\.pd\.OperatorKind/],
    ];
    for (const [path, body, reason] of cases) {
      const err = await callBytes(`127.0.0.1:${port}`, path, body);
      assert.equal(err?.code, grpc.status.INVALID_ARGUMENT, path);
      assert.match(err.details, /^malformed request: rangekv\./);
      assert.match(err.details, reason);
    }
  } finally {
    server.forceShutdown();
  }
});

test('with an admin token: configuration and operators need it, reads do not', async () => {
  const token = 'admin-token-0123456789abcdef';
  const calls: string[] = [];
  const svc = new Proxy({}, { get: (_, name) => async () => { calls.push(String(name)); return {}; } }) as PdService;
  const server = new grpc.Server();
  addPdService(server, svc, silentLogger, undefined, new AccessPolicy({ clientCerts: false, adminToken: token }));
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });
  const call = (path: string, md: grpc.Metadata): Promise<grpc.ServiceError | null> => {
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    return new Promise((resolve) => {
      client.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), md, { deadline: Date.now() + 5_000 }, (err) => {
        client.close();
        resolve(err);
      });
    });
  };
  try {
    const none = new grpc.Metadata();
    const denied = await call(pdService.setConfig.path, none);
    assert.equal(denied?.code, grpc.status.UNAUTHENTICATED);
    assert.match(denied!.details, /SetConfig needs an admin certificate \(rangekv:\/\/admin\/NAME\) or the admin token/);
    assert.equal((await call(pdService.createOperator.path, adminTokenMetadata('wrong-token-0123456789')))?.code, grpc.status.UNAUTHENTICATED);
    assert.equal(await call(pdService.getConfig.path, none), null);
    assert.equal(await call(pdService.setConfig.path, adminTokenMetadata(token)), null);
    assert.equal(await call(pdService.createOperator.path, adminTokenMetadata(token)), null);
    assert.deepEqual(calls, ['getConfig', 'setConfig', 'createOperator']);
  } finally {
    server.forceShutdown();
  }
});
