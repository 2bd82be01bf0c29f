import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type ConfChangeSingle, ConfChangeTransition, ConfChangeType, type ConfChangeV2 } from '../types.js';
import { enterJointAutoLeave, isLeaveJoint } from './transition.js';

function cc(transition: ConfChangeTransition, changeCount: number): ConfChangeV2 {
  const changes: ConfChangeSingle[] = Array.from({ length: changeCount }, (_, i) => ({ type: ConfChangeType.AddNode, nodeId: i + 1 }));
  return { transition, changes, context: new Uint8Array(0) };
}

// transition, change count → joint, autoLeave, leave
const cases: Array<[string, ConfChangeTransition, number, boolean, boolean, boolean]> = [
  ['Auto with no changes leaves the joint config', ConfChangeTransition.Auto, 0, false, false, true],
  ['Auto with one change is a simple change', ConfChangeTransition.Auto, 1, false, false, false],
  ['Auto with several changes goes joint and leaves automatically', ConfChangeTransition.Auto, 2, true, true, false],
  ['JointImplicit goes joint and leaves automatically', ConfChangeTransition.JointImplicit, 1, true, true, false],
  ['JointExplicit goes joint and waits for an explicit leave', ConfChangeTransition.JointExplicit, 1, true, false, false],
  ['JointExplicit with no changes enters joint, it is not a leave', ConfChangeTransition.JointExplicit, 0, true, false, false],
];
for (const [name, transition, count, joint, autoLeave, leave] of cases) {
  test(name, () => {
    assert.deepEqual(enterJointAutoLeave(cc(transition, count)), { joint, autoLeave });
    assert.equal(isLeaveJoint(cc(transition, count)), leave);
  });
}
