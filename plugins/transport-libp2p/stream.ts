// A libp2p stream as the transport contract's PeerStream, with backpressure both ways: writes
// wait for the muxer to drain, and a reader that falls behind pauses the sender.

import type { Stream, StreamCloseEvent, StreamMessageEvent } from '@libp2p/interface';
import type { PeerStream } from '../../core/contracts/transport.js';

/**
 * Yamux grants the sender window as soon as bytes arrive, not when they are read, so unread bytes
 * would pile up without bound; past this much the stream pauses until the reader catches up.
 */
const PAUSE_AT_BYTES = 1024 * 1024;
const RESUME_AT_BYTES = 256 * 1024;

class Libp2pPeerStream implements PeerStream {
  private readonly chunks: Uint8Array[] = [];
  private queued = 0;
  private ended = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(
    private readonly stream: Stream,
    readonly peerId: string,
  ) {
    stream.addEventListener('message', (event: StreamMessageEvent) => this.receive(event.data.subarray()));
    stream.addEventListener('end', () => this.finish());
    // A reset or abort ends reading with its error; a clean close ends it only once nothing is left unread.
    stream.addEventListener('close', (event: StreamCloseEvent) => {
      if (event.error || stream.readableEnded) this.finish(event.error);
    });
    if (stream.readableEnded) this.finish();
  }

  get protocol(): string {
    return this.stream.protocol;
  }

  private receive(chunk: Uint8Array): void {
    this.chunks.push(chunk);
    this.queued += chunk.byteLength;
    if (this.queued > PAUSE_AT_BYTES && this.stream.readStatus === 'readable') this.stream.pause();
    this.notify();
  }

  private finish(error?: Error): void {
    this.ended = true;
    this.failure ??= error;
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      const chunk = this.chunks.shift();
      if (chunk) {
        this.queued -= chunk.byteLength;
        if (this.queued < RESUME_AT_BYTES && this.stream.readStatus === 'paused') this.stream.resume();
        yield chunk;
        continue;
      }
      if (this.failure) throw this.failure;
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  async write(chunk: Uint8Array, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (!this.stream.send(chunk)) await this.drained(signal);
  }

  /**
   * Waits for the 'drain' event itself: libp2p's onDrain() keeps the promise of the first drain,
   * already resolved, so after one drain it no longer waits and the send buffer grows unbounded.
   */
  private drained(signal?: AbortSignal): Promise<void> {
    const stream = this.stream;
    return new Promise((resolve, reject) => {
      if (!stream.writableNeedsDrain) return resolve();
      const settle = (error?: Error) => {
        stream.removeEventListener('drain', onDrain);
        stream.removeEventListener('close', onClose);
        signal?.removeEventListener('abort', onAbort);
        if (error) reject(error);
        else resolve();
      };
      const onDrain = () => settle();
      const onClose = (event: StreamCloseEvent) => settle(event.error ?? new Error('the stream closed before it drained'));
      const onAbort = () => settle(signal!.reason as Error);
      stream.addEventListener('drain', onDrain);
      stream.addEventListener('close', onClose);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  async closeWrite(): Promise<void> {
    await this.stream.close();
  }

  abort(error: Error): void {
    this.stream.abort(error);
  }
}

export function peerStream(stream: Stream, peerId: string): PeerStream {
  return new Libp2pPeerStream(stream, peerId);
}
