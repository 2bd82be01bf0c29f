// PD membership through the client: listing, adding and removing PD members (mutating:
// never retried once sent, except after not_leader), and the client learning PD's
// members while it runs, so PD nodes replaced one by one do not strand it.
import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RangeKvClient, type RangeKvClientOptions } from './client.js';
import { AmbiguousWriteError, InvalidArgumentError, PdRequestError } from './errors.js';
import { FakeCluster } from './testing/fake-cluster.js';

async function withPds(pds: number, clientOpts: Partial<RangeKvClientOptions>, body: (c: FakeCluster, kv: RangeKvClient) => Promise<void>): Promise<void> {
  const c = await FakeCluster.start({ pds });
  let kv: RangeKvClient | undefined;
  try {
    kv = await RangeKvClient.connect({ pd: [c.pdAddress(0)], timeoutMs: 5_000, ...clientOpts });
    await body(c, kv);
  } finally {
    kv?.close();
    await c.stop();
  }
}

/** Waits (no fixed sleep: the test's own timeout bounds it) until `cond` holds. */
async function until(what: string, cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), what);
}

const count = (c: FakeCluster, method: string): number => c.pdCalls.filter((m) => m === method).length;

describe('PD members: list, add, remove', () => {
  test('listPdMembers gives each member with its role and match index, and the leader\'s commit index', async () => {
    await withPds(2, {}, async (c, kv) => {
      c.setPd(1, { notLeaderTo: c.pdAddress(0) });
      c.pdMembers.push({ id: 7, address: '', raftAddress: '127.0.0.1:9', isLearner: true, matchIndex: 40 });
      const m = await kv.listPdMembers();
      assert.equal(m.commitIndex, 100);
      assert.deepEqual(m.members.map((x) => [x.id, x.role, x.matchIndex]), [[1, 'leader', 0], [2, 'voter', 0], [7, 'learner', 40]]);
      assert.equal(m.members[0]!.address, c.pdAddress(0));
      assert.deepEqual(kv.pdAddresses(), [c.pdAddress(0), c.pdAddress(1)], 'the members\' addresses, the unknown one skipped');
    });
  });

  test('addPdMember with replaceId swaps the member in one call; removePdMember removes one; both answer the members after the change', async () => {
    await withPds(2, {}, async (c, kv) => {
      const joining = await c.startPd();
      const after = await kv.addPdMember({ id: 3, raftAddress: '127.0.0.1:2390', clientAddress: c.pdAddress(joining), replaceId: 1 });
      assert.deepEqual(after.map((m) => [m.id, m.address, m.raftAddress]), [[2, c.pdAddress(1), '127.0.0.1:23801'], [3, c.pdAddress(joining), '127.0.0.1:2390']]);
      assert.deepEqual(kv.pdAddresses().slice(0, 2), [c.pdAddress(1), c.pdAddress(joining)], 'the new member list goes first');
      const left = await kv.removePdMember(2);
      assert.deepEqual(left.map((m) => m.id), [3]);
      assert.deepEqual(c.pdMembers.map((m) => m.id), [3]);
    });
  });

  test('not_leader (nothing done) is followed to the leader: the change is made once', async () => {
    await withPds(2, {}, async (c, kv) => {
      await kv.listPdMembers(); // node 0 is the leader the client knows
      c.setPd(0, { notLeaderTo: c.pdAddress(1) });
      const after = await kv.addPdMember({ id: 3, raftAddress: '127.0.0.1:2390', clientAddress: '127.0.0.1:2391' });
      assert.deepEqual(after.map((m) => m.id), [1, 2, 3]);
      assert.equal(count(c, 'AddPdMember'), 2, 'asked at node 0 (not_leader), then at node 1');
      assert.deepEqual(c.pdCallNodes.slice(-2), [0, 1]);
    });
  });

  test('an AddPdMember that broke after it was sent is not retried: AmbiguousWriteError (it had applied)', async () => {
    await withPds(1, {}, async (c, kv) => {
      c.pdFaultHook = (_, method) => (method === 'AddPdMember' ? { code: grpc.status.UNAVAILABLE, details: 'connection reset', applyFirst: true } : undefined);
      await assert.rejects(kv.addPdMember({ id: 2, raftAddress: '127.0.0.1:2390', clientAddress: '127.0.0.1:2391' }),
        (e: unknown) => e instanceof AmbiguousWriteError && e.op === 'addPdMember');
      assert.equal(count(c, 'AddPdMember'), 1);
      assert.deepEqual(c.pdMembers.map((m) => m.id), [1, 2]);
      c.pdFaultHook = (_, method) => (method === 'RemovePdMember' ? { code: grpc.status.DEADLINE_EXCEEDED, details: 'slow' } : undefined);
      await assert.rejects(kv.removePdMember(2), AmbiguousWriteError);
      assert.equal(count(c, 'RemovePdMember'), 1);
    });
  });

  test("PD's refusal is final: PdRequestError with its status (FAILED_PRECONDITION) or its reason", async () => {
    await withPds(1, {}, async (c, kv) => {
      c.pdFaultHook = (_, method) => (method === 'RemovePdMember' ? { code: grpc.status.FAILED_PRECONDITION, details: 'membership change not supported' } : undefined);
      await assert.rejects(kv.removePdMember(1), (e: unknown) => e instanceof PdRequestError && e.code === 'FAILED_PRECONDITION');
      c.pdFaultHook = undefined;
      await assert.rejects(kv.removePdMember(9), (e: unknown) => e instanceof PdRequestError && /PD 9 is not a member/.test(e.message));
      assert.equal(count(c, 'RemovePdMember'), 2, 'each asked once');
    });
  });

  test('bad ids and addresses are refused before anything is sent', async () => {
    await withPds(1, {}, async (c, kv) => {
      const ok = { id: 2, raftAddress: '127.0.0.1:2390', clientAddress: '127.0.0.1:2391' };
      const bad: Array<[Parameters<RangeKvClient['addPdMember']>[0], RegExp]> = [
        [{ ...ok, id: 0 }, /id must be a positive integer, got 0/],
        [{ ...ok, id: 1.5 }, /id must be a positive integer/],
        [{ ...ok, id: 2 ** 53 }, /id must be a positive integer/],
        [{ ...ok, replaceId: -1 }, /replaceId must be a positive integer/],
        [{ ...ok, replaceId: 2 }, /replaceId must differ from id/],
        [{ ...ok, raftAddress: 'nohost' }, /raftAddress must be host:port/],
        [{ ...ok, clientAddress: '127.0.0.1:0' }, /clientAddress must be host:port with a port in 1\.\.65535/],
        [{ ...ok, clientAddress: '127.0.0.1:65536' }, /clientAddress/],
      ];
      for (const [member, re] of bad) await assert.rejects(kv.addPdMember(member), (e: unknown) => e instanceof InvalidArgumentError && re.test(e.message), re.source);
      await assert.rejects(kv.removePdMember(0), InvalidArgumentError);
      assert.equal(count(c, 'AddPdMember') + count(c, 'RemovePdMember'), 0);
    });
  });

  test('a change is given pdMemberChangeTimeoutMs (60 s) unless the call sets timeoutMs', async () => {
    await withPds(1, {}, async (c, kv) => {
      const deadlines: number[] = [];
      c.pdFaultHook = (_, method, deadlineMs) => {
        if (method === 'AddPdMember') deadlines.push(deadlineMs);
        return undefined;
      };
      await kv.addPdMember({ id: 2, raftAddress: '127.0.0.1:2390', clientAddress: '127.0.0.1:2391' });
      await kv.addPdMember({ id: 3, raftAddress: '127.0.0.1:2392', clientAddress: '127.0.0.1:2393' }, { timeoutMs: 3_000 });
      assert.ok(deadlines[0]! > 30_000 && deadlines[0]! <= 60_000, `default: ${deadlines[0]}`);
      assert.ok(deadlines[1]! <= 3_000, `given: ${deadlines[1]}`);
    });
  });
});

