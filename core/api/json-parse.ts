// JSON.parse for request bodies up to the body cap without holding the event loop: a small body in
// one call, a large one read from its bytes (never decoded whole) in steps of a few ms.

import { setImmediate as nextTurn } from 'node:timers/promises';

export interface ParseSizes {
  /** Bodies up to this many bytes parse in one JSON.parse call (~4 ms a MiB for object-heavy JSON here). */
  wholeBody: number;
  /** Elements closing within this many bytes go to one JSON.parse call; strings decode in stretches this long. */
  smallValue: number;
}

const SIZES: ParseSizes = { wholeBody: 1 << 20, smallValue: 1 << 16 };
/** How long one step runs before the event loop gets a turn. */
const STEP_MS = 5;
/**
 * Go's encoding/json stops at 10,000 levels; V8's JSON.stringify, which answers and stores what a
 * request carries, overflows its stack near 4,000. No Ollama request nests more than a few dozen.
 */
export const MAX_DEPTH = 1_000;

type Container = { array: unknown[] } | { object: Record<string, unknown>; key?: string };

const SCALAR = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)$/;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPENERS = new Set([0x7b, 0x5b]);
const CLOSERS = new Set([0x7d, 0x5d]);
const isWhitespace = (byte: number | undefined) => byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
/** Bytes that can continue a number or a literal (true, false, null). */
const isScalarByte = (byte: number) => (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x7a) || byte === 0x2b || byte === 0x2d || byte === 0x2e || byte === 0x45;
const isContinuation = (byte: number | undefined) => byte !== undefined && byte >= 0x80 && byte < 0xc0;

function scalarOf(text: string): unknown {
  if (text === 'true') return true;
  if (text === 'false') return false;
  return text === 'null' ? null : Number(text);
}

/** A plain assignment of "__proto__" would set the prototype; JSON.parse makes it an own property. */
function setMember(object: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true });
}

class SteppedParser {
  private pos = 0;
  private readonly stack: Container[] = [];
  private result: { value: unknown } | undefined;
  /** A long string being read, in decoded pieces; a key once read becomes the open object's key. */
  private string: { pieces: string[]; isKey: boolean; closed?: boolean } | undefined;
  /** Set by work that takes a while on its own (joining a long string): the step ends there. */
  private pause = false;
  /** Inside a container, after `,` or the opening bracket: an element (or an object's key) comes next. */
  private atElement = false;
  /** After a value inside a container: `,` or the closing bracket comes next. */
  private afterValue = false;

  constructor(
    private readonly bytes: Buffer,
    private readonly smallValue: number,
  ) {}

  get done(): { value: unknown } | undefined {
    return this.result;
  }

  /** Runs until `deadline` (performance.now()) or the end; throws SyntaxError on bad JSON. */
  step(deadline: number): void {
    this.pause = false;
    while (!this.result && !this.pause) {
      if (performance.now() > deadline) return;
      if (this.string) this.readString();
      else if (this.afterValue) this.readSeparator();
      else if (this.atElement) this.readElements();
      else this.readValue();
    }
  }

  private text(start: number, end: number): string {
    return this.bytes.toString('utf8', start, end);
  }

  private skipWhitespace(): void {
    while (isWhitespace(this.bytes[this.pos])) this.pos++;
  }

  private fail(): never {
    if (this.pos >= this.bytes.length) throw new SyntaxError('Unexpected end of JSON input');
    throw new SyntaxError(`Unexpected token '${this.text(this.pos, this.pos + 1)}' in JSON at position ${this.pos}`);
  }

  /** One value where a value starts: small ones whole, a large object or array opened, a long string begun. */
  private readValue(): void {
    this.skipWhitespace();
    const byte = this.bytes[this.pos];
    if (byte === undefined) this.fail();
    if (OPENERS.has(byte)) {
      const end = this.smallContainerEnd(this.pos);
      if (end >= 0) return this.emit(JSON.parse(this.text(this.pos, end)), end);
      if (this.stack.length >= MAX_DEPTH) throw new SyntaxError('exceeded max depth');
      const isObject = byte === 0x7b;
      this.stack.push(isObject ? { object: {} } : { array: [] });
      this.pos++;
      this.skipWhitespace();
      if (this.bytes[this.pos] === (isObject ? 0x7d : 0x5d)) return this.close();
      this.atElement = true;
      return;
    }
    if (byte === QUOTE) return this.openString(false);
    let end = this.pos;
    while (end < this.bytes.length && end - this.pos < 400 && isScalarByte(this.bytes[end]!)) end++;
    const scalar = this.text(this.pos, end);
    if (!SCALAR.test(scalar)) this.fail();
    this.emit(scalarOf(scalar), end);
  }

