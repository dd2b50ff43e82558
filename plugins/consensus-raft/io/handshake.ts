// The consensus transport's admission rules, without I/O: hellos carrying node and cluster ids,
// HMAC-SHA256 proofs of the cluster key over both sides' nonces, and the refusals and their words.
// The same scheme as the libp2p join handshake (transport-libp2p/join-protocol.ts), bound here to
// the claimed node ids since a plain TCP connection has no Noise-authenticated peer id.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ClusterMismatchError } from '../../../core/contracts/consensus.js';

export const RAFT_PROTOCOL = 'ollama-distributed/raft/1';
export const RAFT_PROTOCOL_VERSION = 1;
/** A handshake frame is a short JSON object; a larger one is a broken or hostile peer. */
export const MAX_HANDSHAKE_FRAME = 4096;

export interface Hello {
  type: 'hello';
  protocol: number;
  nodeId: string;
  clusterId: string | null;
  /** Where the sender listens for its peers: a member the leader dials answers it there. */
  address: string;
  /** 32 fresh random bytes, hex. */
  nonce: string;
  /** Whether the sender holds a cluster key; the key itself never travels. */
  keyed: boolean;
}

export type RefusalReason = 'protocol' | 'cluster-key' | 'no-key' | 'unexpected-key' | 'cluster-mismatch' | 'wrong-node' | 'malformed';

export type HandshakeMessage =
  | Hello
  | { type: 'proof'; proof: string }
  | { type: 'admit' }
  | { type: 'refuse'; reason: RefusalReason; nodeId: string; clusterId: string | null };

export type Role = 'initiator' | 'responder';

export interface Identity {
  nodeId: string;
  clusterId: string | undefined;
  address: string;
  clusterKey: Uint8Array | undefined;
}

export function makeHello(self: Identity): Hello {
  return { type: 'hello', protocol: RAFT_PROTOCOL_VERSION, nodeId: self.nodeId, clusterId: self.clusterId ?? null, address: self.address, nonce: randomBytes(32).toString('hex'), keyed: self.clusterKey !== undefined };
}

/** Why `self` refuses a peer from its hello alone; `expected` is the node id the dialer meant to reach. */
export function helloRefusal(self: Identity, theirs: Hello, expected?: string): RefusalReason | undefined {
  if (theirs.protocol !== RAFT_PROTOCOL_VERSION) return 'protocol';
  if (self.clusterKey !== undefined && !theirs.keyed) return 'no-key';
  if (self.clusterKey === undefined && theirs.keyed) return 'unexpected-key';
  if (theirs.nodeId === self.nodeId || (expected !== undefined && theirs.nodeId !== expected)) return 'wrong-node';
  return undefined;
}

/** Judged only after the proofs, so a peer without the key cannot raise a mismatch. */
export function clustersDiffer(self: Identity, theirs: Hello): boolean {
  return self.clusterId !== undefined && theirs.clusterId !== null && theirs.clusterId !== self.clusterId;
}

export interface Transcript {
  initiator: Hello;
  responder: Hello;
}

export function proof(key: Uint8Array | undefined, prover: Role, { initiator, responder }: Transcript): string {
  if (key === undefined) return '';
  const fields = [RAFT_PROTOCOL, prover, initiator.nodeId, responder.nodeId, initiator.clusterId, responder.clusterId, initiator.address, responder.address, initiator.nonce, responder.nonce];
  return createHmac('sha256', key).update(JSON.stringify(fields)).digest('hex');
}

export function proofHolds(key: Uint8Array | undefined, prover: Role, transcript: Transcript, given: string): boolean {
  if (key === undefined) return given === '';
  const expected = Buffer.from(proof(key, prover, transcript), 'hex');
  const actual = Buffer.from(given, 'hex');
  return actual.length === expected.length && timingSafeEqual(expected, actual);
}

/** Bytes of HMAC-SHA256 kept as each frame's tag once a keyed handshake is done. */
export const TAG_BYTES = 16;

/**
 * The key that tags every frame `sender` sends on this connection after the handshake, so that
 * nobody on the path without the cluster key can inject or alter a message. Undefined without a key.
 */
export function frameKey(key: Uint8Array | undefined, sender: Role, { initiator, responder }: Transcript): Buffer | undefined {
  if (key === undefined) return undefined;
  const fields = [RAFT_PROTOCOL, 'frames', sender, initiator.nodeId, responder.nodeId, initiator.nonce, responder.nonce];
  return createHmac('sha256', key).update(JSON.stringify(fields)).digest();
}

/** The tag of the frame numbered `seq` (from 0, per direction) carrying `payload`. */
export function frameTag(key: Buffer, seq: number, payload: Uint8Array): Buffer {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(seq));
  return createHmac('sha256', key).update(counter).update(payload).digest().subarray(0, TAG_BYTES);
}

