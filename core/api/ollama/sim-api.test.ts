// The Ollama API's shapes against the sim engine: generate, chat, embed, load and unload,
// streaming and not, and the model endpoints, each checked field by field.

import t from 'tap';
import { createTiny, getJson, ndjson, nodeFor, post, postJson } from './test-support.js';
import { TINY_CHAT_TEMPLATE } from '../../../conformance/fixtures/tiny-gguf.js';

const ENV = { OLLAMA_ENGINE: 'sim' };
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/;
const SHORT = { num_predict: 3 };

t.test('generate streams NDJSON chunks and a final chunk with counts and durations', async (t) => {
  const { url } = await nodeFor(t, ENV);
  await createTiny(url, 'tiny');
  const lines = await ndjson(await post(url, '/api/generate', { model: 'tiny', prompt: 'hello there', options: SHORT }));
  t.equal(lines.length, 4);
  for (const line of lines.slice(0, -1)) {
    t.same(Object.keys(line), ['model', 'created_at', 'response', 'done']);
    t.match(line.created_at, RFC3339);
  }
  const last = lines.at(-1);
  t.same(Object.keys(last), [
    'model', 'created_at', 'response', 'done', 'done_reason', 'context',
    'total_duration', 'load_duration', 'prompt_eval_count', 'prompt_eval_duration', 'eval_count', 'eval_duration',
  ]);
  t.equal(last.done_reason, 'length');
  t.equal(last.response, '');
  t.equal(last.eval_count, 3);
  t.ok(last.total_duration >= last.load_duration);
  t.ok(Array.isArray(last.context) && last.context.length > 0);
});

t.test('generate without streaming returns the whole response in one object', async (t) => {
  const { url } = await nodeFor(t, ENV);
  await createTiny(url, 'tiny');
  const { body } = await postJson(url, '/api/generate', { model: 'tiny:latest', prompt: 'hi', stream: false, options: SHORT });
  t.equal(body.model, 'tiny:latest');
  t.equal(body.response.split(' ').length, 3);
  t.equal(body.eval_count, 3);
});

t.test('an empty prompt loads the model; keep_alive 0 unloads it', async (t) => {
  const { url } = await nodeFor(t, ENV);
  await createTiny(url, 'tiny');
  const loaded = await postJson(url, '/api/generate', { model: 'tiny' });
  t.same(Object.keys(loaded.body), ['model', 'created_at', 'response', 'done', 'done_reason']);
  const ps = await getJson(url, '/api/ps');
  t.equal(ps.models.length, 1);
  t.same(Object.keys(ps.models[0]), ['name', 'model', 'size', 'digest', 'details', 'expires_at', 'size_vram', 'context_length', 'node'], "Ollama's fields and the node it runs on");
  t.match(ps.models[0].expires_at, RFC3339);
  await postJson(url, '/api/generate', { model: 'tiny', keep_alive: 0 });
  t.same((await getJson(url, '/api/ps')).models, [], 'unloaded at once');

  const chatLoad = await postJson(url, '/api/chat', { model: 'tiny', messages: [], keep_alive: '10m' });
  t.same(chatLoad.body.message, { role: 'assistant', content: '' });
  t.equal(chatLoad.body.done_reason, 'load');
  const chatUnload = await postJson(url, '/api/chat', { model: 'tiny', keep_alive: '0s' });
  t.equal(chatUnload.body.done_reason, 'unload');
});

t.test('a negative keep_alive keeps the model loaded far into the future', async (t) => {
  const { url } = await nodeFor(t, ENV);
  await createTiny(url, 'tiny');
  await postJson(url, '/api/generate', { model: 'tiny', keep_alive: -1 });
  const ps = await getJson(url, '/api/ps');
  t.ok(new Date(ps.models[0].expires_at).getFullYear() > 2200);
});

t.test('chat streams assistant messages and ends with done_reason and metrics', async (t) => {
  const { url } = await nodeFor(t, ENV);
  await createTiny(url, 'tiny');
  const response = await post(url, '/api/chat', { model: 'tiny', messages: [{ role: 'user', content: 'hi' }], options: SHORT });
  const lines = await ndjson(response);
  t.same(Object.keys(lines[0]), ['model', 'created_at', 'message', 'done']);
  const last = lines.at(-1);
  t.same(Object.keys(last), [
    'model', 'created_at', 'message', 'done', 'done_reason',
    'total_duration', 'load_duration', 'prompt_eval_count', 'prompt_eval_duration', 'eval_count', 'eval_duration',
  ]);
  t.same(last.message, { role: 'assistant', content: '' });

  const whole = await postJson(url, '/api/chat', { model: 'tiny', messages: [{ role: 'user', content: 'hi' }], stream: false, options: SHORT });
  t.equal(whole.body.message.content, lines.slice(0, -1).map((line) => line.message.content).join(''));
});

