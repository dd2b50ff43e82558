// Renders the subset of Go's text/template that Ollama model templates use: fields, variables,
// if / else if / else, range, with, assignments, whitespace trimming and the common functions.

export class TemplateError extends Error {
  override name = 'TemplateError';
  /** For errors found while parsing: the source line, as Go's parser reports it. */
  line: number | undefined;
}

export type Expr =
  | { kind: 'literal'; value: unknown }
  | { kind: 'path'; root: string; fields: string[] }
  | { kind: 'call'; name: string; args: Expr[] };

export type Node =
  | { kind: 'text'; text: string }
  | { kind: 'output'; expr: Expr }
  | { kind: 'assign'; name: string; expr: Expr }
  | { kind: 'if'; branches: { cond: Expr; body: Node[] }[]; otherwise: Node[] }
  | { kind: 'with'; expr: Expr; body: Node[]; otherwise: Node[] }
  | { kind: 'range'; vars: string[]; expr: Expr; body: Node[]; otherwise: Node[] };

interface Segment {
  text?: string;
  action?: string;
  /** Line of the source the segment starts on, from 1. */
  line: number;
}

const ACTION = /\{\{(-\s)?\s*([\s\S]*?)\s*(\s-)?\}\}/g;

function segments(source: string): Segment[] {
  const out: Segment[] = [];
  let last = 0;
  let line = 1;
  let trimNext = false;
  const linesIn = (from: number, to: number) => {
    let count = 0;
    for (let i = source.indexOf('\n', from); i >= 0 && i < to; i = source.indexOf('\n', i + 1)) count++;
    return count;
  };
  for (const match of source.matchAll(ACTION)) {
    let text = source.slice(last, match.index);
    if (trimNext) text = text.trimStart();
    if (match[1]) text = text.trimEnd();
    if (text) out.push({ text, line });
    line += linesIn(last, match.index);
    if (!match[2]!.startsWith('/*')) out.push({ action: match[2]!, line });
    trimNext = Boolean(match[3]);
    last = match.index + match[0].length;
    line += linesIn(match.index, last);
  }
  const tail = trimNext ? source.slice(last).trimStart() : source.slice(last);
  if (tail) out.push({ text: tail, line });
  return out;
}

const TOKEN = /\s*(\(|\)|"(?:[^"\\]|\\.)*"|`[^`]*`|:=|=|,|[^\s(),]+)/gy;

function lex(action: string): string[] {
  const tokens: string[] = [];
  let end = 0;
  TOKEN.lastIndex = 0;
  let match: RegExpExecArray | null;
  while ((match = TOKEN.exec(action)) !== null) {
    tokens.push(match[1]!);
    end = TOKEN.lastIndex;
  }
  if (action.slice(end).trim() !== '') throw new TemplateError(`cannot parse {{${action}}}`);
  return tokens;
}

class ExprParser {
  private at = 0;
  constructor(private readonly tokens: string[]) {}

  parseCommand(): Expr {
    const first = this.tokens[this.at];
    if (first !== undefined && /^[A-Za-z_]\w*$/.test(first) && !['true', 'false', 'nil'].includes(first)) {
      this.at++;
      const args: Expr[] = [];
      while (this.at < this.tokens.length && this.tokens[this.at] !== ')') args.push(this.parseOperand());
      return { kind: 'call', name: first, args };
    }
    const operand = this.parseOperand();
    if (this.at < this.tokens.length && this.tokens[this.at] !== ')') throw new TemplateError(`unexpected "${this.tokens[this.at]}"`);
    return operand;
  }

  parseOperand(): Expr {
    const token = this.tokens[this.at++];
    if (token === undefined) throw new TemplateError('missing operand');
    if (token === '(') {
      const inner = this.parseCommand();
      if (this.tokens[this.at++] !== ')') throw new TemplateError('unclosed (');
      return inner;
    }
    if (token.startsWith('"')) return { kind: 'literal', value: JSON.parse(token) };
    if (token.startsWith('`')) return { kind: 'literal', value: token.slice(1, -1) };
    if (token === 'true' || token === 'false') return { kind: 'literal', value: token === 'true' };
    if (token === 'nil') return { kind: 'literal', value: undefined };
    if (/^-?\d+(\.\d+)?$/.test(token)) return { kind: 'literal', value: Number(token) };
    if (token === '.') return { kind: 'path', root: '.', fields: [] };
    if (token.startsWith('.')) return { kind: 'path', root: '.', fields: token.slice(1).split('.') };
    if (token.startsWith('$')) {
      const [root, ...fields] = token.split('.');
      return { kind: 'path', root: root!, fields };
    }
    if (/^[A-Za-z_]\w*$/.test(token)) return { kind: 'call', name: token, args: [] };
    throw new TemplateError(`unexpected "${token}"`);
  }

