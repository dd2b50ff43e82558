// Runs one side of the cluster join handshake over a stream: hellos, then proofs of the cluster
// key both ways, then the initiator's admit. Either side may refuse with a reason instead.

import type { PeerStream } from '../../core/contracts/transport.js';
import {
  helloRefusal,
  joinProof,
  makeHello,
  parseJoinMessage,
  proofHolds,
  refusedMessage,
  refusingMessage,
  type Hello,
  type JoinIdentity,
  type JoinMessage,
  type RefusalReason,
  type Role,
} from './join-protocol.js';

/** `refusing`: this side refused the peer; `refused`: the peer refused this side. */
export type JoinOutcome = { admitted: true } | { admitted: false; side: 'refusing' | 'refused'; message: string };

/** A join message is a short JSON line; a longer one is a broken or hostile peer. */
const MAX_LINE_BYTES = 4096;

class LineReader {
  private readonly chunks: AsyncIterator<Uint8Array>;
  private buffered = Buffer.alloc(0);

  constructor(stream: PeerStream) {
    this.chunks = stream[Symbol.asyncIterator]();
  }

  /** The next line, or undefined when the stream ended first or the line is too long. */
  async next(): Promise<string | undefined> {
    for (;;) {
      const end = this.buffered.indexOf(0x0a);
      if (end >= 0) {
        const line = this.buffered.subarray(0, end).toString('utf8');
        this.buffered = this.buffered.subarray(end + 1);
        return line;
      }
      if (this.buffered.length > MAX_LINE_BYTES) return undefined;
      const chunk = await this.chunks.next();
      if (chunk.done) return undefined;
      this.buffered = Buffer.concat([this.buffered, chunk.value]);
    }
  }
}

class Refused extends Error {
  constructor(readonly outcome: Extract<JoinOutcome, { admitted: false }>) {
    super(outcome.message);
  }
}

/** One handshake; `peerId` is the remote's id from the Noise handshake, not from its words. */
export async function runJoin(stream: PeerStream, role: Role, self: JoinIdentity, peerId: string, signal: AbortSignal): Promise<JoinOutcome> {
  const lines = new LineReader(stream);
  const onAbort = () => stream.abort(new Error(`the cluster join handshake with ${peerId} timed out`));
  signal.addEventListener('abort', onAbort, { once: true });
  let theirProtocol: number | undefined;

  const send = (message: JoinMessage) => stream.write(Buffer.from(`${JSON.stringify(message)}\n`), signal);
  const refuse = async (reason: RefusalReason): Promise<never> => {
    await send({ type: 'refuse', reason, protocol: self.protocol }).catch(() => undefined);
    await stream.closeWrite().catch(() => undefined);
    throw new Refused({ admitted: false, side: 'refusing', message: refusingMessage(peerId, reason, self, theirProtocol) });
  };
  const receive = async <T extends JoinMessage['type']>(type: T): Promise<Extract<JoinMessage, { type: T }>> => {
    const line = await lines.next().catch(() => undefined);
    if (signal.aborted) throw new Refused({ admitted: false, side: 'refusing', message: refusingMessage(peerId, 'timeout', self) });
    if (line === undefined) throw new Refused({ admitted: false, side: 'refusing', message: refusingMessage(peerId, 'closed', self) });
    const message = parseJoinMessage(line);
    if (message?.type === 'refuse') throw new Refused({ admitted: false, side: 'refused', message: refusedMessage(peerId, message, self) });
    if (message?.type !== type) return refuse('malformed');
    return message as Extract<JoinMessage, { type: T }>;
  };
  const checkHello = async (theirs: Hello) => {
    theirProtocol = theirs.protocol;
    const reason = helloRefusal(self, theirs);
    if (reason) await refuse(reason);
  };

  try {
    const mine = makeHello(self);
    if (role === 'initiator') {
      await send(mine);
      const theirs = await receive('hello');
      await checkHello(theirs);
      const transcript = { initiatorId: self.peerId, responderId: peerId, initiator: mine, responder: theirs };
      await send({ type: 'proof', proof: joinProof(self.clusterKey, 'initiator', transcript) });
      const proof = await receive('proof');
      if (!proofHolds(self.clusterKey, 'responder', transcript, proof.proof)) await refuse('cluster-key');
      await send({ type: 'admit' });
    } else {
      const theirs = await receive('hello');
      await checkHello(theirs);
      await send(mine);
      const transcript = { initiatorId: peerId, responderId: self.peerId, initiator: theirs, responder: mine };
      const proof = await receive('proof');
      if (!proofHolds(self.clusterKey, 'initiator', transcript, proof.proof)) await refuse('cluster-key');
      await send({ type: 'proof', proof: joinProof(self.clusterKey, 'responder', transcript) });
      await receive('admit');
    }
    await stream.closeWrite().catch(() => undefined);
    return { admitted: true };
  } catch (error) {
    if (error instanceof Refused) return error.outcome;
    if (signal.aborted) return { admitted: false, side: 'refusing', message: refusingMessage(peerId, 'timeout', self) };
    return { admitted: false, side: 'refusing', message: refusingMessage(peerId, 'closed', self) };
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
