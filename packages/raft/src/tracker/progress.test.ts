import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProgressState } from '../types.js';
import { Progress } from './progress.js';

function progress(init: Partial<Pick<Progress, 'match' | 'next' | 'state' | 'pendingSnapshot'>>, maxInflight = 256): Progress {
  const pr = new Progress(init.next ?? 1, maxInflight, 0, false);
  pr.match = init.match ?? 0;
  pr.state = init.state ?? ProgressState.Probe;
  pr.pendingSnapshot = init.pendingSnapshot ?? 0;
  return pr;
}

test('a new progress probes from the given index with nothing matched', () => {
  const pr = new Progress(7, 4, 0, true);
  assert.deepEqual(
    [pr.match, pr.next, pr.state, pr.recentActive, pr.isLearner, pr.isPaused()],
    [0, 7, ProgressState.Probe, false, true, false],
  );
});

test('probe after replicate restarts from match+1', () => {
  const pr = progress({ match: 5, next: 20, state: ProgressState.Replicate });
  pr.sentEntries(3, 30);
  pr.becomeProbe();
  assert.deepEqual([pr.state, pr.next, pr.inflights.count()], [ProgressState.Probe, 6, 0]);
});

test('probe after a snapshot resumes past the snapshot, not from match+1', () => {
  const pr = progress({ match: 3, next: 4 });
  pr.becomeSnapshot(100);
  pr.becomeProbe();
  assert.deepEqual([pr.next, pr.pendingSnapshot], [101, 0]);
});

test('probe after a snapshot uses match+1 when match already passed the snapshot', () => {
  const pr = progress({ match: 3, next: 4 });
  pr.becomeSnapshot(100);
  pr.maybeUpdate(150);
  pr.becomeProbe();
  assert.equal(pr.next, 151);
});

test('replicate streams from match+1 with an empty window', () => {
  const pr = progress({ match: 9, next: 12 });
  pr.msgAppFlowPaused = true;
  pr.becomeReplicate();
  assert.deepEqual([pr.state, pr.next, pr.isPaused(), pr.inflights.count()], [ProgressState.Replicate, 10, false, 0]);
});

test('snapshot state is always paused and records the pending snapshot', () => {
  const pr = progress({ match: 1, next: 2, state: ProgressState.Replicate });
  pr.sentEntries(1, 1);
  pr.becomeSnapshot(50);
  assert.deepEqual([pr.state, pr.pendingSnapshot, pr.isPaused(), pr.inflights.count()], [ProgressState.Snapshot, 50, true, 0]);
});

test('replicate: sending advances next and fills the window until paused', () => {
  const pr = progress({ match: 0, next: 1, state: ProgressState.Replicate }, 2);
  pr.sentEntries(3, 100);
  assert.deepEqual([pr.next, pr.inflights.count(), pr.isPaused()], [4, 1, false]);
  pr.sentEntries(2, 50);
  assert.deepEqual([pr.next, pr.inflights.count(), pr.isPaused(), pr.msgAppFlowPaused], [6, 2, true, true]);
  pr.inflights.freeLE(3);
  assert.equal(pr.isPaused(), false, 'an ack that frees the window unpauses replication');
});

test('replicate: an empty append (commit update) takes no window slot', () => {
  const pr = progress({ match: 4, next: 5, state: ProgressState.Replicate });
  pr.sentEntries(0, 0);
  assert.deepEqual([pr.next, pr.inflights.count()], [5, 0]);
});

test('probe: sending entries pauses until the answer, an empty append does not', () => {
  const pr = progress({ match: 0, next: 5 });
  pr.sentEntries(0, 0);
  assert.equal(pr.isPaused(), false);
  pr.sentEntries(2, 10);
  assert.deepEqual([pr.isPaused(), pr.next], [true, 5], 'probe does not advance next optimistically');
});

test('sending while a snapshot is pending is a broken invariant', () => {
  const pr = progress({ match: 0, next: 5 });
  pr.becomeSnapshot(10);
  assert.throws(() => pr.sentEntries(1, 1), /snapshot is pending/);
});

test('an ack above match advances match and unpauses', () => {
  const pr = progress({ match: 3, next: 5 });
  pr.msgAppFlowPaused = true;
  assert.equal(pr.maybeUpdate(4), true);
  assert.deepEqual([pr.match, pr.next, pr.msgAppFlowPaused], [4, 5, false]);
});

test('an ack never moves next backwards over appends still in flight', () => {
  const pr = progress({ match: 3, next: 10, state: ProgressState.Replicate });
  assert.equal(pr.maybeUpdate(6), true);
  assert.equal(pr.next, 10);
  assert.equal(pr.maybeUpdate(12), true);
  assert.equal(pr.next, 13);
});

test('a stale ack changes nothing and reports no update', () => {
  const pr = progress({ match: 5, next: 8 });
  pr.msgAppFlowPaused = true;
  assert.equal(pr.maybeUpdate(5), false);
  assert.equal(pr.maybeUpdate(2), false);
  assert.deepEqual([pr.match, pr.next, pr.msgAppFlowPaused], [5, 8, true]);
});

// Rejection handling, one row per case:
//   state, match, next, rejected, hint → accepted?, next after
const decrCases: Array<[string, ProgressState, number, number, number, number, boolean, number]> = [
  ['replicate: rejection at or below match is stale', ProgressState.Replicate, 5, 10, 5, 5, false, 10],
  ['replicate: rejection above match restarts at match+1', ProgressState.Replicate, 5, 10, 7, 7, true, 6],
  ['probe: rejection not of the outstanding probe is stale', ProgressState.Probe, 0, 10, 5, 5, false, 10],
  ['probe: jumps back to hint+1', ProgressState.Probe, 0, 10, 9, 4, true, 5],
  ['probe: hint above the rejected index only steps back by one', ProgressState.Probe, 0, 10, 9, 20, true, 9],
  ['probe: never goes to or below match', ProgressState.Probe, 3, 10, 9, 0, true, 4],
  ['snapshot: answers the probe at next-1 like probe state', ProgressState.Snapshot, 0, 10, 9, 2, true, 3],
];
for (const [name, state, match, next, rejected, hint, accepted, nextAfter] of decrCases) {
  test(`maybeDecrTo ${name}`, () => {
    const pr = progress({ match, next, state });
    pr.msgAppFlowPaused = true;
    assert.equal(pr.maybeDecrTo(rejected, hint), accepted);
    assert.equal(pr.next, nextAfter);
    if (accepted && state !== ProgressState.Replicate) assert.equal(pr.msgAppFlowPaused, false, 'a probe answer unpauses');
  });
}

test('clone copies every field and shares no state', () => {
  const pr = progress({ match: 2, next: 3, state: ProgressState.Replicate });
  pr.recentActive = true;
  pr.sentEntries(1, 10);
  const copy = pr.clone();
  assert.equal(copy.toString(), pr.toString());
  copy.sentEntries(1, 10);
  assert.deepEqual([pr.next, pr.inflights.count(), copy.next, copy.inflights.count()], [4, 1, 5, 2]);
});

test('toString names the state and the flags that matter when debugging', () => {
  const pr = new Progress(1, 1, 0, true);
  pr.becomeSnapshot(42);
  assert.equal(pr.toString(), 'snapshot match=0 next=1 learner paused pendingSnapshot=42 inactive');
});
