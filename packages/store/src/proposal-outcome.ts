// Waiting for a proposal's outcome on this replica, bounded by proposalTimeoutMs: the one
// place that turns raft's ProposalOutcome into what a KV or admin caller is answered.
//
//   applied                 -> the state machine's result
//   dropped (slot reused)   -> NotLeader (nothing was done: safe to retry)
//   unknown (store stopping, range removed, leadership lost before it committed) or timed out -> AmbiguousResultError
//   refused at propose      -> `refused(res)` (NotLeader / ServerBusy / ...)
import type { ProposeResult } from '@rangekv/raft';
import type { HostClock, ProposalOutcome, Replica } from '@rangekv/multiraft';
import { AmbiguousResultError, RangeErrorReply } from './errors.js';
import type { KvResult } from './kv-state-machine.js';
import { notLeader } from './range-errors.js';

export function awaitProposal(
  clock: HostClock,
  r: Replica<KvResult>,
  timeoutMs: number,
  propose: (done: (o: ProposalOutcome<KvResult>) => void) => ProposeResult,
  refused: (res: Extract<ProposeResult, { ok: false }>) => Error,
): Promise<KvResult> {
  return new Promise<KvResult>((resolve, reject) => {
    let settled = false;
    const timer = clock.setTimer(timeoutMs, () => {
      settled = true;
      reject(new AmbiguousResultError(`range ${r.rangeId}: not applied within ${timeoutMs} ms (proposalTimeoutMs); it may still apply`));
    });
    const res = propose((o) => {
      if (settled) return;
      settled = true;
      clock.clearTimer(timer);
      if (o.kind === 'applied') resolve(o.result);
      else if (o.kind === 'dropped') reject(new RangeErrorReply(notLeader(r.rangeId, r.log.descriptor, r.lead, `proposal dropped, nothing was done: ${o.reason}`)));
      else reject(new AmbiguousResultError(`range ${r.rangeId}: ${o.reason}`));
    });
    if (!res.ok) {
      settled = true;
      clock.clearTimer(timer);
      reject(refused(res));
    }
  });
}
