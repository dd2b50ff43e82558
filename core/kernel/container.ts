// The dependency-injection container, kept inside core/: components are registered and resolved by
// explicit symbol tokens, one per component name, so plugin code never touches tsyringe.

import 'reflect-metadata';
import { container as rootContainer, type DependencyContainer } from 'tsyringe';

/** The token for a component name; the same name always gives the same token. */
export function componentToken(name: string): symbol {
  return Symbol.for(`ollama-distributed:component:${name}`);
}

export class Components {
  private readonly container: DependencyContainer = rootContainer.createChildContainer();

  register(name: string, value: unknown): void {
    this.container.register(componentToken(name), { useValue: value });
  }

  has(name: string): boolean {
    return this.container.isRegistered(componentToken(name));
  }

  get<T>(name: string): T {
    return this.container.resolve<T>(componentToken(name));
  }

  /** Exactly the named components, as a plugin's factory receives them. */
  pick(names: readonly string[]): Record<string, unknown> {
    return Object.fromEntries(names.map((name) => [name, this.get(name)]));
  }

  dispose(): void {
    this.container.clearInstances();
  }
}
