import t from 'tap';
import { ConfigError, loadConfig } from '../config/load.js';
import {
  addressIsLoopback,
  allowedOrigins,
  canonicalHeaderName,
  corsVerdict,
  hostAdmission,
  judgeBrowserRequest,
  originAllowed,
  originPolicy,
  splitHostPort,
  type LocalMachine,
} from './browser-guard.js';

// Ollama's own list, as envconfig/config_test.go TestOrigins writes it out.
const OLLAMA_DEFAULTS = [
  'http://localhost',
  'https://localhost',
  'http://localhost:*',
  'https://localhost:*',
  'http://127.0.0.1',
  'https://127.0.0.1',
  'http://127.0.0.1:*',
  'https://127.0.0.1:*',
  'http://0.0.0.0',
  'https://0.0.0.0',
  'http://0.0.0.0:*',
  'https://0.0.0.0:*',
  'app://*',
  'file://*',
  'tauri://*',
  'vscode-webview://*',
  'vscode-file://*',
];

t.test("OLLAMA_ORIGINS goes before Ollama's list, as in Ollama's TestOrigins", async (t) => {
  const cases: [string, string[]][] = [
    ['', []],
    ['http://10.0.0.1', ['http://10.0.0.1']],
    ['http://172.16.0.1,https://192.168.0.1', ['http://172.16.0.1', 'https://192.168.0.1']],
    ['http://totally.safe,http://definitely.legit', ['http://totally.safe', 'http://definitely.legit']],
  ];
  for (const [env, extra] of cases) {
    const { config } = loadConfig({ env: { OLLAMA_ORIGINS: env } });
    t.same(allowedOrigins(config.api.origins), [...extra, ...OLLAMA_DEFAULTS], `OLLAMA_ORIGINS=${JSON.stringify(env)}`);
  }
});

t.test('api.origins refuses at load what would keep Ollama from starting', async (t) => {
  for (const bad of ['ftp://files.example.com', 'null', 'http://*.example.com:*', 'example.com']) {
    const error = t.throws(() => loadConfig({ env: { OLLAMA_ORIGINS: bad } }), bad);
    t.ok(error instanceof ConfigError, `${bad}: a config error`);
    t.match((error as Error).message, /^config api\.origins = .*must be origins/, `${bad}: the error names the key`);
  }
  for (const good of ['*', 'chrome-extension://abcdef', 'https://*.example.com', 'app://*', 'http://app.example.com:8080']) {
    t.same(loadConfig({ env: { OLLAMA_ORIGINS: good } }).config.api.origins, [good], good);
  }
  t.same(loadConfig({ env: {} }).config.api.origins, [], 'no extra origins by default');
});

t.test("which origins Ollama's default list admits", async (t) => {
  const policy = originPolicy(allowedOrigins([]));
  const admitted = [
    'http://localhost',
    'http://localhost:3000',
    'https://localhost:8443',
    'http://127.0.0.1:5173',
    'https://127.0.0.1',
    'http://0.0.0.0:8080',
    'app://obsidian.md',
    'file://',
    'tauri://localhost',
    'vscode-webview://1a2b3c',
    'vscode-file://vscode-app',
  ];
  const refused = [
    'http://evil.test',
    'http://evil.test:3000',
    'http://localhost.evil.test',
    'http://127.0.0.2:3000',
    'http://[::1]:3000',
    'null',
    'chrome-extension://abcdef',
    'http://LOCALHOST:3000',
    'https://10.0.0.1',
  ];
  for (const origin of admitted) t.ok(originAllowed(policy, origin), `admits ${origin}`);
  for (const origin of refused) t.notOk(originAllowed(policy, origin), `refuses ${origin}`);
});

