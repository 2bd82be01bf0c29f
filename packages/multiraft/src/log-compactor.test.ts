// The compaction policy (chooseCompactIndex) as a table of cases, the worked example of
// log-compactor.ts among them, and limits validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { StorageEngine } from '@rangekv/storage';
import { silentLogger } from '@rangekv/runtime';
import { chooseCompactIndex, LogCompactor, resolveLogCompactionLimits, type LogCompactionLimits } from './log-compactor.js';
import type { RaftScheduler } from './raft-scheduler.js';

const l: LogCompactionLimits = resolveLogCompactionLimits({
  logCompactionCheckTicks: 1, logCompactionThresholdEntries: 100, logCompactionKeepEntries: 100, maxFollowerLagEntries: 500,
});

test('the worked example: a follower beyond maxFollowerLagEntries does not hold compaction back', () => {
  assert.equal(chooseCompactIndex({ firstIndex: 1, applied: 1000, followerMatches: [990, 300] }, l), 900);
  assert.equal(chooseCompactIndex({ firstIndex: 1, applied: 1000, followerMatches: [990, 600] }, l), 600);
});

test('nothing to do at or under the threshold of applied entries in the log', () => {
  assert.equal(chooseCompactIndex({ firstIndex: 1, applied: 100, followerMatches: null }, l), null);
  assert.equal(chooseCompactIndex({ firstIndex: 901, applied: 1000, followerMatches: null }, l), null);
  assert.equal(chooseCompactIndex({ firstIndex: 900, applied: 1000, followerMatches: null }, l), 900);
});

test('a follower replica compacts to applied - keep; a leader never past a healthy follower\'s match', () => {
  assert.equal(chooseCompactIndex({ firstIndex: 1, applied: 5000, followerMatches: null }, l), 4900);
  assert.equal(chooseCompactIndex({ firstIndex: 1, applied: 5000, followerMatches: [4999, 5000] }, l), 4900);
  assert.equal(chooseCompactIndex({ firstIndex: 1, applied: 5000, followerMatches: [4600] }, l), 4600);
  // The healthy follower is below firstIndex: nothing may go.
  assert.equal(chooseCompactIndex({ firstIndex: 4000, applied: 4300, followerMatches: [3950] }, l), null);
  // Exactly at the lag bound still counts as healthy; one more is not.
  assert.equal(chooseCompactIndex({ firstIndex: 1, applied: 5000, followerMatches: [4500] }, l), 4500);
  assert.equal(chooseCompactIndex({ firstIndex: 1, applied: 5000, followerMatches: [4499] }, l), 4900);
  // A follower ahead of our applied index (it acked entries we have not applied yet).
  assert.equal(chooseCompactIndex({ firstIndex: 1, applied: 5000, followerMatches: [5100] }, l), 4900);
});

test('keep 0 compacts through applied; limits must be non-negative integers', () => {
  const k0 = { ...l, logCompactionKeepEntries: 0 };
  assert.equal(chooseCompactIndex({ firstIndex: 1, applied: 500, followerMatches: [] }, k0), 500);
  assert.throws(() => resolveLogCompactionLimits({ logCompactionKeepEntries: -1 }), RangeError);
  assert.throws(() => resolveLogCompactionLimits({ maxFollowerLagEntries: 1.5 }), RangeError);
});

test('a range whose apply is running is not compacted (the storage\'s applied index is ahead of raft\'s then); it is once the apply is done', async () => {
  const compacted: [number, number][] = [];
  const engine = { compactLog: async (rangeId: number, index: number) => { compacted.push([rangeId, index]); } } as unknown as StorageEngine;
  const replica = {
    rangeId: 7, destroyed: false, blocked: false, applying: true, isLeader: false,
    log: { descriptor: {}, appliedIndex: 1000, firstIndex: () => 1 },
  };
  const scheduler = { all: () => [replica] } as unknown as RaftScheduler<unknown>;
  const c = new LogCompactor(engine, scheduler, l, silentLogger);
  c.checkAll();
  assert.deepEqual(compacted, [], 'apply running: nothing compacted');
  replica.applying = false;
  c.checkAll();
  assert.deepEqual(compacted, [[7, 900]]);
  await c.stop();
});
