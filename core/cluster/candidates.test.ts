import t from 'tap';
import type { LoadedModel } from '../contracts/engine.js';
import { clusterCandidates } from './candidates.js';
import { Membership } from './membership.js';
import { announcement, heldModel } from './test-support.js';
import type { ClusterView } from './types.js';

const loadedTiny = { name: 'tiny:latest', model: 'tiny:latest', size: 1, digest: 'a'.repeat(64), details: {}, expires_at: '2025-01-01T00:00:00Z', size_vram: 0, context_length: 1 };

function viewOf(membership: Membership): ClusterView {
  return {
    self: () => membership.self(),
    members: () => membership.members(),
    member: (x) => membership.member(x),
    holders: (name) => membership.holders(name),
    conflicts: () => membership.conflicts(),
    setDrained: async () => undefined,
    onChange: () => () => undefined,
  };
}

t.test('holders become candidates: this node with its live figures, the others with what they announced', async (t) => {
  const membership = new Membership(announcement('self', { loaded: [loadedTiny], load: { inFlight: 9, queued: 9, ttftMs: 0, tokensPerSecond: 3, slots: 1, promptTokensPerSecond: 0, loadBytesPerSecond: 0 } }), 0);
  membership.observe(
    announcement('a', {
      gpus: [
        { name: 'g0', backend: 'cuda', vramTotal: 100, vramFree: 40 },
        { name: 'g1', backend: 'cuda', vramTotal: 100, vramFree: 10 },
      ],
      load: { inFlight: 2, queued: 1, ttftMs: 30, tokensPerSecond: 50, slots: 4, promptTokensPerSecond: 900, loadBytesPerSecond: 3e9 },
      models: [{ ...heldModel('tiny:latest'), size: 4321 }],
    }),
    'peer-a',
    1234,
  );
  membership.observe(announcement('b', { models: [] }), 'peer-b', 0);
  const engineLoaded = [{ name: 'tiny:latest', activeRequests: 1 }, { name: 'other:latest', activeRequests: 2 }] as LoadedModel[];
  const source = clusterCandidates(viewOf(membership), { loaded: () => engineLoaded, running: () => 5 });
  t.same(source({ model: 'Tiny:latest', kind: 'generate' }), [
    {
      nodeId: 'self',
      apiUrl: announcement('self').apiUrl,
      local: true,
      modelLoaded: true,
      modelRequests: 1,
      modelSize: 1000,
      load: { activeRequests: 3, queueDepth: 2, tokensPerSecond: 3, gpuUtilization: 0, vramFree: 0, vramTotal: 0, slots: 1, ttftMs: 0, promptTokensPerSecond: 0, loadBytesPerSecond: 0 },
      labels: {},
      scoreBias: 0,
    },
    {
      nodeId: 'a',
      apiUrl: announcement('a').apiUrl,
      local: false,
      modelLoaded: false,
      modelRequests: 3,
      modelSize: 4321,
      load: { activeRequests: 2, queueDepth: 1, tokensPerSecond: 50, gpuUtilization: 0, vramFree: 50, vramTotal: 200, slots: 4, ttftMs: 30, promptTokensPerSecond: 900, loadBytesPerSecond: 3e9 },
      labels: {},
      scoreBias: 0,
      loadAt: 1234,
    },
  ]);
  t.same(source({ model: 'absent:latest', kind: 'chat' }), []);
});
