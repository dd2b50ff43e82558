// TCP between consensus members: one connection per direction and peer, admitted by a handshake
// that proves the cluster key and carries node and cluster ids, then length-prefixed codec frames.

import { createServer, connect, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, connect as connectTls } from 'node:tls';
import type { Logger } from 'pino';
import type { Message, NodeId } from '../core/types.js';
import { DEFAULT_LIMITS, decodeMessage, encodeMessage, type CodecLimits } from './codec.js';
import { frame, FrameReader, FrameTooLarge } from './frames.js';
import {
  clustersDiffer,
  encodeHandshake,
  frameKey,
  frameTag,
  helloRefusal,
  makeHello,
  MAX_HANDSHAKE_FRAME,
  parseHandshake,
  proof,
  proofHolds,
  refusedMessage,
  refusingMessage,
  type HandshakeMessage,
  type Hello,
  type Identity,
  type RefusalReason,
  type Role,
  tagHolds,
  TAG_BYTES,
  type Transcript,
} from './handshake.js';

export interface RaftTransportOptions {
  nodeId: NodeId;
  /** consensus.bind_addr: host:port, port 0 for any free one. */
  bindAddr: string;
  /** The address peers should dial, sent in the handshake; the bound address when absent. */
  advertise?: () => string;
  /** Undefined: an open cluster; the handshake still exchanges node and cluster ids. */
  clusterKey?: Uint8Array;
  /**
   * Mutual TLS: each side shows its certificate and accepts only one the cluster CA signed. Node ids
   * are still proven by the handshake, so a peer's certificate need not name its address.
   */
  tls?: MemberTls;
  /** Read at every handshake: undefined until this member has joined a cluster. */
  clusterId: () => string | undefined;
  logger: Logger;
  /** Largest frame sent or accepted; a snapshot travels in one. */
  maxFrameBytes?: number;
  dialTimeoutMs?: number;
  handshakeTimeoutMs?: number;
  /** Messages waiting per peer; when full the oldest are dropped (Raft resends what matters). */
  maxQueuedMessages?: number;
  maxQueuedBytes?: number;
  /** Reconnect delays double from the first to the last, with jitter. */
  backoff?: { firstMs: number; maxMs: number };
}

export interface MemberTls {
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
}

export interface PeerAddress {
  id: NodeId;
  address: string;
}

export interface MismatchedPeer {
  id: NodeId;
  clusterId: string;
  address: string;
}

/** Who sent a message, as its connection's handshake proved: a joining member adopts the cluster id. */
export interface Sender {
  id: NodeId;
  clusterId: string | null;
  /** Where it listens, as it says in its handshake. */
  address: string;
}

export type MessageHandler = (message: Message, sender: Sender) => void;

export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024;
/** Handshakes in progress on inbound connections; more are hung up on before reading a byte. */
const MAX_PENDING_HANDSHAKES = 64;

type Outcome = { admitted: true; hello: Hello; transcript: Transcript } | { admitted: false };

/** A socket read as frames. During the handshake it reads one frame per wait and pauses between. */
class Wire {
  private readonly reader: FrameReader;
  private waiting: ((frame: Buffer | undefined) => void) | undefined;
  private onFrame: ((frame: Buffer) => void) | undefined;
  private closed = false;
  private sendKey: Buffer | undefined;
  private sent = 0;

  constructor(
    readonly socket: Socket,
    private readonly onOversize: (error: FrameTooLarge) => void,
  ) {
    this.reader = new FrameReader(MAX_HANDSHAKE_FRAME);
    socket.on('data', (chunk: Buffer) => {
      this.reader.push(chunk);
      this.drain();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.settle(undefined);
    });
  }

  next(): Promise<Buffer | undefined> {
    if (this.closed) return Promise.resolve(undefined);
    const next = new Promise<Buffer | undefined>((resolve) => (this.waiting = resolve));
    this.socket.resume();
    this.drain();
    return next;
  }

