// The container files name only what the product has: its env variables, config keys, CLI
// commands, ports, health route and valid multiaddrs; and they keep what the seed got wrong fixed.

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { multiaddr } from '@multiformats/multiaddr';
import t from 'tap';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfig } from '../core/config/load.js';
import { schema } from '../core/config/schema.js';
import { flattenSchema } from '../core/config/setting.js';
import { splitHostPort } from '../core/config/values.js';
import { exposureProblems } from '../core/security/exposure.js';
import { startTestNode } from '../conformance/fixtures/node.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../..');
const CLI = join(ROOT, 'dist', 'core', 'cli', 'main.js');
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');
const dockerfile = read('docker/Dockerfile');
const composeText = read('docker/docker-compose.yml');
const k8sText = read('docker/k8s/ollama-distributed.yaml');

type Env = Record<string, string>;
interface Service {
  command: string[];
  ports?: string[];
  volumes: string[];
  environment: string[];
  secrets?: string[];
}
const compose = parse(composeText, { merge: true }) as { services: Record<string, Service>; secrets: Record<string, { file: string }> };
const k8s = parseAllDocuments(k8sText).map((d) => d.toJS()) as any[];
const statefulSet = k8s.find((d) => d.kind === 'StatefulSet');
const container = statefulSet.spec.template.spec.containers[0];
const k8sEnv: Env = Object.fromEntries(container.env.map((e: any) => [e.name, e.value ?? (e.valueFrom?.secretKeyRef ? '<secret>' : '<field>')]));
const serviceEnv = (service: Service): Env => Object.fromEntries(service.environment.map((line) => line.split(/=(.*)/s, 2) as [string, string]));
const nodes = Object.entries(compose.services);

const SCHEMA_ENV = new Set(flattenSchema(schema).flatMap(([, setting]) => setting.env ?? []));
const schemaDefault = (path: string) => flattenSchema(schema).find(([p]) => p === path)![1].default as string;
const DEFAULT_PORTS = {
  api: splitHostPort(schemaDefault('api.listen')).port,
  web: splitHostPort(schemaDefault('web.listen')).port,
  p2p: Number(schemaDefault('p2p.listen').split('/').at(-1)),
  consensus: splitHostPort(schemaDefault('consensus.bind_addr')).port,
};

/** A multiaddr that also really is one: @multiformats/multiaddr takes some bad /ip4/ values. */
function multiaddrProblem(value: string): string | undefined {
  try {
    const parts = multiaddr(value).getComponents();
    const ip4 = parts.find((p) => p.name === 'ip4');
    if (ip4 && !/^\d{1,3}(\.\d{1,3}){3}$/.test(ip4.value ?? '')) return `${value}: /ip4/ holds "${ip4.value}", not an IPv4 address (a host name needs /dns4/)`;
    return undefined;
  } catch (error) {
    return `${value}: ${(error as Error).message}`;
  }
}

/** Values with $(POD_NAME) expanded as Kubernetes would, for pod `pod`. */
const expand = (value: string, pod: string) => value.replaceAll('$(POD_NAME)', pod);

t.test('every OLLAMA_* variable the files name is a config key of the node', async (t) => {
  const named = new Set([dockerfile, composeText, k8sText].flatMap((text) => text.match(/OLLAMA_[A-Z0-9_]+/g) ?? []));
  t.ok(named.size > 5);
  for (const name of named) t.ok(SCHEMA_ENV.has(name), `${name} is read by the node`);
});

t.test("the container's node.yaml loads, listening beyond loopback on the seed's ports with /data and /models", async (t) => {
  const { config } = loadConfig({ file: join(ROOT, 'docker', 'config', 'node.yaml') });
  t.equal(config.api.listen, `0.0.0.0:${DEFAULT_PORTS.api}`);
  t.equal(config.web.listen, `0.0.0.0:${DEFAULT_PORTS.web}`);
  t.equal(config.p2p.listen, `/ip4/0.0.0.0/tcp/${DEFAULT_PORTS.p2p}`);
  t.equal(config.consensus.bind_addr, `0.0.0.0:${DEFAULT_PORTS.consensus}`);
  t.equal(config.storage.data_dir, '/data');
  t.equal(config.storage.model_dir, '/models');
  t.match(dockerfile, /COPY docker\/config\/node\.yaml \.\/config\/node\.yaml/, 'the image holds it where CMD points');
});

