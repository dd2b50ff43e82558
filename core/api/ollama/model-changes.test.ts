// What a node keeps between requests (manifests, model specs) never outlives a change to the model:
// a model created again serves its new template on the next request, and a deleted one is gone.

import t, { type Test } from 'tap';
import { createTiny, nodeFor, post, postJson } from './test-support.js';

const { url } = await nodeFor(t, { OLLAMA_ENGINE: 'llama-cpp' });
const ONE_TOKEN = { num_predict: 1, temperature: 0, seed: 1 };

/** The tiny model's vocabulary is bytes: each character of a template's text is one prompt token. */
const PREFIX = '0123456789';

async function promptTokens(t: Test, model: string): Promise<number> {
  const answer = await postJson(url, '/api/generate', { model, prompt: 'hi', stream: false, options: ONE_TOKEN });
  t.equal(answer.status, 200, 'generate answers');
  return answer.body.prompt_eval_count;
}

t.test('a model created again with another template serves the new template on the next request', async (t) => {
  await createTiny(url, 'retemplated', { template: '{{ .Prompt }}' });
  const before = await promptTokens(t, 'retemplated');
  t.equal(await promptTokens(t, 'retemplated'), before, 'the same model counts the same prompt alike');
  await createTiny(url, 'retemplated', { template: `${PREFIX}{{ .Prompt }}` });
  t.equal(await promptTokens(t, 'retemplated'), before + PREFIX.length);
  const show = await postJson(url, '/api/show', { model: 'retemplated' });
  t.equal(show.body.template, `${PREFIX}{{ .Prompt }}`);
});

t.test('a deleted model is not found on the next request', async (t) => {
  await createTiny(url, 'deleted', { template: '{{ .Prompt }}' });
  await promptTokens(t, 'deleted');
  const deleted = await post(url, '/api/delete', { model: 'deleted' }, 'DELETE');
  t.equal(deleted.status, 200);
  const answer = await postJson(url, '/api/generate', { model: 'deleted', prompt: 'hi', stream: false, options: ONE_TOKEN });
  t.equal(answer.status, 404);
  t.same(answer.body, { error: "model 'deleted' not found" });
  const chat = await postJson(url, '/api/chat', { model: 'deleted', messages: [{ role: 'user', content: 'hi' }], stream: false });
  t.equal(chat.status, 404);
});
