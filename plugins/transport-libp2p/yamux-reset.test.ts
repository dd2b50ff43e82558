// The yamux reset fix: a reset that fails because the connection is closing resolves instead of
// rejecting unhandled, which would end the process.

import { YamuxStream } from '@chainsafe/libp2p-yamux/stream';
import t from 'tap';
import './yamux-reset.js';

t.test('a failing reset resolves', async (t) => {
  const closing = {
    streamId: 1,
    sendFrame() {
      throw new Error('Cannot write to a stream that is closing');
    },
  };
  const sendReset = (YamuxStream.prototype as unknown as { sendReset(this: unknown): Promise<void> }).sendReset;
  await t.resolves(sendReset.call(closing), 'no rejection escapes');
});
