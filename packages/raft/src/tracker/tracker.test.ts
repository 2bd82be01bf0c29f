import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NodeId } from '../types.js';
import { VoteResult } from '../quorum/index.js';
import { Progress } from './progress.js';
import { ProgressTracker, type TrackerConfig } from './tracker.js';

function tracker(cfg: Partial<TrackerConfig>, match: Record<number, number> = {}): ProgressTracker {
  const t = new ProgressTracker(8, 0);
  t.config = { incoming: [], outgoing: [], learners: [], learnersNext: [], autoLeave: false, ...cfg };
  // Insert progress in descending id order so Map insertion order differs from id order.
  const ids = [...new Set([...t.config.incoming, ...t.config.outgoing, ...t.config.learners])].sort((a, b) => b - a);
  for (const id of ids) {
    const pr = new Progress(1, 8, 0, t.config.learners.includes(id));
    pr.match = match[id] ?? 0;
    t.progress.set(id, pr);
  }
  return t;
}

test('commit index counts voters only, never learners', () => {
  const t = tracker({ incoming: [1, 2, 3], learners: [4, 5] }, { 1: 9, 2: 1, 3: 1, 4: 9, 5: 9 });
  assert.equal(t.committed(), 1);
});

test('joint commit index is the minimum of both majorities', () => {
  const t = tracker({ incoming: [1, 2, 3], outgoing: [3, 4, 5] }, { 1: 9, 2: 9, 3: 4, 4: 4, 5: 1 });
  assert.equal(t.committed(), 4);
});

test('visit walks voters and learners in ascending id order, each once', () => {
  const t = tracker({ incoming: [2, 5, 9], outgoing: [1, 5, 7], learners: [3, 8], learnersNext: [7] });
  const seen: NodeId[] = [];
  t.visit((id, pr) => {
    seen.push(id);
    assert.equal(pr, t.progress.get(id));
  });
  assert.deepEqual(seen, [1, 2, 3, 5, 7, 8, 9]);
});

test('visit fails loudly when a member has no progress', () => {
  const t = tracker({ incoming: [1, 2] });
  t.progress.delete(2);
  assert.throws(() => t.visit(() => {}), /member 2 has no progress/);
});

test('voter ids are the sorted union of both halves', () => {
  const t = tracker({ incoming: [2, 5], outgoing: [1, 5, 7], learners: [3], learnersNext: [7] });
  assert.deepEqual(t.voterIds(), [1, 2, 5, 7]);
});

test('a node demoted through learnersNext is still a voter, not yet a learner', () => {
  const t = tracker({ incoming: [1, 2], outgoing: [1, 2, 3], learnersNext: [3], learners: [4] });
  assert.deepEqual([t.isVoter(3), t.isLearner(3)], [true, false]);
  assert.deepEqual([t.isVoter(4), t.isLearner(4)], [false, true]);
  assert.deepEqual([t.isVoter(9), t.isLearner(9)], [false, false]);
});

test('singleton means one voter and not joint', () => {
  assert.equal(tracker({ incoming: [1], learners: [2] }).isSingleton(), true);
  assert.equal(tracker({ incoming: [1], outgoing: [1, 2] }).isSingleton(), false);
  assert.equal(tracker({ incoming: [1, 2] }).isSingleton(), false);
});

test('confState mirrors the config and shares no arrays with it', () => {
  const t = tracker({ incoming: [1, 2], outgoing: [1, 2, 3], learners: [4], learnersNext: [3], autoLeave: true });
  const cs = t.confState();
  assert.deepEqual(cs, { voters: [1, 2], learners: [4], votersOutgoing: [1, 2, 3], learnersNext: [3], autoLeave: true });
  cs.voters.push(99);
  assert.deepEqual(t.config.incoming, [1, 2]);
  assert.equal(t.isJoint(), true);
});

test('quorum is active when a majority of voters were recently active, learners ignored', () => {
  const t = tracker({ incoming: [1, 2, 3], learners: [4, 5] });
  for (const id of [1, 4, 5]) t.progress.get(id)!.recentActive = true;
  assert.equal(t.quorumActive(), false);
  t.progress.get(3)!.recentActive = true;
  assert.equal(t.quorumActive(), true);
});

test('a joint quorum is active only when both halves are', () => {
  const t = tracker({ incoming: [1, 2, 3], outgoing: [1, 4, 5] });
  for (const id of [1, 2, 3]) t.progress.get(id)!.recentActive = true;
  assert.equal(t.quorumActive(), false);
  t.progress.get(4)!.recentActive = true;
  assert.equal(t.quorumActive(), true);
});

test('the first vote from a node counts, later ones are ignored', () => {
  const t = tracker({ incoming: [1, 2, 3] });
  t.recordVote(1, true);
  t.recordVote(2, false);
  t.recordVote(2, true);
  assert.deepEqual(t.tallyVotes(), { granted: 1, rejected: 1, result: VoteResult.Pending });
  t.recordVote(3, true);
  assert.deepEqual(t.tallyVotes(), { granted: 2, rejected: 1, result: VoteResult.Won });
});

test('votes from learners and strangers are not tallied', () => {
  const t = tracker({ incoming: [1, 2, 3], learners: [4] });
  t.recordVote(4, true);
  t.recordVote(9, true);
  t.recordVote(1, true);
  assert.deepEqual(t.tallyVotes(), { granted: 1, rejected: 0, result: VoteResult.Pending });
});

test('a joint election is lost when the outgoing half rejects', () => {
  const t = tracker({ incoming: [1, 2, 3], outgoing: [3, 4, 5] });
  for (const id of [1, 2, 3]) t.recordVote(id, true);
  t.recordVote(4, false);
  t.recordVote(5, false);
  assert.deepEqual(t.tallyVotes(), { granted: 3, rejected: 2, result: VoteResult.Lost });
});

test('resetVotes starts a fresh election', () => {
  const t = tracker({ incoming: [1, 2, 3] });
  t.recordVote(1, false);
  t.resetVotes();
  t.recordVote(1, true);
  assert.deepEqual(t.tallyVotes(), { granted: 1, rejected: 0, result: VoteResult.Pending });
});