  /**
   * After the handshake: every frame's payload, in order, up to `limit` bytes each. With keys,
   * each frame sent carries a tag under `keys.send` and each received must hold one under
   * `keys.receive`; `onForged` hears of one that does not, and the connection is dropped.
   */
  stream(limit: number, keys: { send?: Buffer; receive?: Buffer }, onFrame: (payload: Buffer) => void, onForged: () => void): void {
    this.sendKey = keys.send;
    const receiveKey = keys.receive;
    this.reader.limit = limit + (receiveKey ? TAG_BYTES : 0);
    let received = 0;
    this.onFrame = receiveKey
      ? (bytes) => {
          const payload = bytes.subarray(0, bytes.length - TAG_BYTES);
          if (bytes.length < TAG_BYTES || !tagHolds(receiveKey, received++, payload, bytes.subarray(bytes.length - TAG_BYTES))) {
            onForged();
            this.socket.destroy();
            return;
          }
          onFrame(payload);
        }
      : onFrame;
    this.socket.resume();
    this.drain();
  }

  send(payload: Uint8Array): boolean {
    if (!this.sendKey) return this.socket.write(frame(payload));
    return this.socket.write(frame(payload, frameTag(this.sendKey, this.sent++, payload)));
  }

  private settle(frame: Buffer | undefined): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.(frame);
  }

  private drain(): void {
    try {
      while (!this.socket.destroyed && (this.onFrame || this.waiting)) {
        const next = this.reader.next();
        if (next === undefined) break;
        if (this.onFrame) this.onFrame(next);
        else this.settle(next);
      }
    } catch (error) {
      if (!(error instanceof FrameTooLarge)) throw error;
      this.onOversize(error);
      this.socket.destroy();
      return;
    }
    if (!this.onFrame && !this.waiting) this.socket.pause();
  }
}

interface Link {
  id: NodeId;
  address: string;
  queue: Uint8Array[];
  queuedBytes: number;
  state: 'idle' | 'dialing' | 'open' | 'waiting';
  wire?: Wire;
  /** Waiting for the socket to drain before writing more. */
  blocked: boolean;
  /** Failed dials since the last admitted connection. */
  failures: number;
  retry?: NodeJS.Timeout;
  dropped: number;
}

function parseHostPort(value: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value.trim());
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port > 65535) return undefined;
  return { host: match[1] ?? match[2]!, port };
}

export class RaftTransport {
  private readonly maxFrameBytes: number;
  private readonly limits: CodecLimits;
  private readonly links = new Map<NodeId, Link>();
  private readonly sockets = new Set<Socket>();
  private readonly messageHandlers = new Set<MessageHandler>();
  private readonly downHandlers = new Set<(id: NodeId) => void>();
  private readonly mismatchHandlers = new Set<(peer: MismatchedPeer) => void>();
  private server: Server | undefined;
  private running = false;
  private pendingHandshakes = 0;

  constructor(private readonly options: RaftTransportOptions) {
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.limits = { ...DEFAULT_LIMITS, maxBytes: this.maxFrameBytes };
  }

