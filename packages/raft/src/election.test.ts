// Elections: randomized timeouts, one vote per term, the up-to-date check, and election
// safety (at most one leader per term) under message loss.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, bootstrapStorage, msg, rawNode, storageWithLog } from './testing/harness.js';
import { Prng } from './prng.js';
import { MessageType, StateRole, type NodeId } from './types.js';

const ELECTION_TICKS = 10;


/** Ticks a lone follower until it starts a (pre-)election; returns how many ticks that took. */
function ticksUntilCampaign(seed: number): number {
  const node = rawNode(1, bootstrapStorage([1, 2, 3]), { prng: new Prng(seed), electionTimeoutTicks: ELECTION_TICKS });
  for (let t = 1; t <= 10 * ELECTION_TICKS; t++) {
    node.tick();
    if (node.status().role !== StateRole.Follower) return t;
  }
  throw new Error(`seed ${seed}: follower never campaigned`);
}

test('a silent follower campaigns after between electionTimeout and 2*electionTimeout-1 ticks', () => {
  for (let seed = 1; seed <= 50; seed++) {
    const t = ticksUntilCampaign(seed);
    assert.ok(t >= ELECTION_TICKS && t < 2 * ELECTION_TICKS, `seed ${seed}: campaigned after ${t} ticks`);
  }
});

test('different seeds give followers different election timeouts', () => {
  const seen = new Set<number>();
  for (let seed = 1; seed <= 50; seed++) seen.add(ticksUntilCampaign(seed));
  // 50 draws from 10 values: a fixed timeout would give exactly one.
  assert.ok(seen.size >= 5, `only ${seen.size} distinct timeouts: ${[...seen].join(' ')}`);
});

test('the same seed gives the same election timeout (elections replay from a seed)', () => {
  assert.equal(ticksUntilCampaign(42), ticksUntilCampaign(42));
});

test('a group left alone elects exactly one leader, and everyone follows it', () => {
  const h = new Harness({ voters: [1, 2, 3, 4, 5] });
  h.tickAll(3 * ELECTION_TICKS);
  const leader = h.leader();
  assert.notEqual(leader, 0);
  const term = h.get(leader).status().term;
  for (const id of [1, 2, 3, 4, 5]) {
    const s = h.get(id).status();
    assert.equal(s.lead, leader, `node ${id} follows ${s.lead}`);
    assert.equal(s.term, term);
    if (id !== leader) assert.equal(s.role, StateRole.Follower);
  }
});

test('a voter grants at most one vote per term', () => {
  const node = rawNode(1, bootstrapStorage([1, 2, 3]));
  node.step(msg({ type: MessageType.Vote, from: 2, to: 1, term: 5, index: 1, logTerm: 0 }));
  node.step(msg({ type: MessageType.Vote, from: 3, to: 1, term: 5, index: 1, logTerm: 0 }));
  const answers = node.ready().messagesAfterPersist.filter((m) => m.type === MessageType.VoteResp);
  assert.deepEqual(answers.map((m) => [m.to, m.reject]), [[2, false], [3, true]]);
  assert.equal(node.status().vote, 2);
  assert.equal(node.status().term, 5);
});

test('a voter repeats its grant to the candidate it already voted for in the term', () => {
  const node = rawNode(1, bootstrapStorage([1, 2, 3]));
  node.step(msg({ type: MessageType.Vote, from: 2, to: 1, term: 5, index: 1, logTerm: 0 }));
  node.step(msg({ type: MessageType.Vote, from: 2, to: 1, term: 5, index: 1, logTerm: 0 }));
  const answers = node.ready().messagesAfterPersist.filter((m) => m.type === MessageType.VoteResp);
  assert.deepEqual(answers.map((m) => m.reject), [false, false]);
});

test('a voter denies its vote to a candidate whose log is less up to date', () => {
  // Voter's log: index 2 term 1, index 3 term 2, index 4 term 2.
  const cases: { index: number; logTerm: number; granted: boolean; why: string }[] = [
    { index: 9, logTerm: 1, granted: false, why: 'longer log but older last term' },
    { index: 3, logTerm: 2, granted: false, why: 'same last term but shorter' },
    { index: 4, logTerm: 2, granted: true, why: 'identical last entry' },
    { index: 2, logTerm: 3, granted: true, why: 'shorter log but newer last term' },
  ];
  for (const c of cases) {
    // (No check-quorum: a node restarted with a term would ignore votes for a while.)
    const node = rawNode(1, storageWithLog([1, 2, 3], [1, 2, 2]), { checkQuorum: false });
    node.step(msg({ type: MessageType.Vote, from: 2, to: 1, term: 7, index: c.index, logTerm: c.logTerm }));
    const [answer] = node.ready().messagesAfterPersist.filter((m) => m.type === MessageType.VoteResp);
    assert.ok(answer, c.why);
    assert.equal(answer.reject, !c.granted, c.why);
  }
});

test('a candidate that learns of a higher term steps down to follower in that term', () => {
  const node = rawNode(1, bootstrapStorage([1, 2, 3]), { preVote: false });
  node.campaign();
  assert.equal(node.status().role, StateRole.Candidate);
  assert.equal(node.status().term, 1);
  node.step(msg({ type: MessageType.Heartbeat, from: 3, to: 1, term: 4 }));
  const s = node.status();
  assert.deepEqual([s.role, s.term, s.lead], [StateRole.Follower, 4, 3]);
});

test('election safety: under random message loss and partitions, no term ever has two leaders', () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    for (const config of [{ preVote: false, checkQuorum: false }, { preVote: true, checkQuorum: true }]) {
      const h = new Harness({ voters: [1, 2, 3, 4, 5], seed, config });
      const rnd = new Prng(seed * 7919);
      // Who acted as leader in each term, as seen on the wire: only a leader sends these.
      const leaderOfTerm = new Map<number, NodeId>();
      h.filter = (m) => {
        if (m.type === MessageType.App || m.type === MessageType.Heartbeat || m.type === MessageType.Snap) {
          const seen = leaderOfTerm.get(m.term);
          assert.ok(seen === undefined || seen === m.from,
            `seed ${seed}: term ${m.term} has leaders ${seen} and ${m.from}`);
          leaderOfTerm.set(m.term, m.from);
        }
        return !rnd.chance(0.25);
      };
      for (let t = 0; t < 400; t++) {
        if (t % 40 === 0) {
          // Cut off whoever leads now (or someone at random) to force new elections.
          h.heal();
          h.isolate(h.leader() || 1 + rnd.int(5));
        }
        h.tickAll(1);
        if (t % 10 === 0 && h.leader() !== 0) h.get(h.leader()).propose(new Uint8Array([t & 0xff]));
      }
      assert.ok(leaderOfTerm.size >= 3, `seed ${seed}: only ${leaderOfTerm.size} terms had a leader; the scenario is too tame`);
    }
  }
});
