// The conformance suite every balancer plugin runs: the Balancer contract's invariants, also under
// many interleaved concurrent requests. A third-party balancer feeds its factory in from a test
// file of its own, or runs `ollama-distributed conformance balancer --plugin <path>`.

import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import type { Test } from 'tap';
import type { Balancer, Candidate, NodeLoad, RouteOutcome, RouteRequest } from '../../core/contracts/balancer.js';
import { prng } from '../fixtures/prng.js';

export function candidate(nodeId: string, activeRequests = 0, local = false): Candidate {
  return {
    nodeId,
    apiUrl: `http://${nodeId}.invalid:11434`,
    local,
    modelLoaded: true,
    modelRequests: activeRequests,
    modelSize: 0,
    load: { activeRequests, queueDepth: 0, tokensPerSecond: 0, gpuUtilization: 0, vramFree: 0, vramTotal: 0, slots: 1, ttftMs: 0, promptTokensPerSecond: 0, loadBytesPerSecond: 0 },
    labels: {},
    scoreBias: 0,
  };
}

const REQUEST: RouteRequest = { model: 'tiny:latest', kind: 'generate' };
const SEED = Number(process.env.OD_BALANCER_SEED ?? 20261203);

/** A candidate with plausible random figures; some unmeasured (0), some with nothing gossiped (0 slots). */
export function randomCandidate(random: () => number, nodeId: string): Candidate {
  const sometimes = (p: number, value: number) => (random() < p ? value : 0);
  const vramTotal = sometimes(0.8, 80e9);
  const load: NodeLoad = {
    activeRequests: Math.floor(random() * 8),
    queueDepth: sometimes(0.4, Math.floor(random() * 20)),
    tokensPerSecond: sometimes(0.7, random() * 300),
    gpuUtilization: random(),
    vramFree: vramTotal * random(),
    vramTotal,
    slots: sometimes(0.9, 1 + Math.floor(random() * 4)),
    ttftMs: sometimes(0.6, random() * 2000),
    promptTokensPerSecond: sometimes(0.6, random() * 4000),
    loadBytesPerSecond: sometimes(0.5, random() * 3e9),
  };
  const modelLoaded = random() < 0.6;
  return { ...candidate(nodeId, 0, random() < 0.2), modelLoaded, modelSize: sometimes(0.8, random() * 20e9), load, scoreBias: sometimes(0.2, random() * 100 - 50) };
}