  get done(): boolean {
    return this.at >= this.tokens.length;
  }
}

function parseExpr(tokens: string[]): Expr {
  const parser = new ExprParser(tokens);
  const expr = parser.parseCommand();
  if (!parser.done) throw new TemplateError(`unexpected "${tokens.join(' ')}"`);
  checkFunctions(expr);
  return expr;
}

/** Names Go's text/template and Ollama's template package define, known at parse time as in Go. */
const DEFINED_FUNCTIONS = new Set(['and', 'call', 'eq', 'ge', 'gt', 'html', 'index', 'js', 'le', 'len', 'lt', 'ne', 'not', 'or', 'print', 'printf', 'println', 'slice', 'urlquery', 'json', 'currentDate', 'yesterdayDate', 'toTypeScriptType']);

function checkFunctions(expr: Expr): void {
  if (expr.kind !== 'call') return;
  if (!DEFINED_FUNCTIONS.has(expr.name)) throw new TemplateError(`function "${expr.name}" not defined`);
  expr.args.forEach(checkFunctions);
}

/** The pipeline of an if, with or range; Go refuses an empty one. */
function pipeline(tokens: string[], keyword: string): Expr {
  if (tokens.length === 0) throw new TemplateError(`missing value for ${keyword}`);
  return parseExpr(tokens);
}

class TreeParser {
  private at = 0;
  constructor(
    private readonly items: Segment[],
    /** Where an unclosed block is reported: the source's last line, as Go reports EOF. */
    private readonly lastLine: number,
  ) {}

  /** Parses until one of `enders`; returns the body and the action that ended it. */
  parseBody(enders: string[]): { body: Node[]; ender?: string[] } {
    const body: Node[] = [];
    while (this.at < this.items.length) {
      const item = this.items[this.at++]!;
      if (item.text !== undefined) {
        body.push({ kind: 'text', text: item.text });
        continue;
      }
      try {
        const tokens = lex(item.action!);
        const keyword = tokens[0];
        if (keyword && enders.includes(keyword)) return { body, ender: tokens };
        body.push(this.parseAction(tokens));
      } catch (error) {
        if (error instanceof TemplateError) error.line ??= item.line;
        throw error;
      }
    }
    if (enders.length > 0) {
      const error = new TemplateError('unexpected EOF');
      error.line = this.lastLine;
      throw error;
    }
    return { body };
  }

  private parseAction(tokens: string[]): Node {
    const [keyword, ...rest] = tokens;
    switch (keyword) {
      case 'if':
        return this.parseIf(rest);
      case 'with': {
        const expr = pipeline(rest, 'with');
        const { body, otherwise } = this.parseBlock();
        return { kind: 'with', expr, body, otherwise };
      }
      case 'range': {
        const assign = rest.indexOf(':=');
        const vars = assign < 0 ? [] : rest.slice(0, assign).filter((t) => t !== ',');
        const expr = pipeline(rest.slice(assign + 1), 'range');
        const { body, otherwise } = this.parseBlock();
        return { kind: 'range', vars, expr, body, otherwise };
      }
      case 'end':
      case 'else':
        throw new TemplateError(`unexpected {{${keyword}}}`);
      case 'define':
      case 'template':
      case 'block':
        throw new TemplateError(`{{${keyword}}} is not supported`);
    }
    if (tokens[0]?.startsWith('$') && (tokens[1] === ':=' || tokens[1] === '=')) {
      return { kind: 'assign', name: tokens[0], expr: parseExpr(tokens.slice(2)) };
    }
    return { kind: 'output', expr: parseExpr(tokens) };
  }

  private parseIf(condition: string[]): Node {
    const branches: { cond: Expr; body: Node[] }[] = [];
    let cond = pipeline(condition, 'if');
    for (;;) {
      const { body, ender } = this.parseBody(['else', 'end']);
      branches.push({ cond, body });
      if (ender![0] === 'end') return { kind: 'if', branches, otherwise: [] };
      if (ender![1] === 'if') {
        cond = pipeline(ender!.slice(2), 'if');
        continue;
      }
      const { body: otherwise } = this.parseBody(['end']);
      return { kind: 'if', branches, otherwise };
    }
  }

  private parseBlock(): { body: Node[]; otherwise: Node[] } {
    const { body, ender } = this.parseBody(['else', 'end']);
    if (ender![0] === 'end') return { body, otherwise: [] };
    return { body, otherwise: this.parseBody(['end']).body };
  }
}

