// Model names from request bodies, resolved against the store with Ollama's errors: 400 for a
// missing or invalid name, 404 `model 'x' not found` for one the store does not hold.

import type { ModelStore, StoredModel } from '../../contracts/storage.js';
import { badRequest, modelNotFound } from '../../errors.js';
import { parseModelName, type ModelName } from '../../models/name.js';

const INVALID_MODEL_NAME = 'invalid model name';

/** Parses `input`; `invalid` words the 400 (Ollama's wording differs by endpoint). */
export function modelName(input: string, invalid = INVALID_MODEL_NAME): ModelName {
  try {
    return parseModelName(input);
  } catch {
    throw badRequest(invalid);
  }
}

/** The stored model a request names; `input` is what the client sent. */
export async function storedModel(store: ModelStore, input: string | undefined, signal?: AbortSignal): Promise<StoredModel> {
  if (input === undefined || input === '') throw badRequest('model is required');
  const model = await store.getModel(modelName(input), signal);
  if (!model) throw modelNotFound(input);
  return model;
}

/** Ollama shows digests as bare hex. */
export function hexDigest(digest: string): string {
  return digest.replace(/^sha256:/, '');
}
