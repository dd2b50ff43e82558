// Which forwarded streams can go on on another node when theirs dies, and the request that asks
// one to: the client's body with its token limit less what was sent, the answer so far in a header.

import { CONTINUATION_HEADER } from './headers.js';
import type { StreamDialect } from './splice.js';

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The routes whose streams are spliced, by the pattern Fastify registered, with their default for `stream`. */
const SPLICED: Record<string, { dialect: StreamDialect; streamsByDefault: boolean }> = {
  'POST /api/generate': { dialect: 'ndjson', streamsByDefault: true },
  'POST /api/chat': { dialect: 'ndjson', streamsByDefault: true },
  'POST /v1/chat/completions': { dialect: 'sse', streamsByDefault: false },
  'POST /v1/completions': { dialect: 'sse', streamsByDefault: false },
};

/** The dialect of the stream a request asks for, when a break of it can be spliced; else undefined. */
export function splicedDialect(method: string, url: string | undefined, body: unknown): StreamDialect | undefined {
  const route = SPLICED[`${method} ${url}`];
  if (!route || !isObject(body)) return undefined;
  const stream = typeof body.stream === 'boolean' ? body.stream : route.streamsByDefault;
  return stream ? route.dialect : undefined;
}

const CONTENT_TYPES: Record<StreamDialect, string> = { ndjson: 'application/x-ndjson', sse: 'text/event-stream' };

/** Whether an answer is the stream the dialect names: one read whole (an empty prompt's load) is relayed as it is. */
export function streamedAs(dialect: StreamDialect, contentType: string | undefined): boolean {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase() === CONTENT_TYPES[dialect];
}

/** The token limits of each dialect's body: in `options` natively, at the top level in OpenAI's. */
function lowerLimits(body: Json, dialect: StreamDialect, sent: number): boolean {
  const holders: [Json, string][] =
    dialect === 'ndjson'
      ? isObject(body.options)
        ? [[body.options, 'num_predict']]
        : []
      : [
          [body, 'max_tokens'],
          [body, 'max_completion_tokens'],
        ];
  let changed = false;
  for (const [holder, key] of holders) {
    const limit = holder[key];
    // A negative num_predict is Ollama's "no limit"; at least one token is asked for, so the run ends with its own final line.
    if (typeof limit !== 'number' || !Number.isInteger(limit) || limit <= 0) continue;
    holder[key] = Math.max(1, limit - sent);
    changed = true;
  }
  return changed;
}

/**
 * The body a continuation sends: the client's bytes unchanged, unless a token limit is set, which
 * drops by the `sent` tokens already relayed.
 */
export function continuationBody(body: Buffer | undefined, dialect: StreamDialect, sent: number): Buffer | undefined {
  if (!body) return body;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return body;
  }
  if (!isObject(parsed) || !lowerLimits(parsed, dialect, sent)) return body;
  return Buffer.from(JSON.stringify(parsed), 'utf8');
}

/** The header that makes the serving node go on after `text`. */
export function continuationHeaders(text: string): Record<string, string> {
  return { [CONTINUATION_HEADER]: Buffer.from(text, 'utf8').toString('base64url') };
}
