// Random request bodies for each POST endpoint: the endpoint's own fields with values of every wrong
// type, numbers past what JSON can hold, deep nesting, and text that is no JSON at all.

import fc from 'fast-check';

export interface Endpoint {
  method: 'POST' | 'DELETE';
  path: string;
  /** What each field gets besides wild values: enough sense to reach the code behind the parse. */
  fields: Record<string, fc.Arbitrary<unknown>>;
}

/** Names the fuzzed bodies use: the model to reach, and names whose use touches nothing that matters. */
export interface FuzzNames {
  model: string;
  /** A prefix for names a body may create, overwrite or delete. */
  scratch: string;
  /** host:port of a registry on loopback that is not there: a pull or push fails at once, offline. */
  deadRegistry: string;
}

/** Stands in JSON for a number literal JSON.stringify cannot write; `bodyText` puts the literal back. */
const LITERAL = (text: string) => `\u0000${text}\u0000`;
const LITERALS = ['1e999', '-1e999', '1e-999', '123456789012345678901234567890', '-0.0e-0'];

const wildNumber = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(1e308, -1e308, 2 ** 53 + 2, 2 ** 64, -(2 ** 63), 5e-324, 2e9, 4294967296, -1, 0, -0),
  fc.constantFrom(...LITERALS).map(LITERAL),
);
const wild: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 2, arbitrary: wildNumber },
  { weight: 1, arbitrary: fc.string({ maxLength: 64, unit: 'binary' }) },
  { weight: 1, arbitrary: fc.constantFrom(null, true, false, '', [], {}) },
);
const text = fc.string({ maxLength: 200 });
const oneOf = (...values: unknown[]) => fc.constantFrom(...values);
/** Mostly sensible, so a body gets past its first check often enough to reach what lies behind. */
const anyOf = (arbitrary: fc.Arbitrary<unknown>) => fc.oneof({ weight: 3, arbitrary }, { weight: 1, arbitrary: wild });

const OPTION_KEYS = ['num_ctx', 'num_batch', 'num_predict', 'num_keep', 'num_thread', 'num_gpu', 'seed', 'top_k', 'top_p', 'min_p', 'temperature', 'repeat_last_n', 'repeat_penalty', 'stop', 'use_mmap'];
const options = fc.dictionary(fc.constantFrom(...OPTION_KEYS), anyOf(wildNumber), { maxKeys: 6 });
const keepAlive = anyOf(oneOf('5m', '-1', '0', '1e9h', '-99999999999h', '1h30m', 'forever', 300));
const messages = fc.array(
  fc.record(
    { role: anyOf(oneOf('user', 'assistant', 'system', 'tool', 'moderator')), content: anyOf(text), images: wild, tool_calls: wild, thinking: wild },
    { requiredKeys: [] },
  ),
  { maxLength: 4 },
);
const format = anyOf(oneOf('json', '', { type: 'object', properties: { a: { type: 'string' } } }, { type: 'array', minItems: 1e9 }));

