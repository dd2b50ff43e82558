import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ConfigError, configValue, loadConfig } from './load.js';
import { renderExampleConfig } from './example.js';
import { PACKAGE_ROOT } from '../version.js';

const dir = mkdtempSync(join(tmpdir(), 'od-config-'));
function yamlFile(content: string): string {
  const file = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, content);
  return file;
}

function problemsOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

t.test('defaults are loopback and derived paths follow data_dir', async (t) => {
  const { config, sources } = loadConfig({ env: {} });
  t.equal(config.api.listen, '127.0.0.1:11434');
  t.equal(config.web.listen, '127.0.0.1:8080');
  t.equal(config.storage.model_dir, join('data', 'models'));
  t.equal(sources.get('api.listen')?.source, 'default');
  const moved = loadConfig({ env: { OLLAMA_STORAGE_DATA_DIR: '/srv/od' } }).config;
  t.equal(moved.storage.model_dir, '/srv/od/models');
  t.equal(moved.consensus.data_dir, '/srv/od/consensus');
  t.ok(Object.isFrozen(config.api), 'the effective config is frozen');
});

t.test('precedence: default <- file <- env <- flag, with the source of each value', async (t) => {
  const file = yamlFile('api:\n  listen: 127.0.0.1:1111\n  timeout: 10s\nlogging:\n  level: debug\n');
  const { config, sources } = loadConfig({
    file,
    env: { OLLAMA_API_LISTEN: '127.0.0.1:2222', OLLAMA_LOGGING_LEVEL: 'warn' },
    flags: { listen: '127.0.0.1:3333' },
  });
  t.equal(config.api.listen, '127.0.0.1:3333');
  t.same(sources.get('api.listen'), { source: 'flag', origin: '--listen' });
  t.equal(config.logging.level, 'warn');
  t.same(sources.get('logging.level'), { source: 'env', origin: 'OLLAMA_LOGGING_LEVEL' });
  t.equal(config.api.timeout, 10_000);
  t.same(sources.get('api.timeout'), { source: 'file', origin: file });
  t.equal(sources.get('api.max_body_size')?.source, 'default');
});

t.test('every seed variable sets its key', async (t) => {
  const env = {
    OLLAMA_API_LISTEN: '0.0.0.0:11434',
    OLLAMA_API_TIMEOUT: '45s',
    OLLAMA_API_MAX_BODY_SIZE: '1048576',
    OLLAMA_P2P_LISTEN: '/ip4/0.0.0.0/tcp/4001',
    OLLAMA_P2P_BOOTSTRAP: '/ip4/10.0.0.1/tcp/4001,/ip4/10.0.0.2/tcp/4001',
    OLLAMA_P2P_ENABLE_DHT: 'false',
    OLLAMA_P2P_ENABLE_PUBSUB: 'false',
    OLLAMA_CONSENSUS_BIND_ADDR: '0.0.0.0:7001',
    OLLAMA_CONSENSUS_BOOTSTRAP: 'true',
    OLLAMA_CONSENSUS_DATA_DIR: '/var/lib/od/consensus',
    OLLAMA_SECURITY_TLS_ENABLED: 'true',
    OLLAMA_SECURITY_TLS_CERT_FILE: '/etc/od/cert.pem',
    OLLAMA_SECURITY_TLS_KEY_FILE: '/etc/od/key.pem',
    OLLAMA_SECURITY_AUTH_ENABLED: 'true',
    OLLAMA_SECURITY_AUTH_METHOD: 'jwt',
    OLLAMA_SECURITY_AUTH_SECRET_KEY: 'a'.repeat(64),
    OLLAMA_WEB_ENABLED: 'true',
    OLLAMA_WEB_LISTEN: '0.0.0.0:8081',
    OLLAMA_STORAGE_DATA_DIR: '/var/lib/od',
    OLLAMA_STORAGE_MODEL_DIR: '/models',
    OLLAMA_STORAGE_CACHE_DIR: '/cache',
    OLLAMA_NODE_NAME: 'node-7',
    OLLAMA_LOGGING_LEVEL: 'debug',
  };
  const { config, sources } = loadConfig({ env });
  const expected: Record<string, unknown> = {
    'api.listen': '0.0.0.0:11434',
    'api.timeout': 45_000,
    'api.max_body_size': 1_048_576,
    'p2p.listen': '/ip4/0.0.0.0/tcp/4001',
    'p2p.bootstrap': ['/ip4/10.0.0.1/tcp/4001', '/ip4/10.0.0.2/tcp/4001'],
    'p2p.enable_dht': false,
    'p2p.enable_pubsub': false,
    'consensus.bind_addr': '0.0.0.0:7001',
    'consensus.bootstrap': true,
    'consensus.data_dir': '/var/lib/od/consensus',
    'security.tls.enabled': true,
    'security.auth.enabled': true,
    'security.auth.method': 'jwt',
    'security.auth.secret_key': 'a'.repeat(64),
    'web.enabled': true,
    'web.listen': '0.0.0.0:8081',
    'storage.data_dir': '/var/lib/od',
    'storage.model_dir': '/models',
    'storage.cache_dir': '/cache',
    'node.name': 'node-7',
    'logging.level': 'debug',
  };
  for (const [path, value] of Object.entries(expected)) {
    t.same(configValue(config, path), value, path);
    t.equal(sources.get(path)?.source, 'env', `${path} comes from the env`);
  }
});

