// Tests of the simulation harness itself: determinism, and that each class of check
// actually fires when the driver is deliberately broken (a check that cannot fail is a bug).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSeed, type SeedResult } from './run-seed.js';
import { shrinkSeed } from './shrink.js';
import type { Sabotage } from './cluster.js';

test('a run is a pure function of its seed (identical traces and histories)', () => {
  const a: string[] = [];
  const b: string[] = [];
  const ra = runSeed({ seed: 7, safetyTicks: 400, trace: (l) => a.push(l) });
  const rb = runSeed({ seed: 7, safetyTicks: 400, trace: (l) => b.push(l) });
  assert.ok(a.length > 1000, 'the trace has content');
  assert.deepEqual(a, b);
  assert.deepEqual(ra.history, rb.history);
});

test('tracing does not change the run', () => {
  const traced = runSeed({ seed: 11, safetyTicks: 400, trace: () => {} });
  const plain = runSeed({ seed: 11, safetyTicks: 400 });
  assert.deepEqual(traced.history, plain.history);
  assert.deepEqual(traced.cluster, plain.cluster);
});

test('without faults every operation returns and the history is linearizable', () => {
  const r = runSeed({ seed: 3, safetyTicks: 600, faults: false });
  assert.equal(r.failure, null);
  assert.equal(r.clients.unknown, 0);
  assert.equal(r.clients.completed, r.clients.invoked);
  assert.equal(r.check?.verdict, 'linearizable');
  assert.equal(r.schedule.length, 0);
});

test('the fault schedule exercises partitions, message faults, node faults and membership changes', () => {
  const kinds = new Set<string>();
  for (let seed = 1; seed <= 5; seed++) {
    for (const e of runSeed({ seed, safetyTicks: 400 }).schedule) kinds.add(e.kind);
  }
  for (const k of ['split', 'drop', 'crash', 'pause', 'add-learner', 'promote', 'transfer-leader']) {
    assert.ok(kinds.has(k), `schedule includes ${k}`);
  }
});

test('--keep-faults runs only the listed episodes', () => {
  const r = runSeed({ seed: 5, safetyTicks: 400, keepFaults: [] });
  assert.equal(r.schedule.length, 0);
  assert.deepEqual(r.faultLog, []);
  const full = runSeed({ seed: 5, safetyTicks: 400 });
  const two = full.schedule.slice(0, 2).map((e) => e.index);
  const r2 = runSeed({ seed: 5, safetyTicks: 400, keepFaults: two });
  assert.deepEqual(r2.schedule.map((e) => e.index), two);
});

test('a shorter fault phase keeps a prefix of the same schedule (shrinking relies on it)', () => {
  const a = runSeed({ seed: 9, safetyTicks: 2000 }).schedule;
  const b = runSeed({ seed: 9, safetyTicks: 700 }).schedule;
  assert.ok(b.length > 3 && b.length < a.length);
  assert.deepEqual(b, a.slice(0, b.length));
});

function firstFailure(sabotage: Sabotage, seeds = 12): SeedResult | null {
  for (let seed = 1; seed <= seeds; seed++) {
    const r = runSeed({ seed, sabotage });
    if (!r.ok) return r;
  }
  return null;
}

test('catches a driver that sends vote and append acks before persisting (durable-before-ack)', () => {
  assert.equal(firstFailure('ack-before-persist')?.failure?.invariant, 'durable-before-ack');
});

test('catches reads served before the read index is applied (linearizability checker)', () => {
  assert.equal(firstFailure('serve-reads-early')?.failure?.invariant, 'linearizability');
});

test('catches a node that forgets its term and vote on crash (hard-state)', () => {
  assert.equal(firstFailure('forget-vote-on-crash')?.failure?.invariant, 'hard-state');
});

test('catches a replica that skips a committed entry (state-machine digest)', () => {
  assert.equal(firstFailure('skip-entry')?.failure?.invariant, 'state-machine');
});

test('shrinking keeps the failure and drops fault episodes it does not need', () => {
  const failing = firstFailure('serve-reads-early');
  assert.ok(failing !== null);
  const s = shrinkSeed({ seed: failing.seed, sabotage: 'serve-reads-early' }, 60);
  assert.ok(s !== null);
  assert.equal(s.invariant, 'linearizability');
  assert.equal(s.result.failure?.invariant, 'linearizability');
  assert.ok(s.keepFaults.length < s.originalFaults, `${s.keepFaults.length} < ${s.originalFaults}`);
});
