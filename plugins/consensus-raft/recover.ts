// Recovery of a cluster that lost its quorum for good, from one survivor's state, in the manner
// of etcd's --force-new-cluster: every entry in the survivor's log counts as committed, and config
// entries appended after them leave it the only voter. Started again, it leads at once with all it
// had; the other members rejoin from empty consensus data dirs. Run only on a stopped node.

import type { ConfChange, Entry, HardState } from './core/index.js';
import { encodeConfChange, RaftNode } from './core/index.js';
import { RaftStorage } from './io/storage.js';

export interface Recovered {
  clusterId: string;
  /** The last index the survivor holds, now committed. */
  index: number;
  /** Members taken out of the configuration, or whose vote was taken. */
  removed: string[];
}

/** Replays the survivor's log through the core to learn the configuration it ends with. */
function configurationOf(nodeId: string, stored: ReturnType<RaftStorage['load']>) {
  const node = new RaftNode(
    { id: nodeId, electionTicks: 10, heartbeatTicks: 1, maxAppendEntries: 64, preVote: true, checkQuorum: true, random: () => 0 },
    { hardState: stored.hardState, snapshot: stored.snapshot, entries: stored.entries, conf: { members: [] } },
  );
  // Config entries take effect as they are applied; apply everything the log holds.
  while (node.hasReady()) node.advance(node.ready());
  return node.status();
}

export async function recoverAlone(dataDir: string, nodeId: string): Promise<Recovered> {
  const storage = await RaftStorage.open(dataDir);
  try {
    const stored = storage.load();
    if (!stored.meta) throw new Error(`consensus.data_dir ${dataDir} holds no cluster: there is nothing to recover`);
    if (stored.meta.nodeId !== nodeId) throw new Error(`consensus.data_dir ${dataDir} belongs to node ${stored.meta.nodeId}, not ${nodeId}`);
    const last = stored.entries[stored.entries.length - 1];
    const lastIndex = last?.index ?? stored.snapshot?.meta.index ?? 0;
    const term = Math.max(stored.hardState?.term ?? 0, last?.term ?? 0, stored.snapshot?.meta.term ?? 0);
    // Everything in the log first counts as committed, then the new configuration is appended.
    const committed: HardState = { term, vote: stored.hardState?.vote ?? null, commit: lastIndex };
    await storage.save({ hardState: committed, entries: [] });
    const conf = configurationOf(nodeId, storage.load()).conf;
    const self = conf.members.find((m) => m.id === nodeId);
    if (!self) throw new Error(`node ${nodeId} is not in the configuration it holds; recover from a member that is`);
    const changes: ConfChange[] = [
      ...(self.voter ? [] : [{ type: 'set', member: { ...self, voter: true } } as const]),
      ...conf.members.filter((m) => m.id !== nodeId).map((m) => ({ type: 'remove', id: m.id }) as const),
    ];
    const entries: Entry[] = changes.map((change, i) => ({ index: lastIndex + 1 + i, term, type: 'config', data: encodeConfChange(change) }));
    await storage.save({ hardState: { ...committed, commit: lastIndex + entries.length }, entries });
    return { clusterId: stored.meta.clusterId, index: lastIndex + entries.length, removed: conf.members.filter((m) => m.id !== nodeId).map((m) => m.id) };
  } finally {
    await storage.close();
  }
}
