// Every config key of a node: YAML path, environment variables, CLI flag, default and why.
// Precedence: defaults <- YAML file (--config) <- OLLAMA_* environment <- CLI flags.

import { cpus, hostname } from 'node:os';
import { join } from 'node:path';
import { originProblem } from '../api/browser-guard.js';
import { PERMISSIONS } from '../contracts/auth.js';
import { PLACEMENT_POLICIES, type PlacementPolicy } from '../distribution/planner.js';
import { durationSetting, setting, type ConfigOf, type SchemaTree } from './setting.js';
import {
  ConfigValueError,
  parseBoolean,
  parseDuration,
  parseEnum,
  parseHostPort,
  parseInteger,
  parseList,
  parseMultiaddr,
  parseSize,
  parseString,
  parseUrl,
} from './values.js';

/** The host name, suffixed with the API port when it is not Ollama's, so nodes sharing a host differ. */
function defaultNodeName(listen: string): string {
  const port = listen.slice(listen.lastIndexOf(':') + 1);
  return port === '11434' ? hostname() : `${hostname()}-${port}`;
}

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

export interface RoleConfig {
  name: string;
  permissions: string[];
}

function parseRoles(raw: unknown): RoleConfig[] {
  return parseList(raw, (item) => {
    const role = item as Partial<RoleConfig> | null;
    if (typeof role !== 'object' || role === null || typeof role.name !== 'string' || role.name === '') {
      throw new ConfigValueError('a list of {name, permissions} roles');
    }
    const permissions = parseList(role.permissions ?? [], (p) => parseEnum(p, ['*', ...PERMISSIONS]));
    return { name: role.name, permissions };
  });
}

/** A browser origin as gin-contrib/cors takes it, refused at load where Ollama would fail to start. */
function parseOrigin(raw: unknown): string {
  const origin = parseString(raw, false).trim();
  const problem = originProblem(origin);
  if (problem) throw new ConfigValueError(`origins such as https://app.example.com or http://*.example.com (${problem})`);
  return origin;
}

/** A plugin is chosen by a built-in name, a file path (./my-plugin.js) or an installed npm package. */
function parsePluginRef(raw: unknown): string {
  return parseString(raw, false).trim();
}

function parseOptions(raw: unknown): Record<string, unknown> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigValueError('a map of options');
  return raw as Record<string, unknown>;
}

const duration = (allowNegative = false) => (raw: unknown) => parseDuration(raw, allowNegative);
const integer = (min: number, max?: number) => (raw: unknown) => parseInteger(raw, min, max);
/** An even count of voters tolerates no more failures than one fewer, so only odd ones. */
function oddVoters(raw: unknown): number {
  const n = integer(1, 9)(raw);
  if (n % 2 === 0) throw new ConfigValueError('an odd number of voters from 1 to 9 (3, 5 or 7 in most clusters)');
  return n;
}

function etcdPrefix(raw: unknown): string {
  const s = parseString(raw);
  if (!/^\/[A-Za-z0-9._/-]*[^/]$/.test(s)) throw new ConfigValueError('a key prefix such as /ollama-distributed (starts with /, no trailing /)');
  return s;
}

const str = (raw: unknown) => parseString(raw);
/** A size per second, or 0 for none. */
const rate = (raw: unknown) => (raw === 0 || raw === '0' ? 0 : parseSize(raw));
const path = (raw: unknown) => parseString(raw, false);
/** A file that may be left out: empty means none. */
const optionalPath = (raw: unknown) => (raw === '' ? '' : path(raw));

