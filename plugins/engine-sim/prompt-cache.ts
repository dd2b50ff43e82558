// A loaded model's prompt cache: the token sequences its slots evaluated last, one per slot. A
// request whose prompt starts like one of them skips evaluating that common prefix, as llama.cpp does.

export function commonPrefix(a: readonly number[], b: readonly number[]): number {
  const length = Math.min(a.length, b.length);
  let index = 0;
  while (index < length && a[index] === b[index]) index++;
  return index;
}

export class PromptCache {
  /** Least recently stored first. */
  private readonly sequences: (readonly number[])[] = [];

  /** `capacity` 0 turns the cache off. */
  constructor(private readonly capacity: number) {}

  /** Tokens of `prompt` that need no evaluation; the last one always runs, for its logits. */
  cachedPrefix(prompt: readonly number[]): number {
    const longest = this.sequences.reduce((best, sequence) => Math.max(best, commonPrefix(sequence, prompt)), 0);
    return Math.max(0, Math.min(longest, prompt.length - 1));
  }

  /** Keeps `sequence` in place of the one it continues (the same slot), else of the oldest. */
  remember(sequence: readonly number[]): void {
    if (this.capacity === 0) return;
    let replaced = -1;
    let longest = 0;
    this.sequences.forEach((cached, index) => {
      const shared = commonPrefix(cached, sequence);
      if (shared > longest) [replaced, longest] = [index, shared];
    });
    if (replaced >= 0) this.sequences.splice(replaced, 1);
    else if (this.sequences.length >= this.capacity) this.sequences.shift();
    this.sequences.push(sequence);
  }
}
