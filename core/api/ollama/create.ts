// POST /api/create: a model from uploaded GGUF blobs (`files`) or from a stored model (`from`),
// with template, system, license, parameters and messages layers, streamed as Ollama's status lines.

import { createHash } from 'node:crypto';
import { text } from 'node:stream/consumers';
import type { FastifyInstance } from 'fastify';
import type { Engine } from '../../contracts/engine.js';
import type { ModelStore } from '../../contracts/storage.js';
import { badRequest, modelNotFound } from '../../errors.js';
import {
  CONFIG_MEDIA_TYPE,
  LAYER_MEDIA_TYPES,
  MANIFEST_MEDIA_TYPE,
  type Descriptor,
  type LayerKind,
  type Manifest,
} from '../../models/manifest.js';
import { checkGguf, fileTypeName, GgufFormatError, hasGgufMagic, readGguf, type GgufFile, type GgufValue } from '../../models/gguf.js';
import { formatModelName } from '../../models/name.js';
import type { ApiDeps } from '../deps.js';
import { parseCreate, type CreateRequest } from './create-request.js';
import { goJson } from './go-format.js';
import { modelName } from './model-ref.js';
import { sendNdjson } from './ndjson.js';

interface Base {
  layers: Descriptor[];
  /** The config blob's JSON fields, before rootfs is filled in. */
  config: Record<string, unknown>;
  /** GGUF files read: one "parsing GGUF" status each. */
  parsed: number;
}

const NOT_GGUF = 'supplied file was not in GGUF format';

/** Ollama's format.HumanNumber: 116K, 8.03B, 494M. */
export function humanNumber(n: number): string {
  const scales: [number, string][] = [[1e12, 'T'], [1e9, 'B'], [1e6, 'M'], [1e3, 'K']];
  for (const [scale, suffix] of scales) {
    if (n < scale) continue;
    const value = n / scale;
    return `${value.toFixed(value >= 100 ? 0 : value >= 10 ? 1 : 2)}${suffix}`;
  }
  return String(n);
}

const stringValue = (value: GgufValue | undefined) => (typeof value === 'string' ? value : '');

async function blobFile(store: ModelStore, path: string, digest: string): Promise<{ blob: string; size: number }> {
  const size = await store.blobSize(digest);
  if (size === undefined) throw badRequest(`blob not found for ${path} (digest ${digest})`);
  return { blob: store.blobPath(digest), size };
}

/** A blob's GGUF header, checked; a file that is not GGUF or breaks a bound is the caller's mistake. */
async function ggufHeader<T>(path: string, blob: string, read: (blob: string) => Promise<T>): Promise<T> {
  if (path.endsWith('.safetensors') || !(await hasGgufMagic(blob))) throw badRequest(NOT_GGUF);
  return read(blob).catch((error: unknown) => {
    throw error instanceof GgufFormatError ? badRequest(`${path}: ${error.message}`) : error;
  });
}

const headerOnly = (blob: string): Promise<GgufFile> => readGguf(blob, { maxArrayLength: 0 });

/** Layers and config from uploaded GGUF files: one model, optionally projectors and adapters. */
async function fromFiles(store: ModelStore, engine: Engine, files: [string, string][]): Promise<Base> {
  const layers: Descriptor[] = [];
  let config: Record<string, unknown> | undefined;
  for (const [path, digest] of files) {
    const { blob, size } = await blobFile(store, path, digest);
    const gguf = await ggufHeader(path, blob, headerOnly);
    const type = stringValue(gguf.metadata['general.type']);
    const architecture = stringValue(gguf.metadata['general.architecture']);
    const kind: LayerKind =
      type === 'adapter' ? 'adapter' : type === 'projector' || type === 'mmproj' || architecture === 'clip' ? 'projector' : 'model';
    layers.push({ mediaType: LAYER_MEDIA_TYPES[kind], digest, size });
    if (kind !== 'model') continue;
    if (config) throw badRequest('invalid split GGUF: more than one model file');
    await engine.checkModelFile?.(blob);
    const count = gguf.metadata['general.parameter_count'];
    config = {
      model_format: 'gguf',
      model_family: architecture,
      model_families: [architecture],
      model_type: humanNumber(typeof count === 'number' ? count : gguf.parameterCount),
      file_type: fileTypeName(gguf.metadata['general.file_type']),
    };
  }
  if (!config) throw badRequest('no files provided to convert');
  return { layers, config, parsed: files.length };
}

/** Every layer of a stored model, marked as coming from it, and its config. */
async function fromModel(store: ModelStore, from: string): Promise<Base> {
  const stored = await store.getModel(modelName(from));
  if (!stored) throw modelNotFound(from);
  const source = formatModelName(stored.name);
  const layers = stored.manifest.layers.map(({ mediaType, digest, size }) => ({ mediaType, digest, size, from: source }));
  let config: Record<string, unknown> = {};
  try {
    config = JSON.parse(await text(store.readBlob(stored.manifest.config.digest))) as Record<string, unknown>;
  } catch {
    // A base without a readable config gives a new model with an empty one, as in Ollama.
  }
  return { layers, config, parsed: 0 };
}

