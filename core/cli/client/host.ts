// Where the client commands connect: OLLAMA_HOST read as Ollama's envconfig.Host reads it
// (`host`, `host:port`, `scheme://host:port[/path]`; default 127.0.0.1:11434).

const DEFAULT_PORT = '11434';

function splitHostPort(hostport: string): { host: string; port: string } | undefined {
  const bracketed = /^\[([^\]]+)\]:(\d*)$/.exec(hostport);
  if (bracketed) return { host: bracketed[1]!, port: bracketed[2]! };
  const at = hostport.lastIndexOf(':');
  if (at < 0 || hostport.indexOf(':') !== at) return undefined;
  return { host: hostport.slice(0, at), port: hostport.slice(at + 1) };
}

/** The base URL, without a trailing slash. */
export function ollamaHost(value = process.env.OLLAMA_HOST ?? ''): string {
  const raw = value.trim().replace(/^["']|["']$/g, '');
  let scheme = 'http';
  let defaultPort = DEFAULT_PORT;
  let rest = raw;
  const schemeAt = raw.indexOf('://');
  if (schemeAt >= 0) {
    scheme = raw.slice(0, schemeAt);
    rest = raw.slice(schemeAt + 3);
    if (scheme === 'http') defaultPort = '80';
    if (scheme === 'https') defaultPort = '443';
  }
  const slash = rest.indexOf('/');
  const hostport = slash >= 0 ? rest.slice(0, slash) : rest;
  const path = slash >= 0 ? rest.slice(slash).replace(/\/+$/, '') : '';
  let { host, port } = splitHostPort(hostport) ?? { host: hostport.replace(/^\[|\]$/g, '') || '127.0.0.1', port: defaultPort };
  if (host === '') host = '127.0.0.1';
  const portNumber = Number(port);
  if (port === '' || !Number.isInteger(portNumber) || portNumber < 0 || portNumber > 65535) port = defaultPort;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return `${scheme}://${shownHost}:${port}${path}`;
}
