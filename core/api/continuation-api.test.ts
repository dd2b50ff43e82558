// A generate a cluster member re-sends after its first serving node died mid-stream: the answer so
// far rides in CONTINUATION_FIELD, which only a forwarded request may set, and the engine goes on from it.

import t from 'tap';
import { CONTINUATION_FIELD } from './forward/continuation.js';
import { FORWARDED_HEADER } from './forward/headers.js';
import { createTiny, nodeFor } from './ollama/test-support.js';

type Body = Record<string, any>;

async function call(url: string, path: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as Body };
}

t.test('both prompt APIs go on from a forwarded continuation, and ignore a client’s', async (t) => {
  const { url } = await nodeFor(t, { OLLAMA_ENGINE: 'sim' });
  await createTiny(url, 'tiny');
  const apis = [
    { path: '/api/generate', body: { model: 'tiny', prompt: 'hello there', stream: false, options: { seed: 3 } }, text: (b: Body) => b.response, count: (b: Body) => b.eval_count },
    { path: '/v1/completions', body: { model: 'tiny', prompt: 'hello there', seed: 3 }, text: (b: Body) => b.choices[0].text, count: (b: Body) => b.usage.completion_tokens },
  ];
  const forwarded = { [FORWARDED_HEADER]: 'node-a' };
  for (const api of apis) {
    const full = await call(url, api.path, api.body);
    t.equal(full.status, 200, api.path);
    const words = (api.text(full.body) as string).split(' ');
    const soFar = words.slice(0, 2).join(' ');

    const continued = await call(url, api.path, { ...api.body, [CONTINUATION_FIELD]: soFar }, forwarded);
    t.equal(continued.status, 200, api.path);
    t.equal(soFar + api.text(continued.body), api.text(full.body), `${api.path}: the rest of the answer`);
    t.equal(api.count(continued.body), words.length - 2, `${api.path}: only the new tokens are counted`);

    const client = await call(url, api.path, { ...api.body, [CONTINUATION_FIELD]: soFar });
    t.equal(api.text(client.body), api.text(full.body), `${api.path}: a client's field is ignored`);

    const bad = await call(url, api.path, { ...api.body, [CONTINUATION_FIELD]: 7 }, forwarded);
    t.equal(bad.status, 400, `${api.path}: not a string`);
    t.match(JSON.stringify(bad.body.error), CONTINUATION_FIELD, "the error names the field, in the API's own error shape");
  }
});
