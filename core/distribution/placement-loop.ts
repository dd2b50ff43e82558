// On the consensus leader: plans where each agreed model should live (planPlacements) whenever the
// cluster facts or the members change, debounced, and proposes placement.set for each model whose
// placement changed. Idle on other members. Copying the bytes is the transfer loop's job.

import type { Logger } from 'pino';
import type { ClusterState } from '../cluster/state-machine.js';
import type { ClusterView, Member } from '../cluster/types.js';
import type { NodeConfig } from '../config/schema.js';
import type { Command, Consensus } from '../contracts/consensus.js';
import type { Startable } from '../contracts/plugin.js';
import type { ModelStore } from '../contracts/storage.js';
import { readGguf, type GgufFile } from '../models/gguf.js';
import { layerOf } from '../models/manifest.js';
import { parseModelName } from '../models/name.js';
import { estimateVram } from '../models/vram-estimate.js';
import { changedPlacements, heldModels, plannerNodes, presentCopies, sameDigest, unregisteredModels } from './placement-input.js';
import { planPlacements, type PlannerModel } from './planner.js';
import { ObservedVram } from './vram-observed.js';

export interface PlacementLoopComponents {
  nodeId: string;
  config: NodeConfig;
  logger: Logger;
  consensus: Consensus<ClusterState>;
  cluster: ClusterView;
  storage: ModelStore;
}

/** A burst of changes (a node joining announces several times) costs one plan. */
export const PLAN_DEBOUNCE_MS = 300;
/** Free disk and VRAM change without a membership event; this picks them up. */
const PLAN_INTERVAL_MS = 10_000;
/** Headers remembered by manifest digest; past it the cache starts over. */
const MAX_HEADERS = 1024;

export class PlacementLoop implements Startable {
  private readonly unsubscribes: (() => void)[] = [];
  private readonly controller = new AbortController();
  private debounce: NodeJS.Timeout | undefined;
  private interval: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private started = false;
  /** Manifest digest → its weights' header, for models this node holds. */
  private readonly headers = new Map<string, GgufFile>();
  private readonly observed = new ObservedVram();

  constructor(private readonly c: PlacementLoopComponents) {}

  start(): void {
    if (this.started) return;
    this.started = true;
    this.unsubscribes.push(this.c.cluster.onChange(this.schedule));
    this.unsubscribes.push(this.c.consensus.watch((event) => (event.type === 'applied' || event.type === 'leader' ? this.schedule() : undefined)));
    this.interval = setInterval(this.schedule, PLAN_INTERVAL_MS);
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    for (const unsubscribe of this.unsubscribes.splice(0)) unsubscribe();
    clearTimeout(this.debounce);
    clearInterval(this.interval);
    this.controller.abort();
    await this.running;
  }

  private readonly schedule = () => {
    if (!this.started || this.c.consensus.leader()?.id !== this.c.nodeId) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.running = this.place().finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.schedule();
        }
      });
    }, PLAN_DEBOUNCE_MS);
  };

  private async place(): Promise<void> {
    const { consensus, cluster, config, logger, nodeId } = this.c;
    try {
      if (consensus.leader()?.id !== nodeId) return;
      const members = cluster.members();
      const held = heldModels(members, consensus.state().state.members);
      for (const [name, digest] of unregisteredModels(consensus.state().state, held)) {
        if (!(await this.propose({ type: 'model.register', payload: { name, digest, replicas: config.distribution.default_replicas } }))) return;
      }
      const { state } = consensus.state();
      await this.observe(state, members);
      const present = presentCopies(state, members);
      const models: PlannerModel[] = [];
      for (const record of Object.values(state.models)) {
        const size = held.get(record.name)?.size;
        // Nobody holds it: no copy can be made, so its placement waits as it is.
        if (size === undefined && (present[record.name] ?? []).length === 0) continue;
        models.push({ name: record.name, size: size ?? 0, vram: await this.vramOf(record.name, record.digest, size ?? 0), replicas: record.replicas });
      }
      const plan = planPlacements({ nodes: plannerNodes(members, state.members, Date.now(), config.distribution.replace_after), models, placements: state.placements, present, policy: config.distribution.policy });
      for (const [model, nodes] of changedPlacements(state.placements, plan)) {
        if (!(await this.propose({ type: 'placement.set', payload: { model, nodes } }))) return;
      }
    } catch (error) {
      if (!this.controller.signal.aborted) logger.warn({ err: error }, 'placement not planned; trying again on the next change');
    }
  }

  /** Proposes `command` while this node still leads; false once it does not (or stops). */
  private async propose(command: Command): Promise<boolean> {
    const { consensus, logger, nodeId } = this.c;
    if (this.controller.signal.aborted || consensus.leader()?.id !== nodeId) return false;
    const { result } = await consensus.propose(command, this.controller.signal);
    if (result && typeof result === 'object' && 'error' in result) logger.warn({ command, error: result.error }, 'placement command refused');
    else logger.info({ command }, command.type === 'placement.set' ? 'model placed' : 'model registered');
    return true;
  }

  /** The header of a model this node holds under `digest`, read once. */
  private async header(name: string, digest: string): Promise<GgufFile | null> {
    const known = this.headers.get(digest);
    if (known) return known;
    let file: GgufFile | undefined;
    try {
      const stored = await this.c.storage.getModel(parseModelName(name));
      const weights = stored && sameDigest(stored.digest, digest) ? layerOf(stored.manifest, 'model') : undefined;
      if (weights) file = await readGguf(this.c.storage.blobPath(weights.digest), { maxArrayLength: 0 });
    } catch (error) {
      this.c.logger.debug({ err: error, model: name }, 'no GGUF header for a VRAM estimate');
    }
    if (!file) return null;
    if (this.headers.size >= MAX_HEADERS) this.headers.clear();
    this.headers.set(digest, file);
    return file;
  }

  /** The header estimate at the configured context, corrected by what nodes used; the file size where this node lacks the header. */
  private async vramOf(name: string, digest: string, size: number): Promise<number> {
    const file = await this.header(name, digest);
    if (!file) return size;
    const estimate = estimateVram(file, this.c.config.engine.llama_cpp.num_ctx);
    return this.observed.correct(name, estimate.contextLength, estimate.total);
  }

  /** Takes in the VRAM each member's loaded models really use, as they announce it. */
  private async observe(state: ClusterState, members: readonly Member[]): Promise<void> {
    for (const member of members) {
      for (const loaded of member.loaded) {
        const record = state.models[loaded.name];
        if (!record || loaded.size_vram <= 0) continue;
        const file = await this.header(record.name, record.digest);
        if (!file) continue;
        const estimate = estimateVram(file, loaded.context_length);
        this.observed.record({ model: record.name, contextLength: estimate.contextLength, estimated: estimate.total, used: loaded.size_vram });
      }
    }
  }
}
