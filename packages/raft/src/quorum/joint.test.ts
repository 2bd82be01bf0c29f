import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Prng } from '../prng.js';
import type { NodeId } from '../types.js';
import { jointCommittedIndex, jointVoteResult, type JointVoters } from './joint.js';
import { VoteResult } from './majority.js';

function ackMap(entries: Record<number, number>): (id: NodeId) => number | undefined {
  return (id) => entries[id];
}

function isMajorityAtLeast(voters: readonly NodeId[], acked: (id: NodeId) => number | undefined, i: number): boolean {
  if (voters.length === 0) return true;
  return voters.filter((id) => (acked(id) ?? 0) >= i).length * 2 > voters.length;
}

// Reference model: the largest index that both halves' majorities have reached, by search.
function refJointCommitted(cfg: JointVoters, acked: (id: NodeId) => number | undefined): number {
  if (cfg.incoming.length === 0 && cfg.outgoing.length === 0) return Number.MAX_SAFE_INTEGER;
  let best = 0;
  for (let i = 0; i <= 20; i++) {
    if (isMajorityAtLeast(cfg.incoming, acked, i) && isMajorityAtLeast(cfg.outgoing, acked, i)) best = i;
  }
  return best;
}

// Reference model: enumerate every way the missing votes (of either half) could go.
function refJointVote(cfg: JointVoters, votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  const all = [...new Set([...cfg.incoming, ...cfg.outgoing])];
  const missing = all.filter((id) => !votes.has(id));
  const outcomes = 1 << missing.length;
  let wins = 0;
  for (let mask = 0; mask < outcomes; mask++) {
    const filled = new Map(votes);
    missing.forEach((id, bit) => filled.set(id, ((mask >> bit) & 1) === 1));
    const halfWins = (voters: readonly NodeId[]): boolean =>
      voters.length === 0 || voters.filter((id) => filled.get(id) === true).length * 2 > voters.length;
    if (halfWins(cfg.incoming) && halfWins(cfg.outgoing)) wins++;
  }
  if (wins === outcomes) return VoteResult.Won;
  if (wins === 0) return VoteResult.Lost;
  return VoteResult.Pending;
}

function randomVoters(rng: Prng): NodeId[] {
  const out: NodeId[] = [];
  for (let id = 1; id <= 7; id++) if (rng.chance(0.45)) out.push(id);
  return out;
}

test('joint commit index is the minimum of both majorities', () => {
  const cfg = { incoming: [1, 2, 3], outgoing: [1, 4, 5] };
  // incoming majority reached 9, outgoing majority only 2.
  assert.equal(jointCommittedIndex(cfg, ackMap({ 1: 9, 2: 9, 3: 1, 4: 2, 5: 2 })), 2);
  assert.equal(jointCommittedIndex(cfg, ackMap({ 1: 3, 2: 3, 3: 1, 4: 8, 5: 8 })), 3);
});

test('a non-joint config commits by its incoming majority alone', () => {
  assert.equal(jointCommittedIndex({ incoming: [1, 2, 3], outgoing: [] }, ackMap({ 1: 5, 2: 4 })), 4);
});

test('joint vote is won only when both halves won', () => {
  const cfg = { incoming: [1, 2, 3], outgoing: [3, 4, 5] };
  const votes = new Map<NodeId, boolean>([[1, true], [2, true]]);
  assert.equal(jointVoteResult(cfg, votes), VoteResult.Pending);
  votes.set(3, true);
  votes.set(4, true);
  assert.equal(jointVoteResult(cfg, votes), VoteResult.Won);
});

test('joint vote is lost as soon as either half lost', () => {
  const cfg = { incoming: [1, 2, 3], outgoing: [3, 4, 5] };
  const votes = new Map<NodeId, boolean>([[1, true], [2, true], [3, true], [4, false], [5, false]]);
  assert.equal(jointVoteResult(cfg, votes), VoteResult.Lost);
});

test('joint commit index matches the search reference model on random configs', () => {
  const rng = new Prng(3);
  for (let i = 0; i < 3000; i++) {
    const cfg = { incoming: randomVoters(rng), outgoing: randomVoters(rng) };
    const acks: Record<number, number> = {};
    for (let id = 1; id <= 7; id++) if (rng.chance(0.8)) acks[id] = rng.int(15);
    const acked = ackMap(acks);
    assert.equal(jointCommittedIndex(cfg, acked), refJointCommitted(cfg, acked), `case ${i}`);
  }
});

test('joint vote result matches the enumerate-all-outcomes reference model on random configs', () => {
  const rng = new Prng(4);
  for (let i = 0; i < 3000; i++) {
    const cfg = { incoming: randomVoters(rng), outgoing: randomVoters(rng) };
    const votes = new Map<NodeId, boolean>();
    for (let id = 1; id <= 8; id++) if (rng.chance(0.5)) votes.set(id, rng.chance(0.5));
    assert.equal(jointVoteResult(cfg, votes), refJointVote(cfg, votes), `case ${i}`);
  }
});
