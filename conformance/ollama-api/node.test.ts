// The Ollama API conformance suite against a node started in this process, running the embedded
// llama.cpp engine on the CPU with the tiny GGUF model; then what only a fresh node guarantees.

import { Ollama } from 'ollama';
import OpenAI from 'openai';
import t from 'tap';
import { startTestNode, type TestNode } from '../fixtures/node.js';
import { ollamaApiConformance, prepareTinyModel } from './index.js';

// node-llama-cpp checks its binary in a forked process on start; inheriting tap's loader hooks
// makes that fork take seconds. The fork needs none of them.
delete process.env['NODE_OPTIONS'];
process.execArgv.splice(0);

const MODEL = 'tiny';
let node: TestNode | undefined;

ollamaApiConformance(t, {
  async setup() {
    node = await startTestNode({ env: { OLLAMA_ENGINE: 'llama-cpp', OLLAMA_LLAMA_GPU: 'off' } });
    await prepareTinyModel(node.url, MODEL);
    return { url: node.url, model: MODEL, embedModel: MODEL };
  },
  async teardown() {
    await node?.stop();
  },
});

t.test('the tiny model through the official clients: the only model, a llama, 64-wide vectors', async (t) => {
  const ollama = new Ollama({ host: node!.url });
  const { models } = await ollama.list();
  t.same(
    models.map((m) => m.name),
    ['tiny:latest'],
  );
  t.equal(models[0]!.details.family, 'llama');
  t.equal(((await ollama.show({ model: MODEL })).model_info as unknown as Record<string, unknown>)['general.architecture'], 'llama');
  const { embeddings } = await ollama.embed({ model: MODEL, input: ['a', 'b'] });
  t.equal(embeddings[0]!.length, 64, 'n_embd of the tiny model');
  t.equal((await ollama.embeddings({ model: MODEL, prompt: 'a' })).embedding.length, 64);
  const openai = new OpenAI({ baseURL: `${node!.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  const result = await openai.embeddings.create({ model: MODEL, input: ['hello', 'world'] });
  t.ok(result.data.every((item) => item.embedding.length === 64));
});
