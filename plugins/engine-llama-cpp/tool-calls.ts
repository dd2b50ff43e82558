// Finds tool calls in a reply generated through an Ollama template, as Ollama's tools parser does:
// the template's tool-call tag marks where calls begin; text before it streams as it is generated.

import type { RunEvent, ToolCall } from '../../core/contracts/engine.js';
import { parseTemplate, TemplateError, type Expr, type Node } from '../../core/models/go-template.js';

/** With no tag in the template, a reply that starts with a JSON object may be a call. */
const JSON_TAG = '{';

function namesToolCalls(expr: Expr): boolean {
  const isField = (e: Expr) => e.kind === 'path' && e.root === '.' && e.fields.includes('ToolCalls');
  return isField(expr) || (expr.kind === 'call' && expr.args.some(isField));
}

/** The body of the first `{{ if ... .ToolCalls ... }}` branch, searched as Go's tree nests it. */
function toolCallsBody(nodes: Node[]): Node[] | undefined {
  for (const node of nodes) {
    if (node.kind === 'if') {
      for (const branch of node.branches) {
        if (namesToolCalls(branch.cond)) return branch.body;
        const inner = toolCallsBody(branch.body);
        if (inner) return inner;
      }
      const inner = toolCallsBody(node.otherwise);
      if (inner) return inner;
    } else if (node.kind === 'range' || node.kind === 'with') {
      const inner = toolCallsBody(node.body) ?? toolCallsBody(node.otherwise);
      if (inner) return inner;
    }
  }
  return undefined;
}

/** The first text that is not blank, depth first, stopping at the first action or block without one. */
function firstText(nodes: Node[]): string | undefined {
  for (const node of nodes) {
    switch (node.kind) {
      case 'text':
        if (node.text.trim() !== '') return node.text;
        break;
      case 'if':
        return [...node.branches.map((branch) => branch.body), node.otherwise].map(firstText).find((text) => text !== undefined);
      case 'range':
      case 'with':
        return firstText(node.body) ?? firstText(node.otherwise);
      case 'output':
      case 'assign':
        return undefined;
    }
  }
  return undefined;
}

/** Ollama's parseTag: the text a template writes before a call's JSON, e.g. `<tool_call>`, else `{`. */
export function toolCallTag(template: string): string {
  let nodes: Node[];
  try {
    nodes = parseTemplate(template);
  } catch (error) {
    if (error instanceof TemplateError) return JSON_TAG;
    throw error;
  }
  const body = toolCallsBody(nodes);
  const text = body && firstText(body);
  if (text === undefined) return JSON_TAG;
  return text.replaceAll('\r\n', '\n').split('{')[0]!.trim() || JSON_TAG;
}

type Json = Record<string, unknown>;

const isMap = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The tool named earliest in `buffer` (the longer name on a tie); none while the end may still grow into a name. */
function findTool(names: readonly string[], buffer: string): { name: string; end: number } | undefined {
  if (buffer === '') return undefined;
  const longest = Math.max(0, ...names.map((name) => name.length));
  for (let length = 1; length <= Math.min(buffer.length, longest); length++) {
    const tail = buffer.slice(-length);
    if (names.some((name) => tail.length < name.length && name.startsWith(tail))) return undefined;
  }
  let found: string | undefined;
  let start = -1;
  for (const name of names) {
    const at = buffer.indexOf(name);
    if (at < 0) continue;
    if (found !== undefined && (at > start || (at === start && name.length <= found.length))) continue;
    found = name;
    start = at;
  }
  return found === undefined ? undefined : { name: found, end: start + found.length };
}

