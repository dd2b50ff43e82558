// The consensus conformance suite against the built-in Raft, each member a real process that the
// suite kills with SIGKILL and restarts on its data dir.

import t from 'tap';
import { processClusterFactory } from '../../conformance/consensus/process-cluster.js';
import { consensusSuite } from '../../conformance/consensus/suite.js';

consensusSuite(t, 'raft', processClusterFactory({ plugin: 'raft' }), { membership: true, leaderDeadlineMs: 3000 });
