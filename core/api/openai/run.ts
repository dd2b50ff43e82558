// What every /v1 inference route does around the engine: abort the run when the client leaves,
// and stream events as SSE frames once the run has produced its first event.

import type { FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import { openaiError } from './errors.js';
import { EventStream } from './sse.js';

/** A frame of the typed event APIs (Responses, Anthropic): the SSE event is named by its `type`. */
export interface TypedFrame {
  type: string;
}

export interface StreamPlan<T> {
  /** Frames to send for one engine event. */
  frames(event: T): unknown[];
  /** Frames after the last event, before [DONE]. */
  closing(): unknown[];
  /**
   * For the typed event APIs: every frame is a TypedFrame sent as a named event, no [DONE]
   * follows, and a failure after the stream began is reported by this frame.
   */
  typed?: { failure(message: string): TypedFrame };
}

async function sendFrame(stream: EventStream, frame: unknown, typed: boolean): Promise<void> {
  if (typed) await stream.sendEvent((frame as TypedFrame).type, frame);
  else await stream.send(frame);
}

function failureFrame<T>(plan: StreamPlan<T>, message: string): string {
  if (!plan.typed) return `data: ${JSON.stringify(openaiError(500, message))}\n\n`;
  const frame = plan.typed.failure(message);
  return `event: ${frame.type}\ndata: ${JSON.stringify(frame)}\n\n`;
}

/**
 * Waits for the first event before answering, so a run that fails to start (unknown model, load
 * error) still gets a plain error response with its status; later failures end the stream with an
 * error frame.
 */
export async function streamEvents<T>(reply: FastifyReply, events: AsyncGenerator<T>, signal: AbortSignal, plan: StreamPlan<T>, logger: Logger): Promise<void> {
  let result = await events.next();
  const stream = new EventStream(reply, signal);
  const typed = plan.typed !== undefined;
  try {
    for (; !result.done; result = await events.next()) {
      for (const frame of plan.frames(result.value)) await sendFrame(stream, frame, typed);
    }
    for (const frame of plan.closing()) await sendFrame(stream, frame, typed);
    if (typed) stream.end();
    else await stream.done();
  } catch (error) {
    if (signal.aborted) return;
    logger.error({ err: error, url: reply.request.url }, 'streamed run failed');
    // OpenAI clients raise an error frame (no [DONE]) as an API error.
    stream.fail(failureFrame(plan, (error as Error).message || 'internal error'));
  } finally {
    await events.return(undefined);
  }
}
