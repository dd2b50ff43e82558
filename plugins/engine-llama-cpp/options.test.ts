import t from 'tap';
import type { GgufFileInfo, Token } from 'node-llama-cpp';
import { canEmbed, capabilitiesOf } from './capabilities.js';
import { chatFunctionsOf, chatHistoryOf, toolCallsOf } from './chat-history.js';
import { fitPrompt } from './completion.js';
import { l2Normalize } from './embedding.js';
import { modelCapacity } from './hardware.js';
import { loadShape } from './load-shape.js';
import { chatSampling, evaluateSampling, generationLimit, mergeOptions, OLLAMA_DEFAULTS, samplingOf } from './sampling.js';

t.test("sampling uses Ollama's defaults where the request is silent", async (t) => {
  const sampling = samplingOf({}, 2048);
  t.same(sampling, {
    temperature: OLLAMA_DEFAULTS.temperature,
    topK: 40,
    topP: 0.9,
    minP: 0,
    repeat: { penalty: 1.1, lastN: 64, presencePenalty: 0, frequencyPenalty: 0 },
  });
  t.notOk('seed' in sampling, 'no seed means a random one');
});

t.test('sampling maps every option', async (t) => {
  const sampling = samplingOf(
    { temperature: 0, top_k: 5, top_p: 0.5, min_p: 0.1, seed: 7, repeat_penalty: 1.3, repeat_last_n: -1, presence_penalty: 0.2, frequency_penalty: 0.4 },
    512,
  );
  t.same(sampling, { temperature: 0, topK: 5, topP: 0.5, minP: 0.1, seed: 7, repeat: { penalty: 1.3, lastN: 512, presencePenalty: 0.2, frequencyPenalty: 0.4 } });
  t.notOk(samplingOf({ repeat_penalty: 1, repeat_last_n: 64 }, 512).repeat, 'a neutral penalty is off');
  t.notOk(samplingOf({ repeat_last_n: 0 }, 512).repeat, 'repeat_last_n 0 is off');
  t.notOk('seed' in samplingOf({ seed: -1 }, 512), 'seed -1 is random');

  const history = [1, 2, 3, 4] as Token[];
  const evaluate = evaluateSampling(samplingOf({ repeat_last_n: 2 }, 512), () => history);
  t.same((evaluate.repeatPenalty!.punishTokens as () => Token[])(), [3, 4], 'the last repeat_last_n tokens are punished');
  t.equal(chatSampling(samplingOf({ repeat_penalty: 1, repeat_last_n: 64 }, 512)).repeatPenalty, false);
  t.match(chatSampling(samplingOf({}, 512)).repeatPenalty, { lastTokens: 64, penalty: 1.1 });
});

t.test('request options override the model defaults, undefined ones do not', async (t) => {
  t.same(mergeOptions({ temperature: 0.2, stop: ['a'] }, { temperature: undefined, seed: 3 }), { temperature: 0.2, stop: ['a'], seed: 3 });
});

t.test("a load's shape: num_ctx within the trained context, num_batch within num_ctx", async (t) => {
  const defaults = { numCtx: 4096, parallel: 2, threads: 3 };
  t.same(loadShape({ num_ctx: 1024 }, defaults, 8192), { contextLength: 1024, parallel: 2, threads: 3 });
  t.equal(loadShape({}, defaults, 8192).contextLength, 4096, 'the engine default when unset');
  t.equal(loadShape({ num_ctx: 0 }, defaults, 8192).contextLength, 4096, 'and when not positive');
  t.equal(loadShape({ num_ctx: 2_000_000_000 }, defaults, 8192).contextLength, 8192, 'capped at the trained context');
  t.equal(loadShape({}, defaults, 2048).contextLength, 2048, 'the default is capped too');
  t.equal(loadShape({ num_ctx: 2_000_000_000 }, defaults, undefined).contextLength, 2_000_000_000, 'no trained context in the file: no cap here');
  t.equal(loadShape({ num_ctx: 512, num_batch: 2_000_000_000 }, defaults, 8192).batchSize, 512);
  t.equal(loadShape({ num_batch: 0 }, defaults, 8192).batchSize, undefined, "num_batch 0 leaves llama.cpp's default");
  t.same(loadShape({ num_gpu: 0, num_thread: 1.7 }, defaults, 8192), { contextLength: 4096, parallel: 2, threads: 1, gpuLayers: 0 });
});

t.test('num_predict limits generation; without it the context does', async (t) => {
  t.same(generationLimit({ num_predict: 5 }, 100), { maxTokens: 5, byRequest: true });
  t.same(generationLimit({ num_predict: -1 }, 100), { maxTokens: 100, byRequest: false });
  t.same(generationLimit({ num_predict: 0 }, 100), { maxTokens: 100, byRequest: false });
  t.same(generationLimit({ num_predict: 500 }, 100), { maxTokens: 100, byRequest: false });
});

