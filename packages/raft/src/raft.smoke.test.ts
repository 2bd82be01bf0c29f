import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness } from './testing/harness.js';
import { StateRole } from './types.js';

test('three nodes elect a leader and replicate a proposal to everyone', () => {
  const h = new Harness();
  h.elect(1);
  assert.equal(h.get(1).status().role, StateRole.Leader);
  h.put(1, 'a');
  h.put(1, 'b');
  for (const id of [1, 2, 3]) assert.deepEqual(h.appliedData(id), ['a', 'b']);
});

test('a single-voter group elects itself on ticks and commits alone', () => {
  const h = new Harness({ voters: [1] });
  h.tickAll(25);
  assert.equal(h.get(1).status().role, StateRole.Leader);
  h.put(1, 'x');
  assert.deepEqual(h.appliedData(1), ['x']);
});
