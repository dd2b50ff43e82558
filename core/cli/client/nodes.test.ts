// The compiled CLI (dist/core/cli/main.js) against two real nodes: `nodes` as a table and as JSON,
// `drain` and `undrain` of the other node by name, `nodes remove`, and the errors a user sees.

import t from 'tap';
import type { NodeEntry } from '../../api/cluster/status.js';
import { startCluster, until, view } from '../../api/forward/test-cluster.js';
import { createTiny } from '../../api/ollama/test-support.js';
import type { Consensus } from '../../contracts/consensus.js';
import type { ClusterState } from '../../cluster/state-machine.js';
import { nodesTable } from './nodes.js';
import { cli } from './test-cli.js';

type StatusEntry = NodeEntry & {
  role: 'leader' | 'voter' | 'non-voter' | null;
  cluster_id: string | null;
  routing: { routed: number; failed: number; last_routed_at: string | null; cooling_until: string | null };
};

const entry = (fields: Partial<StatusEntry>): StatusEntry => ({
  id: 'id-1',
  name: 'n1',
  peer_id: 'peer',
  api_url: 'http://10.0.0.1:11434',
  healthy: true,
  drained: false,
  self: false,
  version: '0.1.0',
  engine: 'sim',
  gpus: [],
  models: ['a:latest', 'b:latest'],
  loaded: ['a:latest'],
  load: { in_flight: 2, queued: 1, ttft_ms: 0, tokens_per_second: 0, slots: 1, prompt_tokens_per_second: 0, load_bytes_per_second: 0 },
  joined_at: '',
  last_seen: '',
  role: 'leader',
  cluster_id: 'c1',
  routing: { routed: 0, failed: 0, last_routed_at: null, cooling_until: null },
  ...fields,
});

t.test('the table: name (this node starred), id, API, health with the drain flag, role, models, load', async (t) => {
  const idle = { in_flight: 0, queued: 0, ttft_ms: 0, tokens_per_second: 0, slots: 1, prompt_tokens_per_second: 0, load_bytes_per_second: 0 };
  const text = nodesTable([
    entry({ self: true }),
    entry({ id: 'id-2', name: 'n2', healthy: false, drained: true, models: [], loaded: [], load: idle, role: 'non-voter' }),
    entry({ id: 'id-3', name: 'n3', models: [], loaded: [], load: idle, role: null }),
  ]);
  t.equal(
    text,
    [
      'NAME    ID      API                      HEALTH                ROLE         MODELS          LOAD',
      'n1 *    id-1    http://10.0.0.1:11434    healthy               leader       2 (1 loaded)    2 running, 1 queued',
      'n2      id-2    http://10.0.0.1:11434    unhealthy, drained    non-voter    0 (0 loaded)    0 running, 0 queued',
      'n3      id-3    http://10.0.0.1:11434    healthy               -            0 (0 loaded)    0 running, 0 queued',
      '',
    ].join('\n'),
  );
});

t.test('nodes, drain and undrain against a cluster', async (t) => {
  const nodes = await startCluster(t, ['left', 'right']);
  const [left, right] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
  await createTiny(right.url, 'tiny');
  await until(() => view(left).member(right.node.nodeId)!.models.length === 1, 2000, 'left seeing the model on right');
  const consensus = left.node.component<Consensus<ClusterState>>('consensus');
  await until(() => consensus.members().some((m) => m.id === right.node.nodeId && m.voter), 10_000, 'right voting');

  const listed = await cli(['nodes'], left.url);
  t.equal(listed.code, 0, listed.stderr);
  const lines = listed.stdout.trimEnd().split('\n');
  t.match(lines[0], /^NAME\s+ID\s+API\s+HEALTH\s+ROLE\s+MODELS\s+LOAD$/);
  t.match(lines[1], new RegExp(`^left \\*\\s+${left.node.nodeId}\\s+${left.url}\\s+healthy\\s+leader\\s+0 \\(0 loaded\\)\\s+0 running, 0 queued$`));
  t.match(lines[2], new RegExp(`^right\\s+${right.node.nodeId}\\s+${right.url}\\s+healthy\\s+voter\\s+1 \\(0 loaded\\)`));

  const json = await cli(['nodes', '--json'], left.url);
  t.equal(json.code, 0, json.stderr);
  t.same(
    (JSON.parse(json.stdout) as NodeEntry[]).map((n) => [n.name, n.id, n.models]),
    [
      ['left', left.node.nodeId, []],
      ['right', right.node.nodeId, ['tiny:latest']],
    ],
  );

  const drained = await cli(['drain', 'right'], left.url);
  t.equal(drained.code, 0, drained.stderr);
  t.equal(drained.stdout, "drained node 'right': it finishes what it runs and takes nothing new\n");
  t.ok(view(right).self().drained, 'right itself is drained');
  await until(() => view(left).member(right.node.nodeId)!.drained, 1000, 'left seeing right drained');
  t.match((await cli(['nodes'], left.url)).stdout, /right\s.*healthy, drained/);

  const undrained = await cli(['undrain', right.node.nodeId], left.url);
  t.equal(undrained.stdout, "undrained node 'right'\n");
  t.notOk(view(right).self().drained);

  const unknown = await cli(['drain', 'nobody'], left.url);
  t.equal(unknown.code, 1);
  t.equal(unknown.stderr, "Error: node 'nobody' not found\n");

  const leaderItself = await cli(['nodes', 'remove', 'left'], right.url);
  t.equal(leaderItself.code, 1);
  t.match(leaderItself.stderr, /node 'left' leads consensus: stop it/, 'asked of a follower, the removal reached the leader');
  const removed = await cli(['nodes', 'remove', 'right'], right.url);
  t.equal(removed.code, 0, removed.stderr);
  t.equal(removed.stdout, `removed node ${right.node.nodeId} from the cluster: it has no vote, and joins again only from a new data dir\n`);
  await until(() => !consensus.members().some((m) => m.id === right.node.nodeId), 5000, 'right out of the configuration');
  t.ok(consensus.state().state.removed[right.node.nodeId], 'the removal is a cluster fact');
  await new Promise((r) => setTimeout(r, 1500));
  t.notOk(consensus.members().some((m) => m.id === right.node.nodeId), 'a removed node is not admitted again while it runs');
  const again = await cli(['nodes', 'remove', right.node.nodeId], left.url);
  t.match(again.stderr, /was removed already/);
});
