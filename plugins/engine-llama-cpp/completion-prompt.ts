// The tokens a generate request evaluates: the raw prompt, the prompt through the Ollama template,
// or a single user turn through the model's own chat template; plus fill-in-middle and prior context.

import { SpecialToken, SpecialTokensText, type ChatWrapper, type LlamaModel, type LlamaText, type Token } from 'node-llama-cpp';
import { ProductError } from '../../core/errors.js';
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
}

export function completionPrompt(model: LlamaModel, chatWrapper: () => ChatWrapper, input: CompletionPromptInput): CompletionPrompt {
  const plan = promptOf(model, chatWrapper, input);
  if (input.context && input.context.length > 0) {
    // llama.cpp fails the whole batch on one unknown token; name it as the caller's mistake instead.
    const vocabulary = model.fileInfo.metadata.tokenizer?.ggml?.tokens?.length ?? 0;
    const unknown = input.context.find((token) => token >= vocabulary);
    if (unknown !== undefined) throw new ProductError('OD_ERR_BAD_REQUEST', `context token ${unknown} is outside the model's vocabulary of ${vocabulary} tokens`);
    const fresh = plan.tokens[0] === model.tokens.bos ? plan.tokens.slice(1) : plan.tokens;
    plan.tokens = [...(input.context as Token[]), ...fresh];
  }
  return plan;
}

function promptOf(model: LlamaModel, chatWrapper: () => ChatWrapper, input: CompletionPromptInput): CompletionPrompt {
  const none = { stopStrings: [], stopTokens: new Set<Token>() };
  if (input.raw) return { tokens: withBos(model, model.tokenize(input.prompt, true)), ...none };
  if (input.suffix && !(input.template && templateUses(input.template, 'Suffix'))) {
    return { tokens: fillInMiddle(model, input.prompt, input.suffix), ...none };
  }
  if (input.template) {
    const text = renderGeneratePrompt(input.template, { prompt: input.prompt, ...(input.system ? { system: input.system } : {}), ...(input.suffix ? { suffix: input.suffix } : {}) });
    return { tokens: withBos(model, model.tokenize(text, true)), ...none };
  }
  const state = chatWrapper().generateContextState({
    chatHistory: [
      ...(input.system ? [{ type: 'system' as const, text: input.system }] : []),
      { type: 'user', text: input.prompt },
      { type: 'model', response: [] },
    ],
  });
  return { tokens: state.contextText.tokenize(model.tokenizer), ...stopsOf(state.stopGenerationTriggers, model) };
}

function withBos(model: LlamaModel, tokens: Token[]): Token[] {
  const bos = model.tokens.bos;
  return bos !== null && model.tokens.shouldPrependBosToken && tokens[0] !== bos ? [bos, ...tokens] : tokens;
}

function fillInMiddle(model: LlamaModel, prefix: string, suffix: string): Token[] {
  const { prefix: pre, suffix: suf, middle } = model.tokens.infill;
  if (pre === null || suf === null || middle === null) {
    throw new ProductError('OD_ERR_UNSUPPORTED', 'model does not support insert');
  }
  return withBos(model, [pre, ...model.tokenize(prefix, false), suf, ...model.tokenize(suffix, false), middle]);
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
