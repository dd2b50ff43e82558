// The etcd backend's options, checked once at construction: every error names the option (the
// endpoints by their config key) and the values it accepts.

import { readFileSync } from 'node:fs';
import type { StateMachine } from '../../core/contracts/consensus.js';
import { ProductError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';

export interface EtcdConsensusOptions<State = unknown> {
  /** etcd client URLs (consensus.etcd.endpoints). */
  endpoints: readonly string[];
  /** Key prefix of this cluster's facts in etcd; several clusters may share one etcd. */
  prefix?: string;
  nodeId: string;
  /** This node's Member.address; defaults to the first endpoint. */
  address?: string;
  stateMachine: StateMachine<State>;
  logger: Logger;
  /** Whether this node joins as a voter (campaigns for leadership). */
  voter?: boolean;
  /** Where the cluster id this node first joined is pinned, so it never joins another. */
  dataDir?: string;
  /** Lease of the leader's election key: how long a dead leader keeps leadership. */
  leaseTtlSeconds?: number;
  /** How often the leader checks whether a snapshot is due. */
  snapshotIntervalMs?: number;
  /** Log entries applied since the last snapshot that make one due. */
  snapshotThreshold?: number;
  /** Also compact etcd's history to each snapshot's revision (it is shared by all etcd users). */
  compactHistory?: boolean;
  /** How long start() waits for etcd to answer. */
  startTimeoutMs?: number;
  /** Deadline of each unary etcd call. */
  requestTimeoutMs?: number;
  /** PEM files for an etcd served over TLS: the CA that signed it, and this client's certificate. */
  tls?: EtcdTlsFiles;
}

export interface EtcdTlsFiles {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

/** What the etcd client is given: the files' bytes, read once. */
export interface EtcdCredentials {
  rootCertificate: Buffer;
  certChain?: Buffer;
  privateKey?: Buffer;
}

export interface EtcdConsensusConfig {
  endpoints: string[];
  prefix: string;
  nodeId: string;
  address: string;
  voter: boolean;
  dataDir: string | undefined;
  leaseTtlSeconds: number;
  snapshotIntervalMs: number;
  snapshotThreshold: number;
  compactHistory: boolean;
  startTimeoutMs: number;
  requestTimeoutMs: number;
  credentials: EtcdCredentials | undefined;
}

export const DEFAULT_PREFIX = '/ollama-distributed';
/** etcd refuses leases under ~2 s; 3 s keeps a dead leader's successor within 5 s. */
export const DEFAULT_LEASE_TTL_SECONDS = 3;

export function etcdConsensusConfig(options: EtcdConsensusOptions<unknown>): EtcdConsensusConfig {
  const endpoints = [...(options.endpoints ?? [])];
  if (endpoints.length === 0) throw configError('consensus.etcd.endpoints', 'needs at least one etcd client URL');
  for (const endpoint of endpoints) {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      throw configError('consensus.etcd.endpoints', `${JSON.stringify(endpoint)} is not a URL (e.g. http://127.0.0.1:2379)`);
    }
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
      throw configError('consensus.etcd.endpoints', `${JSON.stringify(endpoint)} is not an http:// or https:// URL with a host`);
    }
  }
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  if (!/^\/[A-Za-z0-9._\-/]*[A-Za-z0-9._-]$/.test(prefix) || prefix.includes('//')) {
    throw configError('prefix', `${JSON.stringify(prefix)} must start with /, not end with /, and hold only letters, digits, . _ - /`);
  }
  if (typeof options.nodeId !== 'string' || options.nodeId === '' || options.nodeId.length > 256) {
    throw configError('nodeId', 'must be a non-empty string of at most 256 characters');
  }
  const stateMachine = options.stateMachine as Partial<StateMachine> | undefined;
  if (!stateMachine || typeof stateMachine.apply !== 'function' || typeof stateMachine.initial !== 'function' || typeof stateMachine.snapshot !== 'function' || typeof stateMachine.restore !== 'function') {
    throw configError('stateMachine', 'must have initial, apply, snapshot and restore');
  }
  return {
    endpoints,
    prefix,
    nodeId: options.nodeId,
    address: options.address ?? endpoints[0]!,
    voter: options.voter ?? true,
    dataDir: options.dataDir,
    leaseTtlSeconds: integer('leaseTtlSeconds', options.leaseTtlSeconds ?? DEFAULT_LEASE_TTL_SECONDS, 2, 3600),
    snapshotIntervalMs: integer('snapshotIntervalMs', options.snapshotIntervalMs ?? 120_000, 10, 86_400_000),
    snapshotThreshold: integer('snapshotThreshold', options.snapshotThreshold ?? 8192, 1, Number.MAX_SAFE_INTEGER),
    compactHistory: options.compactHistory ?? true,
    startTimeoutMs: integer('startTimeoutMs', options.startTimeoutMs ?? 10_000, 1, 3_600_000),
    requestTimeoutMs: integer('requestTimeoutMs', options.requestTimeoutMs ?? 5_000, 10, 600_000),
    credentials: credentials(options.tls ?? {}, endpoints),
  };
}

function pem(key: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw configError(key, `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

function credentials(tls: EtcdTlsFiles, endpoints: string[]): EtcdCredentials | undefined {
  const { caFile, certFile, keyFile } = tls;
  if (!caFile && !certFile && !keyFile) return undefined;
  if (!caFile) throw configError('consensus.etcd.ca_file', "is needed with a client certificate: the CA that signed etcd's certificate");
  if (Boolean(certFile) !== Boolean(keyFile)) throw configError(certFile ? 'consensus.etcd.key_file' : 'consensus.etcd.cert_file', 'goes with consensus.etcd.cert_file and consensus.etcd.key_file together');
  const plain = endpoints.find((endpoint) => endpoint.startsWith('http:'));
  if (plain) throw configError('consensus.etcd.endpoints', `${plain} is plain http while TLS files are set; use https://`);
  return {
    rootCertificate: pem('consensus.etcd.ca_file', caFile),
    ...(certFile && keyFile ? { certChain: pem('consensus.etcd.cert_file', certFile), privateKey: pem('consensus.etcd.key_file', keyFile) } : {}),
  };
}

function integer(name: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) throw configError(name, `must be an integer from ${min} to ${max}, got ${value}`);
  return value;
}

function configError(name: string, problem: string): ProductError {
  const key = name.startsWith('consensus.') ? name : `consensus etcd option ${name}`;
  return new ProductError('OD_ERR_CONFIG', `${key}: ${problem}`);
}
