// Small questions about files (and one small change) that treat "not there" as an answer rather
// than a failure, so callers racing a concurrent delete read it as absence.

import { stat, utimes } from 'node:fs/promises';

export function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** Size of a regular file, or undefined when there is none at `path`. */
export async function fileSize(path: string): Promise<number | undefined> {
  try {
    const info = await stat(path);
    return info.isFile() ? info.size : undefined;
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
}

/**
 * Marks a blob found already complete as just written, so a start-up prune of another process
 * sharing the store gives it the grace period of a new one.
 */
export async function touch(path: string): Promise<void> {
  const now = new Date();
  try {
    await utimes(path, now, now);
  } catch (error) {
    if (!isMissing(error)) throw error;
  }
}