  /**
   * Elements of the open container: as many as close within `smallValue` bytes go to JSON.parse
   * together; a larger one is read on its own.
   */
  private readElements(): void {
    const top = this.stack.at(-1)!;
    const { separator, close } = this.elementRun(this.pos);
    const end = close >= 0 ? close : separator;
    if (end < 0) {
      this.atElement = false;
      if ('array' in top) return this.readValue();
      this.skipWhitespace();
      if (this.bytes[this.pos] !== QUOTE) this.fail();
      return this.openString(true);
    }
    const run = this.text(this.pos, end);
    if ('array' in top) for (const item of JSON.parse(`[${run}]`) as unknown[]) top.array.push(item);
    else for (const [key, value] of Object.entries(JSON.parse(`{${run}}`) as Record<string, unknown>)) setMember(top.object, key, value);
    this.pos = end;
    if (close >= 0) this.close();
    else this.pos++;
  }

  /**
   * Within `smallValue` bytes of `start`: the last `,` between elements of the open container, and
   * its closing bracket when that comes first (-1 when not found). An empty element ends the search.
   */
  private elementRun(start: number): { separator: number; close: number } {
    const limit = Math.min(this.bytes.length, start + this.smallValue);
    let depth = 0;
    let separator = -1;
    let empty = true;
    for (let i = start; i < limit; i++) {
      const byte = this.bytes[i]!;
      if (isWhitespace(byte)) continue;
      if (byte === QUOTE) {
        i = this.stringEndWithin(i, limit);
        if (i < 0) break;
      } else if (OPENERS.has(byte)) this.deeper(++depth);
      else if (CLOSERS.has(byte)) {
        if (depth === 0) return { separator, close: empty ? -1 : i };
        depth--;
      } else if (byte === COMMA && depth === 0) {
        if (empty) break;
        separator = i;
        empty = true;
        continue;
      }
      empty = false;
    }
    return { separator, close: -1 };
  }

  /** The index of the quote closing the string opened at `open`, or -1 when it does not close before `limit`. */
  private stringEndWithin(open: number, limit: number): number {
    for (let i = open + 1; i < limit; i++) {
      const byte = this.bytes[i];
      if (byte === BACKSLASH) i++;
      else if (byte === QUOTE) return i;
    }
    return -1;
  }

  private readSeparator(): void {
    this.skipWhitespace();
    const top = this.stack.at(-1)!;
    const byte = this.bytes[this.pos];
    if (byte === COMMA) {
      this.pos++;
      this.afterValue = false;
      this.atElement = true;
      return;
    }
    if (byte === ('array' in top ? 0x5d : 0x7d)) return this.close();
    this.fail();
  }

  private close(): void {
    const top = this.stack.pop()!;
    this.pos++;
    this.atElement = false;
    this.afterValue = false;
    this.emit('array' in top ? top.array : top.object, this.pos);
  }

  /** Places a finished value and moves to `next`. */
  private emit(value: unknown, next: number): void {
    this.pos = next;
    const top = this.stack.at(-1);
    if (!top) {
      this.skipWhitespace();
      if (this.pos < this.bytes.length) this.fail();
      this.result = { value };
      return;
    }
    if ('array' in top) top.array.push(value);
    else {
      setMember(top.object, top.key!, value);
      top.key = undefined;
    }
    this.afterValue = true;
  }

  /** The end (exclusive) of the object or array at `start` when it closes within `smallValue` bytes, else -1. */
  private smallContainerEnd(start: number): number {
    const limit = Math.min(this.bytes.length, start + this.smallValue);
    let depth = 0;
    for (let i = start; i < limit; i++) {
      const byte = this.bytes[i]!;
      if (byte === QUOTE) {
        i = this.stringEndWithin(i, limit);
        if (i < 0) return -1;
      } else if (OPENERS.has(byte)) this.deeper(++depth);
      else if (CLOSERS.has(byte) && --depth === 0) return i + 1;
    }
    return -1;
  }

