// The cluster's shared secret from p2p.cluster_key: the key itself, or the path of a file that
// holds it (as a Kubernetes Secret mounts it). Empty means an open cluster.

import { readFile, stat } from 'node:fs/promises';

/** A value written as a path must name a file: otherwise a typo would become the key itself. */
const LOOKS_LIKE_PATH = /^(\/|\.\.?\/|~\/)/;

export async function resolveClusterKey(value: string): Promise<Uint8Array | undefined> {
  const trimmed = value.trim();
  if (trimmed === '') return undefined;
  const file = await stat(trimmed).then(
    (info) => (info.isFile() ? trimmed : undefined),
    () => undefined,
  );
  if (file === undefined) {
    if (LOOKS_LIKE_PATH.test(trimmed)) throw new Error(`p2p.cluster_key names the file ${trimmed}, which does not exist or is not a file`);
    return Buffer.from(trimmed, 'utf8');
  }
  const key = (await readFile(file, 'utf8')).trim();
  if (key === '') throw new Error(`p2p.cluster_key names the file ${file}, which is empty`);
  return Buffer.from(key, 'utf8');
}
