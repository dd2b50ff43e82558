// What every /v1 inference route does around the engine: abort the run when the client leaves,
// and stream events as SSE frames once the run has produced its first event.

import type { FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import { EventStream } from './sse.js';

export interface StreamPlan<T> {
  /** Frames to send for one engine event. */
  frames(event: T): unknown[];
  /** Frames after the last event, before [DONE]. */
  closing(): unknown[];
}

/**
 * Waits for the first event before answering, so a run that fails to start (unknown model, load
 * error) still gets a plain error response with its status; later failures end the stream with an
 * error frame.
 */
export async function streamEvents<T>(reply: FastifyReply, events: AsyncGenerator<T>, signal: AbortSignal, plan: StreamPlan<T>, logger: Logger): Promise<void> {
  let result = await events.next();
  const stream = new EventStream(reply, signal);
  try {
    for (; !result.done; result = await events.next()) {
      for (const frame of plan.frames(result.value)) await stream.send(frame);
    }
    for (const frame of plan.closing()) await stream.send(frame);
    await stream.done();
  } catch (error) {
    if (signal.aborted) return;
    logger.error({ err: error, url: reply.request.url }, 'streamed run failed');
    stream.fail((error as Error).message || 'internal error');
  } finally {
    await events.return(undefined);
  }
}