/** `obj[key]` as an object, or as a string holding one. */
function mapAt(obj: Json, key: string): Json | undefined {
  const value = obj[key];
  if (isMap(value)) return value;
  if (typeof value !== 'string') return undefined;
  try {
    const parsed: unknown = JSON.parse(value);
    return isMap(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** An object with a `name` gives its `arguments` (or `parameters`); else one keyed by the tool, searched depth first. */
function argumentsIn(obj: Json, tool: string): { args: Json | undefined } | undefined {
  if ('name' in obj) return { args: mapAt(obj, 'arguments') ?? mapAt(obj, 'parameters') };
  const keyed = mapAt(obj, tool);
  if (keyed) return { args: keyed };
  for (const value of Object.values(obj)) {
    const children = isMap(value) ? [value] : Array.isArray(value) ? value.filter(isMap) : [];
    for (const child of children) {
      const found = argumentsIn(child, tool);
      if (found) return found;
    }
  }
  return undefined;
}

/** The first JSON object in `buffer` and its arguments for `tool`; `end` is the index of its closing brace. */
function findArguments(tool: string, buffer: string): { args: Json; end: number } | undefined {
  let start = -1;
  let braces = 0;
  let inString = false;
  let escaped = false;
  for (let i = 0; i < buffer.length; i++) {
    const c = buffer[i];
    if (escaped) {
      escaped = false;
      continue;
    }
    if (c === '\\') {
      escaped = true;
      continue;
    }
    if (c === '"') {
      inString = !inString;
      continue;
    }
    if (inString) continue;
    if (c === '{') {
      if (braces === 0) start = i;
      braces++;
    } else if (c === '}') {
      braces--;
      if (braces === 0 && start !== -1) {
        let data: unknown;
        try {
          data = JSON.parse(buffer.slice(start, i + 1));
        } catch {
          start = -1;
          continue;
        }
        if (!isMap(data)) {
          start = -1;
          continue;
        }
        const found = argumentsIn(data, tool);
        if (!found) return { args: data, end: i };
        return found.args ? { args: found.args, end: i } : undefined;
      }
      if (braces < 0) braces = 0;
    }
  }
  return undefined;
}

/** For the `{` and `[` tags: whether the buffer holds one whole bracketed value. */
function closesBracket(buffer: string, tag: string): boolean {
  const [open, close] = tag === '{' ? ['{', '}'] : tag === '[' ? ['[', ']'] : [];
  if (!open) return false;
  let depth = 0;
  let inString = false;
  let escaped = false;
  for (const c of buffer) {
    if (escaped) {
      escaped = false;
      continue;
    }
    if (c === '\\') {
      escaped = true;
      continue;
    }
    if (c === '"') {
      inString = !inString;
      continue;
    }
    if (inString) continue;
    if (c === open) depth++;
    else if (c === close && --depth === 0) return true;
  }
  return false;
}

export interface ToolCallScan {
  calls: ToolCall[];
  /** Text that is no part of a call and can be sent now. */
  content: string;
}

/**
 * Ollama's streaming tool-call parser. Until the tag appears, text streams (less a tail that may
 * still become the tag); after it, calls are read as their JSON completes. With the `{` or `[` tag
 * only a reply that starts with the bracket is read for calls.
 */
export class ToolCallParser {
  private state: 'looking' | 'calling' | 'done' = 'looking';
  private buffer = '';
  private count = 0;

  constructor(
    private readonly tag: string,
    private readonly names: readonly string[],
  ) {}

  add(text: string): ToolCallScan {
    if (this.state === 'done') return { calls: [], content: text };
    this.buffer += text;
    let content = '';
    if (this.state === 'looking') {
      const { at, found } = this.findTag();
      content = at < 0 ? this.buffer : this.buffer.slice(0, at);
      this.buffer = at < 0 ? '' : this.buffer.slice(at);
      if ((this.tag === '{' || this.tag === '[') && content.trim() !== '') {
        this.state = 'done';
        const all = content + this.buffer;
        this.buffer = '';
        return { calls: [], content: all };
      }
      if (!found) return { calls: [], content };
      this.state = 'calling';
    }
    const calls: ToolCall[] = [];
    for (let call = this.nextCall(); call; call = this.nextCall()) calls.push(call);
    if (closesBracket(this.buffer, this.tag)) {
      this.state = 'done';
      content = this.buffer;
      this.buffer = '';
    }
    return { calls, content };
  }

  /** At the end: a bracketed reply that held no call is the answer after all; anything else held is dropped. */
  rest(): string {
    if (this.count > 0 || (this.tag !== '{' && this.tag !== '[')) return '';
    const rest = this.buffer;
    this.buffer = '';
    return rest;
  }

  private findTag(): { at: number; found: boolean } {
    const at = this.buffer.indexOf(this.tag);
    if (at >= 0) return { at, found: true };
    for (let length = Math.min(this.buffer.length, this.tag.length); length > 0; length--) {
      if (this.buffer.endsWith(this.tag.slice(0, length))) return { at: this.buffer.length - length, found: false };
    }
    return { at: -1, found: false };
  }

  private nextCall(): ToolCall | undefined {
    const tool = findTool(this.names, this.buffer);
    if (!tool) return undefined;
    const found = findArguments(tool.name, this.buffer);
    if (!found) return undefined;
    this.buffer = this.buffer.slice(Math.max(tool.end, found.end));
    return { function: { index: this.count++, name: tool.name, arguments: found.args } };
  }
}

/** A run's text through `parser`: answer text streams on, calls become `tool_calls` events as they complete. */
export async function* withToolCalls(events: AsyncIterable<RunEvent>, parser: ToolCallParser): AsyncGenerator<RunEvent> {
  for await (const event of events) {
    if (event.type === 'token') {
      const { calls, content } = parser.add(event.text);
      if (content) yield { type: 'token', text: content };
      if (calls.length > 0) yield { type: 'tool_calls', calls };
      continue;
    }
    if (event.type === 'done') {
      const rest = parser.rest();
      if (rest) yield { type: 'token', text: rest };
    }
    yield event;
  }
}
