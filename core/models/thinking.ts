// Thinking as Ollama handles it: which templates make a model think (the tags around its thoughts),
// what a `think` value asks for, and the streaming split of generated text into thinking and answer.

import type { Logprob, RunEvent, ThinkValue } from '../contracts/engine.js';
import { parseTemplate, TemplateError, type Expr, type Node } from './go-template.js';

export interface ThinkingTags {
  opening: string;
  closing: string;
}

/** The tags of models whose GGUF chat template thinks: llama.cpp's and Ollama's reasoning format. */
export const CHAT_TEMPLATE_THINKING_TAGS: ThinkingTags = Object.freeze({ opening: '<think>', closing: '</think>' });

/** Ollama's ThinkValue.Bool: `true` or any level turns thinking on. */
export function thinkingEnabled(think: ThinkValue | undefined): boolean {
  return think !== undefined && think !== false;
}

/** Ollama's ThinkValue.String, a template's `.ThinkLevel`: `true` is "medium", off is "". */
export function thinkLevel(think: ThinkValue | undefined): string {
  if (think === true) return 'medium';
  return typeof think === 'string' ? think : '';
}

/** Ollama's chatTemplateHasThinkingSupport, for a GGUF's Jinja chat template. */
export function chatTemplateThinks(chatTemplate: string): boolean {
  if (chatTemplate.includes('<think>') && chatTemplate.includes('</think>')) return true;
  // Qwen and DeepSeek templates that drop earlier reasoning by splitting at </think> think too.
  return (
    (chatTemplate.includes("content.split('</think>')") || chatTemplate.includes('content.split("</think>")')) &&
    !chatTemplate.includes('reasoning_content') &&
    !chatTemplate.includes('<SPECIAL_12>')
  );
}

/** A field reference as Go's parser makes a FieldNode of it: `.A.B`, not `$.A` or `$x.A`. */
function fieldsIn(expr: Expr, out: string[][] = []): string[][] {
  if (expr.kind === 'path' && expr.root === '.' && expr.fields.length > 0) out.push(expr.fields);
  if (expr.kind === 'call') for (const arg of expr.args) fieldsIn(arg, out);
  return out;
}

/**
 * Ollama's InferTags: for each `.Thinking` under a range over `.Messages`, the text nodes that
 * open and close the nearest list around it are the tags; the last such reference wins. `list` is
 * null where Go's tree holds the node in a list of its own (the condition of an `else if`).
 */
function inferTags(nodes: Node[], ranges: Expr[], tags: Partial<ThinkingTags>): void {
  const visit = (expr: Expr, list: Node[] | null, around: Expr[]) => {
    for (const fields of fieldsIn(expr)) {
      if (fields[0] !== 'Thinking') continue;
      const range = around.at(-1);
      if (!range || !fieldsIn(range).some((f) => f[0] === 'Messages') || !list) continue;
      const first = list[0];
      const last = list.at(-1);
      if (first?.kind === 'text') tags.opening = first.text.trim();
      if (last?.kind === 'text') tags.closing = last.text.trim();
    }
  };
  for (const node of nodes) {
    switch (node.kind) {
      case 'output':
      case 'assign':
        visit(node.expr, nodes, ranges);
        break;
      case 'if':
        node.branches.forEach((branch, i) => {
          visit(branch.cond, i === 0 ? nodes : null, ranges);
          inferTags(branch.body, ranges, tags);
        });
        inferTags(node.otherwise, ranges, tags);
        break;
      case 'with':
        visit(node.expr, nodes, ranges);
        inferTags(node.body, ranges, tags);
        inferTags(node.otherwise, ranges, tags);
        break;
      case 'range': {
        const inner = [...ranges, node.expr];
        visit(node.expr, nodes, inner);
        inferTags(node.body, inner, tags);
        inferTags(node.otherwise, inner, tags);
        break;
      }
      case 'text':
        break;
    }
  }
}

/** The tags a Go template puts around a message's thinking; undefined when it renders no thinking. */
export function inferThinkingTags(template: string): ThinkingTags | undefined {
  let nodes: Node[];
  try {
    nodes = parseTemplate(template);
  } catch (error) {
    if (error instanceof TemplateError) return undefined;
    throw error;
  }
  const tags: Partial<ThinkingTags> = {};
  inferTags(nodes, [], tags);
  return tags.opening && tags.closing ? { opening: tags.opening, closing: tags.closing } : undefined;
}

