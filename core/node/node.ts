// One ollama-distributed node: claims its data dir, builds the configured plugins and the core
// services through the kernel, serves the API, and stops everything in reverse on request.

import type { Logger } from 'pino';
import type { Authenticator } from '../contracts/auth.js';
import type { Balancer } from '../contracts/balancer.js';
import type { Consensus } from '../contracts/consensus.js';
import type { Engine } from '../contracts/engine.js';
import type { ModelStore } from '../contracts/storage.js';
import type { Transport } from '../contracts/transport.js';
import type { LoadedConfig } from '../config/load.js';
import type { NodeConfig } from '../config/schema.js';
import { ApiServer, type RouteModule } from '../api/server.js';
import { Kernel, type Unit } from '../kernel/kernel.js';
import { Scheduler } from '../scheduler/scheduler.js';
import { clusterCandidates } from '../cluster/candidates.js';
import { Cluster, type ClusterComponents } from '../cluster/cluster.js';
import { LoadWindow } from '../cluster/load-window.js';
import { ConsensusMembers, type ConsensusMembersComponents } from '../cluster/consensus-members.js';
import { clusterStateMachine, type ClusterState } from '../cluster/state-machine.js';
import { ModelChanges, watchModels } from '../cluster/model-changes.js';
import type { ClusterView } from '../cluster/types.js';
import { PlacementLoop, type PlacementLoopComponents } from '../distribution/placement-loop.js';
import { Distribution } from '../distribution/distribution.js';
import { createLogger } from '../log.js';
import { lockDataDir, nodeIdOf, type DataDirLock } from './data-dir.js';
import { exposureProblems, InsecureStartError } from '../security/exposure.js';
import { readTlsMaterial } from '../security/tls-material.js';
import type { ConfiguredPlugin } from './plugins.js';

export interface NodeOptions {
  loaded: LoadedConfig;
  plugins: ConfiguredPlugin[];
  routes: readonly RouteModule[];
  /** Defaults to a logger writing to stdout and the data dir's log file. */
  logger?: Logger;
}

/** The store's model changes reach the cluster view before the call that made them returns. */
function pluginUnit(plugin: ConfiguredPlugin, modelChanges: ModelChanges): Unit {
  const { meta, default: factory } = plugin.module;
  const build = (components: Record<string, unknown>) => {
    const instance = factory(plugin.init)(components);
    return meta.kind === 'storage' ? watchModels(instance as ModelStore, modelChanges) : instance;
  };
  return { name: meta.name, kind: meta.kind, provides: meta.provides, requires: meta.requires, build };
}

/** Time units get, once the stop deadline has cut their work, before the node stops waiting for them. */
export const STOP_GRACE_MS = 2000;

/** From a stop request to the moment the process must be gone. */
export function stopDeadlineMs(config: NodeConfig): number {
  return config.node.stop_timeout + STOP_GRACE_MS;
}

export class OllamaDistributedNode {
  private kernel: Kernel | undefined;
  private lock: DataDirLock | undefined;
  private api: ApiServer | undefined;
  private cluster: Cluster | undefined;
  private consensus: Consensus | undefined;
  private stopping: Promise<boolean> | undefined;
  readonly logger: Logger;
  readonly config: NodeConfig;
  readonly nodeId: string;

  constructor(private readonly options: NodeOptions) {
    this.config = options.loaded.config;
    this.nodeId = nodeIdOf(this.config.storage.data_dir);
    this.logger =
      options.logger ?? createLogger({ level: this.config.logging.level, dataDir: this.config.storage.data_dir, name: this.config.node.name });
  }

  /** A started unit's component by name (e.g. 'cluster', 'transport'), for tools and tests. */
  component<T>(name: string): T {
    if (!this.kernel) throw new Error('the node is not started');
    return this.kernel.get<T>(name);
  }

  /** The API's base URL once started. */
  get url(): string | undefined {
    return this.api?.url;
  }

