// Yamux sends a stream's reset from an async method and the stream's abort() calls it without
// awaiting: aborting a stream while its connection closes rejects unhandled and kills the process.

import { YamuxStream } from '@chainsafe/libp2p-yamux/stream';

type Resettable = { sendReset(...args: unknown[]): Promise<void> | void };

const stream = YamuxStream.prototype as unknown as Resettable;
const sendReset = stream.sendReset;

/** A reset that cannot reach the peer changes nothing: the connection it would travel on is going. */
stream.sendReset = function (this: Resettable, ...args: unknown[]) {
  return Promise.resolve()
    .then(() => sendReset.apply(this, args))
    .catch(() => undefined);
};
