// Router.locate: a cache miss asks PD for the range holding the key and the ones after it
// (one ScanRanges page), so a client meeting many ranges learns them a page at a time;
// the neighbours only fill gaps in the cache.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { pdpb } from '@rangekv/proto';
import { Budget, realClock } from './backoff.js';
import type { ChannelPool } from './channels.js';
import type { PdClient } from './pd-client.js';
import { LOCATE_PREFETCH_RANGES, Router } from './router.js';

const key = (i: number): Buffer => Buffer.from(`k${String(i).padStart(4, '0')}`);

/** PD's view: ranges [k<i*10>, k<(i+1)*10>) for i in 0..n-1 (the first from the empty key, the last to it). */
function fakePd(n: number, version = 1): { pd: PdClient; scans: number } {
  const route = (i: number): pdpb.RangeRoute.$Properties => ({
    descriptor: {
      rangeId: i + 1, startKey: i === 0 ? Buffer.alloc(0) : key(i * 10), endKey: i === n - 1 ? Buffer.alloc(0) : key((i + 1) * 10),
      epoch: { confVer: 1, version }, replicas: [{ storeId: 1, replicaId: i + 1, role: 0 }],
    },
    leader: { storeId: 1, replicaId: i + 1, role: 0 },
  });
  const state = { scans: 0, pd: undefined as unknown as PdClient };
  state.pd = {
    call: async (method: string, req: { startKey: Buffer; limit: number }) => {
      assert.equal(method, 'scanRanges');
      state.scans++;
      const k = req.startKey;
      let first = 0;
      while (first < n - 1 && Buffer.compare(key((first + 1) * 10), k) <= 0) first++;
      const last = Math.min(n, first + req.limit);
      return { routes: Array.from({ length: last - first }, (_, j) => route(first + j)), more: last < n };
    },
  } as unknown as PdClient;
  return state;
}

function router(pd: PdClient, maxCachedRanges = 100_000): Router {
  return new Router(pd, {} as ChannelPool, { maxCachedRanges, rpcTimeoutMs: 1000, retryAmbiguousWrites: false, suspectStoreMs: 1000, clock: realClock });
}

const budget = (): Budget => new Budget('locate', Date.now() + 5_000, 5_000, 3, { backoffBaseMs: 1, backoffMaxMs: 5 }, realClock);

test('a cache miss learns a page of ranges: 1,000 ranges take ceil(1000 / LOCATE_PREFETCH_RANGES) PD calls, not 1,000', async () => {
  const f = fakePd(1000);
  const rt = router(f.pd);
  for (let i = 0; i < 10_000; i += 10) {
    const info = await rt.locate(key(i + 5), budget());
    assert.equal(info.rangeId, i / 10 + 1);
  }
  assert.equal(f.scans, Math.ceil(1000 / LOCATE_PREFETCH_RANGES));
});

test('prefetched neighbours never replace what the cache holds, and never evict', async () => {
  const f = fakePd(100);
  const rt = router(f.pd, 10);
  // A newer split the client heard of from a store: range 3 is now [k0020, k0025) and 200 is [k0025, k0030).
  rt.cache.insert({ rangeId: 3, startKey: key(20), endKey: key(25), epoch: { confVer: 1, version: 2 }, replicas: [], leaderStoreId: 0 });
  rt.cache.insert({ rangeId: 200, startKey: key(25), endKey: key(30), epoch: { confVer: 1, version: 2 }, replicas: [], leaderStoreId: 0 });
  const got = await rt.locate(key(5), budget());
  assert.equal(got.rangeId, 1);
  assert.equal(rt.cache.get(200)?.rangeId, 200, 'the newer halves stay');
  assert.equal(rt.cache.get(3)?.epoch.version, 2);
  assert.ok(rt.cache.size <= 10, `the cache stays within maxCachedRanges: ${rt.cache.size}`);
  assert.equal(rt.cache.lookup(key(5))?.rangeId, 1, 'the key\'s own range is cached');
});
