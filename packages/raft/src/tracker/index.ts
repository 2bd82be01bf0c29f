// Per-follower replication state and the leader's view of the whole group.
export { Inflights } from './inflights.js';
export { Progress } from './progress.js';
export { ProgressTracker, emptyTrackerConfig, type TrackerConfig, type VoteTally } from './tracker.js';
