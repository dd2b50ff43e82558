// Inputs Ollama refuses with a 400 that this node once took: a template that does not parse, a
// keep_alive past Go's longest duration, context tokens outside the vocabulary. And keep_alive
// values past what one timer can wait keep the model loaded instead of unloading it at once.

import t from 'tap';
import { createTiny, getJson, nodeFor, postJson } from './test-support.js';

const { url } = await nodeFor(t, { OLLAMA_ENGINE: 'llama-cpp' });
await createTiny(url, 'tiny');
const SHORT = { num_predict: 2, temperature: 0 };

t.test('create refuses a template that does not parse, in Ollama\'s words', async (t) => {
  const cases: [string, string][] = [
    ['{{ if }}', 'template error: template: :1: missing value for if'],
    ['{{ range .Messages }}\n{{ .Content }}', 'template error: template: :2: unexpected EOF'],
    ['{{ .System }}\n{{ end }}', 'template error: template: :2: unexpected {{end}}'],
    ['{{ nosuch .Prompt }}', 'template error: template: :1: function "nosuch" not defined'],
  ];
  for (const [template, error] of cases) {
    const created = await postJson(url, '/api/create', { model: 'bad', from: 'tiny', template, stream: false });
    t.equal(created.status, 400, JSON.stringify(template));
    t.same(created.body, { error });
  }
  t.equal((await postJson(url, '/api/show', { model: 'bad' })).status, 404, 'no model was made');
  const good = await postJson(url, '/api/create', { model: 'good', from: 'tiny', template: '{{ if .System }}{{ .System }} {{ end }}{{ printf "%s" .Prompt }}', stream: false });
  t.equal(good.status, 200, 'a template using a Go builtin this node does not render still parses, as in Ollama');
});

t.test('a keep_alive past Go\'s longest duration is a 400, as time.ParseDuration words it', async (t) => {
  for (const path of ['/api/generate', '/api/chat', '/api/embed']) {
    const answer = await postJson(url, path, { model: 'tiny', keep_alive: '99999999999h', prompt: 'hi', messages: [], input: 'hi' });
    t.equal(answer.status, 400, path);
    t.same(answer.body, { error: 'time: invalid duration "99999999999h"' }, path);
  }
  t.same((await getJson(url, '/api/ps')).models, [], 'nothing was loaded');
});

t.test('keep_alive values longer than one timer can wait keep the model loaded', async (t) => {
  for (const keepAlive of ['720h', 1e20, '2562047h']) {
    const answer = await postJson(url, '/api/generate', { model: 'tiny', prompt: 'hi', keep_alive: keepAlive, stream: false, options: SHORT });
    t.equal(answer.status, 200, String(keepAlive));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const [loaded] = (await getJson(url, '/api/ps')).models;
    t.equal(loaded?.name, 'tiny:latest', `${keepAlive}: still loaded`);
    t.ok(Date.parse(loaded?.expires_at) > Date.now() + 29 * 24 * 3600 * 1000, `${keepAlive}: expires ${loaded?.expires_at}`);
  }
  t.equal((await postJson(url, '/api/generate', { model: 'tiny', keep_alive: 0 })).body.done_reason, 'unload');
});

t.test('context tokens outside the vocabulary are a 400', async (t) => {
  const cases: [number[], string][] = [
    [[1e12, -5], "context token 1000000000000 is outside the model's vocabulary"],
    [[1, -5], "context token -5 is outside the model's vocabulary"],
    [[1, 260], "context token 260 is outside the model's vocabulary of 260 tokens"],
  ];
  for (const [context, error] of cases) {
    const answer = await postJson(url, '/api/generate', { model: 'tiny', prompt: 'hi', context, stream: false, options: SHORT });
    t.equal(answer.status, 400, JSON.stringify(context));
    t.same(answer.body, { error });
  }
  const fine = await postJson(url, '/api/generate', { model: 'tiny', prompt: 'hi', context: [1, 259], stream: false, options: SHORT });
  t.equal(fine.status, 200, 'the last token of the vocabulary is taken');
});
