// Turns generated tokens into text as they arrive. A character may span several byte tokens, so
// tokens whose text is still an incomplete UTF-8 sequence wait for the ones that finish it.

import type { Token } from 'node-llama-cpp';

export type Detokenize = (tokens: readonly Token[], lastTokens: readonly Token[]) => string;

/** UTF-8 needs at most 4 bytes per character: past that, a replacement character is real. */
const MAX_PENDING = 4;
/** Preceding tokens passed along so tokenizers that drop a leading space get the spacing right. */
const LOOKBEHIND = 4;

export class TokenText {
  private pending: Token[] = [];
  private readonly recent: Token[] = [];

  constructor(private readonly detokenize: Detokenize) {}

  push(token: Token): string {
    this.pending.push(token);
    const text = this.detokenize(this.pending, this.recent);
    if (text.endsWith('\uFFFD') && this.pending.length < MAX_PENDING) return '';
    return this.accept(text);
  }

  flush(): string {
    return this.pending.length === 0 ? '' : this.accept(this.detokenize(this.pending, this.recent));
  }

  private accept(text: string): string {
    this.recent.push(...this.pending);
    this.recent.splice(0, Math.max(0, this.recent.length - LOOKBEHIND));
    this.pending = [];
    return text;
  }
}
