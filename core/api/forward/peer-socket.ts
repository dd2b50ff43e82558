// A transport PeerStream as a socket-like Duplex, so HTTP/1.1 can run over a libp2p stream: the
// API's own HTTP server takes it as a connection, and an undici pool dials it as its socket.

import { Duplex } from 'node:stream';
import type { PeerStream } from '../../contracts/transport.js';

export class PeerSocket extends Duplex {
  /** What the HTTP server and auth read where a TCP socket has an IP address. */
  readonly remoteAddress: string | undefined = undefined;
  private wantsMore: (() => void) | undefined;
  private idle: { ms: number; timer: NodeJS.Timeout | undefined } = { ms: 0, timer: undefined };

  constructor(private readonly peer: PeerStream) {
    super({ allowHalfOpen: true });
    void this.pump();
  }

  get peerId(): string {
    return this.peer.peerId;
  }

  private async pump(): Promise<void> {
    try {
      for await (const chunk of this.peer) {
        this.touch();
        if (this.destroyed) return;
        if (!this.push(chunk)) await new Promise<void>((resolve) => (this.wantsMore = resolve));
      }
      this.push(null);
    } catch (error) {
      this.destroy(error as Error);
    }
  }

  override _read(): void {
    const wake = this.wantsMore;
    this.wantsMore = undefined;
    wake?.();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.touch();
    this.peer.write(chunk).then(() => callback(), callback);
  }

  /** HTTP writes a chunk's size line, bytes and CRLF corked together: one frame on the stream instead of three. */
  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    this.touch();
    this.peer.write(Buffer.concat(chunks.map(({ chunk }) => chunk))).then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.peer.closeWrite().then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.idle.timer);
    this.wantsMore?.();
    // A stream both sides ended cleanly has nothing left to reset.
    if (!(this.readableEnded && this.writableFinished)) this.peer.abort(error ?? new Error('the connection was closed'));
    callback(error);
  }

  /** net.Socket's idle timeout, which the HTTP server uses for keep-alive: 'timeout' after `ms` without traffic. */
  setTimeout(ms: number, onTimeout?: () => void): this {
    if (onTimeout) this.once('timeout', onTimeout);
    this.idle.ms = ms;
    this.touch();
    return this;
  }

  private touch(): void {
    clearTimeout(this.idle.timer);
    this.idle.timer = this.idle.ms > 0 && !this.destroyed ? setTimeout(() => this.emit('timeout'), this.idle.ms).unref() : undefined;
  }

  setNoDelay(): this {
    return this;
  }

  setKeepAlive(): this {
    return this;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }
}
