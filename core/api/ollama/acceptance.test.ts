// The acceptance checks for the Ollama API: Ollama's errors word for word, body limits, names that
// try to leave the store, blob uploads whose bytes do not match, and the store's on-disk layout.

import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import t from 'tap';
import { Agent, fetch as undiciFetch } from 'undici';
import { tinyGgufBytes } from '../../../conformance/fixtures/tiny-gguf.js';
import { createTiny, digestOf, getJson, ndjson, nodeFor, post, postJson } from './test-support.js';

const ENV = { OLLAMA_ENGINE: 'sim' };

async function files(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => relative(root, join(e.parentPath, e.name))).sort();
}

t.test('unknown models are 404 with the message of Ollama\'s handler for each endpoint', async (t) => {
  const { url } = await nodeFor(t, ENV);
  const missing = { error: "model 'nope' not found" };
  // The embed handlers find no model only in the scheduler, which words it so.
  const notPulled = { error: 'model "nope" not found, try pulling it first' };
  for (const [path, body, answer] of [
    ['/api/generate', { model: 'nope', prompt: 'hi' }, missing],
    ['/api/chat', { model: 'nope', messages: [{ role: 'user', content: 'hi' }] }, missing],
    ['/api/embed', { model: 'nope', input: 'hi' }, notPulled],
    ['/api/embeddings', { model: 'nope', prompt: 'hi' }, notPulled],
    ['/api/show', { model: 'nope' }, missing],
    ['/api/copy', { source: 'nope', destination: 'other' }, { error: 'model "nope" not found' }],
    ['/api/create', { model: 'new', from: 'nope' }, missing],
    // generate and embed take an empty name for a model that is not there.
    ['/api/generate', { prompt: 'hi' }, { error: "model '' not found" }],
    ['/api/embed', { input: 'hi' }, { error: "model '' not found" }],
  ] as const) {
    t.same(await postJson(url, path, body), { status: 404, body: answer }, `${path} ${JSON.stringify(body)}`);
  }
  const deleted = await post(url, '/api/delete', { model: 'nope' }, 'DELETE');
  t.same([deleted.status, await deleted.json()], [404, missing]);
});

t.test('malformed, missing and mistyped bodies are 400 with Ollama\'s wording', async (t) => {
  const { url } = await nodeFor(t, ENV);
  await createTiny(url, 'tiny');
  const malformed = await postJson(url, '/api/generate', '{"model": "tiny",');
  t.equal(malformed.status, 400);
  t.match(malformed.body.error, /^invalid JSON in request body/);
  const cases: [string, unknown, string][] = [
    ['/api/generate', '', 'missing request body'],
    ['/api/generate', [], 'json: cannot unmarshal array into Go value of type api.GenerateRequest'],
    ['/api/chat', { messages: [] }, 'model is required'],
    ['/api/embeddings', { prompt: 'hi' }, 'model is required'],
    ['/api/generate', { model: 'bad name!', prompt: 'hi' }, 'invalid model name'],
    ['/api/generate', { model: 'tiny', prompt: 5 }, 'json: cannot unmarshal number into Go struct field GenerateRequest.prompt of type string'],
    ['/api/generate', { model: 'tiny', stream: 'yes' }, 'json: cannot unmarshal string into Go struct field GenerateRequest.stream of type bool'],
    ['/api/generate', { model: 'tiny', context: [1.5] }, 'json: cannot unmarshal number 1.5 into Go struct field GenerateRequest.context of type int'],
    ['/api/generate', { model: 'tiny', options: { temperature: 'hot' } }, 'option "temperature" must be of type float32'],
    ['/api/generate', { model: 'tiny', options: { stop: 'x' } }, 'option "stop" must be of type array'],
    ['/api/generate', { model: 'tiny', keep_alive: 'abc' }, 'time: invalid duration "abc"'],
    ['/api/generate', { model: 'tiny', keep_alive: '5' }, 'time: missing unit in duration "5"'],
    ['/api/generate', { model: 'tiny', keep_alive: true }, "Unsupported type: 'bool'"],
    ['/api/generate', { model: 'tiny', prompt: 'x', format: 'xml' }, 'invalid format: "\\"xml\\""; expected "json" or a valid JSON Schema object'],
    ['/api/generate', { model: 'tiny', prompt: 'x', images: ['not base64!'] }, 'illegal base64 data at input byte 3'],
    ['/api/generate', { model: 'tiny', prompt: 'x', raw: true, system: 's' }, 'raw mode does not support template, system, or context'],
    ['/api/generate', { model: 'tiny', prompt: 'x', think: true }, '"tiny" does not support thinking'],
    ['/api/generate', { model: 'tiny', prompt: 'x', suffix: 'y' }, 'registry.ollama.ai/library/tiny:latest does not support insert'],
    ['/api/chat', { model: 'tiny', messages: [{ role: 'user', content: 1 }] }, 'json: cannot unmarshal number into Go struct field ChatRequest.messages.content of type string'],
    ['/api/chat', { model: 'tiny', messages: 'hi' }, 'json: cannot unmarshal string into Go struct field ChatRequest.messages of type []api.Message'],
    [
      '/api/chat',
      { model: 'tiny', messages: [{ role: 'user', content: 'hi' }], tools: [{ type: 'function', function: { name: 'f' } }] },
      'registry.ollama.ai/library/tiny:latest does not support tools',
    ],
    ['/api/show', {}, 'model is required'],
    ['/api/copy', { source: '../x', destination: 'y' }, 'source "../x" is invalid'],
    ['/api/copy', { source: 'tiny', destination: 'a/../../b' }, 'destination "a/../../b" is invalid'],
    ['/api/create', { model: 'new' }, "neither 'from' or 'files' was specified"],
    ['/api/create', { model: 'new', from: 'tiny', quantize: 'q4_K_M' }, 'create-time quantization is only supported for safetensors imports; quantize GGUF models with llama.cpp tools before importing'],
    ['/api/create', { model: 'new', files: { 'tiny.gguf': 'sha256:xyz' } }, 'invalid digest for tiny.gguf: invalid digest format'],
    ['/api/create', { model: 'new', files: { '../tiny.gguf': `sha256:${'a'.repeat(64)}` } }, 'file path must be relative: ../tiny.gguf'],
    ['/api/create', { model: 'new', files: { 'tiny.gguf': `sha256:${'a'.repeat(64)}` } }, `blob not found for tiny.gguf (digest sha256:${'a'.repeat(64)})`],
    ['/api/create', { model: 'new', from: 'tiny', license: 3 }, 'license must be a string or a list of strings'],
  ];
  for (const [path, body, error] of cases) {
    t.same(await postJson(url, path, body), { status: 400, body: { error } }, `${path} ${JSON.stringify(body)}`);
  }
  const deleted = await post(url, '/api/delete', { model: '' }, 'DELETE');
  t.same([deleted.status, await deleted.json()], [400, { error: 'model is required' }]);
});

