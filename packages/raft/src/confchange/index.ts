// Membership changes: computing new configurations, restoring them from snapshots, and
// encoding ConfChangeV2 for the log.
export {
  type ChangeInput,
  type ChangeResult,
  ConfChangeError,
  enterJoint,
  leaveJoint,
  simpleChange,
} from './changer.js';
export { restoreConfig } from './restore.js';
export { checkConfigInvariants } from './invariants.js';
export { encodeConfChange, decodeConfChange } from './codec.js';
export { enterJointAutoLeave, isLeaveJoint } from './transition.js';
