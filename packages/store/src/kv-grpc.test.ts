// The KV and admin gRPC servers' decode step: a request holding a number its field cannot
// take (over 2^53, over 32 bits, not a member of its enum) is answered INVALID_ARGUMENT
// naming the field, and never reaches the service.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { kvService, storeAdminService } from '@rangekv/proto';
import { addAdminService } from './admin-grpc.js';
import type { AdminService } from './admin-service.js';
import { addKvService } from './kv-grpc.js';
import type { KvService } from './kv-service.js';
import { silentLogger } from '@rangekv/runtime';

function varint(v: bigint): number[] {
  const out: number[] = [];
  for (; v >= 0x80n; v >>= 7n) out.push(Number(v & 0x7fn) | 0x80);
  out.push(Number(v));
  return out;
}

/** A service whose every method fails the test: a refused request must not reach it. */
function untouchable<T>(): T {
  return new Proxy({}, { get: (_, name) => () => assert.fail(`service method ${String(name)} called`) }) as T;
}

async function serve(): Promise<{ address: string; stop: () => void }> {
  const server = new grpc.Server();
  addKvService(server, untouchable<KvService>(), silentLogger);
  addAdminService(server, untouchable<AdminService>(), silentLogger);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });
  return { address: `127.0.0.1:${port}`, stop: () => server.forceShutdown() };
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

test('out-of-range numbers in KV and admin requests are INVALID_ARGUMENT naming the field', async () => {
  const { address, stop } = await serve();
  try {
    const cases: Array<[string, number[], RegExp]> = [
      // GetRequest{header{read_consistency: 2^32}}: not truncated to LINEARIZABLE.
      [kvService.get.path, [0x0a, 6, 0x18, ...varint(2n ** 32n)], /GetRequest\.header\.readConsistency: int32 varint 4294967296/],
      // PutRequest{header{read_consistency: 9}}
      [kvService.put.path, [0x0a, 2, 0x18, 9], /PutRequest\.header\.readConsistency: 9 is not a rangekv\.meta\.ReadConsistency/],
      // ScanRequest{limit: 2^32}
      [kvService.scan.path, [0x20, ...varint(2n ** 32n)], /ScanRequest\.limit: uint32 4294967296 does not fit 32 bits/],
      // SplitRangeRequest{new_range_id: 2^53}
      [storeAdminService.splitRange.path, [0x18, ...varint(2n ** 53n)], /SplitRangeRequest\.newRangeId: uint64 9007199254740992 is over 2\^53 - 1/],
    ];
    for (const [path, body, reason] of cases) {
      const err = await callBytes(address, path, body);
      assert.equal(err?.code, grpc.status.INVALID_ARGUMENT, path);
      assert.match(err.details, /^malformed request: rangekv\./);
      assert.match(err.details, reason);
    }
  } finally {
    stop();
  }
});
