// Rebuilding the membership from a snapshot's ConfState, joint states included.
//
// There is no direct constructor: the config is replayed as a sequence of changes from
// an empty one, so it passes through exactly the validation a live change would.
//
// Worked example: voters (1 2 3), learners (5), votersOutgoing (1 2 4 6), learnersNext (4).
// Before entering the joint config the voters were (1 2 4 6) (and perhaps some learners
// long gone: they do not matter). Replay:
//   outgoing — one simple change each: add 1, add 2, add 4, add 6   → voters (1 2 4 6)
//   incoming — one enterJoint: remove 1 2 4 6; add 1 2 3; add-learner 5; add-learner 4
//              → (1 2 3)&&(1 2 4 6), learners (5), learnersNext (4)   as desired.
// (add-learner 4 lands in learnersNext because 4 is still an outgoing voter.)
import { ProgressTracker } from '../tracker/tracker.js';
import { type ConfChangeSingle, ConfChangeType, type ConfState, type NodeId } from '../types.js';
import { type ChangeInput, type ChangeResult, ConfChangeError, enterJoint, simpleChange } from './changer.js';

export function restoreConfig(
  confState: ConfState,
  lastIndex: number,
  maxInflightMsgs: number,
  maxInflightBytes: number,
): ChangeResult {
  const cs = confState;
  if (cs.votersOutgoing.length === 0 && (cs.learnersNext.length > 0 || cs.autoLeave)) {
    throw new ConfChangeError(`learnersNext/autoLeave in a non-joint conf state: ${JSON.stringify(cs)}`);
  }
  const change = (type: ConfChangeType) => (nodeId: NodeId): ConfChangeSingle => ({ type, nodeId });
  const outgoing = cs.votersOutgoing.map(change(ConfChangeType.AddNode));
  const incoming = [
    ...cs.votersOutgoing.map(change(ConfChangeType.RemoveNode)),
    ...cs.voters.map(change(ConfChangeType.AddNode)),
    ...cs.learners.map(change(ConfChangeType.AddLearnerNode)),
    ...cs.learnersNext.map(change(ConfChangeType.AddLearnerNode)),
  ];

  const tracker = new ProgressTracker(maxInflightMsgs, maxInflightBytes);
  const input: ChangeInput = { tracker, lastIndex };
  const adopt = (r: ChangeResult): void => {
    tracker.config = r.config;
    tracker.progress = r.progress;
  };
  if (outgoing.length === 0) {
    // Not joint: one change at a time, so each is a valid simple change.
    for (const cc of incoming) adopt(simpleChange(input, [cc]));
  } else {
    for (const cc of outgoing) adopt(simpleChange(input, [cc]));
    adopt(enterJoint(input, cs.autoLeave, incoming));
  }
  return { config: tracker.config, progress: tracker.progress };
}
