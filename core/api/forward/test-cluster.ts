// What the forwarding tests share: real nodes in this process with the sim engine, joined over
// libp2p on loopback, and a wait for a condition on their views.

import type { Test } from 'tap';
import { startTestNode, type TestNode } from '../../../conformance/fixtures/node.js';
import type { ClusterView } from '../../cluster/types.js';
import type { Transport } from '../../contracts/transport.js';

export const view = (node: TestNode) => node.node.component<ClusterView>('cluster');

/** Resolves with the ms it took until `condition` held, checked every 10 ms. */
export async function until(condition: () => boolean | Promise<boolean>, withinMs: number, what: string): Promise<number> {
  const started = performance.now();
  while (!(await condition())) {
    if (performance.now() - started > withinMs) throw new Error(`not within ${withinMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return performance.now() - started;
}

/**
 * A routing and forwarding test's own setting: models stay where the test made them, so a drained
 * or dead holder is not replaced by a copy (distribution.default_replicas 0 places nothing).
 */
export const MODELS_STAY = { OLLAMA_DISTRIBUTION_DEFAULT_REPLICAS: '0' };

/** Nodes named `names`, the first the others bootstrap to, all healthy on every node when it resolves. */
export async function startCluster(t: Test, names: string[], env: Record<string, string> = {}): Promise<TestNode[]> {
  const first = await startTestNode({ env: { OLLAMA_ENGINE: 'sim', OLLAMA_NODE_NAME: names[0]!, ...env } });
  t.teardown(() => first.stop());
  const bootstrap = first.node.component<Transport>('transport').addresses()[0]!;
  const rest = await Promise.all(
    names.slice(1).map(async (name) => {
      const node = await startTestNode({ env: { OLLAMA_ENGINE: 'sim', OLLAMA_NODE_NAME: name, OLLAMA_P2P_BOOTSTRAP: bootstrap, ...env } });
      t.teardown(() => node.stop());
      return node;
    }),
  );
  const nodes = [first, ...rest];
  await until(() => nodes.every((n) => view(n).members().filter((m) => m.healthy).length === nodes.length), 10_000, 'every node sees every other healthy');
  return nodes;
}

/** Resolves once every node's view lists `name` at the nodes given. */
export async function heldBy(nodes: TestNode[], name: string, holders: TestNode[]): Promise<void> {
  const ids = holders.map((h) => h.node.nodeId).sort();
  await until(() => nodes.every((n) => JSON.stringify(view(n).holders(name).map((m) => m.id).sort()) === JSON.stringify(ids)), 3000, `${name} held by ${ids.join(', ')} on every node`);
}
