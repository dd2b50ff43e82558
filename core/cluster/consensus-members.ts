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
}

const RECONCILE_INTERVAL_MS = 500;

/** A voter unhealthy for twice the failure timeout (at least 4 s) gives its vote away. */
export const replaceAfterMs = (failureTimeout: number) => Math.max(4000, 2 * failureTimeout);

export class ConsensusMembers implements Startable {
  private timer: NodeJS.Timeout | undefined;
  private changing = false;
  private readonly controller = new AbortController();
  private readonly lastHealthy = new Map<string, number>();
  private readonly since = Date.now();

  constructor(private readonly c: ConsensusMembersComponents) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.reconcile(), RECONCILE_INTERVAL_MS);
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

  /** Records in the cluster facts a member the configuration has and they lack; true if it did. */
  private async register(): Promise<boolean> {
    const { consensus, cluster } = this.c;
    const { members, removed } = consensus.state().state;
    const missing = consensus.members().find((m) => !members[m.id] && removed[m.id] === undefined);
    if (!missing) return false;
    this.changing = true;
    try {
      const name = cluster.member(missing.id)?.name ?? missing.id;
      await consensus.propose({ type: 'member.admit', payload: { id: missing.id, name } }, this.controller.signal);
    } catch (error) {
      if (!this.controller.signal.aborted) this.c.logger.warn({ err: error, member: missing.id }, 'consensus: could not record a member; retrying');
    } finally {
      this.changing = false;
    }
    return true;
  }

  private async reconcile(): Promise<void> {
    const { consensus, nodeId, logger, config } = this.c;
    if (this.changing || consensus.leader()?.id !== nodeId) return;
    if ((await this.register()) || consensus.address() === undefined) return;
    const now = Date.now();
    const change = nextMembershipChange({
      leader: nodeId,
      members: consensus.members(),
      nodes: this.candidates(now),
      voters: config.consensus.voters,
      replaceAfterMs: replaceAfterMs(config.p2p.failure_timeout),
      now,
    });
    if (!change) return;
    this.changing = true;
    try {
      logger.info({ member: change.member.id, voter: change.member.voter, reason: change.reason }, 'consensus: changing membership');
      await consensus.addMember(change.member, this.controller.signal);
    } catch (error) {
      if (!this.controller.signal.aborted) logger.warn({ err: error, member: change.member.id }, 'consensus: membership change did not complete; retrying');
    } finally {
      this.changing = false;
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.controller.abort();
  }
}
