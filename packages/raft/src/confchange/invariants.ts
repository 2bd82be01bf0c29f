// The shape every membership configuration must have, checked on both sides of a change:
// before (the tracker handed in is sane) and after (the changer did not break it).
// A violation is a bug, not bad input, so it fails loudly via invariant().
import type { Progress } from '../tracker/progress.js';
import type { TrackerConfig } from '../tracker/tracker.js';
import type { NodeId } from '../types.js';
import { invariant } from '../util.js';
import { hasId, isIdSet } from './ids.js';

export function checkConfigInvariants(cfg: TrackerConfig, progress: ReadonlyMap<NodeId, Progress>): void {
  const show = (): string => JSON.stringify(cfg);
  for (const ids of [cfg.incoming, cfg.outgoing, cfg.learners, cfg.learnersNext]) {
    invariant(isIdSet(ids), () => `config id sets must be sorted, unique, positive: ${show()}`);
  }
  const progressOf = (id: NodeId): Progress => {
    const pr = progress.get(id);
    invariant(pr !== undefined, () => `member ${id} has no progress: ${show()}`);
    return pr;
  };
  for (const id of cfg.incoming) {
    invariant(!progressOf(id).isLearner, () => `voter ${id} has a learner progress`);
  }
  for (const id of cfg.outgoing) {
    invariant(!progressOf(id).isLearner, () => `outgoing voter ${id} has a learner progress`);
  }
  for (const id of cfg.learners) {
    invariant(progressOf(id).isLearner, () => `learner ${id} has a voter progress`);
    invariant(!hasId(cfg.incoming, id) && !hasId(cfg.outgoing, id), () => `${id} is both voter and learner: ${show()}`);
  }
  for (const id of cfg.learnersNext) {
    // Until the joint config is left the node still votes in the outgoing half.
    invariant(!progressOf(id).isLearner, () => `learnerNext ${id} already has a learner progress`);
    invariant(hasId(cfg.outgoing, id), () => `learnerNext ${id} is not an outgoing voter: ${show()}`);
    invariant(!hasId(cfg.incoming, id), () => `learnerNext ${id} is also an incoming voter: ${show()}`);
    invariant(!hasId(cfg.learners, id), () => `learnerNext ${id} is also a learner: ${show()}`);
  }
  for (const id of progress.keys()) {
    const member = hasId(cfg.incoming, id) || hasId(cfg.outgoing, id) || hasId(cfg.learners, id);
    invariant(member, () => `progress for ${id}, which is not a member: ${show()}`);
  }
  if (cfg.outgoing.length === 0) {
    invariant(cfg.learnersNext.length === 0, () => `learnersNext outside a joint config: ${show()}`);
    invariant(!cfg.autoLeave, () => `autoLeave outside a joint config: ${show()}`);
  }
}
