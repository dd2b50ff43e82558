// Builds units (configured plugins and core services) in dependency order, starts them in that
// order and stops them in reverse. Each unit receives only the components it requires.

import type { Logger } from 'pino';
import { isStartable, type PluginState, type Startable } from '../contracts/plugin.js';
import { ProductError } from '../errors.js';
import { Components } from './container.js';

export interface Unit {
  name: string;
  /** A plugin kind, or 'core' for the node's own services. */
  kind: string;
  provides: readonly string[];
  requires: readonly string[];
  build(components: Record<string, unknown>): unknown;
}

interface Built {
  unit: Unit;
  instance: unknown;
  state: PluginState;
}

export interface UnitStatus {
  name: string;
  kind: string;
  state: PluginState;
}

/** Orders units so every unit comes after the providers of what it requires. */
export function dependencyOrder(units: readonly Unit[], baseComponents: readonly string[]): Unit[] {
  const providers = new Map<string, Unit>();
  for (const unit of units) {
    for (const name of unit.provides) {
      const existing = providers.get(name);
      if (existing) {
        throw new ProductError('OD_ERR_PLUGIN_DEPENDENCY', `plugin ${unit.name} and plugin ${existing.name} both provide '${name}'`);
      }
      providers.set(name, unit);
    }
  }
  const ordered: Unit[] = [];
  const visiting = new Set<Unit>();
  const visit = (unit: Unit, path: string[]) => {
    if (ordered.includes(unit)) return;
    if (visiting.has(unit)) {
      throw new ProductError('OD_ERR_PLUGIN_DEPENDENCY', `plugin ${unit.name} is part of a dependency cycle: ${[...path, unit.name].join(' -> ')}`);
    }
    visiting.add(unit);
    for (const name of unit.requires) {
      if (baseComponents.includes(name)) continue;
      const provider = providers.get(name);
      if (!provider) throw new ProductError('OD_ERR_PLUGIN_DEPENDENCY', `plugin ${unit.name} requires '${name}', which no configured plugin provides`);
      visit(provider, [...path, unit.name]);
    }
    visiting.delete(unit);
    ordered.push(unit);
  };
  for (const unit of units) visit(unit, []);
  return ordered;
}

export class Kernel {
  private readonly components = new Components();
  private readonly baseNames: string[];
  private built: Built[] = [];
  private running = false;

  constructor(
    private readonly logger: Logger,
    baseComponents: Record<string, unknown>,
  ) {
    for (const [name, value] of Object.entries(baseComponents)) this.components.register(name, value);
    this.baseNames = Object.keys(baseComponents);
  }

  /** Builds every unit; throws naming the plugin whose factory failed. */
  build(units: readonly Unit[]): void {
    for (const unit of dependencyOrder(units, this.baseNames)) {
      let instance: unknown;
      try {
        instance = unit.build(this.components.pick(unit.requires));
      } catch (error) {
        throw new ProductError('OD_ERR_PLUGIN_START', `plugin ${unit.name} (${unit.kind}) failed to build: ${(error as Error).message}`, { cause: error });
      }
      for (const name of unit.provides) this.components.register(name, instance);
      this.built.push({ unit, instance, state: 'built' });
    }
  }

  get<T>(name: string): T {
    return this.components.get<T>(name);
  }

  /** Starts units in dependency order, then runs every afterStart. On failure stops what started. */
  async start(signal?: AbortSignal): Promise<void> {
    if (this.running) return;
    this.running = true;
    for (const entry of this.built) {
      if (!isStartable(entry.instance)) {
        entry.state = 'running';
        continue;
      }
      entry.state = 'starting';
      try {
        signal?.throwIfAborted();
        await entry.instance.start(signal);
        entry.state = 'running';
        this.logger.debug({ plugin: entry.unit.name, kind: entry.unit.kind }, 'started');
      } catch (error) {
        entry.state = 'failed';
        await this.stop();
        throw new ProductError('OD_ERR_PLUGIN_START', `plugin ${entry.unit.name} (${entry.unit.kind}) failed to start: ${(error as Error).message}`, { cause: error });
      }
    }
    for (const entry of this.built) {
      try {
        await (entry.instance as Partial<Startable>).afterStart?.();
      } catch (error) {
        entry.state = 'failed';
        await this.stop();
        throw new ProductError('OD_ERR_PLUGIN_START', `plugin ${entry.unit.name} (${entry.unit.kind}) failed after start: ${(error as Error).message}`, { cause: error });
      }
    }
  }

  /** Stops started units in reverse order; never throws, logs what failed. Idempotent. */
  async stop(signal?: AbortSignal): Promise<void> {
    for (const entry of [...this.built].reverse()) {
      if (entry.state === 'stopped' || entry.state === 'built') continue;
      if (!isStartable(entry.instance)) {
        entry.state = 'stopped';
        continue;
      }
      entry.state = 'stopping';
      try {
        await entry.instance.stop(signal);
        entry.state = 'stopped';
      } catch (error) {
        entry.state = 'failed';
        this.logger.error({ plugin: entry.unit.name, err: error }, 'plugin failed to stop');
      }
    }
    this.running = false;
  }

  status(): UnitStatus[] {
    return this.built.map(({ unit, state }) => ({ name: unit.name, kind: unit.kind, state }));
  }
}
