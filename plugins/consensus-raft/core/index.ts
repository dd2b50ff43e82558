// The pure Raft core's public surface, for the consensus-raft driver (storage, transport, codec).

export { RaftNode, ProposalDroppedError, type RaftConfig, type RaftStatus, type Restored } from './node.js';
export { applyConfChange, decodeConfChange, encodeConfChange } from './conf.js';
export type * from './types.js';
