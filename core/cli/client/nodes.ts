// `nodes`, `drain` and `undrain`: the cluster's members as the node at OLLAMA_HOST sees them, and
// taking a node out of the routing pool (it finishes what it runs) or back in.

import type { NodeEntry } from '../../api/cluster/status.js';
import { callJson } from './http.js';
import { table } from './format.js';

function health(node: NodeEntry): string {
  const state = node.healthy ? 'healthy' : 'unhealthy';
  return node.drained ? `${state}, drained` : state;
}

/** One row per member: name, id, API, health, models held (and loaded), load. */
export function nodesTable(nodes: readonly NodeEntry[]): string {
  const rows = nodes.map((node) => [
    node.self ? `${node.name} *` : node.name,
    node.id,
    node.api_url,
    health(node),
    `${node.models.length} (${node.loaded.length} loaded)`,
    `${node.load.in_flight} running, ${node.load.queued} queued`,
  ]);
  return table([['NAME', 'ID', 'API', 'HEALTH', 'MODELS', 'LOAD'], ...rows]);
}

export async function nodesCommand(flags: { json?: boolean }): Promise<void> {
  const { nodes } = await callJson<{ nodes: NodeEntry[] }>('/api/v1/nodes');
  process.stdout.write(flags.json ? `${JSON.stringify(nodes, null, 2)}\n` : nodesTable(nodes));
}

export async function drainCommand(node: string, drained: boolean): Promise<void> {
  const action = drained ? 'drain' : 'undrain';
  const entry = await callJson<NodeEntry>(`/api/v1/nodes/${encodeURIComponent(node)}/${action}`, { method: 'POST' });
  process.stdout.write(drained ? `drained node '${entry.name}': it finishes what it runs and takes nothing new\n` : `undrained node '${entry.name}'\n`);
}
