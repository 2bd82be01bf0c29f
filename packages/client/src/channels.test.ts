// The channel pool: a connection the server refuses is known at once, not after
// connectTimeoutMs (the old wait cost a client a whole connect timeout per range after a
// store died).
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { pdService } from '@rangekv/proto';
import { ChannelPool } from './channels.js';

/** A loopback port with nothing listening on it (bound, then closed). */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

test('a refused connection fails the call at once as not sent, even with a connect timeout of ten minutes', { timeout: 60_000 }, async () => {
  const pool = new ChannelPool({ maxInflightPerChannel: 4, connectTimeoutMs: 600_000, maxReconnectBackoffMs: 1_000 });
  try {
    const address = `127.0.0.1:${await closedPort()}`;
    for (let i = 0; i < 2; i++) {
      // The second round is a fresh channel, as the router makes after forgetting one.
      const out = await pool.call(address, pdService.getMembers, {}, 600_000);
      assert.equal(out.ok, false);
      if (!out.ok) {
        assert.equal(out.code, grpc.status.UNAVAILABLE);
        assert.equal(out.sent, false);
        assert.match(out.details, /could not connect/);
      }
      pool.forget(address);
    }
  } finally {
    pool.close();
  }
});
