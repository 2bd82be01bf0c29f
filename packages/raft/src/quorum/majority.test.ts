import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Prng } from '../prng.js';
import type { NodeId } from '../types.js';
import { majorityCommittedIndex, majorityVoteResult, VoteResult } from './majority.js';

function ackMap(entries: Record<number, number>): (id: NodeId) => number | undefined {
  return (id) => entries[id];
}

function voteMap(granted: NodeId[], rejected: NodeId[]): Map<NodeId, boolean> {
  const m = new Map<NodeId, boolean>();
  for (const id of granted) m.set(id, true);
  for (const id of rejected) m.set(id, false);
  return m;
}

// Reference model: the largest candidate index that at least a strict majority has reached,
// found by counting rather than sorting.
function refCommitted(voters: NodeId[], acked: (id: NodeId) => number | undefined): number {
  if (voters.length === 0) return Number.MAX_SAFE_INTEGER;
  let best = 0;
  for (const candidate of voters.map((id) => acked(id) ?? 0)) {
    const reached = voters.filter((id) => (acked(id) ?? 0) >= candidate).length;
    if (reached * 2 > voters.length && candidate > best) best = candidate;
  }
  return best;
}

// Reference model: try every way the missing votes could still go.
function refVote(voters: NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  if (voters.length === 0) return VoteResult.Won;
  const missing = voters.filter((id) => !votes.has(id));
  let wins = 0;
  const outcomes = 1 << missing.length;
  for (let mask = 0; mask < outcomes; mask++) {
    let granted = 0;
    for (const id of voters) {
      const v = votes.get(id);
      const g = v === undefined ? (mask >> missing.indexOf(id)) & 1 : v ? 1 : 0;
      granted += g;
    }
    if (granted * 2 > voters.length) wins++;
  }
  if (wins === outcomes) return VoteResult.Won;
  if (wins === 0) return VoteResult.Lost;
  return VoteResult.Pending;
}

function randomVoters(rng: Prng, maxSize: number): NodeId[] {
  const out: NodeId[] = [];
  const size = rng.int(maxSize + 1);
  for (let id = 1; out.length < size; id++) if (rng.chance(0.6)) out.push(id);
  return out;
}

test('committed index is the largest index a majority has acked', () => {
  assert.equal(majorityCommittedIndex([1, 2, 3], ackMap({ 1: 7, 2: 5, 3: 9 })), 7);
  assert.equal(majorityCommittedIndex([1, 2, 3, 4], ackMap({ 1: 7, 2: 5, 3: 9, 4: 8 })), 7);
  assert.equal(majorityCommittedIndex([1, 2, 3, 4, 5], ackMap({ 1: 1, 2: 2, 3: 3, 4: 4, 5: 5 })), 3);
});

test('a single voter commits whatever it has acked', () => {
  assert.equal(majorityCommittedIndex([4], ackMap({ 4: 12 })), 12);
});

test('a voter without an ack counts as index 0', () => {
  assert.equal(majorityCommittedIndex([1, 2, 3], ackMap({ 1: 10 })), 0);
  assert.equal(majorityCommittedIndex([1, 2, 3], ackMap({ 1: 10, 3: 4 })), 4);
});

test('acks from non-voters do not count towards the commit index', () => {
  assert.equal(majorityCommittedIndex([1, 2, 3], ackMap({ 1: 10, 4: 10, 5: 10 })), 0);
});

test('an empty voter set commits everything so it is neutral in a joint min', () => {
  assert.equal(majorityCommittedIndex([], ackMap({})), Number.MAX_SAFE_INTEGER);
});

test('committed index works beyond the scratch buffer size', () => {
  const voters = Array.from({ length: 21 }, (_, i) => i + 1);
  // ids 1..21 acked 1..21: the 11 voters 11..21 have at least 11.
  assert.equal(majorityCommittedIndex(voters, (id) => id), 11);
});

test('committed index matches the counting reference model on random configs', () => {
  const rng = new Prng(1);
  for (let i = 0; i < 3000; i++) {
    const voters = randomVoters(rng, i % 10 === 0 ? 20 : 7);
    const acks: Record<number, number> = {};
    for (const id of voters) if (rng.chance(0.85)) acks[id] = rng.int(12);
    const acked = ackMap(acks);
    assert.equal(majorityCommittedIndex(voters, acked), refCommitted(voters, acked), `case ${i}`);
  }
});

test('a vote is won once a majority granted, even with votes missing', () => {
  assert.equal(majorityVoteResult([1, 2, 3], voteMap([1, 2], [])), VoteResult.Won);
  assert.equal(majorityVoteResult([1, 2, 3, 4, 5], voteMap([1, 3, 5], [2, 4])), VoteResult.Won);
});

test('a vote is lost once rejections make a majority impossible', () => {
  assert.equal(majorityVoteResult([1, 2, 3], voteMap([], [2, 3])), VoteResult.Lost);
  // Four voters need three grants; two rejections leave at most two.
  assert.equal(majorityVoteResult([1, 2, 3, 4], voteMap([1], [2, 3])), VoteResult.Lost);
});

test('a vote is pending while the missing votes could still decide it', () => {
  assert.equal(majorityVoteResult([1, 2, 3], voteMap([1], [2])), VoteResult.Pending);
  assert.equal(majorityVoteResult([1, 2, 3, 4], voteMap([1, 2], [3])), VoteResult.Pending);
});

test('votes from non-voters are ignored', () => {
  assert.equal(majorityVoteResult([1, 2, 3], voteMap([1, 7, 8], [])), VoteResult.Pending);
});

test('an empty voter set wins every vote', () => {
  assert.equal(majorityVoteResult([], voteMap([], [1])), VoteResult.Won);
});

test('vote result matches the enumerate-all-outcomes reference model on random configs', () => {
  const rng = new Prng(2);
  for (let i = 0; i < 3000; i++) {
    const voters = randomVoters(rng, 7);
    const votes = new Map<NodeId, boolean>();
    for (let id = 1; id <= 12; id++) if (rng.chance(0.5)) votes.set(id, rng.chance(0.5));
    assert.equal(majorityVoteResult(voters, votes), refVote(voters, votes), `case ${i}`);
  }
});
