// Embeds inputs with a model's embedding context: one L2-normalised vector per input, as Ollama's
// /api/embed returns them, cutting or refusing inputs longer than the context.

import type { Token } from 'node-llama-cpp';
import { ProductError } from '../../core/errors.js';
import { tokenizeStart } from './prompt-tokens.js';
import type { ResidentModel } from './resident-model.js';

export function l2Normalize(vector: readonly number[]): number[] {
  const norm = Math.sqrt(vector.reduce((sum, x) => sum + x * x, 0));
  return norm === 0 ? [...vector] : vector.map((x) => x / norm);
}

export async function embedInputs(
  resident: ResidentModel,
  inputs: readonly string[],
  truncate: boolean,
  signal: AbortSignal,
): Promise<{ embeddings: number[][]; promptEvalCount: number }> {
  const { model } = resident;
  // Ollama's EmbedHandler cuts at min(num_ctx, trained context), not at the padded context llama.cpp makes.
  const contextLength = Math.min(resident.contextLength, resident.askedContextLength);
  return resident.embedWith(async (context) => {
    // Tokens the context adds around every input (BOS, and EOS for some vocabularies).
    const framing = context.calculateInputLength([]);
    // The embedding context refuses inputs that fill it completely.
    const room = contextLength - 1 - framing;
    const embeddings: number[][] = [];
    let promptEvalCount = 0;
    for (const input of inputs) {
      signal.throwIfAborted();
      // Only the start can be kept, so only the start is tokenized.
      let tokens: Token[] = (await tokenizeStart(model, input, false, room, signal)).tokens;
      if (tokens.length > room) {
        if (!truncate) throw new ProductError('OD_ERR_BAD_REQUEST', 'the input length exceeds the context length');
        tokens = tokens.slice(0, room);
      }
      if (tokens.length === 0 && model.tokens.bos !== null) tokens = [model.tokens.bos];
      promptEvalCount += context.calculateInputLength(tokens);
      const embedding = await context.getEmbeddingFor(tokens);
      embeddings.push(l2Normalize(embedding.vector));
    }
    return { embeddings, promptEvalCount };
  });
}