/** The template's tree; a TemplateError with `line` set for what Go's parser would refuse. */
export function parseTemplate(source: string): Node[] {
  return new TreeParser(segments(source), source.split('\n').length).parseBody([]).body;
}

/** Go's truth: false, 0, nil and empty strings, lists and maps are false. */
function truthy(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0;
  if (value !== null && typeof value === 'object') return Object.keys(value).length > 0;
  return Boolean(value);
}

function format(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

function lengthOf(value: unknown): number {
  if (typeof value === 'string' || Array.isArray(value)) return value.length;
  if (value !== null && typeof value === 'object') return Object.keys(value).length;
  throw new TemplateError(`len of ${typeof value}`);
}

const FUNCTIONS: Record<string, (...args: unknown[]) => unknown> = {
  eq: (a, ...rest) => rest.some((b) => a === b),
  ne: (a, b) => a !== b,
  lt: (a, b) => (a as number) < (b as number),
  le: (a, b) => (a as number) <= (b as number),
  gt: (a, b) => (a as number) > (b as number),
  ge: (a, b) => (a as number) >= (b as number),
  and: (...args) => args.find((a) => !truthy(a)) ?? args.at(-1),
  or: (...args) => args.find((a) => truthy(a)) ?? args.at(-1),
  not: (a) => !truthy(a),
  len: (a) => lengthOf(a),
  index: (a, ...keys) => keys.reduce((v, k) => (v as Record<string, unknown> | undefined)?.[k as string], a),
  slice: (a, from, to) => (a as unknown[] | string).slice(from as number, to as number | undefined),
  json: (a) => JSON.stringify(a),
  print: (...args) => args.map(format).join(''),
};

class Scope {
  private readonly vars = new Map<string, unknown>();
  constructor(
    readonly dot: unknown,
    private readonly parent?: Scope,
  ) {}

  child(dot: unknown): Scope {
    return new Scope(dot, this);
  }

  get(name: string): unknown {
    if (this.vars.has(name)) return this.vars.get(name);
    if (this.parent) return this.parent.get(name);
    throw new TemplateError(`undefined variable ${name}`);
  }

  set(name: string, value: unknown): void {
    this.vars.set(name, value);
  }
}

function evaluate(expr: Expr, scope: Scope): unknown {
  switch (expr.kind) {
    case 'literal':
      return expr.value;
    case 'path': {
      const base = expr.root === '.' ? scope.dot : scope.get(expr.root);
      return expr.fields.reduce((value, field) => (value as Record<string, unknown> | undefined)?.[field], base);
    }
    case 'call': {
      const fn = FUNCTIONS[expr.name];
      if (!fn) throw new TemplateError(`function "${expr.name}" not defined`);
      return fn(...expr.args.map((arg) => evaluate(arg, scope)));
    }
  }
}

function run(nodes: Node[], scope: Scope, out: string[]): void {
  for (const node of nodes) {
    switch (node.kind) {
      case 'text':
        out.push(node.text);
        break;
      case 'output':
        out.push(format(evaluate(node.expr, scope)));
        break;
      case 'assign':
        scope.set(node.name, evaluate(node.expr, scope));
        break;
      case 'if': {
        const branch = node.branches.find((b) => truthy(evaluate(b.cond, scope)));
        run(branch ? branch.body : node.otherwise, scope.child(scope.dot), out);
        break;
      }
      case 'with': {
        const value = evaluate(node.expr, scope);
        if (truthy(value)) run(node.body, scope.child(value), out);
        else run(node.otherwise, scope.child(scope.dot), out);
        break;
      }
      case 'range': {
        const value = evaluate(node.expr, scope);
        const pairs: [unknown, unknown][] = Array.isArray(value)
          ? value.map((item, i) => [i, item])
          : value !== null && typeof value === 'object'
            ? Object.keys(value)
                .sort()
                .map((key) => [key, (value as Record<string, unknown>)[key]])
            : [];
        if (pairs.length === 0) run(node.otherwise, scope.child(scope.dot), out);
        for (const [key, item] of pairs) {
          const inner = scope.child(item);
          if (node.vars.length === 1) inner.set(node.vars[0]!, item);
          if (node.vars.length === 2) {
            inner.set(node.vars[0]!, key);
            inner.set(node.vars[1]!, item);
          }
          run(node.body, inner, out);
        }
        break;
      }
    }
  }
}

export function renderTemplate(source: string, data: Record<string, unknown>): string {
  const root = new Scope(data);
  root.set('$', data);
  const out: string[] = [];
  run(parseTemplate(source), root, out);
  return out.join('');
}
