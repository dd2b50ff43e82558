// Parses a Modelfile the way Ollama's parser does: case-insensitive commands, `#` comments, values
// to the end of the line or inside "..." / """...""" spanning lines. Errors carry the line number.

export type ModelfileCommand =
  | { kind: 'from' | 'adapter' | 'template' | 'system' | 'license'; value: string; line: number }
  | { kind: 'parameter'; name: string; value: string; line: number }
  | { kind: 'message'; role: MessageRole; content: string; line: number };

export type MessageRole = 'system' | 'user' | 'assistant';

export interface Modelfile {
  commands: ModelfileCommand[];
}

export class ModelfileError extends Error {
  constructor(
    message: string,
    /** 1-based; 0 when the error concerns the whole file. */
    readonly line: number,
  ) {
    super(line > 0 ? `(line ${line}): ${message}` : message);
    this.name = 'ModelfileError';
  }
}

const COMMANDS = ['from', 'license', 'template', 'system', 'adapter', 'parameter', 'message'] as const;
const ROLES: readonly string[] = ['system', 'user', 'assistant'];
const INVALID_COMMAND = 'command must be one of "from", "license", "template", "system", "adapter", "parameter", or "message"';
const INVALID_ROLE = 'message role must be one of "system", "user", or "assistant"';

const isBlank = (c: string | undefined) => c === ' ' || c === '\t';
const isLetter = (c: string) => /^[A-Za-z]$/.test(c);

/** Ollama drops non-printable characters outside quoted continuations; tabs and newlines stay. */
function printable(text: string): string {
  return text.replace(/[\p{Cc}\p{Cs}]/gu, (c) => (c === '\t' ? c : ''));
}

/** The value without its quotes, or undefined while a quote is still open. */
function unquote(raw: string): string | undefined {
  if (raw.startsWith('"""')) return raw.length >= 6 && raw.endsWith('"""') ? raw.slice(3, -3) : undefined;
  if (raw.startsWith('"')) return raw.length >= 2 && raw.endsWith('"') ? raw.slice(1, -1) : undefined;
  return raw;
}

class Cursor {
  private readonly lines: string[];
  index = 0;

  constructor(text: string) {
    this.lines = text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
  }

  get done(): boolean {
    return this.index >= this.lines.length;
  }

  /** 1-based number of the current line. */
  get line(): number {
    return this.index + 1;
  }

  take(): string {
    return this.lines[this.index++]!;
  }
}

/** Skips blanks, then reads a word made of the characters `allowed` accepts and the blank that ends it. */
function word(text: string, at: number, allowed: (c: string) => boolean): { word: string; rest: number } | undefined {
  let from = at;
  while (isBlank(text[from])) from += 1;
  let end = from;
  while (end < text.length && allowed(text[end]!)) end += 1;
  if (end === from || !isBlank(text[end])) return undefined;
  return { word: text.slice(from, end), rest: end + 1 };
}

/** A value runs to the end of its line, or on through later lines until its opening quote closes. */
function readValue(first: string, cursor: Cursor, startLine: number): string {
  let raw = first;
  for (;;) {
    const value = unquote(raw.trim());
    if (value !== undefined) return value;
    if (cursor.done) {
      const quote = raw.trim().startsWith('"""') ? '"""' : '"';
      throw new ModelfileError(`unexpected end of file: the ${quote} opened here is never closed`, startLine);
    }
    raw += '\n' + printable(cursor.take());
  }
}

export function parseModelfile(text: string): Modelfile {
  const commands: ModelfileCommand[] = [];
  const cursor = new Cursor(text);
  while (!cursor.done) {
    const line = cursor.line;
    const content = printable(cursor.take());
    const start = content.search(/[^ \t]/);
    if (start < 0 || content[start] === '#') continue;
    const name = word(content, start, isLetter);
    const kind = name?.word.toLowerCase() as (typeof COMMANDS)[number] | undefined;
    if (!name || !kind || !COMMANDS.includes(kind)) throw new ModelfileError(INVALID_COMMAND, line);
    if (kind === 'parameter') {
      const parameter = word(content, name.rest, (c) => /^[A-Za-z0-9_]$/.test(c));
      if (!parameter) throw new ModelfileError('PARAMETER needs a name (letters, digits, _) and a value', line);
      commands.push({ kind, name: parameter.word, value: readValue(content.slice(parameter.rest), cursor, line), line });
    } else if (kind === 'message') {
      const role = word(content, name.rest, isLetter);
      if (!role || !ROLES.includes(role.word)) throw new ModelfileError(INVALID_ROLE, line);
      commands.push({ kind, role: role.word as MessageRole, content: readValue(content.slice(role.rest), cursor, line), line });
    } else {
      commands.push({ kind, value: readValue(content.slice(name.rest), cursor, line), line });
    }
  }
  if (!commands.some((command) => command.kind === 'from')) throw new ModelfileError('no FROM line', 0);
  return { commands };
}
