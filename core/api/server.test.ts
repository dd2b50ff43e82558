import { connect } from 'node:net';
import t from 'tap';
import { startTestNode } from '../../conformance/fixtures/node.js';
import { createTiny } from './ollama/test-support.js';

t.test('stop lets an in-flight stream finish, then closes idle and silent connections', async (t) => {
  const node = await startTestNode({ env: { OLLAMA_ENGINE: 'sim' } });
  const { port } = new URL(node.url);
  const silent = connect(Number(port), '127.0.0.1');
  await new Promise((resolve) => silent.once('connect', resolve));
  const silentClosed = new Promise((resolve) => silent.once('close', resolve));

  const blob = await fetch(`${node.url}/api/blobs/sha256:${'0'.repeat(64)}`, { method: 'HEAD' });
  t.equal(blob.status, 404, 'the node answers before stopping');

  const started = Date.now();
  await node.stop();
  t.ok(Date.now() - started < 5000, `stop took ${Date.now() - started} ms with a silent connection open`);
  await silentClosed;
  t.pass('the silent connection was closed');
});

t.test('a generate stream that runs when stop is asked finishes before the node stops', async (t) => {
  const node = await startTestNode({ env: { OLLAMA_ENGINE: 'sim' } });
  await createTiny(node.url, 'tiny');
  const response = await fetch(`${node.url}/api/generate`, {
    method: 'POST',
    body: JSON.stringify({ model: 'tiny', prompt: 'hello', options: { num_predict: 40 } }),
  });
  t.equal(response.status, 200);
  const stopping = node.stop();
  const lines = (await response.text()).trim().split('\n').map((line) => JSON.parse(line));
  await stopping;
  t.match(lines.at(-1), { done: true, done_reason: 'length', eval_count: 40 }, 'the stream ended normally');
  await t.rejects(fetch(`${node.url}/api/tags`), 'the node no longer answers');
});
