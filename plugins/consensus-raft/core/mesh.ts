// Test support for exact scenarios: RaftNodes whose messages are delivered only when a test
// flushes them, through a filter it controls, each member keeping a driver's disk.

import { RaftNode, type RaftConfig, type Restored } from './node.js';
import type { ConfState, Entry, HardState, Message, NodeId, ReadState, Snapshot } from './types.js';

export interface MeshMember {
  node: RaftNode;
  disk: { hardState?: HardState; snapshot?: Snapshot; entries: Entry[] };
  applied: Entry[];
  readStates: ReadState[];
  installed: Snapshot[];
}

export function conf(voters: NodeId[], nonVoters: NodeId[] = []): ConfState {
  return {
    members: [
      ...voters.map((id) => ({ id, address: `mesh:${id}`, voter: true })),
      ...nonVoters.map((id) => ({ id, address: `mesh:${id}`, voter: false })),
    ],
  };
}

export class Mesh {
  readonly members = new Map<NodeId, MeshMember>();
  /** Messages sent and not yet delivered. */
  queue: Message[] = [];
  /** Return false to drop a message at delivery. */
  pass: (m: Message) => boolean = () => true;

  constructor(readonly defaults: Partial<RaftConfig> = {}) {}

  add(id: NodeId, restored: Restored, config: Partial<RaftConfig> = {}): RaftNode {
    const node = new RaftNode(
      {
        id,
        electionTicks: 10,
        heartbeatTicks: 1,
        maxAppendEntries: 64,
        preVote: true,
        checkQuorum: true,
        random: () => 0,
        ...this.defaults,
        ...config,
      },
      restored,
    );
    const disk = {
      ...(restored.hardState ? { hardState: restored.hardState } : {}),
      ...(restored.snapshot ? { snapshot: restored.snapshot } : {}),
      entries: [...restored.entries],
    };
    this.members.set(id, { node, disk, applied: [], readStates: [], installed: [] });
    this.drain(id);
    return node;
  }

  /** Starts every id with the same bootstrap membership. */
  static cluster(voters: NodeId[], nonVoters: NodeId[] = [], defaults: Partial<RaftConfig> = {}): Mesh {
    const mesh = new Mesh(defaults);
    const c = conf(voters, nonVoters);
    for (const id of [...voters, ...nonVoters]) mesh.add(id, { entries: [], conf: c });
    return mesh;
  }

  node(id: NodeId): RaftNode {
    return this.members.get(id)!.node;
  }

  /** Runs the driver of `id` until its node has nothing more to hand out. */
  drain(id: NodeId): void {
    const m = this.members.get(id)!;
    while (m.node.hasReady()) {
      const rd = m.node.ready();
      if (rd.snapshot) {
        m.disk.snapshot = rd.snapshot;
        m.disk.entries = [];
        m.installed.push(rd.snapshot);
      }
      if (rd.entries.length > 0) {
        const first = rd.entries[0]!.index;
        m.disk.entries = [...m.disk.entries.filter((e) => e.index < first), ...rd.entries];
      }
      if (rd.hardState) m.disk.hardState = rd.hardState;
      this.queue.push(...rd.messages);
      m.applied.push(...rd.committed);
      m.readStates.push(...rd.readStates);
      m.node.advance(rd);
    }
  }

  /** Delivers messages (and those they cause) until none is left. */
  flush(limit = 10_000): void {
    for (let i = 0; this.queue.length > 0; i++) {
      if (i > limit) throw new Error('mesh: messages keep flowing');
      const m = this.queue.shift()!;
      const to = this.members.get(m.to);
      if (!to || !this.pass(m)) continue;
      to.node.step(m);
      this.drain(m.to);
    }
  }

  tick(id: NodeId, times = 1): void {
    for (let i = 0; i < times; i++) {
      this.node(id).tick();
      this.drain(id);
    }
  }

  tickAll(times = 1): void {
    for (let i = 0; i < times; i++) {
      for (const id of this.members.keys()) this.tick(id);
      this.flush();
    }
  }

  /** Cuts `ids` off from everyone else. */
  isolate(...ids: NodeId[]): void {
    this.pass = (m) => ids.includes(m.from) === ids.includes(m.to);
  }

  heal(): void {
    this.pass = () => true;
  }

  /** Proposes on `id` and runs its driver, so what it sends is queued. */
  propose(id: NodeId, data: string): void {
    this.node(id).propose(bytes(data));
    this.drain(id);
  }

  elect(id: NodeId): void {
    this.node(id).campaign();
    this.drain(id);
    this.flush();
  }

  leaders(): NodeId[] {
    return [...this.members].filter(([, m]) => m.node.status().role === 'leader').map(([id]) => id);
  }

  /** Data of the applied normal entries, as text (the leaders' empty entries left out). */
  appliedData(id: NodeId): string[] {
    const text = new TextDecoder();
    return this.members
      .get(id)!
      .applied.filter((e) => e.type === 'normal' && e.data.length > 0)
      .map((e) => text.decode(e.data));
  }
}

export const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
