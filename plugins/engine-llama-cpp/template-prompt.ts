// Renders prompts through a model's Ollama (Go) template: a generate prompt or a whole conversation,
// in the modern style (.Messages, .Tools) or the legacy one (.System/.Prompt/.Response per turn).

import type { ChatMessage, ThinkValue, ToolDefinition } from '../../core/contracts/engine.js';
import { renderTemplate } from '../../core/models/go-template.js';
import { thinkingEnabled, thinkLevel } from '../../core/models/thinking.js';

/** Rendered in place of the response being generated; the prompt ends where it appears. */
const RESPONSE_MARK = '\u0000response\u0000';

export function templateUses(template: string, field: 'Messages' | 'Tools' | 'Suffix' | 'Response' | 'System'): boolean {
  return new RegExp(`\\.${field}\\b`).test(template);
}

/** What a template sees of `think`: whether it is on, its level, and whether the request set it at all. */
function thinkValues(think: ThinkValue | undefined) {
  return { Think: thinkingEnabled(think), ThinkLevel: thinkLevel(think), IsThinkSet: think !== undefined };
}

export interface GeneratePromptInput {
  system?: string;
  prompt: string;
  suffix?: string;
  think?: ThinkValue;
}

export function renderGeneratePrompt(template: string, input: GeneratePromptInput): string {
  const messages: ChatMessage[] = [
    ...(input.system ? [{ role: 'system' as const, content: input.system }] : []),
    { role: 'user', content: input.prompt },
  ];
  return untilResponse(
    renderTemplate(template, {
      System: input.system ?? '',
      Prompt: input.prompt,
      Suffix: input.suffix ?? '',
      Response: RESPONSE_MARK,
      Messages: messages.map(goMessage),
      Tools: [],
      ...thinkValues(input.think),
    }),
  );
}

export interface ChatPromptInput {
  system?: string;
  messages: readonly ChatMessage[];
  tools?: readonly ToolDefinition[];
  think?: ThinkValue;
}

export function renderChatPrompt(template: string, input: ChatPromptInput): string {
  const messages = input.system && !input.messages.some((m) => m.role === 'system')
    ? [{ role: 'system' as const, content: input.system }, ...input.messages]
    : input.messages;
  if (templateUses(template, 'Messages')) {
    return renderTemplate(template, {
      System: messages.filter((m) => m.role === 'system').map((m) => m.content).join('\n\n'),
      Prompt: '',
      Suffix: '',
      Response: '',
      Messages: messages.map(goMessage),
      Tools: (input.tools ?? []).map(goTool),
      ...thinkValues(input.think),
    });
  }
  return legacyTurns(messages)
    .map((turn, i, turns) => {
      const last = i === turns.length - 1;
      const text = renderTemplate(template, {
        ...turn,
        Suffix: '',
        Messages: [],
        Tools: [],
        Response: last ? RESPONSE_MARK : turn.Response,
        ...thinkValues(input.think),
      });
      return last ? untilResponse(text) : text;
    })
    .join('');
}

interface LegacyTurn {
  System: string;
  Prompt: string;
  Response: string;
}

/** Groups a conversation into system+prompt+response turns, as Ollama does for templates without .Messages. */
function legacyTurns(messages: readonly ChatMessage[]): LegacyTurn[] {
  const turns: LegacyTurn[] = [];
  let turn: LegacyTurn = { System: '', Prompt: '', Response: '' };
  const join = (a: string, b: string) => (a ? `${a}\n\n${b}` : b);
  for (const message of messages) {
    if (message.role === 'system') turn.System = join(turn.System, message.content);
    else if (message.role === 'assistant') {
      turns.push({ ...turn, Response: message.content });
      turn = { System: '', Prompt: '', Response: '' };
    } else turn.Prompt = join(turn.Prompt, message.content);
  }
  turns.push(turn);
  return turns;
}

function untilResponse(text: string): string {
  const at = text.indexOf(RESPONSE_MARK);
  return at < 0 ? text : text.slice(0, at);
}

/** Go templates read capitalised fields, while their `json` function writes Ollama's lowercase JSON. */
function withJson<T extends object>(view: T, json: unknown): T {
  return Object.defineProperty(view, 'toJSON', { value: () => json, enumerable: false });
}

function goMessage(message: ChatMessage) {
  return withJson(
    {
      Role: message.role,
      Content: message.content,
      Thinking: message.thinking ?? '',
      ToolName: message.tool_name ?? '',
      ToolCalls: (message.tool_calls ?? []).map((call) =>
        withJson({ Function: withJson({ Name: call.function.name, Arguments: call.function.arguments }, call.function) }, call),
      ),
    },
    message,
  );
}

function goTool(tool: ToolDefinition) {
  const parameters = (tool.function.parameters ?? {}) as { type?: string; required?: string[]; properties?: Record<string, unknown> };
  return withJson(
    {
      Type: tool.type,
      Function: withJson(
        {
          Name: tool.function.name,
          Description: tool.function.description ?? '',
          Parameters: withJson(
            { Type: parameters.type ?? 'object', Required: parameters.required ?? [], Properties: parameters.properties ?? {} },
            parameters,
          ),
        },
        tool.function,
      ),
    },
    tool,
  );
}