t.test('a body above api.max_body_size is 413, but blob uploads are not bound by it', async (t) => {
  const { url, dataDir } = await nodeFor(t, { ...ENV, OLLAMA_API_MAX_BODY_SIZE: '4096' });
  const big = await postJson(url, '/api/generate', { model: 'tiny', prompt: 'x'.repeat(8192) });
  t.same(big, { status: 413, body: { error: 'request body too large' } });
  const bytes = tinyGgufBytes();
  t.ok(bytes.length > 4096);
  const upload = await fetch(`${url}/api/blobs/${digestOf(bytes)}`, { method: 'POST', body: bytes });
  t.equal(upload.status, 201);
  const stored = await readFile(join(dataDir, 'models', 'blobs', digestOf(bytes).replace(':', '-')));
  t.equal(digestOf(stored), digestOf(bytes));
});

t.test('names that try to leave the store are 400 and write nothing', async (t) => {
  const { url, dataDir } = await nodeFor(t, ENV);
  const digest = await createTiny(url, 'tiny');
  const before = await files(dataDir);
  for (const name of ['../x', 'a/../../b', '../../etc/passwd', '/abs', 'x/../y:latest', 'a/b/c/d', 'tiny:../x']) {
    t.same(await postJson(url, '/api/create', { model: name, files: { 'tiny.gguf': digest } }), { status: 400, body: { error: 'invalid model name' } }, name);
    t.equal((await postJson(url, '/api/copy', { source: 'tiny', destination: name })).status, 400, name);
    t.equal((await postJson(url, '/api/create', { model: 'ok', from: name })).status, 400, name);
  }
  for (const param of ['..%2F..%2Fx', `sha256:${'a'.repeat(63)}`, 'sha256:..%2F..%2Fetc%2Fpasswd', `md5:${'a'.repeat(64)}`]) {
    t.same(await postJson(url, `/api/blobs/${param}`, 'x'), { status: 400, body: { error: 'invalid digest format' } }, param);
  }
  t.same(await files(dataDir), before);
});

t.test('a blob whose bytes do not match its digest is 400 and leaves no blob behind', async (t) => {
  const { url, dataDir } = await nodeFor(t, ENV);
  const claimed = digestOf(Buffer.from('something else'));
  const body = Buffer.from('the real bytes');
  const response = await postJson(url, `/api/blobs/${claimed}`, body.toString());
  t.same(response, { status: 400, body: { error: `digest mismatch, expected "${claimed}", got "${digestOf(body)}"` } });
  t.equal((await fetch(`${url}/api/blobs/${claimed}`, { method: 'HEAD' })).status, 404);
  t.equal((await fetch(`${url}/api/blobs/${digestOf(body)}`, { method: 'HEAD' })).status, 404);
  t.same(await readdir(join(dataDir, 'models', 'blobs')), []);

  const good = await fetch(`${url}/api/blobs/${digestOf(body)}`, { method: 'POST', body });
  t.equal(good.status, 201);
  t.equal((await fetch(`${url}/api/blobs/${digestOf(body)}`, { method: 'HEAD' })).status, 200);
  t.equal((await fetch(`${url}/api/blobs/${digestOf(body)}`, { method: 'POST', body })).status, 200, 'an existing blob is 200');
});

