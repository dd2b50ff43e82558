// What generate, chat and embed share before running: the model resolved to an engine spec, the
// capability checks Ollama makes (with its messages), and load-only / unload requests.

import type { RequestKind } from '../../contracts/balancer.js';
import type { Capability, ModelSpec, ThinkValue } from '../../contracts/engine.js';
import type { StoredModel } from '../../contracts/storage.js';
import { badRequest } from '../../errors.js';
import { modelSpec } from '../../models/spec.js';
import type { ApiDeps } from '../deps.js';
import { dispatchOnce, type Dispatch } from '../dispatch.js';
import { MODEL_WORDING, storedModel, type ModelWording } from './model-ref.js';

export interface Target {
  /** The name as the client sent it; Ollama echoes it back in `model`. */
  input: string;
  stored: StoredModel;
  spec: ModelSpec;
}

export async function resolveTarget(deps: ApiDeps, input: string | undefined, signal: AbortSignal, wording: ModelWording = MODEL_WORDING.chat): Promise<Target> {
  const stored = await storedModel(deps.store, input, signal, wording);
  return { input: input!, stored, spec: await modelSpec(deps.store, stored) };
}

/** Ollama's full name, as its capability errors print it: registry.ollama.ai/library/tiny:latest. */
function fullName({ stored }: Target): string {
  const { host, namespace, model, tag } = stored.name;
  return `${host}/${namespace}/${model}:${tag}`;
}

/**
 * Refuses a request the model cannot serve, in Ollama's order: thinking first, then completion
 * (`"tiny" does not support chat`, naming the endpoint), then the other needs after the full name.
 * Returns the `think` the run goes with: a model that thinks does so unless asked not to.
 */
export async function requireCapabilities(
  deps: ApiDeps,
  target: Target,
  endpoint: 'generate' | 'chat',
  needs: Capability[],
  think?: ThinkValue,
  { relaxThinking = false }: { relaxThinking?: boolean } = {},
): Promise<ThinkValue | undefined> {
  const has = await deps.engine.capabilities(target.spec);
  const thinks = has.includes('thinking');
  if (!thinks && think !== undefined && think !== false) {
    if (relaxThinking) think = undefined;
    else throw badRequest(`${JSON.stringify(target.input)} does not support thinking`);
  }
  if (!has.includes('completion')) throw badRequest(`${JSON.stringify(target.input)} does not support ${endpoint}`);
  const missing = needs.filter((capability) => !has.includes(capability));
  if (missing.length > 0) throw badRequest(`${fullName(target)} does not support ${missing.join('\n')}`);
  return thinks ? (think ?? true) : think;
}

/** Loads the model where the scheduler routes it (Ollama's empty prompt or empty messages). */
export function loadModel(deps: ApiDeps, dispatch: Dispatch, target: Target, kind: RequestKind, keepAliveMs: number, signal: AbortSignal): Promise<number> {
  return dispatchOnce(dispatch, { model: target.spec.name, kind }, () => deps.engine.load(target.spec, keepAliveMs, signal));
}

export function unloadModel(deps: ApiDeps, target: Target, signal: AbortSignal): Promise<void> {
  return deps.engine.unload(target.spec.name, signal);
}
