// Inputs Ollama refuses with a 400 that a node once took: a template that does not parse, a
// keep_alive that overflows a timer, a context of token ids no vocabulary has.

import { refused, type AbuseRun } from './harness.js';
import { jsonOf, send } from './raw-http.js';

export function inputCases(run: AbuseRun): void {
  run.attack('/api/create with a template that does not parse ({{ if }}): 400, no model', {}, async (t, { url, target, signal, scratch }) => {
    const model = scratch('bad-template');
    refused(t, await send(url, '/api/create', { body: { model, from: target.model, template: '{{ if }}', stream: false }, signal }), 400, 'create', /template/i);
    const tags = jsonOf(await send(url, '/api/tags', { method: 'GET', signal }));
    t.notOk(tags?.models?.some((m: { name: string }) => m.name.startsWith(model)), 'no model of that name exists');
    const generate = { model: target.model, prompt: 'hi', stream: false, options: { num_predict: 1 } };
    t.equal((await send(url, '/api/generate', { body: generate, signal })).status, 200, 'the model it came from still generates');
  });

  run.attack('keep_alive "99999999999h": 400', {}, async (t, { url, target, signal }) => {
    const keepAlive = '99999999999h';
    refused(t, await send(url, '/api/generate', { body: { model: target.model, prompt: 'hi', keep_alive: keepAlive, stream: false }, signal }), 400, 'generate');
    const chat = { model: target.model, messages: [{ role: 'user', content: 'hi' }], keep_alive: keepAlive, stream: false };
    refused(t, await send(url, '/api/chat', { body: chat, signal }), 400, 'chat');
    refused(t, await send(url, '/api/embed', { body: { model: target.model, input: 'hi', keep_alive: keepAlive }, signal }), 400, 'embed');
  });

  run.attack('context [1e12, -5]: 400', {}, async (t, { url, target, signal }) => {
    const body = { model: target.model, prompt: 'hi', context: [1e12, -5], stream: false, options: { num_predict: 1 } };
    refused(t, await send(url, '/api/generate', { body, signal }), 400, 'generate');
  });
}