export const schema = {
  node: {
    name: setting((raw) => parseString(raw, false), {
      default: (get) => defaultNodeName(get('api.listen') as string),
      env: ['OLLAMA_NODE_NAME'],
      flag: 'node-name',
      why: 'How this node appears in logs, the cluster view and the web panel; unique in a cluster.',
    }),
    stop_timeout: durationSetting(duration(), {
      default: 25_000,
      env: ['OLLAMA_NODE_STOP_TIMEOUT'],
      why: "How long a stop lets in-flight requests run before cutting them; the process is gone 2s later, within Kubernetes' default 30s grace.",
    }),
  },
  api: {
    listen: setting(parseHostPort, {
      default: '127.0.0.1:11434',
      env: ['OLLAMA_API_LISTEN'],
      flag: 'listen',
      why: "Where the Ollama API and the /api/v1 cluster API listen; loopback until you open it on purpose.",
    }),
    timeout: durationSetting(duration(), {
      default: 30_000,
      env: ['OLLAMA_API_TIMEOUT'],
      why: 'How long a client may take to send a whole request; streaming responses are not cut by it.',
    }),
    headers_timeout: durationSetting(duration(), {
      default: 10_000,
      env: ['OLLAMA_API_HEADERS_TIMEOUT'],
      why: 'How long a client may take to send its request headers; frees connections held by slow or silent clients.',
    }),
    write_timeout: durationSetting(duration(), {
      default: 60_000,
      env: ['OLLAMA_API_WRITE_TIMEOUT'],
      why: 'How long a client may leave response bytes unread before its connection is closed and its request cut; 0 never.',
    }),
    max_connections: setting(integer(1), {
      default: 1024,
      env: ['OLLAMA_API_MAX_CONNECTIONS'],
      why: 'Client connections held at once (room for scheduler.queue_size requests and idle clients); past it the oldest one not serving a request is closed.',
    }),
    max_body_size: setting(parseSize, {
      default: 33_554_432,
      env: ['OLLAMA_API_MAX_BODY_SIZE'],
      why: 'Largest JSON request body accepted (413 above it); blob uploads stream and are not bound by it.',
    }),
    advertise: setting((raw) => (raw === '' ? '' : parseUrl(raw)), {
      default: '',
      env: ['OLLAMA_API_ADVERTISE'],
      why: 'API URL other nodes forward to, when api.listen is not reachable as written (0.0.0.0, NAT, Kubernetes); empty derives it from api.listen.',
    }),
    origins: setting((raw) => parseList(raw, parseOrigin), {
      default: [],
      env: ['OLLAMA_ORIGINS'],
      why: "Web origins allowed to call the API besides Ollama's own (localhost, 127.0.0.1, 0.0.0.0, app://, file://...); * allows any.",
    }),
  },
  p2p: {
    transport: setting(parsePluginRef, {
      default: 'libp2p',
      why: 'Transport plugin between nodes: libp2p, a file path or a package name.',
    }),
    listen: setting(parseMultiaddr, {
      default: '/ip4/127.0.0.1/tcp/4001',
      env: ['OLLAMA_P2P_LISTEN'],
      flag: 'p2p-listen',
      why: 'Multiaddr the node listens on for peers.',
    }),
    bootstrap: setting((raw) => parseList(raw, parseMultiaddr), {
      default: [],
      env: ['OLLAMA_P2P_BOOTSTRAP'],
      flag: 'bootstrap',
      why: 'Peers to dial at start to join a cluster (repeat --bootstrap, or comma-separate in the env).',
    }),
    announce: setting((raw) => parseList(raw, parseMultiaddr), {
      default: [],
      env: ['OLLAMA_P2P_ANNOUNCE'],
      why: 'Multiaddrs peers should dial instead of p2p.listen (behind NAT, in Kubernetes, or listening on 0.0.0.0).',
    }),
    cluster_key: setting(str, {
      default: '',
      env: ['OLLAMA_P2P_CLUSTER_KEY'],
      secret: true,
      why: 'Secret every member holds (the key itself, or a file holding it; make one with `ollama-distributed cluster-key`); peers without it are refused. Empty leaves the cluster open.',
    }),
    failure_timeout: durationSetting(duration(), {
      default: 2000,
      env: ['OLLAMA_P2P_FAILURE_TIMEOUT'],
      why: 'A member silent this long leaves the routing pool until it speaks again.',
    }),
    forward: setting((raw) => parseEnum(raw, ['http', 'libp2p'] as const), {
      default: 'http',
      env: ['OLLAMA_P2P_FORWARD'],
      why: "How a request reaches the node that runs it: http (a keep-alive pool to its API) or libp2p (a stream over the peer connection).",
    }),
    enable_dht: setting(parseBoolean, {
      default: true,
      env: ['OLLAMA_P2P_ENABLE_DHT'],
      why: 'Kademlia DHT: finds which peers hold a model blob.',
    }),
    enable_pubsub: setting(parseBoolean, {
      default: true,
      env: ['OLLAMA_P2P_ENABLE_PUBSUB'],
      why: 'Gossipsub: spreads load figures every second without touching the consensus log.',
    }),
    conn_mgr_low: setting(integer(0), { default: 50, why: 'Connections kept when the manager prunes.' }),
    conn_mgr_high: setting(integer(1), { default: 200, why: 'Connections above which the manager prunes.' }),
    max_streams: setting(integer(1), { default: 1000, why: 'Streams allowed per connection; caps a misbehaving peer.' }),
    dial_timeout: durationSetting(duration(), { default: 30_000, why: 'Gives up on a peer that does not answer a dial.' }),
  },
  consensus: {
    backend: setting(parsePluginRef, {
      default: 'raft',
      why: 'Consensus plugin: raft (built in), etcd (an external cluster), a file path or a package name.',
    }),
    bind_addr: setting(parseHostPort, {
      default: '127.0.0.1:7000',
      env: ['OLLAMA_CONSENSUS_BIND_ADDR'],
      flag: 'consensus-bind',
      why: 'Where the built-in Raft listens for its peers; only cluster members may speak there.',
    }),
    advertise_addr: setting((raw) => (raw === '' ? '' : parseHostPort(raw)), {
      default: '',
      env: ['OLLAMA_CONSENSUS_ADVERTISE_ADDR'],
      why: 'The consensus address peers dial (host:port); empty means bind_addr as bound.',
    }),
    voters: setting(oddVoters, {
      default: 3,
      why: 'Members that vote; the others follow the log without voting, so a big cluster keeps a small quorum.',
    }),
    bootstrap: setting(parseBoolean, {
      default: false,
      env: ['OLLAMA_CONSENSUS_BOOTSTRAP'],
      why: 'Set on exactly one node of a new cluster: it forms the first configuration.',
    }),
    data_dir: setting(path, {
      default: (get) => join(get('storage.data_dir') as string, 'consensus'),
      env: ['OLLAMA_CONSENSUS_DATA_DIR'],
      why: 'Raft log, stable store and snapshots.',
    }),
    heartbeat_timeout: durationSetting(duration(), {
      default: 1000,
      why: 'A follower with no word from the leader for this long (up to twice, at random) starts an election.',
    }),
    election_timeout: durationSetting(duration(), {
      default: 1000,
      why: 'A candidate with no majority for this long (up to twice, at random) starts a new election.',
    }),
    commit_timeout: durationSetting(duration(), {
      default: 50,
      why: 'The Raft clock tick: the longest a follower waits to learn a new commit; heartbeats go every few ticks.',
    }),
    max_append_entries: setting(integer(1, 1024), { default: 64, why: 'Entries sent in one append, trading latency for throughput.' }),
    snapshot_interval: durationSetting(duration(), { default: 120_000, why: 'How often to check whether a snapshot is due.' }),
    snapshot_threshold: setting(integer(1), { default: 8192, why: 'Log entries since the last snapshot that make one due.' }),
    etcd: {
      endpoints: setting((raw) => parseList(raw, parseUrl), {
        default: ['http://127.0.0.1:2379'],
        env: ['OLLAMA_CONSENSUS_ETCD_ENDPOINTS'],
        why: 'etcd client URLs, used when consensus.backend is etcd.',
      }),
      prefix: setting(etcdPrefix, {
        default: '/ollama-distributed',
        why: 'Key prefix of this cluster in etcd, so several clusters can share one etcd.',
      }),
      ca_file: setting(optionalPath, {
        default: '',
        env: ['OLLAMA_CONSENSUS_ETCD_CA_FILE'],
        why: "PEM CA that signed etcd's certificate, for https:// endpoints.",
      }),
      cert_file: setting(optionalPath, {
        default: '',
        env: ['OLLAMA_CONSENSUS_ETCD_CERT_FILE'],
        why: 'PEM client certificate, for an etcd that checks its clients (--client-cert-auth).',
      }),
      key_file: setting(optionalPath, {
        default: '',
        env: ['OLLAMA_CONSENSUS_ETCD_KEY_FILE'],
        why: "The client certificate's PEM private key.",
      }),
    },
  },
  scheduler: {
    algorithm: setting(parsePluginRef, {
      default: 'round_robin',
      env: ['OLLAMA_SCHEDULER_ALGORITHM'],
      why: 'Balancer that picks the node: round_robin, least_connections, random, adaptive (lowest estimated time to first token), affinity (back to the node caching the prompt), a file path or a package name.',
    }),
    load_balancing: setting((raw) => parseEnum(raw, ['round_robin', 'least_connections', 'random'] as const), {
      default: 'least_connections',
      why: 'Policy the adaptive balancer falls back to while a candidate has no load figures (its node has not gossiped a slot count yet).',
    }),
    worker_count: setting(integer(1, 256), {
      default: () => Math.max(1, cpus().length - 1),
      why: 'Worker threads for chunk checksums; default leaves one core to the event loop. Scheduling scores run on the request path: a pick takes microseconds.',
    }),
    queue_size: setting(integer(1), {
      default: 512,
      env: ['OLLAMA_MAX_QUEUE'],
      why: "Inference requests that may wait at once on a node for a slot on any node holding their model; past it new ones get 503 (Ollama's OLLAMA_MAX_QUEUE).",
    }),
    options: setting(parseOptions, { default: {}, why: 'Options passed to the balancer: affinity reads balance_abs_threshold (4) and balance_rel_threshold (1.5); a plugin from a file or package reads its own.' }),
  },
  security: {
    insecure: setting(parseBoolean, {
      default: false,
      env: ['OLLAMA_SECURITY_INSECURE'],
      flag: 'insecure',
      why: 'Start even when the API listens beyond loopback with auth off, or the P2P or consensus port does without a cluster key; each exposure is logged as a warning.',
    }),
    audit_log: setting(optionalPath, {
      default: (get) => join(get('storage.data_dir') as string, 'audit.log'),
      env: ['OLLAMA_SECURITY_AUDIT_LOG'],
      why: 'JSON lines of admin actions (create, copy, delete, pull, push, keys, drain, node removal) and refused credentials: who, what, when, from where; never a secret or a prompt. Empty turns it off.',
    }),
    tls: {
      enabled: setting(parseBoolean, {
        default: false,
        env: ['OLLAMA_SECURITY_TLS_ENABLED'],
        why: 'Serve the API over HTTPS with cert_file and key_file.',
      }),
      cert_file: setting(optionalPath, {
        default: '',
        env: ['OLLAMA_SECURITY_TLS_CERT_FILE'],
        why: "PEM certificate chain of this node: served by the API, and shown to consensus peers (ollama-distributed certs init makes one).",
      }),
      key_file: setting(optionalPath, { default: '', env: ['OLLAMA_SECURITY_TLS_KEY_FILE'], why: "PEM private key of cert_file." }),
      ca_file: setting(optionalPath, {
        default: '',
        env: ['OLLAMA_SECURITY_TLS_CA_FILE'],
        why: "PEM certificate of the cluster's CA: consensus links then need a certificate it signed on both sides, and forwarding trusts peers' APIs it signed.",
      }),
    },
    auth: {
      enabled: setting(parseBoolean, {
        default: false,
        env: ['OLLAMA_SECURITY_AUTH_ENABLED'],
        why: 'Require a JWT or API key on every request except health checks.',
      }),
      method: setting(parsePluginRef, {
        default: 'jwt',
        env: ['OLLAMA_SECURITY_AUTH_METHOD'],
        why: 'Auth plugin used when auth is enabled: jwt, a file path or a package name.',
      }),
      secret_key: setting(str, {
        default: '',
        env: ['OLLAMA_SECURITY_AUTH_SECRET_KEY'],
        secret: true,
        why: 'HMAC key that signs JWTs (openssl rand -hex 32); never logged.',
      }),
      public_key_file: setting(str, {
        default: '',
        env: ['OLLAMA_SECURITY_AUTH_PUBLIC_KEY_FILE'],
        why: 'PEM public key (RSA, EC P-256 or Ed25519) that verifies RS256, ES256 or EdDSA tokens an identity provider signs.',
      }),
      jwks_file: setting(str, {
        default: '',
        env: ['OLLAMA_SECURITY_AUTH_JWKS_FILE'],
        why: "JWKS file ({\"keys\": [...]}) of public keys that verify tokens; a token's kid picks one.",
      }),
      issuer: setting(str, {
        default: 'ollama-distributed',
        env: ['OLLAMA_SECURITY_AUTH_ISSUER'],
        why: 'The iss every token must carry, and the one `token create` signs with; empty accepts any.',
      }),
      audience: setting(str, {
        default: '',
        env: ['OLLAMA_SECURITY_AUTH_AUDIENCE'],
        why: 'An aud every token must carry (and `token create` signs with); empty accepts any.',
      }),
      rate_limit: setting(integer(0), {
        default: 0,
        env: ['OLLAMA_SECURITY_AUTH_RATE_LIMIT'],
        why: 'Requests a minute each caller (an API key, a token subject) may make on this node, in bursts up to as many; past it 429 with Retry-After. 0: no limit.',
      }),
      max_in_flight: setting(integer(0), {
        default: 0,
        env: ['OLLAMA_SECURITY_AUTH_MAX_IN_FLIGHT'],
        why: 'Requests each caller may have running at once on this node; past it 429. 0: no cap.',
      }),
      token_expiry: durationSetting(duration(), { default: 86_400_000, why: 'Lifetime of tokens `token create` issues when no --ttl is given.' }),
      roles: setting(parseRoles, {
        default: [
          { name: 'admin', permissions: ['*'] },
          { name: 'user', permissions: ['read', 'inference'] },
          { name: 'readonly', permissions: ['read'] },
        ],
        why: 'Roles and the permissions each grants (read, inference, write, admin, or * for all).',
      }),
    },
  },
  web: {
    enabled: setting(parseBoolean, {
      default: false,
      env: ['OLLAMA_WEB_ENABLED'],
      flag: 'enable-web',
      why: 'Serve the live web panel.',
    }),
    listen: setting(parseHostPort, { default: '127.0.0.1:8080', env: ['OLLAMA_WEB_LISTEN'], why: 'Where the web panel listens.' }),
  },
  storage: {
    backend: setting(parsePluginRef, { default: 'fs', why: 'Model store plugin: fs (Ollama layout on disk), a file path or a package name.' }),
    data_dir: setting(path, {
      default: './data',
      env: ['OLLAMA_STORAGE_DATA_DIR'],
      flag: 'data-dir',
      why: 'Node state: id, pid file, logs, consensus data.',
    }),
    model_dir: setting(path, {
      default: (get) => join(get('storage.data_dir') as string, 'models'),
      env: ['OLLAMA_STORAGE_MODEL_DIR', 'OLLAMA_MODELS'],
      why: "Model store in Ollama's layout; point it at ~/.ollama/models to share a local Ollama's models.",
    }),
    cache_dir: setting(path, {
      default: (get) => join(get('storage.data_dir') as string, 'cache'),
      env: ['OLLAMA_STORAGE_CACHE_DIR'],
      why: 'Partial downloads and chunk transfers in flight; safe to delete while stopped.',
    }),
    noprune: setting(parseBoolean, {
      default: false,
      env: ['OLLAMA_NOPRUNE'],
      why: "Keep blobs no model names: no prune at start, none when a model is replaced (a delete still removes its own), as Ollama's OLLAMA_NOPRUNE.",
    }),
  },
  distribution: {
    default_replicas: setting(integer(0, 1000), {
      default: 1,
      env: ['OLLAMA_DISTRIBUTION_DEFAULT_REPLICAS'],
      why: 'Nodes that should hold a model nobody set replicas for; 1 keeps each model where it is, so nothing is copied unless asked.',
    }),
    policy: setting((raw) => parseEnum(raw, PLACEMENT_POLICIES), {
      default: 'spread' as PlacementPolicy,
      env: ['OLLAMA_DISTRIBUTION_POLICY'],
      why: 'Where new replicas go: spread (the node holding the fewest models) or pack (fill a node before the next).',
    }),
    replace_after: durationSetting(duration(), {
      default: 300_000,
      env: ['OLLAMA_DISTRIBUTION_REPLACE_AFTER'],
      why: 'How long a node may be silent before its placements move to other nodes; a drained or removed node moves them at once.',
    }),
    max_rate: setting(rate, {
      default: 0,
      env: ['OLLAMA_DISTRIBUTION_MAX_RATE'],
      why: 'Bytes per second a node fetches from peers across all its model copies, such as 100MB; 0 sets no cap, and copies still back off when inference slows.',
    }),
    preload: setting(parseBoolean, {
      default: false,
      env: ['OLLAMA_DISTRIBUTION_PRELOAD'],
      why: 'Keep each model placed on this node loaded (keep_alive -1) once it is here, so no request waits for a load; a model whose placement moves away is unloaded. Off, a model loads on its first request.',
    }),
  },
  engine: {
    name: setting(parsePluginRef, {
      default: 'llama-cpp',
      env: ['OLLAMA_ENGINE'],
      why: 'Inference engine: llama-cpp (embedded), ollama (a local daemon), sim (simulator), a file path or a package name.',
    }),
    keep_alive: durationSetting(duration(true), {
      default: 300_000,
      env: ['OLLAMA_KEEP_ALIVE'],
      why: 'How long an idle model stays loaded; -1 keeps it, 0 unloads after each request.',
    }),
    num_parallel: setting(integer(1, 256), {
      default: 1,
      env: ['OLLAMA_NUM_PARALLEL'],
      why: 'Requests one loaded model serves at once; each slot costs context memory.',
    }),
    max_loaded_models: setting(integer(0, 1024), {
      default: 0,
      env: ['OLLAMA_MAX_LOADED_MODELS'],
      why: 'Models held at once; 0 means 3 per GPU (3 on CPU), as Ollama does.',
    }),
    llama_cpp: {
      gpu: setting((raw) => (raw === false ? 'off' : parseEnum(raw, ['auto', 'cuda', 'vulkan', 'metal', 'off'] as const)), {
        default: 'auto',
        env: ['OLLAMA_LLAMA_GPU'],
        why: 'GPU backend for llama.cpp; auto picks CUDA, Vulkan or Metal when present.',
      }),
      threads: setting(integer(0, 1024), {
        default: 0,
        env: ['OLLAMA_NUM_THREAD'],
        why: 'CPU threads per model; 0 means cores - 1 (all cores contend badly).',
      }),
      num_ctx: setting(integer(256), {
        default: 4096,
        env: ['OLLAMA_CONTEXT_LENGTH'],
        why: 'Context length when a request sets no num_ctx.',
      }),
    },
    ollama: {
      url: setting(parseUrl, {
        default: 'http://127.0.0.1:11435',
        env: ['OLLAMA_ENGINE_OLLAMA_URL'],
        why: 'The Ollama daemon the ollama engine forwards to (run it with OLLAMA_HOST=127.0.0.1:11435).',
      }),
    },
    options: setting(parseOptions, { default: {}, why: 'Options passed to an engine plugin loaded from a file or package.' }),
  },
  logging: {
    level: setting((raw) => parseEnum(raw, LOG_LEVELS), {
      default: 'info',
      env: ['OLLAMA_LOGGING_LEVEL'],
      flag: 'log-level',
      why: 'Least severe level written to stdout and logs/ollama-distributed.log.',
    }),
  },
} satisfies SchemaTree;