  async start(signal?: AbortSignal): Promise<void> {
    const { config, logger, nodeId } = this;
    const tls = readTlsMaterial(config.security.tls);
    this.lock = await lockDataDir(config.storage.data_dir, nodeId);
    const startedAt = new Date();
    const kernel = new Kernel(logger, { logger, config, dataDir: config.storage.data_dir, nodeId, stateMachine: clusterStateMachine });
    this.kernel = kernel;
    const modelChanges = new ModelChanges();
    const units: Unit[] = this.options.plugins.map((plugin) => pluginUnit(plugin, modelChanges));
    units.push({ name: 'load', kind: 'core', provides: ['load'], requires: [], build: () => new LoadWindow() });
    units.push({
      name: 'cluster',
      kind: 'core',
      provides: ['cluster'],
      requires: ['nodeId', 'config', 'logger', 'transport', 'storage', 'engine', 'load', 'consensus'],
      build: (c) =>
        (this.cluster = new Cluster(c as unknown as ClusterComponents, { apiUrl: () => this.api?.url, modelChanges })),
    });
    units.push({
      name: 'consensus-members',
      kind: 'core',
      provides: ['consensusMembers'],
      requires: ['consensus', 'cluster', 'config', 'logger', 'nodeId'],
      build: (c) => new ConsensusMembers(c as unknown as ConsensusMembersComponents),
    });
    units.push({
      name: 'placement',
      kind: 'core',
      provides: ['placement'],
      requires: ['nodeId', 'config', 'logger', 'consensus', 'cluster', 'storage'],
      build: (c) => new PlacementLoop(c as unknown as PlacementLoopComponents),
    });
    units.push({
      name: 'scheduler',
      kind: 'core',
      provides: ['scheduler'],
      requires: ['balancer', 'cluster', 'engine', 'load'],
      build: (c) => {
        const engine = c.engine as Engine;
        const load = c.load as LoadWindow;
        const local = { loaded: () => engine.loaded(), running: () => load.running };
        return new Scheduler(c.balancer as Balancer, clusterCandidates(c.cluster as ClusterView, local), { queueSize: config.scheduler.queue_size });
      },
    });
    units.push({
      name: 'distribution',
      kind: 'core',
      provides: ['distribution'],
      requires: ['transport', 'storage', 'cluster', 'consensus', 'logger', 'nodeId', 'load', 'engine'],
      build: (c) =>
        new Distribution(
          {
            transport: c.transport as Transport,
            store: c.storage as ModelStore,
            cluster: c.cluster as ClusterView,
            consensus: c.consensus as Consensus<ClusterState>,
            logger,
            nodeId,
            modelChanges,
            load: c.load as LoadWindow,
            engine: c.engine as Engine,
          },
          { hashThreads: config.scheduler.worker_count, maxRate: config.distribution.max_rate, preload: config.distribution.preload },
        ),
    });
    units.push({
      name: 'api',
      kind: 'core',
      provides: ['api'],
      requires: ['config', 'logger', 'nodeId', 'storage', 'engine', 'scheduler', 'auth', 'cluster', 'load', 'transport', 'consensus', 'distribution'],
      build: (c) =>
        (this.api = new ApiServer(
          {
            config,
            logger,
            nodeId,
            store: c.storage as ModelStore,
            engine: c.engine as Engine,
            scheduler: c.scheduler as Scheduler,
            auth: c.auth as Authenticator,
            cluster: c.cluster as ClusterView,
            transport: c.transport as Transport,
            consensus: c.consensus as Consensus<ClusterState>,
            load: c.load as LoadWindow,
            distribution: c.distribution as Distribution,
            units: () => kernel.status(),
            startedAt,
            tls,
          },
          this.options.routes,
        )),
    });
    try {
      kernel.build(units);
      this.checkExposure(kernel.get<Authenticator>('auth').enforcing);
      await kernel.start(signal);
      this.consensus = kernel.get<Consensus>('consensus');
    } catch (error) {
      await this.stop();
      throw error;
    }
    logger.info({ nodeId, url: this.url, plugins: kernel.status() }, 'node started');
  }

  /** Refuses to expose an unprotected node beyond this machine unless security.insecure allows it. */
  private checkExposure(authEnforcing: boolean): void {
    const problems = exposureProblems(this.config, authEnforcing);
    if (problems.length === 0) return;
    if (!this.config.security.insecure) throw new InsecureStartError(problems);
    for (const problem of problems) this.logger.warn({ insecure: true }, problem);
  }

  /**
   * Lets in-flight requests finish for up to node.stop_timeout, then cuts them; stops every unit in
   * reverse order and frees the data dir. Resolves false when the deadline passed, after leaving
   * behind any unit still stopping STOP_GRACE_MS later.
   */
  stop(): Promise<boolean> {
    this.stopping ??= this.lock ? this.stopUnits(this.lock) : Promise.resolve(true);
    return this.stopping;
  }

  private async stopUnits(lock: DataDirLock): Promise<boolean> {
    const { logger } = this;
    const timeout = this.config.node.stop_timeout;
    logger.info({ stop_timeout_ms: timeout }, 'node stopping');
    // Peers stop routing here before the API drains what it runs, however long that takes, and
    // a leader hands consensus over while it can still be reached.
    await this.cluster?.leave();
    await this.consensus?.transferLeadership(AbortSignal.timeout(timeout)).catch((error: unknown) => logger.warn({ err: error }, 'consensus leadership not handed over'));
    const deadline = new AbortController();
    const cut = setTimeout(() => {
      logger.warn({ stop_timeout_ms: timeout }, 'stop deadline passed: cutting in-flight requests');
      deadline.abort();
    }, timeout);
    let abandon: NodeJS.Timeout | undefined;
    const stopped = (this.kernel?.stop(deadline.signal) ?? Promise.resolve()).then(() => true);
    const abandoned = new Promise<false>((resolve) => (abandon = setTimeout(() => resolve(false), timeout + STOP_GRACE_MS)));
    const unitsStopped = await Promise.race([stopped, abandoned]);
    clearTimeout(cut);
    clearTimeout(abandon);
    if (!unitsStopped) logger.error({ units: this.kernel?.status().filter((u) => u.state === 'stopping') }, 'units did not stop in time; leaving them behind');
    await lock.release();
    logger.info('node stopped');
    logger.flush();
    return unitsStopped && !deadline.signal.aborted;
  }
}