t.test('a store the node writes has exactly Ollama\'s layout', async (t) => {
  const { url, dataDir } = await nodeFor(t, ENV);
  const model = await createTiny(url, 'tiny', { template: '{{ .Prompt }}', system: 'Be brief.', parameters: { stop: ['<|im_end|>'] }, license: ['MIT', 'Apache'], messages: [{ role: 'user', content: 'hi' }] });
  await postJson(url, '/api/copy', { source: 'tiny', destination: 'me/tiny:v2' });
  const root = join(dataDir, 'models');
  const all = await files(root);
  const manifests = all.filter((f) => f.startsWith('manifests/'));
  t.same(manifests, ['manifests/registry.ollama.ai/library/tiny/latest', 'manifests/registry.ollama.ai/me/tiny/v2']);
  const blobs = all.filter((f) => f.startsWith('blobs/'));
  t.equal(blobs.length + manifests.length, all.length, 'nothing but blobs/ and manifests/');
  for (const blob of blobs) {
    t.match(blob, /^blobs\/sha256-[0-9a-f]{64}$/);
    t.equal(`blobs/sha256-${createHash('sha256').update(await readFile(join(root, blob))).digest('hex')}`, blob, 'named by its sha256');
  }
  const manifest = JSON.parse(await readFile(join(root, manifests[0]!), 'utf8'));
  t.equal(manifest.schemaVersion, 2);
  t.equal(manifest.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
  t.equal(manifest.config.mediaType, 'application/vnd.docker.container.image.v1+json');
  t.same(
    manifest.layers.map((l: { mediaType: string }) => l.mediaType),
    ['model', 'template', 'system', 'license', 'license', 'params', 'messages'].map((kind) => `application/vnd.ollama.image.${kind}`),
  );
  t.equal(manifest.layers[0].digest, model);
  const blobText = (digest: string) => readFile(join(root, 'blobs', digest.replace(':', '-')), 'utf8');
  t.equal(await blobText(manifest.layers[5].digest), '{"stop":["\\u003c|im_end|\\u003e"]}\n', 'params as Go encodes them');
  t.equal(await blobText(manifest.layers[6].digest), '{"role":"user","content":"hi"}\n'.replace(/^/, '[').replace(/\n$/, ']\n'));
  const config = JSON.parse(await blobText(manifest.config.digest));
  t.same(config, {
    model_format: 'gguf',
    model_family: 'llama',
    model_families: ['llama'],
    model_type: '116K',
    file_type: 'F32',
    architecture: 'amd64',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: manifest.layers.map((l: { digest: string }) => l.digest) },
  });
  const tags = await getJson(url, '/api/tags');
  const listed = tags.models.find((m: { name: string }) => m.name === 'tiny:latest');
  t.equal(listed.digest, createHash('sha256').update(await readFile(join(root, manifests[0]!))).digest('hex'), 'tags digest is the manifest file sha256');
  t.equal(listed.size, manifest.config.size + manifest.layers.reduce((s: number, l: { size: number }) => s + l.size, 0));
});

t.test('a client that disconnects stops its run', async (t) => {
  const { url } = await nodeFor(t, ENV);
  await createTiny(url, 'tiny');
  // A client of its own, closed before the node stops: a spare connection it leaves open would hold the shutdown.
  const agent = new Agent();
  t.teardown(() => agent.destroy());
  const controller = new AbortController();
  const response = await undiciFetch(`${url}/api/generate`, {
    method: 'POST',
    body: JSON.stringify({ model: 'tiny', prompt: 'go on', options: { num_predict: 2000 } }),
    signal: controller.signal,
    dispatcher: agent,
  });
  const reader = response.body!.getReader();
  await reader.read();
  controller.abort();
  // The only slot is free again at once, so a short run does not wait ~40 s behind the long one.
  const started = Date.now();
  const next = await undiciFetch(`${url}/api/generate`, {
    method: 'POST',
    body: JSON.stringify({ model: 'tiny', prompt: 'hi', stream: false, options: { num_predict: 1 } }),
    dispatcher: agent,
  });
  t.equal(next.status, 200);
  await next.text();
  t.ok(Date.now() - started < 5000, `finished in ${Date.now() - started} ms`);
});

t.test('create without streaming answers with its last status; a file that is not GGUF is refused', async (t) => {
  const { url } = await nodeFor(t, ENV);
  await createTiny(url, 'tiny');
  t.same(await postJson(url, '/api/create', { model: 'tiny2', from: 'tiny', stream: false }), { status: 200, body: { status: 'success' } });
  const notGguf = Buffer.from('plain text, not a model');
  await fetch(`${url}/api/blobs/${digestOf(notGguf)}`, { method: 'POST', body: notGguf });
  t.same(await postJson(url, '/api/create', { model: 'x', files: { 'x.gguf': digestOf(notGguf) } }), { status: 400, body: { error: 'supplied file was not in GGUF format' } });
  const lines = await ndjson(await post(url, '/api/create', { model: 'tiny3', from: 'tiny', template: '{{ .Prompt }}' }));
  t.equal(lines.at(-1).status, 'success');
});
