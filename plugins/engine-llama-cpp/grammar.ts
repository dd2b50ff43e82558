// Turns Ollama's `format` ('json' or a JSON schema) into a llama.cpp grammar that constrains
// sampling. Grammars are compiled once per distinct format.

import type { GbnfJsonSchema, Llama, LlamaGrammar } from 'node-llama-cpp';
import type { OutputFormat } from '../../core/contracts/engine.js';
import { ProductError } from '../../core/errors.js';

const MAX_CACHED = 64;

export class Grammars {
  private readonly cache = new Map<string, Promise<LlamaGrammar>>();

  for(llama: Llama, format: OutputFormat): Promise<LlamaGrammar> {
    const key = format === 'json' ? 'json' : JSON.stringify(format);
    let grammar = this.cache.get(key);
    if (!grammar) {
      grammar = this.compile(llama, format);
      grammar.catch(() => this.cache.delete(key));
      if (this.cache.size >= MAX_CACHED) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(key, grammar);
    }
    return grammar;
  }

  clear(): void {
    this.cache.clear();
  }

  private async compile(llama: Llama, format: OutputFormat): Promise<LlamaGrammar> {
    if (format === 'json') return llama.getGrammarFor('json');
    try {
      return await llama.createGrammarForJsonSchema<GbnfJsonSchema>(format as GbnfJsonSchema);
    } catch (error) {
      throw new ProductError('OD_ERR_BAD_REQUEST', `invalid JSON schema in format: ${(error as Error).message}`, { cause: error });
    }
  }
}
