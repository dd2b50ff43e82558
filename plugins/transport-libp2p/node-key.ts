// The node's libp2p identity: an Ed25519 key kept in the data dir, so its peer id survives
// restarts. A damaged key file stops the start instead of silently making a new identity.

import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';

export const NODE_KEY_FILE = 'p2p-key';

/** Temp file beside the target, fsync, rename: a crash leaves the old key or the new one, never half. */
async function writePrivately(file: string, bytes: Uint8Array): Promise<void> {
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/** Reads <dataDir>/p2p-key, or makes and stores a new key when there is none. */
export async function loadNodeKey(dataDir: string): Promise<PrivateKey> {
  const file = join(dataDir, NODE_KEY_FILE);
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    const key = await generateKeyPair('Ed25519');
    await writePrivately(file, privateKeyToProtobuf(key));
    return key;
  }
  try {
    return privateKeyFromProtobuf(bytes);
  } catch (error) {
    throw new Error(
      `the node key ${file} is damaged (${(error as Error).message}); restore it from a backup, or delete it to give this node a new peer id`,
      { cause: error },
    );
  }
}