t.test('a prompt that fills the context keeps BOS and its last half', async (t) => {
  const tokens = [1, 10, 11, 12, 13, 14, 15, 16] as Token[];
  t.same(fitPrompt(tokens, 16, 1 as Token), tokens);
  t.same(fitPrompt(tokens, 8, 1 as Token), [1, 14, 15, 16]);
  t.same(fitPrompt([9, 10, 11, 12] as Token[], 4, 1 as Token), [11, 12]);
});

t.test('chat history: system, model messages, tool calls and their results', async (t) => {
  const history = chatHistoryOf('Model system', [{ role: 'user', content: 'stored' }], [
    { role: 'user', content: 'Weather?' },
    { role: 'assistant', content: '', tool_calls: [{ function: { name: 'get_weather', arguments: { city: 'Paris' } } }] },
    { role: 'tool', content: 'sunny', tool_name: 'get_weather' },
    { role: 'tool', content: 'orphan' },
    { role: 'assistant', content: 'It is sunny.' },
  ]);
  t.same(history, [
    { type: 'system', text: 'Model system' },
    { type: 'user', text: 'stored' },
    { type: 'user', text: 'Weather?' },
    { type: 'model', response: [{ type: 'functionCall', name: 'get_weather', params: { city: 'Paris' }, result: 'sunny' }] },
    { type: 'user', text: 'orphan' },
    { type: 'model', response: ['It is sunny.'] },
  ]);
  t.same(chatHistoryOf('Model system', [], [{ role: 'system', content: 'Mine' }]), [{ type: 'system', text: 'Mine' }], "the conversation's system wins");
});

t.test('tools become functions and function calls become tool calls', async (t) => {
  t.same(
    chatFunctionsOf([
      { type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } },
      { type: 'function', function: { name: 'now' } },
    ]),
    { get_weather: { description: 'Weather', params: { type: 'object', properties: { city: { type: 'string' } } } }, now: {} },
  );
  t.same(toolCallsOf([{ functionName: 'now', params: undefined }, { functionName: 'get_weather', params: { city: 'Paris' } }]), [
    { function: { name: 'now', arguments: {} } },
    { function: { name: 'get_weather', arguments: { city: 'Paris' } } },
  ]);
});

t.test("capabilities follow Ollama's Model.Capabilities", async (t) => {
  const metadata = (extra: Record<string, unknown> = {}, chatTemplate?: string, llama: Record<string, unknown> = {}) =>
    ({ general: { architecture: 'llama' }, llama, tokenizer: { ggml: extra, ...(chatTemplate ? { chat_template: chatTemplate } : {}) } }) as unknown as GgufFileInfo['metadata'];
  t.same(capabilitiesOf(undefined, metadata()), ['completion']);
  t.same(capabilitiesOf(undefined, metadata({}, '{% if tools %}{{ tools }}{% endif %}')), ['tools', 'completion'], 'the chat template comes first');
  t.same(capabilitiesOf(undefined, metadata({}, '<think>{{ x }}</think>{{ tool_call }}')), ['tools', 'thinking', 'completion']);
  t.same(capabilitiesOf('{{ .Prompt }}', metadata({}, '{% if tools %}{% endif %}')), ['completion'], 'an Ollama template decides tools');
  t.same(capabilitiesOf('<PRE>{{ .Prompt }}<SUF>{{ .Suffix }}{{ if .Tools }}{{ end }}', metadata()), ['completion', 'tools', 'insert']);
  t.same(capabilitiesOf(undefined, metadata({ fim_pre_token_id: 5 })), ['completion'], 'fill-in-middle tokens alone are no insert');
  t.same(capabilitiesOf(undefined, metadata({}, undefined, { pooling_type: 1 })), ['embedding'], 'a pooling type makes an embedding model');
  t.ok(canEmbed(metadata()), 'llama pools without a pooling type');
  const other = { general: { architecture: 'gpt2' }, tokenizer: { ggml: {} } } as unknown as GgufFileInfo['metadata'];
  t.same(capabilitiesOf(undefined, other), ['completion']);
  t.notOk(canEmbed(other));
});

t.test('embeddings are L2-normalised and the model cap follows Ollama', async (t) => {
  t.same(l2Normalize([3, 4]), [0.6, 0.8]);
  t.same(l2Normalize([0, 0]), [0, 0]);
  t.equal(modelCapacity(0, 0), 3);
  t.equal(modelCapacity(0, 2), 6);
  t.equal(modelCapacity(5, 2), 5);
});
