// The asking side of the chunk protocol: one stream per request to a holder, its answer checked
// before the caller sees it. A chunk's bytes are checked by the caller against the chunk map.

import type { Transport } from '../contracts/transport.js';
import { manifestProblem, type Manifest } from '../models/manifest.js';
import { chunkCount, parseChunkMap, type ChunkMap } from './chunk-map.js';
import { CHUNK_PROTOCOL, ChunkProtocolError, encodeFrame, FrameReader, MAX_HEADER_BYTES, parseAnswer, type AnswerTo, type ChunkRequestMessage, type SwarmFields } from './chunk-protocol.js';
import type { SwarmHint } from './swarm.js';

export type ChunkPeers = Pick<Transport, 'openStream'>;

export interface HolderMap {
  map: ChunkMap;
  /** The holder's have-bitmap; undefined when it holds the whole blob. */
  have: Uint8Array | undefined;
  swarm: SwarmHint | undefined;
}

/** The swarm fields of an answer about a blob of `count` chunks. */
function swarmOf(answer: SwarmFields, count: number): SwarmHint | undefined {
  if (answer.sent === undefined) return undefined;
  const sent = Buffer.from(answer.sent, 'base64');
  if (sent.byteLength !== Math.ceil(count / 8)) throw new ChunkProtocolError("an answer's 'sent' bitmap does not fit its chunk map");
  return { peers: answer.peers ?? [], sent: new Uint8Array(sent) };
}

async function ask<T extends 'map' | 'chunk' | 'manifest'>(
  transport: ChunkPeers,
  peerId: string,
  request: ChunkRequestMessage,
  expected: T,
  read: (answer: AnswerTo<T>, reader: FrameReader) => Promise<unknown> | unknown,
  signal?: AbortSignal,
) {
  const stream = await transport.openStream(peerId, CHUNK_PROTOCOL, signal);
  const onAbort = () => stream.abort(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await stream.write(encodeFrame(request), signal);
    await stream.closeWrite();
    const reader = new FrameReader(stream);
    const answer = parseAnswer(await reader.frame(MAX_HEADER_BYTES), expected);
    return await read(answer, reader);
  } catch (error) {
    stream.abort(error as Error);
    throw error;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/** A holder's chunk map of `digest`, which must describe `size` bytes, and what it holds of it. */
export async function requestMap(transport: ChunkPeers, peerId: string, expected: { digest: string; size: number }, signal?: AbortSignal): Promise<HolderMap> {
  return (await ask(
    transport,
    peerId,
    { type: 'map', digest: expected.digest },
    'map',
    (answer) => {
      const map = parseChunkMap(answer.map, expected);
      const count = chunkCount(map.size, map.chunkSize);
      const swarm = swarmOf(answer, count);
      if (answer.have === undefined) return { map, have: undefined, swarm };
      const have = Buffer.from(answer.have, 'base64');
      if (have.byteLength !== Math.ceil(count / 8)) throw new ChunkProtocolError('a have-bitmap does not fit its chunk map');
      return { map, have: new Uint8Array(have), swarm };
    },
    signal,
  )) as HolderMap;
}

export interface ChunkAsk {
  digest: string;
  index: number;
  /** The chunk's length by the map: a longer answer breaks the protocol. */
  maxBytes: number;
  /** The blob's chunks, which its swarm bitmap must fit. */
  chunkCount: number;
  /** The holder's swarm hint, as soon as its answer header arrives, before the bytes. */
  onSwarm?: (swarm: SwarmHint) => void;
}

/** A holder of the whole blob sent the chunk to `peer` and asks that it be taken from there. */
export class ChunkElsewhere extends Error {
  constructor(
    readonly index: number,
    readonly peer: string,
    readonly swarm: SwarmHint | undefined,
  ) {
    super(`chunk ${index} is to be taken from ${peer}`);
    this.name = 'ChunkElsewhere';
  }
}

/** A chunk of the blob as the holder sends it; unverified. Throws ChunkElsewhere when the holder points to another fetcher. */
export async function requestChunk(transport: ChunkPeers, peerId: string, chunk: ChunkAsk, signal?: AbortSignal): Promise<Buffer> {
  const { digest, index, maxBytes } = chunk;
  return (await ask(
    transport,
    peerId,
    { type: 'chunk', digest, index },
    'chunk',
    (answer, reader) => {
      if (answer.index !== index) throw new ChunkProtocolError(`asked for chunk ${index}, got ${answer.index}`);
      if (answer.type === 'elsewhere') throw new ChunkElsewhere(index, answer.peer, swarmOf(answer, chunk.chunkCount));
      if (answer.length > maxBytes) throw new ChunkProtocolError(`chunk ${index} is ${answer.length} bytes, at most ${maxBytes} expected`);
      const swarm = swarmOf(answer, chunk.chunkCount);
      if (swarm) chunk.onSwarm?.(swarm);
      return reader.bytes(answer.length);
    },
    signal,
  )) as Buffer;
}

/** The manifest of `model` as a holder keeps it. */
export async function requestManifest(transport: ChunkPeers, peerId: string, model: string, signal?: AbortSignal): Promise<Manifest> {
  return (await ask(
    transport,
    peerId,
    { type: 'manifest', model },
    'manifest',
    (answer) => {
      const problem = manifestProblem(answer.manifest);
      if (problem) throw new ChunkProtocolError(`the manifest of ${model}: ${problem}`);
      return answer.manifest as Manifest;
    },
    signal,
  )) as Manifest;
}
