// The cluster join handshake's rules, without I/O: the messages, the HMAC proofs that show a peer
// holds the cluster key, and what each side logs when a peer is refused.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const JOIN_PROTOCOL = '/ollama-distributed/join/1.0.0';

/** Both sides must finish the handshake in this time, or the peer is refused. */
export const JOIN_TIMEOUT_MS = 5000;

export interface Hello {
  type: 'hello';
  /** CLUSTER_PROTOCOL_VERSION of the sender. */
  protocol: number;
  /** The sender's product version, for the logs and the proofs. */
  version: string;
  /** 32 fresh random bytes, hex. */
  nonce: string;
  /** Whether the sender holds a cluster key; the key itself never travels. */
  keyed: boolean;
}

export interface Proof {
  type: 'proof';
  /** HMAC-SHA256 of the transcript under the cluster key, hex; empty without a key. */
  proof: string;
}

export type RefusalReason = 'protocol' | 'cluster-key' | 'no-key' | 'unexpected-key' | 'malformed';

export interface Refusal {
  type: 'refuse';
  reason: RefusalReason;
  /** The refusing side's cluster protocol, so the refused side can say which to upgrade. */
  protocol: number;
}

export interface Admit {
  type: 'admit';
}

export type JoinMessage = Hello | Proof | Refusal | Admit;

export type Role = 'initiator' | 'responder';

/** What a side knows of itself for the handshake. */
export interface JoinIdentity {
  peerId: string;
  protocol: number;
  version: string;
  clusterKey: Uint8Array | undefined;
}

export function makeHello(self: JoinIdentity): Hello {
  return { type: 'hello', protocol: self.protocol, version: self.version, nonce: randomBytes(32).toString('hex'), keyed: self.clusterKey !== undefined };
}

/** Why `self` refuses a peer whose hello is `theirs`, before any proof; undefined when it may go on. */
export function helloRefusal(self: JoinIdentity, theirs: Hello): RefusalReason | undefined {
  if (theirs.protocol !== self.protocol) return 'protocol';
  if (self.clusterKey !== undefined && !theirs.keyed) return 'no-key';
  if (self.clusterKey === undefined && theirs.keyed) return 'unexpected-key';
  return undefined;
}

/** Both hellos and both Noise-authenticated peer ids, so a proof fits only this one connection. */
export interface Transcript {
  initiatorId: string;
  responderId: string;
  initiator: Hello;
  responder: Hello;
}

export function joinProof(key: Uint8Array | undefined, prover: Role, transcript: Transcript): string {
  if (key === undefined) return '';
  const { initiator, responder } = transcript;
  const fields = [
    JOIN_PROTOCOL,
    prover,
    transcript.initiatorId,
    transcript.responderId,
    initiator.nonce,
    responder.nonce,
    String(initiator.protocol),
    String(responder.protocol),
    initiator.version,
    responder.version,
  ];
  return createHmac('sha256', key).update(fields.join('\n')).digest('hex');
}

export function proofHolds(key: Uint8Array | undefined, prover: Role, transcript: Transcript, proof: string): boolean {
  const expected = Buffer.from(joinProof(key, prover, transcript), 'hex');
  const given = Buffer.from(proof, 'hex');
  return expected.length === given.length && (expected.length === 0 ? proof === '' : timingSafeEqual(expected, given));
}

const HEX_NONCE = /^[0-9a-f]{64}$/;

/** Parses one message line; undefined when it is not a message of this protocol. */
export function parseJoinMessage(line: string): JoinMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const m = value as Record<string, unknown>;
  switch (m.type) {
    case 'hello':
      return Number.isSafeInteger(m.protocol) && typeof m.version === 'string' && typeof m.nonce === 'string' && HEX_NONCE.test(m.nonce) && typeof m.keyed === 'boolean'
        ? { type: 'hello', protocol: m.protocol as number, version: m.version, nonce: m.nonce, keyed: m.keyed }
        : undefined;
    case 'proof':
      return typeof m.proof === 'string' && /^([0-9a-f]{64})?$/.test(m.proof) ? { type: 'proof', proof: m.proof } : undefined;
    case 'refuse':
      return typeof m.reason === 'string' && REASONS.has(m.reason as RefusalReason) && Number.isSafeInteger(m.protocol)
        ? { type: 'refuse', reason: m.reason as RefusalReason, protocol: m.protocol as number }
        : undefined;
    case 'admit':
      return { type: 'admit' };
    default:
      return undefined;
  }
}

const REASONS = new Set<RefusalReason>(['protocol', 'cluster-key', 'no-key', 'unexpected-key', 'malformed']);

const UPGRADE = 'upgrade the older node so both speak the same cluster protocol';

/** What the refusing side logs. `theirProtocol` is known once their hello arrived. */
export function refusingMessage(peer: string, reason: RefusalReason | 'timeout' | 'unsupported' | 'closed', self: JoinIdentity, theirProtocol?: number): string {
  switch (reason) {
    case 'protocol':
      return `peer ${peer} refused: it speaks cluster protocol ${theirProtocol}, this node speaks ${self.protocol}; ${UPGRADE}`;
    case 'cluster-key':
      return `peer ${peer} refused: it holds a different cluster key`;
    case 'no-key':
      return `peer ${peer} refused: it holds no cluster key and this cluster requires one (p2p.cluster_key)`;
    case 'unexpected-key':
      return `peer ${peer} refused: it holds a cluster key and this node has none (p2p.cluster_key is empty: an open cluster)`;
    case 'malformed':
      return `peer ${peer} refused: it broke the cluster join protocol ${JOIN_PROTOCOL}`;
    case 'timeout':
      return `peer ${peer} refused: it did not finish the cluster join handshake within ${JOIN_TIMEOUT_MS / 1000} s`;
    case 'closed':
      return `peer ${peer} refused: it closed the cluster join handshake before it finished`;
    case 'unsupported':
      return `peer ${peer} refused: it does not speak the cluster join protocol ${JOIN_PROTOCOL} (not an ollama-distributed node, or a much older one)`;
  }
}

/** What the refused side logs when the peer's refusal arrives. */
export function refusedMessage(peer: string, refusal: Refusal, self: JoinIdentity): string {
  switch (refusal.reason) {
    case 'protocol':
      return `refused by ${peer}: it speaks cluster protocol ${refusal.protocol}, this node speaks ${self.protocol}; ${UPGRADE}`;
    case 'cluster-key':
      return `refused by ${peer}: this node's cluster key does not match the cluster's (p2p.cluster_key)`;
    case 'no-key':
      return `refused by ${peer}: the cluster requires a cluster key and this node has none; set p2p.cluster_key`;
    case 'unexpected-key':
      return `refused by ${peer}: it runs an open cluster without a cluster key and this node holds one (p2p.cluster_key)`;
    case 'malformed':
      return `refused by ${peer}: it could not read this node's cluster join messages`;
  }
}
