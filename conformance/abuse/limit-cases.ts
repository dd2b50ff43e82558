// Limits on what a node holds for others: connections that never finish their headers, and more
// requests than OLLAMA_MAX_QUEUE lets wait (503 with Ollama's own text).

import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AbuseRun } from './harness.js';
import { jsonOf, send } from './raw-http.js';

const SLOW_SOCKETS = 3_000;
const OPEN_BATCH = 200;
const OPEN_WITHIN_MS = 10_000;
const HOLD_MS = 1_500;
/** Half a request: the line and a header, never the blank line that ends them. */
const HALF_REQUEST = 'GET /api/version HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ';
export const BUSY = 'server busy, please try again.  maximum pending requests exceeded';
/** Requests beyond the queue and the slots: enough that some must be turned away at once. */
const OVERFLOW = 8;
/** Distinct ~3,000-token prompts: no request can reuse another's cache, so each holds its slot a while. */
const queuedPrompt = (i: number) => `${i} ${'ab'.repeat(1500)}`;

interface SlowSocket {
  socket: Socket;
  closedByServer: boolean;
}

function openSlow(url: URL): Promise<SlowSocket | undefined> {
  return new Promise((resolve) => {
    const socket = connect(Number(url.port), url.hostname);
    const slow: SlowSocket = { socket, closedByServer: false };
    socket.on('error', () => undefined);
    socket.once('close', () => {
      slow.closedByServer = true;
      resolve(undefined);
    });
    socket.once('connect', () => socket.write(HALF_REQUEST, () => resolve(slow)));
  });
}

export function limitCases(run: AbuseRun): void {
  run.attack(`${SLOW_SOCKETS} connections that never finish their headers`, { limitMs: 30_000 }, async (t, { url, signal }) => {
    const target = new URL(url);
    const sockets: SlowSocket[] = [];
    const until = Date.now() + OPEN_WITHIN_MS;
    try {
      while (sockets.length < SLOW_SOCKETS && Date.now() < until && !signal.aborted) {
        const batch = await Promise.all(Array.from({ length: Math.min(OPEN_BATCH, SLOW_SOCKETS - sockets.length) }, () => openSlow(target)));
        for (const slow of batch) if (slow) sockets.push(slow);
        if (batch.every((slow) => slow === undefined)) break;
      }
      t.comment(`${sockets.length} slow connections opened`);
      await sleep(HOLD_MS, undefined, { signal });
      t.equal((await send(url, '/api/version', { method: 'GET', signal })).status, 200, 'a new client still gets /api/version');
      const held = sockets.filter((slow) => !slow.closedByServer).length;
      t.ok(held < SLOW_SOCKETS, `open connections are capped: the node holds ${held} of the ${SLOW_SOCKETS} slow ones`);
    } finally {
      for (const { socket } of sockets) socket.destroy();
    }
  });

  run.attack('more requests than the queue holds get 503 with Ollama\'s text', { limitMs: 60_000 }, async (t, { url, target, signal }) => {
    const count = target.maxQueue + target.numParallel + OVERFLOW;
    const replies = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        send(url, '/api/generate', { body: { model: target.model, prompt: queuedPrompt(i), stream: false, options: { num_predict: 2 } }, signal }),
      ),
    );
    const statuses = replies.map((reply) => reply.status);
    const busy = replies.filter((reply) => reply.status === 503);
    t.comment(`${count} at once with OLLAMA_MAX_QUEUE ${target.maxQueue}, OLLAMA_NUM_PARALLEL ${target.numParallel}: ${statuses.join(' ')}`);
    t.ok(statuses.every((status) => status === 200 || status === 503), 'each is served (200) or turned away (503)');
    t.ok(busy.length > 0, 'some are turned away: the queue is bounded');
    t.ok(statuses.includes(200), 'and some are served');
    t.ok(busy.every((reply) => JSON.stringify(jsonOf(reply)) === JSON.stringify({ error: BUSY })), `every 503 is {"error": ${JSON.stringify(BUSY)}}`);
  });
}
