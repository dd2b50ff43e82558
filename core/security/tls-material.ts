// The node's certificate, key and cluster CA, read once at start. The same material serves the API
// over HTTPS, secures consensus links between members (both sides show a certificate the cluster
// CA signed) and lets this node's own clients (forwarding, the CLI) trust its peers' API.

import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';

export interface TlsSettings {
  enabled: boolean;
  cert_file: string;
  key_file: string;
  ca_file: string;
}

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  /** The cluster CA; absent when the certificate chains to a public root. */
  ca?: Buffer;
}

export class TlsConfigError extends Error {
  override readonly name = 'TlsConfigError';
}

function readPem(key: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new TlsConfigError(`${key} ${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

/** Undefined with TLS off; throws a TlsConfigError naming the setting when a file is unreadable or the pair does not match. */
export function readTlsMaterial(settings: TlsSettings): TlsMaterial | undefined {
  if (!settings.enabled) return undefined;
  const material: TlsMaterial = {
    cert: readPem('security.tls.cert_file', settings.cert_file),
    key: readPem('security.tls.key_file', settings.key_file),
    ...(settings.ca_file ? { ca: readPem('security.tls.ca_file', settings.ca_file) } : {}),
  };
  try {
    createSecureContext(material);
  } catch (error) {
    throw new TlsConfigError(`security.tls: ${settings.cert_file}, ${settings.key_file}${settings.ca_file ? `, ${settings.ca_file}` : ''}: ${(error as Error).message}`);
  }
  return material;
}

/** What a client of a peer's API needs: the cluster CA when there is one. */
export function clientTrust(material: TlsMaterial | undefined): { ca?: Buffer } {
  return material?.ca ? { ca: material.ca } : {};
}