t.test('the seed keys are accepted in a file', async (t) => {
  const file = yamlFile(`
consensus:
  heartbeat_timeout: 1s
  election_timeout: 1s
  commit_timeout: 50ms
  max_append_entries: 64
  snapshot_interval: 120s
  snapshot_threshold: 8192
scheduler:
  algorithm: "round_robin"
  load_balancing: "least_connections"
  worker_count: 10
  queue_size: 10000
p2p:
  conn_mgr_low: 50
  conn_mgr_high: 200
  max_streams: 1000
  dial_timeout: 30s
security:
  auth:
    enabled: false
    method: jwt
    roles:
      - name: admin
        permissions: ["*"]
      - name: user
        permissions: ["read", "inference"]
`);
  const { config } = loadConfig({ file, env: {} });
  t.equal(config.consensus.snapshot_interval, 120_000);
  t.equal(config.scheduler.worker_count, 10);
  t.equal(config.scheduler.queue_size, 10_000);
  t.equal(config.p2p.dial_timeout, 30_000);
  t.same(config.security.auth.roles[1], { name: 'user', permissions: ['read', 'inference'] });
});

t.test('errors name the key, the value, the source and what is allowed', async (t) => {
  const wrongType = problemsOf(() => loadConfig({ file: yamlFile('api: {listen: 42}\n'), env: {} }));
  t.match(wrongType, /config api\.listen = 42 \(from .*\.yaml\): must be an address as host:port/);

  const badEnv = problemsOf(() => loadConfig({ env: { OLLAMA_API_TIMEOUT: 'soon' } }));
  t.match(badEnv, /config api\.timeout = "soon" \(from OLLAMA_API_TIMEOUT\): must be a duration/);

  const badEnum = problemsOf(() => loadConfig({ env: { OLLAMA_LOGGING_LEVEL: 'loud' } }));
  t.match(badEnum, /logging\.level.*must be one of trace, debug, info, warn, error, fatal/);

  const unknown = problemsOf(() => loadConfig({ file: yamlFile('api:\n  listn: 1\n'), env: {} }));
  t.match(unknown, /config api\.listn .*unknown key/);

  const typo = problemsOf(() => loadConfig({ file: yamlFile('listen: 127.0.0.1:1\n'), env: {} }));
  t.match(typo, /did you mean api\.listen/);

  const several = problemsOf(() => loadConfig({ env: { OLLAMA_API_TIMEOUT: 'soon', OLLAMA_NUM_PARALLEL: '0' } }));
  t.match(several, /api\.timeout/);
  t.match(several, /engine\.num_parallel.*integer from 1 to 256/, 'every problem is reported at once');

  const secret = problemsOf(() => loadConfig({ file: yamlFile('security:\n  auth:\n    secret_key: [1]\n'), env: {} }));
  t.notMatch(secret, /\[1\]/, 'a secret value is never echoed');
  t.match(secret, /<redacted>/);
});