/** A request carrying a hash chain shared with others for its first few blocks, as chats do. */
function randomRequest(random: () => number, i: number): RouteRequest {
  const kinds = ['generate', 'chat', 'embed'] as const;
  const conversation = Math.floor(random() * 5);
  const blocks = Array.from({ length: Math.floor(random() * 10) }, (_, k) => (k < 3 ? `c${conversation}:${k}` : `r${i}:${k}`));
  return { model: random() < 0.8 ? 'tiny:latest' : 'other:latest', kind: kinds[i % 3]!, promptBlocks: blocks, promptTokens: blocks.length * 64 + Math.floor(random() * 64) };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

/** Runs `steps` requests that start and finish interleaved, as concurrent requests do; returns each pick's node id. */
function interleaved(balancer: Balancer, seed: number, steps: number, check?: (pick: Candidate | undefined, candidates: readonly Candidate[]) => void): string[] {
  const random = prng(seed);
  const pool = Array.from({ length: 12 }, (_, i) => randomCandidate(random, `node-${i}`));
  const running: { nodeId: string; request: RouteRequest }[] = [];
  const picks: string[] = [];
  const outcomes: RouteOutcome[] = ['ok', 'ok', 'ok', 'error', 'cancelled'];
  for (let i = 0; i < steps; i++) {
    if (running.length > 0 && random() < 0.45) {
      const [done] = running.splice(Math.floor(random() * running.length), 1);
      balancer.finished?.(done!.nodeId, done!.request, outcomes[Math.floor(random() * outcomes.length)]!);
      continue;
    }
    // The candidates change from request to request, as nodes come, go and gossip new figures.
    const candidates = deepFreeze(pool.filter(() => random() < 0.7).map((c) => (random() < 0.3 ? randomCandidate(random, c.nodeId) : c)));
    const request = deepFreeze(randomRequest(random, i));
    const pick = balancer.pickNode(request, candidates);
    check?.(pick, candidates);
    picks.push(pick?.nodeId ?? '-');
    if (!pick) continue;
    // Another pickNode tap may win now and then: started names a node the balancer did not pick.
    const nodeId = random() < 0.05 ? pool[Math.floor(random() * pool.length)]!.nodeId : pick.nodeId;
    balancer.started?.(nodeId, request);
    running.push({ nodeId, request });
  }
  for (const { nodeId, request } of running) balancer.finished?.(nodeId, request, 'ok');
  return picks;
}

/** The heap in use after a full collection; the collector is reached through V8's flag at run time. */
function heapAfterGc(): number {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

export function balancerConformance(t: Test, create: () => Balancer | Promise<Balancer>): void {
  t.comment(`balancer conformance seed ${SEED} (OD_BALANCER_SEED replays another)`);

  t.test('has a name', async (t) => {
    const balancer = await create();
    t.ok(typeof balancer.name === 'string' && balancer.name.length > 0);
    for (const flag of ['usesPrompt', 'deterministic'] as const) {
      t.ok(balancer[flag] === undefined || typeof balancer[flag] === 'boolean', `${flag} is a boolean when set`);
    }
  });

  t.test('returns undefined when there is no candidate', async (t) => {
    const balancer = await create();
    t.equal(balancer.pickNode(REQUEST, []), undefined);
  });

  t.test('returns one of the candidates, the same object', async (t) => {
    const balancer = await create();
    const candidates = [candidate('a', 3), candidate('b', 1, true), candidate('c', 2)];
    for (let i = 0; i < 50; i++) {
      const pick = balancer.pickNode(REQUEST, candidates);
      t.ok(candidates.includes(pick!), `pick ${i} is a given candidate`);
    }
  });

  t.test('a single candidate is always picked', async (t) => {
    const balancer = await create();
    const only = candidate('only', 100);
    for (let i = 0; i < 5; i++) t.equal(balancer.pickNode(REQUEST, [only]), only);
  });

  t.test('pickNode is synchronous: it returns a candidate, never a promise', async (t) => {
    const balancer = await create();
    t.not(balancer.pickNode.constructor.name, 'AsyncFunction', 'pickNode is not an async function');
    const pick: unknown = balancer.pickNode(REQUEST, [candidate('a'), candidate('b')]);
    t.notOk(typeof (pick as { then?: unknown } | undefined)?.then === 'function', 'the pick is not a thenable');
  });

  t.test('odd figures (zeros, 0 slots, no prompt, huge numbers) never throw and still pick a candidate', async (t) => {
    const balancer = await create();
    const zero = candidate('zero');
    const noSlots = { ...candidate('no-slots'), load: { ...zero.load, slots: 0 } };
    const unloaded = { ...candidate('unloaded'), modelLoaded: false, modelSize: 0 };
    const huge = { ...candidate('huge'), modelLoaded: false, modelSize: Number.MAX_SAFE_INTEGER, scoreBias: -1e300 };
    huge.load = { activeRequests: 1e9, queueDepth: 1e9, tokensPerSecond: 1e-300, gpuUtilization: 1, vramFree: 0, vramTotal: 0, slots: 1e6, ttftMs: 1e12, promptTokensPerSecond: 1e-300, loadBytesPerSecond: 1e-300 };
    const requests: RouteRequest[] = [
      REQUEST,
      { model: 'm', kind: 'embed', promptBlocks: [], promptTokens: 0 },
      { model: 'm', kind: 'chat', promptBlocks: ['x'], promptTokens: 1e9 },
      { model: '', kind: 'chat' },
    ];
    const lists = [[zero], [noSlots], [zero, noSlots], [unloaded, huge], [huge], [noSlots, huge, unloaded, zero]].map(deepFreeze);
    for (const request of requests) {
      for (const list of lists) {
        const pick = balancer.pickNode(deepFreeze(request), list);
        t.ok(list.includes(pick!), `${request.kind} over ${list.map((c) => c.nodeId).join(', ')}: picks ${pick?.nodeId}`);
        if (pick) balancer.started?.(pick.nodeId, request);
        if (pick) balancer.finished?.(pick.nodeId, request, 'error');
      }
    }
  });

  t.test('started and finished pair up under concurrency without breaking picks', async (t) => {
    const balancer = await create();
    const candidates = [candidate('a'), candidate('b')];
    const picks = Array.from({ length: 20 }, () => balancer.pickNode(REQUEST, candidates)!);
    for (const pick of picks) balancer.started?.(pick.nodeId, REQUEST);
    for (const pick of picks) balancer.finished?.(pick.nodeId, REQUEST, 'ok');
    t.ok(candidates.includes(balancer.pickNode(REQUEST, candidates)!), 'still picks a candidate afterwards');
  });

  t.test('interleaved requests, changing candidates: every pick is one of them, and frozen inputs are not touched', async (t) => {
    const balancer = await create();
    let wrong = 0;
    let missing = 0;
    const picks = interleaved(balancer, SEED, 3000, (pick, candidates) => {
      if (candidates.length > 0 && pick === undefined) missing++;
      if (pick !== undefined && !candidates.includes(pick)) wrong++;
      if (candidates.length === 0 && pick !== undefined) wrong++;
    });
    t.equal(wrong, 0, 'no pick outside the given candidates');
    t.equal(missing, 0, 'a pick whenever there is a candidate');
    t.ok(picks.length > 1000, `${picks.length} picks`);
  });

  t.test('determinism: two instances fed the same calls pick the same nodes', async (t) => {
    const [first, second] = [await create(), await create()];
    if (first.deterministic !== true) {
      t.pass('determinism', { skip: `${first.name} does not declare deterministic: true` });
      return;
    }
    t.same(interleaved(first, SEED + 1, 1500), interleaved(second, SEED + 1, 1500));
  });

  t.test('memory stays bounded under many distinct prompts', async (t) => {
    const balancer = await create();
    const candidates = deepFreeze(Array.from({ length: 8 }, (_, i) => ({ ...candidate(`n${i}`, i % 3), load: { ...candidate('x').load, slots: 4 } })));
    const serve = (first: number, count: number) => {
      for (let i = first; i < first + count; i++) {
        const request: RouteRequest = { model: `m${i % 4}`, kind: 'chat', promptBlocks: Array.from({ length: 16 }, (_, k) => `${i}:${k}:${'p'.repeat(8)}`), promptTokens: 1100 };
        const pick = balancer.pickNode(request, candidates)!;
        balancer.started?.(pick.nodeId, request);
        balancer.finished?.(pick.nodeId, request, 'ok');
      }
    };
    serve(0, 2000);
    const before = heapAfterGc();
    serve(2000, 40_000);
    const grown = heapAfterGc() - before;
    // Holding the 40,000 prompts' 640,000 block hashes would take well over 25 MB.
    t.ok(grown < 6 * 1024 * 1024, `the heap grew by ${(grown / 1048576).toFixed(1)} MiB over 40,000 distinct prompts`);
  });
}
