// Server-sent events for streamed /v1 responses: `data: <json>` frames, `data: [DONE]` at the end,
// and an OpenAI-shaped error frame when a run fails after the response began.

import { PassThrough } from 'node:stream';
import type { FastifyReply } from 'fastify';
import { openaiError } from './errors.js';

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

  async done(): Promise<void> {
    await this.write('data: [DONE]\n\n');
    this.body.end();
  }

  /** Ends the stream with an error frame (no [DONE]), which OpenAI clients raise as an API error. */
  fail(message: string): void {
    if (this.body.writableEnded) return;
    this.body.end(`data: ${JSON.stringify(openaiError(500, message))}\n\n`);
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
