// What route modules may use. The API server assembles it from the kernel's components.

import type { Logger } from 'pino';
import type { LoadWindow } from '../cluster/load-window.js';
import type { ClusterState } from '../cluster/state-machine.js';
import type { ClusterView } from '../cluster/types.js';
import type { Consensus } from '../contracts/consensus.js';
import type { Authenticator } from '../contracts/auth.js';
import type { Engine } from '../contracts/engine.js';
import type { ModelStore } from '../contracts/storage.js';
import type { Transport } from '../contracts/transport.js';
import type { NodeConfig } from '../config/schema.js';
import type { Distribution } from '../distribution/distribution.js';
import type { UnitStatus } from '../kernel/kernel.js';
import type { Scheduler } from '../scheduler/scheduler.js';
import type { TlsMaterial } from '../security/tls-material.js';

export interface ApiDeps {
  config: NodeConfig;
  logger: Logger;
  nodeId: string;
  store: ModelStore;
  engine: Engine;
  scheduler: Scheduler;
  auth: Authenticator;
  /** The members of the cluster as this node sees them, itself included. */
  cluster: ClusterView;
  /** The agreed cluster facts, the leader and each member's vote. */
  consensus: Consensus<ClusterState>;
  /** Peers and streams; forwarded requests may arrive on its streams. */
  transport: Transport;
  /** This node's recent load, which dispatch feeds and the cluster announces. */
  load: LoadWindow;
  /** Model copies between nodes: the copier and what it is copying. */
  distribution: Distribution;
  /** Each unit's lifecycle state, for health checks. */
  units: () => UnitStatus[];
  startedAt: Date;
  /** This node's certificate and the cluster CA, with security.tls.enabled. */
  tls?: TlsMaterial;
}
