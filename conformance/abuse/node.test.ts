// The abuse suite against a node run as users run it: the built CLI, the embedded llama.cpp engine
// on the tiny model, in a child process inside a memory cgroup; then what only such a node can show.

import { existsSync } from 'node:fs';
import t from 'tap';
import { prepareTinyModel } from '../ollama-api/index.js';
import { ChildNode, CLI } from './child-node.js';
import { abuseSuite, type LocalNode, type VariantNode } from './index.js';
import { lifecycleCases } from './lifecycle-cases.js';
import { memoryCgroupUnavailable } from './memory-cgroup.js';
import { send } from './raw-http.js';
import { treeListing } from './watch.js';

const MODEL = 'tiny';
/** The bound this suite states for the node's peak RSS; the tiny model's node runs near 150 MiB. */
const RSS_LIMIT_BYTES = 1 << 30;
/** Above this the kernel kills the node, not the machine's other processes. */
const CGROUP_LIMIT_BYTES = 2 * (1 << 30);
/** npm test's promise: the suite is done in 3 minutes; a node that hangs fails it, not the run. */
const SUITE_TIMEOUT_MS = 170_000;
const MAX_QUEUE = 4;
const NUM_PARALLEL = 1;
/** The node's node.stop_timeout, which the stop case holds it to. */
const STOP_TIMEOUT_S = 5;
const NODE_ENV = {
  OLLAMA_NODE_STOP_TIMEOUT: `${STOP_TIMEOUT_S}s`,
  OLLAMA_ENGINE: 'llama-cpp',
  OLLAMA_LLAMA_GPU: 'off',
  OLLAMA_NUM_PARALLEL: String(NUM_PARALLEL),
  OLLAMA_MAX_QUEUE: String(MAX_QUEUE),
  OLLAMA_LOGGING_LEVEL: 'warn',
};

/** The first load happens here, not inside a case: loading is a case of its own. */
async function warm(url: string): Promise<void> {
  const reply = await send(url, '/api/generate', { body: { model: MODEL, prompt: 'hi', stream: false, options: { num_predict: 1 } } });
  if (reply.status !== 200) throw new Error(`the tiny model does not generate: ${reply.status} ${reply.text}`);
}

function watched(child: ChildNode, servesTiny: boolean) {
  return {
    url: child.url,
    pid: () => child.pid(),
    rssLimitBytes: RSS_LIMIT_BYTES,
    outside: () => treeListing(child.root, [child.dataDir]),
    oomKills: () => child.oomKills(),
    restart: async () => {
      await child.restart();
      if (servesTiny) await warm(child.url);
    },
  };
}

function localNode(child: ChildNode): LocalNode {
  return {
    ...watched(child, true),
    modelDir: child.modelDir,
    dataDir: child.dataDir,
    cli: (args, timeoutMs) => child.cli(args, timeoutMs),
    exitsWithin: (ms) => child.exitsWithin(ms),
    kill: () => child.kill(),
    async startVariant(env): Promise<VariantNode> {
      const variant = await ChildNode.start({ env: { ...NODE_ENV, ...env }, memoryLimitBytes: CGROUP_LIMIT_BYTES });
      return { ...watched(variant, false), dispose: () => variant.dispose() };
    },
  };
}

const missing = existsSync(CLI) ? memoryCgroupUnavailable() : `${CLI} is missing: run npm run build first`;
if (missing && process.env['CI'] === 'true') {
  t.fail(`the abuse suite cannot run: ${missing}`);
} else if (missing) {
  // Never uncapped: a case here once grew a node to 23.7 GB.
  t.plan(0, `the abuse suite needs ${missing}`);
} else {
  t.setTimeout(SUITE_TIMEOUT_MS);
  let child: ChildNode | undefined;
  const run = abuseSuite(t, {
    async setup() {
      child = await ChildNode.start({ env: NODE_ENV, memoryLimitBytes: CGROUP_LIMIT_BYTES });
      await prepareTinyModel(child.url, MODEL);
      await warm(child.url);
      return { url: child.url, model: MODEL, maxQueue: MAX_QUEUE, numParallel: NUM_PARALLEL, loopbackListener: true, node: localNode(child) };
    },
    async teardown() {
      await child?.dispose();
    },
  });
  lifecycleCases(t, () => ({ node: localNode(child!), model: MODEL, prefix: run.prefix }));
}
