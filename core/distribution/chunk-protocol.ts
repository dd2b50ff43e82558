// The chunk protocol's wire format: one request per stream, as a length-prefixed JSON frame, and
// an answer as a JSON header frame followed, for a chunk, by its raw bytes. Everything is bounded.

import { ProductError } from '../errors.js';
import { isDigest } from '../models/manifest.js';
import { MAX_CHUNK_SIZE } from './chunk-map.js';
import { MAX_SWARM_PEERS } from './swarm.js';

export const CHUNK_PROTOCOL = '/ollama-distributed/chunks/1';

/** A request names a digest, an index or a model name: a few hundred bytes at most. */
export const MAX_REQUEST_BYTES = 4096;
/** A chunk map of the largest blob in the smallest chunks, with its have-bitmap, fits. */
export const MAX_HEADER_BYTES = 64 * 1024 * 1024;
const MAX_NAME = 512;

export type ChunkRequestMessage =
  /** The blob's chunk map and which chunks the answering peer holds now. */
  | { type: 'map'; digest: string }
  /** Chunk `index` of the blob. */
  | { type: 'chunk'; digest: string; index: number }
  /** The manifest of a model the peer holds whole, by its full name. */
  | { type: 'manifest'; model: string };

/** What the answering peer knows of the blob's other fetchers (swarm.ts); `sent` is a have-bitmap, base64. */
export interface SwarmFields {
  peers?: string[];
  sent?: string;
}

export type ChunkAnswer =
  /** `have` is the haveBitmap of held chunks, base64; absent when the peer holds the whole blob. */
  | ({ type: 'map'; map: unknown; have?: string } & SwarmFields)
  /** `length` raw bytes follow this header. */
  | ({ type: 'chunk'; index: number; length: number } & SwarmFields)
  /** A holder of the whole blob sent chunk `index` to `peer`: take it from there. */
  | ({ type: 'elsewhere'; index: number; peer: string } & SwarmFields)
  | { type: 'manifest'; manifest: unknown }
  | { type: 'error'; error: string };

/** A peer's message that breaks the protocol: the stream ends, the process goes on. */
export class ChunkProtocolError extends ProductError {
  constructor(message: string) {
    super('OD_ERR_BAD_REQUEST', message);
    this.name = 'ChunkProtocolError';
  }
}

export function encodeFrame(value: unknown): Uint8Array {
  const body = Buffer.from(JSON.stringify(value));
  const frame = Buffer.allocUnsafe(4 + body.byteLength);
  frame.writeUInt32BE(body.byteLength, 0);
  body.copy(frame, 4);
  return frame;
}

/** Reads exact byte counts from a stream of arbitrarily cut pieces. */
export class FrameReader {
  readonly #source: AsyncIterator<Uint8Array>;
  #buffered: Uint8Array[] = [];
  #length = 0;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#source = source[Symbol.asyncIterator]();
  }

  /** Exactly `count` bytes; fails when the stream ends first. */
  async bytes(count: number): Promise<Buffer> {
    while (this.#length < count) {
      const { value, done } = await this.#source.next();
      if (done) throw new ChunkProtocolError(`the stream ended ${count - this.#length} bytes short`);
      this.#buffered.push(value);
      this.#length += value.byteLength;
    }
    const all = Buffer.concat(this.#buffered, this.#length);
    const rest = all.subarray(count);
    this.#buffered = rest.byteLength > 0 ? [rest] : [];
    this.#length = rest.byteLength;
    return all.subarray(0, count);
  }

  /** One JSON frame of at most `maxBytes`. */
  async frame(maxBytes: number): Promise<unknown> {
    const length = (await this.bytes(4)).readUInt32BE(0);
    if (length > maxBytes) throw new ChunkProtocolError(`a frame of ${length} bytes is over the ${maxBytes} allowed`);
    const body = await this.bytes(length);
    try {
      return JSON.parse(body.toString('utf8'));
    } catch {
      throw new ChunkProtocolError('a frame is not JSON');
    }
  }
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ChunkProtocolError(`${what} must be a JSON object`);
  return value as Record<string, unknown>;
}