t.test('configured origins: exact ones case-insensitively, patterns around their *, * for all', async (t) => {
  const policy = originPolicy(allowedOrigins(['HTTPS://App.Example.com', 'https://*.example.org', 'http://intranet.*']));
  t.ok(originAllowed(policy, 'https://app.example.com'));
  t.ok(originAllowed(policy, 'https://a.b.example.org'));
  t.notOk(originAllowed(policy, 'https://example.org'), 'the pattern needs the dot before example.org');
  t.notOk(originAllowed(policy, 'http://a.example.org'), 'the scheme is part of the pattern');
  t.ok(originAllowed(policy, 'http://intranet.corp:8080'));
  t.notOk(originAllowed(policy, 'http://evil.test'));
  t.ok(originAllowed(originPolicy(allowedOrigins(['*'])), 'http://evil.test'), '* admits every origin');
});

t.test("Go's CanonicalHeaderKey", async (t) => {
  t.equal(canonicalHeaderName('accept-encoding'), 'Accept-Encoding');
  t.equal(canonicalHeaderName('OpenAI-Beta'), 'Openai-Beta');
  t.equal(canonicalHeaderName('x-stainless-os'), 'X-Stainless-Os');
  t.equal(canonicalHeaderName('Content-Type'), 'Content-Type');
});

const defaults = originPolicy(allowedOrigins([]));
const request = (method: string, origin: string | undefined, host = '127.0.0.1:11434') => ({ method, origin, host });

t.test('CORS as gin-contrib/cors answers it', async (t) => {
  t.same(corsVerdict(defaults, request('POST', undefined)), { action: 'serve', headers: {} }, 'no Origin: not a CORS request');
  t.same(
    corsVerdict(defaults, request('GET', 'http://evil.test:11434', 'evil.test:11434')),
    { action: 'serve', headers: {} },
    'an Origin equal to http://<Host> is same-origin (the Host check decides)',
  );
  t.same(corsVerdict(defaults, request('POST', 'http://evil.test')), { action: 'answer', status: 403, headers: {} }, 'a foreign origin: 403, no headers');
  t.same(corsVerdict(defaults, request('OPTIONS', 'http://evil.test')), { action: 'answer', status: 403, headers: {} }, 'its preflight too');
  t.same(
    corsVerdict(defaults, request('GET', 'http://localhost:3000')),
    { action: 'serve', headers: { Vary: 'Origin', 'Access-Control-Allow-Origin': 'http://localhost:3000' } },
    'an allowed origin is echoed',
  );
  t.same(
    corsVerdict(defaults, request('OPTIONS', 'http://localhost:3000')),
    {
      action: 'answer',
      status: 204,
      headers: {
        'Access-Control-Allow-Methods': 'GET,POST,PUT,PATCH,DELETE,HEAD,OPTIONS',
        'Access-Control-Allow-Headers':
          'Authorization,Content-Type,User-Agent,Accept,X-Requested-With,Openai-Beta,X-Stainless-Arch,X-Stainless-Async,' +
          'X-Stainless-Custom-Poll-Interval,X-Stainless-Helper-Method,X-Stainless-Lang,X-Stainless-Os,X-Stainless-Package-Version,' +
          'X-Stainless-Poll-Helper,X-Stainless-Retry-Count,X-Stainless-Runtime,X-Stainless-Runtime-Version,X-Stainless-Timeout',
        'Access-Control-Max-Age': '43200',
        Vary: ['Origin', 'Access-Control-Request-Method', 'Access-Control-Request-Headers'],
        'Access-Control-Allow-Origin': 'http://localhost:3000',
      },
    },
    'a preflight from an allowed origin: 204 with the origin echoed, never *',
  );
  const any = originPolicy(allowedOrigins(['*']));
  t.same(corsVerdict(any, request('GET', 'http://evil.test')), { action: 'serve', headers: { 'Access-Control-Allow-Origin': '*' } });
  const preflight = corsVerdict(any, request('OPTIONS', 'http://evil.test'));
  t.match(preflight, { action: 'answer', status: 204, headers: { 'Access-Control-Allow-Origin': '*' } }, 'with * configured, * is answered');
  t.notOk('Vary' in preflight.headers, 'and nothing varies');
});

