// Model names from request bodies, resolved against the store with Ollama's errors. Its handlers
// word a missing or absent model differently (server/routes.go), so each endpoint names its wording.

import type { ModelStore, StoredModel } from '../../contracts/storage.js';
import { ProductError, badRequest, modelNotFound } from '../../errors.js';
import { parseModelName, type ModelName } from '../../models/name.js';
import { goQuote } from './go-format.js';

const INVALID_MODEL_NAME = 'invalid model name';

/** How an endpoint words an empty model name and one the store does not hold. */
export interface ModelWording {
  missing(input: string): ProductError;
  absent(input: string): ProductError;
}

const required = () => badRequest('model is required');
/** What Ollama's scheduler says for a model with no manifest (handleScheduleError). */
const notPulled = (input: string) => new ProductError('OD_ERR_MODEL_NOT_FOUND', `model ${goQuote(input)} not found, try pulling it first`);

export const MODEL_WORDING = {
  /** ChatHandler and ShowHandler. */
  chat: { missing: required, absent: modelNotFound },
  /** GenerateHandler: an empty name is a model that is not found. */
  generate: { missing: modelNotFound, absent: modelNotFound },
  /** EmbedHandler: the name parses, then the scheduler finds no model. */
  embed: { missing: modelNotFound, absent: notPulled },
  /** EmbeddingsHandler. */
  embeddings: { missing: required, absent: notPulled },
} satisfies Record<string, ModelWording>;

/** Parses `input`; `invalid` words the 400 (Ollama's wording differs by endpoint). */
export function modelName(input: string, invalid = INVALID_MODEL_NAME): ModelName {
  try {
    return parseModelName(input);
  } catch {
    throw badRequest(invalid);
  }
}

/** The stored model a request names; `input` is what the client sent. */
export async function storedModel(
  store: ModelStore,
  input: string | undefined,
  signal?: AbortSignal,
  wording: ModelWording = MODEL_WORDING.chat,
): Promise<StoredModel> {
  if (input === undefined || input.trim() === '') throw wording.missing(input ?? '');
  const model = await store.getModel(modelName(input.trim()), signal);
  if (!model) throw wording.absent(input);
  return model;
}

/** Ollama shows digests as bare hex. */
export function hexDigest(digest: string): string {
  return digest.replace(/^sha256:/, '');
}
