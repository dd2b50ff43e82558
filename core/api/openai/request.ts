// Maps OpenAI request bodies to what the engine runs, following Ollama's openai.FromChatRequest,
// FromCompleteRequest and its embeddings middleware. Every refusal is a 400 with OpenAI's wording.

import type { ChatMessage, ModelOptions, OutputFormat, ThinkValue, ToolCall, ToolDefinition } from '../../contracts/engine.js';
import { badRequest } from '../../errors.js';

export type Body = Record<string, unknown>;

/** The parsed JSON body, which must be an object. */
export function requestBody(body: unknown): Body {
  if (body === undefined) throw badRequest('missing request body');
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('request body must be a JSON object');
  return body as Body;
}

function optional<T>(body: Body, key: string, expected: string, accept: (value: unknown) => value is T): T | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (!accept(value)) throw badRequest(`invalid type for '${key}': expected ${expected}`);
  return value;
}

const isNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
const isInteger = (value: unknown): value is number => Number.isSafeInteger(value);
const isBoolean = (value: unknown): value is boolean => typeof value === 'boolean';
const isString = (value: unknown): value is string => typeof value === 'string';
const isObject = (value: unknown): value is Body => typeof value === 'object' && value !== null && !Array.isArray(value);

export function optionalNumber(body: Body, key: string): number | undefined {
  return optional(body, key, 'a number', isNumber);
}

export function optionalInteger(body: Body, key: string): number | undefined {
  return optional(body, key, 'an integer', isInteger);
}

export function optionalString(body: Body, key: string): string | undefined {
  return optional(body, key, 'a string', isString);
}

export function streamRequested(body: Body): boolean {
  return optional(body, 'stream', 'a boolean', isBoolean) ?? false;
}

/** Ollama's chat and generate handlers refuse a top_logprobs outside 0..20 before anything else. */
export function checkTopLogprobs(top: number | undefined): void {
  if (top !== undefined && (top < 0 || top > 20)) throw badRequest('top_logprobs must be between 0 and 20');
}

/** Ollama's fromChatRequest: `logprobs: true` asks for them, `top_logprobs` for that many alternatives. */
export function chatLogprobs(body: Body): { top: number } | undefined {
  const top = optionalInteger(body, 'top_logprobs');
  checkTopLogprobs(top);
  return optional(body, 'logprobs', 'a boolean', isBoolean) ? { top: top ?? 0 } : undefined;
}

export function includeUsage(body: Body): boolean {
  const options = optional(body, 'stream_options', 'an object', isObject);
  return options ? (optional(options, 'include_usage', 'a boolean', isBoolean) ?? false) : false;
}

/** A string or a list of strings; `strict` refuses other list items (completions) instead of skipping them (chat). */
function stopSequences(body: Body, strict: boolean): string[] | undefined {
  const stop = body.stop;
  if (stop === undefined || stop === null) return undefined;
  if (typeof stop === 'string') return [stop];
  if (!Array.isArray(stop)) throw badRequest("invalid type for 'stop': expected a string or a list of strings");
  if (strict) {
    const bad = stop.find((item) => typeof item !== 'string');
    if (bad !== undefined) throw badRequest(`invalid type for 'stop' field: ${typeof bad}`);
  }
  return stop.filter(isString);
}

/**
 * Sampling options shared by chat and completions. Like Ollama, temperature and top_p default to
 * OpenAI's 1.0 rather than the model's own defaults.
 */
function samplingOptions(body: Body, strictStop: boolean): ModelOptions {
  const options: ModelOptions = {
    temperature: optionalNumber(body, 'temperature') ?? 1,
    top_p: optionalNumber(body, 'top_p') ?? 1,
  };
  const stop = stopSequences(body, strictStop);
  if (stop) options.stop = stop;
  const maxTokens = optionalInteger(body, 'max_completion_tokens') ?? optionalInteger(body, 'max_tokens');
  if (maxTokens !== undefined) options.num_predict = maxTokens;
  const seed = optionalInteger(body, 'seed');
  if (seed !== undefined) options.seed = seed;
  const frequency = optionalNumber(body, 'frequency_penalty');
  if (frequency !== undefined) options.frequency_penalty = frequency;
  const presence = optionalNumber(body, 'presence_penalty');
  if (presence !== undefined) options.presence_penalty = presence;
  return options;
}