t.test("net.SplitHostPort's host, from Go's TestSplitHostPort", async (t) => {
  const splits: [string, string][] = [
    ['localhost:http', 'localhost'],
    ['localhost:80', 'localhost'],
    ['localhost%lo0:80', 'localhost%lo0'],
    ['[localhost%lo0]:80', 'localhost%lo0'],
    ['127.0.0.1:80', '127.0.0.1'],
    ['[::1]:80', '::1'],
    ['[::1%lo0]:80', '::1%lo0'],
    [':80', ''],
    ['golang.org:', 'golang.org'],
    ['[::1]:', '::1'],
    ['golang.org:https%foo', 'golang.org'],
  ];
  for (const [hostport, host] of splits) t.equal(splitHostPort(hostport), host, hostport);
  const failures = [
    'golang.org',
    '127.0.0.1',
    '[::1]',
    '[fe80::1%lo0]',
    '[localhost%lo0]',
    'localhost%lo0',
    '::1',
    'fe80::1%lo0',
    'fe80::1%lo0:80',
    '[foo:bar]',
    '[foo:bar]baz',
    '[foo]bar:baz',
    '[foo]:[bar]:baz',
    '[foo]:[bar]baz',
    'foo[bar]:baz',
    'foo]bar:baz',
  ];
  for (const hostport of failures) t.equal(splitHostPort(hostport), undefined, `${hostport} does not split`);
});

const machine: LocalMachine = {
  hostname: () => 'Node-7',
  addresses: () => ['127.0.0.1', '::1', '192.0.2.2', 'fe80::1', '2001:db8::5'],
};

t.test('Host values a loopback listener serves, as allowedHostsMiddleware decides', async (t) => {
  const cases: [string, 'address' | 'name' | 'refused'][] = [
    ['', 'name'],
    ['localhost', 'name'],
    ['localhost:11434', 'name'],
    ['LocalHost:11434', 'name'],
    ['node-7:11434', 'name'],
    ['NODE-7', 'name'],
    ['node-7.local', 'name'],
    ['app.localhost:3000', 'name'],
    ['printer.local:631', 'name'],
    ['metadata.google.internal', 'name'],
    ['evil.com', 'refused'],
    ['evil.com:11434', 'refused'],
    ['localhost.evil.com:11434', 'refused'],
    ['local', 'refused'],
    ['evillocal:80', 'refused'],
    ['node-8:11434', 'refused'],
    ['127.0.0.1:11434', 'address'],
    ['127.0.0.1', 'address'],
    ['127.255.255.254:1', 'address'],
    ['[::1]:11434', 'address'],
    ['::1', 'address'],
    ['[::1]', 'refused'],
    ['[::1%lo0]:1', 'address'],
    ['[::ffff:127.0.0.1]:1', 'address'],
    ['0.0.0.0:11434', 'address'],
    ['[::]:11434', 'address'],
    ['[::ffff:0.0.0.0]:1', 'refused'],
    ['10.0.0.0:1', 'address'],
    ['10.255.255.255:1', 'address'],
    ['11.0.0.0:1', 'refused'],
    ['9.255.255.255:1', 'refused'],
    ['172.15.255.255:1', 'refused'],
    ['172.16.0.0:1', 'address'],
    ['172.23.18.255:1', 'address'],
    ['172.31.255.255:1', 'address'],
    ['172.32.0.0:1', 'refused'],
    ['192.167.255.255:1', 'refused'],
    ['192.168.0.0:1', 'address'],
    ['192.168.255.255:1', 'address'],
    ['192.169.0.0:1', 'refused'],
    ['[::ffff:10.1.2.3]:1', 'address'],
    ['[fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:1', 'refused'],
    ['[fc00::]:1', 'address'],
    ['[fcff:1200:0:44::]:1', 'address'],
    ['[fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:1', 'address'],
    ['[fe00::]:1', 'refused'],
    ['[fc00::1]', 'refused'],
    ['192.0.2.2:11434', 'address'],
    ['192.0.2.3:11434', 'refused'],
    ['[2001:db8::5]:1', 'address'],
    ['[2001:db8:0:0:0:0:0:5]:1', 'address'],
    ['[fe80::1]:1', 'address'],
    ['[fe80::1%eth0]:1', 'refused'],
    ['[::ffff:192.0.2.2]:1', 'refused'],
    ['8.8.8.8:53', 'refused'],
    ['127.0.0.01:1', 'refused'],
    ['127.1:1', 'refused'],
  ];
  for (const [host, expected] of cases) t.equal(hostAdmission(host, machine), expected, JSON.stringify(host));
});

