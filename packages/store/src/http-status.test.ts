// The HTTP status server against a fake StatusSource: routes, status codes, paging.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpStatusServer, toJson, type StatusSource, type StoreHealth } from './http-status.js';

class FakeSource implements StatusSource {
  readonly storeId = 4;
  readonly metricsContentType = 'text/plain; version=0.0.4; charset=utf-8';
  state: StoreHealth = { storeId: 4, status: 'serving', ranges: 5, leaders: 2 };
  readonly ids = [1, 2, 3, 7, 9];
  throwOnMetrics = false;

  health(): StoreHealth {
    return this.state;
  }

  ranges(after: number, limit: number): { ranges: { rangeId: number; startKey: Uint8Array }[]; next: number | null } {
    const all = this.ids.filter((id) => id > after);
    const page = all.slice(0, limit);
    return { ranges: page.map((rangeId) => ({ rangeId, startKey: Uint8Array.of(rangeId, 0xff) })), next: all.length > limit ? page[page.length - 1]! : null };
  }

  metricsText(): Promise<string> {
    if (this.throwOnMetrics) return Promise.reject(new Error('registry broke'));
    return Promise.resolve('# HELP rangekv_ranges r\n# TYPE rangekv_ranges gauge\nrangekv_ranges 5\n');
  }
}

describe('HTTP status server', () => {
  const source = new FakeSource();
  const errors: unknown[] = [];
  let h: HttpStatusServer;
  let base = '';

  before(async () => {
    h = await HttpStatusServer.start({ host: '127.0.0.1', port: 0, source, limits: { defaultDebugRangesPerPage: 2, maxDebugRangesPerPage: 3 }, onError: (e) => errors.push(e) });
    base = `http://127.0.0.1:${h.port}`;
  });

  after(async () => {
    await h.stop();
  });

  test('/metrics serves the source text with the Prometheus content type', async () => {
    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), source.metricsContentType);
    assert.match(await res.text(), /^rangekv_ranges 5$/m);
  });

  test('/health: 200 with the counts while serving, 503 with the reason otherwise', async () => {
    source.state = { storeId: 4, status: 'serving', ranges: 5, leaders: 2 };
    let res = await fetch(`${base}/health`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { storeId: 4, status: 'serving', ranges: 5, leaders: 2 });
    for (const status of ['starting', 'stopping', 'failed'] as const) {
      source.state = { storeId: 4, status, reason: `because ${status}` };
      res = await fetch(`${base}/health`);
      assert.equal(res.status, 503, status);
      assert.deepEqual(await res.json(), { storeId: 4, status, reason: `because ${status}` });
    }
    source.state = { storeId: 4, status: 'serving', ranges: 5, leaders: 2 };
  });

  test('/debug/ranges pages by range id: default page size, limit, after, next', async () => {
    const get = async (q: string): Promise<{ storeId: number; ranges: { rangeId: number; startKey: string }[]; next: number | null }> => {
      const res = await fetch(`${base}/debug/ranges${q}`);
      assert.equal(res.status, 200, q);
      return (await res.json()) as { storeId: number; ranges: { rangeId: number; startKey: string }[]; next: number | null };
    };
    const first = await get('');
    assert.deepEqual(first.ranges.map((r) => r.rangeId), [1, 2], 'defaultDebugRangesPerPage');
    assert.equal(first.next, 2);
    assert.equal(first.ranges[0]!.startKey, '01ff', 'bytes as hex');
    const second = await get(`?after=${first.next}&limit=3`);
    assert.deepEqual(second.ranges.map((r) => r.rangeId), [3, 7, 9]);
    assert.equal(second.next, null);
    assert.deepEqual((await get('?after=9')).ranges, []);
  });

  test('/debug/ranges refuses a limit above maxDebugRangesPerPage and bad numbers with 400', async () => {
    for (const q of ['?limit=4', '?limit=0', '?limit=-1', '?after=x', '?limit=1e3']) {
      const res = await fetch(`${base}/debug/ranges${q}`);
      assert.equal(res.status, 400, q);
      assert.match(await res.text(), /^bad request: /);
    }
  });

  test('unknown paths are 404, other methods 405 with Allow, HEAD has no body', async () => {
    for (const p of ['/', '/metric', '/health/x', '/debug', '/debug/ranges/1']) {
      const res = await fetch(`${base}${p}`);
      assert.equal(res.status, 404, p);
      await res.text();
    }
    const post = await fetch(`${base}/health`, { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
    await post.text();
    const head = await fetch(`${base}/health`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
  });

  test('a handler that throws answers 500 and is reported; the server keeps serving', async () => {
    source.throwOnMetrics = true;
    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 500);
    assert.match(await res.text(), /registry broke/);
    assert.equal(errors.length, 1);
    source.throwOnMetrics = false;
    assert.equal((await fetch(`${base}/metrics`)).status, 200);
  });
});

test('toJson writes byte arrays as hex, nested too', () => {
  assert.equal(toJson({ a: Uint8Array.of(0, 15, 255), b: [{ c: Buffer.from('hi') }], n: 1 }), '{"a":"000fff","b":[{"c":"6869"}],"n":1}');
});

test('stop() closes idle keep-alive connections and the port', async () => {
  const h = await HttpStatusServer.start({ host: '127.0.0.1', port: 0, source: new FakeSource() });
  const url = `http://127.0.0.1:${h.port}/health`;
  assert.equal((await fetch(url)).status, 200);
  await h.stop();
  await assert.rejects(fetch(url));
});
