// How a ConfChangeV2 is carried out: as a simple change, by entering a joint
// configuration, or by leaving one.
import { ConfChangeTransition, type ConfChangeV2 } from '../types.js';
import { invariant } from '../util.js';

/**
 * Whether `cc` enters a joint configuration, and if so whether it leaves automatically.
 *   Auto, ≤ 1 change  → simple change (one voter at a time is safe without joint)
 *   Auto, > 1 changes → joint, auto-leave
 *   JointImplicit     → joint, auto-leave
 *   JointExplicit     → joint, stays until an explicit leave (see isLeaveJoint)
 */
export function enterJointAutoLeave(cc: ConfChangeV2): { joint: boolean; autoLeave: boolean } {
  switch (cc.transition) {
    case ConfChangeTransition.Auto:
      return cc.changes.length > 1 ? { joint: true, autoLeave: true } : { joint: false, autoLeave: false };
    case ConfChangeTransition.JointImplicit:
      return { joint: true, autoLeave: true };
    case ConfChangeTransition.JointExplicit:
      return { joint: true, autoLeave: false };
    default:
      invariant(false, () => `unknown conf change transition ${String(cc.transition)}`);
  }
}

/**
 * True for the change that leaves a joint configuration: no changes and transition Auto
 * (the context is ignored). A JointExplicit change with no changes is not a leave: it
 * enters an (identical) joint configuration.
 */
export function isLeaveJoint(cc: ConfChangeV2): boolean {
  return cc.transition === ConfChangeTransition.Auto && cc.changes.length === 0;
}
