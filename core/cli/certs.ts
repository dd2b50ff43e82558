// `ollama-distributed certs init`: a CA for the cluster and a certificate for each node, as the
// deployment guide's openssl steps make them, with the names and addresses a node is reached by.
// The CA is reused when the folder holds one, so nodes can be added later; a node's files are
// replaced only when asked, and every file appears whole or not at all.

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { Command } from 'commander';

const run = promisify(execFile);

export const CA_CERT = 'ca-cert.pem';
export const CA_KEY = 'ca-key.pem';
export const certFile = (node: string) => `${node}-cert.pem`;
export const keyFile = (node: string) => `${node}-key.pem`;

const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const DNS_NAME = /^(?=.{1,253}$)([A-Za-z0-9*]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export class CertsError extends Error {
  override readonly name = 'CertsError';
}

export interface CertsPlan {
  dir: string;
  nodes: string[];
  hosts: string[];
  days: number;
  force: boolean;
}

/** Every node answers to its name, localhost and the loopback addresses, and to each extra host. */
export function subjectAltNames(node: string, hosts: readonly string[]): string {
  const names = [node, 'localhost', '127.0.0.1', '::1', ...hosts];
  return [...new Set(names)].map((name) => (isIP(name) ? `IP:${name}` : `DNS:${name}`)).join(',');
}

export function checkPlan(plan: CertsPlan): void {
  if (plan.nodes.length === 0) throw new CertsError('name at least one node (--node NAME)');
  for (const node of plan.nodes) {
    if (!NODE_NAME.test(node)) throw new CertsError(`node name ${JSON.stringify(node)} must be 1-63 letters, digits, '.', '_' or '-'`);
  }
  if (new Set(plan.nodes).size !== plan.nodes.length) throw new CertsError('each node may be named once');
  for (const host of plan.hosts) {
    if (!isIP(host) && !DNS_NAME.test(host)) throw new CertsError(`host ${JSON.stringify(host)} is neither an IP address nor a DNS name`);
  }
  if (!Number.isInteger(plan.days) || plan.days < 1 || plan.days > 3650) throw new CertsError('--days must be a whole number from 1 to 3650');
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await run('openssl', args, { cwd });
  } catch (error) {
    const failure = error as NodeJS.ErrnoException & { stderr?: string };
    if (failure.code === 'ENOENT') throw new CertsError('certs init needs the openssl command (Debian and Ubuntu: apt-get install openssl)');
    throw new CertsError(`openssl ${args[0]} failed: ${(failure.stderr ?? failure.message).trim()}`);
  }
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function makeCa(work: string, days: number): Promise<void> {
  await openssl(
    ['req', '-x509', ...EC_KEY, '-keyout', CA_KEY, '-out', CA_CERT, '-days', String(days), '-subj', '/CN=ollama-distributed cluster CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    work,
  );
}

/** Signed for both ends of a link: a node serves its API and dials its consensus peers with it. */
async function makeNodeCert(work: string, ca: { cert: string; key: string }, node: string, hosts: readonly string[], days: number): Promise<void> {
  const csr = `${node}.csr`;
  const extensions = `${node}.ext`;
  await openssl(['req', '-new', ...EC_KEY, '-keyout', keyFile(node), '-out', csr, '-subj', `/CN=${node}`], work);
  await writeFile(
    join(work, extensions),
    ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=serverAuth,clientAuth', `subjectAltName=${subjectAltNames(node, hosts)}`, ''].join('\n'),
  );
  await openssl(
    ['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', `0x${randomBytes(16).toString('hex')}`, '-days', String(days), '-extfile', extensions, '-out', certFile(node)],
    work,
  );
}

export interface CertsResult {
  caCreated: boolean;
  written: string[];
}

export async function initCerts(plan: CertsPlan): Promise<CertsResult> {
  checkPlan(plan);
  await mkdir(plan.dir, { recursive: true });
  const caCert = join(plan.dir, CA_CERT);
  const caKey = join(plan.dir, CA_KEY);
  const [haveCert, haveKey] = await Promise.all([exists(caCert), exists(caKey)]);
  if (haveCert !== haveKey) throw new CertsError(`${plan.dir} holds ${haveCert ? CA_CERT : CA_KEY} without ${haveCert ? CA_KEY : CA_CERT}; remove it or bring the other`);
  const caCreated = !haveCert;
  const targets = [...(caCreated ? [CA_CERT, CA_KEY] : []), ...plan.nodes.flatMap((node) => [certFile(node), keyFile(node)])];
  if (!plan.force) {
    const present = (await Promise.all(targets.map(async (name) => ((await exists(join(plan.dir, name))) ? name : undefined)))).filter(Boolean);
    if (present.length > 0) throw new CertsError(`${plan.dir} already holds ${present.join(', ')}; pass --force to replace them`);
  }
  const work = await mkdtemp(join(plan.dir, '.certs-'));
  try {
    if (caCreated) await makeCa(work, plan.days);
    const ca = caCreated ? { cert: CA_CERT, key: CA_KEY } : { cert: resolve(caCert), key: resolve(caKey) };
    for (const node of plan.nodes) await makeNodeCert(work, ca, node, plan.hosts, plan.days);
    for (const name of targets) {
      if (name.endsWith('-key.pem')) await chmod(join(work, name), 0o600);
      await rename(join(work, name), join(plan.dir, name));
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return { caCreated, written: targets.map((name) => join(plan.dir, name)) };
}

function tlsSettings(dir: string, node: string): string {
  const at = (name: string) => relative(process.cwd(), join(dir, name)) || name;
  return [
    `  # ${node}: node.yaml`,
    '  security:',
    '    tls:',
    '      enabled: true',
    `      cert_file: ${at(certFile(node))}`,
    `      key_file: ${at(keyFile(node))}`,
    `      ca_file: ${at(CA_CERT)}`,
  ].join('\n');
}

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), ...value.split(',').filter(Boolean)];

export function registerCertsCommands(program: Command): void {
  const certs = program.command('certs').description('certificates for TLS between clients and nodes and among nodes');
  certs
    .command('init')
    .description('make a cluster CA (or reuse the one in --dir) and a certificate and key for each node')
    .option('--dir <dir>', 'folder for ca-cert.pem, ca-key.pem and <node>-cert.pem, <node>-key.pem', 'certs')
    .option('--node <name>', 'a node to make a certificate for; repeatable or comma-separated (default: this host name)', collect)
    .option('--host <name|ip>', "another name or address every node's certificate holds; repeatable or comma-separated", collect)
    .option('--days <n>', 'validity in days', '365')
    .option('--force', "replace the nodes' files that exist (an existing CA is always kept)")
    .action(async (flags: { dir: string; node?: string[]; host?: string[]; days: string; force?: boolean }) => {
      const plan: CertsPlan = { dir: flags.dir, nodes: flags.node ?? [hostname()], hosts: flags.host ?? [], days: Number(flags.days), force: flags.force === true };
      try {
        const result = await initCerts(plan);
        process.stdout.write(`${result.caCreated ? 'made a new cluster CA' : `signed with the CA in ${plan.dir}`}; wrote:\n${result.written.map((file) => `  ${file}`).join('\n')}\n`);
        process.stdout.write(`Give each node its own files (keep ${CA_KEY} off the nodes):\n${plan.nodes.map((node) => tlsSettings(plan.dir, node)).join('\n')}\n`);
      } catch (error) {
        if (!(error instanceof CertsError)) throw error;
        process.stderr.write(`Error: ${error.message}\n`);
        process.exitCode = 2;
      }
    });
}
