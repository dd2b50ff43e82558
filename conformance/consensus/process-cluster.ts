// A consensus cluster of real processes, one member each (member-process.ts), for any consensus
// plugin: the suite kills them with SIGKILL and restarts them on their data dirs. Members whose
// backend has addresses (raft) form a cluster as nodes do: the first bootstraps, the others are
// added by the leader; members of a backend with its own membership (etcd) just start.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Command, Consensus, ConsensusEvent, LeaderInfo, Member } from '../../core/contracts/consensus.js';
import { NotLeaderError } from '../../core/contracts/consensus.js';
import { freePort } from '../fixtures/free-port.js';
import type { KvState } from './kv-state-machine.js';
import type { Call, MemberSpec, Mirror } from './member-process.js';
import { waitFor, type ConsensusCluster, type SuiteTest } from './suite.js';

const HERE = dirname(fileURLToPath(import.meta.url));
/** The compiled member: tests run from sources, children from dist like the CLI's. */
const MEMBER = basename(resolve(HERE, '../..')) === 'dist' ? join(HERE, 'member-process.js') : resolve(HERE, '../../dist/conformance/consensus/member-process.js');

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;

export interface ProcessClusterOptions {
  /** A built-in consensus name (raft, etcd) or a path to a plugin module. */
  plugin: string;
  baseDir?: string;
  /** Extra OLLAMA_* variables for member i of the cluster numbered `cluster` (e.g. the etcd endpoints). */
  env?: (i: number, cluster: number) => Record<string, string>;
  /** Consensus settings for member i of cluster number `cluster` (e.g. an etcd prefix of its own). */
  consensus?: (i: number, cluster: number) => Partial<MemberSpec['consensus']>;
  /** How long a member may take to start. */
  startTimeoutMs?: number;
}

export class ProcessMember implements Consensus<KvState> {
  readonly name: string;
  private mirror: Mirror = { clusterId: null, address: null, leader: null, members: [], state: {}, index: 0 };
  private readonly calls = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  private readonly listeners = new Set<(event: ConsensusEvent, state: KvState) => void>();
  private nextId = 0;
  readonly exited: Promise<void>;
  private stderr = '';

  constructor(
    readonly child: ChildProcess,
    plugin: string,
    ready: (error?: Error) => void,
  ) {
    this.name = plugin;
    this.exited = new Promise((done) => child.once('exit', () => done()));
    child.stderr!.on('data', (chunk: Buffer) => (this.stderr = (this.stderr + chunk.toString()).slice(-8192)));
    child.once('exit', (code, signal) => {
      const gone = new Error(`consensus member exited (${signal ?? code})${this.stderr ? `: ${this.stderr.trim()}` : ''}`);
      ready(gone);
      for (const call of this.calls.values()) call.reject(gone);
      this.calls.clear();
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const message = JSON.parse(line) as { ready?: true; id?: number; result?: unknown; error?: { message: string; code: string | null }; event?: ConsensusEvent; mirror: Mirror };
      this.mirror = message.mirror;
      if (message.ready) ready();
      if (message.event) for (const listener of this.listeners) listener(message.event, this.mirror.state);
      if (message.id === undefined) return;
      const call = this.calls.get(message.id);
      this.calls.delete(message.id);
      if (!message.error) return call?.resolve(message.result);
      const error = message.error.code === 'OD_ERR_NOT_LEADER' ? new NotLeaderError(this.mirror.leader ?? undefined) : new Error(message.error.message);
      call?.reject(error);
    });
  }

  private call<T>(call: DistributiveOmit<Call, 'id'>): Promise<T> {
    const id = ++this.nextId;
    return new Promise<T>((resolve, reject) => {
      this.calls.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.child.stdin!.write(`${JSON.stringify({ ...call, id })}\n`);
    });
  }

