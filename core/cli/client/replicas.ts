// `replicas MODEL N` sets how many nodes should hold a model; `replicas` alone lists each model's
// desired replicas, the nodes it is placed on and those holding a verified copy, by node name.

import type { replicaEntries } from '../../api/cluster/replicas.js';
import type { NodeEntry } from '../../api/cluster/status.js';
import { ClientError, callJson } from './http.js';
import { table } from './format.js';

type ReplicaEntry = ReturnType<typeof replicaEntries>[number];

/** One row per model; a node the cluster no longer lists shows by its id. */
export function replicasTable(models: readonly ReplicaEntry[], names: ReadonlyMap<string, string>): string {
  const named = (ids: string[]) => (ids.length === 0 ? '-' : ids.map((id) => names.get(id) ?? id).join(', '));
  const rows = models.map((m) => [m.model, String(m.replicas), named(m.placements), named(m.present)]);
  return table([['MODEL', 'REPLICAS', 'PLACED ON', 'HELD BY'], ...rows]);
}

export async function replicasCommand(model: string | undefined, count: string | undefined): Promise<void> {
  if (model === undefined) {
    const [{ models }, { nodes }] = await Promise.all([
      callJson<{ models: ReplicaEntry[] }>('/api/v1/models/replicas'),
      callJson<{ nodes: NodeEntry[] }>('/api/v1/nodes'),
    ]);
    process.stdout.write(replicasTable(models, new Map(nodes.map((n) => [n.id, n.name]))));
    return;
  }
  if (count === undefined || !/^\d+$/.test(count)) throw new ClientError('the replica count must be a whole number, e.g. replicas MODEL 2');
  const set = await callJson<{ model: string; replicas: number }>('/api/v1/models/replicas', { body: { model, replicas: Number(count) } });
  process.stdout.write(`${set.model} should be held by ${set.replicas} node${set.replicas === 1 ? '' : 's'}\n`);
}
