// The tokens a request evaluates: the raw prompt, the prompt through the Ollama template, or turns
// through the model's own chat template; plus fill-in-middle and prior context. Tokenizing yields to
// the event loop and stops once the context is full: a prompt keeps its end, as Ollama cuts it.

import { SpecialToken, SpecialTokensText, type ChatHistoryItem, type ChatWrapper, type LlamaModel, type LlamaText, type Token } from 'node-llama-cpp';
import type { ThinkValue } from '../../core/contracts/engine.js';
import { ProductError } from '../../core/errors.js';
import { textEnd } from './fit-messages.js';
import { tokenizeEnd, tokenizeStart, tokenizeTextEnd } from './prompt-tokens.js';
import { renderGeneratePrompt, templateUses } from './template-prompt.js';

export interface CompletionPrompt {
  tokens: Token[];
  /** Stop strings the chat format implies, on top of the request's own. */
  stopStrings: string[];
  /** Control tokens that end a turn in the chat format without being end-of-generation tokens. */
  stopTokens: Set<Token>;
}

export interface CompletionPromptInput {
  prompt: string;
  suffix?: string;
  system?: string;
  template?: string;
  raw: boolean;
  context?: number[];
  think?: ThinkValue;
  /** The start of the answer, generated elsewhere: the model goes on after it. */
  continueFrom?: string;
}

/** Where tokenizing may stop: the context a slot holds, and the request's signal. */
export interface PromptBounds {
  contextLength: number;
  signal?: AbortSignal;
}

export async function completionPrompt(model: LlamaModel, chatWrapper: () => ChatWrapper, input: CompletionPromptInput, bounds: PromptBounds): Promise<CompletionPrompt> {
  const plan = await promptOf(model, chatWrapper, input, bounds);
  if (input.context && input.context.length > 0) {
    // llama.cpp fails the whole batch on one unknown token; name it as the caller's mistake instead.
    const vocabulary = model.fileInfo.metadata.tokenizer?.ggml?.tokens?.length ?? 0;
    const unknown = input.context.find((token) => token >= vocabulary);
    if (unknown !== undefined) throw new ProductError('OD_ERR_BAD_REQUEST', `context token ${unknown} is outside the model's vocabulary of ${vocabulary} tokens`);
    const fresh = plan.tokens[0] === model.tokens.bos ? plan.tokens.slice(1) : plan.tokens;
    // Only its first token and its end can stay in the window, however long a context sent back is.
    const context = input.context.length > bounds.contextLength ? [input.context[0]!, ...input.context.slice(-bounds.contextLength)] : input.context;
    plan.tokens = [...(context as Token[]), ...fresh];
  }
  if (input.continueFrom) {
    const { tokens } = await tokenizeStart(model, input.continueFrom, false, bounds.contextLength, bounds.signal);
    plan.tokens = [...plan.tokens, ...tokens].slice(-bounds.contextLength);
  }
  return plan;
}

async function promptOf(model: LlamaModel, chatWrapper: () => ChatWrapper, input: CompletionPromptInput, bounds: PromptBounds): Promise<CompletionPrompt> {
  const none = { stopStrings: [], stopTokens: new Set<Token>() };
  const { contextLength, signal } = bounds;
  if (input.raw) return { tokens: withBos(model, (await tokenizeEnd(model, input.prompt, true, contextLength, signal)).tokens), ...none };
  if (input.suffix && !(input.template && templateUses(input.template, 'Suffix'))) {
    return { tokens: await fillInMiddle(model, input.prompt, input.suffix, bounds), ...none };
  }
  if (input.template) {
    const text = renderGeneratePrompt(input.template, {
      prompt: input.prompt,
      ...(input.system ? { system: input.system } : {}),
      ...(input.suffix ? { suffix: input.suffix } : {}),
      ...(input.think !== undefined ? { think: input.think } : {}),
    });
    return { tokens: withBos(model, (await tokenizeEnd(model, text, true, contextLength, signal)).tokens), ...none };
  }
  // The chat format renders its text whole: what cannot fit the context is cut first.
  const prompt = (await textEnd(model, input.prompt, contextLength, signal)).text;
  return chatPrompt(model, chatWrapper(), [...(input.system ? [{ type: 'system' as const, text: input.system }] : []), { type: 'user', text: prompt }], bounds);
}

/** A conversation through the model's own chat format, open for the model's turn (or continuing a last model turn). */
export async function chatPrompt(model: LlamaModel, chatWrapper: ChatWrapper, history: readonly ChatHistoryItem[], bounds: PromptBounds): Promise<CompletionPrompt> {
  const open = history.at(-1)?.type === 'model' ? [...history] : [...history, { type: 'model' as const, response: [] }];
  const state = chatWrapper.generateContextState({ chatHistory: open });
  const { tokens } = await tokenizeTextEnd(model, state.contextText, bounds.contextLength, bounds.signal);
  return { tokens, ...stopsOf(state.stopGenerationTriggers, model) };
}

function withBos(model: LlamaModel, tokens: Token[]): Token[] {
  const bos = model.tokens.bos;
  return bos !== null && model.tokens.shouldPrependBosToken && tokens[0] !== bos ? [bos, ...tokens] : tokens;
}

async function fillInMiddle(model: LlamaModel, prefix: string, suffix: string, { contextLength, signal }: PromptBounds): Promise<Token[]> {
  const { prefix: pre, suffix: suf, middle } = model.tokens.infill;
  if (pre === null || suf === null || middle === null) {
    throw new ProductError('OD_ERR_UNSUPPORTED', 'model does not support insert');
  }
  const before = (await tokenizeEnd(model, prefix, false, contextLength, signal)).tokens;
  const after = (await tokenizeStart(model, suffix, false, contextLength, signal)).tokens;
  return withBos(model, [pre, ...before, suf, ...after, middle]);
}

/** A chat format's stop triggers: single control tokens are matched as tokens, the rest as text. */
function stopsOf(triggers: readonly LlamaText[], model: LlamaModel): Pick<CompletionPrompt, 'stopStrings' | 'stopTokens'> {
  const stopStrings: string[] = [];
  const stopTokens = new Set<Token>();
  for (const trigger of triggers) {
    // End-of-generation tokens (EOS, EOT) already end generation inside llama.cpp.
    if (trigger.values.length === 1 && trigger.values[0] instanceof SpecialToken) continue;
    const tokens = trigger.tokenize(model.tokenizer);
    if (tokens.length === 1 && model.isSpecialToken(tokens[0])) {
      stopTokens.add(tokens[0]!);
      continue;
    }
    const text = trigger.values.map((v) => (typeof v === 'string' ? v : v instanceof SpecialTokensText ? v.value : '')).join('');
    if (text) stopStrings.push(text);
  }
  return { stopStrings, stopTokens };
}
