// Fault injection at the file-system calls a process makes under one directory: each call that
// changes the disk is a numbered step, recorded, and the process SIGKILLs itself at a chosen one.

import fs from 'node:fs';
import fsp, { type FileHandle } from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { relative } from 'node:path';

export interface FsStep {
  op: 'open' | 'write' | 'sync' | 'rename' | 'remove' | 'mkdir' | 'utimes' | 'truncate';
  /** Relative to the watched root. */
  path: string;
  /** The rename's target. */
  to?: string;
}

export interface FsFaults {
  readonly steps: FsStep[];
}

/**
 * From now on every disk-changing call under `root` through node:fs/promises (and its FileHandles)
 * is a step. At step `crashAt` (1-based; 0 never) the process is SIGKILLed: before the call, or for
 * a write halfway through its bytes, as a crash mid-write leaves a file. Reads are not steps.
 */
export async function injectFsFaults(root: string, crashAt: number): Promise<FsFaults> {
  const steps: FsStep[] = [];
  const handlePaths = new WeakMap<FileHandle, string>();
  const inside = (path: unknown) => {
    const rel = relative(root, String(path));
    return rel.startsWith('..') ? undefined : rel;
  };
  /** Records the step; at the chosen one runs `torn` (if any) and dies. */
  const step = (entry: FsStep, torn?: () => void) => {
    steps.push(entry);
    if (steps.length !== crashAt) return;
    torn?.();
    process.kill(process.pid, 'SIGKILL');
  };

  const original = { ...fsp };
  const patch = <K extends keyof typeof fsp>(name: K, wrap: (call: (typeof fsp)[K]) => (typeof fsp)[K]) => {
    (fsp as Record<K, unknown>)[name] = wrap(original[name]);
  };

  patch('open', (open) => (async (path: fs.PathLike, flags?: string | number, mode?: fs.Mode) => {
    const rel = inside(path);
    const writes = typeof flags === 'string' && /[wax+]/.test(flags);
    if (rel !== undefined && writes) step({ op: 'open', path: rel });
    const handle = await open(path, flags, mode);
    if (rel !== undefined) handlePaths.set(handle, rel);
    return handle;
  }) as typeof fsp.open);
  patch('writeFile', (writeFile) => (async (path: fs.PathLike, data: string | Uint8Array, options?: fs.WriteFileOptions) => {
    const rel = inside(path);
    if (rel !== undefined) step({ op: 'write', path: rel }, () => fs.writeFileSync(path, halfOf(data), options));
    return writeFile(path as string, data, options as never);
  }) as typeof fsp.writeFile);
  patch('rename', (rename) => async (from, to) => {
    const rel = inside(from);
    if (rel !== undefined) step({ op: 'rename', path: rel, to: inside(to) ?? String(to) });
    return rename(from, to);
  });
  for (const name of ['rm', 'unlink', 'rmdir'] as const) {
    patch(name, (remove) => (async (path: fs.PathLike, options?: object) => {
      const rel = inside(path);
      if (rel !== undefined) step({ op: 'remove', path: rel });
      return (remove as (p: fs.PathLike, o?: object) => Promise<void>)(path, options);
    }) as never);
  }
  patch('mkdir', (mkdir) => (async (path: fs.PathLike, options?: fs.MakeDirectoryOptions) => {
    const rel = inside(path);
    if (rel !== undefined) step({ op: 'mkdir', path: rel });
    return mkdir(path, options);
  }) as typeof fsp.mkdir);
  patch('utimes', (utimes) => async (path, atime, mtime) => {
    const rel = inside(path);
    if (rel !== undefined) step({ op: 'utimes', path: rel });
    return utimes(path, atime, mtime);
  });
  syncBuiltinESMExports();

  const probe = await original.open(process.execPath, 'r');
  const prototype = Object.getPrototypeOf(probe) as FileHandle;
  await probe.close();
  const handleStep = (handle: FileHandle, op: FsStep['op'], torn?: () => void) => {
    const path = handlePaths.get(handle);
    if (path !== undefined) step({ op, path }, torn);
  };
  const { write, writeFile, sync, datasync, truncate } = prototype;
  Object.assign(prototype, {
    write(this: FileHandle, buffer: Uint8Array, offset = 0, length = buffer.byteLength - offset, position: number | null = null) {
      handleStep(this, 'write', () => fs.writeSync(this.fd, buffer, offset, Math.floor(length / 2), position));
      return (write as (...args: unknown[]) => Promise<unknown>).call(this, buffer, offset, length, position);
    },
    writeFile(this: FileHandle, data: string | Uint8Array, options?: object) {
      handleStep(this, 'write', () => fs.writeSync(this.fd, halfOf(data)));
      return writeFile.call(this, data, options as never);
    },
    sync(this: FileHandle) {
      handleStep(this, 'sync');
      return sync.call(this);
    },
    datasync(this: FileHandle) {
      handleStep(this, 'sync');
      return datasync.call(this);
    },
    truncate(this: FileHandle, length?: number) {
      handleStep(this, 'truncate');
      return truncate.call(this, length);
    },
  });
  return { steps };
}

function halfOf(data: string | Uint8Array): Uint8Array {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  return bytes.subarray(0, Math.floor(bytes.byteLength / 2));
}
