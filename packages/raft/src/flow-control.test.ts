// Per-follower flow control and the leader's size limits: a probing follower gets one
// append per heartbeat interval, a replicating one a bounded in-flight window (messages and
// bytes), a follower receiving a snapshot gets no appends; proposals are bounded by
// maxEntryBytes and by the bytes of uncommitted entries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness } from './testing/harness.js';
import { DropReason, MessageType, ProgressState, type Message, type NodeId } from './types.js';
import { ENTRY_OVERHEAD_BYTES } from './util.js';

const bytes = (n: number): Uint8Array => new Uint8Array(n).fill(7);

/** Holds back every App to `to` (they stay in flight, in order) and returns them. */
function holdAppsTo(h: Harness, to: NodeId): Message[] {
  const held: Message[] = [];
  h.filter = (m) => {
    if (m.type === MessageType.App && m.to === to) {
      held.push(m);
      return false;
    }
    return true;
  };
  return held;
}

/** The window counts Apps that carry entries (an empty App is a bare commit update). */
const withEntries = (ms: Message[]): Message[] => ms.filter((m) => m.entries.length > 0);

test('a probing follower gets at most one App per heartbeat interval', () => {
  const HEARTBEAT_TICKS = 2;
  const h = new Harness({ config: { heartbeatIntervalTicks: HEARTBEAT_TICKS } });
  // 3's answers to appends are lost, so the leader never learns where its log ends.
  const toThree: Message[] = [];
  h.filter = (m) => {
    if (m.type === MessageType.App && m.to === 3) toThree.push(m);
    return !(m.type === MessageType.AppResp && m.from === 3);
  };
  h.elect(1);
  assert.equal(toThree.length, 1, 'the first probe');
  for (let i = 0; i < 5; i++) h.put(1, `p${i}`);
  assert.equal(toThree.length, 1, 'proposals add nothing while the probe is unanswered');
  assert.equal(h.get(1).status().progress!.get(3)!.state, ProgressState.Probe);

  for (let interval = 1; interval <= 4; interval++) {
    h.tickAll(HEARTBEAT_TICKS);
    assert.equal(toThree.length, 1 + interval, `after ${interval} heartbeat intervals`);
  }
});

test('a replicating follower has at most maxInflightMsgs Apps in flight', () => {
  const h = new Harness({ config: { maxInflightMsgs: 3 } });
  h.elect(1);
  h.put(1, 'warm-up'); // 2 is in replicate state now
  assert.equal(h.get(1).status().progress!.get(2)!.state, ProgressState.Replicate);
  const held = holdAppsTo(h, 2); // in flight: sent, not yet delivered
  for (let i = 0; i < 10; i++) h.put(1, `e${i}`);
  assert.equal(withEntries(held).length, 3);
  assert.equal(h.get(1).status().commit, h.get(1).status().lastIndex, '1 and 3 commit meanwhile');

  // The window drains as the acks come back, and the rest follows.
  h.filter = null;
  for (const m of held) h.deliver(m);
  h.settle();
  assert.equal(h.appliedData(2).length, 11);
});

test('a replicating follower has at most maxInflightBytes bytes of entries in flight', () => {
  const ENTRY_BYTES = 100 + ENTRY_OVERHEAD_BYTES;
  const h = new Harness({ config: { maxInflightMsgs: 100, maxInflightBytes: 3 * ENTRY_BYTES - 1 } });
  h.elect(1);
  h.put(1, 'warm-up');
  const held = holdAppsTo(h, 2);
  for (let i = 0; i < 10; i++) assert.ok(h.get(1).propose(bytes(100)).ok);
  h.settle();
  // Two messages (248 bytes) leave room; the third fills the window (372 >= 371).
  assert.equal(withEntries(held).length, 3);
  h.filter = null;
  for (const m of held) h.deliver(m);
  h.settle();
  assert.equal(h.get(1).status().progress!.get(2)!.match, h.get(1).status().lastIndex);
});

