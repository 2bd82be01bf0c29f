import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfChangeType } from '../types.js';
import { type ChangeResult, ConfChangeError, enterJoint, leaveJoint, simpleChange } from './changer.js';
import { describeConfig, newTracker, parseChanges, snapshotTracker } from './testing.js';

const LAST_INDEX = 10;

/**
 * Runs a transcript from an empty configuration. Each step is a command and the
 * configuration it must produce, or "error: <message part>".
 *   "simple v1 l2"     simpleChange
 *   "enter v4 r1"      enterJoint, no auto-leave
 *   "enter-auto v4 r1" enterJoint with auto-leave
 *   "leave"            leaveJoint
 * Every step also checks that the tracker handed in was not modified.
 */
function transcript(name: string, steps: Array<[string, string]>): void {
  test(name, () => {
    const t = newTracker();
    for (const [command, expected] of steps) {
      const [verb, ...rest] = command.split(' ');
      const changes = parseChanges(rest.join(' '));
      const input = { tracker: t, lastIndex: LAST_INDEX };
      const before = snapshotTracker(t);
      let result: ChangeResult;
      try {
        if (verb === 'simple') result = simpleChange(input, changes);
        else if (verb === 'enter') result = enterJoint(input, false, changes);
        else if (verb === 'enter-auto') result = enterJoint(input, true, changes);
        else if (verb === 'leave') result = leaveJoint(input);
        else throw new Error(`unknown verb ${verb}`);
      } catch (e) {
        if (!(e instanceof ConfChangeError)) throw e;
        assert.ok(expected.startsWith('error: '), `${command}: unexpected ${e.message}`);
        assert.match(e.message, new RegExp(expected.slice('error: '.length)), command);
        assert.equal(snapshotTracker(t), before, `${command}: a rejected change left the tracker modified`);
        continue;
      }
      assert.equal(snapshotTracker(t), before, `${command}: the input tracker was modified`);
      assert.equal(describeConfig(result.config), expected, command);
      t.config = result.config;
      t.progress = result.progress;
    }
  });
}

transcript('adding voters one at a time is a valid simple change each time', [
  ['simple v1', 'voters=(1)'],
  ['simple v2', 'voters=(1 2)'],
  ['simple v3', 'voters=(1 2 3)'],
]);

transcript('adding a learner leaves the voters alone', [
  ['simple v1', 'voters=(1)'],
  ['simple l2', 'voters=(1) learners=(2)'],
]);

transcript('any number of learners may change alongside one voter', [
  ['simple v1', 'voters=(1)'],
  ['simple v2 l3 l4 l5', 'voters=(1 2) learners=(3 4 5)'],
  ['simple r3 r4 l6 v7', 'voters=(1 2 7) learners=(5 6)'],
]);

transcript('promoting a learner makes it a voter and no longer a learner', [
  ['simple v1', 'voters=(1)'],
  ['simple l2', 'voters=(1) learners=(2)'],
  ['simple v2', 'voters=(1 2)'],
]);

transcript('demoting one voter is a valid simple change', [
  ['simple v1', 'voters=(1)'],
  ['simple v2', 'voters=(1 2)'],
  ['simple l2', 'voters=(1) learners=(2)'],
]);

transcript('a voter demoted via joint keeps voting in the outgoing half until leave', [
  ['simple v1', 'voters=(1)'],
  ['simple v2', 'voters=(1 2)'],
  ['simple v3', 'voters=(1 2 3)'],
  ['enter v4 l3', 'voters=(1 2 4)&&(1 2 3) learners_next=(3)'],
  ['leave', 'voters=(1 2 4) learners=(3)'],
]);

transcript('a voter demoted and re-promoted within one joint change stays a voter', [
  ['simple v1', 'voters=(1)'],
  ['simple v2', 'voters=(1 2)'],
  ['enter l2 v2', 'voters=(1 2)&&(1 2)'],
  ['leave', 'voters=(1 2)'],
]);

transcript('removing a voter and a learner', [
  ['simple v1', 'voters=(1)'],
  ['simple v2', 'voters=(1 2)'],
  ['simple l3', 'voters=(1 2) learners=(3)'],
  ['simple r2', 'voters=(1) learners=(3)'],
  ['simple r3', 'voters=(1)'],
]);

transcript('replacing a voter goes through a joint config that can leave on its own', [
  ['simple v1', 'voters=(1)'],
  ['simple v2', 'voters=(1 2)'],
  ['simple v3', 'voters=(1 2 3)'],
  ['enter-auto v4 r1', 'voters=(2 3 4)&&(1 2 3) autoleave'],
  ['leave', 'voters=(2 3 4)'],
]);

transcript('adding an existing voter and removing a stranger change nothing', [
  ['simple v1', 'voters=(1)'],
  ['simple v1 r9', 'voters=(1)'],
]);

