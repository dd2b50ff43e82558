// A request's leading prompt as a hash chain of fixed-size blocks, for balancers that route by
// prompt cache (see Balancer.usesPrompt). Pure and cheap: the request path runs it per request.

import type { RouteRequest } from '../contracts/balancer.js';

/** Characters of the canonical rendering per block: about 64 tokens. */
export const PROMPT_BLOCK_CHARS = 256;
/** Blocks hashed at most; later text still counts toward promptTokens. */
export const MAX_PROMPT_BLOCKS = 64;
/** The usual estimate of characters per token in English text and code. */
export const CHARS_PER_TOKEN = 4;
/** Tokens one block stands for, to turn a cached prefix in blocks into tokens. */
export const PROMPT_BLOCK_TOKENS = PROMPT_BLOCK_CHARS / CHARS_PER_TOKEN;

/**
 * Where the body came from: Ollama's /api/generate (prompt, system) and /api/chat (messages),
 * OpenAI's /v1/chat/completions (messages) and /v1/completions (prompt).
 */
export type PromptSource = 'generate' | 'chat' | 'openai-chat' | 'openai-completion';

export type PromptFigures = Required<Pick<RouteRequest, 'promptBlocks' | 'promptTokens'>>;

// Separators no chat text carries, so ("ab", "c") and ("a", "bc") render apart.
const MESSAGE = '\u001e';
const FIELD = '\u001f';

/**
 * Two FNV-1a lanes over UTF-16 code units (64 bits), whose running state after block i is entry i:
 * a chain, since that state covers every character before it. Not a defence against crafted
 * collisions, which could only misplace a routing hint.
 */
class BlockChain {
  readonly blocks: string[] = [];
  chars = 0;
  private a = 0x811c9dc5;
  private b = 0x050c5d1f;
  private inBlock = 0;

  get full(): boolean {
    return this.blocks.length >= MAX_PROMPT_BLOCKS;
  }

  feed(text: string): void {
    this.chars += text.length;
    let { a, b, inBlock } = this;
    for (let i = 0; i < text.length && this.blocks.length < MAX_PROMPT_BLOCKS; i++) {
      const unit = text.charCodeAt(i);
      a = Math.imul(a ^ unit, 0x01000193);
      b = Math.imul(b ^ unit, 0x5bd1e995);
      if (++inBlock === PROMPT_BLOCK_CHARS) {
        inBlock = 0;
        this.blocks.push(hex(a) + hex(b ^ (b >>> 15)));
      }
    }
    Object.assign(this, { a, b, inBlock });
  }

  /** Counts text toward the prompt's length without hashing it, once the chain is full. */
  count(text: string): void {
    if (this.full) this.chars += text.length;
    else this.feed(text);
  }
}

const hex = (x: number) => (x >>> 0).toString(16).padStart(8, '0');

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const text = (value: unknown): string => (typeof value === 'string' ? value : '');

/** A message's content as text: a string, or OpenAI's parts, of which the text ones. */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let joined = '';
  for (const part of content) if (isRecord(part) && part.type === 'text') joined += text(part.text);
  return joined;
}

const hasImages = (message: Record<string, unknown>) =>
  (Array.isArray(message.images) && message.images.length > 0) ||
  (Array.isArray(message.content) && message.content.some((part) => isRecord(part) && part.type !== 'text'));

/**
 * Renders each message as separator, role, separator, content (and its tool calls), so a chat's
 * earlier turns render as a prefix of its later turns. A message with images ends the hashed
 * part: what follows it depends on bytes not rendered here.
 */
function renderMessages(chain: BlockChain, messages: unknown): void {
  if (!Array.isArray(messages)) return;
  let hashing = true;
  for (const message of messages) {
    if (!isRecord(message)) continue;
    if (hashing && hasImages(message)) hashing = false;
    const feed = hashing ? (s: string) => chain.count(s) : (s: string) => (chain.chars += s.length);
    feed(MESSAGE + text(message.role) + FIELD);
    feed(contentText(message.content));
    if (message.tool_calls !== undefined && !chain.full && hashing) feed(FIELD + JSON.stringify(message.tool_calls));
  }
}

/**
 * The prompt's block chain and token estimate from a parsed request body. A generate or
 * completion renders as a chat of its system text and prompt, so it shares blocks with the chat
 * that starts the same way. Malformed or prompt-less bodies give no blocks and 0 tokens.
 */
export function promptBlocks(source: PromptSource, body: unknown): PromptFigures {
  const chain = new BlockChain();
  if (isRecord(body)) {
    if (source === 'chat' || source === 'openai-chat') {
      renderMessages(chain, body.messages);
    } else {
      const system = text(body.system);
      const prompt = Array.isArray(body.prompt) ? text(body.prompt[0]) : text(body.prompt);
      const messages = system === '' ? [] : [{ role: 'system', content: system }];
      if (prompt !== '') messages.push({ role: 'user', content: prompt });
      const images = source === 'generate' && Array.isArray(body.images) && body.images.length > 0;
      renderMessages(chain, images ? messages.map((m) => (m.role === 'user' ? { ...m, images: body.images } : m)) : messages);
    }
  }
  return { promptBlocks: chain.blocks, promptTokens: Math.ceil(chain.chars / CHARS_PER_TOKEN) };
}
