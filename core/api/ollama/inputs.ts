// The structured inputs generate and chat share: format, images, think, chat messages and tools,
// each checked with the error Ollama gives for it.

import type { ChatMessage, OutputFormat, ThinkValue, ToolCall, ToolDefinition } from '../../contracts/engine.js';
import { badRequest } from '../../errors.js';
import { isObject, type Fields } from './body.js';

/** Token ids are int32 in llama.cpp and Ollama's runners alike: none lies outside [0, 2^31). */
const MAX_TOKEN_ID = 2 ** 31 - 1;

/** A generate request's `context`: token ids from an earlier response, none outside any vocabulary. */
export function parseContext(fields: Fields): number[] | undefined {
  const context = fields.integers('context');
  const bad = context?.find((token) => token < 0 || token > MAX_TOKEN_ID);
  if (bad !== undefined) throw badRequest(`context token ${bad} is outside the model's vocabulary`);
  return context;
}

/** `"json"`, a JSON schema object, or nothing (absent, null or ""). */
export function parseFormat(value: unknown): OutputFormat | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (value === 'json' || isObject(value)) return value;
  throw badRequest(`invalid format: ${JSON.stringify(JSON.stringify(value))}; expected "json" or a valid JSON Schema object`);
}

/** Images are base64 strings (Go's []byte); the first bad byte is reported as Go reports it. */
export function parseImages(fields: Fields, name = 'images'): string[] | undefined {
  const images = fields.strings(name);
  for (const image of images ?? []) {
    const bad = image.search(/[^A-Za-z0-9+/=]/);
    const padding = image.indexOf('=');
    const malformed = padding >= 0 && !/^={1,2}$/.test(image.slice(padding));
    if (bad >= 0 || malformed || image.length % 4 !== 0) {
      const at = bad >= 0 ? bad : malformed ? padding : image.length - (image.length % 4);
      throw badRequest(`illegal base64 data at input byte ${at}`);
    }
  }
  return images;
}

const THINK_LEVELS: readonly string[] = ['high', 'medium', 'low', 'max'];

/** Ollama's ThinkValue: a boolean or a level; absent and null leave it unset. Errors are its UnmarshalJSON's. */
export function parseThink(value: unknown): ThinkValue | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    if (THINK_LEVELS.includes(value)) return value as ThinkValue;
    throw badRequest(`invalid think value: ${JSON.stringify(value)} (must be "high", "medium", "low", "max", true, or false)`);
  }
  throw badRequest('think must be a boolean or string ("high", "medium", "low", "max", true, or false)');
}

/**
 * `top_logprobs` must lie in 0..20, which Ollama checks before it looks at the model; it counts only
 * with `logprobs` true. Undefined when no log probabilities are asked for.
 */
export function parseLogprobs(fields: Fields): { top: number } | undefined {
  const top = fields.integer('top_logprobs') ?? 0;
  if (top < 0 || top > 20) throw badRequest('top_logprobs must be between 0 and 20');
  return fields.boolean('logprobs') ? { top } : undefined;
}

function parseToolCalls(fields: Fields): ToolCall[] | undefined {
  return fields.objects('tool_calls', 'ToolCall')?.map((call) => {
    const fn = call.object('function', 'api.ToolCallFunction');
    const name = typeof fn?.['name'] === 'string' ? fn['name'] : '';
    const args = fn?.['arguments'] ?? {};
    if (!isObject(args)) throw badRequest('tool call arguments must be a JSON object');
    const id = call.string('id');
    const index = fn?.['index'];
    return { ...(id ? { id } : {}), function: { ...(Number.isSafeInteger(index) ? { index: index as number } : {}), name, arguments: args } };
  });
}

export function parseMessage(message: Fields): ChatMessage {
  const images = parseImages(message);
  const toolCalls = parseToolCalls(message);
  const toolName = message.string('tool_name');
  const thinking = message.string('thinking');
  return {
    // Ollama lowercases the role as it decodes a message, then passes any role through.
    role: (message.string('role') ?? '').toLowerCase() as ChatMessage['role'],
    content: message.string('content') ?? '',
    ...(thinking ? { thinking } : {}),
    ...(images?.length ? { images } : {}),
    ...(toolCalls?.length ? { tool_calls: toolCalls } : {}),
    ...(toolName ? { tool_name: toolName } : {}),
  };
}

export function parseMessages(fields: Fields): ChatMessage[] {
  return (fields.objects('messages', 'Message') ?? []).map(parseMessage);
}

export function parseTools(fields: Fields): ToolDefinition[] | undefined {
  return fields.objects('tools', 'Tool')?.map((tool) => {
    const fn = tool.object('function', 'api.ToolFunction') ?? {};
    if (typeof fn['name'] !== 'string' || fn['name'] === '') throw badRequest('tool function name is required');
    const parameters = fn['parameters'];
    if (parameters !== undefined && parameters !== null && !isObject(parameters)) throw badRequest('tool function parameters must be a JSON object');
    return {
      type: 'function',
      function: {
        name: fn['name'],
        ...(typeof fn['description'] === 'string' ? { description: fn['description'] } : {}),
        ...(isObject(parameters) ? { parameters } : {}),
      },
    };
  });
}
