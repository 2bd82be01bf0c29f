// The service definitions of @rangekv/proto work with grpc-js as they are (lives here
// because this package depends on grpc-js and the proto package does not).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { kvService, metapb, type kvpb } from '@rangekv/proto';

test('a Kv Get served and called through grpc-js with the generated service definition', async () => {
  const server = new grpc.Server();
  server.addService(kvService, {
    get: (call: grpc.ServerUnaryCall<kvpb.GetRequest.$Properties, kvpb.GetResponse.$Properties>,
      cb: grpc.sendUnaryData<kvpb.GetResponse.$Properties>) => {
      const req = call.request;
      if (req.header?.rangeId !== 7) {
        cb(null, { rangeError: { message: 'moved', rangeNotFound: { rangeId: req.header?.rangeId ?? 0 } } });
        return;
      }
      cb(null, { found: true, value: new Uint8Array([...(req.key ?? []), 42]) });
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });
  const Client = grpc.makeGenericClientConstructor(kvService, 'Kv');
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const get = (req: kvpb.GetRequest.$Properties) => new Promise<kvpb.GetResponse.$Properties>((resolve, reject) => {
    client.makeUnaryRequest(kvService.get.path, kvService.get.requestSerialize, kvService.get.responseDeserialize, req,
      (err: grpc.ServiceError | null, res?: kvpb.GetResponse.$Properties) => (err || !res ? reject(err) : resolve(res)));
  });
  try {
    const ok = await get({ header: { rangeId: 7, readConsistency: metapb.ReadConsistency.LEASE }, key: new Uint8Array([1]) });
    assert.equal(ok.found, true);
    assert.deepEqual([...(ok.value ?? [])], [1, 42]);
    const moved = await get({ header: { rangeId: 8 }, key: new Uint8Array([1]) });
    assert.equal(moved.rangeError?.rangeNotFound?.rangeId, 8);
    assert.equal(moved.found, false);
  } finally {
    client.close();
    await new Promise<void>((r) => server.tryShutdown(() => r()));
  }
});
