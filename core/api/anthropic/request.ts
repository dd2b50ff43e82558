// Maps an Anthropic Messages body to the chat the engine runs, following Ollama's
// AnthropicMessagesMiddleware and FromMessagesRequest (middleware/anthropic.go, anthropic/).

import type { ChatMessage, ModelOptions, ThinkValue, ToolCall, ToolDefinition } from '../../contracts/engine.js';
import { ProductError, badRequest } from '../../errors.js';
import { Fields, isObject, jsonKind, type JsonObject } from '../ollama/body.js';

export interface MessagesRun {
  model: string;
  messages: ChatMessage[];
  options: ModelOptions;
  tools?: ToolDefinition[];
  stream: boolean;
  /** From `thinking` (enabled or disabled), else `output_config.effort`, as Ollama's FromMessagesRequest reads them. */
  think?: ThinkValue;
  /** Ollama's len/4 guess at the prompt's tokens, which message_start reports before any are counted. */
  estimatedInputTokens: number;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Go's base64 error: the offset of the first byte that breaks the encoding. */
function base64Error(data: string): string | undefined {
  if (BASE64.test(data) && data.length % 4 === 0) return undefined;
  const bad = data.search(/[^A-Za-z0-9+/=]/);
  const padding = data.indexOf('=');
  const at = bad >= 0 ? bad : padding >= 0 && !/^={1,2}$/.test(data.slice(padding)) ? padding : data.length - (data.length % 4);
  return `illegal base64 data at input byte ${at}`;
}

function imageData(source: unknown): string {
  if (!isObject(source)) throw badRequest('invalid image source');
  if (source.type !== 'base64') throw badRequest(`invalid image source type: ${String(source.type ?? '')}. Only base64 images are supported.`);
  const data = typeof source.data === 'string' ? source.data : '';
  const error = base64Error(data);
  if (error) throw badRequest(`invalid base64 image data: ${error}`);
  return data;
}

/** A tool_result's content: a string, or text and image blocks. */
function toolResultContent(content: unknown): { text: string; images: string[] } {
  if (typeof content === 'string') return { text: content, images: [] };
  if (!Array.isArray(content)) return { text: '', images: [] };
  let text = '';
  const images: string[] = [];
  for (const block of content.filter(isObject)) {
    if (block.type === 'text' && typeof block.text === 'string') text += block.text;
    else if (block.type === 'image') {
      if (!isObject(block.source)) throw badRequest('invalid tool_result image source');
      images.push(imageData(block.source));
    }
  }
  return { text, images };
}

/** What a replayed web search result tells the model: its titles and URLs, or its error. */
function webSearchResult(content: unknown): string {
  if (typeof content === 'string') return content;
  const items = Array.isArray(content) ? content.filter(isObject) : isObject(content) ? [content] : [];
  const failed = items.find((item) => item.type === 'web_search_tool_result_error');
  if (failed) return failed.error_code ? `web_search_tool_result_error: ${String(failed.error_code)}` : 'web_search_tool_result_error';
  if (!Array.isArray(content)) return JSON.stringify(content ?? null);
  return items
    .filter((item) => item.type === 'web_search_result')
    .map((item) => `- ${String(item.title ?? '')}: ${String(item.url ?? '')}\n`)
    .join('');
}

function callArguments(input: unknown): Record<string, unknown> {
  return isObject(input) ? input : {};
}

/**
 * One Anthropic message as Ollama converts it: its text, images and tool_use blocks make one
 * message; tool results become tool messages, before a user's text so that they follow the call.
 */
function convertMessage(role: string, blocks: JsonObject[], callNames: Map<string, string>): ChatMessage[] {
  let text = '';
  const images: string[] = [];
  const calls: ToolCall[] = [];
  const results: ChatMessage[] = [];
  for (const block of blocks) {
    switch (block.type) {
      case 'text':
        if (typeof block.text === 'string') text += block.text;
        break;
      case 'image':
        if (block.source === undefined || block.source === null) throw badRequest('invalid image source');
        images.push(imageData(block.source));
        break;
      case 'tool_use':
      case 'server_tool_use': {
        if (block.type === 'tool_use' && (typeof block.id !== 'string' || block.id === '')) throw badRequest("tool_use block missing required 'id' field");
        if (block.type === 'tool_use' && (typeof block.name !== 'string' || block.name === '')) throw badRequest("tool_use block missing required 'name' field");
        const name = typeof block.name === 'string' ? block.name : '';
        callNames.set(String(block.id ?? ''), name);
        calls.push({ function: { name, arguments: callArguments(block.input) } });
        break;
      }
      case 'tool_result':
      case 'web_search_tool_result': {
        const { text: content, images: resultImages } = block.type === 'tool_result' ? toolResultContent(block.content) : { text: webSearchResult(block.content), images: [] };
        const toolName = callNames.get(String(block.tool_use_id ?? ''));
        results.push({ role: 'tool', content, ...(resultImages.length ? { images: resultImages } : {}), ...(toolName ? { tool_name: toolName } : {}) });
        break;
      }
      // Thinking blocks carry the model's earlier reasoning, which no engine here takes back in.
    }
  }
  const message: ChatMessage[] =
    text !== '' || images.length > 0 || calls.length > 0
      ? [{ role: role as ChatMessage['role'], content: text, ...(images.length ? { images } : {}), ...(calls.length ? { tool_calls: calls } : {}) }]
      : [];
  return role === 'user' ? [...results, ...message] : [...message, ...results];
}

/** A message's content: a string is one text block, as Ollama's MessageParam decodes it. */
function contentBlocks(content: unknown): JsonObject[] {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  if (content === undefined || content === null) return [];
  if (!Array.isArray(content)) throw badRequest(`json: cannot unmarshal ${jsonKind(content)} into Go value of type []anthropic.ContentBlock`);
  return content.map((block) => {
    if (!isObject(block)) throw badRequest(`json: cannot unmarshal ${jsonKind(block)} into Go value of type anthropic.ContentBlock`);
    return block;
  });
}

/** The system prompt: a string, or the text of its text blocks. */
function systemText(system: unknown): string {
  if (typeof system === 'string') return system;
  if (!Array.isArray(system)) return '';
  return system
    .filter(isObject)
    .filter((block) => block.type === 'text' && typeof block.text === 'string')
    .map((block) => block.text as string)
    .join('');
}

function tool(fields: Fields): ToolDefinition {
  const type = fields.string('type') ?? '';
  if (type.startsWith('web_search')) {
    // Ollama runs the built-in search on ollama.com; a node has no cloud to run it on.
    throw new ProductError('OD_ERR_FORBIDDEN', 'ollama cloud is disabled: web search is unavailable');
  }
  const name = fields.string('name') ?? '';
  const description = fields.string('description');
  const schema = fields.raw('input_schema');
  if (schema !== undefined && !isObject(schema)) {
    throw badRequest(`invalid input_schema for tool ${JSON.stringify(name)}: json: cannot unmarshal ${jsonKind(schema)} into Go value of type api.ToolFunctionParameters`);
  }
  return { type: 'function', function: { name, ...(description ? { description } : {}), ...(schema ? { parameters: schema } : {}) } };
}

const byteLength = (text: string) => Buffer.byteLength(text, 'utf8');

/** Bytes of a block that count toward the estimate: its text, its thinking, a tool block whole. */
function blockLength(block: JsonObject): number {
  let total = 0;
  if (typeof block.text === 'string') total += byteLength(block.text);
  if (typeof block.thinking === 'string') total += byteLength(block.thinking);
  if (block.type === 'tool_use' || block.type === 'tool_result') total += byteLength(JSON.stringify(block));
  return total;
}

/** Ollama's EstimateCountTokens: bytes of system, roles, blocks and tools over four, at least one. */
function estimateInputTokens(system: unknown, messages: { role: string; blocks: JsonObject[] }[], tools: unknown[]): number {
  let total = typeof system === 'string' ? byteLength(system) : Array.isArray(system) ? system.filter(isObject).reduce((sum, block) => sum + blockLength(block), 0) : 0;
  for (const message of messages) total += byteLength(message.role) + message.blocks.reduce((sum, block) => sum + blockLength(block), 0);
  for (const t of tools.filter(isObject)) {
    total += byteLength(String(t.name ?? '')) + byteLength(String(t.description ?? '')) + (t.input_schema === undefined ? 0 : byteLength(JSON.stringify(t.input_schema)));
  }
  const tokens = Math.floor(total / 4);
  return tokens === 0 && (messages.length > 0 || (system !== undefined && system !== null)) ? 1 : tokens;
}

/** Ollama's FromMessagesRequest: thinking enabled or disabled wins; else an effort of low to max (xhigh is high). */
function thinkOf(fields: Fields): ThinkValue | undefined {
  const thinking = fields.raw('thinking');
  const type = isObject(thinking) ? thinking.type : undefined;
  if (type === 'enabled') return true;
  if (type === 'disabled') return false;
  const config = fields.raw('output_config');
  const raw = isObject(config) && typeof config.effort === 'string' ? config.effort.trim().toLowerCase() : '';
  const effort = raw === 'xhigh' ? 'high' : raw;
  return effort === 'low' || effort === 'medium' || effort === 'high' || effort === 'max' ? effort : undefined;
}

export function messagesRequest(body: unknown): MessagesRun {
  if (body === undefined) throw badRequest('missing request body');
  if (!isObject(body)) throw badRequest(`json: cannot unmarshal ${jsonKind(body)} into Go value of type anthropic.MessagesRequest`);
  const fields = new Fields(body, 'MessagesRequest');
  const model = fields.string('model') ?? '';
  const maxTokens = fields.integer('max_tokens') ?? 0;
  const rawMessages = fields.objects('messages', 'MessageParam') ?? [];
  const messages = rawMessages.map((message) => ({ role: (message.string('role') ?? '').toLowerCase(), blocks: contentBlocks(message.raw('content')) }));
  const system = fields.raw('system');
  const temperature = fields.raw('temperature');
  const topP = fields.raw('top_p');
  const topK = fields.integer('top_k');
  const stop = fields.strings('stop_sequences');
  const toolFields = fields.objects('tools', 'Tool') ?? [];
  const stream = fields.boolean('stream') ?? false;
  for (const [name, value] of [['temperature', temperature], ['top_p', topP]] as const) {
    if (value !== undefined && typeof value !== 'number') throw badRequest(`json: cannot unmarshal ${jsonKind(value)} into Go struct field MessagesRequest.${name} of type float64`);
  }

  if (model === '') throw badRequest('model is required');
  if (maxTokens <= 0) throw badRequest('max_tokens is required and must be positive');
  if (messages.length === 0) throw badRequest('messages is required');

  const callNames = new Map<string, string>();
  const systemPrompt = systemText(system);
  const chat = [
    ...(systemPrompt ? [{ role: 'system' as const, content: systemPrompt }] : []),
    ...messages.flatMap((message) => convertMessage(message.role, message.blocks, callNames)),
  ];
  const tools = toolFields.map(tool);
  const think = thinkOf(fields);
  // Unlike the OpenAI routes, Ollama leaves sampling to the model unless the request sets it.
  const options: ModelOptions = {
    num_predict: maxTokens,
    ...(typeof temperature === 'number' ? { temperature } : {}),
    ...(typeof topP === 'number' ? { top_p: topP } : {}),
    ...(topK !== undefined ? { top_k: topK } : {}),
    ...(stop?.length ? { stop } : {}),
  };
  return {
    model,
    messages: chat,
    options,
    ...(tools.length > 0 ? { tools } : {}),
    stream,
    ...(think !== undefined ? { think } : {}),
    estimatedInputTokens: estimateInputTokens(system, messages, toolFields.map((t) => t.values)),
  };
}