describe('PD members learned while the client runs', () => {
  test('a client given A, B, C keeps working after they were replaced one by one by D, E, F', async () => {
    const c = await FakeCluster.start({ pds: 3 });
    let kv: RangeKvClient | undefined;
    try {
      const [a, b, cc] = [0, 1, 2].map((i) => c.pdAddress(i));
      kv = await RangeKvClient.connect({ pd: [a!, b!, cc!], timeoutMs: 5_000, pdMemberRefreshMs: 10, maxPdAddresses: 3 });
      const client = kv;
      for (const old of [0, 1, 2]) {
        const node = await c.startPd();
        c.pdMembers = [...c.pdMembers.filter((m) => m.id !== old + 1), { id: node + 1, address: c.pdAddress(node), raftAddress: '', isLearner: false, matchIndex: 0 }];
        await until(`the client learns PD ${node + 1}`, () => client.pdAddresses()[2] === c.pdAddress(node));
        c.stopPd(old);
      }
      assert.deepEqual(kv.pdAddresses(), [3, 4, 5].map((i) => c.pdAddress(i)), 'only the members are left: A, B and C fell off (maxPdAddresses 3)');
      c.pdCallNodes.length = 0;
      await kv.put('k', 'v');
      assert.equal((await kv.getRange('k')).rangeId, 1);
      assert.ok(c.pdCallNodes.length > 0 && c.pdCallNodes.every((i) => i >= 3), `PD calls went to D, E, F: ${c.pdCallNodes.join(',')}`);
    } finally {
      kv?.close();
      await c.stop();
    }
  });

  test('pdMemberRefreshMs and maxPdAddresses must be positive integers', async () => {
    for (const bad of [{ pdMemberRefreshMs: 0 }, { maxPdAddresses: 1.5 }, { pdMemberChangeTimeoutMs: -1 }]) {
      await assert.rejects(RangeKvClient.connect({ pd: ['127.0.0.1:1'], ...bad }), (e: unknown) => e instanceof RangeError && new RegExp(Object.keys(bad)[0]!).test(e.message));
    }
    await assert.rejects(RangeKvClient.connect({ pd: ['127.0.0.1:1', '127.0.0.1:2'], maxPdAddresses: 1 }), /more than maxPdAddresses/);
  });
});