t.test('the machine is asked only when the Host needs it', async (t) => {
  let asked = 0;
  const counting: LocalMachine = {
    hostname: () => (asked++, 'node-7'),
    addresses: () => (asked++, []),
  };
  hostAdmission('127.0.0.1:11434', counting);
  hostAdmission('localhost:11434', counting);
  t.equal(asked, 0, 'loopback addresses and localhost need no lookup');
  hostAdmission('192.0.2.9:1', counting);
  t.ok(asked > 0, 'a public address is checked against the interfaces');
});

t.test("what the machine's names and addresses admit follows them when they change", async (t) => {
  const machine = { name: 'box', addresses: ['192.0.2.7'] };
  const changing: LocalMachine = { hostname: () => machine.name, addresses: () => machine.addresses };
  t.equal(hostAdmission('box:11434', changing), 'name');
  t.equal(hostAdmission('192.0.2.7:11434', changing), 'address');
  t.equal(hostAdmission('127.0.0.1:11434', changing), 'address');
  t.equal(hostAdmission('app.localhost:11434', changing), 'name');
  Object.assign(machine, { name: 'renamed', addresses: ['192.0.2.8'] });
  t.equal(hostAdmission('box:11434', changing), 'refused', 'the old hostname');
  t.equal(hostAdmission('192.0.2.7:11434', changing), 'refused', 'an address the machine no longer has');
  t.equal(hostAdmission('renamed:11434', changing), 'name');
  t.equal(hostAdmission('127.0.0.1:11434', changing), 'address');
  t.equal(hostAdmission('app.localhost:11434', changing), 'name');
});

t.test('the listener decides whether Host is checked at all', async (t) => {
  t.ok(addressIsLoopback('127.0.0.1'));
  t.ok(addressIsLoopback('::1'));
  t.ok(addressIsLoopback('::ffff:127.0.0.1'));
  t.notOk(addressIsLoopback('0.0.0.0'));
  t.notOk(addressIsLoopback('::'));
  t.notOk(addressIsLoopback('192.0.2.2'));
});

t.test('CORS first, then the Host check on a loopback listener', async (t) => {
  const get = (origin: string | undefined, host: string, method = 'GET') => judgeBrowserRequest(defaults, { method, origin, host }, machine);
  t.same(judgeBrowserRequest(defaults, request('GET', undefined, 'evil.com:11434')), { action: 'serve', headers: {} }, 'not on loopback: any Host');
  t.same(get(undefined, 'evil.com:11434'), { action: 'answer', status: 403, headers: {} }, 'a rebound name: empty 403');
  t.same(get('http://evil.com:11434', 'evil.com:11434'), { action: 'answer', status: 403, headers: {} }, 'its same-origin page too');
  t.same(
    get('http://localhost:3000', 'evil.com:11434'),
    { action: 'answer', status: 403, headers: { Vary: 'Origin', 'Access-Control-Allow-Origin': 'http://localhost:3000' } },
    'an allowed origin keeps its CORS headers on the 403',
  );
  t.same(get('http://evil.test', '127.0.0.1:11434'), { action: 'answer', status: 403, headers: {} }, 'a foreign origin is refused whatever the Host');
  t.same(get(undefined, 'localhost:11434', 'OPTIONS'), { action: 'answer', status: 204, headers: {} }, 'OPTIONS to an admitted name: empty 204');
  t.same(get(undefined, '127.0.0.1:11434', 'OPTIONS'), { action: 'serve', headers: {} }, 'OPTIONS to an admitted address goes on to routing');
  t.match(get('http://localhost:3000', 'evil.com:11434', 'OPTIONS'), { action: 'answer', status: 204 }, 'a preflight is answered before the Host check');
  t.same(get(undefined, '127.0.0.1:11434'), { action: 'serve', headers: {} });
});
