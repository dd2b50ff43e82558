// Tool calls as Ollama's chat handler hands them out: each with an id (`call_` and 8 random
// characters) and its index in the response, unless the engine already gave them one.

import { randomInt } from 'node:crypto';
import type { RunEvent, ToolCall } from '../contracts/engine.js';

const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
const ID_LENGTH = 8;

export interface IdentifiedToolCall {
  id: string;
  function: { index: number; name: string; arguments: ToolCall['function']['arguments'] };
}

export type IdentifiedRunEvent = Exclude<RunEvent, { type: 'tool_calls' }> | { type: 'tool_calls'; calls: IdentifiedToolCall[] };

/** Ollama's toolCallId. */
export function toolCallId(): string {
  let id = 'call_';
  for (let i = 0; i < ID_LENGTH; i++) id += ID_ALPHABET[randomInt(ID_ALPHABET.length)];
  return id;
}

/** `first` is how many calls the response already holds; an upstream engine's id and index pass through. */
export function identify(calls: readonly ToolCall[], first: number): IdentifiedToolCall[] {
  return calls.map(({ id, function: { index, name, arguments: args } }, i) => ({
    id: id ?? toolCallId(),
    function: { index: index ?? first + i, name, arguments: args },
  }));
}

/** A run's events with every tool call identified. */
export async function* identifyToolCalls(events: AsyncIterable<RunEvent>): AsyncGenerator<IdentifiedRunEvent> {
  let count = 0;
  for await (const event of events) {
    if (event.type !== 'tool_calls') {
      yield event;
      continue;
    }
    const calls = identify(event.calls, count);
    count += calls.length;
    yield { type: 'tool_calls', calls };
  }
}