t.test('the Dockerfile: multi-stage, non-root, the four ports, a health check on the health route, the CLI', async (t) => {
  t.equal(dockerfile.match(/^FROM /gm)?.length, 2, 'two stages');
  t.match(dockerfile, /^USER (?!root)\S+/m);
  const exposed = /^EXPOSE (.+)$/m.exec(dockerfile)![1].split(/\s+/).map(Number).sort();
  t.same(exposed, Object.values(DEFAULT_PORTS).sort());
  t.match(dockerfile, /^HEALTHCHECK .*\n?.*http:\/\/127\.0\.0\.1:11434\/api\/v1\/health/m);
  const entry = JSON.parse(/^ENTRYPOINT (.+)$/m.exec(dockerfile)![1]) as string[];
  const cmd = JSON.parse(/^CMD (.+)$/m.exec(dockerfile)![1]) as string[];
  t.same(entry, ['node', 'dist/core/cli/main.js']);
  t.same(cmd, ['start', '--config', '/app/config/node.yaml']);
  const help = spawnSync(process.execPath, [CLI, cmd[0], '--help'], { encoding: 'utf8' });
  t.equal(help.status, 0, 'the start command exists');
  t.match(help.stdout, /--config <file>/);
  for (const service of Object.values(compose.services)) t.same(service.command, cmd, 'compose runs the same command');
});

t.test('/api/v1/health, which the health checks and probes ask, is served by a node', async (t) => {
  t.equal(container.readinessProbe.httpGet.path, '/api/v1/health');
  t.equal(container.livenessProbe.httpGet.path, '/api/v1/health');
  const node = await startTestNode({ env: { OLLAMA_ENGINE: 'sim' } });
  t.teardown(() => node.stop());
  const response = await fetch(`${node.url}/api/v1/health`);
  t.equal(response.status, 200);
});