  start(): void {}
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    await this.call({ method: 'stop' }).catch(() => undefined);
    this.child.stdin!.end();
    await this.exited;
  }
  clusterId = () => this.mirror.clusterId ?? undefined;
  address = () => this.mirror.address ?? undefined;
  leader = (): LeaderInfo | undefined => this.mirror.leader ?? undefined;
  members = (): Member[] => this.mirror.members;
  state = () => ({ state: this.mirror.state, index: this.mirror.index });
  propose = (command: Command) => this.call<{ index: number; result: unknown }>({ method: 'propose', command });
  read = () => this.call<KvState>({ method: 'read' });
  addMember = (member: Member) => this.call<void>({ method: 'addMember', member });
  removeMember = (memberId: string) => this.call<void>({ method: 'removeMember', memberId });
  transferLeadership = () => this.call<void>({ method: 'transferLeadership' });
  /** transferLeadership with a deadline `waitMs` from now, as a node's stop gives it. */
  transferLeadershipWithin = (waitMs: number) => this.call<void>({ method: 'transferLeadership', waitMs });
  watch(listener: (event: ConsensusEvent, state: KvState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

interface Slot {
  spec: MemberSpec;
  member: ProcessMember | undefined;
}

export class ProcessCluster implements ConsensusCluster<KvState> {
  private readonly slots: Slot[] = [];

  constructor(
    private readonly options: ProcessClusterOptions,
    private readonly root: string,
    private readonly number: number,
  ) {}

  private async specFor(index: number): Promise<MemberSpec> {
    const bootstrap = index === 0;
    return {
      plugin: this.options.plugin,
      baseDir: this.options.baseDir ?? process.cwd(),
      nodeId: `member-${index + 1}`,
      dataDir: join(this.root, `member-${index + 1}`),
      // A member told of a peer joins a cluster instead of forming one, as a node does.
      env: { ...(bootstrap ? {} : { OLLAMA_P2P_BOOTSTRAP: '/ip4/127.0.0.1/tcp/1' }), ...this.options.env?.(index, this.number) },
      consensus: { bind_addr: `127.0.0.1:${await freePort()}`, bootstrap, data_dir: join(this.root, `member-${index + 1}`, 'consensus'), ...this.options.consensus?.(index, this.number) },
    };
  }

  async launch(index: number): Promise<ProcessMember> {
    const slot = this.slots[index]!;
    const child = spawn(process.execPath, [MEMBER], { env: { ...process.env, OD_CONSENSUS_MEMBER: JSON.stringify(slot.spec) }, stdio: ['pipe', 'pipe', 'pipe'] });
    let settle!: (error?: Error) => void;
    const ready = new Promise<void>((resolve, reject) => (settle = (error) => (error ? reject(error) : resolve())));
    const member = new ProcessMember(child, this.options.plugin, settle);
    const timeout = setTimeout(() => settle(new Error(`consensus member ${slot.spec.nodeId} did not start within ${this.options.startTimeoutMs ?? 15_000} ms`)), this.options.startTimeoutMs ?? 15_000);
    try {
      await ready;
    } catch (error) {
      child.kill('SIGKILL');
      throw error;
    } finally {
      clearTimeout(timeout);
    }
    slot.member = member;
    return member;
  }

  async add(): Promise<{ index: number; member: ProcessMember }> {
    const index = this.slots.length;
    this.slots.push({ spec: await this.specFor(index), member: undefined });
    return { index, member: await this.launch(index) };
  }

  /** Brings a started member in through the leader, as a voter, when the backend needs that. */
  async join(member: ProcessMember, index: number): Promise<void> {
    const address = member.address();
    if (address === undefined) return;
    await waitFor(15_000, `a leader to add ${this.nodeId(index)}`, async () => {
      const leader = this.leaderMember();
      if (!leader) return false;
      try {
        await leader.addMember({ id: this.nodeId(index), address, voter: true });
        return true;
      } catch {
        return false;
      }
    });
  }

  private leaderMember(): ProcessMember | undefined {
    return this.slots.find((slot) => slot.member && slot.member.leader()?.id === slot.spec.nodeId)?.member;
  }

  members(): (Consensus<KvState> | undefined)[] {
    return this.slots.map((slot) => slot.member);
  }

  nodeId(i: number): string {
    return this.slots[i]!.spec.nodeId;
  }

  /** Member i's consensus state on disk. */
  consensusDir(i: number): string {
    return this.slots[i]!.spec.consensus.data_dir!;
  }

  async kill(i: number): Promise<void> {
    const member = this.slots[i]!.member;
    if (!member) return;
    this.slots[i]!.member = undefined;
    member.child.kill('SIGKILL');
    await member.exited;
  }

  async restart(i: number): Promise<void> {
    if (this.slots[i]!.member) return;
    await this.launch(i);
  }

  async spawn(): Promise<{ index: number; member: Member }> {
    const { index, member } = await this.add();
    return { index, member: { id: this.nodeId(index), address: member.address() ?? '', voter: false } };
  }

  /** A hung member: alive, its connections open, doing nothing until resume (SIGSTOP). */
  pause(i: number): void {
    this.slots[i]!.member?.child.kill('SIGSTOP');
  }

  resume(i: number): void {
    this.slots[i]!.member?.child.kill('SIGCONT');
  }

  /** When the test process itself goes, its members go with it. */
  killAll(): void {
    for (const slot of this.slots) slot.member?.child.kill('SIGKILL');
  }

  async stop(): Promise<void> {
    await Promise.all(this.slots.map(async (slot) => {
      const member = slot.member;
      slot.member = undefined;
      if (!member) return;
      const stopped = member.stop();
      const killed = new Promise<void>((done) => setTimeout(() => {
        member.child.kill('SIGKILL');
        done();
      }, 10_000).unref());
      await Promise.race([stopped, killed]);
      await member.exited;
    }));
    rmSync(this.root, { recursive: true, force: true });
  }
}

export function processClusterFactory(options: ProcessClusterOptions): { start(opts: { size: number; t: SuiteTest }): Promise<ProcessCluster> } {
  let started = 0;
  return {
    async start({ size, t }: { size: number; t: SuiteTest }) {
      const cluster = new ProcessCluster(options, mkdtempSync(join(tmpdir(), 'od-consensus-')), ++started);
      t.teardown(() => cluster.stop());
      process.once('exit', () => cluster.killAll());
      try {
        for (let i = 0; i < size; i++) {
          const { member } = await cluster.add();
          if (i > 0) await cluster.join(member, i);
        }
      } catch (error) {
        await cluster.stop();
        throw error;
      }
      return cluster;
    },
  };
}
