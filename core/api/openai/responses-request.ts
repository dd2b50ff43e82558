// Maps a /v1/responses body to the chat the engine runs, following Ollama's FromResponsesRequest
// (openai/responses.go): input as a string or items, instructions, tools, options, text format.

import type { ChatMessage, ModelOptions, OutputFormat, ThinkValue, ToolCall, ToolDefinition } from '../../contracts/engine.js';
import { ProductError, badRequest } from '../../errors.js';
import { imageUrlData, optionalInteger, optionalNumber, optionalString, streamRequested, thinkFromEffort, type Body } from './request.js';

/** What the response object repeats from the request, as Ollama's ToResponse echoes it. */
export interface ResponsesEcho {
  instructions: string | null;
  tools: Body[];
  text: { format: Body };
  top_p: number;
  temperature: number;
  reasoning: { effort?: string; summary?: string } | null;
  max_output_tokens: number | null;
  truncation: string;
  background: boolean;
}

export interface ResponsesRun {
  messages: ChatMessage[];
  options: ModelOptions;
  tools?: ToolDefinition[];
  format?: OutputFormat;
  /** What `reasoning.effort` asks of the model's thinking; undefined leaves it to the model. */
  think?: ThinkValue;
  stream: boolean;
  echo: ResponsesEcho;
}

const isObject = (value: unknown): value is Body => typeof value === 'object' && value !== null && !Array.isArray(value);

function jsonKind(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'boolean') return 'bool';
  return Array.isArray(value) ? 'array' : typeof value;
}

/** Text and images of a list of content items; `where` prefixes errors as Go's decoder does. */
function contentOf(items: unknown[], where: string): { text: string; images: string[] } {
  let text = '';
  const images: string[] = [];
  items.forEach((item, j) => {
    const type = isObject(item) ? item.type : undefined;
    if (type === 'input_text' || type === 'output_text') text += typeof (item as Body).text === 'string' ? (item as Body).text : '';
    else if (type === 'input_image') {
      const url = (item as Body).image_url;
      // An image named only by file_id cannot be fetched, so Ollama skips it.
      if (typeof url === 'string' && url !== '') images.push(imageUrlData(url));
    } else if (type === 'input_file') throw badRequest('file inputs are not currently supported');
    else throw badRequest(`${where}content[${j}]: unknown content type: ${typeof type === 'string' ? type : ''}`);
  });
  return { text, images };
}

function messageContent(content: unknown, where: string): { text: string; images: string[] } {
  if (content === undefined || content === null) return { text: '', images: [] };
  if (typeof content === 'string') return { text: content, images: [] };
  if (!Array.isArray(content)) throw badRequest(`${where}content must be a string or array`);
  return contentOf(content, where);
}

/** A role as Ollama's chat decoding leaves it (lowercased); its renderers read developer as system. */
function chatRole(role: unknown): ChatMessage['role'] {
  const lower = typeof role === 'string' ? role.toLowerCase() : '';
  return (lower === 'developer' ? 'system' : lower) as ChatMessage['role'];
}

function callArguments(raw: unknown): Record<string, unknown> {
  if (raw === undefined || raw === null || raw === '') return {};
  let args: unknown;
  try {
    args = JSON.parse(String(raw));
  } catch (error) {
    throw badRequest(`failed to parse function call arguments: ${(error as Error).message}`);
  }
  if (!isObject(args)) throw badRequest(`failed to parse function call arguments: cannot use ${jsonKind(args)} as arguments`);
  return args;
}

/**
 * The conversation the input items make. A function_call joins the assistant message before it; an
 * assistant message replayed between a call and its output joins that call's message, so the
 * output still follows the call it answers. Reasoning and web_search_call items are history only.
 */
function inputMessages(input: unknown): ChatMessage[] {
  if (input === undefined || input === null) return [];
  if (typeof input === 'string') return input === '' ? [] : [{ role: 'user', content: input }];
  if (!Array.isArray(input)) throw badRequest(`input must be a string or array: json: cannot unmarshal ${jsonKind(input)} into Go value of type []json.RawMessage`);
  const items = input as unknown[];
  const messages: ChatMessage[] = [];
  /** The call ids of each message, for tool results and replayed assistant messages. */
  const callIds = new Map<ChatMessage, string[]>();
  const callNames = new Map<string, string>();

  items.forEach((item, i) => {
    const where = `input[${i}]: `;
    if (!isObject(item)) throw badRequest(`${where}json: cannot unmarshal ${jsonKind(item)} into an input item`);
    const type = typeof item.type === 'string' && item.type !== '' ? item.type : typeof item.role === 'string' && item.role !== '' ? 'message' : '';
    const last = messages.at(-1);
    switch (type) {
      case 'message': {
        const { text, images } = messageContent(item.content, where);
        const message: ChatMessage = { role: chatRole(item.role), content: text, ...(images.length ? { images } : {}) };
        const next = items[i + 1];
        const answered = isObject(next) && next.type === 'function_call_output' ? next.call_id : undefined;
        if (message.role === 'assistant' && last?.role === 'assistant' && answered !== undefined && callIds.get(last)?.includes(String(answered))) {
          last.content = last.content && message.content ? `${last.content}\n${message.content}` : last.content + message.content;
          if (images.length) last.images = [...(last.images ?? []), ...images];
          return;
        }
        messages.push(message);
        return;
      }
      case 'function_call': {
        const name = typeof item.name === 'string' ? item.name : '';
        const call: ToolCall = { function: { name, arguments: callArguments(item.arguments) } };
        const callId = typeof item.call_id === 'string' ? item.call_id : '';
        callNames.set(callId, name);
        const owner = last?.role === 'assistant' ? last : { role: 'assistant' as const, content: '' };
        if (owner !== last) messages.push(owner);
        owner.tool_calls = [...(owner.tool_calls ?? []), call];
        callIds.set(owner, [...(callIds.get(owner) ?? []), callId]);
        return;
      }
      case 'function_call_output': {
        const output = item.output;
        const { text, images } = Array.isArray(output) ? contentOf(output, `${where}output: `) : { text: typeof output === 'string' ? output : '', images: [] };
        const toolName = callNames.get(String(item.call_id ?? ''));
        messages.push({ role: 'tool', content: text, ...(images.length ? { images } : {}), ...(toolName ? { tool_name: toolName } : {}) });
        return;
      }
      case 'reasoning':
      case 'web_search_call':
        return;
      case '':
        throw badRequest(`${where}input item missing required 'type' field`);
      default:
        throw badRequest(`${where}unknown input item type: ${JSON.stringify(type)}`);
    }
  });
  return messages;
}

