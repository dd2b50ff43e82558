// POST /api/show: what a model is: its Modelfile, parameters, template, system prompt, license,
// details, GGUF metadata (model_info), capabilities and when it was last modified.

import { text } from 'node:stream/consumers';
import type { FastifyInstance } from 'fastify';
import type { ModelStore } from '../../contracts/storage.js';
import { hasGgufMagic, readGguf, type GgufFile, type GgufValue } from '../../models/gguf.js';
import { layerOf, layersOf } from '../../models/manifest.js';
import { formatModelName } from '../../models/name.js';
import { modelSpec } from '../../models/spec.js';
import type { ApiDeps } from '../deps.js';
import { requestFields } from './body.js';
import { storedModel } from './model-ref.js';
import { modelfileText, parametersText } from './modelfile.js';
import { timestamp } from './time.js';

/** Ollama's template when a model has none. */
const DEFAULT_TEMPLATE = '{{ .Prompt }}';
/** Without `verbose`, Ollama empties arrays longer than this (token lists and the like). */
const SHORT_ARRAY = 5;

/** A GGUF that breaks the reader's bounds fails the request: its header is not fit to show. */
async function readGgufIfAny(path: string, verbose: boolean): Promise<GgufFile | undefined> {
  // A model blob that is not GGUF (a simulated model, say) has no metadata to show.
  if (!(await hasGgufMagic(path))) return undefined;
  return readGguf(path, { maxArrayLength: verbose ? Number.POSITIVE_INFINITY : SHORT_ARRAY });
}

/** Metadata as Ollama's model_info: keys sorted, the name and chat template left out, the parameter count added. */
function modelInfo(file: GgufFile | undefined): Record<string, GgufValue> {
  if (!file) return {};
  const info: Record<string, GgufValue> = { ...file.metadata, 'general.parameter_count': file.parameterCount };
  delete info['general.name'];
  delete info['tokenizer.chat_template'];
  return Object.fromEntries(Object.keys(info).sort().map((key) => [key, info[key]!]));
}

async function licenses(store: ModelStore, digests: string[]): Promise<string[]> {
  return Promise.all(digests.map((digest) => text(store.readBlob(digest))));
}

export function showRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.post('/api/show', { config: { permission: 'read' } }, async (request) => {
    const fields = requestFields(request.body, 'ShowRequest');
    const input = fields.string('model') || fields.string('name');
    const systemOverride = fields.string('system');
    const options = fields.object('options') ?? {};
    const verbose = fields.boolean('verbose') ?? false;

    const stored = await storedModel(deps.store, input);
    const spec = await modelSpec(deps.store, stored);
    const { manifest } = stored;
    const projector = layerOf(manifest, 'projector');
    const [licenseTexts, capabilities, gguf, projectorGguf] = await Promise.all([
      licenses(deps.store, layersOf(manifest, 'license').map((layer) => layer.digest)),
      deps.engine.capabilities(spec),
      readGgufIfAny(spec.modelPath, verbose),
      projector ? readGgufIfAny(deps.store.blobPath(projector.digest), verbose) : undefined,
    ]);
    const system = systemOverride || spec.system || '';
    const template = spec.template ?? DEFAULT_TEMPLATE;
    // Ollama's selectedModelTemplate: without a template of its own the model runs the GGUF's, and show says so.
    const chatTemplate = gguf?.metadata['tokenizer.chat_template'];
    const applied = spec.template ?? (typeof chatTemplate === 'string' && chatTemplate !== '' ? chatTemplate : DEFAULT_TEMPLATE);
    const parameters = spec.parameters as Record<string, unknown>;
    const messages = spec.messages.map(({ role, content }) => ({ role, content }));
    const modelfile = modelfileText({
      shortName: formatModelName(stored.name),
      modelPath: spec.modelPath,
      adapterPaths: spec.adapterPaths,
      projectorPaths: spec.projectorPath ? [spec.projectorPath] : [],
      template,
      system,
      parameters: { ...parameters, ...options },
      licenses: licenseTexts,
      messages,
    });
    const paramsText = parametersText(parameters);
    return {
      ...(licenseTexts.length ? { license: licenseTexts.join('\n') } : {}),
      modelfile,
      ...(paramsText ? { parameters: paramsText } : {}),
      template: applied,
      ...(system ? { system } : {}),
      details: { ...spec.details, parent_model: layerOf(manifest, 'model')?.from ?? '' },
      ...(messages.length ? { messages } : {}),
      model_info: modelInfo(gguf),
      ...(projectorGguf ? { projector_info: modelInfo(projectorGguf) } : {}),
      // Ollama's GetModelInfo lists the tensors with or without verbose (only the arrays in model_info shrink).
      ...(gguf && gguf.tensors.length ? { tensors: gguf.tensors } : {}),
      capabilities,
      modified_at: timestamp(stored.modifiedAt),
    };
  });
}
