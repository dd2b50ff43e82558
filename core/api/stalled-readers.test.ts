// A client that stops reading a stream is cut after api.write_timeout, and its engine slot is free
// again; one that reads slowly but steadily is not.

import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import { startTestNode } from '../../conformance/fixtures/node.js';
import { waitUntil } from '../../conformance/fixtures/cluster.js';
import { createTiny, postJson } from './ollama/test-support.js';
import { stalled } from './stalled-readers.js';

t.test('stalled: only a backlog that does not move for the whole timeout', async (t) => {
  const watched = { written: 0, since: 0 };
  t.notOk(stalled(watched, 0, 0, 5000, 1000), 'nothing unsent: never stalled');
  t.equal(watched.since, 5000, 'the clock restarts while nothing waits');
  t.notOk(stalled(watched, 10, 0, 5500, 1000), 'unsent for 0.5 s');
  t.ok(stalled(watched, 10, 0, 6000, 1000), 'unsent and unmoved for 1 s');
  t.notOk(stalled(watched, 10, 64, 6100, 1000), 'bytes moved: the clock restarts');
  t.ok(stalled(watched, 10, 64, 7100, 1000));
});

t.test('a client that stops reading is cut, and the slot it held serves the next request', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'od-stall-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const configFile = join(dir, 'node.yaml');
  writeFileSync(
    configFile,
    stringify({
      api: { write_timeout: '1s' },
      engine: { name: 'sim', num_parallel: 1, options: { ttft_ms: 1, tokens_per_second: 200_000, parallel_slowdown: 0, response_tokens: 50_000_000 } },
    }),
  );
  const node = await startTestNode({ configFile });
  t.teardown(() => node.stop());
  await createTiny(node.url, 'tiny');

  const { port } = new URL(node.url);
  const socket = connect({ host: '127.0.0.1', port: Number(port) });
  t.teardown(() => socket.destroy());
  const body = JSON.stringify({ model: 'tiny', prompt: 'flood me' });
  socket.write(`POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  await new Promise((resolve) => socket.once('data', resolve));
  socket.pause();
  let closed = false;
  socket.on('error', () => undefined);
  socket.once('close', () => (closed = true));
  const pausedAt = Date.now();

  // One slot, held by the stalled stream for 250 s unless the node cuts it.
  const next = await postJson(node.url, '/api/generate', { model: 'tiny', prompt: 'next', stream: false, options: { num_predict: 3 } });
  const waited = Date.now() - pausedAt;
  t.equal(next.status, 200, 'the next request is served');
  t.ok(waited >= 1000 && waited < 20_000, `once the stalled client was cut, ${waited} ms after it stopped reading`);
  socket.resume();
  await waitUntil(() => closed || undefined, { timeoutMs: 10_000, what: 'the stalled connection to end once its buffered bytes are read' });
});
