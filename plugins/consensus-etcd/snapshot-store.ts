// Where the etcd backend keeps its facts below <prefix>/, and how the leader stores a snapshot:
// only if newer than the stored one, then without the log keys and etcd history below it.

import type { Etcd3, Namespace } from 'etcd3';
import { encodeSnapshot, parseSnapshot, type StoredSnapshot } from './stored-snapshot.js';

export const LOG = 'log/';
export const SNAPSHOT = 'snapshot';
export const CLUSTER_ID = 'cluster-id';
/** etcd's default --max-txn-ops is 128. */
const DELETES_PER_TXN = 100;

/** Returns whether `snapshot` was stored (false when a newer one is there or another writer won). */
export async function storeSnapshot(
  client: Etcd3,
  ns: Namespace,
  options: { cluster: string; snapshot: StoredSnapshot; compactHistory: boolean; deadline: () => { deadline: number } },
): Promise<boolean> {
  const { cluster, snapshot } = options;
  const current = (await ns.get(SNAPSHOT).exec()).kvs[0];
  const stored = current ? parseSnapshot(current.value) : undefined;
  if (stored && !('invalid' in stored) && stored.revision >= snapshot.revision) return false;
  const written = await ns
    .if(SNAPSHOT, 'Mod', '==', current ? Number(current.mod_revision) : 0)
    .and(CLUSTER_ID, 'Value', '==', cluster)
    .then(ns.put(SNAPSHOT).value(encodeSnapshot(snapshot)))
    .commit();
  if (!written.succeeded) return false;
  // The entry at the snapshot's revision stays, so the log's newest key is never gone (logHead reads it).
  const old = await ns.getAll().prefix(LOG).maxModRevision(String(snapshot.revision - 1)).keys();
  for (let i = 0; i < old.length; i += DELETES_PER_TXN) {
    const batch = old.slice(i, i + DELETES_PER_TXN).map((key) => ns.delete().key(key));
    await ns.if(CLUSTER_ID, 'Value', '==', cluster).then(...batch).commit();
  }
  if (options.compactHistory) {
    await client.kv.compact({ revision: String(snapshot.revision) }, options.deadline()).catch((error: unknown) => {
      if (!/compacted/.test(error instanceof Error ? error.message : String(error))) throw error;
    });
  }
  return true;
}