t.test('every multiaddr is valid; hosts go by /dns4/, never /ip4/<name>', async (t) => {
  const values = [
    ...nodes.flatMap(([, s]) => Object.values(serviceEnv(s))),
    ...Object.values(k8sEnv).map((v) => expand(v, 'ollama-distributed-1')),
  ].filter((v) => /^\/(ip4|ip6|dns4|dns6|dns)\//.test(v));
  t.ok(values.length >= 8);
  for (const value of values) t.equal(multiaddrProblem(value), undefined, value);
  t.match(multiaddrProblem('/ip4/ollama-node-1/tcp/4001') ?? '', /IPv4 address/, "the seed's address is caught");
});

t.test("compose: the seed's three nodes and ports, each with its own volumes, joined through node 1 with the key", async (t) => {
  t.same(nodes.map(([name]) => name), ['ollama-node-1', 'ollama-node-2', 'ollama-node-3']);
  t.same(nodes.map(([, s]) => s.ports), [
    ['11434:11434', '8080:8080'],
    ['11435:11434', '8081:8080'],
    ['11436:11434', '8082:8080'],
  ]);
  const sources = nodes.flatMap(([, s]) => s.volumes.map((v) => v.split(':')[0]));
  t.equal(new Set(sources).size, sources.length, 'no volume is shared between nodes');
  for (const [, s] of nodes) t.same(s.volumes.map((v) => v.split(':')[1]).sort(), ['/data', '/models']);
  for (const [index, [name, service]] of nodes.entries()) {
    const env = serviceEnv(service);
    t.equal(env.OLLAMA_NODE_NAME, `node-${index + 1}`);
    t.equal(env.OLLAMA_CONSENSUS_BOOTSTRAP, index === 0 ? 'true' : undefined, `${name}: consensus bootstrap on node 1 only`);
    t.equal(env.OLLAMA_P2P_BOOTSTRAP, index === 0 ? undefined : `/dns4/ollama-node-1/tcp/${DEFAULT_PORTS.p2p}`, `${name}: joins through node 1`);
    t.equal(env.OLLAMA_API_ADVERTISE, `http://${name}:${DEFAULT_PORTS.api}`);
    t.equal(env.OLLAMA_P2P_ANNOUNCE, `/dns4/${name}/tcp/${DEFAULT_PORTS.p2p}`);
    t.same(service.secrets, ['cluster_key']);
    t.equal(env.OLLAMA_P2P_CLUSTER_KEY, '/run/secrets/cluster_key', `${name}: the key from the compose secret`);
  }
  t.ok(compose.secrets.cluster_key.file);
});

t.test('k8s: a headless Service, pod 0 bootstraps, the others join it by DNS, the key from a Secret, own volumes', async (t) => {
  const headless = k8s.find((d) => d.kind === 'Service' && d.spec.clusterIP === 'None');
  t.equal(headless?.metadata.name, statefulSet.spec.serviceName, 'the StatefulSet names the headless Service');
  t.same(headless.spec.ports.map((p: any) => p.port).sort(), [DEFAULT_PORTS.api, DEFAULT_PORTS.p2p, DEFAULT_PORTS.consensus].sort());
  const pod0 = `${statefulSet.metadata.name}-0.${headless.metadata.name}`;
  t.ok(k8sEnv.OLLAMA_P2P_BOOTSTRAP.startsWith(`/dns4/${pod0}.`), 'pods join through pod 0');
  t.same(
    container.env.find((e: any) => e.name === 'OLLAMA_P2P_CLUSTER_KEY').valueFrom.secretKeyRef,
    { name: 'ollama-distributed', key: 'cluster-key' },
  );
  const script = container.args.join('\n');
  t.match(script, /"\$\{POD_NAME##\*-\}" = "0" \]; then export OLLAMA_CONSENSUS_BOOTSTRAP=true; unset OLLAMA_P2P_BOOTSTRAP/, 'only pod 0 bootstraps consensus, and it dials nobody');
  t.notOk('OLLAMA_CONSENSUS_BOOTSTRAP' in k8sEnv, 'no pod gets consensus bootstrap from the shared env');
  t.match(script, /exec node dist\/core\/cli\/main\.js start --config \/app\/config\/node\.yaml/);
  t.same(statefulSet.spec.volumeClaimTemplates.map((v: any) => v.metadata.name).sort(), ['data', 'models']);
  t.same(container.volumeMounts.map((m: any) => m.mountPath).sort(), ['/data', '/models']);
  t.same(container.ports.map((p: any) => p.containerPort).sort(), Object.values(DEFAULT_PORTS).sort());
  t.equal(expand(k8sEnv.OLLAMA_API_ADVERTISE, 'ollama-distributed-2'), `http://ollama-distributed-2.${headless.metadata.name}.default.svc.cluster.local:${DEFAULT_PORTS.api}`);
});

t.test('every node the files describe would start under the secure defaults: auth on, the cluster key set', async (t) => {
  const secrets = { OLLAMA_P2P_CLUSTER_KEY: 'k'.repeat(43), OLLAMA_SECURITY_AUTH_SECRET_KEY: 'a'.repeat(64) };
  const check = (what: string, env: Env) => {
    const { config } = loadConfig({ file: join(ROOT, 'docker', 'config', 'node.yaml'), env: { ...env, ...secrets } });
    t.ok(config.security.auth.enabled, `${what}: auth is on`);
    t.strictSame(exposureProblems(config, config.security.auth.enabled), [], `${what}: nothing exposed unprotected`);
  };
  for (const [name, service] of nodes) {
    const env = serviceEnv(service);
    t.match(env.OLLAMA_SECURITY_AUTH_SECRET_KEY, /^\$\{OLLAMA_SECURITY_AUTH_SECRET_KEY:\?/, `${name}: the JWT secret comes from the host, and compose stops without it`);
    check(name, env);
  }
  t.same(container.env.find((e: any) => e.name === 'OLLAMA_SECURITY_AUTH_SECRET_KEY').valueFrom.secretKeyRef, { name: 'ollama-distributed', key: 'auth-secret-key' }, 'k8s: the JWT secret from the Secret');
  check('k8s pod', Object.fromEntries(Object.entries(k8sEnv).filter(([, v]) => !v.startsWith('<'))));
});