export function endpoints(names: FuzzNames): Endpoint[] {
  const model = anyOf(oneOf(names.model, `${names.model}:latest`, 'absent-model', ''));
  const scratch = fc.string({ maxLength: 12 }).map((suffix) => `${names.scratch}-fz${suffix}`);
  const remote = fc.string({ maxLength: 12 }).map((suffix) => `${names.deadRegistry}/fz/m${suffix}`);
  const run = { model, options, keep_alive: keepAlive, stream: anyOf(fc.boolean()), format, think: wild };
  return [
    { method: 'POST', path: '/api/generate', fields: { ...run, prompt: anyOf(text), suffix: anyOf(text), system: anyOf(text), template: anyOf(oneOf('{{ .Prompt }}', '{{ if }}', '{{', '{{ range . }}{{ end }}')), context: anyOf(fc.array(wildNumber, { maxLength: 8 })), raw: wild, images: wild } },
    { method: 'POST', path: '/api/chat', fields: { ...run, messages: anyOf(messages), tools: wild } },
    { method: 'POST', path: '/api/embed', fields: { model, options, keep_alive: keepAlive, input: anyOf(fc.oneof(text, fc.array(text, { maxLength: 4 }))), truncate: wild, dimensions: anyOf(wildNumber) } },
    { method: 'POST', path: '/api/embeddings', fields: { model, options, keep_alive: keepAlive, prompt: anyOf(text) } },
    {
      method: 'POST',
      path: '/api/create',
      fields: {
        model: anyOf(scratch),
        from: anyOf(oneOf(names.model, `${names.deadRegistry}/fz/from`)),
        files: anyOf(fc.dictionary(fc.constantFrom('model.gguf', '../../escape.gguf', '/etc/passwd', 'a.safetensors'), anyOf(oneOf(`sha256:${'0'.repeat(64)}`, 'sha256:xyz')))),
        adapters: wild,
        template: anyOf(oneOf('{{ .Prompt }}', '{{ if }}', '{{ end }}', '{{ template "x" }}')),
        system: anyOf(text),
        license: wild,
        parameters: anyOf(options),
        messages: anyOf(messages),
        quantize: anyOf(oneOf('q4_K_M', 'q8_0', 'f16', 'nonsense')),
        stream: anyOf(fc.boolean()),
      },
    },
    { method: 'POST', path: '/api/show', fields: { model, verbose: wild } },
    { method: 'POST', path: '/api/copy', fields: { source: model, destination: anyOf(scratch) } },
    { method: 'DELETE', path: '/api/delete', fields: { model: anyOf(scratch) } },
    { method: 'POST', path: '/api/pull', fields: { model: anyOf(remote), insecure: wild, stream: anyOf(fc.boolean()) } },
    { method: 'POST', path: '/api/push', fields: { model: anyOf(remote), insecure: wild, stream: anyOf(fc.boolean()) } },
    { method: 'POST', path: '/v1/chat/completions', fields: { model, messages: anyOf(messages), stream: wild, max_tokens: anyOf(wildNumber), temperature: wild, tools: wild, response_format: wild, stream_options: wild, seed: wild, stop: wild } },
    { method: 'POST', path: '/v1/completions', fields: { model, prompt: anyOf(text), max_tokens: anyOf(wildNumber), stream: wild, suffix: wild, echo: wild } },
    { method: 'POST', path: '/v1/embeddings', fields: { model, input: anyOf(fc.oneof(text, fc.array(text, { maxLength: 4 }))), dimensions: wild, encoding_format: wild } },
    { method: 'POST', path: '/v1/responses', fields: { model, input: anyOf(fc.oneof(text, messages)), instructions: anyOf(text), stream: wild, max_output_tokens: anyOf(wildNumber), tools: wild, reasoning: wild, text: wild } },
    { method: 'POST', path: '/v1/messages', fields: { model, messages: anyOf(messages), max_tokens: anyOf(wildNumber), system: wild, stream: wild, tools: wild, thinking: wild, stop_sequences: wild } },
    { method: 'POST', path: '/api/v1/models/replicas', fields: { model, replicas: anyOf(wildNumber) } },
    { method: 'POST', path: '/api/v1/models/copy', fields: { model } },
    { method: 'POST', path: '/api/v1/keys', fields: { name: anyOf(text), role: anyOf(oneOf('admin', 'user', 'readonly', 'nobody')) } },
  ];
}

/** Text of a body: JSON with the stand-ins turned back into their literals. */
function bodyText(value: unknown): string {
  return JSON.stringify(value).replace(/"\\u0000([^"\\]*)\\u0000"/g, '$1');
}

/** A field no destructive or network-bound request may take over, whatever a wild value says. */
function pinned(endpoint: Endpoint, names: FuzzNames, body: Record<string, unknown>): Record<string, unknown> {
  const safe: Record<string, unknown> = { ...body };
  const remoteOnly = endpoint.path === '/api/pull' || endpoint.path === '/api/push';
  for (const key of remoteOnly ? ['model', 'name'] : endpoint.path === '/api/create' ? ['from'] : []) {
    if (typeof safe[key] === 'string' && !(safe[key] as string).startsWith(names.deadRegistry) && safe[key] !== names.model) safe[key] = `${names.deadRegistry}/fz/pinned`;
  }
  const writes = { '/api/create': 'model', '/api/copy': 'destination', '/api/delete': 'model' }[endpoint.path];
  if (writes && typeof safe[writes] === 'string' && !(safe[writes] as string).startsWith(names.scratch)) safe[writes] = `${names.scratch}-fz-pinned`;
  if (writes === 'model' && typeof safe['name'] === 'string') safe['name'] = `${names.scratch}-fz-pinned`;
  return safe;
}

/** One endpoint's bodies as the text sent: mostly its own fields, some wild JSON, deep nesting, non-JSON. */
export function bodies(endpoint: Endpoint, names: FuzzNames): fc.Arbitrary<string> {
  const required = ['model', 'source'].filter((key) => key in endpoint.fields);
  const fields = fc.record(endpoint.fields, { requiredKeys: required }).map((body) => bodyText(pinned(endpoint, names, body)));
  const depth = fc.integer({ min: 1_000, max: 100_000 });
  const model = JSON.stringify(pinned(endpoint, names, { model: names.model })['model']);
  const nested = fc.oneof(
    depth.map((n) => '['.repeat(n) + ']'.repeat(n)),
    depth.map((n) => `{"model":${model},"options":${'{"a":'.repeat(n)}1${'}'.repeat(n)}}`),
    depth.map((n) => `{"model":${model},"messages":[{"role":"user","content":${'['.repeat(n)}${']'.repeat(n)}}],"prompt":"x"}`),
  );
  const notJson = fc.oneof(fc.string({ maxLength: 100 }), fc.constantFrom('{', '{"model":', '\u0000', '{"model":"x"}{"model":"y"}', 'null', '[]', '"'));
  const wildJson = fc.jsonValue({ maxDepth: 4 }).map((value) => bodyText(value));
  return fc.oneof({ weight: 8, arbitrary: fields }, { weight: 1, arbitrary: wildJson }, { weight: 1, arbitrary: nested }, { weight: 1, arbitrary: notJson });
}