/** Whether a rendered prompt leaves the model inside its thinking, as templates that prefill the opening tag do. */
export function promptOpensThinking(prompt: string, tags: ThinkingTags): boolean {
  return prompt.trim().endsWith(tags.opening);
}

export interface ThinkingSplit {
  thinking: string;
  content: string;
}

type State = 'looking' | 'openingWhitespace' | 'thinking' | 'closingWhitespace' | 'done';

/** Length of the longest end of `text` that starts `tag`. */
function overlap(text: string, tag: string): number {
  for (let length = Math.min(tag.length, text.length); length > 0; length--) {
    if (text.endsWith(tag.slice(0, length))) return length;
  }
  return 0;
}

/**
 * Ollama's thinking parser: text inside the tags is thinking, the rest the answer. Only an opening
 * tag before any other text starts thinking; whitespace around the tags is dropped; text that may
 * still turn into a tag is held until it is clear.
 */
export class ThinkingParser {
  private state: State = 'looking';
  private pending = '';

  /** `opened`: the prompt already ended in the opening tag, so the output starts as thinking. */
  constructor(
    private readonly tags: ThinkingTags,
    opened = false,
  ) {
    if (opened) this.add(tags.opening);
  }

  /** What of the text so far can be sent now, as thinking and as answer. */
  add(text: string): ThinkingSplit {
    this.pending += text;
    const out = { thinking: '', content: '' };
    while (this.step(out));
    return out;
  }

  /** At the end of the output, what was held back in case it became a tag; whitespace around tags stays dropped. */
  flush(): ThinkingSplit {
    const pending = this.pending;
    this.pending = '';
    if (this.state === 'thinking') return { thinking: pending, content: '' };
    if (this.state === 'looking' || this.state === 'done') return { thinking: '', content: pending };
    return { thinking: '', content: '' };
  }

  /** One state's work; true when another state should look at what is left. */
  private step(out: ThinkingSplit): boolean {
    const { opening, closing } = this.tags;
    switch (this.state) {
      case 'looking': {
        const trimmed = this.pending.trimStart();
        if (trimmed.startsWith(opening)) {
          this.pending = trimmed.slice(opening.length).trimStart();
          this.state = this.pending === '' ? 'openingWhitespace' : 'thinking';
          return true;
        }
        if (opening.startsWith(trimmed)) return false;
        // Text before any opening tag: the model answered without thinking, whitespace and all.
        this.state = 'done';
        out.content += this.pending;
        this.pending = '';
        return false;
      }
      case 'openingWhitespace': {
        const trimmed = this.pending.trimStart();
        this.pending = trimmed;
        if (trimmed === '') return false;
        this.state = 'thinking';
        return true;
      }
      case 'thinking': {
        const at = this.pending.indexOf(closing);
        if (at >= 0) {
          out.thinking += this.pending.slice(0, at);
          const rest = this.pending.slice(at + closing.length).trimStart();
          this.pending = '';
          this.state = rest === '' ? 'closingWhitespace' : 'done';
          out.content += rest;
          return false;
        }
        const held = overlap(this.pending, closing);
        out.thinking += this.pending.slice(0, this.pending.length - held);
        this.pending = this.pending.slice(this.pending.length - held);
        return false;
      }
      case 'closingWhitespace': {
        const trimmed = this.pending.trimStart();
        this.pending = '';
        if (trimmed !== '') this.state = 'done';
        out.content += trimmed;
        return false;
      }
      case 'done':
        out.content += this.pending;
        this.pending = '';
        return false;
    }
  }
}

/** The split's events; `logprobs` (of every token since the last event) go with the first one, as Ollama sends them. */
function* splitEvents({ thinking, content }: ThinkingSplit, logprobs: Logprob[]): Generator<RunEvent> {
  const scored = () => (logprobs.length ? { logprobs: logprobs.splice(0) } : {});
  if (thinking) yield { type: 'thinking', text: thinking, ...scored() };
  if (content) yield { type: 'token', text: content, ...scored() };
}

/** A run's text through `parser`: `thinking` events for its thoughts, `token` events for its answer. */
export async function* splitThinking(events: AsyncIterable<RunEvent>, parser: ThinkingParser): AsyncGenerator<RunEvent> {
  // Scores of tokens whose text the parser still holds.
  const pending: Logprob[] = [];
  for await (const event of events) {
    if (event.type === 'token') {
      if (event.logprobs) pending.push(...event.logprobs);
      yield* splitEvents(parser.add(event.text), pending);
      continue;
    }
    if (event.type === 'done') yield* splitEvents(parser.flush(), pending);
    yield event;
  }
}
