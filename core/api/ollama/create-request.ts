// The body of POST /api/create (Ollama's current create API), checked before anything is written:
// name, source (`from` or uploaded `files`), adapters, template, system, license, parameters, messages.

import type { ChatMessage } from '../../contracts/engine.js';
import { badRequest } from '../../errors.js';
import { parseTemplate, TemplateError } from '../../models/go-template.js';
import type { ModelName } from '../../models/name.js';
import { requestFields, type Fields } from './body.js';
import { blobDigest } from './blobs.js';
import { parseMessages } from './inputs.js';
import { modelName } from './model-ref.js';
import { parseOptions } from './options.js';

/** Ollama's cap on files in one create. */
const MAX_FILES = 1024;

export interface CreateRequest {
  name: ModelName;
  from?: string;
  /** [file name, digest] sorted by name. */
  files: [string, string][];
  adapters: [string, string][];
  template?: string;
  system?: string;
  licenses: string[];
  parameters: Record<string, unknown>;
  messages: ChatMessage[];
  stream: boolean;
}

/** io/fs.ValidPath plus Ollama's bans on `\` and `:`: a relative, clean, slash-separated path. */
function validFilePath(path: string): boolean {
  if (path === '.' || path === '' || /[\\:]/.test(path)) return false;
  return path.split('/').every((part) => part !== '' && part !== '.' && part !== '..');
}

function fileDigests(fields: Fields, name: string): [string, string][] {
  const files = Object.entries(fields.stringMap(name) ?? {});
  if (files.length > MAX_FILES) throw badRequest(`too many files: ${files.length} exceeds maximum ${MAX_FILES}`);
  return files
    .map(([path, digest]): [string, string] => {
      if (!validFilePath(path)) throw badRequest(`file path must be relative: ${path}`);
      try {
        return [path, blobDigest(digest)];
      } catch {
        throw badRequest(`invalid digest for ${path}: invalid digest format`);
      }
    })
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function parseLicenses(value: unknown): string[] {
  if (value === undefined || value === null || value === '') return [];
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return value;
  throw badRequest('license must be a string or a list of strings');
}

/** A template every later request would fail on is refused now, in Ollama's words (server/create.go). */
function checkedTemplate(source: string): string {
  try {
    parseTemplate(source);
  } catch (error) {
    if (error instanceof TemplateError) throw badRequest(`template error: template: :${error.line ?? 1}: ${error.message}`);
    throw error;
  }
  return source;
}

/** Parameters as given, nulls dropped; known options must have their Ollama types. */
function parseParameters(fields: Fields): Record<string, unknown> {
  const raw = fields.object('parameters') ?? {};
  parseOptions(raw); // only for its type errors: the layer keeps the parameters as sent
  return Object.fromEntries(Object.entries(raw).filter(([, value]) => value !== null));
}

export function parseCreate(body: unknown): CreateRequest {
  const fields = requestFields(body, 'CreateRequest');
  const name = modelName(fields.string('model') || fields.string('name') || '');
  if (fields.string('quantize') || fields.string('quantization')) {
    throw badRequest('create-time quantization is only supported for safetensors imports; quantize GGUF models with llama.cpp tools before importing');
  }
  const from = fields.string('from') || undefined;
  return {
    name,
    ...(from ? { from } : {}),
    files: fileDigests(fields, 'files'),
    adapters: fileDigests(fields, 'adapters'),
    ...(fields.string('template') ? { template: checkedTemplate(fields.string('template')!) } : {}),
    ...(fields.string('system') ? { system: fields.string('system')! } : {}),
    licenses: parseLicenses(fields.raw('license')),
    parameters: parseParameters(fields),
    messages: parseMessages(fields),
    stream: fields.boolean('stream') ?? true,
  };
}
