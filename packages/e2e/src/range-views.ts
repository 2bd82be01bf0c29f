// A range as its replicas see it, read from each store's admin RangeStatus: for tests that
// aim a message at a leader or a follower (hostile-input, tls). `creds` for a TLS cluster
// (an admin certificate: RangeStatus is an admin RPC there).
import assert from 'node:assert/strict';
import type * as grpc from '@grpc/grpc-js';
import type { RangeKvClient } from '@rangekv/client';
import { adminpb, storeAdminService } from '@rangekv/proto';
import { emptyMessage, type Message } from '@rangekv/raft';
import { eventually, unary, type E2eCluster } from './cluster.js';

export interface RangeView {
  status: adminpb.RangeStatus;
  storeId: number;
}

/** Range `rangeId` on store `storeId`, or null (no replica, or the store did not answer). */
export async function rangeStatus(c: E2eCluster, storeId: number, rangeId: number, creds?: grpc.ChannelCredentials): Promise<adminpb.RangeStatus | null> {
  const res = await unary(c.stores.get(storeId)!.kvAddress, storeAdminService.rangeStatus, { rangeId }, creds).catch(() => null);
  return (res?.status as adminpb.RangeStatus | undefined) ?? null;
}

/** The leader of `rangeId` and a follower at its term with the same log, fully applied. */
export async function leaderAndFollower(c: E2eCluster, rangeId: number, creds?: grpc.ChannelCredentials): Promise<{ leader: RangeView; follower: RangeView }> {
  let out: { leader: RangeView; follower: RangeView } | null = null;
  await eventually(`a leader of range ${rangeId} with a caught-up follower`, async () => {
    const views: RangeView[] = [];
    for (const id of c.stores.keys()) {
      const st = await rangeStatus(c, id, rangeId, creds);
      if (st) views.push({ status: st, storeId: id });
    }
    const leader = views.find((v) => v.status.role === adminpb.RaftRole.LEADER);
    const follower = views.find((v) => v !== leader && leader && Number(v.status.term) === Number(leader.status.term) &&
      Number(v.status.lastIndex) === Number(leader.status.lastIndex) && Number(v.status.applied) === Number(v.status.lastIndex));
    if (!leader || !follower) return false;
    out = { leader, follower };
    return true;
  }, 30_000);
  return out!;
}

export function message(fields: Partial<Message>): Message {
  return { ...emptyMessage(), ...fields };
}

/** Keys a test wrote and must find again: `writeSome` after each step, `checkAll` to prove nothing was lost. */
export class WrittenKeys {
  private readonly written = new Map<string, string>();

  constructor(private readonly kv: () => RangeKvClient, private readonly perRound: number) {}

  get size(): number {
    return this.written.size;
  }

  async writeSome(tag: string): Promise<void> {
    for (let i = 0; i < this.perRound; i++) {
      const k = `${tag}-${i}`;
      await this.kv().put(k, `v-${k}`, { timeoutMs: 20_000 });
      this.written.set(k, `v-${k}`);
    }
  }

  /** Every key reads back its value (linearizable reads), then a few more are written. */
  async checkAll(): Promise<void> {
    for (const [k, v] of this.written) assert.equal((await this.kv().get(k, { timeoutMs: 20_000 }))?.toString(), v, `key ${k}`);
    await this.writeSome(`after-${this.written.size}`);
  }
}