t.test('embed returns normalized vectors, cut to dimensions; embeddings answers the legacy shape', async (t) => {
  const { url } = await nodeFor(t, ENV);
  await createTiny(url, 'tiny');
  const embed = await postJson(url, '/api/embed', { model: 'tiny', input: ['one', 'two'] });
  t.same(Object.keys(embed.body), ['model', 'embeddings', 'total_duration', 'load_duration', 'prompt_eval_count']);
  const norm = (v: number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  t.ok(Math.abs(norm(embed.body.embeddings[0]) - 1) < 1e-9);
  const cut = await postJson(url, '/api/embed', { model: 'tiny', input: 'one', dimensions: 8 });
  t.equal(cut.body.embeddings[0].length, 8);
  t.ok(Math.abs(norm(cut.body.embeddings[0]) - 1) < 1e-9);
  const empty = await postJson(url, '/api/embed', { model: 'tiny', input: [] });
  t.same(empty.body, { model: 'tiny', embeddings: [] });
  const bad = await postJson(url, '/api/embed', { model: 'tiny', input: [1] });
  t.same(bad, { status: 400, body: { error: 'invalid input type' } });
  const legacy = await postJson(url, '/api/embeddings', { model: 'tiny', prompt: 'one' });
  t.same(Object.keys(legacy.body), ['embedding']);
  t.ok(legacy.body.embedding.length > 8);
  t.same((await postJson(url, '/api/embeddings', { model: 'tiny' })).body, { embedding: [] });
});

t.test('tags, show, copy and delete', async (t) => {
  const { url } = await nodeFor(t, ENV);
  const digest = await createTiny(url, 'tiny', { system: 'Be brief.', parameters: { temperature: 0.5, stop: ['<|im_end|>', 'END'] }, license: 'MIT' });
  const tags = await getJson(url, '/api/tags');
  t.equal(tags.models.length, 1);
  const [model] = tags.models;
  t.same(Object.keys(model), ['name', 'model', 'modified_at', 'size', 'digest', 'details', 'capabilities']);
  t.equal(model.name, 'tiny:latest');
  t.same(model.details, {
    parent_model: '',
    format: 'gguf',
    family: 'llama',
    families: ['llama'],
    parameter_size: '116K',
    quantization_level: 'F32',
    context_length: 4096,
    embedding_length: 64,
  });
  t.same(model.capabilities, ['completion'], 'no pooling type, and the default template uses no tools');

  const show = await postJson(url, '/api/show', { model: 'tiny' });
  t.equal(show.body.license, 'MIT');
  t.equal(show.body.system, 'Be brief.');
  t.equal(show.body.template, TINY_CHAT_TEMPLATE, "the GGUF's chat template is the one applied");
  t.match(show.body.modelfile, /\nTEMPLATE \{\{ \.Prompt \}\}\n/, 'the Modelfile keeps the Ollama template');
  t.equal(show.body.parameters, ['stop                           "<|im_end|>"', 'stop                           "END"', 'temperature                    0.5'].join('\n'));
  t.match(show.body.modelfile, /^# Modelfile generated by "ollama show"\n# To build a new Modelfile based on this, replace FROM with:\n# FROM tiny:latest\n\nFROM \/.*sha256-/);
  t.match(show.body.modelfile, /\nSYSTEM Be brief\.\nPARAMETER stop <\|im_end\|>\nPARAMETER stop END\nPARAMETER temperature 0\.5\nLICENSE MIT\n$/);
  t.ok(show.body.modelfile.includes(digest.replace(':', '-')));
  t.equal(show.body.model_info['general.architecture'], 'llama');
  t.equal(show.body.model_info['llama.attention.layer_norm_rms_epsilon'], 0.00001);
  t.equal(show.body.model_info['general.parameter_count'], 115520);
  t.same(show.body.model_info['tokenizer.ggml.tokens'], []);
  t.notOk('general.name' in show.body.model_info);
  t.notOk('tokenizer.chat_template' in show.body.model_info);
  t.same(show.body.capabilities, ['completion', 'embedding']);
  t.match(show.body.modified_at, RFC3339);
  t.same(show.body.tensors[0], { name: 'token_embd.weight', type: 'F32', shape: [64, 260] }, 'tensors without verbose too');
  const verbose = await postJson(url, '/api/show', { model: 'tiny', verbose: true });
  t.equal(verbose.body.model_info['tokenizer.ggml.tokens'].length, 260);
  t.same(verbose.body.tensors[0], { name: 'token_embd.weight', type: 'F32', shape: [64, 260] });

  const copy = await post(url, '/api/copy', { source: 'tiny', destination: 'me/tiny2:v1' });
  t.equal(copy.status, 200);
  t.equal(await copy.text(), '');
  const names = (await getJson(url, '/api/tags')).models.map((m: { name: string }) => m.name).sort();
  t.same(names, ['me/tiny2:v1', 'tiny:latest']);

  const deleted = await post(url, '/api/delete', { model: 'me/tiny2:v1' }, 'DELETE');
  t.equal(deleted.status, 200);
  t.equal(await deleted.text(), '');
  const again = await post(url, '/api/delete', { name: 'me/tiny2:v1' }, 'DELETE');
  t.same([again.status, await again.json()], [404, { error: "model 'me/tiny2:v1' not found" }]);
});

t.test('create streams Ollama status lines and builds on an existing model with from', async (t) => {
  const { url } = await nodeFor(t, ENV);
  const digest = await createTiny(url, 'tiny', { template: '{{ .Prompt }}' });
  const response = await post(url, '/api/create', { model: 'tiny-sys', from: 'tiny', system: 'You are terse.', parameters: { num_ctx: 2048 } });
  const statuses = (await ndjson(response)).map((line) => line.status);
  t.equal(statuses[0], `using existing layer ${digest}`);
  t.match(statuses[1], /^using existing layer sha256:/);
  t.match(statuses[2], /^creating new layer sha256:/);
  t.match(statuses[3], /^creating new layer sha256:/);
  t.same(statuses.slice(4), ['writing manifest', 'success']);
  const show = await postJson(url, '/api/show', { model: 'tiny-sys' });
  t.equal(show.body.system, 'You are terse.');
  t.equal(show.body.template, '{{ .Prompt }}');
  t.equal(show.body.details.parent_model, 'tiny:latest');
  t.match(show.body.parameters, /^num_ctx\s+2048$/);

  const files = await post(url, '/api/create', { model: 'tiny-2', files: { 'tiny.gguf': digest } });
  t.same((await ndjson(files)).map((line) => line.status), ['parsing GGUF', `using existing layer ${digest}`, 'writing manifest', 'success']);
});

t.test('logprobs: the sim engine scores each token, with top_logprobs most likely first, on generate, chat and /v1', async (t) => {
  const { url } = await nodeFor(t, ENV);
  await createTiny(url, 'tiny');
  const generated = await postJson(url, '/api/generate', { model: 'tiny', prompt: 'Hi', stream: false, logprobs: true, top_logprobs: 2, options: { num_predict: 3, seed: 1 } });
  const words = generated.body.response.split(' ');
  t.equal(generated.body.logprobs.length, 3, 'one per token');
  generated.body.logprobs.forEach((entry: any, i: number) => {
    const token = i === 0 ? words[0] : ` ${words[i]}`;
    t.same(Object.keys(entry), ['token', 'logprob', 'bytes', 'top_logprobs']);
    t.equal(entry.token, token);
    t.same(entry.bytes, [...Buffer.from(token)]);
    t.ok(entry.logprob < 0);
    t.same(entry.top_logprobs[0], { token, logprob: entry.logprob, bytes: entry.bytes });
    t.ok(entry.top_logprobs[1].logprob < entry.logprob);
  });
  const chat = await postJson(url, '/api/chat', { model: 'tiny', messages: [{ role: 'user', content: 'Hi' }], stream: false, logprobs: true, options: { num_predict: 2 } });
  t.equal(chat.body.logprobs.length, 2);
  t.notOk('top_logprobs' in chat.body.logprobs[0], 'no alternatives unasked');
  const plain = await postJson(url, '/api/chat', { model: 'tiny', messages: [{ role: 'user', content: 'Hi' }], stream: false, options: { num_predict: 2 } });
  t.notOk('logprobs' in plain.body);
  const v1 = await postJson(url, '/v1/chat/completions', { model: 'tiny', messages: [{ role: 'user', content: 'Hi' }], logprobs: true, max_tokens: 2 });
  t.equal(v1.body.choices[0].logprobs.content.length, 2);
});
