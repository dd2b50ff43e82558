// Which connected peers are cluster members: every new connection runs the join handshake (the
// dialer initiates), and only a peer that passed is admitted; one that failed is hung up.

import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface';
import type { Identify } from '@libp2p/identify';
import type { Logger } from 'pino';
import type { PeerInfo } from '../../core/contracts/transport.js';
import { runJoin, type JoinOutcome } from './join-handshake.js';
import { JOIN_PROTOCOL, JOIN_TIMEOUT_MS, refusingMessage, type JoinIdentity } from './join-protocol.js';
import { peerStream } from './stream.js';

export interface AdmissionHooks {
  admitted(peerId: string): void;
  left(peerId: string): void;
}

/** The peer was connected but not admitted; the message says why. */
export class JoinRefused extends Error {
  override readonly name = 'JoinRefused';
}

interface Join {
  outcome: Promise<JoinOutcome>;
  /** Hands the responder its inbound join stream. */
  accept(stream: Stream): void;
}

export class Admission {
  private readonly members = new Map<string, PeerInfo>();
  private readonly joins = new WeakMap<Connection, Join>();
  private readonly deadlines = new Set<AbortController>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;

  constructor(
    private readonly libp2p: Libp2p<{ identify: Identify }>,
    private readonly self: JoinIdentity,
    private readonly logger: Logger,
    private readonly hooks: AdmissionHooks,
  ) {}

  async start(): Promise<void> {
    this.libp2p.addEventListener('connection:open', this.onConnectionOpen);
    this.libp2p.addEventListener('peer:disconnect', this.onPeerDisconnect);
    await this.libp2p.handle(JOIN_PROTOCOL, (stream, connection) => this.join(connection).accept(stream), { maxInboundStreams: 2, maxOutboundStreams: 2 });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.libp2p.removeEventListener('connection:open', this.onConnectionOpen);
    this.libp2p.removeEventListener('peer:disconnect', this.onPeerDisconnect);
    for (const deadline of this.deadlines) deadline.abort();
    for (const timer of this.timers) clearTimeout(timer);
    this.deadlines.clear();
    this.timers.clear();
    this.members.clear();
  }

  isMember(peerId: string): boolean {
    return this.members.has(peerId);
  }

  list(): PeerInfo[] {
    return [...this.members.values()].map((info) => ({ peerId: info.peerId, addresses: [...info.addresses] }));
  }

  /** Resolves once the connection's peer is admitted; rejects with the refusal's words. */
  async admission(connection: Connection): Promise<void> {
    if (this.members.has(connection.remotePeer.toString())) return;
    const outcome = await this.join(connection).outcome;
    if (!outcome.admitted) throw new JoinRefused(outcome.message);
  }

  private readonly onConnectionOpen = (event: CustomEvent<Connection>) => {
    const connection = event.detail;
    if (this.members.has(connection.remotePeer.toString())) return;
    this.join(connection);
  };

  private readonly onPeerDisconnect = (event: CustomEvent<PeerId>) => {
    const peerId = event.detail.toString();
    if (this.members.delete(peerId)) this.hooks.left(peerId);
  };

  /** The connection's one handshake, begun on first sight from either the open event or the join stream. */
  private join(connection: Connection): Join {
    const existing = this.joins.get(connection);
    if (existing) return existing;
    let accept: (stream: Stream) => void = (stream) => stream.abort(new Error('one cluster join handshake per connection'));
    const streamArrived = new Promise<Stream>((resolve) => (accept = resolve));
    const deadline = new AbortController();
    this.deadlines.add(deadline);
    const timer = setTimeout(() => deadline.abort(), Math.max(0, connection.timeline.open + JOIN_TIMEOUT_MS - Date.now()));
    this.timers.add(timer);
    const outcome = this.handshake(connection, streamArrived, deadline.signal).finally(() => {
      clearTimeout(timer);
      this.timers.delete(timer);
      this.deadlines.delete(deadline);
    });
    const join: Join = {
      outcome,
      accept: (stream) => {
        accept(stream);
        accept = (extra) => extra.abort(new Error('one cluster join handshake per connection'));
      },
    };
    this.joins.set(connection, join);
    void outcome.then((result) => this.settle(connection, result));
    return join;
  }

  private async handshake(connection: Connection, streamArrived: Promise<Stream>, signal: AbortSignal): Promise<JoinOutcome> {
    const peerId = connection.remotePeer.toString();
    let stream: Stream;
    if (connection.direction === 'outbound') {
      try {
        stream = await connection.newStream(JOIN_PROTOCOL, { signal });
      } catch (error) {
        const reason = signal.aborted ? 'timeout' : (error as Error).name === 'UnsupportedProtocolError' ? 'unsupported' : 'closed';
        return { admitted: false, side: 'refusing', message: refusingMessage(peerId, reason, this.self) };
      }
    } else {
      const aborted = new Promise<undefined>((resolve) => signal.addEventListener('abort', () => resolve(undefined), { once: true }));
      const arrived = await Promise.race([streamArrived, aborted]);
      if (!arrived) return { admitted: false, side: 'refusing', message: refusingMessage(peerId, 'timeout', this.self) };
      stream = arrived;
    }
    return runJoin(peerStream(stream, peerId), connection.direction === 'outbound' ? 'initiator' : 'responder', this.self, peerId, signal);
  }

  private settle(connection: Connection, outcome: JoinOutcome): void {
    if (this.stopped) return;
    const peerId = connection.remotePeer.toString();
    if (outcome.admitted) {
      if (connection.status !== 'open' || this.members.has(peerId)) return;
      this.members.set(peerId, { peerId, addresses: connection.direction === 'outbound' ? [connection.remoteAddr.toString()] : [] });
      this.logger.info({ peer: peerId }, 'peer admitted into the cluster');
      this.hooks.admitted(peerId);
      void this.identify(connection);
      return;
    }
    if (this.members.has(peerId)) {
      void connection.close().catch(() => connection.abort(new Error('closing a duplicate connection')));
      return;
    }
    if (outcome.side === 'refusing') this.logger.warn({ peer: peerId }, outcome.message);
    else this.logger.error({ peer: peerId }, outcome.message);
    void this.libp2p.hangUp(connection.remotePeer).catch((error: Error) => this.logger.debug({ peer: peerId, err: error }, 'hang-up after refusal failed'));
  }

  /** Identify runs only after admission, so gossipsub and the DHT never take in a peer that is not a member. */
  private async identify(connection: Connection): Promise<void> {
    const peerId = connection.remotePeer.toString();
    try {
      const result = await this.libp2p.services.identify.identify(connection, { signal: AbortSignal.timeout(JOIN_TIMEOUT_MS) });
      const member = this.members.get(peerId);
      if (member && result.listenAddrs.length > 0) member.addresses = result.listenAddrs.map((address) => address.toString());
    } catch (error) {
      if (connection.status === 'open') this.logger.warn({ peer: peerId, err: error }, 'identify failed after admission');
    }
  }
}