export const chatOptions = (body: Body) => samplingOptions(body, false);
export const completionOptions = (body: Body) => samplingOptions(body, true);

/** `json_object` asks for any JSON, `json_schema` for its schema; `text` and no format ask for neither. */
export function responseFormat(body: Body): OutputFormat | undefined {
  const format = optional(body, 'response_format', 'an object', isObject);
  if (!format) return undefined;
  const type = optionalString(format, 'type')?.trim().toLowerCase();
  if (type === 'json_object') return 'json';
  if (type === 'json_schema') {
    const jsonSchema = optional(format, 'json_schema', 'an object', isObject);
    return jsonSchema ? optional(jsonSchema, 'schema', 'an object', isObject) : undefined;
  }
  return undefined;
}

/**
 * Ollama's thinkFromReasoningEffort on `reasoning.effort`, else `reasoning_effort`: OpenAI's scale
 * clamped to Ollama's levels; none leaves the model's default, "none" turns thinking off.
 */
export function chatThink(body: Body): ThinkValue | undefined {
  const reasoning = optional(body, 'reasoning', 'an object', isObject);
  const effort = reasoning ? optionalString(reasoning, 'effort') : optionalString(body, 'reasoning_effort');
  return thinkFromEffort(effort);
}

/** Ollama's thinkFromReasoningEffort (openai/openai.go): a level, off for none, undefined for no effort. */
export function thinkFromEffort(effort: string | undefined): ThinkValue | undefined {
  switch (effort) {
    case undefined:
    case '':
      return undefined;
    case 'none':
      return false;
    case 'minimal':
      return 'low';
    case 'low':
    case 'medium':
    case 'high':
    case 'max':
      return effort;
    case 'xhigh':
    case 'ultra':
      return 'max';
    default:
      throw badRequest(`invalid reasoning value: ${JSON.stringify(effort)} (must be "minimal", "low", "medium", "high", "xhigh", "ultra", "max", or "none")`);
  }
}

export function chatTools(body: Body): ToolDefinition[] | undefined {
  const tools = body.tools;
  if (tools === undefined || tools === null) return undefined;
  if (!Array.isArray(tools)) throw badRequest("invalid type for 'tools': expected a list");
  return tools.map((tool) => {
    const fn = isObject(tool) && isObject(tool.function) ? tool.function : undefined;
    if (!fn || (tool as Body).type !== 'function' || typeof fn.name !== 'string') {
      throw badRequest("each tool must be {\"type\": \"function\", \"function\": {\"name\": ...}}");
    }
    return {
      type: 'function',
      function: {
        name: fn.name,
        ...(typeof fn.description === 'string' ? { description: fn.description } : {}),
        ...(isObject(fn.parameters) ? { parameters: fn.parameters } : {}),
      },
    };
  });
}

interface OpenAIToolCall {
  id?: unknown;
  function?: { name?: unknown; arguments?: unknown };
}

function toolCalls(calls: unknown): ToolCall[] {
  if (!Array.isArray(calls)) throw badRequest("invalid type for 'tool_calls': expected a list");
  return (calls as OpenAIToolCall[]).map((call) => {
    let args: unknown;
    try {
      args = JSON.parse(String(call?.function?.arguments ?? ''));
    } catch {
      throw badRequest('invalid tool call arguments');
    }
    if (!isObject(args)) throw badRequest('invalid tool call arguments');
    return { function: { name: String(call.function?.name ?? ''), arguments: args } };
  });
}

/** Ollama passes a tool result's function name to the template; OpenAI names the call by id. */
function toolNameFor(messages: Body[], callId: unknown): string | undefined {
  for (let i = messages.length - 1; i >= 0; i--) {
    const calls = messages[i]!.tool_calls;
    if (!Array.isArray(calls)) continue;
    const call = (calls as OpenAIToolCall[]).find((c) => c?.id === callId);
    if (call && typeof call.function?.name === 'string') return call.function.name;
  }
  return undefined;
}

const IMAGE_PREFIXES = ['data:;base64,', ...['jpeg', 'jpg', 'png', 'webp'].map((type) => `data:image/${type};base64,`)];

