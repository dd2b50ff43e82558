// The models a node lists in /api/tags and /api/ps, in Ollama's shapes. The cluster announces
// exactly these lists, so what a peer sees of a node is what that node's own API shows.

import type { Engine, LoadedModel, ModelDetails } from '../../contracts/engine.js';
import type { ModelStore, StoredModel } from '../../contracts/storage.js';
import { formatModelName } from '../../models/name.js';
import { modelDetails } from '../../models/spec.js';
import type { AnnouncedLoadedModel, AnnouncedModel } from '../../cluster/types.js';
import { layerOf } from '../../models/manifest.js';
import { modelFacts } from './model-facts.js';
import { hexDigest } from './model-ref.js';
import { timestamp } from './time.js';

/** Ollama reports a model kept forever (keep_alive < 0) as expiring this far ahead. */
const NEVER_MS = 292 * 365.25 * 24 * 3_600_000;

function expiresAt(model: LoadedModel): Date {
  const at = model.expiresAt.getTime();
  return Number.isFinite(at) ? model.expiresAt : new Date(Date.now() + NEVER_MS);
}

export type DetailsReader = (store: ModelStore, model: StoredModel) => Promise<ModelDetails>;

/** /api/tags' models, newest first, each as Ollama's ListModelResponse. `details` lets a caller that lists often cache what never changes. */
export async function taggedModels(store: ModelStore, details: DetailsReader = modelDetails, signal?: AbortSignal): Promise<AnnouncedModel[]> {
  const stored = await store.listModels(signal);
  stored.sort((a, b) => b.modifiedAt.getTime() - a.modifiedAt.getTime());
  return Promise.all(
    stored.map(async (model) => {
      const name = formatModelName(model.name);
      const [known, facts] = await Promise.all([details(store, model), modelFacts(store, model)]);
      // Ollama's ListModelResponse: the parent model from the weights layer, lengths and capabilities only when known.
      return {
        name,
        model: name,
        modified_at: timestamp(model.modifiedAt),
        size: model.size,
        digest: hexDigest(model.digest),
        details: {
          ...known,
          parent_model: layerOf(model.manifest, 'model')?.from ?? '',
          ...(facts.contextLength ? { context_length: facts.contextLength } : {}),
          ...(facts.embeddingLength ? { embedding_length: facts.embeddingLength } : {}),
        },
        ...(facts.capabilities.length ? { capabilities: facts.capabilities } : {}),
      };
    }),
  );
}

/** /api/ps' models, the one expiring last first. */
export function runningModels(engine: Engine): AnnouncedLoadedModel[] {
  const loaded = engine.loaded().map((model) => ({ model, expires: expiresAt(model) }));
  loaded.sort((a, b) => b.expires.getTime() - a.expires.getTime());
  return loaded.map(({ model, expires }) => ({
    name: model.name,
    model: model.name,
    size: model.size,
    digest: hexDigest(model.digest),
    details: { ...model.details },
    expires_at: timestamp(expires),
    size_vram: model.sizeVram,
    context_length: model.contextLength,
  }));
}
