// Model names with Ollama's rules: [host/][namespace/]model[:tag], each part validated so a name
// can never point outside the store.

export const DEFAULT_HOST = 'registry.ollama.ai';
export const DEFAULT_NAMESPACE = 'library';
export const DEFAULT_TAG = 'latest';

export interface ModelName {
  readonly host: string;
  readonly namespace: string;
  readonly model: string;
  readonly tag: string;
}

type PartKind = 'host' | 'namespace' | 'model' | 'tag';
const MAX_LENGTH: Record<PartKind, number> = { host: 350, namespace: 80, model: 80, tag: 80 };

function isAlphanumericOrUnderscore(c: string): boolean {
  return /^[A-Za-z0-9_]$/.test(c);
}

function isValidPart(kind: PartKind, s: string): boolean {
  if (s.length === 0 || s.length > MAX_LENGTH[kind]) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (i === 0) {
      if (!isAlphanumericOrUnderscore(c)) return false;
      continue;
    }
    if (c === '_' || c === '-') continue;
    if (c === '.') {
      if (kind === 'namespace') return false;
      continue;
    }
    if (c === ':') {
      if (kind !== 'host') return false;
      continue;
    }
    if (!isAlphanumericOrUnderscore(c)) return false;
  }
  return true;
}

export class InvalidModelNameError extends Error {
  readonly code = 'OD_ERR_INVALID_MODEL_NAME';
  constructor(readonly input: string) {
    super(`invalid model name '${input}'`);
    this.name = 'InvalidModelNameError';
  }
}

/** Parses a name the way Ollama does; throws InvalidModelNameError for anything it would reject. */
export function parseModelName(input: string): ModelName {
  if (typeof input !== 'string') throw new InvalidModelNameError(String(input));
  let rest = input.trim();
  let tag = DEFAULT_TAG;
  let namespace = DEFAULT_NAMESPACE;
  let host = DEFAULT_HOST;
  // A tag can't contain '/', so the last ':' after the last '/' starts it.
  if (rest.lastIndexOf(':') > rest.lastIndexOf('/')) {
    const at = rest.lastIndexOf(':');
    tag = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let model = rest;
  let at = rest.lastIndexOf('/');
  if (at >= 0) {
    model = rest.slice(at + 1);
    rest = rest.slice(0, at);
    namespace = rest;
    at = rest.lastIndexOf('/');
    if (at >= 0) {
      namespace = rest.slice(at + 1);
      const scheme = rest.slice(0, at).indexOf('://');
      host = scheme >= 0 ? rest.slice(0, at).slice(scheme + 3) : rest.slice(0, at);
    }
  }
  const name = { host, namespace, model, tag };
  for (const kind of ['host', 'namespace', 'model', 'tag'] as const) {
    if (!isValidPart(kind, name[kind])) throw new InvalidModelNameError(input);
  }
  return name;
}

/** Ollama's shortest display form: `tiny:latest`, `me/tiny:latest`, or `host/ns/tiny:latest`. */
export function formatModelName(name: ModelName): string {
  if (name.host === DEFAULT_HOST) {
    if (name.namespace === DEFAULT_NAMESPACE) return `${name.model}:${name.tag}`;
    return `${name.namespace}/${name.model}:${name.tag}`;
  }
  return `${name.host}/${name.namespace}/${name.model}:${name.tag}`;
}

/** Path segments of the manifest under `<store>/manifests/`, lower-cased as Ollama stores them. */
export function manifestPathSegments(name: ModelName): [string, string, string, string] {
  return [name.host, name.namespace, name.model, name.tag].map((part) => part.toLowerCase()) as [
    string,
    string,
    string,
    string,
  ];
}

export function sameModel(a: ModelName, b: ModelName): boolean {
  return manifestPathSegments(a).join('/') === manifestPathSegments(b).join('/');
}
