// The Ollama API conformance suite against a server already running at OLLAMA_CONFORMANCE_URL: a
// node or Ollama itself.
//
//   OLLAMA_CONFORMANCE_URL=http://127.0.0.1:11434 npx tap conformance/ollama-api/remote.test.ts
//
// It uploads the tiny GGUF there as a model of its own name and deletes it at the end. The
// embedding checks use OLLAMA_CONFORMANCE_EMBED_MODEL, a model on that server that embeds, or else
// the tiny model when /api/show says it can embed; with neither they are skipped, saying why.

import { randomBytes } from 'node:crypto';
import t from 'tap';
import { ollamaApiConformance, prepareTinyModel, removeModel } from './index.js';

const url = process.env['OLLAMA_CONFORMANCE_URL']?.replace(/\/+$/, '');

async function embeds(url: string, model: string): Promise<boolean> {
  const response = await fetch(`${url}/api/show`, { method: 'POST', body: JSON.stringify({ model }) });
  const show = (await response.json()) as { capabilities?: string[] };
  return show.capabilities?.includes('embedding') ?? false;
}

if (url === undefined || url === '') {
  // An optional target: with no server named, this file is a stated skip, not a failure, CI included.
  t.plan(0, 'OLLAMA_CONFORMANCE_URL is not set; set it to a server to run the Ollama API conformance suite against');
} else {
  const model = `od-conformance-${randomBytes(4).toString('hex')}-tiny`;
  ollamaApiConformance(t, {
    async setup() {
      await prepareTinyModel(url, model);
      const embedModel = process.env['OLLAMA_CONFORMANCE_EMBED_MODEL'] || ((await embeds(url, model)) ? model : undefined);
      return { url, model, embedModel };
    },
    async teardown() {
      await removeModel(url, model);
    },
  });
}