  async start(signal?: AbortSignal): Promise<void> {
    if (this.running) return;
    signal?.throwIfAborted();
    const { bindAddr, logger } = this.options;
    const bind = parseHostPort(bindAddr);
    if (!bind) throw new Error(`consensus.bind_addr ${bindAddr} is not host:port`);
    const { tls } = this.options;
    let server: Server;
    if (tls) {
      const secure = createTlsServer({ ...tls, requestCert: true, rejectUnauthorized: true, handshakeTimeout: this.options.handshakeTimeoutMs ?? 5000 }, (socket) => this.accept(socket));
      secure.on('tlsClientError', (error, socket) => {
        logger.debug({ address: socket.remoteAddress, err: error }, 'consensus TLS handshake refused');
        socket.destroy();
      });
      server = secure;
    } else {
      server = createServer({ pauseOnConnect: false }, (socket) => this.accept(socket));
    }
    await new Promise<void>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException) => {
        const why = error.code === 'EADDRINUSE' ? 'the address is already in use' : error.code === 'EADDRNOTAVAIL' ? 'the address is not on this machine' : error.message;
        reject(new Error(`consensus.bind_addr ${bindAddr}: cannot listen on ${bind.host}:${bind.port}: ${why}`, { cause: error }));
      };
      server.once('error', onError);
      server.listen(bind.port, bind.host, () => {
        server.off('error', onError);
        resolve();
      });
    });
    server.on('error', (error) => logger.error({ err: error }, 'consensus transport listener failed'));
    this.server = server;
    this.running = true;
    if (signal?.aborted) {
      await this.stop();
      signal.throwIfAborted();
    }
    logger.info({ address: this.address() }, 'consensus transport listening');
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    const server = this.server!;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const link of this.links.values()) clearTimeout(link.retry);
    this.links.clear();
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    await closed;
  }

  /** The address actually bound, host:port. */
  address(): string {
    const bound = this.server?.address();
    if (!bound || typeof bound === 'string') throw new Error('the consensus transport is not started');
    return bound.family === 'IPv6' ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`;
  }

  /**
   * Queues `message` for `to` and returns at once. The queue per peer is bounded by message count
   * and bytes; when full the oldest waiting messages are dropped. Throws a CodecError for a
   * message that cannot be encoded; one larger than the frame limit is dropped with a warning.
   */
  send(to: PeerAddress, message: Message): void {
    if (!this.running || to.id === this.options.nodeId) return;
    const payload = encodeMessage(message, { ...this.limits, maxBytes: Number.MAX_SAFE_INTEGER });
    if (payload.length > this.maxFrameBytes) {
      this.options.logger.warn({ peer: to.id, type: message.type, bytes: payload.length, limit: this.maxFrameBytes }, `consensus ${message.type} message to ${to.id} is larger than the frame limit; dropped`);
      return;
    }
    const link = this.link(to);
    link.queue.push(payload);
    link.queuedBytes += payload.length;
    const maxMessages = this.options.maxQueuedMessages ?? 1024;
    const maxBytes = this.options.maxQueuedBytes ?? 2 * this.maxFrameBytes;
    while (link.queue.length > maxMessages || (link.queuedBytes > maxBytes && link.queue.length > 1)) {
      link.queuedBytes -= link.queue.shift()!.length;
      if (link.dropped++ % 1000 === 0) this.options.logger.debug({ peer: link.id, dropped: link.dropped }, 'consensus send queue full; dropping the oldest messages');
    }
    this.pump(link);
  }

  onMessage(handler: MessageHandler): () => void {
    this.messageHandlers.add(handler);
    return () => this.messageHandlers.delete(handler);
  }

  /** A connection to or from the peer closed, or a dial to it failed after it had been reachable. */
  onPeerDown(handler: (id: NodeId) => void): () => void {
    this.downHandlers.add(handler);
    return () => this.downHandlers.delete(handler);
  }

  /** A peer that belongs to another cluster was refused. */
  onMismatch(handler: (peer: MismatchedPeer) => void): () => void {
    this.mismatchHandlers.add(handler);
    return () => this.mismatchHandlers.delete(handler);
  }

  private link(to: PeerAddress): Link {
    let link = this.links.get(to.id);
    if (!link) {
      link = { id: to.id, address: to.address, queue: [], queuedBytes: 0, state: 'idle', blocked: false, failures: 0, dropped: 0 };
      this.links.set(to.id, link);
    }
    link.address = to.address;
    return link;
  }

  private pump(link: Link): void {
    if (!this.running || this.links.get(link.id) !== link) return;
    if (link.state === 'idle' && link.queue.length > 0) {
      this.dial(link).catch((error: Error) => {
        this.options.logger.error({ peer: link.id, err: error }, 'consensus dial failed unexpectedly');
        link.wire?.socket.destroy();
        this.dialFailed(link);
      });
      return;
    }
    if (link.state !== 'open' || !link.wire) return;
    const wire = link.wire;
    while (link.queue.length > 0 && !link.blocked) {
      const payload = link.queue.shift()!;
      link.queuedBytes -= payload.length;
      if (!wire.send(payload)) {
        link.blocked = true;
        wire.socket.once('drain', () => {
          link.blocked = false;
          this.pump(link);
        });
      }
    }
  }

  private async dial(link: Link): Promise<void> {
    link.state = 'dialing';
    const target = parseHostPort(link.address);
    const { logger } = this.options;
    if (!target) {
      logger.warn({ peer: link.id, address: link.address }, `consensus peer ${link.id} has no host:port address (${link.address})`);
      this.dialFailed(link);
      return;
    }
    const { tls } = this.options;
    const socket = tls
      ? connectTls({ host: target.host, port: target.port, ...tls, checkServerIdentity: () => undefined }).setNoDelay(true)
      : connect({ host: target.host, port: target.port, noDelay: true });
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    const wire = new Wire(socket, (error) => this.oversize(link.id, error));
    const dialTimer = setTimeout(() => socket.destroy(), this.options.dialTimeoutMs ?? 5000);
    const connected = await new Promise<boolean>((resolve) => {
      socket.once(tls ? 'secureConnect' : 'connect', () => resolve(true));
      socket.once('close', () => resolve(false));
    });
    clearTimeout(dialTimer);
    if (!connected || !this.running) {
      socket.destroy();
      if (this.running) logger.debug({ peer: link.id, address: link.address }, 'consensus dial failed');
      this.dialFailed(link);
      return;
    }
    const outcome = await this.handshake(wire, 'initiator', link.address, link.id);
    if (!outcome.admitted || socket.destroyed || !this.running) {
      socket.destroy();
      this.dialFailed(link);
      return;
    }
    link.state = 'open';
    link.wire = wire;
    link.failures = 0;
    link.blocked = false;
    // The responder sends nothing after its proof; anything it does send is read and ignored.
    wire.stream(MAX_HANDSHAKE_FRAME, { send: frameKey(this.options.clusterKey, 'initiator', outcome.transcript) }, () => undefined, () => undefined);
    socket.once('close', () => {
      if (link.wire !== wire) return;
      link.wire = undefined;
      link.state = 'idle';
      link.blocked = false;
      this.peerDown(link.id);
      if (link.queue.length > 0) this.retryLater(link);
    });
    this.pump(link);
  }

  private dialFailed(link: Link): void {
    link.state = 'idle';
    if (link.failures++ === 0) this.peerDown(link.id);
    this.retryLater(link);
  }

  private retryLater(link: Link): void {
    if (!this.running || this.links.get(link.id) !== link) return;
    const { firstMs, maxMs } = this.options.backoff ?? { firstMs: 50, maxMs: 2000 };
    const delay = Math.min(maxMs, firstMs * 2 ** Math.min(link.failures, 20)) * (0.5 + Math.random() / 2);
    link.state = 'waiting';
    link.retry = setTimeout(() => {
      link.retry = undefined;
      link.state = 'idle';
      this.pump(link);
    }, delay);
  }

  private accept(socket: Socket): void {
    if (!this.running || this.pendingHandshakes >= MAX_PENDING_HANDSHAKES) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.setNoDelay(true);
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    let peer = remote;
    socket.on('close', () => this.sockets.delete(socket));
    const wire = new Wire(socket, (error) => this.oversize(peer, error));
    this.pendingHandshakes++;
    void this.handshake(wire, 'responder', remote)
      .finally(() => this.pendingHandshakes--)
      .then((outcome) => {
        if (!outcome.admitted || socket.destroyed || !this.running) {
          socket.destroy();
          return;
        }
        const id = outcome.hello.nodeId;
        peer = id;
        socket.once('close', () => this.peerDown(id));
        const receive = frameKey(this.options.clusterKey, 'initiator', outcome.transcript);
        wire.stream(this.maxFrameBytes, receive ? { receive } : {}, (bytes) => this.receive(bytes, { id, clusterId: outcome.hello.clusterId, address: outcome.hello.address }, socket), () =>
          this.options.logger.warn({ peer: id }, `consensus peer ${id} sent a frame that fails its integrity check (altered or injected on the way); dropping the connection`),
        );
      })
      .catch((error: Error) => {
        this.options.logger.error({ address: remote, err: error }, 'consensus handshake failed unexpectedly');
        socket.destroy();
      });
  }

  private receive(bytes: Buffer, sender: Sender, socket: Socket): void {
    const { logger, nodeId } = this.options;
    const peer = sender.id;
    let message: Message;
    try {
      message = decodeMessage(bytes, this.limits);
    } catch (error) {
      logger.warn({ peer, err: error }, `consensus peer ${peer} sent a message this node cannot read; dropping the connection`);
      socket.destroy();
      return;
    }
    if (message.from !== peer || message.to !== nodeId) {
      logger.warn({ peer, from: message.from, to: message.to }, `consensus peer ${peer} sent a message from ${message.from} to ${message.to}; dropped`);
      return;
    }
    for (const handler of this.messageHandlers) {
      try {
        handler(message, sender);
      } catch (error) {
        logger.error({ peer, err: error }, 'a consensus message handler threw');
      }
    }
  }

  private oversize(peer: string, error: FrameTooLarge): void {
    this.options.logger.warn({ peer, declared: error.declared, limit: error.limit }, `consensus peer ${peer} sent a frame of ${error.declared} bytes, more than the limit of ${error.limit}; dropping the connection`);
  }

  private peerDown(id: NodeId): void {
    if (!this.running) return;
    for (const handler of this.downHandlers) handler(id);
  }

  private mismatch(peer: MismatchedPeer): void {
    for (const handler of this.mismatchHandlers) handler(peer);
  }

  /** One side of the handshake; refusals are logged here (an error for another cluster, else a warning). */
  private async handshake(wire: Wire, role: Role, address: string, expected?: NodeId): Promise<Outcome> {
    const { logger, nodeId, clusterKey } = this.options;
    const self: Identity = { nodeId, clusterId: this.options.clusterId(), address: this.options.advertise?.() ?? this.address(), clusterKey };
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      wire.socket.destroy();
    }, this.options.handshakeTimeoutMs ?? 5000);
    let theirs: Hello | undefined;

    class Refused extends Error {}
    const refuse = (reason: RefusalReason): never => {
      wire.send(encodeHandshake({ type: 'refuse', reason, nodeId, clusterId: self.clusterId ?? null }));
      wire.socket.end();
      const who = theirs ? `${theirs.nodeId} at ${address}` : expected ? `${expected} at ${address}` : address;
      const message = refusingMessage(who, reason, self, theirs, expected);
      if (reason === 'cluster-mismatch') {
        logger.error({ peer: theirs?.nodeId, address, ours: self.clusterId, theirs: theirs?.clusterId }, message);
        this.mismatch({ id: theirs!.nodeId, clusterId: theirs!.clusterId!, address });
      } else logger.warn({ peer: theirs?.nodeId, address, reason }, message);
      throw new Refused(message);
    };
    const receive = async <T extends HandshakeMessage['type']>(type: T): Promise<Extract<HandshakeMessage, { type: T }>> => {
      const bytes = await wire.next();
      if (bytes === undefined) {
        logger.warn({ address }, refusingMessage(expected ? `${expected} at ${address}` : address, timedOut ? 'timeout' : 'closed', self));
        throw new Refused('closed');
      }
      const message = parseHandshake(bytes);
      if (message?.type === 'refuse') {
        const text = refusedMessage(address, message, self);
        if (message.reason === 'cluster-mismatch' && message.clusterId !== null) {
          logger.error({ peer: message.nodeId, address, ours: self.clusterId, theirs: message.clusterId }, text);
          this.mismatch({ id: message.nodeId, clusterId: message.clusterId, address });
        } else logger.warn({ peer: message.nodeId, address, reason: message.reason }, text);
        wire.socket.destroy();
        throw new Refused(text);
      }
      if (message?.type !== type) return refuse('malformed');
      return message as Extract<HandshakeMessage, { type: T }>;
    };

    try {
      const mine = makeHello(self);
      if (role === 'initiator') {
        wire.send(encodeHandshake(mine));
        theirs = await receive('hello');
        const reason = helloRefusal(self, theirs, expected);
        if (reason) refuse(reason);
        const transcript = { initiator: mine, responder: theirs };
        wire.send(encodeHandshake({ type: 'proof', proof: proof(clusterKey, 'initiator', transcript) }));
        const theirProof = await receive('proof');
        if (!proofHolds(clusterKey, 'responder', transcript, theirProof.proof)) refuse('cluster-key');
        if (clustersDiffer(self, theirs)) refuse('cluster-mismatch');
        wire.send(encodeHandshake({ type: 'admit' }));
      } else {
        theirs = await receive('hello');
        const reason = helloRefusal(self, theirs);
        if (reason) refuse(reason);
        wire.send(encodeHandshake(mine));
        const transcript = { initiator: theirs, responder: mine };
        const theirProof = await receive('proof');
        if (!proofHolds(clusterKey, 'initiator', transcript, theirProof.proof)) refuse('cluster-key');
        if (clustersDiffer(self, theirs)) refuse('cluster-mismatch');
        wire.send(encodeHandshake({ type: 'proof', proof: proof(clusterKey, 'responder', transcript) }));
        await receive('admit');
      }
      return { admitted: true, hello: theirs, transcript: role === 'initiator' ? { initiator: mine, responder: theirs } : { initiator: theirs, responder: mine } };
    } catch (error) {
      if (error instanceof Refused) return { admitted: false };
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }
}
