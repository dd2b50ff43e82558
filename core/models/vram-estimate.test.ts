import t from 'tap';
import type { GgufFile, GgufTensor } from './gguf.js';
import { estimateVram, tensorBytes } from './vram-estimate.js';

const MiB = 2 ** 20;

/** A Llama-3-8B-shaped header: 32 layers, 4096 wide, 32 heads sharing 8 KV heads, trained on 8192 tokens. */
function header(metadata: Record<string, number | string> = {}, tensors?: GgufTensor[]): GgufFile {
  return {
    metadata: {
      'general.architecture': 'llama',
      'llama.block_count': 32,
      'llama.embedding_length': 4096,
      'llama.attention.head_count': 32,
      'llama.attention.head_count_kv': 8,
      'llama.context_length': 8192,
      ...metadata,
    },
    tensors: tensors ?? [
      { name: 'token_embd.weight', type: 'Q4_K', shape: [4096, 32000] },
      { name: 'output.weight', type: 'Q6_K', shape: [4096, 32000] },
      { name: 'output_norm.weight', type: 'F32', shape: [4096] },
    ],
    parameterCount: 0,
  };
}

t.test('tensor bytes follow ggml block sizes', async (t) => {
  // 131,072,000 elements in 256-element Q4_K blocks of 144 bytes.
  t.equal(tensorBytes('Q4_K', [4096, 32000]), 512_000 * 144);
  t.equal(tensorBytes('F16', [10, 3]), 60);
  t.equal(tensorBytes('Q4_0', [33]), 2 * 18, 'a partial block takes a whole one');
  t.equal(tensorBytes('NEW_TYPE', [8]), 32, 'an unknown type counts as F32');
});

t.test('weights + KV cache + compute buffer at a context', async (t) => {
  const estimate = estimateVram(header(), 4096);
  t.equal(estimate.weights, 73_728_000 + 107_520_000 + 16_384);
  // 2 (K and V) × 32 layers × 4096 tokens × 8 KV heads × 128 per head × 2 bytes: Llama 3 8B's known 512 MiB.
  t.equal(estimate.kvCache, 512 * MiB);
  // 512 batch tokens × (32000 logits + 4096 hidden + 32 heads × 4096 scores) × 4 bytes.
  t.equal(estimate.compute, 512 * (32000 + 4096 + 131072) * 4);
  t.equal(estimate.total, 181_264_384 + 536_870_912 + 342_360_064);
  t.equal(estimate.contextLength, 4096);
});

t.test('a context past the trained one is capped to it', async (t) => {
  const estimate = estimateVram(header(), 16384);
  t.equal(estimate.contextLength, 8192);
  t.equal(estimate.kvCache, 1024 * MiB);
});

t.test('without KV heads every head keeps its own keys and values; explicit key and value lengths win', async (t) => {
  const mha = header();
  delete mha.metadata['llama.attention.head_count_kv'];
  t.equal(estimateVram(mha, 4096).kvCache, 2048 * MiB);
  const explicit = estimateVram(header({ 'llama.attention.key_length': 192, 'llama.attention.value_length': 64 }), 4096);
  t.equal(explicit.kvCache, 32 * 4096 * 8 * (192 + 64) * 2);
});

t.test('the figures are read under the architecture the header names', async (t) => {
  const qwen = header();
  for (const key of Object.keys(qwen.metadata)) {
    if (!key.startsWith('llama.')) continue;
    qwen.metadata[key.replace('llama.', 'qwen2.')] = qwen.metadata[key]!;
    delete qwen.metadata[key];
  }
  qwen.metadata['general.architecture'] = 'qwen2';
  t.equal(estimateVram(qwen, 4096).total, estimateVram(header(), 4096).total);
});

t.test('a header without attention figures is its weights', async (t) => {
  const bare: GgufFile = { metadata: { 'general.architecture': 'bert' }, tensors: [{ name: 'w', type: 'F16', shape: [100] }], parameterCount: 100 };
  t.same(estimateVram(bare, 2048), { weights: 200, kvCache: 0, compute: 0, total: 200, contextLength: 2048 });
});