/** Function tools; a namespace expands to its members, named `namespace.member`. */
function toolDefinitions(tool: Body): ToolDefinition[] {
  if (tool.type === 'web_search') {
    // Ollama runs the built-in search on ollama.com; a node has no cloud to run it on.
    throw new ProductError('OD_ERR_FORBIDDEN', 'ollama cloud is disabled: web search is unavailable');
  }
  const name = typeof tool.name === 'string' ? tool.name : '';
  if (tool.type === 'namespace') {
    const members = Array.isArray(tool.tools) ? tool.tools.filter(isObject) : [];
    return members.flatMap(toolDefinitions).map((member) => {
      const prefix = `${name}.`;
      return name === '' || member.function.name.startsWith(prefix) ? member : { ...member, function: { ...member.function, name: prefix + member.function.name } };
    });
  }
  return [
    {
      type: 'function',
      function: {
        name,
        ...(typeof tool.description === 'string' && tool.description !== '' ? { description: tool.description } : {}),
        ...(isObject(tool.parameters) ? { parameters: tool.parameters } : {}),
      },
    },
  ];
}

/** A tool as the response object lists it: the request's own, with the nullable fields present. */
function echoedTool(tool: Body): Body {
  return {
    type: tool.type ?? '',
    name: tool.name ?? '',
    description: tool.description ?? null,
    strict: tool.strict ?? null,
    parameters: tool.parameters ?? null,
    ...(Array.isArray(tool.tools) && tool.tools.length > 0 ? { tools: tool.tools.filter(isObject).map(echoedTool) } : {}),
  };
}

function optionalObject(body: Body, key: string): Body | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) throw badRequest(`invalid type for '${key}': expected an object`);
  return value;
}

export function responsesRequest(body: Body): ResponsesRun {
  const instructions = optionalString(body, 'instructions') ?? '';
  const messages = [...(instructions ? [{ role: 'system' as const, content: instructions }] : []), ...inputMessages(body.input)];

  const temperature = optionalNumber(body, 'temperature');
  const topP = optionalNumber(body, 'top_p');
  const maxOutputTokens = optionalInteger(body, 'max_output_tokens');
  // Unlike chat, Ollama leaves top_p to the model when the request has none.
  const options: ModelOptions = {
    temperature: temperature ?? 1,
    ...(topP !== undefined ? { top_p: topP } : {}),
    ...(maxOutputTokens !== undefined ? { num_predict: maxOutputTokens } : {}),
  };

  const reasoning = optionalObject(body, 'reasoning') ?? {};
  const effort = optionalString(reasoning, 'effort');
  const summary = optionalString(reasoning, 'summary');
  const think = thinkFromEffort(effort);

  const rawTools = body.tools;
  if (rawTools !== undefined && rawTools !== null && !Array.isArray(rawTools)) throw badRequest("invalid type for 'tools': expected a list");
  const requestTools = ((rawTools ?? []) as unknown[]).filter(isObject);
  const tools = requestTools.flatMap(toolDefinitions);

  const text = optionalObject(body, 'text');
  const textFormat = text ? optionalObject(text, 'format') : undefined;
  const format = textFormat?.type === 'json_schema' && isObject(textFormat.schema) ? textFormat.schema : undefined;

  return {
    messages,
    options,
    ...(tools.length > 0 ? { tools } : {}),
    ...(format ? { format } : {}),
    ...(think !== undefined ? { think } : {}),
    stream: streamRequested(body),
    echo: {
      instructions: instructions || null,
      tools: requestTools.map(echoedTool),
      text: { format: textFormat ?? { type: 'text' } },
      top_p: topP ?? 1,
      temperature: temperature ?? 1,
      reasoning: effort || summary ? { ...(effort ? { effort } : {}), ...(summary ? { summary } : {}) } : null,
      max_output_tokens: maxOutputTokens ?? null,
      truncation: optionalString(body, 'truncation') ?? 'disabled',
      background: body.background === true,
    },
  };
}
