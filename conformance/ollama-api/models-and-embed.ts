// Exact-behaviour checks of the Ollama API suite on what Ollama says of a model
// (server/routes.go GetModelInfo, server/images.go Capabilities, server/model_list_cache.go) and on
// embed truncation (EmbedHandler: num_ctx bounds the input; truncate false refuses what is longer).

import { TINY_CHAT_TEMPLATE } from '../fixtures/tiny-gguf.js';
import { call, prepareTinyModel, type Endpoint } from './index.js';

/** GGUF value type 4 is uint32; llama.cpp's pooling type 1 is mean. */
const POOLING_MEAN = { type: 4, value: 1 } as const;
/** A chat template naming neither tools nor thinking, so only the GGUF decides the capabilities. */
const PLAIN_CHAT_TEMPLATE = "{% for message in messages %}{{ message['content'] }}{% endfor %}";
/** Longer than the num_ctx the truncation checks ask for, in the tiny model's byte-level vocabulary. */
const LONG_INPUT = 'the sky is blue '.repeat(20);
const SMALL_CTX = 32;

export function modelsAndEmbed(endpoint: Endpoint, scratch: string): void {
  endpoint('what /api/show and /api/tags say of a model', (check) => {
    check("show's template is the GGUF's chat template when the model has none of its own", async (t, { url, model }) => {
      const show = await call(url, '/api/show', { model });
      t.equal(show.body.template, TINY_CHAT_TEMPLATE, 'selectedModelTemplate: the chat template that runs');
      t.match(show.body.modelfile, /\nTEMPLATE \{\{ \.Prompt \}\}\n/, "the Modelfile keeps Ollama's default template");
    });

    check('show lists the tensors without verbose, each {name, type, shape}', async (t, { url, model }) => {
      const show = await call(url, '/api/show', { model });
      t.ok(Array.isArray(show.body.tensors) && show.body.tensors.length > 0, 'tensors is a non-empty list');
      t.same(show.body.tensors?.[0], { name: 'token_embd.weight', type: 'F32', shape: [64, 260] });
      t.same(show.body.model_info['tokenizer.ggml.tokens'], [], 'arrays longer than 5 are emptied without verbose');
    });

    const pooled = `${scratch}-pooled`;
    check('capabilities: embedding only with a pooling type, completion otherwise', async (t, { url, model }) => {
      const plain = (await call(url, '/api/show', { model })).body.capabilities;
      t.ok(plain.includes('completion') && !plain.includes('embedding'), `${model}: ${plain}`);
      await prepareTinyModel(url, pooled, { seed: 7, chatTemplate: PLAIN_CHAT_TEMPLATE, extraMetadata: [['llama.pooling_type', POOLING_MEAN]] });
      t.same((await call(url, '/api/show', { model: pooled })).body.capabilities, ['embedding'], `${pooled}: embedding instead of completion`);
    }, [pooled]);

    check("a /api/tags entry has every field of Ollama's ListModelResponse", async (t, { url, model }) => {
      const models = (await call(url, '/api/tags', undefined, 'GET')).body.models as Record<string, any>[];
      const entry = models.find((m) => m.model === (model.includes(':') ? model : `${model}:latest`));
      t.same(Object.keys(entry ?? {}), ['name', 'model', 'modified_at', 'size', 'digest', 'details', 'capabilities']);
      t.match(entry?.details, { parent_model: '', context_length: 4096, embedding_length: 64 }, 'context and embedding length from the GGUF');
      t.ok(entry?.capabilities.includes('completion') && !entry?.capabilities.includes('embedding'), `capabilities ${entry?.capabilities}`);
      const show = (await call(url, '/api/show', { model })).body;
      const { context_length: _context, embedding_length: _embedding, ...listed } = entry?.details ?? {};
      t.same(show.details, listed, "show's details are the list's without the lengths");
    });
  });

  endpoint('/api/embed and num_ctx', (check) => {
    check('truncate false: longer than num_ctx is 400 with Ollama\'s text; shorter embeds', async (t, { url, model }) => {
      const refused = await call(url, '/api/embed', { model, input: LONG_INPUT, truncate: false, options: { num_ctx: SMALL_CTX } });
      t.same([refused.status, refused.body], [400, { error: 'the input length exceeds the context length' }]);
      const fits = await call(url, '/api/embed', { model, input: LONG_INPUT, truncate: false });
      t.equal(fits.status, 200, 'the same input fits the default context');
    });

    check('truncate true (the default) cuts the input to num_ctx', async (t, { url, model }) => {
      const whole = await call(url, '/api/embed', { model, input: LONG_INPUT });
      const cut = await call(url, '/api/embed', { model, input: LONG_INPUT, options: { num_ctx: SMALL_CTX } });
      t.equal(cut.status, 200);
      t.ok(whole.body.prompt_eval_count > SMALL_CTX, `the whole input: ${whole.body.prompt_eval_count} tokens`);
      t.ok(cut.body.prompt_eval_count <= SMALL_CTX, `cut to ${cut.body.prompt_eval_count} tokens`);
      t.notSame(cut.body.embeddings[0], whole.body.embeddings[0], 'a different vector from the cut input');
    });
  });
}
