// The engine contract's requests as Ollama API bodies (generate, chat, embed, load, create), and
// Ollama's answers (stream chunks, embed results, show capabilities) as the contract's. Pure functions.

import type {
  Capability,
  ChatRequest,
  DoneReason,
  EmbedRequest,
  EmbedResult,
  GenerateRequest,
  Logprob,
  ModelSpec,
  RunEvent,
  TokenLogprob,
  ToolCall,
} from '../../core/contracts/engine.js';

type Json = Record<string, unknown>;
type Done = Extract<RunEvent, { type: 'done' }>;

const DONE_REASONS: readonly DoneReason[] = ['stop', 'length', 'load', 'unload'];
const CAPABILITIES: readonly Capability[] = ['completion', 'embedding', 'tools', 'insert', 'vision', 'thinking'];

/**
 * Ollama's keep_alive: a number is whole seconds (fractions are dropped), so positive times go as a
 * duration string; a negative number keeps the model forever and 0 unloads it after the request.
 */
export function keepAlive(ms: number): string | number {
  if (ms < 0) return -1;
  if (ms === 0) return 0;
  return `${Math.round(ms)}ms`;
}

/** The fields the request sets; absent ones stay out of the body, as Ollama's own clients leave them. */
function defined(fields: Json): Json {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
}

export function generateBody(request: GenerateRequest): Json {
  return defined({
    model: request.model.name,
    prompt: request.prompt,
    suffix: request.suffix,
    system: request.system,
    template: request.template,
    raw: request.raw,
    format: request.format,
    think: request.think,
    logprobs: request.logprobs ? true : undefined,
    top_logprobs: request.logprobs?.top || undefined,
    images: request.images,
    context: request.context,
    options: request.options,
    keep_alive: keepAlive(request.keepAliveMs),
    stream: true,
  });
}

export function chatBody(request: ChatRequest): Json {
  return defined({
    model: request.model.name,
    messages: request.messages,
    tools: request.tools,
    format: request.format,
    think: request.think,
    logprobs: request.logprobs ? true : undefined,
    top_logprobs: request.logprobs?.top || undefined,
    options: request.options,
    keep_alive: keepAlive(request.keepAliveMs),
    stream: true,
  });
}

export function embedBody(request: EmbedRequest): Json {
  return {
    model: request.model.name,
    input: request.input,
    truncate: request.truncate,
    options: request.options,
    keep_alive: keepAlive(request.keepAliveMs),
  };
}

/** The load-only request (an empty prompt); keep_alive 0 makes it an unload. */
export function loadBody(name: string, keepAliveMs: number): Json {
  return { model: name, prompt: '', keep_alive: keepAlive(keepAliveMs), stream: false };
}

const count = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) && value > 0 ? Math.round(value) : 0);

function doneEvent(chunk: Json): Done {
  const reason = chunk['done_reason'];
  const context = chunk['context'];
  return {
    type: 'done',
    doneReason: DONE_REASONS.includes(reason as DoneReason) ? (reason as DoneReason) : 'stop',
    loadDuration: count(chunk['load_duration']),
    promptEvalCount: count(chunk['prompt_eval_count']),
    promptEvalDuration: count(chunk['prompt_eval_duration']),
    evalCount: count(chunk['eval_count']),
    evalDuration: count(chunk['eval_duration']),
    ...(Array.isArray(context) && context.every((id) => Number.isSafeInteger(id)) ? { context: context as number[] } : {}),
  };
}

/** Ollama's calls, with the daemon's own id and index kept so clients see them unchanged. */
function toolCalls(value: unknown): ToolCall[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((call: { id?: unknown; function?: { index?: unknown; name?: unknown; arguments?: unknown } }) => {
    const fn = call?.function;
    if (typeof fn?.name !== 'string') return [];
    const args = typeof fn.arguments === 'object' && fn.arguments !== null ? (fn.arguments as Record<string, unknown>) : {};
    return [
      {
        ...(typeof call.id === 'string' && call.id !== '' ? { id: call.id } : {}),
        function: { ...(Number.isSafeInteger(fn.index) ? { index: fn.index as number } : {}), name: fn.name, arguments: args },
      },
    ];
  });
}