export function tagHolds(key: Buffer, seq: number, payload: Uint8Array, tag: Uint8Array): boolean {
  return tag.length === TAG_BYTES && timingSafeEqual(frameTag(key, seq, payload), tag);
}

const HEX_NONCE = /^[0-9a-f]{64}$/;
const HEX_PROOF = /^([0-9a-f]{64})?$/;
const REASONS = new Set<RefusalReason>(['protocol', 'cluster-key', 'no-key', 'unexpected-key', 'cluster-mismatch', 'wrong-node', 'malformed']);
const isId = (value: unknown): value is string => typeof value === 'string' && value.length > 0 && value.length <= 256;
const isAddress = (value: unknown): value is string => typeof value === 'string' && value.length <= 1024 && /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(value);
const isClusterId = (value: unknown): value is string | null => value === null || isId(value);

/** One handshake frame, or undefined when it is not a message of this protocol. */
export function parseHandshake(bytes: Uint8Array): HandshakeMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const m = value as Record<string, unknown>;
  switch (m.type) {
    case 'hello':
      return Number.isSafeInteger(m.protocol) && isId(m.nodeId) && isClusterId(m.clusterId) && isAddress(m.address) && typeof m.nonce === 'string' && HEX_NONCE.test(m.nonce) && typeof m.keyed === 'boolean'
        ? { type: 'hello', protocol: m.protocol as number, nodeId: m.nodeId, clusterId: m.clusterId, address: m.address, nonce: m.nonce, keyed: m.keyed }
        : undefined;
    case 'proof':
      return typeof m.proof === 'string' && HEX_PROOF.test(m.proof) ? { type: 'proof', proof: m.proof } : undefined;
    case 'admit':
      return { type: 'admit' };
    case 'refuse':
      return typeof m.reason === 'string' && REASONS.has(m.reason as RefusalReason) && isId(m.nodeId) && isClusterId(m.clusterId)
        ? { type: 'refuse', reason: m.reason as RefusalReason, nodeId: m.nodeId, clusterId: m.clusterId }
        : undefined;
    default:
      return undefined;
  }
}

export function encodeHandshake(message: HandshakeMessage): Buffer {
  return Buffer.from(JSON.stringify(message), 'utf8');
}

/** What this side logs when it refuses `peer` (a node id once known, else its address). */
export function refusingMessage(peer: string, reason: RefusalReason | 'timeout' | 'closed', self: Identity, theirs?: Hello, expected?: string): string {
  switch (reason) {
    case 'protocol':
      return `consensus peer ${peer} refused: it speaks consensus protocol ${theirs?.protocol}, this node ${RAFT_PROTOCOL_VERSION}`;
    case 'cluster-key':
      return `consensus peer ${peer} refused: it holds a different cluster key`;
    case 'no-key':
      return `consensus peer ${peer} refused: it holds no cluster key and this cluster requires one (p2p.cluster_key)`;
    case 'unexpected-key':
      return `consensus peer ${peer} refused: it holds a cluster key and this node has none (an open cluster)`;
    case 'cluster-mismatch':
      return new ClusterMismatchError(self.clusterId ?? '', theirs?.clusterId ?? '').message.replace('consensus peer', `consensus peer ${peer}`);
    case 'wrong-node':
      return theirs?.nodeId === self.nodeId
        ? `consensus peer ${peer} refused: it is this node itself (${self.nodeId})`
        : `consensus peer ${peer} refused: it is node ${theirs?.nodeId}, not ${expected}, the node this one dialed there`;
    case 'malformed':
      return `consensus peer ${peer} refused: it broke the consensus handshake ${RAFT_PROTOCOL}`;
    case 'timeout':
      return `consensus peer ${peer} refused: it did not finish the consensus handshake in time`;
    case 'closed':
      return `consensus peer ${peer} refused: it closed the connection before the consensus handshake finished`;
  }
}

/** What this side logs when the peer at `address` refused it. */
export function refusedMessage(address: string, refusal: Extract<HandshakeMessage, { type: 'refuse' }>, self: Identity): string {
  const peer = `${refusal.nodeId} at ${address}`;
  switch (refusal.reason) {
    case 'cluster-mismatch':
      return new ClusterMismatchError(self.clusterId ?? '', refusal.clusterId ?? '').message.replace('consensus peer', `consensus peer ${peer}`);
    case 'cluster-key':
      return `refused by consensus peer ${peer}: this node's cluster key does not match the cluster's (p2p.cluster_key)`;
    case 'no-key':
      return `refused by consensus peer ${peer}: the cluster requires a cluster key and this node has none`;
    case 'unexpected-key':
      return `refused by consensus peer ${peer}: it runs an open cluster and this node holds a cluster key`;
    default:
      return `refused by consensus peer ${peer}: ${refusal.reason}`;
  }
}