async function adapterLayers(store: ModelStore, adapters: [string, string][]): Promise<Descriptor[]> {
  const layers: Descriptor[] = [];
  for (const [path, digest] of adapters) {
    const { blob, size } = await blobFile(store, path, digest);
    await ggufHeader(path, blob, checkGguf);
    layers.push({ mediaType: LAYER_MEDIA_TYPES.adapter, digest, size });
  }
  return layers;
}

/** Checks and reads everything the request names; nothing is written yet. */
async function plan(store: ModelStore, engine: Engine, req: CreateRequest): Promise<Base> {
  let base: Base;
  if (req.from) base = await fromModel(store, req.from);
  else if (req.files.length > 0) base = await fromFiles(store, engine, req.files);
  else throw badRequest("neither 'from' or 'files' was specified");
  const adapters = await adapterLayers(store, req.adapters);
  return { ...base, layers: [...base.layers, ...adapters], parsed: base.parsed + adapters.length };
}

async function putText(store: ModelStore, content: string, mediaType: string): Promise<Descriptor> {
  const { digest, size } = await store.putBlobBytes(Buffer.from(content, 'utf8'));
  return { mediaType, digest, size };
}

/** Layers written for this request, each with Ollama's "creating new layer" (or "using existing") status. */
class LayerWriter {
  private readonly statuses = new Map<Descriptor, string>();

  constructor(private readonly store: ModelStore) {}

  async put(content: string, mediaType: string): Promise<Descriptor> {
    const digest = `sha256:${createHash('sha256').update(content, 'utf8').digest('hex')}`;
    const existed = await this.store.hasBlob(digest);
    const layer = await putText(this.store, content, mediaType);
    this.statuses.set(layer, `${existed ? 'using existing' : 'creating new'} layer ${digest}`);
    return layer;
  }

  status(layer: Descriptor): string {
    return this.statuses.get(layer) ?? `using existing layer ${layer.digest}`;
  }
}

async function inheritedParameters(store: ModelStore, layers: Descriptor[]): Promise<Record<string, unknown>> {
  const inherited: Record<string, unknown> = {};
  for (const layer of layers.filter((l) => l.mediaType === LAYER_MEDIA_TYPES.params)) {
    Object.assign(inherited, JSON.parse(await text(store.readBlob(layer.digest))) as Record<string, unknown>);
  }
  return inherited;
}

/** Ollama's overlay: template, system and messages replace; licenses append; parameters merge. */
async function overlay(store: ModelStore, base: Descriptor[], req: CreateRequest, writer: LayerWriter): Promise<Descriptor[]> {
  const without = (layers: Descriptor[], kind: LayerKind) => layers.filter((layer) => layer.mediaType !== LAYER_MEDIA_TYPES[kind]);
  let layers = [...base];
  if (req.template !== undefined) layers = [...without(layers, 'template'), await writer.put(req.template, LAYER_MEDIA_TYPES.template)];
  if (req.system !== undefined) layers = [...without(layers, 'system'), await writer.put(req.system, LAYER_MEDIA_TYPES.system)];
  for (const license of req.licenses) layers.push(await writer.put(license, LAYER_MEDIA_TYPES.license));
  if (Object.keys(req.parameters).length > 0) {
    const merged: Record<string, unknown> = { ...(await inheritedParameters(store, layers)), ...req.parameters };
    const sorted = Object.fromEntries(Object.keys(merged).sort().map((key) => [key, merged[key]]));
    layers = [...without(layers, 'params'), await writer.put(goJson(sorted), LAYER_MEDIA_TYPES.params)];
  }
  if (req.messages.length > 0) layers = [...without(layers, 'messages'), await writer.put(goJson(req.messages), LAYER_MEDIA_TYPES.messages)];
  return layers;
}

async function* create(store: ModelStore, req: CreateRequest, base: Base): AsyncGenerator<{ status: string }> {
  for (let i = 0; i < base.parsed; i++) yield { status: 'parsing GGUF' };
  const writer = new LayerWriter(store);
  const layers = await overlay(store, base.layers, req, writer);
  for (const layer of layers) yield { status: writer.status(layer) };
  const config = { ...base.config, architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) } };
  const configLayer = await putText(store, goJson(config), CONFIG_MEDIA_TYPE);
  yield { status: 'writing manifest' };
  const manifest: Manifest = { schemaVersion: 2, mediaType: MANIFEST_MEDIA_TYPE, config: configLayer, layers };
  await store.putManifest(req.name, manifest);
  yield { status: 'success' };
}

export function createRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.post('/api/create', { config: { permission: 'write' } }, async (request, reply) => {
    const req = parseCreate(request.body);
    const base = await plan(deps.store, deps.engine, req);
    const statuses = create(deps.store, req, base);
    if (req.stream) return sendNdjson(reply, statuses, deps.logger);
    let last: { status: string } | undefined;
    for await (const status of statuses) last = status;
    return last;
  });
}
