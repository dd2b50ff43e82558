// Which routes the cluster takes part in and how, read from the parsed body before a handler runs:
// inference is routed once by the scheduler, show and push go to one holder, delete, copy and
// unload act on every holder, a drain goes to the node it names and a removal to the leader. Pure: the request path acts on the plan.

import type { RequestKind } from '../../contracts/balancer.js';
import type { PromptSource } from '../../scheduler/prompt-blocks.js';
import { formatModelName, parseModelName } from '../../models/name.js';
import { keepAliveMs } from '../ollama/keep-alive.js';

export type ClusterPlan =
  /** The scheduler picks the node among the model's holders: this one, or another the request is forwarded to. */
  | { action: 'route'; kind: RequestKind; model: string; prompt?: PromptSource }
  /** Served here when this node holds the model, else by a node that does. */
  | { action: 'one-holder'; model: string }
  /** Every node holding the model does it. */
  | { action: 'every-holder'; model: string }
  /** Done by the node the path names (id or name). */
  | { action: 'at-node'; node: string }
  /** Done by the consensus leader. */
  | { action: 'at-leader' };

type Body = Record<string, unknown>;
type Planner = (body: Body, params: Record<string, string>) => ClusterPlan | undefined;

/** The full name:tag the membership view keys models by; undefined where the handler must word the error. */
export function clusterModelName(input: unknown): string | undefined {
  if (typeof input !== 'string' || input.trim() === '') return undefined;
  try {
    return formatModelName(parseModelName(input.trim()));
  } catch {
    return undefined;
  }
}

/** Ollama's unload: an empty prompt (or no messages) with keep_alive 0. */
function unloads(body: Body, empty: boolean): boolean {
  if (!empty || body.keep_alive === undefined || body.keep_alive === null) return false;
  try {
    return keepAliveMs(body.keep_alive, 1) === 0;
  } catch {
    return false;
  }
}

/** `prompt` says how to read the body's prompt for balancers that route by prompt cache. */
function routed(kind: RequestKind, prompt?: PromptSource, unload?: (body: Body) => boolean): Planner {
  return (body) => {
    const model = clusterModelName(body.model);
    if (!model) return undefined;
    if (unload?.(body)) return { action: 'every-holder', model };
    return prompt ? { action: 'route', kind, model, prompt } : { action: 'route', kind, model };
  };
}

function byName(action: 'one-holder' | 'every-holder', field: (body: Body) => unknown): Planner {
  return (body) => {
    const model = clusterModelName(field(body));
    return model ? { action, model } : undefined;
  };
}

const modelOrName = (body: Body) => (typeof body.model === 'string' && body.model !== '' ? body.model : body.name);

/** Routes that run a model; their answers say which node served them. */
const INFERENCE: Record<string, Planner> = {
  'POST /api/generate': routed('generate', 'generate', (body) => unloads(body, body.prompt === undefined || body.prompt === '')),
  'POST /api/chat': routed('chat', 'chat', (body) => unloads(body, !Array.isArray(body.messages) || body.messages.length === 0)),
  'POST /api/embed': routed('embed'),
  'POST /api/embeddings': routed('embed'),
  'POST /v1/chat/completions': routed('chat', 'openai-chat'),
  'POST /v1/completions': routed('generate', 'openai-completion'),
  'POST /v1/embeddings': routed('embed'),
  'POST /v1/responses': routed('chat'),
  'POST /v1/messages': routed('chat'),
};

const PLANNERS: Record<string, Planner> = {
  ...INFERENCE,
  'POST /api/show': byName('one-holder', modelOrName),
  // One push of the newest copy: pushes of one name from several holders would race in the registry.
  'POST /api/push': byName('one-holder', modelOrName),
  'DELETE /api/delete': byName('every-holder', modelOrName),
  'POST /api/copy': byName('every-holder', (body) => body.source),
  'POST /api/v1/nodes/:id/drain': (_body, params) => (params.id ? { action: 'at-node', node: params.id } : undefined),
  'POST /api/v1/nodes/:id/undrain': (_body, params) => (params.id ? { action: 'at-node', node: params.id } : undefined),
  'DELETE /api/v1/nodes/:id': () => ({ action: 'at-leader' }),
};

/** Every route the cluster takes part in, as `METHOD /path/pattern`. */
export const CLUSTER_ROUTES: readonly string[] = Object.keys(PLANNERS);

/** Whether a route (method and path pattern, as Fastify registered it) may involve other nodes. */
export function isClusterRoute(method: string, url: string | undefined): boolean {
  return `${method} ${url}` in PLANNERS;
}

/** Whether a route runs a model: its answers say which node served them. */
export function isInferenceRoute(method: string, url: string | undefined): boolean {
  return `${method} ${url}` in INFERENCE;
}

/** `params` are the path's parameters; a body that is not a JSON object gets no plan (the handler refuses it). */
export function clusterPlan(method: string, url: string | undefined, body: unknown, params: Record<string, string> = {}): ClusterPlan | undefined {
  const planner = PLANNERS[`${method} ${url}`];
  if (!planner) return undefined;
  if (body === undefined) return planner({}, params);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  return planner(body as Body, params);
}
