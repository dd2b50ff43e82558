// A cgroup v1 memory group for a node the suite attacks: the kernel kills only what runs inside it
// when it passes its limit, so a memory bomb cannot take the machine's other processes with it.

import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const MEMORY_ROOT = '/sys/fs/cgroup/memory';

/** Why no memory group can be made here, or undefined when one can. */
export function memoryCgroupUnavailable(): string | undefined {
  if (!existsSync(join(MEMORY_ROOT, 'tasks'))) return `no cgroup v1 memory controller at ${MEMORY_ROOT}`;
  const probe = join(MEMORY_ROOT, `od-abuse-probe-${process.pid}`);
  try {
    mkdirSync(probe);
    rmdirSync(probe);
    return undefined;
  } catch (error) {
    return `cannot create a memory cgroup under ${MEMORY_ROOT}: ${(error as Error).message}`;
  }
}

export class MemoryCgroup {
  readonly path: string;

  constructor(name: string, readonly limitBytes: number) {
    this.path = join(MEMORY_ROOT, name);
    mkdirSync(this.path);
    try {
      writeFileSync(join(this.path, 'memory.limit_in_bytes'), String(limitBytes));
    } catch (error) {
      rmdirSync(this.path);
      throw error;
    }
  }

  /** The file a process writes its pid to, to join the group (`echo $$ > ...`). */
  get tasksFile(): string {
    return join(this.path, 'cgroup.procs');
  }

  pids(): number[] {
    try {
      return readFileSync(this.tasksFile, 'utf8').split('\n').filter(Boolean).map(Number);
    } catch {
      return [];
    }
  }

  /** Times the kernel's OOM killer acted in this group. */
  oomKills(): number {
    try {
      return Number(/^oom_kill (\d+)/m.exec(readFileSync(join(this.path, 'memory.oom_control'), 'utf8'))?.[1] ?? 0);
    } catch {
      return 0;
    }
  }

  private killAll(): void {
    for (const pid of this.pids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  /** SIGKILLs whatever still runs in the group (all of it started by this suite) and removes it. */
  async remove(): Promise<void> {
    for (let attempt = 0; attempt < 50; attempt++) {
      this.killAll();
      try {
        rmdirSync(this.path);
        return;
      } catch {
        await sleep(100);
      }
    }
    throw new Error(`could not remove cgroup ${this.path}: processes ${this.pids().join(', ')} remain`);
  }

  /** For process exit, when nothing can be awaited: kill and try once. */
  removeNow(): void {
    this.killAll();
    try {
      rmdirSync(this.path);
    } catch {
      // a killed task may take a moment to leave; the group is empty and harmless
    }
  }
}
