// Rate-limited links for benchmarks: N network namespaces, each with a veth pair to a bridge in the
// root namespace (10.77.0.i/24, the bridge 10.77.0.254), each link capped with tc tbf in both
// directions, so each namespace has its own uplink and downlink. Needs root and iproute2.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { BenchmarkUnavailable } from './row.js';

const execFileAsync = promisify(execFile);
const BRIDGE = 'odbench0';
const SUBNET = '10.77.0';

export interface LimitedLinks {
  /** Namespace i's address (0-based). */
  host(index: number): string;
  /** The command line that runs a program inside namespace i. */
  wrap(index: number): string[];
  /** Caps every link at `mbit` Mbit/s each way (replacing an earlier cap). */
  limit(mbit: number): Promise<void>;
  /** Deletes the namespaces, their links and the bridge; idempotent. */
  close(): Promise<void>;
}

const namespace = (index: number) => `odbench-${index + 1}`;
const hostSide = (index: number) => `odbh-${index + 1}`;
const innerSide = (index: number) => `odbn-${index + 1}`;

async function sh(command: string, ...args: string[]): Promise<void> {
  try {
    await execFileAsync(command, args);
  } catch (error) {
    throw new Error(`${command} ${args.join(' ')}: ${((error as { stderr?: string }).stderr ?? (error as Error).message).trim()}`);
  }
}

/** Why this process cannot make namespaces, or undefined when it can. */
export async function netnsMissing(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces and tc)';
  for (const tool of ['ip', 'tc']) {
    try {
      await execFileAsync(tool, ['-V']);
    } catch {
      return `${tool} is not installed (apt-get install iproute2)`;
    }
  }
  return undefined;
}

export async function limitedLinks(count: number): Promise<LimitedLinks> {
  const missing = await netnsMissing();
  if (missing) throw new BenchmarkUnavailable(missing);
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    for (let i = 0; i < count; i++) {
      // A process left inside a namespace (one that outlived its stop) would keep it and its link alive.
      const pids = await execFileAsync('ip', ['netns', 'pids', namespace(i)]).then(({ stdout }) => stdout.split(/\s+/).filter(Boolean).map(Number), () => []);
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
      await sh('ip', 'netns', 'del', namespace(i)).catch(() => undefined);
      await sh('ip', 'link', 'del', hostSide(i)).catch(() => undefined);
    }
    await sh('ip', 'link', 'del', BRIDGE).catch(() => undefined);
  };
  // What a run killed before its teardown left behind.
  await close();
  closed = false;
  try {
    await sh('ip', 'link', 'add', BRIDGE, 'type', 'bridge');
    await sh('ip', 'addr', 'add', `${SUBNET}.254/24`, 'dev', BRIDGE);
    await sh('ip', 'link', 'set', BRIDGE, 'up');
    for (let i = 0; i < count; i++) {
      await sh('ip', 'netns', 'add', namespace(i));
      await sh('ip', 'link', 'add', hostSide(i), 'type', 'veth', 'peer', 'name', innerSide(i));
      await sh('ip', 'link', 'set', innerSide(i), 'netns', namespace(i));
      await sh('ip', 'link', 'set', hostSide(i), 'master', BRIDGE, 'up');
      await sh('ip', '-n', namespace(i), 'addr', 'add', `${SUBNET}.${i + 1}/24`, 'dev', innerSide(i));
      await sh('ip', '-n', namespace(i), 'link', 'set', innerSide(i), 'up');
      await sh('ip', '-n', namespace(i), 'link', 'set', 'lo', 'up');
    }
  } catch (error) {
    await close();
    throw error;
  }
  return {
    host: (index) => `${SUBNET}.${index + 1}`,
    wrap: (index) => ['ip', 'netns', 'exec', namespace(index)],
    async limit(mbit) {
      // The host side's egress is the namespace's downlink, the inner side's its uplink.
      const tbf = ['root', 'tbf', 'rate', `${mbit}mbit`, 'burst', '256kb', 'latency', '50ms'];
      for (let i = 0; i < count; i++) {
        await sh('tc', 'qdisc', 'replace', 'dev', hostSide(i), ...tbf);
        await sh('tc', '-n', namespace(i), 'qdisc', 'replace', 'dev', innerSide(i), ...tbf);
      }
    },
    close,
  };
}
