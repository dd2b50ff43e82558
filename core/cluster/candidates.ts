// The scheduler's candidates from the cluster view: the members that may run the model, as the
// balancer contract describes a node. This node's own figures are read live from its engine.

import type { NodeLoad } from '../contracts/balancer.js';
import type { LoadedModel } from '../contracts/engine.js';
import type { CandidateSource, SourcedCandidate } from '../scheduler/scheduler.js';
import type { ClusterView, Member } from './types.js';

/** What this node knows of itself this instant, fresher than its last announcement. */
export interface LocalState {
  loaded(): LoadedModel[];
  /** Runs begun here and not ended. */
  running(): number;
}

function announcedLoad(member: Member): NodeLoad {
  return {
    activeRequests: member.load.inFlight,
    queueDepth: member.load.queued,
    tokensPerSecond: member.load.tokensPerSecond,
    gpuUtilization: 0,
    vramFree: member.gpus.reduce((sum, gpu) => sum + gpu.vramFree, 0),
    vramTotal: member.gpus.reduce((sum, gpu) => sum + gpu.vramTotal, 0),
    slots: member.load.slots,
    ttftMs: member.load.ttftMs,
    promptTokensPerSecond: member.load.promptTokensPerSecond,
    loadBytesPerSecond: member.load.loadBytesPerSecond,
  };
}

export function clusterCandidates(view: ClusterView, local: LocalState): CandidateSource {
  return (request) => {
    const wanted = request.model.toLowerCase();
    return view.holders(request.model).map((member): SourcedCandidate => {
      const load = announcedLoad(member);
      let modelLoaded = member.loaded.some((model) => model.name.toLowerCase() === wanted);
      let modelRequests = load.activeRequests + load.queueDepth;
      if (member.self) {
        const loaded = local.loaded();
        const active = loaded.reduce((sum, model) => sum + model.activeRequests, 0);
        modelLoaded = loaded.some((model) => model.name.toLowerCase() === wanted);
        Object.assign(load, { activeRequests: active, queueDepth: Math.max(0, local.running() - active) });
        modelRequests = loaded.find((model) => model.name.toLowerCase() === wanted)?.activeRequests ?? 0;
      }
      const modelSize = member.models.find((model) => model.name.toLowerCase() === wanted)?.size ?? 0;
      const candidate: SourcedCandidate = { nodeId: member.id, apiUrl: member.apiUrl, local: member.self, modelLoaded, modelRequests, modelSize, load, labels: {}, scoreBias: 0 };
      if (!member.self) candidate.loadAt = member.lastSeen;
      return candidate;
    });
  };
}
