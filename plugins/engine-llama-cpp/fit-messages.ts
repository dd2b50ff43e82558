// Which messages of a conversation go into a prompt, as Ollama's chatPrompt chooses them: the latest
// always, then system messages and then the rest, newest first, while they fit the context.

import type { LlamaModel } from 'node-llama-cpp';
import type { ChatMessage } from '../../core/contracts/engine.js';
import { Pacer } from '../../core/turns.js';
import { tokenizeEnd } from './prompt-tokens.js';

/** Role markers and separators a chat format adds around a message: counted so many tiny messages cannot pass for few tokens. */
const MESSAGE_FRAMING = 4;

/**
 * The latest message is kept whole unless it alone overflows the context, then its end is kept.
 * Only the tokens needed to decide are counted, so a huge conversation costs what the context holds.
 */
export async function fitMessages(model: LlamaModel, messages: readonly ChatMessage[], contextLength: number, signal?: AbortSignal): Promise<ChatMessage[]> {
  if (messages.length === 0) return [];
  const keep = new Array<ChatMessage | undefined>(messages.length);
  const lastIndex = messages.length - 1;
  const last = messages[lastIndex]!;
  const lastEnd = await textEnd(model, last.content, contextLength, signal);
  keep[lastIndex] = lastEnd.text === last.content ? last : { ...last, content: lastEnd.text };
  let budget = contextLength - lastEnd.tokens - MESSAGE_FRAMING;

  const pacer = new Pacer();
  const fits = async (message: ChatMessage) => {
    if (budget <= MESSAGE_FRAMING) return false;
    const counted = await tokenizeEnd(model, message.content, false, budget - MESSAGE_FRAMING + 1, signal);
    const cost = counted.tokens.length + MESSAGE_FRAMING;
    if (!counted.complete || cost > budget) return false;
    budget -= cost;
    return true;
  };
  // Each pass stops at the first message that does not fit, so the work stays within the context.
  for (const system of [true, false]) {
    for (let index = lastIndex - 1; index >= 0; index--) {
      const message = messages[index]!;
      if ((message.role === 'system') !== system) continue;
      await pacer.pace(signal);
      if (!(await fits(message))) break;
      keep[index] = message;
    }
  }
  return keep.filter((message): message is ChatMessage => message !== undefined);
}

/** `text` whole when it fits `contextLength` tokens, else its end that does; and its token count. */
export async function textEnd(model: LlamaModel, text: string, contextLength: number, signal?: AbortSignal): Promise<{ text: string; tokens: number }> {
  const counted = await tokenizeEnd(model, text, false, contextLength, signal);
  if (counted.complete && counted.tokens.length <= contextLength) return { text, tokens: counted.tokens.length };
  const kept = counted.tokens.slice(-contextLength);
  return { text: model.detokenize(kept), tokens: kept.length };
}
