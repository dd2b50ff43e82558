// Converts Ollama's chat messages and tools to node-llama-cpp's chat history and function
// definitions, and its function calls back to Ollama's tool calls.

import type { ChatHistoryItem, ChatModelFunctionCall, ChatModelFunctions, ChatModelResponse, GbnfJsonSchema } from 'node-llama-cpp';
import type { ChatMessage, ToolCall, ToolDefinition } from '../../core/contracts/engine.js';

/**
 * The model's system prompt applies unless the conversation brings its own; the model's stored
 * messages come first. Tool results attach to the assistant call they answer, by name, else in order.
 */
export function chatHistoryOf(system: string | undefined, prefix: readonly ChatMessage[], messages: readonly ChatMessage[]): ChatHistoryItem[] {
  const all = [...prefix, ...messages];
  const history: ChatHistoryItem[] = [];
  if (system && !all.some((m) => m.role === 'system')) history.push({ type: 'system', text: system });
  for (const message of all) {
    switch (message.role) {
      case 'system':
        history.push({ type: 'system', text: message.content });
        break;
      case 'user':
        history.push({ type: 'user', text: message.content });
        break;
      case 'assistant':
        history.push({ type: 'model', response: modelResponse(message) });
        break;
      case 'tool':
        if (!answerCall(history.at(-1), message)) history.push({ type: 'user', text: message.content });
        break;
    }
  }
  return history;
}

function modelResponse(message: ChatMessage): ChatModelResponse['response'] {
  const calls: ChatModelFunctionCall[] = (message.tool_calls ?? []).map((call) => ({
    type: 'functionCall',
    name: call.function.name,
    params: call.function.arguments,
    result: undefined,
  }));
  return message.content ? [message.content, ...calls] : calls;
}

function answerCall(last: ChatHistoryItem | undefined, message: ChatMessage): boolean {
  if (last?.type !== 'model') return false;
  const open = last.response.filter((part): part is ChatModelFunctionCall => typeof part === 'object' && part.type === 'functionCall' && part.result === undefined);
  const call = open.find((c) => c.name === message.tool_name) ?? open[0];
  if (!call) return false;
  call.result = message.content;
  return true;
}

export function chatFunctionsOf(tools: readonly ToolDefinition[]): ChatModelFunctions {
  return Object.fromEntries(
    tools.map((tool) => [
      tool.function.name,
      {
        ...(tool.function.description ? { description: tool.function.description } : {}),
        ...(tool.function.parameters ? { params: tool.function.parameters as GbnfJsonSchema } : {}),
      },
    ]),
  );
}

export function toolCallsOf(calls: readonly { functionName: string; params: unknown }[]): ToolCall[] {
  return calls.map((call) => ({
    function: {
      name: call.functionName,
      arguments: call.params !== null && typeof call.params === 'object' ? (call.params as Record<string, unknown>) : {},
    },
  }));
}
