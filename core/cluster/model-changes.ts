// Tells the cluster when this node's model list changes through the store: a create, pull, copy
// or delete resolves only after the view has taken the new list in, so the next request finds it.

import type { ModelStore } from '../contracts/storage.js';

type Listener = () => Promise<void>;

const MUTATIONS = new Set<PropertyKey>(['putManifest', 'deleteModel', 'copyModel']);

export class ModelChanges {
  private readonly listeners = new Set<Listener>();

  listen(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves once every listener has taken the change in; a listener's failure is its own to log. */
  async changed(): Promise<void> {
    await Promise.all([...this.listeners].map((listener) => listener().catch(() => undefined)));
  }
}

/** The store as every other unit sees it: the same store, reporting its model list's changes. */
export function watchModels(store: ModelStore, changes: ModelChanges): ModelStore {
  return new Proxy(store, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      const bound = (value as (...args: unknown[]) => unknown).bind(target);
      if (!MUTATIONS.has(property)) return bound;
      return async (...args: unknown[]) => {
        try {
          return await bound(...args);
        } finally {
          await changes.changed();
        }
      };
    },
  });
}
