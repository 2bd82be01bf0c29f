// Quorum arithmetic: who must agree for an index to commit or an election to be won.
export { VoteResult, majoritySize, majorityCommittedIndex, majorityVoteResult } from './majority.js';
export { type JointVoters, jointCommittedIndex, jointVoteResult } from './joint.js';