  /** Values handed to JSON.parse whole are held to the same depth as the parser's own stack. */
  private deeper(depth: number): void {
    if (this.stack.length + depth > MAX_DEPTH) throw new SyntaxError('exceeded max depth');
  }

  private openString(isKey: boolean): void {
    this.pos++;
    this.string = { pieces: [], isKey };
  }

  /**
   * Decodes the next stretch of a string. A stretch ends after a whole escape and before a whole
   * UTF-8 character, so each one is valid JSON string content on its own.
   */
  private readString(): void {
    const state = this.string!;
    if (state.closed) return this.closeString(state);
    const limit = Math.min(this.bytes.length, this.pos + this.smallValue);
    let end = this.pos;
    while (end < limit) {
      const byte = this.bytes[end];
      if (byte === QUOTE) break;
      end += byte === BACKSLASH ? (this.bytes[end + 1] === 0x75 ? 6 : 2) : 1;
    }
    if (end >= this.bytes.length) {
      this.pos = this.bytes.length;
      this.fail();
    }
    const closes = this.bytes[end] === QUOTE;
    if (!closes && isContinuation(this.bytes[end])) end = this.characterStart(end);
    state.pieces.push(JSON.parse(`"${this.text(this.pos, end)}"`) as string);
    this.pos = end;
    if (!closes) return;
    state.closed = true;
    // Joining a long string copies all of it: a step of its own.
    if (state.pieces.length > 1) this.pause = true;
    else this.closeString(state);
  }

  /**
   * Where the UTF-8 sequence holding `at` may start: the last lead byte among the three before it
   * (cutting before a lead byte never splits what a decoder would join), else `at` itself.
   */
  private characterStart(at: number): number {
    for (let back = 1; back <= 3 && at - back > this.pos; back++) {
      const byte = this.bytes[at - back]!;
      if (byte >= 0xc0) return at - back;
      if (byte < 0x80) break;
    }
    return at;
  }

  private closeString(state: { pieces: string[]; isKey: boolean }): void {
    this.string = undefined;
    if (state.pieces.length > 1) this.pause = true;
    const value = state.pieces.length === 1 ? state.pieces[0]! : state.pieces.join('');
    this.pos++;
    if (!state.isKey) return this.emit(value, this.pos);
    (this.stack.at(-1) as { key?: string }).key = value;
    this.skipWhitespace();
    if (this.bytes[this.pos] !== 0x3a) this.fail();
    this.pos++;
  }
}

/**
 * Continues after a whole turn of the event loop. An immediate set while I/O callbacks run fires
 * in this same turn; one set from inside an immediate waits for the next turn's timers and I/O.
 */
const nextIteration = () => new Promise<void>((resolve) => setImmediate(() => setImmediate(resolve)));

/** Whether brackets outside strings nest deeper than `max`: the code that walks a value recurses. */
function nestingExceeds(bytes: Buffer, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!;
    if (inString) {
      if (byte === BACKSLASH) i++;
      else if (byte === QUOTE) inString = false;
    } else if (byte === QUOTE) inString = true;
    else if (OPENERS.has(byte)) {
      if (++depth > max) return true;
    } else if (CLOSERS.has(byte)) depth--;
  }
  return false;
}

/** JSON.parse of a UTF-8 body, yielding to the event loop between steps when the body is large. */
export async function parseJson(bytes: Buffer, sizes: Partial<ParseSizes> = {}): Promise<unknown> {
  const { wholeBody, smallValue } = { ...SIZES, ...sizes };
  if (bytes.length <= wholeBody) {
    // Nesting deeper than MAX_DEPTH takes more bytes than that.
    if (bytes.length > MAX_DEPTH && nestingExceeds(bytes, MAX_DEPTH)) throw new SyntaxError('exceeded max depth');
    return JSON.parse(bytes.toString('utf8'));
  }
  // A stretch must hold the longest escape (\uXXXX) and the longest UTF-8 character whole.
  const parser = new SteppedParser(bytes, Math.max(8, smallValue));
  // The body was just gathered into one buffer, a long copy of its own: timers and I/O go first.
  await nextIteration();
  for (;;) {
    parser.step(performance.now() + STEP_MS);
    const done = parser.done;
    if (done) return done.value;
    await nextTurn();
  }
}
