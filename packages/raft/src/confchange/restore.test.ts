import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Prng } from '../prng.js';
import { type ConfChangeSingle, ConfChangeType, type ConfState } from '../types.js';
import { type ChangeResult, ConfChangeError, enterJoint, leaveJoint, simpleChange } from './changer.js';
import { restoreConfig } from './restore.js';
import { describeConfig, newTracker } from './testing.js';

function confState(cs: Partial<ConfState>): ConfState {
  return { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false, ...cs };
}

test('restore rebuilds a joint config with learners and learnersNext', () => {
  const r = restoreConfig(
    confState({ voters: [1, 2, 3], learners: [5], votersOutgoing: [1, 2, 4, 6], learnersNext: [4], autoLeave: true }),
    20,
    8,
    0,
  );
  assert.equal(describeConfig(r.config), 'voters=(1 2 3)&&(1 2 4 6) learners=(5) learners_next=(4) autoleave');
  assert.deepEqual([...r.progress.keys()].sort((a, b) => a - b), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual([r.progress.get(4)!.isLearner, r.progress.get(5)!.isLearner], [false, true]);
  assert.deepEqual([r.progress.get(3)!.next, r.progress.get(3)!.inflights.maxCount], [20, 8]);
});

test('restore rebuilds a simple config of many voters', () => {
  const r = restoreConfig(confState({ voters: [1, 2, 3, 4, 5], learners: [7] }), 1, 8, 0);
  assert.equal(describeConfig(r.config), 'voters=(1 2 3 4 5) learners=(7)');
});

test('restoring an empty conf state gives an empty config', () => {
  const r = restoreConfig(confState({}), 0, 8, 0);
  assert.equal(describeConfig(r.config), 'voters=()');
  assert.equal(r.progress.size, 0);
});

test('restore rejects learners without voters and joint-only fields outside joint', () => {
  assert.throws(() => restoreConfig(confState({ learners: [1] }), 1, 8, 0), /removed all voters/);
  assert.throws(() => restoreConfig(confState({ voters: [1], learnersNext: [2] }), 1, 8, 0), ConfChangeError);
  assert.throws(() => restoreConfig(confState({ voters: [1], autoLeave: true }), 1, 8, 0), ConfChangeError);
});

function randomChanges(rng: Prng): ConfChangeSingle[] {
  const types = [ConfChangeType.AddNode, ConfChangeType.AddLearnerNode, ConfChangeType.RemoveNode];
  const out: ConfChangeSingle[] = [];
  const n = 1 + rng.int(4);
  for (let i = 0; i < n; i++) out.push({ type: types[rng.int(3)], nodeId: 1 + rng.int(7) });
  return out;
}

test('every reachable config survives confState → restoreConfig unchanged', () => {
  const rng = new Prng(21);
  let applied = 0;
  let joint = 0;
  let withLearnersNext = 0;
  for (let run = 0; run < 100; run++) {
    const t = newTracker();
    for (let step = 0; step < 40; step++) {
      const input = { tracker: t, lastIndex: 1 + step };
      let r: ChangeResult;
      try {
        const pick = rng.int(4);
        if (pick === 0) r = leaveJoint(input);
        else if (pick === 1) r = enterJoint(input, rng.chance(0.5), randomChanges(rng));
        else r = simpleChange(input, randomChanges(rng));
      } catch (e) {
        if (e instanceof ConfChangeError) continue;
        throw e;
      }
      applied++;
      t.config = r.config;
      t.progress = r.progress;
      if (t.isJoint()) joint++;
      if (t.config.learnersNext.length > 0) withLearnersNext++;

      const restored = restoreConfig(t.confState(), 100, 16, 0);
      assert.deepEqual(restored.config, t.config);
      const flags = (m: ChangeResult['progress']): string[] =>
        [...m.entries()].sort(([a], [b]) => a - b).map(([id, pr]) => `${id}:${pr.isLearner}`);
      assert.deepEqual(flags(restored.progress), flags(t.progress));
    }
  }
  // Guard against a vacuous property: the walk must reach the interesting states.
  assert.ok(applied > 1000, `only ${applied} changes applied`);
  assert.ok(joint > 100, `only ${joint} joint configs visited`);
  assert.ok(withLearnersNext > 20, `only ${withLearnersNext} configs with learnersNext visited`);
});