export type NodeConfig = ConfigOf<typeof schema>;

/** Rules between fields, checked after every key parsed. Each returns [keyPath, problem]. */
export function crossFieldProblems(config: NodeConfig): [string, string][] {
  const problems: [string, string][] = [];
  const c = config.consensus;
  if (c.commit_timeout > c.heartbeat_timeout) {
    problems.push(['consensus.commit_timeout', 'must not exceed consensus.heartbeat_timeout']);
  }
  if (c.heartbeat_timeout > c.election_timeout) {
    problems.push(['consensus.heartbeat_timeout', 'must not exceed consensus.election_timeout']);
  }
  if (c.heartbeat_timeout < 4 * c.commit_timeout) {
    problems.push(['consensus.heartbeat_timeout', 'must be at least 4 × consensus.commit_timeout, so several heartbeats fit in it']);
  }
  if (config.p2p.conn_mgr_low > config.p2p.conn_mgr_high) {
    problems.push(['p2p.conn_mgr_low', 'must not exceed p2p.conn_mgr_high']);
  }
  if (config.security.tls.enabled && (!config.security.tls.cert_file || !config.security.tls.key_file)) {
    problems.push(['security.tls.enabled', 'needs security.tls.cert_file and security.tls.key_file']);
  }
  const auth = config.security.auth;
  if (auth.enabled && auth.method === 'jwt' && (auth.secret_key !== '' || (!auth.public_key_file && !auth.jwks_file)) && auth.secret_key.length < 32) {
    problems.push(['security.auth.secret_key', 'must be at least 32 characters when jwt auth is enabled (or leave it empty and set security.auth.public_key_file or jwks_file)']);
  }
  const names = auth.roles.map((role) => role.name);
  const repeated = names.find((name, at) => names.indexOf(name) !== at);
  if (repeated) problems.push(['security.auth.roles', `names role '${repeated}' twice`]);
  if (config.security.auth.enabled && config.security.auth.method === 'none') {
    problems.push(['security.auth.method', 'must not be none when security.auth.enabled is true: none lets every caller act as admin; use jwt, or set security.auth.enabled to false']);
  }
  if (config.api.timeout > 0 && config.api.headers_timeout > config.api.timeout) {
    problems.push(['api.headers_timeout', 'must not exceed api.timeout']);
  }
  if (config.web.enabled && config.web.listen === config.api.listen) {
    problems.push(['web.listen', 'must differ from api.listen']);
  }
  return problems;
}