/** The base64 data of a data URL, checked as Ollama's decodeImageURL checks it. */
export function imageUrlData(url: string): string {
  if (url.startsWith('http://') || url.startsWith('https://')) {
    throw badRequest('image URLs are not currently supported, please use base64 encoded data instead');
  }
  const prefix = IMAGE_PREFIXES.find((p) => url.startsWith(p));
  if (!prefix) throw badRequest('invalid image input');
  const data = url.slice(prefix.length);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(data) || data.length % 4 !== 0) throw badRequest('invalid image input');
  return data;
}

function imageData(part: Body): string {
  const source = part.image_url;
  const url = isObject(source) ? source.url : source;
  if (typeof url !== 'string') throw badRequest('invalid message format');
  return imageUrlData(url);
}

/** Ollama's renderers read `developer` as `system`; other roles pass through, lowercased, as Ollama passes them. */
function chatRole(role: unknown): ChatMessage['role'] {
  const lower = typeof role === 'string' ? role.toLowerCase() : '';
  return (lower === 'developer' ? 'system' : lower) as ChatMessage['role'];
}

/** One message, or one per content part as Ollama's FromChatRequest makes them; tool calls go on the last. */
function chatMessage(message: unknown, all: Body[]): ChatMessage[] {
  if (!isObject(message)) throw badRequest('invalid message format');
  const role = chatRole(message.role);
  const content = message.content;
  const hasCalls = message.tool_calls !== undefined && message.tool_calls !== null;
  let out: ChatMessage[];
  if (typeof content === 'string') {
    out = [{ role, content }];
  } else if (Array.isArray(content)) {
    out = content.map((part): ChatMessage => {
      if (!isObject(part)) throw badRequest('invalid message format');
      if (part.type === 'text' && typeof part.text === 'string') return { role, content: part.text };
      if (part.type === 'image_url') return { role, content: '', images: [imageData(part)] };
      throw badRequest('invalid message format');
    });
  } else if (hasCalls) {
    out = [{ role, content: '' }];
  } else {
    throw badRequest(`invalid message content type: ${content === null || content === undefined ? '<nil>' : typeof content}`);
  }
  if (hasCalls) {
    if (out.length === 0) out.push({ role, content: '' });
    out.at(-1)!.tool_calls = toolCalls(message.tool_calls);
  }
  if (typeof message.reasoning === 'string' && message.reasoning !== '' && out.length > 0) out.at(-1)!.thinking = message.reasoning;
  if (role === 'tool') {
    const name = typeof message.name === 'string' && message.name ? message.name : toolNameFor(all, message.tool_call_id);
    if (name) for (const part of out) part.tool_name = name;
  }
  return out;
}

export function chatMessages(body: Body): ChatMessage[] {
  const messages = body.messages;
  if (!Array.isArray(messages)) throw badRequest("invalid type for 'messages': expected a list");
  if (messages.length === 0) throw badRequest("[] is too short - 'messages'");
  return messages.flatMap((message) => chatMessage(message, messages as Body[]));
}

export function completionPrompt(body: Body): string {
  return optionalString(body, 'prompt') ?? '';
}

/** A string or a list of strings; an empty string embeds as one empty input, an empty list is refused. */
export function embeddingInput(body: Body): string[] {
  const input = body.input;
  if (typeof input === 'string') return [input];
  if (!Array.isArray(input) || input.length === 0) throw badRequest('invalid input');
  if (!input.every(isString)) throw badRequest('invalid input type: only strings and lists of strings can be embedded');
  return input;
}

export type EncodingFormat = 'float' | 'base64';

export function encodingFormat(body: Body): EncodingFormat {
  const format = optionalString(body, 'encoding_format');
  if (format === undefined || format === '') return 'float';
  const lower = format.toLowerCase();
  if (lower !== 'float' && lower !== 'base64') {
    throw badRequest(`Invalid value for 'encoding_format' = ${format}. Supported values: ['float', 'base64'].`);
  }
  return lower;
}

export function embeddingDimensions(body: Body): number | undefined {
  const dimensions = optionalInteger(body, 'dimensions');
  if (dimensions !== undefined && dimensions < 1) throw badRequest("invalid value for 'dimensions': expected a positive integer");
  return dimensions;
}
