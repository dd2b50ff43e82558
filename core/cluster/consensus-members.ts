// On the consensus leader: records every consensus member in the cluster facts (the members
// placements may name), and keeps the consensus membership in step with the nodes gossip sees,
// one change at a time (nextMembershipChange decides which). Idle on other members; a backend
// that keeps its own membership (etcd: no consensus address) gets only the first.

import type { Logger } from 'pino';
import type { NodeConfig } from '../config/schema.js';
import type { Consensus } from '../contracts/consensus.js';
import type { Startable } from '../contracts/plugin.js';
import type { ClusterState } from './state-machine.js';
import type { ClusterView } from './types.js';
import { nextMembershipChange, type Candidate } from './voters.js';

export interface ConsensusMembersComponents {
  consensus: Consensus<ClusterState>;
  cluster: ClusterView;
  config: NodeConfig;
  logger: Logger;
  nodeId: string;
  /** How often the leader checks for a change to make besides when the view or the leader changes. */
  reconcileIntervalMs?: number;
}

const RECONCILE_INTERVAL_MS = 500;

type Step = 'made' | 'none' | 'failed';

/** A voter unhealthy for twice the failure timeout (at least 4 s) gives its vote away. */
export const replaceAfterMs = (failureTimeout: number) => Math.max(4000, 2 * failureTimeout);

export class ConsensusMembers implements Startable {
  private timer: NodeJS.Timeout | undefined;
  private unwatch: (() => void)[] = [];
  private changing = false;
  /** Asked for while changes were under way: look again before stopping. */
  private again = false;
  private readonly controller = new AbortController();
  private readonly lastHealthy = new Map<string, number>();
  private readonly since = Date.now();

  constructor(private readonly c: ConsensusMembersComponents) {}

  start(): void {
    if (this.timer) return;
    // Out of the caller's turn: a consensus event arrives while consensus handles its own work.
    const reconcile = () => void setImmediate(() => void this.reconcile());
    this.timer = setInterval(reconcile, this.c.reconcileIntervalMs ?? RECONCILE_INTERVAL_MS);
    this.unwatch = [
      this.c.cluster.onChange(reconcile),
      this.c.consensus.watch((event) => {
        if (event.type === 'leader' && event.leader?.id === this.c.nodeId) reconcile();
      }),
    ];
    reconcile();
  }

  private candidates(now: number): Candidate[] {
    const ours = this.c.consensus.clusterId();
    const { removed } = this.c.consensus.state().state;
    const candidates: Candidate[] = [];
    for (const member of this.c.cluster.members()) {
      if (!member.consensus || member.leaving || removed[member.id] !== undefined) continue;
      if (member.consensus.clusterId !== null && member.consensus.clusterId !== ours) continue;
      if (member.healthy) this.lastHealthy.set(member.id, now);
      candidates.push({ id: member.id, address: member.consensus.address, healthy: member.healthy, lastHealthy: this.lastHealthy.get(member.id) ?? this.since });
    }
    return candidates;
  }

  /** Records in the cluster facts a member the configuration has and they lack. */
  private async register(): Promise<Step> {
    const { consensus, cluster } = this.c;
    const { members, removed } = consensus.state().state;
    const missing = consensus.members().find((m) => !members[m.id] && removed[m.id] === undefined);
    if (!missing) return 'none';
    try {
      const name = cluster.member(missing.id)?.name ?? missing.id;
      const { result } = await consensus.propose({ type: 'member.admit', payload: { id: missing.id, name } }, this.controller.signal);
      if (result && typeof result === 'object' && 'error' in result) throw new Error(String(result.error));
      return 'made';
    } catch (error) {
      if (!this.controller.signal.aborted) this.c.logger.warn({ err: error, member: missing.id }, 'consensus: could not record a member; retrying');
      return 'failed';
    }
  }

  /** Makes the next change, if there is one. */
  private async step(): Promise<Step> {
    const { consensus, nodeId, logger, config } = this.c;
    if (this.controller.signal.aborted || consensus.leader()?.id !== nodeId) return 'none';
    const registered = await this.register();
    if (registered !== 'none' || consensus.address() === undefined) return registered;
    const now = Date.now();
    const change = nextMembershipChange({
      leader: nodeId,
      members: consensus.members(),
      nodes: this.candidates(now),
      voters: config.consensus.voters,
      replaceAfterMs: replaceAfterMs(config.p2p.failure_timeout),
      now,
    });
    if (!change) return 'none';
    try {
      logger.info({ member: change.member.id, voter: change.member.voter, reason: change.reason }, 'consensus: changing membership');
      await consensus.addMember(change.member, this.controller.signal);
      return 'made';
    } catch (error) {
      if (!this.controller.signal.aborted) logger.warn({ err: error, member: change.member.id }, 'consensus: membership change did not complete; retrying');
      return 'failed';
    }
  }

  /**
   * Changes follow one another at once, so a joining node is admitted, recorded and promoted
   * without waiting a tick per step; after a failed one the next tick tries again.
   */
  private async reconcile(): Promise<void> {
    if (this.changing) {
      this.again = true;
      return;
    }
    this.changing = true;
    try {
      for (;;) {
        this.again = false;
        const step = await this.step();
        if (step === 'failed' || (step === 'none' && !this.again)) break;
      }
    } finally {
      this.changing = false;
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    for (const unwatch of this.unwatch) unwatch();
    this.unwatch = [];
    this.controller.abort();
  }
}
