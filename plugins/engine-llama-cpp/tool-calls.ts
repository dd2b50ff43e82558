// Finds tool calls in a reply generated through an Ollama template, which leaves the call format to
// the model: bare JSON, a JSON list, or JSON inside <tool_call> tags or code fences.

import type { RunEvent, ToolCall } from '../../core/contracts/engine.js';

function asCall(value: unknown, names: ReadonlySet<string>): ToolCall | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const v = value as { name?: unknown; arguments?: unknown; parameters?: unknown; function?: unknown };
  if (v.function !== undefined) return asCall(v.function, names);
  if (typeof v.name !== 'string' || !names.has(v.name)) return undefined;
  let args = v.arguments ?? v.parameters ?? {};
  if (typeof args === 'string') {
    try {
      args = JSON.parse(args);
    } catch {
      return undefined;
    }
  }
  if (args === null || typeof args !== 'object' || Array.isArray(args)) return undefined;
  return { function: { name: v.name, arguments: args as Record<string, unknown> } };
}

function parsed(candidate: string): unknown {
  try {
    return JSON.parse(candidate);
  } catch {
    return undefined;
  }
}

/** The calls in `text` to tools named in `names`; empty when the text is not a tool call. */
export function parseToolCalls(text: string, names: ReadonlySet<string>): ToolCall[] {
  const body = text
    .replace(/<\/?tool_calls?>/g, '\n')
    .replace(/```(?:json)?/g, '\n')
    .trim();
  const whole = parsed(body);
  if (whole !== undefined) {
    const calls = (Array.isArray(whole) ? whole : [whole]).map((v) => asCall(v, names));
    return calls.every((c) => c !== undefined) ? (calls as ToolCall[]) : [];
  }
  return body
    .split('\n')
    .map((line) => asCall(parsed(line.trim()), names))
    .filter((c): c is ToolCall => c !== undefined);
}

/**
 * With tools offered through an Ollama template the call format is the model's own, so the reply is
 * held back and sent either as tool calls or, when it is not one, as text.
 */
export async function* withToolCalls(events: AsyncIterable<RunEvent>, names: ReadonlySet<string>): AsyncGenerator<RunEvent> {
  let text = '';
  for await (const event of events) {
    if (event.type === 'token') {
      text += event.text;
      continue;
    }
    if (event.type === 'done') {
      const calls = parseToolCalls(text, names);
      if (calls.length > 0) yield { type: 'tool_calls', calls };
      else if (text) yield { type: 'token', text };
    }
    yield event;
  }
}
