// Resolves a model name to what an engine needs to run it: blob paths, template, system prompt,
// default parameters and details, read from the manifest's layers in the store.

import { text } from 'node:stream/consumers';
import type { ModelDetails, ModelOptions, ModelSpec, ChatMessage } from '../contracts/engine.js';
import type { ModelStore, StoredModel } from '../contracts/storage.js';
import { ProductError, modelNotFound } from '../errors.js';
import { layerOf, layersOf, type ModelConfig } from './manifest.js';
import { formatModelName, parseModelName } from './name.js';

async function readText(store: ModelStore, digest: string): Promise<string> {
  return text(store.readBlob(digest));
}

async function readJson<T>(store: ModelStore, digest: string): Promise<T> {
  return JSON.parse(await readText(store, digest)) as T;
}

/** Ollama's `details` from the config blob; fields the blob lacks stay empty. */
export async function modelDetails(store: ModelStore, model: StoredModel): Promise<ModelDetails> {
  let config: Partial<ModelConfig> = {};
  try {
    config = await readJson<Partial<ModelConfig>>(store, model.manifest.config.digest);
  } catch {
    // A config blob that is missing or not JSON leaves the details empty, as Ollama does.
  }
  return {
    parent_model: '',
    format: config.model_format ?? 'gguf',
    family: config.model_family ?? '',
    families: config.model_families ?? (config.model_family ? [config.model_family] : null),
    parameter_size: config.model_type ?? '',
    quantization_level: config.file_type ?? '',
  };
}

/** Finds a stored model by the name a client sent; 400 for an invalid name, 404 when absent. */
export async function findModel(store: ModelStore, input: unknown, signal?: AbortSignal): Promise<StoredModel> {
  if (typeof input !== 'string' || input.trim() === '') throw new ProductError('OD_ERR_BAD_REQUEST', 'model is required');
  const model = await store.getModel(parseModelName(input), signal);
  if (!model) throw modelNotFound(input);
  return model;
}

/** Specs by store, name and manifest digest: a manifest never changes under its digest. */
const specs = new Map<string, ModelSpec>();
const MAX_CACHED_SPECS = 256;

export async function modelSpec(store: ModelStore, model: StoredModel): Promise<ModelSpec> {
  const key = `${store.root}\0${formatModelName(model.name)}\0${model.digest}`;
  const cached = specs.get(key);
  if (cached) return cached;
  const spec = await readModelSpec(store, model);
  if (specs.size >= MAX_CACHED_SPECS) specs.delete(specs.keys().next().value!);
  specs.set(key, Object.freeze(spec));
  return spec;
}

async function readModelSpec(store: ModelStore, model: StoredModel): Promise<ModelSpec> {
  const { manifest } = model;
  const weights = layerOf(manifest, 'model');
  const name = formatModelName(model.name);
  if (!weights) throw new ProductError('OD_ERR_UNSUPPORTED', `model '${name}' has no model layer`);
  const template = layerOf(manifest, 'template');
  const system = layerOf(manifest, 'system');
  const params = layerOf(manifest, 'params');
  const messages = layerOf(manifest, 'messages');
  const projector = layerOf(manifest, 'projector');
  return {
    name,
    digest: model.digest,
    modelPath: store.blobPath(weights.digest),
    modelSize: weights.size,
    adapterPaths: layersOf(manifest, 'adapter').map((layer) => store.blobPath(layer.digest)),
    ...(projector ? { projectorPath: store.blobPath(projector.digest) } : {}),
    ...(template ? { template: await readText(store, template.digest) } : {}),
    ...(system ? { system: await readText(store, system.digest) } : {}),
    parameters: params ? await readJson<ModelOptions>(store, params.digest) : {},
    messages: messages ? await readJson<ChatMessage[]>(store, messages.digest) : [],
    details: await modelDetails(store, model),
  };
}

export async function resolveModelSpec(store: ModelStore, input: unknown, signal?: AbortSignal): Promise<ModelSpec> {
  return modelSpec(store, await findModel(store, input, signal));
}
