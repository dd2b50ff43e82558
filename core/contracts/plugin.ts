// What every plugin module looks like to the kernel: metadata plus a two-stage factory.
// The kernel checks the metadata, then builds the plugin with only the components it requires.

export const PLUGIN_KINDS = ['transport', 'consensus', 'balancer', 'auth', 'storage', 'engine'] as const;
export type PluginKind = (typeof PLUGIN_KINDS)[number];

export interface PluginMeta {
  /** Unique, human-readable name; errors and logs use it. */
  readonly name: string;
  readonly kind: PluginKind;
  /** Component names this plugin makes available to others once built (e.g. 'engine'). */
  readonly provides: readonly string[];
  /** Component names it must be given; the kernel refuses to start when one is missing. */
  readonly requires: readonly string[];
}

/**
 * `init` is the plugin's own options from the config; `components` holds exactly the
 * components named in `meta.requires`.
 */
export type PluginFactory<Init = unknown, Components = Record<string, unknown>, Instance = unknown> = (
  init: Init,
) => (components: Components) => Instance;

/** The shape a module (built-in, file path or npm package) must export. */
export interface PluginModule<Init = unknown, Components = Record<string, unknown>, Instance = unknown> {
  readonly meta: PluginMeta;
  readonly default: PluginFactory<Init, Components, Instance>;
}

/**
 * Anything that holds a socket, a worker or a timer. Both methods are idempotent; `stop` after
 * `stop`, or without `start`, resolves at once. After `stop` resolves nothing of the object keeps
 * the event loop alive.
 */
export interface Startable {
  start(signal?: AbortSignal): Promise<void> | void;
  /** Runs once every plugin has started: the place to wire plugins to each other. */
  afterStart?(): Promise<void> | void;
  stop(signal?: AbortSignal): Promise<void> | void;
}

export function isStartable(value: unknown): value is Startable {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Startable).start === 'function' &&
    typeof (value as Startable).stop === 'function'
  );
}

/** A plugin's state as /api/v1/health reports it. */
export type PluginState = 'built' | 'starting' | 'running' | 'stopping' | 'stopped' | 'failed';

/** The components every plugin may ask for besides what other plugins provide. */
export interface BaseComponents {
  logger: import('pino').Logger;
  /** The node's effective configuration, frozen. */
  config: import('../config/schema.js').NodeConfig;
  /** The node's data directory (already created when plugins are built). */
  dataDir: string;
  /** This node's stable id. */
  nodeId: string;
  /** The cluster facts a consensus plugin replicates. */
  stateMachine: import('./consensus.js').StateMachine<import('../cluster/state-machine.js').ClusterState>;
}
