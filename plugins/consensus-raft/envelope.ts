// A proposal as it travels in a log entry: the command and the id its proposer waits on. Entries
// come from peers, so decoding checks the shape and never throws.

import type { Command } from '../../core/contracts/consensus.js';

export interface Envelope {
  /** `<node id>:<sequence>`: unique per proposal in the cluster. */
  id: string;
  command: Command;
}

export function encodeEnvelope(envelope: Envelope): Uint8Array {
  return Buffer.from(JSON.stringify({ id: envelope.id, type: envelope.command.type, payload: envelope.command.payload }));
}

export function decodeEnvelope(data: Uint8Array): Envelope | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'));
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object') return undefined;
  const { id, type, payload } = parsed as Record<string, unknown>;
  if (typeof id !== 'string' || typeof type !== 'string') return undefined;
  return { id, command: { type, payload } };
}