function tokenLogprob(value: unknown): TokenLogprob | undefined {
  const entry = value as { token?: unknown; logprob?: unknown } | null;
  return typeof entry?.token === 'string' && typeof entry.logprob === 'number' ? { token: entry.token, logprob: entry.logprob } : undefined;
}

/** The daemon's logprobs, those well formed; their bytes are the API's to add again. */
function logprobsOf(value: unknown): Logprob[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((entry: { top_logprobs?: unknown }) => {
    const scored = tokenLogprob(entry);
    if (!scored) return [];
    const top = Array.isArray(entry.top_logprobs) ? entry.top_logprobs.flatMap((alt) => tokenLogprob(alt) ?? []) : [];
    return [{ ...scored, ...(top.length ? { top_logprobs: top } : {}) }];
  });
}

function chunkEvents(text: unknown, thinking: unknown, calls: unknown, chunk: Json): RunEvent[] {
  const events: RunEvent[] = [];
  const logprobs = logprobsOf(chunk['logprobs']);
  // A chunk's logprobs go with its first text, or alone when Ollama sends them ahead of held-back text.
  const scored = () => (logprobs.length ? { logprobs: logprobs.splice(0) } : {});
  if (typeof thinking === 'string' && thinking !== '') events.push({ type: 'thinking', text: thinking, ...scored() });
  if (typeof text === 'string' && (text !== '' || logprobs.length > 0)) events.push({ type: 'token', text, ...scored() });
  const parsed = toolCalls(calls);
  if (parsed.length > 0) events.push({ type: 'tool_calls', calls: parsed });
  if (chunk['done'] === true) events.push(doneEvent(chunk));
  return events;
}

/** One /api/generate chunk: its thinking and text, and the done event when it is the last. */
export function generateEvents(chunk: Json): RunEvent[] {
  return chunkEvents(chunk['response'], chunk['thinking'], chunk['tool_calls'], chunk);
}

/** One /api/chat chunk: the assistant message's thinking, content and tool calls, and the done event when last. */
export function chatEvents(chunk: Json): RunEvent[] {
  const message = (chunk['message'] ?? {}) as Json;
  return chunkEvents(message['content'], message['thinking'], message['tool_calls'], chunk);
}

export function embedResult(answer: Json): EmbedResult {
  const embeddings = answer['embeddings'];
  return {
    embeddings: Array.isArray(embeddings) ? (embeddings as number[][]) : [],
    promptEvalCount: count(answer['prompt_eval_count']),
    loadDuration: count(answer['load_duration']),
  };
}

/** The contract's capabilities among those /api/show lists (Ollama also has audio and others). */
export function capabilitiesOf(show: Json): Capability[] {
  const listed = Array.isArray(show['capabilities']) ? show['capabilities'] : [];
  return CAPABILITIES.filter((capability) => listed.includes(capability));
}

/** Ollama's short name with its tag: `tiny` and `tiny:latest` name one model. */
export function modelKey(name: string): string {
  const lastPart = name.slice(name.lastIndexOf('/') + 1);
  return lastPart.includes(':') ? name : `${name}:latest`;
}

export interface UploadedFiles {
  model: string;
  projector?: string;
  adapters: string[];
}

/**
 * /api/create from uploaded blobs, carrying the spec's template, system prompt, parameters and
 * messages. File names end in .gguf, from which Ollama tells GGUF imports from safetensors ones; it
 * tells a projector from the model by the file's metadata.
 */
export function createBody(spec: ModelSpec, files: UploadedFiles): Json {
  return defined({
    model: spec.name,
    files: { 'model.gguf': files.model, ...(files.projector ? { 'projector.gguf': files.projector } : {}) },
    adapters: files.adapters.length > 0 ? Object.fromEntries(files.adapters.map((digest, i) => [`adapter-${i}.gguf`, digest])) : undefined,
    template: spec.template,
    system: spec.system,
    parameters: Object.keys(spec.parameters).length > 0 ? spec.parameters : undefined,
    messages: spec.messages.length > 0 ? spec.messages : undefined,
    stream: false,
  });
}
