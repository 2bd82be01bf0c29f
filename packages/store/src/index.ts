// Public API of @rangekv/store (so far: the group-driving core).
export { RaftScheduler, DEFAULT_SCHEDULER_LIMITS, type GroupHost, type ApplyEntry, type SchedulerLimits, type SchedulerStats } from './raft-scheduler.js';
export { Replica, type ApplyWork, type ProposalOutcome } from './replica.js';
