// Server-sent events for streamed /v1 responses: `data: <json>` frames ended by `data: [DONE]`
// (chat, completions), or frames named by their `type` with no end marker (Responses, Anthropic).

import { PassThrough } from 'node:stream';
import type { FastifyReply } from 'fastify';

export class EventStream {
  private readonly body = new PassThrough();

  /** Starts the 200 response; frames follow as they are sent. `signal` says the client left. */
  constructor(reply: FastifyReply, signal: AbortSignal) {
    // A departed client reads nothing more: drop what is buffered so no write waits for a drain.
    signal.addEventListener('abort', () => this.body.destroy(), { once: true });
    void reply.code(200).header('cache-control', 'no-cache').type('text/event-stream').send(this.body);
  }

  /** Resolves once the frame is buffered within limits, so a slow client slows the run down. */
  async send(data: unknown): Promise<void> {
    await this.write(`data: ${JSON.stringify(data)}\n\n`);
  }

  /** A frame with an `event:` line naming it. */
  async sendEvent(event: string, data: unknown): Promise<void> {
    await this.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  async done(): Promise<void> {
    await this.write('data: [DONE]\n\n');
    this.end();
  }

  end(): void {
    this.body.end();
  }

  /** Ends the stream with a last frame, unless it has ended already. */
  fail(frame: string): void {
    if (this.body.writableEnded) return;
    this.body.end(frame);
  }

  private async write(frame: string): Promise<void> {
    if (this.body.destroyed || this.body.writableEnded) return;
    if (this.body.write(frame)) return;
    await new Promise<void>((resolve) => {
      const settle = () => {
        this.body.off('drain', settle);
        this.body.off('close', settle);
        resolve();
      };
      this.body.once('drain', settle);
      this.body.once('close', settle);
    });
  }
}
