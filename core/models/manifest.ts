// Ollama's manifest format: a Docker v2 image manifest whose layers carry Ollama media types.

export const MANIFEST_MEDIA_TYPE = 'application/vnd.docker.distribution.manifest.v2+json';
export const CONFIG_MEDIA_TYPE = 'application/vnd.docker.container.image.v1+json';

export const LAYER_MEDIA_TYPES = {
  model: 'application/vnd.ollama.image.model',
  projector: 'application/vnd.ollama.image.projector',
  adapter: 'application/vnd.ollama.image.adapter',
  template: 'application/vnd.ollama.image.template',
  system: 'application/vnd.ollama.image.system',
  params: 'application/vnd.ollama.image.params',
  license: 'application/vnd.ollama.image.license',
  messages: 'application/vnd.ollama.image.messages',
} as const;
export type LayerKind = keyof typeof LAYER_MEDIA_TYPES;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  /** Set by Ollama on layers created from another model. */
  from?: string;
}

export interface Manifest {
  schemaVersion: 2;
  mediaType: typeof MANIFEST_MEDIA_TYPE;
  config: Descriptor;
  layers: Descriptor[];
}

/** The JSON blob the manifest's `config` points to. */
export interface ModelConfig {
  model_format: string;
  model_family: string;
  model_families: string[] | null;
  model_type: string;
  file_type: string;
  architecture: string;
  os: string;
  rootfs: { type: 'layers'; diff_ids: string[] };
}

export const DIGEST_PATTERN = /^sha256:[0-9a-f]{64}$/;

export function isDigest(value: unknown): value is string {
  return typeof value === 'string' && DIGEST_PATTERN.test(value);
}

export function layerOf(manifest: Manifest, kind: LayerKind): Descriptor | undefined {
  return manifest.layers.find((layer) => layer.mediaType === LAYER_MEDIA_TYPES[kind]);
}

export function layersOf(manifest: Manifest, kind: LayerKind): Descriptor[] {
  return manifest.layers.filter((layer) => layer.mediaType === LAYER_MEDIA_TYPES[kind]);
}

/** Checks a parsed JSON value is a manifest this product can serve. Returns the reason when not. */
export function manifestProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return 'manifest is not an object';
  const m = value as Partial<Manifest>;
  if (m.schemaVersion !== 2) return 'manifest schemaVersion is not 2';
  const descriptors = [m.config, ...(Array.isArray(m.layers) ? m.layers : [undefined])];
  for (const d of descriptors) {
    if (!d || typeof d.mediaType !== 'string' || !isDigest(d.digest) || !Number.isSafeInteger(d.size) || d.size < 0) {
      return 'manifest has an invalid descriptor';
    }
  }
  return undefined;
}