transcript('node id 0 marks a change the application skipped', [
  ['simple v1', 'voters=(1)'],
  ['simple v0 v2 r0', 'voters=(1 2)'],
]);

transcript('changing two voters without joint consensus is rejected', [
  ['simple v1', 'voters=(1)'],
  ['simple v2 v3', 'error: more than one voter changed \\(2\\) without entering a joint config'],
  ['simple v2', 'voters=(1 2)'],
  ['simple v3 r2', 'error: more than one voter changed'],
  ['simple l1 l2', 'error: removed all voters'],
]);

transcript('entering a joint config twice is rejected', [
  ['simple v1', 'voters=(1)'],
  ['enter v2', 'voters=(1 2)&&(1)'],
  ['enter v3', 'error: config is already joint'],
  ['simple v3', "error: can't apply a simple config change in a joint config"],
]);

transcript('leaving a config that is not joint is rejected', [
  ['leave', "error: can't leave a non-joint config"],
  ['simple v1', 'voters=(1)'],
  ['leave', "error: can't leave a non-joint config"],
]);

transcript('removing every voter is rejected, simple or joint', [
  ['simple r1', 'error: removed all voters'],
  ['simple l1', 'error: removed all voters'],
  ['simple v1', 'voters=(1)'],
  ['simple v2', 'voters=(1 2)'],
  ['simple r2', 'voters=(1)'],
  ['simple r1', 'error: removed all voters'],
  ['enter r1 v2 r2', 'error: removed all voters'],
]);

transcript('an empty config cannot become joint', [['enter v1 v2', "error: can't make a zero-voter config joint"]]);

test('a new member probes from the last index and counts as recently active', () => {
  const t = newTracker();
  const r = simpleChange({ tracker: t, lastIndex: 42 }, parseChanges('v1 l2'));
  for (const id of [1, 2]) {
    const pr = r.progress.get(id)!;
    assert.deepEqual([pr.match, pr.next, pr.recentActive, pr.isLearner], [0, 42, true, id === 2]);
  }
  const empty = simpleChange({ tracker: t, lastIndex: 0 }, parseChanges('v1'));
  assert.equal(empty.progress.get(1)!.next, 1, 'next stays ≥ 1 on an empty log');
});

test('a promoted learner keeps its replication progress in a copy, the input is untouched', () => {
  const t = newTracker();
  const r1 = simpleChange({ tracker: t, lastIndex: 5 }, parseChanges('v1 l2'));
  t.config = r1.config;
  t.progress = r1.progress;
  const learner = t.progress.get(2)!;
  learner.maybeUpdate(7);
  const r2 = simpleChange({ tracker: t, lastIndex: 9 }, parseChanges('v2'));
  const promoted = r2.progress.get(2)!;
  assert.notEqual(promoted, learner);
  assert.deepEqual([promoted.match, promoted.isLearner, learner.isLearner], [7, false, true]);
});

test('progress of nodes a change does not touch is shared with the input', () => {
  const t = newTracker();
  const r1 = simpleChange({ tracker: t, lastIndex: 5 }, parseChanges('v1'));
  t.config = r1.config;
  t.progress = r1.progress;
  const r2 = simpleChange({ tracker: t, lastIndex: 5 }, parseChanges('l2'));
  assert.notEqual(r2.progress, r1.progress, 'the map itself is a copy');
  assert.equal(r2.progress.get(1), r1.progress.get(1));
});

test('an outgoing voter removed in a joint config keeps its progress until leave', () => {
  const t = newTracker();
  for (const cmd of ['v1', 'v2', 'v3']) {
    const r = simpleChange({ tracker: t, lastIndex: 1 }, parseChanges(cmd));
    t.config = r.config;
    t.progress = r.progress;
  }
  const joint = enterJoint({ tracker: t, lastIndex: 1 }, false, parseChanges('r3'));
  assert.equal(joint.progress.has(3), true, 'node 3 still votes in the outgoing half');
  t.config = joint.config;
  t.progress = joint.progress;
  const left = leaveJoint({ tracker: t, lastIndex: 1 });
  assert.deepEqual([...left.progress.keys()].sort(), [1, 2]);
});

test('an unknown change type is rejected', () => {
  const t = newTracker();
  const bogus = { type: 7 as ConfChangeType, nodeId: 1 };
  assert.throws(() => simpleChange({ tracker: t, lastIndex: 1 }, [bogus]), ConfChangeError);
  assert.throws(() => simpleChange({ tracker: t, lastIndex: 1 }, [{ type: ConfChangeType.AddNode, nodeId: 1.5 }]), /invalid node id/);
});

test('an inconsistent input tracker is a broken invariant, not a ConfChangeError', () => {
  const t = newTracker();
  t.config.incoming = [1];
  assert.throws(
    () => simpleChange({ tracker: t, lastIndex: 1 }, parseChanges('v2')),
    (e: Error) => !(e instanceof ConfChangeError) && /member 1 has no progress/.test(e.message),
  );
});