function digestOf(value: Record<string, unknown>): string {
  if (!isDigest(value.digest)) throw new ChunkProtocolError("'digest' must be 'sha256:' and 64 lowercase hex digits");
  return value.digest;
}

/** A peer's request, checked field by field. */
export function parseRequest(value: unknown): ChunkRequestMessage {
  const message = record(value, 'a request');
  switch (message.type) {
    case 'map':
      return { type: 'map', digest: digestOf(message) };
    case 'chunk': {
      const { index } = message;
      if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0) throw new ChunkProtocolError("'index' must be a whole number ≥ 0");
      return { type: 'chunk', digest: digestOf(message), index };
    }
    case 'manifest': {
      const { model } = message;
      if (typeof model !== 'string' || model === '' || model.length > MAX_NAME) throw new ChunkProtocolError(`'model' must be a name of 1 to ${MAX_NAME} characters`);
      return { type: 'manifest', model };
    }
    default:
      throw new ChunkProtocolError("'type' must be map, chunk or manifest");
  }
}

type Expected = Exclude<ChunkAnswer['type'], 'error' | 'elsewhere'>;
/** A chunk request is answered with the chunk or, by a holder of the whole blob, with where to take it instead. */
export type AnswerTo<T extends Expected> = T extends 'chunk' ? Extract<ChunkAnswer, { type: 'chunk' | 'elsewhere' }> : Extract<ChunkAnswer, { type: T }>;

const wholeNumber = (value: unknown) => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

/** A peer's answer, checked for the shape the request expects; an error answer is thrown with its text. */
export function parseAnswer<T extends Expected>(value: unknown, expected: T): AnswerTo<T> {
  const answer = record(value, 'an answer');
  if (answer.type === 'error') {
    const error = typeof answer.error === 'string' ? answer.error.slice(0, 500) : 'unspecified';
    throw new ProductError('OD_ERR_BLOB_NOT_FOUND', `the peer refused: ${error}`);
  }
  const elsewhere = expected === 'chunk' && answer.type === 'elsewhere';
  if (answer.type !== expected && !elsewhere) throw new ChunkProtocolError(`expected a ${expected} answer, got ${String(answer.type).slice(0, 40)}`);
  if (elsewhere) {
    if (!wholeNumber(answer.index)) throw new ChunkProtocolError("an elsewhere answer's 'index' must be a whole number ≥ 0");
    if (typeof answer.peer !== 'string' || !PEER_ID.test(answer.peer)) throw new ChunkProtocolError("an elsewhere answer's 'peer' must be a peer id");
  } else if (expected === 'chunk') {
    if (!wholeNumber(answer.index)) throw new ChunkProtocolError("a chunk answer's 'index' must be a whole number ≥ 0");
    if (!wholeNumber(answer.length) || (answer.length as number) > MAX_CHUNK_SIZE) throw new ChunkProtocolError(`a chunk answer's 'length' must be from 0 to ${MAX_CHUNK_SIZE}`);
  }
  if (expected === 'map' && answer.have !== undefined && typeof answer.have !== 'string') throw new ChunkProtocolError("a map answer's 'have' must be base64");
  if (expected !== 'manifest') checkSwarm(answer);
  return answer as AnswerTo<T>;
}

/** libp2p peer ids as base58btc text. */
const PEER_ID = /^[1-9A-HJ-NP-Za-km-z]{1,128}$/;

function checkSwarm(answer: Record<string, unknown>): void {
  const { peers, sent } = answer;
  if (peers !== undefined && (!Array.isArray(peers) || peers.length > MAX_SWARM_PEERS || !peers.every((peer) => typeof peer === 'string' && PEER_ID.test(peer)))) {
    throw new ChunkProtocolError(`an answer's 'peers' must be at most ${MAX_SWARM_PEERS} peer ids`);
  }
  if (sent !== undefined && typeof sent !== 'string') throw new ChunkProtocolError("an answer's 'sent' must be base64");
}
