// The consensus suite against the plugin OD_CONSENSUS_PLUGIN names (a built-in name or a path),
// each member a process of its own: what `ollama-distributed conformance consensus` runs. Members
// load their config from the OLLAMA_* variables of this process (e.g. etcd endpoints).

import t from 'tap';
import { processClusterFactory } from './process-cluster.js';
import { consensusSuite } from './suite.js';

const plugin = process.env.OD_CONSENSUS_PLUGIN;
if (!plugin) {
  t.fail('OD_CONSENSUS_PLUGIN names no plugin: run this through ollama-distributed conformance consensus --plugin <name|path>');
} else {
  consensusSuite(t, plugin, processClusterFactory({ plugin, baseDir: process.env.OD_CONSENSUS_BASEDIR ?? process.cwd() }), {
    membership: process.env.OD_CONSENSUS_MEMBERSHIP !== 'false',
  });
}
