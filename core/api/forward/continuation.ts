// Which forwarded streams can go on on another node when theirs dies, and the request that asks
// one to: the client's body with its token limit less what was sent and the answer so far in it. A
// chat gets it as a last assistant message, which Ollama continues; a prompt in a field of its own,
// read only on a forwarded request (RunRequest.continueFrom).

import { badRequest } from '../../errors.js';
import type { StreamDialect } from './splice.js';

/** The body field of a forwarded generate or completion request that holds the answer so far. */
export const CONTINUATION_FIELD = 'ollama_distributed_continue_from';

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** How a spliced stream is asked for: its dialect, and whether its input is turns or a prompt. */
export interface SplicedStream {
  dialect: StreamDialect;
  input: 'messages' | 'prompt';
}

/** The routes whose streams are spliced, by the pattern Fastify registered, with their default for `stream`. */
const SPLICED: Record<string, SplicedStream & { streamsByDefault: boolean }> = {
  'POST /api/generate': { dialect: 'ndjson', input: 'prompt', streamsByDefault: true },
  'POST /api/chat': { dialect: 'ndjson', input: 'messages', streamsByDefault: true },
  'POST /v1/chat/completions': { dialect: 'sse', input: 'messages', streamsByDefault: false },
  'POST /v1/completions': { dialect: 'sse', input: 'prompt', streamsByDefault: false },
};

/** The stream a request asks for, when a break of it can be spliced; else undefined. */
export function splicedStream(method: string, url: string | undefined, body: unknown): SplicedStream | undefined {
  const route = SPLICED[`${method} ${url}`];
  if (!route || !isObject(body)) return undefined;
  const stream = typeof body.stream === 'boolean' ? body.stream : route.streamsByDefault;
  return stream ? { dialect: route.dialect, input: route.input } : undefined;
}

const CONTENT_TYPES: Record<StreamDialect, string> = { ndjson: 'application/x-ndjson', sse: 'text/event-stream' };

/** Whether an answer is the stream the dialect names: one read whole (an empty prompt's load) is relayed as it is. */
export function streamedAs(dialect: StreamDialect, contentType: string | undefined): boolean {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase() === CONTENT_TYPES[dialect];
}

/** The token limits of each dialect's body: in `options` natively, at the top level in OpenAI's. */
function lowerLimits(body: Json, dialect: StreamDialect, sent: number): void {
  const holders: [Json, string][] =
    dialect === 'ndjson'
      ? isObject(body.options)
        ? [[body.options, 'num_predict']]
        : []
      : [
          [body, 'max_tokens'],
          [body, 'max_completion_tokens'],
        ];
  for (const [holder, key] of holders) {
    const limit = holder[key];
    // A negative num_predict is Ollama's "no limit"; at least one token is asked for, so the run ends with its own final line.
    if (typeof limit !== 'number' || !Number.isInteger(limit) || limit <= 0) continue;
    holder[key] = Math.max(1, limit - sent);
  }
}

/**
 * The body a continuation sends, from the client's: a set token limit lowered by the `sent` tokens
 * already relayed, and `text`, the answer so far, as a last assistant message or in CONTINUATION_FIELD.
 * Undefined when the client's body is not a JSON object (it was refused before any stream began).
 */
export function continuationBody(body: Buffer | undefined, stream: SplicedStream, sent: number, text: string): Buffer | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body?.toString('utf8') ?? '');
  } catch {
    return undefined;
  }
  if (!isObject(parsed)) return undefined;
  lowerLimits(parsed, stream.dialect, sent);
  if (stream.input === 'messages') parsed.messages = [...(Array.isArray(parsed.messages) ? parsed.messages : []), { role: 'assistant', content: text }];
  else parsed[CONTINUATION_FIELD] = text;
  return Buffer.from(JSON.stringify(parsed), 'utf8');
}

/** A client's body as it is forwarded: a continuation field in it is the sending node's to set, never a client's. */
export function forwardedBody(body: Buffer | undefined, parsed: unknown): Buffer | undefined {
  if (!isObject(parsed) || !Object.hasOwn(parsed, CONTINUATION_FIELD)) return body;
  const { [CONTINUATION_FIELD]: _dropped, ...rest } = parsed;
  return Buffer.from(JSON.stringify(rest), 'utf8');
}

/**
 * The answer so far a forwarded generate request continues, or undefined. Only a node forwarding
 * the request may set it (a client's is ignored, as Ollama ignores unknown fields).
 */
export function continuationOf(body: unknown, forwarded: boolean): string | undefined {
  if (!forwarded || !isObject(body) || body[CONTINUATION_FIELD] === undefined) return undefined;
  const text = body[CONTINUATION_FIELD];
  if (typeof text !== 'string') throw badRequest(`${CONTINUATION_FIELD} must be a string`);
  return text;
}
