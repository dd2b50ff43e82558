// `nodes`, `nodes remove`, `drain` and `undrain`: the cluster's members as the node at OLLAMA_HOST
// sees them, taking a node out of the routing pool (it finishes what it runs) or back in, and out
// of the cluster for good.

import type { clusterStatus, NodeEntry } from '../../api/cluster/status.js';
import { callJson } from './http.js';
import { table } from './format.js';

function health(node: NodeEntry): string {
  const state = node.healthy ? 'healthy' : 'unhealthy';
  return node.drained ? `${state}, drained` : state;
}

type StatusEntry = ReturnType<typeof clusterStatus>['nodes'][number];

/** One row per member: name, id, API, health, consensus role, models held (and loaded), load. */
export function nodesTable(nodes: readonly StatusEntry[]): string {
  const rows = nodes.map((node) => [
    node.self ? `${node.name} *` : node.name,
    node.id,
    node.api_url,
    health(node),
    node.role ?? '-',
    `${node.models.length} (${node.loaded.length} loaded)`,
    `${node.load.in_flight} running, ${node.load.queued} queued`,
  ]);
  return table([['NAME', 'ID', 'API', 'HEALTH', 'ROLE', 'MODELS', 'LOAD'], ...rows]);
}

export async function nodesCommand(flags: { json?: boolean }): Promise<void> {
  const { nodes } = await callJson<{ nodes: StatusEntry[] }>('/api/v1/cluster/status');
  process.stdout.write(flags.json ? `${JSON.stringify(nodes, null, 2)}\n` : nodesTable(nodes));
}

export async function removeNodeCommand(node: string): Promise<void> {
  const { removed } = await callJson<{ removed: string }>(`/api/v1/nodes/${encodeURIComponent(node)}`, { method: 'DELETE' });
  process.stdout.write(`removed node ${removed} from the cluster: it has no vote, and joins again only from a new data dir\n`);
}

export async function drainCommand(node: string, drained: boolean): Promise<void> {
  const action = drained ? 'drain' : 'undrain';
  const entry = await callJson<NodeEntry>(`/api/v1/nodes/${encodeURIComponent(node)}/${action}`, { method: 'POST' });
  process.stdout.write(drained ? `drained node '${entry.name}': it finishes what it runs and takes nothing new\n` : `undrained node '${entry.name}'\n`);
}