test('a follower in snapshot state gets no appends until the snapshot is reported', () => {
  const h = new Harness();
  h.elect(1);
  h.isolate(3);
  h.put(1, 'a');
  h.compact(1);
  h.heal();
  // The snapshot is lost on the way.
  const seen: Message[] = [];
  h.filter = (m) => {
    if (m.to === 3 && (m.type === MessageType.App || m.type === MessageType.Snap)) seen.push(m);
    return m.type !== MessageType.Snap;
  };
  h.tickAll(1); // a probe, rejected (3's log ends before our first index), then the snapshot
  assert.equal(seen[seen.length - 1]!.type, MessageType.Snap);
  assert.equal(h.get(1).status().progress!.get(3)!.state, ProgressState.Snapshot);
  const sentBefore = seen.length;
  for (let i = 0; i < 3; i++) h.put(1, `b${i}`);
  h.tickAll(5);
  assert.deepEqual(seen.slice(sentBefore), [], 'nothing more while the snapshot is pending');

  h.get(1).reportSnapshot(3, false);
  h.filter = null;
  h.tickAll(3);
  assert.equal(h.get(1).status().progress!.get(3)!.match, h.get(1).status().lastIndex, 'caught up after the retry');
});

test('the uncommitted-size cap drops a proposal that would exceed maxUncommittedEntriesBytes', () => {
  const h = new Harness({ config: { maxUncommittedEntriesBytes: 1000 } });
  h.elect(1);
  h.isolate(2);
  h.isolate(3); // nothing commits
  assert.ok(h.get(1).propose(bytes(600)).ok);
  const r = h.get(1).propose(bytes(600));
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.reason, DropReason.UncommittedSizeLimit);
  assert.ok(h.get(1).propose(bytes(400)).ok, 'exactly at the cap is fine');
  const r2 = h.get(1).propose(bytes(1));
  assert.equal(!r2.ok && r2.reason, DropReason.UncommittedSizeLimit);
});

test('the uncommitted-size cap never refuses an empty entry', () => {
  const h = new Harness({ config: { maxUncommittedEntriesBytes: 1000 } });
  h.elect(1);
  h.isolate(2);
  h.isolate(3);
  assert.ok(h.get(1).propose(bytes(1500)).ok, 'alone it may exceed the cap');
  assert.equal(h.get(1).propose(bytes(1)).ok, false);
  assert.ok(h.get(1).propose(new Uint8Array(0)).ok, 'over the cap, an empty entry still goes');
});

test('the uncommitted-size cap frees its bytes once the entries commit', () => {
  const h = new Harness({ config: { maxUncommittedEntriesBytes: 1000 } });
  h.elect(1);
  h.isolate(3);
  h.isolate(2);
  assert.ok(h.get(1).propose(bytes(900)).ok);
  assert.equal(h.get(1).propose(bytes(900)).ok, false);
  h.heal();
  h.tickAll(2);
  assert.ok(h.get(1).propose(bytes(900)).ok);
});

test('a proposal larger than the cap is accepted when nothing is uncommitted (else it could never go)', () => {
  const h = new Harness({ config: { maxUncommittedEntriesBytes: 1000 } });
  h.elect(1);
  assert.ok(h.get(1).propose(bytes(5000)).ok);
});

test('maxEntryBytes: a bigger entry is dropped with EntryTooLarge and nothing of its batch is appended', () => {
  const h = new Harness({ config: { maxEntryBytes: 100 } });
  h.elect(1);
  const last = h.get(1).status().lastIndex;
  assert.ok(h.get(1).propose(bytes(100)).ok);
  const r = h.get(1).propose(bytes(101));
  assert.equal(!r.ok && r.reason, DropReason.EntryTooLarge);
  const rb = h.get(1).proposeBatch([bytes(10), bytes(101), bytes(10)]);
  assert.equal(!rb.ok && rb.reason, DropReason.EntryTooLarge);
  assert.equal(h.get(1).status().lastIndex, last + 1);
});
