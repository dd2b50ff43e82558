// What /api/tags adds to a model's details, as Ollama's model list reads it (server/model_list_cache.go):
// context and embedding length from the GGUF header, capabilities from the GGUF, template and projector.

import { text } from 'node:stream/consumers';
import type { ModelStore, StoredModel } from '../../contracts/storage.js';
import { hasGgufMagic, readGguf, type GgufValue } from '../../models/gguf.js';
import { layerOf } from '../../models/manifest.js';
import { inferThinkingTags } from '../../models/thinking.js';

/** Ollama's DefaultTemplate, which a model without a template layer is listed with. */
const DEFAULT_TEMPLATE = '{{ .Prompt }}';
/** Listings kept per store; a manifest never changes under its digest. */
const MAX_CACHED = 1024;

export interface ModelFacts {
  contextLength: number;
  embeddingLength: number;
  capabilities: string[];
}

const cache = new WeakMap<ModelStore, Map<string, Promise<ModelFacts>>>();

function count(value: GgufValue | undefined): number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? value : 0;
}

function add(list: string[], capability: string): void {
  if (!list.includes(capability)) list.push(capability);
}

async function read(store: ModelStore, model: StoredModel): Promise<ModelFacts> {
  const facts: ModelFacts = { contextLength: 0, embeddingLength: 0, capabilities: [] };
  const weights = layerOf(model.manifest, 'model');
  const path = weights && store.blobPath(weights.digest);
  if (path && (await hasGgufMagic(path))) {
    const { metadata } = await readGguf(path, { maxArrayLength: 0 });
    const arch = String(metadata['general.architecture'] ?? '');
    const key = (name: string) => metadata[`${arch}.${name}`];
    add(facts.capabilities, key('pooling_type') !== undefined ? 'embedding' : 'completion');
    if (key('vision.block_count') !== undefined) add(facts.capabilities, 'vision');
    if (key('audio.block_count') !== undefined) add(facts.capabilities, 'audio');
    facts.contextLength = count(key('context_length'));
    facts.embeddingLength = count(key('embedding_length'));
  }
  const templateLayer = layerOf(model.manifest, 'template');
  const template = templateLayer ? await text(store.readBlob(templateLayer.digest)) : DEFAULT_TEMPLATE;
  if (/\.Tools\b/.test(template)) add(facts.capabilities, 'tools');
  if (/\.Suffix\b/.test(template)) add(facts.capabilities, 'insert');
  if (inferThinkingTags(template)) add(facts.capabilities, 'thinking');
  if (layerOf(model.manifest, 'projector')) add(facts.capabilities, 'vision');
  return facts;
}

/** A model's listing facts; a blob that cannot be read lists none, as Ollama logs and goes on. */
export function modelFacts(store: ModelStore, model: StoredModel): Promise<ModelFacts> {
  let known = cache.get(store);
  if (!known) cache.set(store, (known = new Map()));
  const key = model.digest;
  let facts = known.get(key);
  if (!facts) {
    facts = read(store, model).catch(() => ({ contextLength: 0, embeddingLength: 0, capabilities: [] }));
    if (known.size >= MAX_CACHED) known.clear();
    known.set(key, facts);
  }
  return facts;
}