t.test('rules between fields', async (t) => {
  t.match(problemsOf(() => loadConfig({ env: { OLLAMA_SECURITY_TLS_ENABLED: 'true' } })), /security\.tls\.enabled .*: needs security\.tls\.cert_file/);
  t.match(
    problemsOf(() => loadConfig({ env: { OLLAMA_SECURITY_AUTH_ENABLED: 'true', OLLAMA_SECURITY_AUTH_SECRET_KEY: 'short' } })),
    /security\.auth\.secret_key.*at least 32 characters/,
  );
  t.doesNotThrow(() => loadConfig({ env: { OLLAMA_SECURITY_AUTH_ENABLED: 'true', OLLAMA_SECURITY_AUTH_PUBLIC_KEY_FILE: '/etc/od/idp.pem' } }), 'a public key alone verifies tokens');
  t.match(problemsOf(() => loadConfig({ env: { OLLAMA_SECURITY_AUTH_ENABLED: 'true' } })), /security\.auth\.secret_key.*or leave it empty and set security\.auth\.public_key_file/);
  t.match(problemsOf(() => loadConfig({ file: yamlFile('security:\n  auth:\n    roles:\n      - {name: ops, permissions: [read]}\n      - {name: ops, permissions: [write]}\n'), env: {} })), /security\.auth\.roles .*names role 'ops' twice/);
  t.match(problemsOf(() => loadConfig({ file: yamlFile('consensus:\n  commit_timeout: 2s\n'), env: {} })), /consensus\.commit_timeout .*: must not exceed consensus\.heartbeat_timeout/);
});

t.test('distribution keys: nothing moves by default; policy and copy rate from the environment', async (t) => {
  const defaults = loadConfig({ env: {} }).config.distribution;
  t.same(defaults, { default_replicas: 1, policy: 'spread', replace_after: 300_000, max_rate: 0, preload: false });
  const set = loadConfig({
    env: { OLLAMA_DISTRIBUTION_DEFAULT_REPLICAS: '3', OLLAMA_DISTRIBUTION_POLICY: 'pack', OLLAMA_DISTRIBUTION_MAX_RATE: '100MB', OLLAMA_DISTRIBUTION_REPLACE_AFTER: '30s', OLLAMA_DISTRIBUTION_PRELOAD: 'true' },
  }).config.distribution;
  t.same(set, { default_replicas: 3, policy: 'pack', replace_after: 30_000, max_rate: 100_000_000, preload: true });
  t.equal(loadConfig({ file: yamlFile('distribution:\n  max_rate: 0\n'), env: {} }).config.distribution.max_rate, 0, '0 is no cap');
  t.match(problemsOf(() => loadConfig({ env: { OLLAMA_DISTRIBUTION_POLICY: 'scatter' } })), /distribution\.policy/);
  t.match(problemsOf(() => loadConfig({ env: { OLLAMA_DISTRIBUTION_MAX_RATE: '-5' } })), /distribution\.max_rate/);
  t.match(problemsOf(() => loadConfig({ env: { OLLAMA_DISTRIBUTION_PRELOAD: 'sometimes' } })), /distribution\.preload/);
});

t.test('config/node.yaml is the rendered schema and loads to the defaults', async (t) => {
  const file = join(PACKAGE_ROOT, 'config', 'node.yaml');
  t.equal(readFileSync(file, 'utf8'), renderExampleConfig(), 'regenerate config/node.yaml from renderExampleConfig() after changing the schema');
  const fromFile = loadConfig({ file, env: {} });
  const defaults = loadConfig({ env: {} });
  for (const path of defaults.settings.keys()) {
    t.same(configValue(fromFile.config, path), configValue(defaults.config, path), path);
  }
});
